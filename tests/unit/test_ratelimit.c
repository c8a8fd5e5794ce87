/* SPDX-License-Identifier: MIT */
/* Unit tests of ratelimit.c with a fake clock: exact windows, separation, bounds, threads. */
#include <pthread.h>
#include <string.h>

#include "err.h"
#include "ratelimit.h"
#include "tap.h"

static struct addr
A(const char *s) {
	struct addr a;

	addr_parse(s, &a);
	return a;
}

static struct ratelimit *
make(int gw, int gm, int bw, int bm, size_t max_clients)
{
	struct ratelimit_config c = {true, gw, gm, bw, bm, max_clients};
	struct ratelimit *rl = NULL;

	if (ratelimit_new(&c, &rl) != 0)
		return NULL;
	return rl;
}

/* good: 5 per 60 s. Limited exactly after the 5th, free again when the 1st ages out. */
static void
test_good_window(void)
{
	struct ratelimit *rl = make(60, 5, 60, 3, 0);
	struct addr a = A("192.0.2.1");

	ok(rl != NULL, "created");
	for (int i = 0; i < 5; i++) {
		ok(!ratelimit_check(rl, &a, 1000 + i), "good request %d allowed", i + 1);
		ratelimit_record(rl, &a, true, 1000 + i);
	}
	ok(ratelimit_check(rl, &a, 1005), "6th good request limited");
	ok(ratelimit_check(rl, &a, 1059), "still limited at first + 59");
	ok(!ratelimit_check(rl, &a, 1060), "free when the first is 60 s old");
	ratelimit_record(rl, &a, true, 1060);
	ok(ratelimit_check(rl, &a, 1060), "limited again: 1001..1004 + 1060 in window");
	ok(!ratelimit_check(rl, &a, 1061), "window slides one request at a time");
	ratelimit_free(rl);
}

static void
test_bad_window_and_separation(void)
{
	struct ratelimit *rl = make(60, 5, 120, 3, 0);
	struct addr a = A("192.0.2.1");

	for (int i = 0; i < 2; i++)
		ratelimit_record(rl, &a, false, 100);
	ok(!ratelimit_check(rl, &a, 100), "2 bad: allowed");
	for (int i = 0; i < 4; i++)
		ratelimit_record(rl, &a, true, 100);
	ok(!ratelimit_check(rl, &a, 100), "2 bad + 4 good: kinds counted apart");
	ratelimit_record(rl, &a, false, 101);
	ok(ratelimit_check(rl, &a, 101), "3rd bad: limited");
	ok(ratelimit_check(rl, &a, 219), "bad window is 120 s: still limited at 219");
	ok(!ratelimit_check(rl, &a, 220), "free at 220");
	ratelimit_record(rl, &a, true, 220);
	ok(!ratelimit_check(rl, &a, 220), "old good requests aged out too");
	ratelimit_free(rl);
}

static void
test_clients_distinct(void)
{
	struct ratelimit *rl = make(60, 1, 60, 1, 0);
	struct addr v4 = A("192.0.2.1"), v4b = A("192.0.2.2"), v6 = A("2001:db8::1"),
		    mapped = A("::ffff:192.0.2.1"), v6b = A("2001:db8:0:1::1"),
		    v6same = A("2001:db8::ffff:ffff:ffff:2"), compat = A("::192.0.2.1");

	ratelimit_record(rl, &v4, true, 10);
	ok(ratelimit_check(rl, &v4, 10), "v4 limited");
	ok(!ratelimit_check(rl, &v4b, 10), "other v4 not limited");
	ok(!ratelimit_check(rl, &v6, 10), "v6 not limited");
	ok(!ratelimit_check(rl, &compat, 10), "::a.b.c.d is another client than a.b.c.d");
	ok(ratelimit_check(rl, &mapped, 10), "mapped form is the same client");
	ratelimit_record(rl, &v6, false, 10);
	ok(ratelimit_check(rl, &v6, 10), "v6 limited");
	ok(!ratelimit_check(rl, &v6b, 10), "v6 of another /64 not limited");
	ok(ratelimit_check(rl, &v6same, 10), "another v6 of the same /64 is the same client");
	is_int(ratelimit_count(rl), 2, "two clients tracked");
	ratelimit_free(rl);
}

static void
test_cleanup(void)
{
	struct ratelimit *rl = make(30, 5, 60, 3, 0);
	struct addr a = A("192.0.2.1"), b = A("192.0.2.2"), c = A("2001:db8::3");

	ratelimit_record(rl, &a, true, 100);
	ratelimit_record(rl, &b, false, 110);
	ratelimit_record(rl, &c, true, 120);
	is_int(ratelimit_count(rl), 3, "three tracked");
	is_int(ratelimit_cleanup(rl, 159), 0, "nothing older than the longer window at 159");
	is_int(ratelimit_cleanup(rl, 160), 1, "one dropped at 160");
	is_int(ratelimit_count(rl), 2, "two left");
	is_int(ratelimit_cleanup(rl, 1000), 2, "rest dropped");
	is_int(ratelimit_count(rl), 0, "empty");
	ratelimit_record(rl, &a, true, 1000);
	is_int(ratelimit_count(rl), 1, "usable after cleanup");
	ratelimit_record(rl, &a, true, 1001);
	ratelimit_record(rl, &b, true, 1002);
	/* a was seen again at 1001: it moved to the front of the LRU list. */
	is_int(ratelimit_cleanup(rl, 1061), 1, "only the entry last seen at 1001 is stale");
	is_int(ratelimit_cleanup(rl, 1062), 1, "then b");
	ratelimit_free(rl);
}

static void
test_disabled(void)
{
	struct ratelimit_config c = {false, 0, 0, 0, 0, 0};
	struct ratelimit *rl = NULL;
	struct addr a = A("192.0.2.1");

	is_int(ratelimit_new(&c, &rl), 0, "disabled: bounds not checked");
	for (int i = 0; i < 1000; i++)
		ratelimit_record(rl, &a, i % 2, 5);
	ok(!ratelimit_check(rl, &a, 5), "disabled never limits");
	is_int(ratelimit_count(rl), 0, "disabled tracks nothing");
	is_int(ratelimit_cleanup(rl, 5), 0, "disabled cleanup");
	ratelimit_free(rl);
	ratelimit_free(NULL);
	ok(!ratelimit_check(NULL, &a, 1), "NULL limiter never limits");
}

static void
test_config_bounds(void)
{
	static const struct {
		int gw, gm, bw, bm, rc;
		const char *name;
	} t[] = {
		{60, 5, 60, 3, 0, "defaults"},
		{1, 1, 1, 1, 0, "minimum"},
		{RATELIMIT_MAX_WINDOW, RATELIMIT_MAX_REQUESTS, RATELIMIT_MAX_WINDOW,
		 RATELIMIT_MAX_REQUESTS, 0, "maximum"},
		{0, 5, 60, 3, ERR_RANGE, "good window 0"},
		{60, 0, 60, 3, ERR_RANGE, "good max 0"},
		{60, 5, 0, 3, ERR_RANGE, "bad window 0"},
		{60, 5, 60, -1, ERR_RANGE, "bad max negative"},
		{60, RATELIMIT_MAX_REQUESTS + 1, 60, 3, ERR_RANGE, "good max over bound"},
		{RATELIMIT_MAX_WINDOW + 1, 5, 60, 3, ERR_RANGE, "window over bound"},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct ratelimit_config c = {true, t[i].gw, t[i].gm, t[i].bw, t[i].bm, 0};
		struct ratelimit *rl = (struct ratelimit *)&c;

		is_int(ratelimit_new(&c, &rl), t[i].rc, t[i].name);
		ok(t[i].rc == 0 ? rl != NULL : rl == NULL, "%s: handle", t[i].name);
		ratelimit_free(rl);
	}
}

/* At the RATELIMIT_MAX_REQUESTS bound the window is still exact. */
static void
test_large_max(void)
{
	struct ratelimit *rl = make(10, RATELIMIT_MAX_REQUESTS, 10, 1, 0);
	struct addr a = A("2001:db8::9");
	bool early = false;

	for (int i = 0; i < RATELIMIT_MAX_REQUESTS; i++) {
		early |= ratelimit_check(rl, &a, 50);
		ratelimit_record(rl, &a, true, 50);
	}
	ok(!early, "max-1 requests never limited");
	ok(ratelimit_check(rl, &a, 59), "limited at max");
	ok(!ratelimit_check(rl, &a, 60), "free after the window");
	ratelimit_free(rl);
}

/* max_clients 4: a 5th client evicts the least recently seen one. */
static void
test_full_table(void)
{
	struct ratelimit *rl = make(60, 1, 60, 1, 4);
	struct addr c[6];
	char s[32];

	for (int i = 0; i < 6; i++) {
		snprintf(s, sizeof(s), "198.51.100.%d", i + 1);
		c[i] = A(s);
	}
	for (int i = 0; i < 4; i++)
		ratelimit_record(rl, &c[i], true, 100 + i);
	is_int(ratelimit_count(rl), 4, "table full");
	ratelimit_record(rl, &c[0], false, 104); /* c[0] is now the most recent */
	ratelimit_record(rl, &c[4], true, 105);
	is_int(ratelimit_count(rl), 4, "still at the bound");
	ok(!ratelimit_check(rl, &c[1], 105), "least recently seen (c1) evicted");
	ok(ratelimit_check(rl, &c[0], 105), "recently seen c0 kept");
	ok(ratelimit_check(rl, &c[2], 105), "c2 kept");
	ok(ratelimit_check(rl, &c[4], 105), "newcomer tracked");
	ratelimit_record(rl, &c[5], true, 106);
	ok(!ratelimit_check(rl, &c[2], 106), "next eviction takes c2");
	ok(ratelimit_check(rl, &c[5], 106), "c5 tracked");
	is_int(ratelimit_cleanup(rl, 1000), 4, "cleanup frees all four");
	ratelimit_free(rl);
}

/* Many clients through a small table in random order: chains and LRU stay consistent. */
static void
test_churn(void)
{
	struct ratelimit *rl = make(5, 2, 5, 2, 64);
	unsigned x = 12345;
	bool sane = true;

	for (int t = 0; t < 20000; t++) {
		struct addr a;
		char s[48];

		x = x * 1103515245u + 12345u;
		if (x & 1)
			snprintf(s, sizeof(s), "10.0.%u.%u", (x >> 8) & 3, (x >> 16) & 255);
		else
			snprintf(s, sizeof(s), "2001:db8:0:%x::1", (x >> 8) & 1023);
		a = A(s);
		ratelimit_record(rl, &a, (x >> 4) & 1, t / 10);
		sane &= ratelimit_count(rl) <= 64;
		if (t % 997 == 0)
			ratelimit_cleanup(rl, t / 10);
	}
	ok(sane, "never more than max_clients");
	ratelimit_cleanup(rl, 1 << 30);
	is_int(ratelimit_count(rl), 0, "all gone after a final cleanup");
	ratelimit_free(rl);
}

struct worker {
	struct ratelimit *rl;
	int id;
};

static void *
work(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < 20000; i++) {
		struct addr a;
		char s[32];

		snprintf(s, sizeof(s), "192.0.%d.%d", w->id, i % 200);
		a = A(s);
		ratelimit_check(w->rl, &a, i / 100);
		ratelimit_record(w->rl, &a, i & 1, i / 100);
		if (i % 1000 == 0)
			ratelimit_cleanup(w->rl, i / 100);
	}
	return NULL;
}

/* Threads hammering one limiter; run under TSan/ASan this finds missing locking. */
static void
test_threads(void)
{
	struct ratelimit *rl = make(60, 3, 60, 3, 1000);
	pthread_t th[4];
	struct worker w[4];
	struct addr a = A("192.0.1.1");

	for (int i = 0; i < 4; i++) {
		w[i].rl = rl;
		w[i].id = i;
		pthread_create(&th[i], NULL, work, &w[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	is_int(ratelimit_count(rl), 800, "every client tracked once");
	ok(ratelimit_check(rl, &a, 199), "a client recorded at 199 is limited");
	ratelimit_free(rl);
}

/* admit/settle: requests in flight count, so a parallel burst stops at the limit. */
static void
test_admit_settle(void)
{
	struct ratelimit *rl = make(60, 5, 60, 3, 0);
	struct addr a = A("192.0.2.7");
	int admitted = 0;

	for (int i = 0; i < 10; i++)
		admitted += ratelimit_admit(rl, &a, 100);
	is_int(admitted, 3, "a burst of 10 parallel requests: 3 admitted (bad_max)");
	for (int i = 0; i < 3; i++)
		ratelimit_settle(rl, &a, RATELIMIT_BAD, 100);
	ok(!ratelimit_admit(rl, &a, 101), "three bad requests counted: limited");
	ok(ratelimit_admit(rl, &a, 160), "free again once they leave the window");
	ratelimit_settle(rl, &a, RATELIMIT_NONE, 160);
	ok(ratelimit_admit(rl, &a, 160), "a NONE settlement counts nothing");
	ratelimit_settle(rl, &a, RATELIMIT_GOOD, 160);
	ratelimit_settle(rl, &a, RATELIMIT_GOOD, 160); /* one too many must not underflow */
	ok(ratelimit_admit(rl, &a, 161), "still admitted after two good");
	ratelimit_settle(rl, &a, RATELIMIT_GOOD, 161);
	ratelimit_free(rl);
}

int
main(void)
{
	test_good_window();
	test_bad_window_and_separation();
	test_clients_distinct();
	test_cleanup();
	test_disabled();
	test_config_bounds();
	test_large_max();
	test_full_table();
	test_churn();
	test_threads();
	test_admit_settle();
	return tap_done();
}
