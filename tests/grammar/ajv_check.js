// Validates the random documents schema_suite wrote (one JSON object per
// line: {"draft": 4 | 2020, "schema": ..., "doc": "<JSON text>"}) with ajv,
// the reference validator: every document must parse and be valid.
//   node ajv_check.js GENERATED.jsonl      (NODE_PATH: the npm-grammar cache)
"use strict";
const fs = require("fs");
const Ajv4 = require("ajv-draft-04");
const Ajv2020 = require("ajv/dist/2020");
const addFormats = require("ajv-formats");

const file = process.argv[2];
const lines = fs.readFileSync(file, "utf8").split("\n").filter((l) => l.length);
const mk = (C) => { const a = new C({ strict: false, allErrors: false, validateFormats: true }); addFormats(a); return a; };
const ajv = { 4: mk(Ajv4), 2020: mk(Ajv2020) };
const compiled = new Map();
let ok = 0, bad = 0;
for (const line of lines) {
  const rec = JSON.parse(line);
  const key = rec.draft + JSON.stringify(rec.schema);
  let validate = compiled.get(key);
  if (!validate) {
    try { validate = ajv[rec.draft].compile(rec.schema); } catch (e) {
      console.log("ajv cannot compile " + JSON.stringify(rec.schema) + ": " + e.message); bad++; continue;
    }
    compiled.set(key, validate);
  }
  let value;
  try { value = JSON.parse(rec.doc); } catch (e) {
    console.log("not JSON: " + JSON.stringify(rec.doc) + " (schema " + JSON.stringify(rec.schema) + ")"); bad++; continue;
  }
  if (validate(value)) ok++;
  else {
    bad++;
    console.log("INVALID: " + JSON.stringify(rec.doc) + "\n  schema " + JSON.stringify(rec.schema) +
                "\n  " + JSON.stringify(validate.errors));
  }
}
console.log(`ajv_check: ${ok} documents valid, ${bad} invalid, ${compiled.size} schemas`);
process.exit(bad || ok === 0 ? 1 : 0);
