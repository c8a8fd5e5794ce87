/* SPDX-License-Identifier: MIT */
/* Reconciliation (see reconcile.h): the comparison, the direct query with ldns, the
 * report lines, and the bounded pool of workers that checks and repairs the hosts. */
#include "reconcile.h"

#include <jansson.h>
#include <ldns/ldns.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "err.h"
#include "log.h"
#include "update.h"

/* ---- the comparison (pure) ---- */

enum want { WANT_ABSENT, WANT_PRESENT, WANT_ANY };

/* What the database says about one family. Issue 13's offline state, like an expired
 * family, is "absent": the row then has no live address. */
static enum want
family_want(const struct db_rr *rr, bool due)
{
	if (rr->ip[0] == '\0' || rr->expired)
		return WANT_ABSENT;
	return due ? WANT_ANY : WANT_PRESENT;
}

static bool
rrset_is(const struct reconcile_rrset *s, const char *ip, int ttl)
{
	struct addr want;

	if (s->n != 1 || addr_parse(ip, &want) != 0)
		return false;
	return addr_equal(&s->addr[0], &want) && s->ttl[0] == ttl;
}

static enum reconcile_fix
family_fix(const struct db_rr *rr, bool due, int ttl, const struct reconcile_rrset *seen)
{
	switch (family_want(rr, due)) {
	case WANT_ABSENT: return seen->n ? RECONCILE_DELETE : RECONCILE_OK;
	case WANT_PRESENT:
		if (seen->n == 0)
			return RECONCILE_ADD;
		return rrset_is(seen, rr->ip, ttl) ? RECONCILE_OK : RECONCILE_REPLACE;
	case WANT_ANY: break;
	}
	return RECONCILE_OK;
}

static enum dns_action
fix_action(enum reconcile_fix f)
{
	switch (f) {
	case RECONCILE_ADD:
	case RECONCILE_REPLACE: return DNS_SET;
	case RECONCILE_DELETE: return DNS_DELETE;
	case RECONCILE_OK: break;
	}
	return DNS_KEEP;
}

bool
reconcile_compare(const struct db_host *h, int64_t now, const struct reconcile_seen *seen,
		  struct reconcile_plan *out)
{
	int due = db_host_due_families(h, now);

	memset(out, 0, sizeof(*out));
	out->v4 = family_fix(&h->v4, due & DB_V4, h->dns_ttl, &seen->v4);
	out->v6 = family_fix(&h->v6, due & DB_V6, h->dns_ttl, &seen->v6);
	update_host_change(h, &out->change);
	out->change.v4 = fix_action(out->v4);
	out->change.v6 = fix_action(out->v6);
	if (out->v4 == RECONCILE_ADD || out->v4 == RECONCILE_REPLACE)
		snprintf(out->change.ipv4, sizeof(out->change.ipv4), "%s", h->v4.ip);
	if (out->v6 == RECONCILE_ADD || out->v6 == RECONCILE_REPLACE)
		snprintf(out->change.ipv6, sizeof(out->change.ipv6), "%s", h->v6.ip);
	return out->v4 != RECONCILE_OK || out->v6 != RECONCILE_OK;
}

/* ---- the query ---- */

/* A resolver that asks `srv` only, without recursion, once per query within the
 * timeout, falling back to TCP on a truncated answer. */
static ldns_resolver *
make_resolver(const struct dns_server *srv)
{
	ldns_resolver *r = ldns_resolver_new();
	ldns_rdf *ns = ldns_rdf_new_frm_str(
		strchr(srv->addr, ':') ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A, srv->addr);
	struct timeval tv = {srv->timeout_ms / 1000, (srv->timeout_ms % 1000) * 1000};

	if (!r || !ns || ldns_resolver_push_nameserver(r, ns) != LDNS_STATUS_OK) {
		ldns_rdf_deep_free(ns);
		ldns_resolver_deep_free(r);
		return NULL;
	}
	ldns_rdf_deep_free(ns); /* pushed as a copy */
	ldns_resolver_set_port(r, (uint16_t)srv->port);
	ldns_resolver_set_recursive(r, false);
	ldns_resolver_set_retry(r, 1);
	ldns_resolver_set_timeout(r, tv);
	ldns_resolver_set_fallback(r, true);
	ldns_resolver_set_random(r, false);
	return r;
}

/* The records of `type` for `name` in the answer section. */
static void
collect(const ldns_pkt *a, const ldns_rdf *name, ldns_rr_type type, struct reconcile_rrset *out)
{
	ldns_rr_list *ans = ldns_pkt_answer(a);

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; ans && i < ldns_rr_list_rr_count(ans); i++) {
		ldns_rr *rr = ldns_rr_list_rr(ans, i);
		ldns_rdf *rd = ldns_rr_rdf(rr, 0);
		struct addr ad = {0};

		if (ldns_rr_get_type(rr) != type || ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN ||
		    ldns_dname_compare(ldns_rr_owner(rr), name) != 0 || !rd)
			continue;
		ad.family = type == LDNS_RR_TYPE_A ? AF_INET : AF_INET6;
		if (ldns_rdf_size(rd) != (type == LDNS_RR_TYPE_A ? 4u : 16u))
			continue;
		memcpy(ad.bytes, ldns_rdf_data(rd), ldns_rdf_size(rd));
		if (out->n < RECONCILE_MAX_RRS) {
			out->addr[out->n] = ad;
			out->ttl[out->n] = (int)ldns_rr_ttl(rr);
		}
		out->n++;
	}
}

/* Whether reply `a` answers query `q` as the authority. */
static int
check_answer(const ldns_pkt *q, const ldns_pkt *a, const struct dns_server *srv, char *why,
	     size_t len)
{
	ldns_pkt_rcode rc = ldns_pkt_get_rcode(a);
	ldns_rr_list *qa = ldns_pkt_question(a), *qq = ldns_pkt_question(q);

	if (ldns_pkt_id(a) != ldns_pkt_id(q) || ldns_rr_list_rr_count(qa) != 1 ||
	    ldns_rr_compare(ldns_rr_list_rr(qa, 0), ldns_rr_list_rr(qq, 0)) != 0) {
		snprintf(why, len, "mismatched answer from %s port %d", srv->addr, srv->port);
		return ERR_DNS;
	}
	if (rc != LDNS_RCODE_NOERROR && rc != LDNS_RCODE_NXDOMAIN) {
		ldns_lookup_table *t = ldns_lookup_by_id(ldns_rcodes, (int)rc);

		snprintf(why, len, "%s from %s port %d", t ? t->name : "error rcode", srv->addr,
			 srv->port);
		return ERR_DNS;
	}
	if (!ldns_pkt_aa(a)) {
		snprintf(why, len, "%s port %d is not authoritative for the name", srv->addr,
			 srv->port);
		return ERR_DNS;
	}
	return 0;
}

static int
query_type(ldns_resolver *r, const struct dns_server *srv, const ldns_rdf *name, ldns_rr_type type,
	   struct reconcile_rrset *out, char *why, size_t len)
{
	ldns_pkt *q = NULL, *a = NULL;
	ldns_status st;
	int rc;

	st = ldns_resolver_prepare_query_pkt(&q, r, name, type, LDNS_RR_CLASS_IN, 0);
	if (st == LDNS_STATUS_OK) {
		ldns_pkt_set_rd(q, false);
		st = ldns_resolver_send_pkt(&a, r, q);
	}
	if (st != LDNS_STATUS_OK || !a) {
		snprintf(why, len, "no answer from %s port %d: %s", srv->addr, srv->port,
			 ldns_get_errorstr_by_id(st));
		rc = st == LDNS_STATUS_NETWORK_ERR ? ERR_TIMEOUT : ERR_IO;
	} else if ((rc = check_answer(q, a, srv, why, len)) == 0) {
		collect(a, name, type, out);
	}
	ldns_pkt_free(q);
	ldns_pkt_free(a);
	return rc;
}

int
reconcile_query(const struct dns_server *srv, const char *fqdn, struct reconcile_seen *out,
		char *why, size_t len)
{
	char dotted[HOSTNAME_MAX + 2];
	ldns_resolver *r = make_resolver(srv);
	ldns_rdf *name;
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(dotted, sizeof(dotted), "%s.", fqdn);
	name = ldns_dname_new_frm_str(dotted);
	if (!r || !name) {
		snprintf(why, len, "cannot query %s", r ? "an invalid name" : srv->addr);
		rc = r ? ERR_INVAL : ERR_NOMEM;
	} else {
		rc = query_type(r, srv, name, LDNS_RR_TYPE_A, &out->v4, why, len);
		if (rc == 0)
			rc = query_type(r, srv, name, LDNS_RR_TYPE_AAAA, &out->v6, why, len);
	}
	ldns_rdf_deep_free(name);
	ldns_resolver_deep_free(r);
	return rc;
}

int
reconcile_send(const struct config *cfg, const struct dns_change *ch, struct dns_result *res)
{
	struct dns_server srv;
	const struct tsig_key *key = config_dns_server(cfg, ch->zone, &srv);

	memset(res, 0, sizeof(*res));
	return dns_update(&srv, key, ch, res);
}

/* ---- the report ---- */

static const char *const fix_names[] = {"ok", "add", "replace", "delete"};

/* "192.0.2.1 ttl 60, 192.0.2.2 ttl 60" or "none". */
static void
rrset_text(const struct reconcile_rrset *s, char *buf, size_t len)
{
	size_t o = 0;
	char ip[ADDR_STRLEN];

	buf[0] = '\0';
	for (size_t i = 0; i < s->n && i < RECONCILE_MAX_RRS && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s ttl %d", i ? ", " : "",
				      addr_format(&s->addr[i], ip, sizeof(ip)), s->ttl[i]);
	if (s->n > RECONCILE_MAX_RRS && o < len)
		snprintf(buf + o, len - o, ", ... (%zu records)", s->n);
	if (s->n == 0)
		snprintf(buf, len, "none");
}

static json_t *
rrset_json(const struct reconcile_rrset *s)
{
	json_t *a = json_array();
	char ip[ADDR_STRLEN];

	for (size_t i = 0; a && i < s->n && i < RECONCILE_MAX_RRS; i++)
		json_array_append_new(a, json_pack("{s:s, s:i}", "address",
						   addr_format(&s->addr[i], ip, sizeof(ip)), "ttl",
						   s->ttl[i]));
	return a;
}

/* One family's change as it is reported. */
struct change_line {
	const struct db_host *h;
	const char *type; /* "A", "AAAA" */
	enum reconcile_fix fix;
	const char *want; /* the address the database publishes ("" for delete) */
	const struct reconcile_rrset *seen;
	const char *result; /* "repaired", "dry-run", "failed" */
	const char *error;  /* the reason of a failure, else NULL */
};

static void
line_json(FILE *f, const struct change_line *l)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:o}", "fqdn", l->h->fqdn,
			      "family", l->type, "action", fix_names[l->fix], "address",
			      l->want[0] ? json_string(l->want) : json_null(), "ttl",
			      l->want[0] ? json_integer(l->h->dns_ttl) : json_null(), "dns",
			      rrset_json(l->seen), "result", l->result, "error",
			      l->error ? json_string(l->error) : json_null());
	char *text = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;

	if (text)
		fprintf(f, "%s\n", text);
	free(text);
	json_decref(o);
}

/* Logs the change and prints it to opts->report. The caller holds the report lock. */
static void
report_change(const struct reconcile_opts *o, const struct change_line *l)
{
	char seen[512], want[ADDR_STRLEN + 32] = "";

	rrset_text(l->seen, seen, sizeof(seen));
	if (l->want[0])
		snprintf(want, sizeof(want), " %s ttl %d", l->want, l->h->dns_ttl);
	log_info("reconcile: %s %s %s%s (dns: %s): %s%s%s", l->h->fqdn, l->type, fix_names[l->fix],
		 want, seen, l->result, l->error ? ": " : "", l->error ? l->error : "");
	if (!o->report)
		return;
	if (o->json)
		line_json(o->report, l);
	else
		fprintf(o->report, "%s %s %s%s (dns: %s): %s%s%s\n", l->h->fqdn, l->type,
			fix_names[l->fix], want, seen, l->result, l->error ? ": " : "",
			l->error ? l->error : "");
}

/* A host that could not be checked or repaired. */
static void
report_error(const struct reconcile_opts *o, const char *fqdn, const char *why)
{
	log_warnx("reconcile: %s: %s", fqdn, why);
	if (!o->report)
		return;
	if (o->json) {
		json_t *j =
			json_pack("{s:s, s:s, s:s}", "fqdn", fqdn, "result", "error", "error", why);
		char *text = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;

		if (text)
			fprintf(o->report, "%s\n", text);
		free(text);
		json_decref(j);
	} else {
		fprintf(o->report, "%s: error: %s\n", fqdn, why);
	}
}

/* ---- the run ---- */

struct run {
	const struct config *cfg;
	const struct reconcile_opts *o;
	struct db_host *hosts;
	size_t n;
	atomic_size_t next;	 /* the next host a worker takes */
	atomic_int streak;	 /* unanswered queries in a row */
	atomic_bool unreachable; /* the DNS server or the database did not answer */
	atomic_bool give_up;	 /* ... so often that the run stops */
	pthread_mutex_t mu;	 /* the report and the stats */
	struct reconcile_stats st;
};

static bool
stopping(struct run *r)
{
	return atomic_load(&r->give_up) || (r->o->stop && atomic_load(r->o->stop));
}

static bool
is_unanswered(int rc)
{
	return rc == ERR_TIMEOUT || rc == ERR_IO;
}

/* Notes a query or update the server did not answer: the run's result becomes
 * "unreachable", and RECONCILE_MAX_UNREACHABLE of them in a row stop it (each further
 * host would wait out the timeout too). */
static void
note_unanswered(struct run *r, int rc)
{
	if (!is_unanswered(rc))
		return;
	atomic_store(&r->unreachable, true);
	if (atomic_fetch_add(&r->streak, 1) + 1 >= RECONCILE_MAX_UNREACHABLE)
		atomic_store(&r->give_up, true);
}

/* A host that could not be checked or repaired. */
static void
host_failed(struct run *r, const char *fqdn, int rc, const char *why)
{
	pthread_mutex_lock(&r->mu);
	r->st.failed++;
	report_error(r->o, fqdn, why);
	pthread_mutex_unlock(&r->mu);
	note_unanswered(r, rc);
}

/* The lines of one host's drift (one per family to repair). */
static void
report_plan(struct run *r, const struct db_host *h, const struct reconcile_plan *p,
	    const struct reconcile_seen *seen, const char *result, const char *error)
{
	struct change_line l = {h, "A", p->v4, h->v4.ip, &seen->v4, result, error};

	pthread_mutex_lock(&r->mu);
	r->st.drift++;
	if (strcmp(result, "repaired") == 0)
		r->st.repaired++;
	if (p->v4 != RECONCILE_OK) {
		l.want = p->v4 == RECONCILE_DELETE ? "" : h->v4.ip;
		report_change(r->o, &l);
	}
	if (p->v6 != RECONCILE_OK) {
		l = (struct change_line){
			h,	   "AAAA", p->v6, p->v6 == RECONCILE_DELETE ? "" : h->v6.ip,
			&seen->v6, result, error};
		report_change(r->o, &l);
	}
	if (error)
		r->st.failed++;
	pthread_mutex_unlock(&r->mu);
}

/* Under the host's lock the fresh row and a fresh answer decide (an update may have
 * repaired the host, or changed it, since the first look), and one UPDATE repairs both
 * families. Nothing is written to the database: DNS follows it. */
static void
repair(struct run *r, struct db *db, const struct db_host *listed)
{
	struct db_host h;
	struct reconcile_seen seen;
	struct reconcile_plan p;
	struct dns_server srv;
	struct dns_result res;
	char why[256] = "";
	bool drift = false;
	int rc = db_host_lock(db, listed->fqdn, &h);

	if (rc == ERR_NOTFOUND) /* deleted meanwhile: its records went with it */
		return;
	if (rc != 0) {
		host_failed(r, listed->fqdn, ERR_DB, "database: cannot lock the host");
		return;
	}
	config_dns_server(r->cfg, h.zone, &srv);
	rc = reconcile_query(&srv, h.fqdn, &seen, why, sizeof(why));
	if (rc == 0 && (drift = reconcile_compare(&h, (int64_t)time(NULL), &seen, &p)) &&
	    (rc = reconcile_send(r->cfg, &p.change, &res)) != 0)
		snprintf(why, sizeof(why), "%s", res.msg[0] ? res.msg : err_str(rc));
	/* An uncertain host (an update cut short) that DNS now agrees with, or that the
	 * repair republished, is certain again; otherwise it stays so for its next holder. */
	if (h.uncertain && rc != 0)
		(void)db_rollback_uncertain(db);
	else
		(void)db_rollback(db);
	if (drift)
		report_plan(r, &h, &p, &seen, rc == 0 ? "repaired" : "failed", rc ? why : NULL);
	else if (rc != 0)
		host_failed(r, h.fqdn, rc, why);
	if (drift)
		note_unanswered(r, rc);
}

static void
check_host(struct run *r, struct db *db, const struct db_host *listed)
{
	struct reconcile_seen seen;
	struct reconcile_plan p;
	struct dns_server srv;
	char why[256] = "";
	int rc;

	config_dns_server(r->cfg, listed->zone, &srv);
	rc = reconcile_query(&srv, listed->fqdn, &seen, why, sizeof(why));
	if (rc != 0) {
		host_failed(r, listed->fqdn, rc, why);
		return;
	}
	atomic_store(&r->streak, 0);
	if (!reconcile_compare(listed, (int64_t)time(NULL), &seen, &p))
		return;
	if (r->o->dry_run)
		report_plan(r, listed, &p, &seen, "dry-run", NULL);
	else
		repair(r, db, listed);
}

static void *
worker(void *arg)
{
	struct run *r = arg;
	struct db *db = NULL;
	size_t i;

	if (db_open(r->cfg, &db) != 0) {
		log_error("reconcile: cannot open the database");
		atomic_store(&r->unreachable, true);
		atomic_store(&r->give_up, true);
		return NULL;
	}
	while (!stopping(r) && (i = atomic_fetch_add(&r->next, 1)) < r->n) {
		pthread_mutex_lock(&r->mu);
		r->st.hosts++;
		pthread_mutex_unlock(&r->mu);
		check_host(r, db, &r->hosts[i]);
	}
	db_close(db);
	return NULL;
}

/* The hosts to check (of opts->zone only); false when the database cannot be read. */
static bool
load_hosts(struct run *r)
{
	struct db *db = NULL;
	size_t kept = 0;
	int rc = db_open(r->cfg, &db);

	if (rc == 0)
		rc = db_host_list(db, NULL, &r->hosts, &r->n);
	db_close(db);
	if (rc != 0) {
		log_error("reconcile: cannot read the hostnames: %s", err_str(rc));
		return false;
	}
	for (size_t i = 0; i < r->n; i++)
		if (!r->o->zone || strcmp(r->hosts[i].zone, r->o->zone) == 0)
			r->hosts[kept++] = r->hosts[i];
	r->n = kept;
	return true;
}

/* Runs the workers; the calling thread works too when no thread can be made. */
static void
run_workers(struct run *r)
{
	pthread_t th[RECONCILE_THREADS];
	int want = r->o->threads > 0 ? r->o->threads : RECONCILE_THREADS, made = 0;

	if (want > RECONCILE_THREADS)
		want = RECONCILE_THREADS;
	if ((size_t)want > r->n)
		want = (int)r->n;
	while (made < want && pthread_create(&th[made], NULL, worker, r) == 0)
		made++;
	if (made == 0 && r->n > 0)
		worker(r);
	for (int i = 0; i < made; i++)
		pthread_join(th[i], NULL);
}

static enum reconcile_result
result_of(const struct run *r, bool dry_run)
{
	if (r->st.unreachable)
		return RECONCILE_UNREACHABLE;
	if (r->st.failed || (dry_run ? r->st.drift : r->st.drift - r->st.repaired))
		return RECONCILE_DRIFT;
	return RECONCILE_CLEAN;
}

enum reconcile_result
reconcile_run(const struct config *cfg, const struct reconcile_opts *opts,
	      struct reconcile_stats *stats)
{
	struct run r;
	enum reconcile_result res;

	memset(&r, 0, sizeof(r));
	r.cfg = cfg;
	r.o = opts;
	atomic_init(&r.next, 0);
	atomic_init(&r.streak, 0);
	atomic_init(&r.unreachable, false);
	atomic_init(&r.give_up, false);
	pthread_mutex_init(&r.mu, NULL);
	if (load_hosts(&r))
		run_workers(&r);
	else
		atomic_store(&r.unreachable, true);
	r.st.unreachable = atomic_load(&r.unreachable);
	res = result_of(&r, opts->dry_run);
	log_info("reconcile: %zu hosts checked, %zu in drift, %zu repaired, %zu failed%s",
		 r.st.hosts, r.st.drift, r.st.repaired, r.st.failed,
		 r.st.unreachable ? "; stopped: DNS server or database unreachable" : "");
	if (stats)
		*stats = r.st;
	pthread_mutex_destroy(&r.mu);
	free(r.hosts);
	return res;
}
