#!/usr/bin/env bash
# test_run_kill.sh: a `moecap run` killed with SIGKILL in the middle (while a system's server and
# its bench are running) leaves no child behind (its steps end with it: src/main.c
# die_with_parent), every requests.jsonl written so far holds only whole JSON lines, no cap.json
# or a complete one, and `moecap run --resume` continues it: the completed steps are skipped and
# the run ends with a complete, not partial, cap.json (docs/RELIABILITY.md, "Results are never
# lost").
. "$(dirname "$0")/lib.sh" runkill
need_python3
run="$tmp/run"

"$bin" run --fast --out "$run" >"$tmp/out1.txt" 2>"$tmp/err1.txt" &
pid=$!
# wait until the second system's performance step has started (the first system is complete)
for _ in $(seq 1 600); do
    grep -q '"step":"perf-c1","system":"q8_0","status":"started"' "$run/progress.jsonl" 2>/dev/null &&
        break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
done
grep -q '"system":"q8_0","status":"started"' "$run/progress.jsonl" 2>/dev/null ||
    fail "the run never reached q8_0's perf step: $(tail -3 "$tmp/err1.txt")"
# kill it while it has children (a server, a bench): steps of a tiny model are short, so look
children=
for _ in $(seq 1 200); do
    children=$(pgrep -P "$pid" | tr '\n' ' ')
    [ -n "$children" ] && break
    sleep 0.01
done
[ -n "$children" ] || fail "no child process while steps run"
kill -9 "$pid"
wait "$pid" 2>/dev/null
pid=
# the children (the server, the bench) end with the run
for _ in $(seq 1 100); do
    alive=
    for c in $children; do kill -0 "$c" 2>/dev/null && alive="$alive $c"; done
    [ -z "$alive" ] && break
    sleep 0.1
done
[ -z "$alive" ] || { fail "children still running after the run was killed:$alive"; kill $alive; }

python3 - "$run" <<'EOF' || fail "files after kill -9"
import glob, json, os, sys
run = sys.argv[1]
for f in glob.glob(run + "/systems/*/perf-*/requests.jsonl") + [run + "/progress.jsonl"]:
    data = open(f, "rb").read()
    assert not data or data.endswith(b"\n"), f + ": ends mid-line"
    for line in data.splitlines():
        json.loads(line)
cap = run + "/cap.json"
if os.path.exists(cap):
    json.load(open(cap))  # complete if present (written by rename)
assert not glob.glob(run + "/**/.*.tmp.*", recursive=True), "temporary files left"
EOF

"$bin" run --resume "$run" >"$tmp/out2.txt" 2>"$tmp/err2.txt" || fail "resume exited $?: $(tail -3 "$tmp/err2.txt")"
python3 - "$run" <<'EOF' || fail "after resume"
import json, sys
run = sys.argv[1]
cap = json.load(open(run + "/cap.json"))
assert cap["partial"] is False, "partial after resume"
assert [s["status"] for s in cap["systems"]] == ["ok"] * 4, [s["status"] for s in cap["systems"]]
lines = [json.loads(l) for l in open(run + "/progress.jsonl")]
skipped = [l for l in lines if l["system"] == "f16" and l["status"] == "skipped"]
assert any(l["step"] == "perf-c1" for l in skipped), "f16's completed perf step was run again"
EOF

[ "$fails" -eq 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
echo "ok"
