#!/usr/bin/env bash
# Runs every benchmark built in BUILD_DIR/bench (make bench builds them in Release) and collects
# their JSON lines in BUILD_DIR/bench-results.jsonl. Benchmarks need a quiet machine; the figures
# that docs/PERFORMANCE.md quotes come from these runs (with commit and CPU in every line).
set -euo pipefail
build=${1:-build-release}
out="$build/bench-results.jsonl"
: >"$out"
shopt -s nullglob
for b in "$build"/bench/*; do
  [ -f "$b" ] && [ -x "$b" ] || continue
  echo "== $(basename "$b")" >&2
  "$b" | tee -a "$out"
done
echo "results: $out" >&2
