/* SPDX-License-Identifier: MIT */
/* The zone writer's logic with a fake database, a fake DNS server and a fake clock:
 * coalescing, splitting on a per-name refusal, the same host twice, leases held by
 * others, a full queue, fail-fast timing, timeouts leaving hosts uncertain, expiry
 * items, lost leases. (The real database and BIND: tests/integration.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "tap.h"
#include "zonewriter.h"

#define ZONE	  "dyn.example.com"
#define MAX_HOSTS 64
#define TIMEOUT	  2000 /* the fake server's dns_timeout, ms */

enum { LEASE_NONE, LEASE_OTHER, LEASE_LAPSED, LEASE_OURS };

struct fake_host {
	struct db_host row;
	int lease;
	int64_t token;
	char dns4[ADDR_STRLEN], dns6[ADDR_STRLEN]; /* what the fake server publishes */
};

/* The fake world: a database of hosts, a DNS server with a script, and a clock. */
struct fake {
	struct fake_host h[MAX_HOSTS];
	size_t n;
	int64_t clock, token;
	const char *refuse; /* a name that gets its whole message REFUSED */
	const char *steal;  /* a name whose lease lapses and is taken over meanwhile */
	int rcode;	    /* non-zero: every UPDATE fails with it */
	bool timeout;	    /* every UPDATE gets no answer (the clock moves on) */
	bool fail_lease, fail_end;
	int64_t slow_lease; /* ms the next lease transaction takes (then 0) */
	int sends, leases, ends;
	size_t names[64]; /* names per UPDATE, in order */
};

static struct fake F;

static struct fake_host *
fake_find(const char *fqdn)
{
	for (size_t i = 0; i < F.n; i++)
		if (strcmp(F.h[i].row.fqdn, fqdn) == 0)
			return &F.h[i];
	return NULL;
}

static struct fake_host *
fake_by_id(int64_t id)
{
	for (size_t i = 0; i < F.n; i++)
		if (F.h[i].row.id == id)
			return &F.h[i];
	return NULL;
}

static int
fake_lease(void *ctx, struct db_lease *l, size_t n)
{
	(void)ctx;
	F.leases++;
	F.clock += F.slow_lease;
	F.slow_lease = 0;
	if (F.fail_lease)
		return ERR_DB;
	F.token++;
	for (size_t i = 0; i < n; i++) {
		struct fake_host *h = fake_find(l[i].fqdn);

		if (h == NULL) {
			l[i].state = DB_LEASE_NOHOST;
		} else if (h->lease == LEASE_OTHER || h->lease == LEASE_OURS) {
			l[i].state = DB_LEASE_BUSY;
		} else {
			l[i].state = DB_LEASE_HELD;
			l[i].row = h->row;
			l[i].row.uncertain = h->lease == LEASE_LAPSED;
			l[i].token = h->token = F.token;
			h->lease = LEASE_OURS;
		}
	}
	return 0;
}

static void
fake_set(struct db_rr *rr, const char *ip, int64_t now)
{
	snprintf(rr->ip, sizeof(rr->ip), "%s", ip);
	rr->updated = now;
	rr->expired = false;
}

static void
fake_commit(struct fake_host *h, struct db_host_end *e)
{
	int due = db_host_due_families(&h->row, e->now) & e->expire_families;

	e->claimed = due;
	if (due & DB_V4)
		h->row.v4.expired = true;
	if (due & DB_V6)
		h->row.v6.expired = true;
	if (e->set_families & DB_V4)
		fake_set(&h->row.v4, e->ipv4, e->now);
	if (e->set_families & DB_V6)
		fake_set(&h->row.v6, e->ipv6, e->now);
	if ((e->touch_families & DB_V4) && h->row.v4.updated < e->now)
		h->row.v4.updated = e->now;
	if ((e->touch_families & DB_V6) && h->row.v6.updated < e->now)
		h->row.v6.updated = e->now;
}

static int
fake_end(void *ctx, struct db_host_end *e, size_t n)
{
	(void)ctx;
	F.ends++;
	if (F.fail_end)
		return ERR_DB;
	for (size_t i = 0; i < n; i++) {
		struct fake_host *h = fake_by_id(e[i].host_id);

		e[i].lost = h == NULL || h->lease != LEASE_OURS || h->token != e[i].token;
		if (e[i].lost)
			continue;
		if (e[i].how == DB_END_COMMIT)
			fake_commit(h, &e[i]);
		h->lease = e[i].how == DB_END_UNCERTAIN ? LEASE_LAPSED : LEASE_NONE;
	}
	return 0;
}

static void
fake_publish(const struct dns_change *c)
{
	struct fake_host *h = fake_find(c->fqdn);

	if (h == NULL)
		return;
	if (c->v4 != DNS_KEEP)
		snprintf(h->dns4, sizeof(h->dns4), "%s", c->v4 == DNS_SET ? c->ipv4 : "");
	if (c->v6 != DNS_KEEP)
		snprintf(h->dns6, sizeof(h->dns6), "%s", c->v6 == DNS_SET ? c->ipv6 : "");
}

static int
fake_send(void *ctx, const struct dns_change *chs, size_t n, struct dns_result *res)
{
	(void)ctx;
	memset(res, 0, sizeof(*res));
	if (F.sends < 64)
		F.names[F.sends] = n;
	F.sends++;
	if (F.timeout) {
		F.clock += TIMEOUT;
		res->rcode = -1;
		res->maybe_applied = true;
		snprintf(res->msg, sizeof(res->msg), "timeout");
		return ERR_TIMEOUT;
	}
	for (size_t i = 0; i < n; i++)
		if ((F.refuse && strcmp(chs[i].fqdn, F.refuse) == 0) || F.rcode) {
			res->rcode = F.rcode ? F.rcode : 5;
			snprintf(res->msg, sizeof(res->msg), "rcode %d", res->rcode);
			return ERR_DNS;
		}
	for (size_t i = 0; i < n; i++) {
		struct fake_host *h = fake_find(chs[i].fqdn);

		fake_publish(&chs[i]);
		if (F.steal && h && strcmp(chs[i].fqdn, F.steal) == 0) {
			h->lease = LEASE_OTHER;
			h->token = -99;
		}
	}
	return 0;
}

static int64_t
fake_now(void *ctx)
{
	(void)ctx;
	return F.clock;
}

static const struct zw_ops OPS = {fake_lease, fake_end, fake_send, fake_now};

/* ---- helpers ---- */

static void
fake_reset(void)
{
	memset(&F, 0, sizeof(F));
	F.clock = 100000;
}

static struct fake_host *
add_host(const char *label, const char *owner, const char *ip4)
{
	struct fake_host *h = &F.h[F.n++];

	memset(h, 0, sizeof(*h));
	h->row.id = (int64_t)F.n;
	snprintf(h->row.owner, sizeof(h->row.owner), "%s", owner);
	snprintf(h->row.hostname, sizeof(h->row.hostname), "%s", label);
	snprintf(h->row.zone, sizeof(h->row.zone), ZONE);
	snprintf(h->row.fqdn, sizeof(h->row.fqdn), "%s." ZONE, label);
	h->row.dns_ttl = 60;
	h->row.expiry_ttl = 3600;
	if (ip4) {
		fake_set(&h->row.v4, ip4, 1000);
		snprintf(h->dns4, sizeof(h->dns4), "%s", ip4);
	}
	return h;
}

static int answered;

static void
on_done(struct zw_item *it)
{
	answered++;
	(void)it;
}

static void
item_update(struct zw_item *it, const char *label, const char *ip4, int64_t now)
{
	memset(it, 0, sizeof(*it));
	it->kind = ZW_UPDATE;
	snprintf(it->fqdn, sizeof(it->fqdn), "%s." ZONE, label);
	snprintf(it->user, sizeof(it->user), "alice");
	it->now = now;
	it->want.has_v4 = true;
	addr_parse(ip4, &it->want.v4);
	it->done = on_done;
}

static struct zonewriter *
writer(void)
{
	struct zonewriter *w = NULL;

	if (zw_new(ZONE, ZONE, &OPS, NULL, TIMEOUT, &w) != 0)
		ok(0, "zw_new");
	return w;
}

static const char *
status(const struct zw_item *it)
{
	return update_status_str(it->status);
}

/* ---- the tests ---- */

/* Ten requests for ten hosts that arrive while the writer is busy: one lease
 * transaction, one UPDATE of ten names, one result transaction. */
static void
test_coalescing(void)
{
	static struct zw_item it[10];
	struct zonewriter *w;
	char label[16], ip[32];
	int good = 0, stored = 0, served = 0;

	fake_reset();
	w = writer();
	for (int i = 0; i < 10; i++) {
		snprintf(label, sizeof(label), "h%d", i);
		snprintf(ip, sizeof(ip), "192.0.2.%d", 100 + i);
		add_host(label, "alice", "192.0.2.1");
		item_update(&it[i], label, ip, 5000);
		ok(zw_submit(w, &it[i], F.clock), "h%d queued", i);
	}
	answered = 0;
	is_int(zw_step(w, F.clock), 10, "one step answers all ten");
	ok(F.leases == 1 && F.sends == 1 && F.ends == 1, "one lease, one UPDATE, one record");
	is_int(F.names[0], 10, "ten names in the UPDATE");
	for (int i = 0; i < 10; i++) {
		snprintf(ip, sizeof(ip), "192.0.2.%d", 100 + i);
		good += it[i].status == UPDATE_GOOD && strcmp(it[i].plan.ipv4, ip) == 0;
		stored += strcmp(F.h[i].row.v4.ip, ip) == 0 && F.h[i].row.v4.updated == 5000;
		served += strcmp(F.h[i].dns4, ip) == 0 && F.h[i].lease == LEASE_NONE;
	}
	ok(good == 10 && stored == 10 && served == 10, "all good, recorded, served, released");
	is_int(zw_next_ms(w, F.clock), -1, "nothing left");
	zw_free(w);
}

/* 60 hosts: a batch takes ZW_BATCH_HOSTS names, the rest go in the next UPDATE. */
static void
test_batch_bound(void)
{
	static struct zw_item it[60];
	struct zonewriter *w;
	char label[16];

	fake_reset();
	w = writer();
	for (int i = 0; i < 60; i++) {
		snprintf(label, sizeof(label), "b%d", i);
		add_host(label, "alice", NULL);
		item_update(&it[i], label, "192.0.2.9", 5000);
		zw_submit(w, &it[i], F.clock);
	}
	is_int(zw_step(w, F.clock), ZW_BATCH_HOSTS, "the first batch is bounded");
	is_int(zw_next_ms(w, F.clock), F.clock, "more is ready");
	is_int(zw_step(w, F.clock), 60 - ZW_BATCH_HOSTS, "the rest in the next");
	ok(F.sends == 2 && F.names[0] == ZW_BATCH_HOSTS && F.names[1] == 60 - ZW_BATCH_HOSTS,
	   "two UPDATEs of %zu and %zu names", F.names[0], F.names[1]);
	zw_free(w);
}

/* One name of eight is refused: the message is split in halves until the bad name is
 * alone; the seven others are published and recorded, the bad one gets dnserr and
 * its database row is unchanged. */
static void
test_split(void)
{
	static struct zw_item it[8];
	struct zonewriter *w;
	char label[16];
	int good = 0;

	fake_reset();
	w = writer();
	for (int i = 0; i < 8; i++) {
		snprintf(label, sizeof(label), "s%d", i);
		add_host(label, "alice", "192.0.2.1");
		item_update(&it[i], label, "192.0.2.50", 5000);
		zw_submit(w, &it[i], F.clock);
	}
	F.refuse = "s2." ZONE;
	zw_step(w, F.clock);
	for (int i = 0; i < 8; i++)
		good += i != 2 && it[i].status == UPDATE_GOOD &&
			strcmp(F.h[i].row.v4.ip, "192.0.2.50") == 0;
	is_int(good, 7, "the seven others are good and recorded");
	is_str(status(&it[2]), "dnserr", "the refused name: dnserr");
	ok(strcmp(F.h[2].row.v4.ip, "192.0.2.1") == 0 && F.h[2].lease == LEASE_NONE,
	   "its row unchanged, its lease released (a refusal applies nothing)");
	is_int(F.sends, 7, "8 -> 4+4 -> 2+2 -> 1+1: seven messages");
	ok(!zw_is_sick(w, F.clock), "a refusal is an answer: the zone is healthy");

	fake_reset();
	for (int i = 0; i < 8; i++) {
		snprintf(label, sizeof(label), "s%d", i);
		add_host(label, "alice", "192.0.2.1");
		item_update(&it[i], label, "192.0.2.50", 5000);
		zw_submit(w, &it[i], F.clock);
	}
	F.rcode = 9; /* NOTAUTH: the key or the zone, not a name */
	zw_step(w, F.clock);
	is_int(F.sends, 1, "NOTAUTH is not split");
	ok(it[0].status == UPDATE_DNSERR && it[7].status == UPDATE_DNSERR, "all dnserr");
	ok(zw_split_rcode(5, 0) && zw_split_rcode(10, 0) && !zw_split_rcode(9, 0) &&
		   !zw_split_rcode(2, 0) && !zw_split_rcode(5, 16),
	   "REFUSED and NOTZONE split; NOTAUTH, SERVFAIL and TSIG errors do not");
	zw_free(w);
}

/* Two requests for one host in one batch: the later wins in DNS and the database, and
 * both answers are those of the two done one after the other. */
static void
test_same_host_twice(void)
{
	struct zw_item a, b, c;
	struct zonewriter *w;
	struct fake_host *h;

	fake_reset();
	w = writer();
	h = add_host("twice", "alice", "192.0.2.1");
	item_update(&a, "twice", "192.0.2.2", 5000);
	item_update(&b, "twice", "192.0.2.3", 5000);
	item_update(&c, "twice", "192.0.2.3", 5001);
	zw_submit(w, &a, F.clock);
	zw_submit(w, &b, F.clock);
	zw_submit(w, &c, F.clock);
	is_int(zw_step(w, F.clock), 3, "three answers");
	ok(F.sends == 1 && F.names[0] == 1, "one UPDATE of one name");
	ok(a.status == UPDATE_GOOD && strcmp(a.plan.ipv4, "192.0.2.2") == 0 && a.plan.v4_changed,
	   "the first: good 192.0.2.2");
	ok(b.status == UPDATE_GOOD && strcmp(b.plan.ipv4, "192.0.2.3") == 0 && b.plan.v4_changed,
	   "the second: good 192.0.2.3");
	is_str(status(&c), "nochg", "the third confirms the second: nochg");
	is_str(h->dns4, "192.0.2.3", "DNS serves the last");
	ok(strcmp(h->row.v4.ip, "192.0.2.3") == 0 && h->row.v4.updated == 5001,
	   "the database holds the last, at the latest time");
	zw_free(w);
}

/* A server that does not answer: the batch gets dnserr, the database is unchanged but
 * the hosts are left uncertain (the change may have been applied); the zone then fails
 * fast, a probe after 1 s, 2 s, 4 s ... (at most 60 s), and the first answer ends it.
 * The next update of an uncertain host republishes its whole state. */
static void
test_fail_fast(void)
{
	struct zw_item a, b, c;
	struct zonewriter *w;
	struct fake_host *h;
	int64_t t0;

	fake_reset();
	w = writer();
	h = add_host("sick", "alice", "192.0.2.1");
	snprintf(h->row.v6.ip, sizeof(h->row.v6.ip), "2001:db8::1");
	h->row.v6.updated = 1000;
	F.timeout = true;
	item_update(&a, "sick", "192.0.2.2", 5000);
	zw_submit(w, &a, F.clock);
	zw_step(w, F.clock);
	t0 = F.clock; /* after the timeout */
	is_str(status(&a), "dnserr", "no answer: dnserr");
	ok(strcmp(h->row.v4.ip, "192.0.2.1") == 0, "the database is unchanged");
	is_int(h->lease, LEASE_LAPSED, "the host is left uncertain");
	ok(zw_is_sick(w, t0) && zw_is_sick(w, t0 + 999) && !zw_is_sick(w, t0 + 1000),
	   "failing fast for 1 s");
	item_update(&b, "sick", "192.0.2.3", 5000);
	answered = 0;
	ok(!zw_submit(w, &b, t0 + 500) && answered == 1 && b.status == UPDATE_DNSERR,
	   "a request meanwhile: dnserr at once, no UPDATE");
	is_int(F.sends, 1, "still one UPDATE sent");
	ok(zw_submit(w, &b, t0 + 1000), "at 1 s the next request is the probe");
	zw_step(w, t0 + 1000);
	t0 = F.clock;
	ok(F.sends == 2 && b.status == UPDATE_DNSERR, "the probe times out too");
	ok(zw_is_sick(w, t0 + 1999) && !zw_is_sick(w, t0 + 2000), "now 2 s");
	for (int i = 0; i < 8; i++) { /* 4, 8, ..., 60 s at most */
		zw_submit(w, &b, F.clock + 60000);
		zw_step(w, F.clock + 60000);
	}
	t0 = F.clock;
	ok(zw_is_sick(w, t0 + 59999) && !zw_is_sick(w, t0 + 60000), "the interval stops at 60 s");
	F.timeout = false;
	item_update(&c, "sick", "192.0.2.1", 2000); /* before its deadline */
	zw_submit(w, &c, t0 + 60000);
	zw_step(w, t0 + 60000);
	ok(!zw_is_sick(w, F.clock), "an answer ends it");
	is_str(status(&c), "nochg", "the request confirms the database: nochg");
	ok(strcmp(h->dns4, "192.0.2.1") == 0 && strcmp(h->dns6, "2001:db8::1") == 0,
	   "but the uncertain host was republished whole (both families)");
	ok(c.repaired && h->lease == LEASE_NONE, "repaired, lease gone");
	zw_free(w);
}

/* A full queue answers dnserr at once; queued items go on. */
static void
test_queue_full(void)
{
	static struct zw_item it[ZW_QUEUE_MAX + 1];
	struct zonewriter *w;
	int queued = 0;

	fake_reset();
	w = writer();
	add_host("q", "alice", NULL);
	for (int i = 0; i < ZW_QUEUE_MAX + 1; i++) {
		item_update(&it[i], "q", "192.0.2.1", 5000);
		queued += zw_submit(w, &it[i], F.clock);
	}
	is_int(queued, ZW_QUEUE_MAX, "the queue takes ZW_QUEUE_MAX");
	is_str(status(&it[ZW_QUEUE_MAX]), "dnserr", "the next: dnserr at once");
	is_int(zw_queued(w), ZW_QUEUE_MAX, "the queued ones wait");
	is_int(zw_fail_all(w, UPDATE_911), ZW_QUEUE_MAX, "fail_all answers them");
	ok(it[0].status == UPDATE_911 && zw_queued(w) == 0, "with the given status");
	zw_free(w);
}

/* A host whose lease another holder has stays queued (retried every ZW_RETRY_MS, the
 * other hosts of the batch go on), gets its turn when the lease goes, and 911 when it
 * waited longer than a lease lasts. Later items of the host keep their order. */
static void
test_lease_held(void)
{
	struct zw_item a, b, c, d;
	struct zonewriter *w;
	struct fake_host *held;

	fake_reset();
	w = writer();
	held = add_host("held", "alice", "192.0.2.1");
	add_host("free", "alice", "192.0.2.1");
	held->lease = LEASE_OTHER;
	item_update(&a, "held", "192.0.2.2", 5000);
	item_update(&b, "free", "192.0.2.2", 5000);
	zw_submit(w, &a, F.clock);
	zw_submit(w, &b, F.clock);
	is_int(zw_step(w, F.clock), 1, "the free host is answered");
	is_str(status(&b), "good", "free: good");
	is_int(zw_next_ms(w, F.clock), F.clock + ZW_RETRY_MS, "the held one retries soon");
	item_update(&c, "held", "192.0.2.3", 5001);
	zw_submit(w, &c, F.clock);
	is_int(zw_step(w, F.clock + 1), 0, "not before its retry time, nor the later item");
	held->lease = LEASE_NONE;
	is_int(zw_step(w, F.clock + ZW_RETRY_MS), 2, "the lease went: both items");
	ok(a.status == UPDATE_GOOD && c.status == UPDATE_GOOD, "both good, in order");
	is_str(held->dns4, "192.0.2.3", "the later wins");

	held->lease = LEASE_OTHER;
	item_update(&d, "held", "192.0.2.4", 5002);
	zw_submit(w, &d, F.clock);
	zw_step(w, F.clock);
	zw_step(w, F.clock + TIMEOUT + DB_LEASE_SLACK_MS + 1);
	is_str(status(&d), "911", "waited longer than a lease lasts: 911");
	zw_free(w);
}

static void
item_expire(struct zw_item *it, const char *label, int64_t now)
{
	memset(it, 0, sizeof(*it));
	it->kind = ZW_EXPIRE;
	snprintf(it->fqdn, sizeof(it->fqdn), "%s." ZONE, label);
	it->now = now;
	it->done = on_done;
}

/* Expiry through the writer: what is still due is deleted and claimed; an update of the
 * host in the same batch before the expiry wins (nothing due any more). */
static void
test_expire(void)
{
	struct zw_item e1, u2, e2;
	struct zonewriter *w;
	struct fake_host *x, *y;

	fake_reset();
	w = writer();
	x = add_host("x", "alice", "192.0.2.1"); /* updated 1000, expiry 3600: due at 4600 */
	y = add_host("y", "alice", "192.0.2.1");
	item_expire(&e1, "x", 4600);
	item_update(&u2, "y", "192.0.2.1", 4600); /* due: republished, not a change */
	item_expire(&e2, "y", 4600);
	zw_submit(w, &e1, F.clock);
	zw_submit(w, &u2, F.clock);
	zw_submit(w, &e2, F.clock);
	zw_step(w, F.clock);
	ok(e1.status == UPDATE_GOOD && e1.expired == DB_V4, "x: v4 expired");
	ok(x->row.v4.expired && x->dns4[0] == '\0', "x: deleted and marked");
	is_str(status(&u2), "good", "y: the update republished the due family");
	is_int(e2.expired, 0, "y: the expiry after it finds nothing due");
	ok(!y->row.v4.expired && strcmp(y->dns4, "192.0.2.1") == 0, "y: live");
	is_int(F.sends, 1, "one UPDATE for both hosts");
	zw_free(w);
}

/* The database failing: on the leases, every item 911 and nothing sent; on the results,
 * 911 (the leases stay and lapse: the hosts are republished later). A lease that was
 * taken over before the results (it lapsed) writes nothing: dnserr. */
static void
test_database_failures(void)
{
	struct zw_item a;
	struct zonewriter *w;
	struct fake_host *h;

	fake_reset();
	w = writer();
	h = add_host("dbf", "alice", "192.0.2.1");
	F.fail_lease = true;
	item_update(&a, "dbf", "192.0.2.2", 5000);
	zw_submit(w, &a, F.clock);
	zw_step(w, F.clock);
	ok(a.status == UPDATE_911 && F.sends == 0, "lease failed: 911, nothing sent");
	F.fail_lease = false;
	F.fail_end = true;
	zw_submit(w, &a, F.clock);
	zw_step(w, F.clock);
	ok(a.status == UPDATE_911 && F.sends == 1, "record failed after NOERROR: 911");
	is_int(h->lease, LEASE_OURS, "the lease stays (it lapses: uncertain)");
	F.fail_end = false;
	h->lease = LEASE_NONE;
	F.steal = "dbf." ZONE;
	zw_submit(w, &a, F.clock);
	zw_step(w, F.clock);
	is_str(status(&a), "dnserr", "a lease taken over before the results: dnserr");
	ok(strcmp(h->row.v4.ip, "192.0.2.1") == 0 && h->token == -99,
	   "nothing written, the new holder's lease untouched");
	zw_free(w);
}

/* nohost under the lease (the host went, or changed owner meanwhile), and a nochg that
 * needs no UPDATE: answered without DNS. */
static void
test_no_dns(void)
{
	struct zw_item a, b;
	struct zonewriter *w;

	fake_reset();
	w = writer();
	add_host("mine", "alice", "192.0.2.1");
	add_host("bobs", "bob", "192.0.2.1");
	item_update(&a, "mine", "192.0.2.1", 2000);
	item_update(&b, "bobs", "192.0.2.9", 2000);
	zw_submit(w, &a, F.clock);
	zw_submit(w, &b, F.clock);
	zw_step(w, F.clock);
	is_str(status(&a), "nochg", "nochg");
	is_int(F.h[0].row.v4.updated, 2000, "touched");
	is_str(status(&b), "nohost", "another user's host: nohost");
	is_int(F.sends, 0, "no UPDATE");
	item_update(&a, "gone", "192.0.2.1", 2000);
	zw_submit(w, &a, F.clock);
	zw_step(w, F.clock);
	is_str(status(&a), "nohost", "a host that is gone: nohost");
	zw_free(w);
}

/* A lease transaction that stalls (a Galera view change): the leases may lapse during
 * the exchange, so nothing is sent; the hosts are released and try again with fresh
 * leases, and the request is answered good, not dnserr. */
static void
test_slow_lease(void)
{
	static struct zw_item it;
	struct zonewriter *w;

	fake_reset();
	w = writer();
	add_host("h0", "alice", "192.0.2.1");
	item_update(&it, "h0", "192.0.2.50", 5000);
	ok(zw_submit(w, &it, F.clock), "queued");
	answered = 0;
	F.slow_lease = 6000; /* dns_timeout 2 s + 5 s slack: 7 s of lease */
	is_int(zw_step(w, F.clock), 0, "a slow lease answers nothing");
	ok(F.sends == 0 && F.h[0].lease == LEASE_NONE, "nothing sent, the lease released");
	ok(zw_next_ms(w, F.clock) >= 0, "the host is queued again");
	F.clock += ZW_RETRY_MS;
	is_int(zw_step(w, F.clock), 1, "the next step answers it");
	is_str(status(&it), "good", "good");
	ok(F.sends == 1 && strcmp(F.h[0].dns4, "192.0.2.50") == 0, "sent once, served");
	F.slow_lease = 60000;
	item_update(&it, "h0", "192.0.2.51", 5001);
	ok(zw_submit(w, &it, F.clock), "queued again");
	is_int(zw_step(w, F.clock), 0, "a lease slower than the wait limit: retried");
	F.clock += ZW_RETRY_MS;
	is_int(zw_step(w, F.clock), 1, "then answered");
	is_str(status(&it), "911", "911 once it waited longer than a lease");
	zw_free(w);
}

int
main(void)
{
	log_set_level(LOG_LVL_ERROR);
	test_coalescing();
	test_batch_bound();
	test_split();
	test_same_host_twice();
	test_fail_fast();
	test_queue_full();
	test_lease_held();
	test_expire();
	test_database_failures();
	test_no_dns();
	test_slow_lease();
	return tap_done();
}
