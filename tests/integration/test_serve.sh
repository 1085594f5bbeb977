#!/usr/bin/env bash
# test_serve.sh: `moecap serve` end to end on a tiny model written by `moecap make-model`: option
# errors (exit 2) and a missing model (exit 1, one line); the server on an ephemeral loopback
# port (the address read from stdout); every endpoint through a real HTTP client (python3's
# http.client), streaming and not; greedy completions equal `moecap generate`'s; bad requests
# get 4xx with the OpenAI error body; the CAP records read by `moecap metrics`; SIGTERM during a
# stream: the stream ends properly and the server exits 0; the --json start-up line; SIGINT.
. "$(dirname "$0")/lib.sh" serve
need_python3

# ---- usage errors ----
"$bin" serve >/dev/null 2>"$tmp/err"; rc=$?
[ "$rc" -eq 2 ] || fail "serve without -m: exit $rc, want 2"
grep -q -- "-m MODEL.gguf is required" "$tmp/err" || fail "serve without -m: $(cat "$tmp/err")"
"$bin" serve -m x.gguf --port 70000 >/dev/null 2>"$tmp/err"; rc=$?
[ "$rc" -eq 2 ] || fail "--port 70000: exit $rc, want 2"
"$bin" serve -m x.gguf --max-body 0 >/dev/null 2>"$tmp/err"; rc=$?
[ "$rc" -eq 2 ] || fail "--max-body 0: exit $rc, want 2"
"$bin" serve -m "$tmp/missing.gguf" --port 0 >"$tmp/out" 2>"$tmp/err"; rc=$?
[ "$rc" -eq 1 ] || fail "missing model: exit $rc, want 1"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "missing model: stderr not one line: $(cat "$tmp/err")"
[ ! -s "$tmp/out" ] || fail "missing model: wrote to stdout"

# ---- a tiny model ----
"$bin" make-model -o "$tmp/tiny.gguf" --layers 2 --embd 64 --ff 128 --experts 4 --top-k 2 \
    --heads 2 --vocab 300 --ctx 4096 --type f32 --seed 5 >/dev/null 2>"$tmp/err" ||
    { fail "make-model: $(cat "$tmp/err")"; exit 1; }

"$bin" serve -m "$tmp/tiny.gguf" --port 0 --parallel 4 --ctx 4096 -t 2 --max-step-tokens 32 \
    --hardware xeon-8480plus --shutdown-timeout 0 >"$tmp/serve.out" 2>"$tmp/serve.err" &
pid=$!
port=$(serve_port "$tmp/serve.out" "$pid")
if [ -z "$port" ]; then
    kill "$pid" 2>/dev/null # still running without the expected line: do not wait forever
    wait "$pid"; rc=$?; pid=
    fail "serve did not start (exit $rc): $(cat "$tmp/serve.err")"
    exit 1
fi

# ---- greedy reference: `moecap generate` ----
gen_ref="$tmp/generate.json"
"$bin" generate -m "$tmp/tiny.gguf" -p "Hello world" -n 8 --temp 0 --ctx 4096 --ignore-eos \
    -t 2 --json >"$gen_ref" 2>"$tmp/err" || fail "generate: $(cat "$tmp/err")"

python3 - "$port" "$tmp" <<'EOF' || fail "HTTP checks"
import http.client, json, os, sys, threading
port, tmp = int(sys.argv[1]), sys.argv[2]

def req(method, path, body=None, raw=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    c.request(method, path, body=data, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    out = (r.status, dict(r.getheaders()), r.read().decode("utf-8"))
    c.close()
    return out

def sse_text(body):
    text, usage, finish = "", None, None
    events = [e for e in body.split("\n\n") if e]
    assert events[-1] == "data: [DONE]", events[-1]
    for e in events[:-1]:
        assert e.startswith("data: "), e
        o = json.loads(e[6:])
        if o.get("usage"): usage = o["usage"]
        if not o["choices"]: continue
        ch = o["choices"][0]
        text += ch.get("text") or (ch.get("delta") or {}).get("content") or ""
        finish = ch.get("finish_reason") or finish
    return text, usage, finish

st, h, b = req("GET", "/health")
assert st == 200 and json.loads(b)["status"] == "ok" and json.loads(b)["slots"] == 4, b
st, h, b = req("GET", "/v1/models")
assert st == 200 and json.loads(b)["data"][0]["id"] == "tiny", b

# completions: streamed text == whole text; usage
body = {"prompt": "Hello world", "max_tokens": 8, "temperature": 0, "ignore_eos": True}
st, h, b = req("POST", "/v1/completions", body)
assert st == 200, b
whole = json.loads(b)
text = whole["choices"][0]["text"]
assert whole["usage"]["completion_tokens"] == 8, whole
st, h, b = req("POST", "/v1/completions", dict(body, stream=True, stream_options={"include_usage": True}))
assert st == 200 and h.get("Content-Type") == "text/event-stream", h
stext, usage, finish = sse_text(b)
assert stext == text and usage == whole["usage"] and finish == "length", (stext, text, usage)
gen = json.load(open(os.path.join(tmp, "generate.json")))
assert gen["text"] == text and whole["usage"]["prompt_tokens"] == gen["prompt_tokens"], (text, gen)

# echo with prompt log-probabilities: one entry per prompt token, the first null
st, h, b = req("POST", "/v1/completions", dict(body, max_tokens=1, echo=True, logprobs=2))
lp = json.loads(b)["choices"][0]["logprobs"]
n_prompt = json.loads(b)["usage"]["prompt_tokens"]
assert st == 200 and len(lp["tokens"]) == n_prompt + 1 and lp["token_logprobs"][0] is None, b
assert all(x <= 0 for x in lp["token_logprobs"][1:]) and len(lp["top_logprobs"][1]) >= 1, b
assert json.loads(b)["choices"][0]["text"].startswith("Hello world"), b

# chat, streaming and not
chat = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "max_completion_tokens": 6, "temperature": 0}
st, h, b = req("POST", "/v1/chat/completions", chat)
assert st == 200, b
msg = json.loads(b)["choices"][0]["message"]
st, h, b = req("POST", "/v1/chat/completions", dict(chat, stream=True))
assert st == 200 and sse_text(b)[0] == msg["content"], (b, msg)

# tokenize / detokenize round trip
st, h, b = req("POST", "/tokenize", {"content": "Hello world"})
toks = json.loads(b)["tokens"]
st, h, b = req("POST", "/detokenize", {"tokens": toks})
assert json.loads(b)["content"] == "Hello world", b

# errors: 4xx with the OpenAI error body
for path, body, raw, want in [
        ("/v1/completions", None, "{bad", 400), ("/v1/completions", {"prompt": "a", "n": 2}, None, 400),
        ("/v1/completions", {"prompt": "a", "max_tokens": 0}, None, 400),
        ("/v1/completions", {"prompt": "a", "max_tokens": 100000}, None, 400),
        ("/v1/chat/completions", {"messages": "x"}, None, 400), ("/nope", {}, None, 404)]:
    st, h, b = req("POST", path, body, raw)
    e = json.loads(b)["error"]
    assert st == want and set(e) == {"message", "type", "param", "code"}, (path, st, b)
st, h, b = req("GET", "/v1/completions")
assert st == 405 and h.get("Allow") == "POST", (st, h)

# recording: 8 concurrent requests; records add up to usage
st, h, b = req("POST", "/moecap/record/start", raw="")
assert st == 200, b
results = [None] * 8
def one(i):
    results[i] = req("POST", "/v1/completions", {"prompt": "x" * (i + 1), "max_tokens": 5 + i,
                                                  "temperature": 0, "ignore_eos": True})
ts = [threading.Thread(target=one, args=(i,)) for i in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
req("POST", "/moecap/record/stop", raw="")
st, h, records = req("GET", "/moecap/records")
recs = [json.loads(l) for l in records.splitlines() if l]
assert st == 200 and len(recs) == int(h["X-Moecap-Records"]) and recs, h
per = {}
for r in recs:
    assert r["gpu_num"] == 1 and r["gpu_raw_type"] == "xeon-8480plus", r
    assert len(r["experts_per_layer"]) == 2, r
    for c in r["per_req_info"]:
        per[c["req_id"]] = per.get(c["req_id"], 0) + c["extend_len"]
for st, h, b in results:
    o = json.loads(b)
    u = o["usage"]
    assert per[o["id"]] == u["prompt_tokens"] + u["completion_tokens"] - 1, (o["id"], per, u)
assert max(r["batch_size"] for r in recs) > 1, "no batching"
open(os.path.join(tmp, "records.jsonl"), "w").write(records)
st, h, b = req("POST", "/dump_batch_recording", raw="")
assert st == 200 and json.loads(b)["total_records"] == len(recs), b
st, h, b = req("GET", "/metrics")
assert "moecap_requests_total{outcome=\"finished\"}" in b and "moecap_expert_activations_total" in b
EOF

# the records feed `moecap metrics`
"$bin" metrics --records "$tmp/records.jsonl" --model "$tmp/tiny.gguf" \
    --hardware xeon-8480plus --json >"$tmp/metrics.json" 2>"$tmp/err" ||
    fail "metrics on the server's records: $(cat "$tmp/err")"

# SIGTERM while a long stream runs (grace period 0): the stream still ends with [DONE]. 4000
# tokens keep the stream running well past the signal even on a fast machine (200 did not).
python3 - "$port" "$pid" <<'EOF' || fail "shutdown during a stream"
import http.client, json, os, signal, sys
port, pid = int(sys.argv[1]), int(sys.argv[2])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
c.request("POST", "/v1/completions", body=json.dumps({"prompt": "a", "max_tokens": 4000,
          "ignore_eos": True, "stream": True}), headers={"Content-Type": "application/json"})
r = c.getresponse()
first = r.readline()
os.kill(pid, signal.SIGTERM)
assert first.startswith(b"data: "), first
rest = r.read().decode()
assert rest.rstrip().endswith("data: [DONE]"), rest[-200:]
assert '"finish_reason":"abort"' in rest, rest[-300:]
EOF
kill -TERM "$pid" 2>/dev/null # (again, should the client have failed before sending it)
for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
kill -0 "$pid" 2>/dev/null && { fail "serve still runs 10 s after SIGTERM"; kill -KILL "$pid"; }
wait "$pid"; rc=$?; pid=
[ "$rc" -eq 0 ] || fail "serve exit $rc after SIGTERM, want 0: $(cat "$tmp/serve.err")"
grep -q "SIGTERM: shutting down" "$tmp/serve.err" || fail "no shutdown message"

# --json: the start-up line as one JSON document; SIGINT on an idle server: exit 0
"$bin" serve -m "$tmp/tiny.gguf" --port 0 -t 1 --json >"$tmp/serve2.out" 2>"$tmp/serve2.err" &
pid=$!
for _ in $(seq 1 200); do [ -s "$tmp/serve2.out" ] && break; sleep 0.05; done
python3 - "$tmp/serve2.out" <<'EOF2' || fail "serve --json start-up line: $(cat "$tmp/serve2.out")"
import json, sys
d = json.loads(open(sys.argv[1]).read())
assert d["url"] == "http://127.0.0.1:%d" % d["port"] and d["model"] == "tiny" and d["slots"] == 1
assert d["chat_template"] == "fallback" and d["ctx"] > 0, d
EOF2
kill -INT "$pid"
wait "$pid"; rc=$?; pid=
[ "$rc" -eq 0 ] || fail "serve exit $rc after SIGINT, want 0"
grep -q "SIGINT: shutting down" "$tmp/serve2.err" || fail "no SIGINT message: $(cat "$tmp/serve2.err")"

[ "$fails" -eq 0 ] || exit 1
echo "test_serve: all checks passed"
