/* Unit tests of request parsing (tools/server/request.c): fields map onto
 * inf_generate_options, defaults apply, every malformed body is a 4xx
 * naming the field, and random corruptions of valid bodies never crash
 * (run under the sanitizers in the sanitizer pass). */
#include <stdint.h>

#include "server/request.h"
#include "testutil.h"

static inf__srv_config cfg;

static unsigned parse(const char *body, int chat, inf__srv_request *r, inf__srv_error *e) {
    memset(e, 0, sizeof *e);
    return inf__srv_request_parse(body, strlen(body), chat, &cfg, r, e);
}

/* Expects body to fail with status and param ("" = null). */
static void bad(const char *body, int chat, unsigned status, const char *param) {
    inf__srv_request r;
    inf__srv_error e;
    unsigned st = parse(body, chat, &r, &e);
    CHECK_MSG(st == status, "%s -> %u, expected %u (%s)", body, st, status, e.message);
    CHECK_MSG(strcmp(e.param, param) == 0, "%s -> param '%s', expected '%s'", body, e.param, param);
    CHECK_MSG(e.message[0] != '\0', "%s -> a message", body);
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

int main(void) {
    inf__srv_config_default(&cfg);
    cfg.model_id = "brown";
    cfg.max_messages = 4;
    cfg.max_tokens_limit = 100;
    cfg.default_max_tokens = 50;
    cfg.sampling.temperature = 0.5f; /* as a model's generation defaults */

    inf__srv_request r;
    inf__srv_error e;
    /* A full chat request. */
    CHECK_EQ_INT(parse("{\"model\":\"brown\",\"messages\":[{\"role\":\"developer\",\"content\":\"be brief\"},"
                       "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]},"
                       "{\"role\":\"assistant\",\"content\":null}],"
                       "\"temperature\":0.7,\"top_p\":0.9,\"top_k\":40,\"min_p\":0.05,\"repeat_penalty\":1.1,"
                       "\"seed\":42,\"max_completion_tokens\":7,\"stop\":[\"x\",\"yy\"],\"stream\":true,"
                       "\"stream_options\":{\"include_usage\":true},\"user\":\"ignored\",\"n\":1}",
                       1, &r, &e), 0);
    CHECK_EQ_INT(r.n_msgs, 3);
    CHECK_EQ_STR(r.msgs[0].role, "system");
    CHECK_EQ_STR(r.msgs[0].content, "be brief");
    CHECK_EQ_STR(r.msgs[1].content, "ab");
    CHECK_EQ_STR(r.msgs[2].role, "assistant");
    CHECK_EQ_STR(r.msgs[2].content, "");
    CHECK_NEAR(r.opts.temperature, 0.7, 1e-6);
    CHECK_NEAR(r.opts.top_p, 0.9, 1e-6);
    CHECK_EQ_INT(r.opts.top_k, 40);
    CHECK_NEAR(r.opts.min_p, 0.05, 1e-6);
    CHECK_NEAR(r.opts.repeat_penalty, 1.1, 1e-6);
    CHECK_EQ_INT(r.opts.seed, 42);
    CHECK_EQ_INT(r.opts.max_tokens, 7);
    CHECK_EQ_INT(r.opts.n_stop_strings, 2);
    CHECK_EQ_STR(r.opts.stop_strings[1], "yy");
    CHECK_EQ_INT(r.stream, 1);
    CHECK_EQ_INT(r.include_usage, 1);
    CHECK_EQ_INT(r.n, 1);
    CHECK(r.opts.presence_penalty == 0 && r.opts.frequency_penalty == 0 && !r.opts.n_logit_bias);
    inf__srv_request_free(&r);
    /* OpenAI's sampling fields (issue 16) reach the options. */
    CHECK_EQ_INT(parse("{\"prompt\":\"a\",\"n\":3,\"presence_penalty\":-0.5,\"frequency_penalty\":1.25,"
                       "\"logit_bias\":{\"42\":-100,\"7\":2.5},\"echo\":true}", 0, &r, &e), 0);
    CHECK_EQ_INT(r.n, 3);
    CHECK_EQ_INT(r.echo, 1);
    CHECK_NEAR(r.opts.presence_penalty, -0.5, 1e-6);
    CHECK_NEAR(r.opts.frequency_penalty, 1.25, 1e-6);
    CHECK_EQ_INT(r.opts.n_logit_bias, 2);
    for (size_t i = 0; i < r.opts.n_logit_bias; i++) {
        int32_t id = r.opts.logit_bias_ids[i];
        CHECK(id == 42 || id == 7);
        CHECK_NEAR(r.opts.logit_bias_values[i], id == 42 ? -100.0 : 2.5, 1e-6);
    }
    inf__srv_request_free(&r);
    inf__srv_request_free(&r); /* twice is fine */

    /* Defaults: sampling from the config, max_tokens default, no model. */
    CHECK_EQ_INT(parse("{\"prompt\":\"hi\",\"stop\":\"end\"}", 0, &r, &e), 0);
    CHECK_EQ_STR(r.prompt, "hi");
    CHECK_NEAR(r.opts.temperature, 0.5, 1e-6);
    CHECK_EQ_INT(r.opts.max_tokens, 50);
    CHECK_EQ_INT(r.opts.n_stop_strings, 1);
    CHECK_EQ_STR(r.opts.stop_strings[0], "end");
    CHECK_EQ_INT(r.stream, 0);
    CHECK(r.opts.seed == INF_SEED_RANDOM); /* no seed: a random one */
    inf__srv_request_free(&r);
    /* A seed is passed through as given: 0 is a fixed seed like any other,
     * -1 is INF_SEED_RANDOM. */
    CHECK_EQ_INT(parse("{\"prompt\":\"hi\",\"seed\":0,\"max_tokens\":3}", 0, &r, &e), 0);
    CHECK(r.opts.seed == 0);
    CHECK_EQ_INT(r.opts.max_tokens, 3);
    inf__srv_request_free(&r);
    CHECK_EQ_INT(parse("{\"prompt\":\"hi\",\"seed\":-1}", 0, &r, &e), 0);
    CHECK(r.opts.seed == INF_SEED_RANDOM);
    inf__srv_request_free(&r);
    /* The sampling ranges are the library's table (inf_generate_option_bound):
     * its bounds are accepted, values just outside them are 400s. */
    {
        const char *fields[][2] = {{"temperature", "temperature"}, {"top_p", "top_p"},
                                   {"min_p", "min_p"}, {"top_k", "top_k"},
                                   {"repeat_penalty", "repeat_penalty"}};
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
            const inf_option_bound *b = inf_generate_option_bound(fields[i][1]);
            CHECK_MSG(b != NULL, "a library bound for %s", fields[i][1]);
            if (!b) continue;
            char body[256];
            snprintf(body, sizeof body, "{\"prompt\":\"a\",\"%s\":%.17g}", fields[i][0], b->max);
            CHECK_MSG(parse(body, 0, &r, &e) == 0, "%s: %s", body, e.message);
            inf__srv_request_free(&r);
            snprintf(body, sizeof body, "{\"prompt\":\"a\",\"%s\":%.17g}", fields[i][0], b->min);
            CHECK_MSG(parse(body, 0, &r, &e) == 0, "%s: %s", body, e.message);
            inf__srv_request_free(&r);
            snprintf(body, sizeof body, "{\"prompt\":\"a\",\"%s\":%.17g}", fields[i][0],
                     b->max + (b->is_integer ? 1 : b->max * 0.01 + 0.01));
            bad(body, 0, 400, fields[i][0]);
            snprintf(body, sizeof body, "{\"prompt\":\"a\",\"%s\":%.17g}", fields[i][0],
                     b->min - 1);
            bad(body, 0, 400, fields[i][0]);
        }
    }
    /* Temperatures above OpenAI's 2 are the library's to judge. */
    CHECK_EQ_INT(parse("{\"prompt\":\"a\",\"temperature\":5}", 0, &r, &e), 0);
    CHECK_NEAR(r.opts.temperature, 5, 1e-6);
    inf__srv_request_free(&r);
    /* The default max_tokens of a fresh configuration is the library's. */
    {
        inf__srv_config d;
        inf__srv_config_default(&d);
        CHECK_EQ_INT(d.default_max_tokens, INF_DEFAULT_MAX_TOKENS);
        CHECK(d.sampling.seed == INF_SEED_RANDOM);
    }
    /* logprobs ask the engine for logits. */
    CHECK_EQ_INT(parse("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"logprobs\":true,"
                       "\"top_logprobs\":4}", 1, &r, &e), 0);
    CHECK_EQ_INT(r.logprobs, 1);
    CHECK_EQ_INT(r.top_logprobs, 4);
    CHECK_EQ_INT(r.opts.return_logits, 1);
    inf__srv_request_free(&r);
    CHECK_EQ_INT(parse("{\"prompt\":\"a\",\"logprobs\":2}", 0, &r, &e), 0);
    CHECK_EQ_INT(r.logprobs, 1);
    CHECK_EQ_INT(r.top_logprobs, 2);
    inf__srv_request_free(&r);
    CHECK_EQ_INT(parse("{\"prompt\":\"a\"}", 0, &r, &e), 0);
    CHECK_EQ_INT(r.opts.return_logits, 0);
    inf__srv_request_free(&r);
    /* Prompt forms: [string], [ids], [[ids]]. */
    CHECK_EQ_INT(parse("{\"prompt\":[\"one\"]}", 0, &r, &e), 0);
    CHECK_EQ_STR(r.prompt, "one");
    inf__srv_request_free(&r);
    CHECK_EQ_INT(parse("{\"prompt\":[1,415,19723]}", 0, &r, &e), 0);
    CHECK_EQ_INT(r.opts.n_prompt_ids, 3);
    CHECK_EQ_INT(r.opts.prompt_ids[1], 415);
    inf__srv_request_free(&r);
    CHECK_EQ_INT(parse("{\"prompt\":[[1,2]]}", 0, &r, &e), 0);
    CHECK_EQ_INT(r.opts.n_prompt_ids, 2);
    inf__srv_request_free(&r);

    /* Errors name the field. */
    bad("", 1, 400, "");
    bad("{", 1, 400, "");
    bad("null", 1, 400, "");
    bad("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"messages\":[]}", 1, 400, "");
    bad("{}", 1, 400, "messages");
    bad("{\"messages\":{}}", 1, 400, "messages");
    bad("{\"messages\":[]}", 1, 400, "messages");
    bad("{\"messages\":[1]}", 1, 400, "messages[0]");
    bad("{\"messages\":[{\"content\":\"a\"}]}", 1, 400, "messages[0].role");
    bad("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"bot\",\"content\":\"a\"}]}", 1, 400,
        "messages[1].role");
    bad("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}", 1, 400,
        "messages[0].content");
    bad("{\"messages\":[{\"role\":\"user\",\"content\":true}]}", 1, 400, "messages[0].content");
    bad("{\"messages\":[{\"role\":\"user\",\"content\":\"a\\u0000b\"}]}", 1, 400, "");
    bad("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"user\",\"content\":\"a\"},"
        "{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"user\",\"content\":\"a\"},"
        "{\"role\":\"user\",\"content\":\"a\"}]}", 1, 400, "messages");
    bad("{\"model\":7,\"prompt\":\"a\"}", 0, 400, "model");
    bad("{\"model\":\"gpt\",\"prompt\":\"a\"}", 0, 404, "model");
    bad("{\"prompt\":\"a\",\"temperature\":\"x\"}", 0, 400, "temperature");
    bad("{\"prompt\":\"a\",\"temperature\":-1}", 0, 400, "temperature");
    bad("{\"prompt\":\"a\",\"top_p\":1.5}", 0, 400, "top_p");
    bad("{\"prompt\":\"a\",\"top_k\":1.5}", 0, 400, "top_k");
    bad("{\"prompt\":\"a\",\"min_p\":[]}", 0, 400, "min_p");
    bad("{\"prompt\":\"a\",\"repeat_penalty\":-2}", 0, 400, "repeat_penalty");
    bad("{\"prompt\":\"a\",\"seed\":\"s\"}", 0, 400, "seed");
    bad("{\"prompt\":\"a\",\"max_tokens\":0}", 0, 400, "max_tokens");
    bad("{\"prompt\":\"a\",\"max_tokens\":101}", 0, 400, "max_tokens");
    bad("{\"prompt\":\"a\",\"max_completion_tokens\":-3}", 0, 400, "max_completion_tokens");
    bad("{\"prompt\":\"a\",\"n\":5}", 0, 400, "n"); /* above --parallel 4 */
    bad("{\"prompt\":\"a\",\"n\":0}", 0, 400, "n");
    bad("{\"prompt\":\"a\",\"n\":1.5}", 0, 400, "n");
    bad("{\"prompt\":\"a\",\"presence_penalty\":2.5}", 0, 400, "presence_penalty");
    bad("{\"prompt\":\"a\",\"frequency_penalty\":\"x\"}", 0, 400, "frequency_penalty");
    bad("{\"prompt\":\"a\",\"logit_bias\":[1]}", 0, 400, "logit_bias");
    bad("{\"prompt\":\"a\",\"logit_bias\":{\"abc\":1}}", 0, 400, "logit_bias");
    bad("{\"prompt\":\"a\",\"logit_bias\":{\"-3\":1}}", 0, 400, "logit_bias");
    bad("{\"prompt\":\"a\",\"logit_bias\":{\"12x\":1}}", 0, 400, "logit_bias");
    bad("{\"prompt\":\"a\",\"logit_bias\":{\"12\":101}}", 0, 400, "logit_bias");
    bad("{\"prompt\":\"a\",\"logit_bias\":{\"12\":\"1\"}}", 0, 400, "logit_bias");
    bad("{\"prompt\":\"a\",\"echo\":1}", 0, 400, "echo");
    bad("{\"prompt\":\"a\",\"stop\":3}", 0, 400, "stop");
    bad("{\"prompt\":\"a\",\"stop\":[\"\"]}", 0, 400, "stop");
    bad("{\"prompt\":\"a\",\"stop\":[\"a\",1]}", 0, 400, "stop");
    bad("{\"prompt\":\"a\",\"stop\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\","
        "\"12\",\"13\",\"14\",\"15\",\"16\",\"17\"]}", 0, 400, "stop");
    bad("{\"prompt\":\"a\",\"stream\":1}", 0, 400, "stream");
    bad("{\"prompt\":\"a\",\"stream_options\":[]}", 0, 400, "stream_options");
    bad("{\"prompt\":\"a\",\"stream_options\":{\"include_usage\":\"y\"}}", 0, 400, "include_usage");
    bad("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"top_logprobs\":1}", 1, 400,
        "top_logprobs");
    bad("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"logprobs\":1}", 1, 400, "logprobs");
    bad("{\"prompt\":\"a\",\"logprobs\":9}", 0, 400, "logprobs");
    bad("{}", 0, 400, "prompt");
    bad("{\"prompt\":5}", 0, 400, "prompt");
    bad("{\"prompt\":[]}", 0, 400, "prompt");
    bad("{\"prompt\":[1,-2]}", 0, 400, "prompt");
    bad("{\"prompt\":[\"a\",\"b\"]}", 0, 400, "prompt");

    /* Random corruptions of valid bodies: 0 or a 4xx, never a crash. */
    const char *seeds[] = {
        "{\"model\":\"brown\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}],"
        "\"temperature\":0.7,\"stop\":[\"a\"],\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
        "{\"prompt\":[1,2,3],\"max_tokens\":5,\"seed\":9,\"top_k\":3,\"stop\":\"x\"}",
    };
    int ok = 1;
    char buf[512];
    for (int it = 0; it < 20000; it++) {
        const char *s = seeds[it % 2];
        size_t n = strlen(s);
        memcpy(buf, s, n);
        int muts = 1 + (int)(next_rand() % 4);
        for (int k = 0; k < muts; k++) {
            size_t at = next_rand() % n;
            switch (next_rand() % 3) {
            case 0: buf[at] = (char)(next_rand() & 0xff); break;
            case 1: n = at; break;                                   /* truncate */
            default: buf[at] = "{}[]\",:0-.e"[next_rand() % 11]; break;
            }
            if (n == 0) break;
        }
        unsigned st = inf__srv_request_parse(buf, n, it % 2 == 0, &cfg, &r, &e);
        if (st == 0) inf__srv_request_free(&r);
        else if (st < 400 || st > 499) ok = 0;
    }
    CHECK_MSG(ok, "every corrupted body parsed or got a 4xx");
    return tu_summary("server_request");
}
