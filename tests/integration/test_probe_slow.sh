#!/usr/bin/env bash
# test_probe_slow.sh: `moecap probe --slow-tier DIR` end to end on a small file: the slow-tier
# bandwidth is printed, saved in the local entry (and shown by `hardware show local`), kept by a
# later memory-only probe, updated alone by --slow-tier-only; the temporary file never stays in
# DIR; bad usage and a missing directory fail with one-line errors.
set -u
BIN=${MOECAP_BIN:-}
[ -x "$BIN" ] || { echo "SKIP: MOECAP_BIN not set"; exit 77; }
TMP=$(mktemp -d "${MOECAP_TEST_TMP:-/tmp}/slowtier.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export MOECAP_CACHE_DIR="$TMP/cache"
mkdir -p "$TMP/disk"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
run() { "$@" >"$TMP/out" 2>"$TMP/err"; rc=$?; err=$(cat "$TMP/err"); }
expect_rc() { [ "$rc" -eq "$1" ] || fail "$2: exit $rc, want $1 (stderr: $err)"; }
expect_out() { grep -qF -- "$1" "$TMP/out" || fail "$2: stdout lacks '$1'"; }
one_line_err() { [ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "$1: stderr is not one line: $err"; }
empty_dir() { [ -z "$(ls -A "$TMP/disk")" ] || fail "$1: test file left in DIR: $(ls -A "$TMP/disk")"; }

# --slow-tier-only needs a saved entry first
run "$BIN" probe --slow-tier "$TMP/disk" --slow-tier-size 8M --slow-tier-only
expect_rc 1 "slow-only without an entry"
grep -q "moecap probe" "$TMP/err" || fail "slow-only without an entry: no hint: $err"
one_line_err "slow-only without an entry"

# a tiny memory probe plus the slow tier
run "$BIN" probe --threads 1 --size 4M --repeats 1 --slow-tier "$TMP/disk" --slow-tier-size 8M --json
expect_rc 0 "probe --slow-tier"
empty_dir "probe --slow-tier"
python3 - "$TMP/out" "$MOECAP_CACHE_DIR/local-hw.json" <<'PY' || fail "probe --slow-tier JSON"
import json, sys
o = json.load(open(sys.argv[1]))
t = o["slow_tier"]
assert t["read_Bps"] > 0 and len(t["runs_Bps"]) == 3, t
assert t["read_Bps"] == max(t["runs_Bps"]), t
assert t["size_bytes"] == 8 << 20 and t["block_bytes"] == 1 << 20 and t["depth"] == 4, t
assert ("O_DIRECT" in t["method"]) == t["o_direct"], t
assert o["read_Bps"] > 0
e = json.load(open(sys.argv[2]))
assert e["slow_tier_Bps"] == t["read_Bps"] and e["slow_tier_method"] == t["method"], e
PY
run "$BIN" hardware show local
expect_rc 0 "hardware show local"
expect_out "slow tier" "hardware show local"

# a memory-only probe keeps the slow tier; --slow-tier-only replaces just that
before=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['slow_tier_Bps'])" "$MOECAP_CACHE_DIR/local-hw.json")
run "$BIN" probe --threads 1 --size 4M --repeats 1
expect_rc 0 "memory-only probe"
after=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['slow_tier_Bps'])" "$MOECAP_CACHE_DIR/local-hw.json")
[ "$before" = "$after" ] || fail "memory-only probe lost the slow tier: $before -> $after"
run "$BIN" probe --slow-tier "$TMP/disk" --slow-tier-size 4M --slow-tier-only
expect_rc 0 "slow-only"
expect_out "sequential read" "slow-only"
expect_out "(slow tier updated)" "slow-only"
empty_dir "slow-only"
python3 - "$MOECAP_CACHE_DIR/local-hw.json" <<'PY' || fail "slow-only kept the memory figures"
import json, sys
e = json.load(open(sys.argv[1]))
assert e["mem_bw_Bps"] > 0 and e["slow_tier_Bps"] > 0 and "4 MiB file" in e["slow_tier_method"], e
PY

# bad input
run "$BIN" probe --slow-tier "$TMP/nope" --slow-tier-only
expect_rc 2 "missing dir"
one_line_err "missing dir"
grep -q "is not a directory" "$TMP/err" || fail "missing dir: $err"
run "$BIN" probe --slow-tier-size 8M
expect_rc 2 "size without dir"
run "$BIN" probe --slow-tier "$TMP/disk" --slow-tier-size 12 --slow-tier-only
expect_rc 2 "size too small"
run "$BIN" probe --slow-tier "$TMP/disk" --slow-tier-size 999999G --slow-tier-only --no-save
expect_rc 2 "size beyond free space"
grep -q "free" "$TMP/err" || fail "size beyond free space: $err"
empty_dir "bad input"

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "ok"
