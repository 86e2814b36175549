/* The "openai" backend against our own `inference serve` on the bundled
 * model, compared with the cpu backend in this process through the same
 * public API: greedy Generate gives the same text and token count (the
 * golden prompts of tests/fixtures/golden/brown.json), Chat, Classify,
 * BatchGenerate with a per-prompt error, stop strings, seeded sampling,
 * usage metrics, cancellation from another thread, and errors (nothing
 * listening -> INF_E_NETWORK, an unknown model -> INF_E_NOT_FOUND).
 * Usage: test_openai_server PATH_OF_inference */
#include <jansson.h>
#include <pthread.h>

#include "inference.h"
#include "remote_util.h"
#include "testutil.h"

#define MODEL_DIR INF_SOURCE_DIR "/models/brown-llama-8m"
#define N_PROMPTS 4

static char api[128];
static const char *prompts[N_PROMPTS];
static int n_prompt_ids[N_PROMPTS];
static json_t *golden;

typedef struct run {
    char text[8192];
    size_t len;
    int n_tokens;
    int end;
    int err;
    inf_finish_reason finish;
    inf_metrics mt;
} run;

static void generate(inf_model *m, const char *prompt, const inf_message *msgs,
                     size_t n_msgs, const inf_generate_options *o, run *r) {
    memset(r, 0, sizeof *r);
    inf_stream *s = NULL;
    int rc = msgs ? inf_chat(m, msgs, n_msgs, o, &s) : inf_generate(m, prompt, o, &s);
    if (rc != INF_OK) {
        r->end = rc;
        r->err = rc;
        snprintf(r->text, sizeof r->text, "%s", inf_model_errmsg(m));
        return;
    }
    inf_token t;
    int got;
    while ((got = inf_stream_next(s, &t)) == 1) {
        if (r->len + t.text_len < sizeof r->text) {
            memcpy(r->text + r->len, t.text, t.text_len);
            r->len += t.text_len;
            r->text[r->len] = '\0';
        }
        r->n_tokens++;
    }
    r->end = got;
    r->err = inf_stream_err(s);
    r->finish = inf_stream_finish_reason(s);
    inf_stream_metrics(s, &r->mt);
    if (r->err != INF_OK)
        snprintf(r->text, sizeof r->text, "%s", inf_stream_errmsg(s));
    inf_stream_close(&s);
}

static inf_model *load(const char *path, const char *backend, const char *name) {
    inf_load_options lo;
    inf_load_options_default(&lo);
    lo.backend = backend;
    lo.model_name = name;
    /* the in-process model computes as `inference serve` does by default
     * (precision fast): seeded sampling must give the same text, and fast
     * rounds BF16 decode's x where exact does not */
    if (strcmp(backend, "cpu") == 0) lo.precision = INF_PRECISION_FAST;
    inf_model *m = NULL;
    char *err = NULL;
    int rc = inf_model_load(path, &lo, &m, &err);
    CHECK_MSG(rc == INF_OK, "load %s with %s: %s", path, backend, err ? err : "");
    inf_free(err);
    return m;
}

static void test_greedy(inf_model *cpu, inf_model *remote) {
    inf_generate_options o;
    inf_generate_options_default(&o);
    o.max_tokens = 40;
    for (int i = 0; i < N_PROMPTS; i++) {
        run a, b;
        generate(cpu, prompts[i], NULL, 0, &o, &a);
        generate(remote, prompts[i], NULL, 0, &o, &b);
        CHECK_EQ_INT(a.err, INF_OK);
        CHECK_EQ_INT(b.err, INF_OK);
        CHECK_EQ_STR(b.text, a.text);
        /* A token whose text the cpu stream holds back (""; the bytes come
         * with the next one) is not sent as a chunk by the server, so the
         * client may see fewer pieces; usage counts every token. */
        CHECK(b.n_tokens <= a.n_tokens && b.n_tokens >= a.n_tokens - 4);
        CHECK_EQ_INT(b.finish, a.finish);
        /* usage: the prompt as tokenized by the server (with BOS), and
         * the generated count */
        CHECK_EQ_INT(b.mt.prompt_tokens, n_prompt_ids[i]);
        CHECK_EQ_INT(b.mt.generated_tokens, a.mt.generated_tokens);
        CHECK(b.mt.total_seconds > 0);
        printf("prompt %d: %lld tokens; cpu in-process %.3f s, via inference "
               "serve %.3f s (first token after %.3f s)\n", i,
               (long long)b.mt.generated_tokens, a.mt.total_seconds,
               b.mt.total_seconds, b.mt.prefill_seconds);
        /* Both match the transformers reference (brown.json). */
        const char *gt = json_string_value(json_object_get(
            json_array_get(json_object_get(golden, "prompts"), (size_t)i), "greedy_text"));
        CHECK_MSG(gt && strcmp(b.text, gt) == 0, "prompt %d: remote \"%s\" vs golden \"%s\"",
                  i, b.text, gt ? gt : "");
    }
    /* Token-id prompts (the golden ids, BOS included) give the same text. */
    json_t *ids = json_object_get(json_array_get(json_object_get(golden, "prompts"), 0),
                                  "prompt_ids");
    int32_t pid[16];
    size_t n = json_array_size(ids);
    for (size_t k = 0; k < n && k < 16; k++)
        pid[k] = (int32_t)json_integer_value(json_array_get(ids, k));
    o.prompt_ids = pid;
    o.n_prompt_ids = n;
    run a, b;
    generate(cpu, NULL, NULL, 0, &o, &a);
    generate(remote, NULL, NULL, 0, &o, &b);
    CHECK_EQ_INT(b.err, INF_OK);
    CHECK_EQ_STR(b.text, a.text);
    CHECK_EQ_INT(b.mt.prompt_tokens, (int64_t)n);
}

static void test_sampling_and_stops(inf_model *cpu, inf_model *remote) {
    inf_generate_options o;
    inf_generate_options_default(&o);
    o.max_tokens = 40;
    run a, b, c;
    /* A stop string from the middle of the greedy text. */
    generate(cpu, prompts[0], NULL, 0, &o, &a);
    const char *stop[] = {"good"};
    o.stop_strings = stop;
    o.n_stop_strings = 1;
    generate(cpu, prompts[0], NULL, 0, &o, &b);
    generate(remote, prompts[0], NULL, 0, &o, &c);
    CHECK(strstr(a.text, "good") != NULL);
    CHECK_EQ_INT(c.err, INF_OK);
    CHECK_EQ_STR(c.text, b.text);
    CHECK(strstr(c.text, "good") == NULL && strlen(c.text) < strlen(a.text));
    CHECK_EQ_INT(c.finish, INF_FINISH_STOP);
    o.n_stop_strings = 0;
    /* Seeded sampling: the same seed gives the same text twice remotely,
     * and the text the cpu backend samples with that seed. */
    o.temperature = 0.9f;
    o.top_k = 40;
    o.top_p = 0.95f;
    o.seed = 1234;
    generate(remote, prompts[1], NULL, 0, &o, &a);
    generate(remote, prompts[1], NULL, 0, &o, &b);
    generate(cpu, prompts[1], NULL, 0, &o, &c);
    CHECK_EQ_INT(a.err, INF_OK);
    CHECK_EQ_STR(a.text, b.text);
    CHECK_EQ_STR(a.text, c.text);
    /* max_tokens reached */
    inf_generate_options_default(&o);
    o.max_tokens = 3;
    generate(remote, prompts[2], NULL, 0, &o, &a);
    CHECK_EQ_INT(a.n_tokens, 3);
    CHECK_EQ_INT(a.finish, INF_FINISH_LENGTH);
}

static void test_chat(inf_model *cpu, inf_model *remote) {
    inf_message msgs[] = {{"user", "Tell me about the jury."}};
    inf_generate_options o;
    inf_generate_options_default(&o);
    o.max_tokens = 20;
    run a, b;
    generate(cpu, NULL, msgs, 1, &o, &a);
    generate(remote, NULL, msgs, 1, &o, &b);
    CHECK_EQ_INT(b.err, a.err);
    CHECK_MSG(b.err == INF_OK ? strcmp(a.text, b.text) == 0 : 1,
              "chat: cpu \"%s\" remote \"%s\"", a.text, b.text);
    CHECK(b.n_tokens > 0);
    CHECK(b.mt.prompt_tokens > 5);
}

static void test_classify_batch(inf_model *cpu, inf_model *remote) {
    inf_generate_options o;
    inf_generate_options_default(&o);
    inf_classify_result *ca = NULL, *cb = NULL;
    CHECK_EQ_INT(inf_classify(cpu, prompts, N_PROMPTS, &o, &ca), INF_OK);
    CHECK_EQ_INT(inf_classify(remote, prompts, N_PROMPTS, &o, &cb), INF_OK);
    for (int i = 0; ca && cb && i < N_PROMPTS; i++) {
        CHECK_EQ_INT(cb[i].status, INF_OK);
        CHECK_EQ_STR(cb[i].text, ca[i].text);
    }
    inf_classify_results_free(ca, N_PROMPTS);
    inf_classify_results_free(cb, N_PROMPTS);

    /* A prompt longer than the context fails alone. */
    size_t big_len = 40000;
    char *big = malloc(big_len + 1);
    for (size_t k = 0; k < big_len; k += 5) memcpy(big + k, "word ", 5);
    big[big_len] = '\0';
    const char *ps[N_PROMPTS + 1];
    for (int i = 0; i < N_PROMPTS; i++) ps[i] = prompts[i];
    ps[N_PROMPTS] = big;
    o.max_tokens = 24;
    inf_batch_result *ba = NULL, *bb = NULL;
    CHECK_EQ_INT(inf_batch_generate(cpu, ps, N_PROMPTS, &o, &ba), INF_OK);
    double t0 = ru_now();
    CHECK_EQ_INT(inf_batch_generate(remote, ps, N_PROMPTS + 1, &o, &bb), INF_OK);
    double took = ru_now() - t0;
    for (int i = 0; ba && bb && i < N_PROMPTS; i++) {
        CHECK_EQ_INT(bb[i].status, INF_OK);
        CHECK_EQ_STR(bb[i].text, ba[i].text);
        CHECK(bb[i].n_tokens <= ba[i].n_tokens); /* see test_greedy */
        CHECK_EQ_INT(bb[i].metrics.generated_tokens, ba[i].metrics.generated_tokens);
    }
    if (bb) {
        CHECK_EQ_INT(bb[N_PROMPTS].status, INF_E_REMOTE);
        CHECK_MSG(bb[N_PROMPTS].error && strstr(bb[N_PROMPTS].error, "HTTP 4"),
                  "%s", bb[N_PROMPTS].error ? bb[N_PROMPTS].error : "");
    }
    printf("batch of %d remote generations: %.2f s\n", N_PROMPTS, took);
    inf_batch_results_free(ba, N_PROMPTS);
    inf_batch_results_free(bb, N_PROMPTS + 1);
    free(big);
}

typedef struct canceller {
    inf_stream *s;
    double at;
} canceller;

static void *cancel_soon(void *p) {
    canceller *c = p;
    ru_sleep_ms(100);
    c->at = ru_now();
    inf_stream_cancel(c->s);
    return NULL;
}

static void test_cancel(inf_model *remote) {
    inf_generate_options o;
    inf_generate_options_default(&o);
    o.max_tokens = 800;
    o.ignore_eos = 1;
    inf_stream *s = NULL;
    CHECK_EQ_INT(inf_generate(remote, prompts[3], &o, &s), INF_OK);
    inf_token t;
    CHECK_EQ_INT(inf_stream_next(s, &t), 1);
    canceller c = {s, 0};
    pthread_t th;
    pthread_create(&th, NULL, cancel_soon, &c);
    int r, n = 1;
    while ((r = inf_stream_next(s, &t)) == 1) n++;
    double end = ru_now();
    pthread_join(th, NULL);
    CHECK_EQ_INT(r, INF_E_CANCELLED);
    CHECK_MSG(end - c.at < 0.5, "cancel took %.3f s", end - c.at);
    CHECK(n < 800);
    inf_stream_close(&s);
    /* The server is still fine afterwards. */
    run a;
    inf_generate_options_default(&o);
    o.max_tokens = 5;
    generate(remote, prompts[0], NULL, 0, &o, &a);
    CHECK_EQ_INT(a.err, INF_OK);
    CHECK_EQ_INT(a.n_tokens, 5);
}

static void test_errors(void) {
    inf_load_options lo;
    inf_load_options_default(&lo);
    lo.backend = "openai";
    inf_model *m = NULL;
    char *err = NULL;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", ru_free_port());
    CHECK_EQ_INT(inf_model_load(url, &lo, &m, &err), INF_E_NETWORK);
    CHECK_MSG(err && strstr(err, url), "%s", err ? err : "");
    inf_free(err);
    err = NULL;
    lo.model_name = "no-such-model";
    CHECK_EQ_INT(inf_model_load(api, &lo, &m, &err), INF_E_NOT_FOUND);
    CHECK_MSG(err && strstr(err, "no-such-model") && strstr(err, "brown-llama-8m"),
              "%s", err ? err : "");
    inf_free(err);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH_OF_inference\n", argv[0]);
        return 2;
    }
    golden = json_load_file(INF_FIXTURES "/golden/brown.json", 0, NULL);
    if (!golden) {
        fprintf(stderr, "cannot read brown.json\n");
        return 1;
    }
    for (int i = 0; i < N_PROMPTS; i++) {
        json_t *p = json_array_get(json_object_get(golden, "prompts"), (size_t)i);
        prompts[i] = json_string_value(json_object_get(p, "prompt"));
        n_prompt_ids[i] = (int)json_array_size(json_object_get(p, "prompt_ids"));
    }
    int port = ru_free_port();
    char ports[16];
    snprintf(ports, sizeof ports, "%d", port);
    char *sargv[] = {argv[1], "serve", "-m", MODEL_DIR, "--port", ports,
                     "--parallel", "4", NULL};
    char log[256];
    snprintf(log, sizeof log, "%s/test_openai_server.log", INF_TEST_LOG_DIR);
    pid_t pid = ru_spawn(sargv, NULL, log);
    char health[128];
    snprintf(health, sizeof health, "http://127.0.0.1:%d/health", port);
    snprintf(api, sizeof api, "http://127.0.0.1:%d/v1", port);
    if (!ru_wait_http(health, 60, pid)) {
        fprintf(stderr, "inference serve did not start (log: %s)\n", log);
        ru_stop(pid);
        return 1;
    }
    inf_model *cpu = load(MODEL_DIR, "cpu", NULL);
    inf_model *remote = load(api, "openai", NULL);
    if (cpu && remote) {
        inf_model_info info;
        inf_model_info_get(remote, &info);
        CHECK_EQ_STR(info.backend, "openai");
        CHECK_EQ_STR(inf_model_type(remote), "llama");
        CHECK_EQ_INT(info.vocab_size, 32000);
        test_greedy(cpu, remote);
        test_sampling_and_stops(cpu, remote);
        test_chat(cpu, remote);
        test_classify_batch(cpu, remote);
        test_cancel(remote);
        test_errors();
    }
    inf_model_close(&remote);
    inf_model_close(&cpu);
    ru_stop(pid);
    json_decref(golden);
    return tu_summary("test_openai_server");
}
