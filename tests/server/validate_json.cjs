// Validates generated JSON documents against their schemas with ajv (a
// validator no one here wrote): node validate_json.cjs CASES.json, where
// CASES.json is {"schemas": {NAME: SCHEMA}, "docs": [{"schema": NAME,
// "text": TEXT}]}.  Every text must parse as JSON and be valid; prints each
// failure and a summary, exits 1 when any fails.
"use strict";
const fs = require("fs");
const Ajv2020 = require("ajv/dist/2020").default;
const AjvDraft7 = require("ajv").default;
const addFormats = require("ajv-formats").default;

const cases = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
function make(Cls) {
  const a = new Cls({ strict: false, allErrors: true });
  addFormats(a);
  return a;
}
const ajv2020 = make(Ajv2020), ajv7 = make(AjvDraft7);
// Draft 2020-12 for $defs / prefixItems; the draft-4..7 array form of
// "items" (with additionalItems) is only meaningful to the draft-7 validator.
const usesArrayItems = (s) => JSON.stringify(s).includes('"additionalItems"');
const validators = {};
for (const [name, schema] of Object.entries(cases.schemas)) {
  validators[name] = (usesArrayItems(schema) ? ajv7 : ajv2020).compile(schema);
}
let ok = 0, bad = 0;
const perSchema = {};
for (const d of cases.docs) {
  const v = validators[d.schema];
  let why = null;
  let doc;
  try {
    doc = JSON.parse(d.text);
  } catch (e) {
    why = "not JSON: " + e.message;
  }
  if (!why && !v(doc)) why = ajv2020.errorsText(v.errors);
  perSchema[d.schema] = (perSchema[d.schema] || 0) + 1;
  if (why) {
    bad++;
    console.log(`INVALID (${d.schema}${d.note ? ", " + d.note : ""}): ${why}\n  ${JSON.stringify(d.text).slice(0, 400)}`);
  } else {
    ok++;
  }
}
console.log(`ajv: ${ok} valid, ${bad} invalid, over ${Object.keys(perSchema).length} schemas`);
process.exit(bad ? 1 : 0);
