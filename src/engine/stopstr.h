/*
 * Stop strings over streamed text.
 *
 * Text arrives in pieces (one per token).  Generation must end as soon as
 * the text contains a stop string, and the stop string itself must never be
 * shown.  So the matcher holds back the longest tail of the text that could
 * still be the start of a stop string, and releases it once it cannot.
 * Held-back tails always start on a UTF-8 character boundary, because a
 * stop string starts with a lead byte, which no continuation byte equals.
 */
#ifndef INF_ENGINE_STOPSTR_H
#define INF_ENGINE_STOPSTR_H

#include <stddef.h>

typedef struct inf__stopstr inf__stopstr;

/* A matcher for the n strings (copied; empty strings are ignored).
 * Returns NULL when out of memory. n may be 0 (then text passes through). */
inf__stopstr *inf__stopstr_new(const char *const *stops, size_t n);
void inf__stopstr_free(inf__stopstr *m);

/* Feeds a piece of text.  Sets *out / *out_len to the text that may be
 * shown now (owned by m, valid until the next call on m).  Returns 1 when
 * a stop string matched: *out then holds the text before it and the rest is
 * dropped; 0 otherwise; -1 when out of memory. */
int inf__stopstr_feed(inf__stopstr *m, const char *piece, size_t len,
                      const char **out, size_t *out_len);

/* Releases the held-back tail at the end of generation (no stop matched).
 * *out valid until the next call on m. */
void inf__stopstr_flush(inf__stopstr *m, const char **out, size_t *out_len);

/* Bytes currently held back. */
size_t inf__stopstr_held(const inf__stopstr *m);

#endif
