/* SPDX-License-Identifier: MIT */
/* The ddns-service binary: global options, configuration, and dispatch to the daemon,
 * --init-db or an administration command. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build_config.h"

#include "cli.h"
#include "config.h"
#include "daemon.h"
#include "err.h"
#include "log.h"

#define MAIN_MAX_ARGS 64 /* words of the longest command, with room to spare */

struct main_opts {
	const char *config; /* -c/--config; NULL: environment, then the default */
	bool debug, init_db, daemon, version, help;
	char *cmd[MAIN_MAX_ARGS]; /* the command words and their own options, in order */
	int ncmd;
};

static void
print_version(void)
{
	printf("ddns-service %s\n", DDNS_VERSION);
#if HAVE_MARIADB
	puts("database backends: sqlite, mariadb");
#else
	puts("database backends: sqlite");
#endif
	puts("TLS: yes (GnuTLS via libmicrohttpd)");
	printf("systemd notify: %s\n", HAVE_SYSTEMD ? "yes" : "no");
}

/* The value of -c/--config at argv[*i] ("-c P", "-cP", "--config P", "--config=P"). */
static const char *
config_opt(int argc, char **argv, int *i)
{
	const char *a = argv[*i];

	if (strncmp(a, "--config=", 9) == 0)
		return a + 9;
	if (strncmp(a, "-c", 2) == 0 && a[2] != '\0')
		return a + 2;
	return *i + 1 < argc ? argv[++*i] : NULL;
}

/* Global options may appear anywhere; everything else is the command, kept in order
 * for cli_run (which knows each command's own options). Returns 0 or an exit status. */
static int
parse_opts(int argc, char **argv, struct main_opts *o)
{
	bool dashdash = false;

	memset(o, 0, sizeof(*o));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!dashdash && (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0 ||
				  strncmp(a, "--config=", 9) == 0 ||
				  (strncmp(a, "-c", 2) == 0 && a[2] != '-'))) {
			if ((o->config = config_opt(argc, argv, &i)) == NULL) {
				fputs("error: -c/--config needs a path\n", stderr);
				return CLI_EXIT_USER;
			}
		} else if (!dashdash && strcmp(a, "--debug") == 0) {
			o->debug = true;
		} else if (!dashdash && strcmp(a, "--init-db") == 0) {
			o->init_db = true;
		} else if (!dashdash && strcmp(a, "--daemon") == 0) {
			o->daemon = true;
		} else if (!dashdash && (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0)) {
			o->version = true;
		} else if (!dashdash && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
			o->help = true;
		} else if (o->ncmd >= MAIN_MAX_ARGS) {
			fputs("error: too many arguments\n", stderr);
			return CLI_EXIT_USER;
		} else {
			/* "--" is handed on too: it ends the command's options as well. */
			dashdash = dashdash || strcmp(a, "--") == 0;
			o->cmd[o->ncmd++] = argv[i];
		}
	}
	return 0;
}

/* Exactly one of --init-db, --daemon, a command. */
static int
check_mode(const struct main_opts *o)
{
	int modes = o->init_db + o->daemon + (o->ncmd > 0);

	if (modes == 1)
		return 0;
	fprintf(stderr, "error: %s (try --help)\n",
		modes == 0 ? "nothing to do: give --init-db, --daemon or a command"
			   : "give only one of --init-db, --daemon or a command");
	return CLI_EXIT_USER;
}

static const char *
config_path(const struct main_opts *o)
{
	const char *env = getenv("DDNS_SERVICE_CONFIG");

	if (o->config != NULL)
		return o->config;
	return env != NULL && env[0] != '\0' ? env : DDNS_DEFAULT_CONFIG;
}

/* The secrets rule: others may neither read the file (it holds passwords) nor write
 * it (they could point updates elsewhere). The daemon refuses such a file, the CLI
 * warns. Returns 0 or an exit status. */
static int
check_file_mode(const char *path, bool daemon)
{
	bool readable = config_is_world_readable(path) == 1;
	bool writable = config_is_world_writable(path) == 1;
	const char *what = readable && writable ? "world-readable and writable by other users"
			   : readable		? "world-readable"
						: "writable by other users";
	const char *fix = readable && writable ? "chmod o-rw"
			  : readable	       ? "chmod o-r"
					       : "chmod o-w";

	if (!readable && !writable)
		return 0;
	if (!daemon) {
		fprintf(stderr, "warning: %s is %s but holds secrets (%s)\n", path, what, fix);
		return 0;
	}
	fprintf(stderr, "error: %s is %s but holds secrets; refusing to start (%s)\n", path, what,
		fix);
	return CLI_EXIT_USER;
}

/* Loads the configuration and applies the secrets rule. Returns 0 or an exit status. */
static int
load_config(const char *path, bool daemon, struct config **cfg)
{
	struct config_error err;
	int rc;

	memset(&err, 0, sizeof(err));
	rc = config_load(path, cfg, &err);
	if (rc != 0) {
		fprintf(stderr, "error: %s\n", err.msg[0] ? err.msg : path);
		return rc == ERR_INVAL ? CLI_EXIT_USER : CLI_EXIT_INTERNAL;
	}
	rc = check_file_mode(path, daemon);
	if (rc != 0) {
		config_free(*cfg);
		*cfg = NULL;
	}
	return rc;
}

int
main(int argc, char **argv)
{
	struct main_opts o;
	struct config *cfg = NULL;
	const char *path;
	int rc;

	if ((rc = parse_opts(argc, argv, &o)) != 0)
		return rc;
	if (o.help) {
		cli_usage(stdout);
		return 0;
	}
	if (o.version) {
		print_version();
		return 0;
	}
	if ((rc = check_mode(&o)) != 0)
		return rc;
	/* The CLI talks on stderr in "error:" lines; its log shows only real trouble. */
	log_set_level(o.debug ? LOG_LVL_DEBUG : o.daemon ? LOG_LVL_INFO : LOG_LVL_WARNING);
	path = config_path(&o);
	if ((rc = load_config(path, o.daemon, &cfg)) != 0)
		return rc;
	if (o.daemon)
		return daemon_run(path, cfg, o.debug); /* takes cfg over */
	if (o.init_db)
		rc = cli_init_db(cfg);
	else
		rc = cli_run(cfg, o.ncmd, o.cmd);
	config_free(cfg);
	return rc;
}
