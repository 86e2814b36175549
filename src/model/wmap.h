/*
 * How a weight file (safetensors, GGUF) is brought into memory.
 *
 * Two ways, chosen at load (inf_load_options.copy_weights):
 *
 *   mapped (default)  mmap of the file, read-only.  Nothing is read until
 *                     used, the pages are the page cache's (shared with
 *                     other processes, dropped under memory pressure and
 *                     read again).  If the file is truncated or rewritten
 *                     in place while mapped, touching a page past the new
 *                     end raises SIGBUS in whichever thread touches it.
 *   copied            the file is read(2) into private anonymous memory
 *                     once, during the load.  Costs the whole file in
 *                     resident (or swap) memory for the model's lifetime
 *                     and a full read at load; afterwards the file is not
 *                     touched again, so truncating, rewriting or deleting
 *                     it cannot affect the model.
 *
 * Why not MAP_PRIVATE + MADV_POPULATE_WRITE (copy-on-write every page of
 * the mapping): truncation unmaps the private copies past the new end too
 * (Linux truncate_pagecache -> unmap_mapping_range(..., even_cows = 1)),
 * and the next touch faults on the file again: SIGBUS all the same
 * (checked: tests/fault/test_io_fail.c prints it).  Only memory that is
 * not backed by the file is safe.
 */
#ifndef INF_MODEL_WMAP_H
#define INF_MODEL_WMAP_H

#include <stddef.h>

#include "core/error.h"

/* flags for inf__wmap_fd (and the openers that pass them on) */
#define INF__WMAP_COPY 1u /* read into private memory instead of mapping */

/* Brings the first `size` bytes (> 0) of the open regular file fd into a
 * read-only region *out, mapped or copied as flags say (path labels
 * messages).  The caller still owns fd (it may close it at once) and
 * releases the region with munmap(*out, size) in both cases.
 * Returns INF_OK; INF_E_IO when mmap or read fails, or the file is shorter
 * than size (it shrank while being read); INF_E_NOMEM when the copy cannot
 * be allocated.  *out is NULL on failure. */
int inf__wmap_fd(int fd, size_t size, unsigned flags, const char *path, void **out,
                 inf__err *err);

#endif
