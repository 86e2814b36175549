/* The backend registry: the backends built into the library register
 * on first use, before any other; programs add their own with
 * inf_backend_register().  The core names no backend: the built-in list
 * and the default preference come from inf__builtin_backends
 * (core/registry.h), defined above the core (src/backends/builtin.c). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/registry.h"
#include "core/util.h"
#include "inference_backend.h"

#define INF__MAX_BACKENDS 32

/* A weak reference: programs that link the core without the backends
 * (tests/core) have no built-in list.  The static archive is one partially
 * linked object so that this resolves there too (top-level CMakeLists.txt). */
extern const inf__builtin_list *inf__builtin_backends(void) __attribute__((weak));

static const inf__builtin_list *builtins(void) {
    static const inf__builtin_list none = {NULL, 0, NULL, 0};
    const inf__builtin_list *l = inf__builtin_backends ? inf__builtin_backends() : NULL;
    return l ? l : &none;
}

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;
/* Entries are heap-allocated so pointers handed out stay valid while
 * others are added or removed. */
static inf_backend *reg[INF__MAX_BACKENDS];
static size_t reg_n;

static int add_locked(const inf_backend *b) {
    if (!b || !b->name || !b->name[0] || !b->load || !b->available)
        return INF_E_INVALID_ARGUMENT;
    for (size_t i = 0; i < reg_n; i++)
        if (strcmp(reg[i]->name, b->name) == 0) return INF_E_INVALID_ARGUMENT;
    if (reg_n == INF__MAX_BACKENDS) return INF_E_LIMIT;
    inf_backend *copy = malloc(sizeof *copy);
    if (!copy) return INF_E_NOMEM;
    *copy = *b;
    reg[reg_n++] = copy;
    return INF_OK;
}

static void register_builtins(void) {
    const inf__builtin_list *l = builtins();
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < l->n; i++)
        if (l->backends[i]) add_locked(l->backends[i]);
    pthread_mutex_unlock(&reg_mu);
}

static void ensure_init(void) { pthread_once(&reg_once, register_builtins); }

int inf_backend_register(const inf_backend *b) {
    ensure_init();
    pthread_mutex_lock(&reg_mu);
    int rc = add_locked(b);
    pthread_mutex_unlock(&reg_mu);
    return rc;
}

int inf_backend_unregister(const char *name) {
    if (!name) return INF_E_INVALID_ARGUMENT;
    ensure_init();
    int rc = INF_E_BACKEND_NOT_REGISTERED;
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < reg_n; i++) {
        if (strcmp(reg[i]->name, name) == 0) {
            free(reg[i]);
            memmove(&reg[i], &reg[i + 1], (reg_n - i - 1) * sizeof reg[0]);
            reg_n--;
            rc = INF_OK;
            break;
        }
    }
    pthread_mutex_unlock(&reg_mu);
    return rc;
}

const inf_backend *inf_backend_get(const char *name) {
    if (!name) return NULL;
    ensure_init();
    const inf_backend *found = NULL;
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < reg_n; i++)
        if (strcmp(reg[i]->name, name) == 0) found = reg[i];
    pthread_mutex_unlock(&reg_mu);
    return found;
}

size_t inf_backend_count(void) {
    ensure_init();
    pthread_mutex_lock(&reg_mu);
    size_t n = reg_n;
    pthread_mutex_unlock(&reg_mu);
    return n;
}

const inf_backend *inf_backend_at(size_t i) {
    ensure_init();
    pthread_mutex_lock(&reg_mu);
    const inf_backend *b = i < reg_n ? reg[i] : NULL;
    pthread_mutex_unlock(&reg_mu);
    return b;
}

const char *inf_backend_name(const inf_backend *b) {
    return b && b->name ? b->name : "";
}

const char *inf_backend_description(const inf_backend *b) {
    return b && b->description ? b->description : "";
}

int inf_backend_available(const inf_backend *b, char *why, size_t why_size) {
    if (why && why_size) why[0] = '\0';
    if (!b || !b->available) return 0;
    return b->available(b->user, why, why_size) ? 1 : 0;
}

const inf_backend *inf_backend_default(char **errmsg) {
    if (errmsg) *errmsg = NULL;
    size_t n = inf_backend_count();
    if (n == 0) {
        if (errmsg) *errmsg = inf__strdup("no backends registered");
        return NULL;
    }
    /* The documented preference (the built-in list's); the rest follow in
     * registration order. */
    const inf__builtin_list *l = builtins();
    for (size_t p = 0; p < l->n_preferred; p++) {
        const inf_backend *b = inf_backend_get(l->preferred[p]);
        if (b && inf_backend_available(b, NULL, 0)) return b;
    }
    for (size_t i = 0; i < n; i++) {
        const inf_backend *b = inf_backend_at(i);
        if (b && inf_backend_available(b, NULL, 0)) return b;
    }
    if (errmsg) {
        /* Say why each one is unavailable. */
        char buf[1024];
        size_t used = (size_t)snprintf(buf, sizeof buf,
                                       "no registered backend is available:");
        for (size_t i = 0; i < n && used < sizeof buf; i++) {
            const inf_backend *b = inf_backend_at(i);
            char why[256];
            if (!b) continue;
            inf_backend_available(b, why, sizeof why);
            used += (size_t)snprintf(buf + used, sizeof buf - used, " %s (%s)%s",
                                     b->name, why[0] ? why : "unavailable",
                                     i + 1 < n ? ";" : "");
        }
        *errmsg = inf__strdup(buf);
    }
    return NULL;
}

int inf__backend_resolve(const char *name, const inf_backend **out,
                         inf__err *err) {
    *out = NULL;
    if (name && name[0]) {
        const inf_backend *b = inf_backend_get(name);
        if (!b) {
            if (inf_backend_count() == 0)
                return inf__seterr(err, INF_E_NO_BACKENDS,
                                   "no backends registered");
            return inf__seterr(err, INF_E_BACKEND_NOT_REGISTERED,
                               "backend \"%s\" not registered", name);
        }
        char why[256];
        if (!inf_backend_available(b, why, sizeof why))
            return inf__seterr(err, INF_E_BACKEND_UNAVAILABLE,
                               "backend \"%s\" not available on this hardware%s%s",
                               name, why[0] ? ": " : "", why);
        *out = b;
        return INF_OK;
    }
    char *msg = NULL;
    const inf_backend *b = inf_backend_default(&msg);
    if (!b) {
        int code = inf_backend_count() == 0 ? INF_E_NO_BACKENDS
                                            : INF_E_BACKEND_UNAVAILABLE;
        inf__seterr(err, code, "%s", msg ? msg : "no backend available");
        free(msg);
        return code;
    }
    *out = b;
    return INF_OK;
}
