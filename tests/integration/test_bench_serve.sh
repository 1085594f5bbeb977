#!/usr/bin/env bash
# test_bench_serve.sh: `moecap bench` against the real `moecap serve` on a tiny generated model
# (`moecap make-model`): the recording protocol end to end, the server's records against what the
# client saw (per request: the records' extend_len sum = usage prompt + completion - 1; in total:
# the records' new tokens and passes = the server's Prometheus counter deltas), S-MBU/S-MFU equal
# to `moecap metrics` on the saved records, and a short concurrency sweep. Skipped while the
# binary has no serve command.
. "$(dirname "$0")/lib.sh" bench-serve
need_python3
"$bin" help serve >/dev/null 2>&1 || { echo "SKIPPED: this moecap has no serve command"; exit 77; }
srv_pid=
trap '[ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null; rm -rf "$tmp"' EXIT

"$bin" make-model -o "$tmp/tiny.gguf" --layers 2 --embd 64 --ff 128 --experts 4 --top-k 2 \
    --heads 4 --vocab 300 --type f32 >/dev/null || { echo "FAIL: make-model" >&2; exit 1; }
"$bin" serve -m "$tmp/tiny.gguf" --port 0 --parallel 4 -t 1 >"$tmp/serve.out" 2>"$tmp/serve.err" &
srv_pid=$!
url=
for _ in $(seq 200); do
    url=$(grep -o 'http://[0-9.]*:[0-9]*' "$tmp/serve.out" 2>/dev/null | head -1)
    [ -n "$url" ] && break
    sleep 0.05
done
[ -n "$url" ] || { echo "FAIL: moecap serve did not start: $(cat "$tmp/serve.err")" >&2; exit 1; }

# 1. one run with recording, 4 warm-up requests outside the window
"$bin" bench --url "$url" --concurrency 4 --num-requests 16 --warmup 4 --input-len 24 \
    --output-len 12 --cap-model "$tmp/tiny.gguf" --hardware xeon-8480plus --out "$tmp/r1" \
    >"$tmp/r1.txt" 2>"$tmp/r1.err" || fail "bench against moecap serve: exit $? $(cat "$tmp/r1.err")"
grep -q "^server        moecap recording:" "$tmp/r1.txt" || fail "table: $(cat "$tmp/r1.txt")"
"$bin" metrics --records "$tmp/r1/records.jsonl" --model "$tmp/tiny.gguf" \
    --hardware xeon-8480plus --json >"$tmp/m1.json" 2>/dev/null || fail "moecap metrics on the records"
python3 - "$tmp/r1" "$tmp/m1.json" <<'PY' || fail "records against the client's view"
import json, sys
d = sys.argv[1]
s = json.load(open(d + "/summary.json"))
srv = s["server"]
assert srv["recording"]["protocol"] == "moecap" and srv["recording"]["recorded"], srv["recording"]
assert srv["recording"]["dropped"] == 0
recs = [json.loads(l) for l in open(d + "/records.jsonl")]
assert len(recs) == srv["recording"]["passes"] > 0
# per request (the response id is the records' req_id): extend_len sums to prompt + completion - 1
ext = {}
for r in recs:
    for q in r.get("per_req_info", []):
        ext[q["req_id"]] = ext.get(q["req_id"], 0) + q["extend_len"]
assert len(ext) == 16, len(ext)  # the measured requests only, no warm-up
ok = [json.loads(l) for l in open(d + "/requests.jsonl") if not json.loads(l)["warmup"]]
assert len(ok) == 16 and all(l["status"] == "ok" for l in ok)
want = sorted(l["usage_prompt_tokens"] + l["usage_completion_tokens"] - 1 for l in ok)
assert sorted(ext.values()) == want, (sorted(ext.values()), want)
# in total: the records against the server's own counters over the same window
# the server counts a request finished after its last bytes left: the scrapes wait for that
assert srv["prometheus"]["before_settled"] and srv["prometheus"]["after_settled"]
dl = srv["prometheus"]["counter_deltas"]
assert sum(r["new_tokens"] for r in recs) == dl["moecap_forward_pass_tokens_total"]
passes = sum(v for k, v in dl.items() if k.startswith("moecap_forward_passes_total"))
assert passes == len(recs), (passes, len(recs))
assert dl["moecap_prompt_tokens_total"] == sum(l["usage_prompt_tokens"] for l in ok)
assert dl["moecap_generation_tokens_total"] == sum(l["usage_completion_tokens"] for l in ok)
# S-MBU / S-MFU / activation: src/cap on the saved records, as moecap metrics computes them
m = json.load(open(sys.argv[2]))
for mode in ("all", "prefill", "decode", "mixed"):
    a, b = srv["cap"][mode], m["groups"][mode]
    for k in ("passes", "new_tokens", "bytes", "flops", "smbu.time_weighted",
              "smfu.time_weighted", "experts.activation_mean"):
        assert a[k] == b[k], (mode, k, a[k], b[k])
assert 1 <= srv["expert_activation"]["value"] <= 4 and not srv["expert_activation"]["estimate"]
assert s["workload"]["tokenizer"]["method"] == "server"
PY

# 2. a short sweep: every run has its own window of records
"$bin" bench --url "$url" --sweep concurrency=1,4 --num-requests 8 --input-len 16 --output-len 8 \
    --cap-model "$tmp/tiny.gguf" --out "$tmp/s1" >/dev/null 2>"$tmp/s1.err" \
    || fail "sweep against moecap serve: exit $? $(cat "$tmp/s1.err")"
python3 - "$tmp/s1" <<'PY' || fail "sweep against moecap serve"
import json, sys
sw = json.load(open(sys.argv[1] + "/sweep.json"))
assert [r["value"] for r in sw["rows"]] == [1, 4]
for r in sw["rows"]:
    recs = [json.loads(l) for l in open(sys.argv[1] + "/" + r["directory"] + "/records.jsonl")]
    ids = {q["req_id"] for x in recs for q in x.get("per_req_info", [])}
    assert len(ids) == 8, len(ids)
    # one stream at a time: every decode pass carries one sequence
    if r["value"] == 1:
        assert all(x["batch_size"] == 1 for x in recs if x["forward_mode"] == "decode")
PY

[ "$fails" -eq 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
echo "ok"
