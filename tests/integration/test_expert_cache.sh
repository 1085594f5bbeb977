#!/usr/bin/env bash
# test_expert_cache.sh: expert offloading from the command line (docs/ENGINE.md "Expert offloading"):
# option errors (exit 2), a cache too small for top_k experts (exit 2, one line naming sizes),
# `moecap generate` with a tiny cache (lru, lfu, prefetch, buffered) gives the same tokens as
# without one, bench-engine reports hit rate / slow-tier bandwidth / stall share in --json, and
# `moecap serve` with a cache answers and counts hits, misses, bytes and stall in /metrics.
. "$(dirname "$0")/lib.sh" xcache
need_python3

# f32 experts of 64 x 128: 32 KiB per matrix, a slot of 3 x 36 KiB = 0.105 MiB
"$bin" make-model -o "$tmp/tiny.gguf" --layers 2 --embd 64 --ff 128 --experts 4 --top-k 2 \
    --heads 2 --vocab 300 --ctx 512 --type f32 --seed 5 >/dev/null 2>"$tmp/err" ||
    { fail "make-model: $(cat "$tmp/err")"; exit 1; }
m="$tmp/tiny.gguf"

# ---- option errors ----
expect2() { # expect2 "what" "message part" args...
    local what=$1 msg=$2
    shift 2
    "$bin" "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
    [ "$rc" -eq 2 ] || fail "$what: exit $rc, want 2"
    grep -q -- "$msg" "$tmp/err" || fail "$what: $(cat "$tmp/err")"
    [ ! -s "$tmp/out" ] || fail "$what: wrote to stdout"
}
expect2 "mb 0" "--expert-cache-mb must be MiB > 0" generate -m "$m" -p x --expert-cache-mb 0
expect2 "policy" "must be lru, lfu or static" bench-engine -m "$m" --expert-cache-mb 1 \
    --expert-cache-policy fifo
expect2 "prefetch alone" "need --expert-cache-mb N" serve -m "$m" --prefetch
expect2 "static without profile" "static needs --expert-profile" generate -m "$m" -p x \
    --expert-cache-mb 1 --expert-cache-policy static
expect2 "too small" "holds 1 expert slot of 0.1 MiB; a layer needs at least top_k = 2" \
    generate -m "$m" -p x --expert-cache-mb 0.15
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "too small: not one line: $(cat "$tmp/err")"

# ---- generate: the same tokens with and without a cache ----
gen() { "$bin" generate -m "$m" -p "Hello world" -n 12 --ignore-eos -t 2 --json "$@"; }
gen >"$tmp/ref.json" 2>"$tmp/err" || fail "generate: $(cat "$tmp/err")"
for opts in "--expert-cache-mb 0.25" "--expert-cache-mb 0.25 --expert-cache-policy lfu" \
    "--expert-cache-mb 0.7 --prefetch" "--expert-cache-mb 0.25 --no-direct"; do
    # shellcheck disable=SC2086
    gen $opts >"$tmp/x.json" 2>"$tmp/err" || fail "generate $opts: $(cat "$tmp/err")"
    python3 - "$tmp/ref.json" "$tmp/x.json" "$opts" <<'EOF' || fail "generate $opts"
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert a["ids"] == b["ids"] and len(a["ids"]) == 12, (a["ids"], b["ids"])
assert "expert_cache" not in a, a
x = b["expert_cache"]
assert x["slots"] == (6 if "0.7" in sys.argv[3] else 2), x
assert x["misses"] > 0 and x["slow_tier_bytes"] > 0 and x["slow_tier_Bps"] > 0, x
if "--no-direct" in sys.argv[3]:  # O_DIRECT otherwise, unless the test file system refuses it
    assert x["direct"] is False, x
if "--prefetch" in sys.argv[3]:
    assert x["prefetched"] > 0, x
EOF
done
grep -q "note: expert reads are buffered" "$tmp/err" || fail "--no-direct: no note: $(cat "$tmp/err")"

# ---- bench-engine: cache figures per phase ----
"$bin" bench-engine -m "$m" -p 16 -n 8 -b 1,2 -r 2 --hardware xeon-8480plus -t 2 \
    --expert-cache-mb 0.25 --slow-bw 2 --json >"$tmp/b.json" 2>"$tmp/err" || fail "bench-engine: $(cat "$tmp/err")"
python3 - "$tmp/b.json" <<'EOF' || fail "bench-engine json"
import json, sys
j = json.load(open(sys.argv[1]))
x = j["expert_cache"]
assert x["slots"] == 2 and x["experts"] == 8, x
# the analytic model beside each decode phase: 2 of 8 experts per layer cached, uniform
# routing -> predicted hit rate 2/8; the gap is (predicted - measured) / measured
for ph in j["decode"]:
    p = ph["predicted"]
    assert abs(p["predict.cache_hit_rate"] - 0.25) < 1e-9, p
    assert abs(p["predict.tpot_offload_s"] - p["fast_s"] - p["slow_s"]) < 1e-12, p
    assert abs(p["measured_tpot_s"] - ph["batch"] / ph["tok_per_s_mean"]) < 1e-9 * p["measured_tpot_s"], p
    assert abs(p["gap_pct"] - 100 * (p["predict.tpot_offload_s"] / p["measured_tpot_s"] - 1)) < 1e-6, p
    assert p["hit_model"] == "uniform" and p["slow_Bps"] == 2e9, p
    # calibrated from the phase's records: its routing replayed, the slow tier as measured
    c = ph["calibrated"]
    assert c["hit_model"] == "replay" and "records" in c["routing"], c
    assert 0 <= c["predict.cache_hit_rate"] <= 1, c
    assert abs(c["slow_Bps"] - ph["slow_tier_Bps_mean"]) < 1e-6 * c["slow_Bps"], (c, ph)
    assert abs(c["predict.tpot_offload_s"] - c["fast_s"] - c["slow_s"]) < 1e-12, c
    assert abs(c["measured_stall_s"] + c["measured_rest_s"] - c["measured_tpot_s"]) < 1e-12, c
    assert abs(c["measured_stall_s"] - ph["stall_fraction_mean"] * c["measured_tpot_s"]) < 1e-12, c
for ph in [j["prefill"]] + j["decode"]:
    assert 0 <= ph["cache_hit_rate_mean"] <= 1, ph
    assert ph["slow_tier_Bps_mean"] > 0, ph
    assert 0 <= ph["stall_fraction_mean"] < 1, ph
EOF
# --routing: a trace recorded before, replayed through the 2 slots. Each pass routes one token to
# experts 0 and 1 of both layers: layer 1's two experts evict layer 0's and back, so the replay
# hits nothing (uniform routing would say 2/8), and every step misses 2 x 2 experts.
for i in 0 1 2; do
    echo '{"forward_pass_id":'$i',"forward_mode":"decode","batch_size":1,"new_tokens":1,"seq_lens_sum":10,"latency":0.01,"expert_activation":2,"experts_per_layer":[2,2],"tokens_per_expert":[[1,1,0,0],[1,1,0,0]]}'
done >"$tmp/trace.jsonl"
"$bin" bench-engine -m "$m" -p 16 -n 4 -b 1 -r 1 --hardware xeon-8480plus -t 2 --expert-cache-mb 0.25 \
    --slow-bw 2 --routing "$tmp/trace.jsonl" --json >"$tmp/br.json" 2>"$tmp/err" ||
    fail "bench-engine --routing: $(cat "$tmp/err")"
python3 - "$tmp/br.json" "$tmp/trace.jsonl" <<'EOF' || fail "bench-engine --routing json"
import json, sys
j = json.load(open(sys.argv[1]))
p = j["decode"][0]["predicted"]
assert p["routing"] == sys.argv[2] and p["hit_model"] == "replay", p
assert p["predict.cache_hit_rate"] == 0, p
assert abs(p["slow_s"] - 4 * 3 * 64 * 128 * 4 / 2e9) < 1e-12, p  # 4 f32 experts of 3 x 64 x 128
EOF
"$bin" bench-engine -m "$m" -p 16 -n 4 -b 1 -r 1 --hardware xeon-8480plus -t 2 --expert-cache-mb 0.25 \
    --routing "$tmp/absent.jsonl" --json >"$tmp/br.json" 2>"$tmp/err" && fail "--routing absent: exit 0"
grep -q "^moecap bench-engine: --routing .*absent.jsonl" "$tmp/err" ||
    fail "--routing absent file: $(cat "$tmp/err")"
[ -s "$tmp/br.json" ] && fail "--routing absent file: output written"
"$bin" bench-engine -m "$m" -p 16 -n 4 -b 1 -r 1 --hardware xeon-8480plus -t 2 --json \
    >"$tmp/b0.json" 2>"$tmp/err" || fail "bench-engine without a cache: $(cat "$tmp/err")"
grep -q "cache_hit_rate" "$tmp/b0.json" && fail "bench-engine without a cache reports a hit rate"

# --routing is replayed per batch size, here through 4 slots: the three b=1 passes route to
# experts 0 and 1 of both layers (all fit: hit rate 1), three more passes of batch 2 to all four
# experts of each layer (8 > 4 slots, each layer evicts the other's: hit rate 0). Phase b=3 has
# no passes of its size and replays all six; second replay from [L1e0..3]: pass 1 misses 4, passes
# 2 and 3 hit 4 each, pass 4 hits L0e0 and L0e1, passes 5 and 6 miss 8 each: 10 of 36.
for i in 3 4 5; do
    echo '{"forward_pass_id":'$i',"forward_mode":"decode","batch_size":2,"new_tokens":2,"seq_lens_sum":20,"latency":0.01,"expert_activation":4,"experts_per_layer":[4,4],"tokens_per_expert":[[1,1,1,1],[1,1,1,1]]}'
done >>"$tmp/trace.jsonl"
"$bin" bench-engine -m "$m" -p 16 -n 4 -b 1,2,3 -r 1 --hardware xeon-8480plus -t 2 \
    --expert-cache-mb 0.45 --slow-bw 2 --routing "$tmp/trace.jsonl" --json >"$tmp/bb.json" \
    2>"$tmp/err" || fail "bench-engine --routing by batch: $(cat "$tmp/err")"
python3 - "$tmp/bb.json" <<'EOF' || fail "bench-engine --routing by batch json"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["expert_cache"]["slots"] == 4, j["expert_cache"]
d = j["decode"]
p = [ph["predicted"] for ph in d]
assert [ph["batch"] for ph in d] == [1, 2, 3], d
assert [x["routing_same_batch"] for x in p] == [True, True, False], p
assert p[0]["predict.cache_hit_rate"] == 1 and p[1]["predict.cache_hit_rate"] == 0, p
assert abs(p[2]["predict.cache_hit_rate"] - 10 / 36) < 1e-12, p
assert p[0]["slow_s"] == 0, p
EOF

# --records: the last repetition's decode passes (every batch size) as records JSONL with
# tokens_per_expert, usable as --routing; written after the report, never partially
"$bin" bench-engine -m "$m" -p 16 -n 3 -b 1,2 -r 2 --hardware xeon-8480plus -t 2 \
    --records "$tmp/rec.jsonl" >"$tmp/rec.out" 2>"$tmp/err" || fail "bench-engine --records: $(cat "$tmp/err")"
python3 - "$tmp/rec.jsonl" <<'EOF' || fail "bench-engine --records file"
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
assert [x["batch_size"] for x in r] == [1] * 3 + [2] * 3, r
for x in r:
    assert x["forward_mode"] == "decode" and x["new_tokens"] == x["batch_size"], x
    t = x["tokens_per_expert"]
    assert len(t) == 2 and all(sum(row) == 2 * x["batch_size"] for row in t), x  # top-2
EOF
"$bin" bench-engine -m "$m" -p 16 -n 3 -b 1 -r 1 --hardware xeon-8480plus -t 2 --expert-cache-mb 0.25 \
    --routing "$tmp/rec.jsonl" >/dev/null 2>"$tmp/err" || fail "--routing from --records: $(cat "$tmp/err")"
# a --records path that cannot be written is refused before the run (exit 2, one line)
for bad in "$tmp/no/such/dir/r.jsonl" "$tmp" ""; do
    "$bin" bench-engine -m "$m" -p 16 -n 3 -b 1 -r 1 --hardware xeon-8480plus -t 2 \
        --records "$bad" >"$tmp/rec.out" 2>"$tmp/err"
    [ $? -eq 2 ] || fail "--records '$bad': not exit 2"
    grep -q "^moecap bench-engine: --records '$bad': not a file in a writable directory" "$tmp/err" ||
        fail "--records '$bad': $(cat "$tmp/err")"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "--records '$bad': not one line: $(cat "$tmp/err")"
    [ -s "$tmp/rec.out" ] && fail "--records '$bad': output written"
done

# ---- serve with a cache: /metrics counters ----
"$bin" serve -m "$m" --port 0 -t 2 --expert-cache-mb 0.25 --shutdown-timeout 0 \
    >"$tmp/serve.out" 2>"$tmp/serve.err" &
pid=$!
port=$(serve_port "$tmp/serve.out" "$pid")
if [ -z "$port" ]; then
    fail "serve did not start: $(cat "$tmp/serve.err")"
else
    python3 - "$port" "$tmp/ref.json" <<'EOF' || fail "serve with a cache"
import http.client, json, sys
port = int(sys.argv[1])
def req(method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request(method, path, body=json.dumps(body) if body else None,
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    out = (r.status, r.read().decode())
    c.close()
    return out
st, b = req("POST", "/v1/completions", {"prompt": "Hello world", "max_tokens": 12,
                                        "temperature": 0, "ignore_eos": True})
assert st == 200, b
assert json.loads(b)["choices"][0]["text"] == json.load(open(sys.argv[2]))["text"], b
st, b = req("GET", "/metrics")
vals = {}
for line in b.splitlines():
    if line.startswith("moecap_expert_cache") or line.startswith("moecap_slow_tier"):
        k, v = line.split()
        vals[k] = float(v)
assert vals["moecap_expert_cache_misses_total"] > 0, vals
assert vals["moecap_expert_cache_hits_total"] + vals["moecap_expert_cache_misses_total"] >= 2 * 2 * 12, vals
assert vals["moecap_slow_tier_bytes_total"] >= vals["moecap_expert_cache_misses_total"] * 3 * 32768, vals
assert vals["moecap_slow_tier_stall_seconds_total"] >= 0, vals
EOF
    kill -TERM "$pid"
    wait "$pid"; rc=$?; pid=
    [ "$rc" -eq 0 ] || fail "serve exit $rc after SIGTERM"
fi

[ "$fails" -eq 0 ] && echo "ok" || exit 1
