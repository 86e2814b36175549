/* The engine's behaviour through the public API on the bundled model
 * (backend "cpu"): streaming chat with cancellation and deadlines,
 * concurrency, Classify and BatchGenerate against unbatched runs, stop
 * strings, stop ids, max tokens, context limits, return_logits, seeded
 * sampling, info and metrics, close safety.  Reference values are the
 * model's own unbatched greedy outputs (the golden test pins those to
 * transformers), so every comparison can fail. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "engine_testutil.h"

static const char *prompts[4] = {"The jury said", "Once upon a time",
                                 "In the morning, the",
                                 "The president of the United States"};

static inf_model *g_m; /* brown, default context, 4 slots */

static void gen_opts(inf_generate_options *o, int32_t max_tokens) {
    inf_generate_options_default(o);
    o->max_tokens = max_tokens;
}

/* ---- info, metrics ------------------------------------------------------ */

static void test_info(void) {
    inf_model_info info;
    CHECK_EQ_INT(inf_model_info_get(g_m, &info), INF_OK);
    CHECK_EQ_STR(info.architecture, "llama");
    CHECK_EQ_STR(info.backend, "cpu");
    CHECK_EQ_INT(info.vocab_size, 32000);
    CHECK_EQ_INT(info.n_layers, 6);
    CHECK_EQ_INT(info.hidden_size, 192);
    CHECK_EQ_INT(info.quant_bits, 0);
    /* default context: min(max_position_embeddings 1024, 4096) */
    CHECK_EQ_INT(info.context_length, 1024);
    CHECK(info.weight_bytes > 8000000);
    CHECK_EQ_STR(inf_model_type(g_m), "llama");

    inf_model *q = et_load(BROWN "-mlx4", 0, 0);
    if (q) {
        CHECK_EQ_INT(inf_model_info_get(q, &info), INF_OK);
        CHECK_EQ_INT(info.quant_bits, 4);
        CHECK_EQ_INT(info.quant_group, 64);
        inf_model_close(&q);
    }
}

static void test_metrics(void) {
    inf_generate_options o;
    gen_opts(&o, 12);
    static et_run r;
    et_generate(g_m, prompts[1], NULL, 0, &o, &r);
    CHECK_EQ_INT(r.rc, INF_OK);
    CHECK_EQ_INT(r.metrics.prompt_tokens, 5); /* <s> Once upon a time */
    CHECK_EQ_INT(r.metrics.generated_tokens, 12);
    CHECK(r.metrics.total_seconds > 0);
    CHECK(r.metrics.total_seconds >=
          r.metrics.prefill_seconds + r.metrics.decode_seconds - 1e-6);
    CHECK(r.metrics.decode_tokens_per_second > 0);
    CHECK(r.metrics.prefill_tokens_per_second > 0);
    CHECK(r.metrics.peak_memory_bytes >= r.metrics.active_memory_bytes);
    CHECK(r.metrics.active_memory_bytes > 0);
    inf_metrics mm;
    CHECK_EQ_INT(inf_model_metrics(g_m, &mm), INF_OK);
    CHECK_EQ_INT(mm.generated_tokens, 12);
    CHECK_EQ_INT(mm.prompt_tokens, 5);
}

/* ---- stops, limits --------------------------------------------------------- */

static void test_stops(void) {
    inf_generate_options o;
    gen_opts(&o, 40);
    static et_run ref, r;
    et_generate(g_m, prompts[0], NULL, 0, &o, &ref);
    CHECK_EQ_INT(ref.n, 40);

    /* max_tokens: a prefix of the reference, finish LENGTH */
    gen_opts(&o, 7);
    et_generate(g_m, prompts[0], NULL, 0, &o, &r);
    CHECK_EQ_INT(r.n, 7);
    CHECK(memcmp(r.ids, ref.ids, 7 * sizeof *r.ids) == 0);
    CHECK_EQ_INT(r.finish, INF_FINISH_LENGTH);

    /* stop id: the 6th reference token ends the stream before it */
    int32_t stop_id = ref.ids[5];
    size_t first = 0;
    while (ref.ids[first] != stop_id) first++;
    gen_opts(&o, 40);
    o.stop_ids = &stop_id;
    o.n_stop_ids = 1;
    et_generate(g_m, prompts[0], NULL, 0, &o, &r);
    CHECK_EQ_INT(r.finish, INF_FINISH_STOP);
    CHECK_EQ_INT(r.err, INF_OK);
    CHECK_EQ_INT(r.n, first);
    CHECK(memcmp(r.ids, ref.ids, first * sizeof *r.ids) == 0);

    /* stop string: a piece from the middle of the reference text (spanning
     * token boundaries); the text ends right before its first occurrence */
    char stop[16];
    size_t at = ref.text_len / 2;
    memcpy(stop, ref.text + at, 5);
    stop[5] = '\0';
    const char *first_at = strstr(ref.text, stop);
    size_t want = (size_t)(first_at - ref.text);
    const char *stops[2] = {"zzzqqq", stop};
    gen_opts(&o, 40);
    o.stop_strings = stops;
    o.n_stop_strings = 2;
    et_generate(g_m, prompts[0], NULL, 0, &o, &r);
    CHECK_EQ_INT(r.finish, INF_FINISH_STOP);
    CHECK_EQ_INT(r.text_len, want);
    CHECK(strncmp(r.text, ref.text, want) == 0);
    CHECK(strstr(r.text, stop) == NULL);
    printf("  stop string \"%s\": %zu bytes of text, %zu tokens\n", stop,
           r.text_len, r.n);

    /* a stop string that never occurs changes nothing */
    const char *never[1] = {"#never#"};
    o.stop_strings = never;
    o.n_stop_strings = 1;
    et_generate(g_m, prompts[0], NULL, 0, &o, &r);
    CHECK_EQ_STR(r.text, ref.text);
    CHECK_EQ_INT(r.n, 40);

    /* held-back text is released at the end: a stop string that starts
     * with the last bytes of the text never matches, and the held tokens
     * and text all arrive */
    char tailstop[8];
    memcpy(tailstop, ref.text + ref.text_len - 2, 2);
    memcpy(tailstop + 2, "\x01", 2);
    const char *tstop[1] = {tailstop};
    o.stop_strings = tstop;
    o.n_stop_strings = 1;
    et_generate(g_m, prompts[0], NULL, 0, &o, &r);
    CHECK_EQ_STR(r.text, ref.text);
    CHECK_EQ_INT(r.n, 40);
    CHECK(memcmp(r.ids, ref.ids, sizeof(int32_t) * 40) == 0);
    CHECK_EQ_INT(r.finish, INF_FINISH_LENGTH);

    /* a stop string that matches a prefix of one token's text: everything
     * before it still arrives */
    char pre[8];
    memcpy(pre, ref.text, 3);
    pre[3] = '\0';
    const char *pstop[1] = {pre};
    o.stop_strings = pstop;
    et_generate(g_m, prompts[0], NULL, 0, &o, &r);
    CHECK_EQ_INT(r.finish, INF_FINISH_STOP);
    CHECK_EQ_INT(r.text_len, (size_t)(strstr(ref.text, pre) - ref.text));
}

static void test_context(void) {
    inf_model *m = et_load(BROWN, 64, 2);
    if (!m) return;
    inf_generate_options o;
    gen_opts(&o, 1000);
    o.ignore_eos = 1;
    static et_run r;
    /* context end: prompt 5 tokens, then 64 - 5 + 1 tokens fit (the last
     * sampled token need not be cached) */
    et_generate(m, prompts[1], NULL, 0, &o, &r);
    CHECK_EQ_INT(r.err, INF_OK);
    CHECK_EQ_INT(r.finish, INF_FINISH_LENGTH);
    CHECK_EQ_INT(r.n, 60);

    /* a prompt longer than the context */
    char longp[2048] = "";
    for (int i = 0; i < 30; i++) strcat(longp, "the jury said that ");
    inf_stream *s = NULL;
    int rc = inf_generate(m, longp, &o, &s);
    CHECK_EQ_INT(rc, INF_E_CONTEXT_LENGTH);
    CHECK(s == NULL);
    CHECK_MSG(strstr(inf_model_errmsg(m), "context") != NULL, "msg: %s",
              inf_model_errmsg(m));
    printf("  too long: %s\n", inf_model_errmsg(m));

    /* Classify: the too-long prompt fails alone */
    const char *cp[3] = {prompts[0], longp, prompts[2]};
    inf_classify_result *cr = NULL;
    gen_opts(&o, 1);
    CHECK_EQ_INT(inf_classify(m, cp, 3, &o, &cr), INF_OK);
    if (cr) {
        CHECK_EQ_INT(cr[0].status, INF_OK);
        CHECK_EQ_INT(cr[1].status, INF_E_CONTEXT_LENGTH);
        CHECK(cr[1].error && strstr(cr[1].error, "context"));
        CHECK_EQ_INT(cr[2].status, INF_OK);
        inf_classify_results_free(cr, 3);
    }
    /* BatchGenerate likewise */
    inf_batch_result *br = NULL;
    gen_opts(&o, 5);
    CHECK_EQ_INT(inf_batch_generate(m, cp, 3, &o, &br), INF_OK);
    if (br) {
        CHECK_EQ_INT(br[0].status, INF_OK);
        CHECK_EQ_INT(br[0].n_tokens, 5);
        CHECK_EQ_INT(br[1].status, INF_E_CONTEXT_LENGTH);
        CHECK_EQ_INT(br[2].status, INF_OK);
        inf_batch_results_free(br, 3);
    }

    /* the queue is bounded: with every slot busy, request 300 more */
    gen_opts(&o, 1000);
    o.ignore_eos = 1;
    inf_stream *ss[300];
    int busy = 0, ok = 0;
    for (int i = 0; i < 300; i++) {
        ss[i] = NULL;
        rc = inf_generate(m, prompts[0], &o, &ss[i]);
        if (rc == INF_OK) ok++;
        else if (rc == INF_E_BUSY) busy++;
    }
    printf("  300 requests on 2 slots: %d accepted, %d busy\n", ok, busy);
    CHECK(busy > 0);
    CHECK(ok >= 256);
    for (int i = 0; i < 300; i++) inf_stream_close(&ss[i]);
    /* the model still works after closing them all */
    gen_opts(&o, 3);
    et_generate(m, prompts[0], NULL, 0, &o, &r);
    CHECK_EQ_INT(r.n, 3);
    inf_model_close(&m);
}

/* ---- logits, sampling ------------------------------------------------------ */

static void test_logits(void) {
    inf_generate_options o;
    gen_opts(&o, 3);
    o.return_logits = 1;
    inf_stream *s = NULL;
    CHECK_EQ_INT(inf_generate(g_m, prompts[2], &o, &s), INF_OK);
    if (!s) return;
    inf_token t;
    int32_t ids[3];
    static float first[32000];
    int n = 0;
    while (inf_stream_next(s, &t) == 1 && n < 3) {
        CHECK(t.logits != NULL);
        CHECK_EQ_INT(t.n_logits, 32000);
        if (!t.logits) break;
        int32_t am = 0;
        for (int32_t i = 1; i < t.n_logits; i++)
            if (t.logits[i] > t.logits[am]) am = i;
        CHECK_EQ_INT(am, t.id); /* greedy: the token is the argmax */
        if (n == 0) memcpy(first, t.logits, sizeof first);
        ids[n++] = t.id;
    }
    inf_stream_close(&s);
    CHECK_EQ_INT(n, 3);
    /* the first token's logits are the last prompt row of inf_model_logits */
    int32_t pids[6] = {1, 560, 272, 3970, 28725, 272};
    float *all = NULL;
    int32_t vocab = 0;
    char *err = NULL;
    CHECK_EQ_INT(inf_model_logits(g_m, pids, 6, &all, &vocab, &err), INF_OK);
    inf_free(err);
    if (all) {
        double md = 0;
        for (int32_t i = 0; i < vocab; i++) {
            double d = fabs((double)all[5 * vocab + i] - first[i]);
            if (d > md) md = d;
        }
        CHECK_MSG(md <= 1e-4, "stream vs logits op: %g", md);
        inf_free(all);
    }
    (void)ids;
}

/* A prompt longer than one step's 512 rows is prefilled in chunks while
 * other sequences decode; its next-token logits equal the last row of the
 * logits op (which prefills in 64-row chunks). */
static void test_long_prompt(void) {
    static char longp[8192];
    longp[0] = '\0';
    for (int i = 0; i < 100; i++)
        strcat(longp, i % 2 ? "the jury said that the city was " :
                              "in the morning of the long day ");
    inf_tokenizer *tk = NULL;
    CHECK_EQ_INT(inf_tokenizer_load(BROWN, &tk, NULL), INF_OK);
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK_EQ_INT(inf_tokenize(tk, longp, strlen(longp), 1, &ids, &n, NULL),
                 INF_OK);
    inf_tokenizer_free(tk);
    CHECK(n > 600 && n < 1000);
    /* a decoding neighbour while the long prompt prefills */
    inf_generate_options o;
    gen_opts(&o, 30);
    o.ignore_eos = 1;
    inf_stream *other = NULL;
    CHECK_EQ_INT(inf_generate(g_m, prompts[0], &o, &other), INF_OK);
    gen_opts(&o, 2);
    o.return_logits = 1;
    inf_stream *s = NULL;
    CHECK_EQ_INT(inf_generate(g_m, longp, &o, &s), INF_OK);
    inf_token t;
    static float first[32000];
    int got = s && inf_stream_next(s, &t) == 1 && t.logits;
    CHECK(got);
    if (got) memcpy(first, t.logits, sizeof first);
    inf_stream_close(&s);
    static et_run r;
    memset(&r, 0, sizeof r);
    if (other) et_drain(other, &r);
    CHECK_EQ_INT(r.n, 30);
    float *all = NULL;
    int32_t vocab = 0;
    CHECK_EQ_INT(inf_model_logits(g_m, ids, n, &all, &vocab, NULL), INF_OK);
    if (all && got) {
        double md = 0;
        for (int32_t i = 0; i < vocab; i++) {
            double d = fabs((double)all[(n - 1) * vocab + i] - first[i]);
            if (d > md) md = d;
        }
        CHECK_MSG(md <= 1e-4, "%zu-token prompt: chunked prefill vs logits "
                  "op differ by %g", n, md);
        printf("  %zu-token prompt: max |diff| %.3g\n", n, md);
    }
    inf_free(all);
    inf_free(ids);
}

static void test_seeded(void) {
    inf_generate_options o;
    gen_opts(&o, 30);
    o.temperature = 0.9f;
    o.top_k = 40;
    o.top_p = 0.95f;
    o.repeat_penalty = 1.1f;
    o.seed = 1234;
    static et_run a, b, c, g;
    et_generate(g_m, prompts[1], NULL, 0, &o, &a);
    et_generate(g_m, prompts[1], NULL, 0, &o, &b);
    o.seed = 4321;
    et_generate(g_m, prompts[1], NULL, 0, &o, &c);
    CHECK_EQ_INT(a.n, 30);
    CHECK(a.n == b.n && memcmp(a.ids, b.ids, a.n * sizeof *a.ids) == 0);
    CHECK_EQ_STR(a.text, b.text);
    CHECK(!(a.n == c.n && memcmp(a.ids, c.ids, a.n * sizeof *a.ids) == 0));
    /* sampling really samples: differs from greedy */
    gen_opts(&o, 30);
    et_generate(g_m, prompts[1], NULL, 0, &o, &g);
    CHECK(!(a.n == g.n && memcmp(a.ids, g.ids, a.n * sizeof *a.ids) == 0));
}

/* ---- concurrency ------------------------------------------------------------ */

typedef struct job {
    inf_model *m;
    const char *prompt;
    et_run r;
} job;

static void *gen_thread(void *p) {
    job *j = p;
    inf_generate_options o;
    gen_opts(&o, 40);
    o.ignore_eos = 1;
    et_generate(j->m, j->prompt, NULL, 0, &o, &j->r);
    return NULL;
}

static void test_concurrency(void) {
    static job seq[4], par[4];
    double t0 = et_now();
    for (int i = 0; i < 4; i++) {
        seq[i].m = g_m;
        seq[i].prompt = prompts[i];
        gen_thread(&seq[i]);
    }
    double t_seq = et_now() - t0;
    pthread_t th[4];
    t0 = et_now();
    for (int i = 0; i < 4; i++) {
        par[i].m = g_m;
        par[i].prompt = prompts[i];
        pthread_create(&th[i], NULL, gen_thread, &par[i]);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    double t_par = et_now() - t0;
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(par[i].r.n, 40);
        CHECK_MSG(par[i].r.n == seq[i].r.n &&
                      memcmp(par[i].r.ids, seq[i].r.ids,
                             seq[i].r.n * sizeof(int32_t)) == 0,
                  "prompt %d: 4 threads at once differ from one at a time", i);
        CHECK_EQ_STR(par[i].r.text, seq[i].r.text);
    }
    printf("  4 x 40 tokens: one at a time %.3f s, 4 threads at once %.3f s "
           "(%.2fx)\n",
           t_seq, t_par, t_par > 0 ? t_seq / t_par : 0);
}

/* ---- classify / batch ------------------------------------------------------ */

static void test_classify(void) {
    inf_generate_options o;
    gen_opts(&o, 1);
    o.return_logits = 1;
    /* mixed lengths, more prompts than slots */
    const char *cp[6] = {prompts[0], prompts[3], prompts[1], "A",
                         prompts[2], "It was the best of times, it was"};
    inf_classify_result *all = NULL;
    CHECK_EQ_INT(inf_classify(g_m, cp, 6, &o, &all), INF_OK);
    if (!all) return;
    for (int i = 0; i < 6; i++) {
        inf_classify_result *one = NULL;
        CHECK_EQ_INT(inf_classify(g_m, &cp[i], 1, &o, &one), INF_OK);
        if (!one) continue;
        CHECK_EQ_INT(all[i].status, INF_OK);
        CHECK_EQ_INT(all[i].token_id, one[0].token_id);
        CHECK_EQ_STR(all[i].text, one[0].text);
        CHECK_EQ_INT(all[i].n_logits, 32000);
        double md = 0;
        for (int32_t k = 0; all[i].logits && one[0].logits && k < 32000; k++) {
            double d = fabs((double)all[i].logits[k] - one[0].logits[k]);
            if (d > md) md = d;
        }
        CHECK_MSG(all[i].logits && md <= 1e-4, "classify %d: %g", i, md);
        /* the classified token is the greedy next token of a stream */
        static et_run r;
        inf_generate_options g;
        gen_opts(&g, 1);
        g.ignore_eos = 1;
        et_generate(g_m, cp[i], NULL, 0, &g, &r);
        CHECK(r.n == 1 && r.ids[0] == all[i].token_id);
        inf_classify_results_free(one, 1);
    }
    inf_classify_results_free(all, 6);
}

static void test_batch(void) {
    inf_generate_options o;
    gen_opts(&o, 25);
    const char *bp[5] = {prompts[3], prompts[0], "A", prompts[2], prompts[1]};
    inf_batch_result *br = NULL;
    CHECK_EQ_INT(inf_batch_generate(g_m, bp, 5, &o, &br), INF_OK);
    if (!br) return;
    for (int i = 0; i < 5; i++) {
        static et_run r;
        et_generate(g_m, bp[i], NULL, 0, &o, &r);
        CHECK_EQ_INT(br[i].status, INF_OK);
        CHECK_MSG(br[i].n_tokens == r.n &&
                      memcmp(br[i].token_ids, r.ids, r.n * sizeof *r.ids) == 0,
                  "batch prompt %d differs from its stream", i);
        CHECK_EQ_STR(br[i].text, r.text);
        CHECK_EQ_INT(br[i].finish_reason, r.finish);
        CHECK_EQ_INT(br[i].metrics.generated_tokens, (int64_t)r.n);
    }
    inf_batch_results_free(br, 5);
}

/* ---- chat, cancellation, deadline -------------------------------------------- */

typedef struct canceller {
    inf_stream *s;
    inf_cancel *c;
    int after_tokens;
    int64_t gen_at_cancel;
} canceller;

static atomic_int_fast32_t g_seen;

static void *cancel_thread(void *p) {
    canceller *k = p;
    while (atomic_load(&g_seen) < k->after_tokens) {
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    inf_metrics m;
    inf_stream_metrics(k->s, &m);
    k->gen_at_cancel = m.generated_tokens;
    if (k->c) inf_cancel_trigger(k->c);
    else inf_stream_cancel(k->s);
    return NULL;
}

static void chat_cancel(int use_token) {
    inf_message msgs[2] = {{"system", "You are terse."},
                           {"user", "Tell me about the jury."}};
    inf_generate_options o;
    gen_opts(&o, 900);
    o.ignore_eos = 1;
    inf_cancel *c = use_token ? inf_cancel_new() : NULL;
    o.cancel = c;
    inf_stream *s = NULL;
    CHECK_EQ_INT(inf_chat(g_m, msgs, 2, &o, &s), INF_OK);
    if (!s) {
        inf_cancel_free(c);
        return;
    }
    atomic_store(&g_seen, 0);
    canceller k = {.s = s, .c = c, .after_tokens = 5};
    pthread_t th;
    pthread_create(&th, NULL, cancel_thread, &k);
    inf_token t;
    int rc, n = 0;
    while ((rc = inf_stream_next(s, &t)) == 1) {
        n++;
        atomic_fetch_add(&g_seen, 1);
    }
    pthread_join(th, NULL);
    inf_metrics m;
    inf_stream_metrics(s, &m);
    CHECK_EQ_INT(rc, INF_E_CANCELLED);
    CHECK_EQ_INT(inf_stream_err(s), INF_E_CANCELLED);
    CHECK_EQ_INT(inf_stream_finish_reason(s), INF_FINISH_NONE);
    /* ended within one decode step of the cancel */
    CHECK_MSG(m.generated_tokens <= k.gen_at_cancel + 1,
              "generated %lld, %lld at cancel", (long long)m.generated_tokens,
              (long long)k.gen_at_cancel);
    CHECK(n >= 5 && n < 900);
    /* the same result again */
    CHECK_EQ_INT(inf_stream_next(s, &t), INF_E_CANCELLED);
    printf("  chat cancel (%s): %d tokens read, %lld generated at cancel, "
           "%lld in all\n",
           use_token ? "inf_cancel" : "inf_stream_cancel", n,
           (long long)k.gen_at_cancel, (long long)m.generated_tokens);
    inf_stream_close(&s);
    inf_cancel_free(c);
}

static void test_chat(void) {
    /* brown has no chat template: the ChatML fallback renders; the stream
     * equals Generate on the same rendered text (with BOS added, since
     * ChatML does not write it) */
    inf_message msgs[1] = {{"user", "Hello"}};
    char *text = NULL, *err = NULL;
    CHECK_EQ_INT(inf_chat_template_render(BROWN, NULL, msgs, 1, 1, NULL, NULL,
                                          &text, &err),
                 INF_OK);
    inf_free(err);
    inf_generate_options o;
    gen_opts(&o, 15);
    static et_run a, b;
    memset(&a, 0, sizeof a);
    inf_stream *s = NULL;
    a.rc = inf_chat(g_m, msgs, 1, &o, &s);
    CHECK_EQ_INT(a.rc, INF_OK);
    if (s) et_drain(s, &a);
    if (text) {
        CHECK(strstr(text, "<|im_start|>user\nHello") != NULL);
        et_generate(g_m, text, NULL, 0, &o, &b);
        CHECK(a.n > 0 && a.n == b.n &&
              memcmp(a.ids, b.ids, a.n * sizeof *a.ids) == 0);
        CHECK_EQ_INT(a.metrics.prompt_tokens, b.metrics.prompt_tokens);
    }
    inf_free(text);

    /* a template that writes BOS itself: not added a second time */
    o.chat_template = "<s>{% for m in messages %}{{ m.content }}{% endfor %}";
    s = NULL;
    CHECK_EQ_INT(inf_chat(g_m, msgs, 1, &o, &s), INF_OK);
    static et_run c, d;
    memset(&c, 0, sizeof c);
    if (s) et_drain(s, &c);
    inf_generate_options g;
    gen_opts(&g, 15);
    et_generate(g_m, "Hello", NULL, 0, &g, &d); /* "<s>" + "Hello" ids */
    CHECK_EQ_INT(c.metrics.prompt_tokens, d.metrics.prompt_tokens);
    CHECK(c.n == d.n && memcmp(c.ids, d.ids, c.n * sizeof *c.ids) == 0);

    /* a template error is reported */
    o.chat_template = "{{ raise_exception('no way') }}";
    s = NULL;
    CHECK_EQ_INT(inf_chat(g_m, msgs, 1, &o, &s), INF_E_TEMPLATE);
    CHECK(strstr(inf_model_errmsg(g_m), "no way") != NULL);

    chat_cancel(0);
    chat_cancel(1);

    /* deadline */
    inf_cancel *c2 = inf_cancel_new();
    inf_cancel_set_timeout(c2, 30);
    gen_opts(&o, 900);
    o.ignore_eos = 1;
    o.cancel = c2;
    double t0 = et_now();
    static et_run r;
    et_generate(g_m, prompts[0], NULL, 0, &o, &r);
    double dt = et_now() - t0;
    CHECK_EQ_INT(r.end, INF_E_DEADLINE);
    CHECK_EQ_INT(r.err, INF_E_DEADLINE);
    CHECK(r.n < 900);
    CHECK(dt < 5.0);
    printf("  deadline 30 ms: ended after %.3f s, %zu tokens\n", dt, r.n);
    /* a token already past its deadline fails at once */
    s = NULL;
    CHECK_EQ_INT(inf_generate(g_m, prompts[0], &o, &s), INF_OK);
    if (s) {
        static et_run r2;
        memset(&r2, 0, sizeof r2);
        et_drain(s, &r2);
        CHECK_EQ_INT(r2.err, INF_E_DEADLINE);
    }
    inf_cancel_free(c2);
}

static void test_close(void) {
    inf_stream_close(NULL);
    inf_stream *s = NULL;
    inf_stream_close(&s);
    inf_model_close(NULL);
    inf_generate_options o;
    gen_opts(&o, 500);
    o.ignore_eos = 1;
    /* close mid-generation, twice, then the model still serves */
    CHECK_EQ_INT(inf_generate(g_m, prompts[0], &o, &s), INF_OK);
    inf_token t;
    CHECK_EQ_INT(inf_stream_next(s, &t), 1);
    inf_stream_close(&s);
    CHECK(s == NULL);
    inf_stream_close(&s);
    /* close without reading anything */
    for (int i = 0; i < 6; i++) {
        CHECK_EQ_INT(inf_generate(g_m, prompts[i % 4], &o, &s), INF_OK);
        inf_stream_close(&s);
    }
    static et_run r;
    gen_opts(&o, 4);
    et_generate(g_m, prompts[0], NULL, 0, &o, &r);
    CHECK_EQ_INT(r.n, 4);
    /* a model closed with a stream still running: the stream ends */
    inf_model *m = et_load(BROWN, 128, 1);
    if (m) {
        gen_opts(&o, 100);
        o.ignore_eos = 1;
        CHECK_EQ_INT(inf_generate(m, prompts[0], &o, &s), INF_OK);
        inf_model_close(&m);
        CHECK(m == NULL);
        int k;
        while ((k = inf_stream_next(s, &t)) == 1) {
        }
        CHECK(k == 0 || k == INF_E_STATE);
        inf_stream_close(&s);
        inf_model_close(&m);
    }
}

/* Issue 14, defect 7, on the real model: a reader that stalls on a stream
 * with logits (32000 floats, 125 KiB a token) does not make the process
 * grow by a copy per token while the engine serves another stream, and
 * the stream resumes with the same tokens as an unstalled run. */
static int64_t rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int64_t kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %lld", (long long *)&kib) == 1) break;
    if (f) fclose(f);
    return kib;
}

static void test_stalled_logits_reader(void) {
    enum { GEN = 600 };
    inf_generate_options o;
    gen_opts(&o, GEN);
    o.ignore_eos = 1;
    et_run *ref = calloc(1, sizeof *ref);
    if (!ref) return;
    et_generate(g_m, prompts[1], NULL, 0, &o, ref);
    CHECK_EQ_INT((int)ref->n, GEN);
    o.return_logits = 1;
    inf_stream *s = NULL;
    int64_t before = rss_kib();
    CHECK_EQ_INT(inf_generate(g_m, prompts[1], &o, &s), INF_OK);
    if (!s) {
        free(ref);
        return;
    }
    /* Another stream runs to its end meanwhile: long enough for the
     * stalled one to have produced all its 600 tokens without the bound. */
    et_run *other = calloc(1, sizeof *other);
    inf_generate_options o2;
    gen_opts(&o2, GEN);
    o2.ignore_eos = 1;
    if (other) et_generate(g_m, prompts[0], NULL, 0, &o2, other);
    CHECK(other && other->err == INF_OK && (int)other->n == GEN);
    free(other);
    int64_t grown = rss_kib() - before;
    printf("  stalled logits reader: RSS grew %lld KiB while another stream ran "
           "%d tokens (unbounded: about %lld KiB)\n", (long long)grown, GEN,
           (long long)GEN * 32000 * 4 / 1024);
    CHECK_MSG(grown < 24 * 1024, "RSS grew by %lld KiB", (long long)grown);
    /* The reader comes back: the same tokens as without logits, each
     * with its logits. */
    inf_token t;
    size_t n = 0;
    int same = 1;
    while (inf_stream_next(s, &t) == 1) {
        if (n >= ref->n || t.id != ref->ids[n] || !t.logits) same = 0;
        n++;
    }
    CHECK_EQ_INT(inf_stream_err(s), INF_OK);
    CHECK_EQ_INT((int)n, GEN);
    CHECK(same);
    inf_stream_close(&s);
    free(ref);
}

int main(void) {
    g_m = et_load(BROWN, 0, 4);
    if (!g_m) return tu_summary("test_engine_api");
    printf("info, metrics\n");
    test_info();
    test_metrics();
    printf("stops\n");
    test_stops();
    printf("context\n");
    test_context();
    printf("logits, sampling\n");
    test_logits();
    test_long_prompt();
    test_seeded();
    printf("concurrency\n");
    test_concurrency();
    test_stalled_logits_reader();
    printf("classify, batch\n");
    test_classify();
    test_batch();
    printf("chat, cancel, deadline\n");
    test_chat();
    printf("close\n");
    test_close();
    inf_model_close(&g_m);
    return tu_summary("test_engine_api");
}
