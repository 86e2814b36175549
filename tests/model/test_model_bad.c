/* Bad inputs: corrupted copies of a fixture model, built in a temporary
 * directory, must each fail with the right code and a message that names
 * the file (and the tensor, where one is involved).  Prints the table of
 * input -> code -> message. */
#include <ftw.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/model.h"
#include "testutil.h"

static char tmp[256];

static int write_file(const char *path, const void *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(buf, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

static void copy_model(const char *src, const char *dst) {
    static const char *files[] = {"config.json", "model.safetensors", "model.safetensors.index.json",
                                  "model-00001-of-00003.safetensors",
                                  "model-00002-of-00003.safetensors",
                                  "model-00003-of-00003.safetensors"};
    mkdir(dst, 0755);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char a[1024], b[1024];
        snprintf(a, sizeof a, "%s/%s", src, files[i]);
        snprintf(b, sizeof b, "%s/%s", dst, files[i]);
        size_t n;
        char *buf = tu_read_file(a, &n);
        if (buf) write_file(b, buf, n);
        free(buf);
    }
}

/* Rewrites a safetensors file with its header edited by fn (as JSON) or by
 * replacing the text `from` with `to` (when fn is NULL). */
static void st_edit(const char *path, void (*fn)(json_t *), const char *from, const char *to) {
    size_t n;
    char *buf = tu_read_file(path, &n);
    if (!buf) { CHECK_MSG(0, "cannot read %s", path); return; }
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | (uint8_t)buf[i];
    char *hdr;
    if (fn) {
        json_t *h = json_loadb(buf + 8, hl, 0, NULL);
        fn(h);
        hdr = json_dumps(h, JSON_COMPACT);
        json_decref(h);
    } else {
        hdr = strndup(buf + 8, hl);
        char *at = strstr(hdr, from);
        CHECK_MSG(at != NULL, "%s not in header", from);
        if (at) {
            char *nh = malloc(strlen(hdr) + strlen(to) + 1);
            sprintf(nh, "%.*s%s%s", (int)(at - hdr), hdr, to, at + strlen(from));
            free(hdr);
            hdr = nh;
        }
    }
    size_t nl = strlen(hdr), data = n - 8 - hl;
    char *out = malloc(8 + nl + data);
    for (int i = 0; i < 8; i++) out[i] = (char)((uint64_t)nl >> (8 * i));
    memcpy(out + 8, hdr, nl);
    memcpy(out + 8 + nl, buf + 8 + hl, data);
    write_file(path, out, 8 + nl + data);
    free(out);
    free(hdr);
    free(buf);
}

static void set_len_field(const char *path, uint64_t v) {
    size_t n;
    char *buf = tu_read_file(path, &n);
    for (int i = 0; i < 8; i++) buf[i] = (char)(v >> (8 * i));
    write_file(path, buf, n);
    free(buf);
}

static void truncate_to(const char *path, size_t len) {
    CHECK(truncate(path, (off_t)len) == 0);
}

static json_t *entry(json_t *h, const char *name) { return json_object_get(h, name); }

static void ed_overlap(json_t *h) {
    json_object_set(entry(h, "model.layers.1.self_attn.q_proj.weight"), "data_offsets",
                    json_object_get(entry(h, "model.layers.0.self_attn.q_proj.weight"), "data_offsets"));
}
static void ed_out_of_range(json_t *h) {
    json_t *o = json_object_get(entry(h, "model.norm.weight"), "data_offsets");
    json_int_t e = json_integer_value(json_array_get(o, 1));
    json_array_set_new(o, 0, json_integer(e + 10000000));
    json_array_set_new(o, 1, json_integer(e + 10000128));
}
static void ed_dtype(json_t *h) {
    json_object_set_new(entry(h, "model.norm.weight"), "dtype", json_string("Q4_K"));
}
static void ed_missing(json_t *h) { json_object_del(h, "model.layers.1.mlp.up_proj.weight"); }
static void ed_shape(json_t *h) {
    json_object_set_new(entry(h, "model.layers.2.self_attn.k_proj.weight"), "shape",
                        json_pack("[ii]", 64, 32));
}
static void ed_negative(json_t *h) {
    json_object_set_new(entry(h, "model.norm.weight"), "shape", json_pack("[i]", -64));
}
static void ed_span(json_t *h) {
    json_object_set_new(entry(h, "model.norm.weight"), "shape", json_pack("[i]", 65));
}
static void ed_wrong_dtype(json_t *h) {
    json_t *e = entry(h, "model.layers.0.input_layernorm.weight");
    json_object_set_new(e, "dtype", json_string("I32"));
    json_object_set_new(e, "shape", json_pack("[i]", 32));
}

/* Removes tie_word_embeddings from a config.json. */
static void drop_tie(const char *cfg) {
    json_t *c = json_load_file(cfg, 0, NULL);
    json_object_del(c, "tie_word_embeddings");
    json_dump_file(c, cfg, 0);
    json_decref(c);
}

static int rm_cb(const char *p, const struct stat *s, int flag, struct FTW *f) {
    (void)s; (void)flag; (void)f;
    return remove(p);
}

typedef struct bad_case {
    const char *label;
    const char *base;      /* fixture to copy */
    int expect;
    const char *needle[2]; /* must appear in the message */
} bad_case;

static void run_case(const bad_case *c, const char *dir) {
    inf__model_desc d;
    inf__model_files *f = (inf__model_files *)1;
    inf__err err;
    int rc = inf__model_open(dir, NULL, &d, &f, &err);
    const char *msg = rc ? err.msg : "(loaded)";
    /* The table, with the temp dir shortened for quoting. */
    char shown[1200] = "";
    const char *m = msg, *at;
    while ((at = strstr(m, tmp))) {
        snprintf(shown + strlen(shown), sizeof shown - strlen(shown), "%.*s$TMP", (int)(at - m), m);
        m = at + strlen(tmp);
    }
    snprintf(shown + strlen(shown), sizeof shown - strlen(shown), "%s", m);
    printf("| %-44s | %-18s | %s\n", c->label, rc ? inf_status_name(rc) : "OK", shown);
    CHECK_MSG(rc == c->expect, "%s: got %d want %d", c->label, rc, c->expect);
    if (rc) CHECK(f == NULL);
    for (int i = 0; i < 2; i++)
        if (c->needle[i]) CHECK_MSG(strstr(msg, c->needle[i]) != NULL, "%s: \"%s\" not in message",
                                    c->label, c->needle[i]);
    if (rc == INF_OK) inf__model_files_free(f);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/inf_model_bad_XXXXXX");
    if (!mkdtemp(tmp)) { perror("mkdtemp"); return 1; }
    char src[512], srcs[512], srct[512], srcg[512], dir[600], p[700];
    snprintf(src, sizeof src, "%s/tiny/qwen3-bf16", INF_FIXTURES);
    snprintf(srcs, sizeof srcs, "%s/tiny/qwen3-f16-sharded", INF_FIXTURES);
    snprintf(srct, sizeof srct, "%s/tiny/llama-bf16-tied", INF_FIXTURES);
    snprintf(srcg, sizeof srcg, "%s/tiny/gemma3-bf16-swa", INF_FIXTURES);
    printf("| %-44s | %-18s | %s\n", "input", "code", "message");
    int k = 0;
#define CASE(label, base_dir, code, n1, n2, SETUP) do { \
        bad_case c_ = {label, base_dir, code, {n1, n2}}; \
        snprintf(dir, sizeof dir, "%s/case%02d", tmp, k++); \
        copy_model(base_dir, dir); \
        SETUP; \
        run_case(&c_, dir); } while (0)
#define ST (snprintf(p, sizeof p, "%s/model.safetensors", dir), p)
#define CFG (snprintf(p, sizeof p, "%s/config.json", dir), p)

    CASE("unmodified copy (control)", src, INF_OK, NULL, NULL, (void)0);
    CASE("missing config.json", src, INF_E_NOT_FOUND, "config.json", "not found", unlink(CFG));
    CASE("no *.safetensors files", src, INF_E_NOT_FOUND, "no *.safetensors", NULL, unlink(ST));
    CASE("safetensors truncated to 5 bytes", src, INF_E_FORMAT, "model.safetensors", "truncated",
         truncate_to(ST, 5));
    CASE("safetensors truncated mid-data", src, INF_E_FORMAT, "model.safetensors", "out of range",
         truncate_to(ST, 200000));
    CASE("header length beyond file", src, INF_E_FORMAT, "model.safetensors", "header length",
         set_len_field(ST, 1u << 30));
    CASE("header JSON cut short", src, INF_E_FORMAT, "model.safetensors", "malformed header JSON",
         set_len_field(ST, 100));
    CASE("overlapping tensors", src, INF_E_FORMAT, "overlap", "layers.1.self_attn.q_proj",
         st_edit(ST, ed_overlap, NULL, NULL));
    CASE("data_offsets out of range", src, INF_E_FORMAT, "model.norm.weight", "out of range",
         st_edit(ST, ed_out_of_range, NULL, NULL));
    CASE("unknown dtype", src, INF_E_FORMAT, "model.norm.weight", "unknown dtype \"Q4_K\"",
         st_edit(ST, ed_dtype, NULL, NULL));
    CASE("negative dim", src, INF_E_FORMAT, "model.norm.weight", "shape[0]",
         st_edit(ST, ed_negative, NULL, NULL));
    CASE("shape * dtype size != offsets span", src, INF_E_FORMAT, "model.norm.weight", "span",
         st_edit(ST, ed_span, NULL, NULL));
    CASE("duplicate tensor name in header", src, INF_E_FORMAT, "model.safetensors", "duplicate",
         st_edit(ST, NULL, "{", "{\"model.norm.weight\":{\"dtype\":\"BF16\",\"shape\":[0],\"data_offsets\":[0,0]},"));
    CASE("non-UTF-8 tensor name in header", src, INF_E_FORMAT, "model.safetensors", "malformed header JSON",
         st_edit(ST, NULL, "model.norm.weight", "model.norm.\xff\xfeweight"));
    CASE("missing tensor", src, INF_E_FORMAT, "missing tensor", "model.layers.1.mlp.up_proj.weight",
         st_edit(ST, ed_missing, NULL, NULL));
    CASE("shape mismatch (k_proj transposed)", src, INF_E_FORMAT, "model.layers.2.self_attn.k_proj.weight",
         "expected F32/F16/BF16 [32, 64], found BF16 [64, 32]", st_edit(ST, ed_shape, NULL, NULL));
    CASE("unexpected dtype (norm as I32)", src, INF_E_FORMAT, "model.layers.0.input_layernorm.weight",
         "found I32 [32]", st_edit(ST, ed_wrong_dtype, NULL, NULL));
    CASE("o_proj bias (not representable)", src, INF_E_UNSUPPORTED,
         "model.layers.0.self_attn.o_proj.bias", "not supported",
         st_edit(ST, NULL, "{", "{\"model.layers.0.self_attn.o_proj.bias\":{\"dtype\":\"BF16\",\"shape\":[0],\"data_offsets\":[0,0]},"));
    CASE("untied by default (llama), no lm_head", srct, INF_E_FORMAT, "tie_word_embeddings",
         "missing tensor \"lm_head.weight\"", drop_tie(CFG));
    CASE("tied by default (gemma3), no lm_head (control)", srcg, INF_OK, NULL, NULL, drop_tie(CFG));
    CASE("malformed config.json", src, INF_E_FORMAT, "config.json", "malformed JSON",
         write_file(CFG, "{\"model_type\": \"qwen3\",", 24));
    CASE("non-UTF-8 config.json", src, INF_E_FORMAT, "config.json", "malformed JSON",
         write_file(CFG, "{\"model_type\": \"qw\xc3\x28n3\"}", 24));
    CASE("unknown architecture", src, INF_E_UNSUPPORTED, "config.json", "gpt_neox",
         write_file(CFG, "{\"model_type\": \"gpt_neox\"}", 26));
    CASE("config dims disagree with weights", src, INF_E_FORMAT, "embed_tokens.weight", "[1024, 64]",
         { json_t *cj = json_load_file(CFG, 0, NULL);
           json_object_set_new(cj, "vocab_size", json_integer(1024));
           json_dump_file(cj, CFG, 0); json_decref(cj); });
    CASE("missing shard", srcs, INF_E_NOT_FOUND, "model-00002-of-00003.safetensors", "missing",
         { snprintf(p, sizeof p, "%s/model-00002-of-00003.safetensors", dir); unlink(p); });
    CASE("index names the wrong shard", srcs, INF_E_FORMAT, "model.safetensors.index.json",
         "model.norm.weight",
         { snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
           json_t *ix = json_load_file(p, 0, NULL);
           json_t *wm = json_object_get(ix, "weight_map");
           const char *cur = json_string_value(json_object_get(wm, "model.norm.weight"));
           json_object_set_new(wm, "model.norm.weight", json_string(
               strcmp(cur, "model-00001-of-00003.safetensors") ? "model-00001-of-00003.safetensors"
                                                               : "model-00002-of-00003.safetensors"));
           json_dump_file(ix, p, 0); json_decref(ix); });
    CASE("tensor in two shards", srcs, INF_E_FORMAT, "appears twice", "model.embed_tokens.weight",
         { snprintf(p, sizeof p, "%s/model-00003-of-00003.safetensors", dir);
           st_edit(p, NULL, "{", "{\"model.embed_tokens.weight\":{\"dtype\":\"F16\",\"shape\":[0],\"data_offsets\":[0,0]},"); });
    CASE("directory does not exist", src, INF_E_NOT_FOUND, "config.json", NULL,
         snprintf(dir, sizeof dir, "%s/nonexistent", tmp));
#undef CASE
    nftw(tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return tu_summary("test_model_bad");
}
