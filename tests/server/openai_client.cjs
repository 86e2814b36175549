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

async function main() {
  const models = await client.models.list();
  eq(models.data.map((m) => m.id), [MODEL], "models.list ids");

  // Completions: greedy text equals the reference; usage; streaming.
  for (const p of bf16) {
    const r = await client.completions.create({ model: MODEL, prompt: p.prompt, max_tokens: 40, temperature: 0 });
    eq(r.choices[0].text, p.greedy_text, "completion text for " + JSON.stringify(p.prompt));
    eq(r.choices[0].finish_reason, "length", "completion finish_reason");
    eq(r.usage, { prompt_tokens: p.prompt_ids.length, completion_tokens: 40,
                  total_tokens: p.prompt_ids.length + 40 }, "completion usage");
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
    eq(usage, r.usage, "streamed completion usage");
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
  eq(usage, c1.usage, "chat stream usage");
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
  check(got >= 3 && got <= 10 && (!error || error instanceof OpenAI.APIUserAbortError),
        "client abort ends the stream", { got, error: String(error) });

  // Errors as the SDK's typed errors.
  await expectError(client.chat.completions.create({ model: "gpt-4o", messages }), 404, "unknown model", "model_not_found");
  // The range is the library's table (0..100), not OpenAI's 0..2.
  await expectError(client.chat.completions.create({ model: MODEL, messages, temperature: 1000 }), 400, "temperature out of range");
  await expectError(client.chat.completions.create({ model: MODEL, messages: [] }), 400, "empty messages");
  await expectError(client.chat.completions.create({ model: MODEL, messages, n: 3 }), 400, "n = 3");
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
}

main().catch((e) => { failed++; console.error("FAIL: exception", e); })
  .finally(() => {
    console.log(`openai_client: ${passed} passed, ${failed} failed`);
    process.exit(failed ? 1 : 0);
  });
