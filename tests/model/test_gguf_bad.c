/* The GGUF reader (src/model/gguf.c) and its model mapping against bad
 * input: GGUF images built here by a small writer, each broken in one way,
 * must fail with the right code and a message naming the problem; every
 * prefix of a valid file fails cleanly; a valid file, a split set and the
 * accessors work.  Prints the table of case -> code -> message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/gguf.h"
#include "model/gguf_model.h"
#include "model/modeldir.h"
#include "testutil.h"

/* ---- a GGUF writer ------------------------------------------------------ */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void u32(buf *b, uint32_t v) { uint8_t x[4]; for (int i = 0; i < 4; i++) x[i] = (uint8_t)(v >> 8 * i); put(b, x, 4); }
static void u64(buf *b, uint64_t v) { uint8_t x[8]; for (int i = 0; i < 8; i++) x[i] = (uint8_t)(v >> 8 * i); put(b, x, 8); }
static void str(buf *b, const char *s) { u64(b, strlen(s)); put(b, s, strlen(s)); }
static void hdr(buf *b, uint32_t version, uint64_t nt, uint64_t nkv) {
    u32(b, 0x46554747u); u32(b, version); u64(b, nt); u64(b, nkv);
}
static void kv_u32(buf *b, const char *k, uint32_t v) { str(b, k); u32(b, 4); u32(b, v); }
static void kv_str(buf *b, const char *k, const char *v) { str(b, k); u32(b, 8); str(b, v); }
static void kv_f32(buf *b, const char *k, float v) { uint32_t x; memcpy(&x, &v, 4); str(b, k); u32(b, 6); u32(b, x); }
static void tinfo(buf *b, const char *name, int nd, const uint64_t *ne, uint32_t type, uint64_t off) {
    str(b, name); u32(b, (uint32_t)nd);
    for (int i = 0; i < nd; i++) u64(b, ne[i]);
    u32(b, type); u64(b, off);
}
static void pad(buf *b, size_t a) { uint8_t z = 0; while (b->n % a) put(b, &z, 1); }
static void zeros(buf *b, size_t n) { uint8_t z[64] = {0}; while (n) { size_t k = n < 64 ? n : 64; put(b, z, k); n -= k; } }

/* A valid file: two F32 tensors [8] and [4, 2]. */
static buf valid(void) {
    buf b = {0};
    hdr(&b, 3, 2, 2);
    kv_str(&b, "general.architecture", "llama");
    kv_u32(&b, "general.alignment", 32);
    uint64_t a[1] = {8}, m[2] = {4, 2};
    tinfo(&b, "a", 1, a, 0, 0);
    tinfo(&b, "m", 2, m, 0, 32);
    pad(&b, 32);
    zeros(&b, 64);
    return b;
}

static int expect(const char *label, buf b, int code, const char *needle) {
    inf__gguf *g = NULL;
    inf__err err;
    int rc = inf__gguf_parse_mem(b.p ? (const void *)b.p : (const void *)"", b.n, "bad.gguf", &g, &err);
    printf("  %-34s -> %-18s %s\n", label, inf_strerror(rc), rc ? err.msg : "");
    CHECK_MSG(rc == code, "%s: got %d (%s), expected %d", label, rc, rc ? err.msg : "", code);
    if (rc && needle) CHECK_MSG(strstr(err.msg, needle) != NULL, "%s: \"%s\" lacks \"%s\"", label, err.msg, needle);
    if (rc) CHECK(g == NULL);
    inf__gguf_free(g);
    free(b.p);
    return rc;
}

int main(void) {
    printf("GGUF bad inputs:\n");
    /* The valid file itself, and its accessors. */
    {
        buf b = valid();
        inf__gguf *g = NULL;
        inf__err err;
        int rc = inf__gguf_parse_mem(b.p, b.n, "ok.gguf", &g, &err);
        CHECK_MSG(rc == INF_OK, "valid: %s", err.msg);
        if (g) {
            CHECK_EQ_INT(inf__gguf_version(g), 3);
            CHECK_EQ_INT(inf__gguf_tensor_count(g), 2);
            const inf__gguf_tensor *t = inf__gguf_tensor_find(g, "m");
            CHECK(t && t->ne[0] == 4 && t->ne[1] == 2 && t->nbytes == 32);
            char s[16];
            CHECK_EQ_STR(inf__gguf_str_copy(g, "general.architecture", s, sizeof s), "llama");
            int64_t v = 0;
            CHECK_EQ_INT(inf__gguf_get_int(g, "general.alignment", 0, 100, &v, NULL), 1);
            CHECK_EQ_INT(v, 32);
            CHECK_EQ_INT(inf__gguf_get_int(g, "general.architecture", 0, 1, &v, &err), -1);
            CHECK_EQ_INT(inf__gguf_get_int(g, "nope", 0, 1, &v, NULL), 0);
        }
        inf__gguf_free(g);
        /* Every prefix fails cleanly. */
        int all = 1;
        for (size_t n = 0; n < b.n - 64; n++) {
            rc = inf__gguf_parse_mem(b.p, n, "prefix.gguf", &g, &err);
            if (rc != INF_E_FORMAT) all = 0;
            if (!rc) inf__gguf_free(g);
        }
        CHECK_MSG(all, "every prefix of the header is INF_E_FORMAT");
        free(b.p);
    }
    buf b;
    /* truncated header */
    b = valid(); b.n = 10;
    expect("truncated header", b, INF_E_FORMAT, "truncated");
    b = (buf){0}; put(&b, "GGUF", 4);
    expect("magic only", b, INF_E_FORMAT, "truncated");
    b = (buf){0}; put(&b, "GGML", 4); zeros(&b, 40);
    expect("wrong magic", b, INF_E_FORMAT, "magic");
    b = (buf){0}; hdr(&b, 1, 0, 0);
    expect("version 1", b, INF_E_UNSUPPORTED, "version 1");
    b = (buf){0}; hdr(&b, 0x03000000u, 0, 0);
    expect("big-endian", b, INF_E_UNSUPPORTED, "big-endian");
    b = (buf){0}; hdr(&b, 7, 0, 0);
    expect("version 7", b, INF_E_FORMAT, "version");
    /* string length beyond the file */
    b = (buf){0}; hdr(&b, 3, 0, 1); u64(&b, 1000); put(&b, "general", 7);
    expect("key length beyond the file", b, INF_E_FORMAT, "string length");
    b = (buf){0}; hdr(&b, 3, 0, 1); str(&b, "general.name"); u32(&b, 8); u64(&b, UINT64_MAX);
    expect("value length 2^64-1", b, INF_E_FORMAT, "string length");
    /* counts */
    b = (buf){0}; hdr(&b, 3, UINT64_MAX, 0);
    expect("tensor count 2^64-1", b, INF_E_FORMAT, "cannot fit");
    b = (buf){0}; hdr(&b, 3, 0, 1u << 30);
    expect("metadata count 2^30", b, INF_E_FORMAT, "cannot fit");
    b = (buf){0}; hdr(&b, 3, 0, 1); str(&b, "x"); u32(&b, 9); u32(&b, 4); u64(&b, 1ull << 60);
    expect("array count 2^60", b, INF_E_FORMAT, "runs past");
    /* nested arrays */
    b = (buf){0}; hdr(&b, 3, 0, 1); str(&b, "x"); u32(&b, 9);
    for (int i = 0; i < 8; i++) { u32(&b, 9); u64(&b, 1); }
    u32(&b, 4); u64(&b, 0); zeros(&b, 64);
    expect("arrays nested 9 deep", b, INF_E_FORMAT, "nested");
    b = (buf){0}; hdr(&b, 3, 0, 1); str(&b, "x"); u32(&b, 9); u32(&b, 9); u64(&b, 2);
    u32(&b, 4); u64(&b, 1); u32(&b, 7); u32(&b, 5); u32(&b, 4); u64(&b, 3);
    expect("nested array, inner count too big", b, INF_E_FORMAT, "runs past");
    {
        /* a valid array of arrays: [[1], [2, 3]] of u32 */
        b = (buf){0}; hdr(&b, 3, 0, 1); str(&b, "x"); u32(&b, 9); u32(&b, 9); u64(&b, 2);
        u32(&b, 4); u64(&b, 1); u32(&b, 1); u32(&b, 4); u64(&b, 2); u32(&b, 2); u32(&b, 3);
        expect("array of arrays (valid)", b, INF_OK, NULL);
    }
    b = (buf){0}; hdr(&b, 3, 0, 1); str(&b, "x"); u32(&b, 13); u32(&b, 0);
    expect("unknown value type", b, INF_E_FORMAT, "unknown value type");
    b = (buf){0}; hdr(&b, 3, 0, 1); str(&b, "x"); u32(&b, 7); put(&b, "\x02", 1);
    expect("bool 2", b, INF_E_FORMAT, "bool");
    /* duplicate keys */
    b = (buf){0}; hdr(&b, 3, 0, 2); kv_u32(&b, "a.b", 1); kv_u32(&b, "a.b", 2);
    expect("duplicate keys", b, INF_E_FORMAT, "duplicate metadata key");
    /* wrong type for a known key, alignment */
    b = (buf){0}; hdr(&b, 3, 0, 1); kv_str(&b, "general.alignment", "32");
    expect("general.alignment a string", b, INF_E_FORMAT, "general.alignment");
    b = (buf){0}; hdr(&b, 3, 0, 1); kv_u32(&b, "general.architecture", 1);
    expect("general.architecture a u32", b, INF_E_FORMAT, "general.architecture");
    b = (buf){0}; hdr(&b, 3, 0, 1); kv_f32(&b, "split.count", 2.0f);
    expect("split.count a float", b, INF_E_FORMAT, "split.count");
    b = (buf){0}; hdr(&b, 3, 0, 1); kv_u32(&b, "general.alignment", 48);
    expect("alignment 48", b, INF_E_FORMAT, "power of two");
    b = (buf){0}; hdr(&b, 3, 0, 1); kv_u32(&b, "general.alignment", 0);
    expect("alignment 0", b, INF_E_FORMAT, "power of two");
    /* tensors */
    uint64_t ne8[1] = {8}, ne2[2] = {4, 2};
    b = (buf){0}; hdr(&b, 3, 1, 0); tinfo(&b, "t", 1, ne8, 0, 64); pad(&b, 32); zeros(&b, 32);
    expect("tensor beyond the file", b, INF_E_FORMAT, "beyond");
    b = (buf){0}; hdr(&b, 3, 1, 0); tinfo(&b, "t", 1, ne8, 0, 0); pad(&b, 32); zeros(&b, 16);
    expect("tensor past the end", b, INF_E_FORMAT, "beyond");
    b = (buf){0}; hdr(&b, 3, 2, 0); tinfo(&b, "a", 1, ne8, 0, 0); tinfo(&b, "b", 2, ne2, 0, 0);
    pad(&b, 32); zeros(&b, 64);
    expect("overlapping tensors", b, INF_E_FORMAT, "overlap");
    b = (buf){0}; hdr(&b, 3, 2, 0); tinfo(&b, "a", 1, ne8, 0, 0); tinfo(&b, "a", 1, ne8, 0, 32);
    pad(&b, 32); zeros(&b, 64);
    expect("duplicate tensor names", b, INF_E_FORMAT, "duplicate tensor");
    b = (buf){0}; hdr(&b, 3, 1, 0); tinfo(&b, "t", 1, ne8, 99, 0); pad(&b, 32); zeros(&b, 64);
    expect("unknown ggml type 99", b, INF_E_FORMAT, "unknown ggml type 99");
    b = (buf){0}; hdr(&b, 3, 1, 0); tinfo(&b, "t", 1, ne8, 4, 0); pad(&b, 32); zeros(&b, 64);
    expect("removed ggml type 4", b, INF_E_FORMAT, "unknown ggml type 4");
    {
        uint64_t big[4] = {1ull << 32, 1ull << 32, 1ull << 32, 16};
        b = (buf){0}; hdr(&b, 3, 1, 0); tinfo(&b, "t", 4, big, 0, 0); pad(&b, 32); zeros(&b, 64);
        expect("dims product overflows", b, INF_E_FORMAT, "larger than");
        uint64_t neg[1] = {UINT64_MAX};
        b = (buf){0}; hdr(&b, 3, 1, 0); tinfo(&b, "t", 1, neg, 0, 0); pad(&b, 32); zeros(&b, 64);
        expect("dimension 2^64-1", b, INF_E_FORMAT, "invalid dimension");
        uint64_t z[1] = {0};
        b = (buf){0}; hdr(&b, 3, 1, 0); tinfo(&b, "t", 1, z, 0, 0); pad(&b, 32);
        expect("dimension 0", b, INF_E_FORMAT, "invalid dimension");
        uint64_t q[2] = {33, 1};
        b = (buf){0}; hdr(&b, 3, 1, 0); tinfo(&b, "t", 2, q, 8, 0); pad(&b, 32); zeros(&b, 64);
        expect("Q8_0 row of 33 values", b, INF_E_FORMAT, "blocks");
    }
    uint64_t ne5[5] = {8, 1, 1, 1, 1};
    b = (buf){0}; hdr(&b, 3, 1, 0); tinfo(&b, "t", 5, ne5, 0, 0); pad(&b, 32); zeros(&b, 64);
    expect("5 dimensions", b, INF_E_FORMAT, "dimensions");
    b = (buf){0}; hdr(&b, 3, 1, 0); tinfo(&b, "t", 1, ne8, 0, 8); pad(&b, 32); zeros(&b, 64);
    expect("misaligned offset", b, INF_E_FORMAT, "alignment");
    b = (buf){0}; hdr(&b, 3, 1, 0); str(&b, ""); u32(&b, 1); u64(&b, 8); u32(&b, 0); u64(&b, 0);
    pad(&b, 32); zeros(&b, 64);
    expect("empty tensor name", b, INF_E_FORMAT, "invalid name");

    /* The model mapping: architecture and tensor types. */
    printf("GGUF model mapping:\n");
    {
        buf m = {0};
        hdr(&m, 3, 0, 1); kv_str(&m, "general.architecture", "mamba");
        inf__gguf *g = NULL;
        inf__err err;
        CHECK_EQ_INT(inf__gguf_parse_mem(m.p, m.n, "arch.gguf", &g, &err), INF_OK);
        inf__hfconfig c;
        int rc = g ? inf__gguf_config(g, &c, &err) : -1;
        printf("  %-34s -> %-18s %s\n", "architecture mamba", inf_strerror(rc), err.msg);
        CHECK(rc == INF_E_UNSUPPORTED && strstr(err.msg, "mamba"));
        inf__gguf_free(g);
        free(m.p);
    }
    {
        /* A 1-layer llama whose attn_q is IQ2_XXS. */
        buf m = {0};
        const int H = 256;
        hdr(&m, 3, 12, 8);
        kv_str(&m, "general.architecture", "llama");
        kv_u32(&m, "llama.embedding_length", H);
        kv_u32(&m, "llama.block_count", 1);
        kv_u32(&m, "llama.feed_forward_length", H);
        kv_u32(&m, "llama.attention.head_count", 4);
        kv_u32(&m, "llama.context_length", 64);
        kv_f32(&m, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
        kv_u32(&m, "tokenizer.ggml.bos_token_id", 1);
        static const char *mats[] = {"token_embd.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight",
                                     "blk.0.attn_v.weight", "blk.0.attn_output.weight",
                                     "blk.0.ffn_gate.weight", "blk.0.ffn_up.weight",
                                     "blk.0.ffn_down.weight"};
        static const char *vecs[] = {"blk.0.attn_norm.weight", "blk.0.ffn_norm.weight",
                                     "output_norm.weight", "output.weight"};
        uint64_t off = 0, ne[2] = {(uint64_t)H, (uint64_t)H}, nv[1] = {(uint64_t)H};
        for (int i = 0; i < 8; i++) {
            uint32_t t = i == 1 ? 16 /* IQ2_XXS */ : 0;
            tinfo(&m, mats[i], 2, ne, t, off);
            off += t ? (uint64_t)H * H / 256 * 66 : (uint64_t)H * H * 4;
        }
        for (int i = 0; i < 4; i++) {
            tinfo(&m, vecs[i], i == 3 ? 2 : 1, i == 3 ? ne : nv, 0, off);
            off += i == 3 ? (uint64_t)H * H * 4 : (uint64_t)H * 4;
        }
        pad(&m, 32);
        zeros(&m, (size_t)off);
        inf__gguf *g = NULL;
        inf__err err;
        int rc = inf__gguf_parse_mem(m.p, m.n, "iq.gguf", &g, &err);
        CHECK_MSG(rc == INF_OK, "iq.gguf: %s", err.msg);
        inf__hfconfig c;
        if (!rc) rc = inf__gguf_config(g, &c, &err);
        CHECK_MSG(rc == INF_OK, "iq.gguf config: %s", err.msg);
        if (!rc) {
            CHECK_EQ_INT(c.desc.vocab_size, H);
            CHECK_EQ_INT(c.desc.head_dim, H / 4);
            CHECK_EQ_INT(c.desc.layers[0].rope.adjacent_pairs, 1);
            CHECK_EQ_INT(c.desc.tie_embeddings, 0);
            rc = inf__gguf_bind(g, &c.desc, &err);
            printf("  %-34s -> %-18s %s\n", "attn_q stored as IQ2_XXS", inf_strerror(rc), err.msg);
            CHECK(rc == INF_E_UNSUPPORTED && strstr(err.msg, "IQ2_XXS") && strstr(err.msg, "attn_q"));
            inf__hfconfig_free(&c);
        }
        inf__gguf_free(g);
        free(m.p);
    }

    /* Split sets and directories, through files. */
    printf("GGUF split files:\n");
    {
        char dir[] = "/tmp/gguf_bad_XXXXXX";
        CHECK(mkdtemp(dir) != NULL);
        char p[3][256];
        for (int k = 0; k < 3; k++) {
            snprintf(p[k], sizeof p[k], "%s/m-%05d-of-00003.gguf", dir, k + 1);
            buf s = {0};
            hdr(&s, 3, 1, 3);
            str(&s, "split.no"); u32(&s, 2); uint8_t no[2] = {(uint8_t)k, 0}; put(&s, no, 2);
            str(&s, "split.count"); u32(&s, 2); uint8_t c3[2] = {3, 0}; put(&s, c3, 2);
            str(&s, "split.tensors.count"); u32(&s, 5); u32(&s, 3);
            char name[16];
            snprintf(name, sizeof name, "t%d", k);
            tinfo(&s, name, 1, ne8, 0, 0);
            pad(&s, 32);
            zeros(&s, 32);
            FILE *f = fopen(p[k], "wb");
            fwrite(s.p, 1, s.n, f);
            fclose(f);
            free(s.p);
        }
        inf__gguf *g = NULL;
        inf__err err;
        int rc = inf__gguf_open(p[0], &g, &err);
        CHECK_MSG(rc == INF_OK, "split open: %s", err.msg);
        if (g) {
            CHECK_EQ_INT(inf__gguf_file_count(g), 3);
            CHECK_EQ_INT(inf__gguf_tensor_count(g), 3);
            CHECK(inf__gguf_tensor_find(g, "t2") != NULL);
        }
        inf__gguf_free(g);
        rc = inf__gguf_open(p[1], &g, &err);
        printf("  %-34s -> %-18s %s\n", "open part 2 of 3", inf_strerror(rc), err.msg);
        CHECK(rc != INF_OK && strstr(err.msg, "first part"));
        /* modeldir: the directory holds one model (the set) */
        char *gp = NULL;
        CHECK_EQ_INT(inf__modeldir_gguf_path(dir, &gp, &err), INF_OK);
        CHECK(gp && strcmp(gp, p[0]) == 0);
        free(gp);
        unlink(p[2]);
        rc = inf__gguf_open(p[0], &g, &err);
        printf("  %-34s -> %-18s %s\n", "part 3 missing", inf_strerror(rc), err.msg);
        CHECK(rc == INF_E_NOT_FOUND && strstr(err.msg, "00003-of-00003"));
        /* two models in one directory */
        char other[300];
        snprintf(other, sizeof other, "%s/other.gguf", dir);
        FILE *f = fopen(other, "wb");
        fputs("x", f);
        fclose(f);
        gp = NULL;
        rc = inf__modeldir_gguf_path(dir, &gp, &err);
        printf("  %-34s -> %-18s %s\n", "two GGUF models in a directory", inf_strerror(rc), err.msg);
        CHECK(rc == INF_E_INVALID_ARGUMENT && strstr(err.msg, "other.gguf"));
        free(gp);
        unlink(other);
        unlink(p[0]);
        unlink(p[1]);
        rmdir(dir);
    }
    return tu_summary("test_gguf_bad");
}
