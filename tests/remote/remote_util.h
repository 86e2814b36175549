/* Helpers for the remote-backend tests: child processes (a scripted Python
 * server, `inference serve`), free loopback ports, and plain HTTP GETs. */
#ifndef INF_TEST_REMOTE_UTIL_H
#define INF_TEST_REMOTE_UTIL_H

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static inline double ru_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void ru_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A loopback TCP port that was free a moment ago (bind to port 0). */
static inline int ru_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* Starts argv[0] with argv; its stdout goes to a pipe whose read end is
 * stored in *out_fd (when out_fd is not NULL, else to /dev/null); stderr
 * goes to the file err_path (or is inherited when NULL).  Returns the pid or
 * -1. */
static inline pid_t ru_spawn(char *const argv[], int *out_fd,
                             const char *err_path) {
    int p[2] = {-1, -1};
    if (out_fd && pipe(p) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(out_fd ? p[1] : devnull, 1);
        if (err_path) {
            int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (e >= 0) dup2(e, 2);
        }
        setpgid(0, 0); /* its own group: the test can stop it and children */
        execvp(argv[0], argv);
        _exit(127);
    }
    if (out_fd) {
        close(p[1]);
        *out_fd = p[0];
    }
    return pid;
}

/* Reads one line from fd (up to size-1 bytes) within timeout_s; returns
 * its length or -1. */
static inline int ru_read_line(int fd, char *buf, size_t size, double timeout_s) {
    size_t n = 0;
    double end = ru_now() + timeout_s;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    while (n + 1 < size && ru_now() < end) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r == 1) {
            if (c == '\n') break;
            buf[n++] = c;
        } else if (r == 0) {
            return -1;
        } else if (errno == EAGAIN) {
            ru_sleep_ms(20);
        } else {
            return -1;
        }
    }
    buf[n] = '\0';
    return n ? (int)n : -1;
}

/* Stops a child started by ru_spawn (SIGTERM to its group, then SIGKILL). */
static inline void ru_stop(pid_t pid) {
    if (pid <= 0) return;
    kill(-pid, SIGTERM);
    for (int i = 0; i < 100; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid) return;
        ru_sleep_ms(50);
    }
    kill(-pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

typedef struct ru_buf {
    char *data;
    size_t len;
} ru_buf;

static size_t ru_write_(char *p, size_t s, size_t n, void *u) {
    ru_buf *b = u;
    char *nd = realloc(b->data, b->len + s * n + 1);
    if (!nd) return 0;
    memcpy(nd + b->len, p, s * n);
    b->data = nd;
    b->len += s * n;
    b->data[b->len] = '\0';
    return s * n;
}

/* GET url; returns the HTTP status (0 when unreachable) and the body in
 * *body (malloc'd, may be NULL). */
static inline long ru_get(const char *url, char **body) {
    CURL *c = curl_easy_init();
    ru_buf b = {NULL, 0};
    long code = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ru_write_);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    if (body) *body = b.data;
    else free(b.data);
    return code;
}

/* Polls url until it answers 200 or timeout_s passes; 1 when it did. */
static inline int ru_wait_http(const char *url, double timeout_s, pid_t child) {
    double end = ru_now() + timeout_s;
    while (ru_now() < end) {
        if (ru_get(url, NULL) == 200) return 1;
        if (child > 0 && waitpid(child, NULL, WNOHANG) == child) return 0;
        ru_sleep_ms(100);
    }
    return 0;
}

#endif
