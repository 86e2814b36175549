/* Normalizers: run in order over one piece of text (the part between added
 * tokens).  Unicode forms come from utf8proc. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "text/tokenizer/tok_internal.h"

static int all_ascii(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((uint8_t)s[i] >= 0x80) return 0;
    return 1;
}

static int unicode_form(int type, const char *s, size_t n, tk_buf *out, inf__err *err) {
    /* ASCII is invariant under every normalization form. */
    if (all_ascii(s, n)) return inf__tk_buf_put(out, s, n) ? inf__seterr(err, INF_E_NOMEM, "out of memory") : 0;
    int opts = UTF8PROC_STABLE;
    switch (type) {
    case NZ_NFC: opts |= UTF8PROC_COMPOSE; break;
    case NZ_NFD: opts |= UTF8PROC_DECOMPOSE; break;
    case NZ_NFKC: opts |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    default: opts |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
    }
    utf8proc_uint8_t *r = NULL;
    utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &r, (utf8proc_option_t)opts);
    if (m < 0) return inf__seterr(err, INF_E_TOKENIZER, "unicode normalization: %s", utf8proc_errmsg(m));
    int rc = inf__tk_buf_put(out, r, (size_t)m);
    free(r);
    return rc ? inf__seterr(err, INF_E_NOMEM, "out of memory") : 0;
}

static int replace_str(const tk_norm *z, const char *s, size_t n, tk_buf *out) {
    size_t i = 0, run = 0;
    while (i + z->pat_len <= n) {
        if (s[i] == z->pat[0] && memcmp(s + i, z->pat, z->pat_len) == 0) {
            if (inf__tk_buf_put(out, s + run, i - run) || inf__tk_buf_put(out, z->content, z->content_len))
                return -1;
            i += z->pat_len;
            run = i;
        } else {
            i++;
        }
    }
    return inf__tk_buf_put(out, s + run, n - run);
}

static int replace_re(const tk_norm *z, const char *s, size_t n, tk_buf *out, inf__err *err) {
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md) return inf__seterr(err, INF_E_NOMEM, "out of memory");
    size_t pos = 0, run = 0, ms, me;
    int r, rc = 0;
    while ((r = inf__tk_regex_next(z->re, md, s, n, pos, &ms, &me)) == 1) {
        if (inf__tk_buf_put(out, s + run, ms - run) || inf__tk_buf_put(out, z->content, z->content_len)) {
            r = -2;
            break;
        }
        run = me;
        if (me == ms) {
            if (me >= n) break;
            int l;
            inf__tk_utf8_dec(s + me, n - me, &l);
            pos = me + (size_t)l;
        } else {
            pos = me;
        }
    }
    pcre2_match_data_free(md);
    if (r == -2) return inf__seterr(err, INF_E_NOMEM, "out of memory");
    if (r < 0) return inf__seterr(err, INF_E_TOKENIZER, "Replace normalizer: regex match failed");
    if (inf__tk_buf_put(out, s + run, n - run)) rc = inf__seterr(err, INF_E_NOMEM, "out of memory");
    return rc;
}

static int per_char(const tk_norm *z, const char *s, size_t n, tk_buf *out) {
    size_t start = 0, end = n;
    if (z->type == NZ_STRIP) {
        int l;
        while (z->left && start < end && inf__tk_is_space(inf__tk_utf8_dec(s + start, end - start, &l)))
            start += (size_t)l;
        while (z->right && end > start) {
            size_t k = end - 1;
            while (k > start && ((uint8_t)s[k] & 0xC0) == 0x80) k--;
            if (!inf__tk_is_space(inf__tk_utf8_dec(s + k, end - k, &l))) break;
            end = k;
        }
        return inf__tk_buf_put(out, s + start, end - start);
    }
    for (size_t i = 0; i < n;) {
        int l;
        uint32_t cp = inf__tk_utf8_dec(s + i, n - i, &l);
        char enc[4];
        if (z->type == NZ_LOWERCASE) {
            int k = inf__tk_utf8_enc((uint32_t)utf8proc_tolower((utf8proc_int32_t)cp), enc);
            if (inf__tk_buf_put(out, enc, (size_t)k)) return -1;
        } else {
            /* StripAccents drops every combining mark (Mn, Mc, Me). */
            utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)cp);
            if ((k < UTF8PROC_CATEGORY_MN || k > UTF8PROC_CATEGORY_ME) && inf__tk_buf_put(out, s + i, (size_t)l))
                return -1;
        }
        i += (size_t)l;
    }
    return 0;
}

int inf__tk_normalize(const inf__tokenizer *t, const char *s, size_t n,
                      tk_buf *out, tk_buf *tmp, inf__err *err) {
    out->n = 0;
    if (inf__tk_buf_put(out, s, n)) return inf__seterr(err, INF_E_NOMEM, "out of memory");
    for (size_t k = 0; k < t->n_norm; k++) {
        const tk_norm *z = &t->norm[k];
        tmp->n = 0;
        int rc = 0;
        switch (z->type) {
        case NZ_NFC: case NZ_NFD: case NZ_NFKC: case NZ_NFKD:
            rc = unicode_form(z->type, out->p, out->n, tmp, err);
            break;
        case NZ_REPLACE:
            if (z->re) rc = replace_re(z, out->p, out->n, tmp, err);
            else if (replace_str(z, out->p, out->n, tmp)) rc = inf__seterr(err, INF_E_NOMEM, "out of memory");
            break;
        case NZ_PREPEND:
            /* HF prepends only to non-empty text. */
            if (out->n && (inf__tk_buf_put(tmp, z->content, z->content_len) || inf__tk_buf_put(tmp, out->p, out->n)))
                rc = inf__seterr(err, INF_E_NOMEM, "out of memory");
            break;
        default:
            if (per_char(z, out->p, out->n, tmp)) rc = inf__seterr(err, INF_E_NOMEM, "out of memory");
            break;
        }
        if (rc) return rc;
        tk_buf sw = *out;
        *out = *tmp;
        *tmp = sw;
        if (!out->p && inf__tk_buf_put(out, "", 0)) return inf__seterr(err, INF_E_NOMEM, "out of memory");
    }
    return INF_OK;
}
