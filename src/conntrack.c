/* SPDX-License-Identifier: MIT */
/* The request deadline of every open HTTP connection and its sweeper (see conntrack.h). */
#include "conntrack.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"
#include "err.h"
#include "log.h"
#include "offenders.h"

struct conntrack_conn {
	struct conntrack_conn *prev, *next;
	int fd;
	struct addr key;  /* the client (addr_client_key: an IPv6 client is its /64) */
	int64_t since_ms; /* when it began to wait for its current request */
	bool busy;	  /* a request is being handled */
	bool served;	  /* at least one request arrived in time */
	bool shut;	  /* the sweeper shut it down */
};

struct conntrack {
	pthread_mutex_t mu; /* the list and every entry */
	int64_t deadline_ms;
	struct conntrack_conn *head;
	size_t count;
	struct offenders *off;	   /* slow: no request in time */
	struct offenders *refused; /* refused at accept (a zeroed key: all in use) */

	pthread_mutex_t run_mu; /* the sweeper's life */
	pthread_cond_t run_cv;	/* CLOCK_MONOTONIC */
	pthread_t thread;
	bool running, stopping;
};

int
conntrack_new(int64_t deadline_ms, struct conntrack **out)
{
	struct conntrack *ct;
	pthread_condattr_t ca;

	*out = NULL;
	if (deadline_ms <= 0)
		return ERR_INVAL;
	ct = calloc(1, sizeof(*ct));
	if (!ct)
		return ERR_NOMEM;
	if (offenders_new(CONNTRACK_REPORT_MS, &ct->off) < 0 ||
	    offenders_new(CONNTRACK_REPORT_MS, &ct->refused) < 0) {
		offenders_free(ct->off);
		free(ct);
		return ERR_NOMEM;
	}
	pthread_mutex_init(&ct->mu, NULL);
	pthread_mutex_init(&ct->run_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ct->run_cv, &ca);
	pthread_condattr_destroy(&ca);
	ct->deadline_ms = deadline_ms;
	*out = ct;
	return 0;
}

void
conntrack_free(struct conntrack *ct)
{
	struct conntrack_conn *c, *next;

	if (!ct)
		return;
	for (c = ct->head; c; c = next) {
		next = c->next;
		free(c);
	}
	offenders_free(ct->off);
	offenders_free(ct->refused);
	pthread_cond_destroy(&ct->run_cv);
	pthread_mutex_destroy(&ct->run_mu);
	pthread_mutex_destroy(&ct->mu);
	free(ct);
}

struct conntrack_conn *
conntrack_add(struct conntrack *ct, int fd, const struct addr *peer, int64_t now_ms)
{
	struct conntrack_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->fd = fd;
	if (!addr_client_key(peer, &c->key))
		c->key = *peer;
	c->since_ms = now_ms;
	pthread_mutex_lock(&ct->mu);
	c->next = ct->head;
	if (ct->head)
		ct->head->prev = c;
	ct->head = c;
	ct->count++;
	pthread_mutex_unlock(&ct->mu);
	return c;
}

void
conntrack_request(struct conntrack *ct, struct conntrack_conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&ct->mu);
	c->busy = true;
	c->served = true;
	pthread_mutex_unlock(&ct->mu);
}

void
conntrack_idle(struct conntrack *ct, struct conntrack_conn *c, int64_t now_ms)
{
	if (!c)
		return;
	pthread_mutex_lock(&ct->mu);
	c->busy = false;
	c->since_ms = now_ms;
	pthread_mutex_unlock(&ct->mu);
}

void
conntrack_remove(struct conntrack *ct, struct conntrack_conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&ct->mu);
	if (c->prev)
		c->prev->next = c->next;
	else
		ct->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ct->count--;
	pthread_mutex_unlock(&ct->mu);
	free(c);
}

/* "192.0.2.1" or "2001:db8:1:2::/64": the client as the limits count it. */
static const char *
client_name(const struct addr *key, char *buf, size_t len)
{
	char ip[ADDR_STRLEN];

	addr_format(key, ip, sizeof(ip));
	if (key->family == AF_INET6)
		snprintf(buf, len, "%s/%d", ip, ADDR_CLIENT_V6_PREFIX);
	else
		snprintf(buf, len, "%s", ip);
	return buf;
}

struct report_ctx {
	const struct conntrack *ct;
};

static void
report(void *arg, const struct addr *key, unsigned long n)
{
	const struct report_ctx *rc = arg;
	char name[ADDR_STRLEN + 8];

	log_warnx("client %s: %lu connection%s closed: no complete request within %lld s",
		  client_name(key, name, sizeof(name)), n, n == 1 ? "" : "s",
		  (long long)(rc->ct->deadline_ms / 1000));
}

static void
report_refused(void *arg, const struct addr *key, unsigned long n)
{
	char name[ADDR_STRLEN + 8];

	(void)arg;
	if (key->family == 0)
		log_warnx("%lu connection%s refused: all connections in use", n, n == 1 ? "" : "s");
	else
		log_warnx("client %s: %lu connection%s refused: too many open at once",
			  client_name(key, name, sizeof(name)), n, n == 1 ? "" : "s");
}

void
conntrack_refused(struct conntrack *ct, const struct addr *peer, bool client, int64_t now_ms)
{
	struct addr key;
	unsigned long due;

	memset(&key, 0, sizeof(key));
	if (client && !addr_client_key(peer, &key))
		key = *peer;
	due = offenders_note(ct->refused, &key, 1, now_ms);
	if (due)
		report_refused(NULL, &key, due);
}

static int
cmp_key(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct addr));
}

/* One report per offending address of this sweep (held back by offenders when the
 * address was reported less than a minute ago); `keys` is sorted in place. */
static void
report_sweep(struct conntrack *ct, struct addr *keys, size_t n, int64_t now_ms)
{
	struct report_ctx rc = {ct};

	if (n > 1)
		qsort(keys, n, sizeof(*keys), cmp_key);
	for (size_t i = 0, j; i < n; i = j) {
		unsigned long due;

		for (j = i + 1; j < n && cmp_key(&keys[i], &keys[j]) == 0; j++)
			;
		due = offenders_note(ct->off, &keys[i], (unsigned long)(j - i), now_ms);
		if (due)
			report(&rc, &keys[i], due);
	}
	offenders_flush(ct->off, now_ms, report, &rc);
	offenders_flush(ct->refused, now_ms, report_refused, NULL);
}

size_t
conntrack_sweep(struct conntrack *ct, int64_t now_ms)
{
	struct addr *keys = NULL;
	size_t shut = 0, nkeys = 0;

	pthread_mutex_lock(&ct->mu);
	for (struct conntrack_conn *c = ct->head; c; c = c->next) {
		if (c->busy || c->shut || now_ms - c->since_ms < ct->deadline_ms)
			continue;
		/* MHD reads the end of the stream and closes the connection itself. */
		(void)shutdown(c->fd, SHUT_RDWR);
		c->shut = true;
		shut++;
		if (c->served)
			continue;
		if (!keys)
			keys = calloc(ct->count, sizeof(*keys));
		if (keys)
			keys[nkeys++] = c->key;
	}
	pthread_mutex_unlock(&ct->mu);
	report_sweep(ct, keys, nkeys, now_ms);
	free(keys);
	return shut;
}

size_t
conntrack_count(struct conntrack *ct)
{
	size_t n;

	pthread_mutex_lock(&ct->mu);
	n = ct->count;
	pthread_mutex_unlock(&ct->mu);
	return n;
}

static void *
sweeper(void *arg)
{
	struct conntrack *ct = arg;

	pthread_mutex_lock(&ct->run_mu);
	while (!ct->stopping) {
		struct timespec until = clock_mono_timespec(clock_mono_ms() + CONNTRACK_TICK_MS);

		pthread_cond_timedwait(&ct->run_cv, &ct->run_mu, &until);
		if (ct->stopping)
			break;
		pthread_mutex_unlock(&ct->run_mu);
		conntrack_sweep(ct, clock_mono_ms());
		pthread_mutex_lock(&ct->run_mu);
	}
	pthread_mutex_unlock(&ct->run_mu);
	return NULL;
}

int
conntrack_start(struct conntrack *ct)
{
	if (pthread_create(&ct->thread, NULL, sweeper, ct) != 0)
		return ERR_NOMEM;
	ct->running = true;
	return 0;
}

void
conntrack_stop(struct conntrack *ct)
{
	if (!ct || !ct->running)
		return;
	pthread_mutex_lock(&ct->run_mu);
	ct->stopping = true;
	pthread_cond_signal(&ct->run_cv);
	pthread_mutex_unlock(&ct->run_mu);
	pthread_join(ct->thread, NULL);
	ct->running = false;
}
