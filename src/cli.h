/* SPDX-License-Identifier: MIT */
/* The administration commands of SPEC §3 (user, hostname, cleanup, --init-db): argument
 * checking, password prompts, tables and JSON, and the DNS side effects of deleting
 * or re-timing a host. */
#ifndef CLI_H
#define CLI_H

#include <stdio.h>

#include "config.h"

/* Exit statuses of every command (SPEC §3). */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_USER = 1,    /* the operator's mistake; one "error: ..." line on stderr */
	CLI_EXIT_INTERNAL = 2 /* environment or internal failure */
};

/* cli_run: runs the command in argv[0..argc-1] ("user", "add", "alice", ...) against
 * cfg (borrowed): checks the arguments, opens the database (applying migrations), does
 * the work, prints results on stdout. Returns an enum cli_exit value. */
int cli_run(const struct config *cfg, int argc, char **argv);

/* cli_init_db: creates or migrates the database and reports the schema version. */
int cli_init_db(const struct config *cfg);

/* cli_usage: the synopsis of every command and option, for --help and usage errors. */
void cli_usage(FILE *f);

#endif
