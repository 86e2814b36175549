/* Element sizes and safetensors spellings of the stored dtypes. */
#include <string.h>

#include "model/model.h"
#include "model/safetensors.h"

static const struct { const char *name; size_t size; } dtypes[INF__DT_COUNT] = {
    [INF__DT_F32] = {"F32", 4},   [INF__DT_F16] = {"F16", 2},
    [INF__DT_BF16] = {"BF16", 2}, [INF__DT_F64] = {"F64", 8},
    [INF__DT_I8] = {"I8", 1},     [INF__DT_U8] = {"U8", 1},
    [INF__DT_I16] = {"I16", 2},   [INF__DT_U16] = {"U16", 2},
    [INF__DT_I32] = {"I32", 4},   [INF__DT_U32] = {"U32", 4},
    [INF__DT_I64] = {"I64", 8},   [INF__DT_U64] = {"U64", 8},
    [INF__DT_BOOL] = {"BOOL", 1},
};

size_t inf__dtype_size(inf__dtype dt) {
    if ((int)dt < 0 || dt >= INF__DT_COUNT) return 0;
    return dtypes[dt].size;
}

const char *inf__dtype_name(inf__dtype dt) {
    if ((int)dt < 0 || dt >= INF__DT_COUNT) return "?";
    return dtypes[dt].name;
}

int inf__dtype_parse(const char *s) {
    if (!s) return -1;
    for (int i = 0; i < INF__DT_COUNT; i++)
        if (strcmp(s, dtypes[i].name) == 0) return i;
    return -1;
}

/* ggml-common.h's block sizes: values per block, bytes per block. */
static const struct { const char *name; int64_t elems, bytes; } wfmts[INF__W_COUNT] = {
    [INF__W_NONE] = {"NONE", 0, 0},  [INF__W_F32] = {"F32", 1, 4},
    [INF__W_F16] = {"F16", 1, 2},    [INF__W_BF16] = {"BF16", 1, 2},
    [INF__W_MLX4] = {"MLX4", 0, 0},  [INF__W_MLX8] = {"MLX8", 0, 0},
    [INF__W_Q8_0] = {"Q8_0", 32, 34}, [INF__W_Q4_0] = {"Q4_0", 32, 18},
    [INF__W_Q4_1] = {"Q4_1", 32, 20}, [INF__W_Q5_0] = {"Q5_0", 32, 22},
    [INF__W_Q5_1] = {"Q5_1", 32, 24}, [INF__W_Q2_K] = {"Q2_K", 256, 84},
    [INF__W_Q3_K] = {"Q3_K", 256, 110}, [INF__W_Q4_K] = {"Q4_K", 256, 144},
    [INF__W_Q5_K] = {"Q5_K", 256, 176}, [INF__W_Q6_K] = {"Q6_K", 256, 210},
    [INF__W_BF16_R32] = {"BF16_R32", 0, 0}, /* not row-contiguous */
    [INF__W_Q4_0_R16] = {"Q4_0_R16", 0, 0}, /* not row-contiguous */
    [INF__W_Q4_K_R16] = {"Q4_K_R16", 0, 0},
    [INF__W_Q5_K_R16] = {"Q5_K_R16", 0, 0},
    [INF__W_Q6_K_R16] = {"Q6_K_R16", 0, 0},
    [INF__W_Q3_K_R16] = {"Q3_K_R16", 0, 0},
    [INF__W_Q2_K_R16] = {"Q2_K_R16", 0, 0},
    [INF__W_Q8_0_R16] = {"Q8_0_R16", 0, 0},
    [INF__W_MLX8_R16] = {"MLX8_R16", 0, 0},
    [INF__W_MLX4_R16] = {"MLX4_R16", 0, 0},
};

int64_t inf__wfmt_block_elems(inf__wfmt f) {
    return (int)f >= 0 && f < INF__W_COUNT ? wfmts[f].elems : 0;
}

int64_t inf__wfmt_block_bytes(inf__wfmt f) {
    return (int)f >= 0 && f < INF__W_COUNT ? wfmts[f].bytes : 0;
}

const char *inf__wfmt_name(inf__wfmt f) {
    return (int)f >= 0 && f < INF__W_COUNT ? wfmts[f].name : "?";
}
