#!/usr/bin/env bash
# test_hardware.sh: `moecap hardware list|show` and `moecap probe` end to end: tables, --json,
# aliases, NAMExN totals, bad names (exit 1, one-line error), bad usage (exit 2), and a tiny probe
# whose saved `local` entry is then usable by `hardware show`.
set -u
BIN=${MOECAP_BIN:-}
[ -x "$BIN" ] || { echo "SKIP: MOECAP_BIN not set"; exit 77; }
TMP=$(mktemp -d "${MOECAP_TEST_TMP:-/tmp}/hwtest.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export MOECAP_CACHE_DIR="$TMP/cache"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# run CMD...: sets $rc, $out (stdout), $err (stderr)
run() { "$@" >"$TMP/out" 2>"$TMP/err"; rc=$?; out=$(cat "$TMP/out"); err=$(cat "$TMP/err"); }
expect_rc() { [ "$rc" -eq "$1" ] || fail "$2: exit $rc, want $1 (stderr: $err)"; }
expect_out() { grep -qF -- "$1" "$TMP/out" || fail "$2: stdout lacks '$1'"; }
expect_err() { grep -qF -- "$1" "$TMP/err" || fail "$2: stderr lacks '$1' (got: $err)"; }
one_line_err() { [ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "$1: stderr is not one line: $err"; }
json_ok() {
    if command -v python3 >/dev/null; then
        python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$TMP/out" || fail "$1: bad JSON"
    fi
}

run "$BIN" hardware list
expect_rc 0 "list"
expect_out "NAME" "list header"
expect_out "h100-sxm-80gb" "list"
expect_out "989.4" "list shows dense H100 bf16"
expect_out "mi355x-288gb" "list"
[ -s "$TMP/err" ] && fail "list wrote to stderr: $err"

run "$BIN" hardware list --json
expect_rc 0 "list --json"
json_ok "list --json"
expect_out '"name":	"gb10-128gb"' "list --json"

run "$BIN" hardware show "NVIDIA H100 80GB HBM3"
expect_rc 0 "show alias"
expect_out "h100-sxm-80gb: nvidia gpu" "show alias"
expect_out "989.4 TFLOP/s" "show alias"
expect_out "38,000" "show price"

run "$BIN" hardware show NVIDIA-H100-HBM3-80GBx8 --json
expect_rc 0 "show xN --json"
json_ok "show xN --json"
expect_out '"count":	8' "show x8 count"
expect_out '"price_usd":	304000' "show x8 total price"
if command -v python3 >/dev/null; then
    python3 - "$TMP/out" <<'PY' || fail "show x8 totals"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["name"] == "h100-sxm-80gb", o["name"]
assert abs(o["total"]["flops"]["bf16"] - 8 * 989.4e12) < 1e6, o["total"]["flops"]["bf16"]
assert abs(o["total"]["mem_bytes"] - 640e9) < 1, o["total"]["mem_bytes"]
assert o["device"]["flops"]["fp4"] is None
PY
fi

run "$BIN" hardware show mi300xx4
expect_rc 0 "show mi300xx4"
expect_out "mi300x-192gb: amd gpu x 4" "show mi300xx4"
run "$BIN" hardware show mi300x
expect_rc 0 "show mi300x"
expect_out "mi300x-192gb: amd gpu" "show mi300x"

run "$BIN" hardware show h100
expect_rc 1 "show unknown"
expect_err "moecap hardware: hardware 'h100': not found; did you mean" "show unknown"
one_line_err "show unknown"
run "$BIN" hardware show h100-sxm-80gbx0
expect_rc 1 "show x0"
expect_err "device count 0 is not in 1..4096" "show x0"
one_line_err "show x0"
run "$BIN" hardware show local
expect_rc 1 "show local before probe"
expect_err "run 'moecap probe' first" "show local before probe"

for args in "hardware" "hardware show" "hardware list extra" "hardware bogus" \
            "hardware list --bogus" "hardware show a b" "probe --threads 0" "probe --size 12q" \
            "probe --repeats x" "probe extra" "probe --kernel"; do
    # shellcheck disable=SC2086
    run "$BIN" $args
    expect_rc 2 "$args"
    one_line_err "$args"
done
run "$BIN" probe --threads 256 --size 1M --repeats 1
[ "$(nproc)" -lt 256 ] && { expect_rc 2 "probe too many threads"; expect_err "threads requested" "probe threads"; }

run "$BIN" probe --threads 1 --size 8M --repeats 1 --json
expect_rc 0 "probe --json"
json_ok "probe --json"
expect_out '"read_Bps"' "probe --json"
expect_out "$MOECAP_CACHE_DIR/local-hw.json" "probe saved path"
[ -f "$MOECAP_CACHE_DIR/local-hw.json" ] || fail "probe did not write local-hw.json"
ls "$MOECAP_CACHE_DIR" | grep -q tmp && fail "probe left a temporary file"

run "$BIN" hardware show localx2
expect_rc 0 "show localx2"
expect_out "local: " "show localx2"
expect_out "x 2" "show localx2"

run "$BIN" probe --threads 1 --size 4M --repeats 1 --no-save --kernel scalar
expect_rc 0 "probe text --no-save"
expect_out "threads  read GB/s" "probe text"
expect_out "not saved (--no-save)" "probe text"

[ "$fails" -eq 0 ] && echo "all hardware integration checks passed"
exit $((fails > 0))
