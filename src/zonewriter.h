/* SPDX-License-Identifier: MIT */
/* One zone's writer: the changes waiting for one zone (of one DNS server, port and TSIG
 * key) taken together, decided under their hosts' leases and sent as one RFC 2136 UPDATE;
 * a refusal that may concern one name is split so one bad name cannot fail the others;
 * a zone whose server does not answer fails fast. The logic is free of I/O and threads:
 * the database and the DNS server are reached through injected operations (struct
 * zw_ops) and time is a parameter, so the unit tests drive it with fakes and a fake
 * clock; writers.c runs each writer in a thread of its own with the real ones. */
#ifndef ZONEWRITER_H
#define ZONEWRITER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "db.h"
#include "dns.h"
#include "update.h"

/* Bounds (what happens beyond each is said where it applies):
 * ZW_BATCH_HOSTS: distinct names in one UPDATE. 50 names of the longest kind, both
 *   families set, are under 56 KB, so a batch always fits a DNS message over TCP; a
 *   typical one (50 short names, one family) is 4-5 KB. More names wait for the next
 *   UPDATE, which follows at once.
 * ZW_QUEUE_MAX: items waiting for one writer. A full queue answers dnserr at once (one
 *   log line when it fills, one when it drains): the zone's server cannot keep up and
 *   waiting longer would only hold the clients' connections.
 * ZW_SICK_MIN_MS .. ZW_SICK_MAX_MS: how long a zone fails fast after its server did not
 *   answer, doubling with each probe that gets no answer either.
 * ZW_RETRY_MS: how soon a host whose lease another holder has (another daemon, the CLI)
 *   is tried again; it waits at most lease_wait_ms in all, then 911. */
#define ZW_BATCH_HOSTS 50
#define ZW_QUEUE_MAX   2048
#define ZW_SICK_MIN_MS 1000
#define ZW_SICK_MAX_MS 60000
#define ZW_RETRY_MS    10

enum zw_kind {
	ZW_UPDATE, /* an update request's host: decide under the lease, publish, record */
	ZW_EXPIRE, /* an expiry pass's due host: delete what is still due, claim it */
	ZW_REPAIR  /* a host whose lease lapsed: republish it (nothing else) */
};

/*
 * One change asked of a writer. The submitter owns it; the writer uses it from
 * zw_submit until it calls `done` (exactly once: on the writer's thread, or inside
 * zw_submit when the item is refused at once) and never touches it afterwards.
 */
struct zw_item {
	enum zw_kind kind;
	char fqdn[HOSTNAME_MAX + 1];
	int64_t now; /* unix time of the request or the pass (the decision's `now`) */
	/* ZW_UPDATE: what the request asks and who asks it. */
	struct update_addrs want;
	char user[AUTH_USERNAME_MAX + 1];

	/* Results, valid in `done`. UPDATE: good, nochg, nohost, dnserr or 911, with the
	 * decision in `plan` (addresses for the reply, vN_changed for the change mail).
	 * EXPIRE and REPAIR: good when done (also when nothing was due any more), dnserr
	 * when DNS failed (the host stays for the next pass), 911 for the database. */
	enum update_status status;
	struct update_plan plan;
	struct db_host before; /* the row as read under the lease (owner_email for mails) */
	int expired;	       /* EXPIRE: the families this item expired (claimed) */
	bool repaired;	       /* the host was uncertain and is republished now */

	void (*done)(struct zw_item *it);
	void *arg; /* the submitter's */

	/* Private to the writer. */
	int64_t queued_ms, retry_ms;
	struct zw_item *next;
};

/* How a writer reaches its database connection and its DNS server (writers.c, or the
 * unit test's fakes). Called on the thread that runs zw_step only. */
struct zw_ops {
	int (*lease)(void *ctx, struct db_lease *l, size_t n);	       /* db_host_lease_many */
	int (*end)(void *ctx, struct db_host_end *e, size_t n);	       /* db_host_end_many */
	int (*send)(void *ctx, const struct dns_change *chs, size_t n, /* dns_client_update */
		    struct dns_result *res);
	int64_t (*now_ms)(void *ctx); /* the monotonic clock of zw_step's now_ms */
};

struct zonewriter;

/* zw_new: a writer for `zone` (copied) whose operations are `ops` with `ctx`
 * (borrowed). `label` names it in log lines (e.g. "dyn.example.com via
 * 127.0.0.1:53"). `dns_timeout_ms` bounds one exchange (ops->send); it sets the
 * leases' life (db.h: plus DB_LEASE_SLACK_MS), so a further UPDATE of a batch (after a
 * split) is only sent while its leases are sure to outlast it, and how long an item
 * whose host another holder has may wait (then 911). Returns 0 or ERR_NOMEM. */
int zw_new(const char *zone, const char *label, const struct zw_ops *ops, void *ctx,
	   int dns_timeout_ms, struct zonewriter **out);

/* zw_free: frees a writer whose queue is empty (zw_fail_all first). NULL ok. */
void zw_free(struct zonewriter *w);

/* zw_submit: queues `it` (its fqdn inside the writer's zone) at monotonic time now_ms.
 * Any thread. Returns true when it was queued (the runner should wake the writer);
 * false when it was answered at once: dnserr because the zone fails fast (its server
 * did not answer lately and the next probe is not due) or the queue is full. */
bool zw_submit(struct zonewriter *w, struct zw_item *it, int64_t now_ms);

/* zw_step: one round at now_ms on the writer's thread: takes up to ZW_BATCH_HOSTS
 * hosts' items in queue order, leases them in one transaction, decides each item on
 * its host's fresh row (in queue order, each on the row as the items before it left
 * it: two changes of one host in a batch, the later wins and both answers are those
 * of the two done one after the other), sends one UPDATE (split on a refusal that may
 * concern one name), records every result in one transaction and answers the items.
 * Items of a host held by another holder stay queued (ZW_RETRY_MS). Returns the number
 * of items answered. */
size_t zw_step(struct zonewriter *w, int64_t now_ms);

/* zw_next_ms: when the writer has work at now_ms: now_ms when items are ready, the
 * time of the earliest retry when only held hosts wait, -1 when the queue is empty.
 * Any thread. */
int64_t zw_next_ms(struct zonewriter *w, int64_t now_ms);

/* zw_fail_all: answers every queued item with `status` at once (the daemon's stop
 * after its drain deadline). Returns how many. Any thread. */
size_t zw_fail_all(struct zonewriter *w, enum update_status status);

/* zw_queued: items waiting. Any thread. */
size_t zw_queued(struct zonewriter *w);

/* zw_is_sick: whether the zone fails fast at now_ms. Any thread. */
bool zw_is_sick(struct zonewriter *w, int64_t now_ms);

/* zw_split_rcode: whether an UPDATE refused with `rcode` (and TSIG error `tsig_error`)
 * may have been refused for one of its names, so that sending its halves apart can
 * get the others through. REFUSED and NOTZONE may concern one name (a policy that
 * grants some names and not others; a name outside the zone); NOTAUTH, a TSIG error,
 * FORMERR, NOTIMP and SERVFAIL concern the key, the zone or the server, and splitting
 * would only multiply the failures. */
bool zw_split_rcode(int rcode, int tsig_error);

#endif
