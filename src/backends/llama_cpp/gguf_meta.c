/* GGUF header reader (see gguf_meta.h).  Layout: "GGUF", u32 version,
 * u64 tensor count, u64 key/value count, then per key a string (u64 length
 * + bytes), a u32 value type and the value; arrays are u32 element type +
 * u64 count + elements.  Values we do not need are skipped. */
#include "backends/llama_cpp/gguf_meta.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

enum { T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR,
       T_U64, T_I64, T_F64 };

static const int scalar_size[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

typedef struct rd {
    FILE *f;
    int bad;
} rd;

static uint64_t u64(rd *r) {
    uint64_t v = 0;
    unsigned char b[8];
    if (fread(b, 1, 8, r->f) != 8) { r->bad = 1; return 0; }
    for (int i = 7; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

static uint32_t u32(rd *r) {
    unsigned char b[4];
    if (fread(b, 1, 4, r->f) != 4) { r->bad = 1; return 0; }
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
           (uint32_t)b[3] << 24;
}

/* Reads a string into buf[size] (truncated), or skips it when buf is NULL. */
static void str(rd *r, char *buf, size_t size) {
    uint64_t n = u64(r);
    if (r->bad || n > ((uint64_t)1 << 30)) { r->bad = 1; return; }
    if (!buf) {
        if (fseek(r->f, (long)n, SEEK_CUR)) r->bad = 1;
        return;
    }
    size_t k = n < size - 1 ? (size_t)n : size - 1;
    if (fread(buf, 1, k, r->f) != k) r->bad = 1;
    buf[k] = '\0';
    if (n > k && fseek(r->f, (long)(n - k), SEEK_CUR)) r->bad = 1;
}

static int64_t scalar_int(rd *r, uint32_t t) {
    switch (t) {
    case T_U8: case T_I8: case T_BOOL: {
        int c = fgetc(r->f);
        if (c < 0) r->bad = 1;
        return c;
    }
    case T_U16: case T_I16: {
        int a = fgetc(r->f), b = fgetc(r->f);
        if (b < 0) r->bad = 1;
        return a | b << 8;
    }
    case T_U32: case T_I32: return (int64_t)(int32_t)u32(r);
    case T_U64: case T_I64: return (int64_t)u64(r);
    default: /* floats: skipped */
        if (t < sizeof scalar_size / sizeof scalar_size[0] && scalar_size[t]) {
            if (fseek(r->f, scalar_size[t], SEEK_CUR)) r->bad = 1;
        } else {
            r->bad = 1;
        }
        return 0;
    }
}

static void skip_value(rd *r, uint32_t t, int depth);

static uint64_t skip_array(rd *r, int depth) {
    uint32_t et = u32(r);
    uint64_t n = u64(r);
    if (r->bad || depth > 4) { r->bad = 1; return 0; }
    if (et < sizeof scalar_size / sizeof scalar_size[0] && scalar_size[et]) {
        if (fseek(r->f, (long)(n * (uint64_t)scalar_size[et]), SEEK_CUR)) r->bad = 1;
    } else {
        for (uint64_t i = 0; i < n && !r->bad; i++) skip_value(r, et, depth + 1);
    }
    return n;
}

static void skip_value(rd *r, uint32_t t, int depth) {
    if (t == T_STR) str(r, NULL, 0);
    else if (t == T_ARR) skip_array(r, depth);
    else scalar_int(r, t);
}

int inf__gguf_read_meta(const char *path, inf__gguf_meta *m, inf__err *err) {
    memset(m, 0, sizeof *m);
    FILE *f = fopen(path, "rb");
    if (!f)
        return inf__seterr(err, errno == ENOENT ? INF_E_NOT_FOUND : INF_E_IO,
                           "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) == 0) m->file_bytes = st.st_size;
    rd r = {f, 0};
    char magic[4];
    if (fread(magic, 1, 4, f) != 4 || memcmp(magic, "GGUF", 4) != 0) {
        fclose(f);
        return inf__seterr(err, INF_E_FORMAT, "%s is not a GGUF file", path);
    }
    uint32_t version = u32(&r);
    u64(&r); /* tensor count */
    uint64_t n_kv = u64(&r);
    if (r.bad || version < 2 || version > 3) {
        fclose(f);
        return inf__seterr(err, INF_E_FORMAT, "%s: unsupported GGUF version %u",
                           path, version);
    }
    /* "<arch>.context_length" etc. are matched by their suffix, so the
     * keys may come in any order relative to general.architecture. */
    int32_t ctx = 0, blocks = 0, embd = 0;
    char key[256];
    for (uint64_t i = 0; i < n_kv && !r.bad; i++) {
        str(&r, key, sizeof key);
        uint32_t t = u32(&r);
        if (r.bad) break;
        const char *dot = strchr(key, '.');
        if (strcmp(key, "general.architecture") == 0 && t == T_STR) {
            str(&r, m->architecture, sizeof m->architecture);
        } else if (strcmp(key, "general.name") == 0 && t == T_STR) {
            str(&r, m->name, sizeof m->name);
        } else if (strcmp(key, "tokenizer.ggml.tokens") == 0 && t == T_ARR) {
            m->vocab_size = (int32_t)skip_array(&r, 0);
        } else if (dot && strcmp(dot, ".context_length") == 0 && t != T_STR && t != T_ARR) {
            ctx = (int32_t)scalar_int(&r, t);
        } else if (dot && strcmp(dot, ".block_count") == 0 && t != T_STR && t != T_ARR) {
            blocks = (int32_t)scalar_int(&r, t);
        } else if (dot && strcmp(dot, ".embedding_length") == 0 && t != T_STR && t != T_ARR) {
            embd = (int32_t)scalar_int(&r, t);
        } else {
            skip_value(&r, t, 0);
        }
    }
    fclose(f);
    if (r.bad)
        return inf__seterr(err, INF_E_FORMAT, "%s: truncated or malformed GGUF "
                           "metadata", path);
    m->context_length = ctx;
    m->block_count = blocks;
    m->embedding_length = embd;
    return INF_OK;
}
