"""Drives `inference serve` on the bundled model with curl: greedy
completions equal the golden reference, streaming equals non-streaming,
usage, stop strings, error objects, limits, authentication, the bounded
queue (503), and a client that disconnects mid-stream freeing its slot.

usage: test_curl.py INFERENCE_PROGRAM"""
import json
import subprocess
import sys
import time

from serverlib import GOLDEN, MODEL, Checks, Server, curl, metric, sse_events

prog = sys.argv[1]
T = Checks("server_curl")
JSON_CT = "Content-Type: application/json"  # the server refuses other bodies
golden = json.load(open(GOLDEN))
bf16 = [p for p in golden["prompts"] if p["weights"] == "bf16"]


def error_of(status, body, want_status, what, param=None, code=None):
    T.eq(status, want_status, f"{what}: status")
    try:
        err = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        T.check(False, f"{what}: body is an OpenAI error object", body[:300])
        return
    T.check(isinstance(err.get("message"), str) and err["message"], f"{what}: error.message")
    T.check(isinstance(err.get("type"), str), f"{what}: error.type")
    T.check("param" in err and "code" in err, f"{what}: error.param and error.code present")
    if param is not None:
        T.eq(err.get("param"), param, f"{what}: error.param")
    if code is not None:
        T.eq(err.get("code"), code, f"{what}: error.code")


def core(usage):
    """usage without prompt_tokens_details: its cached_tokens depends on what
    earlier requests left in the engine's prefix cache."""
    return {k: v for k, v in (usage or {}).items() if k != "prompt_tokens_details"}


def stream_parts(body, chat):
    """(text, finish_reason, usage, first_role, ends_with_done) of an SSE body."""
    ev = sse_events(body)
    done = bool(ev) and ev[-1] == "[DONE]"
    text, finish, usage, role = "", None, None, None
    for i, e in enumerate(ev[:-1] if done else ev):
        j = json.loads(e)
        if j.get("usage"):
            usage = j["usage"]
        for c in j.get("choices", []):
            if chat:
                d = c.get("delta", {})
                if i == 0:
                    role = d.get("role")
                text += d.get("content") or ""
            else:
                text += c.get("text") or ""
            if c.get("finish_reason"):
                finish = c["finish_reason"]
    return text, finish, usage, role, done


with Server(prog, "--parallel", "2") as s:
    u = s.url
    st, _, body = curl(u + "/health")
    T.eq(st, 200, "GET /health")
    T.eq(json.loads(body).get("status"), "ok", "/health status")
    st, _, body = curl(u + "/v1/models")
    T.eq(st, 200, "GET /v1/models")
    T.eq([m["id"] for m in json.loads(body)["data"]], ["brown-llama-8m"], "/v1/models ids")
    st, _, body = curl(u + "/v1/models/brown-llama-8m")
    T.eq(st, 200, "GET /v1/models/ID")
    # A second server cannot take the same port: one clear line, status 1.
    p2 = subprocess.run([prog, "serve", "-m", MODEL, "--port", str(s.port)], capture_output=True,
                        text=True, timeout=120)
    T.eq(p2.returncode, 1, "second server on a busy port: exit status")
    T.check("cannot listen" in p2.stderr, "second server on a busy port: message", p2.stderr)
    st, _, body = curl(u + "/v1/models/other")
    error_of(st, body, 404, "GET /v1/models/other", code="model_not_found")

    # Greedy completions equal the reference (transformers) for every
    # golden prompt: text, token counts, finish reason.
    for p in bf16:
        req = {"model": "brown-llama-8m", "prompt": p["prompt"], "max_tokens": 40, "temperature": 0}
        st, _, body = curl(u + "/v1/completions", req)
        T.eq(st, 200, f"completion {p['prompt']!r}: status")
        j = json.loads(body)
        T.eq(j["object"], "text_completion", "completion object")
        T.eq(j["choices"][0]["text"], p["greedy_text"], f"completion {p['prompt']!r}: greedy text")
        T.eq(j["choices"][0]["finish_reason"], "length", "completion finish_reason")
        T.eq(j["usage"]["prompt_tokens"], len(p["prompt_ids"]), "usage.prompt_tokens")
        T.eq(j["usage"]["completion_tokens"], 40, "usage.completion_tokens")
        T.eq(j["usage"]["total_tokens"], 40 + len(p["prompt_ids"]), "usage.total_tokens")
        # The same streamed.
        st, head, body = curl(u + "/v1/completions", dict(req, stream=True,
                              stream_options={"include_usage": True}), stream=True)
        T.eq(st, 200, "streamed completion: status")
        T.check("text/event-stream" in head, "streamed completion: content type", head)
        text, finish, usage, _, done = stream_parts(body, chat=False)
        T.eq(text, p["greedy_text"], f"streamed completion {p['prompt']!r}: text")
        T.eq(finish, "length", "streamed completion finish_reason")
        T.eq(core(usage), core(j["usage"]), "streamed completion usage (include_usage)")
        T.check(done, "streamed completion ends with [DONE]")

    # logprobs (legacy completions format): the tokens spell the greedy
    # text, each chosen token is the most likely one, and the gaps between
    # the 5 most likely log-probabilities at the first step equal the gaps
    # between the reference's top logits (log-softmax keeps differences).
    for p in bf16[:2]:
        st, _, body = curl(u + "/v1/completions", {"prompt": p["prompt"], "max_tokens": 40,
                                                   "logprobs": 5})
        T.eq(st, 200, "logprobs: status")
        ch = json.loads(body)["choices"][0]
        lp = ch["logprobs"]
        T.eq("".join(lp["tokens"]), p["greedy_text"], "logprobs: tokens spell the text")
        T.eq(len(lp["tokens"]), 40, "logprobs: one entry per token")
        # (Keyed by text: ids that decode alike share a key, so <= 5.)
        T.check(all(1 <= len(t) <= 5 for t in lp["top_logprobs"]) and
                sum(len(t) for t in lp["top_logprobs"]) > 4 * 40 * 0.8,
                "logprobs: up to 5 alternatives per token")
        T.check(all(abs(v - max(t.values())) < 1e-9 and v <= 0
                    for v, t in zip(lp["token_logprobs"], lp["top_logprobs"])),
                "logprobs: greedy picks the most likely token")
        offs = [sum(len(x.encode()) for x in lp["tokens"][:i]) for i in range(40)]
        T.eq(lp["text_offset"], offs, "logprobs: text_offset")
        first = sorted(lp["top_logprobs"][0].values(), reverse=True)
        ref = p["top10_logits"]
        T.check(all(abs((first[i] - first[0]) - (ref[i] - ref[0])) < 2e-3 for i in range(len(first))),
                "logprobs: first-step gaps equal the reference logits' gaps", (first, ref[:5]))

    # A token-id prompt (the golden ids, BOS included) gives the same text.
    p = bf16[1]
    st, _, body = curl(u + "/v1/completions", {"prompt": p["prompt_ids"], "max_tokens": 40})
    T.eq(st, 200, "token-id prompt: status")
    T.eq(json.loads(body)["choices"][0]["text"], p["greedy_text"], "token-id prompt: text")

    # Stop strings: generation ends before the stop string, which is not
    # emitted; finish_reason "stop"; as a list and as a plain string.
    full = bf16[0]["greedy_text"]
    stop = "good-time"
    want = full[:full.index(stop)]
    for stop_field in ([stop, "zzz-never"], stop):
        st, _, body = curl(u + "/v1/completions", {"prompt": bf16[0]["prompt"], "max_tokens": 40,
                                                   "stop": stop_field})
        j = json.loads(body)
        T.eq(j["choices"][0]["text"], want, f"stop {stop_field!r}: text cut before the stop string")
        T.eq(j["choices"][0]["finish_reason"], "stop", f"stop {stop_field!r}: finish_reason")
        T.check(j["usage"]["completion_tokens"] < 40, "stop: fewer completion tokens")
    st, _, body = curl(u + "/v1/completions", {"prompt": bf16[0]["prompt"], "max_tokens": 40,
                                               "stop": [stop], "stream": True}, stream=True)
    text, finish, _, _, done = stream_parts(body, chat=False)
    T.eq(text, want, "streamed stop: text")
    T.eq(finish, "stop", "streamed stop: finish_reason")

    # Chat: non-streaming and streaming agree; the first chunk carries the
    # role; usage in the last chunk with include_usage.
    msgs = [{"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Tell me about the jury."}]
    st, _, body = curl(u + "/v1/chat/completions", {"model": "brown-llama-8m", "messages": msgs,
                                                    "max_tokens": 24})
    T.eq(st, 200, "chat: status")
    j = json.loads(body)
    T.eq(j["object"], "chat.completion", "chat object")
    T.check(j["id"].startswith("chatcmpl-"), "chat id")
    msg = j["choices"][0]["message"]
    T.eq(msg["role"], "assistant", "chat message role")
    T.check(len(msg["content"]) > 0, "chat content not empty")
    T.check(j["choices"][0]["finish_reason"] in ("length", "stop"), "chat finish_reason")
    T.check(j["usage"]["prompt_tokens"] > 10, "chat usage.prompt_tokens counts the template")
    T.check(1 <= j["usage"]["completion_tokens"] <= 24, "chat usage.completion_tokens")
    st, _, body = curl(u + "/v1/chat/completions", {"messages": msgs, "max_tokens": 24, "stream": True,
                                                    "stream_options": {"include_usage": True}},
                       stream=True)
    text, finish, usage, role, done = stream_parts(body, chat=True)
    T.eq(role, "assistant", "chat stream: first chunk has the role")
    T.eq(text, msg["content"], "chat stream text equals non-streamed text")
    T.eq(finish, j["choices"][0]["finish_reason"], "chat stream finish_reason")
    T.eq(core(usage), core(j["usage"]), "chat stream usage")
    T.check(0 <= usage["prompt_tokens_details"]["cached_tokens"] <= usage["prompt_tokens"],
            "chat stream usage.prompt_tokens_details.cached_tokens", usage)
    T.check(done, "chat stream ends with [DONE]")
    chunks = [json.loads(e) for e in sse_events(body)[:-1]]
    T.check(all(c["object"] == "chat.completion.chunk" for c in chunks), "chunk objects")
    T.check(len({c["id"] for c in chunks}) == 1, "one id across the chunks")
    # Chat logprobs (OpenAI format, with token ids): streamed and whole agree.
    lreq = {"messages": msgs, "max_tokens": 12, "logprobs": True, "top_logprobs": 3}
    j2 = json.loads(curl(u + "/v1/chat/completions", lreq)[2])
    ent = j2["choices"][0]["logprobs"]["content"]
    T.eq(len(ent), j2["usage"]["completion_tokens"], "chat logprobs: one entry per token")
    T.eq("".join(e["token"] for e in ent), j2["choices"][0]["message"]["content"],
         "chat logprobs: tokens spell the content")
    T.check(all(len(e["top_logprobs"]) == 3 and e["top_logprobs"][0]["id"] == e["id"] and
                e["top_logprobs"][0]["logprob"] >= e["top_logprobs"][1]["logprob"] >=
                e["top_logprobs"][2]["logprob"] for e in ent), "chat logprobs: top 3, sorted, greedy")
    T.check(all(bytes(e["bytes"]).decode() == e["token"] for e in ent), "chat logprobs: bytes")
    body = curl(u + "/v1/chat/completions", dict(lreq, stream=True), stream=True)[2]
    sent = []
    for ev in sse_events(body)[:-1]:
        for ch in json.loads(ev)["choices"]:
            if ch.get("logprobs"):
                sent += ch["logprobs"]["content"]
    T.eq(sent, ent, "chat logprobs: streamed entries equal the whole response's")

    # Content as a list of text parts means the same as the joined string.
    parts = [msgs[0], {"role": "user", "content": [{"type": "text", "text": "Tell me about "},
                                                   {"type": "text", "text": "the jury."}]}]
    st, _, body = curl(u + "/v1/chat/completions", {"messages": parts, "max_tokens": 24})
    T.eq(json.loads(body)["choices"][0]["message"]["content"], msg["content"], "content parts")
    # Seeded sampling is reproducible.
    samp = {"prompt": "The jury said", "max_tokens": 20, "temperature": 0.9, "top_p": 0.95,
            "top_k": 40, "min_p": 0.01, "repeat_penalty": 1.1, "seed": 1234}
    a = json.loads(curl(u + "/v1/completions", samp)[2])["choices"][0]["text"]
    b = json.loads(curl(u + "/v1/completions", samp)[2])["choices"][0]["text"]
    T.eq(a, b, "same seed, same sampled text")
    # The seed reaches the library as given (0 included), so the server and
    # `inference generate --seed` sample the same text.
    for seed in (1234, 0):
        samp["seed"] = seed
        a = json.loads(curl(u + "/v1/completions", samp)[2])["choices"][0]["text"]
        b = json.loads(curl(u + "/v1/completions", samp)[2])["choices"][0]["text"]
        T.eq(a, b, f"seed {seed}: same sampled text")
        cli = subprocess.run([prog, "generate", "-m", MODEL, "--quiet", "--max-tokens", "20",
                              "--temp", "0.9", "--top-p", "0.95", "--top-k", "40", "--min-p", "0.01",
                              "--repeat-penalty", "1.1", "--seed", str(seed), "The jury said"],
                             capture_output=True, timeout=120)
        T.eq(cli.stdout.decode("utf-8", "replace"), a, f"seed {seed}: the server samples as inference generate does")

    # Errors: 4xx with an OpenAI error object, never a crash.
    cc = u + "/v1/chat/completions"
    st, _, body = curl(cc, raw_body=b'{"messages": [')
    error_of(st, body, 400, "malformed JSON")
    st, _, body = curl(cc, raw_body=b'{"messages": [{"role":"user","content":"\xff\xfe"}]}')
    error_of(st, body, 400, "invalid UTF-8")
    st, _, body = curl(cc, raw_body=b'[1, 2]')
    error_of(st, body, 400, "body not an object")
    st, _, body = curl(cc, {"max_tokens": 5})
    error_of(st, body, 400, "missing messages", param="messages")
    st, _, body = curl(cc, {"messages": "hi"})
    error_of(st, body, 400, "messages not an array", param="messages")
    st, _, body = curl(cc, {"messages": []})
    error_of(st, body, 400, "empty messages", param="messages")
    st, _, body = curl(cc, {"messages": [{"role": "wizard", "content": "hi"}]})
    error_of(st, body, 400, "bad role", param="messages[0].role")
    st, _, body = curl(cc, {"messages": [{"role": "user", "content": 5}]})
    error_of(st, body, 400, "content not a string", param="messages[0].content")
    st, _, body = curl(cc, {"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"})
    error_of(st, body, 400, "temperature not a number", param="temperature")
    st, _, body = curl(cc, {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0})
    error_of(st, body, 400, "max_tokens 0", param="max_tokens")
    st, _, body = curl(cc, {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10**6})
    error_of(st, body, 400, "max_tokens above the limit", param="max_tokens")
    st, _, body = curl(cc, {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2.5})
    error_of(st, body, 400, "max_tokens not an integer", param="max_tokens")
    st, _, body = curl(cc, {"messages": [{"role": "user", "content": "hi"}], "n": 99})
    error_of(st, body, 400, "n = 99 above --parallel", param="n")
    st, _, body = curl(cc, {"messages": [{"role": "user", "content": "hi"}], "stop": 7})
    error_of(st, body, 400, "stop not a string", param="stop")
    st, _, body = curl(cc, {"messages": [{"role": "user", "content": "hi"}], "stream": "yes"})
    error_of(st, body, 400, "stream not a boolean", param="stream")
    st, _, body = curl(cc, {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
    error_of(st, body, 404, "unknown model", param="model", code="model_not_found")
    st, _, body = curl(cc, {"messages": [{"role": "user", "content": "hi"}], "logprobs": True,
                            "top_logprobs": 21})
    error_of(st, body, 400, "top_logprobs over 20", param="top_logprobs")
    st, _, body = curl(cc, {"messages": [{"role": "user", "content": "hi"}], "top_logprobs": 2})
    error_of(st, body, 400, "top_logprobs without logprobs", param="top_logprobs")
    st, _, body = curl(u + "/v1/completions", {"prompt": "x", "logprobs": 6})
    error_of(st, body, 400, "completions logprobs over 5", param="logprobs")
    st, _, body = curl(u + "/v1/completions", {"prompt": {"text": "x"}})
    error_of(st, body, 400, "prompt of the wrong type", param="prompt")
    st, _, body = curl(cc, {"messages": [{"role": "user", "content": "hi"}] * 300})
    error_of(st, body, 400, "too many messages", param="messages")
    big = {"messages": [{"role": "user", "content": "x" * (1 << 20)}]}
    st, _, body = curl(cc, big)
    error_of(st, body, 413, "body over 1 MiB", code="request_too_large")
    # A prompt longer than the 1024-token context: 400, streaming or not.
    long_prompt = "the jury said that " * 400
    for stream in (False, True):
        st, _, body = curl(u + "/v1/completions", {"prompt": long_prompt, "max_tokens": 5,
                                                   "stream": stream})
        error_of(st, body, 400, f"prompt over the context (stream={stream})",
                 code="context_length_exceeded")
    st, _, body = curl(cc, method="GET")
    error_of(st, body, 405, "GET on a POST endpoint")
    st, _, body = curl(u + "/v2/nothing")
    error_of(st, body, 404, "unknown path")
    st, _, body = curl(u + "/health")
    T.eq(st, 200, "still healthy after the bad requests")

    # The chat page is served at /.
    st, head, body = curl(u + "/")
    T.eq(st, 200, "GET /")
    T.check("text/html" in head and "/v1/chat/completions" in body, "chat page content")

    st, _, text = curl(u + "/metrics")
    T.eq(st, 200, "GET /metrics")
    for name in ("inference_prompt_tokens_total", "inference_completion_tokens_total",
                 "inference_tokens_per_second", "inference_queue_depth", "inference_slots_busy",
                 "inference_slots_total", "inference_generations_total"):
        T.check(metric(text, name) is not None, f"/metrics has {name}")
    T.eq(metric(text, "inference_slots_total"), 2, "slots_total = --parallel")
    T.eq(metric(text, "inference_slots_busy"), 0, "no slot busy when idle")
    T.check(metric(text, "inference_completion_tokens_total") >= 4 * 80, "completion tokens counted")
    T.check('inference_requests_total{endpoint="/v1/chat/completions",code="400"}' in text,
            "/metrics counts 400s by endpoint")
    s.stop(T)

# Authentication: --api-key guards /v1/*, not /health; --model-name.
with Server(prog, "--api-key", "s3cret", "--model-name", "brown") as s:
    st, head, body = curl(s.url + "/v1/models")
    error_of(st, body, 401, "no API key", code="invalid_api_key")
    st, _, body = curl(s.url + "/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]},
                       headers=["Authorization: Bearer wrong"])
    error_of(st, body, 401, "wrong API key")
    st, _, body = curl(s.url + "/v1/models", headers=["Authorization: Bearer s3cret"])
    T.eq(st, 200, "right API key")
    T.eq(json.loads(body)["data"][0]["id"], "brown", "--model-name")
    st, _, body = curl(s.url + "/v1/completions", {"model": "brown", "prompt": "The jury said",
                                                   "max_tokens": 40},
                       headers=["Authorization: Bearer s3cret"])
    T.eq(json.loads(body)["choices"][0]["text"], bf16[0]["greedy_text"], "authorised completion")
    T.eq(curl(s.url + "/health")[0], 200, "/health needs no key")
    s.stop(T)

# The queue: --parallel 1 --queue 1.  One long stream runs, one request
# waits, a third is turned away with 503; the running client disconnects
# and its slot goes to the waiting request at once.
with Server(prog, "--parallel", "1", "--queue", "1") as s:
    long_req = json.dumps({"prompt": "Once upon a time", "max_tokens": 1000, "stream": True})
    runner = subprocess.Popen(["curl", "-sN", "-H", JSON_CT, "--data-binary", long_req, s.url + "/v1/completions"],
                              stdout=subprocess.PIPE)
    first = runner.stdout.readline()  # the first event: it is running
    T.check(first.startswith(b"data: "), "long stream started", first)

    def busy_waiting():
        m = curl(s.url + "/metrics")[2]
        return metric(m, "inference_slots_busy"), metric(m, "inference_queue_depth")

    waiter = subprocess.Popen(["curl", "-s", "-H", JSON_CT, "--data-binary",
                               json.dumps({"prompt": "The jury said", "max_tokens": 40}),
                               s.url + "/v1/completions"], stdout=subprocess.PIPE)
    for _ in range(200):
        if busy_waiting() == (1, 1):
            break
        time.sleep(0.05)
    T.eq(busy_waiting(), (1, 1), "one running, one queued")
    st, head, body = curl(s.url + "/v1/completions", {"prompt": "x", "max_tokens": 2})
    error_of(st, body, 503, "queue full", code="server_overloaded")
    T.check("Retry-After" in head, "503 carries Retry-After", head)
    t0 = time.time()
    runner.kill()  # the client disconnects mid-stream
    runner.wait()
    # The waiting request takes the freed slot (the queue empties) within
    # about a token's time, not after the 1000 tokens of the stream.
    while busy_waiting()[1] != 0 and time.time() - t0 < 30:
        time.sleep(0.01)
    waited = time.time() - t0
    print(f"the queued request was admitted {waited:.2f}s after the disconnect", flush=True)
    T.check(waited < 5, "the slot was freed promptly", f"{waited:.1f}s")
    out, _ = waiter.communicate(timeout=300)
    j = json.loads(out)
    T.eq(j["choices"][0]["text"], bf16[0]["greedy_text"], "the queued request ran after the disconnect")
    m = curl(s.url + "/metrics")[2]
    T.eq(metric(m, "inference_generations_cancelled_total"), 1, "the disconnect counts as cancelled")
    T.eq(metric(m, "inference_requests_rejected_total"), 1, "one rejection counted")
    T.eq(busy_waiting(), (0, 0), "idle again")

    # A queued client that gives up leaves the queue (and never runs).
    runner = subprocess.Popen(["curl", "-sN", "-H", JSON_CT, "--data-binary", long_req, s.url + "/v1/completions"],
                              stdout=subprocess.PIPE)
    runner.stdout.readline()
    gens = metric(curl(s.url + "/metrics")[2], "inference_generations_total")
    waiter = subprocess.Popen(["curl", "-s", "-H", JSON_CT, "--data-binary",
                               json.dumps({"prompt": "The jury said", "max_tokens": 40}),
                               s.url + "/v1/completions"], stdout=subprocess.PIPE)
    for _ in range(200):
        if busy_waiting() == (1, 1):
            break
        time.sleep(0.05)
    waiter.kill()
    waiter.wait()
    for _ in range(100):
        if busy_waiting()[1] == 0:
            break
        time.sleep(0.05)
    T.eq(busy_waiting(), (1, 0), "a queued client that leaves is dropped from the queue")
    # A non-streaming client that leaves mid-generation frees its slot too.
    runner.kill()
    runner.wait()
    whole = subprocess.Popen(["curl", "-s", "-H", JSON_CT, "--data-binary",
                              json.dumps({"prompt": "Once upon a time", "max_tokens": 1000}),
                              s.url + "/v1/completions"], stdout=subprocess.PIPE)
    for _ in range(200):
        if busy_waiting()[0] == 1:
            break
        time.sleep(0.05)
    time.sleep(0.2)
    whole.kill()
    whole.wait()
    for _ in range(100):
        if busy_waiting() == (0, 0):
            break
        time.sleep(0.05)
    T.eq(busy_waiting(), (0, 0), "a non-streaming client that leaves frees its slot")
    m = curl(s.url + "/metrics")[2]
    # gens was read while the first runner ran; since then that runner and
    # the non-streaming one ended, and the abandoned request never started.
    T.eq(metric(m, "inference_generations_total"), gens + 2,
         "the abandoned queued request never ran")
    T.eq(metric(m, "inference_generations_cancelled_total"), 3, "three generations cancelled")
    # SIGTERM while a stream runs: the stream is cancelled and the server
    # exits 0 promptly.
    runner = subprocess.Popen(["curl", "-sN", "-H", JSON_CT, "--data-binary", long_req, s.url + "/v1/completions"],
                              stdout=subprocess.PIPE)
    runner.stdout.readline()
    t0 = time.time()
    s.stop(T)
    T.check(time.time() - t0 < 10, "stopped within 10 s while streaming", f"{time.time() - t0:.1f}s")
    runner.wait(timeout=30)

# echo with logprobs needs prompt x vocabulary floats: a prompt whose logits
# would pass 256 MiB is a 400 naming echo (brown: 32000 entries, so more
# than 2048 tokens; a 4096 context lets the prompt in); without logprobs
# the same prompt is served.
with Server(prog, "--ctx", "4096", "--parallel", "1") as s:
    cc = s.url + "/v1/completions"
    long_prompt = " the jury said that" * 600
    st, _, body = curl(cc, {"prompt": long_prompt, "max_tokens": 1, "echo": True, "logprobs": 1})
    error_of(st, body, 400, "echo+logprobs of a prompt past 256 MiB of logits", param="echo")
    T.check("256 MiB" in body, "the message names the bound", body[:200])
    st, _, body = curl(cc, {"prompt": long_prompt, "max_tokens": 1, "echo": True})
    T.eq(st, 200, "echo without logprobs of the same prompt")
    T.check(json.loads(body)["choices"][0]["text"].startswith(long_prompt), "echoed", body[:100])
    s.stop(T)

T.done()
