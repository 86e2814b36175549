/* A tokenizer from plain vocabulary arrays (a GGUF file's tokenizer.ggml.*
 * metadata, handed over by the engine), with the meaning llama.cpp gives
 * them (llama-vocab.cpp):
 *
 * - "llama" (SentencePiece-style): spaces become U+2581, a U+2581 goes in
 *   front of every stretch of text when add_space_prefix (default on);
 *   pieces merge by score (tok_spm.c); unknown characters fall back to
 *   <0xNN> byte tokens.  BOS is added by default, EOS not.
 * - "gpt2" (byte-level BPE): tokens, merges ranked by their order, and the
 *   pre-tokenizer that tokenizer.ggml.pre names.  Each supported name gets
 *   the pipeline the model's own tokenizer.json describes (built with the
 *   same component readers as tokenizer.json, tok_load_pipeline.c), so a
 *   GGUF tokenizer encodes as the model's Hugging Face one does.
 *
 * Tokens of type CONTROL, USER_DEFINED and UNKNOWN are added tokens, found
 * in the raw text before anything else (longest first); CONTROL and
 * UNKNOWN ones are special (recognised only with INF__TOK_PARSE_SPECIAL,
 * skipped by decode's skip_special), USER_DEFINED ones always match.  The
 * types are the file's after llama.cpp's changes by token text
 * (inf__tok_vocab_types, below).
 *
 * No Unicode normalisation: llama.cpp applies none to "llama" and "gpt2"
 * vocabularies, whatever tokenizer.ggml.pre says (its only normaliser is
 * the lowercase / strip-accents of BERT-style "bert" ones, not handled
 * here), so a Qwen GGUF is tokenized without the NFC that Qwen's
 * tokenizer.json puts first: text in decomposed form (NFD "e" U+0301) gives
 * other ids than through tokenizer.json.  The rule is that a GGUF
 * file's tokenizer means what llama.cpp does with it. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer/tok_internal.h"
#include "text/tokenizer/tok_load.h"

#define OOM(err) inf__seterr(err, INF_E_NOMEM, "out of memory loading tokenizer")
#define MAX_TOKENS 0x7FFFFFF

void inf__tok_vocab_spec_init(inf__tok_vocab_spec *spec) {
    if (!spec) return;
    memset(spec, 0, sizeof *spec);
    spec->bos_id = spec->eos_id = spec->unk_id = spec->sep_id = -1;
    spec->pad_id = spec->mask_id = spec->eot_id = spec->eom_id = -1;
    spec->add_bos = spec->add_eos = spec->add_space_prefix = spec->remove_extra_whitespaces = -1;
    for (int r = 0; r < INF__TOK_FIM_ROLES; r++) spec->fim_ids[r] = -1;
}

/* ---- llama.cpp's token types by text ------------------------------------ */
/* llama.cpp does not take tokenizer.ggml.token_type as it is: on loading a
 * vocabulary (llama_vocab::impl::load, llama-vocab.cpp of node-llama-cpp
 * 3.21.1) it changes the type of some tokens by their text, because
 * converters have written end-of-turn and fill-in-the-middle tokens as
 * ordinary ones ("control-looking token ... was not control-type ... its
 * type will be overridden").  The type decides tokenization (a CONTROL
 * token is matched in the text only when special tokens are parsed, a
 * USER_DEFINED one always, a NORMAL one only through the BPE / SentencePiece
 * merges) and decoding with skip_special, so the same changes are made
 * here, in llama.cpp's order:
 *
 * 1. fill-in-the-middle roles (FIM_NAMES): for each role whose id the file
 *    does not give (tokenizer.ggml.fim_*_token_id), the first vocabulary
 *    token with one of the role's names becomes CONTROL.  llama.cpp meets
 *    the tokens in its hash map's order; where a vocabulary holds two names
 *    of one role (no known model does) the lowest id is taken here.
 *    (llama.cpp's EOT and EOM searches work the same way, but each of their
 *    names is also an end-of-generation name, which rule 2 turns CONTROL
 *    anyway.)
 * 2. end-of-generation names (EOG_NAMES): every token with one of them
 *    becomes CONTROL.  This is what turns Qwen 3's ordinary "</s>"
 *    (128247) into a control token.
 * 3. gpt-oss: <|channel|>, <|message|>, <|start|>, <|constrain|> become
 *    USER_DEFINED (always rendered).
 * 4. o200k_harmony / solar-open: with <|return|> and <|call|> (or
 *    <|calls|>), or <|calls|>/<|call|> and <|flush|>, <|end|> is not an
 *    end-of-generation token and becomes USER_DEFINED.
 * 5. Gemma 4 / PaddleOCR: with <|tool_response>, </s> becomes NORMAL.
 * llama.cpp's "unused" mark (CONTROL tokens whose text holds "unused")
 * changes neither tokenization nor decoding and is not kept.  For a text
 * given to several ids the last id is the one found by text, as in
 * llama.cpp's token_to_id. */
#define FW_BAR "\xEF\xBD\x9C" /* U+FF5C, DeepSeek's full-width bar */
#define SP_MARK "\xE2\x96\x81" /* U+2581 */
static const char *const FIM_NAMES[INF__TOK_FIM_ROLES][9] = {
    [INF__TOK_FIM_PRE] = {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<" FW_BAR "fim" SP_MARK "begin" FW_BAR ">",
                          "<PRE>", SP_MARK "<PRE>", "<|code_prefix|>", "<|prefix|>", NULL},
    [INF__TOK_FIM_SUF] = {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<" FW_BAR "fim" SP_MARK "hole" FW_BAR ">",
                          "<SUF>", SP_MARK "<SUF>", "<|code_suffix|>", "<|suffix|>", NULL},
    [INF__TOK_FIM_MID] = {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<" FW_BAR "fim" SP_MARK "end" FW_BAR ">",
                          "<MID>", SP_MARK "<MID>", "<|code_middle|>", "<|middle|>", NULL},
    [INF__TOK_FIM_PAD] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL},
    [INF__TOK_FIM_REP] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", NULL},
    [INF__TOK_FIM_SEP] = {"<|file_sep|>", NULL},
};
static const char *const EOG_NAMES[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<" FW_BAR "end" SP_MARK "of" SP_MARK "sentence" FW_BAR ">", "[e~[",
};
static const char *const ALWAYS_RENDERED[] = {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"};

static int32_t by_text(const tk_strmap *vocab, const char *s) { return inf__tk_strmap_get(vocab, s, strlen(s)); }

static void type_rules(const tk_strmap *vocab, const inf__tok_vocab_spec *sp, int32_t *ty) {
    size_t n = sp->n_tokens;
    for (size_t i = 0; i < n; i++) ty[i] = sp->token_types ? sp->token_types[i] : INF__TOK_TYPE_NORMAL;
    for (int r = 0; r < INF__TOK_FIM_ROLES; r++) {
        if (sp->fim_ids[r] >= 0 && (size_t)sp->fim_ids[r] < n) continue; /* given (out of range: ignored, as there) */
        int32_t first = -1;
        for (int k = 0; FIM_NAMES[r][k]; k++) {
            int32_t id = by_text(vocab, FIM_NAMES[r][k]);
            if (id >= 0 && (first < 0 || id < first)) first = id;
        }
        if (first >= 0 && ty[first] != INF__TOK_TYPE_UNKNOWN) ty[first] = INF__TOK_TYPE_CONTROL;
    }
    for (size_t k = 0; k < sizeof EOG_NAMES / sizeof EOG_NAMES[0]; k++) {
        int32_t id = by_text(vocab, EOG_NAMES[k]);
        if (id >= 0 && ty[id] != INF__TOK_TYPE_UNKNOWN) ty[id] = INF__TOK_TYPE_CONTROL;
    }
    for (size_t k = 0; k < sizeof ALWAYS_RENDERED / sizeof ALWAYS_RENDERED[0]; k++) {
        int32_t id = by_text(vocab, ALWAYS_RENDERED[k]);
        if (id >= 0) ty[id] = INF__TOK_TYPE_USER_DEFINED;
    }
    int has_return = by_text(vocab, "<|return|>") >= 0, has_flush = by_text(vocab, "<|flush|>") >= 0;
    int has_call = by_text(vocab, "<|call|>") >= 0 || by_text(vocab, "<|calls|>") >= 0;
    int32_t end = by_text(vocab, "<|end|>");
    if (end >= 0 && has_call && (has_return || has_flush)) ty[end] = INF__TOK_TYPE_USER_DEFINED;
    int32_t s_end = by_text(vocab, "</s>");
    if (s_end >= 0 && by_text(vocab, "<|tool_response>") >= 0) ty[s_end] = INF__TOK_TYPE_NORMAL;
}

/* ---- pre-tokenizers by tokenizer.ggml.pre ------------------------------- */
/* The regular expressions as the models' tokenizer.json files write them
 * (llama.cpp carries rewritten equivalents for its own regex engine). */
static const char RE_LLAMA3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char RE_QWEN2[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char RE_QWEN35[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
/* The GPT-2 expression without its last "|\s+" (llama.cpp's sets use it
 * so; text no expression matches stays a piece of its own anyway). */
static const char RE_GPT2_NOWS[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";

enum { PRE_LLAMA3, PRE_QWEN2, PRE_QWEN35, PRE_GPT2, PRE_DEFAULT, PRE_STARCODER };
static const struct { const char *name; int kind; } PRE_NAMES[] = {
    {"llama3", PRE_LLAMA3}, {"llama-v3", PRE_LLAMA3}, {"llama-bpe", PRE_LLAMA3}, {"falcon3", PRE_LLAMA3},
    {"falcon-h1", PRE_LLAMA3}, {"pixtral", PRE_LLAMA3}, {"midm-2.0", PRE_LLAMA3}, {"lfm2", PRE_LLAMA3},
    {"dbrx", PRE_LLAMA3}, {"smaug-bpe", PRE_LLAMA3},
    {"qwen2", PRE_QWEN2}, {"deepseek-r1-qwen", PRE_QWEN2}, {"megrez", PRE_QWEN2}, {"stablelm2", PRE_QWEN2},
    {"hunyuan", PRE_QWEN2}, {"qwen35", PRE_QWEN35},
    {"gpt-2", PRE_GPT2}, {"phi-2", PRE_GPT2}, {"mpt", PRE_GPT2}, {"olmo", PRE_GPT2}, {"jais", PRE_GPT2},
    {"exaone4", PRE_GPT2},
    {"default", PRE_DEFAULT},
    {"starcoder", PRE_STARCODER}, {"refact", PRE_STARCODER}, {"command-r", PRE_STARCODER},
    {"smollm", PRE_STARCODER}, {"codeshell", PRE_STARCODER}, {"exaone", PRE_STARCODER},
    {"minerva-7b", PRE_STARCODER},
};

static json_t *split_isolated(const char *re) {
    return json_pack("{s:s, s:{s:s}, s:s, s:b}", "type", "Split", "pattern", "Regex", re,
                     "behavior", "Isolated", "invert", 0);
}

static json_t *bytelevel(int use_regex) {
    return json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 0,
                     "trim_offsets", 0, "use_regex", use_regex);
}

/* The byte-level pipeline for pre-tokenizer kind: pre_tokenizer and
 * normalizer (json null when none) as tokenizer.json would write them;
 * *ignore_merges and *add_bos (llama.cpp's defaults for the kind). */
static int bpe_pipeline(int kind, json_t **pre, json_t **norm, int *ignore_merges, int *add_bos) {
    *norm = json_null();
    *ignore_merges = 0;
    *add_bos = 0;
    switch (kind) {
    case PRE_LLAMA3:
        *ignore_merges = 1;
        *add_bos = 1;
        *pre = json_pack("{s:s, s:[o, o]}", "type", "Sequence", "pretokenizers", split_isolated(RE_LLAMA3), bytelevel(0));
        break;
    case PRE_QWEN2:
    case PRE_QWEN35:
        /* Qwen's tokenizer.json puts NFC in front; llama.cpp does not, and
         * its reading wins (see the top of the file). */
        *pre = json_pack("{s:s, s:[o, o]}", "type", "Sequence", "pretokenizers",
                         split_isolated(kind == PRE_QWEN2 ? RE_QWEN2 : RE_QWEN35), bytelevel(0));
        break;
    case PRE_GPT2:
        *pre = bytelevel(1);
        break;
    case PRE_DEFAULT:
        *pre = json_pack("{s:s, s:[o, o, o, o, o]}", "type", "Sequence", "pretokenizers",
                         split_isolated("[\\p{P}\\$\\+<=>\\^~\\|]+"), split_isolated(RE_GPT2_NOWS),
                         split_isolated("\\p{N}+"), split_isolated("[0-9][0-9][0-9]"), bytelevel(0));
        break;
    case PRE_STARCODER:
        *pre = json_pack("{s:s, s:[o, o, o]}", "type", "Sequence", "pretokenizers", split_isolated("\\p{N}"),
                         split_isolated(RE_GPT2_NOWS), bytelevel(0));
        break;
    default:
        *pre = NULL;
    }
    return *pre && *norm ? 0 : -1;
}


/* ---- loading --------------------------------------------------------------- */
static size_t tok_len(const inf__tok_vocab_spec *sp, size_t i) {
    return sp->token_lens ? sp->token_lens[i] : (sp->tokens[i] ? strlen(sp->tokens[i]) : 0);
}

/* Vocabulary strings (and, for "llama", the scores) into one block owned
 * by t->blob; the by-id tables and the string -> id map. */
static int load_tokens(inf__tokenizer *t, const inf__tok_vocab_spec *sp, int spm, inf__err *err) {
    size_t n = sp->n_tokens, total = spm ? n * sizeof(float) : 0;
    for (size_t i = 0; i < n; i++) {
        if (!sp->tokens[i] && tok_len(sp, i))
            return inf__seterr(err, INF_E_FORMAT, "token %zu is NULL", i);
        size_t l = tok_len(sp, i);
        if (l > UINT32_MAX / 2 || total + l + 1 < total) return inf__seterr(err, INF_E_FORMAT, "token %zu is too long", i);
        total += l + 1;
    }
    t->n_ids = (int32_t)n;
    t->blob = malloc(total ? total : 1);
    t->model_piece = calloc(n, sizeof *t->model_piece);
    t->model_len = calloc(n, sizeof *t->model_len);
    t->added_of_id = malloc(n * sizeof *t->added_of_id);
    if (!t->blob || !t->model_piece || !t->model_len || !t->added_of_id) return OOM(err);
    for (size_t i = 0; i < n; i++) t->added_of_id[i] = -1;
    char *p = t->blob;
    if (spm) {
        float *sc = (float *)(void *)t->blob;
        for (size_t i = 0; i < n; i++) sc[i] = sp->scores ? sp->scores[i] : 0.0f;
        t->spm_score = sc;
        p += n * sizeof(float);
    }
    if (inf__tk_strmap_init(&t->vocab, n)) return OOM(err);
    for (size_t i = 0; i < n; i++) {
        size_t l = tok_len(sp, i);
        if (l) memcpy(p, sp->tokens[i], l);
        p[l] = '\0';
        t->model_piece[i] = p;
        t->model_len[i] = (uint32_t)l;
        /* An empty token is never produced (llama.cpp renames it). For a
         * string given twice the later id wins, as in llama.cpp. */
        if (l && inf__tk_strmap_put(&t->vocab, p, l, (int32_t)i)) return OOM(err);
        p += l + 1;
    }
    t->cp_id = malloc(65536 * sizeof *t->cp_id);
    if (!t->cp_id) return OOM(err);
    for (int i = 0; i < 65536; i++) t->cp_id[i] = -1;
    for (int32_t id = 0; id < t->n_ids; id++) {
        int l;
        if (!t->model_len[id] || inf__utf8_valid_prefix(t->model_piece[id], t->model_len[id]) != t->model_len[id]) continue;
        uint32_t cp = inf__tk_utf8_dec(t->model_piece[id], t->model_len[id], &l);
        if ((uint32_t)l == t->model_len[id] && cp < 65536 && inf__tk_strmap_get(&t->vocab, t->model_piece[id], (size_t)l) == id)
            t->cp_id[cp] = id;
    }
    return INF_OK;
}

static int load_merges(inf__tokenizer *t, const inf__tok_vocab_spec *sp, inf__err *err) {
    if (inf__tk_pairmap_init(&t->merges, sp->n_merges ? sp->n_merges : 1)) return OOM(err);
    tk_buf cat = {0};
    for (size_t i = 0; i < sp->n_merges; i++) {
        const char *m = sp->merges[i];
        size_t l = sp->merge_lens ? sp->merge_lens[i] : (m ? strlen(m) : 0);
        /* "a b", split at the first space after the first byte. */
        const char *spc = l > 1 ? memchr(m + 1, ' ', l - 1) : NULL;
        if (!spc) { free(cat.p); return inf__seterr(err, INF_E_FORMAT, "merge %zu \"%.*s\" has no space", i, (int)l, m ? m : ""); }
        size_t la = (size_t)(spc - m), lb = l - la - 1;
        int32_t a = inf__tk_strmap_get(&t->vocab, m, la), b = inf__tk_strmap_get(&t->vocab, spc + 1, lb);
        cat.n = 0;
        if (inf__tk_buf_put(&cat, m, la) || inf__tk_buf_put(&cat, spc + 1, lb)) { free(cat.p); return OOM(err); }
        int32_t c = inf__tk_strmap_get(&t->vocab, cat.p, cat.n);
        /* llama.cpp keeps merges of unknown pieces but they can never apply
         * (or yield no token); they are dropped here. */
        if (a < 0 || b < 0 || c < 0) continue;
        if (inf__tk_pairmap_put(&t->merges, a, b, (int32_t)i, c)) { free(cat.p); return OOM(err); }
    }
    free(cat.p);
    return INF_OK;
}

static int load_added(inf__tokenizer *t, const inf__tok_vocab_spec *sp, const int32_t *types, inf__err *err) {
    size_t n = 0;
    for (size_t i = 0; i < sp->n_tokens; i++) {
        int ty = types[i];
        n += (ty == INF__TOK_TYPE_CONTROL || ty == INF__TOK_TYPE_USER_DEFINED || ty == INF__TOK_TYPE_UNKNOWN) &&
             t->model_len[i] > 0;
    }
    if (inf__tk_strmap_init(&t->added_map, n ? n : 1)) return OOM(err);
    if (inf__tk_trie_init(&t->trie_raw) || inf__tk_trie_init(&t->trie_norm)) return OOM(err);
    if (!n) return INF_OK;
    if (!(t->added = calloc(n, sizeof *t->added))) return OOM(err);
    /* Longest first as llama.cpp tries them; the trie's leftmost-longest
     * match gives the same split wherever tokens do not overlap. */
    for (size_t i = 0; i < sp->n_tokens; i++) {
        int ty = types[i];
        if (!(ty == INF__TOK_TYPE_CONTROL || ty == INF__TOK_TYPE_USER_DEFINED || ty == INF__TOK_TYPE_UNKNOWN) ||
            t->model_len[i] == 0)
            continue;
        tk_added *a = &t->added[t->n_added++];
        a->id = (int32_t)i;
        a->content = t->model_piece[i];
        a->len = t->model_len[i];
        a->special = ty != INF__TOK_TYPE_USER_DEFINED;
        a->normalized = 0;
        t->added_of_id[i] = (int32_t)(t->n_added - 1);
        if (inf__tk_strmap_put(&t->added_map, a->content, a->len, a->id) ||
            inf__tk_trie_add(&t->trie_raw, a->content, a->len, (int32_t)(t->n_added - 1)))
            return OOM(err);
    }
    return INF_OK;
}


/* tokenizer_config.json-style names for the special tokens, so that
 * inf__tok_config_token answers as for a model directory. */
static int add_cfg(inf__tokenizer *t, const char *name, int32_t id, inf__err *err) {
    if (id < 0 || id >= t->n_ids || !t->model_len[id]) return INF_OK;
    tk_cfgtok *c = &t->cfg[t->n_cfg++];
    c->name = inf__tk_arena_dup(&t->arena, name, strlen(name));
    c->value = t->model_piece[id];
    return c->name ? INF_OK : OOM(err);
}

static int32_t id_or(int32_t given, int32_t dflt, size_t n) {
    int32_t id = given >= 0 ? given : dflt;
    return id >= 0 && (size_t)id < n ? id : -1;
}

static int build(inf__tokenizer *t, const inf__tok_vocab_spec *sp, inf__err *err) {
    int spm = !strcmp(sp->model, "llama"), rc;
    int pre_kind = -1;
    if (!spm) {
        if (strcmp(sp->model, "gpt2"))
            return inf__seterr(err, INF_E_UNSUPPORTED, "tokenizer model \"%s\" is not supported (only \"llama\" and \"gpt2\")",
                               sp->model);
        /* No tokenizer.ggml.pre: llama.cpp falls back to "default". */
        const char *pre = sp->pre && *sp->pre ? sp->pre : "default";
        for (size_t i = 0; i < sizeof PRE_NAMES / sizeof PRE_NAMES[0]; i++)
            if (!strcmp(pre, PRE_NAMES[i].name)) pre_kind = PRE_NAMES[i].kind;
        if (pre_kind < 0) return inf__seterr(err, INF_E_UNSUPPORTED, "pre-tokenizer \"%s\" is not supported", pre);
        if (!sp->merges && sp->n_merges) return inf__seterr(err, INF_E_INVALID_ARGUMENT, "merges is NULL");
    }
    if ((rc = load_tokens(t, sp, spm, err))) return rc;
    int32_t *types = malloc(sp->n_tokens * sizeof *types);
    if (!types) return OOM(err);
    type_rules(&t->vocab, sp, types);
    rc = load_added(t, sp, types, err);
    free(types);
    if (rc) return rc;
    for (int b = 0; b < 256; b++) t->byte_id[b] = -1;
    json_t *norm = NULL, *pre = NULL, *dec = NULL;
    int add_bos, add_space = sp->add_space_prefix != 0; /* default on for "llama" */
    if (spm) {
        if (inf__tk_pairmap_init(&t->merges, 1)) return OOM(err);
        for (int b = 0; b < 256; b++) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", b);
            t->byte_id[b] = inf__tk_strmap_get(&t->vocab, name, 6);
            /* llama.cpp falls back to the byte itself as a token. */
            if (t->byte_id[b] < 0 && b < 0x80) {
                char c = (char)b;
                t->byte_id[b] = inf__tk_strmap_get(&t->vocab, &c, 1);
            }
        }
        t->byte_fallback = 1;
        t->unk_id = id_or(sp->unk_id, 0, sp->n_tokens);
        add_bos = 1;
        norm = add_space ? json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:{s:s}, s:s}]}", "type", "Sequence", "normalizers",
                                     "type", "Prepend", "prepend", "\xE2\x96\x81",
                                     "type", "Replace", "pattern", "String", " ", "content", "\xE2\x96\x81")
                         : json_pack("{s:s, s:{s:s}, s:s}", "type", "Replace", "pattern", "String", " ", "content",
                                     "\xE2\x96\x81");
        pre = json_null();
        dec = json_pack("{s:s, s:[{s:s, s:{s:s}, s:s}, {s:s}, {s:s}]}", "type", "Sequence", "decoders",
                        "type", "Replace", "pattern", "String", "\xE2\x96\x81", "content", " ",
                        "type", "ByteFallback", "type", "Fuse");
        if (dec && add_space)
            json_array_append_new(json_object_get(dec, "decoders"),
                                  json_pack("{s:s, s:s, s:i, s:i}", "type", "Strip", "content", " ", "start", 1, "stop", 0));
        t->bos_id = id_or(sp->bos_id, 1, sp->n_tokens);
        t->eos_id = id_or(sp->eos_id, 2, sp->n_tokens);
        inf__tk_find_sp_chunking(t);
    } else {
        if ((rc = load_merges(t, sp, err))) return rc;
        if (bpe_pipeline(pre_kind, &pre, &norm, &t->ignore_merges, &add_bos)) {
            json_decref(pre);
            json_decref(norm);
            return OOM(err);
        }
        dec = bytelevel(1);
        t->unk_id = -1;
        t->bos_id = id_or(sp->bos_id, 11, sp->n_tokens);
        t->eos_id = id_or(sp->eos_id, 11, sp->n_tokens);
    }
    if (!norm || !pre || !dec) rc = OOM(err);
    if (!rc) rc = inf__tk_parse_normalizer(t, norm, err);
    if (!rc) rc = inf__tk_parse_pretok(t, pre, err);
    if (!rc) rc = inf__tk_parse_decoder(t, dec, err);
    json_decref(norm);
    json_decref(pre);
    json_decref(dec);
    if (rc) return rc;
    t->add_bos_cfg = sp->add_bos >= 0 ? sp->add_bos != 0 : add_bos;
    t->add_eos_cfg = sp->add_eos >= 0 ? sp->add_eos != 0 : 0;
    if (!(t->cfg = calloc(4, sizeof *t->cfg))) return OOM(err);
    if ((rc = add_cfg(t, "bos_token", t->bos_id, err)) || (rc = add_cfg(t, "eos_token", t->eos_id, err)) ||
        (rc = add_cfg(t, "unk_token", id_or(sp->unk_id, spm ? 0 : -1, sp->n_tokens), err)) ||
        (rc = add_cfg(t, "pad_token", id_or(sp->pad_id, -1, sp->n_tokens), err)))
        return rc;
    return INF_OK;
}

int inf__tok_load_vocab(const inf__tok_vocab_spec *spec, inf__tokenizer **out, inf__err *err) {
    if (out) *out = NULL;
    if (!spec || !out) return inf__seterr(err, INF_E_INVALID_ARGUMENT, "load_vocab: NULL argument");
    if (!spec->model) return inf__seterr(err, INF_E_FORMAT, "no tokenizer model (tokenizer.ggml.model)");
    if (!spec->tokens || spec->n_tokens == 0) return inf__seterr(err, INF_E_FORMAT, "empty vocabulary (tokenizer.ggml.tokens)");
    if (spec->n_tokens > MAX_TOKENS) return inf__seterr(err, INF_E_FORMAT, "vocabulary of %zu tokens is too large", spec->n_tokens);
    inf__tokenizer *t = calloc(1, sizeof *t);
    if (!t) return OOM(err);
    t->add_bos_cfg = t->add_eos_cfg = -1;
    t->bos_id = t->eos_id = t->unk_id = -1;
    int rc = build(t, spec, err);
    if (rc) {
        inf__tok_free(t);
        return rc;
    }
    *out = t;
    return INF_OK;
}

int inf__tok_vocab_types(const inf__tok_vocab_spec *spec, int32_t *types, inf__err *err) {
    if (!spec || !types || (!spec->tokens && spec->n_tokens))
        return inf__seterr(err, INF_E_INVALID_ARGUMENT, "vocab_types: NULL argument");
    tk_strmap m;
    if (inf__tk_strmap_init(&m, spec->n_tokens ? spec->n_tokens : 1)) return OOM(err);
    for (size_t i = 0; i < spec->n_tokens; i++) {
        size_t l = tok_len(spec, i);
        if (l && inf__tk_strmap_put(&m, spec->tokens[i], l, (int32_t)i)) {
            inf__tk_strmap_free(&m);
            return OOM(err);
        }
    }
    type_rules(&m, spec, types);
    inf__tk_strmap_free(&m);
    return INF_OK;
}
