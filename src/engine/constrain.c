/* Constrained decoding in the engine (see constrain.h). */
#include "engine/constrain.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_int.h"

/* The model's vocabulary as bytes, built on first use; the lock makes two
 * first requests on two threads build it once. */
static int get_vocab(inf__engine *e, const inf__grammar_vocab **out, inf__err *err) {
    int rc = INF_OK;
    pthread_mutex_lock(&e->gmu);
    if (!e->gvocab)
        rc = inf__grammar_vocab_new(e->tok, e->eos, (size_t)e->n_eos, &e->gvocab, err);
    *out = e->gvocab;
    pthread_mutex_unlock(&e->gmu);
    return rc;
}

int inf__constraint_init(inf__engine *e, inf__seq *s, const inf_generate_options *o,
                         inf__err *err) {
    if (o->constraint_kind == INF_CONSTRAINT_NONE) return INF_OK;
    if (!e->tok)
        return inf__seterr(err, INF_E_TOKENIZER,
                           "a constraint needs the model's tokenizer (tokenizer.json) to map "
                           "tokens to text, and this model has none");
    const inf__grammar_vocab *v;
    int rc = get_vocab(e, &v, err);
    if (rc != INF_OK) return rc;
    const char *text = o->constraint;
    inf__grammar *g = NULL;
    switch (o->constraint_kind) {
    case INF_CONSTRAINT_GRAMMAR:
        rc = inf__grammar_from_gbnf(text, strlen(text), NULL, &g, err);
        break;
    case INF_CONSTRAINT_REGEX:
        rc = inf__grammar_from_regex(text, strlen(text), NULL, &g, err);
        break;
    case INF_CONSTRAINT_JSON_SCHEMA:
        rc = inf__grammar_from_json_schema(text, strlen(text), NULL, &g, err);
        break;
    default: /* INF_CONSTRAINT_JSON: any object, OpenAI's json_object */
        rc = inf__grammar_from_json_schema("{\"type\":\"object\"}", 17, NULL, &g, err);
        break;
    }
    if (rc != INF_OK) return rc;
    rc = inf__matcher_new(g, v, &s->matcher, err);
    if (rc != INF_OK) {
        inf__grammar_free(g);
        return rc;
    }
    s->grammar = g;
    return INF_OK;
}

void inf__constraint_free(inf__seq *s) {
    inf__matcher_free(s->matcher);
    inf__grammar_free(s->grammar);
    s->matcher = NULL;
    s->grammar = NULL;
}

void inf__constraint_engine_free(inf__engine *e) {
    inf__grammar_vocab_free(e->gvocab);
    e->gvocab = NULL;
    free(e->gmask);
    free(e->gids);
    free(e->gvals);
    e->gmask = NULL;
    e->gids = NULL;
    e->gvals = NULL;
}

/* Fills e->gmask with the ids s's matcher allows next. */
static int fill_mask(inf__engine *e, inf__seq *s, inf__err *err) {
    size_t words = inf__matcher_mask_words(s->matcher);
    if (e->gmask_words < words) {
        uint32_t *m = realloc(e->gmask, words * sizeof *m);
        if (!m) return inf__seterr(err, INF_E_NOMEM, "out of memory");
        e->gmask = m;
        e->gmask_words = words;
    }
    return inf__matcher_fill_mask(s->matcher, e->gmask, err);
}

/* The ids the mask allows, ascending, into e->gids and their logits into
 * e->gvals; their number.  A word at a time: all-zero words (most of them
 * outside strings) cost one test. */
static int32_t gather(inf__engine *e, const float *logits) {
    int32_t nv = inf__grammar_vocab_size(e->gvocab);
    if (nv > e->vocab) nv = e->vocab;
    int32_t n = 0;
    for (int32_t w = 0; w * 32 < nv; w++) {
        uint32_t bits = e->gmask[w];
        while (bits) {
            int32_t i = w * 32 + __builtin_ctz(bits);
            bits &= bits - 1;
            if (i >= nv) break;
            e->gids[n] = i;
            e->gvals[n++] = logits[i];
        }
    }
    return n;
}

/* 1 when the sampler reads token ids (penalties over the history, logit
 * bias): it must then see the whole row, masked, not the allowed ones. */
static int needs_ids(const inf__sampler_cfg *c) {
    return (c->repeat_penalty > 0 && c->repeat_penalty != 1.0f) || c->presence_penalty != 0 ||
           c->frequency_penalty != 0 || c->n_bias > 0;
}

int32_t inf__constraint_sample(inf__engine *e, inf__seq *s, float *logits, inf__err *err) {
    if (!e->gids) {
        e->gids = malloc((size_t)e->vocab * sizeof *e->gids);
        e->gvals = malloc((size_t)e->vocab * sizeof *e->gvals);
        if (!e->gids || !e->gvals) return inf__seterr(err, INF_E_NOMEM, "out of memory");
    }
    int rc = fill_mask(e, s, err);
    if (rc != INF_OK) return rc;
    int32_t n = gather(e, logits);
    if (n == 0)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                           "the constraint allows no token here (no token of this model's "
                           "vocabulary continues the text)");
    int32_t tok;
    if (!needs_ids(&s->scfg)) {
        /* The sampler over the allowed tokens alone: the same distribution
         * as over the row with the others at -inf, without their cost. */
        int32_t k = inf__sample(&s->scfg, e->gvals, n, NULL, 0, &s->rng, &e->ss);
        if (k < 0) return inf__seterr(err, INF_E_NOMEM, "out of memory");
        tok = e->gids[k];
    } else {
        int32_t j = 0;
        for (int32_t i = 0; i < e->vocab; i++) {
            if (j < n && e->gids[j] == i) j++;
            else logits[i] = -INFINITY;
        }
        tok = inf__sample(&s->scfg, logits, e->vocab, s->hist, s->n_hist, &s->rng, &e->ss);
        if (tok < 0) return inf__seterr(err, INF_E_NOMEM, "out of memory");
    }
    rc = inf__matcher_accept_token(s->matcher, tok, err);
    return rc != INF_OK ? rc : tok;
}

int inf__constraint_finished(const inf__seq *s) {
    return s->matcher && inf__matcher_is_finished(s->matcher);
}
