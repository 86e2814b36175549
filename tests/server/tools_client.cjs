// Tool calls and structured output through the official `openai` npm
// package (issue 15): a tool-calling round trip (tools, the model's call, the
// tool's result, the next reply), non-streamed and streamed (the SDK's own
// stream helper puts delta.tool_calls back together), and response_format
// json_schema (the SDK's parse helper).  Env: BASE_URL (a server on the
// bundled model).  Prints "N passed, N failed"; exits 1 on any failure.
"use strict";
const OpenAI = require("openai");

let passed = 0, failed = 0;
function check(cond, what, detail) {
  if (cond) passed++;
  else { failed++; console.error("FAIL: " + what + (detail !== undefined ? " " + JSON.stringify(detail) : "")); }
}
function eq(got, want, what) {
  check(JSON.stringify(got) === JSON.stringify(want), what, { got, want });
}

const client = new OpenAI({ baseURL: process.env.BASE_URL + "/v1", apiKey: "unused", maxRetries: 0 });
const MODEL = "brown-llama-8m";
const tools = [{
  type: "function",
  function: {
    name: "get_weather",
    description: "The current weather in a city",
    parameters: {
      type: "object",
      properties: { city: { type: "string", maxLength: 16 }, unit: { enum: ["celsius", "fahrenheit"] } },
      required: ["city", "unit"], additionalProperties: false,
    },
  },
}];

function checkCall(call, what) {
  check(typeof call.id === "string" && call.id.startsWith("call_"), what + ": id", call.id);
  eq(call.type, "function", what + ": type");
  eq(call.function.name, "get_weather", what + ": function name");
  let args = null;
  try { args = JSON.parse(call.function.arguments); } catch (e) { /* checked below */ }
  check(args && typeof args.city === "string" && ["celsius", "fahrenheit"].includes(args.unit),
        what + ": arguments match the parameters", call.function.arguments);
  return args;
}

async function roundTrip(stream) {
  const what = stream ? "streamed" : "non-streamed";
  const messages = [{ role: "user", content: "What is the weather in Paris?" }];
  let msg, finish, firstUsage;
  if (stream) {
    // The SDK's stream helper assembles the chunks as it would OpenAI's.
    const s = client.chat.completions.stream({ model: MODEL, messages, tools, tool_choice: "required",
      parallel_tool_calls: false, temperature: 1, seed: 11, max_tokens: 400 });
    let deltas = 0;
    s.on("chunk", (c) => { if (c.choices[0] && c.choices[0].delta.tool_calls) deltas++; });
    const done = await s.finalChatCompletion();
    msg = done.choices[0].message;
    finish = done.choices[0].finish_reason;
    check(deltas >= 1, what + ": delta.tool_calls chunks", deltas);
  } else {
    const r = await client.chat.completions.create({ model: MODEL, messages, tools, tool_choice: "required",
      parallel_tool_calls: false, temperature: 1, seed: 11, max_tokens: 400 });
    msg = r.choices[0].message;
    finish = r.choices[0].finish_reason;
    firstUsage = r.usage;
  }
  eq(finish, "tool_calls", what + ": finish_reason");
  eq(msg.role, "assistant", what + ": role");
  check(Array.isArray(msg.tool_calls) && msg.tool_calls.length === 1, what + ": one tool call", msg);
  if (!msg.tool_calls || !msg.tool_calls.length) return;
  const call = msg.tool_calls[0];
  const args = checkCall(call, what);

  // The tool's result goes back with the call's id; the model replies.
  messages.push({ role: "assistant", content: msg.content ?? null, tool_calls: msg.tool_calls });
  messages.push({ role: "tool", tool_call_id: call.id,
                  content: JSON.stringify({ city: args && args.city, temperature: 21, sky: "clear" }) });
  const next = { model: MODEL, messages, tools, temperature: 0, max_tokens: 24 };
  if (stream) {
    const s = await client.chat.completions.create({ ...next, stream: true, stream_options: { include_usage: true } });
    let text = "", fin = null, usage = null;
    for await (const c of s) {
      if (c.usage) usage = c.usage;
      for (const ch of c.choices) { text += ch.delta.content || ""; if (ch.finish_reason) fin = ch.finish_reason; }
    }
    check(typeof text === "string", what + ": the next reply is text", text);
    check(fin === "stop" || fin === "length" || fin === "tool_calls", what + ": its finish_reason", fin);
    check(usage && usage.prompt_tokens > 0, what + ": usage", usage);
  } else {
    const r = await client.chat.completions.create(next);
    const m = r.choices[0].message;
    check(typeof m.content === "string" || Array.isArray(m.tool_calls), what + ": the next reply", m);
    // The call and its result are in the prompt now: it grew.
    check(r.usage.prompt_tokens > firstUsage.prompt_tokens + 10,
          what + ": the call and the tool result reach the template", [r.usage, firstUsage]);
  }
  // tool_choice "none": no tools offered, plain text back.
  const r = await client.chat.completions.create({ ...next, tool_choice: "none" });
  check(typeof r.choices[0].message.content === "string" && !r.choices[0].message.tool_calls,
        what + ": tool_choice none gives text", r.choices[0].message);
}

async function main() {
  await roundTrip(false);
  await roundTrip(true);

  // A named function.
  const r = await client.chat.completions.create({ model: MODEL, tools, temperature: 1, seed: 5,
    tool_choice: { type: "function", function: { name: "get_weather" } }, max_tokens: 400,
    messages: [{ role: "user", content: "Weather in Oslo, please." }] });
  eq(r.choices[0].finish_reason, "tool_calls", "named function: finish_reason");
  checkCall(r.choices[0].message.tool_calls[0], "named function");

  // response_format json_schema, read back by the SDK's parse helper.
  const schema = {
    type: "object",
    properties: { title: { type: "string", maxLength: 24 }, year: { type: "integer", minimum: 1900, maximum: 2030 },
                  tags: { type: "array", items: { type: "string", maxLength: 8 }, maxItems: 3 } },
    required: ["title", "year", "tags"], additionalProperties: false,
  };
  for (const seed of [1, 2, 3]) {
    const p = await client.chat.completions.parse({ model: MODEL, temperature: 1, seed, max_tokens: 300,
      messages: [{ role: "user", content: "A book, as JSON." }],
      response_format: { type: "json_schema", json_schema: { name: "book", schema, strict: true } } });
    const b = p.choices[0].message.parsed;
    check(b && typeof b.title === "string" && b.title.length <= 24 && Number.isInteger(b.year) &&
          b.year >= 1900 && b.year <= 2030 && Array.isArray(b.tags) && b.tags.length <= 3 &&
          Object.keys(b).length === 3, "response_format json_schema: parsed and valid", b);
    eq(p.choices[0].finish_reason, "stop", "response_format: finish_reason");
  }
  // json_object: any JSON object.
  const j = await client.chat.completions.create({ model: MODEL, temperature: 1, seed: 9, max_tokens: 600,
    messages: [{ role: "user", content: "JSON please" }], response_format: { type: "json_object" } });
  if (j.choices[0].finish_reason === "stop") {
    let o = null;
    try { o = JSON.parse(j.choices[0].message.content); } catch (e) { /* below */ }
    check(o !== null && typeof o === "object" && !Array.isArray(o), "json_object: an object", j.choices[0].message.content);
  }
  // A bad schema is a 400 the SDK reports as BadRequestError.
  try {
    await client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "x" }],
      response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "number", multipleOf: 2 } } } });
    check(false, "an unsupported keyword should fail");
  } catch (e) {
    eq(e.status, 400, "unsupported keyword: 400");
    check(/multipleOf/.test(e.message), "unsupported keyword: named", e.message);
  }
}

main().then(() => {
  console.log(`tools_client: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}, (e) => {
  console.error("FAIL: exception", e);
  process.exit(1);
});
