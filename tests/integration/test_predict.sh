#!/usr/bin/env bash
# test_predict.sh: `moecap predict` end to end on the catalogue (Mixtral-8x7B on H100 SXM): the
# batch-1 decode step against hand arithmetic, text rows, --json (every figure carries value, unit
# and definition), --sweep, --find max-batch against its neighbours, calibration, both --fit
# listings, and exit codes / one-line messages for bad input (1 = failure, 2 = usage error).
. "$(dirname "$0")/lib.sh" predict
need_python3
base=(--model mixtral-8x7b --hardware h100-sxm-80gbx2 --input-len 1024 --output-len 256)

# ---- text: the demo sweep ----
"$bin" predict "${base[@]}" --sweep batch=1,2,4,8,16,32,64,128 >"$tmp/sweep.txt" 2>"$tmp/err" ||
    fail "sweep failed: $(cat "$tmp/err")"
[ "$(grep -cE '^ +[0-9]+ +(yes|no) ' "$tmp/sweep.txt")" -eq 8 ] || fail "sweep: expected 8 rows"
# batch 1: 2 experts per layer, 25.649 GB per step (25,497,714,688 B of weights + 1152 x
# 131,072 B of KV), TPOT 25,648,709,632 / 6.7e12 = 3.828 ms, memory-bound, S-MBU 100%
grep -Eq '^ +1 +yes +0\.00 +2\.00 +25\.649 +3\.828 +mem ' "$tmp/sweep.txt" ||
    fail "batch-1 row: $(grep -E '^ +1 ' "$tmp/sweep.txt")"
grep -q 'decode step at the mean context I + O/2 = 1152.0' "$tmp/sweep.txt" || fail "workload line"
grep -q 'Definitions: docs/METRICS.md section 11' "$tmp/sweep.txt" || fail "definitions pointer"

# ---- JSON: every figure has value, unit, definition; the hand-computed batch-1 step ----
"$bin" predict "${base[@]}" --sweep batch=1,8,64 --json >"$tmp/sweep.json" 2>"$tmp/err" ||
    fail "sweep --json failed: $(cat "$tmp/err")"
python3 - "$tmp/sweep.json" <<'EOF' || fail "sweep JSON content"
import json, sys
d = json.load(open(sys.argv[1]))
def near(a, b, tol): assert abs(a - b) <= tol, (a, b)
assert d["command"] == "predict" and d["definitions"].startswith("docs/METRICS.md")
assert d["hardware"]["devices"] == 2 and d["model"]["name"] == "mixtral-8x7b"
pts = d["points"]
assert [p["batch"] for p in pts] == [1, 8, 64]
def figs(o):
    for k, v in o.items():
        if isinstance(v, dict) and "value" in v:
            assert set(v) == {"value", "unit", "definition"}, (k, v)
            yield k, v
n = 0
for p in pts:
    for k, v in figs(p["figures"]):
        n += 1
        assert v["definition"].startswith(("predict.", "cost.")), (k, v)
assert n >= 3 * 30, n
f = pts[0]["figures"]
near(f["decode_bytes"]["value"], 25497714688 + 1152 * 131072, 1e-3)
near(f["tpot_s"]["value"], (25497714688 + 1152 * 131072) / 6.7e12, 1e-15)
assert f["tpot_s"]["unit"] == "s" and f["tpot_s"]["definition"] == "predict.tpot"
near(f["decode_experts_per_layer"]["value"], 2, 1e-12)
near(f["decode_smbu"]["value"], 1, 1e-12)
near(f["kv_bytes"]["value"], 1 * 1280 * 131072, 0)
near(f["decode_tok_per_s"]["value"], 1 / f["tpot_s"]["value"], 1e-9)
near(f["out_tok_per_s"]["value"],
     256 / (f["ttft_s"]["value"] + 255 * f["tpot_s"]["value"]), 1e-9)
assert pts[0]["fits"] is True and pts[0]["decode_bound"] == "memory"
tp = [p["figures"]["tpot_s"]["value"] for p in pts]
assert tp == sorted(tp), tp
# 8 experts, top-2, 8 tokens: 8 (1 - 0.75^8)
near(pts[1]["figures"]["decode_experts_per_layer"]["value"], 8 * (1 - 0.75 ** 8), 1e-12)
EOF

# ---- offload: 512 sequences need 93.41 + 512 x 1280 x 131,072 B = 179.3 GB > 160 GB ----
# Everything but the 90,194,313,216 B of routed experts fits (89.11 GB), so the experts are cached
# in the 70,889,381,888 B left (cache mode "memory"); under uniform routing a decode step misses
# (1 - 0.75^512) x (90,194,313,216 - 70,889,381,888) B, read over 2 x 64 GB/s.
"$bin" predict "${base[@]}" --batch 512 --json >"$tmp/off.json" 2>"$tmp/err" || fail "offload run"
python3 - "$tmp/off.json" <<'EOF' || fail "offload JSON content"
import json, sys
p = json.load(open(sys.argv[1]))["points"][0]
f = p["figures"]
need = 93405585408 + 512 * 1280 * 131072
assert p["fits"] is False
assert abs(f["need_bytes"]["value"] - need) < 1e-3
assert abs(f["offload_bytes"]["value"] - (need - 160e9)) < 1e-3
experts = 32 * 8 * 352321536
left = 160e9 - (need - experts)
assert p["cache_mode"] == "memory"
assert abs(f["cache_bytes"]["value"] - left) < 1e-3
assert abs(f["decode_cache_hit_rate"]["value"] - left / experts) < 1e-12
miss = (1 - 0.75 ** 512) * (experts - left)
assert abs(f["decode_slow_bytes"]["value"] - miss) < 1e-2
assert abs(f["decode_offload_s"]["value"] - miss / 128e9) < 1e-12
assert f["slow_Bps"]["value"] == 128e9 and f["nonresident_other"]["value"] == 0
EOF

# ---- --find max-batch: the answer meets the SLO, one more does not ----
"$bin" predict "${base[@]}" --tpot-slo 0.016 --find max-batch --json >"$tmp/find.json" \
    2>"$tmp/err" || fail "find failed: $(cat "$tmp/err")"
best=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["max_batch"]["batch"])' \
    "$tmp/find.json")
[ "${best:-0}" -gt 1 ] || fail "find: max batch '$best'"
for b in "$best" $((best + 1)); do
    "$bin" predict "${base[@]}" --batch "$b" --tpot-slo 0.016 --json >"$tmp/b.json" 2>/dev/null
    meets=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["points"][0]["meets_tpot_slo"])' "$tmp/b.json")
    want=True
    [ "$b" -eq "$best" ] || want=False
    [ "$meets" = "$want" ] || fail "find: batch $b meets=$meets, want $want"
done
"$bin" predict "${base[@]}" --tpot-slo 0.016 --find max-batch >"$tmp/find.txt" 2>&1 ||
    fail "find text failed"
grep -q "^max batch  TPOT <= 16 ms: batch $best (memory holds up to " "$tmp/find.txt" ||
    fail "find text: $(grep '^max batch' "$tmp/find.txt")"
"$bin" predict --model deepseek-r1 --hardware rtx-4090-24gb --tpot-slo 0.1 --find max-batch \
    >"$tmp/none.txt" 2>&1 || fail "find (none) failed"
grep -q 'none: weights + KV of one sequence do not fit in 24 GB' "$tmp/none.txt" ||
    fail "find (none): $(grep '^max batch' "$tmp/none.txt")"

# ---- calibration: the measured TPOT at batch 8 comes back, eff-mem = measured S-MBU ----
"$bin" predict "${base[@]}" --batch 8 --measured-tpot 0.02 --measured-ttft 0.2 --json \
    >"$tmp/cal.json" 2>"$tmp/err" || fail "calibration failed: $(cat "$tmp/err")"
python3 - "$tmp/cal.json" <<'EOF' || fail "calibration JSON content"
import json, sys
d = json.load(open(sys.argv[1]))
f = d["points"][0]["figures"]
assert abs(f["tpot_s"]["value"] - 0.02) < 1e-12 and abs(f["ttft_s"]["value"] - 0.2) < 1e-12
assert abs(d["assumptions"]["eff_mem"] - f["decode_smbu"]["value"]) < 1e-12
assert d["calibration"]["eff_mem_from"] == "from the measured TPOT"
EOF

# ---- --fit --model: every catalogue device; Mixtral needs 2 x H100 SXM ----
"$bin" predict --fit --model mixtral-8x7b --tpot-slo 0.02 >"$tmp/fitm.txt" 2>"$tmp/err" ||
    fail "fit --model failed: $(cat "$tmp/err")"
grep -Eq '^h100-sxm-80gb +1 +80 +3350 +700 +no ' "$tmp/fitm.txt" || fail "fit: h100 x1 row"
grep -Eq '^h100-sxm-80gb +2 +160 +6700 +1400 +yes ' "$tmp/fitm.txt" || fail "fit: h100 x2 row"
grep -Eq 'minimal activation .* 25\.649 GB per step -> +1282\.4 GB/s' "$tmp/fitm.txt" ||
    fail "fit: required bandwidth line: $(grep minimal "$tmp/fitm.txt")"
"$bin" predict --fit --model mixtral-8x7b --tpot-slo 0.02 --json >"$tmp/fitm.json" 2>/dev/null ||
    fail "fit --model --json failed"
python3 - "$tmp/fitm.json" <<'EOF' || fail "fit --model JSON content"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["mode"] == "fit-hardware-for-model"
assert abs(d["bw_required"]["min_Bps"]["value"] - 25648709632 / 0.02) < 1e-2
names = {(r["name"], r["devices"]) for r in d["devices"]}
assert ("h100-sxm-80gb", 1) in names and ("h100-sxm-80gb", 2) in names
assert ("h200-sxm-141gb", 1) in names and ("h200-sxm-141gb", 2) not in names
for r in d["devices"]:
    assert r["holds_weights"] == (r["mem_bytes"]["value"] >= 93405585408), r["name"]
    if r["max_batch"] > 0:
        assert r["at_max_batch"]["figures"]["tpot_s"]["value"] <= 0.02
        assert r["at_max_batch"]["fits"] is True
EOF

# ---- --fit --hardware: every catalogue model at native / bf16 / fp8 / int4 ----
"$bin" predict --fit --hardware h100-sxm-80gbx2 --tpot-slo 0.05 >"$tmp/fith.txt" 2>"$tmp/err" ||
    fail "fit --hardware failed: $(cat "$tmp/err")"
[ "$(grep -c '^mixtral-8x7b ' "$tmp/fith.txt")" -eq 3 ] ||
    fail "fit --hardware: mixtral rows (native bf16, fp8, int4)"
grep -Eq '^mixtral-8x7b +native \(bf16\) +93\.41 +yes ' "$tmp/fith.txt" || fail "mixtral native row"
grep -Eq '^deepseek-r1 +native \(fp8\) +672\.99 +no ' "$tmp/fith.txt" || fail "deepseek-r1 row"
"$bin" predict --fit --hardware h100-sxm-80gbx2 --tpot-slo 0.05 --json >"$tmp/fith.json" \
    2>/dev/null || fail "fit --hardware --json failed"
python3 - "$tmp/fith.json" <<'EOF' || fail "fit --hardware JSON content"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["mode"] == "fit-models-for-hardware" and d["hardware"]["devices"] == 2
rows = d["models"]
precs = {r["precision"] for r in rows if r["name"] == "deepseek-r1"}
assert precs == {"native (fp8)", "bf16", "fp8", "int4"}, precs
for r in rows:
    if r["max_batch"] > 0:
        p = r["at_max_batch"]
        assert p["fits"] and p["figures"]["tpot_s"]["value"] <= 0.05
        assert p["figures"]["usd_per_mtok_out"]["unit"] == "USD/1M tok"
EOF

# ---- unknown price: cost unknown, not free ----
"$bin" predict --model mixtral-8x7b --hardware h100-nvl-94gbx2 --json >"$tmp/np.json" 2>/dev/null ||
    fail "no-price run failed"
python3 -c 'import json,sys; f=json.load(open(sys.argv[1]))["points"][0]["figures"]; assert f["usd_per_mtok_out"]["value"] is None and f["j_per_tok_out"]["value"] > 0' \
    "$tmp/np.json" || fail "no-price: cost must be null"

# ---- bad input: exit code, nothing on stdout, one line on stderr ----
expect_exit() {
    local want=$1 msg=$2
    shift 2
    "$bin" predict "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    [ "$rc" -eq "$want" ] || fail "predict $*: exit $rc, want $want"
    [ ! -s "$tmp/out" ] || fail "predict $*: wrote to stdout on error"
    grep -qF -- "$msg" "$tmp/err" || fail "predict $*: stderr lacks '$msg': $(cat "$tmp/err")"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "predict $*: stderr is not one line"
}
m=(--model mixtral-8x7b --hardware h100-sxm-80gb)
expect_exit 1 "unknown model 'nope'" --model nope --hardware h100-sxm-80gb
expect_exit 1 "hardware 'nope'" --model mixtral-8x7b --hardware nope
expect_exit 1 "hardware 'nope'" --fit --hardware nope --tpot-slo 1
expect_exit 2 "--model and --hardware are required" --model mixtral-8x7b
expect_exit 2 "--batch '0'" "${m[@]}" --batch 0
expect_exit 2 "--batch 'x'" "${m[@]}" --batch x
expect_exit 2 "--input-len '-5'" "${m[@]}" --input-len -5
expect_exit 2 "--batch needs a value" "${m[@]}" --batch
expect_exit 2 "unknown option '--bogus'" "${m[@]}" --bogus
expect_exit 2 "unexpected argument 'stray'" "${m[@]}" stray
expect_exit 2 "expected batch=B1,B2" "${m[@]}" --sweep batch=1,,2
expect_exit 2 "only batch=LIST" "${m[@]}" --sweep seq=1
expect_exit 2 "give --batch or --sweep" "${m[@]}" --batch 2 --sweep batch=1,2
expect_exit 2 "--find max-batch needs --tpot-slo" "${m[@]}" --find max-batch
expect_exit 2 "only max-batch" "${m[@]}" --find min-batch --tpot-slo 1
expect_exit 2 "--tpot-slo '0'" "${m[@]}" --tpot-slo 0
expect_exit 2 "--eff-mem '1.5'" "${m[@]}" --eff-mem 1.5
expect_exit 2 "unknown precision 'q9'" "${m[@]}" --precision q9
expect_exit 2 "--fit needs --tpot-slo" --fit --model mixtral-8x7b
expect_exit 2 "not both" --fit --model mixtral-8x7b --hardware h100-sxm-80gb --tpot-slo 1
expect_exit 2 "drop --precision" --fit --hardware h100-sxm-80gb --tpot-slo 1 --precision fp8
expect_exit 2 "give one or the other" "${m[@]}" --measured-tpot 0.1 --eff-mem 0.5
expect_exit 1 "faster than the roofline" --model mixtral-8x7b --hardware h100-sxm-80gbx2 \
    --measured-tpot 0.001

# ---- --expert-cache-mb: a given cache over a given slow tier (predict.tpot_offload) ----
# 21,504 MiB = 22,548,578,304 B = 64 experts of 90,194,313,216 B: 25% cached. Batch 1: 2 experts
# per layer, 1.5 missed -> 48 x 352,321,536 = 16,911,433,728 B at 6 GB/s = 2.818572288 s after
# the 3.828 ms fast-tier time.
"$bin" predict "${base[@]}" --batch 1 --expert-cache-mb 21504 --slow-bw 6 --json \
    >"$tmp/cache.json" 2>"$tmp/err" || fail "cache run: $(cat "$tmp/err")"
python3 - "$tmp/cache.json" <<'EOF' || fail "cache JSON content"
import json, sys
d = json.load(open(sys.argv[1]))
p = d["points"][0]
f = p["figures"]
assert p["cache_mode"] == "given" and d["assumptions"]["expert_cache"]["policy"] == "lru"
assert abs(f["decode_cache_hit_rate"]["value"] - 0.25) < 1e-12
assert abs(f["decode_slow_bytes"]["value"] - 16911433728) < 1e-2
assert abs(f["decode_offload_s"]["value"] - 16911433728 / 6e9) < 1e-12
assert abs(f["tpot_s"]["value"] - (25648709632 / 6.7e12 + 16911433728 / 6e9)) < 1e-12
assert p["decode_layer_hit_rate"] == [0.25] * 32
EOF
# measured routing from records: layer rows of tokens_per_expert; static keeps the hottest
python3 - "$tmp/route.jsonl" <<'EOF'
import json, sys
row = [40, 40, 20, 20, 10, 10, 5, 5]  # sums to 150 = 75 tokens x top-2
p = {"forward_mode": "prefill", "batch_size": 1, "seq_lens_sum": 75, "latency": 0.1,
     "tokens_per_expert": [row] * 32}
open(sys.argv[1], "w").write(json.dumps(p) + "\n")
EOF
# STATIC with 64 experts (2 per layer): the two 40-experts of each layer, f = 2 x 40/150 =
# 0.5333 each; batch 1 hit rate = (0.5333 + 0.5333) / 2 = 0.5333
"$bin" predict "${base[@]}" --batch 1 --expert-cache-mb 21504 --slow-bw 6 --cache-policy static \
    --routing "$tmp/route.jsonl" --json >"$tmp/route.json" 2>"$tmp/err" ||
    fail "routing run: $(cat "$tmp/err")"
python3 - "$tmp/route.json" <<'EOF' || fail "routing JSON content"
import json, sys
d = json.load(open(sys.argv[1]))
f = d["points"][0]["figures"]
assert abs(f["decode_cache_hit_rate"]["value"] - 80 / 150) < 1e-12, f["decode_cache_hit_rate"]
assert "measured" in d["assumptions"]["experts"]
EOF
"$bin" predict "${base[@]}" --batch 1 --expert-cache-mb 21504 --slow-bw 6 >"$tmp/cache.txt" \
    2>"$tmp/err" || fail "cache text: $(cat "$tmp/err")"
grep -Eq '^ +1 +given +21504\.0 +25\.00 +25\.00 +16911\.434 ' "$tmp/cache.txt" ||
    fail "cache text row: $(grep given "$tmp/cache.txt")"
for bad in "--expert-cache-mb 1" "--cache-policy fifo --expert-cache-mb 21504" \
    "--prefetch-overlap 0.5" "--expert-cache-mb 21504 --prefetch-overlap 2" \
    "--expert-cache-mb -3" "--fit --tpot-slo 0.1 --expert-cache-mb 100"; do
    # shellcheck disable=SC2086
    "$bin" predict --model mixtral-8x7b --hardware h100-sxm-80gb $bad >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ "$rc" -ne 0 ] || fail "predict $bad: exit 0"
    [ ! -s "$tmp/out" ] || fail "predict $bad: wrote to stdout"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "predict $bad: stderr not one line: $(cat "$tmp/err")"
done
"$bin" predict --model mixtral-8x7b --hardware h100-sxm-80gb --expert-cache-mb 1 \
    >/dev/null 2>"$tmp/err"
grep -q "cannot hold the top-2 experts of one layer" "$tmp/err" || fail "tiny cache: $(cat "$tmp/err")"
"$bin" predict --model mixtral-8x7b --hardware epyc-9654 --expert-cache-mb 21504 \
    >/dev/null 2>"$tmp/err"
grep -q "no slow-tier bandwidth" "$tmp/err" || fail "no slow tier: $(cat "$tmp/err")"

[ "$fails" -eq 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
echo "test_predict.sh: all checks passed"
