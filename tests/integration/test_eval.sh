#!/usr/bin/env bash
# test_eval.sh: `moecap eval` end to end against the tests' mock server in scripted mode
# (mc_mock_server --answers / --echo-logprobs): GSM8K items of ../shared/data answered right,
# wrong and failing with the exact accuracy, the per-item lines and the data file's sha256;
# HellaSwag by log-likelihood with accuracies recomputed here from the mock's rule; MMLU-Pro over
# a glob of the three test files, 5-shot from validation, chat; --json; bad input (exit codes,
# file:line, nothing written); Ctrl-C (partial results, exit 1); `moecap eval fidelity` over
# HTTP (a server against itself: KL 0, agreement 1) and, when the engine is built, in-process
# with make-model's F16 / Q8_0 / Q4_0 copies of one seed.
. "$(dirname "$0")/lib.sh" eval
need_python3
mock=${MOECAP_MOCK_BIN:-}
[ -x "$mock" ] || { echo "SKIPPED: MOECAP_MOCK_BIN not built"; exit 77; }
data=${MOECAP_DATA_DIR:-${MOECAP_SOURCE_DIR:-.}/../shared/data}
[ -r "$data/gsm8k/test.jsonl" ] || { echo "SKIPPED: no evaluation data in $data"; exit 77; }
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT

start_mock() { # name, args... -> sets url_<name>
    local name=$1
    shift
    "$mock" "$@" --port-file "$tmp/$name.port" >/dev/null &
    pids+=($!)
    for _ in $(seq 100); do [ -s "$tmp/$name.port" ] && break; sleep 0.05; done
    [ -s "$tmp/$name.port" ] || { echo "FAIL: mock server $name did not start" >&2; exit 1; }
    eval "url_$name=http://127.0.0.1:$(cat "$tmp/$name.port")"
}

# ---- 1. GSM8K: 30 items answered in 6 ways ------------------------------------------------------
python3 - "$data/gsm8k/test.jsonl" "$tmp/gsm8k_rules.jsonl" <<'PY'
import json, sys
items = [json.loads(l) for l in open(sys.argv[1])][:30]
with open(sys.argv[2], "w") as f:
    for i, it in enumerate(items):
        g = it["answer"].split("####")[-1].strip()
        k = i % 6
        if k == 4:
            f.write(json.dumps({"match": it["question"], "status": 503}) + "\n")
            continue
        t = ["Reasoning...\n#### " + g, "So the answer is $" + g + ".00.",
             "\\boxed{" + g + "}", "The answer is " + str(int(g) + 1) + ".", None,
             "Sorry, I cannot help."][k]
        f.write(json.dumps({"match": it["question"], "text": t}) + "\n")
    f.write(json.dumps({"match": "", "text": "#### 1"}) + "\n")  # anything else
PY
start_mock gsm --answers "$tmp/gsm8k_rules.jsonl" --ttft-ms 1
"$bin" eval --url "$url_gsm" --task gsm8k --data "$data/gsm8k/test.jsonl" --limit 30 \
    --model mock --out "$tmp/g1" >"$tmp/g1.txt" 2>"$tmp/g1.err" || fail "gsm8k run: exit $? $(cat "$tmp/g1.err")"
grep -q "^acc        0.5000" "$tmp/g1.txt" || fail "gsm8k table: $(cat "$tmp/g1.txt")"
python3 - "$tmp/g1" "$data/gsm8k/test.jsonl" <<'PY' || fail "gsm8k summary / items"
import hashlib, json, sys
d, path = sys.argv[1], sys.argv[2]
s = json.load(open(d + "/summary.json"))
a = s["accuracy"]
assert a["items"] == 30 and a["scored"] == 30 and a["failed"] == 5 and a["no_answer"] == 5, a
assert a["acc"]["count"] == 15 and a["acc"]["value"] == 0.5 and a["acc"]["interval"] == "wilson"
lo, hi = a["acc"]["ci95"]
assert abs(lo - 0.331541256) < 1e-8 and abs(hi - 0.668458744) < 1e-8, (lo, hi)
assert abs(a["acc"]["stderr"] - (0.25 / 29) ** 0.5) < 1e-12
assert s["data"]["files"][0]["sha256"] == hashlib.sha256(open(path, "rb").read()).hexdigest()
assert s["data"]["items_loaded"] == 1319 and s["data"]["items_evaluated"] == 30
assert s["task"] == "gsm8k" and s["metric"] == "numeric" and s["target"]["model"] == "mock"
assert s["sampling"]["max_tokens"] == 1024 and s["sampling"]["temperature"] == 0
assert s["partial"] is False and s["performance"]["requests"] == 30
assert s["performance"]["failed"] == 5 and s["performance"]["ttft_s"]["mean"] > 0
lines = [json.loads(l) for l in open(d + "/items.jsonl")]
assert len(lines) == 30 and sorted(l["index"] for l in lines) == list(range(30))
by = {l["index"]: l for l in lines}
for i, l in by.items():
    assert l["correct"] == (i % 6 in (0, 1, 2)), (i, l)
    assert l["failed"] == (i % 6 == 4), (i, l)
    assert l["prompt"].startswith("Question: ") and l["prompt"].endswith("\nAnswer:")
assert by[1]["extracted"] == "3" and by[1]["rule"] == "answer is", by[1]
assert by[4]["status"] == "http_status" and by[4]["error"].startswith("HTTP 503"), by[4]
assert by[5]["extracted"] is None and by[5]["rule"] == "none"
PY

# ---- 2. HellaSwag by log-likelihood: accuracies recomputed from the mock's rule -----------------
start_mock echo --echo-logprobs
"$bin" eval --url "$url_echo" --task hellaswag --data "$data/hellaswag/hellaswag_val_full.txt.bz2" \
    --sample 120 --seed 5 --concurrency 6 --model m --out "$tmp/h1" >/dev/null 2>"$tmp/h1.err" \
    || fail "hellaswag run: exit $? $(cat "$tmp/h1.err")"
python3 - "$tmp/h1" "$data/hellaswag/hellaswag_val_full.txt.bz2" <<'PY' || fail "hellaswag accuracies"
import bz2, json, sys
d = sys.argv[1]
lines = bz2.open(sys.argv[2], "rt", encoding="utf-8").read().split("\n")
items = [json.loads(l) for l in open(d + "/items.jsonl")]
assert len(items) == 120
def ll(ctx, end):
    # the mock: the prompt's words (split before each space), each -0.1 x its bytes; the
    # continuation " end" starts at len(ctx); summed in order as the C code does. The mock
    # writes each value with cJSON, i.e. rounded to 15 significant digits.
    p = ctx + " " + end
    starts = [i for i in range(len(p)) if i == 0 or p[i] == " "]
    total = 0.0
    for k, st in enumerate(starts):
        e = starts[k + 1] if k + 1 < len(starts) else len(p)
        if st >= len(ctx):
            total += float("%.15g" % (-0.1 * len(p[st:e].encode())))
    return total
acc = accn = 0
for it in items:
    t = int(it["id"])
    ctx, gold, ends = lines[6 * t], int(lines[6 * t + 1]), lines[6 * t + 2:6 * t + 6]
    lls = [ll(ctx, e) for e in ends]
    nb = [len((" " + e).encode()) for e in ends]
    pred = max(range(4), key=lambda k: (lls[k], -k))
    predn = max(range(4), key=lambda k: (lls[k] / nb[k], -k))
    assert it["pred"] == pred and it["pred_norm"] == predn, (it, lls)
    assert all(abs(a - b) < 1e-12 for a, b in zip(it["ll"], lls))
    assert it["cont_bytes"] == nb
    acc += pred == gold
    accn += predn == gold
s = json.load(open(d + "/summary.json"))
assert s["method"] == "loglik" and s["accuracy"]["acc"]["count"] == acc, (s["accuracy"], acc)
assert s["accuracy"]["acc_norm"]["count"] == accn, (s["accuracy"], accn)
assert s["data"]["selection"]["sample"] == 120
PY

# ---- 3. MMLU-Pro: glob of the test parts, 5-shot from validation, chat, --json ------------------
if [ -r "$data/mmlu_pro/validation.jsonl" ]; then
    echo '{"match": "", "text": "Let us think. The answer is (A)."}' >"$tmp/a_rules.jsonl"
    start_mock a --answers "$tmp/a_rules.jsonl"
    "$bin" eval --url "$url_a" --task mmlu-pro --data "$data/mmlu_pro/test-*-of-00003.jsonl" \
        --sample 60 --seed 1 --fewshot 5 --endpoint chat --model m --out "$tmp/m1" --json \
        >"$tmp/m1.json" 2>"$tmp/m1.err" || fail "mmlu-pro run: exit $? $(cat "$tmp/m1.err")"
    python3 - "$tmp/m1" "$tmp/m1.json" <<'PY' || fail "mmlu-pro summary"
import json, sys
d = sys.argv[1]
s = json.load(open(sys.argv[2]))
assert s == json.load(open(d + "/summary.json"))
items = [json.loads(l) for l in open(d + "/items.jsonl")]
assert len(items) == 60 and all(l["shots"] == 5 for l in items)
assert len(s["data"]["files"]) == 3 and s["data"]["items_loaded"] == 12032
want = sum(1 for l in items if l["gold"] == "A")
assert s["accuracy"]["acc"]["count"] == want and all(l["extracted"] == "A" for l in items)
cats = s["categories"]
assert sum(c["items"] for c in cats.values()) == 60
for name, c in cats.items():
    assert c["acc"]["count"] == sum(1 for l in items if l["category"] == name and l["gold"] == "A")
assert "validation.jsonl" in s["fewshot"]["files"][0]["path"]
assert json.loads(items[0]["prompt"])[0]["role"] == "system"
PY
fi

# ---- 4. bad input: exit codes, file:line, nothing written --------------------------------------
printf '{"question": "q", "answer": "#### 1"}\n{"question": 3}\n' >"$tmp/bad.jsonl"
"$bin" eval --url "$url_gsm" --task gsm8k --data "$tmp/bad.jsonl" --strict --model m --out "$tmp/b1" 2>"$tmp/b1.err"
[ $? -eq 1 ] || fail "strict bad record: exit code"
grep -q "bad.jsonl:2: field 'question' is not a string" "$tmp/b1.err" || fail "strict message: $(cat "$tmp/b1.err")"
[ -e "$tmp/b1" ] && fail "a results directory was made for a run that did not start"
"$bin" eval --url "$url_gsm" --task gsm8k --data "$tmp/bad.jsonl" --model m --out "$tmp/b2" >/dev/null 2>"$tmp/b2.err" \
    || fail "non-strict run: exit $?"
grep -q "bad.jsonl:2: field 'question' is not a string (skipped)" "$tmp/b2.err" || fail "skip message: $(cat "$tmp/b2.err")"
"$bin" eval --url "$url_gsm" --task gsm8k --data "$tmp/bad.jsonl" --bogus 2>/dev/null
[ $? -eq 2 ] || fail "unknown option: exit code"
"$bin" eval --url "$url_gsm" --task gsm8k --data "$tmp/bad.jsonl" --limit 1 --sample 1 2>/dev/null
[ $? -eq 2 ] || fail "--limit with --sample: exit code"
"$bin" eval --url "$url_gsm" --task hellaswag --method loglik --data "$data/hellaswag/hellaswag_val_full.txt.bz2" \
    --limit 2 --model m --out "$tmp/b3" 2>"$tmp/b3.err"
[ $? -eq 1 ] || fail "loglik against a server without logprobs: exit code"
grep -q "needs prompt log-probabilities" "$tmp/b3.err" || fail "no-logprobs message: $(cat "$tmp/b3.err")"
[ -e "$tmp/b3" ] && fail "a results directory was made for a loglik run the server cannot serve"
"$bin" eval --url "$url_gsm" --task gsm8k --data "$data/gsm8k/test.jsonl" --limit 2 --model m --out "$tmp/g1" 2>/dev/null
[ $? -eq 2 ] || fail "existing results directory: exit code"

# ---- 5. Ctrl-C: partial results, exit 1 ------------------------------------------------------------
start_mock slow --answers "$tmp/gsm8k_rules.jsonl" --ttft-ms 400
"$bin" eval --url "$url_slow" --task gsm8k --data "$data/gsm8k/test.jsonl" --limit 30 \
    --concurrency 1 --model m --out "$tmp/c1" >/dev/null 2>"$tmp/c1.err" &
epid=$!
sleep 1.5
kill -INT $epid
wait $epid
[ $? -eq 1 ] || fail "interrupted run: exit code"
python3 - "$tmp/c1" <<'PY' || fail "interrupted run: partial summary"
import json, sys
s = json.load(open(sys.argv[1] + "/summary.json"))
n = sum(1 for _ in open(sys.argv[1] + "/items.jsonl"))
assert s["partial"] is True and 1 <= n < 30 and s["accuracy"]["items"] == n, (s["accuracy"], n)
PY

# ---- 6. fidelity over HTTP: a server against itself --------------------------------------------
printf 'The quick brown fox jumps over the lazy dog.\n\nA second paragraph of plain text here.\n' >"$tmp/text.txt"
"$bin" eval fidelity --reference "$url_echo" --candidate "$url_echo" --data "$tmp/text.txt" --top 5 --json \
    >"$tmp/f1.json" 2>"$tmp/f1.err" || fail "fidelity over HTTP: exit $? $(cat "$tmp/f1.err")"
python3 - "$tmp/f1.json" <<'PY' || fail "fidelity over HTTP figures"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["method"] == "http-top-n" and s["positions"] == 14, s
assert s["kl"]["mean"] == 0 and s["top1_agreement"] == 1 and s["perplexity"]["ratio"] == 1, s
PY
"$bin" eval fidelity --reference "$url_echo" --candidate "$tmp/x.gguf" 2>/dev/null
[ $? -eq 2 ] || fail "fidelity mixing a URL and a file: exit code"

# ---- 7. fidelity in-process: F16 / Q8_0 / Q4_0 of one seed (needs the engine) -------------------
for t in f16 q8_0 q4_0; do
    "$bin" make-model -o "$tmp/m-$t.gguf" --type "$t" --seed 7 --layers 2 --embd 128 --ff 256 \
        --experts 4 --top-k 2 >/dev/null 2>"$tmp/mk.err" || fail "make-model $t: $(cat "$tmp/mk.err")"
done
"$bin" eval fidelity --reference "$tmp/m-f16.gguf" --candidate "$tmp/m-f16.gguf" --data "$tmp/text.txt" \
    --json >"$tmp/e1.json" 2>"$tmp/e1.err"
rc=$?
if grep -q "no inference engine" "$tmp/e1.err"; then
    [ $rc -eq 1 ] || fail "engine-less build: exit code"
    echo "note: this build has no engine; the in-process fidelity checks did not run"
else
    [ $rc -eq 0 ] || fail "fidelity of a model with itself: exit $rc $(cat "$tmp/e1.err")"
    for t in q8_0 q4_0; do
        "$bin" eval fidelity --reference "$tmp/m-f16.gguf" --candidate "$tmp/m-$t.gguf" \
            --data "$tmp/text.txt" --json >"$tmp/e-$t.json" 2>"$tmp/e.err" || fail "fidelity $t: $(cat "$tmp/e.err")"
    done
    python3 - "$tmp/e1.json" "$tmp/e-q8_0.json" "$tmp/e-q4_0.json" <<'PY' || fail "in-process fidelity figures"
import json, sys
same, q8, q4 = (json.load(open(p)) for p in sys.argv[1:4])
assert same["method"] == "engine-full" and same["positions"] > 10, same
assert same["kl"]["mean"] == 0 and same["top1_agreement"] == 1 and same["perplexity"]["ratio"] == 1
assert 0 < q8["kl"]["mean"] < q4["kl"]["mean"], (q8["kl"], q4["kl"])
assert q8["top1_agreement"] >= q4["top1_agreement"], (q8, q4)
PY
fi

[ "$fails" -eq 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
echo "ok"
