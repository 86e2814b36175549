// A bounded load generator for `inference serve` (loopback only; Node's
// built-in http, no packages): CLIENTS concurrent clients each send
// REQUESTS streaming completions of MAX_TOKENS tokens, and every response is
// checked for completeness.  Prints one JSON line of results.
// Env: BASE_URL (must be a loopback URL), CLIENTS (64), REQUESTS (1),
// MAX_TOKENS (32), TIMEOUT_S (600).
"use strict";
const http = require("http");

const base = new URL(process.env.BASE_URL);
if (!["127.0.0.1", "localhost", "[::1]"].includes(base.hostname)) {
  console.error("load_client: refusing a non-loopback target " + base.hostname);
  process.exit(2);
}
const CLIENTS = +(process.env.CLIENTS || 64), REQUESTS = +(process.env.REQUESTS || 1);
const MAX_TOKENS = +(process.env.MAX_TOKENS || 32), TIMEOUT_S = +(process.env.TIMEOUT_S || 600);
const PROMPTS = ["The jury said", "Once upon a time", "In the morning, the", "The city of",
                 "He told me that", "After the war", "She looked at", "It was a"];

function one(prompt) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const body = JSON.stringify({ prompt, max_tokens: MAX_TOKENS, temperature: 0, stream: true,
                                  stream_options: { include_usage: true } });
    const res = { ok: false, ttft: null, seconds: 0, tokens: 0, error: null };
    const req = http.request({ host: base.hostname.replace(/^\[|\]$/g, ""), port: base.port,
      path: "/v1/completions", method: "POST", agent: false,
      headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) } }, (r) => {
      if (r.statusCode !== 200) { res.error = "HTTP " + r.statusCode; r.resume(); r.on("end", () => resolve(res)); return; }
      r.setEncoding("utf8");
      let buf = "", text = "", finish = null, usage = null, done = false;
      r.on("data", (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const ev = buf.slice(0, i); buf = buf.slice(i + 2);
          if (!ev.startsWith("data: ")) continue;
          const data = ev.slice(6);
          if (data === "[DONE]") { done = true; continue; }
          const j = JSON.parse(data);
          if (j.error) { res.error = j.error.message; continue; }
          if (j.usage) usage = j.usage;
          for (const c of j.choices || []) {
            if (c.text && res.ttft === null) res.ttft = Number(process.hrtime.bigint() - t0) / 1e9;
            text += c.text || "";
            if (c.finish_reason) finish = c.finish_reason;
          }
        }
      });
      r.on("end", () => {
        res.seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        res.tokens = usage ? usage.completion_tokens : 0;
        // Complete: [DONE] arrived, a finish reason, usage, some text, and a
        // "length" finish means exactly MAX_TOKENS tokens.
        if (!res.error) {
          if (!done) res.error = "no [DONE] (truncated)";
          else if (!finish || !usage || !text) res.error = "missing finish_reason/usage/text";
          else if (finish === "length" && usage.completion_tokens !== MAX_TOKENS)
            res.error = `length finish with ${usage.completion_tokens} tokens`;
          else res.ok = true;
        }
        resolve(res);
      });
      r.on("error", (e) => { res.error = String(e); resolve(res); });
    });
    req.setTimeout(TIMEOUT_S * 1000, () => { res.error = "timeout"; req.destroy(); });
    req.on("error", (e) => { if (!res.error) res.error = String(e); resolve(res); });
    req.end(body);
  });
}

function pct(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)];
}

async function main() {
  const t0 = process.hrtime.bigint();
  const all = [];
  await Promise.all(Array.from({ length: CLIENTS }, async (_, c) => {
    for (let r = 0; r < REQUESTS; r++) all.push(await one(PROMPTS[(c + r) % PROMPTS.length]));
  }));
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const ok = all.filter((r) => r.ok);
  const ttft = ok.map((r) => r.ttft).filter((x) => x !== null).sort((a, b) => a - b);
  const tokens = ok.reduce((s, r) => s + r.tokens, 0);
  const errors = {};
  for (const r of all) if (!r.ok) errors[r.error] = (errors[r.error] || 0) + 1;
  console.log(JSON.stringify({
    clients: CLIENTS, requests: all.length, ok: ok.length, failed: all.length - ok.length, errors,
    max_tokens: MAX_TOKENS, completion_tokens: tokens, wall_seconds: +wall.toFixed(3),
    tokens_per_second: +(tokens / wall).toFixed(2),
    ttft_p50_s: ttft.length ? +pct(ttft, 50).toFixed(3) : null,
    ttft_p99_s: ttft.length ? +pct(ttft, 99).toFixed(3) : null,
    latency_p50_s: +(pct(ok.map((r) => r.seconds).sort((a, b) => a - b), 50) || 0).toFixed(3),
  }));
  process.exit(all.length === ok.length ? 0 : 1);
}
main();
