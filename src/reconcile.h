/* SPDX-License-Identifier: MIT */
/* Reconciliation: what the database says each host publishes against what the
 * authoritative server answers, and the RFC 2136 repairs that bring DNS back in line
 * (after a restore, a zone reload or a hand edit). */
#ifndef RECONCILE_H
#define RECONCILE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "addr.h"
#include "config.h"
#include "db.h"
#include "dns.h"

#define RECONCILE_MAX_RRS	  16 /* records of one RRset kept from an answer */
#define RECONCILE_THREADS	  4  /* hosts checked at once, each with its own connection */
#define RECONCILE_MAX_UNREACHABLE 5  /* unanswered queries in a row before the run stops */

/* What the server answered for one family of a name. */
struct reconcile_rrset {
	size_t n; /* records; more than RECONCILE_MAX_RRS are counted but not kept */
	struct addr addr[RECONCILE_MAX_RRS];
	int ttl[RECONCILE_MAX_RRS];
};

struct reconcile_seen {
	struct reconcile_rrset v4, v6;
};

/* The repair of one family. */
enum reconcile_fix {
	RECONCILE_OK,	   /* DNS says what the database says (or the family is in transition) */
	RECONCILE_ADD,	   /* published in the database, missing in DNS */
	RECONCILE_REPLACE, /* other address(es) or TTL in DNS */
	RECONCILE_DELETE   /* records in DNS for a family the database has not published */
};

struct reconcile_plan {
	enum reconcile_fix v4, v6;
	struct dns_change change; /* the one UPDATE that repairs both; valid when drift */
};

/* reconcile_compare: the repair of host `h` (a database row) given what the server
 * answered, at `now` (unix time). Per family: an address that is live in the database
 * (set, not expired, not due) must be the only record, with exactly that address (as
 * an address, not as text) and the host's dns_ttl, else ADD (none there) or REPLACE; a
 * family without an address or marked expired must have no record, else DELETE; a
 * family due to expire is left to the expiry pass (OK). Pure. Returns whether there is
 * drift; out->change then deletes or sets the families to repair (DNS_SET for ADD and
 * REPLACE: the RRset is replaced as a whole) and keeps the others. */
bool reconcile_compare(const struct db_host *h, int64_t now, const struct reconcile_seen *seen,
		       struct reconcile_plan *out);

/* reconcile_query: asks `srv` directly (no recursion; UDP, TCP when the answer is
 * truncated; srv->timeout_ms per query) for the A and AAAA RRsets of `fqdn`. The
 * answer must be authoritative (AA) with rcode NOERROR or NXDOMAIN. Returns 0;
 * ERR_TIMEOUT or ERR_IO when the server did not answer; ERR_DNS for an error rcode, a
 * non-authoritative or mismatched answer; with the reason in `why`. */
int reconcile_query(const struct dns_server *srv, const char *fqdn, struct reconcile_seen *out,
		    char *why, size_t len);

struct reconcile_opts {
	bool dry_run;	   /* report the drift, change nothing */
	const char *zone;  /* only hosts of this zone (A-label, lower-case); NULL = all */
	bool json;	   /* report lines as JSON objects */
	FILE *report;	   /* one line per change (NULL: the log only) */
	int threads;	   /* 0 = RECONCILE_THREADS */
	atomic_bool *stop; /* when set, no further host is started (NULL: never) */
};

struct reconcile_stats {
	size_t hosts;	  /* hosts checked */
	size_t drift;	  /* hosts found in drift */
	size_t repaired;  /* of them, repaired */
	size_t failed;	  /* hosts that could not be checked or repaired */
	bool unreachable; /* the DNS server or the database could not be reached */
};

/* The outcome of a run, as the command's exit status. */
enum reconcile_result {
	RECONCILE_CLEAN = 0,	   /* nothing left in drift */
	RECONCILE_DRIFT = 1,	   /* drift remains (always after a dry run that found some) */
	RECONCILE_UNREACHABLE = 2, /* the DNS server or the database could not be reached */
};

/* reconcile_run: checks every host of `cfg`'s database (of opts->zone only) against
 * cfg's DNS server, on up to opts->threads threads each with its own connection, and
 * repairs the drift unless opts->dry_run. A repair runs under the host's lock (db.h
 * host_lock) on the row and the answer read afresh there, so it never undoes an
 * update that won the race, and sends one UPDATE for both families: a host is
 * repaired completely or not at all. A host that fails is reported and skipped; after
 * RECONCILE_MAX_UNREACHABLE unanswered queries in a row the run stops. Every change is
 * logged at INFO and, when opts->report is set, printed as one line. `cfg` is
 * borrowed. Returns the result; *stats (NULL ok) gets the counts. */
enum reconcile_result reconcile_run(const struct config *cfg, const struct reconcile_opts *opts,
				    struct reconcile_stats *stats);

/* reconcile_send: the one place reconcile writes DNS (dns_update with the zone's key),
 * so that routing it through the daemon's per-zone writers is a change here only. */
int reconcile_send(const struct config *cfg, const struct dns_change *ch, struct dns_result *res);

#endif
