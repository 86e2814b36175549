/*
 * A Hugging Face model directory's text files, read once.
 *
 * This is the one place that reads the files of a model directory (the
 * weights aside: safetensors.c maps those, and a GGUF reader will sit
 * beside it).  Whoever needs a file's contents takes it from here: the
 * loader the parsed config (inf__model_open_md), the engine the tokenizer
 * and chat-template texts, which it hands to src/text (text is a sibling
 * layer of model and never reads a model directory on the engine's behalf).
 *
 * The files, the flag that asks for each, and the contract:
 *
 *   file                     flag                absent     at most
 *   config.json              INF__MD_CONFIG      an error   64 MiB
 *   generation_config.json   INF__MD_GENERATION  fine       64 MiB
 *   tokenizer_config.json    INF__MD_TEXT        fine       64 MiB
 *   tokenizer.json           INF__MD_TEXT        fine (*)   256 MiB
 *   chat_template.jinja      INF__MD_TEXT        fine       64 MiB
 *
 * (*) whether a model needs a tokenizer is its user's decision (the engine
 * requires one unless it loads dummy weights).
 *
 * A file that is present but cannot be read, is not a regular file or is
 * larger than its limit is an error, whatever the flag: INF_E_IO,
 * INF_E_LIMIT, INF_E_NOMEM, with the file's path in the message.  A
 * missing config.json is INF_E_NOT_FOUND ("...: not found (not a model
 * directory?)").  With INF__MD_PARSE, config.json and (when read and
 * present) generation_config.json are parsed (src/model/hfconfig.c, strict)
 * into md->cfg, and their errors (INF_E_FORMAT, INF_E_UNSUPPORTED) name the
 * file too.
 *
 * GGUF, the second source: `dir` may also be a .gguf file (the first part
 * of a split set), or a directory without config.json that holds exactly
 * one GGUF model (a split set counts once; mmproj-*.gguf projector files
 * are ignored).  Then md->gguf is the opened container (src/model/gguf.c;
 * INF__MD_CONFIG maps it), config.path names the .gguf file, INF__MD_PARSE
 * fills md->cfg from its metadata (src/model/gguf_model.c), and
 * INF__MD_TEXT takes the chat template from tokenizer.chat_template (into
 * chat_template.text) and writes a tokenizer_config.json-like object with
 * bos_token / eos_token from tokenizer.ggml.tokens (into
 * tokenizer_config.text) for the template's variables.  tokenizer.text
 * stays NULL: the tokenizer is built from md->gguf's tokenizer.ggml.*
 * metadata.  A directory with several GGUF models is INF_E_INVALID_ARGUMENT
 * naming them.
 */
#ifndef INF_MODEL_MODELDIR_H
#define INF_MODEL_MODELDIR_H

#include <stddef.h>

#include "core/error.h"
#include "model/hfconfig.h"

struct inf__gguf;

/* What inf__modeldir_open reads. */
#define INF__MD_CONFIG 1u     /* config.json (required) */
#define INF__MD_GENERATION 2u /* generation_config.json */
#define INF__MD_TEXT 4u       /* tokenizer.json, tokenizer_config.json,
                                 chat_template.jinja */
#define INF__MD_PARSE 8u      /* with the two above: parse them into cfg */
#define INF__MD_COPY 16u      /* a GGUF source: read its files into private
                                 memory instead of mapping them
                                 (inf__gguf_open_flags, INF__WMAP_COPY) */
/* What loading a model needs, and everything. */
#define INF__MD_MODEL (INF__MD_CONFIG | INF__MD_GENERATION | INF__MD_PARSE)
#define INF__MD_ALL (INF__MD_MODEL | INF__MD_TEXT)

/* Largest files accepted (see the table above). */
#define INF__MD_SMALL_MAX ((size_t)64 << 20)
#define INF__MD_TOKENIZER_MAX ((size_t)256 << 20)

/* One file: its path (always set, for messages) and, when it was asked for
 * and is present, its contents, NUL-terminated (len bytes without the
 * NUL); text is NULL otherwise. */
typedef struct inf__md_file {
    char *path;
    char *text;
    size_t len;
} inf__md_file;

typedef struct inf__modeldir {
    char *dir;                        /* as given */
    unsigned what;                    /* the flags it was opened with */
    inf__md_file config;              /* config.json */
    inf__md_file generation;          /* generation_config.json */
    inf__md_file tokenizer_config;    /* tokenizer_config.json */
    inf__md_file tokenizer;           /* tokenizer.json */
    inf__md_file chat_template;       /* chat_template.jinja */
    /* INF__MD_PARSE: config.json, with generation_config.json merged into
     * cfg.desc (eos/bos ids, sampling defaults).  Owned by md; zero without
     * INF__MD_PARSE. */
    inf__hfconfig cfg;
    /* The GGUF source (see above), or NULL for a Hugging Face directory.
     * md holds one reference (inf__gguf_ref to keep it beyond md). */
    struct inf__gguf *gguf;
} inf__modeldir;

/* Reads the files `what` asks for from dir into *md.  On success free with
 * inf__modeldir_free; on failure *md holds nothing to free.  Errors: see
 * above; INF_E_INVALID_ARGUMENT for NULL arguments. */
int inf__modeldir_open(const char *dir, unsigned what, inf__modeldir *md,
                       inf__err *err);

/* The GGUF model file that `path` names (a .gguf file, or the one GGUF
 * model in a directory without config.json) into *out (malloc'd), or NULL
 * when path is a Hugging Face directory (or holds no GGUF).  INF_E_INVALID_ARGUMENT
 * when a directory holds several GGUF models. */
int inf__modeldir_gguf_path(const char *path, char **out, inf__err *err);

/* 1 when a file name is that of a GGUF model: *.gguf, not hidden, not an
 * mmproj-* projector, not a later part of a split set. */
int inf__modeldir_is_gguf_model(const char *name);

/* Frees tokenizer.json's text (the large one) once it has been used; the
 * rest stays.  NULL is fine. */
void inf__modeldir_drop_tokenizer(inf__modeldir *md);

/* Frees what *md owns and zeroes it.  NULL is fine. */
void inf__modeldir_free(inf__modeldir *md);

#endif
