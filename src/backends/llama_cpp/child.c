/* Child-process management for the llama_cpp backend (see child.h). */
#include "backends/llama_cpp/child.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"

extern char **environ;

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* environ with extra_env's variables replacing or added: a malloc'd array
 * of borrowed strings, or NULL when out of memory. */
static char **merged_env(const char *const extra_env[]) {
    size_t n = 0, k = 0;
    while (environ && environ[n]) n++;
    while (extra_env && extra_env[k]) k++;
    char **env = malloc((n + k + 1) * sizeof *env);
    if (!env) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int replaced = 0;
        for (size_t j = 0; j < k && !replaced; j++) {
            const char *eq = strchr(extra_env[j], '=');
            size_t nl = eq ? (size_t)(eq - extra_env[j]) : strlen(extra_env[j]);
            replaced = strncmp(environ[i], extra_env[j], nl) == 0 && environ[i][nl] == '=';
        }
        if (!replaced) env[o++] = environ[i];
    }
    for (size_t j = 0; j < k; j++) env[o++] = (char *)extra_env[j];
    env[o] = NULL;
    return env;
}

int inf__child_start(inf__child *c, char *const argv[],
                     const char *const extra_env[]) {
    memset(c, 0, sizeof *c);
    c->pid = -1;
    c->log_fd = -1;
    char **env = merged_env(extra_env);
    if (!env) return ENOMEM;
    pthread_mutex_init(&c->mu, NULL);
    const char *tmp = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/inf-llama-server-XXXXXX",
             tmp && tmp[0] ? tmp : "/tmp");
    /* Close-on-exec, so other children of this process do not inherit it;
     * the dup2 below gives llama-server its own descriptors. */
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        pthread_mutex_destroy(&c->mu);
        free(env);
        return e;
    }
    unlink(path); /* the file lives while descriptors point at it */
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fd, 1);
    posix_spawn_file_actions_adddup2(&fa, fd, 2);
    /* No other descriptor of ours (sockets, model files) leaks into it. */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    /* Default signal dispositions and mask, whatever the host program set,
     * and its own process group so a terminal's Ctrl-C reaches only us
     * (we then stop it in close). */
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF |
                                        POSIX_SPAWN_SETPGROUP);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, &attr, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    free(env);
    if (rc != 0) {
        close(fd);
        pthread_mutex_destroy(&c->mu);
        return rc;
    }
    c->pid = pid;
    c->log_fd = fd;
    return 0;
}

int inf__child_exited(inf__child *c) {
    pthread_mutex_lock(&c->mu);
    if (!c->exited && c->pid > 0) {
        int st;
        pid_t r = waitpid(c->pid, &st, WNOHANG);
        if (r == c->pid) {
            c->exited = 1;
            c->wstatus = st;
        } else if (r < 0 && errno == ECHILD) {
            /* Reaped elsewhere (a SIGCHLD handler of the program). */
            c->exited = 1;
            c->wstatus = -1;
        }
    }
    int e = c->exited;
    pthread_mutex_unlock(&c->mu);
    return e;
}

void inf__child_describe_exit(const inf__child *c, char *buf, size_t size) {
    if (!c->exited) snprintf(buf, size, "still running");
    else if (c->wstatus == -1) snprintf(buf, size, "exited (status unknown)");
    else if (WIFEXITED(c->wstatus))
        snprintf(buf, size, "exit status %d", WEXITSTATUS(c->wstatus));
    else if (WIFSIGNALED(c->wstatus))
        snprintf(buf, size, "killed by signal %d (%s)", WTERMSIG(c->wstatus),
                 strsignal(WTERMSIG(c->wstatus)));
    else snprintf(buf, size, "ended (wait status %d)", c->wstatus);
}

void inf__child_log_tail(const inf__child *c, int max_lines, char *buf,
                         size_t size) {
    if (size) buf[0] = '\0';
    struct stat st;
    if (c->log_fd < 0 || size < 8 || fstat(c->log_fd, &st) != 0 || st.st_size == 0)
        return;
    char tail[4096];
    off_t from = st.st_size > (off_t)sizeof tail - 1
                     ? st.st_size - (off_t)sizeof tail + 1 : 0;
    ssize_t n = pread(c->log_fd, tail, sizeof tail - 1, from);
    if (n <= 0) return;
    tail[n] = '\0';
    /* Walk back over max_lines non-empty lines. */
    ssize_t end = n;
    while (end > 0 && (tail[end - 1] == '\n' || tail[end - 1] == '\r')) end--;
    ssize_t start = end;
    int lines = 0;
    while (start > 0 && lines < max_lines) {
        start--;
        if (tail[start] == '\n') {
            lines++;
            if (lines == max_lines) { start++; break; }
        }
    }
    size_t o = 0;
    for (ssize_t i = start; i < end && o + 4 < size; i++) {
        char ch = tail[i];
        if (ch == '\r') continue;
        if (ch == '\n') {
            if (o + 4 >= size) break;
            memcpy(buf + o, " | ", 3);
            o += 3;
        } else {
            buf[o++] = ch;
        }
    }
    buf[o] = '\0';
}

void inf__child_stop(inf__child *c, int grace_ms) {
    if (c->pid <= 0) return;
    if (!inf__child_exited(c)) {
        kill(c->pid, SIGTERM);
        for (int waited = 0; waited < grace_ms; waited += 20) {
            if (inf__child_exited(c)) break;
            sleep_ms(20);
        }
        if (!inf__child_exited(c)) {
            kill(c->pid, SIGKILL);
            pthread_mutex_lock(&c->mu);
            if (!c->exited) {
                int st;
                if (waitpid(c->pid, &st, 0) == c->pid) c->wstatus = st;
                c->exited = 1;
            }
            pthread_mutex_unlock(&c->mu);
        }
    }
    if (c->log_fd >= 0) close(c->log_fd);
    c->log_fd = -1;
    c->pid = -1;
    pthread_mutex_destroy(&c->mu);
}

int inf__free_loopback_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0; /* the kernel picks a free one */
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

char *inf__find_executable(const char *name) {
    if (!name || !name[0]) return NULL;
    if (strchr(name, '/'))
        return access(name, X_OK) == 0 ? inf__strdup(name) : NULL;
    const char *path = getenv("PATH");
    if (!path || !path[0]) return NULL; /* an empty PATH finds nothing */
    for (;;) {
        const char *colon = strchr(path, ':');
        size_t dl = colon ? (size_t)(colon - path) : strlen(path);
        /* An empty entry (leading, doubled or trailing ':') is the current
         * directory, as for execvp. */
        char *dir = dl ? inf__strndup(path, dl) : inf__strdup(".");
        char *full = dir ? inf__path_join(dir, name) : NULL;
        free(dir);
        if (!full) return NULL;
        struct stat st;
        if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0)
            return full;
        free(full);
        if (!colon) break;
        path = colon + 1;
    }
    return NULL;
}

int inf__random_hex(char *out, size_t n_bytes) {
    unsigned char buf[64];
    if (n_bytes > sizeof buf) return EINVAL;
    size_t got = 0;
    while (got < n_bytes) {
        ssize_t r = getrandom(buf + got, n_bytes - got, 0);
        if (r > 0) got += (size_t)r;
        else if (r < 0 && errno == EINTR) continue;
        else break;
    }
    if (got < n_bytes) { /* no getrandom (old kernel, seccomp): the device */
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (fd < 0) return errno;
        got = 0;
        while (got < n_bytes) {
            ssize_t r = read(fd, buf + got, n_bytes - got);
            if (r > 0) got += (size_t)r;
            else if (r < 0 && errno == EINTR) continue;
            else break;
        }
        close(fd);
        if (got < n_bytes) return EIO;
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n_bytes; i++) {
        out[2 * i] = hex[buf[i] >> 4];
        out[2 * i + 1] = hex[buf[i] & 15];
    }
    out[2 * n_bytes] = '\0';
    return 0;
}
