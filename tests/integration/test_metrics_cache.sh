#!/usr/bin/env bash
# test_metrics_cache.sh: `moecap metrics` on expert-cache records (pass.cache): the per-tier
# S-MBU (smbu.fast, smbu.slow), cache.slow_bw, smbu.slow_stall and cache.hit_rate in --json and
# text, the slow tier's bandwidth from --slow-bw or the host link, records without cache fields
# (no cache section), and a cache array of the wrong length (one-line error).
. "$(dirname "$0")/lib.sh" metricscache
need_python3

# Mixtral-8x7B (32 MoE layers, one bf16 expert = 352,321,536 B) on 2 x H100 SXM (6.7 TB/s; host
# link 64 GB/s each). The decode pass of docs/METRICS.md section 2 (102,999,172,710.4 B with f32
# norms; the catalogue's bf16 norms read 532,480 B less) with 5 hits and 2 misses per layer, 2
# experts (704,643,072 B) read from the slow tier during a 12 ms stall of its 30 ms:
#   smbu.fast = 102,998,640,230.4 / 0.03 / 6.7e12 = 0.512431
#   smbu.slow = 704,643,072 / 0.03 / 64e9 = 0.367002 (--slow-bw 64)
#   cache.slow_bw = 704,643,072 / 0.012 = 58.72 GB/s -> smbu.slow_stall 0.9175
#   cache.hit_rate = 160 / 224 = 0.714286
python3 - "$tmp/cache.jsonl" <<'PY'
import json, sys
p = {"forward_pass_id": 7, "forward_mode": "decode", "batch_size": 32, "new_tokens": 32,
     "seq_lens_sum": 144000, "latency": 0.03, "expert_activation": 7.2, "gpu_num": 2,
     "cache_hits": [5] * 32, "cache_misses": [2] * 32, "slow_tier_bytes": 704643072,
     "slow_tier_stall": 0.012}
q = {"forward_pass_id": 8, "forward_mode": "prefill", "batch_size": 1, "seq_lens_sum": 4000,
     "latency": 0.25, "expert_activation": 8.0}
open(sys.argv[1], "w").write(json.dumps(p) + "\n" + json.dumps(q) + "\n")
PY
"$bin" metrics --records "$tmp/cache.jsonl" --model mixtral-8x7b --hardware h100-sxm-80gbx2 \
    --slow-bw 64 --json >"$tmp/out.json" 2>"$tmp/err" || fail "metrics --json: $(cat "$tmp/err")"
python3 - "$tmp/out.json" <<'PY' || fail "cache JSON content"
import json, sys
d = json.load(open(sys.argv[1]))
def near(a, b, tol): assert abs(a - b) <= tol, (a, b)
c = d["groups"]["decode"]["cache"]
near(c["smbu.fast"], 102998640230.4 / 0.03 / 6.7e12, 1e-12)
near(c["smbu.slow"], 704643072 / 0.03 / 64e9, 1e-12)
near(c["cache.slow_bw"], 704643072 / 0.012, 1e-3)
near(c["smbu.slow_stall"], 704643072 / 0.012 / 64e9, 1e-12)
near(c["cache.hit_rate"], 160 / 224, 1e-15)
assert c["passes"] == 1 and c["hits"] == 160 and c["misses"] == 64
assert d["groups"]["prefill"]["cache"]["passes"] == 0
assert d["groups"]["prefill"]["cache"]["cache.hit_rate"] is None
a = d["groups"]["all"]["cache"]
near(a["smbu.fast"], c["smbu.fast"], 1e-15)  # only the pass with cache fields counts
assert d["cache"]["slow_Bps"] == 64e9 and d["cache"]["slow_source"] == "--slow-bw"
assert d["cache"]["cache.layer_hit_rate"] == [5 / 7] * 32
PY

# text; the slow tier defaults to the host link (2 x 64 GB/s)
"$bin" metrics --records "$tmp/cache.jsonl" --model mixtral-8x7b --hardware h100-sxm-80gbx2 \
    >"$tmp/out.txt" 2>"$tmp/err" || fail "metrics text: $(cat "$tmp/err")"
grep -q "slow tier 128.000 GB/s (the devices' host link)" "$tmp/out.txt" ||
    fail "text: slow tier line: $(grep 'expert cache' "$tmp/out.txt")"
grep -Eq '^cache hit rate +% +- +71\.43 +- +71\.43$' "$tmp/out.txt" ||
    fail "text: hit rate row: $(grep 'hit rate' "$tmp/out.txt")"
grep -Eq '^S-MBU slow tier +% +- +18\.35 +- +18\.35$' "$tmp/out.txt" ||
    fail "text: slow S-MBU row: $(grep 'slow tier' "$tmp/out.txt")"

# no cache fields: no cache section
head -n 1 "$tmp/cache.jsonl" | python3 -c "
import json, sys
p = json.loads(sys.stdin.read())
for k in ('cache_hits', 'cache_misses', 'slow_tier_bytes', 'slow_tier_stall'): del p[k]
print(json.dumps(p))" >"$tmp/plain.jsonl"
"$bin" metrics --records "$tmp/plain.jsonl" --model mixtral-8x7b --hardware h100-sxm-80gbx2 \
    --json >"$tmp/plain.json" 2>"$tmp/err" || fail "plain: $(cat "$tmp/err")"
python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
assert 'cache' not in d and 'cache' not in d['groups']['decode']" "$tmp/plain.json" ||
    fail "plain records have a cache section"

# a cache array of the wrong length
echo '{"forward_mode":"decode","batch_size":1,"latency":0.01,"cache_hits":[1,2],"cache_misses":[0,0]}' >"$tmp/bad.jsonl"
"$bin" metrics --records "$tmp/bad.jsonl" --model mixtral-8x7b --hardware h100-sxm-80gbx2 \
    >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 1 ] || fail "bad length: exit $rc"
[ ! -s "$tmp/out" ] || fail "bad length: wrote to stdout"
grep -q "line 1: cache_hits has 2 layers; the model has 32 MoE layers" "$tmp/err" ||
    fail "bad length: $(cat "$tmp/err")"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "bad length: stderr not one line"
"$bin" metrics --records "$tmp/cache.jsonl" --model mixtral-8x7b --hardware h100-sxm-80gbx2 \
    --slow-bw 0 >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] || fail "--slow-bw 0: not a usage error"

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "ok"
