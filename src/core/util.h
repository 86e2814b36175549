/* The library's small shared helpers: string duplication, whole-file
 * reading, path joining, UTF-8.  One implementation each, used by every
 * layer above core (tools have the public inf_utf8_valid_prefix). */
#ifndef INF_CORE_UTIL_H
#define INF_CORE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* A malloc'd copy of s; NULL for NULL or when out of memory. */
char *inf__strdup(const char *s);
/* A malloc'd, NUL-terminated copy of s[0..n); NULL when out of memory. */
char *inf__strndup(const char *s, size_t n);
/* A malloc'd copy of s, or of "" for NULL: never NULL unless out of
 * memory.  For messages handed to callers. */
char *inf__strdup_or_empty(const char *s);

/* dir + "/" + name, malloc'd; NULL when out of memory.  A trailing slash
 * of dir is not doubled. */
char *inf__path_join(const char *dir, const char *name);

/* The largest file inf__read_file accepts unless told otherwise. */
#define INF__READ_FILE_MAX ((size_t)256 << 20)

/* Reads the whole file at path into *buf (malloc'd, NUL-terminated; *len
 * bytes without the NUL).  Errors, with the path in the message:
 * INF_E_NOT_FOUND (absent), INF_E_IO (unreadable, a directory),
 * INF_E_LIMIT (larger than max_bytes; 0 means INF__READ_FILE_MAX),
 * INF_E_NOMEM. */
int inf__read_file(const char *path, size_t max_bytes, char **buf,
                   size_t *len, inf__err *err);

/* Length of the longest prefix of s[0..n) that is well-formed UTF-8
 * (RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF). */
size_t inf__utf8_valid_prefix(const char *s, size_t n);
/* Length of the valid sequence at s[0..n) (1..4), or -k where k >= 1 is
 * the length of the maximal prefix of a valid sequence there (the unit
 * that from_utf8_lossy replaces with one U+FFFD). */
int inf__utf8_step(const uint8_t *s, size_t n);

#endif
