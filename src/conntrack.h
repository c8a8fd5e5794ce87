/* SPDX-License-Identifier: MIT */
/* The open HTTP connections and the deadline for their requests to arrive: a
 * connection that has not sent a complete request line and headers within the
 * deadline — however slowly it trickles bytes — is closed, and each offending address
 * gets one log line. Thread-safe. */
#ifndef CONNTRACK_H
#define CONNTRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/*
 * libmicrohttpd 0.9.75 has only an inactivity timeout (MHD_OPTION_CONNECTION_TIMEOUT):
 * a client that sends one header byte every few seconds holds its connection for
 * ever. It also cannot close a connection from outside. So the HTTP front reports
 * each connection's life here (from MHD's connection notifications and its request
 * callbacks) and a sweeper thread ends the overdue ones with shutdown(2) on their
 * socket: MHD sees the end of the stream and closes and frees the connection itself.
 * A connection is removed (conntrack_remove) before MHD closes its socket, and the
 * sweeper shuts a socket down only under the mutex that removal takes, so it never
 * touches a descriptor that was closed and reused.
 *
 * A connection waits for a request from its start and again from the end of each
 * request (keep-alive); while a request is being handled (its headers are in) it has
 * no deadline. Closing a connection that never completed a request is an offence of
 * its address; closing an idle keep-alive connection is housekeeping, not logged.
 */

#define CONNTRACK_TICK_MS   250		/* how often the sweeper looks */
#define CONNTRACK_REPORT_MS (60 * 1000) /* one log line per address at most this often */

struct conntrack;
struct conntrack_conn;

/* conntrack_new: connections get `deadline_ms` to send each request. Returns 0 or
 * ERR_NOMEM/ERR_INVAL. Free with conntrack_free (NULL ok), after conntrack_stop. */
int conntrack_new(int64_t deadline_ms, struct conntrack **out);
void conntrack_free(struct conntrack *ct);

/* conntrack_start: runs the sweeper thread (conntrack_sweep every CONNTRACK_TICK_MS).
 * 0 or ERR_NOMEM. conntrack_stop: ends it (waits for it); NULL or not started ok. */
int conntrack_start(struct conntrack *ct);
void conntrack_stop(struct conntrack *ct);

/* conntrack_add: a new connection on socket `fd` from `peer` (borrowed) at `now_ms`
 * (CLOCK_MONOTONIC). Returns its entry, or NULL when out of memory (the connection then
 * has only MHD's inactivity timeout). */
struct conntrack_conn *conntrack_add(struct conntrack *ct, int fd, const struct addr *peer,
				     int64_t now_ms);
/* conntrack_request: the connection's request has arrived (its headers are in):
 * no deadline until conntrack_idle. NULL c ok. */
void conntrack_request(struct conntrack *ct, struct conntrack_conn *c);
/* conntrack_idle: its request is over (answered or not) at `now_ms`: the deadline for
 * the next one starts. NULL c ok. */
void conntrack_idle(struct conntrack *ct, struct conntrack_conn *c, int64_t now_ms);
/* conntrack_remove: the connection is closing (before its socket is closed); frees
 * the entry. NULL c ok. */
void conntrack_remove(struct conntrack *ct, struct conntrack_conn *c);

/* conntrack_refused: a connection from `peer` was refused when it came (the accept
 * policy): `client` true when for the client's own count (too many open), false when
 * all connections were in use. Logged like the slow ones: one line per address (one
 * for "all in use") and minute, the rest held back and counted into the next line. */
void conntrack_refused(struct conntrack *ct, const struct addr *peer, bool client, int64_t now_ms);

/* conntrack_sweep: shuts down the sockets of the connections waiting longer than the
 * deadline at `now_ms` (each once) and logs the offenders (see above). Returns how
 * many it shut down. The sweeper thread calls it; tests call it with their own time. */
size_t conntrack_sweep(struct conntrack *ct, int64_t now_ms);

/* conntrack_count: connections tracked now (tests). */
size_t conntrack_count(struct conntrack *ct);

#endif
