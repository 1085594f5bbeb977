#!/usr/bin/env bash
# test_report_browser.sh: a report is for people to look at, so render the HTML report of
# tests/fixtures/rundir-mini in a real browser (Debian's chromium, headless, kept off the
# network) to a PNG, and check with mc_png_probe (cairo) that the radar, the latency CDFs, the
# throughput and S-MBU charts, the distinct-experts chart and a heat map are drawn where the
# report's fixed layout puts them, and that the page is white where nothing should be.
# Skipped (77) when chromium is not installed (scripts/install-deps.sh installs it).
#
# Layout (src/report/html.c: body padding 16, header 72, section title + caption 50, sections
# 16 apart; radar 860 x 500, charts 540 x 320 side by side 20 apart):
#   radar svg    x 16..876   y 138..638   (centre 296, 403)
#   latency      y 704..1024 (TTFT x 16..556, TPOT x 576..1116)
#   perf         y 1090..1410
#   experts      y 1476..1796, then the heat maps from y 1812 (cells from x 80, y 1848)
. "$(dirname "$0")/lib.sh" browser
src=${MOECAP_SOURCE_DIR:?MOECAP_SOURCE_DIR is not set}
probe=${MOECAP_PNG_PROBE:?MOECAP_PNG_PROBE is not set}
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "chromium not found: skipped"; exit 77; }

"$bin" report "$src/tests/fixtures/rundir-mini" -o "$tmp/report.html" >/dev/null 2>"$tmp/err" \
    || { echo "FAIL: report: $(cat "$tmp/err")"; exit 1; }

# Off the network: every host resolves to nothing, any proxy use goes to a closed port; no
# background services, no profile outside $tmp.
HOME=$tmp timeout 120 "$browser" --headless --disable-gpu --no-sandbox --no-first-run \
    --disable-extensions --disable-background-networking --disable-sync \
    --disable-component-update --disable-default-apps --user-data-dir="$tmp/profile" \
    --proxy-server=127.0.0.1:9 --host-resolver-rules="MAP * ~NOTFOUND" \
    --force-device-scale-factor=1 --hide-scrollbars --window-size=1140,2400 \
    --screenshot="$tmp/shot.png" "file://$tmp/report.html" >"$tmp/chromium.log" 2>&1
[ -s "$tmp/shot.png" ] || { echo "FAIL: chromium wrote no screenshot: $(tail -3 "$tmp/chromium.log")"; exit 1; }

# region NAME X0 Y0 X1 Y1 MIN_COLOURED [MAX_NONWHITE]
region() {
    local name=$1 x0=$2 y0=$3 x1=$4 y1=$5 min=$6 max=${7:-}
    local out
    out=$("$probe" "$tmp/shot.png" "$x0" "$y0" "$x1" "$y1") || { fail "$name: probe failed"; return; }
    set -- $out # size W H nonwhite N coloured M
    [ "$2" -eq 1140 ] || fail "$name: screenshot is $2 pixels wide"
    [ "$7" -ge "$min" ] || fail "$name: $7 coloured pixels, want >= $min ($out)"
    [ -z "$max" ] || [ "$5" -le "$max" ] || fail "$name: $5 non-white pixels, want <= $max ($out)"
}

region "radar polygons" 146 253 446 553 1000
region "radar legend" 600 150 876 300 300
region "TTFT CDF" 16 704 556 1024 500
region "TPOT CDF" 576 704 1116 1024 500
region "throughput chart" 16 1090 556 1410 500
region "S-MBU chart" 576 1090 1116 1410 500
region "distinct experts chart" 16 1476 556 1796 500
region "f16 heat map cells" 80 1848 192 1892 4000
region "blank right of the radar" 880 138 1134 638 0 0
region "blank top margin" 0 0 1140 15 0 0

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "test_report_browser: all passed"
