#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *inf__strdup(const char *s) { return s ? inf__strndup(s, strlen(s)) : NULL; }

char *inf__strndup(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    if (n) memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *inf__strdup_or_empty(const char *s) { return inf__strdup(s ? s : ""); }

char *inf__path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    int slash = a > 0 && dir[a - 1] == '/';
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    if (!slash) p[a++] = '/';
    memcpy(p + a, name, b + 1);
    return p;
}

int inf__read_file(const char *path, size_t max_bytes, char **buf,
                   size_t *len, inf__err *err) {
    *buf = NULL;
    *len = 0;
    if (!max_bytes) max_bytes = INF__READ_FILE_MAX;
    /* O_NONBLOCK: opening a FIFO put in place of a file would otherwise
     * wait for a writer for ever; the check below then refuses it.  (It
     * changes nothing for the regular file that is read.) */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return inf__seterr(err, errno == ENOENT ? INF_E_NOT_FOUND : INF_E_IO,
                           "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return inf__seterr(err, INF_E_IO, "%s: not a regular file", path);
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return inf__seterr(err, INF_E_NOMEM, "%s: out of memory", path);
    }
    /* Read in growing steps rather than trusting st_size: the file may
     * change while it is read. */
    char *b = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (cap - n < 4096) {
            size_t ncap = cap ? 2 * cap : ((size_t)st.st_size + 4097);
            if (n > max_bytes) break;
            char *nb = realloc(b, ncap);
            if (!nb) {
                fclose(f);
                free(b);
                return inf__seterr(err, INF_E_NOMEM, "%s: out of memory", path);
            }
            b = nb;
            cap = ncap;
        }
        errno = 0;
        size_t r = fread(b + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    int bad = ferror(f), read_errno = errno;
    fclose(f);
    if (n > max_bytes) {
        free(b);
        return inf__seterr(err, INF_E_LIMIT, "%s: larger than %zu bytes", path,
                           max_bytes);
    }
    if (bad) {
        free(b);
        return inf__seterr(err, INF_E_IO, "%s: read error: %s", path,
                           read_errno ? strerror(read_errno) : "unknown");
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return INF_OK;
}

int inf__utf8_step(const uint8_t *s, size_t n) {
    uint8_t c = s[0];
    if (c < 0x80) return 1;
    int need;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c == 0xE0) { need = 2; lo = 0xA0; }
    else if (c >= 0xE1 && c <= 0xEC) need = 2;
    else if (c == 0xED) { need = 2; hi = 0x9F; }
    else if (c >= 0xEE && c <= 0xEF) need = 2;
    else if (c == 0xF0) { need = 3; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) need = 3;
    else if (c == 0xF4) { need = 3; hi = 0x8F; }
    else return -1;
    for (int i = 1; i <= need; i++) {
        if ((size_t)i >= n) return -i;
        uint8_t d = s[i];
        if (i == 1 ? (d < lo || d > hi) : (d < 0x80 || d > 0xBF)) return -i;
    }
    return need + 1;
}

size_t inf__utf8_valid_prefix(const char *s, size_t n) {
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) { i++; continue; }
        int k = inf__utf8_step(u + i, n - i);
        if (k < 0) return i;
        i += (size_t)k;
    }
    return n;
}

size_t inf_utf8_valid_prefix(const char *s, size_t n) {
    return s ? inf__utf8_valid_prefix(s, n) : 0;
}
