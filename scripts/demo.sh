#!/usr/bin/env bash
# The main job. Until `moecap run` exists this is the analytic CAP model (docs/METRICS.md
# section 11) on a catalogue model and hardware: a batch sweep, the largest batch under a TPOT
# objective, and the two hardware-fit listings (see README).
set -euo pipefail
build=${1:-build}
bin="$build/moecap"
section() { printf '\n== %s ==\n\n' "$*"; }

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
