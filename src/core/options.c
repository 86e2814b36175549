/* The option structs: defaults, the one table of bounds, and the one place
 * where a caller's options become the full-size, checked struct that the
 * backends receive. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/options.h"
#include "core/util.h"

void inf_generate_options_default(inf_generate_options *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->max_tokens = INF_DEFAULT_MAX_TOKENS;
    o->seed = INF_SEED_RANDOM;
    o->add_generation_prompt = 1;
}

void inf_load_options_default(inf_load_options *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->gpu_layers = -1;
}

/* The table inference.h documents; keep the two in step. */
#define I32MAX 2147483647.0
static const inf_option_bound bounds[] = {
    {"max_tokens", 0, I32MAX, 1},
    {"temperature", 0, 100, 0},
    {"top_k", 0, 1000000, 1},
    {"top_p", 0, 1, 0},
    {"min_p", 0, 1, 0},
    {"repeat_penalty", 0, 100, 0},
    {"repeat_last_n", 0, I32MAX, 1},
    {"presence_penalty", -2, 2, 0},
    {"frequency_penalty", -2, 2, 0},
};
#define N_BOUNDS (sizeof bounds / sizeof bounds[0])

const inf_option_bound *inf_generate_option_bounds(size_t *n) {
    if (n) *n = N_BOUNDS;
    return bounds;
}

const inf_option_bound *inf_generate_option_bound(const char *field) {
    for (size_t i = 0; field && i < N_BOUNDS; i++)
        if (strcmp(bounds[i].field, field) == 0) return &bounds[i];
    return NULL;
}

/* The value of the bounded field `i` of o. */
static double field_value(const inf_generate_options *o, size_t i) {
    switch (i) {
    case 0: return o->max_tokens;
    case 1: return o->temperature;
    case 2: return o->top_k;
    case 3: return o->top_p;
    case 4: return o->min_p;
    case 5: return o->repeat_penalty;
    case 6: return o->repeat_last_n;
    case 7: return o->presence_penalty;
    default: return o->frequency_penalty;
    }
}

static int check_full(const inf_generate_options *o, inf__err *err) {
    for (size_t i = 0; i < N_BOUNDS; i++) {
        double v = field_value(o, i);
        if (isnan(v) || v < bounds[i].min || v > bounds[i].max)
            return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                               "%s = %g is out of range [%g, %g]",
                               bounds[i].field, v, bounds[i].min,
                               bounds[i].max);
    }
    if (o->n_stop_ids && !o->stop_ids)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                           "n_stop_ids is %zu but stop_ids is NULL",
                           o->n_stop_ids);
    if (o->n_stop_strings && !o->stop_strings)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                           "n_stop_strings is %zu but stop_strings is NULL",
                           o->n_stop_strings);
    for (size_t i = 0; i < o->n_stop_strings; i++)
        if (!o->stop_strings[i] || !o->stop_strings[i][0])
            return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                               "stop string %zu is %s", i,
                               o->stop_strings[i] ? "empty" : "NULL");
    if (o->n_prompt_ids && !o->prompt_ids)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                           "n_prompt_ids is %zu but prompt_ids is NULL",
                           o->n_prompt_ids);
    if (o->n_logit_bias && (!o->logit_bias_ids || !o->logit_bias_values))
        return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                           "n_logit_bias is %zu but logit_bias_ids or "
                           "logit_bias_values is NULL", o->n_logit_bias);
    for (size_t i = 0; i < o->n_logit_bias; i++) {
        float b = o->logit_bias_values[i];
        if (o->logit_bias_ids[i] < 0)
            return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                               "logit_bias id %d is negative",
                               o->logit_bias_ids[i]);
        if (isnan(b) || b < -100 || b > 100)
            return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                               "logit_bias value %g for token %d is out of "
                               "range [-100, 100]", (double)b,
                               o->logit_bias_ids[i]);
    }
    if (o->constraint_kind < INF_CONSTRAINT_NONE ||
        o->constraint_kind > INF_CONSTRAINT_JSON)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                           "constraint_kind = %d is not an inf_constraint_kind "
                           "(0 none, 1 grammar, 2 regex, 3 JSON schema, 4 JSON)",
                           (int)o->constraint_kind);
    if (o->constraint_kind >= INF_CONSTRAINT_GRAMMAR &&
        o->constraint_kind <= INF_CONSTRAINT_JSON_SCHEMA && !o->constraint)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                           "constraint_kind = %d needs the constraint text, "
                           "but constraint is NULL", (int)o->constraint_kind);
    return INF_OK;
}

void inf__gen_opts_normalize(const inf_generate_options *in,
                             inf_generate_options *out) {
    inf_generate_options_default(out);
    if (!in) return;
    size_t n = in->struct_size;
    if (n == 0 || n > sizeof *out) n = sizeof *out;
    memcpy(out, in, n);
    out->struct_size = sizeof *out;
}

int inf__gen_opts_prepare(const inf_generate_options *in,
                          inf_generate_options *out, inf__err *err) {
    inf__gen_opts_normalize(in, out);
    return check_full(out, err);
}

int inf_generate_options_check(const inf_generate_options *o, char **errmsg) {
    if (errmsg) *errmsg = NULL;
    inf__err err;
    inf__err_clear(&err);
    inf_generate_options full;
    int rc = o ? inf__gen_opts_prepare(o, &full, &err)
               : inf__seterr(&err, INF_E_INVALID_ARGUMENT, "options are NULL");
    if (rc != INF_OK && errmsg) *errmsg = inf__strdup(err.msg);
    return rc;
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

int inf__load_opts_prepare(const inf_load_options *in, inf_load_options *out,
                           inf__err *err) {
    inf__load_opts_normalize(in, out);
    if (out->context_length < 0)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                           "context_length = %d is negative (0 = the model's)",
                           out->context_length);
    if (out->parallel_slots < 0)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                           "parallel_slots = %d is negative (0 = the "
                           "backend's default)", out->parallel_slots);
    if (out->n_threads < 0)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                           "n_threads = %d is negative (0 = one per core)",
                           out->n_threads);
    if (out->kv_memory < 0)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                           "kv_memory = %lld is negative (0 = context x slots)",
                           (long long)out->kv_memory);
    if (out->prefill_chunk < -1)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                           "prefill_chunk = %d: 0 is the default, -1 turns "
                           "chunking off, otherwise tokens per step",
                           out->prefill_chunk);
    if (out->precision == INF_PRECISION_DEFAULT) {
        /* the environment's choice, else exact */
        const char *env = getenv("INF_PRECISION");
        if (!env || !env[0] || strcmp(env, "exact") == 0)
            out->precision = INF_PRECISION_EXACT;
        else if (strcmp(env, "fast") == 0)
            out->precision = INF_PRECISION_FAST;
        else
            return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                               "INF_PRECISION = '%s' is neither exact nor fast", env);
    } else if (out->precision != INF_PRECISION_EXACT && out->precision != INF_PRECISION_FAST) {
        return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                           "precision = %d is not INF_PRECISION_DEFAULT, _EXACT or _FAST",
                           out->precision);
    }
    if (out->timeout_ms < 0)
        return inf__seterr(err, INF_E_INVALID_ARGUMENT,
                           "timeout_ms = %lld is negative (0 = the default)",
                           (long long)out->timeout_ms);
    return INF_OK;
}
