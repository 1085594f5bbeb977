#!/usr/bin/env bash
# The main job. Until `moecap run` exists this is the analytic CAP model swept over batch sizes
# on a catalogue model and hardware (see README).
set -euo pipefail
build=${1:-build}
bin="$build/moecap"
echo "== moecap demo: Mixtral-8x7B on 2 x H100 SXM, analytic CAP model =="
"$bin" model-info mixtral-8x7b
"$bin" predict --model mixtral-8x7b --hardware h100-sxm-80gbx2 --input-len 1024 --output-len 256 \
    --sweep batch=1,2,4,8,16,32,64,128
