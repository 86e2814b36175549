/* Status codes, version, and the library's one deallocator. */
#include <stdlib.h>

#include "inference.h"

const char *inf_version(void) { return INF_VERSION_STRING; }
int inf_version_number(void) { return INF_VERSION_NUMBER; }

const char *inf_strerror(int status) {
    switch (status) {
#define INF_STATUS_TEXT_(name, value, text) \
    case value:                             \
        return text;
        INF_STATUS_MAP(INF_STATUS_TEXT_)
#undef INF_STATUS_TEXT_
    }
    return "unknown status";
}

const char *inf_status_name(int status) {
    switch (status) {
#define INF_STATUS_NAME_(name, value, text) \
    case value:                             \
        return #name;
        INF_STATUS_MAP(INF_STATUS_NAME_)
#undef INF_STATUS_NAME_
    }
    return "UNKNOWN";
}

void inf_free(void *ptr) { free(ptr); }

const char *inf_finish_reason_name(inf_finish_reason r) {
    switch (r) {
    case INF_FINISH_NONE: return "none";
    case INF_FINISH_EOS: return "eos";
    case INF_FINISH_STOP: return "stop";
    case INF_FINISH_LENGTH: return "length";
    }
    return "unknown";
}

const char *inf_finish_reason_openai(inf_finish_reason r) {
    switch (r) {
    case INF_FINISH_EOS:
    case INF_FINISH_STOP: return "stop";
    case INF_FINISH_LENGTH: return "length";
    default: return NULL;
    }
}
