/* The one option path: a caller's struct (maybe an older, smaller one) is
 * copied into a full-size struct whose missing fields keep their defaults,
 * then checked against the bounds table, once, at the library boundary
 * (src/core/model.c, src/core/batch.c).  Backends receive the result and
 * need not check again. */
#ifndef INF_CORE_OPTIONS_H
#define INF_CORE_OPTIONS_H

#include "core/error.h"
#include "inference.h"

/* Copies a caller's options into a full-size struct (in may be NULL: all
 * defaults).  No checks: for internal callers that build their own. */
void inf__gen_opts_normalize(const inf_generate_options *in,
                             inf_generate_options *out);
void inf__load_opts_normalize(const inf_load_options *in,
                              inf_load_options *out);

/* Normalises and checks (inf_generate_options_check's rules).  Returns
 * INF_OK or INF_E_INVALID_ARGUMENT with a message naming the field. */
int inf__gen_opts_prepare(const inf_generate_options *in,
                          inf_generate_options *out, inf__err *err);
/* Normalises and checks the load options (no negative counts). */
int inf__load_opts_prepare(const inf_load_options *in, inf_load_options *out,
                           inf__err *err);

#endif
