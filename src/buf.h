/* SPDX-License-Identifier: MIT */
/* A growable byte buffer with a hard maximum, always NUL-terminated (after curl's dynbuf). */
#ifndef BUF_H
#define BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data; /* NUL-terminated contents, NULL until the first append */
	size_t len; /* bytes used, excluding the terminating NUL */
	size_t cap; /* bytes allocated */
	size_t max; /* len may never exceed this */
};

/* buf_init: an empty buffer that refuses to grow beyond `max` bytes. */
void buf_init(struct buf *b, size_t max);
/* buf_free: releases the memory; the buffer is empty again and reusable. NULL ok. */
void buf_free(struct buf *b);
/* buf_reset: empties the buffer, keeping its memory. */
void buf_reset(struct buf *b);
/* buf_add: appends `len` bytes. ERR_TOOBIG past max (buffer unchanged), ERR_NOMEM. */
int buf_add(struct buf *b, const void *data, size_t len);
/* buf_adds: appends a C string. */
int buf_adds(struct buf *b, const char *s);
/* buf_addc: appends one byte. */
int buf_addc(struct buf *b, char c);
/* buf_printf: appends formatted text. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* buf_str: the contents as a C string; "" for an empty buffer (borrowed). */
const char *buf_str(const struct buf *b);
/* buf_steal: hands the contents to the caller (caller frees; never NULL on success,
 * NULL on ERR_NOMEM) and leaves the buffer empty. */
char *buf_steal(struct buf *b);

#endif
