#!/usr/bin/env bash
# test_metrics.sh: `moecap metrics` end to end on small records files written here, in our field
# names and in the MoE-CAP reference's: the moecap formula and moecap-ref figures of
# docs/METRICS.md's worked examples (Mixtral-8x7B on 2 x H100 SXM), text and JSON output, and
# the exit codes and one-line messages for bad input (1 = failure, 2 = usage error).
. "$(dirname "$0")/lib.sh" metrics
need_python3
hw=h100-sxm-80gb

# expect_exit CODE STDERR_SUBSTRING ARGS...: stdout stays empty, stderr is one line.
expect_exit() {
    local want=$1 msg=$2
    shift 2
    "$bin" metrics "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    [ "$rc" -eq "$want" ] || fail "metrics $*: exit $rc, want $want"
    [ ! -s "$tmp/out" ] || fail "metrics $*: wrote to stdout on error"
    grep -qF -- "$msg" "$tmp/err" || fail "metrics $*: stderr lacks '$msg': $(cat "$tmp/err")"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "metrics $*: stderr is not one line: $(cat "$tmp/err")"
}

# ---- our field names: the decode and prefill passes of docs/METRICS.md section 2 ----
# The catalogue's Mixtral stores its norms in bf16 (the worked example, like test_cap.c, in f32):
# 32 x 2 x 4096 x 2 B + 4096 x 2 B = 532,480 B less per pass than the documented bytes.
cat >"$tmp/ours.jsonl" <<'EOF'
{"forward_pass_id":7,"forward_mode":"decode","batch_size":32,"new_tokens":32,"seq_lens_sum":144000,"latency":0.03,"expert_activation":7.2,"gpu_num":2}
{"forward_pass_id":8,"forward_mode":"prefill","batch_size":1,"new_tokens":4000,"seq_lens_sum":4000,"latency":0.25,"expert_activation":8.0,"gpu_num":2,"per_req_info":[{"req_id":"a","extend_len":4000,"total_len":4000,"is_last_chunk":true}]}
EOF
"$bin" metrics --records "$tmp/ours.jsonl" --model mixtral-8x7b --hardware "${hw}x2" --json \
    >"$tmp/ours.json" 2>"$tmp/err" || fail "metrics (ours) --json failed: $(cat "$tmp/err")"
python3 - "$tmp/ours.json" <<'EOF' || fail "moecap formula JSON content"
import json, sys
d = json.load(open(sys.argv[1]))
g = d["groups"]
def near(a, b, tol): assert abs(a - b) <= tol, (a, b)
assert d["formula"] == "moecap" and d["records"]["passes"] == 2 and d["hardware"]["devices"] == 2
near(g["decode"]["smbu.time_weighted"], (102999172710.4 - 532480) / 0.03 / 6.7e12, 1e-12)
# S-MFU: the worked example's FLOPs over the catalogue's peak (it lists 989.4 TFLOP/s, the
# example uses 989.5)
pk = d["hardware"]["peak_flops"]
near(g["decode"]["smfu.time_weighted"], 891407040512 / 0.03 / pk, 1e-12)
near(g["prefill"]["smbu.time_weighted"], (93701029888 - 532480) / 0.25 / 6.7e12, 1e-12)
near(g["prefill"]["smfu.time_weighted"], 105135734784000 / 0.25 / pk, 1e-12)
near(g["all"]["smbu.time_weighted"], 0.1048502866, 1e-9)
near(g["all"]["smbu.pass_mean"], 0.2841858207, 1e-9)
near(g["decode"]["throughput.tokens"], 32 / 0.03, 1e-6)
near(g["all"]["experts.activation_mean"], 7.6, 1e-12)
assert g["mixed"]["passes"] == 0 and g["mixed"]["smbu.time_weighted"] is None
assert g["prefill"]["latency.pass"]["p50"] == 0.25
EOF

"$bin" metrics --records "$tmp/ours.jsonl" --model mixtral-8x7b --hardware "${hw}x2" \
    >"$tmp/ours.txt" 2>"$tmp/err" || fail "metrics (ours) text failed"
grep -Eq '^S-MBU time-weighted +% +5\.59 +51\.24 +- +10\.49$' "$tmp/ours.txt" ||
    fail "text S-MBU row: $(grep S-MBU "$tmp/ours.txt")"
grep -Eq '^throughput +tok/s +16000\.0 +1066\.7 +- +14400\.0$' "$tmp/ours.txt" ||
    fail "text throughput row: $(grep '^throughput ' "$tmp/ours.txt")"

# ---- the reference's records: chunked prefill, decode, a probe and an untraced pass ----
cat >"$tmp/ref.jsonl" <<'EOF'
{"forward_pass_id":1,"batch_size":1,"latency":0.01,"seq_lens_sum":8,"forward_mode":"prefill","expert_activation":2.0,"gpu_num":2,"gpu_raw_type":"NVIDIA-H100-HBM3-80GB"}
{"forward_pass_id":2,"batch_size":1,"latency":0.10,"seq_lens_sum":2000,"forward_mode":"prefill","expert_activation":8.0,"gpu_num":2,"per_req_info":[{"req_pool_idx":3,"req_id":"3_0","extend_len":2000,"total_len":2000,"is_last_chunk":false}]}
{"forward_pass_id":3,"batch_size":1,"latency":0.15,"seq_lens_sum":4000,"forward_mode":"prefill","expert_activation":8.0,"gpu_num":2,"per_req_info":[{"req_pool_idx":3,"req_id":"3_0","extend_len":2000,"total_len":4000,"is_last_chunk":true}]}
{"forward_pass_id":4,"batch_size":32,"latency":0.03,"seq_lens_sum":144000,"forward_mode":"decode","expert_activation":7.2,"gpu_num":2,"req_ids":[1,2]}
{"forward_pass_id":5,"batch_size":4,"latency":0.02,"seq_lens_sum":400,"forward_mode":"decode","expert_activation":-1,"gpu_num":2}
EOF
"$bin" metrics --records "$tmp/ref.jsonl" --model mixtral-8x7b --hardware "${hw}x2" \
    --formula moecap-ref --json >"$tmp/ref.json" 2>"$tmp/err" || fail "moecap-ref failed: $(cat "$tmp/err")"
python3 - "$tmp/ref.json" <<'EOF' || fail "moecap-ref JSON content"
import json, sys
d = json.load(open(sys.argv[1]))
r = d["ref.aggregate"]
def near(a, b, tol): assert abs(a - b) <= tol, (a, b)
scale = 2 * 989.5e12 / d["hardware"]["peak_flops"]  # the example's peak / the catalogue's
near(r["decoding_smbu"], 0.5111124600, 1e-9)   # the issue's worked example
near(r["decoding_smfu"], 0.0482161985 * scale, 1e-9)
near(r["prefill_smbu"], 0.0557629587, 1e-9)    # one request, 2 chunks, TTFT 0.25 s
near(r["prefill_smfu"], 0.1298093640 * scale, 1e-9)
near(r["ttft"], 0.25, 1e-12)
near(r["prefill_tp"], 16000, 1e-6)
assert r["per_request"] is True and r["prefill_samples"] == 1 and r["decode_samples"] == 1
assert r["ref.skipped_probe"] == 1 and r["ref.skipped_activation"] == 1
assert r["ref.family"] == "default"
EOF

# DeepSeek-V2-Lite from the catalogue through the reference's DeepSeek path (1 x H100):
# S-MBU 0.2316618, S-MFU 0.00179445 (docs/METRICS.md, tests/unit/test_cap.c ref_families)
echo '{"forward_mode":"decode","batch_size":8,"seq_lens_sum":8000,"latency":0.02,"expert_activation":30}' \
    >"$tmp/ds.jsonl"
"$bin" metrics --records "$tmp/ds.jsonl" --model deepseek-v2-lite --hardware "$hw" \
    --formula moecap-ref --json >"$tmp/ds.json" 2>"$tmp/err" || fail "deepseek moecap-ref failed: $(cat "$tmp/err")"
python3 - "$tmp/ds.json" <<'EOF' || fail "deepseek moecap-ref JSON content"
import json, sys
d = json.load(open(sys.argv[1]))
r = d["ref.aggregate"]
assert r["ref.family"] == "deepseek", r["ref.family"]
assert abs(r["decoding_smbu"] - 0.2316618125) < 1e-9, r["decoding_smbu"]
want = 0.0017944479 * 989.5e12 / d["hardware"]["peak_flops"]
assert abs(r["decoding_smfu"] - want) < 1e-10, (r["decoding_smfu"], want)
EOF

# ---- bad input ----
printf '%s\n' '{"latency":0.01,"batch_size":1}' '{"latency":0,"batch_size":1}' >"$tmp/bad.jsonl"
expect_exit 1 "bad.jsonl: line 2: latency: must be > 0 seconds" \
    --records "$tmp/bad.jsonl" --model mixtral-8x7b --hardware "$hw" --strict
# default: the bad line is skipped with a warning, the rest is measured
"$bin" metrics --records "$tmp/bad.jsonl" --model mixtral-8x7b --hardware "$hw" >"$tmp/out" 2>"$tmp/err" ||
    fail "skip mode failed"
grep -qF "line 2: latency: must be > 0 seconds (skipped)" "$tmp/err" || fail "skip warning: $(cat "$tmp/err")"
grep -qF "1 pass from 2 lines (1 bad line skipped)" "$tmp/out" || fail "skip mode output: $(head -1 "$tmp/out")"
printf 'not json\n' >"$tmp/junk.jsonl"
expect_exit 1 "junk.jsonl: line 1: invalid JSON" \
    --records "$tmp/junk.jsonl" --model mixtral-8x7b --hardware "$hw" --strict
: >"$tmp/empty.jsonl"
expect_exit 1 "no valid records" --records "$tmp/empty.jsonl" --model mixtral-8x7b --hardware "$hw"
expect_exit 2 "gpu_num 2, but --hardware gives 1 device" \
    --records "$tmp/ours.jsonl" --model mixtral-8x7b --hardware "$hw"
expect_exit 2 "gpu_raw_type 'NVIDIA-H100-HBM3-80GB' is h100-sxm-80gb, but --hardware is h100-pcie-80gb" \
    --records "$tmp/ref.jsonl" --model mixtral-8x7b --hardware h100-pcie-80gbx2
expect_exit 1 "cannot open" --records "$tmp/missing.jsonl" --model mixtral-8x7b --hardware "$hw"
expect_exit 1 "mixtral-8x8b" --records "$tmp/ours.jsonl" --model mixtral-8x8b --hardware "${hw}x2"
expect_exit 2 "--records, --model and --hardware are required" --records "$tmp/ours.jsonl"
expect_exit 2 "--formula must be moecap or moecap-ref" --records "$tmp/ours.jsonl" \
    --model mixtral-8x7b --hardware "$hw" --formula paper
# records that do not fit the model: 9 distinct experts per layer, Mixtral has 8
echo '{"forward_pass_id":3,"latency":0.01,"expert_activation":9}' >"$tmp/nine.jsonl"
expect_exit 1 "line 1 (forward_pass_id 3): expert_activation 9 exceeds the model's 8 experts" \
    --records "$tmp/nine.jsonl" --model mixtral-8x7b --hardware "$hw"

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "ok"
