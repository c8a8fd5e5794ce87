/* SPDX-License-Identifier: MIT */
/* One request of the ACME DNS-01 API (lego's httpreq: present / cleanup) end to end,
 * free of HTTP: rate limit → credentials → body → the name belongs to the user →
 * TXT change in DNS → database, and the JSON reply. */
#ifndef ACME_SERVICE_H
#define ACME_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acme.h"
#include "addr.h"
#include "service.h"

/* One request after routing. Borrowed. */
struct acme_service_request {
	enum acme_op op;      /* ACME_OP_PRESENT or ACME_OP_CLEANUP */
	const char *user;     /* HTTP Basic; NULL when the request carried none */
	const char *password; /* NULL when absent; never logged */
	const char *body;     /* the request body, `body_len` bytes, not NUL-terminated */
	size_t body_len;
	struct addr client; /* the client after proxy handling */
	int64_t now;	    /* unix time (database) */
	int64_t mono;	    /* CLOCK_MONOTONIC seconds (rate limiter) */
};

struct acme_reply {
	int http_status;	  /* 200, 400, 401, 403, 409, 429, 500, 502 */
	bool challenge;		  /* 401: send WWW-Authenticate: Basic realm="ddns" */
	char *body;		  /* JSON; caller frees with acme_reply_free */
	size_t body_len;	  /* {"status": "ok", ...} or {"status": "error", "error": ...} */
	const char *result;	  /* one word for the request log (static) */
	enum service_count count; /* what was recorded in the rate limiter */
};

/*
 * acme_service_handle: answers one present or cleanup. `ctx` is the update path's (the
 * same database connection, rate limiter and configuration generation).
 *
 * present adds the value to the TXT records of _acme-challenge.<host> (RFC 2136 add of
 * that record: other values stay, so a name and its wildcard validate together) and
 * records (host, value, time); cleanup deletes exactly that value and its record. Both
 * are idempotent, and both run inside the host's critical section (db.h host_lock), DNS
 * first, the database only after NOERROR, as updates do. The name must be the
 * challenge name of a host the authenticated user owns (acme_challenge_host), else 403
 * and nothing is written; a host holds at most ACME_HOST_VALUES_MAX values (409).
 *
 * Statuses: 200 done; 400 the body (acme_parse_body); 401 no or wrong credentials
 * (with `challenge`); 403 not the user's name; 409 too many values; 429 over the rate
 * limit; 500 database; 502 the DNS server failed or refused (the reason in the body).
 * Rate limiting as for updates: 200 counts good; 400, 401 with credentials, 403 and
 * 409 count bad; a request without credentials, 500 and 502 count neither.
 *
 * Returns 0, or ERR_NOMEM when not even the reply could be built (the caller then
 * answers 500 itself).
 */
int acme_service_handle(const struct service_ctx *ctx, const struct acme_service_request *req,
			struct acme_reply *out);

/* acme_reply_free: releases the body. NULL ok. */
void acme_reply_free(struct acme_reply *r);

#endif
