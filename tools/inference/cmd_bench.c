/* inference bench: prefill and decode speed in the spirit of llama-bench.
 *
 * For each thread count: load (timed), one warm-up, then r repetitions of
 *  - prefill: a fresh sequence of p random token ids, max_tokens 1; the
 *    prefill tokens/s come from the stream's metrics;
 *  - decode: a fresh one-token prompt (with -d D: a D-token prompt, so the
 *    tokens are decoded after a context of D, like llama-bench's -d), then
 *    n tokens with ignore_eos; the decode tokens/s come from the stream's
 *    metrics;
 *  - with --batch B: B such decode streams at once, each on its own thread
 *    (the engine batches them), aggregate tokens/s = B * n / wall time; and
 *    B prefill streams of p tokens at once, aggregate prefill tokens/s.
 * Token-id prompts (inf_generate_options.prompt_ids) need no tokenizer, so
 * a --dummy model directory may hold only config.json. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cmdutil.h"
#include "commands.h"

static uint64_t g_rng = 1; /* the random prompt ids' generator */

static const char about[] =
    "Measures load time, prefill and decode tokens/s (median, min, max over\n"
    "the repetitions) and peak resident memory.\n";

static int check_dummy_bits(void *user, const char *value) {
    (void)value;
    int bits = *(const int *)user;
    if (bits != 4 && bits != 8) return cli_usage_err("--dummy-bits must be 4 or 8");
    return 0;
}

static int check_dummy_dtype(void *user, const char *value) {
    (void)user;
    if (strcmp(value, "bf16") && strcmp(value, "f16") && strcmp(value, "f32"))
        return cli_usage_err("--dummy-dtype must be bf16, f16 or f32");
    return 0;
}

static int set_rng_seed(void *user, const char *value) {
    (void)value;
    g_rng = *(const uint64_t *)user * 0x9E3779B97F4A7C15ULL + 1;
    return 0;
}

typedef struct stat3 {
    double med, min, max;
} stat3;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static stat3 stats(double *v, size_t n) {
    stat3 s = {0, 0, 0};
    if (!n) return s;
    qsort(v, n, sizeof *v, cmp_double);
    s.min = v[0];
    s.max = v[n - 1];
    s.med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    return s;
}


static uint32_t rnd(void) {
    /* xorshift64*: cheap, seeded, enough for picking token ids. */
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (uint32_t)((g_rng * 0x2545F4914F6CDD1DULL) >> 32);
}

static void random_ids(int32_t *ids, size_t n, int32_t vocab) {
    for (size_t i = 0; i < n; i++) ids[i] = (int32_t)(rnd() % (uint32_t)vocab);
}

/* One run: a fresh sequence of n_prompt ids, then max_tokens tokens.
 * Fills *met.  Returns INF_OK or the error (message printed). */
typedef struct run_args {
    inf_model *m;
    int32_t *ids;
    size_t n_prompt;
    int32_t max_tokens;
    inf_metrics met;
    int status;
    char err[512];
} run_args;

static void *run_one(void *p) {
    run_args *a = p;
    inf_generate_options o;
    inf_generate_options_default(&o);
    o.prompt_ids = a->ids;
    o.n_prompt_ids = a->n_prompt;
    o.max_tokens = a->max_tokens;
    o.ignore_eos = 1;
    o.temperature = 0;
    inf_stream *s = NULL;
    memset(&a->met, 0, sizeof a->met);
    a->err[0] = 0;
    a->status = inf_generate(a->m, "", &o, &s);
    if (a->status != INF_OK) {
        snprintf(a->err, sizeof a->err, "%s", inf_model_errmsg(a->m));
        return NULL;
    }
    inf_token tok;
    while (inf_stream_next(s, &tok) == 1) {
    }
    a->status = inf_stream_err(s);
    if (a->status != INF_OK)
        snprintf(a->err, sizeof a->err, "%s", inf_stream_errmsg(s));
    inf_stream_metrics(s, &a->met);
    inf_stream_close(&s);
    return NULL;
}

/* B concurrent runs; returns aggregate tokens/s of the prefill (when
 * max_tokens == 1: prompt tokens / wall) or the decode (generated / wall).
 * Negative on failure. */
static double run_batch(inf_model *m, int32_t vocab, size_t b, size_t n_prompt,
                        int32_t max_tokens, int prefill) {
    run_args *a = calloc(b, sizeof *a);
    pthread_t *th = calloc(b, sizeof *th);
    double rate = -1;
    if (!a || !th) goto out;
    for (size_t i = 0; i < b; i++) {
        a[i].m = m;
        a[i].n_prompt = n_prompt;
        a[i].max_tokens = max_tokens;
        a[i].ids = malloc(n_prompt * sizeof(int32_t));
        if (!a[i].ids) goto out;
        random_ids(a[i].ids, n_prompt, vocab);
    }
    double t0 = cli_now();
    size_t started = 0;
    for (; started < b; started++)
        if (pthread_create(&th[started], NULL, run_one, &a[started]) != 0) break;
    for (size_t i = 0; i < started; i++) pthread_join(th[i], NULL);
    double wall = cli_now() - t0;
    if (started < b) {
        cli_err("cannot start %zu threads", b);
        goto out;
    }
    double toks = 0;
    for (size_t i = 0; i < b; i++) {
        if (a[i].status != INF_OK) {
            cli_err("batch stream %zu failed: %s", i, a[i].err);
            goto out;
        }
        toks += prefill ? (double)a[i].met.prompt_tokens
                        : (double)a[i].met.generated_tokens;
    }
    rate = wall > 0 ? toks / wall : 0;
out:
    for (size_t i = 0; a && i < b; i++) free(a[i].ids);
    free(a);
    free(th);
    return rate;
}

typedef struct bench_cfg {
    cli_model_args ma;
    int p, n, r, batch, depth;
    int json;
} bench_cfg;

/* Runs the whole measurement at one thread count; adds a result object to
 * results (JSON) and prints table rows unless json. */
static int bench_threads(const bench_cfg *cfg, int32_t threads, json_t *results,
                         json_t **model_desc) {
    cli_model_args ma = cfg->ma;
    ma.lo.n_threads = threads;
    if (cfg->batch > 1 && ma.lo.parallel_slots < cfg->batch)
        ma.lo.parallel_slots = (int32_t)cfg->batch;
    ma.quiet = 1;
    inf_model *m = NULL;
    double t0 = cli_now();
    /* generating: the fast kernels unless told otherwise (issue 20) */
    cli_model_args_precision(&ma, CLI_PRECISION_GENERATING);
    cli_model_args_weights(&ma);
    int rc = cli_load_model(&ma, &m);
    double load_s = cli_now() - t0;
    if (rc) return rc;
    /* The table's header once a model loaded: a load error leaves stdout
     * empty (one error line, as every command). */
    if (!cfg->json && !*model_desc)
        printf("%-8s %-16s %12s %12s %12s\n", "threads", "test", "tok/s med", "min", "max");
    rc = CLI_EXIT_ERROR;
    inf_model_info info;
    memset(&info, 0, sizeof info);
    if (inf_model_info_get(m, &info) != INF_OK || info.vocab_size <= 0) {
        cli_err("the model does not report its vocabulary size");
        goto done;
    }
    if (!*model_desc)
        *model_desc = json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:i,s:i,s:i,s:i,s:I}", "path",
                                ma.dir, "weights", ma.lo.copy_weights ? "copied" : "mapped",
                                "precision",
                                ma.precision ? ma.precision
                                : ma.lo.precision == INF_PRECISION_FAST ? "fast"
                                : ma.lo.precision == INF_PRECISION_EXACT ? "exact"
                                : "default", "architecture", info.architecture,
                                "backend", info.backend, "n_layers",
                                (int)info.n_layers, "hidden_size",
                                (int)info.hidden_size, "vocab_size",
                                (int)info.vocab_size, "quant_bits",
                                (int)info.quant_bits, "context_length",
                                (int)info.context_length, "weight_bytes",
                                (json_int_t)info.weight_bytes);
    if (cfg->p + 1 > info.context_length || cfg->depth + cfg->n + 2 > info.context_length) {
        cli_err("-p %d / -d %d + -n %d do not fit the context of %d tokens (use --ctx)",
                cfg->p, cfg->depth, cfg->n, (int)info.context_length);
        goto done;
    }
    size_t reps = (size_t)cfg->r;
    double *pp = calloc(reps, sizeof *pp), *tg = calloc(reps, sizeof *tg);
    double *bpp = calloc(reps, sizeof *bpp), *btg = calloc(reps, sizeof *btg);
    size_t n_ids = (size_t)(cfg->p > cfg->depth ? cfg->p : cfg->depth);
    int32_t *ids = malloc(n_ids * sizeof *ids);
    if (!pp || !tg || !bpp || !btg || !ids) {
        cli_err("out of memory");
        goto free_all;
    }
    run_args a;
    memset(&a, 0, sizeof a);
    a.m = m;
    a.ids = ids;
    /* Warm-up: page the weights in, let the thread pool settle. */
    random_ids(ids, (size_t)cfg->p, info.vocab_size);
    a.n_prompt = (size_t)cfg->p;
    a.max_tokens = 4;
    run_one(&a);
    if (a.status != INF_OK) {
        cli_err("warm-up failed: %s", a.err);
        goto free_all;
    }
    for (size_t i = 0; i < reps; i++) {
        random_ids(ids, (size_t)cfg->p, info.vocab_size);
        a.n_prompt = (size_t)cfg->p;
        a.max_tokens = 1;
        run_one(&a);
        if (a.status != INF_OK) {
            cli_err("prefill failed: %s", a.err);
            goto free_all;
        }
        pp[i] = a.met.prefill_tokens_per_second;
        if (pp[i] <= 0 && a.met.prefill_seconds > 0)
            pp[i] = (double)a.met.prompt_tokens / a.met.prefill_seconds;

        a.n_prompt = cfg->depth > 0 ? (size_t)cfg->depth : 1;
        random_ids(ids, a.n_prompt, info.vocab_size);
        a.max_tokens = (int32_t)cfg->n;
        run_one(&a);
        if (a.status != INF_OK) {
            cli_err("decode failed: %s", a.err);
            goto free_all;
        }
        if (a.met.generated_tokens != cfg->n) {
            cli_err("decode produced %lld tokens, expected %d",
                    (long long)a.met.generated_tokens, cfg->n);
            goto free_all;
        }
        tg[i] = a.met.decode_tokens_per_second;
        if (tg[i] <= 0 && a.met.decode_seconds > 0)
            tg[i] = (double)a.met.generated_tokens / a.met.decode_seconds;

        if (cfg->batch > 1) {
            bpp[i] = run_batch(m, info.vocab_size, (size_t)cfg->batch,
                               (size_t)cfg->p, 1, 1);
            btg[i] = run_batch(m, info.vocab_size, (size_t)cfg->batch, 1,
                               (int32_t)cfg->n, 0);
            if (bpp[i] < 0 || btg[i] < 0) goto free_all;
        }
    }
    inf_metrics mm;
    memset(&mm, 0, sizeof mm);
    inf_model_metrics(m, &mm);
    stat3 spp = stats(pp, reps), stg = stats(tg, reps);
    stat3 sbpp = stats(bpp, reps), sbtg = stats(btg, reps);
    json_t *res = json_pack(
        "{s:i,s:f,s:{s:i,s:f,s:f,s:f},s:{s:i,s:i,s:f,s:f,s:f},s:I,s:I}",
        "threads", (int)threads, "load_seconds", load_s,
        "prefill", "tokens", (int)cfg->p, "median", spp.med, "min", spp.min, "max", spp.max,
        "decode", "tokens", (int)cfg->n, "depth", (int)cfg->depth, "median", stg.med, "min", stg.min, "max", stg.max,
        "peak_rss_bytes", (json_int_t)cli_peak_rss(),
        "engine_peak_memory_bytes", (json_int_t)mm.peak_memory_bytes);
    if (cfg->batch > 1) {
        json_object_set_new(res, "batch_prefill",
                            json_pack("{s:i,s:i,s:f,s:f,s:f}", "streams", (int)cfg->batch,
                                      "tokens", (int)cfg->p, "median", sbpp.med,
                                      "min", sbpp.min, "max", sbpp.max));
        json_object_set_new(res, "batch_decode",
                            json_pack("{s:i,s:i,s:f,s:f,s:f}", "streams", (int)cfg->batch,
                                      "tokens", (int)cfg->n, "median", sbtg.med,
                                      "min", sbtg.min, "max", sbtg.max));
    }
    json_array_append_new(results, res);
    if (!cfg->json) {
        char tl[16];
        if (threads) snprintf(tl, sizeof tl, "%d", (int)threads);
        else snprintf(tl, sizeof tl, "default");
        printf("%-8s %-16s %12.2f s\n", tl, "load", load_s);
        char name[64];
        snprintf(name, sizeof name, "pp%d", cfg->p);
        printf("%-8s %-16s %12.1f %12.1f %12.1f\n", tl, name, spp.med, spp.min, spp.max);
        if (cfg->depth > 0) snprintf(name, sizeof name, "tg%d @ d%d", cfg->n, cfg->depth);
        else snprintf(name, sizeof name, "tg%d", cfg->n);
        printf("%-8s %-16s %12.1f %12.1f %12.1f\n", tl, name, stg.med, stg.min, stg.max);
        if (cfg->batch > 1) {
            snprintf(name, sizeof name, "pp%d x%d", cfg->p, cfg->batch);
            printf("%-8s %-16s %12.1f %12.1f %12.1f\n", tl, name, sbpp.med, sbpp.min, sbpp.max);
            snprintf(name, sizeof name, "tg%d x%d", cfg->n, cfg->batch);
            printf("%-8s %-16s %12.1f %12.1f %12.1f\n", tl, name, sbtg.med, sbtg.min, sbtg.max);
        }
        fflush(stdout);
    }
    rc = CLI_EXIT_OK;
free_all:
    free(pp);
    free(tg);
    free(bpp);
    free(btg);
    free(ids);
done:
    inf_model_close(&m);
    return rc;
}

int inf_cmd_bench(int argc, char **argv) {
    bench_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cli_model_args_init(&cfg.ma);
    cfg.p = 512;
    cfg.n = 128;
    cfg.r = 5;
    cfg.batch = 1;
    cli_ids tlist = {NULL, 0};
    int dummy = 0, kv_mib = 0;
    uint64_t seed = 1;
    const cli_opt opts[] = {
        {.short_name = 'p', .kind = CLI_INT, .dest = &cfg.p, .min = 1, .max = 1 << 20,
         .show_default = 1, .help = "prompt tokens for the prefill test"},
        {.short_name = 'n', .kind = CLI_INT, .dest = &cfg.n, .min = 1, .max = 1 << 20,
         .show_default = 1, .help = "tokens to decode"},
        {.short_name = 'r', .kind = CLI_INT, .dest = &cfg.r, .min = 1, .max = 10000,
         .show_default = 1, .help = "repetitions"},
        {.short_name = 'd', .name = "depth", .kind = CLI_INT, .dest = &cfg.depth,
         .min = 0, .max = 1 << 20,
         .help = "decode after a prompt of N tokens (context depth;\n"
                 "default 0: a one-token prompt)"},
        {.short_name = 't', .name = "threads", .kind = CLI_IDS, .dest = &tlist,
         .min = 0, .max = 1024, .metavar = "LIST",
         .help = "thread counts, comma-separated (e.g. 1,2; default:\n"
                 "the backend's default); the model is reloaded for\n"
                 "each"},
        {.name = "batch", .kind = CLI_INT, .dest = &cfg.batch, .min = 1, .max = 1024,
         .metavar = "B", .help = "also run B concurrent streams (aggregate tokens/s)"},
        {.short_name = 'm', .name = "model", .kind = CLI_STRING, .dest = &cfg.ma.dir,
         .metavar = "DIR", .help = "the model directory (or what --backend takes)"},
        {.name = "ctx", .kind = CLI_INT, .dest = &cfg.ma.lo.context_length,
         .min = 1, .max = INT32_MAX, .help = "context length"},
        {.name = "backend", .kind = CLI_STRING, .dest = &cfg.ma.lo.backend,
         .fn = cli_check_backend, .metavar = "NAME",
         .help = "backend (default: automatic)"},
        {.name = "precision", .kind = CLI_STRING, .dest = &cfg.ma.precision,
         .fn = cli_check_precision, .metavar = "exact|fast",
         .help = "kernel arithmetic (default: $INF_PRECISION, else fast)"},
        {.name = "kv-memory", .kind = CLI_INT, .dest = &kv_mib, .min = 1, .max = INT32_MAX,
         .metavar = "MIB",
         .help = "KV cache shared by all streams (native engine;\n"
                 "default: context x parallel slots), as serve"},
        CLI_MMAP_OPTION(&cfg.ma),
        {.name = "no-prefix-cache", .kind = CLI_FLAG, .dest = &cfg.ma.lo.no_prefix_cache,
         .help = "never reuse cached prompt prefixes (the prompts\n"
                 "are fresh random ids either way)"},
        {.name = "prefill-chunk", .kind = CLI_INT, .dest = &cfg.ma.lo.prefill_chunk, .min = -1,
         .max = INT32_MAX, .metavar = "N",
         .help = "prompt tokens per step while others decode\n"
                 "(--batch; default 0: adaptive, a step aims at\n"
                 "~1.25x a decode step; -1: a prompt in one step)"},
        {.name = "dummy", .kind = CLI_FLAG, .dest = &dummy,
         .help = "random weights from config.json alone"},
        {.name = "dummy-bits", .kind = CLI_INT, .dest = &cfg.ma.lo.dummy_bits,
         .min = 4, .max = 8, .fn = check_dummy_bits, .user = &cfg.ma.lo.dummy_bits,
         .metavar = "4|8", .help = "with --dummy: MLX-quantised weights"},
        {.name = "dummy-dtype", .kind = CLI_STRING, .dest = &cfg.ma.lo.dummy_dtype,
         .fn = check_dummy_dtype, .metavar = "T",
         .help = "with --dummy: bf16, f16 or f32 (default: config's)"},
        {.name = "dummy-group", .kind = CLI_INT, .dest = &cfg.ma.lo.dummy_group,
         .min = 1, .max = 1 << 16,
         .help = "with --dummy-bits: quantisation group (default 64)"},
        {.name = "seed", .kind = CLI_U64, .dest = &seed, .fn = set_rng_seed,
         .user = &seed, .show_default = 1, .help = "seed of the random prompt ids"},
        {.name = "json", .kind = CLI_FLAG, .dest = &cfg.json,
         .help = "one JSON object instead of the table"},
        CLI_END};
    const cli_cmd cmd = {.synopsis = "-m DIR [OPTIONS]", .about = about, .opts = opts};
    cli_args args;
    int rc = cli_parse(&cmd, argc, argv, &args);
    if (rc) {
        cli_ids_free(&tlist);
        return cli_parse_exit(rc);
    }
    if (!dummy && (cfg.ma.lo.dummy_bits || cfg.ma.lo.dummy_dtype || cfg.ma.lo.dummy_group)) {
        cli_ids_free(&tlist);
        return cli_usage_err("--dummy-bits/--dummy-dtype/--dummy-group need --dummy");
    }
    cfg.ma.lo.dummy_weights = dummy;
    cfg.ma.lo.kv_memory = (int64_t)kv_mib << 20;
    int32_t *threads = tlist.v;
    size_t nt = tlist.n;
    if (!nt) {
        threads = calloc(1, sizeof *threads); /* 0 = the backend's default */
        nt = 1;
    }
    if ((rc = cli_check_model_dir(&cfg.ma))) {
        free(threads);
        return rc;
    }
    json_t *results = json_array(), *model_desc = NULL;
    rc = CLI_EXIT_OK;
    for (size_t i = 0; i < nt && rc == CLI_EXIT_OK; i++)
        rc = bench_threads(&cfg, threads[i], results, &model_desc);
    free(threads);
    if (rc == CLI_EXIT_OK) {
        int64_t rss = cli_peak_rss();
        if (cfg.json) {
            json_t *o = json_pack("{s:o,s:b,s:i,s:o,s:I,s:I,s:b,s:i}", "model",
                                  model_desc ? model_desc : json_null(), "dummy",
                                  dummy, "repetitions", (int)cfg.r, "results",
                                  results, "peak_rss_bytes", (json_int_t)rss,
                                  "kv_memory_bytes", (json_int_t)cfg.ma.lo.kv_memory,
                                  "prefix_cache", !cfg.ma.lo.no_prefix_cache,
                                  "prefill_chunk", (int)cfg.ma.lo.prefill_chunk);
            model_desc = NULL;
            results = NULL;
            rc = cli_json_println(stdout, o);
        } else {
            json_t *md = model_desc;
            printf("model: %s (%s, %d layers, hidden %d, vocab %d%s%s), backend %s\n",
                   json_string_value(json_object_get(md, "path")),
                   json_string_value(json_object_get(md, "architecture")),
                   (int)json_integer_value(json_object_get(md, "n_layers")),
                   (int)json_integer_value(json_object_get(md, "hidden_size")),
                   (int)json_integer_value(json_object_get(md, "vocab_size")),
                   json_integer_value(json_object_get(md, "quant_bits")) ? ", quantised" : "",
                   dummy ? ", dummy weights" : "",
                   json_string_value(json_object_get(md, "backend")));
            if (kv_mib || cfg.ma.lo.no_prefix_cache || cfg.ma.lo.prefill_chunk)
                printf("kv: memory %s%d MiB, prefix cache %s, prefill chunk %d%s\n",
                       kv_mib ? "" : "default ", kv_mib, cfg.ma.lo.no_prefix_cache ? "off" : "on",
                       (int)cfg.ma.lo.prefill_chunk, cfg.ma.lo.prefill_chunk ? "" : " (adaptive)");
            printf("weights: %.1f MiB (%s), peak RSS: %.1f MiB, %d repetitions\n",
                   (double)json_integer_value(json_object_get(md, "weight_bytes")) / (1 << 20),
                   json_string_value(json_object_get(md, "weights")),
                   (double)rss / (1 << 20), cfg.r);
        }
    }
    json_decref(results);
    json_decref(model_desc);
    return rc;
}
