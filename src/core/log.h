/* The library's diagnostics channel: nothing is printed; messages reach the
 * program's callback (inf_set_log_callback) or are dropped. */
#ifndef INF_CORE_LOG_H
#define INF_CORE_LOG_H

#include "inference.h"

void inf__log(inf_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
