/* SPDX-License-Identifier: MIT */
/* The update daemon: listeners, worker threads, periodic work, signals, shutdown. */
#ifndef DAEMON_H
#define DAEMON_H

#include <stdbool.h>

#include "config.h"

/* daemon_run: serves `cfg` until SIGTERM/SIGINT, then finishes in-flight requests and
 * returns 0; returns 1 for a start-up problem the operator must fix (port in use, bad
 * certificate; already logged) and 2 for an internal error.
 *
 * Takes ownership of `cfg`: it is freed before daemon_run returns, whatever the
 * outcome (a reload replaces it while the daemon runs, so the caller could not know
 * when to free it). `config_path` (borrowed; NULL: cfg->path) is read again on SIGHUP:
 * the new file replaces the running configuration only when it loads completely
 * (TSIG keys, templates, rate limits); listeners and database stay those of `cfg`.
 * `debug` (--debug) forces DEBUG logging, also across reloads.
 *
 * Under systemd (Type=notify, when built with libsystemd) it reports READY=1 once the
 * listeners are up, RELOADING=1/READY=1 around a reload and STOPPING=1 on the way out. */
int daemon_run(const char *config_path, struct config *cfg, bool debug);

#endif
