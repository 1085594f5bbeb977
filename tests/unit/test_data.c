/* test_data.c: the data set loaders: every format from small files written here (good records,
 * malformed lines reported with file:line and skipped, or fatal with strict; U+0085 and U+2028
 * inside records; CRLF, BOM and blank lines; CSV quoting; bzip2), the selection (--limit,
 * seeded --sample), globbing, and the real files of ../shared/data (counts and known items from
 * their SOURCE.md; skipped when the directory is absent). */
#include "data.h"
#include "harness.h"

#include <bzlib.h>

/* ---- helpers -------------------------------------------------------------------------------- */

static const char *write_tmp(const char *name, const char *text, size_t len)
{
    static char path[8][4200];
    static int k;
    char *p = path[k++ % 8];
    snprintf(p, 4200, "%s/%s", harness_tmpdir(), name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(text, 1, len, f) != len) {
        HARNESS_FAIL_("cannot write %s", p);
    }
    if (f)
        fclose(f);
    return p;
}

static const char *tmp_file(const char *name, const char *text)
{
    return write_tmp(name, text, strlen(text));
}

static mc_ds *load1(const char *path, mc_ds_fmt fmt, int strict, mc_diag *d)
{
    mc_ds_opts o = {.fmt = fmt, .strict = strict};
    mc_ds *ds = NULL;
    memset(d, 0, sizeof *d);
    mc_err e = mc_ds_load(&path, 1, &o, &ds, d);
    if (e != MC_OK)
        return NULL;
    return ds;
}

/* ---- GSM8K -------------------------------------------------------------------------------- */

TEST(gsm8k_records_and_bad_lines)
{
    const char *p = tmp_file(
        "g.jsonl", "{\"question\": \"Q1?\", \"answer\": \"a\\nb #### not it\\n#### 1,234\\n\"}\n"
                   "\n"
                   "{\"question\": \"Q2\", \"answer\": \"no marker\"}\n"
                   "{\"question\": 5, \"answer\": \"#### 3\"}\n"
                   "not json at all\n"
                   "{\"question\": \"Q3\", \"answer\": \"x\\n#### -7\"} trailing\n"
                   "[1, 2]\r\n"
                   "{\"question\": \"Q4\\u2028line\", \"answer\": \"s\\n####   -0.5  \"}\r\n"
                   "{\"answer\": \"#### 3\"}");
    mc_diag d;
    mc_ds *ds = load1(p, MC_DS_GSM8K, 0, &d);
    CHECK(ds != NULL);
    if (!ds)
        return;
    CHECK_EQ_INT(mc_ds_count(ds), 2);
    CHECK_STR(mc_ds_at(ds, 0)->text, "Q1?");
    CHECK_STR(mc_ds_at(ds, 0)->answer, "1,234");
    CHECK_STR(mc_ds_at(ds, 0)->solution, "a\nb #### not it");
    CHECK_STR(mc_ds_at(ds, 0)->id, "1");
    CHECK_EQ_INT(mc_ds_at(ds, 0)->line, 1);
    CHECK_STR(mc_ds_at(ds, 1)->text, "Q4\xE2\x80\xA8line");
    CHECK_STR(mc_ds_at(ds, 1)->answer, "-0.5");
    CHECK_EQ_INT(mc_ds_at(ds, 1)->line, 8);
    CHECK_EQ_INT(mc_ds_skipped(ds), 6);
    CHECK_EQ_INT(mc_ds_n_warnings(ds), 6);
    char want[4300];
    snprintf(want, sizeof want, "%s:3: field 'answer' has no '#### <number>' line", p);
    CHECK_STR(mc_ds_warning(ds, 0), want);
    snprintf(want, sizeof want, "%s:4: field 'question' is not a string", p);
    CHECK_STR(mc_ds_warning(ds, 1), want);
    snprintf(want, sizeof want, "%s:5: invalid JSON", p);
    CHECK_STR(mc_ds_warning(ds, 2), want);
    snprintf(want, sizeof want, "%s:6: invalid JSON", p);
    CHECK_STR(mc_ds_warning(ds, 3), want);
    snprintf(want, sizeof want, "%s:7: record is not a JSON object", p);
    CHECK_STR(mc_ds_warning(ds, 4), want);
    snprintf(want, sizeof want, "%s:9: missing field 'question'", p);
    CHECK_STR(mc_ds_warning(ds, 5), want);
    mc_ds_free(ds);

    CHECK(load1(p, MC_DS_GSM8K, 1, &d) == NULL);
    snprintf(want, sizeof want, "%s:3: field 'answer' has no '#### <number>' line", p);
    CHECK_STR(d.msg, want);
}

TEST(empty_and_all_bad_are_errors)
{
    mc_diag d;
    const char *p = tmp_file("empty.jsonl", "\n\n  \n");
    CHECK(load1(p, MC_DS_GSM8K, 0, &d) == NULL);
    CHECK_CONTAINS(d.msg, "no valid gsm8k item");
    p = tmp_file("bad.jsonl", "{\"q\": 1}\n{oops\n");
    CHECK(load1(p, MC_DS_GSM8K, 0, &d) == NULL);
    CHECK_CONTAINS(d.msg, "(every record was bad; first: ");
    CHECK_CONTAINS(d.msg, "bad.jsonl:1: missing field 'question')");
    CHECK(load1(tmp_file("z.jsonl", ""), MC_DS_AUTO, 0, &d) == NULL);
    CHECK_CONTAINS(d.msg, "cannot tell the data format");
    const char *missing = "/nonexistent/x.jsonl";
    mc_ds_opts o = {.fmt = MC_DS_GSM8K};
    mc_ds *ds = NULL;
    CHECK_EQ_INT(mc_ds_load(&missing, 1, &o, &ds, &d), MC_ERR_IO);
    CHECK_CONTAINS(d.msg, "/nonexistent/x.jsonl: cannot open");
}

/* ---- MMLU-Pro: N/A padding, U+0085, letter consistency ----------------------------------------
 */

TEST(mmlu_pro_records)
{
    const char *p = tmp_file(
        "mp.jsonl",
        "\xEF\xBB\xBF{\"question_id\": 7, \"question\": \"Q\xC2\x85 end\", \"options\": [\"a\", "
        "\"N/A\", \"c\", \"N/A\"], \"answer\": \"C\", \"answer_index\": 2, \"cot_content\": "
        "\"A: Let's think step by step. x. The answer is (C).\", \"category\": \"math\"}\n"
        "{\"question_id\": 8, \"question\": \"Q\", \"options\": [\"a\", \"b\"], \"answer\": "
        "\"A\", \"answer_index\": 1, \"category\": \"law\"}\n"
        "{\"question_id\": 9, \"question\": \"Q\", \"options\": [\"a\", \"b\"], \"answer\": "
        "\"B\", \"answer_index\": 2, \"category\": \"law\"}\n"
        "{\"question_id\": 10, \"question\": \"Q\", \"options\": [\"a\", \"N/A\"], \"answer\": "
        "\"B\", \"answer_index\": 1, \"category\": \"law\"}\n"
        "{\"question_id\": 11, \"question\": \"Q\", \"options\": [\"a\", 3], \"answer\": "
        "\"A\", \"answer_index\": 0, \"category\": \"law\"}\n");
    mc_diag d;
    mc_ds *ds = load1(p, MC_DS_AUTO, 0, &d);
    CHECK(ds != NULL);
    if (!ds)
        return;
    CHECK_EQ_INT(mc_ds_format(ds), MC_DS_MMLU_PRO);
    CHECK_EQ_INT(mc_ds_count(ds), 1);
    const mc_ds_item *it = mc_ds_at(ds, 0);
    CHECK_STR(it->id, "7");
    CHECK_STR(it->text, "Q\xC2\x85 end");
    CHECK_EQ_INT(it->n_choices, 2);
    CHECK_STR(it->choices[1], "c");
    CHECK_EQ_INT(it->gold, 1);
    CHECK_STR(it->answer, "B");
    CHECK_STR(it->category, "math");
    CHECK_CONTAINS(it->solution, "The answer is (C).");
    CHECK_EQ_INT(mc_ds_skipped(ds), 4);
    CHECK_CONTAINS(mc_ds_warning(ds, 0), "mp.jsonl:2: answer 'A' does not match answer_index 1");
    CHECK_CONTAINS(mc_ds_warning(ds, 1),
                   "mp.jsonl:3: field 'answer_index' is not an integer in 0..1");
    CHECK_CONTAINS(mc_ds_warning(ds, 2), "mp.jsonl:4: the gold option is 'N/A'");
    CHECK_CONTAINS(mc_ds_warning(ds, 3), "mp.jsonl:5: field 'options': element 1 is not a string");
    mc_ds_free(ds);
}

/* ---- HellaSwag: text (plain and bzip2) and JSONL ----------------------------------------------
 */

static const char hs_text[] = "Roof shingle removal: A man is sitting on a roof. he\n"
                              "3\n"
                              "is using wrap to wrap a pair of skis.\n"
                              "is ripping level tiles off.\n"
                              "is holding a rubik's cube.\n"
                              "starts pulling up roofing on a roof.\n"
                              "Baking: She opens the oven. she\n"
                              "x\n"
                              "e0\ne1\ne2\ne3\n"
                              "Baking: She opens the oven. she\n"
                              "0\n"
                              "takes the tray out.\ne1\ne2\ne3\n"
                              "Tail: only\n"
                              "1\n"
                              "e0\n";

static void check_hs(mc_ds *ds, const char *p)
{
    CHECK_EQ_INT(mc_ds_format(ds), MC_DS_HELLASWAG);
    CHECK_EQ_INT(mc_ds_count(ds), 2);
    const mc_ds_item *it = mc_ds_at(ds, 0);
    CHECK_STR(it->text, "Roof shingle removal: A man is sitting on a roof. he");
    CHECK_STR(it->category, "Roof shingle removal");
    CHECK_EQ_INT(it->gold, 3);
    CHECK_STR(it->answer, "D");
    CHECK_STR(it->choices[3], "starts pulling up roofing on a roof.");
    CHECK_STR(it->id, "0");
    it = mc_ds_at(ds, 1);
    CHECK_STR(it->id, "2");
    CHECK_EQ_INT(it->line, 13);
    CHECK_STR(it->choices[0], "takes the tray out.");
    CHECK_EQ_INT(mc_ds_skipped(ds), 2);
    char want[4300];
    snprintf(want, sizeof want, "%s:8: gold label 'x' is not a digit 0..3 (task 1 skipped)", p);
    CHECK_STR(mc_ds_warning(ds, 0), want);
    snprintf(want, sizeof want, "%s:19: incomplete task: 3 of 6 lines at the end of the file", p);
    CHECK_STR(mc_ds_warning(ds, 1), want);
}

TEST(hellaswag_text_plain_and_bz2)
{
    mc_diag d;
    const char *p = tmp_file("hs.txt", hs_text);
    mc_ds *ds = load1(p, MC_DS_AUTO, 0, &d);
    CHECK(ds != NULL);
    if (ds)
        check_hs(ds, p);
    mc_ds_free(ds);

    char z[4096];
    unsigned zn = sizeof z;
    CHECK_EQ_INT(BZ2_bzBuffToBuffCompress(z, &zn, (char *)hs_text, sizeof hs_text - 1, 9, 0, 0),
                 BZ_OK);
    p = write_tmp("hs.txt.bz2", z, zn);
    ds = load1(p, MC_DS_HELLASWAG, 0, &d);
    CHECK(ds != NULL);
    if (ds)
        check_hs(ds, p);
    mc_ds_free(ds);

    /* a truncated and a corrupted stream */
    p = write_tmp("cut.bz2", z, zn - 10);
    CHECK(load1(p, MC_DS_HELLASWAG, 0, &d) == NULL);
    CHECK_CONTAINS(d.msg, "cut.bz2: bzip2: ");
    z[zn / 2] ^= 0x55;
    p = write_tmp("bad.bz2", z, zn);
    CHECK(load1(p, MC_DS_HELLASWAG, 0, &d) == NULL);
    CHECK_CONTAINS(d.msg, "bad.bz2: bzip2: ");
    /* decompressed size over the cap */
    mc_ds_opts o = {.fmt = MC_DS_HELLASWAG, .max_file_bytes = 300};
    mc_ds *x = NULL;
    z[zn / 2] ^= 0x55;
    p = write_tmp("ok.bz2", z, zn);
    CHECK_EQ_INT(mc_ds_load(&p, 1, &o, &x, &d), MC_ERR_RANGE);
    CHECK_CONTAINS(d.msg, "more than 300 bytes decompressed");
}

TEST(hellaswag_jsonl)
{
    const char *p = tmp_file(
        "hs.jsonl",
        "{\"ind\": 24, \"activity_label\": \"Roof shingle removal\", \"ctx_a\": \"A man is on a "
        "roof.\", \"ctx_b\": \"he Then JOHN\", \"endings\": [\"x [title] y.\", \"b  c\", \"[step] "
        "d\", \"e\"], \"label\": \"2\"}\n");
    mc_diag d;
    mc_ds *ds = load1(p, MC_DS_AUTO, 0, &d);
    CHECK(ds != NULL);
    if (!ds)
        return;
    const mc_ds_item *it = mc_ds_at(ds, 0);
    CHECK_STR(it->text, "Roof shingle removal: A man is on a roof. He then john");
    CHECK_STR(it->choices[0], "x. y.");
    CHECK_STR(it->choices[1], "b c");
    CHECK_STR(it->choices[2], "d");
    CHECK_EQ_INT(it->gold, 2);
    CHECK_STR(it->id, "24");
    mc_ds_free(ds);
}

/* ---- MMLU / ARC: CSV and JSONL ----------------------------------------------------------------
 */

TEST(mmlu_csv_without_header)
{
    const char *p = tmp_file("abstract_algebra_test.csv", "\"Find, the \"\"degree\"\"\",0,4,2,6,B\n"
                                                          "\"two\nlines\",a,b,c,d,D\r\n"
                                                          "\n"
                                                          "q,a,b,c,d,E\n"
                                                          "\"unterminated,a,b,c,d,A\n");
    mc_diag d;
    CHECK(load1(p, MC_DS_MMLU, 0, &d) == NULL);
    CHECK_CONTAINS(d.msg, "abstract_algebra_test.csv:6: unterminated quoted field");
    p = tmp_file("abstract_algebra_test.csv", "\"Find, the \"\"degree\"\"\",0,4,2,6,B\n"
                                              "\"two\nlines\",a,b,c,d,D\r\n"
                                              "\n"
                                              "q,a,b,c,d,E\n"
                                              "last,a,b,c,d,A");
    mc_ds *ds = load1(p, MC_DS_AUTO, 0, &d);
    CHECK(ds != NULL);
    if (!ds)
        return;
    CHECK_EQ_INT(mc_ds_count(ds), 3);
    const mc_ds_item *it = mc_ds_at(ds, 0);
    CHECK_STR(it->text, "Find, the \"degree\"");
    CHECK_EQ_INT(it->n_choices, 4);
    CHECK_STR(it->choices[1], "4");
    CHECK_EQ_INT(it->gold, 1);
    CHECK_STR(it->category, "abstract_algebra");
    it = mc_ds_at(ds, 1);
    CHECK_STR(it->text, "two\nlines");
    CHECK_STR(it->choices[3], "d");
    CHECK_EQ_INT(it->gold, 3);
    CHECK_EQ_INT(mc_ds_at(ds, 2)->line, 6);
    CHECK_STR(mc_ds_at(ds, 2)->text, "last");
    CHECK_EQ_INT(mc_ds_skipped(ds), 1);
    CHECK_CONTAINS(mc_ds_warning(ds, 0), "_test.csv:5: answer 'E' names none of the 4 choices");
    mc_ds_free(ds);
}

TEST(mmlu_and_arc_csv_with_header)
{
    const char *p = tmp_file("m.csv", "id,question,A,B,C,answer,subject\n"
                                      "x1,What?,p,q,r,C,physics\n");
    mc_diag d;
    mc_ds *ds = load1(p, MC_DS_MMLU, 0, &d);
    CHECK(ds != NULL);
    if (ds) {
        CHECK_STR(mc_ds_at(ds, 0)->id, "x1");
        CHECK_EQ_INT(mc_ds_at(ds, 0)->n_choices, 3);
        CHECK_EQ_INT(mc_ds_at(ds, 0)->gold, 2);
        CHECK_STR(mc_ds_at(ds, 0)->category, "physics");
    }
    mc_ds_free(ds);
    p = tmp_file("ARC-Easy-Test.csv",
                 "questionID,originalQuestionID,AnswerKey,question\n"
                 "Mercury_1,1,B,Which is a gas? (A) rock (B) steam (C) ice (D) wood\n"
                 "Mercury_2,2,3,Pick one. (1) one (2) two (3) three\n");
    ds = load1(p, MC_DS_ARC, 0, &d);
    CHECK(ds != NULL);
    if (!ds)
        return;
    CHECK_EQ_INT(mc_ds_count(ds), 2);
    const mc_ds_item *it = mc_ds_at(ds, 0);
    CHECK_STR(it->id, "Mercury_1");
    CHECK_STR(it->text, "Which is a gas?");
    CHECK_EQ_INT(it->n_choices, 4);
    CHECK_STR(it->choices[1], "steam");
    CHECK_STR(it->choices[3], "wood");
    CHECK_EQ_INT(it->gold, 1);
    CHECK_EQ_INT(mc_ds_at(ds, 1)->gold, 2);
    CHECK_STR(mc_ds_at(ds, 1)->answer, "C");
    mc_ds_free(ds);
}

TEST(mmlu_and_arc_jsonl)
{
    const char *p = tmp_file(
        "arc.jsonl",
        "{\"id\": \"a1\", \"question\": \"Q?\", \"choices\": {\"text\": [\"x\", \"y\", \"z\"], "
        "\"label\": [\"1\", \"2\", \"3\"]}, \"answerKey\": \"2\"}\n"
        "{\"id\": \"a2\", \"question\": {\"stem\": \"S?\", \"choices\": [{\"text\": \"p\", "
        "\"label\": \"A\"}, {\"text\": \"q\", \"label\": \"B\"}]}, \"answerKey\": \"B\"}\n"
        "{\"id\": \"a3\", \"question\": \"Q?\", \"choices\": {\"text\": [\"x\", \"y\"], "
        "\"label\": [\"A\", \"B\"]}, \"answerKey\": \"C\"}\n");
    mc_diag d;
    mc_ds *ds = load1(p, MC_DS_AUTO, 0, &d);
    CHECK(ds != NULL);
    if (ds) {
        CHECK_EQ_INT(mc_ds_format(ds), MC_DS_ARC);
        CHECK_EQ_INT(mc_ds_count(ds), 2);
        CHECK_EQ_INT(mc_ds_at(ds, 0)->gold, 1);
        CHECK_STR(mc_ds_at(ds, 0)->answer, "B");
        CHECK_STR(mc_ds_at(ds, 1)->text, "S?");
        CHECK_EQ_INT(mc_ds_at(ds, 1)->gold, 1);
        CHECK_CONTAINS(mc_ds_warning(ds, 0), "arc.jsonl:3: field 'answerKey' does not name one");
    }
    mc_ds_free(ds);
    p = tmp_file("mmlu.jsonl",
                 "{\"question\": \"Q\", \"subject\": \"law\", \"choices\": [\"a\", "
                 "\"b\", \"c\", \"d\"], \"answer\": 3}\n"
                 "{\"question\": \"Q\", \"choices\": [\"a\", \"b\"], \"answer\": "
                 "\"B\"}\n"
                 "{\"question\": \"Q\", \"choices\": [\"a\", \"b\"], \"answer\": 2}\n");
    ds = load1(p, MC_DS_AUTO, 0, &d);
    CHECK(ds != NULL);
    if (!ds)
        return;
    CHECK_EQ_INT(mc_ds_format(ds), MC_DS_MMLU);
    CHECK_EQ_INT(mc_ds_count(ds), 2);
    CHECK_EQ_INT(mc_ds_at(ds, 0)->gold, 3);
    CHECK_STR(mc_ds_at(ds, 0)->category, "law");
    CHECK_EQ_INT(mc_ds_at(ds, 1)->gold, 1);
    CHECK_EQ_INT(mc_ds_skipped(ds), 1);
    mc_ds_free(ds);
}

/* ---- LongBench, MT-bench, ShareGPT, custom ----------------------------------------------------
 */

TEST(longbench_mtbench_sharegpt)
{
    const char *p = tmp_file(
        "lb.jsonl",
        "{\"input\": \"Who?\", \"context\": \"Long text.\", \"answers\": [\"Ann\", "
        "\"Anne\"], \"length\": 2, \"dataset\": \"hotpotqa\", \"language\": \"en\", "
        "\"all_classes\": null, \"_id\": \"abc\"}\n"
        "{\"input\": \"T\", \"context\": \"c\", \"answers\": [\"Location\"], "
        "\"dataset\": \"trec\", \"all_classes\": [\"Location\", \"Person\"], \"_id\": "
        "\"d\"}\n"
        "{\"input\": \"T\", \"context\": \"c\", \"answers\": [], \"dataset\": \"trec\"}\n");
    mc_diag d;
    mc_ds *ds = load1(p, MC_DS_AUTO, 0, &d);
    CHECK(ds != NULL);
    if (ds) {
        CHECK_EQ_INT(mc_ds_format(ds), MC_DS_LONGBENCH);
        CHECK_EQ_INT(mc_ds_count(ds), 2);
        const mc_ds_item *it = mc_ds_at(ds, 0);
        CHECK_STR(it->id, "abc");
        CHECK_STR(it->context, "Long text.");
        CHECK_EQ_INT(it->n_answers, 2);
        CHECK_STR(it->answers[1], "Anne");
        CHECK(it->classes == NULL);
        CHECK_STR(it->category, "hotpotqa");
        CHECK_EQ_INT(mc_ds_at(ds, 1)->n_classes, 2);
        CHECK_CONTAINS(mc_ds_warning(ds, 0), "lb.jsonl:3: field 'answers' is not an array of at "
                                             "least 1 strings");
    }
    mc_ds_free(ds);
    p = tmp_file("mt.jsonl", "{\"question_id\": 81, \"category\": \"writing\", \"turns\": "
                             "[\"one\", \"two\"]}\n");
    ds = load1(p, MC_DS_AUTO, 0, &d);
    CHECK(ds != NULL);
    if (ds) {
        CHECK_EQ_INT(mc_ds_format(ds), MC_DS_MT_BENCH);
        CHECK_STR(mc_ds_at(ds, 0)->text, "one");
        CHECK_STR(mc_ds_at(ds, 0)->id, "81");
        CHECK(mc_ds_at(ds, 0)->answer == NULL);
    }
    mc_ds_free(ds);
    p = tmp_file("sg.json", " [{\"id\": \"x_0\", \"conversations\": [{\"from\": \"gpt\", \"value\":"
                            " \"no\"}, {\"from\": \"human\", \"value\": \"hi\"}]}, {\"id\": \"y\", "
                            "\"conversations\": []}, {\"conversations\": [{\"from\": \"user\", "
                            "\"value\": \"u\"}]}]");
    ds = load1(p, MC_DS_AUTO, 0, &d);
    CHECK(ds != NULL);
    if (!ds)
        return;
    CHECK_EQ_INT(mc_ds_format(ds), MC_DS_SHAREGPT);
    CHECK_EQ_INT(mc_ds_count(ds), 2);
    CHECK_STR(mc_ds_at(ds, 0)->text, "hi");
    CHECK_STR(mc_ds_at(ds, 1)->id, "3");
    CHECK_CONTAINS(mc_ds_warning(ds, 0), "sg.json:2: item 2: no turn from 'human' or 'user'");
    mc_ds_free(ds);
}

TEST(custom_schema)
{
    const char *p =
        tmp_file("c.jsonl", "{\"q\": {\"text\": \"2+2?\"}, \"a\": 4, \"k\": \"id1\"}\n"
                            "{\"q\": {\"text\": \"cap?\"}, \"a\": \"Paris\", \"k\": 9}\n"
                            "{\"q\": {}, \"a\": 1}\n"
                            "{\"q\": {\"text\": \"x\"}}\n");
    mc_ds_opts o = {.fmt = MC_DS_CUSTOM, .fields = {.prompt = "q.text", .answer = "a", .id = "k"}};
    mc_ds *ds = NULL;
    mc_diag d = {{0}};
    CHECK_EQ_INT(mc_ds_load(&p, 1, &o, &ds, &d), MC_OK);
    if (!ds)
        return;
    CHECK_EQ_INT(mc_ds_count(ds), 2);
    CHECK_STR(mc_ds_at(ds, 0)->text, "2+2?");
    CHECK_STR(mc_ds_at(ds, 0)->answer, "4");
    CHECK_STR(mc_ds_at(ds, 0)->id, "id1");
    CHECK_STR(mc_ds_at(ds, 1)->answer, "Paris");
    CHECK_STR(mc_ds_at(ds, 1)->id, "9");
    CHECK_CONTAINS(mc_ds_warning(ds, 0), "c.jsonl:3: missing field 'q.text'");
    CHECK_CONTAINS(mc_ds_warning(ds, 1), "c.jsonl:4: missing field 'a'");
    mc_ds_free(ds);
    o.fields.prompt = NULL;
    CHECK_EQ_INT(mc_ds_load(&p, 1, &o, &ds, &d), MC_ERR_ARG);
}

/* ---- selection ------------------------------------------------------------------------------ */

static mc_ds *many(size_t n, const mc_ds_opts *o)
{
    mc_buf b;
    mc_buf_init(&b, 0);
    for (size_t i = 0; i < n; i++)
        mc_buf_printf(&b, "{\"question\": \"q%zu\", \"answer\": \"#### %zu\"}\n", i, i);
    const char *p = write_tmp("many.jsonl", b.data, b.len);
    mc_buf_deinit(&b);
    mc_ds *ds = NULL;
    mc_diag d;
    CHECK_EQ_INT(mc_ds_load(&p, 1, o, &ds, &d), MC_OK);
    return ds;
}

TEST(selection_limit_and_sample)
{
    mc_ds_opts o = {.fmt = MC_DS_GSM8K, .limit = 5};
    mc_ds *ds = many(100, &o);
    size_t n = 0;
    const size_t *sel = ds ? mc_ds_selected(ds, &n) : NULL;
    CHECK_EQ_INT(n, 5);
    for (size_t i = 0; sel && i < n; i++)
        CHECK_EQ_INT(sel[i], i);
    CHECK(ds && mc_ds_is_selected(ds, 4) && !mc_ds_is_selected(ds, 5));
    CHECK_EQ_INT(ds ? mc_ds_count(ds) : 0, 100); /* the rest stay loaded (few-shot pool) */
    mc_ds_free(ds);

    o = (mc_ds_opts){.fmt = MC_DS_GSM8K, .sample = 10, .seed = 7};
    mc_ds *a = many(100, &o), *b = many(100, &o);
    o.seed = 8;
    mc_ds *c = many(100, &o);
    size_t na, nb, nc;
    const size_t *sa = mc_ds_selected(a, &na), *sb = mc_ds_selected(b, &nb),
                 *sc = mc_ds_selected(c, &nc);
    CHECK_EQ_INT(na, 10);
    CHECK_EQ_INT(nc, 10);
    CHECK(memcmp(sa, sb, 10 * sizeof *sa) == 0);
    CHECK(memcmp(sa, sc, 10 * sizeof *sa) != 0);
    for (size_t i = 1; i < na; i++)
        CHECK(sa[i] > sa[i - 1]);
    mc_ds_free(a);
    mc_ds_free(b);
    mc_ds_free(c);
    o.sample = 1000; /* more than there are: everything */
    a = many(30, &o);
    CHECK_EQ_INT(mc_ds_selected(a, &na)[29], 29);
    CHECK_EQ_INT(na, 30);
    mc_ds_free(a);
    o.limit = 3;
    mc_diag d;
    const char *p = "x";
    CHECK_EQ_INT(mc_ds_load(&p, 1, &o, &a, &d), MC_ERR_ARG);
    CHECK_STR(d.msg, "--limit and --sample exclude each other");
}

/* --category: only that category's items take part; --limit and --sample apply among them. */
TEST(selection_category)
{
    static const char *cat[3] = {"law", "math", "biology"};
    mc_buf b;
    mc_buf_init(&b, 0);
    for (int i = 0; i < 10; i++)
        mc_buf_printf(&b, "{\"q\": \"q%d\", \"c\": \"%s\"}\n", i, cat[i % 3]);
    const char *p = write_tmp("cat.jsonl", b.data, b.len);
    mc_buf_deinit(&b);
    mc_ds_opts o = {.fmt = MC_DS_CUSTOM, .fields = {.prompt = "q", .category = "c"},
                    .category = "math", .limit = 2};
    mc_ds *ds = NULL;
    mc_diag d = {{0}};
    size_t n = 0;
    CHECK_EQ_INT(mc_ds_load(&p, 1, &o, &ds, &d), MC_OK);
    const size_t *sel = ds ? mc_ds_selected(ds, &n) : NULL;
    CHECK_EQ_INT(n, 2);
    CHECK(sel && sel[0] == 1 && sel[1] == 4); /* math: items 1, 4, 7 */
    CHECK_EQ_INT(ds ? mc_ds_count(ds) : 0, 10);
    mc_ds_free(ds);
    o.limit = 0;
    o.sample = 2;
    o.seed = 5;
    CHECK_EQ_INT(mc_ds_load(&p, 1, &o, &ds, &d), MC_OK);
    sel = ds ? mc_ds_selected(ds, &n) : NULL;
    CHECK_EQ_INT(n, 2);
    for (size_t i = 0; sel && i < n; i++)
        CHECK(sel[i] % 3 == 1 && (i == 0 || sel[i] > sel[i - 1]));
    mc_ds_free(ds);
    o.sample = 0;
    o.category = "Math"; /* exact match */
    CHECK_EQ_INT(mc_ds_load(&p, 1, &o, &ds, &d), MC_ERR_ARG);
    CHECK_STR(d.msg, "--category 'Math': no item of that category");
    CHECK(ds == NULL);
}

/* Each item is equally likely to be drawn: 20,000 samples of 3 from 10. */
TEST(sample_is_uniform)
{
    mc_ds_opts o = {.fmt = MC_DS_GSM8K, .sample = 3};
    mc_buf b;
    mc_buf_init(&b, 0);
    for (int i = 0; i < 10; i++)
        mc_buf_printf(&b, "{\"question\": \"q\", \"answer\": \"#### 1\"}\n");
    const char *p = write_tmp("ten.jsonl", b.data, b.len);
    mc_buf_deinit(&b);
    int hits[10] = {0};
    for (uint64_t s = 0; s < 2000; s++) {
        o.seed = s;
        mc_ds *ds = NULL;
        mc_diag d;
        if (mc_ds_load(&p, 1, &o, &ds, &d) != MC_OK)
            break;
        size_t n;
        const size_t *sel = mc_ds_selected(ds, &n);
        for (size_t i = 0; i < n; i++)
            hits[sel[i]]++;
        mc_ds_free(ds);
    }
    /* expected 600 each; sd = sqrt(2000 * 0.3 * 0.7) = 20.5 */
    for (int i = 0; i < 10; i++)
        CHECK(hits[i] > 600 - 5 * 21 && hits[i] < 600 + 5 * 21);
}

TEST(glob_and_formats)
{
    tmp_file("ga.jsonl", "{}");
    tmp_file("gb.jsonl", "{}");
    char pat[4200];
    snprintf(pat, sizeof pat, "%s/g?.jsonl", harness_tmpdir());
    char **paths = NULL;
    size_t n = 0;
    mc_diag d;
    CHECK_EQ_INT(mc_ds_glob(pat, &paths, &n, &d), MC_OK);
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        CHECK_CONTAINS(paths[0], "/ga.jsonl");
        CHECK_CONTAINS(paths[1], "/gb.jsonl");
    }
    mc_ds_paths_free(paths, n);
    snprintf(pat, sizeof pat, "%s/nothing-*.jsonl", harness_tmpdir());
    CHECK_EQ_INT(mc_ds_glob(pat, &paths, &n, &d), MC_ERR_NOT_FOUND);
    mc_ds_fmt f;
    CHECK_EQ_INT(mc_ds_fmt_parse("mmlu-pro", &f, &d), MC_OK);
    CHECK_EQ_INT(f, MC_DS_MMLU_PRO);
    CHECK_EQ_INT(mc_ds_fmt_parse("mmlu_pro", &f, &d), MC_ERR_ARG);
    CHECK_STR(mc_ds_fmt_name(MC_DS_LONGBENCH), "longbench");
    CHECK_EQ_INT(mc_ds_letter(9), 'J');
}

/* ---- the real data --------------------------------------------------------------------------- */

TEST(real_gsm8k_mtbench_sharegpt)
{
    const char *g = harness_data_path("gsm8k/test.jsonl");
    if (!g)
        SKIP("../shared/data not present");
    mc_diag d;
    mc_ds *ds = load1(g, MC_DS_AUTO, 1, &d);
    CHECK(ds != NULL);
    if (ds) {
        CHECK_EQ_INT(mc_ds_count(ds), 1319);
        CHECK_STR(mc_ds_at(ds, 0)->answer, "18");
        CHECK_CONTAINS(mc_ds_at(ds, 0)->text, "Janet\xE2\x80\x99s ducks lay 16 eggs");
        CHECK_STR(mc_ds_at(ds, 1318)->answer, "14");
    }
    mc_ds_free(ds);
    ds = load1(harness_data_path("mt_bench/question.jsonl"), MC_DS_AUTO, 1, &d);
    CHECK(ds && mc_ds_count(ds) == 80 && strcmp(mc_ds_at(ds, 0)->id, "81") == 0);
    mc_ds_free(ds);
    ds = load1(harness_data_path("sharegpt/ShareGPT_V3_filtered_500.json"), MC_DS_AUTO, 1, &d);
    CHECK(ds && mc_ds_count(ds) == 500 && strcmp(mc_ds_at(ds, 0)->id, "fzcoUcK_0") == 0);
    mc_ds_free(ds);
}

TEST(real_mmlu_pro_three_parts)
{
    const char *v = harness_data_path("mmlu_pro/validation.jsonl");
    if (!v)
        SKIP("../shared/data not present");
    char pat[4200];
    snprintf(pat, sizeof pat, "%s", v);
    snprintf(strrchr(pat, '/'), 64, "/test-*-of-00003.jsonl");
    char **paths = NULL;
    size_t n = 0;
    mc_diag d;
    CHECK_EQ_INT(mc_ds_glob(pat, &paths, &n, &d), MC_OK);
    CHECK_EQ_INT(n, 3);
    mc_ds_opts o = {.strict = 1};
    mc_ds *ds = NULL;
    CHECK_EQ_INT(mc_ds_load((const char *const *)paths, n, &o, &ds, &d), MC_OK);
    mc_ds_paths_free(paths, n);
    if (!ds)
        return;
    CHECK_EQ_INT(mc_ds_count(ds), 12032);
    size_t math = 0, hist = 0, nel = 0;
    for (size_t i = 0; i < mc_ds_count(ds); i++) {
        const mc_ds_item *it = mc_ds_at(ds, i);
        math += strcmp(it->category, "math") == 0;
        hist += strcmp(it->category, "history") == 0;
        if (strcmp(it->id, "5215") == 0) {
            nel++;
            CHECK_STR(it->text, "Role-learning theory suggests that\xC2\x85");
            CHECK_STR(it->answer, "E");
        }
    }
    CHECK_EQ_INT(math, 1351);
    CHECK_EQ_INT(hist, 381);
    CHECK_EQ_INT(nel, 1);
    mc_ds_free(ds);
    ds = load1(v, MC_DS_AUTO, 1, &d);
    CHECK(ds && mc_ds_count(ds) == 70);
    mc_ds_free(ds);
}

TEST(real_hellaswag_bz2)
{
    const char *h = harness_data_path("hellaswag/hellaswag_val_full.txt.bz2");
    if (!h)
        SKIP("../shared/data not present");
    mc_diag d;
    mc_ds *ds = load1(h, MC_DS_AUTO, 1, &d);
    CHECK(ds != NULL);
    if (!ds)
        return;
    CHECK_EQ_INT(mc_ds_count(ds), 10042);
    int counts[4] = {0};
    for (size_t i = 0; i < mc_ds_count(ds); i++)
        counts[mc_ds_at(ds, i)->gold]++;
    CHECK_EQ_INT(counts[0], 2515);
    CHECK_EQ_INT(counts[1], 2485);
    CHECK_EQ_INT(counts[2], 2584);
    CHECK_EQ_INT(counts[3], 2458);
    CHECK_STR(mc_ds_at(ds, 0)->text, "Roof shingle removal: A man is sitting on a roof. he");
    CHECK_STR(mc_ds_at(ds, 0)->choices[3], "starts pulling up roofing on a roof.");
    CHECK_EQ_INT(mc_ds_at(ds, 10041)->line, 60247);
    CHECK_EQ_INT(mc_ds_at(ds, 10041)->gold, 2);
    mc_ds_free(ds);
}

int main(void)
{
    RUN(gsm8k_records_and_bad_lines);
    RUN(empty_and_all_bad_are_errors);
    RUN(mmlu_pro_records);
    RUN(hellaswag_text_plain_and_bz2);
    RUN(hellaswag_jsonl);
    RUN(mmlu_csv_without_header);
    RUN(mmlu_and_arc_csv_with_header);
    RUN(mmlu_and_arc_jsonl);
    RUN(longbench_mtbench_sharegpt);
    RUN(custom_schema);
    RUN(selection_limit_and_sample);
    RUN(selection_category);
    RUN(sample_is_uniform);
    RUN(glob_and_formats);
    RUN(real_gsm8k_mtbench_sharegpt);
    RUN(real_mmlu_pro_three_parts);
    RUN(real_hellaswag_bz2);
    return harness_done();
}
