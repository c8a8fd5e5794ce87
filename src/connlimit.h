/* SPDX-License-Identifier: MIT */
/* Admission of new connections: a total (what the file descriptors allow), a limit per
 * client address (IPv6 counted per /64) with trusted reverse proxies exempt, and a
 * share of the total kept for clients that hold few connections, so that many
 * addresses holding their maximum cannot lock a new client out. Thread-safe. */
#ifndef CONNLIMIT_H
#define CONNLIMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "addr.h"

/* The share: once the open connections reach total - total / CONNLIMIT_SHARE_DIV, only
 * clients holding fewer than CONNLIMIT_LIGHT connections (and exempt proxies, which
 * carry many clients) get another one. */
#define CONNLIMIT_SHARE_DIV 4
#define CONNLIMIT_LIGHT	    2

struct connlimit;

/* What connlimit_acquire decided. */
enum connlimit_result {
	CONNLIMIT_OK,	       /* counted */
	CONNLIMIT_CLIENT_FULL, /* the client holds per_client connections */
	CONNLIMIT_BUSY,	       /* only the share is left, and the client is not light */
	CONNLIMIT_FULL,	       /* all `total` connections are in use */
};

/* connlimit_new: at most `total` connections (> 0) and `per_client` per client (> 0);
 * addresses inside one of `exempt` (borrowed: must outlive the limiter; may be
 * NULL/0) have no per-client limit but count towards the total. Returns 0 or
 * ERR_NOMEM/ERR_INVAL. */
int connlimit_new(unsigned per_client, unsigned total, const struct cidr *exempt, size_t nexempt,
		  struct connlimit **out);
void connlimit_free(struct connlimit *cl);

/* connlimit_acquire: counts a new connection from `a`, or (nothing counted) says why
 * not. Out of memory for a new client's entry counts as CONNLIMIT_FULL. */
enum connlimit_result connlimit_acquire(struct connlimit *cl, const struct addr *a);
/* connlimit_release: the end of a connection that connlimit_acquire counted. */
void connlimit_release(struct connlimit *cl, const struct addr *a);
/* connlimit_clients / connlimit_used: clients holding connections, connections counted
 * (tests). */
size_t connlimit_clients(struct connlimit *cl);
unsigned connlimit_used(struct connlimit *cl);

#endif
