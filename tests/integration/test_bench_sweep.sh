#!/usr/bin/env bash
# ctest-label: timing
# test_bench_sweep.sh: `moecap bench --sweep` and `--find max-rate` against the tests' mock
# server: one directory per value with its own requests and summary, sweep.json rows equal to the
# sub-runs' summaries, the search's probes and verdicts consistent with their own p99s, the result
# the highest passing rate below the lowest failing one, --json, and bad options (exit 2, nothing
# written).
. "$(dirname "$0")/lib.sh" bench-sweep
need_python3
mock=${MOECAP_MOCK_BIN:-}
[ -x "$mock" ] || { echo "SKIPPED: MOECAP_MOCK_BIN not built"; exit 77; }
mock_pid=
trap '[ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null; rm -rf "$tmp"' EXIT

"$mock" --ttft-ms 4 --itl-ms 1 --record moecap --port-file "$tmp/port" >/dev/null &
mock_pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
[ -s "$tmp/port" ] || { echo "FAIL: mock server did not start" >&2; exit 1; }
url="http://127.0.0.1:$(cat "$tmp/port")"

# 1. a concurrency sweep: three runs, each measured on its own
"$bin" bench --url "$url" --sweep concurrency=1,2,4 --num-requests 8 --warmup 2 --input-len 16 \
    --output-len 4 --slo ttft=0.5 --cap-model mixtral-8x7b --out "$tmp/s1" >"$tmp/s1.txt" \
    2>"$tmp/s1.err" || fail "concurrency sweep: exit $? $(cat "$tmp/s1.err")"
grep -q "^concurrency .*TTFT p99" "$tmp/s1.txt" || fail "sweep table header: $(cat "$tmp/s1.txt")"
[ "$(grep -c '^[124] ' "$tmp/s1.txt")" -eq 3 ] || fail "sweep table rows: $(cat "$tmp/s1.txt")"
python3 - "$tmp/s1" <<'PY' || fail "concurrency sweep results"
import json, os, sys
d = sys.argv[1]
sw = json.load(open(d + "/sweep.json"))
assert sw["experiment"] == "sweep" and sw["parameter"] == "concurrency" and sw["partial"] is False
assert [r["value"] for r in sw["rows"]] == [1, 2, 4], sw["rows"]
for r in sw["rows"]:
    sub = d + "/" + r["directory"]
    assert r["directory"] == "sweep-concurrency-%d" % r["value"]
    s = json.load(open(sub + "/summary.json"))
    assert s["experiment"] == {"kind": "sweep", "parameter": "concurrency", "value": r["value"],
                               "top_directory": d}, s["experiment"]
    assert s["load"]["mode"] == "closed" and s["load"]["concurrency"] == r["value"]
    assert s["requests"]["ok"] == 8 and s["requests"]["warmup"] == 2 and r["requests"]["ok"] == 8
    assert r["latency"]["latency.ttft"] == s["latency"]["latency.ttft"]
    assert r["throughput.requests"]["requests_per_s"] == s["throughput.requests"]["requests_per_s"]
    assert r["goodput"]["good_fraction"] == s["goodput"]["good_fraction"] == 1
    assert r["server"]["expert_activation"] == s["server"]["expert_activation"]["value"]
    lines = [json.loads(l) for l in open(sub + "/requests.jsonl")]
    assert len(lines) == 10 and sum(l["warmup"] for l in lines) == 2
    # each run records its own window: 8 prefills + 8 x 3 decode passes
    assert sum(1 for _ in open(sub + "/records.jsonl")) == 32
    assert s["server"]["recording"]["passes"] == 32
# one stream at a time decodes alone: 2 experts; more streams activate more
acts = [r["server"]["expert_activation"] for r in sw["rows"]]
assert acts[0] == 2 and acts[2] > acts[0], acts
PY

# 2. a rate sweep with --json: stdout is sweep.json; the rates are the open loop's
"$bin" bench --url "$url" --sweep rate=50,100 --num-requests 10 --output-len 3 --num-prompts 4 \
    --json --out "$tmp/s2" >"$tmp/s2.json" 2>"$tmp/s2.err" || fail "rate sweep: exit $?"
python3 - "$tmp/s2" "$tmp/s2.json" <<'PY' || fail "rate sweep results"
import json, sys
sw = json.load(open(sys.argv[2]))
assert sw == json.load(open(sys.argv[1] + "/sweep.json"))
assert [r["directory"] for r in sw["rows"]] == ["sweep-rate-50", "sweep-rate-100"]
for r in sw["rows"]:
    s = json.load(open(sys.argv[1] + "/" + r["directory"] + "/summary.json"))
    assert s["load"]["mode"] == "open" and s["load"]["rate_per_s"] == r["value"]
    assert s["load"]["concurrency"] == 1000 and r["requests"]["ok"] == 10
PY
"$bin" bench --url "$url" --sweep batch=2,3 --num-requests 6 --output-len 2 --out "$tmp/s3" \
    >/dev/null 2>&1 || fail "batch sweep: exit $?"
python3 - "$tmp/s3" <<'PY' || fail "batch sweep results"
import json, sys
sw = json.load(open(sys.argv[1] + "/sweep.json"))
for r in sw["rows"]:
    s = json.load(open(sys.argv[1] + "/" + r["directory"] + "/summary.json"))
    assert s["load"]["mode"] == "batch" and s["load"]["batch"] == r["value"], s["load"]
PY

# 3. --find max-rate. One stream at a time (cap 1) of 4 + 3 x 1 = 7 ms, nearly regular arrivals
#    (burstiness 1000): below ~140 req/s nothing queues (TTFT ~4 ms), above it each request
#    waits longer than the one before: at 200 req/s (5 ms apart) the 30th waits ~58 ms, far over
#    the 30 ms objective. So 25 passes and 200 fails whatever the machine's jitter; what lies
#    between is checked for consistency with each probe's own figures.
#    The figures assume a machine that is not overloaded: with a 1-minute load average above
#    1.5 x the CPUs (other jobs), a 4 ms answer can take 200 ms and 25 req/s fails its SLO; then
#    this part is not run and the test reports SKIPPED (exit 77) unless another part failed.
busy=$(awk -v n="$(nproc)" '{ print ($1 > 1.5 * n) ? 1 : 0 }' /proc/loadavg)
if [ "$busy" = 1 ]; then
    echo "part 3 (--find max-rate timing) not run: load average $(cut -d' ' -f1 /proc/loadavg) on $(nproc) CPUs"
    skipped_timing=1
else
    "$bin" bench --url "$url" --find max-rate --slo ttft=0.03 --rate 25 --burstiness 1000 \
        --concurrency 1 --num-requests 30 --input-len 8 --output-len 4 --find-precision 0.5 \
        --server-data off --out "$tmp/f1" >"$tmp/f1.txt" 2>"$tmp/f1.err"
    rc=$?
    [ "$rc" -eq 0 ] || fail "find max-rate: exit $rc $(cat "$tmp/f1.err")"
    grep -q "^max rate " "$tmp/f1.txt" || fail "find table: $(cat "$tmp/f1.txt")"
    python3 - "$tmp/f1" <<'PY' || fail "find results"
import json, sys
d = sys.argv[1]
f = json.load(open(d + "/find.json"))
q = f["search"]
probes = q["probes"]
assert f["experiment"] == "find max-rate" and f["partial"] is False
assert q["slo"]["ttft_s"] == 0.03 and q["method"]["requests_per_probe"] == 30
assert q["method"]["precision"] == 0.5 and q["method"]["start_rate_per_s"] == 25
rates = [p["value"] for p in probes]
assert rates[0] == 25 and probes[0]["pass"], probes[0]
assert 200 in rates and not probes[rates.index(200)]["pass"]
for i, p in enumerate(probes):
    s = json.load(open(d + "/" + p["directory"] + "/summary.json"))
    assert p["directory"] == "probe-%02d-rate-%g" % (i + 1, p["value"])
    assert s["load"]["mode"] == "open" and s["load"]["rate_per_s"] == p["value"]
    assert s["requests"]["ok"] + s["requests"]["failed"] == 30
    ok = (s["latency"]["latency.ttft"]["p99"] <= 0.03 and s["requests"]["failed"] == 0
          and s["self_check"]["ok"])
    assert p["pass"] == ok, (p, s["latency"]["latency.ttft"])
    assert (p["reason"] == "meets the SLOs") == ok
# the result: the highest pass below the lowest fail, within the precision
r = q["result"]
lo = max(p["value"] for p in probes if p["pass"])
hi = min(p["value"] for p in probes if not p["pass"])
assert r["max_rate_per_s"] == lo and r["lowest_failing_rate_per_s"] == hi, (r, lo, hi)
assert r["converged"] is True and (hi - lo) / lo <= 0.5 and r["probes"] == len(probes)
PY
fi

# 4. bad options: exit 2, one line, nothing written
for args in "--sweep concurrency=1,2 --concurrency 4" "--sweep rate=1,2 --rate 3" \
            "--sweep batch=2 --ramp-up 1" "--sweep nope=1" "--sweep concurrency=0" \
            "--sweep concurrency=1,1" "--sweep rate=1,-2" "--sweep concurrency=" \
            "--find max-rate" "--find max-batch --slo ttft=1" "--find max-rate --slo ttft=1 --batch 2" \
            "--find max-rate --slo ttft=1 --duration 5" "--find max-rate --slo ttft=1 --num-requests 5" \
            "--find max-rate --slo ttft=1 --no-stream" "--sweep rate=1 --find max-rate --slo e2e=1" \
            "--find max-rate --slo ttft=1 --find-precision 0" "--find-max-probes 1"; do
    # shellcheck disable=SC2086
    "$bin" bench --url "$url" $args --out "$tmp/bad" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ "$rc" -eq 2 ] || fail "bench $args: exit $rc, want 2"
    [ ! -s "$tmp/out" ] || fail "bench $args: wrote to stdout"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "bench $args: stderr is not one line: $(cat "$tmp/err")"
    [ ! -e "$tmp/bad" ] || fail "bench $args: created the results directory"
done
# a sweep needs a new or empty directory
mkdir -p "$tmp/used" && touch "$tmp/used/x"
"$bin" bench --url "$url" --sweep concurrency=1 --out "$tmp/used" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] || fail "sweep into a non-empty directory: want exit 2"
grep -q "not empty" "$tmp/err" || fail "sweep into a non-empty directory: $(cat "$tmp/err")"

# 5. Ctrl-C during a sweep: the finished runs and the interrupted one are kept, sweep.json says
#    partial, exit 1
"$bin" bench --url "$url" --sweep concurrency=1,2 --num-requests 100000 --output-len 20 \
    --server-data off --out "$tmp/s5" >/dev/null 2>"$tmp/s5.err" &
pid=$!
sleep 1
kill -INT "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 1 ] || fail "interrupted sweep: exit $rc, want 1"
python3 - "$tmp/s5" <<'PY' || fail "interrupted sweep results"
import json, sys
sw = json.load(open(sys.argv[1] + "/sweep.json"))
assert sw["partial"] is True and len(sw["rows"]) == 1 and sw["rows"][0]["partial"] is True, sw
s = json.load(open(sys.argv[1] + "/sweep-concurrency-1/summary.json"))
assert s["partial"] is True
PY

[ "$fails" -eq 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
[ "${skipped_timing:-0}" = 1 ] && { echo "SKIPPED: part 3 needs a machine that is not overloaded"; exit 77; }
echo "ok"
