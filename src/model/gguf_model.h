/*
 * A GGUF file as a model: llama.cpp's metadata keys and tensor names onto
 * the model description (model.h).
 *
 * Architectures: llama (Mistral files are llama), qwen2, qwen3, gemma3.
 * Metadata: ARCH.context_length, embedding_length, block_count,
 * feed_forward_length, attention.head_count / head_count_kv / key_length /
 * value_length / layer_norm_rms_epsilon / sliding_window /
 * sliding_window_pattern, rope.freq_base / freq_base_swa / dimension_count
 * / scaling.type (none, linear) / scaling.factor, final_logit_softcapping,
 * attn_logit_softcapping, attention.scale; tokenizer.ggml.bos/eos/eot/
 * eom_token_id.
 *
 * What differs from the same model read from safetensors, because
 * llama.cpp's converter changed the weights:
 *  - llama: the rows of Q and K were permuted so that RoPE rotates
 *    adjacent pairs: every layer gets rope.adjacent_pairs = 1;
 *  - gemma3: 1 was added to every RMSNorm weight: norm_add_one = 0;
 *  - Llama 3.1+ RoPE scaling is a `rope_freqs` tensor of per-dimension
 *    factors: accepted when it equals the Llama 3 formula for some factor
 *    (low 1, high 4, original context 8192, as the converter writes it),
 *    which becomes rope.kind INF__ROPE_LLAMA3; refused otherwise.
 * Tensors of ggml types other than F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1,
 * Q8_0, Q2_K..Q6_K are refused naming the type; so is any tensor the
 * mapping does not use (rather than silently dropping it).
 */
#ifndef INF_MODEL_GGUF_MODEL_H
#define INF_MODEL_GGUF_MODEL_H

#include "model/gguf.h"
#include "model/hfconfig.h"
#include "model/model.h"

/* The description without weights (dims, flags, token ids, each layer's
 * sliding window and RoPE) into c->desc; c->desc.layers is malloc'd and
 * owned by c (inf__hfconfig_free).  INF_E_UNSUPPORTED for an architecture
 * or setting the engines do not run, INF_E_FORMAT for missing or invalid
 * keys, naming the file and the key. */
int inf__gguf_config(const inf__gguf *g, inf__hfconfig *c, inf__err *err);

/* Points d's weights (d from inf__gguf_config, d->layers writable) at g's
 * tensors, checking each one's type and shape. */
int inf__gguf_bind(const inf__gguf *g, inf__model_desc *d, inf__err *err);

/* The weight format of a ggml type, INF__W_NONE when the engines have none. */
inf__wfmt inf__gguf_wfmt(uint32_t ggml_type);

/* A short summary of the matrices' types, e.g. "Q4_K 190, Q6_K 25, F32 65"
 * (most frequent first), into buf[n]. */
void inf__gguf_type_mix(const inf__gguf *g, char *buf, size_t n);

#endif
