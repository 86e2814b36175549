/* Tokenizers from GGUF files: a GGUF's tokenizer.ggml.* metadata as the
 * tokenizer's neutral spec (src/text/tokenizer knows nothing of GGUF), for
 * the engine's models and for inf_tokenizer_load, which also takes a GGUF
 * file alone: the container is opened (its header parsed, the data
 * mapped but never read) and only the metadata is used, so a tokenizer
 * from a multi-GB model file costs what its vocabulary costs. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/util.h"
#include "engine/engine_int.h"
#include "inference.h"
#include "model/gguf.h"
#include "model/modeldir.h"

static const char *gguf_cstr(const inf__gguf *g, const char *key, char *buf, size_t n) {
    return inf__gguf_find(g, key) ? inf__gguf_str_copy(g, key, buf, n) : NULL;
}

int inf__engine_gguf_tokenizer(const inf__gguf *g, inf__tokenizer **out, inf__err *err) {
    inf__tok_vocab_spec sp;
    inf__tok_vocab_spec_init(&sp);
    char model[64], pre[64];
    sp.model = gguf_cstr(g, "tokenizer.ggml.model", model, sizeof model);
    sp.pre = gguf_cstr(g, "tokenizer.ggml.pre", pre, sizeof pre);
    if (!sp.model)
        return inf__seterr(err, INF_E_FORMAT, "missing tokenizer.ggml.model");
    const inf__gguf_kv *tk = inf__gguf_find(g, "tokenizer.ggml.tokens");
    const inf__gguf_kv *sc = inf__gguf_find(g, "tokenizer.ggml.scores");
    const inf__gguf_kv *ty = inf__gguf_find(g, "tokenizer.ggml.token_type");
    const inf__gguf_kv *mg = inf__gguf_find(g, "tokenizer.ggml.merges");
    if (!tk || tk->type != INF__GGUF_ARRAY || tk->arr_type != INF__GGUF_STRING)
        return inf__seterr(err, INF_E_FORMAT, "tokenizer.ggml.tokens is not an array of strings");
    size_t n = (size_t)tk->arr_n;
    if ((sc && (sc->type != INF__GGUF_ARRAY || sc->arr_type != INF__GGUF_F32 || sc->arr_n != n)) ||
        (ty && (ty->type != INF__GGUF_ARRAY || ty->arr_type != INF__GGUF_I32 || ty->arr_n != n)) ||
        (mg && (mg->type != INF__GGUF_ARRAY || mg->arr_type != INF__GGUF_STRING)))
        return inf__seterr(err, INF_E_FORMAT,
                           "tokenizer.ggml.scores / token_type / merges: wrong type or length");
    size_t nm = mg ? (size_t)mg->arr_n : 0;
    const char **toks = malloc((n ? n : 1) * sizeof *toks);
    size_t *lens = malloc((n ? n : 1) * sizeof *lens);
    float *scores = sc ? malloc((n ? n : 1) * sizeof *scores) : NULL;
    int32_t *types = ty ? malloc((n ? n : 1) * sizeof *types) : NULL;
    const char **merges = malloc((nm ? nm : 1) * sizeof *merges);
    size_t *mlens = malloc((nm ? nm : 1) * sizeof *mlens);
    int rc = INF_OK;
    if (!toks || !lens || (sc && !scores) || (ty && !types) || !merges || !mlens) {
        rc = inf__seterr(err, INF_E_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        toks[i] = tk->strs[i].s;
        lens[i] = (size_t)tk->strs[i].n;
        if (scores) scores[i] = (float)inf__gguf_arr_float(sc, i);
        if (types) types[i] = (int32_t)inf__gguf_arr_int(ty, i);
    }
    for (size_t i = 0; i < nm; i++) {
        merges[i] = mg->strs[i].s;
        mlens[i] = (size_t)mg->strs[i].n;
    }
    sp.n_tokens = n;
    sp.tokens = toks;
    sp.token_lens = lens;
    sp.scores = scores;
    sp.token_types = types;
    sp.n_merges = nm;
    sp.merges = merges;
    sp.merge_lens = mlens;
    static const struct { const char *key; size_t off; } ids[] = {
        {"tokenizer.ggml.bos_token_id", offsetof(inf__tok_vocab_spec, bos_id)},
        {"tokenizer.ggml.eos_token_id", offsetof(inf__tok_vocab_spec, eos_id)},
        {"tokenizer.ggml.unknown_token_id", offsetof(inf__tok_vocab_spec, unk_id)},
        {"tokenizer.ggml.seperator_token_id", offsetof(inf__tok_vocab_spec, sep_id)},
        {"tokenizer.ggml.padding_token_id", offsetof(inf__tok_vocab_spec, pad_id)},
        {"tokenizer.ggml.mask_token_id", offsetof(inf__tok_vocab_spec, mask_id)},
        {"tokenizer.ggml.eot_token_id", offsetof(inf__tok_vocab_spec, eot_id)},
        {"tokenizer.ggml.eom_token_id", offsetof(inf__tok_vocab_spec, eom_id)},
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        int64_t v;
        if (inf__gguf_get_int(g, ids[i].key, 0, INT32_MAX, &v, NULL) == 1)
            *(int32_t *)(void *)((char *)&sp + ids[i].off) = (int32_t)v;
    }
    /* The fill-in-the-middle roles; the older names are read last and win,
     * as in llama.cpp. */
    static const struct { const char *key; int role; } fim[] = {
        {"tokenizer.ggml.fim_pre_token_id", INF__TOK_FIM_PRE},
        {"tokenizer.ggml.fim_suf_token_id", INF__TOK_FIM_SUF},
        {"tokenizer.ggml.fim_mid_token_id", INF__TOK_FIM_MID},
        {"tokenizer.ggml.fim_pad_token_id", INF__TOK_FIM_PAD},
        {"tokenizer.ggml.fim_rep_token_id", INF__TOK_FIM_REP},
        {"tokenizer.ggml.fim_sep_token_id", INF__TOK_FIM_SEP},
        {"tokenizer.ggml.prefix_token_id", INF__TOK_FIM_PRE},
        {"tokenizer.ggml.suffix_token_id", INF__TOK_FIM_SUF},
        {"tokenizer.ggml.middle_token_id", INF__TOK_FIM_MID},
    };
    for (size_t i = 0; i < sizeof fim / sizeof fim[0]; i++) {
        int64_t v;
        if (inf__gguf_get_int(g, fim[i].key, 0, INT32_MAX, &v, NULL) == 1 && (size_t)v < n)
            sp.fim_ids[fim[i].role] = (int32_t)v;
    }
    static const struct { const char *key; size_t off; } flags[] = {
        {"tokenizer.ggml.add_bos_token", offsetof(inf__tok_vocab_spec, add_bos)},
        {"tokenizer.ggml.add_eos_token", offsetof(inf__tok_vocab_spec, add_eos)},
        {"tokenizer.ggml.add_space_prefix", offsetof(inf__tok_vocab_spec, add_space_prefix)},
        {"tokenizer.ggml.remove_extra_whitespaces",
         offsetof(inf__tok_vocab_spec, remove_extra_whitespaces)},
    };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        int v;
        if (inf__gguf_get_bool(g, flags[i].key, &v, NULL) == 1)
            *(int *)(void *)((char *)&sp + flags[i].off) = v;
    }
    rc = inf__tok_load_vocab(&sp, out, err);
done:
    free(toks);
    free(lens);
    free(scores);
    free(types);
    free(merges);
    free(mlens);
    return rc;
}

static int fail(int rc, const inf__err *e, char **errmsg) {
    if (errmsg) *errmsg = inf__strdup(e->msg[0] ? e->msg : inf_strerror(rc));
    return rc;
}

/* A directory with tokenizer.json: that file (what this function always
 * did).  Otherwise a .gguf file, or a directory without config.json
 * holding one GGUF model (inf__modeldir_gguf_path): its metadata. */
int inf_tokenizer_load(const char *path, inf_tokenizer **out, char **errmsg) {
    inf__err e;
    inf__err_clear(&e);
    if (errmsg) *errmsg = NULL;
    if (!out) {
        inf__seterr(&e, INF_E_INVALID_ARGUMENT, "out is NULL");
        return fail(e.code, &e, errmsg);
    }
    *out = NULL;
    if (!path) {
        inf__seterr(&e, INF_E_INVALID_ARGUMENT, "path is NULL");
        return fail(e.code, &e, errmsg);
    }
    inf__tokenizer *t = NULL;
    char *gpath = NULL;
    char *tj = inf__path_join(path, "tokenizer.json");
    struct stat st;
    int rc = tj ? INF_OK : inf__seterr(&e, INF_E_NOMEM, "out of memory");
    int has_tj = tj && stat(tj, &st) == 0;
    free(tj);
    if (!rc && !has_tj) rc = inf__modeldir_gguf_path(path, &gpath, &e);
    if (!rc && gpath) {
        inf__gguf *g = NULL;
        rc = inf__gguf_open(gpath, &g, &e);
        if (!rc && !inf__gguf_find(g, "tokenizer.ggml.tokens"))
            rc = inf__seterr(&e, INF_E_NOT_FOUND, "the GGUF file has no tokenizer (tokenizer.ggml.tokens)");
        if (!rc) rc = inf__engine_gguf_tokenizer(g, &t, &e);
        if (rc) inf__err_prefix(&e, "%s", gpath);
        inf__gguf_free(g);
    } else if (!rc) {
        rc = inf__tok_load_dir(path, &t, &e);
    }
    free(gpath);
    if (rc) return fail(rc, &e, errmsg);
    if (!(*out = inf__tok_wrap(t))) {
        inf__seterr(&e, INF_E_NOMEM, "out of memory");
        return fail(e.code, &e, errmsg);
    }
    return INF_OK;
}
