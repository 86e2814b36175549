/* Decoding: ids -> token strings -> decoder chain -> text, and the
 * streaming detokeniser built on it.  The decoders work on a list of token
 * strings (some act per token, some fuse the list), as in HF. */
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer/tok_internal.h"

#define OOM(err) inf__seterr(err, INF_E_NOMEM, "out of memory")

typedef struct { tk_buf b; size_t *o; size_t n, cap; } toklist; /* o: start,end pairs */

static int tl_push(toklist *l, const char *s, size_t n) {
    if (l->n * 2 + 2 > l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        size_t *p = realloc(l->o, cap * sizeof *p);
        if (!p) return -1;
        l->o = p;
        l->cap = cap;
    }
    size_t at = l->b.n;
    if (inf__tk_buf_put(&l->b, s, n)) return -1;
    l->o[2 * l->n] = at;
    l->o[2 * l->n + 1] = l->b.n;
    l->n++;
    return 0;
}

/* Appends to the last token (used to build one token in several steps). */
static int tl_append(toklist *l, const char *s, size_t n) {
    if (inf__tk_buf_put(&l->b, s, n)) return -1;
    l->o[2 * l->n - 1] = l->b.n;
    return 0;
}

static void tl_free(toklist *l) { free(l->b.p); free(l->o); }

#define TOK(l, i) ((l)->b.p + (l)->o[2 * (i)])
#define TLEN(l, i) ((l)->o[2 * (i) + 1] - (l)->o[2 * (i)])

static int replace_all(toklist *out, const char *s, size_t n, const char *pat, size_t pl,
                       const char *rep, size_t rl) {
    if (tl_push(out, "", 0)) return -1;
    size_t run = 0;
    for (size_t i = 0; i + pl <= n;) {
        if (memcmp(s + i, pat, pl) == 0) {
            if (tl_append(out, s + run, i - run) || tl_append(out, rep, rl)) return -1;
            i += pl;
            run = i;
        } else {
            i++;
        }
    }
    return tl_append(out, s + run, n - run);
}

static int hexv(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int flush_bytes(toklist *out, tk_buf *bytes) {
    if (!bytes->n) return 0;
    int rc = 0;
    if (inf__utf8_valid_prefix(bytes->p, bytes->n) == bytes->n) rc = tl_push(out, bytes->p, bytes->n);
    else /* one U+FFFD per byte when the run is not valid UTF-8 as a whole */
        for (size_t k = 0; k < bytes->n && !rc; k++) rc = tl_push(out, "\xEF\xBF\xBD", 3);
    bytes->n = 0;
    return rc;
}

static int apply(const tk_dec *d, toklist *in, toklist *out) {
    out->b.n = 0;
    out->n = 0;
    int rc = 0;
    switch (d->type) {
    case DC_BYTELEVEL: {
        /* All tokens become bytes (a token with a character outside the
         * byte alphabet keeps its UTF-8), then one lossy UTF-8 string. */
        tk_buf raw = {0};
        for (size_t i = 0; i < in->n && !rc; i++) {
            const char *s = TOK(in, i);
            size_t n = TLEN(in, i), at = raw.n;
            int ok = 1;
            for (size_t k = 0; k < n && !rc;) {
                int l;
                int b = inf__tk_cp2byte(inf__tk_utf8_dec(s + k, n - k, &l));
                if (b < 0) { ok = 0; break; }
                char c = (char)b;
                rc = inf__tk_buf_put(&raw, &c, 1);
                k += (size_t)l;
            }
            if (!ok) { raw.n = at; rc = inf__tk_buf_put(&raw, s, n); }
        }
        if (!rc) rc = tl_push(out, "", 0);
        if (!rc) rc = inf__tk_utf8_lossy(&out->b, raw.p ? raw.p : "", raw.n);
        if (!rc) out->o[1] = out->b.n;
        free(raw.p);
        return rc;
    }
    case DC_REPLACE:
        for (size_t i = 0; i < in->n && !rc; i++)
            rc = replace_all(out, TOK(in, i), TLEN(in, i), d->pat, d->pat_len, d->content, d->content_len);
        return rc;
    case DC_BPE_SUFFIX:
        for (size_t i = 0; i < in->n && !rc; i++)
            rc = replace_all(out, TOK(in, i), TLEN(in, i), d->pat, d->pat_len, i + 1 == in->n ? "" : " ",
                             i + 1 == in->n ? 0 : 1);
        return rc;
    case DC_BYTEFALLBACK: {
        tk_buf bytes = {0};
        for (size_t i = 0; i < in->n && !rc; i++) {
            const char *s = TOK(in, i);
            size_t n = TLEN(in, i);
            int hi, lo;
            if (n == 6 && !memcmp(s, "<0x", 3) && s[5] == '>' && (hi = hexv(s[3])) >= 0 && (lo = hexv(s[4])) >= 0) {
                char c = (char)(hi * 16 + lo);
                rc = inf__tk_buf_put(&bytes, &c, 1);
                continue;
            }
            rc = flush_bytes(out, &bytes);
            if (!rc) rc = tl_push(out, s, n);
        }
        if (!rc) rc = flush_bytes(out, &bytes);
        free(bytes.p);
        return rc;
    }
    case DC_FUSE:
        rc = tl_push(out, "", 0);
        for (size_t i = 0; i < in->n && !rc; i++) rc = tl_append(out, TOK(in, i), TLEN(in, i));
        return rc;
    case DC_STRIP:
        for (size_t i = 0; i < in->n && !rc; i++) {
            const char *s = TOK(in, i);
            size_t n = TLEN(in, i), a = 0, e = n;
            int l;
            for (int k = 0; k < d->start && a < e && inf__tk_utf8_dec(s + a, e - a, &l) == d->strip_cp; k++)
                a += (size_t)l;
            for (int k = 0; k < d->stop && e > a; k++) {
                size_t j = e - 1;
                while (j > a && ((uint8_t)s[j] & 0xC0) == 0x80) j--;
                if (inf__tk_utf8_dec(s + j, e - j, &l) != d->strip_cp) break;
                e = j;
            }
            rc = tl_push(out, s + a, e - a);
        }
        return rc;
    case DC_METASPACE:
        /* HF drops every replacement character of the first token (not only
         * a leading one) unless prepend_scheme is "never". */
        for (size_t i = 0; i < in->n && !rc; i++)
            rc = replace_all(out, TOK(in, i), TLEN(in, i), d->repl, (size_t)d->repl_len,
                             " ", i == 0 && d->prepend_scheme != PS_NEVER ? 0 : 1);
        return rc;
    }
    return -1;
}

/* Decodes into out (cleared first; NUL-terminated). */
static int decode_into(const inf__tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                       tk_buf *out, inf__err *err) {
    toklist a = {0}, b = {0};
    int rc = 0;
    out->n = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const char *p = inf__tok_piece(t, ids[i]);
        if (!p) continue; /* unknown ids are skipped, as HF does */
        if (skip_special && inf__tok_is_special(t, ids[i])) continue;
        rc = tl_push(&a, p, strlen(p));
    }
    for (size_t k = 0; k < t->n_dec && !rc; k++) {
        rc = apply(&t->dec[k], &a, &b);
        toklist sw = a;
        a = b;
        b = sw;
    }
    for (size_t i = 0; i < a.n && !rc; i++) {
        if (!t->has_decoder && i > 0) rc = inf__tk_buf_put(out, " ", 1); /* HF joins with spaces */
        if (!rc) rc = inf__tk_buf_put(out, TOK(&a, i), TLEN(&a, i));
    }
    if (!rc) rc = inf__tk_buf_put(out, "", 0);
    tl_free(&a);
    tl_free(&b);
    return rc ? OOM(err) : INF_OK;
}

int inf__tok_decode(const inf__tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                    char **out, size_t *out_len, inf__err *err) {
    if (out) *out = NULL;
    if (out_len) *out_len = 0;
    if (!t || !out || (!ids && n)) return inf__seterr(err, INF_E_INVALID_ARGUMENT, "decode: NULL argument");
    tk_buf b = {0};
    int rc = decode_into(t, ids, n, skip_special, &b, err);
    if (rc) { free(b.p); return rc; }
    *out = b.p;
    if (out_len) *out_len = b.n;
    return INF_OK;
}

/* ---- streaming --------------------------------------------------------- */
/* The window holds the ids since the last emitted token (included, as left
 * context: decoders such as Strip / Metaspace treat the first token of a
 * sequence differently, and the context makes the window decode agree with
 * the full decode).  A push emits decode(window) minus decode of the
 * previous window when the new text does not end in U+FFFD, i.e. when no
 * character is waiting for more bytes, and (ByteFallback) when the window
 * does not end in a byte token. */
struct inf__detok {
    const inf__tokenizer *t;
    int skip;
    tk_ids ids;
    size_t prefix_index;
    tk_buf prefix, text, piece;
};

inf__detok *inf__detok_new(const inf__tokenizer *t, int skip_special) {
    if (!t) return NULL;
    inf__detok *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->t = t;
    d->skip = skip_special;
    return d;
}

void inf__detok_reset(inf__detok *d) {
    if (!d) return;
    d->ids.n = 0;
    d->prefix_index = 0;
    d->prefix.n = 0;
}

void inf__detok_free(inf__detok *d) {
    if (!d) return;
    free(d->ids.p); free(d->prefix.p); free(d->text.p); free(d->piece.p);
    free(d);
}

static int ends_with_fffd(const tk_buf *b) {
    return b->n >= 3 && !memcmp(b->p + b->n - 3, "\xEF\xBF\xBD", 3);
}

static int is_byte_piece(const char *s) {
    return s && strlen(s) == 6 && !memcmp(s, "<0x", 3) && s[5] == '>' && hexv(s[3]) >= 0 && hexv(s[4]) >= 0;
}

/* ByteFallback decodes a run of byte tokens as a whole, and a run that is
 * not valid UTF-8 becomes one U+FFFD per byte: a later byte can turn text
 * already valid ("B") into replacement characters.  So text is final only
 * once the last (kept) token of the window is not a byte token. */
static int run_may_change(const inf__detok *d) {
    const inf__tokenizer *t = d->t;
    int has_bf = 0;
    for (size_t k = 0; k < t->n_dec; k++) has_bf |= t->dec[k].type == DC_BYTEFALLBACK;
    if (!has_bf) return 0;
    for (size_t i = d->ids.n; i-- > 0;) {
        const char *p = inf__tok_piece(t, d->ids.p[i]);
        if (!p || (d->skip && inf__tok_is_special(t, d->ids.p[i]))) continue; /* dropped by decode */
        return is_byte_piece(p);
    }
    return 0;
}

static int set_piece(inf__detok *d, const char *s, size_t n, const char **piece, size_t *len) {
    d->piece.n = 0;
    if (inf__tk_buf_put(&d->piece, s, n)) return -1;
    *piece = d->piece.p;
    *len = n;
    return 0;
}

int inf__detok_push(inf__detok *d, int32_t id, const char **piece, size_t *len, inf__err *err) {
    if (!d || !piece || !len) return inf__seterr(err, INF_E_INVALID_ARGUMENT, "detok: NULL argument");
    *piece = "";
    *len = 0;
    if (inf__tk_ids_push(&d->ids, id)) return OOM(err);
    int rc = decode_into(d->t, d->ids.p, d->ids.n, d->skip, &d->text, err);
    if (rc) return rc;
    if (d->text.n <= d->prefix.n || ends_with_fffd(&d->text) || run_may_change(d)) return INF_OK;
    if (d->prefix.n && memcmp(d->text.p, d->prefix.p, d->prefix.n) != 0)
        return inf__seterr(err, INF_E_INTERNAL, "detok: decoder output is not prefix-stable");
    if (set_piece(d, d->text.p + d->prefix.n, d->text.n - d->prefix.n, piece, len)) return OOM(err);
    size_t new_index = d->ids.n - d->prefix_index;
    memmove(d->ids.p, d->ids.p + d->prefix_index, (d->ids.n - d->prefix_index) * sizeof *d->ids.p);
    d->ids.n -= d->prefix_index;
    d->prefix_index = new_index;
    return decode_into(d->t, d->ids.p, d->ids.n, d->skip, &d->prefix, err);
}

int inf__detok_flush(inf__detok *d, const char **piece, size_t *len, inf__err *err) {
    if (!d || !piece || !len) return inf__seterr(err, INF_E_INVALID_ARGUMENT, "detok: NULL argument");
    *piece = "";
    *len = 0;
    int rc = decode_into(d->t, d->ids.p, d->ids.n, d->skip, &d->text, err);
    if (rc) return rc;
    if (d->text.n > d->prefix.n && set_piece(d, d->text.p + d->prefix.n, d->text.n - d->prefix.n, piece, len))
        return OOM(err);
    inf__detok_reset(d);
    return INF_OK;
}

/* One token's bytes as the decoder chain would produce them in the middle
 * of a sequence: the same decoders as decode_into, except that nothing is
 * made valid UTF-8 (a byte-level or <0xNN> token stays its raw bytes), the
 * sequence-start rules are not applied (Strip, Metaspace's first-token
 * prefix) and a word-end suffix counts as not last. */
int inf__tok_token_bytes(const inf__tokenizer *t, int32_t id, char **out, size_t *out_len, inf__err *err) {
    *out = NULL;
    *out_len = 0;
    const char *p = inf__tok_piece(t, id);
    if (!p) return inf__seterr(err, INF_E_INVALID_ARGUMENT, "token id %d has no piece", (int)id);
    toklist a = {0}, b = {0};
    int rc = tl_push(&a, p, strlen(p));
    for (size_t k = 0; k < t->n_dec && !rc; k++) {
        const tk_dec *d = &t->dec[k];
        const char *s = TOK(&a, 0);
        size_t n = TLEN(&a, 0);
        b.b.n = 0;
        b.n = 0;
        switch (d->type) {
        case DC_BYTELEVEL: {
            rc = tl_push(&b, "", 0);
            for (size_t i = 0; i < n && !rc;) {
                int l;
                int c = inf__tk_cp2byte(inf__tk_utf8_dec(s + i, n - i, &l));
                if (c < 0) { b.b.n = 0; b.o[1] = 0; rc = tl_append(&b, s, n); break; }
                char ch = (char)c;
                rc = tl_append(&b, &ch, 1);
                i += (size_t)l;
            }
            break;
        }
        case DC_BYTEFALLBACK: {
            int hi, lo;
            if (n == 6 && !memcmp(s, "<0x", 3) && s[5] == '>' && (hi = hexv(s[3])) >= 0 && (lo = hexv(s[4])) >= 0) {
                char c = (char)(hi * 16 + lo);
                rc = tl_push(&b, &c, 1);
            } else rc = tl_push(&b, s, n);
            break;
        }
        case DC_REPLACE: rc = replace_all(&b, s, n, d->pat, d->pat_len, d->content, d->content_len); break;
        case DC_BPE_SUFFIX: rc = replace_all(&b, s, n, d->pat, d->pat_len, " ", 1); break;
        case DC_METASPACE: rc = replace_all(&b, s, n, d->repl, (size_t)d->repl_len, " ", 1); break;
        case DC_FUSE:
        case DC_STRIP:
        default: rc = tl_push(&b, s, n); break;
        }
        toklist sw = a;
        a = b;
        b = sw;
    }
    if (!rc) {
        size_t n = TLEN(&a, 0);
        *out = malloc(n + 1);
        if (!*out) rc = -1;
        else {
            memcpy(*out, TOK(&a, 0), n);
            (*out)[n] = 0;
            *out_len = n;
        }
    }
    tl_free(&a);
    tl_free(&b);
    return rc ? OOM(err) : INF_OK;
}
