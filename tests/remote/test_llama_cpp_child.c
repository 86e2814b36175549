/* The "llama_cpp" backend's process handling, with stand-ins for
 * llama-server (fast; the real server is test_llama_cpp_server):
 * availability from $INFERENCE_LLAMA_SERVER, GGUF checks before anything
 * starts, a child that exits while starting (exit status and its last
 * output in the error), a scripted OpenAI server as the child (the flags it
 * gets, generation through it, token ids asked for), a child killed
 * mid-session (reported in the stream error), and close reaping the child.
 * The child's random API key (environment, every request, each child its
 * own) and impostors on its port refused (issue 14).
 * Also inf__find_executable over PATH forms (empty, "/", trailing ':'), a
 * one-byte heap overflow once (issue 14) that the sanitizer pass catches. */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <sys/stat.h>

#include "backends/llama_cpp/child.h"
#include "inference.h"
#include "remote_util.h"
#include "testutil.h"

static char dir[256];
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static int last_pid = -1, last_port = -1;

/* The backend logs "started BIN (pid N) on port P for FILE". */
static void on_log(inf_log_level lvl, const char *msg, void *user) {
    (void)lvl;
    (void)user;
    const char *p = strstr(msg, "(pid ");
    const char *q = strstr(msg, " on port ");
    if (p && q) {
        pthread_mutex_lock(&log_mu);
        last_pid = atoi(p + 5);
        last_port = atoi(q + 9);
        pthread_mutex_unlock(&log_mu);
    }
}

static void put_u32(FILE *f, uint32_t v) { fwrite(&v, 4, 1, f); }
static void put_u64(FILE *f, uint64_t v) { fwrite(&v, 8, 1, f); }
static void put_str(FILE *f, const char *s) {
    put_u64(f, strlen(s));
    fwrite(s, 1, strlen(s), f);
}

/* A GGUF header with a little metadata and no tensors (little-endian
 * host assumed, as x86-64 and arm64 are). */
static void write_tiny_gguf(const char *path) {
    FILE *f = fopen(path, "wb");
    fwrite("GGUF", 1, 4, f);
    put_u32(f, 3);
    put_u64(f, 0); /* tensors */
    put_u64(f, 5); /* key/values */
    put_str(f, "general.architecture"); put_u32(f, 8); put_str(f, "llama");
    put_str(f, "general.name"); put_u32(f, 8); put_str(f, "tiny");
    put_str(f, "llama.block_count"); put_u32(f, 4); put_u32(f, 2);
    put_str(f, "llama.rope.freq_base"); put_u32(f, 6); put_u32(f, 0x461c4000);
    put_str(f, "tokenizer.ggml.tokens"); put_u32(f, 9); put_u32(f, 8); put_u64(f, 3);
    put_str(f, "<unk>"); put_str(f, "<s>"); put_str(f, "</s>");
    fclose(f);
}

static void write_script(const char *path, const char *body) {
    FILE *f = fopen(path, "w");
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    chmod(path, 0755);
}

/* inf__find_executable with every shape of PATH entry.  An empty entry used
 * to write "./NAME" one byte past its buffer (issue 14): under the
 * sanitizers that is a heap-buffer-overflow report here. */
static void expect_found(const char *path_env, const char *name, const char *want) {
    setenv("PATH", path_env, 1);
    char *got = inf__find_executable(name);
    if (want) CHECK_MSG(got && strcmp(got, want) == 0, "PATH=\"%s\" %s: got %s, want %s",
                        path_env, name, got ? got : "(null)", want);
    else CHECK_MSG(got == NULL, "PATH=\"%s\" %s: got %s, want none", path_env, name,
                   got ? got : "(null)");
    free(got);
}

static void test_find_executable(void) {
    char old_cwd[1024], bin[512], exe[600], plain[600], full[700], withslash[600];
    const char *old_path = getenv("PATH");
    char *saved_path = old_path ? strdup(old_path) : NULL;
    CHECK(getcwd(old_cwd, sizeof old_cwd) != NULL);
    snprintf(bin, sizeof bin, "%s/bin", dir);
    mkdir(bin, 0755);
    snprintf(exe, sizeof exe, "%s/fake-llama-exe", bin);
    write_script(exe, "exit 0");
    snprintf(plain, sizeof plain, "%s/not-executable", bin);
    FILE *f = fopen(plain, "w");
    if (f) fclose(f);
    chmod(plain, 0644);
    char sub[600];
    snprintf(sub, sizeof sub, "%s/a-directory", bin);
    mkdir(sub, 0755);
    snprintf(withslash, sizeof withslash, "%s/", bin);
    CHECK(chdir(bin) == 0);

    /* Empty entries are the current directory: leading, doubled, trailing,
     * alone; names of several lengths (the overflow was always one byte). */
    const char *names[] = {"fake-llama-exe", "x", "xy", "abcdefghijklmnopqrstuvwxyz0123456789"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char want[128];
        snprintf(want, sizeof want, "./%s", names[i]);
        if (i > 0) { /* make each name an executable in bin */
            char p[700];
            snprintf(p, sizeof p, "%s/%s", bin, names[i]);
            write_script(p, "exit 0");
        }
        expect_found(":", names[i], want);
        expect_found(":/nonexistent", names[i], want);
        expect_found("/nonexistent::/also-not", names[i], want);
        expect_found("/nonexistent:", names[i], want);
        expect_found("/nonexistent::", names[i], want);
    }
    expect_found("", "fake-llama-exe", NULL);        /* empty PATH: nothing */
    expect_found("/", "fake-llama-exe", NULL);       /* root, no match */
    expect_found("/:/", "fake-llama-exe", NULL);
    expect_found(bin, "fake-llama-exe", exe);
    expect_found(withslash, "fake-llama-exe", exe);  /* no doubled slash */
    snprintf(full, sizeof full, "/nonexistent:%s:/", bin);
    expect_found(full, "fake-llama-exe", exe);
    expect_found(bin, "not-executable", NULL);       /* not executable */
    expect_found(bin, "a-directory", NULL);          /* not a file */
    expect_found(":", "a-directory", NULL);
    expect_found(bin, "", NULL);
    expect_found(bin, exe, exe);                     /* a path as given */
    expect_found(bin, "./fake-llama-exe", "./fake-llama-exe");
    expect_found(bin, "/nonexistent/fake-llama-exe", NULL);
    CHECK(inf__find_executable(NULL) == NULL);

    CHECK(chdir(old_cwd) == 0);
    if (saved_path) setenv("PATH", saved_path, 1);
    else unsetenv("PATH");
    free(saved_path);
}

static int load(const char *path, inf_model **m, char **err) {
    inf_load_options lo;
    inf_load_options_default(&lo);
    lo.backend = "llama_cpp";
    lo.context_length = 512;
    lo.parallel_slots = 3;
    lo.n_threads = 2;
    *err = NULL;
    return inf_model_load(path, &lo, m, err);
}

static void test_unavailable(const char *gguf) {
    setenv("INFERENCE_LLAMA_SERVER", "/nonexistent/llama-server", 1);
    const inf_backend *b = inf_backend_get("llama_cpp");
    CHECK(b != NULL);
    char why[256];
    CHECK_EQ_INT(inf_backend_available(b, why, sizeof why), 0);
    CHECK_MSG(strstr(why, "/nonexistent/llama-server") != NULL, "%s", why);
    inf_model *m = NULL;
    char *err = NULL;
    CHECK_EQ_INT(load(gguf, &m, &err), INF_E_BACKEND_UNAVAILABLE);
    inf_free(err);
}

static void test_bad_files(void) {
    setenv("INFERENCE_LLAMA_SERVER", "/bin/true", 1);
    char path[512];
    snprintf(path, sizeof path, "%s/not.gguf", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"model_type\":\"llama\"}\n", f);
    fclose(f);
    inf_model *m = NULL;
    char *err = NULL;
    CHECK_EQ_INT(load(path, &m, &err), INF_E_FORMAT);
    inf_free(err);
    snprintf(path, sizeof path, "%s/missing.gguf", dir);
    CHECK_EQ_INT(load(path, &m, &err), INF_E_NOT_FOUND);
    CHECK_MSG(err && strstr(err, "missing.gguf"), "%s", err ? err : "");
    inf_free(err);
}

static void test_early_exit(const char *gguf) {
    char script[512];
    snprintf(script, sizeof script, "%s/dies.sh", dir);
    write_script(script, "echo 'loading model' >&2\n"
                         "echo 'error: model file is corrupt' >&2\nexit 3");
    setenv("INFERENCE_LLAMA_SERVER", script, 1);
    inf_model *m = NULL;
    char *err = NULL;
    double t0 = ru_now();
    CHECK_EQ_INT(load(gguf, &m, &err), INF_E_REMOTE);
    CHECK(ru_now() - t0 < 10);
    CHECK_MSG(err && strstr(err, "exit status 3") && strstr(err, "model file is corrupt"),
              "%s", err ? err : "");
    inf_free(err);
}

static json_t *get_json(int port, const char *path) {
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    char *body = NULL;
    json_t *j = ru_get(url, &body) == 200 ? json_loads(body, 0, NULL) : NULL;
    free(body);
    return j;
}

static int pid_gone(int pid) {
    return kill(pid, 0) != 0 && errno == ESRCH;
}

static void test_with_fake_server(const char *gguf) {
    char script[512];
    snprintf(script, sizeof script, "%s/fake-llama-server.sh", dir);
    char body[1024];
    snprintf(body, sizeof body, "exec %s %s/tests/remote/fake_openai.py \"$@\"",
             access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3",
             INF_SOURCE_DIR);
    write_script(script, body);
    setenv("INFERENCE_LLAMA_SERVER", script, 1);
    char why[256];
    CHECK_EQ_INT(inf_backend_available(inf_backend_get("llama_cpp"), why, sizeof why), 1);

    inf_model *m = NULL;
    char *err = NULL;
    int rc = load(gguf, &m, &err);
    CHECK_MSG(rc == INF_OK, "load: %s", err ? err : "");
    inf_free(err);
    if (rc != INF_OK) return;
    pthread_mutex_lock(&log_mu);
    int pid = last_pid, port = last_port;
    pthread_mutex_unlock(&log_mu);
    CHECK(pid > 0 && port > 0);

    inf_model_info info;
    inf_model_info_get(m, &info);
    CHECK_EQ_STR(info.backend, "llama_cpp");
    CHECK_EQ_STR(inf_model_type(m), "llama");    /* from the GGUF */
    CHECK_EQ_INT(info.n_layers, 2);
    CHECK_EQ_INT(info.vocab_size, 3);
    CHECK_EQ_INT(info.context_length, 512);

    /* The command line the child got. */
    json_t *a = get_json(port, "/debug/argv");
    char *args = a ? json_dumps(json_object_get(a, "argv"), JSON_COMPACT) : NULL;
    char want[600];
    snprintf(want, sizeof want, "\"-m\",\"%s\"", gguf);
    CHECK_MSG(args && strstr(args, want), "%s", args ? args : "");
    CHECK_MSG(args && strstr(args, "\"--host\",\"127.0.0.1\""), "%s", args ? args : "");
    CHECK_MSG(args && strstr(args, "\"--ctx-size\",\"512\""), "%s", args ? args : "");
    CHECK_MSG(args && strstr(args, "\"--parallel\",\"3\""), "%s", args ? args : "");
    CHECK_MSG(args && strstr(args, "\"--n-gpu-layers\",\"999\""), "%s", args ? args : "");
    CHECK_MSG(args && strstr(args, "\"--threads\",\"2\""), "%s", args ? args : "");
    CHECK_MSG(args && strstr(args, "\"--alias\",\"tiny\""), "%s", args ? args : "");

    /* Issue 14: the child runs with a random API key (64 hex digits) from
     * its environment, never on its command line (world-readable). */
    json_t *k = get_json(port, "/debug/key");
    char key[128] = "";
    const char *kv = k ? json_string_value(json_object_get(k, "key")) : NULL;
    snprintf(key, sizeof key, "%s", kv ? kv : "");
    json_decref(k);
    CHECK_MSG(strlen(key) == 64 && strspn(key, "0123456789abcdef") == 64, "key \"%s\"", key);
    CHECK_MSG(args && key[0] && !strstr(args, key), "the key is on the command line: %s",
              args ? args : "");
    CHECK_MSG(args && !strstr(args, "api-key"), "%s", args ? args : "");
    free(args);
    json_decref(a);
    /* The server refuses requests without it. */
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/props", port);
    CHECK_EQ_INT(ru_get(url, NULL), 401);

    inf_generate_options o;
    inf_generate_options_default(&o);
    o.max_tokens = 3;
    inf_batch_result *br = NULL;
    const char *ps[] = {"hello"};
    CHECK_EQ_INT(inf_batch_generate(m, ps, 1, &o, &br), INF_OK);
    if (br) {
        CHECK_EQ_INT(br[0].status, INF_OK);
        CHECK_EQ_STR(br[0].text, "The cat sat");
    }
    inf_batch_results_free(br, 1);
    json_t *last = get_json(port, "/debug/last");
    json_t *req = json_object_get(last, "body");
    CHECK_EQ_STR(json_string_value(json_object_get(req, "model")), "tiny");
    /* token ids come from llama-server's logprobs */
    CHECK_EQ_INT(json_integer_value(json_object_get(req, "logprobs")), 1);
    /* Every request carries the key. */
    char bearer[160];
    snprintf(bearer, sizeof bearer, "Bearer %s", key);
    CHECK_EQ_STR(json_string_value(json_object_get(last, "auth")), bearer);
    json_decref(last);

    /* The child dies: the next stream says so. */
    kill(pid, SIGKILL);
    inf_stream *s = NULL;
    CHECK_EQ_INT(inf_generate(m, "hello", &o, &s), INF_OK);
    inf_token t;
    int r;
    while ((r = inf_stream_next(s, &t)) == 1) {}
    CHECK(r < 0);
    const char *msg = inf_stream_errmsg(s);
    CHECK_MSG(strstr(msg, "died") && strstr(msg, "signal 9"), "%s", msg);
    inf_stream_close(&s);
    inf_model_close(&m);
    CHECK(pid_gone(pid));

    /* A normal close stops a live child (SIGTERM) and reaps it. */
    rc = load(gguf, &m, &err);
    CHECK_EQ_INT(rc, INF_OK);
    inf_free(err);
    pthread_mutex_lock(&log_mu);
    pid = last_pid;
    port = last_port;
    pthread_mutex_unlock(&log_mu);
    CHECK(kill(pid, 0) == 0);
    /* Each child gets its own key. */
    k = get_json(port, "/debug/key");
    const char *key2 = k ? json_string_value(json_object_get(k, "key")) : NULL;
    CHECK_MSG(key2 && strlen(key2) == 64 && strcmp(key2, key) != 0, "%s / %s", key,
              key2 ? key2 : "(none)");
    json_decref(k);
    double t0 = ru_now();
    inf_model_close(&m);
    CHECK(ru_now() - t0 < 4.0);
    CHECK(pid_gone(pid));
}

/* Issue 14: the port is picked free and released, so another local process
 * may bind it before llama-server does.  Whatever then answers must prove
 * to be our child: llama-server's /health body, and GET /props refused
 * without the child's key and served with it.  Stand-ins that behave like
 * such impostors (fake_openai.py's FAKE_LLAMA_MODE) fail the load, and the
 * child is stopped. */
static void test_impostors(const char *gguf) {
    static const struct { const char *mode, *needle; } cases[] = {
        {"noauth", "not the llama-server we started"},   /* accepts anything */
        {"otherkey", "not the llama-server we started"}, /* someone else's key */
        {"health", "not llama-server's"},                /* another /health */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char script[512], body[1024];
        snprintf(script, sizeof script, "%s/impostor-%s.sh", dir, cases[i].mode);
        snprintf(body, sizeof body, "FAKE_LLAMA_MODE=%s exec %s %s/tests/remote/fake_openai.py \"$@\"",
                 cases[i].mode,
                 access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3",
                 INF_SOURCE_DIR);
        write_script(script, body);
        setenv("INFERENCE_LLAMA_SERVER", script, 1);
        pthread_mutex_lock(&log_mu);
        last_pid = -1;
        pthread_mutex_unlock(&log_mu);
        inf_model *m = NULL;
        char *err = NULL;
        double t0 = ru_now();
        int rc = load(gguf, &m, &err);
        CHECK_MSG(rc == INF_E_REMOTE, "%s: load gave %d (%s), want INF_E_REMOTE", cases[i].mode, rc,
                  err ? err : "");
        CHECK_MSG(err && strstr(err, cases[i].needle), "%s: \"%s\" should say \"%s\"",
                  cases[i].mode, err ? err : "", cases[i].needle);
        CHECK(ru_now() - t0 < 30);
        inf_free(err);
        if (m) inf_model_close(&m);
        pthread_mutex_lock(&log_mu);
        int pid = last_pid;
        pthread_mutex_unlock(&log_mu);
        CHECK_MSG(pid > 0 && pid_gone(pid), "%s: the child was stopped", cases[i].mode);
    }
}

int main(void) {
    snprintf(dir, sizeof dir, "%s", INF_TEST_WORK_DIR);
    mkdir(dir, 0755);
    char gguf[512];
    snprintf(gguf, sizeof gguf, "%s/tiny.gguf", dir);
    write_tiny_gguf(gguf);
    inf_set_log_callback(on_log, NULL, INF_LOG_DEBUG);
    test_find_executable();
    test_unavailable(gguf);
    test_bad_files();
    test_early_exit(gguf);
    test_with_fake_server(gguf);
    test_impostors(gguf);
    return tu_summary("test_llama_cpp_child");
}
