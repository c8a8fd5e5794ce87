/* SPDX-License-Identifier: MIT */
/* Unit tests of the HTTP front's pure helpers (Accept parsing, password masking in the
 * request log) and of service_handle against a real SQLite database, without network. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"

#include "auth.h"
#include "db.h"
#include "err.h"
#include "http.h"
#include "ratelimit.h"
#include "service.h"

static void
test_accept(void)
{
	ok(!http_accepts_json(NULL), "no Accept header: text");
	ok(!http_accepts_json("*/*"), "*/*: text (the DynDNS default)");
	ok(http_accepts_json("application/json"), "application/json");
	ok(http_accepts_json("text/html, Application/JSON;q=0.9"), "in a list, any case, q>0");
	ok(http_accepts_json(" application/json ; charset=utf-8"), "with parameters and spaces");
	ok(!http_accepts_json("application/json;q=0"), "q=0 means not acceptable");
	ok(!http_accepts_json("application/jsonx, text/plain"), "a longer type is not json");
	ok(!http_accepts_json("text/plain;x=application/json"), "inside a parameter is not json");
}

static char *pw_aliases[] = {"password", "pass", "token"};
static char *pw_aliases2[] = {"secret"};

static char *host_aliases[] = {"hostname", "host"};
static char *v4_aliases[] = {"myip"};
static char *v6_aliases[] = {"myip6"};
static char *user_aliases[] = {"username"};

/* What one parameter looks like in the log line of a request to `ep`. */
static const char *
logged(const struct config_endpoint *ep, const char *key, const char *value, unsigned *hidden)
{
	static char text[512];
	struct buf b;

	buf_init(&b, 400);
	*hidden = 0;
	if (http_log_param(ep, key, value, &b, hidden) != 0)
		snprintf(text, sizeof(text), "(error)");
	else
		snprintf(text, sizeof(text), "%s", buf_str(&b));
	buf_free(&b);
	return text;
}

static void
test_log_filter(void)
{
	struct config_endpoint ep;
	unsigned hidden = 0;
	struct buf b;
	char longv[400];

	memset(&ep, 0, sizeof(ep));
	ep.path = "/update";
	ep.params[PARAM_HOSTNAME] = (struct config_strlist){host_aliases, 2};
	ep.params[PARAM_IPV4] = (struct config_strlist){v4_aliases, 1};
	ep.params[PARAM_IPV6] = (struct config_strlist){v6_aliases, 1};
	ep.params[PARAM_USERNAME] = (struct config_strlist){user_aliases, 1};
	ep.params[PARAM_PASSWORD] = (struct config_strlist){pw_aliases, 3};

	is_str(logged(&ep, "HOST", "h.dyn.example.com", &hidden), "HOST=h.dyn.example.com",
	       "a hostname alias (any case) is shown");
	is_str(logged(&ep, "myip", "192.0.2.1,2001:db8::1/64", &hidden),
	       "myip=192.0.2.1,2001:db8::1/64", "an address list is shown");
	is_str(logged(&ep, "offline", "1", &hidden), "offline=1", "offline is shown");
	is_str(logged(&ep, "hostname", "x;password=hunter2", &hidden), "hostname=x...",
	       "a value is cut at a byte no host name has");
	is_str(logged(&ep, "hostname", "x&password=hunter2", &hidden), "hostname=x...",
	       "also at a decoded &");
	is_str(logged(&ep, "hostname", "caf\xc3\xa9.example", &hidden),
	       "hostname=caf\xc3\xa9.example", "UTF-8 stays (the log module escapes what is not)");
	is_str(logged(&ep, "myip6", NULL, &hidden), "myip6", "a bare harmless key");
	for (size_t i = 0; i < 6; i++) {
		static const char *const secret[][2] = {
			{"pass", "hunter2"},	  {"password", "hunter2"},   {"passwd", "hunter2"},
			{"pass word", "hunter2"}, {"passwordhunter2", NULL}, {"username", "alice"}};

		is_str(logged(&ep, secret[i][0], secret[i][1], &hidden), "", "not shown");
		is_int((int)hidden, 1, "but counted");
	}
	is_str(logged(NULL, "hostname", "h.dyn.example.com", &hidden), "",
	       "nothing is harmless on an unknown path");
	memset(longv, 'a', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = '\0';
	ok(strlen(logged(&ep, "host", longv, &hidden)) == 5 + HTTP_LOG_VALUE_MAX + 3,
	   "a long value is cut at HTTP_LOG_VALUE_MAX");

	buf_init(&b, 16);
	ok(http_log_param(&ep, "hostname", "a-very-long-host-name.example.com", &b, &hidden) ==
		   ERR_TOOBIG,
	   "the log query is bounded");
	buf_free(&b);

	buf_init(&b, 256);
	http_log_path(&ep, "/update", &b);
	http_log_path(NULL, "/update?password=hunter2", &b);
	is_str(buf_str(&b), "/update/update...", "an unknown path is cut at the decoded ?");
	buf_free(&b);
}

static void
test_target(void)
{
	char many[HTTP_MAX_PARAMS * 4 + 16] = "/update?a=1";

	is_int((int)http_target_status("/update?hostname=h.example&myip=1.2.3.4"), 0,
	       "an ordinary target");
	is_int((int)http_target_status("/update"), 0, "no query");
	is_int((int)http_target_status("/update?password=pw%00junk"), 400, "%00 in a value");
	is_int((int)http_target_status("/upd%00ate"), 400, "%00 in the path");
	is_int((int)http_target_status("/update?x=%2500"), 0, "an encoded % before 00 is no NUL");
	for (int i = 1; i < HTTP_MAX_PARAMS; i++)
		strncat(many, "&a=1", sizeof(many) - strlen(many) - 1);
	is_int((int)http_target_status(many), 0, "HTTP_MAX_PARAMS parameters");
	strncat(many, "&", sizeof(many) - strlen(many) - 1);
	is_int((int)http_target_status(many), 414, "one more, even empty: 414");
}

static void
test_flags(void)
{
	ok(service_flag_is_true("1") && service_flag_is_true("TRUE") && service_flag_is_true("yes"),
	   "notify_change accepts 1/true/yes");
	ok(!service_flag_is_true("0") && !service_flag_is_true("") && !service_flag_is_true(NULL),
	   "notify_change: 0, empty and absent are false");
	ok(service_flag_is_true("YES") && !service_flag_is_true("NO") &&
		   !service_flag_is_true("NOCHG"),
	   "offline: Dyn's YES; NO and anything else are a normal update");
}

/* A request as http.c builds it, from 192.0.2.99. */
static void
req_init(struct service_request *r, const char *user, const char *pw, const char *host,
	 const char *ip)
{
	memset(r, 0, sizeof(*r));
	r->user = user;
	r->password = pw;
	r->hostname = host;
	r->ipv4 = ip;
	addr_parse("192.0.2.99", &r->client);
	r->now = 1700000000;
	r->mono = 1000;
}

static void
expect(const struct service_ctx *ctx, struct service_request *r, const char *body, const char *name)
{
	struct service_reply rep;

	if (service_handle(ctx, r, &rep) < 0) {
		ok(0, "%s: service_handle failed", name);
		return;
	}
	is_str(rep.body, body, name);
	service_reply_free(&rep);
}

/* Credentials: none gets the challenge, a wrong password a counted badauth. */
static void
test_service_auth(const struct service_ctx *ctx)
{
	struct service_request r;
	struct service_reply rep;

	req_init(&r, NULL, NULL, "h.dyn.example.com", "192.0.2.1");
	ok(service_handle(ctx, &r, &rep) == 0 && rep.http_status == 401 && rep.challenge &&
		   strcmp(rep.body, "badauth\n") == 0 && rep.count == SERVICE_COUNT_NONE,
	   "no credentials: 401 with a challenge, not counted as bad");
	service_reply_free(&rep);

	req_init(&r, NULL, NULL, "h.dyn.example.com", "192.0.2.1");
	r.bad_authorization = true;
	ok(service_handle(ctx, &r, &rep) == 0 && rep.http_status == 401 && rep.challenge &&
		   strcmp(rep.body, "badauth\n") == 0 && rep.count == SERVICE_COUNT_BAD,
	   "an unusable Authorization header: 401 with a challenge, counted as bad");
	service_reply_free(&rep);

	req_init(&r, "alice", "wrong", "h.dyn.example.com", "192.0.2.1");
	ok(service_handle(ctx, &r, &rep) == 0 && rep.http_status == 200 && !rep.challenge &&
		   strcmp(rep.body, "badauth\n") == 0 && rep.count == SERVICE_COUNT_BAD,
	   "wrong password: 200 badauth, counted as bad");
	service_reply_free(&rep);
}

/* The per-host result lines and the request-wide ones (numhost, badip), text and JSON. */
static void
test_service_results(const struct service_ctx *ctx)
{
	struct service_request r;
	char many[21 * 4 + 1] = "";

	req_init(&r, "alice", "pw-alice", "h.dyn.example.com,x,bob.dyn.example.com", "192.0.2.1");
	r.hostname = "nothere.dyn.example.com,x,bob.dyn.example.com";
	expect(ctx, &r, "nohost\nnotfqdn\nnohost\n",
	       "one line per host: unknown, invalid, another user's");

	for (int i = 0; i < 21; i++)
		strncat(many, i ? ",a.b" : "a.b", sizeof(many) - strlen(many) - 1);
	req_init(&r, "alice", "pw-alice", many, NULL);
	expect(ctx, &r, "numhost\n", "21 hosts: one numhost line");

	req_init(&r, "alice", "pw-alice", "h.dyn.example.com", "not-an-ip");
	expect(ctx, &r, "badip\n", "an address that is not one: badip");

	req_init(&r, "alice", "pw-alice", "x,nothere.dyn.example.com", NULL);
	r.want_json = true;
	expect(ctx, &r,
	       "[{\"status\":\"notfqdn\",\"ipv4\":null,\"ipv6\":null,\"hostname\":\"\"},"
	       "{\"status\":\"nohost\",\"ipv4\":null,\"ipv6\":null,\"hostname\":\"nothere.dyn."
	       "example.com\"}]\n",
	       "JSON for several hosts: a list");
}

/* Rate limit: two bad requests allowed, the third is abuse without a password check. */
static void
test_service_ratelimit(const struct service_ctx *base)
{
	struct ratelimit_config rlc = {true, 60, 100, 60, 100, 0};
	struct ratelimit *rl = NULL;
	struct service_ctx ctx = *base;
	struct service_request r;

	rlc.bad_max_requests = 2;
	ok(ratelimit_new(&rlc, &rl) == 0, "rate limiter");
	ctx.rl = rl;
	req_init(&r, "nobody", "x", "h.dyn.example.com", NULL);
	expect(&ctx, &r, "badauth\n", "unknown user: badauth (1st bad)");
	expect(&ctx, &r, "badauth\n", "unknown user: badauth (2nd bad)");
	req_init(&r, "alice", "pw-alice", "h.dyn.example.com", NULL);
	r.want_json = true;
	expect(&ctx, &r, "{\"status\":\"abuse\",\"ipv4\":null,\"ipv6\":null}\n",
	       "over the bad limit: abuse, even with the right password");
	r.mono += 61;
	r.ipv4 = "bogus";
	r.want_json = false;
	expect(&ctx, &r, "badip\n", "after the window: served again");
	ratelimit_free(rl);
}

/* A request without hostname means the account's only host; offline=YES with nothing
 * published is nochg; a network without identifier and (on a public service) a
 * local-only address are badip. None of these needs DNS. */
static void
test_service_routers(const struct service_ctx *base)
{
	struct config cfg = *base->cfg;
	struct service_ctx ctx = *base;
	struct service_request r;

	req_init(&r, "bob", "pw-bob", NULL, NULL);
	r.offline = true;
	expect(&ctx, &r, "nochg\n",
	       "no hostname, one host: that host (offline, nothing published)");
	r.hostname = " , ";
	expect(&ctx, &r, "nochg\n", "an empty hostname list is no hostname");
	r.hostname = "h.dyn.example.com";
	expect(&ctx, &r, "nohost\n", "offline for another user's host: nohost");
	req_init(&r, "carol", "pw-carol", NULL, "192.0.2.1");
	expect(&ctx, &r, "notfqdn\n", "no hostname, no host: notfqdn");
	req_init(&r, "dave", "pw-dave", "", "192.0.2.1");
	expect(&ctx, &r, "notfqdn\n", "no hostname, two hosts: notfqdn");
	req_init(&r, "alice", "pw-alice", NULL, NULL);
	r.ipv6 = "2001:db8:1:2::/64";
	expect(&ctx, &r, "badip\n", "a network and no identifier: badip");

	cfg.daemon.allow_private_addresses = false;
	ctx.cfg = &cfg;
	req_init(&r, "alice", "pw-alice", "h.dyn.example.com", "10.1.2.3");
	expect(&ctx, &r, "badip\n", "public service: a private address is badip");
	r.ipv4 = NULL;
	expect(&ctx, &r, "badip\n", "public service: a documentation client address is badip");
}

static void
test_service(struct config *cfg, struct db *db)
{
	struct service_ctx ctx = {.cfg = cfg, .db = db};
	struct service_request r;

	test_service_auth(&ctx);
	test_service_results(&ctx);
	test_service_routers(&ctx);
	test_service_ratelimit(&ctx);

	ctx.db = NULL;
	req_init(&r, "alice", "pw-alice", "h.dyn.example.com", NULL);
	expect(&ctx, &r, "911\n", "no database connection: 911");
}

static int
add_user(struct db *db, const char *name, const char *pw)
{
	struct db_user u;

	memset(&u, 0, sizeof(u));
	snprintf(u.name, sizeof(u.name), "%s", name);
	snprintf(u.email, sizeof(u.email), "%s@example.com", name);
	if (auth_hash(pw, u.pw_hash, sizeof(u.pw_hash)) < 0)
		return -1;
	return db_user_add(db, &u);
}

static int
add_host(struct db *db, const char *user, const char *host)
{
	struct db_host h;
	struct db_user u;

	if (db_user_get(db, user, &u) < 0)
		return -1;
	memset(&h, 0, sizeof(h));
	h.user_id = u.id;
	snprintf(h.owner, sizeof(h.owner), "%s", user);
	snprintf(h.hostname, sizeof(h.hostname), "%s", host);
	snprintf(h.zone, sizeof(h.zone), "dyn.example.com");
	snprintf(h.fqdn, sizeof(h.fqdn), "%s.dyn.example.com", host);
	h.dns_ttl = 60;
	h.expiry_ttl = 3600;
	return db_host_add(db, &h);
}

int
main(void)
{
	struct config cfg;
	struct config_endpoint eps[2];
	char dir[] = "/tmp/test_http.XXXXXX";
	char path[64];
	struct db *db = NULL;

	memset(&cfg, 0, sizeof(cfg));
	memset(eps, 0, sizeof(eps));
	eps[0].path = "/update";
	eps[0].params[PARAM_PASSWORD].items = pw_aliases;
	eps[0].params[PARAM_PASSWORD].len = 3;
	eps[1].path = "/nic/update";
	eps[1].params[PARAM_PASSWORD].items = pw_aliases2;
	eps[1].params[PARAM_PASSWORD].len = 1;
	cfg.endpoints = eps;
	cfg.endpoints_len = 2;

	test_accept();
	test_log_filter();
	test_target();
	test_flags();

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/t.db", dir);
	cfg.database.backend = DB_BACKEND_SQLITE;
	cfg.database.path = path;
	cfg.dns.dns_server = "127.0.0.1";
	cfg.dns.dns_port = 9; /* nothing listens: a DNS write would fail, none may happen */
	cfg.dns.dns_timeout = 1;
	cfg.rate_limit.enabled = true;
	cfg.daemon.allow_private_addresses = true; /* the default */
	auth_init(0);
	ok(db_open(&cfg, &db) == 0, "sqlite database");
	if (db) {
		ok(add_user(db, "alice", "pw-alice") == 0 && add_user(db, "bob", "pw-bob") == 0 &&
			   add_user(db, "carol", "pw-carol") == 0 &&
			   add_user(db, "dave", "pw-dave") == 0,
		   "users");
		ok(add_host(db, "alice", "h") == 0 && add_host(db, "bob", "bob") == 0 &&
			   add_host(db, "dave", "d1") == 0 && add_host(db, "dave", "d2") == 0,
		   "hosts");
		test_service(&cfg, db);
		db_close(db);
	}
	unlink(path);
	rmdir(dir);
	return tap_done();
}
