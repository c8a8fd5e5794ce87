/* SPDX-License-Identifier: MIT */
/* Tests of connection admission: the per-client limit, /64 grouping, exempt proxies,
 * the total, and the share kept for clients that hold few connections. */
#include <stdio.h>
#include <stdlib.h>

#include "connlimit.h"
#include "err.h"
#include "fdlimit.h"
#include "tap.h"

static struct addr
A(const char *s) {
	struct addr a;

	if (addr_parse(s, &a) != 0)
		abort();
	return a;
}

static void
test_per_client(void)
{
	struct cidr proxy;
	struct connlimit *cl = NULL;
	struct addr v4 = A("192.0.2.1"), v4b = A("192.0.2.2"), mapped = A("::ffff:192.0.2.1");
	struct addr v6 = A("2001:db8:1:2::1"), v6same = A("2001:db8:1:2:ffff::9"),
		    v6other = A("2001:db8:1:3::1"), px = A("10.0.0.1");

	is_int(connlimit_new(0, 100, NULL, 0, &cl), ERR_INVAL,
	       "a zero per-client limit is refused");
	is_int(connlimit_new(2, 0, NULL, 0, &cl), ERR_INVAL, "a zero total is refused");
	ok(cidr_parse("10.0.0.0/8", &proxy) == 0, "cidr");
	is_int(connlimit_new(2, 1000, &proxy, 1, &cl), 0, "new");

	is_int(connlimit_acquire(cl, &v4), CONNLIMIT_OK, "first v4 connection");
	is_int(connlimit_acquire(cl, &mapped), CONNLIMIT_OK, "second (mapped: the same client)");
	is_int(connlimit_acquire(cl, &v4), CONNLIMIT_CLIENT_FULL, "third refused");
	is_int(connlimit_acquire(cl, &v4b), CONNLIMIT_OK, "another client is not affected");
	connlimit_release(cl, &v4);
	is_int(connlimit_acquire(cl, &v4), CONNLIMIT_OK, "a released slot can be used again");

	is_int(connlimit_acquire(cl, &v6), CONNLIMIT_OK, "v6 first");
	is_int(connlimit_acquire(cl, &v6same), CONNLIMIT_OK, "v6 second from the same /64");
	is_int(connlimit_acquire(cl, &v6), CONNLIMIT_CLIENT_FULL, "v6 third refused for the /64");
	is_int(connlimit_acquire(cl, &v6other), CONNLIMIT_OK, "another /64 is another client");

	for (int i = 0; i < 100; i++)
		connlimit_acquire(cl, &px);
	is_int(connlimit_acquire(cl, &px), CONNLIMIT_OK, "trusted proxies have no client limit");
	is_int(connlimit_clients(cl), 4, "four clients counted (the proxy is not one)");
	is_int((int)connlimit_used(cl), 6 + 101, "but its connections count in the total");
	for (int i = 0; i < 101; i++)
		connlimit_release(cl, &px);
	connlimit_release(cl, &v4);
	connlimit_release(cl, &v4);
	connlimit_release(cl, &v4b);
	connlimit_release(cl, &v6);
	connlimit_release(cl, &v6same);
	connlimit_release(cl, &v6other);
	is_int(connlimit_clients(cl), 0, "entries are dropped with their last connection");
	is_int((int)connlimit_used(cl), 0, "and the total is back to 0");
	connlimit_release(cl, &v6other); /* an extra release must not underflow */
	is_int((int)connlimit_used(cl), 0, "an extra release does not underflow");
	connlimit_free(cl);
	connlimit_free(NULL);
}

/* 20 connections, 5 of them (a quarter) kept for light clients. */
static void
test_share(void)
{
	struct cidr proxy;
	struct connlimit *cl = NULL;
	char ip[32];
	struct addr a, light = A("198.51.100.1"), px = A("10.0.0.1");
	int refused = 0;

	ok(cidr_parse("10.0.0.0/8", &proxy) == 0, "cidr");
	is_int(connlimit_new(4, 20, &proxy, 1, &cl), 0, "new: 4 per client, 20 in all");
	for (int c = 1; c <= 5; c++) { /* clients that take all they may: 4 each */
		snprintf(ip, sizeof(ip), "192.0.2.%d", c);
		a = A(ip);
		for (int i = 0; i < 4; i++)
			refused += connlimit_acquire(cl, &a) != CONNLIMIT_OK;
	}
	/* 4 + 4 + 4 + 3 reach the share (15); the fifth client is light for two. */
	is_int((int)connlimit_used(cl), 17, "heavy clients stop at the share");
	is_int(refused, 3, "the rest of theirs are refused");
	a = A("192.0.2.1");
	is_int(connlimit_acquire(cl, &a), CONNLIMIT_CLIENT_FULL, "a full client: its own limit");
	a = A("192.0.2.5");
	is_int(connlimit_acquire(cl, &a), CONNLIMIT_BUSY, "a client with two: busy");
	for (int c = 1; c <= 2; c++) {
		snprintf(ip, sizeof(ip), "203.0.113.%d", c);
		a = A(ip);
		is_int(connlimit_acquire(cl, &a), CONNLIMIT_OK, "a new client gets the share");
	}
	is_int(connlimit_acquire(cl, &light), CONNLIMIT_OK, "and another, the last one");
	is_int(connlimit_acquire(cl, &px), CONNLIMIT_FULL, "all 20 in use: even the proxy waits");
	connlimit_release(cl, &light);
	is_int(connlimit_acquire(cl, &px), CONNLIMIT_OK, "the proxy may use the share");
	connlimit_free(cl);
}

static void
test_budget(void)
{
	is_int((int)fdlimit_connections(1024, 10, 94, 4096), 920, "1024 - 10 open - 94 reserved");
	is_int((int)fdlimit_connections(1 << 20, 10, 94, 4096), 4096, "at most the maximum");
	is_int((int)fdlimit_connections(100, 10, 94, 4096), 0, "none fit");
	ok(fdlimit_in_use(0) >= 3, "stdin, stdout and stderr are open");
	ok(fdlimit_current() > 0, "a limit");
}

int
main(void)
{
	test_per_client();
	test_share();
	test_budget();
	return tap_done();
}
