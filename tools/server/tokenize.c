/* /tokenize and /detokenize, and token pieces (see tokenize.h). */
#include "server/tokenize.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/cliutil.h"
#include "server/respond.h"
#include "server/server.h"

/* Tokens decoded before the one whose piece is wanted: enough for any
 * character split over byte tokens (4) and for decoders that treat the
 * first token of a text specially (the window's first token is never the
 * one measured, except at the true start of the text). */
#define PIECE_WINDOW 8

/* The length of s[0..n) without a trailing U+FFFD, which the decoder
 * writes for bytes of a character that later tokens complete. */
static size_t without_partial(const char *s, size_t n) {
    if (n >= 3 && memcmp(s + n - 3, "\xEF\xBF\xBD", 3) == 0) return n - 3;
    return n;
}

int inf__srv_token_pieces(const inf_tokenizer *t, const int32_t *ids, size_t n,
                          int skip_special, char **buf, size_t **off) {
    *buf = NULL;
    *off = NULL;
    size_t *o = malloc((n + 1) * sizeof *o);
    size_t cap = 64, len = 0;
    char *b = malloc(cap);
    if (!o || !b) {
        free(o);
        free(b);
        return INF_E_NOMEM;
    }
    o[0] = 0;
    b[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t from = i > PIECE_WINDOW ? i - PIECE_WINDOW : 0;
        char *before = NULL, *with = NULL;
        size_t bl = 0, wl = 0;
        int rc = INF_OK;
        if (i > from) rc = inf_detokenize(t, ids + from, i - from, skip_special, &before, &bl, NULL);
        if (rc == INF_OK)
            rc = inf_detokenize(t, ids + from, i + 1 - from, skip_special, &with, &wl, NULL);
        if (rc != INF_OK) {
            inf_free(before);
            inf_free(with);
            free(o);
            free(b);
            return rc;
        }
        bl = without_partial(before ? before : "", bl);
        wl = without_partial(with, wl);
        /* The piece is what this token appends; when the decoder rewrote
         * earlier text instead (it should not), it gets nothing. */
        size_t pl = wl >= bl && memcmp(with, before ? before : "", bl) == 0 ? wl - bl : 0;
        if (len + pl + 1 > cap) {
            cap = (len + pl + 1) * 2;
            char *nb = realloc(b, cap);
            if (!nb) {
                inf_free(before);
                inf_free(with);
                free(o);
                free(b);
                return INF_E_NOMEM;
            }
            b = nb;
        }
        memcpy(b + len, with + bl, pl);
        len += pl;
        b[len] = '\0';
        o[i + 1] = len;
        inf_free(before);
        inf_free(with);
    }
    *buf = b;
    *off = o;
    return INF_OK;
}

#define BAD(e, param, ...) \
    inf__srv_errorf(e, 400, "invalid_request_error", param, NULL, __VA_ARGS__)

static unsigned opt_bool(json_t *root, const char *key, int def, int *out,
                         inf__srv_error *e) {
    json_t *v = json_object_get(root, key);
    *out = def;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return BAD(e, key, "'%s' must be a boolean", key);
    *out = json_is_true(v);
    return 0;
}

static unsigned do_tokenize(const inf_tokenizer *t, json_t *root, json_t **out,
                            inf__srv_error *e) {
    json_t *c = json_object_get(root, "content");
    if (!json_is_string(c)) return BAD(e, "content", "'content' (a string) is required");
    const char *text = json_string_value(c);
    size_t len = json_string_length(c);
    if (strlen(text) != len) return BAD(e, "content", "'content' must not contain NUL characters");
    int add_special, parse_special, with_pieces;
    unsigned st;
    if ((st = opt_bool(root, "add_special", 0, &add_special, e)) ||
        (st = opt_bool(root, "parse_special", 1, &parse_special, e)) ||
        (st = opt_bool(root, "with_pieces", 0, &with_pieces, e)))
        return st;
    /* Special tokens written in the text are always recognised (as the
     * model's own tokenizer does for prompts). */
    if (!parse_special)
        return BAD(e, "parse_special", "'parse_special': false is not supported: special "
                                       "tokens in the text are always recognised");
    int32_t *ids = NULL;
    size_t n = 0;
    char *msg = NULL;
    int rc = inf_tokenize(t, text, len, add_special, &ids, &n, &msg);
    if (rc != INF_OK) {
        st = BAD(e, "content", "cannot tokenize 'content': %s", msg && *msg ? msg : inf_strerror(rc));
        inf_free(msg);
        return st;
    }
    json_t *arr = json_array();
    char *pbuf = NULL;
    size_t *off = NULL;
    if (with_pieces && inf__srv_token_pieces(t, ids, n, 0, &pbuf, &off) != INF_OK) {
        inf_free(ids);
        json_decref(arr);
        return inf__srv_errorf(e, 500, "server_error", NULL, NULL, "out of memory");
    }
    for (size_t i = 0; arr && i < n; i++) {
        if (!with_pieces) {
            json_array_append_new(arr, json_integer(ids[i]));
            continue;
        }
        json_t *piece = cli_json_string(pbuf + off[i], off[i + 1] - off[i]);
        json_array_append_new(arr, json_pack("{s:i, s:o}", "id", (int)ids[i], "piece",
                                             piece ? piece : json_string("")));
    }
    inf_free(ids);
    free(pbuf);
    free(off);
    *out = json_pack("{s:o}", "tokens", arr);
    return 0;
}

static unsigned do_detokenize(const inf_tokenizer *t, json_t *root, json_t **out,
                              inf__srv_error *e) {
    json_t *a = json_object_get(root, "tokens");
    if (!json_is_array(a))
        return BAD(e, "tokens", "'tokens' (an array of token ids) is required");
    size_t n = json_array_size(a);
    int32_t vocab = inf_tokenizer_vocab_size(t);
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids) return inf__srv_errorf(e, 500, "server_error", NULL, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) >= vocab) {
            free(ids);
            return BAD(e, "tokens", "'tokens[%zu]' must be a token id between 0 and %d", i,
                       vocab - 1);
        }
        ids[i] = (int32_t)json_integer_value(v);
    }
    char *text = NULL, *msg = NULL;
    size_t len = 0;
    int rc = inf_detokenize(t, ids, n, 0, &text, &len, &msg);
    free(ids);
    if (rc != INF_OK) {
        unsigned st = BAD(e, "tokens", "cannot detokenize 'tokens': %s",
                          msg && *msg ? msg : inf_strerror(rc));
        inf_free(msg);
        return st;
    }
    json_t *c = cli_json_string(text, len);
    inf_free(text);
    *out = json_pack("{s:o}", "content", c ? c : json_string(""));
    return 0;
}

unsigned inf__srv_tokenize(struct inf__srv *s, struct MHD_Connection *conn,
                           const char *body, size_t len, int detok) {
    inf__srv_error e;
    const inf_tokenizer *t = s->cfg.tokenizer;
    if (!t) {
        inf__srv_errorf(&e, 501, "invalid_request_error", NULL, "not_implemented",
                        "this model has no local tokenizer (a remote backend): "
                        "/tokenize and /detokenize are unavailable");
        return inf__srv_send_error(conn, &e);
    }
    json_error_t je;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root || !json_is_object(root)) {
        if (root)
            BAD(&e, NULL, "the request body must be a JSON object");
        else
            BAD(&e, NULL, "the request body is not valid JSON: %s (line %d, column %d)", je.text,
                je.line, je.column);
        json_decref(root);
        return inf__srv_send_error(conn, &e);
    }
    json_t *out = NULL;
    unsigned st = detok ? do_detokenize(t, root, &out, &e) : do_tokenize(t, root, &out, &e);
    json_decref(root);
    if (st) return inf__srv_send_error(conn, &e);
    if (!out) return 0;
    return inf__srv_send_json(conn, 200, out);
}
