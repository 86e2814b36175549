/* Weight files mapped or copied into private memory (see wmap.h). */
#include "model/wmap.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* One read(2) moves at most this much: Linux stops a single read at
 * 0x7ffff000 bytes anyway, and smaller steps keep a signal's EINTR cheap. */
#define WMAP_STEP ((size_t)1 << 28)

static int copy_fd(int fd, size_t size, const char *path, void **out, inf__err *err) {
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return inf__seterr(err, INF_E_NOMEM, "%s: cannot allocate %zu bytes to copy the weights",
                           path, size);
#ifdef MADV_HUGEPAGE
    /* Fewer page faults while the copy is written and fewer TLB misses in
     * the matmuls that stream it.  Advisory; failure changes nothing. */
    madvise(m, size, MADV_HUGEPAGE);
#endif
    /* Larger read-ahead: the whole file is read once, front to back. */
    posix_fadvise(fd, 0, (off_t)size, POSIX_FADV_SEQUENTIAL);
    size_t done = 0;
    while (done < size) {
        size_t step = size - done < WMAP_STEP ? size - done : WMAP_STEP;
        ssize_t r = pread(fd, (char *)m + done, step, (off_t)done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int e = errno;
            munmap(m, size);
            if (r == 0)
                return inf__seterr(err, INF_E_IO,
                                   "%s: the file shrank while it was read (%zu of %zu bytes)",
                                   path, done, size);
            return inf__seterr(err, INF_E_IO, "%s: read error: %s", path, strerror(e));
        }
        done += (size_t)r;
    }
    /* Read-only from here, as a mapping of the file would be: a stray
     * write into the weights faults instead of corrupting them. */
    if (mprotect(m, size, PROT_READ) != 0) {
        int e = errno;
        munmap(m, size);
        return inf__seterr(err, INF_E_NOMEM, "%s: mprotect failed: %s", path, strerror(e));
    }
    *out = m;
    return INF_OK;
}

int inf__wmap_fd(int fd, size_t size, unsigned flags, const char *path, void **out,
                 inf__err *err) {
    *out = NULL;
    if (flags & INF__WMAP_COPY) return copy_fd(fd, size, path, out, err);
    void *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED)
        return inf__seterr(err, INF_E_IO, "%s: mmap failed: %s", path, strerror(errno));
    *out = m;
    return INF_OK;
}
