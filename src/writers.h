/* SPDX-License-Identifier: MIT */
/* The daemon's zone writers: one zonewriter per (DNS server, port, timeout, TSIG key,
 * zone), made on first use, each run by a thread of its own with its own database
 * connection and DNS client (struct dns_client: one UDP socket per writer), so that a
 * zone whose server hangs holds only its own writer and no request thread waits on
 * DNS. A writer's thread ends after WRITERS_IDLE_MS without work (closing its database
 * connection and socket) and starts again on the next item. */
#ifndef WRITERS_H
#define WRITERS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "zonewriter.h"

#define WRITERS_IDLE_MS	   30000	/* a writer's thread ends after this long without work */
#define WRITERS_MAX	   4096		/* writers at most (zones x keys); beyond: dnserr */
#define WRITERS_STACK_SIZE (512 * 1024) /* per writer thread: ldns, SQLite, MariaDB */

struct writers;

/* writers_new: an empty set whose writers open their database connections from `boot`
 * (borrowed; must outlive the set: the start-up configuration, whose [database] a
 * reload cannot change). Returns 0 or ERR_NOMEM. */
int writers_new(const struct config *boot, struct writers **out);

/* writers_submit: hands `it` (an item of zone `zone`; zonewriter.h says who owns it and
 * when `done` is called) to the writer of that zone under configuration `cfg` — its
 * dns_server, dns_port, dns_timeout and the zone's TSIG key, copied when the writer is
 * made (a reload that changes them makes new writers; the old ones finish what they
 * have and end). Any thread. When the item cannot be queued (the zone fails fast, its
 * queue is full, no writer can be made, the set is stopping) it is answered at once,
 * inside this call: dnserr (911 when stopping or out of memory). */
void writers_submit(struct writers *ws, const struct config *cfg, const char *zone,
		    struct zw_item *it);

/* writers_fail_all: answers every queued item of every writer with `status` at once
 * (the daemon's stop after its drain deadline); items in a step being run are answered
 * by it. Returns how many. */
size_t writers_fail_all(struct writers *ws, enum update_status status);

/* writers_free: stops every writer (items still queued are answered 911) and frees the
 * set. Call once nothing submits any more. NULL ok. */
void writers_free(struct writers *ws);

#endif
