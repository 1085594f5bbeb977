#!/usr/bin/env bash
# test_bench_engine.sh: `moecap bench-engine` on a tiny random MoE made by make-model against a
# catalogue hardware entry (no probe needed): --json keys, positive figures, the decode batches
# in order, the text report's units, and bad input exits 1 / 2 with one line on stderr.
. "$(dirname "$0")/lib.sh" bench-engine

"$bin" make-model -o "$tmp/m.gguf" --layers 2 --embd 64 --ff 64 --experts 4 --top-k 2 \
    --heads 4 --kv-heads 2 --vocab 300 --type q8_0 >/dev/null || { echo "make-model failed"; exit 1; }
m=(-m "$tmp/m.gguf" -t 2 -p 24 -n 6 -r 1 --hardware h100-sxm-80gb)

"$bin" bench-engine "${m[@]}" -b 1,3 --json >"$tmp/a.json" 2>"$tmp/err" || fail "bench-engine --json: exit $?: $(cat "$tmp/err")"
python3 - "$tmp/a.json" <<'EOF' || fail "bench-engine --json content"
import json, sys
d = json.load(open(sys.argv[1]))
for k in ["model", "kernels", "threads", "reps", "prompt_tokens", "gen_tokens", "units",
          "hardware", "prefill", "decode"]:
    assert k in d, k
assert d["reps"] == 1 and d["prompt_tokens"] == 24 and d["gen_tokens"] == 6 and d["threads"] == 2
h = d["hardware"]
assert h["name"] == "h100-sxm-80gb" and h["count"] == 1 and h["peak_bw_GBps"] == 3350, h
assert [x["batch"] for x in d["decode"]] == [1, 3]
for ph in [d["prefill"]] + d["decode"]:
    for k in ["tok_per_s", "smbu", "smfu"]:
        assert ph[k + "_mean"] > 0, (k, ph)
        assert ph[k + "_sd"] == 0, (k, ph)  # one repetition
    assert 0 < ph["smbu_mean"] < 1 and 0 < ph["smfu_mean"] < 1, ph
# top-k 2 of 4 experts: one decode token hits exactly 2 per layer; the 24-token prefill all 4
# (24 x 2 random routings missing an expert is vanishingly unlikely, and routing is seeded).
assert d["decode"][0]["experts_per_moe_layer_mean"] == 2, d["decode"][0]
assert 2 <= d["decode"][1]["experts_per_moe_layer_mean"] <= 4, d["decode"][1]
assert d["prefill"]["experts_per_moe_layer_mean"] == 4, d["prefill"]
EOF

"$bin" bench-engine "${m[@]}" -r 2 -b 2 >"$tmp/t" 2>"$tmp/err" || fail "bench-engine text: exit $?: $(cat "$tmp/err")"
grep -q "hardware h100-sxm-80gb x1: 3350.0 GB/s" "$tmp/t" || fail "hardware line: $(cat "$tmp/t")"
grep -Eq "^prefill p=24 .* tok/s  S-MBU .* %  S-MFU .* %" "$tmp/t" || fail "prefill line: $(cat "$tmp/t")"
grep -Eq "^decode b=2 n=6 .* tok/s  S-MBU .* %  S-MFU .* %" "$tmp/t" || fail "decode line: $(cat "$tmp/t")"

# No local entry: the message says to run the probe.
MOECAP_CACHE_DIR="$tmp/cache" "$bin" bench-engine -m "$tmp/m.gguf" -p 8 -n 2 -r 1 >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 1 ] || fail "no local entry: exit $rc, want 1"
grep -q "moecap probe" "$tmp/err" || fail "no local entry: stderr lacks 'moecap probe': $(cat "$tmp/err")"
[ "$(wc -l <"$tmp/err")" -eq 1 ] && [ ! -s "$tmp/out" ] || fail "no local entry: not one line / wrote stdout"

expect_exit() { # want msg args...
    local want=$1 msg=$2 rc
    shift 2
    "$bin" bench-engine "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ "$rc" -eq "$want" ] || fail "bench-engine $*: exit $rc, want $want"
    [ ! -s "$tmp/out" ] || fail "bench-engine $*: wrote to stdout on error"
    grep -qF -- "$msg" "$tmp/err" || fail "bench-engine $*: stderr lacks '$msg': $(cat "$tmp/err")"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "bench-engine $*: stderr is not one line"
}
hw=(--hardware h100-sxm-80gb)
expect_exit 1 "moecap bench-engine: " -m "$tmp/none.gguf" "${hw[@]}"
expect_exit 1 "moecap bench-engine: " -m "$tmp/m.gguf" --hardware no-such-gpu
expect_exit 2 "-m MODEL.gguf is required" "${hw[@]}"
expect_exit 2 "bad value '0,4' for --batch" -m "$tmp/m.gguf" -b 0,4 "${hw[@]}"
expect_exit 2 "bad value 'x' for --reps" -m "$tmp/m.gguf" -r x "${hw[@]}"
expect_exit 2 "bad or incomplete option '--bogus'" -m "$tmp/m.gguf" --bogus "${hw[@]}"
expect_exit 2 "unexpected argument 'extra'" -m "$tmp/m.gguf" extra "${hw[@]}"

[ "$fails" -eq 0 ] || exit 1
echo "bench-engine: all checks passed"
