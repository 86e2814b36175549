/* Reads the few metadata values of a GGUF file's header that the
 * llama_cpp backend reports (architecture, sizes), without loading it. */
#ifndef INF_LLAMA_CPP_GGUF_META_H
#define INF_LLAMA_CPP_GGUF_META_H

#include <stdint.h>

#include "core/error.h"

typedef struct inf__gguf_meta {
    char architecture[32];   /* general.architecture */
    char name[64];           /* general.name ("" when absent) */
    int32_t context_length;  /* <arch>.context_length, 0 when absent */
    int32_t block_count;     /* <arch>.block_count */
    int32_t embedding_length;/* <arch>.embedding_length */
    int32_t vocab_size;      /* entries of tokenizer.ggml.tokens */
    int64_t file_bytes;
} inf__gguf_meta;

/* Fills *m from the file at path.  INF_E_NOT_FOUND / INF_E_IO when it
 * cannot be read, INF_E_FORMAT when it is not a GGUF file (v2 or v3). */
int inf__gguf_read_meta(const char *path, inf__gguf_meta *m, inf__err *err);

#endif
