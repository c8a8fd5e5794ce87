/* SPDX-License-Identifier: MIT */
/* The expiry pass: A/AAAA records whose last update is older than the host's expiry_ttl
 * are deleted from DNS and marked expired, each family on its own clock; ACME challenge
 * values older than [acme] max_age are deleted from DNS and from the database. */
#ifndef EXPIRY_H
#define EXPIRY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "db.h"

#define EXPIRY_BATCH 500 /* hosts read per query; a pass loops over batches */

/* Called once per host whose families the pass expired (after NOERROR and a successful
 * claim in the database). `h` is the row as it was before the pass (last addresses and
 * update times intact, the owner's address in owner_email: the mail needs no query);
 * `families` is DB_V4|DB_V6. */
typedef void (*expiry_notify_fn)(void *arg, const struct db_host *h, int families);

struct expiry_stats {
	size_t hosts_due;     /* hosts the pass looked at */
	size_t hosts_expired; /* hosts with at least one family expired by this pass */
	size_t dns_failures;  /* hosts (and values) left for a later pass because DNS failed */
	size_t acme_expired;  /* ACME challenge values deleted by this pass */
};

/* expiry_run: one pass at time `now`. For every due host: one RFC 2136 UPDATE deleting
 * the due RRsets; only after NOERROR the families are claimed in the database and
 * `notify` is called (may be NULL). Each host is handled under its lock (db.h
 * host_lock) and re-checked there, so two passes (two daemons on one database, or the
 * daemon and `ddns-service cleanup`) never delete or mail a host twice, and an update
 * that refreshed the host in the meantime wins. A DNS failure is logged and leaves the host for the
 * next pass. Then every ACME challenge value recorded cfg->acme.max_age seconds or more
 * before `now` (a client that never cleaned up) is removed from the TXT records of its
 * name and from the database, under its host's lock and re-checked there (a present
 * that renewed it meanwhile wins); this runs whether or not [acme] is enabled, so that
 * turning the API off leaves nothing behind. `report`, when not NULL, gets one line per
 * expired host and value (the cleanup command). Returns 0, or ERR_DB when the database
 * failed (the pass stops). */
int expiry_run(const struct config *cfg, struct db *db, int64_t now, expiry_notify_fn notify,
	       void *arg, FILE *report, struct expiry_stats *stats);

#endif
