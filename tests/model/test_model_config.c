/* config.json / generation_config.json parsing: the key variants real
 * checkpoints use (old and new transformers spellings, nested Gemma 3
 * configs, MLX quantisation overrides) and the errors for bad ones.  The
 * expected values follow transformers' semantics for each key. */
#include <string.h>

#include "model/hfconfig.h"
#include "testutil.h"

static int parse(const char *json, inf__hfconfig *c, inf__err *err) {
    return inf__hfconfig_parse(json, strlen(json), "config.json", c, err);
}

#define BASE(mt) "\"model_type\": \"" mt "\", \"vocab_size\": 1000, \"hidden_size\": 64, " \
    "\"intermediate_size\": 128, \"num_attention_heads\": 4, "

static void gemma3_pattern(void) {
    /* Older Gemma 3 keys: sliding_window_pattern, rope_scaling (global
     * layers only), rope_local_base_freq absent -> 10000. */
    const char *j = "{" BASE("gemma3_text") "\"num_hidden_layers\": 12, \"num_key_value_heads\": 1,"
                    "\"head_dim\": 256, \"sliding_window\": 512, \"sliding_window_pattern\": 6,"
                    "\"rope_theta\": 1000000.0, \"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": 8.0},"
                    "\"query_pre_attn_scalar\": 256, \"final_logit_softcapping\": 30.0,"
                    "\"attn_logit_softcapping\": null, \"torch_dtype\": \"bfloat16\","
                    "\"eos_token_id\": [1, 106], \"bos_token_id\": 2}";
    inf__hfconfig c;
    inf__err err;
    int rc = parse(j, &c, &err);
    CHECK_MSG(rc == INF_OK, "%s", err.msg);
    if (rc) return;
    CHECK_EQ_STR(c.desc.model_type, "gemma3");
    CHECK_EQ_INT(c.desc.head_dim, 256);
    CHECK_EQ_INT(c.desc.tie_embeddings, 1); /* Gemma3 default */
    CHECK_EQ_INT(c.tie_given, 0);
    CHECK_NEAR(c.desc.attn_scale, 1.0 / 16, 1e-7);
    CHECK_NEAR(c.desc.embed_scale, 8.0, 1e-6);
    CHECK_NEAR(c.desc.final_logit_softcap, 30.0, 0);
    CHECK_NEAR(c.desc.attn_logit_softcap, 0.0, 0);
    CHECK_EQ_INT(c.desc.act, INF__ACT_GELU_TANH);
    CHECK_EQ_INT(c.desc.norm_add_one, 1);
    for (int i = 0; i < 12; i++) {
        const inf__layer *L = &c.desc.layers[i];
        int global = (i + 1) % 6 == 0;
        CHECK_EQ_INT(L->sliding_window, global ? 0 : 512);
        CHECK_NEAR(L->rope.theta, global ? 1e6 : 1e4, 1e-3);
        CHECK_EQ_INT(L->rope.kind, global ? INF__ROPE_LINEAR : INF__ROPE_DEFAULT);
        if (global) CHECK_NEAR(L->rope.factor, 8.0, 0);
    }
    CHECK_EQ_INT(c.desc.n_eos, 2);
    CHECK_EQ_INT(c.desc.eos_ids[1], 106);
    CHECK_EQ_INT(c.desc.bos_id, 2);
    inf__hfconfig_free(&c);
    inf__hfconfig_free(&c); /* twice is fine: zeroed */
    inf__hfconfig_free(NULL);
}

static void gemma3_nested(void) {
    /* Multimodal Gemma 3: dims in text_config, newer rope_parameters keyed
     * by layer type, layer_types, ids at the top level. */
    const char *j =
        "{\"model_type\": \"gemma3\", \"eos_token_id\": [1, 106], \"vision_config\": {\"hidden_size\": 1152},"
        " \"text_config\": {\"model_type\": \"gemma3_text\", \"vocab_size\": 2000, \"hidden_size\": 100,"
        " \"intermediate_size\": 160, \"num_hidden_layers\": 4, \"num_attention_heads\": 4,"
        " \"num_key_value_heads\": 2, \"head_dim\": 32, \"query_pre_attn_scalar\": 32,"
        " \"sliding_window\": 1024, \"dtype\": \"float32\","
        " \"layer_types\": [\"sliding_attention\", \"full_attention\", \"sliding_attention\", \"full_attention\"],"
        " \"rope_parameters\": {\"full_attention\": {\"rope_type\": \"linear\", \"factor\": 4.0, \"rope_theta\": 500000.0},"
        "                      \"sliding_attention\": {\"rope_type\": \"default\", \"rope_theta\": 20000.0}}}}";
    inf__hfconfig c;
    inf__err err;
    int rc = parse(j, &c, &err);
    CHECK_MSG(rc == INF_OK, "%s", err.msg);
    if (rc) return;
    CHECK_EQ_INT(c.nested, 1);
    CHECK_EQ_STR(c.top_model_type, "gemma3");
    CHECK_EQ_STR(c.desc.model_type, "gemma3");
    CHECK_EQ_STR(c.desc.dtype, "float32");
    CHECK_EQ_INT(c.desc.hidden_size, 100);
    CHECK_NEAR(c.desc.embed_scale, 10.0, 1e-6);
    CHECK_NEAR(c.desc.attn_scale, 1.0 / sqrt(32.0), 1e-7);
    CHECK_EQ_INT(c.desc.n_eos, 2);
    for (int i = 0; i < 4; i++) {
        const inf__layer *L = &c.desc.layers[i];
        int global = i % 2 == 1;
        CHECK_EQ_INT(L->sliding_window, global ? 0 : 1024);
        CHECK_NEAR(L->rope.theta, global ? 5e5 : 2e4, 1e-3);
        CHECK_EQ_INT(L->rope.kind, global ? INF__ROPE_LINEAR : INF__ROPE_DEFAULT);
        CHECK_NEAR(L->rope.factor, global ? 4.0 : 1.0, 0);
    }
    inf__hfconfig_free(&c);
}

static void llama_new_keys(void) {
    /* Llama 3.2 style with the newer keys; head_dim and num_key_value_heads
     * absent -> defaults; eos lists merged with generation_config.json. */
    const char *j = "{" BASE("llama") "\"num_hidden_layers\": 2, \"dtype\": \"bfloat16\","
                    "\"rope_parameters\": {\"rope_type\": \"llama3\", \"rope_theta\": 500000.0,"
                    " \"factor\": 32.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0,"
                    " \"original_max_position_embeddings\": 8192},"
                    "\"eos_token_id\": [128001, 128008, 128009], \"bos_token_id\": 128000}";
    inf__hfconfig c;
    inf__err err;
    int rc = parse(j, &c, &err);
    CHECK_MSG(rc == INF_OK, "%s", err.msg);
    if (rc) return;
    CHECK_EQ_INT(c.desc.n_kv_heads, 4);
    CHECK_EQ_INT(c.desc.head_dim, 16);
    CHECK_EQ_INT(c.desc.tie_embeddings, 0);
    CHECK_EQ_INT(c.desc.max_positions, 2048); /* LlamaConfig default */
    CHECK_NEAR(c.desc.norm_eps, 1e-6, 1e-12);
    CHECK_EQ_STR(c.desc.dtype, "bfloat16");
    CHECK_NEAR(c.desc.attn_scale, 0.25, 1e-7);
    for (int i = 0; i < 2; i++) {
        const inf__rope *r = &c.desc.layers[i].rope;
        CHECK_EQ_INT(r->kind, INF__ROPE_LLAMA3);
        CHECK_NEAR(r->theta, 5e5, 0);
        CHECK_NEAR(r->factor, 32, 0);
        CHECK_NEAR(r->low_freq_factor, 1, 0);
        CHECK_NEAR(r->high_freq_factor, 4, 0);
        CHECK_EQ_INT(r->original_max_positions, 8192);
        CHECK_EQ_INT(c.desc.layers[i].sliding_window, 0);
    }
    const char *g = "{\"eos_token_id\": [128001, 128009, 7], \"bos_token_id\": 5,"
                    " \"temperature\": 0.6, \"top_p\": 0.9, \"top_k\": 40, \"repetition_penalty\": 1.1}";
    rc = inf__hfconfig_parse_gen(g, strlen(g), "generation_config.json", &c.desc, &err);
    CHECK_MSG(rc == INF_OK, "%s", err.msg);
    CHECK_EQ_INT(c.desc.n_eos, 4);
    CHECK_EQ_INT(c.desc.eos_ids[0], 128001);
    CHECK_EQ_INT(c.desc.eos_ids[2], 128009);
    CHECK_EQ_INT(c.desc.eos_ids[3], 7);
    CHECK_EQ_INT(c.desc.bos_id, 128000); /* config.json's wins */
    CHECK_NEAR(c.desc.gen_temperature, 0.6, 1e-6);
    CHECK_NEAR(c.desc.gen_top_p, 0.9, 1e-6);
    CHECK_EQ_INT(c.desc.gen_top_k, 40);
    CHECK_NEAR(c.desc.gen_repeat_penalty, 1.1, 1e-6);
    const char *bad = "{\"eos_token_id\": \"x\"}";
    CHECK_EQ_INT(inf__hfconfig_parse_gen(bad, strlen(bad), "generation_config.json", &c.desc, &err),
                 INF_E_FORMAT);
    CHECK(strstr(err.msg, "generation_config.json") != NULL);
    inf__hfconfig_free(&c);
}

static void old_linear_and_nulls(void) {
    /* Older rope_scaling spelling {"type": "linear"}; head_dim null. */
    const char *j = "{" BASE("llama") "\"num_hidden_layers\": 1, \"head_dim\": null,"
                    "\"rope_theta\": 10000, \"rope_scaling\": {\"type\": \"linear\", \"factor\": 2},"
                    "\"tie_word_embeddings\": true, \"eos_token_id\": 2}";
    inf__hfconfig c;
    inf__err err;
    int rc = parse(j, &c, &err);
    CHECK_MSG(rc == INF_OK, "%s", err.msg);
    if (rc) return;
    CHECK_EQ_INT(c.desc.head_dim, 16);
    CHECK_EQ_INT(c.desc.layers[0].rope.kind, INF__ROPE_LINEAR);
    CHECK_NEAR(c.desc.layers[0].rope.factor, 2, 0);
    CHECK_EQ_INT(c.desc.tie_embeddings, 1);
    CHECK_EQ_INT(c.tie_given, 1);
    CHECK_EQ_INT(c.desc.bos_id, -1);
    inf__hfconfig_free(&c);
}

static void sliding_rules(void) {
    inf__hfconfig c;
    inf__err err;
    /* Qwen2 slides only with use_sliding_window, from max_window_layers. */
    const char *q = "{" BASE("qwen2") "\"num_hidden_layers\": 4, \"use_sliding_window\": true,"
                    "\"sliding_window\": 4096, \"max_window_layers\": 2}";
    CHECK_EQ_INT(parse(q, &c, &err), INF_OK);
    for (int i = 0; i < 4; i++) CHECK_EQ_INT(c.desc.layers[i].sliding_window, i >= 2 ? 4096 : 0);
    inf__hfconfig_free(&c);
    const char *q2 = "{" BASE("qwen3") "\"num_hidden_layers\": 4, \"use_sliding_window\": false,"
                     "\"sliding_window\": 4096, \"max_window_layers\": 2}";
    CHECK_EQ_INT(parse(q2, &c, &err), INF_OK);
    for (int i = 0; i < 4; i++) CHECK_EQ_INT(c.desc.layers[i].sliding_window, 0);
    inf__hfconfig_free(&c);
    /* Mistral: every layer when the window is set, none when null. */
    const char *m = "{" BASE("mistral") "\"num_hidden_layers\": 3, \"sliding_window\": 4096}";
    CHECK_EQ_INT(parse(m, &c, &err), INF_OK);
    for (int i = 0; i < 3; i++) CHECK_EQ_INT(c.desc.layers[i].sliding_window, 4096);
    inf__hfconfig_free(&c);
    const char *m2 = "{" BASE("mistral") "\"num_hidden_layers\": 3, \"sliding_window\": null}";
    CHECK_EQ_INT(parse(m2, &c, &err), INF_OK);
    for (int i = 0; i < 3; i++) CHECK_EQ_INT(c.desc.layers[i].sliding_window, 0);
    inf__hfconfig_free(&c);
}

static void quant_overrides(void) {
    const char *j = "{" BASE("qwen3") "\"num_hidden_layers\": 2,"
                    "\"quantization\": {\"group_size\": 64, \"bits\": 4,"
                    " \"model.layers.0.mlp.down_proj\": {\"group_size\": 32, \"bits\": 8},"
                    " \"model.layers.1.self_attn.q_proj\": false}}";
    inf__hfconfig c;
    inf__err err;
    int rc = parse(j, &c, &err);
    CHECK_MSG(rc == INF_OK, "%s", err.msg);
    if (rc) return;
    int32_t b, g;
    CHECK_EQ_INT(c.desc.quant_bits, 4);
    CHECK_EQ_INT(c.desc.quant_group, 64);
    CHECK_EQ_INT(inf__hfconfig_quant_for(&c, "model.layers.0.mlp.down_proj", &b, &g), 1);
    CHECK_EQ_INT(b, 8);
    CHECK_EQ_INT(g, 32);
    CHECK_EQ_INT(inf__hfconfig_quant_for(&c, "model.layers.1.self_attn.q_proj", &b, &g), 0);
    CHECK_EQ_INT(inf__hfconfig_quant_for(&c, "model.layers.1.mlp.up_proj", &b, &g), 1);
    CHECK_EQ_INT(b, 4);
    CHECK_EQ_INT(g, 64);
    inf__hfconfig_free(&c);
}

static void errors(void) {
    static const struct { const char *json; int code; const char *needle; } cases[] = {
        {"{" BASE("gpt2") "\"num_hidden_layers\": 2}", INF_E_UNSUPPORTED, "gpt2"},
        {"{" BASE("llama") "\"num_hidden_layers\": 2, \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}}",
         INF_E_UNSUPPORTED, "yarn"},
        {"{\"model_type\": \"llama\", \"vocab_size\": 10}", INF_E_FORMAT, "hidden_size"},
        {"{" BASE("llama") "\"num_hidden_layers\": 2, \"num_key_value_heads\": 3}", INF_E_FORMAT,
         "num_key_value_heads"},
        {"{" BASE("llama") "\"num_hidden_layers\": -2}", INF_E_FORMAT, "num_hidden_layers"},
        {"{" BASE("gemma3_text") "\"num_hidden_layers\": 2, \"layer_types\": [\"full_attention\"]}",
         INF_E_FORMAT, "layer_types"},
        {"{" BASE("llama") "\"num_hidden_layers\": 2, \"quantization\": {\"group_size\": 64, \"bits\": 3}}",
         INF_E_UNSUPPORTED, "3-bit"},
        {"{" BASE("llama") "\"num_hidden_layers\": 2, \"quantization_config\": {\"quant_method\": \"gptq\", \"bits\": 4}}",
         INF_E_UNSUPPORTED, "gptq"},
        {"{" BASE("llama") "\"num_hidden_layers\": 2, \"hidden_act\": \"relu\"}", INF_E_UNSUPPORTED, "relu"},
        {"{\"model_type\": \"llama\", \"model_type\": \"qwen3\"}", INF_E_FORMAT, "duplicate"},
        {"{\"model_type\": \"ll\xff\xfe\"}", INF_E_FORMAT, "malformed JSON"},
        {"[1, 2]", INF_E_FORMAT, "not a JSON object"},
        {"{\"vocab_size\": 3}", INF_E_FORMAT, "model_type"},
        {"", INF_E_FORMAT, "malformed JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        inf__hfconfig c;
        inf__err err;
        int rc = parse(cases[i].json, &c, &err);
        CHECK_MSG(rc == cases[i].code, "case %zu: rc %d (%s)", i, rc, rc ? err.msg : "ok");
        if (rc) {
            CHECK_MSG(strstr(err.msg, cases[i].needle) && strstr(err.msg, "config.json"),
                      "case %zu: message \"%s\" lacks \"%s\"", i, err.msg, cases[i].needle);
            CHECK(c.desc.layers == NULL);
        } else {
            inf__hfconfig_free(&c);
        }
        /* No err struct: the code still comes back. */
        rc = inf__hfconfig_parse(cases[i].json, strlen(cases[i].json), NULL, &c, NULL);
        CHECK_EQ_INT(rc, cases[i].code);
        if (!rc) inf__hfconfig_free(&c);
    }
}

int main(void) {
    gemma3_pattern();
    gemma3_nested();
    llama_new_keys();
    old_linear_and_nulls();
    sliding_rules();
    quant_overrides();
    errors();
    return tu_summary("test_model_config");
}
