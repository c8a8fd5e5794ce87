/* SPDX-License-Identifier: MIT */
/* A zone's writer: queue, batches of hosts under one lease transaction, decisions folded
 * per host, one UPDATE split on per-name refusals, one result transaction, fail-fast. */
#include "zonewriter.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"

/* A send is started only while the batch's leases will outlast it by this much. */
#define ZW_LEASE_MARGIN_MS 500

/* One host of a batch: its items in queue order, the row as they leave it, what to
 * send and what to record. */
enum zw_dns { ZW_DNS_NONE, ZW_DNS_OK, ZW_DNS_FAILED, ZW_DNS_UNSENT };

struct zw_host {
	struct zw_item *first, *last;	 /* linked by item->next */
	struct db_host row;		 /* the leased row as the items so far leave it */
	struct dns_change change;	 /* KEEP, KEEP: nothing to send */
	int set, touch, expire, offline; /* what host_end_many records (DB_V4|DB_V6) */
	char ipv4[ADDR_STRLEN], ipv6[ADDR_STRLEN];
	int64_t now; /* the latest item's time */
	enum zw_dns dns;
	bool uncertain; /* the leased row was uncertain */
	bool maybe;	/* its UPDATE failed without a trusted answer */
	bool deferred;	/* another holder has its lease: back to the queue */
};

/* The working set of one zw_step; kept by the writer between steps (allocated on the
 * first one) so a step costs no allocation. */
struct zw_batch {
	size_t n;
	struct zw_host h[ZW_BATCH_HOSTS];
	struct db_lease l[ZW_BATCH_HOSTS];
	struct db_host_end e[ZW_BATCH_HOSTS];
	struct dns_change chs[ZW_BATCH_HOSTS];
	size_t of[ZW_BATCH_HOSTS]; /* chs[i] is the change of host h[of[i]] */
	struct zw_item *answer;	   /* items answered before the batch ran (waited too long) */
	int64_t leased_at;
	bool timeout;  /* an UPDATE got no answer */
	bool answered; /* the server answered something */
};

struct zonewriter {
	pthread_mutex_t mu; /* the queue and the fail-fast state */
	char zone[HOSTNAME_MAX + 1];
	char label[HOSTNAME_MAX + 64];
	const struct zw_ops *ops;
	void *ctx;
	int dns_timeout_ms;
	int64_t lease_ms; /* dns_timeout + DB_LEASE_SLACK_MS */
	struct zw_item *head, *tail;
	size_t queued;
	bool full;	      /* the queue is full (logged once) */
	bool sick;	      /* the server did not answer: fail fast until sick_until */
	int64_t sick_until;   /* monotonic ms */
	int64_t backoff;      /* the current fail-fast interval */
	int64_t sick_since;   /* monotonic ms of the first timeout */
	uint64_t failed_fast; /* items answered dnserr at once while sick */
	struct zw_batch *b;   /* zw_step's working set; only its thread uses it */
};

bool
zw_split_rcode(int rcode, int tsig_error)
{
	return tsig_error == 0 && (rcode == 5 /* REFUSED */ || rcode == 10 /* NOTZONE */);
}

int
zw_new(const char *zone, const char *label, const struct zw_ops *ops, void *ctx, int dns_timeout_ms,
       struct zonewriter **out)
{
	struct zonewriter *w = calloc(1, sizeof(*w));

	*out = NULL;
	if (w == NULL)
		return ERR_NOMEM;
	if (pthread_mutex_init(&w->mu, NULL) != 0) {
		free(w);
		return ERR_NOMEM;
	}
	snprintf(w->zone, sizeof(w->zone), "%s", zone);
	snprintf(w->label, sizeof(w->label), "%s", label ? label : zone);
	w->ops = ops;
	w->ctx = ctx;
	w->dns_timeout_ms = dns_timeout_ms;
	w->lease_ms = dns_timeout_ms + DB_LEASE_SLACK_MS;
	*out = w;
	return 0;
}

void
zw_free(struct zonewriter *w)
{
	if (w == NULL)
		return;
	pthread_mutex_destroy(&w->mu);
	free(w->b);
	free(w);
}

/* Answers a list of items (linked by next) with `status` where they have none yet. */
static size_t
answer_list(struct zw_item *it, enum update_status status)
{
	size_t n = 0;

	while (it != NULL) {
		struct zw_item *next = it->next;

		it->next = NULL;
		if (status != UPDATE_GOOD)
			it->status = status;
		it->done(it);
		it = next;
		n++;
	}
	return n;
}

/* Takes the whole queue (caller holds mu). */
static struct zw_item *
take_all(struct zonewriter *w)
{
	struct zw_item *all = w->head;

	w->head = w->tail = NULL;
	w->queued = 0;
	return all;
}

static void
refuse(struct zw_item *it)
{
	it->next = NULL;
	it->status = UPDATE_DNSERR;
	it->done(it);
}

bool
zw_submit(struct zonewriter *w, struct zw_item *it, int64_t now_ms)
{
	bool sick, full;

	pthread_mutex_lock(&w->mu);
	sick = w->sick && now_ms < w->sick_until;
	full = !sick && w->queued >= ZW_QUEUE_MAX;
	if (sick)
		w->failed_fast++;
	if (full && !w->full)
		log_warnx("zone %s: %d updates wait for the DNS server; answering dnserr until "
			  "it catches up",
			  w->label, ZW_QUEUE_MAX);
	w->full = full || w->full;
	if (!sick && !full) {
		it->next = NULL;
		it->queued_ms = now_ms;
		it->retry_ms = 0;
		if (w->tail)
			w->tail->next = it;
		else
			w->head = it;
		w->tail = it;
		w->queued++;
	}
	pthread_mutex_unlock(&w->mu);
	if (sick || full)
		refuse(it);
	return !sick && !full;
}

size_t
zw_fail_all(struct zonewriter *w, enum update_status status)
{
	struct zw_item *all;

	pthread_mutex_lock(&w->mu);
	all = take_all(w);
	pthread_mutex_unlock(&w->mu);
	return answer_list(all, status);
}

size_t
zw_queued(struct zonewriter *w)
{
	size_t n;

	pthread_mutex_lock(&w->mu);
	n = w->queued;
	pthread_mutex_unlock(&w->mu);
	return n;
}

bool
zw_is_sick(struct zonewriter *w, int64_t now_ms)
{
	bool sick;

	pthread_mutex_lock(&w->mu);
	sick = w->sick && now_ms < w->sick_until;
	pthread_mutex_unlock(&w->mu);
	return sick;
}

int64_t
zw_next_ms(struct zonewriter *w, int64_t now_ms)
{
	int64_t next = -1;

	pthread_mutex_lock(&w->mu);
	for (struct zw_item *it = w->head; it != NULL; it = it->next) {
		if (it->retry_ms <= now_ms) {
			next = now_ms;
			break;
		}
		if (next < 0 || it->retry_ms < next)
			next = it->retry_ms;
	}
	pthread_mutex_unlock(&w->mu);
	return next;
}

/* ---- taking a batch from the queue ---- */

static struct zw_host *
find_host(struct zw_batch *b, const char *fqdn)
{
	for (size_t i = 0; i < b->n; i++)
		if (strcmp(b->h[i].first->fqdn, fqdn) == 0)
			return &b->h[i];
	return NULL;
}

/* Whether `fqdn` is among the first n items of `held` (a host whose earlier items
 * must go first). */
static bool
is_held(struct zw_item *const *held, size_t n, const char *fqdn)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(held[i]->fqdn, fqdn) == 0)
			return true;
	return false;
}

/* Where queue item `it` goes: 1 into the batch, 0 stays queued, -1 answered 911 (it
 * waited longer than a lease lasts for another holder's lease). */
static int
place(struct zonewriter *w, struct zw_batch *b, struct zw_item *it, int64_t now,
      struct zw_item **held, size_t *nheld)
{
	if (*nheld > 0 && is_held(held, *nheld, it->fqdn))
		return 0;
	if (it->retry_ms > now) {
		if (*nheld < ZW_BATCH_HOSTS)
			held[(*nheld)++] = it;
		return 0;
	}
	if (it->retry_ms != 0 && now - it->queued_ms > w->lease_ms)
		return -1;
	return find_host(b, it->fqdn) != NULL || b->n < ZW_BATCH_HOSTS ? 1 : 0;
}

static void
add_to_host(struct zw_batch *b, struct zw_item *it)
{
	struct zw_host *h = find_host(b, it->fqdn);

	it->next = NULL;
	if (h == NULL) {
		h = &b->h[b->n++];
		memset(h, 0, sizeof(*h));
		h->first = it;
	} else {
		h->last->next = it;
	}
	h->last = it;
}

/* Moves the batch's items out of the queue, in queue order (caller holds mu). */
static void
take_batch(struct zonewriter *w, struct zw_batch *b, int64_t now)
{
	struct zw_item *held[ZW_BATCH_HOSTS];
	struct zw_item *it = w->head, *prev = NULL;
	size_t nheld = 0;

	while (it != NULL && nheld < ZW_BATCH_HOSTS) {
		struct zw_item *next = it->next;
		int where = place(w, b, it, now, held, &nheld);

		if (where == 0) {
			prev = it;
			it = next;
			continue;
		}
		if (prev)
			prev->next = next;
		else
			w->head = next;
		if (w->tail == it)
			w->tail = prev;
		w->queued--;
		if (where > 0) {
			add_to_host(b, it);
		} else {
			it->status = UPDATE_911;
			it->next = b->answer;
			b->answer = it;
		}
		it = next;
	}
	if (w->queued < ZW_QUEUE_MAX / 2)
		w->full = false;
}

/* ---- deciding under the leases ---- */

/* Records in h what family `fam` of one item's plan does. */
static void
fold_family(struct zw_host *h, const struct zw_item *it, int fam)
{
	bool v4 = fam == DB_V4;
	const struct update_plan *p = &it->plan;
	struct db_rr *rr = v4 ? &h->row.v4 : &h->row.v6;

	if ((v4 ? p->change.v4 : p->change.v6) == DNS_SET) {
		const char *ip = v4 ? p->change.ipv4 : p->change.ipv6;

		*(v4 ? &h->change.v4 : &h->change.v6) = DNS_SET;
		snprintf(v4 ? h->change.ipv4 : h->change.ipv6, ADDR_STRLEN, "%s", ip);
		snprintf(v4 ? h->ipv4 : h->ipv6, ADDR_STRLEN, "%s", ip);
		snprintf(rr->ip, sizeof(rr->ip), "%s", ip);
		rr->updated = it->now;
		rr->expired = false;
		rr->offline = false;
		h->set |= fam;
		h->offline &= ~fam; /* offline, then an update: published again */
	} else if ((v4 ? p->change.v4 : p->change.v6) == DNS_DELETE) {
		/* offline=YES, or the republish of an uncertain row (no offline mark). */
		*(v4 ? &h->change.v4 : &h->change.v6) = DNS_DELETE;
		(v4 ? h->change.ipv4 : h->change.ipv6)[0] = '\0';
		if (p->offline_families & fam) {
			rr->expired = true;
			rr->offline = true;
			h->offline |= fam; /* recorded after set_families: the later wins */
		}
	} else if (p->touch_families & fam) {
		h->touch |= fam;
		if (rr->updated < it->now)
			rr->updated = it->now;
	}
}

static void
fold_update(struct zw_host *h, struct zw_item *it)
{
	update_decide(&it->want, &h->row, it->user, it->now, &it->plan);
	it->status = it->plan.status;
	if (it->status != UPDATE_GOOD && it->status != UPDATE_NOCHG)
		return; /* nohost, badip: nothing of it changes */
	fold_family(h, it, DB_V4);
	fold_family(h, it, DB_V6);
}

/* An expiry: what is still due on the row as the items before left it is deleted. */
static void
fold_expire(struct zw_host *h, struct zw_item *it)
{
	int due = db_host_due_families(&h->row, it->now);

	if (due & DB_V4) {
		h->change.v4 = DNS_DELETE;
		h->change.ipv4[0] = '\0';
		h->row.v4.expired = true;
	}
	if (due & DB_V6) {
		h->change.v6 = DNS_DELETE;
		h->change.ipv6[0] = '\0';
		h->row.v6.expired = true;
	}
	h->expire |= due;
	it->expired = due;
	it->status = UPDATE_GOOD;
}

/* Decides every item of a leased host in queue order on the row as the ones before it
 * leave it; an uncertain row starts from its whole state (update_republish). */
static void
fold_host(struct zw_host *h, const struct db_host *row)
{
	h->row = *row;
	h->row.uncertain = false;
	h->uncertain = row->uncertain;
	update_host_change(row, &h->change);
	if (row->uncertain)
		update_republish(row, &h->change);
	for (struct zw_item *it = h->first; it != NULL; it = it->next) {
		it->before = *row;
		it->repaired = row->uncertain;
		if (h->now < it->now)
			h->now = it->now;
		if (it->kind == ZW_UPDATE)
			fold_update(h, it);
		else if (it->kind == ZW_EXPIRE)
			fold_expire(h, it);
		else
			it->status = UPDATE_GOOD;
	}
}

/* Takes the leases and decides; hosts without one are answered or deferred. Returns
 * 0, or the database error (every item is then answered 911). */
static int
lease_and_decide(struct zonewriter *w, struct zw_batch *b, int64_t now)
{
	int rc;

	for (size_t i = 0; i < b->n; i++)
		b->l[i].fqdn = b->h[i].first->fqdn;
	if ((rc = w->ops->lease(w->ctx, b->l, b->n)) != 0) {
		log_error("zone %s: cannot lease %zu host(s): %s", w->label, b->n, err_str(rc));
		return rc;
	}
	b->leased_at = now;
	for (size_t i = 0; i < b->n; i++) {
		struct zw_host *h = &b->h[i];

		if (b->l[i].state == DB_LEASE_HELD) {
			fold_host(h, &b->l[i].row);
		} else if (b->l[i].state == DB_LEASE_BUSY) {
			h->deferred = true;
		} else {
			for (struct zw_item *it = h->first; it; it = it->next)
				it->status = it->kind == ZW_UPDATE ? UPDATE_NOHOST : UPDATE_GOOD;
		}
	}
	return 0;
}

/* ---- sending ---- */

static bool
has_change(const struct zw_host *h)
{
	return h->change.v4 != DNS_KEEP || h->change.v6 != DNS_KEEP;
}

static void
mark(struct zw_batch *b, size_t lo, size_t hi, enum zw_dns how, bool maybe)
{
	for (size_t i = lo; i < hi; i++) {
		b->h[b->of[i]].dns = how;
		b->h[b->of[i]].maybe = maybe;
	}
}

/* Whether the batch's leases may lapse before a DNS exchange started now ends. */
static bool
leases_too_short(struct zonewriter *w, const struct zw_batch *b)
{
	return w->ops->now_ms(w->ctx) - b->leased_at + w->dns_timeout_ms + ZW_LEASE_MARGIN_MS >
	       w->lease_ms;
}

/* Sends chs[lo..hi); a refusal that may concern one name is split in halves. Returns
 * false when the server did not answer (nothing more is sent). */
static bool
send_range(struct zonewriter *w, struct zw_batch *b, size_t lo, size_t hi)
{
	struct dns_result res;
	int rc;

	if (leases_too_short(w, b)) {
		mark(b, lo, hi, ZW_DNS_UNSENT, false); /* its leases could lapse meanwhile */
		return true;
	}
	memset(&res, 0, sizeof(res));
	rc = w->ops->send(w->ctx, &b->chs[lo], hi - lo, &res);
	if (rc == 0 || rc == ERR_DNS)
		b->answered = true;
	if (rc == 0) {
		mark(b, lo, hi, ZW_DNS_OK, false);
		return true;
	}
	if (rc == ERR_DNS && hi - lo > 1 && zw_split_rcode(res.rcode, res.tsig_error))
		return send_range(w, b, lo, lo + (hi - lo) / 2) &&
		       send_range(w, b, lo + (hi - lo) / 2, hi);
	mark(b, lo, hi, ZW_DNS_FAILED, res.maybe_applied);
	if (rc == ERR_TIMEOUT) {
		b->timeout = true;
		if (!w->sick) /* later ones are counted in the state change's log line */
			log_warnx("zone %s: UPDATE of %zu name(s) got no answer: %s", w->label,
				  hi - lo, res.msg);
		return false;
	}
	if (hi - lo == 1)
		log_warnx("zone %s: %s: DNS update failed: %s", w->label, b->chs[lo].fqdn, res.msg);
	else
		log_warnx("zone %s: UPDATE of %zu names failed: %s", w->label, hi - lo, res.msg);
	return true;
}

/* Sends the changes of every leased host that has one, as one UPDATE. */
static void
send_batch(struct zonewriter *w, struct zw_batch *b)
{
	size_t n = 0;

	for (size_t i = 0; i < b->n; i++) {
		if (b->l[i].state != DB_LEASE_HELD || !has_change(&b->h[i]))
			continue;
		b->chs[n] = b->h[i].change;
		b->of[n++] = i;
	}
	/* Taking the leases took so long (a database that stalled: a Galera view change,
	 * a busy SQLite writer) that they may lapse during the exchange: nothing is sent,
	 * the leases go, and the hosts try again with fresh ones (the queue's wait limit
	 * bounds how often). */
	if (n > 0 && leases_too_short(w, b)) {
		log_debug("zone %s: leases taken too slowly; %zu host(s) try again", w->label, n);
		for (size_t i = 0; i < n; i++) {
			b->h[b->of[i]].dns = ZW_DNS_UNSENT;
			b->h[b->of[i]].deferred = true;
		}
		return;
	}
	if (n > 0 && !send_range(w, b, 0, n))
		for (size_t i = 0; i < n; i++)
			if (b->h[b->of[i]].dns == ZW_DNS_NONE)
				b->h[b->of[i]].dns = ZW_DNS_UNSENT;
}

/* ---- recording and answering ---- */

/* The end of host h's lease: its results after NOERROR (or when it needed no UPDATE);
 * else nothing, the lease lapsing at once when DNS may have changed or was uncertain. */
static void
end_of(const struct zw_host *h, const struct db_lease *l, struct db_host_end *e)
{
	memset(e, 0, sizeof(*e));
	e->host_id = l->row.id;
	e->token = l->token;
	if (h->dns == ZW_DNS_OK || h->dns == ZW_DNS_NONE) {
		e->how = DB_END_COMMIT;
		e->set_families = h->set;
		e->touch_families = h->touch & ~h->set;
		e->expire_families = h->expire;
		e->offline_families = h->offline;
		e->ipv4 = h->ipv4;
		e->ipv6 = h->ipv6;
		e->now = h->now;
	} else {
		e->how = h->maybe || h->uncertain ? DB_END_UNCERTAIN : DB_END_RELEASE;
	}
}

/* The answer of one item of a leased host after the end: `ended` is the result of
 * host_end_many, `e` this host's end. */
static void
settle_item(struct zw_item *it, const struct zw_host *h, const struct db_host_end *e, int ended)
{
	if (h->dns == ZW_DNS_FAILED || h->dns == ZW_DNS_UNSENT) {
		if (it->status == UPDATE_GOOD || it->status == UPDATE_NOCHG)
			it->status = UPDATE_DNSERR;
		it->expired = 0;
		it->repaired = false;
	} else if (ended != 0) {
		it->status = UPDATE_911;
		it->expired = 0;
		it->repaired = false;
	} else if (e->lost) {
		/* The lease lapsed and its new holder republished what the database holds. */
		if (it->status == UPDATE_GOOD || it->status == UPDATE_NOCHG)
			it->status = UPDATE_DNSERR;
		it->expired = 0;
		it->repaired = false;
	} else {
		it->expired &= e->claimed;
	}
}

static int
record_batch(struct zonewriter *w, struct zw_batch *b)
{
	size_t m = 0;
	int rc = 0;

	for (size_t i = 0; i < b->n; i++)
		if (b->l[i].state == DB_LEASE_HELD)
			end_of(&b->h[i], &b->l[i], &b->e[m++]);
	if (m > 0 && (rc = w->ops->end(w->ctx, b->e, m)) != 0)
		log_error("zone %s: cannot record %zu host(s): %s; their leases lapse and they "
			  "are republished by their next update",
			  w->label, m, err_str(rc));
	for (size_t i = 0, k = 0; i < b->n; i++) {
		if (b->l[i].state != DB_LEASE_HELD)
			continue;
		for (struct zw_item *it = b->h[i].first; it; it = it->next)
			settle_item(it, &b->h[i], &b->e[k], rc);
		k++;
	}
	return rc;
}

/* ---- fail-fast ---- */

/* After a batch: a timeout makes the zone fail fast (for longer after each probe that
 * gets no answer either); any answer ends it. One log line per change of state. */
static void
update_health(struct zonewriter *w, const struct zw_batch *b, int64_t now)
{
	pthread_mutex_lock(&w->mu);
	if (b->timeout) {
		if (!w->sick) {
			w->sick = true;
			w->sick_since = now;
			w->failed_fast = 0;
			w->backoff = ZW_SICK_MIN_MS;
			log_warnx("zone %s: the DNS server does not answer; its updates fail at "
				  "once (dnserr) until a probe in %lld ms gets an answer",
				  w->label, (long long)w->backoff);
		} else {
			w->backoff =
				w->backoff * 2 > ZW_SICK_MAX_MS ? ZW_SICK_MAX_MS : w->backoff * 2;
			log_debug("zone %s: still no answer; next probe in %lld ms", w->label,
				  (long long)w->backoff);
		}
		w->sick_until = now + w->backoff;
	} else if (b->answered && w->sick) {
		w->sick = false;
		log_warnx("zone %s: the DNS server answers again after %lld s; %llu update(s) "
			  "failed at once meanwhile",
			  w->label, (long long)((now - w->sick_since) / 1000),
			  (unsigned long long)w->failed_fast);
	}
	pthread_mutex_unlock(&w->mu);
}

/* Puts the items of deferred hosts back at the head of the queue, in their order. */
static void
requeue_deferred(struct zonewriter *w, struct zw_batch *b, int64_t now)
{
	struct zw_item *first = NULL, *last = NULL;

	for (size_t i = 0; i < b->n; i++) {
		struct zw_host *h = &b->h[i];

		if (!h->deferred)
			continue;
		for (struct zw_item *it = h->first; it; it = it->next)
			it->retry_ms = now + ZW_RETRY_MS;
		if (last)
			last->next = h->first;
		else
			first = h->first;
		last = h->last;
		h->first = h->last = NULL;
	}
	if (first == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	last->next = w->head;
	w->head = first;
	if (w->tail == NULL)
		w->tail = last;
	for (struct zw_item *it = first; it != last->next; it = it->next)
		w->queued++;
	pthread_mutex_unlock(&w->mu);
}

static size_t
answer_batch(struct zw_batch *b, int db_error)
{
	size_t n = answer_list(b->answer, UPDATE_911);

	b->answer = NULL;
	for (size_t i = 0; i < b->n; i++) {
		if (b->h[i].deferred)
			continue;
		n += answer_list(b->h[i].first, db_error ? UPDATE_911 : UPDATE_GOOD);
		b->h[i].first = b->h[i].last = NULL;
	}
	return n;
}

/* Takes the next batch, or answers the whole queue at once while the zone fails
 * fast. Returns false when there is nothing to run. */
static bool
start_step(struct zonewriter *w, struct zw_batch *b, int64_t now, size_t *answered)
{
	struct zw_item *failed = NULL;

	pthread_mutex_lock(&w->mu);
	b->n = 0;
	b->answer = NULL;
	b->timeout = b->answered = false;
	if (w->sick && now < w->sick_until) {
		failed = take_all(w);
		for (struct zw_item *it = failed; it; it = it->next)
			w->failed_fast++;
	} else {
		take_batch(w, b, now);
	}
	pthread_mutex_unlock(&w->mu);
	*answered = answer_list(failed, UPDATE_DNSERR);
	return b->n > 0;
}

size_t
zw_step(struct zonewriter *w, int64_t now_ms)
{
	struct zw_batch *b = w->b;
	size_t answered = 0;
	int rc;

	if (b == NULL && (b = w->b = calloc(1, sizeof(*b))) == NULL) {
		log_error("zone %s: out of memory", w->label);
		return zw_fail_all(w, UPDATE_911);
	}
	if (!start_step(w, b, now_ms, &answered))
		return answered + answer_batch(b, 0);
	rc = lease_and_decide(w, b, now_ms);
	if (rc == 0) {
		send_batch(w, b);
		(void)record_batch(w, b);
		update_health(w, b, w->ops->now_ms(w->ctx));
		requeue_deferred(w, b, now_ms);
	}
	return answered + answer_batch(b, rc);
}
