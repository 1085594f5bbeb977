#!/usr/bin/env bash
# test_bench_server.sh: `moecap bench` server-side data against the tests' mock server: the moecap
# recording protocol and the vLLM-style aliases (records.jsonl kept, counts exact, S-MBU / S-MFU /
# activation equal to `moecap metrics` on the saved records), the analytic estimate when the
# server does not record (exact for one stream at a time), Prometheus snapshots and counter
# deltas, --server-data off, the local GGUF tokenizer, and bad combinations (exit 2, nothing
# written).
. "$(dirname "$0")/lib.sh" bench-server
need_python3
mock=${MOECAP_MOCK_BIN:-}
[ -x "$mock" ] || { echo "SKIPPED: MOECAP_MOCK_BIN not built"; exit 77; }
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT

# start_mock NAME ARGS...: starts mc_mock_server, sets $url
start_mock() {
    local name=$1
    shift
    "$mock" --ttft-ms 10 --itl-ms 2 --port-file "$tmp/$name.port" "$@" >/dev/null &
    pids+=($!)
    for _ in $(seq 100); do [ -s "$tmp/$name.port" ] && break; sleep 0.05; done
    [ -s "$tmp/$name.port" ] || { echo "FAIL: mock $name did not start" >&2; exit 1; }
    url="http://127.0.0.1:$(cat "$tmp/$name.port")"
}

# 1. moecap protocol + /metrics: 12 measured requests of 6 tokens, 3 warm-up (not recorded)
start_mock rec --record moecap --metrics
"$bin" bench --url "$url" --concurrency 1 --num-requests 12 --warmup 3 --input-len 24 \
    --output-len 6 --cap-model mixtral-8x7b --hardware h100-sxm-80gbx2 --out "$tmp/r1" \
    >"$tmp/r1.txt" 2>"$tmp/r1.err" || fail "recording run: exit $? $(cat "$tmp/r1.err")"
grep -q "^server        moecap recording: 72 passes in records.jsonl" "$tmp/r1.txt" \
    || fail "table: recording line: $(cat "$tmp/r1.txt")"
grep -q "^S-MBU " "$tmp/r1.txt" || fail "table: no S-MBU line"
grep -q "^experts       2.00 distinct per MoE layer in decode passes" "$tmp/r1.txt" \
    || fail "table: experts line"
"$bin" metrics --records "$tmp/r1/records.jsonl" --model mixtral-8x7b \
    --hardware h100-sxm-80gbx2 --json >"$tmp/m1.json" || fail "moecap metrics on the records"
python3 - "$tmp/r1" "$tmp/m1.json" <<'PY' || fail "recording summary"
import json, sys
d = sys.argv[1]
s = json.load(open(d + "/summary.json"))
m = json.load(open(sys.argv[2]))
srv = s["server"]
rec = srv["recording"]
assert rec["protocol"] == "moecap" and rec["recorded"] is True and rec["note"] is None, rec
# one prefill per request, one decode per later token; warm-up excluded
assert rec["passes"] == 72 and rec["dropped"] == 0 and rec["bad_lines"] == 0, rec
bm = rec["by_mode"]
assert bm["prefill"]["passes"] == 12 and bm["decode"]["passes"] == 60, bm
assert bm["decode"]["batch_size_mean"] == 1 and bm["decode"]["expert_activation_recorded_mean"] == 2
lines = [json.loads(l) for l in open(d + "/records.jsonl")]
assert len(lines) == 72 and sum(l["forward_mode"] == "prefill" for l in lines) == 12
assert all(l["new_tokens"] == 24 for l in lines if l["forward_mode"] == "prefill")
# the summary's figures are src/cap's on the saved records (the same as moecap metrics)
for mode in ("all", "prefill", "decode"):
    a, b = srv["cap"][mode], m["groups"][mode]
    for k in ("passes", "new_tokens", "bytes", "flops", "smbu.time_weighted",
              "smfu.time_weighted", "experts.activation_mean", "experts.estimated_passes"):
        assert a[k] == b[k], (mode, k, a[k], b[k])
assert srv["hardware"]["devices"] == 2 and srv["model"]["name"] == "mixtral-8x7b"
act = srv["expert_activation"]
assert act["value"] == 2 and act["estimate"] is False and srv["estimate"] is None, act
p = srv["prometheus"]
assert p["before"] == "metrics-before.prom" and p["after"] == "metrics-after.prom"
# the scrapes waited until the counters moved only by the scrapes' own requests
assert p["before_settled"] is True and p["after_settled"] is True, p
dl = p["counter_deltas"]
# the window is the measured phase: warm-up generations are not in the deltas
assert dl['mock_generations_total{model="mock-model"}'] == 12, dl
assert dl["mock_generation_tokens_total"] == 72 and dl["mock_prompt_tokens_total"] == 288, dl
assert dl["mock_ttft_seconds_count"] == 12 and abs(dl["mock_ttft_seconds_sum"] - 0.12) < 1e-9
assert "mock_active_streams" not in dl and p["resets"] == 0
before = open(d + "/metrics-before.prom").read()
assert "# TYPE mock_requests_total counter" in before
assert s["requests"]["warmup"] == 3 and s["requests"]["ok"] == 12
PY

# 2. vLLM-style aliases: same records through POST /dump_batch_recording; no --hardware: the
#    activation is there, S-MBU is not
start_mock vllm --record vllm
"$bin" bench --url "$url" --batch 3 --num-requests 6 --input-len 16 --output-len 5 \
    --cap-model mixtral-8x7b --json --out "$tmp/r2" >"$tmp/r2.json" 2>"$tmp/r2.err" \
    || fail "vllm recording run: exit $? $(cat "$tmp/r2.err")"
python3 - "$tmp/r2" "$tmp/r2.json" <<'PY' || fail "vllm recording summary"
import json, sys
s = json.load(open(sys.argv[2]))
srv = s["server"]
rec = srv["recording"]
assert rec["protocol"] == "vllm" and rec["passes"] == 30, rec
assert rec["by_mode"]["prefill"]["passes"] == 6 and rec["by_mode"]["decode"]["passes"] == 24
assert srv["hardware"] is None and srv["cap"]["all"]["smbu.time_weighted"] is None
assert srv["cap"]["decode"]["experts.activation_mean"] > 2, srv["cap"]["decode"]
assert srv["prometheus"] is None
assert sum(1 for _ in open(sys.argv[1] + "/records.jsonl")) == 30
PY

# 3. no recording: the analytic estimate, said to be one; one stream at a time = batch 1, so
#    8 x (1 - 6/8) = 2 experts exactly; no model description: no estimate, and it says why
start_mock plain
"$bin" bench --url "$url" --concurrency 1 --num-requests 5 --input-len 32 --output-len 6 \
    --cap-model mixtral-8x7b --out "$tmp/r3" >"$tmp/r3.txt" 2>"$tmp/r3.err" \
    || fail "estimate run: exit $? $(cat "$tmp/r3.err")"
grep -q "^experts       ESTIMATE 2.00 distinct per MoE layer" "$tmp/r3.txt" \
    || fail "table: estimate line: $(cat "$tmp/r3.txt")"
grep -q "^server        no records: the server does not record" "$tmp/r3.txt" \
    || fail "table: no-records line"
python3 - "$tmp/r3" <<'PY' || fail "estimate summary"
import json, os, sys
s = json.load(open(sys.argv[1] + "/summary.json"))
srv = s["server"]
assert srv["recording"]["protocol"] == "none" and srv["recording"]["recorded"] is False
assert "HTTP 404" in srv["recording"]["note"]
e = srv["estimate"]
assert e["decode_experts_per_layer"] == 2 and e["decode_batch_mean"] == 1, e
assert abs(e["prefill_experts_per_layer"] - 8 * (1 - 0.75 ** 32)) < 1e-9, e
assert e["prefill_requests"] == 5 and "ESTIMATE" in e["note"]
act = srv["expert_activation"]
assert act["estimate"] is True and act["source"] == "analytic estimate" and act["value"] == 2
assert srv["cap"] is None and srv["prometheus"] is None
assert not os.path.exists(sys.argv[1] + "/records.jsonl")
PY
"$bin" bench --url "$url" --num-requests 2 --output-len 2 --out "$tmp/r4" >/dev/null 2>&1 \
    || fail "run without a model description"
python3 - "$tmp/r4" <<'PY' || fail "summary without a model description"
import json, sys
srv = json.load(open(sys.argv[1] + "/summary.json"))["server"]
assert srv["model"]["name"] is None and "give --cap-model" in srv["model"]["from"], srv["model"]
assert srv["estimate"] is None and srv["expert_activation"]["value"] is None
PY
"$bin" bench --url "$url" --num-requests 2 --output-len 2 --server-data off --out "$tmp/r5" \
    >/dev/null 2>&1 || fail "run with --server-data off"
python3 - "$tmp/r5" <<'PY' || fail "summary with --server-data off"
import json, sys
rec = json.load(open(sys.argv[1] + "/summary.json"))["server"]["recording"]
assert rec["protocol"] == "off" and rec["note"] == "--server-data off", rec
PY

# 4. the local tokenizer: a server without /tokenize, prompts counted by a GGUF vocabulary
"$bin" make-model -o "$tmp/tiny.gguf" --layers 1 --embd 64 --ff 64 --experts 4 --heads 2 \
    --vocab 300 --type f32 >/dev/null || fail "make-model"
start_mock notok --no-tokenize
"$bin" bench --url "$url" --num-requests 3 --input-len 40 --output-len 2 \
    --tokenizer "$tmp/tiny.gguf" --out "$tmp/t1" >"$tmp/t1.txt" 2>"$tmp/t1.err" \
    || fail "local tokenizer run: exit $? $(cat "$tmp/t1.err")"
grep -q "prompts built with local GGUF tokenizer" "$tmp/t1.txt" || fail "table: tokenizer line"
"$bin" bench --url "$url" --num-requests 2 --output-len 2 --out "$tmp/t2" >/dev/null \
    2>"$tmp/t2.err" || fail "approximate run"
grep -q "approximate" "$tmp/t2.err" || fail "approximate lengths not announced"
python3 - "$tmp/t1" "$tmp/t2" <<'PY' || fail "tokenizer summaries"
import json, sys
w = json.load(open(sys.argv[1] + "/summary.json"))["workload"]
assert w["tokenizer"]["method"] == "local" and w["tokenizer"]["file"].endswith("tiny.gguf"), w
assert w["input_tokens_counted_by"] == "local GGUF tokenizer" and w["input_tokens_exact"] is True
t = json.load(open(sys.argv[1] + "/summary.json"))["tokens"]
assert t["ok_requests_with_prompt_usage"] == 3 and "prompt_usage_minus_workload" in t
w2 = json.load(open(sys.argv[2] + "/summary.json"))["workload"]
assert w2["tokenizer"]["method"] == "approximate" and w2["input_tokens_exact"] is False, w2
PY
# --tokenize require: no /tokenize and no --tokenizer is an error before anything is written
"$bin" bench --url "$url" --tokenize require --out "$tmp/bad" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] || fail "--tokenize require without a tokenizer: want exit 1"
grep -q "give --tokenizer" "$tmp/err" || fail "--tokenize require message: $(cat "$tmp/err")"
[ ! -e "$tmp/bad" ] || fail "--tokenize require: created the results directory"
"$bin" bench --url "$url" --tokenizer "$tmp/none.gguf" --out "$tmp/bad" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] || fail "missing tokenizer file: want exit 1"
grep -q -- "--tokenizer" "$tmp/err" || fail "missing tokenizer message: $(cat "$tmp/err")"
[ ! -e "$tmp/bad" ] || fail "missing tokenizer: created the results directory"

# 5. bad combinations: exit 2, one line, nothing written
for args in "--tokenize local" "--tokenize off --tokenizer $tmp/tiny.gguf" \
            "--hardware h100-sxm-80gb" "--server-data off --hardware h100-sxm-80gb" \
            "--cap-model no-such-model" "--server-data maybe" "--max-records 10"; do
    # shellcheck disable=SC2086
    "$bin" bench --url "$url" $args --out "$tmp/bad" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    case "$args" in --cap-model*) want=1 ;; *) want=2 ;; esac
    [ "$rc" -eq "$want" ] || fail "bench $args: exit $rc, want $want"
    [ ! -s "$tmp/out" ] || fail "bench $args: wrote to stdout"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "bench $args: stderr is not one line: $(cat "$tmp/err")"
    [ ! -e "$tmp/bad" ] || fail "bench $args: created the results directory"
done

[ "$fails" -eq 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
echo "ok"
