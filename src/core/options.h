#ifndef INF_CORE_OPTIONS_H
#define INF_CORE_OPTIONS_H

#include "inference.h"

/* Copies a caller's options into a full-size struct: fields the caller's
 * (possibly older, smaller) struct lacks keep their defaults.  in may be
 * NULL (all defaults). */
void inf__gen_opts_normalize(const inf_generate_options *in,
                             inf_generate_options *out);
void inf__load_opts_normalize(const inf_load_options *in,
                              inf_load_options *out);

#endif
