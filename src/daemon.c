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
#include "expiry.h"
#include "http.h"
#include "log.h"
#include "notify.h"
#include "ratelimit.h"

#define DAEMON_TICK_SECONDS 1 /* granularity of periodic work and signal handling */
/* How long a stop waits for requests in progress beyond the DNS timeout (one Argon2
 * verification and the database writes). */
#define DAEMON_DRAIN_EXTRA_MS 3000
/* How long the mail queue may go on sending after the listeners stopped. */
#define DAEMON_MAIL_DRAIN_MS 5000

/* State of the main loop's periodic work. Times are CLOCK_MONOTONIC seconds. */
struct daemon_state {
	const struct config *cfg;
	struct ratelimit *rl;
	struct notify *notify;
	struct db *db; /* the main thread's connection, for the expiry pass */
	int64_t last_rl_cleanup;
	int64_t last_expiry;
};

static int64_t
mono_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

/* An address change with notify_change=1: queue the change mail (never blocks). */
static void
notify_change_hook(void *arg, const struct service_change *ch)
{
	notify_change(arg, ch->email, ch->host, ch->ipv4, ch->ipv6, ch->v4_changed, ch->v6_changed,
		      ch->now);
}

/* An expired host: its owner gets the expiry mail. */
static void
notify_expiry_hook(void *arg, const struct db_host *h, int families)
{
	struct daemon_state *st = arg;
	struct db_user u;

	if (db_user_get(st->db, h->owner, &u) != 0) {
		log_warnx("expiry: %s: cannot look up owner %s for the mail", h->fqdn, h->owner);
		return;
	}
	explicit_bzero(u.pw_hash, sizeof(u.pw_hash));
	notify_expiry(st->notify, u.email, h, families);
}

/* The expiry pass of SPEC §7 with wall-clock time (the database stores Unix time). */
static void
run_expiry(struct daemon_state *st)
{
	struct expiry_stats stats;

	if (!st->db && db_open(st->cfg, &st->db) < 0) {
		log_error("expiry: cannot open the database; retrying on the next pass");
		st->db = NULL;
		return;
	}
	if (expiry_run(st->cfg, st->db, (int64_t)time(NULL), notify_expiry_hook, st, NULL, &stats) <
	    0) {
		/* A broken connection is reopened on the next pass. */
		db_close(st->db);
		st->db = NULL;
	}
}

/* daemon_tick: the periodic work, run once per tick from the main thread with the
 * monotonic time `now`. Each job keeps its own interval. */
static void
daemon_tick(struct daemon_state *st, int64_t now)
{
	if (now - st->last_expiry >= st->cfg->dns.cleanup_interval) {
		run_expiry(st);
		st->last_expiry = now;
	}
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
	struct daemon_state st = {0};
	char err[512] = "";
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
	/* Blocked before any thread exists (mail worker, MHD's pool), so that every
	 * thread inherits the mask and only sigtimedwait below ever sees these signals. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	signal(SIGPIPE, SIG_IGN);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return 2;
	auth_init(0);
	rc = migrate_database(cfg);
	if (rc)
		return rc;
	/* Templates compile now: a broken one refuses to start (FILE:LINE: message). */
	if (notify_open(cfg, NULL, &st.notify, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return 1;
	}
	hooks.notify = notify_change_hook;
	hooks.notify_arg = st.notify;
	if (make_ratelimit(cfg, &hooks.rl) < 0) {
		notify_close(st.notify, 0);
		return 1;
	}
	if (http_start(cfg, &hooks, &srv) < 0) {
		rc = 1;
		goto out;
	}
	log_info("ddns-service started");
	st.cfg = cfg;
	st.rl = hooks.rl;
	st.last_rl_cleanup = mono_seconds();
	/* The first expiry pass runs on the first tick: records that went stale while the
	 * daemon was down are removed at once. */
	st.last_expiry = st.last_rl_cleanup - cfg->dns.cleanup_interval;
	main_loop(&st, &set);
	http_stop(srv, cfg->dns.dns_timeout * 1000 + DAEMON_DRAIN_EXTRA_MS);
	log_info("ddns-service stopped");
	rc = 0;
out:
	/* After the listeners: a request in progress may still queue a mail. */
	notify_close(st.notify, DAEMON_MAIL_DRAIN_MS);
	db_close(st.db);
	ratelimit_free(hooks.rl);
	return rc;
}
