/* SPDX-License-Identifier: MIT */
/* Tests of the request deadline: overdue connections are shut down once, busy ones
 * are left alone, keep-alive ones wait again after a request, and each offending
 * address gets one log line per sweep however many connections it had. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conntrack.h"
#include "err.h"
#include "log.h"
#include "tap.h"

static struct addr
A(const char *s) {
	struct addr a;

	if (addr_parse(s, &a) != 0)
		abort();
	return a;
}

/* A connected pair: [0] plays the server's socket, [1] the client's. */
static void
pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		abort();
}

/* Whether the client's end saw the server shut its socket down. */
static int
was_shut(int client)
{
	char c;

	return recv(client, &c, 1, MSG_DONTWAIT) == 0;
}

static int
count_lines(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	int n = 0;

	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return n;
}

int
main(void)
{
	char logpath[] = "/tmp/test_conntrack.XXXXXX";
	struct log_settings ls = {.level = LOG_LVL_INFO, .target = LOG_TARGET_FILE};
	struct conntrack *ct = NULL;
	struct conntrack_conn *c[5];
	struct addr slow = A("192.0.2.7"), v6 = A("2001:db8:1:2::5"), kept = A("192.0.2.8");
	int sv[5][2], fd = mkstemp(logpath);

	close(fd);
	ls.file = logpath;
	log_open(&ls);
	is_int(conntrack_new(0, &ct), ERR_INVAL, "a deadline is needed");
	is_int(conntrack_new(2000, &ct), 0, "new");
	for (int i = 0; i < 5; i++)
		pair(sv[i]);
	c[0] = conntrack_add(ct, sv[0][0], &slow, 0);
	c[1] = conntrack_add(ct, sv[1][0], &slow, 100);
	c[2] = conntrack_add(ct, sv[2][0], &v6, 0);
	c[3] = conntrack_add(ct, sv[3][0], &kept, 0);
	c[4] = conntrack_add(ct, sv[4][0], &kept, 0);
	is_int((int)conntrack_count(ct), 5, "five connections tracked");
	conntrack_request(ct, c[3]);	/* served: */
	conntrack_idle(ct, c[3], 1000); /* its next request is due at 3000 */
	conntrack_request(ct, c[4]);	/* being handled: no deadline */

	is_int((int)conntrack_sweep(ct, 1999), 0, "nothing is overdue before the deadline");
	is_int((int)conntrack_sweep(ct, 2000), 2, "at the deadline: the two that began at 0");
	ok(was_shut(sv[0][1]) && was_shut(sv[2][1]) && !was_shut(sv[1][1]),
	   "their sockets are shut down, the later one's not yet");
	is_int((int)conntrack_sweep(ct, 2100), 1, "the one that began at 100");
	is_int((int)conntrack_sweep(ct, 2500), 0, "a shut socket is not shut again");
	is_int((int)conntrack_sweep(ct, 3000), 1, "the keep-alive one, 2 s after its request");
	ok(!was_shut(sv[4][1]), "a connection whose request is being handled is left alone");
	conntrack_idle(ct, c[4], 3000);
	conntrack_sweep(ct, 5000);
	ok(was_shut(sv[4][1]), "until it waits again");
	for (int i = 0; i < 5; i++)
		conntrack_remove(ct, c[i]);
	conntrack_remove(ct, NULL);
	is_int((int)conntrack_count(ct), 0, "removed");

	log_close();
	is_int(count_lines(logpath, "client 192.0.2.7: 1 connection closed: no complete request "
				    "within 2 s"),
	       1, "one line for the offender's first connection");
	is_int(count_lines(logpath, "client 192.0.2.7:"), 1,
	       "its second one, a sweep later, is held back (one line a minute)");
	is_int(count_lines(logpath, "client 2001:db8:1:2::/64: 1 connection closed"), 1,
	       "an IPv6 client is named by its /64");
	is_int(count_lines(logpath, "192.0.2.8"), 0, "closing served connections is no offence");
	ok(conntrack_start(ct) == 0, "the sweeper starts");
	conntrack_stop(ct);
	conntrack_stop(NULL);
	conntrack_free(ct);
	for (int i = 0; i < 5; i++) {
		close(sv[i][0]);
		close(sv[i][1]);
	}
	unlink(logpath);
	return tap_done();
}
