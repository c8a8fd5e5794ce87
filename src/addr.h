/* SPDX-License-Identifier: MIT */
/* IP addresses and CIDR prefixes, both families: parsing, formatting, matching. */
#ifndef ADDR_H
#define ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define ADDR_STRLEN 46 /* INET6_ADDRSTRLEN: enough for either family plus NUL */

struct addr {
	int family;               /* AF_INET or AF_INET6; 0 = none */
	unsigned char bytes[16];  /* network order; 4 used for AF_INET */
};

struct cidr {
	struct addr net;
	int prefix;               /* 0..32 or 0..128 */
};

/* addr_parse: a textual IPv4 or IPv6 address (no brackets, no zone, no prefix).
 * An IPv4-mapped IPv6 address stays IPv6; call addr_unmap to turn it into IPv4.
 * Returns 0 or ERR_INVAL. */
int addr_parse(const char *s, struct addr *out);
/* addr_from_sockaddr: from a peer address (AF_INET/AF_INET6), unmapping ::ffff:a.b.c.d. */
int addr_from_sockaddr(const struct sockaddr *sa, struct addr *out);
/* addr_unmap: ::ffff:a.b.c.d becomes a.b.c.d; anything else is left alone. */
void addr_unmap(struct addr *a);
/* addr_format: canonical text (inet_ntop) into buf of at least ADDR_STRLEN bytes. */
const char *addr_format(const struct addr *a, char *buf, size_t len);
bool addr_equal(const struct addr *a, const struct addr *b);

/* cidr_parse: "10.0.0.0/8", "2001:db8::/32", or a plain address (a /32 or /128).
 * Host bits set below the prefix are accepted and ignored. Returns 0 or ERR_INVAL. */
int cidr_parse(const char *s, struct cidr *out);
/* cidr_contains: whether `a` (after unmapping) lies in `c`. Families must match. */
bool cidr_contains(const struct cidr *c, const struct addr *a);

#endif
