/* SPDX-License-Identifier: MIT */
/* Per-address offence counts with one report per interval (see offenders.h). */
#include "offenders.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define OFFENDERS_BUCKETS 1024

struct off_entry {
	struct addr key;
	int64_t last_report_ms;
	unsigned long held; /* offences since the last report */
	struct off_entry *next;
};

struct offenders {
	pthread_mutex_t mu;
	int64_t interval_ms;
	size_t count;
	struct off_entry *buckets[OFFENDERS_BUCKETS];
};

int
offenders_new(int64_t interval_ms, struct offenders **out)
{
	struct offenders *o;

	*out = NULL;
	if (interval_ms <= 0)
		return ERR_INVAL;
	o = calloc(1, sizeof(*o));
	if (!o)
		return ERR_NOMEM;
	pthread_mutex_init(&o->mu, NULL);
	o->interval_ms = interval_ms;
	*out = o;
	return 0;
}

void
offenders_free(struct offenders *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < OFFENDERS_BUCKETS; i++) {
		struct off_entry *e = o->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	pthread_mutex_destroy(&o->mu);
	free(o);
}

static size_t
bucket_of(const struct addr *k)
{
	uint32_t h = 2166136261u ^ (uint32_t)k->family;

	for (size_t i = 0; i < sizeof(k->bytes); i++)
		h = (h ^ k->bytes[i]) * 16777619u;
	return h % OFFENDERS_BUCKETS;
}

/* The entry of `key`, added when there is room; NULL when the table is full. */
static struct off_entry *
entry_of(struct offenders *o, const struct addr *key, int64_t now_ms, bool *fresh)
{
	struct off_entry **pp = &o->buckets[bucket_of(key)], *e;

	*fresh = false;
	for (e = *pp; e; e = e->next)
		if (e->key.family == key->family &&
		    memcmp(e->key.bytes, key->bytes, sizeof(key->bytes)) == 0)
			return e;
	if (o->count >= OFFENDERS_MAX || (e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	e->key = *key;
	e->last_report_ms = now_ms;
	e->next = *pp;
	*pp = e;
	o->count++;
	*fresh = true;
	return e;
}

unsigned long
offenders_note(struct offenders *o, const struct addr *key, unsigned long n, int64_t now_ms)
{
	struct off_entry *e;
	unsigned long report = 0;
	bool fresh;

	pthread_mutex_lock(&o->mu);
	e = entry_of(o, key, now_ms, &fresh);
	if (!e || fresh) {
		report = n; /* first offence (or no room to remember it): report it now */
	} else if (now_ms - e->last_report_ms >= o->interval_ms) {
		report = e->held + n;
		e->held = 0;
		e->last_report_ms = now_ms;
	} else {
		e->held += n;
	}
	pthread_mutex_unlock(&o->mu);
	return report;
}

void
offenders_flush(struct offenders *o, int64_t now_ms,
		void (*report)(void *arg, const struct addr *key, unsigned long count), void *arg)
{
	pthread_mutex_lock(&o->mu);
	for (size_t i = 0; i < OFFENDERS_BUCKETS; i++) {
		struct off_entry **pp = &o->buckets[i], *e;

		while ((e = *pp) != NULL) {
			if (now_ms - e->last_report_ms < o->interval_ms) {
				pp = &e->next;
			} else if (e->held) {
				report(arg, &e->key, e->held);
				e->held = 0;
				e->last_report_ms = now_ms;
				pp = &e->next;
			} else {
				*pp = e->next; /* quiet for a whole interval: forgotten */
				free(e);
				o->count--;
			}
		}
	}
	pthread_mutex_unlock(&o->mu);
}

size_t
offenders_count(struct offenders *o)
{
	size_t n;

	pthread_mutex_lock(&o->mu);
	n = o->count;
	pthread_mutex_unlock(&o->mu);
	return n;
}
