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
# About 0.9 GB in q8_0: larger than this machine's last-level cache, so S-MBU measures DRAM
# traffic. Generated once (make-model is deterministic) and reused from the cache directory.
shape=(--layers 8 --embd 2048 --ff 1024 --experts 16 --top-k 2 --heads 16 --kv-heads 4)
model="$cache/demo/moe-2048x8-e16k2-q8_0.gguf"

section "A random MoE (8 layers, 16 experts, top-2, ~0.9 GB q8_0) made by make-model"
if [ -f "$model" ]; then
    echo "reusing $model"
else
    "$bin" make-model -o "$model" "${shape[@]}" --type q8_0 "${vocab_opt[@]}" | head -1
fi

section "This machine's memory bandwidth and FLOP/s (probe; saved as hardware 'local')"
# The default working set (at least 1 GiB and 4 x the last-level cache) measures DRAM, not cache.
"$bin" probe --repeats 2

section "The embedded engine: prefill and decode tok/s, S-MBU, S-MFU against 'local'"
"$bin" bench-engine -m "$model" -r 2 -p 128 -n 32 -b 1,4

section "Generating 32 tokens with the q8_0 model (random weights: the text is noise)"
"$bin" generate -m "$model" -p "The capital of France is" -n 32 \
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
