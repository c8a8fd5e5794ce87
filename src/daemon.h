/* SPDX-License-Identifier: MIT */
/* The update daemon: listeners, worker threads, periodic work, signals, shutdown. */
#ifndef DAEMON_H
#define DAEMON_H

#include "config.h"

/* daemon_run: serves `cfg` until SIGTERM/SIGINT, then finishes in-flight requests and
 * returns 0; returns 1 for a start-up problem the operator must fix (port in use, bad
 * certificate; already logged) and 2 for an internal error. `config_path` is kept for
 * reloading on SIGHUP. */
int daemon_run(const char *config_path, struct config *cfg);

#endif
