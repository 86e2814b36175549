/* PCRE2 wrapper: the split regexes of Qwen / Llama 3 / GPT-4o use \p{L},
 * \p{N}, case-insensitive groups and lookahead, written for Oniguruma; PCRE2
 * with UTF + UCP reads them the same way.  Patterns are compiled once at load
 * (with JIT when the platform has it); matching only reads the compiled code,
 * so it is safe from several threads, each with its own match data. */
#include <string.h>

#include "text/tokenizer/tok_internal.h"

pcre2_code *inf__tk_regex_compile(const char *pat, size_t len, int literal,
                                  inf__err *err) {
    int ec;
    PCRE2_SIZE off;
    /* PCRE2_LITERAL refuses UCP (meaningless for a literal anyway). */
    uint32_t opts = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, len, opts, &ec, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ec, msg, sizeof msg);
        inf__seterr(err, INF_E_UNSUPPORTED, "regex /%.*s/ at offset %zu: %s",
                    (int)(len > 200 ? 200 : len), pat, (size_t)off, (char *)msg);
        return NULL;
    }
    /* JIT is an optimisation only: without it matching still works. */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
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
