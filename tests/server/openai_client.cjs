// Checks `inference serve` through the official `openai` npm package.
// Env: BASE_URL (a server on the bundled model), AUTH_URL (the same with
// --api-key sk-test-key --model-name brown), GOLDEN (tests/fixtures/golden/
// brown.json).  Prints "N passed, N failed"; exits 1 on any failure.
"use strict";
const fs = require("fs");
const OpenAI = require("openai");

let passed = 0, failed = 0;
function check(cond, what, detail) {
  if (cond) passed++;
  else { failed++; console.error("FAIL: " + what + (detail !== undefined ? " " + JSON.stringify(detail) : "")); }
}
function eq(got, want, what) {
  check(JSON.stringify(got) === JSON.stringify(want), what,
        { got, want });
}

const golden = JSON.parse(fs.readFileSync(process.env.GOLDEN, "utf8"));
const bf16 = golden.prompts.filter((p) => p.weights === "bf16");
// maxRetries 0: the SDK would otherwise retry 5xx/429 and hide them.
const client = new OpenAI({ baseURL: process.env.BASE_URL + "/v1", apiKey: "unused", maxRetries: 0 });
const MODEL = "brown-llama-8m";

async function expectError(promise, status, what, code) {
  try {
    await promise;
    check(false, what + ": should have failed");
  } catch (e) {
    check(e instanceof OpenAI.APIError, what + ": an APIError", String(e));
    eq(e.status, status, what + ": status");
    check(typeof e.message === "string" && e.message.length > 0, what + ": message");
    if (code !== undefined) eq(e.code, code, what + ": error.code");
  }
}

// usage without prompt_tokens_details (whose cached count depends on what
// earlier requests left in the prefix cache).
function core(u) {
  if (!u) return u;
  const { prompt_tokens_details, ...rest } = u;
  return rest;
}
// usage.prompt_tokens_details.cached_tokens: an integer within the prompt.
function cachedOk(u, what) {
  const c = u && u.prompt_tokens_details ? u.prompt_tokens_details.cached_tokens : undefined;
  check(Number.isInteger(c) && c >= 0 && c <= u.prompt_tokens, what + ": prompt_tokens_details.cached_tokens", u);
}

async function post(path, body) {
  const r = await fetch(process.env.BASE_URL + path, { method: "POST",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
}

// Issue 16: n, presence/frequency penalties, logit_bias, echo with prompt
// logprobs, cached_tokens, /tokenize and /detokenize.
async function issue16() {
  const p = bf16[0];
  const greedy5 = (await client.completions.create({ model: MODEL, prompt: p.prompt, max_tokens: 5,
                                                     temperature: 0 })).choices[0].text;
  // n: greedy choices all equal the reference; indices 0..n-1; completion
  // tokens of every choice counted, the prompt once.
  const rn = await client.completions.create({ model: MODEL, prompt: p.prompt, max_tokens: 40,
                                              temperature: 0, n: 3 });
  eq(rn.choices.map((c) => c.index), [0, 1, 2], "n = 3: choice indices");
  eq(rn.choices.map((c) => c.text), [p.greedy_text, p.greedy_text, p.greedy_text], "n = 3 greedy: every choice is the reference");
  eq(core(rn.usage), { prompt_tokens: p.prompt_ids.length, completion_tokens: 120,
                       total_tokens: p.prompt_ids.length + 120 }, "n = 3: usage");
  cachedOk(rn.usage, "n = 3 usage");
  // Sampled with a seed: choices differ from each other, and the request
  // repeats exactly.
  const ns = { model: MODEL, prompt: p.prompt, max_tokens: 16, temperature: 1.0, seed: 77, n: 4 };
  const s1 = await client.completions.create(ns), s2 = await client.completions.create(ns);
  eq(s1.choices.map((c) => c.text), s2.choices.map((c) => c.text), "n = 4 seeded: reproducible");
  check(new Set(s1.choices.map((c) => c.text)).size > 1, "n = 4 seeded: the choices differ", s1.choices.map((c) => c.text));
  // Streamed n: chunks carry their choice's index; each choice's text
  // assembles to the reference; one finish per choice.
  const st = await client.completions.create({ model: MODEL, prompt: p.prompt, max_tokens: 40, temperature: 0,
                                              n: 2, stream: true, stream_options: { include_usage: true } });
  const texts = ["", ""], fins = [null, null];
  let susage = null, interleaved = 0, last = -1;
  for await (const c of st) {
    if (c.usage) susage = c.usage;
    for (const ch of c.choices) {
      texts[ch.index] += ch.text || "";
      if (ch.finish_reason) fins[ch.index] = ch.finish_reason;
      if (last >= 0 && ch.index !== last) interleaved++;
      last = ch.index;
    }
  }
  eq(texts, [p.greedy_text, p.greedy_text], "streamed n = 2: each choice's text");
  eq(fins, ["length", "length"], "streamed n = 2: finish per choice");
  check(interleaved > 10, "streamed n = 2: the choices' chunks interleave", interleaved);
  eq(susage && susage.completion_tokens, 80, "streamed n = 2: usage counts both choices");
  // Chat through the SDK's stream helper with n = 2.
  const cmsg = [{ role: "user", content: "Tell me about the jury." }];
  const cn = await client.chat.completions.create({ model: MODEL, messages: cmsg, max_tokens: 12, n: 2 });
  eq(cn.choices.length, 2, "chat n = 2: two choices");
  eq(cn.choices[1].message.content, cn.choices[0].message.content, "chat n = 2 greedy: equal choices");
  const cr = client.chat.completions.stream({ model: MODEL, messages: cmsg, max_tokens: 12, n: 2 });
  const cf = await cr.finalChatCompletion();
  eq(cf.choices.map((c) => c.message.content), cn.choices.map((c) => c.message.content),
     "chat stream helper n = 2: both choices assembled");

  // cached_tokens: a prompt sent again is served from the engine's prefix
  // cache (whole blocks of it; the last token is always computed).
  // (About 100 tokens: several whole blocks, whatever the prefill chunks.)
  const again = "The jury further said that the city of Atlanta deserves praise and thanks for the " +
                "manner in which the election was conducted, and the grand jury commented on a number of " +
                "other topics, among them the Atlanta and Fulton County purchasing departments which it " +
                "said are well operated and follow generally accepted practices which inure to the best " +
                "interest of both governments, as the jury had been told in its charge by the judge.";
  const a1 = await client.completions.create({ model: MODEL, prompt: again, max_tokens: 2 });
  const a2 = await client.completions.create({ model: MODEL, prompt: again, max_tokens: 2 });
  cachedOk(a1.usage, "first send");
  cachedOk(a2.usage, "second send");
  check(a2.usage.prompt_tokens > 64 && a2.usage.prompt_tokens_details.cached_tokens >= 16 &&
        a2.usage.prompt_tokens_details.cached_tokens < a2.usage.prompt_tokens,
        "a prompt sent again: cached_tokens counts its cached blocks", a2.usage);
  eq(a2.choices[0].text, a1.choices[0].text, "a prompt sent again: the same greedy text");

  // Penalties change the greedy text, the same way every time; 0 is off.
  for (const f of ["frequency_penalty", "presence_penalty"]) {
    const a = await client.completions.create({ model: MODEL, prompt: p.prompt, max_tokens: 40, [f]: 2 });
    const b = await client.completions.create({ model: MODEL, prompt: p.prompt, max_tokens: 40, [f]: 2 });
    check(a.choices[0].text !== p.greedy_text, f + " 2 changes the greedy text", a.choices[0].text);
    eq(a.choices[0].text, b.choices[0].text, f + " 2: deterministic");
    const z = await client.completions.create({ model: MODEL, prompt: p.prompt, max_tokens: 40, [f]: 0 });
    eq(z.choices[0].text, p.greedy_text, f + " 0 is off");
  }
  // A penalty counts generated tokens only: the first token is unchanged.
  const fp = await client.completions.create({ model: MODEL, prompt: p.prompt, max_tokens: 1, frequency_penalty: 2 });
  eq(fp.choices[0].text, (await client.completions.create({ model: MODEL, prompt: p.prompt, max_tokens: 1 })).choices[0].text,
     "frequency_penalty: the first token is the greedy one");

  // logit_bias: +100 forces a token (text = /detokenize of it), -100 bans
  // the greedy one.
  const forced = await client.completions.create({ model: MODEL, prompt: p.prompt, max_tokens: 4,
                                                  logit_bias: { "1000": 100 } });
  const dt = await post("/detokenize", { tokens: [p.greedy_ids[0], 1000, 1000, 1000, 1000] });
  const dt0 = await post("/detokenize", { tokens: [p.greedy_ids[0]] });
  eq(p.greedy_text.slice(0, dt0.body.content.length), dt0.body.content, "/detokenize of the first greedy token");
  eq(dt0.body.content + forced.choices[0].text, dt.body.content, "logit_bias +100 forces token 1000 four times");
  const lpr = await client.chat.completions.create({ model: MODEL, messages: cmsg, max_tokens: 1, logprobs: true });
  const first = lpr.choices[0].logprobs.content[0].id;
  const banned = await client.chat.completions.create({ model: MODEL, messages: cmsg, max_tokens: 1, logprobs: true,
                                                      logit_bias: { [String(first)]: -100 } });
  check(banned.choices[0].logprobs.content[0].id !== first, "logit_bias -100 bans the greedy token",
        [first, banned.choices[0].logprobs.content[0].id]);

  // echo with prompt logprobs: the prompt's tokens lead, the first with null.
  const ec = await client.completions.create({ model: MODEL, prompt: p.prompt, max_tokens: 5, echo: true, logprobs: 2 });
  const L = ec.choices[0].logprobs, np = p.prompt_ids.length;
  eq(ec.choices[0].text, p.prompt + greedy5, "echo: the prompt leads the text");
  eq(L.tokens.length, np + 5, "echo: logprobs for the prompt tokens and the completion");
  eq([L.token_logprobs[0], L.top_logprobs[0]], [null, null], "echo: the first prompt token has no logprob");
  check(L.token_logprobs.slice(1).every((x) => typeof x === "number" && x <= 0), "echo: the other logprobs are numbers <= 0");
  check(L.top_logprobs.slice(1).every((o) => o && Object.keys(o).length >= 1 && Object.keys(o).length <= 2),
        "echo: top_logprobs of 1..2 entries", L.top_logprobs);
  eq(L.tokens.slice(0, np).join(""), p.prompt, "echo: the prompt tokens spell the prompt");
  eq(L.text_offset[np], Buffer.byteLength(p.prompt), "echo: the completion's offsets follow the prompt");
  check(L.text_offset.every((x, i) => i === 0 || x >= L.text_offset[i - 1]), "echo: offsets never go back");
  // The greedy completion tokens are the most likely ones.
  check(L.token_logprobs.slice(np).every((x, i) => Math.abs(x - Math.max(...Object.values(L.top_logprobs[np + i]))) < 1e-9),
        "echo: each generated greedy token is its step's most likely");
  // Streamed echo: the same text.
  const es = await client.completions.create({ model: MODEL, prompt: p.prompt, max_tokens: 5, echo: true, stream: true });
  let etext = "";
  for await (const c of es) for (const ch of c.choices) etext += ch.text || "";
  eq(etext, p.prompt + greedy5, "streamed echo: the same text");

  // /tokenize and /detokenize (llama.cpp's shapes): a round trip.
  const tk = await post("/tokenize", { content: p.prompt, add_special: true });
  eq(tk.status, 200, "/tokenize status");
  eq(tk.body.tokens, p.prompt_ids, "/tokenize with add_special: the reference ids");
  const tk2 = await post("/tokenize", { content: p.prompt });
  eq(tk2.body.tokens, p.prompt_ids.slice(1), "/tokenize without add_special: no BOS");
  const dk = await post("/detokenize", { tokens: tk2.body.tokens });
  eq(dk.body.content, p.prompt, "/detokenize gives the text back");
  const pw = await post("/tokenize", { content: p.prompt, with_pieces: true });
  eq(pw.body.tokens.map((t) => t.id), tk2.body.tokens, "/tokenize with_pieces: the same ids");
  eq(pw.body.tokens.map((t) => t.piece).join(""), p.prompt, "/tokenize with_pieces: the pieces spell the text");
  const bad1 = await post("/detokenize", { tokens: [1, -4] });
  eq([bad1.status, bad1.body.error && bad1.body.error.param], [400, "tokens"], "/detokenize of a bad id: 400");
  const bad2 = await post("/tokenize", { text: "x" });
  eq([bad2.status, bad2.body.error && bad2.body.error.param], [400, "content"], "/tokenize without content: 400");

  // Bad input: 400s that name the field.
  const msgs = [{ role: "user", content: "hi" }];
  await expectError(client.chat.completions.create({ model: MODEL, messages: msgs, n: 5 }), 400, "n above --parallel");
  await expectError(client.chat.completions.create({ model: MODEL, messages: msgs, n: 0 }), 400, "n = 0");
  await expectError(client.chat.completions.create({ model: MODEL, messages: msgs, logit_bias: { "abc": 1 } }), 400,
                    "logit_bias key not a token id");
  await expectError(client.chat.completions.create({ model: MODEL, messages: msgs, logit_bias: { "5": 200 } }), 400,
                    "logit_bias value above 100");
  await expectError(client.chat.completions.create({ model: MODEL, messages: msgs, logit_bias: { "999999": 1 } }), 400,
                    "logit_bias id outside the vocabulary");
  await expectError(client.chat.completions.create({ model: MODEL, messages: msgs, presence_penalty: 3 }), 400,
                    "presence_penalty above 2");
  await expectError(client.chat.completions.create({ model: MODEL, messages: msgs, frequency_penalty: -2.5 }), 400,
                    "frequency_penalty below -2");
  try {
    await client.chat.completions.create({ model: MODEL, messages: msgs, logit_bias: { "x1": 5 } });
  } catch (e) {
    check(/logit_bias/.test(e.message) && e.param === "logit_bias", "logit_bias error names the field", e.message);
  }
  try {
    await client.chat.completions.create({ model: MODEL, messages: msgs, n: 7 });
  } catch (e) {
    check(/'n' must be an integer between 1 and 4/.test(e.message), "n error says the range", e.message);
  }
}

async function main() {
  await issue16();
  const models = await client.models.list();
  eq(models.data.map((m) => m.id), [MODEL], "models.list ids");

  // Completions: greedy text equals the reference; usage; streaming.
  for (const p of bf16) {
    const r = await client.completions.create({ model: MODEL, prompt: p.prompt, max_tokens: 40, temperature: 0 });
    eq(r.choices[0].text, p.greedy_text, "completion text for " + JSON.stringify(p.prompt));
    eq(r.choices[0].finish_reason, "length", "completion finish_reason");
    eq(core(r.usage), { prompt_tokens: p.prompt_ids.length, completion_tokens: 40,
                        total_tokens: p.prompt_ids.length + 40 }, "completion usage");
    cachedOk(r.usage, "completion usage");
    const stream = await client.completions.create({ model: MODEL, prompt: p.prompt, max_tokens: 40,
      temperature: 0, stream: true, stream_options: { include_usage: true } });
    let text = "", finish = null, usage = null, chunks = 0;
    for await (const c of stream) {
      chunks++;
      if (c.usage) usage = c.usage;
      for (const ch of c.choices) { text += ch.text || ""; if (ch.finish_reason) finish = ch.finish_reason; }
    }
    eq(text, p.greedy_text, "streamed completion text");
    check(chunks > 10, "streamed completion arrives in many chunks", chunks);
    eq(finish, "length", "streamed completion finish_reason");
    eq(core(usage), core(r.usage), "streamed completion usage");
    cachedOk(usage, "streamed completion usage");
  }

  // Stop strings.
  const full = bf16[0].greedy_text, stop = "good-time";
  const s1 = await client.completions.create({ model: MODEL, prompt: bf16[0].prompt, max_tokens: 40, stop: [stop] });
  eq(s1.choices[0].text, full.slice(0, full.indexOf(stop)), "stop: text before the stop string");
  eq(s1.choices[0].finish_reason, "stop", "stop: finish_reason");

  // Chat, non-streaming and streaming.
  const messages = [{ role: "system", content: "You are terse." },
                    { role: "user", content: "Tell me about the jury." }];
  const c1 = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 24 });
  eq(c1.object, "chat.completion", "chat object");
  eq(c1.choices[0].message.role, "assistant", "chat role");
  check(c1.choices[0].message.content.length > 0, "chat content");
  check(c1.usage.prompt_tokens > 10 && c1.usage.completion_tokens >= 1 && c1.usage.completion_tokens <= 24,
        "chat usage", c1.usage);
  eq(c1.usage.total_tokens, c1.usage.prompt_tokens + c1.usage.completion_tokens, "chat total_tokens");
  const cs = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 24, stream: true,
                                                   stream_options: { include_usage: true } });
  let text = "", role = null, finish = null, usage = null;
  for await (const c of cs) {
    if (c.usage) usage = c.usage;
    for (const ch of c.choices) {
      if (ch.delta.role) role = ch.delta.role;
      text += ch.delta.content || "";
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  eq(role, "assistant", "chat stream role");
  eq(text, c1.choices[0].message.content, "chat stream text equals non-streamed");
  eq(finish, c1.choices[0].finish_reason, "chat stream finish_reason");
  eq(core(usage), core(c1.usage), "chat stream usage");
  cachedOk(c1.usage, "chat usage");
  // The SDK's stream helper.
  const runner = client.chat.completions.stream({ model: MODEL, messages, max_tokens: 24 });
  const final = await runner.finalChatCompletion();
  eq(final.choices[0].message.content, c1.choices[0].message.content, "chat.completions.stream helper");

  // logprobs through the SDK: one entry per token, the greedy token first.
  const lp = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 8,
                                                   logprobs: true, top_logprobs: 2 });
  const content = lp.choices[0].logprobs.content;
  eq(content.length, lp.usage.completion_tokens, "logprobs: one entry per token");
  eq(content.map((e) => e.token).join(""), lp.choices[0].message.content, "logprobs: tokens spell the reply");
  check(content.every((e) => e.logprob <= 0 && e.top_logprobs.length === 2 &&
                      e.top_logprobs[0].logprob === e.logprob), "logprobs: greedy token is the most likely");

  // Aborting a stream from the client side.
  const ac = new AbortController();
  const long = await client.completions.create({ model: MODEL, prompt: "Once upon a time", max_tokens: 1000,
                                                 stream: true }, { signal: ac.signal });
  // (The SDK either throws APIUserAbortError or ends the iteration.)
  let got = 0, error = null;
  try {
    for await (const c of long) { got++; if (got === 3) ac.abort(); }
  } catch (e) { error = e; }
  // Events already buffered on the client side may still be yielded after
  // the abort (19 seen on a loaded machine); the stream of 1000 tokens
  // must end long before its end.
  check(got >= 3 && got <= 100 && (!error || error instanceof OpenAI.APIUserAbortError),
        "client abort ends the stream", { got, error: String(error) });

  // Errors as the SDK's typed errors.
  await expectError(client.chat.completions.create({ model: "gpt-4o", messages }), 404, "unknown model", "model_not_found");
  // The range is the library's table (0..100), not OpenAI's 0..2.
  await expectError(client.chat.completions.create({ model: MODEL, messages, temperature: 1000 }), 400, "temperature out of range");
  await expectError(client.chat.completions.create({ model: MODEL, messages: [] }), 400, "empty messages");
  await expectError(client.chat.completions.create({ model: MODEL, messages, n: 5 }), 400, "n = 5 (above --parallel 4)");
  await expectError(client.completions.create({ model: MODEL, prompt: "the jury said that ".repeat(400), max_tokens: 4 }),
                    400, "prompt over the context", "context_length_exceeded");
  await expectError(client.completions.create({ model: MODEL, prompt: "the jury said that ".repeat(400), max_tokens: 4,
                                                stream: true }), 400, "streamed prompt over the context",
                    "context_length_exceeded");

  // The slot of the aborted stream is free again: /metrics says so.
  let busy = -1;
  for (let i = 0; i < 100 && busy !== 0; i++) {
    const m = await (await fetch(process.env.BASE_URL + "/metrics")).text();
    busy = Number((m.match(/^inference_slots_busy (\d+)$/m) || [])[1]);
    if (busy !== 0) await new Promise((r) => setTimeout(r, 50));
  }
  eq(busy, 0, "no slot busy after the abort");

  // Authentication.
  const bad = new OpenAI({ baseURL: process.env.AUTH_URL + "/v1", apiKey: "wrong", maxRetries: 0 });
  await expectError(bad.models.list(), 401, "wrong API key", "invalid_api_key");
  const good = new OpenAI({ baseURL: process.env.AUTH_URL + "/v1", apiKey: "sk-test-key", maxRetries: 0 });
  const gm = await good.models.list();
  eq(gm.data.map((m) => m.id), ["brown"], "right API key, --model-name");
  const gr = await good.completions.create({ model: "brown", prompt: bf16[0].prompt, max_tokens: 40 });
  eq(gr.choices[0].text, bf16[0].greedy_text, "authorised completion");
  // The key guards /tokenize and /detokenize too.
  const tokReq = (key) => fetch(process.env.AUTH_URL + "/tokenize", { method: "POST",
    headers: Object.assign({ "Content-Type": "application/json" }, key ? { Authorization: "Bearer " + key } : {}),
    body: JSON.stringify({ content: "the jury" }) });
  eq((await tokReq(null)).status, 401, "/tokenize without the key: 401");
  eq((await tokReq("sk-test-key")).status, 200, "/tokenize with the key");
}

main().catch((e) => { failed++; console.error("FAIL: exception", e); })
  .finally(() => {
    console.log(`openai_client: ${passed} passed, ${failed} failed`);
    process.exit(failed ? 1 : 0);
  });
