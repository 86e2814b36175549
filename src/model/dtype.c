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
