#!/usr/bin/env bash
# test_model_info.sh: `moecap model-info` end to end: JSON keys and values for catalogue models,
# --list, --precision, a config.json path, and the exit codes for bad input (1 = failure,
# 2 = usage error) with a one-line message and nothing on stdout.
. "$(dirname "$0")/lib.sh" model-info

# expect_exit CODE STDERR_SUBSTRING ARGS...: stdout must stay empty, stderr one line.
expect_exit() {
    local want=$1 msg=$2
    shift 2
    "$bin" model-info "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    [ "$rc" -eq "$want" ] || fail "model-info $*: exit $rc, want $want"
    [ ! -s "$tmp/out" ] || fail "model-info $*: wrote to stdout on error"
    grep -qF -- "$msg" "$tmp/err" || fail "model-info $*: stderr lacks '$msg': $(cat "$tmp/err")"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "model-info $*: stderr is not one line"
}

# JSON document: required keys and exact values (Mixtral-8x7B, bf16).
"$bin" model-info mixtral-8x7b --json >"$tmp/mixtral.json" || fail "model-info mixtral-8x7b --json failed"
python3 - "$tmp/mixtral.json" <<'EOF' || fail "mixtral JSON content"
import json, sys
d = json.load(open(sys.argv[1]))
need = ["name", "arch", "total_params", "active_params", "num_layers", "num_moe_layers",
        "num_experts", "top_k", "num_shared_experts", "kv_bytes_per_token",
        "decode_weight_bytes_per_token", "total_weight_bytes", "storage", "layers",
        "active_params_convention"]
missing = [k for k in need if k not in d]
assert not missing, missing
assert d["name"] == "mixtral-8x7b" and d["arch"] == "mixtral", d["name"]
assert d["total_params"] == 46702792704, d["total_params"]
assert d["active_params"] == 12748857344, d["active_params"]
assert d["kv_bytes_per_token"] == 131072, d["kv_bytes_per_token"]
assert d["num_layers"] == 32 and d["num_moe_layers"] == 32 and d["top_k"] == 2
assert d["storage"]["experts"] == "bf16" and d["storage"]["kv_cache"] == "bf16"
assert len(d["layers"]) == 1 and d["layers"][0]["count"] == 32
assert d["layers"][0]["attention_params"] == 41943040
assert d["layers"][0]["expert_params"] == 176160768
assert "embedding row" in d["active_params_convention"]
EOF

# DeepSeek-V3: fp8 storage from quantization_config, MLA latent KV, dense + MoE layer groups.
"$bin" model-info DeepSeek-V3 --json >"$tmp/v3.json" || fail "model-info DeepSeek-V3 --json failed"
python3 - "$tmp/v3.json" <<'EOF' || fail "deepseek-v3 JSON content"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["name"] == "deepseek-v3"
assert d["kv_bytes_per_token"] == 61 * (512 + 64) * 2, d["kv_bytes_per_token"]
assert d["storage"]["experts"] == "fp8" and d["storage"]["router"] == "bf16"
assert [g["layers"] for g in d["layers"]] == ["0-2", "3-60"], d["layers"]
assert d["attention"]["kind"] == "mla"
assert d["num_shared_experts"] == 1 and d["num_experts"] == 256
EOF

# --precision and --kv-precision change bytes, not parameters.
"$bin" model-info mixtral-8x7b --precision int4 --kv-precision fp8 --json >"$tmp/int4.json" ||
    fail "--precision int4 failed"
python3 - "$tmp/int4.json" <<'EOF' || fail "--precision content"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["storage"]["experts"] == "int4" and d["storage"]["norms"] == "bf16"
assert d["total_weight_bytes"] == (46702792704 - 266240) * 0.5 + 266240 * 2, d["total_weight_bytes"]
assert d["kv_bytes_per_token"] == 65536
assert d["total_params"] == 46702792704
EOF

# --list: every catalogue file, text and JSON.
n=$("$bin" model-info --list | wc -l)
[ "$n" -ge 15 ] || fail "--list printed $n names"
"$bin" model-info --list | grep -qx "gpt-oss-120b" || fail "--list lacks gpt-oss-120b"
"$bin" model-info --list --json | python3 -c 'import json,sys; assert "dbrx" in json.load(sys.stdin)["models"]' ||
    fail "--list --json"

# A config.json path; the name comes from the directory.
mkdir -p "$tmp/My-Model"
cat >"$tmp/My-Model/config.json" <<'EOF'
{"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
 "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 128256,
 "tie_word_embeddings": false, "torch_dtype": "bfloat16"}
EOF
"$bin" model-info "$tmp/My-Model/config.json" >"$tmp/text" || fail "model-info config.json path failed"
grep -q "^model  *My-Model" "$tmp/text" || fail "text output lacks the model name"
grep -q "8,030,261,248" "$tmp/text" || fail "text output lacks the Llama-3.1-8B total"
grep -q "layer total" "$tmp/text" || fail "text output lacks the per-layer breakdown"

# Bad input: exit 1 for failures, 2 for usage errors; one line on stderr, nothing on stdout.
expect_exit 1 "unknown model 'mixtral-8x8b' (close: mixtral-8x7b" mixtral-8x8b
expect_exit 1 "cannot open" "$tmp/x.gguf"
# A GGUF file goes through the GGUF reader (the fuzz seed of a tiny Mixtral-layout model).
cp "$MOECAP_SOURCE_DIR/tests/fuzz/corpus/gguf/seed-mixtral" "$tmp/mix.gguf"
"$bin" model-info "$tmp/mix.gguf" --json >"$tmp/mix.json" || fail "model-info on a GGUF file failed"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["arch"]=="mixtral" and d["num_experts"]>1, d' \
    "$tmp/mix.json" || fail "GGUF model-info JSON"
expect_exit 1 "cannot open" "$tmp/missing.json"
printf '{"model_type": "mixtral", "hidden_size": 0}' >"$tmp/bad.json"
expect_exit 1 "key 'hidden_size': 0 must be positive" "$tmp/bad.json"
expect_exit 2 "unknown option" mixtral-8x7b --bogus
expect_exit 2 "unknown precision 'fp7'" mixtral-8x7b --precision fp7
expect_exit 2 "missing value" mixtral-8x7b --precision
expect_exit 2 "no model given"
expect_exit 2 "give exactly one model" mixtral-8x7b dbrx

[ "$fails" -eq 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
echo "model-info: all checks passed"
