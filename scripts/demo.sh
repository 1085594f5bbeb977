#!/usr/bin/env bash
# The main job. Until `moecap run` exists: the embedded engine measured on this machine (a small
# random MoE made by make-model, the probe, bench-engine, generate), then the analytic CAP model
# (docs/METRICS.md section 11) on a catalogue model and hardware: a batch sweep, the largest batch
# under a TPOT objective, and the two hardware-fit listings (see README). About a minute.
set -euo pipefail
build=${1:-build}
bin="$build/moecap"
root=$(cd "$(dirname "$0")/.." && pwd)
section() { printf '\n== %s ==\n\n' "$*"; }

cache=${MOECAP_CACHE_DIR:-$HOME/.cache/moecap}
data=${MOECAP_DATA_DIR:-$root/../shared/data}
vocab="$data/vocab/ggml-vocab-llama-spm.gguf"
if [ -f "$vocab" ]; then vocab_opt=(--vocab-from "$vocab"); else vocab_opt=(--vocab 512); fi
mkdir -p "$cache/demo"
shape=(--layers 4 --embd 512 --ff 512 --experts 8 --top-k 2)

section "A small random MoE (4 layers, 8 experts, top-2) made by make-model, f16 and q8_0"
for t in f16 q8_0; do
    "$bin" make-model -o "$cache/demo/moe-512x4-e8k2-$t.gguf" "${shape[@]}" --type "$t" \
        "${vocab_opt[@]}" | head -1
done

section "This machine's memory bandwidth and FLOP/s (probe; saved as hardware 'local')"
# The default working set (at least 1 GiB and 4 x the last-level cache) measures DRAM, not cache.
"$bin" probe --repeats 2

# This model is small enough that much of what a decode step reads can stay in the last-level
# cache, so its S-MBU against DRAM bandwidth can come out high (even above 100%).
for t in f16 q8_0; do
    section "The embedded engine on the $t model: prefill and decode tok/s, S-MBU, S-MFU vs 'local'"
    "$bin" bench-engine -m "$cache/demo/moe-512x4-e8k2-$t.gguf" -r 2 -p 128 -n 32 -b 1,4
done

section "Generating 32 tokens with the q8_0 model (random weights: the text is noise)"
"$bin" generate -m "$cache/demo/moe-512x4-e8k2-q8_0.gguf" -p "The capital of France is" -n 32 \
    --ignore-eos

section "Mixtral-8x7B: what the model is"
"$bin" model-info mixtral-8x7b

section "Mixtral-8x7B on 2 x H100 SXM: analytic CAP model over batch sizes"
"$bin" predict --model mixtral-8x7b --hardware h100-sxm-80gbx2 --input-len 1024 --output-len 256 \
    --sweep batch=1,2,4,8,16,32,64,128

section "The same, fp8 weights: the largest batch with TPOT <= 20 ms"
"$bin" predict --model mixtral-8x7b --hardware h100-sxm-80gbx2 --precision fp8 \
    --input-len 1024 --output-len 256 --tpot-slo 0.02 --find max-batch

section "Which hardware serves DeepSeek-R1 at TPOT <= 100 ms? (the MoE-CAP paper's analysis)"
"$bin" predict --fit --model deepseek-r1 --tpot-slo 0.1

section "Which models, at which precision, can 1 x H100 SXM serve at TPOT <= 50 ms?"
"$bin" predict --fit --hardware h100-sxm-80gb --tpot-slo 0.05
