#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static inf_log_fn log_fn;
static void *log_user;
static inf_log_level log_min = INF_LOG_INFO;

void inf_set_log_callback(inf_log_fn fn, void *user, inf_log_level min_level) {
    pthread_mutex_lock(&log_mu);
    log_fn = fn;
    log_user = user;
    log_min = min_level;
    pthread_mutex_unlock(&log_mu);
}

void inf__log(inf_log_level level, const char *fmt, ...) {
    pthread_mutex_lock(&log_mu);
    inf_log_fn fn = log_fn;
    void *user = log_user;
    inf_log_level min = log_min;
    pthread_mutex_unlock(&log_mu);
    if (!fn || level < min) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fn(level, buf, user);
}
