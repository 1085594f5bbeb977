#!/usr/bin/env bash
# test_bench.sh: `moecap bench` end to end against the tests' mock server (mc_mock_server):
# the summary's figures against the times the mock was configured with, the per-request file,
# failures counted by kind while the run goes on, open loop, --json, bad options (exit 2, nothing
# written) and Ctrl-C (partial results, exit 1).
. "$(dirname "$0")/lib.sh" bench
need_python3
mock=${MOECAP_MOCK_BIN:-}
[ -x "$mock" ] || { echo "SKIPPED: MOECAP_MOCK_BIN not built"; exit 77; }
mock_pid=
trap '[ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null; rm -rf "$tmp"' EXIT

"$mock" --ttft-ms 20 --itl-ms 5 --port-file "$tmp/port" >/dev/null &
mock_pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
[ -s "$tmp/port" ] || { echo "FAIL: mock server did not start" >&2; exit 1; }
url="http://127.0.0.1:$(cat "$tmp/port")"

# 1. closed loop: figures against the mock's TTFT 20 ms / ITL 5 ms, counts, per-request lines
"$bin" bench --url "$url" --concurrency 4 --num-prompts 10 --num-requests 40 --input-len 32:64 \
    --output-len 10 --warmup 4 --slo ttft=0.5,tpot=0.05 --out "$tmp/r1" >"$tmp/r1.txt" 2>"$tmp/r1.err" \
    || fail "closed loop run: exit $? $(cat "$tmp/r1.err")"
grep -q "^TTFT" "$tmp/r1.txt" || fail "table has no TTFT row"
python3 - "$tmp/r1" <<'PY' || fail "closed loop summary / requests.jsonl"
import json, sys
d = sys.argv[1]
s = json.load(open(d + "/summary.json"))
r = s["requests"]
assert r["ok"] == 40 and r["failed"] == 0 and r["warmup"] == 4, r
assert s["partial"] is False and s["load"]["mode"] == "closed"
lat = s["latency"]
assert 0.020 <= lat["latency.ttft"]["mean"] < 0.035, lat["latency.ttft"]
assert 0.0045 < lat["latency.tpot"]["mean"] < 0.0065, lat["latency.tpot"]
assert lat["latency.itl"]["n"] == 40 * 9, lat["latency.itl"]
assert lat["latency.e2e"]["n"] == 40
assert s["workload"]["input_tokens_exact"] is True
t = s["tokens"]
assert t["usage_completion_tokens"] == 400 and t["chunk_count"] == 400, t
assert t["usage_minus_chunks"] == 0 and t["output_tokens_source"] == "usage"
assert s["throughput.requests"]["output_tokens"] == 400
assert s["goodput"]["good"] == 40 and s["goodput"]["good_fraction"] == 1.0
assert abs(s["vllm_names"]["mean_ttft_ms"] - 1e3 * lat["latency.ttft"]["mean"]) < 1e-9
lines = [json.loads(l) for l in open(d + "/requests.jsonl")]
assert len(lines) == 44, len(lines)
assert sum(1 for l in lines if l["warmup"]) == 4
for l in lines:
    assert l["status"] == "ok" and l["http_status"] == 200
    assert l["sched_ns"] <= l["send_ns"] <= l["first_byte_ns"] <= l["first_token_ns"]
    assert l["first_token_ns"] <= l["last_token_ns"] <= l["end_ns"]
    assert len(l["chunk_ns"]) == 10 and l["chunk_ns"][0] == l["first_token_ns"]
    assert l["output_tokens"] == 10 and l["text"].startswith(" w0 w1")
    assert abs(l["ttft_s"] - (l["first_token_ns"] - l["sched_ns"]) * 1e-9) < 1e-9
    assert 32 <= l["input_tokens"] <= 64 and l["input_exact"] is True
PY

# 2. faults from a custom JSONL dataset: counted by kind, the run completes
cat >"$tmp/faults.jsonl" <<'J'
{"prompt": "[[mock:fault=http500]] a", "max_tokens": 4}
{"prompt": "plain prompt", "max_tokens": 4}
{"prompt": "[[mock:fault=no_done]] b", "max_tokens": 4}
{"prompt": "[[mock:fault=bad_json,after=1]] c", "max_tokens": 4}
J
"$bin" bench --url "$url" --dataset "$tmp/faults.jsonl" --out "$tmp/r2" >/dev/null 2>"$tmp/r2.err" \
    || fail "fault run: exit $? $(cat "$tmp/r2.err")"
python3 - "$tmp/r2" <<'PY' || fail "fault counts"
import json, sys
s = json.load(open(sys.argv[1] + "/summary.json"))
f = s["requests"]["failures"]
assert s["requests"]["ok"] == 1, s["requests"]
assert f["http_status"] == 1 and f["truncated"] == 1 and f["malformed_stream"] == 1, f
st = {json.loads(l)["status"] for l in open(sys.argv[1] + "/requests.jsonl")}
assert st == {"ok", "http_status", "truncated", "malformed_stream"}, st
PY

# 3. open loop with --json: stdout is the summary; the schedule lag is reported
"$bin" bench --url "$url" --rate 200 --num-requests 60 --output-len 3 --num-prompts 5 --json \
    --out "$tmp/r3" >"$tmp/r3.json" 2>"$tmp/r3.err" || fail "open loop run: exit $?"
python3 - "$tmp/r3" "$tmp/r3.json" <<'PY' || fail "open loop summary"
import json, sys
s = json.load(open(sys.argv[2]))
assert s == json.load(open(sys.argv[1] + "/summary.json"))
assert s["load"]["mode"] == "open" and s["load"]["rate_per_s"] == 200
assert s["requests"]["ok"] == 60 and s["schedule_lag_s"]["n"] == 60
assert s["schedule_lag_s"]["p50"] < 0.05
assert s["self_check"]["queued_for_slot"] == 0 and "ok" in s["self_check"]
PY

# 3b. the ITL sample cap: statistics over the first N gaps, and the summary says so
"$bin" bench --url "$url" --concurrency 2 --num-requests 10 --output-len 10 --max-itl-samples 50 \
    --no-text --out "$tmp/r6" >/dev/null 2>&1 || fail "itl cap run: exit $?"
python3 - "$tmp/r6" <<'PY' || fail "itl cap summary"
import json, sys
s = json.load(open(sys.argv[1] + "/summary.json"))
itl = s["latency"]["latency.itl"]
assert itl["n"] == 50 and itl["gaps_seen"] == 90 and itl["truncated"] is True, itl
assert all("text" not in json.loads(l) for l in open(sys.argv[1] + "/requests.jsonl"))
PY

# 4. bad options: exit 2, one line on stderr, nothing on stdout, no directory
for args in "--rate 0" "--batch 4 --concurrency 2" "--input-len 9:3" "--slo ttft=-1" \
            "--dataset $tmp/faults.jsonl --input-len 8" "--endpoint nope"; do
    # shellcheck disable=SC2086
    "$bin" bench --url "$url" $args --out "$tmp/bad" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ "$rc" -eq 2 ] || fail "bench $args: exit $rc, want 2"
    [ ! -s "$tmp/out" ] || fail "bench $args: wrote to stdout"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "bench $args: stderr is not one line"
    [ ! -e "$tmp/bad" ] || fail "bench $args: created the results directory"
done
echo '{"prompt": "ok"}
{"oops' >"$tmp/broken.jsonl"
"$bin" bench --url "$url" --dataset "$tmp/broken.jsonl" --out "$tmp/bad" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] || fail "broken dataset: want exit 1"
grep -qF "broken.jsonl:2: invalid JSON" "$tmp/err" || fail "broken dataset message: $(cat "$tmp/err")"
[ ! -e "$tmp/bad" ] || fail "broken dataset: created the results directory"
"$bin" bench --url "$url" --out "$tmp/r1" >/dev/null 2>&1
[ $? -eq 2 ] || fail "existing results directory must be refused"

# 5. Ctrl-C: partial results, exit 1, every line complete
"$bin" bench --url "$url" --concurrency 4 --num-requests 100000 --output-len 40 --out "$tmp/r5" \
    >/dev/null 2>"$tmp/r5.err" &
pid=$!
sleep 1
kill -INT "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 1 ] || fail "interrupted run: exit $rc, want 1"
python3 - "$tmp/r5" <<'PY' || fail "interrupted run results"
import json, sys
s = json.load(open(sys.argv[1] + "/summary.json"))
assert s["partial"] is True, s["partial"]
assert 0 < s["requests"]["sent"] < 100000
n = sum(1 for l in open(sys.argv[1] + "/requests.jsonl") if json.loads(l))
assert n == s["requests"]["sent"], (n, s["requests"])
PY

[ "$fails" -eq 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
echo "ok"
