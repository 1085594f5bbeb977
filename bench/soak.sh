#!/usr/bin/env bash
# bench/soak.sh [SECONDS] [OUT_DIR]: the soak of `moecap serve` (docs/RELIABILITY.md), not run in
# CI. Serves a generated MoE (make-model, cached) and loads it for SECONDS (default 1800) in
# one-minute rounds: each round runs two `moecap bench` processes at once, streaming
# completions (concurrency 3) and non-streaming chat (concurrency 1), while bench/soak.py sends
# misbehaving clients (hang-ups mid-stream and before the answer, bodies that are not JSON or
# have wrong types, max_tokens over the context, an announced body over --max-body) and seeded
# probes the whole time. The server's RSS is sampled every 5 s from /proc/PID/status, with the
# machine's load average (a p99 that moves with the load is the machine, not the server).
#
# At the end the probes are replayed one at a time on the idle server and soak.py checks: RSS
# flat after the warm-up (the first fifth of the minutes) within 5%; the streaming p99 E2E latency
# of the last third of the minutes at most 1.25 x that of the first third; every bench run has
# completed + failed = sent; the server's moecap_requests_total outcomes add up to every request
# sent (bench and chaos); every probe got its own output (probes ask with echo: the answer must
# start with the probe's own prompt; response ids unique); the server exits 0 on SIGTERM. The
# replay compares each probe's greedy text alone with the text under load (reported: equal only
# as far as the kernels are batch-invariant). Results: OUT_DIR/soak.json and a table.
#
# MOECAP_BIN picks the binary (default build-release/moecap, else build/moecap).
set -u
secs=${1:-1800}
root=$(cd "$(dirname "$0")/.." && pwd)
out=${2:-$root/soak-$(date +%Y%m%d-%H%M%S)}
bin=${MOECAP_BIN:-}
[ -n "$bin" ] || for b in "$root/build-release/moecap" "$root/build/moecap"; do
    [ -x "$b" ] && { bin=$b; break; }
done
[ -x "$bin" ] || { echo "soak: no moecap binary (set MOECAP_BIN)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "soak: python3 is needed" >&2; exit 2; }
mkdir -p "$out" || exit 2
cache=${MOECAP_CACHE_DIR:-$HOME/.cache/moecap}/soak
mkdir -p "$cache"
model=$cache/soak-moe-e8k2.gguf
if [ ! -s "$model" ]; then
    "$bin" make-model -o "$model.tmp" --layers 4 --embd 256 --ff 512 --experts 8 --top-k 2 \
        --heads 4 --vocab 512 --ctx 2048 --type q8_0 --seed 11 >/dev/null &&
        mv "$model.tmp" "$model" || { echo "soak: make-model failed" >&2; exit 1; }
fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; }
trap cleanup EXIT

"$bin" serve -m "$model" --port 0 --parallel 4 --ctx 1024 -t 1 --max-queue 64 \
    --shutdown-timeout 5 >"$out/serve.out" 2>"$out/serve.err" &
spid=$!
pids+=("$spid")
port=
for _ in $(seq 1 400); do
    port=$(sed -n 's/^moecap serve: listening on http:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' \
        "$out/serve.out")
    [ -n "$port" ] && break
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.05
done
[ -n "$port" ] || { echo "soak: serve did not start: $(cat "$out/serve.err")" >&2; exit 1; }
url=http://127.0.0.1:$port
curl -s "$url/metrics" >"$out/metrics-before.prom"

minutes=$(( (secs + 59) / 60 ))
t0=$(date +%s.%N)
(while kill -0 "$spid" 2>/dev/null; do
     echo "$(date +%s.%N) $(awk '/^VmRSS:/ {print $2}' "/proc/$spid/status")" \
         "$(cut -d' ' -f1 /proc/loadavg)"
     sleep 5
 done) >"$out/rss.txt" 2>/dev/null &
pids+=("$!")
python3 "$root/bench/soak.py" chaos "$port" "$secs" "$out/chaos.jsonl" &
cpid=$!
pids+=("$cpid")

echo "soak: $minutes minute(s) on $url, results in $out (load: $(cut -d' ' -f1-3 /proc/loadavg))"
common=(--url "$url" --num-requests 200000 --server-data off --input-len 32:96 --seed 0
        --timeout 120 --json)
for m in $(seq 1 "$minutes"); do
    left=$(( secs - (m - 1) * 60 ))
    d=$(( left < 60 ? left : 60 ))
    dir=$out/min-$m
    mkdir -p "$dir"
    "$bin" bench "${common[@]}" --stream --concurrency 3 --output-len 16:64 --duration "$d" \
        --out "$dir/stream" >"$dir/stream.json" 2>"$dir/stream.err" &
    b1=$!
    "$bin" bench "${common[@]}" --endpoint chat --no-stream --concurrency 1 --output-len 8:48 \
        --duration "$d" --out "$dir/nostream" >"$dir/nostream.json" 2>"$dir/nostream.err" &
    b2=$!
    wait "$b1" "$b2"
    echo "soak: minute $m/$minutes done (rss $(tail -1 "$out/rss.txt" | cut -d' ' -f2) kB)"
done
wait "$cpid"
curl -s "$url/metrics" >"$out/metrics-after.prom"
python3 "$root/bench/soak.py" replay "$port" "$out/chaos.jsonl" 200 >"$out/replay.json"
kill -TERM "$spid"
wait "$spid"
rc=$?
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
cpu=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)
cat >"$out/meta.json" <<EOF
{"seconds": $secs, "minutes": $minutes, "t0": $t0, "commit": "$commit", "cpu": "$cpu",
 "cores": $(nproc), "load_end": "$(cut -d' ' -f1-3 /proc/loadavg)", "server_exit": $rc,
 "model": "make-model --layers 4 --embd 256 --ff 512 --experts 8 --top-k 2 --heads 4 --vocab 512 q8_0",
 "serve": "--parallel 4 --ctx 1024 -t 1 --max-queue 64"}
EOF
python3 "$root/bench/soak.py" report "$out"
