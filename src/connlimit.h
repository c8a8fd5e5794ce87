/* SPDX-License-Identifier: MIT */
/* Concurrent connections per client address (IPv6 counted per /64), with trusted
 * reverse proxies exempt: one host cannot take every connection slot. Thread-safe. */
#ifndef CONNLIMIT_H
#define CONNLIMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "addr.h"

struct connlimit;

/* connlimit_new: at most `per_client` connections per client; addresses inside one of
 * `exempt` (borrowed: must outlive the limiter; may be NULL/0) are not counted.
 * Returns 0 or ERR_NOMEM/ERR_INVAL. */
int connlimit_new(unsigned per_client, const struct cidr *exempt, size_t nexempt,
		  struct connlimit **out);
void connlimit_free(struct connlimit *cl);

/* connlimit_acquire: counts a new connection from `a`; false (nothing counted) when the
 * client already has `per_client` connections or memory ran out. */
bool connlimit_acquire(struct connlimit *cl, const struct addr *a);
/* connlimit_release: the end of a connection that connlimit_acquire accepted. */
void connlimit_release(struct connlimit *cl, const struct addr *a);
/* connlimit_clients: how many clients hold connections now (tests). */
size_t connlimit_clients(struct connlimit *cl);

#endif
