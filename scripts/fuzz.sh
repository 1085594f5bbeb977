#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD_DIR for SECONDS each, starting from its seed corpus in
# tests/fuzz/corpus/<name>/ (new inputs go to a scratch directory, the tree is not modified).
set -euo pipefail
build=${1:-build-fuzz}
secs=${2:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
shopt -s nullglob
targets=("$build"/tests/fuzz_*)
found=0
for t in "${targets[@]}"; do
  case "$t" in *_replay) continue ;; esac
  [ -x "$t" ] || continue
  found=1
  name=$(basename "$t"); short=${name#fuzz_}
  scratch=$(mktemp -d)
  echo "fuzz: $name for ${secs}s"
  "$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       "$scratch" "$root/tests/fuzz/corpus/$short" 2>&1 | grep -E 'stat::number_of_executed_units|ERROR|SUMMARY' || true
  rc=${PIPESTATUS[0]}
  rm -rf "$scratch"
  if [ "$rc" -ne 0 ]; then echo "fuzz: $name FAILED (exit $rc)"; exit 1; fi
done
[ "$found" -eq 1 ] || echo "fuzz: no targets built"
