/* HTTP transfers with incremental server-sent events (see xfer.h). */
#include "remote/xfer.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remote/proto.h"
#include "core/clock.h"

#define CONNECT_TIMEOUT_MS 10000
#define BACKOFF_FIRST_MS 200
#define BACKOFF_MAX_MS 4000

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_init_rc = -1;

static void do_curl_init(void) {
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

int inf__oai_curl_init(void) {
    pthread_once(&curl_once, do_curl_init);
    return curl_init_rc;
}

/* Loopback never goes through a proxy (the llama_cpp child, local test
 * servers), whatever http_proxy says; the user's no_proxy list is kept. */
static char *noproxy_list(void) {
    const char *env = getenv("no_proxy");
    if (!env || !env[0]) env = getenv("NO_PROXY");
    const char *local = "localhost,127.0.0.1,::1";
    size_t n = strlen(local) + (env ? strlen(env) + 1 : 0) + 1;
    char *s = malloc(n);
    if (!s) return NULL;
    if (env && env[0]) snprintf(s, n, "%s,%s", local, env);
    else snprintf(s, n, "%s", local);
    return s;
}

static void reset_response(inf__oai_xfer *x) {
    x->http_status = 0;
    x->is_sse = 0;
    x->headers_seen = 0;
    inf__sse_free(&x->sse);
    inf__sse_init(&x->sse);
    x->raw_len = 0;
    x->saw_done = 0;
    x->text_bytes = 0; /* a retry starts before the first piece */
    x->finish = NULL;
    x->prompt_tokens = -1;
    x->completion_tokens = -1;
    x->curl_err[0] = '\0';
}

static int push_piece(inf__oai_xfer *x, const char *text, size_t len,
                      int32_t id) {
    if (len > INF__OAI_MAX_TEXT - x->text_bytes) return 1; /* see take_event */
    if (x->q_head + x->q_len == x->q_cap) {
        if (x->q_head > 0) { /* reuse the taken slots at the front */
            memmove(x->q, x->q + x->q_head, x->q_len * sizeof *x->q);
            x->q_head = 0;
        } else {
            size_t nc = x->q_cap ? x->q_cap * 2 : 16;
            inf__oai_piece *nq = realloc(x->q, nc * sizeof *nq);
            if (!nq) return -1;
            x->q = nq;
            x->q_cap = nc;
        }
    }
    char *t = malloc(len + 1);
    if (!t) return -1;
    memcpy(t, text, len);
    t[len] = '\0';
    x->q[x->q_head + x->q_len++] = (inf__oai_piece){t, len, id};
    x->n_pieces++;
    x->text_bytes += len;
    if (!x->got_first) {
        x->got_first = 1;
        x->t_first_ns = inf__now_ns();
    }
    return 0;
}

/* Marks a failure found while data arrives; the transfer ends with it. */
static void fail(inf__oai_xfer *x, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(inf__oai_xfer *x, int code, const char *fmt, ...) {
    if (x->status != INF_OK) return;
    x->status = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->errmsg, sizeof x->errmsg, fmt, ap);
    va_end(ap);
}

/* "8 MiB", "64 KiB": a limit as the messages name it. */
static const char *size_text(size_t n, char *buf, size_t size) {
    if (n >= ((size_t)1 << 20) && n % ((size_t)1 << 20) == 0)
        snprintf(buf, size, "%zu MiB", n >> 20);
    else if (n >= 1024 && n % 1024 == 0)
        snprintf(buf, size, "%zu KiB", n >> 10);
    else
        snprintf(buf, size, "%zu bytes", n);
    return buf;
}

/* Takes in one event's parsed content. 0: go on, 1: stop (error). */
static int take_event(inf__oai_xfer *x, inf__oai_event *ev) {
    if (ev->error) {
        fail(x, INF_E_REMOTE, "server error: %s", ev->error);
        return 1;
    }
    if (ev->done) {
        x->saw_done = 1;
        return 0;
    }
    int pr = ev->text && ev->text_len > 0
                 ? push_piece(x, ev->text, ev->text_len, ev->token_id) : 0;
    if (pr > 0) {
        char lim[32];
        fail(x, INF_E_REMOTE, "the completion from %s exceeds %s of text (the "
             "limit on one request's generated text)", x->url,
             size_text(INF__OAI_MAX_TEXT, lim, sizeof lim));
        return 1;
    }
    if (pr < 0) {
        fail(x, INF_E_NOMEM, "out of memory");
        return 1;
    }
    if (ev->finish) x->finish = ev->finish;
    if (ev->prompt_tokens >= 0) x->prompt_tokens = ev->prompt_tokens;
    if (ev->completion_tokens >= 0) x->completion_tokens = ev->completion_tokens;
    return 0;
}

static int on_event(const char *event, const char *data, size_t len,
                    void *user) {
    inf__oai_xfer *x = user;
    inf__oai_event ev;
    if (strcmp(event, "error") == 0) {
        char *m = inf__oai_error_message(data, len);
        fail(x, INF_E_REMOTE, "server error: %s", m ? m : data);
        free(m);
        return 1;
    }
    inf__oai_parse_event(data, len, x->chat, &ev);
    int rc = take_event(x, &ev);
    inf__oai_event_free(&ev);
    return rc;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *user) {
    inf__oai_xfer *x = user;
    size_t n = size * nmemb;
    if (!x->headers_seen) {
        x->headers_seen = 1;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->http_status);
        char *ct = NULL;
        curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ct);
        x->is_sse = x->http_status >= 200 && x->http_status < 300 && ct &&
                    strstr(ct, "text/event-stream") != NULL;
    }
    if (atomic_load(&x->cancelled)) return 0; /* aborts the transfer */
    if (x->is_sse) {
        int rc = inf__sse_feed(&x->sse, ptr, n, on_event, x);
        char lim[32];
        if (rc == INF__SSE_E_LINE)
            fail(x, INF_E_REMOTE, "the event stream from %s has a line longer "
                 "than %s (the limit on one server-sent-events line)", x->url,
                 size_text(INF__SSE_MAX_LINE, lim, sizeof lim));
        else if (rc == INF__SSE_E_EVENT)
            fail(x, INF_E_REMOTE, "the event stream from %s has an event whose "
                 "data exceeds %s (the limit on one server-sent event)", x->url,
                 size_text(INF__SSE_MAX_EVENT, lim, sizeof lim));
        else if (rc < 0)
            fail(x, INF_E_NOMEM, "out of memory reading the event stream from %s",
                 x->url);
        return rc ? 0 : n;
    }
    /* An error body is only read for its message: a small limit. */
    int is_error = x->http_status < 200 || x->http_status >= 300;
    size_t max = is_error ? INF__OAI_MAX_ERROR_BODY : INF__OAI_MAX_BODY;
    if (n > max - x->raw_len) {
        char lim[32];
        size_text(max, lim, sizeof lim);
        if (is_error)
            fail(x, INF_E_REMOTE, "HTTP %ld from %s with an error body over %s "
                 "(the limit on an error response)", x->http_status, x->url, lim);
        else
            fail(x, INF_E_REMOTE, "the response from %s exceeds %s (the limit on "
                 "a response body)", x->url, lim);
        return 0;
    }
    if (x->raw_len + n + 1 > x->raw_cap) {
        size_t nc = x->raw_cap ? x->raw_cap : 4096;
        while (nc < x->raw_len + n + 1) nc *= 2;
        char *nr = realloc(x->raw, nc);
        if (!nr) {
            fail(x, INF_E_NOMEM, "out of memory");
            return 0;
        }
        x->raw = nr;
        x->raw_cap = nc;
    }
    memcpy(x->raw + x->raw_len, ptr, n);
    x->raw_len += n;
    x->raw[x->raw_len] = '\0';
    return n;
}

inf__oai_xfer *inf__oai_xfer_new(const char *url, const char *body,
                                 const struct curl_slist *headers, int chat,
                                 int64_t timeout_ms, int max_retries) {
    if (inf__oai_curl_init()) return NULL;
    inf__oai_xfer *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    atomic_init(&x->cancelled, 0);
    inf__sse_init(&x->sse);
    x->chat = chat;
    x->timeout_ms = timeout_ms;
    x->max_retries = max_retries;
    x->prompt_tokens = x->completion_tokens = -1;
    x->url = strdup(url);
    x->body = body ? strdup(body) : NULL;
    x->easy = curl_easy_init();
    int ok = x->url && (!body || x->body) && x->easy;
    for (const struct curl_slist *h = headers; ok && h; h = h->next) {
        struct curl_slist *nh = curl_slist_append(x->headers, h->data);
        if (!nh) ok = 0;
        else x->headers = nh;
    }
    char *noproxy = ok ? noproxy_list() : NULL;
    if (!noproxy) ok = 0;
    if (ok) {
        CURL *e = x->easy;
        ok = curl_easy_setopt(e, CURLOPT_URL, x->url) == CURLE_OK;
        curl_easy_setopt(e, CURLOPT_NOPROXY, noproxy); /* curl copies it */
        curl_easy_setopt(e, CURLOPT_PRIVATE, x);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->curl_err);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM */
        curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
        long ct = CONNECT_TIMEOUT_MS;
        if (timeout_ms > 0 && timeout_ms < ct) ct = (long)timeout_ms;
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ct);
        if (timeout_ms > 0) curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
        if (x->body) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                             (curl_off_t)strlen(x->body));
        }
    }
    free(noproxy);
    if (!ok) {
        inf__oai_xfer_free(x);
        return NULL;
    }
    return x;
}

void inf__oai_xfer_free(inf__oai_xfer *x) {
    if (!x) return;
    if (x->easy) curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    free(x->url);
    free(x->body);
    inf__sse_free(&x->sse);
    free(x->raw);
    for (size_t i = 0; i < x->q_len; i++) free(x->q[x->q_head + i].text);
    free(x->q);
    free(x);
}

void inf__oai_xfer_detach(inf__oai_xfer *x, CURLM *multi) {
    if (x && x->in_multi) {
        curl_multi_remove_handle(multi, x->easy);
        x->in_multi = 0;
    }
}

void inf__oai_xfer_cancel(inf__oai_xfer *x) {
    if (x) atomic_store(&x->cancelled, 1);
}

int inf__oai_xfer_pop(inf__oai_xfer *x, inf__oai_piece *out) {
    if (!x || x->q_len == 0) return 0;
    *out = x->q[x->q_head];
    x->q_head++;
    x->q_len--;
    if (x->q_len == 0) x->q_head = 0;
    return 1;
}

/* Ends x with its status; adds the diagnosis hook's context to errors. */
static void finish_xfer(inf__oai_xfer *x, CURLM *multi) {
    inf__oai_xfer_detach(x, multi);
    x->done = 1;
    x->retry_at_ns = 0;
    x->t_end_ns = inf__now_ns();
    if (x->status != INF_OK && x->status != INF_E_CANCELLED && x->diag) {
        size_t used = strlen(x->errmsg);
        x->diag(x->diag_user, x->errmsg + used, sizeof x->errmsg - used);
    }
}

/* Schedules another attempt when allowed; returns 1 when it did. */
static int maybe_retry(inf__oai_xfer *x, CURLM *multi) {
    if (x->got_first || x->attempts >= x->max_retries) return 0;
    inf__oai_xfer_detach(x, multi);
    int64_t ms = BACKOFF_FIRST_MS;
    for (int i = 0; i < x->attempts && ms < BACKOFF_MAX_MS; i++) ms *= 2;
    if (ms > BACKOFF_MAX_MS) ms = BACKOFF_MAX_MS;
    x->attempts++;
    x->retry_at_ns = inf__now_ns() + ms * 1000000;
    x->status = INF_OK;
    x->errmsg[0] = '\0';
    reset_response(x);
    return 1;
}

static int is_connection_error(CURLcode rc) {
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PARTIAL_FILE:
        return 1;
    default:
        return 0;
    }
}

/* A transfer ended at the curl level with rc: decide what it means. */
static void complete(inf__oai_xfer *x, CURLM *multi, CURLcode rc) {
    if (atomic_load(&x->cancelled) && x->status == INF_OK) {
        x->status = INF_E_CANCELLED; /* the write callback aborted it */
        snprintf(x->errmsg, sizeof x->errmsg, "%s", inf_strerror(x->status));
    }
    if (x->status != INF_OK) { /* failed while data arrived */
        finish_xfer(x, multi);
        return;
    }
    if (rc != CURLE_OK) {
        const char *why = x->curl_err[0] ? x->curl_err : curl_easy_strerror(rc);
        if (rc == CURLE_OPERATION_TIMEDOUT) {
            double connect_s = 0;
            curl_easy_getinfo(x->easy, CURLINFO_CONNECT_TIME, &connect_s);
            if (connect_s <= 0 && maybe_retry(x, multi)) return;
            x->status = INF_E_DEADLINE;
            snprintf(x->errmsg, sizeof x->errmsg,
                     "request to %s timed out%s: %s", x->url,
                     x->got_first ? " mid-stream" : "", why);
        } else {
            if (is_connection_error(rc) && maybe_retry(x, multi)) return;
            x->status = INF_E_NETWORK;
            snprintf(x->errmsg, sizeof x->errmsg, "%s %s: %s",
                     x->got_first ? "connection lost mid-stream from"
                                  : "cannot reach", x->url, why);
        }
        finish_xfer(x, multi);
        return;
    }
    if (!x->headers_seen) /* no body at all */
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->http_status);
    if (x->http_status >= 500 && maybe_retry(x, multi)) return;
    if (x->http_status < 200 || x->http_status >= 300) {
        if (x->body == NULL && x->http_status >= 400 && x->http_status < 500)
            goto done; /* GETs: the caller reads the status */
        char *m = inf__oai_error_message(x->raw, x->raw_len);
        x->status = x->http_status == 429 ? INF_E_BUSY : INF_E_REMOTE;
        snprintf(x->errmsg, sizeof x->errmsg, "HTTP %ld from %s: %.400s",
                 x->http_status, x->url,
                 m ? m : x->raw_len ? x->raw : "(no message)");
        free(m);
    } else if (x->is_sse) {
        inf__sse_finish(&x->sse, on_event, x);
        if (x->status == INF_OK && !x->saw_done && !x->finish) {
            x->status = INF_E_REMOTE;
            snprintf(x->errmsg, sizeof x->errmsg,
                     "the event stream from %s ended without a finish "
                     "reason or [DONE] (truncated)", x->url);
        }
    } else if (x->body) {
        /* A server that ignored "stream": the whole completion at once. */
        inf__oai_event ev;
        if (inf__oai_parse_event(x->raw ? x->raw : "", x->raw_len, x->chat,
                                 &ev) != 0)
            fail(x, INF_E_REMOTE, "unexpected response: %s", ev.error);
        else
            take_event(x, &ev);
        inf__oai_event_free(&ev);
    }
done:
    finish_xfer(x, multi);
}

static void start_attempt(inf__oai_xfer *x, CURLM *multi) {
    if (curl_multi_add_handle(multi, x->easy) == CURLM_OK) {
        x->in_multi = 1;
    } else {
        x->status = INF_E_INTERNAL;
        snprintf(x->errmsg, sizeof x->errmsg, "curl could not start a request");
        finish_xfer(x, multi);
    }
}

int inf__oai_pump(CURLM *multi, inf__oai_xfer **xs, size_t n,
                  size_t max_active, int wait_ms) {
    int64_t now = inf__now_ns();
    size_t active = 0;
    for (size_t i = 0; i < n; i++)
        if (xs[i] && !xs[i]->done && (xs[i]->in_multi || xs[i]->retry_at_ns))
            active++;
    int64_t next_retry = 0;
    for (size_t i = 0; i < n; i++) {
        inf__oai_xfer *x = xs[i];
        if (!x || x->done) continue;
        int c = atomic_load(&x->cancelled) ? INF_E_CANCELLED
                                           : inf_cancel_check(x->cancel);
        if (c != INF_OK) {
            x->status = c;
            snprintf(x->errmsg, sizeof x->errmsg, "%s", inf_strerror(c));
            finish_xfer(x, multi);
            continue;
        }
        if (!x->started) {
            if (max_active && active >= max_active) continue;
            x->started = 1;
            x->t_start_ns = now;
            active++;
            start_attempt(x, multi);
        } else if (x->retry_at_ns) {
            if (now >= x->retry_at_ns) {
                x->retry_at_ns = 0;
                start_attempt(x, multi);
            } else if (!next_retry || x->retry_at_ns < next_retry) {
                next_retry = x->retry_at_ns;
            }
        }
    }
    int timeout = wait_ms;
    if (next_retry) {
        int64_t ms = (next_retry - now) / 1000000 + 1;
        if (ms < timeout) timeout = (int)ms;
    }
    if (timeout > 0 && curl_multi_poll(multi, NULL, 0, timeout, NULL) != CURLM_OK)
        return INF_E_INTERNAL;
    int running = 0;
    if (curl_multi_perform(multi, &running) != CURLM_OK) return INF_E_INTERNAL;
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        inf__oai_xfer *x = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        CURLcode rc = msg->data.result;
        if (x) complete(x, multi, rc);
    }
    return INF_OK;
}

int inf__oai_simple(const char *url, const struct curl_slist *headers,
                    int64_t timeout_ms, int max_retries, long *http,
                    char **body, char *errmsg, size_t size) {
    if (http) *http = 0;
    if (body) *body = NULL;
    if (errmsg && size) errmsg[0] = '\0';
    if (inf__oai_curl_init()) {
        if (errmsg) snprintf(errmsg, size, "libcurl failed to initialise");
        return INF_E_INTERNAL;
    }
    CURLM *multi = curl_multi_init();
    inf__oai_xfer *x = multi ? inf__oai_xfer_new(url, NULL, headers, 0,
                                                 timeout_ms, max_retries)
                             : NULL;
    if (!x) {
        if (multi) curl_multi_cleanup(multi);
        if (errmsg) snprintf(errmsg, size, "out of memory");
        return INF_E_NOMEM;
    }
    int rc = INF_OK;
    while (!x->done && rc == INF_OK) rc = inf__oai_pump(multi, &x, 1, 0, 100);
    if (rc == INF_OK) rc = x->status;
    if (rc != INF_OK && errmsg)
        snprintf(errmsg, size, "%s", x->errmsg[0] ? x->errmsg : inf_strerror(rc));
    if (http) *http = x->http_status;
    if (body && x->raw) {
        *body = x->raw;
        x->raw = NULL;
    }
    inf__oai_xfer_detach(x, multi);
    inf__oai_xfer_free(x);
    curl_multi_cleanup(multi);
    return rc;
}
