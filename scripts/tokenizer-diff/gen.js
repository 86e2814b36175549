#!/usr/bin/env node
// Differential test, reference side: generates random strings and random id
// sequences, runs the Hugging Face tokenizers library (official Node binding,
// npm tokenizers@0.23.2) on them, and writes one JSON line per case:
//   {"t":"enc","text":S,"ids":[..],"ids_sp":[..],"dec":D,"dec_skip":D2}
//   {"t":"dec","ids":[..],"dec":D,"dec_skip":D2}
//   {"t":"enc_nps",...}: as "enc", with special tokens written in the text
//     NOT recognised (HF encode_special_tokens); the reference for these is
//     the tokenizer with its special added tokens renamed to strings no text
//     holds, which splits the text the same way.
// tok_diff (tests/tokenizer) then runs libinference on the same cases.
//
//   node gen.js TOKENIZER_DIR N_CASES SEED > cases.jsonl
'use strict';
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require('tokenizers');

const [dir, nArg, seedArg] = process.argv.slice(2);
if (!dir) { console.error('usage: gen.js TOKENIZER_DIR N_CASES SEED'); process.exit(2); }
const N = parseInt(nArg || '1000', 10);
let seed = (parseInt(seedArg || '1', 10) >>> 0) || 1;

// xorshift32: reproducible across runs and machines
function rnd() { seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0; return seed / 4294967296; }
function ri(n) { return Math.floor(rnd() * n); }
function pick(a) { return a[ri(a.length)]; }

const json = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8'));
const added = (json.added_tokens || []).map(a => a.content);
let vocabSize = 0;
for (const v of Object.values(json.model.vocab)) if (v >= vocabSize) vocabSize = v + 1;
for (const a of json.added_tokens || []) if (a.id >= vocabSize) vocabSize = a.id + 1;
const vocabKeys = Object.keys(json.model.vocab);

const scripts = [
  'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'éèêëàâäôöûüçñßøåæœ',
  'абвгдежзийклмнопрстуфхцчшщыьэюя', 'αβγδεζηθικλμνξοπρστυφχψω', '日本語中文字漢かなカタカナ',
  'مرحباالعربية', 'नमस्तेदुनिया', 'ภาษาไทย', '한국어텍스트', 'שלוםעולם', '𠀀𪛖𝕏𝔸',
];
const words = ['the', 'The', 'hello', 'world', "don't", "I'm", "we're", "they've", "it's", "'s", "'ll", "'D",
  'DON\'T', 'tokenization', 'supercalifragilistic', 'http://x.org/a?b=1', 'e\u0301', 'n\u0303', 'ﬁ', 'Ａ', '½', '²',
  'café', 'naïve', 'x_i', '==', '->', '...', '—', '«»', '“quoted”', '$100', '3.14', '1,000', 'AI', 'GPT-4o'];
const spaces = [' ', '  ', '   ', '\t', '\n', '\n\n', '\r\n', '\u00a0', '\u2003', '\u200b', '\u3000', ' \n ', '\f', '\u0085'];
const punct = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~¡¿§¶•…‰€£¥©®™°±×÷';
const emoji = ['😀', '👍🏽', '👨\u200d👩\u200d👧\u200d👦', '🇬🇧', '❤️', '🤖', '✨', '🏳️\u200d🌈'];

function piece() {
  switch (ri(11)) {
    case 0: case 1: return pick(words);
    case 2: { const s = pick(scripts); let o = ''; const n = 1 + ri(8); for (let i = 0; i < n; i++) o += [...s][ri([...s].length)]; return o; }
    case 3: { let o = ''; const n = 1 + ri(12); for (let i = 0; i < n; i++) o += String(ri(10)); return o; }
    case 4: return pick(spaces);
    case 5: { let o = ''; const n = 1 + ri(4); for (let i = 0; i < n; i++) o += punct[ri(punct.length)]; return o; }
    case 6: return pick(emoji);
    case 7: return added.length ? pick(added) : '<s>';
    case 8: { const w = pick(words); return w.repeat(2 + ri(6)); }
    case 9: { // random code point (no surrogates, no noncharacters)
      let cp;
      do { cp = ri(4) ? 32 + ri(0x3000) : ri(0x30000); } while ((cp >= 0xd800 && cp <= 0xdfff) || cp === 0xfffe || cp === 0xffff);
      return String.fromCodePoint(cp);
    }
    default: return pick(vocabKeys).replace(/[\u2581\u0120]/g, ' ');
  }
}

function text() {
  if (ri(50) === 0) return '';
  let o = '';
  const n = 1 + ri(12);
  for (let i = 0; i < n; i++) { o += piece(); if (ri(2)) o += ' '; }
  if (ri(20) === 0) o = o.repeat(20);
  return o;
}

function ids() {
  const n = 1 + ri(12), o = [];
  for (let i = 0; i < n; i++) o.push(ri(3) ? ri(vocabSize) : (ri(2) ? ri(512) : vocabSize - 1 - ri(Math.min(300, vocabSize))));
  return o;
}

(async () => {
  const tok = Tokenizer.fromFile(path.join(dir, 'tokenizer.json'));
  const plainJson = JSON.parse(JSON.stringify(json));
  // Special tokens get contents no text holds (ids stay: removing them
  // would renumber the added tokens after them).
  plainJson.added_tokens = (plainJson.added_tokens || []).map((a, i) =>
    a.special ? Object.assign({}, a, { content: '\uE000\uE001disabled' + i + '\uE002' }) : a);
  const tokNps = Tokenizer.fromString(JSON.stringify(plainJson));
  const B = 256;
  for (let done = 0; done < N; done += B) {
    const m = Math.min(B, N - done);
    const texts = [], idl = [];
    for (let i = 0; i < m; i++) { if (ri(5)) texts.push(text()); else idl.push(ids()); }
    const plain = await tok.encodeBatch(texts, { addSpecialTokens: false });
    const sp = await tok.encodeBatch(texts, { addSpecialTokens: true });
    const pIds = plain.map(e => Array.from(e.getIds()));
    const allIds = pIds.concat(idl);
    const dec = await tok.decodeBatch(allIds, false);
    const decSkip = await tok.decodeBatch(allIds, true);
    const out = [];
    for (let i = 0; i < texts.length; i++)
      out.push(JSON.stringify({ t: 'enc', text: texts[i], ids: pIds[i], ids_sp: Array.from(sp[i].getIds()), dec: dec[i], dec_skip: decSkip[i] }));
    // every 8th text again without special-token parsing
    const npsTexts = texts.filter((_, i) => i % 8 === 0);
    if (npsTexts.length) {
      const a = await tokNps.encodeBatch(npsTexts, { addSpecialTokens: false });
      const b = await tokNps.encodeBatch(npsTexts, { addSpecialTokens: true });
      const ai = a.map(e => Array.from(e.getIds()));
      const d1 = await tok.decodeBatch(ai, false), d2 = await tok.decodeBatch(ai, true);
      for (let i = 0; i < npsTexts.length; i++)
        out.push(JSON.stringify({ t: 'enc_nps', text: npsTexts[i], ids: ai[i], ids_sp: Array.from(b[i].getIds()), dec: d1[i], dec_skip: d2[i] }));
    }
    for (let j = 0; j < idl.length; j++) {
      const i = texts.length + j;
      out.push(JSON.stringify({ t: 'dec', ids: idl[j], dec: dec[i], dec_skip: decSkip[i] }));
    }
    process.stdout.write(out.join('\n') + '\n');
  }
})().catch(e => { console.error(e); process.exit(1); });
