/* libFuzzer: config.json -> model description (dims, flags, per-layer rope
 * and windows, quantisation rules), the lenient peek inf_discover uses
 * (agreeing with the full parse), and generation_config.json merging. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/hfconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    inf__hfconfig c;
    inf__err err;
    int rc = inf__hfconfig_parse((const char *)data, size, "config.json", &c, &err);
    /* The lenient reading inf_discover uses agrees with the loader's. */
    inf__hfconfig_peek_t pk;
    int prc = inf__hfconfig_peek((const char *)data, size, "config.json", &pk, NULL);
    if (rc == INF_OK && (prc != INF_OK || !pk.supported || strcmp(pk.model_type, c.desc.model_type) != 0))
        abort();
    if (rc != INF_OK) {
        if (c.desc.layers || err.msg[0] == '\0') abort();
        return 0;
    }
    /* Accepted configs hold the invariants the forward passes rely on. */
    const inf__model_desc *d = &c.desc;
    if (d->n_layers <= 0 || !d->layers || d->head_dim <= 0 || d->n_kv_heads <= 0 ||
        d->n_heads % d->n_kv_heads != 0 || d->n_eos > INF__MAX_EOS || !(d->norm_eps > 0) ||
        !isfinite(d->attn_scale) || !(d->attn_scale > 0) || !isfinite(d->final_logit_softcap))
        abort();
    for (int i = 0; i < d->n_layers; i++) {
        const inf__rope *r = &d->layers[i].rope;
        if (!(r->theta > 0) || !isfinite(r->theta) || d->layers[i].sliding_window < 0) abort();
        if (r->kind != INF__ROPE_DEFAULT && !(r->factor > 0 && isfinite(r->factor))) abort();
        if (r->kind == INF__ROPE_LLAMA3 &&
            !(r->high_freq_factor > r->low_freq_factor && r->original_max_positions > 0))
            abort();
    }
    int32_t bits, group;
    if (inf__hfconfig_quant_for(&c, "model.layers.0.mlp.down_proj", &bits, &group) &&
        (bits != 4 && bits != 8))
        abort();
    inf__hfconfig_parse_gen((const char *)data, size, "generation_config.json", &c.desc, &err);
    inf__hfconfig_free(&c);
    return 0;
}
