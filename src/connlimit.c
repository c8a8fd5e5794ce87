/* SPDX-License-Identifier: MIT */
/* Per-client connection counting for the HTTP listeners (see connlimit.h). */
#include "connlimit.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "err.h"

#define CONNLIMIT_BUCKETS 1024 /* entries exist only while connections are open */

struct cl_entry {
	struct addr key;
	unsigned count;
	struct cl_entry *next;
};

struct connlimit {
	pthread_mutex_t mu;
	unsigned per_client;
	unsigned total;	  /* connections at most */
	unsigned reserve; /* of total, kept for light clients */
	unsigned used;	  /* connections counted now */
	const struct cidr *exempt;
	size_t nexempt;
	size_t nclients;
	struct cl_entry *buckets[CONNLIMIT_BUCKETS];
};

int
connlimit_new(unsigned per_client, unsigned total, const struct cidr *exempt, size_t nexempt,
	      struct connlimit **out)
{
	struct connlimit *cl;

	*out = NULL;
	if (per_client == 0 || total == 0)
		return ERR_INVAL;
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return ERR_NOMEM;
	pthread_mutex_init(&cl->mu, NULL);
	cl->per_client = per_client;
	cl->total = total;
	cl->reserve = total / CONNLIMIT_SHARE_DIV;
	cl->exempt = exempt;
	cl->nexempt = nexempt;
	*out = cl;
	return 0;
}

void
connlimit_free(struct connlimit *cl)
{
	if (!cl)
		return;
	for (size_t i = 0; i < CONNLIMIT_BUCKETS; i++) {
		struct cl_entry *e = cl->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	pthread_mutex_destroy(&cl->mu);
	free(cl);
}

static size_t
bucket_of(const struct addr *k)
{
	uint32_t h = 2166136261u ^ (uint32_t)k->family;

	for (size_t i = 0; i < sizeof(k->bytes); i++)
		h = (h ^ k->bytes[i]) * 16777619u;
	return h % CONNLIMIT_BUCKETS;
}

static bool
is_exempt(const struct connlimit *cl, const struct addr *a)
{
	for (size_t i = 0; i < cl->nexempt; i++)
		if (cidr_contains(&cl->exempt[i], a))
			return true;
	return false;
}

/* The entry of `key`, made when missing; NULL when out of memory. Lock held. */
static struct cl_entry *
entry_of(struct connlimit *cl, const struct addr *key)
{
	struct cl_entry **pp = &cl->buckets[bucket_of(key)], *e;

	for (e = *pp; e && !addr_equal(&e->key, key); e = e->next)
		;
	if (e || (e = calloc(1, sizeof(*e))) == NULL)
		return e;
	e->key = *key;
	e->next = *pp;
	*pp = e;
	cl->nclients++;
	return e;
}

/* Drops an entry that holds no connection (one made for a refused client). */
static void
drop_if_empty(struct connlimit *cl, const struct addr *key)
{
	struct cl_entry **pp, *e;

	for (pp = &cl->buckets[bucket_of(key)]; (e = *pp) != NULL; pp = &e->next) {
		if (!addr_equal(&e->key, key))
			continue;
		if (e->count == 0) {
			*pp = e->next;
			free(e);
			cl->nclients--;
		}
		return;
	}
}

enum connlimit_result
connlimit_acquire(struct connlimit *cl, const struct addr *a)
{
	struct addr key;
	struct cl_entry *e = NULL;
	bool counted = !is_exempt(cl, a) && addr_client_key(a, &key);
	enum connlimit_result r = CONNLIMIT_OK;

	pthread_mutex_lock(&cl->mu);
	if (cl->used >= cl->total)
		r = CONNLIMIT_FULL;
	else if (counted && (e = entry_of(cl, &key)) == NULL)
		r = CONNLIMIT_FULL;
	else if (e && e->count >= cl->per_client)
		r = CONNLIMIT_CLIENT_FULL;
	else if (e && e->count >= CONNLIMIT_LIGHT && cl->used >= cl->total - cl->reserve)
		r = CONNLIMIT_BUSY;
	if (r == CONNLIMIT_OK) {
		cl->used++;
		if (e)
			e->count++;
	} else if (e) {
		drop_if_empty(cl, &key);
	}
	pthread_mutex_unlock(&cl->mu);
	return r;
}

void
connlimit_release(struct connlimit *cl, const struct addr *a)
{
	struct addr key;
	struct cl_entry **pp, *e;
	bool counted = !is_exempt(cl, a) && addr_client_key(a, &key);

	pthread_mutex_lock(&cl->mu);
	if (cl->used > 0)
		cl->used--;
	for (pp = counted ? &cl->buckets[bucket_of(&key)] : NULL; pp && (e = *pp) != NULL;
	     pp = &e->next) {
		if (!addr_equal(&e->key, &key))
			continue;
		if (e->count > 0)
			e->count--;
		if (e->count == 0) {
			*pp = e->next;
			free(e);
			cl->nclients--;
		}
		break;
	}
	pthread_mutex_unlock(&cl->mu);
}

size_t
connlimit_clients(struct connlimit *cl)
{
	size_t n;

	pthread_mutex_lock(&cl->mu);
	n = cl->nclients;
	pthread_mutex_unlock(&cl->mu);
	return n;
}

unsigned
connlimit_used(struct connlimit *cl)
{
	unsigned n;

	pthread_mutex_lock(&cl->mu);
	n = cl->used;
	pthread_mutex_unlock(&cl->mu);
	return n;
}
