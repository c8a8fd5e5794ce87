/* SPDX-License-Identifier: MIT */
/* UTF-8 as RFC 3629 defines it: decoding, encoding, validating and counting characters. */
#ifndef UTF8_H
#define UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Well-formed means what RFC 3629 allows and nothing else: the shortest form only (no
 * overlong sequences, so never the lead bytes C0, C1 or F5..FF), no surrogates
 * (U+D800..U+DFFF), nothing beyond U+10FFFF, no sequence cut short. Every function
 * takes a pointer and a length in bytes: none needs a NUL terminator or stops at one
 * (U+0000 is a one-byte character). Pure functions: no allocation, no state.
 */

#define UTF8_SEQ_MAX 4 /* bytes of the longest sequence */

/* utf8_decode: the length (1..4) of the well-formed sequence at the start of s[0..n) and,
 * when cp is not NULL, its code point in *cp; 0 when s[0..n) does not start with one
 * (and when n is 0). *cp is left alone then. */
size_t utf8_decode(const char *s, size_t n, uint32_t *cp);

/* utf8_next: the code point at s[*i] (*i < n), advancing *i past it. For text already
 * validated; a malformed sequence decodes as U+FFFD and advances one byte. */
uint32_t utf8_next(const char *s, size_t n, size_t *i);

/* utf8_encode: writes the code point cp to out as 1..4 bytes and returns how many; 0 (and
 * nothing written) for a surrogate or a value beyond U+10FFFF, which have no encoding. */
size_t utf8_encode(uint32_t cp, char out[UTF8_SEQ_MAX]);

/* utf8_valid_len: the length of the longest well-formed prefix of s[0..n): n when the
 * whole string is well-formed, else the offset of the first bad sequence. */
size_t utf8_valid_len(const char *s, size_t n);

/* utf8_is_valid: whether all of s[0..n) is well-formed. */
bool utf8_is_valid(const char *s, size_t n);

/* utf8_count: the number of characters of the well-formed s[0..n). (On other input it
 * counts the bytes that are not continuation bytes.) */
size_t utf8_count(const char *s, size_t n);

/* utf8_prefix_len: the length of the longest run of whole characters at the start of
 * s[0..n) that fits in `cap` bytes, but at least one character when n > 0 (so that a
 * caller cutting s into pieces always advances). A malformed byte counts as a character
 * of its own. */
size_t utf8_prefix_len(const char *s, size_t n, size_t cap);

#endif
