/* SPDX-License-Identifier: MIT */
/* Tests of the per-client connection limiter: limits, /64 grouping, exempt proxies. */
#include <stdlib.h>

#include "connlimit.h"
#include "tap.h"

static struct addr
A(const char *s) {
	struct addr a;

	if (addr_parse(s, &a) != 0)
		abort();
	return a;
}

int
main(void)
{
	struct cidr proxy;
	struct connlimit *cl = NULL;
	struct addr v4 = A("192.0.2.1"), v4b = A("192.0.2.2"), mapped = A("::ffff:192.0.2.1");
	struct addr v6 = A("2001:db8:1:2::1"), v6same = A("2001:db8:1:2:ffff::9"),
		    v6other = A("2001:db8:1:3::1"), px = A("10.0.0.1");

	is_int(connlimit_new(0, NULL, 0, &cl), -2, "a zero limit is refused");
	ok(cidr_parse("10.0.0.0/8", &proxy) == 0, "cidr");
	is_int(connlimit_new(2, &proxy, 1, &cl), 0, "new");

	ok(connlimit_acquire(cl, &v4), "first v4 connection");
	ok(connlimit_acquire(cl, &mapped), "second (mapped form of the same client)");
	ok(!connlimit_acquire(cl, &v4), "third refused");
	ok(connlimit_acquire(cl, &v4b), "another client is not affected");
	connlimit_release(cl, &v4);
	ok(connlimit_acquire(cl, &v4), "a released slot can be used again");

	ok(connlimit_acquire(cl, &v6), "v6 first");
	ok(connlimit_acquire(cl, &v6same), "v6 second from the same /64");
	ok(!connlimit_acquire(cl, &v6), "v6 third refused for the whole /64");
	ok(connlimit_acquire(cl, &v6other), "another /64 is another client");

	for (int i = 0; i < 100; i++)
		if (!connlimit_acquire(cl, &px))
			break;
	ok(connlimit_acquire(cl, &px), "trusted proxies are never limited");
	is_int(connlimit_clients(cl), 4, "four clients counted (the proxy is not)");

	connlimit_release(cl, &v4);
	connlimit_release(cl, &v4);
	connlimit_release(cl, &v4b);
	connlimit_release(cl, &v6);
	connlimit_release(cl, &v6same);
	connlimit_release(cl, &v6other);
	connlimit_release(cl, &v6other); /* an extra release must not underflow */
	is_int(connlimit_clients(cl), 0, "entries are dropped with their last connection");
	connlimit_free(cl);
	connlimit_free(NULL);
	return tap_done();
}
