/* mock_rec.c: the mock server's side endpoints: the moecap recording protocol (and its
 * vLLM-style aliases) with synthetic per-pass records consistent with the responses it streams,
 * and a Prometheus /metrics page. What the records contain is specified in mock_server.h.
 * Test support only: depends on base and the mock's loop; runs on the loop thread only. */
#include "mock_int.h"

#include <stdio.h>
#include <string.h>

void mock_rec_deinit(struct mc_mock *m)
{
    mc_buf_deinit(&m->rec);
}

void mock_note_generation(struct mc_mock *m, const mock_job *j)
{
    static const double le[3] = {0.01, 0.1, 1};
    double ttft = (double)j->ttft * 1e-9;
    int b = 0;
    while (b < 3 && ttft > le[b])
        b++;
    m->ttft_buckets[b]++;
    m->ttft_sum_s += ttft;
    m->prompt_tokens_total += j->prompt_tokens;
}

static double at_least_1us(mc_ns t)
{
    return t > 1000 ? (double)t * 1e-9 : 1e-6;
}

void mock_record_event(struct mc_mock *m, const mock_job *j, uint32_t tokens)
{
    m->stream_tokens_total += tokens;
    if (!m->rec_on)
        return;
    uint64_t prompt = j->prompt_tokens ? j->prompt_tokens : 1;
    int prefill = j->events == 1; /* the first event carries the token the prefill made */
    uint64_t b = prefill || m->streaming == 0 ? 1 : m->streaming;
    uint64_t new_tokens = prefill ? prompt : b * (tokens ? tokens : 1);
    uint64_t seq = prefill ? prompt : b * (prompt + j->sent_tokens);
    uint64_t act = m->o.rec_top_k * new_tokens;
    if (act > m->o.rec_experts)
        act = m->o.rec_experts;
    char line[320];
    int n = snprintf(line, sizeof line,
                     "{\"forward_pass_id\":%llu,\"forward_mode\":\"%s\",\"batch_size\":%llu,"
                     "\"new_tokens\":%llu,\"seq_lens_sum\":%llu,\"latency\":%.9g,"
                     "\"expert_activation\":%llu}\n",
                     (unsigned long long)m->rec_pass_id++, prefill ? "prefill" : "decode",
                     (unsigned long long)b, (unsigned long long)new_tokens, (unsigned long long)seq,
                     at_least_1us(prefill ? j->ttft : j->itl), (unsigned long long)act);
    atomic_fetch_add_explicit(&m->st_records, 1, memory_order_relaxed);
    if (mc_buf_append(&m->rec, line, (size_t)n) != MC_OK) {
        m->rec_dropped++; /* over the cap: newer records are dropped and counted */
        return;
    }
    m->rec_n++;
}

static void rec_clear(struct mc_mock *m)
{
    mc_buf_reset(&m->rec);
    m->rec_n = m->rec_dropped = 0;
    atomic_store(&m->st_records, 0);
}

static void control_reply(struct mc_mock *m, mock_conn *c, int vllm)
{
    char body[160];
    int n = snprintf(
        body, sizeof body, "{\"status\":\"%s\",\"recording\":%s,\"total_records\":%llu}",
        vllm ? "success" : "ok", m->rec_on ? "true" : "false", (unsigned long long)m->rec_n);
    mock_respond(c, 200, "application/json", body, (size_t)n);
}

static void records_jsonl(struct mc_mock *m, mock_conn *c)
{
    char hdr[128];
    snprintf(hdr, sizeof hdr, "X-Moecap-Records: %llu\r\nX-Moecap-Dropped: %llu\r\n",
             (unsigned long long)m->rec_n, (unsigned long long)m->rec_dropped);
    mock_respond_hdr(c, 200, "application/x-ndjson", hdr, m->rec.data ? m->rec.data : "",
                     m->rec.len);
}

/* {"status": "success", "records": [...], "total_records": n}: the lines joined by commas. */
static void records_dump(struct mc_mock *m, mock_conn *c)
{
    mc_buf b;
    mc_buf_init(&b, 0);
    mc_buf_append(&b, "{\"status\":\"success\",\"records\":[", 31);
    const char *p = m->rec.data, *end = p ? p + m->rec.len : NULL;
    for (int first = 1; p && p < end; first = 0) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);
        if (!first)
            mc_buf_append(&b, ",", 1);
        mc_buf_append(&b, p, n);
        p += n + 1;
    }
    mc_buf_printf(&b, "],\"total_records\":%llu}", (unsigned long long)m->rec_n);
    mock_respond(c, 200, "application/json", b.data ? b.data : "", b.len);
    mc_buf_deinit(&b);
}

static void metrics_page(struct mc_mock *m, mock_conn *c)
{
    mc_buf b;
    mc_buf_init(&b, 0);
    mc_buf_printf(&b,
                  "# HELP mock_requests_total HTTP requests parsed.\n"
                  "# TYPE mock_requests_total counter\nmock_requests_total %llu\n"
                  "# TYPE mock_generations_total counter\n"
                  "mock_generations_total{model=\"mock-model\"} %llu\n"
                  "# TYPE mock_prompt_tokens_total counter\nmock_prompt_tokens_total %llu\n"
                  "# TYPE mock_generation_tokens_total counter\n"
                  "mock_generation_tokens_total %llu 1700000000000\n"
                  "# TYPE mock_active_streams gauge\nmock_active_streams %u\n"
                  "# TYPE mock_info gauge\nmock_info{note=\"a \\\"quoted\\\" } brace\"} 1\n",
                  (unsigned long long)atomic_load(&m->st_requests),
                  (unsigned long long)atomic_load(&m->st_generations),
                  (unsigned long long)m->prompt_tokens_total,
                  (unsigned long long)m->stream_tokens_total, m->streaming);
    static const char *const le[4] = {"0.01", "0.1", "1", "+Inf"};
    uint64_t cum = 0;
    mc_buf_printf(&b, "# TYPE mock_ttft_seconds histogram\n");
    for (int i = 0; i < 4; i++) {
        cum += m->ttft_buckets[i];
        mc_buf_printf(&b, "mock_ttft_seconds_bucket{le=\"%s\"} %llu\n", le[i],
                      (unsigned long long)cum);
    }
    mc_buf_printf(&b, "mock_ttft_seconds_sum %.9g\nmock_ttft_seconds_count %llu\n", m->ttft_sum_s,
                  (unsigned long long)cum);
    mock_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", b.data ? b.data : "", b.len);
    mc_buf_deinit(&b);
}

static int recording_route(struct mc_mock *m, mock_conn *c, int post, const char *path)
{
    int moecap = m->o.recording == MC_MOCK_REC_MOECAP;
    int start = post && ((moecap && strcmp(path, "/moecap/record/start") == 0) ||
                         strcmp(path, "/start_batch_recording") == 0);
    int stop = post && ((moecap && strcmp(path, "/moecap/record/stop") == 0) ||
                        strcmp(path, "/stop_batch_recording") == 0);
    if (start || stop) {
        if (start)
            rec_clear(m);
        m->rec_on = start;
        control_reply(m, c, path[1] != 'm');
    } else if (!post && moecap && strcmp(path, "/moecap/records") == 0) {
        records_jsonl(m, c);
    } else if (post && strcmp(path, "/dump_batch_recording") == 0) {
        records_dump(m, c);
    } else {
        return 0;
    }
    return 1;
}

int mock_side_route(struct mc_mock *m, mock_conn *c, int post, const char *path)
{
    if (!post && m->o.metrics && strcmp(path, "/metrics") == 0) {
        metrics_page(m, c);
        return 1;
    }
    return m->o.recording != MC_MOCK_REC_NONE && recording_route(m, c, post, path);
}
