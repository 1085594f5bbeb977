#!/usr/bin/env bash
# The main job: `moecap run` with no configuration, the demo of docs/RUN.md. A small random MoE
# made by make-model in F16, and the same weights quantised to Q8_0 and Q4_0 (cached, reused), is
# served by `moecap serve` as four systems that span the MoE-CAP trade-off (F16, Q8_0, Q4_0 with
# every expert resident; F16 with a 25% expert cache). Each is measured on this machine (bench
# with per-pass records, S-MBU against the probed `local` hardware, the analytic prediction
# beside it), scored (fidelity against F16, GSM8K on a slice of the data directory when present)
# and priced; cap.json, the MoE-CAP reference's files and the report are written to one run
# directory. Then the analytic CAP model on catalogue models and hardware. A few minutes.
set -euo pipefail
build=${1:-build}
bin="$build/moecap"
section() { printf '\n== %s ==\n\n' "$*"; }

run="$build/demo/run-$(date -u +%Y%m%d-%H%M%S)"
section "moecap run: the CAP comparison of four serving systems on this machine"
"$bin" run --out "$run"

section "Mixtral-8x7B on 2 x H100 SXM: analytic CAP model over batch sizes"
"$bin" predict --model mixtral-8x7b --hardware h100-sxm-80gbx2 --input-len 1024 --output-len 256 \
    --sweep batch=1,2,4,8,16,32,64,128

section "Which hardware serves DeepSeek-R1 at TPOT <= 100 ms? (the MoE-CAP paper's analysis)"
"$bin" predict --fit --model deepseek-r1 --tpot-slo 0.1

section "Where the results are"
echo "run directory: $run"
echo "figures:       $run/cap.json (every figure with its unit and definition)"
echo "steps:         $run/progress.jsonl, $run/systems/<name>/"
if [ -f "$run/report.html" ]; then
    echo "report:        $run/report.html"
else
    echo "report:        not written: this build has no 'moecap report' command yet"
fi
echo "compare runs:  $bin compare $run [other runs...]"
