# lib.sh: the preamble the integration scripts share. Sourced, not run, and not named test_*.sh
# (ctest registers every tests/integration/test_*.sh as a test):
#   . "$(dirname "$0")/lib.sh" NAME
# sets -u; bin = $MOECAP_BIN (required); tmp = a fresh directory NAME.XXXXXX under
# $MOECAP_TEST_TMP (or /tmp), removed on exit, after the process $pid (if the script set it) is
# killed and waited for (a script that starts other processes sets its own EXIT trap, which must
# remove "$tmp" too); fails = 0 and `fail MSG`, which prints "FAIL: MSG" on
# stderr and counts. `need_python3` exits 77 (skipped) when python3 is missing; `serve_port`
# reads the port of a started `moecap serve`.
set -u
bin=${MOECAP_BIN:?MOECAP_BIN is not set}
tmp=$(mktemp -d "${MOECAP_TEST_TMP:-/tmp}/${1:?lib.sh: give the script a name}.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
need_python3() { command -v python3 >/dev/null || { echo "SKIPPED: python3 missing"; exit 77; }; }

# serve_port OUT PID: the port `moecap serve` (PID, stdout in OUT) says it listens on; waits up to
# 10 s, less if PID exits first; prints nothing when there is no such line.
serve_port() {
    local p=
    for _ in $(seq 1 200); do
        p=$(sed -n 's/^moecap serve: listening on http:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$1")
        [ -n "$p" ] && break
        kill -0 "$2" 2>/dev/null || break
        sleep 0.05
    done
    echo "$p"
}
