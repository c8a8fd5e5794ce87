/* SPDX-License-Identifier: MIT */
/* Host names: Unicode to A-labels (libidn2, UTS#46), LDH validation, lower-casing. */
#ifndef HOSTNAME_H
#define HOSTNAME_H

#include <stdbool.h>
#include <stddef.h>

#define HOSTNAME_MAX	   253 /* octets of a name in text form, without trailing dot */
#define HOSTNAME_LABEL_MAX 63

/* hostname_normalize: turns `in` (UTF-8, possibly Unicode, possibly with one trailing
 * dot) into its lower-case A-label form in out (at least HOSTNAME_MAX + 1 bytes), and
 * checks every label is LDH (letters, digits, hyphen; not starting or ending with a
 * hyphen), 1..63 octets, 253 in all. A single label is allowed (hostname part).
 * Returns 0, ERR_INVAL, or ERR_TOOBIG. */
int hostname_normalize(const char *in, char *out, size_t outlen);

/* hostname_is_fqdn: whether a normalized name has at least two labels. */
bool hostname_is_fqdn(const char *name);

/* hostname_join: "host" + "zone" → "host.zone" into out. ERR_TOOBIG past 253. */
int hostname_join(const char *host, const char *zone, char *out, size_t outlen);

/* hostname_to_unicode: the U-label form of a normalized name for display (mails, lists);
 * falls back to a copy of the input when it cannot be converted. */
int hostname_to_unicode(const char *alabel, char *out, size_t outlen);

#endif
