/* I/O failures while loading (issue 14): a model directory whose files are
 * directories, FIFOs, empty, truncated, unreadable or fail with a real EIO
 * must give a clean error naming the file, never a hang or a crash; and the
 * promise inference.h makes about weight files changed while a model is
 * open (inf_model_load): mapped, replacing or deleting them is safe and
 * truncating them in place ends the process with SIGBUS (checked in a
 * child); copied (copy_weights), truncating or rewriting them in place
 * changes nothing (safetensors, and GGUF when --gguf FILE is given).
 *
 * The tiny fixture models have no tokenizer, so models are opened with the
 * engine's INF__ENGINE_NO_TOKENIZER_OK (as the golden tests do); the
 * tokenizer cases load tokenizer.json through the public API. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/cpu/cpu.h"
#include "engine/engine.h"
#include "inference.h"
#include "model/wmap.h"
#include "testutil.h"

static char tmp[256];
static const char *tiny = INF_FIXTURES "/tiny/llama-f32";
static const char *brown = INF_SOURCE_DIR "/models/brown-llama-8m";
static const char *gguf; /* --gguf: a small GGUF model (a copy is truncated) */

static void copy_file(const char *from, const char *to, long keep) {
    size_t n = 0;
    char *b = tu_read_file(from, &n);
    if (!b) {
        fprintf(stderr, "cannot read %s\n", from);
        exit(1);
    }
    if (keep >= 0 && (size_t)keep < n) n = (size_t)keep;
    FILE *f = fopen(to, "wb");
    if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", to);
        exit(1);
    }
    free(b);
}

/* A fresh copy of the tiny model in tmp/m (config.json and
 * model.safetensors); returns the directory. */
static const char *fresh_model(char *dir, size_t n) {
    snprintf(dir, n, "%s/m", tmp);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) exit(1);
    mkdir(dir, 0755);
    char a[600], b[600];
    for (int i = 0; i < 2; i++) {
        const char *name = i ? "model.safetensors" : "config.json";
        snprintf(a, sizeof a, "%s/%s", tiny, name);
        snprintf(b, sizeof b, "%s/%s", dir, name);
        copy_file(a, b, -1);
    }
    return dir;
}

static int open_model_as(const char *dir, int copy, const inf_model_ops **ops, void **model,
                         char **err) {
    inf_load_options lo;
    inf_load_options_default(&lo);
    lo.n_threads = 1;
    lo.copy_weights = copy;
    *err = NULL;
    return inf__engine_open(dir, &lo, &inf__cpu_compute, INF__ENGINE_NO_TOKENIZER_OK, ops,
                            model, err);
}

static int open_model(const char *dir, const inf_model_ops **ops, void **model, char **err) {
    return open_model_as(dir, 0, ops, model, err);
}

/* The logits of three ids, summed (a fingerprint of the weights read). */
static int logits_sum(const inf_model_ops *ops, void *model, double *sum) {
    inf_model_info info;
    ops->info(model, &info);
    int32_t ids[3] = {1, 2, 3};
    float *lg = malloc(3 * (size_t)info.vocab_size * sizeof *lg);
    char *err = NULL;
    int rc = lg ? ops->logits(model, ids, 3, lg, &err) : INF_E_NOMEM;
    *sum = 0;
    for (size_t i = 0; rc == INF_OK && i < 3 * (size_t)info.vocab_size; i++) *sum += lg[i];
    free(lg);
    free(err);
    return rc;
}

/* Replaces dir/name by `kind`: "dir", "fifo", "empty", "half" (the first
 * half of the original), "mem" (a link to /proc/self/mem: a real EIO at
 * offset 0), "noperm" (mode 000). */
static void spoil(const char *dir, const char *name, const char *kind) {
    char p[700], orig[720];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    snprintf(orig, sizeof orig, "%s.orig", p);
    rename(p, orig);
    if (strcmp(kind, "dir") == 0) mkdir(p, 0755);
    else if (strcmp(kind, "fifo") == 0) mkfifo(p, 0644);
    else if (strcmp(kind, "empty") == 0) copy_file(orig, p, 0);
    else if (strcmp(kind, "half") == 0) {
        struct stat st;
        stat(orig, &st);
        copy_file(orig, p, (long)st.st_size / 2);
    } else if (strcmp(kind, "mem") == 0) {
        if (symlink("/proc/self/mem", p) != 0) perror("symlink");
    } else if (strcmp(kind, "noperm") == 0) {
        copy_file(orig, p, -1);
        chmod(p, 0);
    }
}

/* A spoiled model file: the open must fail (not hang: alarm), with a
 * message naming the file. */
static void bad_model_file(const char *name, const char *kind, int want) {
    char dir[300];
    fresh_model(dir, sizeof dir);
    spoil(dir, name, kind);
    const inf_model_ops *ops;
    void *model = NULL;
    char *err = NULL;
    alarm(30); /* a FIFO opened for reading would wait for a writer */
    int rc = open_model(dir, &ops, &model, &err);
    alarm(0);
    CHECK_MSG(rc != INF_OK, "%s as %s: the open must fail", name, kind);
    if (rc == INF_OK) ops->close(model);
    if (want) CHECK_MSG(rc == want, "%s as %s: %s, expected %s (%s)", name, kind,
                        inf_status_name(rc), inf_status_name(want), err ? err : "");
    CHECK_MSG(err && strstr(err, name), "%s as %s: the message names the file: %s", name, kind,
              err ? err : "(none)");
    printf("%-18s as %-6s -> %s: %s\n", name, kind, inf_status_name(rc), err ? err : "");
    free(err);
}

/* The same for tokenizer.json, through the public API. */
static void bad_tokenizer(const char *kind, int want) {
    char dir[300], a[600], b[600];
    snprintf(dir, sizeof dir, "%s/tok", tmp);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) exit(1);
    mkdir(dir, 0755);
    snprintf(a, sizeof a, "%s/tokenizer.json", brown);
    snprintf(b, sizeof b, "%s/tokenizer.json", dir);
    copy_file(a, b, -1);
    spoil(dir, "tokenizer.json", kind);
    inf_tokenizer *t = NULL;
    char *err = NULL;
    alarm(30);
    int rc = inf_tokenizer_load(dir, &t, &err);
    alarm(0);
    CHECK_MSG(rc != INF_OK, "tokenizer.json as %s: the load must fail", kind);
    if (want) CHECK_MSG(rc == want, "tokenizer.json as %s: %s, expected %s (%s)", kind,
                        inf_status_name(rc), inf_status_name(want), err ? err : "");
    CHECK_MSG(err && strstr(err, "tokenizer.json"), "tokenizer.json as %s: names the file: %s",
              kind, err ? err : "(none)");
    printf("%-18s as %-6s -> %s: %s\n", "tokenizer.json", kind, inf_status_name(rc),
           err ? err : "");
    inf_tokenizer_free(t);
    inf_free(err);
}

/* Opens `path` with copy_weights, then truncates `file` (its weights) to
 * nothing and computes, then restores its size with zeros written in place
 * and computes: the logits must equal those before, and the process must
 * live (a SIGBUS here would end the test). */
static void copied_weights_survive(const char *what, const char *path, const char *file) {
    const inf_model_ops *ops;
    void *model = NULL;
    char *err = NULL;
    double before = 0, after = 0;
    int rc = open_model_as(path, 1, &ops, &model, &err);
    CHECK_MSG(rc == INF_OK, "%s copied: open: %s", what, err ? err : "");
    free(err);
    if (rc != INF_OK) return;
    struct stat st;
    stat(file, &st);
    CHECK_EQ_INT(logits_sum(ops, model, &before), INF_OK);
    CHECK_EQ_INT(truncate(file, 0), 0);
    CHECK_EQ_INT(logits_sum(ops, model, &after), INF_OK);
    CHECK_MSG(after == before, "%s copied, file truncated: logits unchanged (%g vs %g)", what,
              after, before);
    CHECK_EQ_INT(truncate(file, st.st_size), 0); /* zeros, in place */
    CHECK_EQ_INT(logits_sum(ops, model, &after), INF_OK);
    CHECK_MSG(after == before, "%s copied, file rewritten with zeros: logits unchanged (%g vs %g)",
              what, after, before);
    ops->close(model);
    printf("%s weights copied (copy_weights), file truncated then zeroed in place while open: "
           "logits unchanged (%.6g)\n", what, before);
}

/* A MAP_PRIVATE mapping of a file with every page copied on write (what
 * MADV_POPULATE_WRITE does), then the file truncated: reading the copies
 * raises SIGBUS, because truncation discards private copies too. */
static void cow_mapping_still_faults(void) {
    char p[600];
    snprintf(p, sizeof p, "%s/cow.bin", tmp);
    FILE *f = fopen(p, "wb");
    static char page[4096];
    for (int i = 0; f && i < 16; i++) fwrite(page, 1, sizeof page, f);
    if (f) fclose(f);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGBUS, SIG_DFL);
        int fd = open(p, O_RDONLY);
        volatile char *m = mmap(NULL, 16 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) _exit(3);
        for (int i = 0; i < 16; i++) m[i * 4096] = 1; /* private copies */
        if (truncate(p, 0) != 0) _exit(4);
        int sum = 0;
        for (int i = 0; i < 16; i++) sum += m[i * 4096];
        _exit(sum == 16 ? 0 : 5);
    }
    int status = 0;
    waitpid(pid, &status, 0);
#if defined(__SANITIZE_ADDRESS__)
    if (WIFEXITED(status) && WEXITSTATUS(status) == 1) status = SIGBUS;
#endif
    CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS,
              "copy-on-write private mapping, file truncated: SIGBUS (status 0x%x)", status);
    printf("MAP_PRIVATE with every page copied on write, file truncated: %s\n",
           WIFSIGNALED(status) ? strsignal(WTERMSIG(status))
                               : "no signal (the private copies survived)");
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--gguf") == 0 && i + 1 < argc) {
            gguf = argv[++i];
        } else {
            fprintf(stderr, "usage: test_io_fail [--gguf FILE.gguf]\n");
            return 2;
        }
    }
    snprintf(tmp, sizeof tmp, "/tmp/inf-io-fail-XXXXXX");
    if (!mkdtemp(tmp)) return 1;

    /* 1. Files that are not regular files, empty or cut short. */
    bad_model_file("config.json", "dir", INF_E_IO);
    bad_model_file("config.json", "fifo", INF_E_IO);
    bad_model_file("config.json", "empty", 0);
    bad_model_file("config.json", "half", 0);
    bad_model_file("config.json", "mem", INF_E_IO);
    bad_model_file("model.safetensors", "dir", INF_E_IO);
    bad_model_file("model.safetensors", "fifo", INF_E_IO);
    bad_model_file("model.safetensors", "empty", INF_E_FORMAT);
    bad_model_file("model.safetensors", "half", INF_E_FORMAT);
    bad_tokenizer("dir", INF_E_IO);
    bad_tokenizer("fifo", INF_E_IO);
    bad_tokenizer("empty", 0);
    bad_tokenizer("half", 0);
    bad_tokenizer("mem", INF_E_IO); /* read(2) fails with EIO */
    /* Permission denied: root reads anything, so only as another user. */
    if (geteuid() != 0) {
        bad_model_file("config.json", "noperm", INF_E_IO);
        bad_model_file("model.safetensors", "noperm", INF_E_IO);
        bad_tokenizer("noperm", INF_E_IO);
    } else {
        printf("permission cases skipped: running as root\n");
    }

    /* 2. Weights replaced or deleted while the model is open: the mapping
     *    keeps the old file, the logits do not change. */
    char dir[300], w[600], w2[600];
    const inf_model_ops *ops;
    void *model = NULL;
    char *err = NULL;
    double before = 0, after = 0;
    fresh_model(dir, sizeof dir);
    snprintf(w, sizeof w, "%s/model.safetensors", dir);
    snprintf(w2, sizeof w2, "%s/model.safetensors.new", dir);
    CHECK_EQ_INT(open_model(dir, &ops, &model, &err), INF_OK);
    free(err);
    if (model) {
        CHECK_EQ_INT(logits_sum(ops, model, &before), INF_OK);
        /* A new file (zeros) renamed over the old one. */
        FILE *f = fopen(w2, "wb");
        static char zeros[4096];
        for (int i = 0; f && i < 256; i++) fwrite(zeros, 1, sizeof zeros, f);
        if (f) fclose(f);
        CHECK_EQ_INT(rename(w2, w), 0);
        CHECK_EQ_INT(logits_sum(ops, model, &after), INF_OK);
        CHECK_MSG(after == before, "weights replaced by rename: logits unchanged (%g vs %g)",
                  after, before);
        CHECK_EQ_INT(unlink(w), 0);
        CHECK_EQ_INT(logits_sum(ops, model, &after), INF_OK);
        CHECK_MSG(after == before, "weights deleted: logits unchanged (%g vs %g)", after, before);
        ops->close(model);
        printf("weights replaced by rename, then deleted, while open: logits unchanged\n");
    }

    /* 3. Truncated in place while open: the documented limit.  A child
     *    opens the model, truncates the weights file and computes: the
     *    read of a page past the new end raises SIGBUS. */
    fresh_model(dir, sizeof dir);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGBUS, SIG_DFL);
        if (open_model(dir, &ops, &model, &err) != INF_OK) _exit(3);
        if (truncate(w, 0) != 0) _exit(4);
        logits_sum(ops, model, &after);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
#if defined(__SANITIZE_ADDRESS__)
    /* AddressSanitizer catches the SIGBUS itself, reports and exits 1. */
    if (WIFEXITED(status) && WEXITSTATUS(status) == 1) status = SIGBUS;
#endif
    CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS,
              "weights truncated while open: SIGBUS, as inference.h states (status 0x%x)",
              status);
    printf("weights truncated in place while open: %s\n",
           WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "no signal");

    /* 4. Copied weights (copy_weights): truncated, then rewritten in place
     *    with zeros, while open: the logits do not change. */
    fresh_model(dir, sizeof dir);
    copied_weights_survive("safetensors", dir, w);
    if (gguf && access(gguf, R_OK) != 0) {
        printf("gguf copied-weights case skipped: %s not converted (python3 missing?)\n", gguf);
        gguf = NULL;
    }
    if (gguf) {
        char g[600];
        snprintf(g, sizeof g, "%s/m.gguf", tmp);
        copy_file(gguf, g, -1);
        copied_weights_survive("gguf", g, g);
    } else {
        printf("gguf copied-weights case skipped: no --gguf FILE\n");
    }

    /* 5. Why copy_weights reads into anonymous memory (model/wmap.h): a
     *    private mapping whose every page was copied on write still
     *    faults on the file once it is truncated. */
    cow_mapping_still_faults();

    /* 6. A file shorter than the size asked for (it shrank between the
     *    fstat and the read): INF_E_IO naming the file, nothing mapped. */
    {
        char p2[600];
        snprintf(p2, sizeof p2, "%s/short.bin", tmp);
        FILE *f = fopen(p2, "wb");
        static char page[4096];
        if (f) { fwrite(page, 1, sizeof page, f); fclose(f); }
        int fd = open(p2, O_RDONLY);
        void *m = (void *)1;
        inf__err e;
        inf__err_clear(&e);
        int rc = inf__wmap_fd(fd, 3 * sizeof page, INF__WMAP_COPY, p2, &m, &e);
        CHECK_EQ_INT(rc, INF_E_IO);
        CHECK(m == NULL);
        CHECK_MSG(strstr(e.msg, "short.bin") && strstr(e.msg, "shrank"), "message: %s", e.msg);
        printf("copy of a file that shrank: %s: %s\n", inf_status_name(rc), e.msg);
        if (fd >= 0) close(fd);
    }

    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return tu_summary("test_io_fail");
}
