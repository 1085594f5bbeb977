#!/usr/bin/env bash
# test_generate.sh: `moecap generate` on a tiny random MoE made by make-model: greedy runs are
# deterministic, text and --json agree, -n caps the tokens, --prompt-ids gives ids, seeded
# sampling repeats, and bad input exits 1 / 2 with one line on stderr and nothing on stdout.
. "$(dirname "$0")/lib.sh" generate

"$bin" make-model -o "$tmp/m.gguf" --layers 2 --embd 64 --ff 64 --experts 4 --top-k 2 \
    --heads 4 --kv-heads 2 --vocab 300 --type q8_0 >/dev/null || { echo "make-model failed"; exit 1; }
m=(-m "$tmp/m.gguf" -t 2)

# Greedy twice: identical text; the stderr report has every figure.
"$bin" generate "${m[@]}" -p "Hello world" -n 12 --ignore-eos >"$tmp/a" 2>"$tmp/a.err" || fail "generate: exit $?: $(cat "$tmp/a.err")"
"$bin" generate "${m[@]}" -p "Hello world" -n 12 --ignore-eos >"$tmp/b" 2>/dev/null || fail "generate (2nd): exit $?"
cmp -s "$tmp/a" "$tmp/b" || fail "greedy generate is not deterministic"
[ -s "$tmp/a" ] || fail "generate printed no text"
grep -Eq "^prompt: [0-9]+ tokens, [0-9.]+ s, [0-9.]+ tok/s prefill$" "$tmp/a.err" || fail "prompt line: $(cat "$tmp/a.err")"
grep -Eq "^generated: 12 tokens \(length\), 11 decode steps, [0-9.]+ s, [0-9.]+ tok/s decode$" "$tmp/a.err" \
    || fail "generated line: $(cat "$tmp/a.err")"
grep -Eq "^experts per MoE layer in decode: 2\.00 " "$tmp/a.err" || fail "experts line (top-k 2, batch 1): $(cat "$tmp/a.err")"

# --json: keys and values; the same greedy ids; its text equals the streamed text.
"$bin" generate "${m[@]}" -p "Hello world" -n 12 --ignore-eos --json >"$tmp/a.json" || fail "generate --json: exit $?"
python3 - "$tmp/a.json" "$tmp/a" <<'EOF' || fail "generate --json content"
import json, sys
d = json.load(open(sys.argv[1]))
for k in ["model", "kernels", "threads", "text", "prompt_ids", "ids", "prompt_tokens",
          "generated_tokens", "stop", "timings", "decode_experts_per_moe_layer"]:
    assert k in d, k
t = d["timings"]
for k in ["prefill_s", "decode_s", "decode_steps", "prefill_tok_per_s", "decode_tok_per_s"]:
    assert k in t, k
assert d["generated_tokens"] == 12 and len(d["ids"]) == 12 and d["stop"] == "length"
assert d["prompt_tokens"] == len(d["prompt_ids"]) and d["prompt_ids"][0] == 1, d["prompt_ids"]  # BOS
assert t["decode_steps"] == 11 and t["prefill_tok_per_s"] > 0 and t["decode_tok_per_s"] > 0
assert d["decode_experts_per_moe_layer"] == 2
assert d["threads"] == 2
streamed = open(sys.argv[2], "rb").read().decode("utf-8", "replace").rstrip("\n")
assert streamed == d["text"], (streamed, d["text"])
EOF

# --no-bos drops the BOS; --prompt-ids of the same prompt gives the same ids as the text run.
ids=$(python3 -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))['prompt_ids'])))" "$tmp/a.json")
"$bin" generate "${m[@]}" --prompt-ids "$ids" -n 12 --ignore-eos >"$tmp/ids" 2>/dev/null || fail "--prompt-ids: exit $?"
want=$(python3 -c "import json,sys; print(' '.join(map(str, json.load(open(sys.argv[1]))['ids'])))" "$tmp/a.json")
[ "$(cat "$tmp/ids")" = "$want" ] || fail "--prompt-ids output '$(cat "$tmp/ids")', want '$want'"
"$bin" generate "${m[@]}" -p "Hello world" -n 1 --no-bos --json >"$tmp/nb.json" || fail "--no-bos: exit $?"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['prompt_ids'][0] != 1 and len(d['prompt_ids']) == $(echo "$ids" | tr ',' '\n' | wc -l) - 1" "$tmp/nb.json" \
    || fail "--no-bos prompt ids"

# Seeded sampling repeats; another seed (almost surely) differs.
s=(-p "Hello" -n 16 --ignore-eos --temp 1.5 --top-k 50 --top-p 0.95)
"$bin" generate "${m[@]}" "${s[@]}" --seed 3 --json >"$tmp/s1" || fail "sampling: exit $?"
"$bin" generate "${m[@]}" "${s[@]}" --seed 3 --json >"$tmp/s2" || fail "sampling: exit $?"
"$bin" generate "${m[@]}" "${s[@]}" --seed 4 --json >"$tmp/s3" || fail "sampling: exit $?"
ids_of() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['ids'])" "$1"; }
[ "$(ids_of "$tmp/s1")" = "$(ids_of "$tmp/s2")" ] || fail "same seed, different samples"
[ "$(ids_of "$tmp/s1")" != "$(ids_of "$tmp/s3")" ] || fail "seeds 3 and 4 gave the same 16 samples"

expect_exit() { # want msg args...
    local want=$1 msg=$2 rc
    shift 2
    "$bin" generate "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ "$rc" -eq "$want" ] || fail "generate $*: exit $rc, want $want"
    [ ! -s "$tmp/out" ] || fail "generate $*: wrote to stdout on error"
    grep -qF -- "$msg" "$tmp/err" || fail "generate $*: stderr lacks '$msg': $(cat "$tmp/err")"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "generate $*: stderr is not one line"
}
expect_exit 1 "moecap generate: " -m "$tmp/none.gguf" -p hi
expect_exit 2 "-m MODEL.gguf is required" -p hi
expect_exit 2 "give exactly one of -p PROMPT and --prompt-ids LIST" "${m[@]}"
expect_exit 2 "--temp: bad value '-1'" "${m[@]}" -p hi --temp -1
expect_exit 2 "--top-p: bad value '2'" "${m[@]}" -p hi --top-p 2
expect_exit 2 "bad or incomplete option '--bogus'" "${m[@]}" -p hi --bogus
expect_exit 2 "--prompt-ids: '300' is not a token id in 0..299" "${m[@]}" --prompt-ids 1,300
expect_exit 2 "--prompt-ids: bad list" "${m[@]}" --prompt-ids 1,,2
expect_exit 2 "exceed the context of 16" "${m[@]}" -p hi -n 20 --ctx 16

[ "$fails" -eq 0 ] || exit 1
echo "generate: all checks passed"
