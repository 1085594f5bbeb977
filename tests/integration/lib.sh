# lib.sh: the preamble the integration scripts share. Sourced, not run, and not named test_*.sh
# (ctest registers every tests/integration/test_*.sh as a test):
#   . "$(dirname "$0")/lib.sh" NAME
# sets -u; bin = $MOECAP_BIN (required); tmp = a fresh directory NAME.XXXXXX under
# $MOECAP_TEST_TMP (or /tmp), removed on exit (a script that starts processes sets its own EXIT
# trap, which must remove "$tmp" too); fails = 0 and `fail MSG`, which prints "FAIL: MSG" on
# stderr and counts. `need_python3` exits 77 (skipped) when python3 is missing.
set -u
bin=${MOECAP_BIN:?MOECAP_BIN is not set}
tmp=$(mktemp -d "${MOECAP_TEST_TMP:-/tmp}/${1:?lib.sh: give the script a name}.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
need_python3() { command -v python3 >/dev/null || { echo "SKIPPED: python3 missing"; exit 77; }; }
