/* SPDX-License-Identifier: MIT */
/* Tests of credcache.c with a fake clock: keys, hit, miss, time to live, eviction of the
 * least recently used, a changed stored hash, purge, growth, and the single-flight
 * verification of misses that arrive in parallel. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "credcache.h"
#include "err.h"
#include "tap.h"

#define PHC  "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g"
#define PHC2 "$argon2id$v=19$m=65536,t=3,p=4$b3RoZXJzYWx0$b3RoZXJoYXNo"

static struct credcache_key
key(struct credcache *c, const char *user, const char *phc, const char *pw)
{
	struct credcache_key k;

	if (credcache_key(c, user, phc, pw, &k) != 0)
		memset(&k, 0, sizeof(k));
	return k;
}

static int
same(const struct credcache_key *a, const struct credcache_key *b)
{
	return memcmp(a->d, b->d, sizeof(a->d)) == 0;
}

static int
verify_ok(void *arg)
{
	int *calls = arg;

	(*calls)++;
	return 0;
}

static int
verify_bad(void *arg)
{
	int *calls = arg;

	(*calls)++;
	return ERR_AUTH;
}

static void
test_keys(void)
{
	struct credcache *a = NULL, *b = NULL;
	struct credcache_key k1, k2;

	is_int(credcache_new(&a), 0, "new");
	is_int(credcache_new(&b), 0, "another");
	k1 = key(a, "alice", PHC, "pw");
	k2 = key(a, "alice", PHC, "pw");
	ok(same(&k1, &k2), "the same credentials give the same key");
	k2 = key(b, "alice", PHC, "pw");
	ok(!same(&k1, &k2), "another process (another random key) gives another key");
	k2 = key(a, "alice", PHC, "pw2");
	ok(!same(&k1, &k2), "another password");
	k2 = key(a, "alicf", PHC, "pw");
	ok(!same(&k1, &k2), "another user");
	k2 = key(a, "alice", PHC2, "pw");
	ok(!same(&k1, &k2), "another stored hash");
	k1 = key(a, "ab", PHC, "c");
	k2 = key(a, "a", PHC, "bc");
	ok(!same(&k1, &k2), "the user/password split is unambiguous");
	k1 = key(a, "a", "b", "");
	k2 = key(a, "", "ab", "");
	ok(!same(&k1, &k2), "the user/hash split is unambiguous");
	k1 = key(a, NULL, NULL, NULL);
	k2 = key(a, "", "", "");
	ok(same(&k1, &k2), "NULL reads as the empty string");
	credcache_free(a);
	credcache_free(b);
	credcache_free(NULL);
}

static void
test_hit_miss_ttl(void)
{
	struct credcache *c = NULL;
	struct credcache_key k, other;
	struct credcache_stats st;
	int calls = 0;

	if (credcache_new(&c) != 0) {
		ok(0, "new");
		return;
	}
	k = key(c, "alice", PHC, "pw");
	ok(!credcache_lookup(c, &k, 1000, 600), "miss on an empty cache");
	is_int(credcache_verify(c, &k, 1000, 600, 10, verify_ok, &calls), 0, "verified");
	is_int(calls, 1, "the callback ran once");
	ok(credcache_lookup(c, &k, 1000, 600), "hit right after");
	ok(credcache_lookup(c, &k, 1599, 600), "hit 599 s later");
	ok(!credcache_lookup(c, &k, 1600, 600), "miss once the time to live has passed");
	ok(!credcache_lookup(c, &k, 1000, 0), "ttl 0: the cache is off");
	other = key(c, "alice", PHC2, "pw");
	ok(!credcache_lookup(c, &other, 1001, 600), "a changed stored hash misses");
	other = key(c, "alice", PHC, "wrong");
	ok(!credcache_lookup(c, &other, 1001, 600), "a wrong password misses");

	is_int(credcache_verify(c, &other, 1001, 600, 10, verify_bad, &calls), ERR_AUTH,
	       "a failed verification returns its error");
	ok(!credcache_lookup(c, &other, 1001, 600), "a failure is never remembered");
	is_int(credcache_verify(c, &other, 1002, 600, 10, verify_bad, &calls), ERR_AUTH,
	       "and the next attempt verifies again");
	is_int(calls, 3, "every failure cost a verification");

	is_int(credcache_verify(c, &k, 1600, 600, 10, verify_ok, &calls), 0, "verified again");
	ok(credcache_lookup(c, &k, 2199, 600), "the time to live counts from the new verification");
	is_int(credcache_verify(c, &k, 2199, 600, 10, verify_ok, &calls), 0,
	       "verify of a fresh entry");
	is_int(calls, 4, "needs no callback (it was verified meanwhile)");
	credcache_stats(c, &st);
	is_int(st.entries, 1, "one entry");
	ok(st.hits >= 3 && st.misses >= 5, "hits %llu, misses %llu", (unsigned long long)st.hits,
	   (unsigned long long)st.misses);
	is_int(st.verifications, 4, "verifications counted");
	credcache_free(c);
}

static void
test_disabled(void)
{
	struct credcache *c = NULL;
	struct credcache_key k;
	struct credcache_stats st;
	int calls = 0;

	if (credcache_new(&c) != 0) {
		ok(0, "new");
		return;
	}
	k = key(c, "alice", PHC, "pw");
	is_int(credcache_verify(c, &k, 10, 0, 10, verify_ok, &calls), 0, "ttl 0: verified");
	is_int(credcache_verify(c, &k, 10, 600, 0, verify_ok, &calls), 0, "size 0: verified");
	credcache_stats(c, &st);
	is_int(st.entries, 0, "nothing remembered with ttl 0 or size 0");
	is_int(calls, 2, "each verified");
	credcache_free(c);
}

/* Size 3: the least recently used goes first, a hit counts as a use. */
static void
test_eviction(void)
{
	struct credcache *c = NULL;
	struct credcache_key k[5];
	struct credcache_stats st;
	int calls = 0;

	if (credcache_new(&c) != 0) {
		ok(0, "new");
		return;
	}
	for (int i = 0; i < 5; i++) {
		char pw[8];

		snprintf(pw, sizeof(pw), "pw%d", i);
		k[i] = key(c, "alice", PHC, pw);
	}
	for (int i = 0; i < 3; i++)
		credcache_verify(c, &k[i], 100 + i, 600, 3, verify_ok, &calls);
	ok(credcache_lookup(c, &k[0], 110, 600), "use the oldest entry");
	credcache_verify(c, &k[3], 111, 600, 3, verify_ok, &calls);
	credcache_stats(c, &st);
	is_int(st.entries, 3, "bounded at 3");
	ok(!credcache_lookup(c, &k[1], 112, 600), "the least recently used was evicted");
	ok(credcache_lookup(c, &k[0], 112, 600), "the one used meanwhile stayed");
	ok(credcache_lookup(c, &k[2], 113, 600), "and the newer ones");
	ok(credcache_lookup(c, &k[3], 113, 600), "and the new one");
	credcache_verify(c, &k[4], 114, 600, 3, verify_ok, &calls);
	ok(!credcache_lookup(c, &k[0], 115, 600), "now the least recently used is the first");

	/* A smaller size after a reload: the next insert or purge shrinks the cache. */
	credcache_purge(c, 115, 600, 1);
	credcache_stats(c, &st);
	is_int(st.entries, 1, "purge shrinks to the new size");
	ok(credcache_lookup(c, &k[4], 116, 600), "keeping the most recently used");
	credcache_verify(c, &k[1], 200, 600, 3, verify_ok, &calls);
	credcache_purge(c, 714, 600, 10);
	credcache_stats(c, &st);
	is_int(st.entries, 1, "purge forgets what the time to live ended");
	ok(credcache_lookup(c, &k[1], 714, 600), "and keeps what is fresh");
	credcache_purge(c, 714, 0, 10);
	credcache_stats(c, &st);
	is_int(st.entries, 0, "purge with ttl 0 empties the cache");
	credcache_free(c);
}

/* Many entries: the table grows from its small start and every entry stays found. */
static void
test_growth(void)
{
	struct credcache *c = NULL;
	struct credcache_stats st;
	int calls = 0, found = 0;

	if (credcache_new(&c) != 0) {
		ok(0, "new");
		return;
	}
	for (int i = 0; i < 5000; i++) {
		char user[16];
		struct credcache_key k;

		snprintf(user, sizeof(user), "u%d", i);
		k = key(c, user, PHC, "pw");
		credcache_verify(c, &k, 1, 600, 100000, verify_ok, &calls);
	}
	for (int i = 0; i < 5000; i++) {
		char user[16];
		struct credcache_key k;

		snprintf(user, sizeof(user), "u%d", i);
		k = key(c, user, PHC, "pw");
		found += credcache_lookup(c, &k, 2, 600);
	}
	credcache_stats(c, &st);
	is_int(st.entries, 5000, "5000 entries");
	is_int(found, 5000, "all found after the table grew");
	credcache_free(c);
}

/* ---- single flight ---- */

#define NTHREADS 8

struct flight_test {
	struct credcache *c;
	struct credcache_key k;
	int result; /* what the callback returns */
	pthread_mutex_t mu;
	int calls;
	int rc[NTHREADS];
	bool all_waited;
};

/* The verification: holds until the other NTHREADS - 1 callers wait for it (at most
 * 10 s), so that the test sees them join rather than arrive after it landed. */
static int
slow_verify(void *arg)
{
	struct flight_test *t = arg;
	struct timespec ms = {0, 1000000};
	struct credcache_stats st;

	pthread_mutex_lock(&t->mu);
	t->calls++;
	pthread_mutex_unlock(&t->mu);
	for (int i = 0; i < 10000; i++) {
		credcache_stats(t->c, &st);
		if (st.waiting == NTHREADS - 1) {
			t->all_waited = true;
			break;
		}
		nanosleep(&ms, NULL);
	}
	return t->result;
}

struct worker {
	struct flight_test *t;
	int i;
};

static void *
flight_worker(void *arg)
{
	struct worker *w = arg;

	w->t->rc[w->i] = credcache_verify(w->t->c, &w->t->k, 50, 600, 100, slow_verify, w->t);
	return NULL;
}

static void
run_flight(struct flight_test *t)
{
	pthread_t th[NTHREADS];
	struct worker w[NTHREADS];

	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){t, i};
		t->rc[i] = -99;
		pthread_create(&th[i], NULL, flight_worker, &w[i]);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
}

static void
test_single_flight(int result, const char *what)
{
	struct flight_test t = {.result = result, .mu = PTHREAD_MUTEX_INITIALIZER};
	struct credcache_stats st;
	int agree = 0;

	if (credcache_new(&t.c) != 0) {
		ok(0, "new");
		return;
	}
	t.k = key(t.c, "alice", PHC, "pw");
	run_flight(&t);
	ok(t.all_waited, "%s: the other %d callers waited for the running verification", what,
	   NTHREADS - 1);
	is_int(t.calls, 1, "one verification for all of them");
	for (int i = 0; i < NTHREADS; i++)
		agree += t.rc[i] == result;
	is_int(agree, NTHREADS, "every caller got its result");
	credcache_stats(t.c, &st);
	is_int(st.shared, NTHREADS - 1, "shared by the waiters");
	is_int(st.waiting, 0, "nobody waits any more");
	is_int(st.entries, result == 0 ? 1 : 0, "remembered only when it succeeded");
	credcache_free(t.c);
}

/* A verification that runs until the test releases it. */
static atomic_bool released;

static int
held_verify(void *arg)
{
	struct timespec ms = {0, 1000000};

	for (int i = 0; i < 10000 && !atomic_load(&released); i++)
		nanosleep(&ms, NULL);
	return 0;
}

static void *
held_worker(void *arg)
{
	struct flight_test *t = arg;

	t->rc[0] = credcache_verify(t->c, &t->k, 50, 600, 100, held_verify, t);
	return NULL;
}

/* Another key's verification does not wait for a running one. */
static void
test_other_key_independent(void)
{
	struct flight_test t = {.result = 0, .mu = PTHREAD_MUTEX_INITIALIZER};
	struct timespec ms = {0, 1000000};
	struct credcache_stats st = {0};
	struct credcache_key other;
	pthread_t th;
	int calls = 0;

	if (credcache_new(&t.c) != 0) {
		ok(0, "new");
		return;
	}
	t.k = key(t.c, "alice", PHC, "pw");
	other = key(t.c, "bob", PHC, "pw");
	atomic_store(&released, false);
	pthread_create(&th, NULL, held_worker, &t);
	for (int i = 0; i < 10000 && st.verifications == 0; i++) {
		nanosleep(&ms, NULL);
		credcache_stats(t.c, &st);
	}
	is_int(st.verifications, 1, "alice's verification is running");
	is_int(credcache_verify(t.c, &other, 50, 600, 100, verify_ok, &calls), 0,
	       "bob's verifies meanwhile");
	is_int(calls, 1, "with its own callback, without waiting for alice's");
	ok(!atomic_load(&released), "alice's was still running");
	atomic_store(&released, true);
	pthread_join(th, NULL);
	is_int(t.rc[0], 0, "alice's landed");
	credcache_free(t.c);
}

/* Readers, verifiers and a purging thread at once, for the sanitizers (TSan finds no
 * race in it): the cache stays within its size and nobody is left waiting. */
struct mixed {
	struct credcache *c;
	atomic_int done;
	atomic_int calls;
};

static int
count_verify(void *arg)
{
	struct mixed *m = arg;

	atomic_fetch_add(&m->calls, 1);
	return 0;
}

static void *
mixed_worker(void *arg)
{
	struct mixed *m = arg;

	for (int i = 0; i < 3000; i++) {
		char user[16];
		struct credcache_key k;

		snprintf(user, sizeof(user), "u%d", i % 40);
		k = key(m->c, user, PHC, "pw");
		if (!credcache_lookup(m->c, &k, 100 + i / 100, 600))
			credcache_verify(m->c, &k, 100 + i / 100, 600, 25, count_verify, m);
	}
	atomic_fetch_add(&m->done, 1);
	return NULL;
}

static void
test_concurrent(void)
{
	struct mixed m = {.done = 0, .calls = 0};
	struct credcache_stats st;
	pthread_t t[4];
	int purges = 0;

	if (credcache_new(&m.c) != 0) {
		ok(0, "new");
		return;
	}
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, mixed_worker, &m);
	while (atomic_load(&m.done) < 4) {
		credcache_purge(m.c, 120, 600, 20);
		credcache_stats(m.c, &st);
		purges++;
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	credcache_stats(m.c, &st);
	ok(st.entries <= 25, "bounded by the size (%zu entries, %d purges)", st.entries, purges);
	is_int(st.verifications, atomic_load(&m.calls), "every verification counted");
	ok(st.hits + st.misses >= 4 * 3000, "every lookup counted (%llu hits, %llu misses)",
	   (unsigned long long)st.hits, (unsigned long long)st.misses);
	is_int(st.waiting, 0, "nobody left waiting");
	credcache_free(m.c);
}

int
main(void)
{
	test_keys();
	test_hit_miss_ttl();
	test_disabled();
	test_eviction();
	test_growth();
	test_single_flight(0, "good password");
	test_single_flight(ERR_AUTH, "wrong password");
	test_other_key_independent();
	test_concurrent();
	return tap_done();
}
