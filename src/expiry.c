/* SPDX-License-Identifier: MIT */
/* The expiry pass of SPEC §7: delete stale A/AAAA RRsets, mark them expired, notify; and
 * delete the ACME challenge values that clients left behind. */
#include "expiry.h"

#include <stdlib.h>
#include <string.h>

#include "acme.h"
#include "dns.h"
#include "err.h"
#include "log.h"
#include "metrics.h"
#include "update.h"

/* Deletes the due RRsets of one host. Returns 0 after NOERROR. */
static int
delete_records(const struct config *cfg, const struct db_host *h, int families)
{
	struct dns_server srv;
	const struct tsig_key *key = config_dns_server(cfg, h->zone, &srv);
	struct dns_change ch;
	struct dns_result res;
	int rc;

	update_host_change(h, &ch);
	ch.v4 = (families & DB_V4) ? DNS_DELETE : DNS_KEEP;
	ch.v6 = (families & DB_V6) ? DNS_DELETE : DNS_KEEP;
	rc = dns_update(&srv, key, &ch, &res);
	if (rc != 0)
		log_warnx("expiry: %s: DNS delete failed: %s; retrying on the next pass", h->fqdn,
			  res.msg[0] ? res.msg : err_str(rc));
	return rc;
}

static const char *
families_str(int families)
{
	switch (families) {
	case DB_V4: return "A";
	case DB_V6: return "AAAA";
	case DB_V4 | DB_V6: return "A+AAAA";
	}
	return "none";
}

/* Marks what was deleted and ends the host's transaction; *claimed gets the families
 * this pass marked. */
static int
claim(struct db *db, const struct db_host *h, int families, int64_t now, int *claimed)
{
	int rc = db_host_expire(db, h->id, families, now, claimed);

	if (rc == 0)
		rc = db_commit(db);
	else
		(void)db_rollback(db);
	if (rc != 0) {
		/* The records are gone from DNS but the claim is not recorded: the host
		 * stays due, and the next pass deletes again (harmless) and mails then. */
		log_error("expiry: %s: database: %s", h->fqdn, err_str(rc));
		*claimed = 0;
	}
	return rc;
}

/*
 * Expires what is due of one host, inside the host's critical section (db.h
 * host_lock): the row is read again under the lock and what is due is decided on that
 * fresh row, so an update that re-published the host meanwhile wins (nothing is
 * deleted), and of two passes (two daemons, or a daemon and `ddns-service cleanup`)
 * the second finds the host already claimed. The claim commits before the mail is
 * queued, so each expiry is mailed exactly once. `listed` is the row of the due query.
 * Returns ERR_DB for a database failure, ERR_IO when the DNS server did not answer
 * (timeout, network): the pass then stops, since every further host would hold its
 * lock for another dns_timeout; 0 otherwise (a refused delete is that host's problem).
 */
static int
expire_host(const struct config *cfg, struct db *db, const struct db_host *listed, int64_t now,
	    expiry_notify_fn notify, void *arg, FILE *report, struct expiry_stats *st)
{
	struct db_host h;
	int families, claimed = 0;
	int rc;

	rc = db_host_lock(db, listed->fqdn, &h);
	if (rc == ERR_NOTFOUND) /* deleted meanwhile */
		return 0;
	if (rc != 0) {
		log_error("expiry: %s: database: %s", listed->fqdn, err_str(rc));
		return ERR_DB;
	}
	families = db_host_due_families(&h, now);
	if (!families) { /* refreshed, or expired by another pass, meanwhile */
		(void)db_rollback(db);
		return 0;
	}
	if ((rc = delete_records(cfg, &h, families)) != 0) {
		(void)db_rollback(db);
		st->dns_failures++;
		return rc == ERR_TIMEOUT || rc == ERR_IO ? ERR_IO : 0;
	}
	if ((rc = claim(db, &h, families, now, &claimed)) != 0)
		return ERR_DB;
	/* Under the lock the claim cannot lose; the conditional update stays as a second
	 * line of defence. */
	if (!claimed)
		return 0;
	st->hosts_expired++;
	metrics_count_expired(claimed & DB_V4, claimed & DB_V6);
	log_info("expiry: %s: %s records expired (expiry_ttl %d s)", h.fqdn, families_str(claimed),
		 h.expiry_ttl);
	if (report)
		fprintf(report, "expired %s %s\n", h.fqdn, families_str(claimed));
	if (notify)
		notify(arg, &h, claimed);
	return 0;
}

/* The hosts' pass: batches of due hosts until one comes back short. Returns 0, ERR_DB,
 * or ERR_IO when the DNS server stopped answering. */
static int
expire_hosts(const struct config *cfg, struct db *db, int64_t now, expiry_notify_fn notify,
	     void *arg, FILE *report, struct expiry_stats *st)
{
	struct db_host *hosts = NULL;
	size_t len = 0;
	int rc = 0;

	/* A host whose DNS delete failed stays due, so after any failure (or a batch that
	 * expired nothing) the pass ends rather than reading the same hosts again. */
	for (;;) {
		size_t failures = st->dns_failures, expired = st->hosts_expired;

		rc = db_host_due(db, now, EXPIRY_BATCH, &hosts, &len);
		if (rc != 0) {
			log_error("expiry: cannot read due hosts: %s", err_str(rc));
			return rc;
		}
		st->hosts_due += len;
		for (size_t i = 0; i < len && rc == 0; i++)
			rc = expire_host(cfg, db, &hosts[i], now, notify, arg, report, st);
		free(hosts);
		hosts = NULL;
		if (rc != 0 || len < EXPIRY_BATCH || st->dns_failures != failures ||
		    st->hosts_expired == expired)
			return rc;
	}
}

/* Removes one value from DNS; 0 after NOERROR. */
static int
delete_value(const struct config *cfg, const struct db_host *h, const char *value)
{
	struct dns_server srv;
	const struct tsig_key *key = config_dns_server(cfg, h->zone, &srv);
	struct dns_change ch;
	struct dns_result res;
	int rc;

	memset(&res, 0, sizeof(res));
	rc = acme_txt_change(h->fqdn, h->zone, DNS_TXT_REMOVE, value, 0, &ch);
	if (rc == 0)
		rc = dns_update(&srv, key, &ch, &res);
	if (rc != 0)
		log_warnx("expiry: %s.%s: DNS delete of a challenge value failed: %s; retrying on "
			  "the next pass",
			  ACME_LABEL, h->fqdn, res.msg[0] ? res.msg : err_str(rc));
	return rc;
}

/*
 * Deletes one challenge value older than `cutoff`, inside its host's critical section
 * (db.h host_lock): the value is read again under the lock, so that a present that
 * renewed it (or a cleanup that removed it) meanwhile wins. Returns ERR_DB, ERR_IO when
 * the DNS server did not answer (the pass stops), 0 otherwise.
 */
static int
expire_value(const struct config *cfg, struct db *db, const struct db_acme *a, int64_t cutoff,
	     FILE *report, struct expiry_stats *st)
{
	struct db_host h;
	int64_t created = 0;
	int rc = db_host_lock(db, a->fqdn, &h);

	if (rc == ERR_NOTFOUND) /* the host was deleted, and its values with it */
		return 0;
	if (rc == 0)
		rc = db_acme_get(db, h.id, a->value, &created);
	if (rc == ERR_NOTFOUND || (rc == 0 && created > cutoff)) {
		(void)db_rollback(db);
		return 0;
	}
	if (rc == 0 && (rc = delete_value(cfg, &h, a->value)) != 0) {
		(void)db_rollback(db);
		st->dns_failures++;
		return rc == ERR_TIMEOUT || rc == ERR_IO ? ERR_IO : 0;
	}
	if (rc == 0 && (rc = db_acme_delete(db, h.id, a->value)) == 0)
		rc = db_commit(db);
	else
		(void)db_rollback(db);
	if (rc != 0) {
		log_error("expiry: %s.%s: database: %s", ACME_LABEL, a->fqdn, err_str(rc));
		return ERR_DB;
	}
	st->acme_expired++;
	log_info("expiry: %s.%s: a challenge value left behind for %lld s deleted", ACME_LABEL,
		 h.fqdn, (long long)(cutoff - created + cfg->acme.max_age));
	if (report)
		fprintf(report, "expired %s.%s TXT\n", ACME_LABEL, h.fqdn);
	return 0;
}

/* The values' pass: batches of values older than max_age, as the hosts' pass. */
static int
expire_values(const struct config *cfg, struct db *db, int64_t now, FILE *report,
	      struct expiry_stats *st)
{
	int64_t cutoff = now - cfg->acme.max_age;
	struct db_acme *vals = NULL;
	size_t len = 0;
	int rc = 0;

	for (;;) {
		size_t failures = st->dns_failures, expired = st->acme_expired;

		rc = db_acme_due(db, cutoff, EXPIRY_BATCH, &vals, &len);
		if (rc != 0) {
			log_error("expiry: cannot read old challenge values: %s", err_str(rc));
			return rc;
		}
		for (size_t i = 0; i < len && rc == 0; i++)
			rc = expire_value(cfg, db, &vals[i], cutoff, report, st);
		free(vals);
		vals = NULL;
		if (rc != 0 || len < EXPIRY_BATCH || st->dns_failures != failures ||
		    st->acme_expired == expired)
			return rc;
	}
}

int
expiry_run(const struct config *cfg, struct db *db, int64_t now, expiry_notify_fn notify, void *arg,
	   FILE *report, struct expiry_stats *stats)
{
	struct expiry_stats st = {0};
	int rc = expire_hosts(cfg, db, now, notify, arg, report, &st);

	if (rc == 0)
		rc = expire_values(cfg, db, now, report, &st);
	if (rc == ERR_IO) {
		log_warnx("expiry: the DNS server does not answer; pass ended early");
		rc = 0;
	}
	metrics_count_expiry_run(rc == 0, now);
	if (stats)
		*stats = st;
	return rc;
}
