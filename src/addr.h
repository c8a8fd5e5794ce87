/* SPDX-License-Identifier: MIT */
/* IP addresses and CIDR prefixes, both families: parsing, formatting, matching. */
#ifndef ADDR_H
#define ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define ADDR_STRLEN 46 /* INET6_ADDRSTRLEN: enough for either family plus NUL */

struct addr {
	int family;		 /* AF_INET or AF_INET6; 0 = none */
	unsigned char bytes[16]; /* network order; 4 used for AF_INET */
};

struct cidr {
	struct addr net;
	int prefix; /* 0..32 or 0..128 */
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

/* IPv6 clients are told apart per prefix of this length (one customer's network). */
#define ADDR_CLIENT_V6_PREFIX 64

/* addr_client_key: the identity under which per-client limits (requests, connections)
 * count `a`: unmapped, an IPv4 address as itself, an IPv6 address as its /64 with the
 * host bits zero. Returns false, *key untouched, when `a` is NULL or of no family. */
bool addr_client_key(const struct addr *a, struct addr *key);

/* cidr_parse: "10.0.0.0/8", "2001:db8::/32", or a plain address (a /32 or /128).
 * Host bits set below the prefix are accepted and ignored. Returns 0 or ERR_INVAL. */
int cidr_parse(const char *s, struct cidr *out);
/* cidr_contains: whether `a` (after unmapping) lies in `c`. Families must match. */
bool cidr_contains(const struct cidr *c, const struct addr *a);
/* cidr_list_contains: whether `a` lies in any of list[0..n). */
bool cidr_list_contains(const struct cidr *list, size_t n, const struct addr *a);

/* addr_is_unspecified: 0.0.0.0 or ::. addr_is_multicast: 224/4 or ff00::/8.
 * Neither can be a host's published address. */
bool addr_is_unspecified(const struct addr *a);
bool addr_is_multicast(const struct addr *a);

/* addr_host_bits_zero: whether every bit of `a` after its first `plen` is zero, i.e.
 * `a` is the network address of a prefix of that length ("2001:db8:1:2::" for /64).
 * A plen at or beyond the family's width leaves no host bits: true. False when `a` is
 * NULL or of no family, or plen is negative. */
bool addr_host_bits_zero(const struct addr *a, int plen);

/* addr_combine: the address made of the first `plen` bits of `prefix` followed by the
 * last (width - plen) bits of `iid` - a router's delegated IPv6 prefix and a host's
 * fixed interface identifier. Both of the same family; plen from 0 to the family's
 * width (0 gives `iid`, the width gives `prefix`). Returns 0, or ERR_INVAL (NULL, no
 * or different families, plen out of range) with *out untouched. */
int addr_combine(const struct addr *prefix, int plen, const struct addr *iid, struct addr *out);

/* How an address may be published (IANA's special-purpose address registries,
 * RFC 6890 and its updates). */
enum addr_use {
	ADDR_USE_PUBLIC, /* globally reachable: publish it */
	ADDR_USE_LOCAL,	 /* valid, but only inside a site or host: loopback, link-local,
			  * private, shared (CGNAT), unique local, documentation, ... */
	ADDR_USE_NEVER	 /* never a host's address: unspecified, "this network" 0/8,
			  * limited broadcast, multicast */
};

/* addr_classify: which of enum addr_use `a` (after unmapping) falls into. `range`, when
 * not NULL, gets a static description of the special range ("private (RFC 1918)"),
 * or NULL for a public address. An address of no family is ADDR_USE_NEVER. */
enum addr_use addr_classify(const struct addr *a, const char **range);

#define ADDR_HEADER_MAX 8192 /* bytes of a proxy header we look at; longer = garbage */

/* addr_client_from_header: the client address of a request that came through
 * `peer`, given the value of the configured proxy header (X-Forwarded-For style, NULL
 * when absent) and the trusted proxies trusted[0..ntrusted) (all borrowed).
 *
 * When `peer` is trusted and the header is present, its comma-separated items are
 * walked from the right (each proxy appends the address it saw) and the first item
 * that is not itself a trusted proxy is the client; when every item is trusted, the
 * left-most is. Items may carry spaces/tabs around them and be written "a.b.c.d",
 * "a.b.c.d:port", "v6", "[v6]" or "[v6]:port"; IPv4-mapped IPv6 counts as IPv4.
 *
 * An unparsable item met during the walk (before the client was found) makes the
 * whole header garbage: skipping it would let the untrusted part to its left choose
 * the address (a proxy that writes "unknown" must not hand the choice to the client).
 * Items left of the client are never looked at. Garbage, an empty or over-long
 * header, or an untrusted peer: the client is `peer` itself.
 *
 * *out is always unmapped. Returns 0, or ERR_INVAL when `peer` has no family. */
int addr_client_from_header(const struct addr *peer, const char *header_value,
			    const struct cidr *trusted, size_t ntrusted, struct addr *out);

#endif
