/* Loading: the engine reads a model directory once (src/model/modeldir)
 * and makes the tokenizer and chat template from those texts; the
 * tokenizer and template it lends through the ops table (and so through
 * inf_model_tokenizer / inf_model_chat_template) are the very ones it uses;
 * generation_config.json's sampling defaults.  A fake compute backend
 * (nothing is computed) keeps this independent of the kernels; the last
 * part goes through the public API on the cpu backend. */
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine_int.h"
#include "engine_testutil.h"
#include "text/template/chat_template.h"
#include "text/tokenizer/tokenizer.h"

static int f_available(char *why, size_t n) {
    (void)why;
    (void)n;
    return 1;
}
static int f_init(const inf__model_desc *d, const inf__compute_params *p, void **ctx, inf__err *err) {
    (void)d;
    (void)p;
    (void)err;
    *ctx = (void *)1;
    return INF_OK;
}
static int f_forward(void *ctx, const inf__batch *b, inf__err *err) {
    (void)ctx;
    (void)b;
    return inf__seterr(err, INF_E_INTERNAL, "nothing is computed here");
}
static void f_reset(void *ctx, int32_t slot) {
    (void)ctx;
    (void)slot;
}
static void f_memory(void *ctx, int64_t *a, int64_t *p) {
    (void)ctx;
    *a = *p = 0;
}
static void f_free(void *ctx) { (void)ctx; }
static const inf__compute_ops fake = {"fake", f_available, f_init, f_forward, f_reset, f_memory, f_free, NULL, NULL};

/* Opens dir on the fake backend; NULL on failure (*msg says why). */
static inf__engine *open_dir(const char *dir, int dummy, const inf_model_ops **ops, char **msg) {
    inf_load_options lo;
    inf_load_options_default(&lo);
    lo.dummy_weights = dummy;
    lo.context_length = 64;
    void *m = NULL;
    *msg = NULL;
    int rc = inf__engine_open(dir, &lo, &fake, 0, ops, &m, msg);
    return rc == INF_OK ? m : NULL;
}

static void copy_file(const char *from_dir, const char *to_dir, const char *name) {
    char a[PATH_MAX], b[PATH_MAX];
    snprintf(a, sizeof a, "%s/%s", from_dir, name);
    snprintf(b, sizeof b, "%s/%s", to_dir, name);
    size_t n = 0;
    char *text = tu_read_file(a, &n);
    CHECK_MSG(text != NULL, "read %s", a);
    FILE *f = fopen(b, "wb");
    if (f && text) fwrite(text, 1, n, f);
    if (f) fclose(f);
    free(text);
}

static void write_text(const char *dir, const char *name, const char *text) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static int rm_cb(const char *p, const struct stat *s, int flag, struct FTW *f) {
    (void)s; (void)flag; (void)f;
    return remove(p);
}

/* The bundled model: the handles lent out are the engine's own. */
static void lent_handles(void) {
    const inf_model_ops *ops = NULL;
    char *msg;
    inf__engine *e = open_dir(BROWN, 0, &ops, &msg);
    CHECK_MSG(e != NULL, "%s", msg ? msg : "");
    free(msg);
    if (!e) return;
    CHECK(ops == &inf__engine_ops);
    CHECK(ops->tokenizer != NULL && ops->chat_template != NULL && ops->generation_defaults != NULL);
    const inf_tokenizer *t = ops->tokenizer(e);
    CHECK(t != NULL);
    CHECK(t == e->tok_pub);
    CHECK(inf__tok_unwrap(t) == e->tok);
    CHECK_EQ_INT(inf_tokenizer_vocab_size(t), 32000);
    CHECK_EQ_INT(inf_tokenizer_bos_id(t), 1);
    CHECK_EQ_INT(inf_tokenizer_eos_id(t), 2);
    /* what the engine tokenizes with is what the handle tokenizes with */
    int32_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    inf__err err;
    CHECK_EQ_INT(inf__engine_tokenize(e, "The jury said", 1, &a, &na, &err), INF_OK);
    CHECK_EQ_INT(inf_tokenize(t, "The jury said", 13, 1, &b, &nb, NULL), INF_OK);
    CHECK(na == 4 && nb == 4 && memcmp(a, b, 4 * sizeof *a) == 0);
    if (na == 4) CHECK_EQ_INT(a[0], 1);
    free(a);
    inf_free(b);
    /* brown has no template of its own: ChatML, lent as the engine's */
    const inf_chat_template *ct = ops->chat_template(e);
    CHECK(ct != NULL);
    CHECK(ct == e->tmpl_pub);
    CHECK(inf__tmpl_unwrap(ct) == e->tmpl);
    CHECK_EQ_INT(inf_chat_template_is_fallback(ct), 1);
    /* greedy by its generation_config.json (no do_sample): nothing set */
    inf_generate_options o;
    inf_generate_options_default(&o);
    o.top_k = 7;
    ops->generation_defaults(e, &o);
    CHECK_EQ_INT(o.top_k, 7);
    CHECK_NEAR(o.temperature, 0, 0);
    CHECK_NEAR(o.top_p, 0, 0);
    ops->close(e);
}

/* A directory built from brown's texts with dummy weights: the template
 * and generation_config.json vary. */
static void from_texts(void) {
    char tmp[] = "/tmp/inf_engine_load_XXXXXX";
    if (!mkdtemp(tmp)) { CHECK(0); return; }
    copy_file(BROWN, tmp, "config.json");
    const inf_model_ops *ops = NULL;
    char *msg;

    /* Dummy weights without tokenizer files: nothing to lend. */
    inf__engine *e = open_dir(tmp, 1, &ops, &msg);
    CHECK_MSG(e != NULL, "%s", msg ? msg : "");
    free(msg);
    if (e) {
        CHECK(ops->tokenizer(e) == NULL);
        CHECK(ops->chat_template(e) == NULL);
        ops->close(e);
    }
    /* Real weights need the tokenizer: the message names the file. */
    copy_file(BROWN, tmp, "model.safetensors.index.json");
    copy_file(BROWN, tmp, "model-00001-of-00002.safetensors");
    copy_file(BROWN, tmp, "model-00002-of-00002.safetensors");
    e = open_dir(tmp, 0, &ops, &msg);
    CHECK(e == NULL);
    CHECK_MSG(msg && strstr(msg, "tokenizer.json: not found"), "%s", msg ? msg : "(null)");
    free(msg);

    /* The template from tokenizer_config.json's text; sampling defaults
     * from generation_config.json with do_sample. */
    copy_file(BROWN, tmp, "tokenizer.json");
    write_text(tmp, "tokenizer_config.json",
               "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"add_bos_token\": true,"
               " \"chat_template\": \"{{ bos_token }}{% for m in messages %}[{{ m.content }}]{% endfor %}\"}");
    write_text(tmp, "generation_config.json",
               "{\"do_sample\": true, \"temperature\": 0.6, \"top_p\": 0.95, \"top_k\": 20,"
               " \"min_p\": 0.05, \"repetition_penalty\": 1.1, \"eos_token_id\": 2}");
    e = open_dir(tmp, 0, &ops, &msg);
    CHECK_MSG(e != NULL, "%s", msg ? msg : "");
    free(msg);
    if (e) {
        const inf_chat_template *ct = ops->chat_template(e);
        CHECK(ct != NULL && inf__tmpl_unwrap(ct) == e->tmpl);
        CHECK_EQ_INT(inf_chat_template_is_fallback(ct), 0);
        char *out = NULL;
        CHECK_EQ_INT(inf_chat_template_apply(ct, "[{\"role\":\"user\",\"content\":\"hi\"}]", 0, NULL, NULL, &out,
                                             NULL),
                     INF_OK);
        CHECK_EQ_STR(out, "<s>[hi]");
        inf_free(out);
        inf_generate_options o;
        inf_generate_options_default(&o);
        ops->generation_defaults(e, &o);
        CHECK_NEAR(o.temperature, 0.6, 1e-6);
        CHECK_NEAR(o.top_p, 0.95, 1e-6);
        CHECK_EQ_INT(o.top_k, 20);
        CHECK_NEAR(o.min_p, 0.05, 1e-6);
        CHECK_NEAR(o.repeat_penalty, 1.1, 1e-6);
        CHECK_EQ_INT(o.max_tokens, INF_DEFAULT_MAX_TOKENS); /* not a sampling field */
        CHECK_EQ_INT(inf_generate_options_check(&o, NULL), INF_OK);
        ops->close(e);
    }
    /* do_sample without a temperature: 1; a top_k given as 20.5 and a
     * top_p Generate would refuse are no defaults; a broken
     * chat_template.jinja does not stop the load, it only leaves no
     * template to lend. */
    write_text(tmp, "tokenizer_config.json", "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}");
    write_text(tmp, "chat_template.jinja", "{% for %}");
    write_text(tmp, "generation_config.json", "{\"do_sample\": true, \"top_k\": 20.5, \"top_p\": 3}");
    e = open_dir(tmp, 0, &ops, &msg);
    CHECK_MSG(e != NULL, "%s", msg ? msg : "");
    free(msg);
    if (e) {
        CHECK(ops->chat_template(e) == NULL);
        CHECK(ops->tokenizer(e) != NULL);
        CHECK_MSG(strstr(e->tmpl_err, "line 1") != NULL, "%s", e->tmpl_err);
        inf_generate_options o;
        inf_generate_options_default(&o);
        o.top_k = 3;
        o.top_p = 0.5f;
        ops->generation_defaults(e, &o);
        CHECK_NEAR(o.temperature, 1.0, 0);
        CHECK_EQ_INT(o.top_k, 3);
        CHECK_NEAR(o.top_p, 0.5, 1e-6);
        ops->close(e);
    }
    /* A tokenizer.json that does not parse: the load fails, naming the
     * directory. */
    write_text(tmp, "tokenizer.json", "{\"model\": ");
    e = open_dir(tmp, 0, &ops, &msg);
    CHECK(e == NULL);
    CHECK_MSG(msg && strstr(msg, tmp) && strstr(msg, "tokenizer.json"), "%s", msg ? msg : "(null)");
    free(msg);
    nftw(tmp, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

/* Through the public API (cpu backend): the model lends the tokenizer and
 * template it uses. */
static void public_api(void) {
    inf_model *m = et_load(BROWN, 0, 1);
    if (!m) return;
    const inf_tokenizer *t = inf_model_tokenizer(m);
    CHECK(t != NULL);
    CHECK(t == inf_model_tokenizer(m));
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK_EQ_INT(inf_tokenize(t, "The jury said", 13, 1, &ids, &n, NULL), INF_OK);
    CHECK_EQ_INT(n, 4);
    if (n == 4) {
        CHECK_EQ_INT(ids[0], 1);
        CHECK_EQ_INT(ids[1], 415);
        CHECK_EQ_INT(ids[2], 19723);
        CHECK_EQ_INT(ids[3], 773);
    }
    inf_free(ids);
    CHECK_EQ_STR(inf_tokenizer_piece(t, 415), "\xE2\x96\x81The");
    const inf_chat_template *ct = inf_model_chat_template(m);
    CHECK(ct != NULL);
    CHECK_EQ_INT(inf_chat_template_is_fallback(ct), 1);
    inf_generate_options o;
    inf_generate_options_default(&o);
    CHECK_EQ_INT(inf_model_generation_defaults(m, &o), INF_OK);
    CHECK_NEAR(o.temperature, 0, 0);
    inf_model_close(&m);
}

int main(void) {
    lent_handles();
    from_texts();
    public_api();
    return tu_summary("test_engine_load");
}
