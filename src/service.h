/* SPDX-License-Identifier: MIT */
/* One DynDNS update request end to end, free of HTTP: rate limit → credentials →
 * protocol decision → DNS UPDATE → database, and the reply body (text or JSON). */
#ifndef SERVICE_H
#define SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "config.h"
#include "credentials.h"
#include "db.h"
#include "update.h"

struct credcache;
struct ratelimit;

/* SERVICE_BODY_MAX: a reply is at most UPDATE_MAX_HOSTS lines (or JSON objects) of a
 * status, a host name and two addresses; 64 KiB leaves room for all of them. */
#define SERVICE_BODY_MAX 65536

/* An address change the service published, handed to the notification hook after
 * the database recorded it (for `notify_change=1`). All pointers are borrowed and valid
 * only during the call. */
struct service_change {
	const struct db_host *host; /* the row as it was before the update */
	const char *email;	    /* the owner's address (the authenticated user) */
	const char *ipv4;	    /* now published, NULL when the family was left alone */
	const char *ipv6;
	bool v4_changed, v6_changed;
	int64_t now;
};

/* Everything a request handler needs besides the request. Borrowed; `db` is the
 * calling thread's own connection (NULL when it could not be opened: every request
 * then answers 911). `rl` NULL or cfg->rate_limit.enabled false disables rate limiting.
 * `cache` is the process's verified-credential cache (NULL: every password costs
 * Argon2), used with cfg's credential_cache_ttl and credential_cache_size. */
struct service_ctx {
	const struct config *cfg;
	struct db *db;
	struct ratelimit *rl;
	struct credcache *cache;
	/* Called after a `good` that changed an address when the request asked for
	 * notify_change; must not block (the mail module queues). May be NULL. */
	void (*notify)(void *arg, const struct service_change *ch);
	void *notify_arg;
};

/* One request after endpoint resolution: the raw (percent-decoded) parameter values,
 * NULL when absent. Borrowed. */
struct service_request {
	const char *hostname;
	const char *ipv4;
	const char *ipv6;
	bool notify_change;
	bool offline;	      /* offline=YES: delete the hosts' records instead */
	const char *user;     /* NULL when the request carried no user name */
	const char *password; /* NULL when it carried no password; never logged */
	/* An Authorization header came but held no usable Basic credentials (not Basic,
	 * not base64, no ':'): with no user and password otherwise, the request answers
	 * badauth with the 401 challenge but counts as bad, like a wrong password, so that
	 * a client cannot send garbage headers without limit. */
	bool bad_authorization;
	struct addr client; /* the client after proxy handling */
	int64_t now;	    /* unix time (database) */
	int64_t mono;	    /* CLOCK_MONOTONIC seconds (rate limiter: must not jump) */
	bool want_json;	    /* Accept: application/json */
};

/* How the rate limiter should count a request (SERVICE_COUNT_*). */
enum service_count { SERVICE_COUNT_NONE, SERVICE_COUNT_GOOD, SERVICE_COUNT_BAD };

struct service_reply {
	int http_status; /* 200, or 401 when the request carried no credentials */
	bool challenge;	 /* send WWW-Authenticate: Basic realm="ddns" */
	bool json;	 /* body is application/json, else text/plain */
	char *body;	 /* caller frees with service_reply_free */
	size_t body_len;
	enum update_status first; /* status of the first line, for the request log */
	enum service_count count; /* what was recorded in the rate limiter */
};

/* service_handle: answers one update request. Always produces a reply (a database or
 * allocation failure becomes `911`); returns 0, or ERR_NOMEM when not even the reply
 * could be built (the caller then answers 500).
 *
 * Rate-limit accounting (documented choice): a request counts as *good* when at least
 * one host got good/nochg; otherwise as *bad* when any line is badauth, nohost,
 * notfqdn, badip or numhost (a client that keeps sending those is misconfigured or
 * probing); a request with only dnserr/911 lines counts as neither (our fault, not the
 * client's), nor does `abuse` (counting it would extend the ban forever) nor a request
 * without any credentials (browsers and routers send one before the 401 challenge);
 * an unusable Authorization header is not "without credentials": it counts as bad. */
int service_handle(const struct service_ctx *ctx, const struct service_request *req,
		   struct service_reply *out);

/* service_authenticate: the one credential step of every authenticated request (the
 * update endpoints and the ACME API): `user` and `password` (NULL when absent; never
 * logged) as a user's password (through the verified-credential cache of ctx) or a
 * per-host token (credentials.h). `mono` is the cache's clock (CLOCK_MONOTONIC
 * seconds). *who says who authenticated (CREDENTIALS_USER, CREDENTIALS_HOST) or
 * CREDENTIALS_FAILED; the caller wipes it with credentials_wipe. Returns 0, or ERR_DB
 * when the database could not be read. */
int service_authenticate(const struct service_ctx *ctx, const char *user, const char *password,
			 int64_t mono, struct credentials *who);

/* service_reply_free: releases the body. NULL ok. */
void service_reply_free(struct service_reply *r);

/* service_flag_is_true: "1", "true", "yes", "on" (any case) → true; used for offline and
 * notify_change. */
bool service_flag_is_true(const char *v);

#endif
