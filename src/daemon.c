/* SPDX-License-Identifier: MIT */
/* The update daemon's life: start-up checks, listeners, a main loop that waits for
 * signals and runs periodic work on a one-second tick, and an orderly shutdown. */
#include "daemon.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "build_config.h"
#if HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "auth.h"
#include "clock.h"
#include "credcache.h"
#include "db.h"
#include "err.h"
#include "expiry.h"
#include "fdlimit.h"
#include "gen.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "ratelimit.h"
#include "reconcile.h"

#define DAEMON_TICK_SECONDS 1 /* granularity of periodic work and signal handling */
/* How often the credential cache forgets what its time to live ended and shrinks to a
 * size a reload lowered (expired entries are never used; this frees their memory). */
#define DAEMON_CACHE_PURGE_SECONDS 60
/* How long a stop waits for requests in progress beyond the DNS timeout (one Argon2
 * verification and the database writes). */
#define DAEMON_DRAIN_EXTRA_MS 3000

/* State of the main loop. Times are CLOCK_MONOTONIC seconds. */
struct daemon_state {
	const char *config_path;
	bool debug;	       /* --debug: DEBUG whatever the file says, also after a reload */
	struct config *boot;   /* the start-up configuration: listeners, database; owned */
	struct gen_slot *gens; /* the generation requests use, and replaced ones in use */
	struct gen *cur;       /* the one the main thread published last; the slot owns it */
	struct http_server *srv;
	struct db *db;	     /* the main thread's connection, for the expiry pass */
	pthread_t reconcile; /* reconcile_on_start's run */
	bool reconcile_started;
	atomic_bool reconcile_stop; /* set at shutdown: the run starts no further host */
	int64_t last_rl_cleanup;
	int64_t last_expiry;
	int64_t last_cache_purge;
};

/* An expired host: its owner gets the expiry mail (the address came with the row). */
static void
notify_expiry_hook(void *arg, const struct db_host *h, int families)
{
	struct daemon_state *st = arg;

	notify_expiry(st->cur->notify, h->owner_email, h, families);
}

/* The expiry pass of SPEC §7 with wall-clock time (the database stores Unix time). */
static void
run_expiry(struct daemon_state *st)
{
	struct expiry_stats stats;

	/* The database is the start-up one: a reload does not move it. */
	if (st->db && !db_is_usable(st->db)) {
		db_close(st->db);
		st->db = NULL;
	}
	if (!st->db && db_open(st->boot, &st->db) < 0) {
		log_error("expiry: cannot open the database; retrying on the next pass");
		st->db = NULL;
		return;
	}
	if (expiry_run(st->cur->cfg, st->db, (int64_t)time(NULL), notify_expiry_hook, st, NULL,
		       &stats) < 0) {
		/* A broken connection is reopened on the next pass. */
		db_close(st->db);
		st->db = NULL;
	}
}

/* The ddns_hosts gauge: a full count, so once per cleanup interval (with the expiry
 * pass), never per scrape. */
static void
refresh_host_count(struct daemon_state *st)
{
	int64_t n = 0;

	if (st->db && db_host_count(st->db, &n) == 0)
		metrics_set_hosts(n);
}

/* Every configured endpoint gets its series before its first request. */
static void
register_endpoints(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->endpoints_len; i++)
		metrics_register_endpoint(cfg->endpoints[i].path);
}

/* daemon_tick: the periodic work, run once per tick from the main thread with the
 * monotonic time `now`. Each job keeps its own interval. */
static void
daemon_tick(struct daemon_state *st, int64_t now)
{
	const struct config *cfg = st->cur->cfg;

	if (now - st->last_expiry >= cfg->dns.cleanup_interval) {
		run_expiry(st);
		refresh_host_count(st);
		st->last_expiry = now;
	}
	if (now - st->last_rl_cleanup >= cfg->rate_limit.cleanup_interval) {
		size_t n = ratelimit_cleanup(st->cur->rl, now);

		metrics_set_ratelimit_clients((int64_t)ratelimit_count(st->cur->rl));
		if (n)
			log_debug("rate limiter: forgot %zu idle clients", n);
		st->last_rl_cleanup = now;
	}
	if (now - st->last_cache_purge >= DAEMON_CACHE_PURGE_SECONDS) {
		credcache_purge(st->cur->cache, now, cfg->daemon.credential_cache_ttl,
				(size_t)cfg->daemon.credential_cache_size);
		st->last_cache_purge = now;
	}
}

/* Why the config file's mode is unsafe, or NULL when it is fine. It holds the
 * database password and TSIG paths: readable by others it gives them away, writable
 * by others it lets them point updates anywhere. *rc gets ERR_IO when it cannot be
 * checked. */
static const char *
config_mode_problem(const char *path, int *rc)
{
	int r = config_is_world_readable(path);
	int w = r < 0 ? r : config_is_world_writable(path);

	*rc = r < 0 ? r : w < 0 ? w : 0;
	if (*rc < 0)
		return "cannot be checked for its permissions";
	if (r == 1)
		return "is readable by other users and holds secrets (chmod o-rwx)";
	if (w == 1)
		return "is writable by other users, who could change what the daemon does "
		       "(chmod o-rwx)";
	return NULL;
}

static int
check_config_file(const char *path)
{
	const char *why;
	int rc;

	if (!path)
		return 0;
	why = config_mode_problem(path, &rc);
	if (why) {
		log_error("%s %s%s%s; refusing to start", path, why, rc < 0 ? ": " : "",
			  rc < 0 ? err_str(rc) : "");
		return 1;
	}
	return 0;
}

/* reconcile_on_start: one run in the background, its changes in the log. */
static void *
reconcile_main(void *arg)
{
	struct daemon_state *st = arg;
	struct reconcile_opts o = {.stop = &st->reconcile_stop};

	log_info("reconcile: comparing DNS with the database (reconcile_on_start)");
	(void)reconcile_run(st->boot, &o, NULL);
	return NULL;
}

static void
reconcile_start(struct daemon_state *st)
{
	atomic_init(&st->reconcile_stop, false);
	if (!st->boot->dns.reconcile_on_start)
		return;
	if (pthread_create(&st->reconcile, NULL, reconcile_main, st) == 0)
		st->reconcile_started = true;
	else
		log_error("reconcile_on_start: cannot start a thread; not reconciling");
}

/* Stops the run between two hosts; the host in progress finishes (one DNS exchange). */
static void
reconcile_stop(struct daemon_state *st)
{
	if (!st->reconcile_started)
		return;
	atomic_store(&st->reconcile_stop, true);
	pthread_join(st->reconcile, NULL);
	st->reconcile_started = false;
}

/* A TSIG key lets whoever reads it change the zones it signs for: a key file that
 * others can read deserves a warning (not a refusal: the file is the operator's, and
 * the daemon cannot tell a shared group from a mistake). */
static void
warn_key_file(const char *path)
{
	struct stat st;

	if (path && stat(path, &st) == 0 && (st.st_mode & S_IROTH))
		log_warnx("TSIG key file %s is readable by other users, who could sign updates "
			  "with it: chmod o-rwx %s (640, owner root, group of the daemon)",
			  path, path);
}

static void
warn_key_files(const struct config *cfg)
{
	warn_key_file(cfg->dns.ddns_default_key_file);
	for (size_t i = 0; i < cfg->dns.zone_keys_len; i++) {
		const char *p = cfg->dns.zone_keys[i].key_file;
		bool seen = p && cfg->dns.ddns_default_key_file &&
			    strcmp(p, cfg->dns.ddns_default_key_file) == 0;

		for (size_t j = 0; !seen && j < i; j++)
			seen = strcmp(p, cfg->dns.zone_keys[j].key_file) == 0;
		if (!seen)
			warn_key_file(p);
	}
}

/* Checks that the database can be written (a daemon that cannot would answer 911
 * to every update), then applies pending migrations once, before the workers open
 * their own connections. */
static int
migrate_database(const struct config *cfg)
{
	struct db *db = NULL;
	int rc = db_check_writable(cfg);

	if (rc < 0)
		return 1;
	rc = db_open(cfg, &db);
	if (rc < 0) {
		log_error("cannot open the database: %s", err_str(rc));
		return 2;
	}
	db_close(db);
	return 0;
}

/* Tells systemd (Type=notify) what the daemon is doing; a no-op without libsystemd or
 * outside systemd (no NOTIFY_SOCKET). */
static void
daemon_notify(const char *state)
{
#if HAVE_SYSTEMD
	sd_notify(0, state);
#else
	(void)state;
#endif
}

static bool
str_equal(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

/* What a reload cannot change: the listeners (and their TLS material and connection
 * limits) and the database; says so rather than pretending. */
static void
warn_restart_only(const struct config *boot, const struct config *cfg)
{
	if (!str_equal(boot->daemon.host, cfg->daemon.host) ||
	    boot->daemon.port != cfg->daemon.port || boot->daemon.ssl != cfg->daemon.ssl ||
	    (cfg->daemon.ssl &&
	     (!str_equal(boot->daemon.ssl_cert_file, cfg->daemon.ssl_cert_file) ||
	      !str_equal(boot->daemon.ssl_key_file, cfg->daemon.ssl_key_file))))
		log_warnx("SIGHUP: daemon.host/port/ssl changed: this needs a restart; still "
			  "listening on %s port %d",
			  boot->daemon.host, boot->daemon.port);
	if (str_equal(boot->daemon.proxy_header, "") != str_equal(cfg->daemon.proxy_header, ""))
		log_warnx("SIGHUP: daemon.proxy_header switched on or off: the per-address "
			  "connection limit follows only after a restart");
	if (boot->database.backend != cfg->database.backend ||
	    !str_equal(boot->database.path, cfg->database.path) ||
	    !str_equal(boot->database.host, cfg->database.host) ||
	    boot->database.port != cfg->database.port ||
	    !str_equal(boot->database.socket, cfg->database.socket) ||
	    !str_equal(boot->database.user, cfg->database.user) ||
	    !str_equal(boot->database.password, cfg->database.password) ||
	    !str_equal(boot->database.name, cfg->database.name))
		log_warnx("SIGHUP: [database] changed: this needs a restart; still using the "
			  "database the daemon started with");
}

/* Reads and checks the new configuration. Returns it, or NULL with the reason logged. */
static struct config *
reload_load(struct daemon_state *st)
{
	struct config_error err;
	struct config *cfg = NULL;
	const char *why;
	int rc;

	memset(&err, 0, sizeof(err));
	if (config_load(st->config_path, &cfg, &err) != 0) {
		log_error("SIGHUP: %s", err.msg[0] ? err.msg : st->config_path);
		return NULL;
	}
	why = config_mode_problem(st->config_path, &rc);
	if (why) {
		log_error("SIGHUP: %s %s", st->config_path, why);
		config_free(cfg);
		return NULL;
	}
	if (st->debug)
		cfg->daemon.log.level = LOG_LVL_DEBUG;
	return cfg;
}

/* SIGHUP: reopens the log and reloads the configuration, all or nothing: the new file
 * is loaded and checked (TSIG keys, templates, rate limits) and only then replaces the
 * running one. A request in progress keeps the configuration it started with; the
 * old one is freed on a later tick, once no request uses it. */
static void
daemon_reload(struct daemon_state *st)
{
	struct gen *g = NULL;
	struct config *cfg = reload_load(st);

	if (cfg && gen_new(cfg, true, st->cur, &g) < 0) {
		config_free(cfg);
		cfg = NULL;
	}
	/* The log moves before the handlers do, so that a failure leaves all as it was. */
	if (g && log_open(&cfg->daemon.log) < 0) {
		log_warn("SIGHUP: cannot open the configured log");
		gen_abandon(g, st->cur);
		g = NULL;
	}
	if (!g) {
		/* logrotate's SIGHUP must still move the log to the new file. */
		if (log_reopen() < 0)
			log_warn("SIGHUP: cannot reopen the log");
		else
			log_info("SIGHUP: log reopened");
		log_error("SIGHUP: keeping the running configuration");
		return;
	}
	log_info("SIGHUP: log reopened");
	warn_restart_only(st->boot, g->cfg);
	warn_key_files(g->cfg);
	gen_slot_publish(st->gens, g);
	st->cur = g;
	register_endpoints(g->cfg);
	log_info("SIGHUP: configuration reloaded from %s", st->config_path);
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
			daemon_notify("RELOADING=1");
			daemon_reload(st);
			daemon_notify("READY=1");
		} else if (sig < 0 && errno != EAGAIN && errno != EINTR) {
			log_warn("sigtimedwait");
		}
		gen_slot_reap(st->gens);
		daemon_tick(st, clock_mono_s());
	}
}

/* Every connection costs a file descriptor, so the daemon takes all it may have: the
 * soft limit (systemd's default 1024) up to the hard one (524288). The connection limit
 * follows from the limit it ends up with (see http.c). */
static void
raise_fd_limit(void)
{
	unsigned long long before = 0, after = 0;

	if (fdlimit_raise(&before, &after) < 0)
		log_warn("file descriptors: cannot raise the soft limit %llu to the hard one",
			 before);
	else if (after != before)
		log_info("file descriptors: soft limit raised from %llu to %llu", before, after);
}

/* Blocks the signals the main loop waits for. Done before any thread exists (mail
 * worker, MHD's pool), so that every thread inherits the mask and only sigtimedwait
 * ever sees them. */
static int
block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	signal(SIGPIPE, SIG_IGN);
	return pthread_sigmask(SIG_BLOCK, set, NULL) == 0 ? 0 : 2;
}

/* Everything before the listeners: permissions, log, signals, database, first
 * generation. Returns 0 or an exit status. */
static int
daemon_prepare(struct daemon_state *st, sigset_t *set)
{
	int rc = check_config_file(st->config_path);

	if (rc)
		return rc;
	if (log_open(&st->boot->daemon.log) < 0) {
		log_warn("cannot open the configured log");
		return 1;
	}
	warn_key_files(st->boot);
	raise_fd_limit();
	if ((rc = block_signals(set)) != 0)
		return rc;
	auth_init(0);
	if ((rc = migrate_database(st->boot)) != 0)
		return rc;
	if (gen_new(st->boot, false, NULL, &st->cur) < 0)
		return 1;
	if (gen_slot_new(st->cur, &st->gens) < 0) {
		gen_abandon(st->cur, NULL);
		st->cur = NULL;
		return 2;
	}
	return 0;
}

static void
daemon_cleanup(struct daemon_state *st)
{
	/* After the listeners: a request in progress may still have queued a mail, which
	 * gets its drain when its generation goes. */
	gen_slot_free(st->gens);
	db_close(st->db);
	config_free(st->boot);
}

int
daemon_run(const char *config_path, struct config *cfg, bool debug)
{
	struct daemon_state st = {0};
	sigset_t set;
	int rc;

	st.config_path = config_path ? config_path : cfg->path;
	st.debug = debug;
	st.boot = cfg;
	cfg->database.require_write = true; /* a read-only connection is of no use here */
	if (debug)
		cfg->daemon.log.level = LOG_LVL_DEBUG;
	rc = daemon_prepare(&st, &set);
	if (rc)
		goto out;
	if (http_start(cfg, st.gens, &st.srv) < 0) {
		rc = 1;
		goto out;
	}
	metrics_start((int64_t)time(NULL));
	register_endpoints(cfg);
	log_info("ddns-service started");
	reconcile_start(&st);
	daemon_notify("READY=1\nSTATUS=serving");
	st.last_rl_cleanup = clock_mono_s();
	st.last_cache_purge = st.last_rl_cleanup;
	/* The first expiry pass runs on the first tick: records that went stale while the
	 * daemon was down are removed at once. */
	st.last_expiry = st.last_rl_cleanup - cfg->dns.cleanup_interval;
	main_loop(&st, &set);
	daemon_notify("STOPPING=1");
	reconcile_stop(&st);
	http_stop(st.srv, st.cur->cfg->dns.dns_timeout * 1000 + DAEMON_DRAIN_EXTRA_MS);
	log_info("ddns-service stopped");
	rc = 0;
out:
	daemon_cleanup(&st);
	return rc;
}
