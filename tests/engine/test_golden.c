/* The engine against reference outputs:
 *  - the 12 tiny models (tests/fixtures/golden/models): greedy generation
 *    through the scheduler equals golden.json's `greedy` up to the first
 *    step whose margin is below 1e-2, and the logits op equals logits.f32;
 *  - the bundled brown model in bf16 / mlx8 / mlx4 (golden/brown.json):
 *    the prompt tokenizes to prompt_ids, 40 greedy tokens and their text
 *    equal the reference, through the public API (backend "cpu").
 * The tiny models have no tokenizer, so they are opened with the internal
 * inf__engine_open(.., INF__ENGINE_NO_TOKENIZER_OK) and run from ids. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>

#include "backends/cpu/cpu.h"
#include "engine/engine.h"
#include "engine_testutil.h"

static const char *tiny[] = {
    "gemma3-bf16-swa", "gemma3-mlx4-g32", "llama-bf16-tied", "llama-f32",
    "llama-mlx8-g64",  "llama3rope-bf16", "mistral-bf16-swa", "qwen2-bf16",
    "qwen3-bf16",      "qwen3-f16-sharded", "qwen3-mlx4-g32",
    "qwen3-small-bf16"};

static int32_t *json_ids(json_t *a, size_t *n) {
    *n = json_array_size(a);
    int32_t *v = malloc((*n ? *n : 1) * sizeof *v);
    for (size_t i = 0; v && i < *n; i++)
        v[i] = (int32_t)json_integer_value(json_array_get(a, i));
    return v;
}

static void test_tiny(const char *name) {
    char dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s/tiny/%s", INF_FIXTURES, name);
    snprintf(path, sizeof path, "%s/golden/models/%s/golden.json",
             INF_FIXTURES, name);
    json_error_t je;
    json_t *g = json_load_file(path, 0, &je);
    CHECK_MSG(g != NULL, "%s: %s", path, je.text);
    if (!g) return;

    const inf_model_ops *ops = NULL;
    void *model = NULL;
    char *err = NULL;
    int rc = inf__engine_open(dir, NULL, &inf__cpu_compute,
                              INF__ENGINE_NO_TOKENIZER_OK, &ops, &model, &err);
    CHECK_MSG(rc == INF_OK, "%s: %s", name, err ? err : "");
    free(err);
    if (rc != INF_OK) {
        json_decref(g);
        return;
    }
    size_t n_in, n_gr, n_mg;
    int32_t *in = json_ids(json_object_get(g, "input_ids"), &n_in);
    int32_t *greedy = json_ids(json_object_get(g, "greedy"), &n_gr);
    json_t *margin = json_object_get(g, "greedy_margin");
    n_mg = json_array_size(margin);

    /* Greedy through a stream. */
    inf_generate_options o;
    inf_generate_options_default(&o);
    o.max_tokens = (int32_t)n_gr;
    o.ignore_eos = 1;
    const inf_stream_ops *sops;
    void *st;
    rc = inf__engine_start_ids(model, in, n_in, &o, &sops, &st, &err);
    CHECK_MSG(rc == INF_OK, "%s start: %s", name, err ? err : "");
    free(err);
    err = NULL;
    if (rc == INF_OK) {
        int32_t got[64];
        size_t ng = 0;
        inf_token t;
        while (sops->next(st, &t) == 1 && ng < 64) got[ng++] = t.id;
        CHECK_EQ_INT(sops->err(st), INF_OK);
        CHECK_EQ_INT(sops->finish_reason(st), INF_FINISH_LENGTH);
        sops->close(st);
        size_t cmp = 0;
        while (cmp < n_gr && cmp < n_mg &&
               json_real_value(json_array_get(margin, cmp)) >= 1e-2)
            cmp++;
        /* the step with the small margin itself may go either way */
        int same = ng == n_gr;
        for (size_t i = 0; i < cmp && i < ng; i++) same &= got[i] == greedy[i];
        CHECK_MSG(same, "%s: greedy differs in the first %zu steps", name,
                  cmp);
        printf("  %-18s greedy: %zu/%zu steps compared, %s\n", name, cmp,
               n_gr, same ? "equal" : "DIFFERENT");
    }

    /* Logits at every position. */
    snprintf(path, sizeof path, "%s/golden/models/%s/logits.f32",
             INF_FIXTURES, name);
    size_t len = 0;
    float *ref = (float *)tu_read_file(path, &len);
    inf_model_info info;
    ops->info(model, &info);
    float *lg = malloc(n_in * (size_t)info.vocab_size * sizeof *lg);
    CHECK(ref && len == n_in * (size_t)info.vocab_size * sizeof(float));
    if (ref && lg && ops->logits) {
        rc = ops->logits(model, in, n_in, lg, &err);
        CHECK_MSG(rc == INF_OK, "%s logits: %s", name, err ? err : "");
        free(err);
        err = NULL;
        double md = 0;
        for (size_t i = 0; rc == INF_OK && i < n_in * (size_t)info.vocab_size;
             i++) {
            double d = fabs((double)lg[i] - ref[i]);
            if (d > md) md = d;
        }
        CHECK_MSG(rc == INF_OK && md <= 1e-3, "%s: logits max diff %g", name,
                  md);
        printf("  %-18s logits: max |diff| %.3g\n", name, md);
    }
    free(lg);
    free(ref);
    free(in);
    free(greedy);
    ops->close(model);
    json_decref(g);
}

static void test_brown(json_t *golden, const char *variant) {
    char path[1024];
    snprintf(path, sizeof path, "%s%s%s", BROWN,
             strcmp(variant, "bf16") ? "-" : "",
             strcmp(variant, "bf16") ? variant : "");
    inf_model *m = et_load(path, 0, 0);
    if (!m) return;
    inf_tokenizer *tk = NULL;
    char *err = NULL;
    CHECK_EQ_INT(inf_tokenizer_load(path, &tk, &err), INF_OK);
    inf_free(err);
    json_t *prompts = json_object_get(golden, "prompts");
    size_t i;
    json_t *p;
    int checked = 0;
    json_array_foreach(prompts, i, p) {
        if (strcmp(json_string_value(json_object_get(p, "weights")), variant))
            continue;
        checked++;
        const char *prompt = json_string_value(json_object_get(p, "prompt"));
        size_t n_pi, n_gi;
        int32_t *pi = json_ids(json_object_get(p, "prompt_ids"), &n_pi);
        int32_t *gi = json_ids(json_object_get(p, "greedy_ids"), &n_gi);
        const char *gtext =
            json_string_value(json_object_get(p, "greedy_text"));
        /* what we tokenize is what the reference fed the model */
        int32_t *ids = NULL;
        size_t n_ids = 0;
        CHECK_EQ_INT(inf_tokenize(tk, prompt, strlen(prompt), 1, &ids, &n_ids,
                                  NULL),
                     INF_OK);
        CHECK_MSG(n_ids == n_pi && memcmp(ids, pi, n_ids * sizeof *ids) == 0,
                  "%s \"%s\": prompt ids differ", variant, prompt);
        inf_free(ids);

        inf_generate_options o;
        inf_generate_options_default(&o);
        o.max_tokens = (int32_t)n_gi;
        static et_run r;
        et_generate(m, prompt, NULL, 0, &o, &r);
        CHECK_EQ_INT(r.rc, INF_OK);
        CHECK_EQ_INT(r.err, INF_OK);
        CHECK_EQ_INT(r.finish, INF_FINISH_LENGTH);
        CHECK_MSG(r.n == n_gi && memcmp(r.ids, gi, n_gi * sizeof *gi) == 0,
                  "%s \"%s\": greedy ids differ", variant, prompt);
        CHECK_EQ_STR(r.text, gtext);
        CHECK_EQ_INT(r.metrics.prompt_tokens, (int64_t)n_pi);
        CHECK_EQ_INT(r.metrics.generated_tokens, (int64_t)n_gi);
        free(pi);
        free(gi);
    }
    CHECK_EQ_INT(checked, 4);
    inf_tokenizer_free(tk);
    inf_model_close(&m);
}

/* A model directory without tokenizer.json loads with dummy weights (for
 * benchmarks) and serves token-id prompts; text prompts get a clear error.
 * The bench helper runs through the scheduler. */
static void test_dummy(void) {
    inf_load_options lo;
    inf_load_options_default(&lo);
    lo.backend = "cpu";
    lo.dummy_weights = 1;
    lo.dummy_bits = 4;
    lo.dummy_group = 32;
    inf_model *m = NULL;
    char *err = NULL;
    const char *dir = INF_FIXTURES "/tiny/qwen3-small-bf16";
    int rc = inf_model_load(dir, &lo, &m, &err);
    CHECK_MSG(rc == INF_OK, "dummy load: %s", err ? err : "");
    inf_free(err);
    if (!m) return;
    inf_model_info info;
    CHECK_EQ_INT(inf_model_info_get(m, &info), INF_OK);
    CHECK_EQ_INT(info.quant_bits, 4);
    int32_t ids[5] = {5, 17, 400, 3, 99};
    inf_generate_options o;
    inf_generate_options_default(&o);
    o.max_tokens = 6;
    o.ignore_eos = 1;
    static et_run r;
    et_generate(m, NULL, ids, 5, &o, &r);
    CHECK_EQ_INT(r.rc, INF_OK);
    CHECK_EQ_INT(r.n, 6);
    CHECK_EQ_INT(r.text_len, 0);
    CHECK_EQ_INT(r.metrics.prompt_tokens, 5);
    inf_stream *s = NULL;
    CHECK_EQ_INT(inf_generate(m, "text", &o, &s), INF_E_TOKENIZER);
    inf_model_close(&m);

    /* without dummy weights the tokenizer is required */
    lo.dummy_weights = 0;
    rc = inf_model_load(dir, &lo, &m, &err);
    CHECK_EQ_INT(rc, INF_E_NOT_FOUND);
    CHECK(err && strstr(err, "tokenizer.json"));
    inf_free(err);

    /* bench helper on a tiny model */
    const inf_model_ops *ops = NULL;
    void *model = NULL;
    rc = inf__engine_open(dir, NULL, &inf__cpu_compute,
                          INF__ENGINE_NO_TOKENIZER_OK, &ops, &model, &err);
    CHECK_EQ_INT(rc, INF_OK);
    free(err);
    err = NULL;
    if (rc != INF_OK) return;
    inf_metrics bm;
    rc = inf__engine_bench(model, 8, 4, 3, &bm, &err);
    CHECK_EQ_INT(rc, INF_OK);
    free(err);
    CHECK_EQ_INT(bm.prompt_tokens, 24);
    CHECK_EQ_INT(bm.generated_tokens, 12);
    CHECK(bm.decode_tokens_per_second > 0 && bm.prefill_tokens_per_second > 0);
    ops->close(model);
}

int main(void) {
    test_dummy();
    printf("tiny models:\n");
    for (size_t i = 0; i < sizeof tiny / sizeof *tiny; i++) test_tiny(tiny[i]);
    json_error_t je;
    json_t *g = json_load_file(INF_FIXTURES "/golden/brown.json", 0, &je);
    CHECK_MSG(g != NULL, "brown.json: %s", je.text);
    if (g) {
        test_brown(g, "bf16");
        test_brown(g, "mlx8");
        test_brown(g, "mlx4");
        json_decref(g);
    }
    return tu_summary("test_engine_golden");
}
