/* Core contract tests: status table, option defaults, cancellation tokens,
 * the backend registry (with a backend defined here through the public
 * header, as a program would), the stream wrapper and the generic
 * Classify / BatchGenerate built on streams. */
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "inference_backend.h"
#include "testutil.h"

/* ---- a program-defined backend: "letters" streams the prompt back one
 * character at a time, as token ids = byte values ---- */
typedef struct { char *text; size_t pos; int max; int n; int cancelled; int status; } letters_stream;

static int ls_next(void *p, inf_token *t) {
    letters_stream *s = p;
    if (s->cancelled) { s->status = INF_E_CANCELLED; return INF_E_CANCELLED; }
    if (!s->text[s->pos] || s->n >= s->max) return 0;
    static __thread char buf[2];
    buf[0] = s->text[s->pos++];
    buf[1] = 0;
    s->n++;
    t->id = (unsigned char)buf[0];
    t->text = buf;
    t->text_len = 1;
    return 1;
}
static int ls_err(void *p) { return ((letters_stream *)p)->status; }
static const char *ls_errmsg(void *p) { return ((letters_stream *)p)->status ? "cancelled by test" : ""; }
static inf_finish_reason ls_finish(void *p) {
    letters_stream *s = p;
    return s->status ? INF_FINISH_NONE : s->n >= s->max ? INF_FINISH_LENGTH : INF_FINISH_EOS;
}
static void ls_cancel(void *p) { ((letters_stream *)p)->cancelled = 1; }
static void ls_close(void *p) { letters_stream *s = p; free(s->text); free(s); }
static const inf_stream_ops letters_sops = {ls_next, ls_err, ls_errmsg, ls_finish, NULL, ls_cancel, ls_close};

static const char *lm_type(void *m) { (void)m; return "letters"; }
static int lm_start(void *m, const char *prompt, const inf_message *msgs, size_t n,
                    const inf_generate_options *o, const inf_stream_ops **sops,
                    void **stream, char **errmsg) {
    (void)m;
    if (!prompt) { prompt = n ? msgs[n - 1].content : ""; }
    if (strcmp(prompt, "fail") == 0) { *errmsg = strdup("this prompt fails"); return INF_E_INVALID_ARGUMENT; }
    letters_stream *s = calloc(1, sizeof *s);
    s->text = strdup(prompt);
    s->max = o->max_tokens;
    *sops = &letters_sops;
    *stream = s;
    return INF_OK;
}
static void lm_close(void *m) { (void)m; }
static const inf_model_ops letters_ops = {.model_type = lm_type, .start = lm_start, .close = lm_close};

static int letters_available(void *u, char *why, size_t n) {
    int ok = *(int *)u;
    if (!ok && why) snprintf(why, n, "test switch is off");
    return ok;
}
static int letters_load(void *u, const char *path, const inf_load_options *o,
                        const inf_model_ops **ops, void **model, char **errmsg) {
    (void)u; (void)o;
    if (strcmp(path, "bad") == 0) { *errmsg = strdup("cannot load bad"); return INF_E_FORMAT; }
    *ops = &letters_ops;
    *model = NULL;
    return INF_OK;
}

static void test_status(void) {
    CHECK_EQ_STR(inf_strerror(INF_OK), "success");
    CHECK_EQ_STR(inf_strerror(INF_E_CANCELLED), "cancelled");
    CHECK_EQ_STR(inf_status_name(INF_E_DEADLINE), "E_DEADLINE");
    CHECK_EQ_STR(inf_strerror(12345), "unknown status");
    CHECK_EQ_STR(inf_version(), INF_VERSION_STRING);
    CHECK_EQ_INT(inf_version_number(), INF_VERSION_NUMBER);
}

static void test_options(void) {
    inf_generate_options g;
    inf_generate_options_default(&g);
    CHECK_EQ_INT(g.max_tokens, 256);
    CHECK(g.temperature == 0.0f && g.top_k == 0 && g.top_p == 0.0f);
    CHECK(g.repeat_penalty == 0.0f && g.n_stop_ids == 0 && !g.return_logits);
    CHECK_EQ_INT(g.struct_size, sizeof g);
    inf_load_options l;
    inf_load_options_default(&l);
    CHECK(l.backend == NULL && l.context_length == 0 && l.gpu_layers == -1 && l.parallel_slots == 0);
    CHECK(g.seed == INF_SEED_RANDOM);
    CHECK_EQ_INT(g.max_tokens, INF_DEFAULT_MAX_TOKENS);
}

/* One table of bounds: every field at its limits passes, just past them
 * fails with a message naming the field and the range. */
static void test_option_bounds(void) {
    size_t n = 0;
    const inf_option_bound *b = inf_generate_option_bounds(&n);
    CHECK_EQ_INT(n, 9);
    CHECK(inf_generate_option_bound("temperature") != NULL);
    CHECK(inf_generate_option_bound("no_such_field") == NULL);
    CHECK(inf_generate_option_bound(NULL) == NULL);
    CHECK_EQ_INT(inf_generate_options_check(NULL, NULL), INF_E_INVALID_ARGUMENT);
    for (size_t i = 0; i < n; i++) {
        CHECK(inf_generate_option_bound(b[i].field) == &b[i]);
        for (int side = 0; side < 2; side++) {
            for (int past = 0; past < 2; past++) {
                inf_generate_options o;
                inf_generate_options_default(&o);
                double v = side ? b[i].max : b[i].min;
                double step = b[i].is_integer ? 1 : (side ? 1e-3 : 1e-3);
                if (past) v += side ? step : -step;
                if (past && side && b[i].max >= 2147483647.0) continue; /* int32 cannot pass it */
                if (!strcmp(b[i].field, "max_tokens")) o.max_tokens = (int32_t)v;
                else if (!strcmp(b[i].field, "temperature")) o.temperature = (float)v;
                else if (!strcmp(b[i].field, "top_k")) o.top_k = (int32_t)v;
                else if (!strcmp(b[i].field, "top_p")) o.top_p = (float)v;
                else if (!strcmp(b[i].field, "min_p")) o.min_p = (float)v;
                else if (!strcmp(b[i].field, "repeat_penalty")) o.repeat_penalty = (float)v;
                else if (!strcmp(b[i].field, "repeat_last_n")) o.repeat_last_n = (int32_t)v;
                else if (!strcmp(b[i].field, "presence_penalty")) o.presence_penalty = (float)v;
                else if (!strcmp(b[i].field, "frequency_penalty")) o.frequency_penalty = (float)v;
                else CHECK_MSG(0, "field %s not covered by this test", b[i].field);
                char *msg = NULL;
                int rc = inf_generate_options_check(&o, &msg);
                CHECK_MSG(rc == (past ? INF_E_INVALID_ARGUMENT : INF_OK),
                          "%s = %g: %d (%s)", b[i].field, v, rc, msg ? msg : "");
                if (past) CHECK_MSG(msg && strstr(msg, b[i].field), "%s", msg ? msg : "(null)");
                inf_free(msg);
            }
        }
    }
    inf_generate_options o;
    inf_generate_options_default(&o);
    o.temperature = NAN;
    CHECK_EQ_INT(inf_generate_options_check(&o, NULL), INF_E_INVALID_ARGUMENT);
    inf_generate_options_default(&o);
    o.n_stop_strings = 1;
    CHECK_EQ_INT(inf_generate_options_check(&o, NULL), INF_E_INVALID_ARGUMENT);
    const char *empty[1] = {""};
    o.stop_strings = empty;
    char *msg = NULL;
    CHECK_EQ_INT(inf_generate_options_check(&o, &msg), INF_E_INVALID_ARGUMENT);
    CHECK_EQ_STR(msg, "stop string 0 is empty");
    inf_free(msg);
    /* logit_bias: arrays present, ids non-negative, values in [-100, 100] */
    inf_generate_options_default(&o);
    int32_t bid[2] = {3, 7};
    float bval[2] = {100.0f, -100.0f};
    o.n_logit_bias = 2;
    CHECK_EQ_INT(inf_generate_options_check(&o, NULL), INF_E_INVALID_ARGUMENT);
    o.logit_bias_ids = bid;
    o.logit_bias_values = bval;
    CHECK_EQ_INT(inf_generate_options_check(&o, NULL), INF_OK);
    bval[1] = -100.5f;
    CHECK_EQ_INT(inf_generate_options_check(&o, &msg), INF_E_INVALID_ARGUMENT);
    CHECK_EQ_STR(msg, "logit_bias value -100.5 for token 7 is out of range [-100, 100]");
    inf_free(msg);
    bval[1] = NAN;
    CHECK_EQ_INT(inf_generate_options_check(&o, NULL), INF_E_INVALID_ARGUMENT);
    bval[1] = 0;
    bid[0] = -1;
    CHECK_EQ_INT(inf_generate_options_check(&o, &msg), INF_E_INVALID_ARGUMENT);
    CHECK_EQ_STR(msg, "logit_bias id -1 is negative");
    inf_free(msg);
    /* A struct from before issue 16 ends at n_prompt_ids: the new fields
     * read as off, whatever lies past its end. */
    inf_generate_options_default(&o);
    o.struct_size = offsetof(inf_generate_options, presence_penalty);
    o.presence_penalty = 99.0f;
    o.n_logit_bias = 5; /* past its end: never read */
    CHECK_EQ_INT(inf_generate_options_check(&o, NULL), INF_OK);
    /* An older, smaller struct: the fields it lacks keep their defaults. */
    inf_generate_options_default(&o);
    o.struct_size = offsetof(inf_generate_options, seed);
    o.stop_ids = (const int32_t *)1; /* past its end: never read */
    CHECK_EQ_INT(inf_generate_options_check(&o, NULL), INF_OK);
    /* finish-reason names */
    CHECK_EQ_STR(inf_finish_reason_name(INF_FINISH_LENGTH), "length");
    CHECK_EQ_STR(inf_finish_reason_openai(INF_FINISH_EOS), "stop");
    CHECK(inf_finish_reason_openai(INF_FINISH_NONE) == NULL);
    CHECK_EQ_STR(inf_finish_reason_name((inf_finish_reason)42), "unknown");
    /* the one UTF-8 check */
    CHECK_EQ_INT(inf_utf8_valid_prefix("abc\xc3\xa9", 5), 5);
    CHECK_EQ_INT(inf_utf8_valid_prefix("ab\xc0\xaf", 4), 2);     /* overlong */
    CHECK_EQ_INT(inf_utf8_valid_prefix("a\xed\xa0\x80", 4), 1);  /* surrogate */
    CHECK_EQ_INT(inf_utf8_valid_prefix("a\xf4\x90\x80\x80", 5), 1); /* > U+10FFFF */
    CHECK_EQ_INT(inf_utf8_valid_prefix("a\xe2\x82", 3), 1);       /* cut short */
}

static void test_cancel(void) {
    inf_cancel *c = inf_cancel_new();
    CHECK(c != NULL);
    CHECK_EQ_INT(inf_cancel_check(c), INF_OK);
    CHECK_EQ_INT(inf_cancel_check(NULL), INF_OK);
    inf_cancel_set_timeout(c, 20);
    CHECK_EQ_INT(inf_cancel_check(c), INF_OK);
    usleep(40000);
    CHECK_EQ_INT(inf_cancel_check(c), INF_E_DEADLINE);
    inf_cancel_set_timeout(c, 0);
    CHECK_EQ_INT(inf_cancel_check(c), INF_OK);
    inf_cancel_trigger(c);
    CHECK_EQ_INT(inf_cancel_check(c), INF_E_CANCELLED);
    inf_cancel_free(c);
    inf_cancel_free(NULL);
}

static int on_switch = 1, off_switch = 0;

static void test_registry(void) {
    size_t builtin = inf_backend_count();
    inf_backend b = {"letters", "test backend", &on_switch, letters_available, letters_load};
    CHECK_EQ_INT(inf_backend_register(&b), INF_OK);
    CHECK_EQ_INT(inf_backend_register(&b), INF_E_INVALID_ARGUMENT); /* duplicate */
    inf_backend off = {"offline", "never available", &off_switch, letters_available, letters_load};
    CHECK_EQ_INT(inf_backend_register(&off), INF_OK);
    CHECK_EQ_INT(inf_backend_count(), builtin + 2);
    CHECK(inf_backend_get("letters") != NULL);
    CHECK(inf_backend_get("nope") == NULL);
    char why[128];
    CHECK_EQ_INT(inf_backend_available(inf_backend_get("offline"), why, sizeof why), 0);
    CHECK_EQ_STR(why, "test switch is off");

    inf_model *m = NULL;
    char *err = NULL;
    inf_load_options lo;
    inf_load_options_default(&lo);
    lo.backend = "x";
    CHECK_EQ_INT(inf_model_load("p", &lo, &m, &err), INF_E_BACKEND_NOT_REGISTERED);
    CHECK_EQ_STR(err, "backend \"x\" not registered");
    inf_free(err);
    lo.backend = "offline";
    CHECK_EQ_INT(inf_model_load("p", &lo, &m, &err), INF_E_BACKEND_UNAVAILABLE);
    CHECK_EQ_STR(err, "backend \"offline\" not available on this hardware: test switch is off");
    inf_free(err);
    lo.backend = "letters";
    CHECK_EQ_INT(inf_model_load("bad", &lo, &m, &err), INF_E_FORMAT);
    CHECK_EQ_STR(err, "cannot load bad");
    CHECK(m == NULL);
    inf_free(err);
    err = NULL;
    CHECK_EQ_INT(inf_model_load("good", &lo, &m, &err), INF_OK);
    CHECK(err == NULL);
    CHECK_EQ_STR(inf_model_type(m), "letters");

    /* Generate through the pull iterator. */
    inf_generate_options g;
    inf_generate_options_default(&g);
    inf_stream *s = NULL;
    CHECK_EQ_INT(inf_generate(m, "hello", &g, &s), INF_OK);
    char got[16] = {0};
    inf_token t;
    int r, n = 0;
    while ((r = inf_stream_next(s, &t)) == 1) got[n++] = t.text[0];
    CHECK_EQ_INT(r, 0);
    CHECK_EQ_STR(got, "hello");
    CHECK_EQ_INT(inf_stream_err(s), INF_OK);
    CHECK_EQ_INT(inf_stream_finish_reason(s), INF_FINISH_EOS);
    inf_stream_close(&s);
    CHECK(s == NULL);
    inf_stream_close(&s); /* twice is fine */

    /* A start error lands on the model. */
    CHECK_EQ_INT(inf_generate(m, "fail", &g, &s), INF_E_INVALID_ARGUMENT);
    CHECK_EQ_STR(inf_model_errmsg(m), "this prompt fails");
    CHECK_EQ_INT(inf_model_errcode(m), INF_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(inf_generate(m, NULL, &g, &s), INF_E_INVALID_ARGUMENT);

    /* Chat validates messages. */
    inf_message bad[1] = {{"user", NULL}};
    CHECK_EQ_INT(inf_chat(m, bad, 1, &g, &s), INF_E_INVALID_ARGUMENT);
    CHECK_EQ_STR(inf_model_errmsg(m), "message 0 has no content");

    /* Cancellation through the stream. */
    CHECK_EQ_INT(inf_generate(m, "abcdef", &g, &s), INF_OK);
    CHECK_EQ_INT(inf_stream_next(s, &t), 1);
    inf_stream_cancel(s);
    CHECK_EQ_INT(inf_stream_next(s, &t), INF_E_CANCELLED);
    CHECK_EQ_INT(inf_stream_err(s), INF_E_CANCELLED);
    inf_stream_close(&s);

    /* Generic Classify and BatchGenerate over streams. */
    const char *prompts[3] = {"xyz", "fail", "q"};
    inf_classify_result *cr = NULL;
    CHECK_EQ_INT(inf_classify(m, prompts, 3, &g, &cr), INF_OK);
    CHECK_EQ_INT(cr[0].status, INF_OK);
    CHECK_EQ_INT(cr[0].token_id, 'x');
    CHECK_EQ_INT(cr[1].status, INF_E_INVALID_ARGUMENT);
    CHECK_EQ_STR(cr[1].error, "this prompt fails");
    CHECK_EQ_STR(cr[2].text, "q");
    inf_classify_results_free(cr, 3);
    g.max_tokens = 2;
    inf_batch_result *br = NULL;
    CHECK_EQ_INT(inf_batch_generate(m, prompts, 3, &g, &br), INF_OK);
    CHECK_EQ_STR(br[0].text, "xy");
    CHECK_EQ_INT(br[0].n_tokens, 2);
    CHECK_EQ_INT(br[0].finish_reason, INF_FINISH_LENGTH);
    CHECK_EQ_INT(br[1].status, INF_E_INVALID_ARGUMENT);
    CHECK_EQ_STR(br[2].text, "q");
    CHECK_EQ_INT(br[2].finish_reason, INF_FINISH_EOS);
    inf_batch_results_free(br, 3);
    CHECK_EQ_INT(inf_classify(m, NULL, 1, &g, &cr), INF_E_INVALID_ARGUMENT);

    inf_model_close(&m);
    CHECK(m == NULL);
    inf_model_close(&m);
    inf_model_close(NULL);

    CHECK_EQ_INT(inf_backend_unregister("letters"), INF_OK);
    CHECK_EQ_INT(inf_backend_unregister("letters"), INF_E_BACKEND_NOT_REGISTERED);
    CHECK_EQ_INT(inf_backend_unregister("offline"), INF_OK);
    CHECK_EQ_INT(inf_backend_count(), builtin);
}

/* When only program backends exist and none is available, the default
 * lookup says why for each. */
static void test_default_errors(void) {
    if (inf_backend_count() != 0) return; /* built-ins present: covered elsewhere */
    char *err = NULL;
    CHECK(inf_backend_default(&err) == NULL);
    CHECK_EQ_STR(err, "no backends registered");
    inf_free(err);
    inf_model *m;
    CHECK_EQ_INT(inf_model_load("p", NULL, &m, &err), INF_E_NO_BACKENDS);
    inf_free(err);
    inf_backend off = {"offline", "never available", &off_switch, letters_available, letters_load};
    inf_backend_register(&off);
    CHECK(inf_backend_default(&err) == NULL);
    CHECK_EQ_STR(err, "no registered backend is available: offline (test switch is off)");
    inf_free(err);
    inf_backend on = {"letters", "", &on_switch, letters_available, letters_load};
    inf_backend_register(&on);
    CHECK_EQ_STR(inf_backend_default(NULL)->name, "letters");
    inf_backend_unregister("offline");
    inf_backend_unregister("letters");
}

int main(void) {
    test_status();
    test_options();
    test_option_bounds();
    test_cancel();
    test_default_errors();
    test_registry();
    return tu_summary("test_core");
}
