/* The engine model: loading, the operations table, Generate and Chat. */
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/options.h"
#include "core/util.h"
#include "engine/constrain.h"
#include "engine/engine_int.h"
#include "model/gguf.h"
#include "model/modeldir.h"
#include "text/template/chat_template.h"

/* Hands an error to a caller of the ops table (message malloc'd). */
static int fail(char **errmsg, const inf__err *err, int rc) {
    if (errmsg) *errmsg = inf__strdup_or_empty(err->msg[0] ? err->msg : inf_strerror(rc));
    return rc;
}

int32_t inf__engine_context_length(const void *model) {
    return model ? ((const inf__engine *)model)->n_ctx : 0;
}

int32_t inf__engine_slots(const void *model) {
    return model ? ((const inf__engine *)model)->n_slots : 0;
}

/* ---- creation ------------------------------------------------------------ */

static void engine_free(inf__engine *e) {
    if (!e) return;
    inf__sched_stop(e);
    inf__kv_free(&e->kv);
    if (e->cctx) e->compute->free(e->cctx);
    inf_chat_template_free(e->tmpl_pub); /* and e->tmpl inside it */
    inf_tokenizer_free(e->tok_pub);      /* and e->tok */
    inf__model_files_free(e->files);
    inf__constraint_engine_free(e);
    pthread_mutex_destroy(&e->gmu);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e);
}

int inf__engine_create(const inf__engine_parts *p, void **model,
                       inf__err *err) {
    *model = NULL;
    inf__engine *e = calloc(1, sizeof *e);
    if (!e) {
        inf__tmpl_free(p->tmpl);
        inf__tok_free(p->tok);
        inf__model_files_free(p->files);
        return inf__seterr(err, INF_E_NOMEM, "out of memory");
    }
    pthread_mutex_init(&e->mu, NULL);
    pthread_mutex_init(&e->gmu, NULL);
    pthread_cond_init(&e->cv, NULL);
    e->desc = *p->desc;
    e->files = p->files;
    /* The engine owns the public handles (lent out by inf_model_tokenizer /
     * inf_model_chat_template); e->tok / e->tmpl are what they hold. */
    e->tok = p->tok;
    e->tmpl = p->tmpl;
    e->tok_pub = inf__tok_wrap(p->tok);
    e->tmpl_pub = inf__tmpl_wrap(p->tmpl);
    if ((p->tok && !e->tok_pub) || (p->tmpl && !e->tmpl_pub)) {
        /* a failed wrap freed what it was given */
        if (!e->tok_pub) e->tok = NULL;
        if (!e->tmpl_pub) e->tmpl = NULL;
        engine_free(e);
        return inf__seterr(err, INF_E_NOMEM, "out of memory");
    }
    e->tmpl_code = p->tmpl_code;
    snprintf(e->tmpl_err, sizeof e->tmpl_err, "%s",
             p->tmpl_err ? p->tmpl_err : "");
    e->compute = p->compute;
    e->n_slots = p->params.n_slots;
    e->n_ctx = p->params.context_length;
    e->vocab = e->desc.vocab_size;
    if (e->n_slots <= 0 || e->n_ctx <= 0 || e->vocab <= 0) {
        engine_free(e);
        return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                           "slots (%d), context (%d) and vocabulary (%d) "
                           "must be positive",
                           p->params.n_slots, p->params.context_length,
                           p->desc->vocab_size);
    }
    /* End-of-sequence ids: the model's (config + generation_config) and
     * the tokenizer's eos token. */
    for (int32_t i = 0; i < e->desc.n_eos && i < INF__MAX_EOS; i++)
        e->eos[e->n_eos++] = e->desc.eos_ids[i];
    int32_t te = e->tok ? inf__tok_eos_id(e->tok) : -1;
    if (te >= 0) {
        int have = 0;
        for (int32_t i = 0; i < e->n_eos; i++) have |= e->eos[i] == te;
        if (!have) e->eos[e->n_eos++] = te;
    }
    /* Paged KV memory when the backend stores blocks (compute.h): the
     * pool holds kv_memory bytes, by default as many positions as the
     * per-slot caches would (context x slots), at least one context. */
    inf__compute_params cp = p->params;
    cp.kv_block_tokens = cp.kv_blocks = 0;
    /* the engine owns the files and never reads a layer's matrices itself */
    cp.release_weights = 1;
    e->prefill_chunk = p->prefill_chunk < -1 ? -1 : p->prefill_chunk;
    if (e->compute->copy_block && e->compute->kv_token_bytes) {
        const int64_t ctx_blocks = (e->n_ctx + INF__KV_BLOCK - 1) / INF__KV_BLOCK;
        const int64_t block_bytes = e->compute->kv_token_bytes(&e->desc, &cp) * INF__KV_BLOCK;
        int64_t nb = ctx_blocks * e->n_slots;
        if (p->kv_memory > 0) {
            nb = block_bytes > 0 ? p->kv_memory / block_bytes : 0;
            if (nb < ctx_blocks) {
                inf__seterr(err, INF_E_INVALID_ARGUMENT,
                            "kv_memory = %lld bytes holds %lld blocks of %d positions; "
                            "one context of %d positions needs %lld bytes",
                            (long long)p->kv_memory, (long long)nb, INF__KV_BLOCK,
                            (int)e->n_ctx, (long long)(ctx_blocks * block_bytes));
                engine_free(e);
                return INF_E_INVALID_ARGUMENT;
            }
        }
        if (nb > INT32_MAX / INF__KV_BLOCK) nb = INT32_MAX / INF__KV_BLOCK;
        int rc = inf__kv_init(&e->kv, (int32_t)nb, !p->no_prefix_cache, err);
        if (rc != INF_OK) {
            engine_free(e);
            return rc;
        }
        e->paged = 1;
        /* Sliding windows on every layer (mistral-style): a sequence keeps
         * only its blocks within the widest window.  With one full-
         * attention layer (gemma3: 5 local, 1 global) every block is still
         * read, so all are kept (README: per-layer-group tables). */
        e->kv_window = inf__model_kv_window(&e->desc);
        cp.kv_block_tokens = INF__KV_BLOCK;
        cp.kv_blocks = (int32_t)nb;
    }
    int rc = e->compute->init(&e->desc, &cp, &e->cctx, err);
    if (rc != INF_OK) {
        e->cctx = NULL;
        engine_free(e);
        return rc;
    }
    rc = inf__sched_start(e, err);
    if (rc != INF_OK) {
        engine_free(e);
        return rc;
    }
    *model = e;
    return INF_OK;
}

int inf__engine_open(const char *path, const inf_load_options *opts_in,
                     const inf__compute_ops *compute, int flags,
                     const inf_model_ops **ops, void **model, char **errmsg) {
    inf__err err;
    inf__err_clear(&err);
    if (errmsg) *errmsg = NULL;
    if (model) *model = NULL;
    if (!path || !compute || !ops || !model) {
        inf__seterr(&err, INF_E_INVALID_ARGUMENT, "missing argument");
        return fail(errmsg, &err, INF_E_INVALID_ARGUMENT);
    }
    inf_load_options o;
    inf__load_opts_normalize(opts_in, &o);
    char why[256] = "";
    if (compute->available && !compute->available(why, sizeof why)) {
        inf__seterr(&err, INF_E_BACKEND_UNAVAILABLE,
                    "backend \"%s\" is not available: %s", compute->name,
                    why[0] ? why : "unknown reason");
        return fail(errmsg, &err, INF_E_BACKEND_UNAVAILABLE);
    }

    inf__load_params lp = {
        .dummy_weights = o.dummy_weights,
        .dummy_bits = o.dummy_bits,
        .dummy_group = o.dummy_group,
        .dummy_dtype = o.dummy_dtype,
        .copy_weights = o.copy_weights,
        .progress = o.progress,
        .progress_user = o.progress_user,
    };
    /* The directory is read once; the model, the tokenizer and the chat
     * template are made from what was read. */
    inf__modeldir md;
    int rc = inf__modeldir_open(path, INF__MD_ALL | (o.copy_weights ? INF__MD_COPY : 0), &md,
                                &err);
    if (rc != INF_OK) return fail(errmsg, &err, rc);
    inf__model_desc desc;
    inf__model_files *files = NULL;
    rc = inf__model_open_md(&md, &lp, &desc, &files, &err);
    if (rc != INF_OK) {
        inf__modeldir_free(&md);
        return fail(errmsg, &err, rc);
    }

    inf__tokenizer *tok = NULL;
    if (md.gguf) {
        /* The tokenizer from the GGUF's tokenizer.ggml.* metadata. */
        int have = inf__gguf_find(md.gguf, "tokenizer.ggml.tokens") != NULL;
        rc = have ? inf__engine_gguf_tokenizer(md.gguf, &tok, &err) : INF_E_NOT_FOUND;
        if (rc == INF_E_NOT_FOUND && !have)
            inf__seterr(&err, rc, "%s: the GGUF file has no tokenizer "
                        "(tokenizer.ggml.tokens)", md.config.path);
        /* tokenizer.ggml.model "no_vocab" (llama.cpp's marker of a file
         * without a vocabulary, e.g. scripts/bench/make_gguf.py's random
         * weights): token ids only, as a directory without tokenizer.json */
        char tm[16] = "";
        const int no_vocab =
            !have && inf__gguf_str_copy(md.gguf, "tokenizer.ggml.model", tm, sizeof tm) &&
            strcmp(tm, "no_vocab") == 0;
        if (rc != INF_OK && !o.dummy_weights && !no_vocab &&
            !(flags & INF__ENGINE_NO_TOKENIZER_OK)) {
            if (have) inf__err_prefix(&err, "%s", md.config.path);
            inf__model_files_free(files);
            inf__modeldir_free(&md);
            return fail(errmsg, &err, rc);
        }
        inf__err_clear(&err);
        rc = INF_OK;
    } else if (md.tokenizer.text) {
        rc = inf__tok_load_mem(md.tokenizer.text, md.tokenizer.len,
                               md.tokenizer_config.text,
                               md.tokenizer_config.len, &tok, &err);
        inf__modeldir_drop_tokenizer(&md); /* the large one: done with it */
        if (rc != INF_OK) {
            inf__err_prefix(&err, "%s", path);
            inf__model_files_free(files);
            inf__modeldir_free(&md);
            return fail(errmsg, &err, rc);
        }
    } else if (!o.dummy_weights && !(flags & INF__ENGINE_NO_TOKENIZER_OK)) {
        inf__seterr(&err, INF_E_NOT_FOUND,
                    "%s: not found (the model directory needs its "
                    "tokenizer)", md.tokenizer.path);
        inf__model_files_free(files);
        inf__modeldir_free(&md);
        return fail(errmsg, &err, INF_E_NOT_FOUND);
    }

    /* A broken template does not stop Generate: Chat reports it. */
    inf__chat_template *tmpl = NULL;
    int tmpl_code = INF_OK;
    char tmpl_msg[INF__ERR_MSG_MAX] = "";
    if (tok) {
        inf__err terr;
        inf__err_clear(&terr);
        tmpl_code = inf__tmpl_load_texts(md.tokenizer_config.text,
                                         md.tokenizer_config.len,
                                         md.chat_template.text, path, &tmpl,
                                         &terr);
        if (tmpl_code != INF_OK) {
            tmpl = NULL;
            snprintf(tmpl_msg, sizeof tmpl_msg, "%s", terr.msg);
        }
    } else {
        tmpl_code = INF_E_TOKENIZER;
        snprintf(tmpl_msg, sizeof tmpl_msg,
                 md.gguf ? "%s: the GGUF tokenizer is not supported yet, so it "
                           "cannot chat"
                         : "%s: the model has no tokenizer.json, so it cannot chat",
                 path);
    }
    inf__modeldir_free(&md);

    inf__engine_parts parts = {
        .desc = &desc,
        .files = files,
        .tok = tok,
        .tmpl = tmpl,
        .tmpl_code = tmpl_code,
        .tmpl_err = tmpl_msg,
        .compute = compute,
    };
    parts.params.n_slots =
        o.parallel_slots > 0 ? o.parallel_slots : INF__ENGINE_DEFAULT_SLOTS;
    if (o.context_length > 0) {
        parts.params.context_length = o.context_length;
    } else {
        int32_t c = desc.max_positions > 0 ? desc.max_positions
                                           : INF__ENGINE_DEFAULT_CTX;
        parts.params.context_length =
            c < INF__ENGINE_DEFAULT_CTX ? c : INF__ENGINE_DEFAULT_CTX;
    }
    parts.params.n_threads = o.n_threads;
    parts.params.gpu_layers = o.gpu_layers;
    parts.kv_memory = o.kv_memory;
    parts.no_prefix_cache = o.no_prefix_cache;
    parts.prefill_chunk = o.prefill_chunk;
    parts.params.precision = o.precision;
    rc = inf__engine_create(&parts, model, &err);
    if (rc != INF_OK) return fail(errmsg, &err, rc);
    *ops = &inf__engine_ops;
    return INF_OK;
}

int inf__engine_load(const char *path, const inf_load_options *opts,
                     const inf__compute_ops *compute,
                     const inf_model_ops **ops, void **model, char **errmsg) {
    return inf__engine_open(path, opts, compute, 0, ops, model, errmsg);
}

/* ---- text ---------------------------------------------------------------- */

int inf__engine_tokenize(inf__engine *e, const char *text, int add_special,
                         int32_t **ids, size_t *n, inf__err *err) {
    *ids = NULL;
    *n = 0;
    if (!e->tok)
        return inf__seterr(err, INF_E_TOKENIZER,
                           "this model has no tokenizer.json: only token-id "
                           "requests are possible");
    return inf__tok_encode(e->tok, text ? text : "", strlen(text ? text : ""),
                           add_special, ids, n, err);
}

/* bos_token, eos_token... of tokenizer_config.json as a JSON object, for
 * a caller-supplied template. */
static char *special_tokens_json(inf__engine *e) {
    static const char *names[] = {"bos_token", "eos_token", "unk_token",
                                  "pad_token"};
    json_t *o = json_object();
    if (!o) return NULL;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const char *v = inf__tok_config_token(e->tok, names[i]);
        if (v) json_object_set_new(o, names[i], json_string(v));
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* The BOS token's text, or NULL. */
static const char *bos_text(inf__engine *e) {
    const char *b = inf__tok_config_token(e->tok, "bos_token");
    if (b && *b) return b;
    int32_t id = inf__tok_bos_id(e->tok);
    if (id < 0) return NULL;
    b = inf__tok_piece(e->tok, id);
    return b && *b ? b : NULL;
}

/* Renders and tokenizes a conversation (see engine.h on BOS). */
static int chat_ids(inf__engine *e, const inf_message *msgs, size_t n,
                    const inf_generate_options *o, int32_t **ids,
                    size_t *n_ids, inf__err *err) {
    if (!e->tok)
        return inf__seterr(err, INF_E_TOKENIZER,
                           "this model has no tokenizer.json: it cannot chat");
    inf__chat_template *own = NULL;
    const inf__chat_template *t = e->tmpl;
    int rc;
    if (o->chat_template) {
        char *sp = special_tokens_json(e);
        rc = inf__tmpl_from_source(o->chat_template, sp, &own, err);
        free(sp);
        if (rc != INF_OK) return rc;
        t = own;
    } else if (!t) {
        return inf__seterr(err, e->tmpl_code ? e->tmpl_code : INF_E_TEMPLATE,
                           "%s", e->tmpl_err);
    }
    char *text = NULL;
    rc = inf__tmpl_render(t, msgs, n, o->add_generation_prompt, o->tools_json,
                          o->template_vars_json, &text, err);
    inf__tmpl_free(own);
    if (rc != INF_OK) {
        free(text);
        return rc;
    }
    const char *bos = bos_text(e);
    int add_special = !(bos && strncmp(text, bos, strlen(bos)) == 0);
    rc = inf__engine_tokenize(e, text, add_special, ids, n_ids, err);
    free(text);
    return rc;
}

/* ---- sequences ----------------------------------------------------------- */

/* Checks ids, makes a sequence and queues it.  On success *out holds the
 * reader's reference. */
int inf__engine_submit_ids(inf__engine *e, const int32_t *ids, size_t n,
                           const inf_generate_options *o, int want_text,
                           int bypass_limit, inf__seq **out, inf__err *err) {
    *out = NULL;
    if (!n || !ids)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                           "the prompt is empty (no tokens)");
    if (n > (size_t)e->n_ctx)
        return inf__seterr(err, INF_E_CONTEXT_LENGTH,
                           "the prompt is %zu tokens but the context holds "
                           "%d: shorten it or load the model with a larger "
                           "context_length",
                           n, e->n_ctx);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= e->vocab)
            return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                               "token id %d at position %zu is outside the "
                               "vocabulary (0..%d)",
                               ids[i], i, e->vocab - 1);
    for (size_t i = 0; o->logit_bias_ids && i < o->n_logit_bias; i++)
        if (o->logit_bias_ids[i] < 0 || o->logit_bias_ids[i] >= e->vocab)
            return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                               "logit_bias names token id %d, outside the "
                               "vocabulary (0..%d)",
                               o->logit_bias_ids[i], e->vocab - 1);
    inf__seq *s = inf__seq_new(e, ids, n, o, want_text, err);
    if (!s) return err && err->code ? err->code : INF_E_NOMEM;
    int rc = inf__sched_submit(e, s, bypass_limit, err);
    if (rc != INF_OK) {
        inf__seq_unref(s);
        return rc;
    }
    *out = s;
    return INF_OK;
}

int inf__engine_start_ids(void *model, const int32_t *ids, size_t n,
                          const inf_generate_options *opts,
                          const inf_stream_ops **sops, void **stream,
                          char **errmsg) {
    inf__err err;
    inf__err_clear(&err);
    if (errmsg) *errmsg = NULL;
    if (!model || !sops || !stream) {
        inf__seterr(&err, INF_E_INVALID_ARGUMENT, "missing argument");
        return fail(errmsg, &err, INF_E_INVALID_ARGUMENT);
    }
    inf_generate_options o;
    inf__gen_opts_normalize(opts, &o);
    inf__seq *s;
    int rc = inf__engine_submit_ids(model, ids, n, &o, 1, 0, &s, &err);
    if (rc != INF_OK) return fail(errmsg, &err, rc);
    *sops = &inf__engine_stream_ops;
    *stream = s;
    return INF_OK;
}

/* ---- the operations table ------------------------------------------------ */

static const char *op_model_type(void *model) {
    return ((inf__engine *)model)->desc.model_type;
}

static int op_info(void *model, inf_model_info *out) {
    inf__engine *e = model;
    if (!out) return INF_E_INVALID_ARGUMENT;
    memset(out, 0, sizeof *out);
    snprintf(out->architecture, sizeof out->architecture, "%s",
             e->desc.model_type);
    snprintf(out->backend, sizeof out->backend, "%s", e->compute->name);
    out->vocab_size = e->desc.vocab_size;
    out->n_layers = e->desc.n_layers;
    out->hidden_size = e->desc.hidden_size;
    out->quant_bits = e->desc.quant_bits;
    out->quant_group = e->desc.quant_group;
    out->context_length = e->n_ctx;
    out->weight_bytes = inf__model_weight_bytes(e->files);
    out->train_context = e->desc.max_positions;
    if (e->desc.format[0]) {
        snprintf(out->format, sizeof out->format, "%s", e->desc.format);
        snprintf(out->weight_types, sizeof out->weight_types, "%s", e->desc.weight_types);
        snprintf(out->tokenizer_model, sizeof out->tokenizer_model, "%s", e->desc.tok_model);
        snprintf(out->tokenizer_pre, sizeof out->tokenizer_pre, "%s", e->desc.tok_pre);
        out->chat_template = e->desc.has_chat_template;
    } else {
        snprintf(out->format, sizeof out->format, "safetensors");
        if (e->desc.quant_bits)
            snprintf(out->weight_types, sizeof out->weight_types, "%s, mlx %d-bit group %d",
                     e->desc.dtype, (int)e->desc.quant_bits, (int)e->desc.quant_group);
        else
            snprintf(out->weight_types, sizeof out->weight_types, "%s", e->desc.dtype);
        out->chat_template = -1;
    }
    return INF_OK;
}

/* opts is the full-size struct the core prepared and checked; the request
 * kind was decided there too (inference_backend.h): ids when neither prompt
 * nor msgs is given. */
static int op_start(void *model, const char *prompt, const inf_message *msgs,
                    size_t n_msgs, const inf_generate_options *o,
                    const inf_stream_ops **sops, void **stream,
                    char **errmsg) {
    inf__engine *e = model;
    inf__err err;
    inf__err_clear(&err);
    if (errmsg) *errmsg = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = INF_OK;
    if (prompt) rc = inf__engine_tokenize(e, prompt, 1, &ids, &n, &err);
    else if (msgs) rc = chat_ids(e, msgs, n_msgs, o, &ids, &n, &err);
    if (rc != INF_OK) {
        free(ids);
        return fail(errmsg, &err, rc);
    }
    inf__seq *s;
    rc = prompt || msgs
             ? inf__engine_submit_ids(e, ids, n, o, 1, 0, &s, &err)
             : inf__engine_submit_ids(e, o->prompt_ids, o->n_prompt_ids, o, 1,
                                      0, &s, &err);
    free(ids);
    if (rc != INF_OK) return fail(errmsg, &err, rc);
    *sops = &inf__engine_stream_ops;
    *stream = s;
    return INF_OK;
}

static int op_metrics(void *model, inf_metrics *out) {
    inf__engine *e = model;
    if (!out) return INF_E_INVALID_ARGUMENT;
    pthread_mutex_lock(&e->mu);
    *out = e->last;
    const inf_metrics *k = &e->kv_stats;
    out->prefix_lookup_tokens = k->prefix_lookup_tokens;
    out->prefix_hit_tokens = k->prefix_hit_tokens;
    out->kv_blocks_total = k->kv_blocks_total;
    out->kv_blocks_used = k->kv_blocks_used;
    out->kv_blocks_cached = k->kv_blocks_cached;
    out->kv_blocks_free = k->kv_blocks_free;
    out->kv_evictions = k->kv_evictions;
    out->kv_block_tokens = k->kv_block_tokens;
    pthread_mutex_unlock(&e->mu);
    return INF_OK;
}

static void op_close(void *model) { engine_free(model); }

static const inf_tokenizer *op_tokenizer(void *model) {
    return ((inf__engine *)model)->tok_pub;
}

static const inf_chat_template *op_chat_template(void *model) {
    return ((inf__engine *)model)->tmpl_pub;
}

/* v when generation_config.json gave it and it lies within the option's
 * bounds (a value Generate would refuse is no default). */
static int gen_value(const inf__model_desc *d, uint32_t bit, const char *field,
                     double v) {
    const inf_option_bound *b = inf_generate_option_bound(field);
    return (d->gen_have & bit) && b && v >= b->min && v <= b->max;
}

/* generation_config.json with do_sample true: its temperature (1 when it
 * names none), top_p, top_k (an integer), min_p and repetition_penalty;
 * nothing when it asks for greedy decoding. */
static void op_generation_defaults(void *model, inf_generate_options *o) {
    const inf__model_desc *d = &((inf__engine *)model)->desc;
    if (!o || !d->gen_do_sample) return;
    o->temperature = gen_value(d, INF__GEN_TEMPERATURE, "temperature",
                               d->gen_temperature)
                         ? d->gen_temperature
                         : 1.0f;
    if (gen_value(d, INF__GEN_TOP_P, "top_p", d->gen_top_p))
        o->top_p = d->gen_top_p;
    if (gen_value(d, INF__GEN_TOP_K, "top_k", d->gen_top_k))
        o->top_k = d->gen_top_k;
    if (gen_value(d, INF__GEN_MIN_P, "min_p", d->gen_min_p))
        o->min_p = d->gen_min_p;
    if (gen_value(d, INF__GEN_REPEAT_PENALTY, "repeat_penalty",
                  d->gen_repeat_penalty))
        o->repeat_penalty = d->gen_repeat_penalty;
}

/* classify / batch_generate live in batch.c */
const inf_model_ops inf__engine_ops = {
    .model_type = op_model_type,
    .info = op_info,
    .start = op_start,
    .classify = inf__engine_op_classify,
    .batch_generate = inf__engine_op_batch,
    .metrics = op_metrics,
    .close = op_close,
    .logits = inf__engine_op_logits,
    .tokenizer = op_tokenizer,
    .chat_template = op_chat_template,
    .generation_defaults = op_generation_defaults,
};
