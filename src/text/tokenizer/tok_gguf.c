/* A tokenizer from plain vocabulary arrays (a GGUF file's tokenizer.ggml.*
 * metadata, handed over by the engine), with llama.cpp's meaning. */
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer/tok_internal.h"

void inf__tok_vocab_spec_init(inf__tok_vocab_spec *spec) {
    if (!spec) return;
    memset(spec, 0, sizeof *spec);
    spec->bos_id = spec->eos_id = spec->unk_id = spec->sep_id = -1;
    spec->pad_id = spec->mask_id = spec->eot_id = spec->eom_id = -1;
    spec->add_bos = spec->add_eos = spec->add_space_prefix = spec->remove_extra_whitespaces = -1;
}

int inf__tok_load_vocab(const inf__tok_vocab_spec *spec, inf__tokenizer **out, inf__err *err) {
    if (out) *out = NULL;
    if (!spec || !out) return inf__seterr(err, INF_E_INVALID_ARGUMENT, "load_vocab: NULL argument");
    return inf__seterr(err, INF_E_UNSUPPORTED, "tokenizer model \"%s\" from vocabulary arrays is not supported yet",
                       spec->model ? spec->model : "(none)");
}
