/* SPDX-License-Identifier: MIT */
/* Unit tests of gen.c: what a generation builds, the sharing of the rate limiter across
 * reloads, reference counts, freeing on the main thread once the last reference went
 * (oldest first), abandoning a generation, and requests racing a publishing thread. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "gen.h"
#include "ratelimit.h"
#include "tap.h"

#define DB	 "[database]\npath = \"/tmp/ddns-test-gen.db\"\n"
#define LIMITS_A "[rate_limit]\ngood_max_requests = 5\n"
#define LIMITS_B "[rate_limit]\ngood_max_requests = 7\n"

static struct config *
parse(const char *text)
{
	struct config_error err;
	struct config *cfg = NULL;

	memset(&err, 0, sizeof(err));
	if (config_parse(text, strlen(text), "t.toml", &cfg, &err) != 0) {
		diag("config: %s", err.msg);
		exit(2);
	}
	return cfg;
}

static struct addr
ip(const char *s)
{
	struct addr a;

	addr_parse(s, &a);
	return a;
}

/* A reload's generation: the configuration owned, built on `prev`. */
static struct gen *
reload(const char *text, struct gen *prev)
{
	struct gen *g = NULL;

	if (gen_new(parse(text), true, prev, &g) != 0) {
		diag("gen_new failed");
		exit(2);
	}
	return g;
}

static void
test_build(void)
{
	struct config *boot = parse(DB "[daemon]\nproxy_header = \"X-Forwarded-For\"\n"
				       "trusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n");
	struct service_ctx ctx;
	struct gen_slot *s = NULL;
	struct gen *g = NULL;
	struct addr a = ip("10.1.2.3");

	is_int(gen_new(boot, false, NULL, &g), 0, "a generation from the start-up config");
	ok(g->cfg == boot && g->rl && g->notify, "it has the config, a limiter and a notifier");
	ok(g->ntrusted == 2 && cidr_list_contains(g->trusted, g->ntrusted, &a),
	   "the trusted proxies are parsed");
	gen_service_ctx(g, NULL, &ctx);
	ok(ctx.cfg == boot && ctx.rl == g->rl && ctx.notify && ctx.notify_arg == g->notify &&
		   !ctx.auth && !ctx.writers,
	   "a request's service context comes from its generation");
	is_int(gen_slot_new(g, &s), 0, "a slot holds it");
	ok(gen_slot_acquire(s) == g, "a request takes the current generation");
	gen_release(g);
	is_int(gen_slot_reap(s), 0, "the current generation is never reaped");
	gen_slot_free(s);
	/* The borrowed start-up configuration survives its generations (ASan/valgrind). */
	ok(boot->rate_limit.good_max_requests == 5, "a borrowed config is not freed");
	config_free(boot);

	boot = parse(DB);
	boot->rate_limit.good_max_requests = RATELIMIT_MAX_REQUESTS + 1;
	g = (struct gen *)1;
	ok(gen_new(boot, true, NULL, &g) == ERR_RANGE && g == NULL,
	   "limits the limiter refuses: no generation");
	config_free(boot); /* still the caller's */
}

/* A reload that fails half-way (a template that cannot be read, after the limiter was
 * shared) leaves the running generation as it was. */
static void
test_failed_reload(void)
{
	struct gen *g1 = reload(DB, NULL), *g2 = NULL;
	struct gen_slot *s = NULL;
	struct config *bad =
		parse(DB "[email]\nchange_notification_template = \"/nonexistent/t.j2\"\n");
	struct addr a = ip("192.0.2.7");

	gen_slot_new(g1, &s);
	ok(gen_new(bad, true, g1, &g2) < 0 && g2 == NULL,
	   "a template that cannot be read: refused");
	config_free(bad); /* still the caller's */
	ratelimit_record(g1->rl, &a, true, 1);
	is_int(ratelimit_count(g1->rl), 1, "the running generation keeps its limiter");
	ok(gen_slot_acquire(s) == g1, "and serves");
	gen_release(g1);
	gen_slot_free(s);
}

/* A reload with the same limits shares the limiter: a client's count survives it and
 * outlives the generation that made the limiter; other limits make a new one. */
static void
test_limiter_shared(void)
{
	struct gen *g1 = reload(DB LIMITS_A, NULL), *g2, *g3;
	struct gen_slot *s = NULL;
	struct addr a = ip("192.0.2.1");

	gen_slot_new(g1, &s);
	ratelimit_record(g1->rl, &a, true, 100);
	g2 = reload(DB LIMITS_A "[defaults]\ndns_ttl = 120\n", g1);
	ok(g2->rl == g1->rl, "same limits: the reload shares the limiter");
	gen_slot_publish(s, g2);
	is_int(gen_slot_reap(s), 1, "the replaced generation goes with its last reference");
	is_int(ratelimit_count(g2->rl), 1, "the limiter outlives it and keeps its clients");
	ratelimit_record(g2->rl, &a, true, 101);

	g3 = reload(DB LIMITS_B, g2);
	ok(g3->rl != g2->rl, "other limits: a new limiter");
	is_int(ratelimit_count(g3->rl), 0, "which starts empty");
	gen_slot_publish(s, g3);
	is_int(gen_slot_reap(s), 1, "the previous generation goes, and its limiter with it");
	gen_slot_free(s);
}

/* A request pins the generation it started with; the last release only marks it, the
 * main thread's reap frees it, oldest first. */
static void
test_refcounts(void)
{
	struct gen *g1 = reload(DB, NULL), *g2, *g3, *r1, *r2;
	struct gen_slot *s = NULL;

	gen_slot_new(g1, &s);
	r1 = gen_slot_acquire(s);
	g2 = reload(DB "[defaults]\ndns_ttl = 120\n", g1);
	gen_slot_publish(s, g2);
	r2 = gen_slot_acquire(s);
	ok(r1 == g1 && r2 == g2, "requests take whichever generation is current");
	is_int(gen_slot_reap(s), 0, "a generation in use is not freed");
	is_int(r1->cfg->defaults.dns_ttl, 60, "the old request still reads its configuration");

	g3 = reload(DB "[defaults]\ndns_ttl = 180\n", g2);
	gen_slot_publish(s, g3);
	gen_release(r2);
	is_int(gen_slot_reap(s), 0, "an unused generation waits for an older one in use");
	gen_release(r1);
	is_int(gen_slot_reap(s), 2, "then both go, oldest first");
	is_int(gen_slot_reap(s), 0, "nothing more to free");
	is_int(gen_slot_acquire(s)->cfg->defaults.dns_ttl, 180, "the current one serves");
	gen_release(g3);
	gen_release(NULL);
	gen_slot_free(s);
}

/* A generation that a failed reload never published gives back what it shared. */
static void
test_abandon(void)
{
	struct gen *g1 = reload(DB LIMITS_A, NULL), *g2;
	struct gen_slot *s = NULL;
	struct addr a = ip("2001:db8::1");

	gen_slot_new(g1, &s);
	g2 = reload(DB LIMITS_A, g1);
	ok(g2->rl == g1->rl, "it shared the limiter");
	gen_abandon(g2, g1);
	ratelimit_record(g1->rl, &a, false, 5);
	is_int(ratelimit_count(g1->rl), 1, "the running generation keeps its limiter");
	gen_abandon(NULL, g1);
	gen_slot_free(s);
}

/* Workers take and drop references while the main thread publishes and reaps. */
struct race {
	struct gen_slot *s;
	atomic_bool stop;
	atomic_long seen;
};

static void *
worker(void *arg)
{
	struct race *r = arg;

	while (!atomic_load(&r->stop)) {
		struct gen *g = gen_slot_acquire(r->s);

		if (g->cfg->defaults.dns_ttl >= 60 && g->rl)
			atomic_fetch_add(&r->seen, 1);
		gen_release(g);
	}
	return NULL;
}

/* Waits (at most 5 s) until a worker read a generation after this call: the workers
 * must really run between the publications, however the scheduler treats them. */
static bool
wait_progress(struct race *r)
{
	long before = atomic_load(&r->seen);

	for (int i = 0; i < 5000 && atomic_load(&r->seen) == before; i++)
		usleep(1000);
	return atomic_load(&r->seen) != before;
}

static void
test_race(void)
{
	struct race r = {NULL, false, 0};
	struct gen *g = reload(DB, NULL);
	pthread_t t[4];
	size_t freed = 0;
	bool ran = true;

	gen_slot_new(g, &r.s);
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, worker, &r);
	for (int i = 0; i < 200; i++) {
		g = reload(i % 2 ? DB LIMITS_A : DB LIMITS_B, g);
		gen_slot_publish(r.s, g);
		freed += gen_slot_reap(r.s);
		if (i % 50 == 0)
			ran = wait_progress(&r) && ran;
	}
	atomic_store(&r.stop, true);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	freed += gen_slot_reap(r.s);
	is_int(freed, 200, "every replaced generation was freed once its requests ended");
	ok(ran, "the workers read their generations meanwhile");
	gen_slot_free(r.s);
}

int
main(void)
{
	test_build();
	test_failed_reload();
	test_limiter_shared();
	test_refcounts();
	test_abandon();
	test_race();
	return tap_done();
}
