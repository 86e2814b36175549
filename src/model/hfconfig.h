/*
 * Hugging Face config.json / generation_config.json -> model description.
 *
 * Handles model_type llama, qwen2, qwen3, gemma3_text, gemma3 (dims in a
 * nested text_config) and mistral, with both the older keys (torch_dtype,
 * rope_theta, rope_scaling, sliding_window_pattern) and the newer ones
 * (dtype, rope_parameters, optionally per layer type, layer_types), and the
 * MLX "quantization" block with per-module overrides.
 */
#ifndef INF_MODEL_HFCONFIG_H
#define INF_MODEL_HFCONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

/* A per-module MLX quantisation override:
 * "model.layers.0.mlp.down_proj": {"group_size": 64, "bits": 8} or false. */
typedef struct inf__quant_rule {
    char *module;   /* tensor name without ".weight" */
    int quantized;  /* 0: the module is stored dense */
    int32_t bits, group;
} inf__quant_rule;

typedef struct inf__hfconfig {
    /* Everything but the weights: dims, flags, token ids, quant_bits/group,
     * and desc.layers (malloc'd [n_layers], owned by this struct) with each
     * layer's sliding_window and rope filled; weight fields are zero. */
    inf__model_desc desc;
    int tie_given;            /* tie_word_embeddings was in the file */
    int nested;               /* dims came from a nested text_config */
    char top_model_type[32];  /* model_type at the top level ("gemma3") */
    inf__quant_rule *rules;   /* [n_rules] per-module overrides */
    size_t n_rules;
} inf__hfconfig;

/* Parses config.json text json[len] (need not be NUL-terminated) into *c.
 * `fname` labels messages.  Returns INF_OK; INF_E_FORMAT for malformed JSON
 * (including invalid UTF-8) or missing/invalid values; INF_E_UNSUPPORTED for
 * an unknown model_type, rope type, activation or quantisation scheme.
 * On error *c holds nothing to free; on success free with
 * inf__hfconfig_free. */
int inf__hfconfig_parse(const char *json, size_t len, const char *fname,
                        inf__hfconfig *c, inf__err *err);

/* Merges generation_config.json text into desc: eos ids not yet present are
 * appended (config.json's come first), bos when unknown, and the sampling
 * defaults: do_sample, temperature / top_p / top_k / min_p /
 * repetition_penalty, with desc->gen_have saying which were given. */
int inf__hfconfig_parse_gen(const char *json, size_t len, const char *fname,
                            inf__model_desc *desc, inf__err *err);

/* What config.json names, read leniently (inf_discover lists directories
 * whose config the loader would refuse): the model type as
 * inf__hfconfig_parse resolves it (a nested text_config's model_type first;
 * "gemma3" for gemma3_text), whether the loader supports it, and the MLX
 * quantisation bits / group_size as written (0 when absent or not MLX). */
typedef struct inf__hfconfig_peek_t {
    char model_type[64];  /* "" when config.json has no model_type; an
                             unsupported one as resolved */
    int supported;        /* 1 when inf__hfconfig_parse knows the type */
    int32_t quant_bits, quant_group;
} inf__hfconfig_peek_t;

/* Fails only for malformed JSON or a top level that is not an object
 * (INF_E_FORMAT; *out is then zeroed). */
int inf__hfconfig_peek(const char *json, size_t len, const char *fname,
                       inf__hfconfig_peek_t *out, inf__err *err);

/* How the module `module` (tensor name without ".weight") is stored: returns
 * 1 and the bits/group when the config says it is MLX-quantised, else 0. */
int inf__hfconfig_quant_for(const inf__hfconfig *c, const char *module,
                            int32_t *bits, int32_t *group);

/* Frees what *c owns (layers, rules) and zeroes it.  NULL is fine. */
void inf__hfconfig_free(inf__hfconfig *c);

#endif
