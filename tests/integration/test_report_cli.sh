#!/usr/bin/env bash
# test_report_cli.sh: `moecap radar` and `moecap report` end to end: the MoE-CAP radar worked example
# from the reference's YAML (radii in --json, SVG polygons, PNG), the report of the hand-made run
# directory tests/fixtures/rundir-mini (default output path, atomic write, same bytes twice), and
# the exit codes and one-line messages for bad input (1 = failure, 2 = usage error), with no
# output file left behind.
. "$(dirname "$0")/lib.sh" report
need_python3
src=${MOECAP_SOURCE_DIR:?MOECAP_SOURCE_DIR is not set}

# expect_exit CODE STDERR_SUBSTRING CMD ARGS...: stdout stays empty, stderr is one line.
expect_exit() {
    local want=$1 msg=$2
    shift 2
    "$bin" "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    [ "$rc" -eq "$want" ] || fail "$*: exit $rc, want $want"
    [ ! -s "$tmp/out" ] || fail "$*: wrote to stdout on error"
    grep -qF -- "$msg" "$tmp/err" || fail "$*: stderr lacks '$msg': $(cat "$tmp/err")"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "$*: stderr is not one line: $(cat "$tmp/err")"
}

# ---- radar: the worked example (reference section 7.1; cost ceiling = second-to-last tick) ----
yaml=$src/tests/fixtures/radar-example.yaml
"$bin" radar "$yaml" --json -o "$tmp/radar.svg" >"$tmp/radar.json" 2>"$tmp/err" \
    || fail "radar --json failed: $(cat "$tmp/err")"
python3 - "$tmp/radar.json" "$tmp/radar.svg" <<'EOF' || fail "radar JSON / SVG content"
import json, math, re, sys
d = json.load(open(sys.argv[1]))
assert d["baseline"] == 20 and d["cost_ceiling"] == 8000, d
want = {"SGLang": (100, 20, 64.4), "K-Transformers": (86.96, 62, 20), "MoE-Infinity": (20, 62, 64.4)}
assert [s["name"] for s in d["systems"]] == list(want), d["systems"]
for s in d["systems"]:
    r = s["radii"]
    for got, w in zip((r["performance"], r["cost"], r["accuracy"]), want[s["name"]]):
        assert abs(got - w) < 0.005, (s["name"], got, w)
svg = open(sys.argv[2]).read()
polys = re.findall(r'<polygon class="radar-sys"[^>]* points="([^"]+)"', svg)
assert len(polys) == 3, len(polys)
for pts, w in zip(polys, want.values()):
    radii = [math.hypot(*map(float, p.split(","))) / 190 * 100 for p in pts.split()]
    assert all(abs(a - b) < 0.01 for a, b in zip(radii, w)), (radii, w)
EOF
"$bin" radar "$yaml" >"$tmp/radar.txt" 2>"$tmp/err" || fail "radar (text) failed"
grep -q "^K-Transformers .* 86.96 *62.00 *20.00$" "$tmp/radar.txt" || fail "radar text: $(cat "$tmp/radar.txt")"
"$bin" radar "$yaml" -o "$tmp/radar.png" --scale 1 >/dev/null 2>"$tmp/err" || fail "radar png: $(cat "$tmp/err")"
[ "$(head -c 8 "$tmp/radar.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] \
    || fail "radar.png is not a PNG"

# the same input as JSON
python3 - "$yaml" "$tmp/radar-in.json" <<'EOF'
import sys
# the fixture's values, written as JSON with the same keys (no YAML module needed)
open(sys.argv[2], "w").write('{"axis_keys": ["latency", "cost", "accuracy"], "ticks": [0, 2000, 4000, 6000, 8000, 10000], '
    '"data": {"SGLang": {"latency": 58, "cost": 8920, "accuracy": 0.911}, '
    '"K-Transformers": {"latency": 73, "cost": 3800, "accuracy": 0.8}, '
    '"MoE-Infinity": {"latency": 150, "cost": 3800, "accuracy": 0.911}}}')
EOF
"$bin" radar "$tmp/radar-in.json" --json >"$tmp/radar2.json" 2>"$tmp/err" || fail "radar json input"
python3 -c "
import json, sys
a = json.load(open('$tmp/radar.json'))['systems']; b = json.load(open('$tmp/radar2.json'))['systems']
assert [s['radii'] for s in a] == [s['radii'] for s in b]" || fail "radar: JSON and YAML inputs differ"

# radar: bad input
printf 'data:\n  a: {latency: 1}\n  a: {latency: 2}\n' >"$tmp/dup.yaml"
expect_exit 1 "dup.yaml: line 3: duplicate key 'a'" radar "$tmp/dup.yaml"
printf 'data: {a: {performance: 1, cost: 1, accuracy: 2}}\n' >"$tmp/acc.yaml"
expect_exit 1 "system 'a': accuracy 2 is not in [0, 1]" radar "$tmp/acc.yaml" -o "$tmp/acc.svg"
[ ! -e "$tmp/acc.svg" ] || fail "radar wrote an output file for bad input"
expect_exit 1 "cannot open" radar "$tmp/missing.yaml"
expect_exit 2 "-o must name a .svg or .png file" radar "$yaml" -o "$tmp/radar.gif"
expect_exit 2 "give exactly one input file" radar
expect_exit 2 "unknown option" radar "$yaml" --bogus

# ---- report: the fixture run directory ----
run=$tmp/run
cp -r "$src/tests/fixtures/rundir-mini" "$run"
"$bin" report "$run" >"$tmp/out" 2>"$tmp/err" || fail "report failed: $(cat "$tmp/err")"
grep -qF "wrote $run/report.html (3 systems)" "$tmp/out" || fail "report stdout: $(cat "$tmp/out")"
[ -s "$run/report.html" ] || fail "no RUN_DIR/report.html"
ls "$run" | grep -q '\.tmp\.' && fail "temporary file left in the run directory"
"$bin" report "$run" -o "$tmp/again.html" >/dev/null 2>&1 || fail "report -o failed"
cmp -s "$run/report.html" "$tmp/again.html" || fail "report is not the same bytes twice"
python3 - "$run/report.html" <<'EOF' || fail "report HTML content"
import sys, xml.dom.minidom
text = open(sys.argv[1], encoding="utf-8").read()
doc = xml.dom.minidom.parseString(text.replace("<!DOCTYPE html>", "", 1))  # well-formed
cls = lambda tag, c: [e for e in doc.getElementsByTagName(tag) if e.getAttribute("class") == c]
assert len(cls("polygon", "radar-sys")) == 3
assert len(cls("path", "cdf")) == 6
assert len(cls("rect", "heat")) == 16
assert not doc.getElementsByTagName("script") and not doc.getElementsByTagName("link")
assert "n/a: no evaluation configured" in text
EOF
# several run directories: ./report.html, systems named <run>/<system>
mkdir -p "$tmp/cwd" && cp -r "$run" "$tmp/run2"
(cd "$tmp/cwd" && "$bin" report "$run" "$tmp/run2" >/dev/null 2>"$tmp/err") || fail "report of 2 runs: $(cat "$tmp/err")"
grep -q "run2/q4_0" "$tmp/cwd/report.html" 2>/dev/null || fail "2 runs: no ./report.html naming run2/q4_0"
"$bin" report "$run" --json -o "$tmp/j.html" >"$tmp/j.json" 2>/dev/null || fail "report --json"
python3 -c "
import json; d = json.load(open('$tmp/j.json'))
assert d['systems'] == 3 and d['radar'][1]['radii']['performance'] == 100 and d['radar'][1]['radii']['accuracy'] is None
" || fail "report --json content"

# report: bad input
mkdir -p "$tmp/notrun"
expect_exit 1 "notrun/cap.json: cannot open" report "$tmp/notrun"
[ ! -e "$tmp/notrun/report.html" ] || fail "report wrote a file for a bad run directory"
mkdir -p "$tmp/bench" && echo '{"command": "bench", "systems": []}' >"$tmp/bench/cap.json"
expect_exit 1 "bench/cap.json: not a run's cap.json" report "$tmp/bench"
mkdir -p "$tmp/trunc" && head -c 300 "$run/cap.json" >"$tmp/trunc/cap.json"
expect_exit 1 "trunc/cap.json: not valid JSON" report "$tmp/trunc"
expect_exit 1 "trunc/cap.json" report "$run" "$tmp/trunc" -o "$tmp/two.html"
[ ! -e "$tmp/two.html" ] || fail "report wrote a file when one of its runs was bad"
expect_exit 2 "give at least one run directory" report
expect_exit 2 "needs a value" report "$run" -o

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "test_report_cli: all passed"
