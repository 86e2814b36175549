/*
 * Telling jansson's "out of memory" from "malformed JSON".
 *
 * jansson 2.14 reports an allocation that fails during a parse as a syntax
 * error, or not at all: load.c never sets json_error_out_of_memory (only
 * pack_unpack.c does), lex_scan_string's failed jsonp_malloc returns
 * TOKEN_INVALID ("invalid token"), a failed json_object()/json_array()
 * returns NULL with no message, and lex_save ignores the failure of
 * strbuffer_append_byte, so a byte of a string can go missing while the
 * parse goes on.  Errors would then blame the input (INF_E_FORMAT) for the
 * machine's memory, or worse, a parse could "succeed" with a string short
 * of a byte.
 *
 * So the library installs jansson allocation functions
 * (json_set_alloc_funcs) that call the ones installed before them (libc's
 * malloc/free, or the application's own) and note on the calling thread
 * that an allocation failed.  A parse on the library's behalf is wrapped:
 *
 *     inf__json_watch_begin();
 *     json_t *root = json_loadb(...);
 *     if (inf__json_watch_failed()) -> INF_E_NOMEM (discard root, even
 *                                      when jansson returned one)
 *
 * The functions are installed once, at the first inf__json_watch_begin,
 * and never removed (objects they allocated may outlive any library call).
 * An application that calls json_set_alloc_funcs itself should do so
 * before its first call into the library, as jansson's manual asks of any
 * such call; if it replaces them later, the library still works but
 * reports jansson's allocation failures as jansson does.
 */
#ifndef INF_CORE_JSONWATCH_H
#define INF_CORE_JSONWATCH_H

/* Installs the functions (once per process) and clears the calling
 * thread's mark. */
void inf__json_watch_begin(void);
/* 1 when one of jansson's allocations failed on the calling thread since
 * its last inf__json_watch_begin, else 0. */
int inf__json_watch_failed(void);

#endif
