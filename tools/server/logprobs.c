/* Log-probabilities of generated tokens (see logprobs.h). */
#include "server/logprobs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/cliutil.h"
#include "server/tokenize.h"

void inf__srv_lp_compute(const inf_token *t, int k, inf__srv_lp *o) {
    memset(o, 0, sizeof *o);
    o->id = t->id;
    if (!t->logits || t->n_logits <= 0 || t->id < 0 || t->id >= t->n_logits) return;
    const float *x = t->logits;
    int n = t->n_logits;
    double mx = x[0];
    for (int i = 1; i < n; i++) if (x[i] > mx) mx = x[i];
    double sum = 0;
    for (int i = 0; i < n; i++) sum += exp((double)x[i] - mx);
    double lse = mx + log(sum);
    o->have = 1;
    o->lp = x[t->id] - lse;
    if (k > INF__SRV_LP_TOP_MAX) k = INF__SRV_LP_TOP_MAX;
    if (k > n) k = n;
    /* Insertion into a sorted top-k list; ties keep the lower id first. */
    for (int i = 0; i < n && k > 0; i++) {
        if (o->k == k && x[i] <= x[o->top_ids[k - 1]]) continue;
        int at = o->k < k ? o->k++ : k - 1;
        while (at > 0 && x[o->top_ids[at - 1]] < x[i]) {
            o->top_ids[at] = o->top_ids[at - 1];
            at--;
        }
        o->top_ids[at] = i;
    }
    for (int j = 0; j < o->k; j++) o->top_lps[j] = x[o->top_ids[j]] - lse;
}

/* A JSON string from text[n], repairing invalid UTF-8. */
static json_t *text_json(const char *text, size_t n) {
    json_t *v = cli_json_string(text, n);
    return v ? v : json_string("");
}

static json_t *bytes_json(const char *s, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_integer((unsigned char)s[i]));
    return a;
}

/* The text of one token id on its own (the tokenizer's decoding), or NULL. */
static char *id_text(const inf_tokenizer *tok, int32_t id, size_t *len) {
    char *text = NULL;
    *len = 0;
    if (tok && inf_detokenize(tok, &id, 1, 0, &text, len, NULL) == INF_OK) return text;
    return NULL;
}

static json_t *lp_value(const inf__srv_lp *o, double v) {
    return o->have ? json_real(v) : json_null();
}

/* A chat logprobs.content entry for a token whose text piece is text[n]. */
static json_t *chat_entry(const inf_tokenizer *tok, const inf__srv_lp *o, const char *text,
                          size_t n) {
    json_t *e = json_pack("{s:i, s:o, s:o, s:o}", "id", (int)o->id, "token", text_json(text, n),
                          "logprob", lp_value(o, o->lp), "bytes", bytes_json(text, n));
    json_t *top = json_array();
    for (int j = 0; j < o->k; j++) {
        size_t len;
        char *t = id_text(tok, o->top_ids[j], &len);
        json_array_append_new(top, json_pack("{s:i, s:o, s:o, s:o}", "id", (int)o->top_ids[j],
                                             "token", text_json(t ? t : "", len),
                                             "logprob", json_real(o->top_lps[j]),
                                             "bytes", bytes_json(t ? t : "", len)));
        inf_free(t);
    }
    json_object_set_new(e, "top_logprobs", top);
    return e;
}

/* Adds one token to the legacy completions logprobs object lp. */
static void legacy_add(json_t *lp, const inf_tokenizer *tok, const inf__srv_lp *o,
                       const char *text, size_t n, size_t *text_off) {
    json_array_append_new(json_object_get(lp, "tokens"), text_json(text, n));
    json_array_append_new(json_object_get(lp, "token_logprobs"), lp_value(o, o->lp));
    json_t *top = json_object();
    for (int j = 0; j < o->k; j++) {
        size_t len;
        char *t = id_text(tok, o->top_ids[j], &len);
        json_t *key = text_json(t ? t : "", len);
        /* Keyed by text, as the legacy format is: ids that decode alike
         * collide, and the likelier (earlier) one is kept. */
        if (!json_object_get(top, json_string_value(key)))
            json_object_set_new(top, json_string_value(key), json_real(o->top_lps[j]));
        json_decref(key);
        inf_free(t);
    }
    json_array_append_new(json_object_get(lp, "top_logprobs"), top);
    json_array_append_new(json_object_get(lp, "text_offset"), json_integer((json_int_t)*text_off));
    *text_off += n;
}

json_t *inf__srv_lp_new(int chat) {
    if (chat) return json_pack("{s:[]}", "content");
    return json_pack("{s:[], s:[], s:[], s:[]}", "tokens", "token_logprobs", "top_logprobs",
                     "text_offset");
}

void inf__srv_lp_add(json_t *obj, int chat, const inf_tokenizer *tok,
                     const inf__srv_lp *o, const char *text, size_t n,
                     size_t *text_off) {
    if (chat)
        json_array_append_new(json_object_get(obj, "content"), chat_entry(tok, o, text, n));
    else
        legacy_add(obj, tok, o, text, n, text_off);
}

int inf__srv_lp_prompt(json_t *obj, const inf_tokenizer *tok, const int32_t *ids,
                       size_t n, const float *logits, int32_t vocab, int k,
                       size_t *text_off) {
    char *buf;
    size_t *off;
    int rc = inf__srv_token_pieces(tok, ids, n, 1, &buf, &off);
    if (rc != INF_OK) return rc;
    for (size_t i = 0; i < n; i++) {
        inf__srv_lp o;
        memset(&o, 0, sizeof o);
        o.id = ids[i];
        if (i > 0) {
            inf_token t = {.id = ids[i], .logits = logits + (i - 1) * (size_t)vocab,
                           .n_logits = vocab};
            inf__srv_lp_compute(&t, k, &o);
        }
        legacy_add(obj, tok, &o, buf + off[i], off[i + 1] - off[i], text_off);
    }
    /* The first token has no alternatives either: null, not {}. */
    json_t *top = json_object_get(obj, "top_logprobs");
    if (n > 0) json_array_set_new(top, json_array_size(top) - n, json_null());
    free(buf);
    free(off);
    return INF_OK;
}
