#!/usr/bin/env bash
# test_make_model.sh: `moecap make-model` end to end: text and JSON reports with exact values,
# the written file read back by `model-info`, byte-identical files for equal seeds, every
# architecture and type, --vocab-from (when ../shared/data has the llama-spm vocab), and bad
# options: exit 2 (1 for I/O), one line on stderr, nothing on stdout, no file left behind.
. "$(dirname "$0")/lib.sh" make-model

tiny=(--layers 2 --embd 64 --ff 128 --experts 4 --top-k 2 --heads 4 --kv-heads 2 --vocab 300)

# Text report (f32, the shape test_makemodel.c computes by hand: 260416 params, 1041664 bytes).
"$bin" make-model -o "$tmp/a.gguf" "${tiny[@]}" --type f32 >"$tmp/out" 2>"$tmp/err" \
    || fail "make-model tiny f32: exit $?: $(cat "$tmp/err")"
[ ! -s "$tmp/err" ] || fail "make-model wrote to stderr: $(cat "$tmp/err")"
grep -q "wrote $tmp/a.gguf: $(stat -c %s "$tmp/a.gguf") bytes" "$tmp/out" || fail "size line: $(head -1 "$tmp/out")"
grep -q "parameters: 260416 total" "$tmp/out" || fail "parameter line: $(cat "$tmp/out")"
grep -Eq "^  f32 +1041664 bytes +260416 params" "$tmp/out" || fail "bytes by type: $(cat "$tmp/out")"

# JSON report: exact values, and model-info agrees with it.
"$bin" make-model -o "$tmp/b.gguf" "${tiny[@]}" --type q8_0 --route-skew 2 --seed 7 --json \
    >"$tmp/b.json" || fail "make-model --json failed"
"$bin" model-info "$tmp/b.gguf" --json >"$tmp/b-info.json" || fail "model-info on a made model"
python3 - "$tmp/b.json" "$tmp/b-info.json" "$tmp/b.gguf" <<'EOF' || fail "JSON content"
import json, os, sys
d = json.load(open(sys.argv[1]))
info = json.load(open(sys.argv[2]))
assert d["file_bytes"] == os.path.getsize(sys.argv[3]), d["file_bytes"]
assert d["tensor_bytes"] == 279136, d["tensor_bytes"]
assert d["bytes_by_type"] == {"f32": 3328, "q8_0": 275808}, d["bytes_by_type"]
assert d["total_params"] == 260416 and d["n_tensors"] == 23
assert d["model_type"] == "mixtral" and d["type"] == "q8_0" and d["output_type"] == "q8_0"
assert d["seed"] == 7 and d["route_skew"] == 2 and d["head_dim"] == 16 and d["kv_heads"] == 2
assert info["total_params"] == d["total_params"], info["total_params"]
assert info["active_params"] == d["active_params"]
assert info["total_weight_bytes"] == 279136, info["total_weight_bytes"]
EOF

# Same options and seed: byte-identical; another seed: same size, other bytes.
"$bin" make-model -o "$tmp/c.gguf" "${tiny[@]}" --type q8_0 --route-skew 2 --seed 7 >/dev/null \
    || fail "second make-model"
cmp -s "$tmp/b.gguf" "$tmp/c.gguf" || fail "equal seeds gave different files"
"$bin" make-model -o "$tmp/c.gguf" "${tiny[@]}" --type q8_0 --route-skew 2 --seed 8 >/dev/null \
    || fail "third make-model"
cmp -s "$tmp/b.gguf" "$tmp/c.gguf" && fail "different seeds gave the same file"
[ "$(stat -c %s "$tmp/b.gguf")" = "$(stat -c %s "$tmp/c.gguf")" ] || fail "seed changed the size"

# Every architecture and type (sizes that are whole 256-blocks for the k-quants).
for arch in llama qwen2moe olmoe qwen3moe; do
    for type in f32 f16 bf16 q8_0 q4_0 q4_k q6_k; do
        extra=()
        [ "$arch" = qwen3moe ] && extra=(--head-dim 128)
        "$bin" make-model -o "$tmp/m.gguf" --arch "$arch" --layers 1 --embd 256 --ff 256 \
            --experts 4 --top-k 2 --heads 4 --vocab 300 --type "$type" "${extra[@]}" --json \
            >"$tmp/m.json" 2>"$tmp/err" || { fail "$arch $type: $(cat "$tmp/err")"; continue; }
        "$bin" model-info "$tmp/m.gguf" --json >"$tmp/mi.json" || fail "model-info $arch $type"
        python3 - "$tmp/m.json" "$tmp/mi.json" "$arch" "$type" <<'EOF' || fail "$arch $type JSON"
import json, sys
d, info, arch, typ = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3], sys.argv[4]
want = {"llama": "mixtral", "qwen2moe": "qwen2_moe", "olmoe": "olmoe", "qwen3moe": "qwen3_moe"}
assert d["model_type"] == want[arch] and info["arch"] == want[arch], (d["model_type"], info["arch"])
assert d["type"] == typ, d["type"]
out = "q6_k" if typ in ("q4_0", "q4_k", "q6_k") else typ
assert d["output_type"] == out, d["output_type"]
assert info["storage"]["experts"] == typ, info["storage"]
assert info["total_weight_bytes"] == d["tensor_bytes"]
EOF
    done
done

# A dense llama.
"$bin" make-model -o "$tmp/dense.gguf" "${tiny[@]}" --experts 0 >/dev/null || fail "dense model"
"$bin" model-info "$tmp/dense.gguf" --json | python3 -c '
import json, sys; d = json.load(sys.stdin); assert d["num_moe_layers"] == 0, d' || fail "dense model-info"

# Dense qwen2 / qwen3 (--experts defaults to 0 for them) and deepseek2 (MLA, one leading dense
# layer, shared experts; V3-style sigmoid gating, groups, YaRN, the split k_b / v_b layout), each
# read back by model-info and run by generate.
ds3="--q-lora 64 --gating sigmoid --groups 2 --group-used 1 --yarn-factor 4 --mla-split"
for args in "--arch qwen2" "--arch qwen3 --head-dim 32" "--arch deepseek2 --layers 3 --experts 4" \
    "--arch deepseek2 --layers 3 --experts 4 $ds3"; do
    # shellcheck disable=SC2086
    "$bin" make-model -o "$tmp/x.gguf" --layers 2 --embd 64 --ff 64 --heads 4 --vocab 300 \
        --type f32 $args --json >"$tmp/x.json" 2>"$tmp/err" || fail "make-model $args: $(cat "$tmp/err")"
    "$bin" model-info "$tmp/x.gguf" --json >"$tmp/xi.json" || fail "model-info $args"
    python3 - "$tmp/x.json" "$tmp/xi.json" "$args" <<'EOF' || fail "$args JSON"
import json, sys
d, info, args = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
want = "qwen2" if "qwen2" in args else "qwen3" if "qwen3" in args else \
    "deepseek_v3" if "sigmoid" in args else "deepseek_v2"
assert d["model_type"] == want and info["arch"] == want, (d["model_type"], info["arch"])
assert info["total_weight_bytes"] == d["tensor_bytes"]
assert info["num_moe_layers"] == (2 if "deepseek2" in args else 0), info["num_moe_layers"]
EOF
    "$bin" generate -m "$tmp/x.gguf" -p "hello" -n 4 >/dev/null 2>"$tmp/err" \
        || fail "generate on $args: $(cat "$tmp/err")"
done

# --vocab-from: the llama SentencePiece vocabulary (32000 tokens).
vocab="${MOECAP_DATA_DIR:-${MOECAP_SOURCE_DIR:-.}/../shared/data}/vocab/ggml-vocab-llama-spm.gguf"
if [ -r "$vocab" ]; then
    "$bin" make-model -o "$tmp/spm.gguf" --layers 1 --embd 64 --ff 64 --experts 4 \
        --vocab-from "$vocab" --json >"$tmp/spm.json" || fail "--vocab-from"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["vocab"] == 32000, d["vocab"]' \
        "$tmp/spm.json" || fail "--vocab-from vocab size"
else
    echo "note: $vocab absent, --vocab-from not tested" >&2
fi

# expect_exit CODE STDERR_SUBSTRING ARGS...: stdout empty, stderr one line, no output file.
expect_exit() {
    local want=$1 msg=$2
    shift 2
    rm -f "$tmp/bad.gguf"
    "$bin" make-model "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    [ "$rc" -eq "$want" ] || fail "make-model $*: exit $rc, want $want"
    [ ! -s "$tmp/out" ] || fail "make-model $*: wrote to stdout on error"
    grep -qF -- "$msg" "$tmp/err" || fail "make-model $*: stderr lacks '$msg': $(cat "$tmp/err")"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "make-model $*: stderr is not one line"
    ! ls "$tmp"/bad.gguf* >/dev/null 2>&1 || fail "make-model $*: left a file behind"
}
o=(-o "$tmp/bad.gguf")
expect_exit 2 "moecap make-model: --top-k 9 exceeds --experts 8" "${o[@]}" --top-k 9
expect_exit 2 "--arch 'falcon' is not one of" "${o[@]}" --arch falcon
expect_exit 2 "--embd 100 is not a multiple of --heads 3" "${o[@]}" --embd 100 --heads 3
expect_exit 2 "--ff = 100 is not a multiple of 32 (the q8_0 block size)" "${o[@]}" --ff 100 --type q8_0
expect_exit 2 "--type q5_0 is not supported" "${o[@]}" --type q5_0
expect_exit 2 "bad value 'fp7' for --type" "${o[@]}" --type fp7
expect_exit 2 "bad value 'x' for --layers" "${o[@]}" --layers x
expect_exit 2 "--vocab 10 out of range" "${o[@]}" --vocab 10
expect_exit 2 "--vocab and --vocab-from exclude each other" "${o[@]}" --vocab 300 --vocab-from x.gguf
expect_exit 2 "--route-skew -1 must lie in [0, 1000]" "${o[@]}" --route-skew -1
expect_exit 2 "--shared-ff needs --arch qwen2moe or deepseek2" "${o[@]}" --shared-ff 64
expect_exit 2 "--arch qwen2 is dense: use --experts 0 (or qwen2moe)" "${o[@]}" --arch qwen2 --experts 4
expect_exit 2 "--kv-heads 2: deepseek2 (MLA) has one KV head per head" "${o[@]}" --arch deepseek2 --kv-heads 2
expect_exit 2 "--groups 3 / --group-used 1 must divide --experts" "${o[@]}" --arch deepseek2 --groups 3 --group-used 1
expect_exit 2 "bad value 'relu' for --gating" "${o[@]}" --arch deepseek2 --gating relu
expect_exit 2 "no output file (-o FILE)" --layers 2
expect_exit 2 "unknown or incomplete option" "${o[@]}" --bogus
expect_exit 1 "--vocab-from: gguf: $tmp/none.gguf: cannot open" "${o[@]}" --vocab-from "$tmp/none.gguf"
expect_exit 1 "cannot" -o "$tmp/no-such-dir/m.gguf"

[ "$fails" -eq 0 ] || exit 1
echo "make-model: all checks passed"
