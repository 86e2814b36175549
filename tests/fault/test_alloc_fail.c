/* Allocation-failure injection, the way SQLite tests it (issue 14): every
 * operation below runs once to count its allocations, then again for
 * N = 1, 2, ... with the Nth allocation failing, until a run makes fewer
 * than N allocations.  For every N the operation must return (no crash),
 * report an error status (INF_E_NOMEM or another clean error, with the
 * error path freeing what it took) or absorb the failure and succeed, and
 * leave nothing allocated behind: LeakSanitizer checks after every run in
 * the sanitizer build (-DINF_SANITIZE=ON; the plain build checks crashes
 * and statuses only).
 *
 * The allocations are the library's own (and the server's request parser):
 * this program is linked with -Wl,--wrap=malloc,calloc,realloc,strdup,
 * strndup,aligned_alloc, which routes every call the library's objects make
 * through the counters below.  With --jansson, jansson's allocations on the
 * library's behalf go through them too (json_set_alloc_funcs).
 *
 * usage: test_alloc_fail [--full] [--jansson] [--only OP] [--gguf FILE]
 *   default: for each operation N = 1..150, then every Kth N with K chosen
 *   so that at most about 250 runs are made per operation (the fast mode
 *   of the default test run); --full: every N (tests/fault/README.md). */
#include <execinfo.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backends/cpu/cpu.h"
#include "engine/engine.h"
#include "inference.h"
#include "server/request.h"
#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
#define FI_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FI_LSAN 1
#endif
#endif
#ifdef FI_LSAN
int __lsan_do_recoverable_leak_check(void);
#endif

/* ---- the failing allocator ------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);

static atomic_long fi_count;   /* allocations since arming */
static atomic_long fi_target;  /* fail this one (0: none) */
static atomic_int fi_armed;
static atomic_long fi_failed;  /* failures injected since arming */
#define FI_MAX_SITES 4096
static void *fi_site_now;      /* the caller of the failed allocation */
static void *fi_bt[12];        /* and its call stack */
static int fi_bt_n;
static void *fi_sites[FI_MAX_SITES];
static size_t fi_n_sites;

static int fi_fail(void *site) {
    if (!atomic_load(&fi_armed)) return 0;
    long k = atomic_fetch_add(&fi_count, 1) + 1;
    if (k != atomic_load(&fi_target)) return 0;
    atomic_fetch_add(&fi_failed, 1);
    fi_site_now = site;
    fi_bt_n = backtrace(fi_bt, 12);
    return 1;
}

void *__wrap_malloc(size_t n) {
    return fi_fail(__builtin_return_address(0)) ? NULL : __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t m) {
    return fi_fail(__builtin_return_address(0)) ? NULL : __real_calloc(n, m);
}
void *__wrap_realloc(void *p, size_t n) {
    return fi_fail(__builtin_return_address(0)) ? NULL : __real_realloc(p, n);
}
void *__wrap_aligned_alloc(size_t a, size_t n) {
    return fi_fail(__builtin_return_address(0)) ? NULL : __real_aligned_alloc(a, n);
}
char *__wrap_strdup(const char *s) {
    return fi_fail(__builtin_return_address(0)) ? NULL : __real_strdup(s);
}
char *__wrap_strndup(const char *s, size_t n) {
    return fi_fail(__builtin_return_address(0)) ? NULL : __real_strndup(s, n);
}
/* jansson is a shared library (not wrapped): its allocations for us come
 * here through json_set_alloc_funcs. */
static void *fi_json_malloc(size_t n) {
    return fi_fail(__builtin_return_address(0)) ? NULL : __real_malloc(n);
}
static void fi_json_free(void *p) { free(p); }

static void fi_arm(long target) {
    atomic_store(&fi_count, 0);
    atomic_store(&fi_failed, 0);
    atomic_store(&fi_target, target);
    fi_site_now = NULL;
    atomic_store(&fi_armed, 1);
}
static void fi_disarm(void) { atomic_store(&fi_armed, 0); }

/* A site as an offset into the program, for addr2line -e PROGRAM OFFSET. */
extern char __executable_start[];
static long site_off(void *site) { return site ? (long)((char *)site - __executable_start) : 0; }

/* The failed allocation's call stack as offsets, for addr2line -f -i -e. */
static void print_stack(void) {
    fprintf(stderr, "  stack (addr2line -f -i -e PROGRAM):");
    for (int i = 1; i < fi_bt_n; i++) fprintf(stderr, " 0x%lx", site_off(fi_bt[i]));
    fputc('\n', stderr);
}

static void fi_note_site(void) {
    if (!fi_site_now) return;
    for (size_t i = 0; i < fi_n_sites; i++)
        if (fi_sites[i] == fi_site_now) return;
    if (fi_n_sites < FI_MAX_SITES) fi_sites[fi_n_sites++] = fi_site_now;
}

/* ---- the operations --------------------------------------------------- */

/* What an operation produced (FNV-1a over its outputs): a run that
 * absorbed a failed allocation and succeeded must produce what the clean
 * run produced, not, say, a tokenization that silently lost a piece. */
static uint64_t digest;
static void mix(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) digest = (digest ^ b[i]) * 1099511628211ull;
}

static const char *brown_dir, *tiny_dir, *gguf_path;

/* Each returns an inf_status (INF_OK when everything worked); every
 * resource it takes is released on every path. */

static int op_tokenizer(void) {
    inf_tokenizer *t = NULL;
    char *err = NULL;
    int rc = inf_tokenizer_load(brown_dir, &t, &err);
    if (rc == INF_OK) {
        int32_t *ids = NULL;
        size_t n = 0;
        const char *text = "Hello, world! The quick brown fox, \xc3\xa9t\xc3\xa9 \xe2\x9c\x93.";
        rc = inf_tokenize(t, text, strlen(text), 1, &ids, &n, &err);
        if (rc == INF_OK) {
            char *back = NULL;
            size_t blen = 0;
            rc = inf_detokenize(t, ids, n, 1, &back, &blen, &err);
            mix(ids, n * sizeof *ids);
            if (rc == INF_OK) mix(back, blen);
            inf_free(back);
        }
        inf_free(ids);
    }
    inf_tokenizer_free(t);
    inf_free(err);
    return rc;
}

static int op_template(void) {
    static const char src[] =
        "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}"
        "<<SYS>>{{ m['content'] | trim }}<</SYS>>{% else %}"
        "[{{ m.role | upper }}] {{ m.content }}{% endif %}{% if not loop.last %}\n{% endif %}"
        "{% endfor %}{% set ns = namespace(n=0) %}{% for x in range(3) %}"
        "{% set ns.n = ns.n + x %}{% endfor %}{{ ns.n }}"
        "{% if add_generation_prompt %}[ASSISTANT]{% endif %}";
    inf_chat_template *t = NULL;
    char *err = NULL, *out = NULL;
    int rc = inf_chat_template_parse(src, NULL, "{\"bos_token\":\"<s>\"}", &t, &err);
    if (rc == INF_OK)
        rc = inf_chat_template_apply(
            t, "[{\"role\":\"system\",\"content\":\"  be brief \"},"
               "{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":\"yo\"}]",
            1, NULL, NULL, &out, &err);
    if (rc == INF_OK) mix(out, strlen(out));
    inf_free(out);
    inf_chat_template_free(t);
    inf_free(err);
    return rc;
}

static int load(const char *path, inf_model **m) {
    inf_load_options lo;
    inf_load_options_default(&lo);
    lo.n_threads = 1;
    lo.backend = "cpu";
    char *err = NULL;
    int rc = inf_model_load(path, &lo, m, &err);
    if (rc != INF_OK && !atomic_load(&fi_armed) && getenv("FI_VERBOSE"))
        fprintf(stderr, "load %s: %s\n", path, err ? err : "");
    inf_free(err);
    return rc;
}

/* Open + the logits of three ids: the safetensors (or GGUF) reader, the
 * model mapping, the cpu backend and one forward pass, under precision
 * (INF_PRECISION_*).  The tiny models have no tokenizer, so they are
 * opened with the engine's INF__ENGINE_NO_TOKENIZER_OK, as the golden
 * tests open them. */
static int load_logits(const char *path, int32_t precision) {
    inf_load_options lo;
    inf_load_options_default(&lo);
    lo.n_threads = 1;
    lo.precision = precision;
    const inf_model_ops *ops = NULL;
    void *model = NULL;
    char *err = NULL;
    int rc = inf__engine_open(path, &lo, &inf__cpu_compute, INF__ENGINE_NO_TOKENIZER_OK, &ops,
                              &model, &err);
    if (rc == INF_OK) {
        inf_model_info info;
        ops->info(model, &info);
        int32_t ids[3] = {1, 2, 3};
        float *lg = malloc(3 * (size_t)info.vocab_size * sizeof *lg);
        rc = lg ? ops->logits(model, ids, 3, lg, &err) : INF_E_NOMEM;
        if (rc == INF_OK) mix(lg, 3 * (size_t)info.vocab_size * sizeof *lg);
        free(lg);
        ops->close(model);
    }
    if (rc != INF_OK && !atomic_load(&fi_armed) && getenv("FI_VERBOSE"))
        fprintf(stderr, "open+logits %s: %s\n", path, err ? err : "");
    free(err);
    return rc;
}
static int op_tiny_logits(void) { return load_logits(tiny_dir, INF_PRECISION_EXACT); }
static int op_gguf_logits(void) { return load_logits(gguf_path, INF_PRECISION_EXACT); }
/* Q8_0 under fast: three tokens take the int8 kernels (on AVX2, the tile
 * whose per-call sums of x fall back to per-group sums without memory:
 * an absorbed failure must give the clean run's logits bit for bit). */
static int op_gguf_logits_fast(void) { return load_logits(gguf_path, INF_PRECISION_FAST); }

/* The bundled model: load (config, tokenizer, template, weights), generate
 * three tokens, one chat turn of two tokens. */
static int op_brown_generate(void) {
    inf_model *m = NULL;
    int rc = load(brown_dir, &m);
    if (rc == INF_OK) {
        inf_generate_options o;
        inf_generate_options_default(&o);
        o.max_tokens = 3;
        inf_stream *s = NULL;
        rc = inf_generate(m, "Once upon a time", &o, &s);
        inf_token tok;
        int got;
        if (rc == INF_OK) {
            while ((got = inf_stream_next(s, &tok)) == 1) {
                mix(&tok.id, sizeof tok.id);
                mix(tok.text, tok.text_len);
            }
            rc = got < 0 ? got : inf_stream_err(s);
        }
        inf_stream_close(&s);
        if (rc == INF_OK) {
            inf_message msg = {.role = "user", .content = "Hi"};
            o.max_tokens = 2;
            rc = inf_chat(m, &msg, 1, &o, &s);
            if (rc == INF_OK) {
                while ((got = inf_stream_next(s, &tok)) == 1) {
                mix(&tok.id, sizeof tok.id);
                mix(tok.text, tok.text_len);
            }
                rc = got < 0 ? got : inf_stream_err(s);
            }
            inf_stream_close(&s);
        }
    }
    inf_model_close(&m);
    return rc;
}

/* The bundled model: classify two prompts, then batch-generate them. */
static int op_brown_batch(void) {
    inf_model *m = NULL;
    int rc = load(brown_dir, &m);
    const char *const prompts[2] = {"The cat", "Once upon a time there"};
    if (rc == INF_OK) {
        inf_generate_options o;
        inf_generate_options_default(&o);
        o.max_tokens = 3;
        inf_classify_result *cr = NULL;
        rc = inf_classify(m, prompts, 2, &o, &cr);
        for (size_t i = 0; rc == INF_OK && i < 2; i++) {
            if (cr[i].status != INF_OK) rc = cr[i].status;
            else {
                mix(&cr[i].token_id, sizeof cr[i].token_id);
                mix(cr[i].text, strlen(cr[i].text));
            }
        }
        if (cr) inf_classify_results_free(cr, 2);
        if (rc == INF_OK) {
            inf_batch_result *br = NULL;
            rc = inf_batch_generate(m, prompts, 2, &o, &br);
            for (size_t i = 0; rc == INF_OK && i < 2; i++) {
                if (br[i].status != INF_OK) rc = br[i].status;
                else {
                    mix(br[i].token_ids, br[i].n_tokens * sizeof *br[i].token_ids);
                    mix(br[i].text, strlen(br[i].text));
                }
            }
            if (br) inf_batch_results_free(br, 2);
        }
    }
    inf_model_close(&m);
    return rc;
}

/* The server's request parser (tools/server/request.c). */
static int op_request(void) {
    static const char body[] =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
        "{\"type\":\"text\",\"text\":\"b\"}]}],\"temperature\":0.7,\"top_p\":0.9,"
        "\"stop\":[\"x\",\"yy\"],\"stream\":true,\"logprobs\":true,\"top_logprobs\":2,"
        "\"stream_options\":{\"include_usage\":true},\"seed\":5,\"max_tokens\":9}";
    inf__srv_config cfg;
    inf__srv_config_default(&cfg);
    cfg.model_id = "m";
    inf__srv_request r;
    inf__srv_error e;
    memset(&e, 0, sizeof e);
    unsigned st = inf__srv_request_parse(body, sizeof body - 1, 1, &cfg, &r, &e);
    if (st == 0) {
        for (size_t i = 0; i < r.n_msgs; i++) {
            mix(r.msgs[i].role, strlen(r.msgs[i].role));
            mix(r.msgs[i].content, strlen(r.msgs[i].content));
        }
        for (size_t i = 0; i < r.n_stops; i++) mix(r.stops[i], strlen(r.stops[i]));
        mix(&r.opts.max_tokens, sizeof r.opts.max_tokens);
        mix(&r.opts.temperature, sizeof r.opts.temperature);
        mix(&r.stream, sizeof r.stream);
        mix(&r.top_logprobs, sizeof r.top_logprobs);
        inf__srv_request_free(&r);
    }
    /* A 4xx for an allocation failure would misreport it as the client's
     * fault; the parser answers 500 (or 503) for that. */
    return st == 0 ? INF_OK : st >= 500 ? INF_E_NOMEM : INF_E_INVALID_ARGUMENT;
}

typedef struct op {
    const char *name;
    int (*fn)(void);
    const char **needs; /* a path that must be set, or NULL */
} op;

/* ---- the driver -------------------------------------------------------- */

/* Leaks are checked by LeakSanitizer (the sanitizer build, which
 * scripts/test.sh runs): it scans every thread's stack and TLS, so memory
 * a thread keeps on purpose (its last error message per model) is not a
 * leak.  A plain build cannot tell those apart from glibc's counters, so it
 * checks crashes and statuses only. */
static int leaked(void) {
#ifdef FI_LSAN
    return __lsan_do_recoverable_leak_check() != 0;
#else
    return 0;
#endif
}

typedef struct fi_totals {
    long runs, errors, nomem, absorbed, leaks, other_status;
} fi_totals;

static void run_op(const op *o, int full, fi_totals *tot) {
    if (o->needs && !*o->needs) {
        printf("%-16s skipped (no input)\n", o->name);
        return;
    }
    /* Once unarmed: one-time initialisation (the backend registry, the
     * log state) is not counted as a leak of the runs that follow. */
    digest = 14695981039346656037ull;
    int rc = o->fn();
    CHECK_MSG(rc == INF_OK, "%s without faults: %s", o->name, inf_status_name(rc));
    if (rc != INF_OK) return;
    const uint64_t clean = digest;
    fi_arm(0);
    rc = o->fn();
    fi_disarm();
    long total = atomic_load(&fi_count);
    long stride = 1, dense = 150;
    if (!full && total > dense) stride = (total - dense + 99) / 100;
    if (stride < 1) stride = 1;
    long runs = 0, errors = 0, nomem = 0, absorbed = 0, leaks = 0, other = 0;
    clock_t t0 = clock();
    for (long n = 1;; n += (n < dense ? 1 : stride)) {
        digest = 14695981039346656037ull;
        fi_arm(n);
        rc = o->fn();
        fi_disarm();
        long failed = atomic_load(&fi_failed);
        runs++;
        if (leaked()) {
            leaks++;
            CHECK_MSG(0, "%s: leak after failing allocation %ld (site 0x%lx, status %s)", o->name,
                      n, site_off(fi_site_now), inf_status_name(rc));
            print_stack();
        }
        if (!failed) {
            /* Fewer than n allocations: the operation ran clean. */
            CHECK_MSG(rc == INF_OK, "%s: %s with no failure injected (n=%ld)", o->name,
                      inf_status_name(rc), n);
            break;
        }
        fi_note_site();
        if (rc == INF_OK) {
            absorbed++;
            CHECK_MSG(digest == clean, "%s: failing allocation %ld (site 0x%lx) was absorbed but "
                      "the output differs from the clean run's", o->name, n, site_off(fi_site_now));
            if (digest != clean) print_stack();
        }
        else {
            errors++;
            if (rc == INF_E_NOMEM) nomem++;
            else {
                other++;
                /* A failed allocation reported as something else (bad
                 * input, a format error) misleads the caller. */
                CHECK_MSG(0, "%s: failing allocation %ld (site 0x%lx) reported %s", o->name, n,
                          site_off(fi_site_now), inf_status_name(rc));
                print_stack();
            }
        }
        if (n > total * 4 + 1000) {
            CHECK_MSG(0, "%s: still failing allocations at n=%ld (counted %ld)", o->name, n, total);
            break;
        }
    }
    printf("%-16s %6ld allocations; %5ld runs (stride %ld after %ld): %ld errors "
           "(%ld INF_E_NOMEM, %ld other), %ld absorbed, %ld leaks, %.1f s\n",
           o->name, total, runs, stride, dense, errors, nomem, other, absorbed, leaks,
           (double)(clock() - t0) / CLOCKS_PER_SEC);
    fflush(stdout);
    tot->runs += runs;
    tot->errors += errors;
    tot->nomem += nomem;
    tot->absorbed += absorbed;
    tot->leaks += leaks;
    tot->other_status += other;
}

int main(int argc, char **argv) {
    void *warm[2];
    fi_bt_n = backtrace(warm, 2); /* loads what backtrace needs, before arming */
    int full = 0, with_jansson = 0;
    const char *only = NULL;
    static char brown[1024], tiny[1024];
    snprintf(brown, sizeof brown, "%s/models/brown-llama-8m", INF_SOURCE_DIR);
    snprintf(tiny, sizeof tiny, "%s/tiny/llama-f32", INF_FIXTURES);
    brown_dir = brown;
    tiny_dir = tiny;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--full") == 0) full = 1;
        else if (strcmp(argv[i], "--jansson") == 0) with_jansson = 1;
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
        else if (strcmp(argv[i], "--gguf") == 0 && i + 1 < argc) {
            gguf_path = argv[++i];
            if (access(gguf_path, R_OK) != 0) gguf_path = NULL; /* not converted */
        }
        else {
            fprintf(stderr, "usage: %s [--full] [--jansson] [--only OP] [--gguf FILE]\n",
                    argv[0]);
            return 2;
        }
    }
    /* jansson's own allocations fail too with --jansson: that tries
     * jansson's recovery as much as ours (tests/fault/README.md). */
    if (with_jansson) json_set_alloc_funcs(fi_json_malloc, fi_json_free);
    const op ops[] = {
        {"template", op_template, NULL},
        {"request", op_request, NULL},
        {"tokenizer", op_tokenizer, NULL},
        {"tiny_logits", op_tiny_logits, NULL},
        {"gguf_logits", op_gguf_logits, &gguf_path},
        {"gguf_logits_fast", op_gguf_logits_fast, &gguf_path},
        {"brown_generate", op_brown_generate, NULL},
        {"brown_batch", op_brown_batch, NULL},
    };
    fi_totals tot = {0};
    int n_ops = 0;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        if (only && strcmp(only, ops[i].name) != 0) continue;
        run_op(&ops[i], full, &tot);
        n_ops++;
    }
    printf("alloc_fail (%s, %s): %d operations, %ld runs, %zu distinct allocation sites "
           "failed, %ld errors (%ld INF_E_NOMEM, %ld other), %ld absorbed, %ld leaks, "
           "0 crashes (the program finished)\n",
           full ? "every N" : "fast", 
#ifdef FI_LSAN
           "leaks checked by LeakSanitizer",
#else
           "no leak check: build with -DINF_SANITIZE=ON",
#endif
           n_ops, tot.runs, fi_n_sites, tot.errors, tot.nomem, tot.other_status, tot.absorbed,
           tot.leaks);
    return tu_summary("test_alloc_fail");
}
