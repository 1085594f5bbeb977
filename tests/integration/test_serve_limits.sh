#!/usr/bin/env bash
# test_serve_limits.sh: the limits of `moecap serve` (docs/SERVER.md "Limits"), each answered
# with its status and the OpenAI error body, on a tiny model on an ephemeral loopback port:
# body over --max-body (413, announced and chunked), headers over --max-header (431; a header
# block beyond libmicrohttpd's pool gets its own 431), a prompt over the context and max_tokens
# over --max-tokens (400), more than --max-connections open (503 + Retry-After), a client that
# stalls in the middle of its request (dropped after --idle-timeout, no answer), and a slowloris
# (connections trickling a header byte by byte): a normal request is still answered promptly and
# the slow ones are dropped once they stall. The start-up line says "loopback only".
set -u
bin=${MOECAP_BIN:?MOECAP_BIN is not set}
command -v python3 >/dev/null || { echo "python3 not found: skipped"; exit 77; }
tmp=$(mktemp -d "${MOECAP_TEST_TMP:-/tmp}/serve-limits.XXXXXX")
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

for bad in "--max-connections 0" "--idle-timeout 0" "--max-header 10" "--max-tokens -1"; do
    # shellcheck disable=SC2086
    "$bin" serve -m x.gguf $bad >/dev/null 2>"$tmp/err"; rc=$?
    [ "$rc" -eq 2 ] || fail "$bad: exit $rc, want 2"
done

"$bin" make-model -o "$tmp/tiny.gguf" --layers 2 --embd 64 --ff 128 --experts 4 --top-k 2 \
    --heads 2 --vocab 300 --ctx 4096 --type f32 --seed 5 >/dev/null 2>"$tmp/err" ||
    { fail "make-model: $(cat "$tmp/err")"; exit 1; }

"$bin" serve -m "$tmp/tiny.gguf" --port 0 --parallel 1 --ctx 64 -t 1 --max-body 2k \
    --max-header 4k --max-tokens 20 --max-connections 8 --idle-timeout 2 \
    --shutdown-timeout 0 >"$tmp/serve.out" 2>"$tmp/serve.err" &
pid=$!
port=
for _ in $(seq 1 200); do
    port=$(sed -n 's/^moecap serve: listening on http:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' \
        "$tmp/serve.out")
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
done
if [ -z "$port" ]; then
    wait "$pid"; rc=$?; pid=
    fail "serve did not start (exit $rc): $(cat "$tmp/serve.err")"
    exit 1
fi
grep -q "loopback only)$" "$tmp/serve.out" || fail "start-up line: $(cat "$tmp/serve.out")"
[ ! -s "$tmp/serve.err" ] || fail "loopback start-up warned: $(cat "$tmp/serve.err")"

python3 - "$port" <<'EOF' || fail "limit checks"
import json, socket, sys, threading, time
port = int(sys.argv[1])
bad = []

def check(cond, what):
    if not cond:
        bad.append(what)
        print("FAIL:", what, file=sys.stderr)

def conn():
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(15)
    return s

def read_all(s):
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except OSError as e:
        out += b"<" + str(e).encode() + b">"
    return out

def raw(data):
    s = conn()
    s.sendall(data)
    out = read_all(s)
    s.close()
    return out

def parse(resp):
    head, _, body = resp.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/1.1 ") else 0
    hdrs = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
    return status, hdrs, body

def post(path, body, extra=b""):
    data = body.encode() if isinstance(body, str) else body
    return parse(raw(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     b"Content-Type: application/json\r\n" + extra +
                     b"Content-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data))

def expect_error(resp, status, code, param, what):
    st, hdrs, body = resp
    check(st == status, "%s: status %d, want %d" % (what, st, status))
    try:
        e = json.loads(body)["error"]
        check(e["code"] == code, "%s: code %s, want %s" % (what, e["code"], code))
        check(e["param"] == param, "%s: param %s, want %s" % (what, e["param"], param))
        check(e["type"] == ("server_error" if status >= 500 else "invalid_request_error"),
              "%s: type %s" % (what, e["type"]))
    except (ValueError, KeyError, TypeError):
        check(False, "%s: not an OpenAI error body: %r" % (what, body[:200]))
    return hdrs

def health():
    return parse(raw(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))[0]

# ---- body ----
big = json.dumps({"prompt": "a" * 3000})
h = expect_error(post("/v1/completions", big), 413, "body_too_large", None, "body 3 kB")
check(h.get("connection") == "close", "413 keeps the connection")
chunked = b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
data = big.encode()
chunked += b"%x\r\n" % len(data) + data + b"\r\n0\r\n\r\n"
expect_error(parse(raw(chunked)), 413, "body_too_large", None, "chunked body 3 kB")

# ---- headers ----
req = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: "
check(parse(raw(req + b"a" * 3000 + b"\r\n\r\n"))[0] == 200, "3 kB of headers refused")
expect_error(parse(raw(req + b"a" * 5000 + b"\r\n\r\n")), 431, "header_too_large", None,
             "5 kB of headers")
st, _, _ = parse(raw(req + b"a" * 200000 + b"\r\n\r\n"))
check(st == 431, "200 kB of headers: status %d, want 431" % st)
check(health() == 200, "server unhealthy after the header tests")

# ---- prompt and max_tokens ----
expect_error(post("/v1/completions", json.dumps({"prompt": [5] * 64})), 400,
             "context_length_exceeded", "prompt", "prompt of 64 tokens, ctx 64")
expect_error(post("/v1/completions", json.dumps({"prompt": "hi", "max_tokens": 21})), 400,
             "invalid_value", "max_tokens", "max_tokens 21 over --max-tokens 20")
st, _, body = post("/v1/completions", json.dumps({"prompt": "hi", "max_tokens": 20,
                                                  "ignore_eos": True, "temperature": 0}))
check(st == 200 and json.loads(body)["usage"]["completion_tokens"] == 20, "max_tokens 20")
st, _, body = post("/v1/chat/completions",
                   json.dumps({"messages": [{"role": "user", "content": "h"}],
                               "ignore_eos": True, "temperature": 0}))
u = json.loads(body)["usage"] if st == 200 else {}
check(u.get("completion_tokens") == min(20, 64 - u.get("prompt_tokens", 0)),
      "chat without max_tokens: %d %r" % (st, u))

# ---- a client that stalls in the middle of its request: dropped after the idle timeout ----
s = conn()
s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Le")
t0 = time.monotonic()
out = read_all(s)
dt = time.monotonic() - t0
s.close()
check(out == b"", "stalled client got %r" % out[:100])
check(1.5 < dt < 6, "stalled client dropped after %.1f s, idle timeout 2 s" % dt)

# ---- connections: more than --max-connections open -> 503 ----
idle = [conn() for _ in range(10)]
time.sleep(0.2)
h = expect_error(parse(raw(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")), 503,
                 "too_many_connections", None, "11 connections open, limit 8")
check(h.get("retry-after") == "1", "503 without Retry-After")
for c in idle:
    c.close()
time.sleep(0.3)
check(health() == 200, "not answered once the connections closed")

# ---- slowloris: 6 connections trickle a header, one byte every 0.25 s for 1.5 s, then stall ----
partial = b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n"
slow = [conn() for _ in range(6)]
closed_after = [None] * len(slow)

def watch(i, s):
    for b in partial[:6]:
        s.sendall(bytes([b]))
        time.sleep(0.25)
    t = time.monotonic()
    out = read_all(s)
    closed_after[i] = (time.monotonic() - t, out)

threads = [threading.Thread(target=watch, args=(i, s)) for i, s in enumerate(slow)]
for t in threads:
    t.start()
time.sleep(0.5)
t0 = time.monotonic()
st, _, _ = post("/v1/completions", json.dumps({"prompt": "hi", "max_tokens": 4}))
dt = time.monotonic() - t0
check(st == 200, "request during the slowloris: status %d" % st)
check(dt < 2, "request during the slowloris took %.2f s" % dt)
for t in threads:
    t.join(30)
for i, r in enumerate(closed_after):
    check(r is not None and r[1] == b"" and 1.5 < r[0] < 6,
          "slow connection %d: %r" % (i, r))
check(health() == 200, "server unhealthy after the slowloris")

# ---- accounting: the refused generation requests count as invalid (2 x 413, 2 x 400) ----
_, _, body = parse(raw(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
m = {l.split()[0]: float(l.split()[1]) for l in body.decode().splitlines()
     if l.startswith("moecap_requests_total")}
check(m.get('moecap_requests_total{outcome="invalid"}') == 4, "invalid count: %r" % m)
check(m.get('moecap_requests_total{outcome="finished"}') == 3, "finished count: %r" % m)
sys.exit(1 if bad else 0)
EOF

kill -TERM "$pid"; wait "$pid"; rc=$?; pid=
[ "$rc" -eq 0 ] || fail "exit $rc after SIGTERM: $(cat "$tmp/serve.err")"
[ "$fails" -eq 0 ] || exit 1
echo "serve limits: ok"
