/* The safetensors header parser on in-memory images, and the file/shard
 * readers on the fixtures. */
#include <stdint.h>
#include <string.h>

#include "model/safetensors.h"
#include "testutil.h"

/* Builds 8-byte length + header + `data` zero bytes into a static buffer. */
static size_t image(char *buf, const char *hdr, size_t data) {
    size_t n = strlen(hdr);
    for (int i = 0; i < 8; i++) buf[i] = (char)((uint64_t)n >> (8 * i));
    memcpy(buf + 8, hdr, n);
    memset(buf + 8 + n, 0x11, data);
    return 8 + n + data;
}

static int parse(const char *hdr, size_t data, inf__st_header **h, inf__err *err) {
    static char buf[8192];
    size_t n = image(buf, hdr, data);
    return inf__st_parse_mem(buf, n, "mem.safetensors", h, err);
}

static void valid(void) {
    static char buf[4096];
    const char *hdr = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                      "\"__metadata__\":{\"format\":\"pt\"},"
                      "\"b\":{\"dtype\":\"BOOL\",\"shape\":[],\"data_offsets\":[24,25]},"
                      "\"z\":{\"dtype\":\"U8\",\"shape\":[0,5],\"data_offsets\":[25,25]},"
                      "\"d\":{\"dtype\":\"BF16\",\"shape\":[1,1,1,3],\"data_offsets\":[26,32]}}  ";
    size_t n = image(buf, hdr, 40);
    inf__st_header *h;
    inf__err err;
    int rc = inf__st_parse_mem(buf, n, "mem", &h, &err);
    CHECK_MSG(rc == INF_OK, "%s", err.msg);
    if (rc) return;
    CHECK_EQ_INT(h->n, 4);
    CHECK_EQ_INT(h->data_bytes, 40);
    const char *data = buf + 8 + strlen(hdr);
    CHECK_EQ_STR(h->tensors[0].name, "a");
    CHECK_EQ_INT(h->tensors[0].dtype, INF__DT_F32);
    CHECK_EQ_INT(h->tensors[0].ndim, 2);
    CHECK_EQ_INT(h->tensors[0].shape[1], 3);
    CHECK(h->tensors[0].data == data);
    CHECK_EQ_STR(h->tensors[1].name, "b");
    CHECK_EQ_INT(h->tensors[1].ndim, 0);
    CHECK_EQ_INT(h->tensors[1].nbytes, 1);
    CHECK(h->tensors[1].data == data + 24);
    CHECK_EQ_INT(h->tensors[2].nbytes, 0);
    CHECK_EQ_INT(h->tensors[3].ndim, 4);
    CHECK(h->tensors[3].data == data + 26);
    inf__st_header_free(h);
    inf__st_header_free(NULL);
}

static void dtypes(void) {
    static const char *names[] = {"F32", "F16", "BF16", "F64", "I8", "U8", "I16",
                                  "U16", "I32", "U32", "I64", "U64", "BOOL"};
    static const size_t sizes[] = {4, 2, 2, 8, 1, 1, 2, 2, 4, 4, 8, 8, 1};
    for (int i = 0; i < 13; i++) {
        char hdr[128];
        snprintf(hdr, sizeof hdr, "{\"t\":{\"dtype\":\"%s\",\"shape\":[3],\"data_offsets\":[0,%zu]}}",
                 names[i], 3 * sizes[i]);
        inf__st_header *h;
        inf__err err;
        CHECK_EQ_INT(parse(hdr, 3 * sizes[i], &h, &err), INF_OK);
        if (h) {
            CHECK_EQ_INT(h->tensors[0].dtype, i);
            CHECK_EQ_STR(inf__dtype_name(h->tensors[0].dtype), names[i]);
            CHECK_EQ_INT(inf__dtype_size(h->tensors[0].dtype), sizes[i]);
            inf__st_header_free(h);
        }
    }
    CHECK_EQ_INT(inf__dtype_size(INF__DT_COUNT), 0);
    CHECK_EQ_INT(inf__dtype_parse("bf16"), -1); /* case matters, as in the format */
}

static void bad(void) {
    static const struct { const char *hdr; size_t data; int code; const char *needle; } c[] = {
        {"[]", 0, INF_E_FORMAT, "not a JSON object"},
        {"{\"t\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
         INF_E_UNSUPPORTED, "5 dims"},
        {"{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, INF_E_FORMAT, "before"},
        {"{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0.0,4]}}", 4, INF_E_FORMAT,
         "data_offsets"},
        {"{\"t\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,4]}}", 4,
         INF_E_FORMAT, "over"},
        {"{\"t\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, INF_E_FORMAT, "data_offsets"},
        {"{\"t\":7}", 4, INF_E_FORMAT, "not an object"},
        {"{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"u\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[3,5]}}", 8, INF_E_FORMAT, "overlap"},
        {"{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, INF_E_FORMAT, "out of range"},
        {"{\"t\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8, INF_E_FORMAT, "shape[0]"},
        {"{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} x", 4, INF_E_FORMAT,
         "malformed header JSON"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        inf__st_header *h = (inf__st_header *)1;
        inf__err err;
        int rc = parse(c[i].hdr, c[i].data, &h, &err);
        CHECK_MSG(rc == c[i].code, "case %zu: %d %s", i, rc, rc ? err.msg : "");
        CHECK(h == NULL);
        if (rc) CHECK_MSG(strstr(err.msg, c[i].needle) && strstr(err.msg, "mem.safetensors"),
                          "case %zu: \"%s\"", i, err.msg);
    }
    /* Shorter than the length field; a length field past the end. */
    inf__st_header *h;
    inf__err err;
    CHECK_EQ_INT(inf__st_parse_mem("\x02\0\0", 3, "x", &h, &err), INF_E_FORMAT);
    CHECK_EQ_INT(inf__st_parse_mem("\x09\0\0\0\0\0\0\0{}", 10, "x", &h, &err), INF_E_FORMAT);
    CHECK(strstr(err.msg, "header length 9") != NULL);
    CHECK_EQ_INT(inf__st_parse_mem("\x02\0\0\0\0\0\0\0{}", 10, NULL, &h, &err), INF_OK);
    CHECK_EQ_INT(h->n, 0);
    inf__st_header_free(h);
}

static void files(void) {
    char p[1024];
    inf__st_set *s;
    inf__err err;
    snprintf(p, sizeof p, "%s/tiny/llama-f32/model.safetensors", INF_FIXTURES);
    CHECK_EQ_INT(inf__st_open_file(p, &s, &err), INF_OK);
    /* embed, 3 x 9 per layer, norm, lm_head */
    CHECK_EQ_INT(inf__st_count(s), 1 + 3 * 9 + 2);
    const inf__tensor *t = inf__st_find(s, "lm_head.weight");
    CHECK(t && t->shape[0] == 512 && t->shape[1] == 64 && t->dtype == INF__DT_F32);
    CHECK(inf__st_find(s, "nope") == NULL);
    CHECK_EQ_STR(inf__st_file_of(s, t), "model.safetensors");
    /* f32 elements: embed + lm_head [512, 64], final norm [64]; per layer
     * 2 norms, q/o [64, 64], k/v [32, 64], gate/up/down 160 x 64. */
    CHECK_EQ_INT(inf__st_data_bytes(s),
                 4 * (2 * 512 * 64 + 64 + 3 * (2 * 64 + 2 * 64 * 64 + 2 * 32 * 64 + 3 * 160 * 64)));
    inf__st_set_free(s);
    snprintf(p, sizeof p, "%s/tiny/qwen3-f16-sharded", INF_FIXTURES);
    CHECK_EQ_INT(inf__st_open_dir(p, 0, &s, NULL, NULL, &err), INF_OK);
    CHECK_EQ_INT(inf__st_file_count(s), 3);
    t = inf__st_find(s, "model.norm.weight");
    CHECK(t != NULL && t->dtype == INF__DT_F16);
    CHECK(strstr(inf__st_file_of(s, t), "-of-00003.safetensors") != NULL);
    for (size_t i = 0; i < inf__st_count(s); i++) CHECK(inf__st_find(s, inf__st_at(s, i)->name) == inf__st_at(s, i));
    inf__st_set_free(s);
    inf__st_set_free(NULL);
    CHECK_EQ_INT(inf__st_open_file("/nonexistent/x.safetensors", &s, &err), INF_E_NOT_FOUND);
}

int main(void) {
    valid();
    dtypes();
    bad();
    files();
    return tu_summary("test_safetensors");
}
