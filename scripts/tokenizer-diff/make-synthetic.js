#!/usr/bin/env node
// Writes small synthetic tokenizer.json files that use the pipeline parts
// the four real tokenizers do not (Metaspace / Digits / Punctuation /
// Whitespace pre-tokenizers, every Split behaviour, Lowercase / NFKC / NFD /
// StripAccents / Strip / regex Replace normalizers, lstrip / rstrip /
// single_word / normalized added tokens, Roberta and Template post-processors
// with EOS, Strip / BPEDecoder / Metaspace decoders, subword prefix / suffix,
// unknown tokens with and without fuse_unk, ignore_merges), each into
// tests/tokenizer/data/NAME/tokenizer.json, then reference cases for them
// from HF tokenizers (gen.js) into tests/tokenizer/data/NAME/cases.jsonl.
//
//   node make-synthetic.js [CASES_PER_TOKENIZER (150)]
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const out = path.join(__dirname, '..', '..', 'tests', 'tokenizer', 'data');
const nCases = process.argv[2] || '150';

const corpus = `The quick brown fox jumps over the lazy dog. Hello world! hello, World.
Tokenizers split text into words, then words into sub-word pieces; the pieces are merged
by rank. Numbers like 1234, 3.14 and 2026-11-27 appear too. Café naïve résumé. Don't stop
believing — it's what we're told. Ünïcödé text, ÉCOLE, straße. a-b-c x_y_z foo.bar(baz).`;

// A tiny BPE trainer: enough to give the synthetic tokenizers real merges.
function train(words, alphabet, nMerges, decorate, prefix = '') {
  const vocab = new Map();
  for (const a of alphabet) if (!vocab.has(a)) vocab.set(a, vocab.size);
  let seqs = words.map(w => decorate([...w]));
  for (const s of seqs) for (const c of s) if (!vocab.has(c)) vocab.set(c, vocab.size);
  const merges = [];
  for (let m = 0; m < nMerges; m++) {
    const counts = new Map();
    for (const s of seqs) for (let i = 0; i + 1 < s.length; i++) {
      const k = s[i] + '\u0000' + s[i + 1];
      counts.set(k, (counts.get(k) || 0) + 1);
    }
    let best = null, bc = 1;
    for (const [k, c] of counts) if (c > bc || (c === bc && best !== null && k < best)) { best = k; bc = c; }
    if (!best) break;
    const [a, b] = best.split('\u0000');
    merges.push([a, b]);
    const ab = a + (prefix && b.startsWith(prefix) ? b.slice(prefix.length) : b);
    if (!vocab.has(ab)) vocab.set(ab, vocab.size);
    seqs = seqs.map(s => {
      const o = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) { o.push(ab); i++; } else o.push(s[i]);
      }
      return o;
    });
  }
  return { vocab: Object.fromEntries(vocab), merges };
}

function addedTok(id, content, o = {}) {
  return { id, content, single_word: !!o.single_word, lstrip: !!o.lstrip, rstrip: !!o.rstrip,
    normalized: !!o.normalized, special: !!o.special };
}

function withAdded(model, specs) {
  const added = [];
  let next = Object.keys(model.vocab).length;
  for (const [content, o] of specs) {
    const id = content in model.vocab ? model.vocab[content] : next++;
    if (!(content in model.vocab)) model.vocab[content] = id;
    added.push(addedTok(id, content, o));
  }
  return added;
}

const bytes = [];
for (let b = 0; b < 256; b++) bytes.push('<0x' + b.toString(16).toUpperCase().padStart(2, '0') + '>');
const ascii = [];
for (let c = 32; c < 127; c++) ascii.push(String.fromCharCode(c));
const R = '\u2581';
const words = corpus.split(/\s+/);

const defs = {};

// 1. SentencePiece style with a Metaspace pre-tokenizer (prepend "first"),
// byte fallback, and added tokens with lstrip / rstrip / single_word /
// normalized flags.
{
  const m = train(words.map(w => R + w), ['<unk>', ...bytes, R, ...ascii.filter(c => c !== ' ')], 200, s => s);
  const model = { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null,
    end_of_word_suffix: null, fuse_unk: false, byte_fallback: true, ignore_merges: false, vocab: m.vocab, merges: m.merges };
  const added = withAdded(model, [['<unk>', { special: true }], ['<s>', { special: true }], ['</s>', { special: true }],
    ['[MASK]', { special: true, lstrip: true, rstrip: true }], ['hello', { single_word: true, normalized: true }],
    ['<sep>', { rstrip: true }]]);
  defs.sp_meta = { version: '1.0', truncation: null, padding: null, added_tokens: added,
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Replace', pattern: { Regex: '\\s{2,}' }, content: ' ' }] },
    pre_tokenizer: { type: 'Metaspace', replacement: R, prepend_scheme: 'first', split: true },
    post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [model.vocab['<s>']], tokens: ['<s>'] }, '</s>': { id: '</s>', ids: [model.vocab['</s>']], tokens: ['</s>'] } } },
    decoder: { type: 'Sequence', decoders: [{ type: 'ByteFallback' }, { type: 'Metaspace', replacement: R, prepend_scheme: 'first', split: true }] },
    model };
}

// 2. GPT-2 style: ByteLevel pre-tokenizer with its own regex and a prefix
// space, Roberta post-processor.
{
  const b2c = [];
  for (let b = 0; b < 256; b++) b2c.push(null);
  const keep = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  let n = 0;
  for (let b = 0; b < 256; b++) b2c[b] = keep.includes(b) ? String.fromCharCode(b) : String.fromCharCode(256 + n++);
  const enc = w => [...Buffer.from(w, 'utf8')].map(b => b2c[b]).join('');
  const m = train(words.map(w => enc(' ' + w)), b2c, 250, s => s);
  const model = { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
    fuse_unk: false, byte_fallback: false, vocab: m.vocab, merges: m.merges.map(p => p.join(' ')) };
  const added = withAdded(model, [['<s>', { special: true }], ['</s>', { special: true }], ['<|endoftext|>', { special: true }],
    ['<pad>', { special: true, rstrip: true }], ['[user]', { lstrip: true }]]);
  defs.gpt2 = { version: '1.0', truncation: null, padding: null, added_tokens: added, normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    post_processor: { type: 'RobertaProcessing', sep: ['</s>', model.vocab['</s>']], cls: ['<s>', model.vocab['<s>']], trim_offsets: true, add_prefix_space: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true }, model };
}

// 3. Word-piece-like BPE: NFD + StripAccents + Lowercase + Strip,
// Whitespace + Punctuation + Digits pre-tokenizers, end-of-word suffix with
// the BPEDecoder, fused unknown tokens, ignore_merges.
{
  const m = train(words.map(w => w.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase()),
    ['[UNK]', ...'abcdefghijklmnopqrstuvwxyz0123456789.,;:!?-_()'.split('').flatMap(c => [c, c + '</w>'])], 200,
    s => s.map((c, i) => i === s.length - 1 ? c + '</w>' : c));
  const model = { type: 'BPE', dropout: null, unk_token: '[UNK]', continuing_subword_prefix: null, end_of_word_suffix: '</w>',
    fuse_unk: true, byte_fallback: false, ignore_merges: true, vocab: m.vocab, merges: m.merges };
  const added = withAdded(model, [['[UNK]', { special: true }], ['[CLS]', { special: true }], ['[SEP]', { special: true }]]);
  defs.words = { version: '1.0', truncation: null, padding: null, added_tokens: added,
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFD' }, { type: 'StripAccents' }, { type: 'Lowercase' }, { type: 'Strip', strip_left: true, strip_right: true }] },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Whitespace' }, { type: 'Punctuation', behavior: 'Isolated' }, { type: 'Digits', individual_digits: true }] },
    post_processor: { type: 'BertProcessing', sep: ['[SEP]', model.vocab['[SEP]']], cls: ['[CLS]', model.vocab['[CLS]']] },
    decoder: { type: 'BPEDecoder', suffix: '</w>' }, model };
}

// 4. Split behaviours and a Prepend / Replace / Strip / Fuse chain; the
// model has a continuing-subword prefix.
{
  const m = train(words, ['<unk>', ...ascii, ...ascii.map(c => '##' + c)], 150, s => s.map((c, i) => i ? '##' + c : c), '##');
  const model = { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: '##', end_of_word_suffix: null,
    fuse_unk: false, byte_fallback: false, vocab: m.vocab, merges: m.merges };
  const added = withAdded(model, [['<unk>', { special: true }], ['<eos>', { special: true }]]);
  defs.splits = { version: '1.0', truncation: null, padding: null, added_tokens: added,
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKD' }, { type: 'Prepend', prepend: '_' }, { type: 'Replace', pattern: { String: '  ' }, content: ' ' }] },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [
      { type: 'Split', pattern: { Regex: '[0-9]+' }, behavior: 'MergedWithNext', invert: false },
      { type: 'Split', pattern: { String: '-' }, behavior: 'MergedWithPrevious', invert: false },
      { type: 'Split', pattern: { Regex: '[.,;!?]' }, behavior: 'Contiguous', invert: false },
      { type: 'Split', pattern: { Regex: '\\p{L}+' }, behavior: 'Removed', invert: true },
      { type: 'WhitespaceSplit' }] },
    post_processor: { type: 'TemplateProcessing', single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<eos>', type_id: 0 } }],
      pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<eos>': { id: '<eos>', ids: [model.vocab['<eos>']], tokens: ['<eos>'] } } },
    decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '##' }, content: '' }, { type: 'Fuse' }, { type: 'Strip', content: '_', start: 1, stop: 0 }] },
    model };
}

for (const [name, def] of Object.entries(defs)) {
  const dir = path.join(out, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(def));
  const cases = execFileSync('node', [path.join(__dirname, 'gen.js'), dir, nCases, '99'], { maxBuffer: 1 << 28 });
  fs.writeFileSync(path.join(dir, 'cases.jsonl'), cases);
  console.log(name, Object.keys(def.model.vocab).length, 'pieces');
}
