#!/usr/bin/env bash
# Installs every Debian package that moecap's build, tests, fuzz smoke and demo need.
# Idempotent: packages already installed are skipped, and apt-get runs only when one is missing.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config git python3   # python3: JSON checks in integration tests
  clang libclang-rt-14-dev          # libFuzzer harnesses, sanitizer runtimes
  libcjson-dev                      # JSON: configs, records, HTTP bodies
  libcurl4-openssl-dev              # load generator / HTTP client
  libssl-dev                        # SHA-256 of evaluation data files (libcrypto)
  libmicrohttpd-dev                 # moecap serve
  libyaml-dev                       # moecap run config files, moecap radar input
  libpcre2-dev                      # BPE pre-tokenizers (Unicode classes)
  libbz2-dev                        # HellaSwag .bz2 data
  libcairo2-dev                     # radar PNG output; the PNG probe of the browser test
  chromium                          # renders the HTML report in tests (headless, offline)
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
