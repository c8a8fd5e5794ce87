/* SPDX-License-Identifier: MIT */
/* File descriptors: the process's limit and how many connections fit in it beside what
 * the daemon needs for itself (database, DNS, mail, logs). */
#ifndef FDLIMIT_H
#define FDLIMIT_H

/* fdlimit_raise: raises the soft RLIMIT_NOFILE to the hard one (systemd's default is
 * 1024 soft, 524288 hard: a connection per descriptor, the soft limit is reached long
 * before memory is). *before and *after get the soft limit before and after (equal
 * when it was the hard one already). Returns 0, or ERR_IO when the limits could not be
 * read or set (errno says why; *after is then the unchanged limit). */
int fdlimit_raise(unsigned long long *before, unsigned long long *after);

/* fdlimit_current: the soft RLIMIT_NOFILE now. */
unsigned long long fdlimit_current(void);

/* fdlimit_in_use: descriptors open in the process now (/proc/self/fd), or `fallback`
 * when that cannot be read. */
unsigned fdlimit_in_use(unsigned fallback);

/* fdlimit_connections: how many connections fit under `limit` descriptors with
 * `in_use` open already and `reserve` kept for everything else, at most `max`; 0 when
 * none fit. Pure. */
unsigned fdlimit_connections(unsigned long long limit, unsigned in_use, unsigned reserve,
			     unsigned max);

#endif
