/* Default initialisers for the option structs. */
#include <string.h>

#include "inference.h"

void inf_generate_options_default(inf_generate_options *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->max_tokens = 256;
    o->temperature = 0.0f;
    o->top_k = 0;
    o->top_p = 0.0f;
    o->min_p = 0.0f;
    o->repeat_penalty = 0.0f;
    o->add_generation_prompt = 1;
}

void inf_load_options_default(inf_load_options *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->gpu_layers = -1;
}

#include "core/options.h"

void inf__gen_opts_normalize(const inf_generate_options *in,
                             inf_generate_options *out) {
    inf_generate_options_default(out);
    if (!in) return;
    size_t n = in->struct_size;
    if (n == 0 || n > sizeof *out) n = sizeof *out;
    memcpy(out, in, n);
    out->struct_size = sizeof *out;
}

void inf__load_opts_normalize(const inf_load_options *in,
                              inf_load_options *out) {
    inf_load_options_default(out);
    if (!in) return;
    size_t n = in->struct_size;
    if (n == 0 || n > sizeof *out) n = sizeof *out;
    memcpy(out, in, n);
    out->struct_size = sizeof *out;
}
