/* PCRE2 wrapper: the split regexes of Qwen / Llama 3 / GPT-4o use \p{L},
 * \p{N}, case-insensitive groups and lookahead, written for Oniguruma; PCRE2
 * with UTF + UCP reads them the same way.  Patterns are compiled once at load
 * (with JIT when the platform has it); matching only reads the compiled code,
 * so it is safe from several threads, each with its own match data. */
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer/tok_internal.h"

/* The reference compiles split patterns with Oniguruma, whose Unicode \s is
 * exactly the White_Space property and whose \w is letters, marks, decimal
 * digits and connector punctuation.  PCRE2's UCP classes differ at the
 * edges (its \s also takes U+180E; its \w takes all numbers but no marks),
 * so the shorthand classes are spelled out as properties.  Escapes are
 * walked pairwise so "\\s" (a backslash, then s) is left alone. */
static int onig_classes(const char *pat, size_t len, tk_buf *out) {
    int in_class = 0;
    for (size_t i = 0; i < len; i++) {
        char c = pat[i];
        if (c == '\\' && i + 1 < len) {
            char e = pat[i + 1];
            const char *rep = NULL;
            if (e == 's') rep = "\\p{White_Space}";
            else if (e == 'S') rep = "\\P{White_Space}";
            else if (e == 'w') rep = in_class ? "\\p{L}\\p{M}\\p{Nd}\\p{Pc}" : "[\\p{L}\\p{M}\\p{Nd}\\p{Pc}]";
            else if (e == 'W' && !in_class) rep = "[^\\p{L}\\p{M}\\p{Nd}\\p{Pc}]";
            if (rep ? inf__tk_buf_put(out, rep, strlen(rep)) : inf__tk_buf_put(out, pat + i, 2)) return -1;
            i++;
            continue;
        }
        if (c == '[' && !in_class) in_class = 1;
        else if (c == ']' && in_class) in_class = 0;
        if (inf__tk_buf_put(out, &c, 1)) return -1;
    }
    return inf__tk_buf_put(out, "", 0);
}

pcre2_code *inf__tk_regex_compile(const char *pat, size_t len, int literal,
                                  inf__err *err) {
    int ec;
    PCRE2_SIZE off;
    tk_buf rewritten = {0};
    if (!literal) {
        if (onig_classes(pat, len, &rewritten)) {
            free(rewritten.p);
            inf__seterr(err, INF_E_NOMEM, "out of memory");
            return NULL;
        }
        pat = rewritten.p;
        len = rewritten.n;
    }
    /* PCRE2_LITERAL refuses UCP (meaningless for a literal anyway). */
    uint32_t opts = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, len, opts, &ec, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ec, msg, sizeof msg);
        inf__seterr(err, INF_E_UNSUPPORTED, "regex /%.*s/ at offset %zu: %s",
                    (int)(len > 200 ? 200 : len), pat, (size_t)off, (char *)msg);
        free(rewritten.p);
        return NULL;
    }
    /* JIT is an optimisation only: without it matching still works. */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    free(rewritten.p);
    return re;
}

int inf__tk_regex_next(const pcre2_code *re, pcre2_match_data *md,
                       const char *s, size_t n, size_t pos,
                       size_t *ms, size_t *me) {
    if (pos > n) return 0;
    int rc = pcre2_match(re, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
        /* The interpreter keeps its backtracking state on the heap. */
        rc = pcre2_match(re, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, NULL);
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0) return -1;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    *ms = ov[0];
    *me = ov[1];
    return 1;
}
