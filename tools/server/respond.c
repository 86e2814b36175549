/* Response helpers (see respond.h). */
#include "server/respond.h"

#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

unsigned inf__srv_errorf(inf__srv_error *e, unsigned status, const char *type,
                         const char *param, const char *code,
                         const char *fmt, ...) {
    e->status = status;
    e->type = type;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    snprintf(e->code, sizeof e->code, "%s", code ? code : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return status;
}

json_t *inf__srv_error_json(const inf__srv_error *e) {
    return json_pack("{s:{s:s, s:s, s:o, s:o}}", "error",
                     "message", e->message,
                     "type", e->type ? e->type : "server_error",
                     "param", e->param[0] ? json_string(e->param) : json_null(),
                     "code", e->code[0] ? json_string(e->code) : json_null());
}

static _Thread_local const char *tls_cors_origin;

void inf__srv_cors_set(const char *origin) { tls_cors_origin = origin; }

void inf__srv_common_headers(struct MHD_Response *r, const char *ctype) {
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (tls_cors_origin) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", tls_cors_origin);
        MHD_add_response_header(r, "Vary", "Origin");
    }
}

unsigned inf__srv_send_bytes(struct MHD_Connection *c, unsigned status,
                             const char *ctype, const void *body, size_t len) {
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return 0;
    inf__srv_common_headers(r, ctype);
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok == MHD_YES ? status : 0;
}

unsigned inf__srv_send_json(struct MHD_Connection *c, unsigned status,
                            json_t *obj) {
    char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (!s) {
        static const char oom[] =
            "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\","
            "\"param\":null,\"code\":null}}";
        return inf__srv_send_bytes(c, 500, "application/json", oom,
                                   sizeof oom - 1);
    }
    size_t n = strlen(s);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(n, s, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(s);
        return 0;
    }
    inf__srv_common_headers(r, "application/json");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok == MHD_YES ? status : 0;
}

unsigned inf__srv_send_error(struct MHD_Connection *c,
                             const inf__srv_error *e) {
    json_t *obj = inf__srv_error_json(e);
    char *body = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (!body) return inf__srv_send_bytes(c, 500, "application/json", "{}", 2);
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return 0;
    }
    inf__srv_common_headers(r, "application/json");
    if (e->status == 503 || e->status == 429)
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (e->status == 401)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    enum MHD_Result ok = MHD_queue_response(c, e->status, r);
    MHD_destroy_response(r);
    return ok == MHD_YES ? e->status : 0;
}
