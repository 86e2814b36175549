/* libFuzzer target for the server's request path: an HTTP body as a client
 * sends it to /v1/completions or /v1/chat/completions, through
 * inf__srv_request_parse (tools/server/request.c, structured.c) into
 * generation options.  Input: one byte choosing the endpoint, then the
 * body.  Checks the parser's contract beyond "no crash, no leak":
 *   - a rejected body gets a 4xx status, an error type and a message;
 *   - an accepted one yields options that the library itself accepts
 *     (inf_generate_options_check), so that nothing the server lets through
 *     can be refused later by Generate as an invalid argument, and n within
 *     1..parallel. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inference.h"
#include "server/request.h"

static inf__srv_config cfg;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (!cfg.max_body) {
        inf__srv_config_default(&cfg);
        cfg.model_id = "brown-llama-8m";
    }
    int chat = data[0] & 1;
    inf__srv_request r;
    inf__srv_error err;
    memset(&err, 0, sizeof err);
    unsigned status = inf__srv_request_parse((const char *)data + 1, size - 1, chat, &cfg, &r, &err);
    if (status) {
        if (status < 400 || status > 599 || !err.type || !err.message[0]) abort();
        return 0;
    }
    char *msg = NULL;
    if (inf_generate_options_check(&r.opts, &msg) != INF_OK) abort();
    if (r.n < 1 || r.n > cfg.parallel) abort();
    if (chat ? (r.n_msgs == 0 || !r.msgs) : (!r.prompt && !r.n_prompt_ids)) abort();
    inf__srv_request_free(&r);
    return 0;
}
