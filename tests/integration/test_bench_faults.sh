#!/usr/bin/env bash
# test_bench_faults.sh: the client fault matrix at the level of `moecap bench` (docs/RELIABILITY.md,
# "Fault matrix for the client"): one run against the mock server whose prompts mix good requests
# with every server-side fault; the run completes, requests.jsonl has one line per request with the
# right status, and summary.json counts completed + failed = sent with the failures by kind.
# Then: an SSE event of 64 MiB against --max-event 64k does not grow moecap's memory (peak RSS
# against a run without it), and a server that refuses connections gives a complete run of
# `connect` failures (exit 1, results written).
. "$(dirname "$0")/lib.sh" bfaults
need_python3
mock=${MOECAP_MOCK_BIN:-}
[ -x "$mock" ] || { echo "SKIPPED: MOECAP_MOCK_BIN not built"; exit 77; }
mock_pid=
trap '[ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null; rm -rf "$tmp"' EXIT

"$mock" --ttft-ms 5 --itl-ms 2 --port-file "$tmp/port" >/dev/null &
mock_pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
[ -s "$tmp/port" ] || { echo "FAIL: mock server did not start" >&2; exit 1; }
url="http://127.0.0.1:$(cat "$tmp/port")"

# marker -> expected status; the prompt order is the request order modulo the prompt count
cat >"$tmp/cases.tsv" <<'T'
fault=reset_headers	truncated
fault=reset_mid,after=2	truncated
fault=close_mid,after=3	truncated
fault=http429	http_status
fault=http500	http_status
fault=http503	http_status
fault=http429_empty	http_status
fault=http500_empty	http_status
fault=http503_empty	http_status
fault=bad_json,after=1	malformed_stream
fault=huge_event,after=2,size=200000	malformed_stream
fault=no_done	truncated
fault=no_done_finish	ok
fault=eof_no_done	truncated
fault=eof_finish	ok
fault=close_mid,after=4	truncated
fault=stall,after=2	timeout
fault=never_answer	timeout
fault=wrong_ctype	malformed_stream
fault=html	malformed_stream
fault=error_event,after=1	stream_error
fault=error_obj,after=3	stream_error
utf8=1,trickle=1	ok
tokens=4	ok
T
python3 - "$tmp/cases.tsv" "$tmp/mixed.jsonl" <<'PY'
import json, sys
with open(sys.argv[2], "w") as f:
    for line in open(sys.argv[1]):
        marker, _ = line.rstrip("\n").split("\t")
        f.write(json.dumps({"prompt": "[[mock:%s]] go" % marker, "max_tokens": 4}) + "\n")
PY
n=$(wc -l <"$tmp/cases.tsv")

# 1. a mixed run: 2 x every case, 6 in flight, 1 s timeout, 64 KiB event cap
"$bin" bench --url "$url" --dataset "$tmp/mixed.jsonl" --num-requests $((2 * n)) \
    --concurrency 6 --timeout 1 --max-event 64k --out "$tmp/mixed" >"$tmp/mixed.txt" \
    2>"$tmp/mixed.err" || fail "mixed run: exit $? $(cat "$tmp/mixed.err")"
python3 - "$tmp/mixed" "$tmp/cases.tsv" <<'PY' || fail "mixed run: accounting"
import collections, json, sys
d = sys.argv[1]
want = [l.rstrip("\n").split("\t")[1] for l in open(sys.argv[2])]
n = len(want)
s = json.load(open(d + "/summary.json"))
r = s["requests"]
assert r["sent"] == 2 * n and r["completed"] == 2 * n, r
assert r["ok"] + r["failed"] == r["sent"], r
assert r["cancelled"] == 0 and s["partial"] is False, r
expect = collections.Counter(w for w in want for _ in range(2))
assert r["ok"] == expect["ok"], (r, expect)
for k, v in r["failures"].items():
    assert v == expect.get(k, 0), (k, v, expect)
lines = [json.loads(l) for l in open(d + "/requests.jsonl")]
assert len(lines) == 2 * n, len(lines)
assert sorted(l["id"] for l in lines) == list(range(2 * n))
for l in lines:
    assert l["status"] == want[l["prompt"]], (l["prompt"], l["status"], l["message"])
    assert (l["message"] == "") == (l["status"] == "ok"), l
    if l["status"] == "http_status":
        assert l["http_status"] in (429, 500, 503), l
    if l["status"] == "timeout":
        assert 1.0 <= (l["end_ns"] - l["send_ns"]) * 1e-9 < 5, l
PY
grep -q "^requests *8 ok, 40 failed http_status=12 timeout=4 malformed_stream=8 truncated=12 stream_error=4" "$tmp/mixed.txt" \
    || fail "mixed run table: $(grep '^requests' "$tmp/mixed.txt")"

# 2. memory: a 64 MiB event against --max-event 64k costs moecap no more than a run without it
python3 - "$bin" "$url" "$tmp" <<'PY' || fail "oversize event: memory not bounded"
import json, resource, subprocess, sys
bin_, url, tmp = sys.argv[1:4]
def run(name, prompt):
    with open("%s/%s.jsonl" % (tmp, name), "w") as f:
        for _ in range(4):
            f.write(json.dumps({"prompt": prompt, "max_tokens": 4}) + "\n")
    subprocess.run([bin_, "bench", "--url", url, "--dataset", "%s/%s.jsonl" % (tmp, name),
                    "--concurrency", "1", "--max-event", "64k", "--timeout", "30",
                    "--out", "%s/%s" % (tmp, name)], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB, max over children
base = run("small", "plain go")
big = run("huge", "[[mock:fault=huge_event,after=1,size=67108864]] go")
s = json.load(open(tmp + "/huge/summary.json"))
assert s["requests"]["failures"]["malformed_stream"] == 4, s["requests"]
print("peak RSS: %d KiB without, %d KiB with 4 x 64 MiB events" % (base, big))
assert big - base < 16 * 1024, (base, big)
PY

# 3. nothing listens: every request fails with `connect`, the run completes and says so
kill "$mock_pid" 2>/dev/null
wait "$mock_pid" 2>/dev/null
mock_pid=
"$bin" bench --url "$url" --model m --tokenize off --server-data off --num-requests 5 \
    --concurrency 2 --out "$tmp/refused" >/dev/null 2>"$tmp/refused.err"
rc=$?
[ "$rc" -eq 1 ] || fail "refused: exit $rc, want 1"
grep -q "no request succeeded" "$tmp/refused.err" || fail "refused: $(cat "$tmp/refused.err")"
python3 - "$tmp/refused" <<'PY' || fail "refused: accounting"
import json, sys
s = json.load(open(sys.argv[1] + "/summary.json"))
r = s["requests"]
assert r["sent"] == 5 and r["failed"] == 5 and r["failures"]["connect"] == 5, r
lines = [json.loads(l) for l in open(sys.argv[1] + "/requests.jsonl")]
assert len(lines) == 5 and all(l["status"] == "connect" for l in lines), lines
assert all("Connection refused" in l["message"] or "connect" in l["message"] for l in lines)
PY

[ "$fails" -eq 0 ] || exit 1
echo "bench fault matrix: ok"
