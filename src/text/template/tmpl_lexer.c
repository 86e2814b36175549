/* Lexer: template source -> tokens.  Applies Jinja's whitespace control the
 * way transformers configures it: trim_blocks (drop the first newline after
 * a block or comment tag), lstrip_blocks (drop spaces/tabs before a block or
 * comment tag that starts its line), plus the explicit `-` and `+` markers. */
#include "text/template/tmpl_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct lex {
    tctx *c;
    const char *s;
    size_t n, pos;
    int line;
    ttoken *tok;
    size_t ntok, cap;
    int lstrip_next;  /* a `-` end marker: strip all leading whitespace of the next text */
} lex;

static void push(lex *L, int type, tstr s, int line) {
    if (L->ntok == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 256;
        ttoken *nt = inf__tc_alloc(L->c, cap * sizeof *nt);
        if (L->ntok) memcpy(nt, L->tok, L->ntok * sizeof *nt);
        L->tok = nt;
        L->cap = cap;
    }
    ttoken *t = &L->tok[L->ntok++];
    memset(t, 0, sizeof *t);
    t->type = type;
    t->s = s;
    t->line = line;
}

static int is_ws(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v'; }

static void count_lines(lex *L, size_t from, size_t to) {
    for (size_t i = from; i < to; i++) if (L->s[i] == '\n') L->line++;
}

/* Emits text s[a,b) with the stripping rules; `tag` is the tag that follows
 * ('{', '%', '#' or 0 at end of input), tag_mod its marker ('-', '+', 0). */
static void emit_text(lex *L, size_t a, size_t b, char tag, char tag_mod) {
    int line = L->line;
    count_lines(L, a, b);
    if (L->lstrip_next) {
        while (a < b && is_ws(L->s[a])) a++;
        L->lstrip_next = 0;
    }
    if (tag_mod == '-') {
        while (b > a && is_ws(L->s[b - 1])) b--;
    } else if ((tag == '%' || tag == '#') && tag_mod != '+') {
        /* lstrip_blocks: only when the tag is the first thing on its line. */
        size_t k = b;
        while (k > a && (L->s[k - 1] == ' ' || L->s[k - 1] == '\t')) k--;
        if ((k > a && L->s[k - 1] == '\n') || (k == a && (a == 0 || L->s[a - 1] == '\n')))
            b = k;
    }
    if (b > a) push(L, TK_TEXT, (tstr){L->s + a, b - a}, line);
}

/* After a block/comment end without `-`/`+`: trim_blocks drops one newline. */
static void after_block_end(lex *L, char mod) {
    if (mod == '-') L->lstrip_next = 1;
    else if (mod != '+' && L->pos < L->n && L->s[L->pos] == '\n') {
        L->pos++;
        L->line++;
    }
}

static void lex_string(lex *L) {
    char q = L->s[L->pos++];
    int line = L->line;
    tbuf b;
    inf__tb_init(&b, L->c, 0);
    for (;;) {
        if (L->pos >= L->n) inf__tc_fail(L->c, INF_E_TEMPLATE, "template syntax error at line %d: unterminated string", line);
        char ch = L->s[L->pos++];
        if (ch == q) break;
        if (ch == '\n') L->line++;
        if (ch != '\\') { inf__tb_putc(&b, ch); continue; }
        if (L->pos >= L->n) continue;
        char e = L->s[L->pos++];
        unsigned long cp = 0;
        int hex = 0;
        switch (e) {
        case 'n': inf__tb_putc(&b, '\n'); break;
        case 't': inf__tb_putc(&b, '\t'); break;
        case 'r': inf__tb_putc(&b, '\r'); break;
        case 'b': inf__tb_putc(&b, '\b'); break;
        case 'f': inf__tb_putc(&b, '\f'); break;
        case 'v': inf__tb_putc(&b, '\v'); break;
        case 'a': inf__tb_putc(&b, '\a'); break;
        case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
            /* octal, up to three digits */
            unsigned o = (unsigned)(e - '0');
            for (int k = 0; k < 2 && L->pos < L->n && L->s[L->pos] >= '0' && L->s[L->pos] <= '7'; k++)
                o = o * 8 + (unsigned)(L->s[L->pos++] - '0');
            cp = o;
            hex = -1;
            break;
        }
        case 'N':
            inf__tc_fail(L->c, INF_E_TEMPLATE, "template syntax error at line %d: \\N{...} escapes are not supported", line);
        case '\\': case '\'': case '"': inf__tb_putc(&b, e); break;
        case '\n': L->line++; break; /* line continuation */
        case 'x': hex = 2; break;
        case 'u': hex = 4; break;
        case 'U': hex = 8; break;
        default: inf__tb_putc(&b, '\\'); inf__tb_putc(&b, e); break;
        }
        if (hex) {
            for (int k = 0; k < hex; k++) { /* hex < 0: cp already decoded (octal) */
                if (L->pos >= L->n || !isxdigit((unsigned char)L->s[L->pos]))
                    inf__tc_fail(L->c, INF_E_TEMPLATE, "template syntax error at line %d: bad \\%c escape", line, e);
                char h = L->s[L->pos++];
                cp = cp * 16 + (unsigned long)(isdigit((unsigned char)h) ? h - '0' : (tolower((unsigned char)h) - 'a' + 10));
            }
            if (cp > 0x10FFFF) inf__tc_fail(L->c, INF_E_TEMPLATE, "template syntax error at line %d: bad escape", line);
            char u[4];
            size_t k;
            if (cp < 0x80) { u[0] = (char)cp; k = 1; }
            else if (cp < 0x800) { u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 63)); k = 2; }
            else if (cp < 0x10000) { u[0] = (char)(0xE0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 63)); u[2] = (char)(0x80 | (cp & 63)); k = 3; }
            else { u[0] = (char)(0xF0 | (cp >> 18)); u[1] = (char)(0x80 | ((cp >> 12) & 63)); u[2] = (char)(0x80 | ((cp >> 6) & 63)); u[3] = (char)(0x80 | (cp & 63)); k = 4; }
            inf__tb_put(&b, u, k);
        }
    }
    push(L, TK_STRING, (tstr){b.p ? b.p : "", b.n}, line);
}

static void lex_number(lex *L) {
    size_t a = L->pos;
    int is_float = 0;
    char digits[128];
    size_t nd = 0;
    while (L->pos < L->n) {
        char ch = L->s[L->pos];
        if (isdigit((unsigned char)ch)) { /* fine */ }
        else if (ch == '_' && L->pos > a && isdigit((unsigned char)L->s[L->pos - 1])) { L->pos++; continue; }
        else if (ch == '.' && !is_float && L->pos + 1 < L->n && isdigit((unsigned char)L->s[L->pos + 1])) is_float = 1;
        else if ((ch == 'e' || ch == 'E') && L->pos + 1 < L->n &&
                 (isdigit((unsigned char)L->s[L->pos + 1]) ||
                  ((L->s[L->pos + 1] == '+' || L->s[L->pos + 1] == '-') && L->pos + 2 < L->n && isdigit((unsigned char)L->s[L->pos + 2])))) {
            is_float = 1;
            if (nd < sizeof digits - 2) digits[nd++] = ch;
            L->pos++;
            ch = L->s[L->pos];
        } else break;
        if (nd < sizeof digits - 1) digits[nd++] = ch;
        L->pos++;
    }
    digits[nd] = '\0';
    push(L, is_float ? TK_FLOAT : TK_INT, (tstr){L->s + a, L->pos - a}, L->line);
    ttoken *t = &L->tok[L->ntok - 1];
    if (is_float) t->f = strtod(digits, NULL);
    else {
        errno = 0;
        t->i = strtoll(digits, NULL, 10);
        if (errno) { t->type = TK_FLOAT; t->f = strtod(digits, NULL); }
    }
}

/* Lexes the inside of a {{ }} or {% %} tag up to its end marker. */
static void lex_tag(lex *L, int is_var) {
    int depth = 0;
    int line0 = L->line;
    for (;;) {
        while (L->pos < L->n && is_ws(L->s[L->pos])) {
            if (L->s[L->pos] == '\n') L->line++;
            L->pos++;
        }
        if (L->pos >= L->n)
            inf__tc_fail(L->c, INF_E_TEMPLATE, "template syntax error at line %d: unexpected end of template, tag not closed", line0);
        const char *p = L->s + L->pos;
        size_t left = L->n - L->pos;
        if (depth == 0) {
            char close = is_var ? '}' : '%';
            char mod = 0;
            size_t k = 0;
            if ((p[0] == '-' || (!is_var && p[0] == '+')) && left >= 3 && p[1] == close && p[2] == '}') { mod = p[0]; k = 3; }
            else if (left >= 2 && p[0] == close && p[1] == '}') k = 2;
            if (k) {
                L->pos += k;
                push(L, is_var ? TK_VAR_END : TK_BLOCK_END, (tstr){p, k}, L->line);
                if (is_var) { if (mod == '-') L->lstrip_next = 1; }
                else after_block_end(L, mod);
                return;
            }
        }
        char ch = p[0];
        if (ch == '\'' || ch == '"') { lex_string(L); continue; }
        if (isdigit((unsigned char)ch)) { lex_number(L); continue; }
        if (isalpha((unsigned char)ch) || ch == '_') {
            size_t a = L->pos;
            while (L->pos < L->n && (isalnum((unsigned char)L->s[L->pos]) || L->s[L->pos] == '_')) L->pos++;
            push(L, TK_NAME, (tstr){L->s + a, L->pos - a}, L->line);
            continue;
        }
        static const char *const two[] = {"//", "**", "==", "!=", "<=", ">=", NULL};
        size_t k = 0;
        for (int i = 0; two[i]; i++)
            if (left >= 2 && p[0] == two[i][0] && p[1] == two[i][1]) { k = 2; break; }
        if (!k) {
            if (!strchr("+-*/%~<>=.,:|()[]{};", ch))
                inf__tc_fail(L->c, INF_E_TEMPLATE, "template syntax error at line %d: unexpected character '%c'", L->line,
                             (ch >= 32 && ch < 127) ? ch : '?');
            k = 1;
            if (ch == '(' || ch == '[' || ch == '{') depth++;
            if ((ch == ')' || ch == ']' || ch == '}') && depth > 0) depth--;
        }
        push(L, TK_OP, (tstr){p, k}, L->line);
        L->pos += k;
    }
}

/* Finds `{% endraw %}` (with optional -/+ markers) from L->pos; returns its
 * start or n. Sets *inner_end_mod and *end_len. */
static size_t find_endraw(lex *L, char *open_mod, char *close_mod, size_t *len) {
    for (size_t i = L->pos; i + 1 < L->n; i++) {
        if (L->s[i] != '{' || L->s[i + 1] != '%') continue;
        size_t j = i + 2;
        char om = 0, cm = 0;
        if (j < L->n && (L->s[j] == '-' || L->s[j] == '+')) om = L->s[j++];
        while (j < L->n && is_ws(L->s[j])) j++;
        if (L->n - j < 6 || memcmp(L->s + j, "endraw", 6) != 0) continue;
        j += 6;
        while (j < L->n && is_ws(L->s[j])) j++;
        if (j < L->n && (L->s[j] == '-' || L->s[j] == '+')) cm = L->s[j++];
        if (j + 1 < L->n && L->s[j] == '%' && L->s[j + 1] == '}') {
            *open_mod = om;
            *close_mod = cm;
            *len = j + 2 - i;
            return i;
        }
    }
    return L->n;
}

ttoken *inf__tlex(tctx *c, const char *src, size_t n, size_t *ntok) {
    /* Jinja first normalises every newline (\r\n, \r) to \n, then drops
     * one trailing newline (keep_trailing_newline is off in transformers) */
    if (memchr(src, '\r', n)) {
        char *norm = inf__tc_alloc(c, n + 1);
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (src[i] == '\r') {
                norm[k++] = '\n';
                if (i + 1 < n && src[i + 1] == '\n') i++;
            } else norm[k++] = src[i];
        }
        src = norm;
        n = k;
    }
    if (n && src[n - 1] == '\n') n--;
    lex L;
    memset(&L, 0, sizeof L);
    L.c = c;
    L.s = src;
    L.n = n;
    L.line = 1;
    while (L.pos < L.n) {
        /* find the next tag start */
        size_t i = L.pos;
        while (i + 1 < L.n && !(src[i] == '{' && (src[i + 1] == '{' || src[i + 1] == '%' || src[i + 1] == '#'))) i++;
        if (i + 1 >= L.n) {
            emit_text(&L, L.pos, L.n, 0, 0);
            L.pos = L.n;
            break;
        }
        char tag = src[i + 1];
        char mod = 0;
        if (i + 2 < L.n && (src[i + 2] == '-' || src[i + 2] == '+')) mod = src[i + 2];
        if (tag == '{' && mod == '+') mod = 0;
        emit_text(&L, L.pos, i, tag, mod);
        L.pos = i + 2 + (mod ? 1 : 0);
        if (tag == '#') {
            size_t j = L.pos;
            while (j + 1 < L.n && !(src[j] == '#' && src[j + 1] == '}')) j++;
            if (j + 1 >= L.n) inf__tc_fail(c, INF_E_TEMPLATE, "template syntax error at line %d: unclosed comment", L.line);
            char cm = (j > L.pos && (src[j - 1] == '-' || src[j - 1] == '+')) ? src[j - 1] : 0;
            count_lines(&L, L.pos, j);
            L.pos = j + 2;
            after_block_end(&L, cm);
            continue;
        }
        if (tag == '{') {
            push(&L, TK_VAR_BEGIN, (tstr){src + i, 2}, L.line);
            lex_tag(&L, 1);
            continue;
        }
        /* a block: peek for `raw` */
        size_t j = L.pos;
        while (j < L.n && is_ws(src[j])) j++;
        if (L.n - j >= 3 && memcmp(src + j, "raw", 3) == 0 && (j + 3 >= L.n || !(isalnum((unsigned char)src[j + 3]) || src[j + 3] == '_'))) {
            j += 3;
            while (j < L.n && is_ws(src[j])) j++;
            char rm = 0;
            if (j < L.n && (src[j] == '-' || src[j] == '+')) rm = src[j++];
            if (j + 1 >= L.n || src[j] != '%' || src[j + 1] != '}')
                inf__tc_fail(c, INF_E_TEMPLATE, "template syntax error at line %d: bad raw tag", L.line);
            count_lines(&L, L.pos, j + 2);
            L.pos = j + 2;
            after_block_end(&L, rm);
            char om, cm;
            size_t len;
            size_t e = find_endraw(&L, &om, &cm, &len);
            if (e >= L.n) inf__tc_fail(c, INF_E_TEMPLATE, "template syntax error at line %d: missing endraw", L.line);
            size_t a = L.pos, b = e;
            if (L.lstrip_next) { while (a < b && is_ws(src[a])) a++; L.lstrip_next = 0; }
            if (om == '-') while (b > a && is_ws(src[b - 1])) b--;
            if (b > a) push(&L, TK_TEXT, (tstr){src + a, b - a}, L.line);
            count_lines(&L, L.pos, e + len);
            L.pos = e + len;
            after_block_end(&L, cm);
            continue;
        }
        push(&L, TK_BLOCK_BEGIN, (tstr){src + i, 2}, L.line);
        lex_tag(&L, 0);
    }
    push(&L, TK_EOF, (tstr){"", 0}, L.line);
    *ntok = L.ntok;
    return L.tok;
}
