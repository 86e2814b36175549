// Drives the chat page in headless Chromium via chromedriver.
// Env: BASE_URL, SHOT (screenshot path), CHROMIUM, CHROMEDRIVER.
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { Builder, By, until } = require("selenium-webdriver");
const chrome = require("selenium-webdriver/chrome");

let passed = 0, failed = 0;
function check(cond, what, detail) {
  if (cond) passed++;
  else { failed++; console.error("FAIL: " + what + (detail !== undefined ? " " + JSON.stringify(detail) : "")); }
}
const eq = (got, want, what) => check(got === want, what, { got, want });
const BASE = process.env.BASE_URL;

async function apiReply(messages, max_tokens) {
  const r = await fetch(BASE + "/v1/chat/completions", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ messages, max_tokens, temperature: 0 }),
  });
  return (await r.json()).choices[0].message.content;
}

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "inf-chromium-"));
  const opts = new chrome.Options()
    .setChromeBinaryPath(process.env.CHROMIUM)
    .addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--user-data-dir=" + profile, "--window-size=1000,720");
  const service = new chrome.ServiceBuilder(process.env.CHROMEDRIVER);
  const driver = await new Builder().forBrowser("chrome").setChromeOptions(opts)
    .setChromeService(service).build();
  try {
    await driver.get(BASE + "/");
    await driver.wait(async () => (await driver.executeScript("return document.body.dataset.state")) === "idle", 20000);
    eq(await driver.findElement(By.id("model")).getText(), "brown-llama-8m", "the page shows the model id");
    const maxTokens = await driver.findElement(By.id("maxtokens"));
    await maxTokens.clear();
    await maxTokens.sendKeys("200");

    // First turn: type, press Enter, watch the reply grow while streaming.
    const q1 = "Tell me about the jury.";
    await driver.findElement(By.id("input")).sendKeys(q1, "\n");
    const lengths = new Set();
    const t0 = Date.now();
    for (;;) {
      const [state, len] = await driver.executeScript(
        "const a = document.querySelectorAll('.msg.assistant .text');" +
        "return [document.body.dataset.state, a.length ? a[a.length - 1].textContent.length : 0];");
      lengths.add(len);
      if (state !== "streaming" && len > 0) break;
      if (Date.now() - t0 > 120000) { check(false, "reply finished within 120 s"); break; }
    }
    const replies = await driver.findElements(By.css(".msg.assistant .text"));
    const r1 = await replies[replies.length - 1].getText();
    const want1 = await apiReply([{ role: "user", content: q1 }], 200);
    // getText() trims and collapses like the rendered page; compare trimmed.
    eq(r1.trim(), want1.trim(), "streamed reply equals the API's reply");
    const partial = [...lengths].filter((l) => l > 0 && l < want1.length);
    check(partial.length >= 1, "the reply was seen partially while streaming", [...lengths]);
    eq(await driver.executeScript("return document.body.dataset.state"), "idle", "state idle after the reply");
    const meta = await driver.findElement(By.css(".msg.assistant .meta")).getText();
    check(/\d+ tokens, [\d.]+ tok\/s/.test(meta), "usage line under the reply", meta);

    // Second turn: the page sends the history.
    await driver.findElement(By.id("maxtokens")).clear();
    await driver.findElement(By.id("maxtokens")).sendKeys("24");
    const q2 = "And then?";
    await driver.findElement(By.id("input")).sendKeys(q2, "\n");
    await driver.wait(async () => (await driver.findElements(By.css(".msg.assistant .meta"))).length === 2, 120000);
    const all = await driver.findElements(By.css(".msg.assistant .text"));
    const r2 = await all[1].getText();
    const want2 = await apiReply([{ role: "user", content: q1 }, { role: "assistant", content: want1 },
                                  { role: "user", content: q2 }], 24);
    eq(r2.trim(), want2.trim(), "second turn (with history) equals the API's reply");
    eq((await driver.findElements(By.css(".msg.user"))).length, 2, "two user messages shown");

    const png = await driver.takeScreenshot();
    fs.writeFileSync(process.env.SHOT, Buffer.from(png, "base64"));
    const logs = await driver.executeScript("return document.querySelectorAll('.msg.error').length");
    eq(logs, 0, "no error message on the page");
  } finally {
    await driver.quit();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => { failed++; console.error("FAIL: exception", e); })
  .finally(() => {
    console.log(`web_client: ${passed} passed, ${failed} failed`);
    process.exit(failed ? 1 : 0);
  });
