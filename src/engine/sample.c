/* Token sampling (see sample.h for the order of operations). */
#include "engine/sample.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- RNG: xoshiro256** seeded through splitmix64 ---------------------- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void inf__rng_seed(inf__rng *r, uint64_t seed) {
    if (seed == INF_SEED_RANDOM) {
        /* "random": clock + a process-wide counter so that sequences
         * started in the same nanosecond still differ. */
        static atomic_uint_fast64_t counter;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = ((uint64_t)ts.tv_sec * 1000000007ULL) ^ (uint64_t)ts.tv_nsec ^
               (atomic_fetch_add(&counter, 1) * 0x9e3779b97f4a7c15ULL) ^
               (uint64_t)(uintptr_t)r;
    }
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

uint64_t inf__rng_next(inf__rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double inf__rng_uniform(inf__rng *r) {
    return (double)(inf__rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- helpers ----------------------------------------------------------- */

/* Greedy decoding runs this over every stream's logits each step (151,936
 * of them for Qwen3; 16 streams: 2.4M values on the scheduler's thread
 * while the compute threads wait).  The obvious loop keeps one dependent
 * chain (compare, then select the index); here 16 independent running
 * maxima (the compiler keeps them in registers), then the first index that
 * holds the maximum.  Same result as "strictly greater replaces": a NaN
 * never wins (and x[0] NaN stays the answer, as nothing compares greater
 * than it), ties go to the lowest index, -0 and +0 tie. */
int32_t inf__argmax(const float *x, int32_t n) {
    if (n <= 0) return -1;
    if (x[0] != x[0]) return 0;
    enum { L = 16 };
    float m[L];
    for (int j = 0; j < L; j++) m[j] = x[0];
    int32_t i = 0;
    for (; i + L <= n; i += L)
        for (int j = 0; j < L; j++) m[j] = x[i + j] > m[j] ? x[i + j] : m[j];
    float mx = x[0];
    for (int j = 0; j < L; j++) mx = m[j] > mx ? m[j] : mx;
    for (; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    for (i = 0; i < n; i++)
        if (x[i] == mx) return i;
    return 0; /* not reached: mx is one of the values */
}

void inf__sample_scratch_free(inf__sample_scratch *s) {
    if (!s) return;
    free(s->vals);
    free(s->ids);
    free(s->seen);
    free(s->counts);
    memset(s, 0, sizeof *s);
}

static int scratch_reserve(inf__sample_scratch *s, size_t n) {
    if (s->cap >= n) return 0;
    float *v = realloc(s->vals, n * sizeof *v);
    if (v) s->vals = v;
    int32_t *ids = realloc(s->ids, n * sizeof *ids);
    if (ids) s->ids = ids;
    uint8_t *seen = realloc(s->seen, n);
    if (seen) s->seen = seen;
    int32_t *counts = realloc(s->counts, n * sizeof *counts);
    if (counts) s->counts = counts;
    if (!v || !ids || !seen || !counts) return -1;
    memset(s->seen + s->cap, 0, n - s->cap);
    memset(s->counts + s->cap, 0, (n - s->cap) * sizeof *counts);
    s->cap = n;
    return 0;
}

/* Candidate order: higher value first, lower id first on ties, so that a
 * sort gives the same order on every platform. */
typedef struct cand {
    float v;
    int32_t id;
} cand;

static int cand_cmp(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->v > y->v) return -1;
    if (x->v < y->v) return 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* "x ranks below y" in candidate order. */
static inline int cand_less(cand x, cand y) {
    return x.v < y.v || (x.v == y.v && x.id > y.id);
}

/* Keeps the k best of c[0..n) in c[0..k) (unsorted) with a min-heap; the
 * others end in c[k..n) (a permutation: top-p selects again, wider). */
static void select_top_k(cand *c, size_t n, size_t k) {
    /* heapify c[0..k) as a min-heap by candidate order */
    for (size_t i = k / 2; i-- > 0;) {
        size_t j = i;
        for (;;) {
            size_t l = 2 * j + 1, m = j;
            if (l < k && cand_less(c[l], c[m])) m = l;
            if (l + 1 < k && cand_less(c[l + 1], c[m])) m = l + 1;
            if (m == j) break;
            cand t = c[j]; c[j] = c[m]; c[m] = t;
            j = m;
        }
    }
    for (size_t i = k; i < n; i++) {
        if (!cand_less(c[0], c[i])) continue;
        cand t0 = c[0];
        c[0] = c[i];
        c[i] = t0;
        size_t j = 0;
        for (;;) {
            size_t l = 2 * j + 1, m = j;
            if (l < k && cand_less(c[l], c[m])) m = l;
            if (l + 1 < k && cand_less(c[l + 1], c[m])) m = l + 1;
            if (m == j) break;
            cand t = c[j]; c[j] = c[m]; c[m] = t;
            j = m;
        }
    }
}

/* A draw from c[0..n) by their weights c[i].v (total: their sum). */
static int32_t draw(const cand *c, size_t n, double total, inf__rng *rng) {
    double u = inf__rng_uniform(rng) * total, acc = 0;
    for (size_t i = 0; i < n; i++) {
        acc += c[i].v;
        if (u < acc) return c[i].id;
    }
    return c[n - 1].id; /* rounding at the top end */
}

/* Top-p over more candidates than this: sort only a growing top part. */
#define TOP_P_PARTIAL 4096

/* Top-p without sorting the whole vocabulary (a qsort of 151,936
 * candidates took ~15 ms per token; the nucleus is usually a few hundred).
 * The mass to reach is top_p times the sum of every candidate's weight
 * exp(v - cmax); then the best 1024, 4096, ... candidates (select_top_k)
 * are sorted until their running sum reaches it.  The kept prefix and its
 * weights (c[i].v = (float)exp(v - cmax), in candidate order) are the ones
 * the full sort gives; only the grand total is summed in another order (id
 * order instead of sorted), which can move the cut only when the running
 * sum lands within rounding of the target.  Returns the prefix length, or
 * 0 when the top part grew to all n candidates (c then holds them, none
 * converted: the caller sorts them all). */
static size_t top_p_prefix(cand *c, size_t n, float cmax, float top_p) {
    double total = 0;
    for (size_t i = 0; i < n; i++) total += exp((double)(c[i].v - cmax));
    const double need = (double)top_p * total;
    for (size_t k = 1024; k < n; k *= 4) {
        select_top_k(c, n, k);
        qsort(c, k, sizeof *c, cand_cmp);
        double cum = 0;
        for (size_t i = 0; i < k; i++) {
            cum += (float)exp((double)(c[i].v - cmax));
            if (cum >= need) {
                for (size_t j = 0; j <= i; j++) c[j].v = (float)exp((double)(c[j].v - cmax));
                return i + 1;
            }
        }
    }
    return 0;
}

static void apply_repeat_penalty(const inf__sampler_cfg *cfg, float *v,
                                 int32_t n_vocab, const int32_t *hist,
                                 size_t n_hist, uint8_t *seen) {
    size_t start = 0;
    if (cfg->repeat_last_n > 0 && (size_t)cfg->repeat_last_n < n_hist)
        start = n_hist - (size_t)cfg->repeat_last_n;
    float p = cfg->repeat_penalty;
    for (size_t i = start; i < n_hist; i++) {
        int32_t t = hist[i];
        if (t < 0 || t >= n_vocab || seen[t]) continue;
        seen[t] = 1;
        v[t] = v[t] > 0 ? v[t] / p : v[t] * p;
    }
    for (size_t i = start; i < n_hist; i++)
        if (hist[i] >= 0 && hist[i] < n_vocab) seen[hist[i]] = 0;
}

/* OpenAI's frequency and presence penalties over the generated tokens
 * hist[from..n_hist): each distinct token once, with its count. */
static void apply_freq_presence(const inf__sampler_cfg *cfg, float *v,
                                int32_t n_vocab, const int32_t *hist,
                                size_t from, size_t n_hist, int32_t *counts) {
    for (size_t i = from; i < n_hist; i++)
        if (hist[i] >= 0 && hist[i] < n_vocab) counts[hist[i]]++;
    for (size_t i = from; i < n_hist; i++) {
        int32_t t = hist[i];
        if (t < 0 || t >= n_vocab || counts[t] == 0) continue;
        v[t] -= (float)counts[t] * cfg->frequency_penalty +
                cfg->presence_penalty;
        counts[t] = 0; /* applied once; leaves the array zeroed */
    }
}

int32_t inf__sample(const inf__sampler_cfg *cfg, const float *logits,
                    int32_t n_vocab, const int32_t *history, size_t n_hist,
                    inf__rng *rng, inf__sample_scratch *scratch) {
    if (n_vocab <= 0 || !logits) return -1;
    int penalty = cfg->repeat_penalty > 0 && cfg->repeat_penalty != 1.0f &&
                  n_hist > 0 && history;
    int freq_pres = (cfg->frequency_penalty != 0 ||
                     cfg->presence_penalty != 0) &&
                    history && n_hist > cfg->n_prompt;
    int bias = cfg->n_bias > 0 && cfg->bias_ids && cfg->bias;
    int greedy = !(cfg->temperature > 0) || !rng;
    if (greedy && !penalty && !freq_pres && !bias)
        return inf__argmax(logits, n_vocab);

    /* cand needs 8 bytes per entry: vals+ids give exactly that room */
    if (scratch_reserve(scratch, (size_t)n_vocab * 2) != 0) return -1;
    float *v = scratch->vals;
    memcpy(v, logits, (size_t)n_vocab * sizeof *v);
    if (bias)
        for (size_t i = 0; i < cfg->n_bias; i++)
            if (cfg->bias_ids[i] >= 0 && cfg->bias_ids[i] < n_vocab)
                v[cfg->bias_ids[i]] += cfg->bias[i];
    if (penalty)
        apply_repeat_penalty(cfg, v, n_vocab, history, n_hist, scratch->seen);
    if (freq_pres)
        apply_freq_presence(cfg, v, n_vocab, history, cfg->n_prompt, n_hist,
                            scratch->counts);
    if (greedy) return inf__argmax(v, n_vocab);

    /* Candidates live in the ids buffer (2*n_vocab int32 = n_vocab cands). */
    cand *c = (cand *)(void *)scratch->ids;
    float inv_t = 1.0f / cfg->temperature;
    float vmax = -INFINITY;
    for (int32_t i = 0; i < n_vocab; i++) {
        v[i] *= inv_t;
        if (v[i] > vmax) vmax = v[i];
    }
    if (!isfinite(vmax)) return inf__argmax(v, n_vocab);

    /* min-p as a threshold on the scaled logit: p_i >= min_p * p_max
     * <=> v_i >= v_max + log(min_p).  It keeps a prefix of the sorted
     * order, as top-k and top-p do, so applying it first gives the same set
     * and saves sorting the tail. */
    float thresh = -INFINITY;
    if (cfg->min_p > 0 && cfg->min_p <= 1) thresh = vmax + logf(cfg->min_p);
    size_t n = 0;
    for (int32_t i = 0; i < n_vocab; i++) {
        if (v[i] >= thresh && v[i] > -INFINITY) {
            c[n].v = v[i];
            c[n].id = i;
            n++;
        }
    }
    if (n == 0) return inf__argmax(v, n_vocab);
    if (cfg->top_k > 0 && (size_t)cfg->top_k < n) {
        select_top_k(c, n, (size_t)cfg->top_k);
        n = (size_t)cfg->top_k;
    }
    int use_top_p = cfg->top_p > 0 && cfg->top_p < 1;
    float cmax = c[0].v;
    for (size_t i = 1; i < n; i++)
        if (c[i].v > cmax) cmax = c[i].v;
    if (use_top_p && n > TOP_P_PARTIAL) {
        size_t keep = top_p_prefix(c, n, cmax, cfg->top_p);
        if (keep) {
            double total = 0;
            for (size_t i = 0; i < keep; i++) total += c[i].v;
            return draw(c, keep, total, rng);
        }
    }
    if (use_top_p) qsort(c, n, sizeof *c, cand_cmp);

    /* probabilities (unnormalised) over the candidates */
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        double p = exp((double)(c[i].v - cmax));
        c[i].v = (float)p;
        total += p;
    }
    if (use_top_p) {
        double cum = 0, need = (double)cfg->top_p * total;
        size_t keep = n;
        for (size_t i = 0; i < n; i++) {
            cum += c[i].v;
            if (cum >= need) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
        total = 0;
        for (size_t i = 0; i < n; i++) total += c[i].v;
    }
    return draw(c, n, total, rng);
}
