/* Unit tests of the sampler (sample.c) and the stop-string matcher
 * (stopstr.c): expected values follow from the definitions in sample.h /
 * stopstr.h (softmax probabilities, penalty rule, nucleus set). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/sample.h"
#include "engine/stopstr.h"
#include "testutil.h"

static inf__sample_scratch ss;

static int32_t sample(const inf__sampler_cfg *c, const float *l, int32_t n,
                      const int32_t *h, size_t nh, inf__rng *r) {
    return inf__sample(c, l, n, h, nh, r, &ss);
}

/* Empirical frequencies of n draws. */
static void freqs(const inf__sampler_cfg *c, const float *l, int32_t nv,
                  uint64_t seed, int n, double *f) {
    inf__rng r;
    inf__rng_seed(&r, seed);
    for (int i = 0; i < nv; i++) f[i] = 0;
    for (int i = 0; i < n; i++) {
        int32_t t = sample(c, l, nv, NULL, 0, &r);
        if (t >= 0 && t < nv) f[t] += 1.0 / n;
    }
}

static void test_greedy(void) {
    float l[6] = {0.5f, 3.0f, -1.0f, 3.0f, 2.9f, 3.0f};
    CHECK_EQ_INT(inf__argmax(l, 6), 1); /* lowest id among the ties */
    CHECK_EQ_INT(inf__argmax(l, 0), -1);
    inf__sampler_cfg c = {0};
    CHECK_EQ_INT(sample(&c, l, 6, NULL, 0, NULL), 1);
    /* temperature 0 ignores top-k/top-p and needs no RNG */
    c.top_k = 3;
    c.top_p = 0.5f;
    CHECK_EQ_INT(sample(&c, l, 6, NULL, 0, NULL), 1);
}

/* The definition: a later value replaces the best only when strictly
 * greater (the loop inf__argmax replaced). */
static int32_t argmax_naive(const float *x, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return n > 0 ? best : -1;
}

/* inf__argmax against the definition: every length 1..100 and a vocabulary
 * of 151,936, values drawn from a few levels (many ties), with NaN, -inf,
 * +inf, -0 and +0 mixed in, the maximum in the tail and at index 0. */
static void test_argmax_naive(void) {
    static const float lv[] = {-1.0f, 0.0f, -0.0f, 2.5f, 2.5f, 7.0f, -INFINITY, INFINITY, NAN};
    static float x[151936];
    uint64_t st = 12345;
    int bad = 0;
    for (int trial = 0; trial < 3000; trial++) {
        const int32_t n = trial < 2900 ? 1 + trial % 100 : 151936;
        const int nl = trial % 3 == 0 ? 9 : trial % 3 == 1 ? 6 : 4; /* with or without NaN/inf */
        for (int32_t i = 0; i < n; i++) {
            st = st * 6364136223846793005ULL + 1442695040888963407ULL;
            x[i] = lv[(st >> 33) % (uint64_t)nl];
        }
        if (trial % 7 == 0) x[n - 1] = 100.0f;      /* the maximum in the tail */
        if (trial % 11 == 0) x[0] = NAN;             /* NaN first: stays */
        bad += inf__argmax(x, n) != argmax_naive(x, n);
    }
    CHECK_MSG(bad == 0, "inf__argmax differs from the definition in %d of 3000 cases", bad);
}

/* Top-p as sample.h defines it, by a full sort of the vocabulary (what
 * inf__sample did before it sorted only the top part): logits / t, min-p,
 * sorted best first (lower id on ties), weights exp(v - max), the shortest
 * prefix reaching top_p of the total, a draw. */
typedef struct ref_cand { float v; int32_t id; } ref_cand;
static int ref_cmp(const void *a, const void *b) {
    const ref_cand *x = a, *y = b;
    if (x->v != y->v) return x->v > y->v ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}
static int32_t ref_top_p(const float *l, int32_t n, float t, float top_p, float min_p, inf__rng *r,
                         ref_cand *c) {
    const float it = 1.0f / t; /* as the sampler scales */
    float vmax = -INFINITY;
    for (int32_t i = 0; i < n; i++) vmax = l[i] * it > vmax ? l[i] * it : vmax;
    const float th = min_p > 0 ? vmax + logf(min_p) : -INFINITY;
    size_t m = 0;
    for (int32_t i = 0; i < n; i++)
        if (l[i] * it >= th) c[m].v = l[i] * it, c[m].id = i, m++;
    qsort(c, m, sizeof *c, ref_cmp);
    const float cmax = c[0].v;
    double total = 0, cum = 0;
    for (size_t i = 0; i < m; i++) {
        const double p = exp((double)(c[i].v - cmax));
        c[i].v = (float)p;
        total += p;
    }
    size_t keep = m;
    for (size_t i = 0; i < m; i++)
        if ((cum += c[i].v) >= (double)top_p * total) { keep = i + 1; break; }
    double tk = 0, acc = 0;
    for (size_t i = 0; i < keep; i++) tk += c[i].v;
    const double u = inf__rng_uniform(r) * tk;
    for (size_t i = 0; i < keep; i++)
        if (u < (acc += c[i].v)) return c[i].id;
    return c[keep - 1].id;
}

/* Top-p over a 151,936-token vocabulary (sorted only as far as the nucleus
 * reaches) draws the same tokens as the full sort, with the same seeds.
 * Nucleus sizes at top-p 0.5 / 0.9 / 0.99 (t 0.8): 1 / 3 / 49 (peaked),
 * 272 / 930 / 1857 and 1411 / 4735 / 9764 (the sorted top part grows once
 * to three times), 13K-72K with 8 levels of ties (grows to the whole
 * vocabulary: the full sort), flat with min-p 0.9 (~25K candidates). */
static void test_top_p_large(void) {
    enum { NV = 151936 };
    static float l[NV];
    static ref_cand rc[NV];
    uint64_t st = 99;
    int bad = 0, draws = 0;
    for (int shape = 0; shape < 5; shape++) {
        for (int32_t i = 0; i < NV; i++) {
            st = st * 6364136223846793005ULL + 1442695040888963407ULL;
            const double u = (double)(st >> 11) / 9007199254740992.0;
            l[i] = shape == 0 ? (float)(-1.2 * log(u + 1e-12))
                 : shape == 1 ? (float)(40.0 * pow(u, 8))
                 : shape == 2 ? (float)(30.0 * u * u)
                 : shape == 3 ? (float)(int)(u * 8)
                              : (float)u * 0.5f;
        }
        const float tps[3] = {0.5f, 0.9f, 0.99f};
        for (int k = 0; k < 3; k++) {
            inf__sampler_cfg c = {.temperature = 0.8f, .top_p = tps[k], .min_p = shape == 4 ? 0.9f : 0};
            inf__rng r1, r2;
            inf__rng_seed(&r1, 1000 + k);
            inf__rng_seed(&r2, 1000 + k);
            for (int d = 0; d < 4; d++, draws++)
                bad += sample(&c, l, NV, NULL, 0, &r1) != ref_top_p(l, NV, 0.8f, tps[k], c.min_p, &r2, rc);
        }
    }
    CHECK_MSG(bad == 0, "top-p: %d of %d draws differ from the full sort", bad, draws);
}

static void test_repeat_penalty(void) {
    /* penalty 2: positive 3.0 -> 1.5 (below 2.0), negative -1 -> -2 */
    float l[4] = {3.0f, 2.0f, -1.0f, -1.5f};
    inf__sampler_cfg c = {.repeat_penalty = 2.0f};
    int32_t h[3] = {0, 0, 2}; /* token 0 twice: penalised once */
    CHECK_EQ_INT(sample(&c, l, 4, h, 3, NULL), 1);
    /* with penalty 1.4: 3/1.4 = 2.14 > 2 stays argmax */
    c.repeat_penalty = 1.4f;
    CHECK_EQ_INT(sample(&c, l, 4, h, 3, NULL), 0);
    /* a penalised negative logit goes further down: -1*4 = -4 < -1.5 */
    float m[3] = {-1.0f, -1.5f, -3.0f};
    int32_t h2[1] = {0};
    c.repeat_penalty = 4.0f;
    CHECK_EQ_INT(sample(&c, m, 3, h2, 1, NULL), 1);
    /* window: only the last repeat_last_n tokens count */
    int32_t h3[2] = {0, 2};
    c.repeat_penalty = 2.0f;
    c.repeat_last_n = 1; /* sees {2}: token 0 keeps 3.0 */
    CHECK_EQ_INT(sample(&c, l, 4, h3, 2, NULL), 0);
    c.repeat_last_n = 2; /* sees {0, 2}: 3.0 -> 1.5 < 2.0 */
    CHECK_EQ_INT(sample(&c, l, 4, h3, 2, NULL), 1);
    c.repeat_last_n = 0; /* all */
    CHECK_EQ_INT(sample(&c, l, 4, h3, 2, NULL), 1);
    /* penalty 1 is off; 0 is off */
    c.repeat_penalty = 1.0f;
    CHECK_EQ_INT(sample(&c, l, 4, h, 3, NULL), 0);
    /* the caller's logits are not modified */
    CHECK(l[0] == 3.0f && l[2] == -1.0f);
    /* out-of-range ids in the history are ignored */
    int32_t bad[2] = {-5, 99};
    c.repeat_penalty = 100.0f;
    CHECK_EQ_INT(sample(&c, l, 4, bad, 2, NULL), 0);
}

static void test_distribution(void) {
    /* temperature 1 reproduces softmax(l) */
    float p[3] = {0.5f, 0.3f, 0.2f};
    float l[3];
    for (int i = 0; i < 3; i++) l[i] = logf(p[i]) + 7.0f; /* shift-invariant */
    inf__sampler_cfg c = {.temperature = 1.0f};
    double f[4];
    freqs(&c, l, 3, 42, 40000, f);
    for (int i = 0; i < 3; i++) CHECK_NEAR(f[i], p[i], 0.01);

    /* temperature 2: softmax(l / 2) = sqrt(p) normalised */
    c.temperature = 2.0f;
    freqs(&c, l, 3, 43, 40000, f);
    double z = sqrt(0.5) + sqrt(0.3) + sqrt(0.2);
    for (int i = 0; i < 3; i++) CHECK_NEAR(f[i], sqrt(p[i]) / z, 0.01);

    /* top-k 2 keeps {0, 1}, renormalised 5:3 */
    c.temperature = 1.0f;
    c.top_k = 2;
    freqs(&c, l, 3, 44, 40000, f);
    CHECK_NEAR(f[0], 0.625, 0.01);
    CHECK_NEAR(f[1], 0.375, 0.01);
    CHECK(f[2] == 0);
    c.top_k = 1; /* only the best */
    freqs(&c, l, 3, 45, 1000, f);
    CHECK_NEAR(f[0], 1.0, 1e-9);

    /* top-p 0.7 on {0.5, 0.3, 0.15, 0.05}: 0.5 < 0.7 <= 0.8 -> {0, 1} */
    float q[4] = {0.5f, 0.3f, 0.15f, 0.05f};
    float lq[4];
    for (int i = 0; i < 4; i++) lq[i] = logf(q[i]);
    inf__sampler_cfg t = {.temperature = 1.0f, .top_p = 0.7f};
    freqs(&t, lq, 4, 46, 40000, f);
    CHECK_NEAR(f[0], 0.625, 0.01);
    CHECK_NEAR(f[1], 0.375, 0.01);
    CHECK(f[2] == 0 && f[3] == 0);
    /* top-p 0.9 -> {0, 1, 2}: 0.5/0.95, 0.3/0.95, 0.15/0.95 */
    t.top_p = 0.9f;
    freqs(&t, lq, 4, 47, 40000, f);
    CHECK_NEAR(f[0], 0.5 / 0.95, 0.01);
    CHECK_NEAR(f[2], 0.15 / 0.95, 0.01);
    CHECK(f[3] == 0);
    /* top-p >= 1 is off: all four appear */
    t.top_p = 1.0f;
    freqs(&t, lq, 4, 48, 40000, f);
    CHECK_NEAR(f[3], 0.05, 0.01);

    /* min-p 0.25: keeps p >= 0.125 -> {0, 1, 2} */
    inf__sampler_cfg mp = {.temperature = 1.0f, .min_p = 0.25f};
    freqs(&mp, lq, 4, 49, 40000, f);
    CHECK_NEAR(f[1], 0.3 / 0.95, 0.01);
    CHECK(f[3] == 0);
    /* min-p 0.7: only p >= 0.35 -> {0} */
    mp.min_p = 0.7f;
    freqs(&mp, lq, 4, 50, 2000, f);
    CHECK_NEAR(f[0], 1.0, 1e-9);
    /* top-k and top-p together: k 3 then p 0.7 -> {0, 1} */
    inf__sampler_cfg kp = {.temperature = 1.0f, .top_k = 3, .top_p = 0.7f};
    freqs(&kp, lq, 4, 51, 40000, f);
    CHECK_NEAR(f[0], 0.625, 0.01);
    CHECK(f[2] == 0 && f[3] == 0);
}

static void test_seed(void) {
    enum { V = 1000, N = 64 };
    static float l[V];
    for (int i = 0; i < V; i++) l[i] = (float)((i * 7919) % 97) / 20.0f;
    inf__sampler_cfg c = {.temperature = 0.9f, .top_k = 50, .top_p = 0.95f};
    int32_t a[N], b[N], d[N];
    inf__rng r1, r2, r3;
    inf__rng_seed(&r1, 1234);
    inf__rng_seed(&r2, 1234);
    inf__rng_seed(&r3, 999);
    for (int i = 0; i < N; i++) {
        a[i] = sample(&c, l, V, NULL, 0, &r1);
        b[i] = sample(&c, l, V, NULL, 0, &r2);
        d[i] = sample(&c, l, V, NULL, 0, &r3);
    }
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(a, d, sizeof a) != 0);
    /* INF_SEED_RANDOM: two generators differ */
    inf__rng_seed(&r1, INF_SEED_RANDOM);
    inf__rng_seed(&r2, INF_SEED_RANDOM);
    CHECK(inf__rng_next(&r1) != inf__rng_next(&r2));
    /* 0 is a fixed seed like any other */
    inf__rng_seed(&r1, 0);
    inf__rng_seed(&r2, 0);
    CHECK(inf__rng_next(&r1) == inf__rng_next(&r2));
    /* uniform stays in [0, 1) */
    int ok = 1;
    for (int i = 0; i < 10000; i++) {
        double u = inf__rng_uniform(&r3);
        ok &= u >= 0 && u < 1;
    }
    CHECK(ok);
}

/* Feeds pieces and concatenates what comes out. */
static int feed_all(inf__stopstr *m, const char *const *pieces, size_t n,
                    char *out, size_t cap) {
    size_t o = 0;
    int matched = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && !matched; i++) {
        const char *t;
        size_t tl;
        matched = inf__stopstr_feed(m, pieces[i], strlen(pieces[i]), &t, &tl);
        if (o + tl < cap) {
            memcpy(out + o, t, tl);
            o += tl;
            out[o] = '\0';
        }
    }
    if (!matched) {
        const char *t;
        size_t tl;
        inf__stopstr_flush(m, &t, &tl);
        if (o + tl < cap) {
            memcpy(out + o, t, tl);
            o += tl;
            out[o] = '\0';
        }
    }
    return matched;
}

static void test_stopstr(void) {
    const char *stops[] = {"END", "\n\nUser:", ""};
    char out[256];
    {
        inf__stopstr *m = inf__stopstr_new(stops, 3);
        const char *p[] = {"Hello", " wor", "ld E", "N", "D and more"};
        CHECK_EQ_INT(feed_all(m, p, 5, out, sizeof out), 1);
        CHECK_EQ_STR(out, "Hello world ");
        inf__stopstr_free(m);
    }
    {
        /* A partial match that fails is released in order */
        inf__stopstr *m = inf__stopstr_new(stops, 3);
        const char *t;
        size_t tl;
        CHECK_EQ_INT(inf__stopstr_feed(m, "abc EN", 6, &t, &tl), 0);
        CHECK_EQ_STR(t, "abc "); /* "EN" held back */
        CHECK_EQ_INT(inf__stopstr_held(m), 2);
        CHECK_EQ_INT(inf__stopstr_feed(m, "X", 1, &t, &tl), 0);
        CHECK_EQ_STR(t, "ENX");
        CHECK_EQ_INT(inf__stopstr_held(m), 0);
        CHECK_EQ_INT(inf__stopstr_feed(m, "\n\nUse", 5, &t, &tl), 0);
        CHECK_EQ_STR(t, "");
        inf__stopstr_flush(m, &t, &tl); /* end: nothing matched */
        CHECK_EQ_STR(t, "\n\nUse");
        inf__stopstr_free(m);
    }
    {
        /* Stop string inside one piece; earliest match wins */
        inf__stopstr *m = inf__stopstr_new(stops, 3);
        const char *p[] = {"a\n\nUser: ENDx"};
        CHECK_EQ_INT(feed_all(m, p, 1, out, sizeof out), 1);
        CHECK_EQ_STR(out, "a");
        inf__stopstr_free(m);
    }
    {
        /* Multi-byte stop string split across pieces; text never shows a
         * part of it, and held tails start on a character boundary */
        const char *s2[] = {"é!"};
        inf__stopstr *m = inf__stopstr_new(s2, 1);
        const char *p[] = {"caf", "\xc3\xa9", "!", "tail"};
        CHECK_EQ_INT(feed_all(m, p, 4, out, sizeof out), 1);
        CHECK_EQ_STR(out, "caf");
        inf__stopstr_free(m);
    }
    {
        /* No stop strings: text passes through unchanged */
        inf__stopstr *m = inf__stopstr_new(NULL, 0);
        const char *p[] = {"x", "END", "y"};
        CHECK_EQ_INT(feed_all(m, p, 3, out, sizeof out), 0);
        CHECK_EQ_STR(out, "xENDy");
        inf__stopstr_free(m);
    }
    inf__stopstr_free(NULL);
}

/* logit_bias is added before everything else: +100 forces a token, -100
 * bans one, the caller's logits stay as they were, out-of-vocabulary ids
 * are ignored, and a bias applies under sampling as well as greedy. */
static void test_logit_bias(void) {
    float l[4] = {1.0f, 3.0f, 2.0f, 0.0f};
    int32_t ids[2] = {3, 1};
    float b[2] = {100.0f, 0.0f};
    inf__sampler_cfg c = {.bias_ids = ids, .bias = b, .n_bias = 1};
    CHECK_EQ_INT(sample(&c, l, 4, NULL, 0, NULL), 3);
    CHECK(l[3] == 0.0f && l[1] == 3.0f);
    /* -100 on the argmax: the next best wins */
    ids[0] = 1;
    b[0] = -100.0f;
    CHECK_EQ_INT(sample(&c, l, 4, NULL, 0, NULL), 2);
    /* a small bias tips a near tie: 2 + 1.5 > 3 */
    ids[0] = 2;
    b[0] = 1.5f;
    CHECK_EQ_INT(sample(&c, l, 4, NULL, 0, NULL), 2);
    /* two entries add up in order; an id outside the vocabulary is ignored */
    int32_t ids2[3] = {0, 0, 99};
    float b2[3] = {1.5f, 1.0f, 100.0f};
    inf__sampler_cfg c2 = {.bias_ids = ids2, .bias = b2, .n_bias = 3};
    CHECK_EQ_INT(sample(&c2, l, 4, NULL, 0, NULL), 0); /* 1 + 2.5 > 3 */
    /* under sampling: a banned token is never drawn, a forced one always */
    inf__sampler_cfg t = {.temperature = 1.0f, .bias_ids = ids, .bias = b, .n_bias = 1};
    ids[0] = 1;
    b[0] = -100.0f;
    float flat[4] = {0, 0, 0, 0};
    double f[4];
    freqs(&t, flat, 4, 7, 4000, f);
    CHECK(f[1] == 0.0);
    CHECK(f[0] > 0.25 && f[2] > 0.25 && f[3] > 0.25);
    b[0] = 100.0f;
    freqs(&t, flat, 4, 7, 1000, f);
    CHECK(f[1] > 0.999);
}

/* OpenAI's frequency and presence penalties: over generated tokens only
 * (history after n_prompt), logit -= count * freq + (count > 0) * pres. */
static void test_freq_presence(void) {
    float l[4] = {3.0f, 2.5f, 2.0f, 0.0f};
    /* prompt {0, 0, 0}, then token 0 generated twice */
    int32_t h[5] = {0, 0, 0, 0, 0};
    inf__sampler_cfg c = {.frequency_penalty = 0.2f, .n_prompt = 3};
    /* 3 - 2*0.2 = 2.6 > 2.5: still 0 */
    CHECK_EQ_INT(sample(&c, l, 4, h, 5, NULL), 0);
    /* 3 - 2*0.3 = 2.4 < 2.5: now 1 */
    c.frequency_penalty = 0.3f;
    CHECK_EQ_INT(sample(&c, l, 4, h, 5, NULL), 1);
    /* the prompt does not count: with all five as prompt nothing changes */
    c.n_prompt = 5;
    CHECK_EQ_INT(sample(&c, l, 4, h, 5, NULL), 0);
    /* presence: once, however often: 3 - 0.6 = 2.4 < 2.5 */
    inf__sampler_cfg p = {.presence_penalty = 0.6f, .n_prompt = 3};
    CHECK_EQ_INT(sample(&p, l, 4, h, 5, NULL), 1);
    p.presence_penalty = 0.4f; /* 3 - 0.4 = 2.6: 0 again, count ignored */
    CHECK_EQ_INT(sample(&p, l, 4, h, 5, NULL), 0);
    /* both: 3 - 2*0.1 - 0.35 = 2.45 < 2.5 */
    inf__sampler_cfg b = {.frequency_penalty = 0.1f, .presence_penalty = 0.35f, .n_prompt = 3};
    CHECK_EQ_INT(sample(&b, l, 4, h, 5, NULL), 1);
    /* negative values encourage: token 2 generated once, 2 + 1.5 > 3 */
    int32_t h2[2] = {3, 2};
    inf__sampler_cfg n = {.presence_penalty = -1.5f, .n_prompt = 1};
    CHECK_EQ_INT(sample(&n, l, 4, h2, 2, NULL), 2);
    /* the scratch counts are left zeroed: the same call twice agrees */
    CHECK_EQ_INT(sample(&c, l, 4, h, 5, NULL), 0);
    c.n_prompt = 3;
    CHECK_EQ_INT(sample(&c, l, 4, h, 5, NULL), 1);
    CHECK_EQ_INT(sample(&c, l, 4, h, 5, NULL), 1);
    /* order: logit bias first, then repeat penalty, then frequency:
     * l[0] = (3 + 1) / 2 - 2*0.3 = 1.4 < 2.5 but (3 + 1) - 0.6 = 3.4 without
     * the repeat penalty */
    int32_t bid[1] = {0};
    float bv[1] = {1.0f};
    inf__sampler_cfg o = {.bias_ids = bid, .bias = bv, .n_bias = 1,
                          .frequency_penalty = 0.3f, .n_prompt = 3};
    CHECK_EQ_INT(sample(&o, l, 4, h, 5, NULL), 0);
    o.repeat_penalty = 2.0f;
    CHECK_EQ_INT(sample(&o, l, 4, h, 5, NULL), 1);
    /* a negative biased logit is multiplied by the repeat penalty, which
     * it would not be if the bias came after: -1 - 1 = -2 -> -4, then
     * -4 - 0.3*2 = -4.6 vs l2 = -4.5 */
    float m[3] = {-1.0f, -4.5f, -10.0f};
    bv[0] = -1.0f;
    int32_t hm[3] = {2, 0, 0};
    inf__sampler_cfg q = {.bias_ids = bid, .bias = bv, .n_bias = 1, .repeat_penalty = 2.0f,
                          .frequency_penalty = 0.3f, .n_prompt = 1};
    CHECK_EQ_INT(sample(&q, m, 3, hm, 3, NULL), 1);
    bv[0] = 0.0f; /* -1 -> -2 -> -2.6 > -4.5 */
    CHECK_EQ_INT(sample(&q, m, 3, hm, 3, NULL), 0);
}

int main(void) {
    test_greedy();
    test_argmax_naive();
    test_top_p_large();
    test_repeat_penalty();
    test_logit_bias();
    test_freq_presence();
    test_distribution();
    test_seed();
    test_stopstr();
    inf__sample_scratch_free(&ss);
    return tu_summary("test_sample");
}
