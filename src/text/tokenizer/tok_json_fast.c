/* A fast path for the two big members of tokenizer.json: model.vocab
 * (262,144 entries for Gemma 3) and model.merges (514,906 pairs).  Building
 * a jansson tree for them costs millions of small allocations (seconds);
 * this scanner reads them straight into one string blob, and the rest of
 * the document, with those two values blanked out, still goes to jansson.
 * Anything unexpected makes the fast path decline (return 1) and the loader
 * falls back to jansson for the whole file, which also gives the precise
 * syntax error message. */
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer/tok_json_fast.h"

typedef struct { const char *p, *e; } cur;

static void ws(cur *c) {
    while (c->p < c->e && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t')) c->p++;
}

static int hex4(const char *p, uint32_t *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char h = p[i];
        int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
        if (d < 0) return -1;
        *v = *v * 16 + (uint32_t)d;
    }
    return 0;
}

/* Decodes the string at c->p (a '"') into out (not NUL-terminated); out may
 * be NULL to skip. */
static int str(cur *c, tk_buf *out) {
    if (c->p >= c->e || *c->p != '"') return -1;
    c->p++;
    for (;;) {
        const char *run = c->p;
        while (c->p < c->e && *c->p != '"' && *c->p != '\\' && (uint8_t)*c->p >= 0x20) c->p++;
        if (c->p >= c->e || (uint8_t)*c->p < 0x20) return -1;
        if (out && inf__tk_buf_put(out, run, (size_t)(c->p - run))) return -1;
        if (*c->p == '"') { c->p++; return 0; }
        /* escape */
        if (c->e - c->p < 2) return -1;
        char e = c->p[1], ch;
        c->p += 2;
        switch (e) {
        case '"': ch = '"'; break;
        case '\\': ch = '\\'; break;
        case '/': ch = '/'; break;
        case 'b': ch = '\b'; break;
        case 'f': ch = '\f'; break;
        case 'n': ch = '\n'; break;
        case 'r': ch = '\r'; break;
        case 't': ch = '\t'; break;
        case 'u': {
            uint32_t v, lo;
            if (c->e - c->p < 4 || hex4(c->p, &v)) return -1;
            c->p += 4;
            if (v >= 0xD800 && v <= 0xDBFF) {
                if (c->e - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u' || hex4(c->p + 2, &lo) ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return -1;
                c->p += 6;
                v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
            } else if (v >= 0xDC00 && v <= 0xDFFF) {
                return -1;
            }
            char enc[4];
            int n = inf__tk_utf8_enc(v, enc);
            if (out && inf__tk_buf_put(out, enc, (size_t)n)) return -1;
            continue;
        }
        default: return -1;
        }
        if (out && inf__tk_buf_put(out, &ch, 1)) return -1;
    }
}

static int skip(cur *c, int depth) {
    ws(c);
    if (c->p >= c->e || depth > 64) return -1;
    char ch = *c->p;
    if (ch == '"') return str(c, NULL);
    if (ch == '{' || ch == '[') {
        char close = ch == '{' ? '}' : ']';
        c->p++;
        ws(c);
        if (c->p < c->e && *c->p == close) { c->p++; return 0; }
        for (;;) {
            if (ch == '{') {
                ws(c);
                if (str(c, NULL)) return -1;
                ws(c);
                if (c->p >= c->e || *c->p != ':') return -1;
                c->p++;
            }
            if (skip(c, depth + 1)) return -1;
            ws(c);
            if (c->p >= c->e) return -1;
            if (*c->p == ',') { c->p++; continue; }
            if (*c->p == close) { c->p++; return 0; }
            return -1;
        }
    }
    /* number or literal */
    const char *s = c->p;
    while (c->p < c->e && (strchr("+-.eE", *c->p) || (*c->p >= '0' && *c->p <= '9') || (*c->p >= 'a' && *c->p <= 'z')))
        c->p++;
    return c->p > s ? 0 : -1;
}

static int expect(cur *c, char ch) {
    ws(c);
    if (c->p >= c->e || *c->p != ch) return -1;
    c->p++;
    return 0;
}

static int push(size_t **a, size_t *n, size_t *cap, size_t k, const size_t *v) {
    if (*n + k > *cap) {
        size_t nc = *cap ? *cap * 2 : 4096;
        while (nc < *n + k) nc *= 2;
        size_t *p = realloc(*a, nc * sizeof *p);
        if (!p) return -1;
        *a = p;
        *cap = nc;
    }
    memcpy(*a + *n, v, k * sizeof *v);
    *n += k;
    return 0;
}

/* A string stored in the blob with a NUL after it; (offset, length). */
static int blob_str(cur *c, tk_fastjson *f, size_t *off, size_t *len) {
    ws(c);
    *off = f->blob.n;
    if (str(c, &f->blob)) return -1;
    *len = f->blob.n - *off;
    return inf__tk_buf_put(&f->blob, "", 1);
}

static int vocab(cur *c, tk_fastjson *f) {
    size_t cap = 0;
    if (expect(c, '{')) return -1;
    ws(c);
    if (c->p < c->e && *c->p == '}') { c->p++; return 0; }
    for (;;) {
        size_t v[3];
        if (blob_str(c, f, &v[0], &v[1]) || expect(c, ':')) return -1;
        ws(c);
        long long id = 0;
        int digits = 0;
        while (c->p < c->e && *c->p >= '0' && *c->p <= '9' && digits < 10) { id = id * 10 + (*c->p++ - '0'); digits++; }
        if (!digits || (c->p < c->e && (*c->p == '.' || *c->p == 'e' || *c->p == 'E' || (*c->p >= '0' && *c->p <= '9'))))
            return -1; /* not a plain small integer: let jansson judge it */
        v[2] = (size_t)id;
        if (push(&f->vocab, &f->n_vocab, &cap, 3, v)) return -1;
        ws(c);
        if (c->p >= c->e) return -1;
        if (*c->p == ',') { c->p++; continue; }
        if (*c->p == '}') { c->p++; break; }
        return -1;
    }
    f->n_vocab /= 3;
    return 0;
}

static int merges(cur *c, tk_fastjson *f) {
    size_t cap = 0;
    if (expect(c, '[')) return -1;
    ws(c);
    if (c->p < c->e && *c->p == ']') { c->p++; return 0; }
    for (;;) {
        size_t v[4];
        ws(c);
        if (c->p < c->e && *c->p == '[') {
            c->p++;
            if (blob_str(c, f, &v[0], &v[1]) || expect(c, ',') || blob_str(c, f, &v[2], &v[3]) || expect(c, ']'))
                return -1;
        } else {
            /* "a b": split at the first space. */
            size_t off, len;
            if (blob_str(c, f, &off, &len)) return -1;
            const char *sp = memchr(f->blob.p + off, ' ', len);
            if (!sp) return -1;
            v[0] = off;
            v[1] = (size_t)(sp - (f->blob.p + off));
            v[2] = off + v[1] + 1;
            v[3] = len - v[1] - 1;
        }
        if (push(&f->merges, &f->n_merges, &cap, 4, v)) return -1;
        ws(c);
        if (c->p >= c->e) return -1;
        if (*c->p == ',') { c->p++; continue; }
        if (*c->p == ']') { c->p++; break; }
        return -1;
    }
    f->n_merges /= 4;
    return 0;
}

int inf__tk_fast_model(const char *js, size_t len, tk_fastjson *f) {
    memset(f, 0, sizeof *f);
    cur c = {js, js + len};
    if (expect(&c, '{')) return 1;
    int found = 0;
    tk_buf key = {0};
    for (;;) {
        ws(&c);
        key.n = 0;
        if (str(&c, &key) || expect(&c, ':')) break;
        ws(&c);
        if (key.n == 5 && !memcmp(key.p, "model", 5) && c.p < c.e && *c.p == '{') {
            c.p++;
            for (;;) {
                ws(&c);
                key.n = 0;
                if (str(&c, &key) || expect(&c, ':')) goto out;
                ws(&c);
                const char *vs = c.p;
                if (key.n == 5 && !memcmp(key.p, "vocab", 5)) {
                    if (f->vocab_end || vocab(&c, f)) goto out;
                    f->vocab_start = (size_t)(vs - js);
                    f->vocab_end = (size_t)(c.p - js);
                } else if (key.n == 6 && !memcmp(key.p, "merges", 6)) {
                    if (f->merges_end || merges(&c, f)) goto out;
                    f->merges_start = (size_t)(vs - js);
                    f->merges_end = (size_t)(c.p - js);
                } else if (skip(&c, 1)) {
                    goto out;
                }
                ws(&c);
                if (c.p < c.e && *c.p == ',') { c.p++; continue; }
                if (c.p < c.e && *c.p == '}') { c.p++; break; }
                goto out;
            }
            found = f->vocab_end && f->merges_end;
        } else if (skip(&c, 1)) {
            break;
        }
        ws(&c);
        if (c.p < c.e && *c.p == ',') { c.p++; continue; }
        if (c.p < c.e && *c.p == '}') { free(key.p); return found ? 0 : (inf__tk_fast_free(f), 1); }
        break;
    }
out:
    free(key.p);
    inf__tk_fast_free(f);
    return 1;
}

void inf__tk_fast_free(tk_fastjson *f) {
    free(f->blob.p);
    free(f->vocab);
    free(f->merges);
    memset(f, 0, sizeof *f);
}
