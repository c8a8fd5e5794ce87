/* SPDX-License-Identifier: MIT */
/* The update daemon's life: start-up checks, listeners, a main loop that waits for
 * signals and runs periodic work on a one-second tick, and an orderly shutdown. */
#include "daemon.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "db.h"
#include "err.h"
#include "http.h"
#include "log.h"
#include "ratelimit.h"

#define DAEMON_TICK_SECONDS 1 /* granularity of periodic work and signal handling */
/* How long a stop waits for requests in progress beyond the DNS timeout (one Argon2
 * verification and the database writes). */
#define DAEMON_DRAIN_EXTRA_MS 3000

/* State of the main loop's periodic work. Times are CLOCK_MONOTONIC seconds. */
struct daemon_state {
	const struct config *cfg;
	struct ratelimit *rl;
	int64_t last_rl_cleanup;
};

static int64_t
mono_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

/* daemon_tick: the periodic work, run once per tick from the main thread with the
 * monotonic time `now`. Each job keeps its own interval. The expiry pass (SPEC §7,
 * every dns_service.cleanup_interval seconds) belongs here too. */
static void
daemon_tick(struct daemon_state *st, int64_t now)
{
	if (now - st->last_rl_cleanup >= st->cfg->rate_limit.cleanup_interval) {
		size_t n = ratelimit_cleanup(st->rl, now);

		if (n)
			log_debug("rate limiter: forgot %zu idle clients", n);
		st->last_rl_cleanup = now;
	}
}

/* The config file holds the database password and TSIG paths; a daemon that runs
 * with it world-readable would advertise the operator's mistake to every local user. */
static int
check_config_file(const char *path)
{
	int rc;

	if (!path)
		return 0;
	rc = config_is_world_readable(path);
	if (rc == 1) {
		log_error("%s is readable by other users and holds secrets; refusing to start "
			  "(chmod o-rwx %s)",
			  path, path);
		return 1;
	}
	if (rc < 0) {
		log_error("%s: cannot check its permissions: %s", path, err_str(rc));
		return 1;
	}
	return 0;
}

/* Applies pending migrations once, before the workers open their own connections. */
static int
migrate_database(const struct config *cfg)
{
	struct db *db = NULL;
	int rc = db_open(cfg, &db);

	if (rc < 0) {
		log_error("cannot open the database: %s", err_str(rc));
		return 2;
	}
	db_close(db);
	return 0;
}

static int
make_ratelimit(const struct config *cfg, struct ratelimit **out)
{
	struct ratelimit_config rc = {
		.enabled = cfg->rate_limit.enabled,
		.good_window_seconds = cfg->rate_limit.good_window_seconds,
		.good_max_requests = cfg->rate_limit.good_max_requests,
		.bad_window_seconds = cfg->rate_limit.bad_window_seconds,
		.bad_max_requests = cfg->rate_limit.bad_max_requests,
		.max_clients = 0,
	};
	int err = ratelimit_new(&rc, out);

	if (err < 0)
		log_error("rate_limit: %s", err_str(err));
	return err;
}

/* Waits for signals on a one-second tick until SIGTERM/SIGINT. */
static void
main_loop(struct daemon_state *st, const sigset_t *set)
{
	struct timespec tick = {DAEMON_TICK_SECONDS, 0};
	siginfo_t info;
	int sig;

	for (;;) {
		sig = sigtimedwait(set, &info, &tick);
		if (sig == SIGTERM || sig == SIGINT) {
			log_info("%s: shutting down", strsignal(sig));
			return;
		}
		if (sig == SIGHUP) {
			/* Full configuration reload is a later feature; logrotate needs this. */
			if (log_reopen() < 0)
				log_warn("SIGHUP: cannot reopen the log");
			else
				log_info("SIGHUP: log reopened");
		} else if (sig < 0 && errno != EAGAIN && errno != EINTR) {
			log_warn("sigtimedwait");
		}
		daemon_tick(st, mono_seconds());
	}
}

int
daemon_run(const char *config_path, struct config *cfg)
{
	struct http_hooks hooks = {NULL, NULL, NULL};
	struct daemon_state st;
	struct http_server *srv = NULL;
	sigset_t set;
	int rc;

	rc = check_config_file(config_path ? config_path : cfg->path);
	if (rc)
		return rc;
	if (log_open(&cfg->daemon.log) < 0) {
		log_warn("cannot open the configured log");
		return 1;
	}
	auth_init(0);
	rc = migrate_database(cfg);
	if (rc)
		return rc;
	if (make_ratelimit(cfg, &hooks.rl) < 0)
		return 1;
	/* Blocked before any thread exists, so that MHD's workers inherit the mask and
	 * only sigtimedwait below ever sees these signals. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	signal(SIGPIPE, SIG_IGN);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) {
		ratelimit_free(hooks.rl);
		return 2;
	}
	if (http_start(cfg, &hooks, &srv) < 0) {
		ratelimit_free(hooks.rl);
		return 1;
	}
	log_info("ddns-service started");
	st.cfg = cfg;
	st.rl = hooks.rl;
	st.last_rl_cleanup = mono_seconds();
	main_loop(&st, &set);
	http_stop(srv, cfg->dns.dns_timeout * 1000 + DAEMON_DRAIN_EXTRA_MS);
	ratelimit_free(hooks.rl);
	log_info("ddns-service stopped");
	return 0;
}
