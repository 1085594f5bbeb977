#!/usr/bin/env bash
# test_results_kill.sh: results are never lost (docs/RELIABILITY.md). `moecap bench` and
# `moecap eval` run against the mock server with slow answers and are killed with SIGKILL in the
# middle of the run (and, in short runs, at random moments around their end, while the summary
# may be being written). After each kill:
#   * requests.jsonl / items.jsonl hold only whole lines, each a JSON object;
#   * they hold at least (responses the mock completed) - (requests in flight) lines, and no more
#     lines than the mock answered;
#   * summary.json is absent or complete (it parses and agrees with the per-request file);
#   * nothing else is in the directory but the files the command writes (a hidden .NAME.tmp.PID
#     left by a kill inside an atomic write is allowed and counted).
. "$(dirname "$0")/lib.sh" kill
need_python3
mock=${MOECAP_MOCK_BIN:-}
[ -x "$mock" ] || { echo "SKIPPED: MOECAP_MOCK_BIN not built"; exit 77; }
mock_pid=
run_pid=
trap '[ -n "$run_pid" ] && kill -9 "$run_pid" 2>/dev/null; [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
CONC=8

start_mock() { # stats-file, mock options...
    local stats=$1
    shift
    rm -f "$tmp/port"
    "$mock" "$@" --stats-file "$stats" --port-file "$tmp/port" >/dev/null &
    mock_pid=$!
    for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
    [ -s "$tmp/port" ] || { echo "FAIL: mock server did not start" >&2; exit 1; }
    url="http://127.0.0.1:$(cat "$tmp/port")"
}

stop_mock() { # writes the stats file
    kill -TERM "$mock_pid" 2>/dev/null
    wait "$mock_pid" 2>/dev/null
    mock_pid=
}

# run_and_kill DELAY_S ARGS...: starts moecap ARGS, SIGKILLs it after DELAY_S (if still running)
run_and_kill() {
    local delay=$1
    shift
    "$bin" "$@" >/dev/null 2>&1 &
    run_pid=$!
    sleep "$delay"
    kill -9 "$run_pid" 2>/dev/null
    wait "$run_pid" 2>/dev/null
    run_pid=
}

# check DIR FILE STATS: the invariants above; prints one line per trial
check() {
    python3 - "$1" "$2" "$3" "$CONC" <<'PY'
import json, os, sys
d, name, stats_path, conc = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
st = json.load(open(stats_path))
allowed = {name, "summary.json", "records.jsonl", "metrics-before.prom", "metrics-after.prom"}
names = os.listdir(d) if os.path.isdir(d) else []
hidden_tmp = [n for n in names if n.startswith(".") and ".tmp." in n]
stray = [n for n in names if n not in allowed and n not in hidden_tmp]
assert not stray, ("unexpected files", stray)
raw = open(os.path.join(d, name), "rb").read() if name in names else b""
assert raw == b"" or raw.endswith(b"\n"), ("last line cut", raw[-80:])
lines = [json.loads(l) for l in raw.decode("utf-8").splitlines()]
assert all(isinstance(l, dict) for l in lines)
done = st["completed"]
assert len(lines) >= done - conc, ("lost lines", len(lines), st)
assert len(lines) <= st["generations"], ("more lines than requests", len(lines), st)
summary = "absent"
if "summary.json" in names:
    s = json.load(open(os.path.join(d, "summary.json")))  # complete, or this raises
    if "requests" in s and "sent" in s["requests"]:
        assert s["requests"]["sent"] + s["requests"]["warmup"] == len(lines), (s["requests"], len(lines))
    else:
        assert s["accuracy"]["items"] == len(lines), (s["accuracy"], len(lines))
    summary = "complete"
print("%s: %d lines, mock completed %d of %d, summary %s, hidden temporaries %d"
      % (os.path.basename(d), len(lines), done, st["generations"], summary, len(hidden_tmp)))
PY
}

# ---- 1. bench, killed mid-run: 200 requests of ~0.3 s each, 8 in flight (about 8 s) ----------
for delay in 0.5 1.3 2.2; do
    start_mock "$tmp/b$delay.stats" --ttft-ms 100 --itl-ms 30
    run_and_kill "$delay" bench --url "$url" --model mock-model --tokenize off --server-data off \
        --concurrency $CONC --num-requests 200 --num-prompts 20 --output-len 8 --out "$tmp/b$delay"
    stop_mock
    [ -s "$tmp/b$delay/requests.jsonl" ] || fail "bench killed at $delay s: no request was recorded"
    [ ! -e "$tmp/b$delay/summary.json" ] || fail "bench killed at $delay s: a summary mid-run"
    check "$tmp/b$delay" requests.jsonl "$tmp/b$delay.stats" || fail "bench killed at $delay s"
done

# ---- 2. bench, short runs killed around their end (the summary is written then) -------------
complete=0
for i in $(seq 1 8); do
    delay=$(python3 -c "import random; print('%.3f' % random.uniform(0.05, 0.45))")
    start_mock "$tmp/e$i.stats" --ttft-ms 20 --itl-ms 10
    run_and_kill "$delay" bench --url "$url" --model mock-model --tokenize off --server-data off \
        --concurrency $CONC --num-requests 16 --num-prompts 4 --output-len 8 --out "$tmp/e$i"
    stop_mock
    out=$(check "$tmp/e$i" requests.jsonl "$tmp/e$i.stats") || fail "bench short run $i (kill at $delay s)"
    echo "$out"
    case $out in *"summary complete"*) complete=$((complete + 1)) ;; esac
done
echo "short bench runs: $complete of 8 finished their summary before the kill"

# ---- 3. eval, killed mid-run: 120 GSM8K-style items, 8 in flight ------------------------------
python3 - "$tmp/gsm.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(120):
        f.write(json.dumps({"question": "What is %d plus %d?" % (i, i + 1),
                            "answer": "%d + %d = %d\n#### %d" % (i, i + 1, 2 * i + 1, 2 * i + 1)})
                + "\n")
PY
for delay in 0.6 1.5; do
    start_mock "$tmp/v$delay.stats" --ttft-ms 100 --itl-ms 30
    run_and_kill "$delay" eval --url "$url" --model mock-model --task gsm8k --data "$tmp/gsm.jsonl" \
        --concurrency $CONC --max-tokens 8 --out "$tmp/v$delay"
    stop_mock
    [ -s "$tmp/v$delay/items.jsonl" ] || fail "eval killed at $delay s: no item was recorded"
    [ ! -e "$tmp/v$delay/summary.json" ] || fail "eval killed at $delay s: a summary mid-run"
    check "$tmp/v$delay" items.jsonl "$tmp/v$delay.stats" || fail "eval killed at $delay s"
done

# ---- 4. eval, short runs killed around their end ----------------------------------------------
for i in $(seq 1 4); do
    delay=$(python3 -c "import random; print('%.3f' % random.uniform(0.05, 0.45))")
    start_mock "$tmp/w$i.stats" --ttft-ms 20 --itl-ms 10
    run_and_kill "$delay" eval --url "$url" --model mock-model --task gsm8k --data "$tmp/gsm.jsonl" \
        --limit 16 --concurrency $CONC --max-tokens 8 --out "$tmp/w$i"
    stop_mock
    check "$tmp/w$i" items.jsonl "$tmp/w$i.stats" || fail "eval short run $i (kill at $delay s)"
done

[ "$fails" -eq 0 ] || exit 1
echo "results survive kill -9: ok"
