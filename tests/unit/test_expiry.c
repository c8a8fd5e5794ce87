/* SPDX-License-Identifier: MIT */
/* The expiry pass (expiry_run) with a fake clock against a real SQLite database and a
 * real BIND on loopback (started through tests/integration/dnsserver.py, as test_dns
 * does): exact per-family deadlines, expiry_ttl 0, an update that wins over the pass, DNS
 * failures that leave hosts due, and the row the notify callback gets. */
#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <ldns/ldns.h>

#include "acme.h"
#include "config.h"
#include "db.h"
#include "dns.h"
#include "err.h"
#include "expiry.h"
#include "tap.h"
#include "update.h"

/* Our port range is 15300-15399; 15330-15339 belong to this test: BIND on the first
 * free one, the next free one stays closed (a DNS server that is down). */
#define PORT_FIRST 15330
#define PORT_LAST  15339
#define ZONE	   "dyn.test"
#define OWNER_MAIL "alice@example.com"
#define MAX_CALLS  8

static char workdir[] = "/tmp/test_expiry_XXXXXX";
static pid_t server_pid = -1;
static int server_stdin = -1;
static int bind_port = -1, closed_port = -1;
static char key_file[512], wrong_key_file[512];
static int db_no;

/* --- BIND, as test_dns starts it --------------------------------------------------------- */

static bool
port_free(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int types[] = {SOCK_DGRAM, SOCK_STREAM};
	bool free_ = true;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < 2 && free_; i++) {
		int fd = socket(AF_INET, types[i], 0);

		free_ = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		if (fd >= 0)
			close(fd);
	}
	return free_;
}

static int
next_free_port(int from)
{
	for (int p = from; p <= PORT_LAST; p++)
		if (port_free(p))
			return p;
	return -1;
}

/* The key files of ZONE from dnsserver.py's JSON line. */
static int
read_keys(const char *line)
{
	json_t *o = json_loads(line, 0, NULL);
	const char *k = json_string_value(json_object_get(json_object_get(o, "keys"), ZONE));
	const char *w = json_string_value(json_object_get(json_object_get(o, "wrong_keys"), ZONE));
	int rc = k && w ? 0 : -1;

	if (rc == 0) {
		snprintf(key_file, sizeof(key_file), "%s", k);
		snprintf(wrong_key_file, sizeof(wrong_key_file), "%s", w);
	}
	json_decref(o);
	return rc;
}

/* Starts `python3 dnsserver.py serve`; it stops named when our end of its stdin closes,
 * which also happens when this test crashes. Returns 0 once named answers. */
static int
server_start(const char *srcdir)
{
	const char *python = getenv("PYTHON") ? getenv("PYTHON") : "/usr/bin/python3";
	char script[4096], port[16], line[2048] = "";
	char *argv[] = {(char *)python, script, "serve",  "--workdir",	       workdir,
			"--port",	port,	"--zone", ZONE "=hmac-sha256", NULL};
	int in[2], out[2];
	FILE *f;

	snprintf(script, sizeof(script), "%s/tests/integration/dnsserver.py", srcdir);
	snprintf(port, sizeof(port), "%d", bind_port);
	if (pipe(in) != 0 || pipe(out) != 0 || (server_pid = fork()) < 0)
		return -1;
	if (server_pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[0]), close(in[1]), close(out[0]), close(out[1]);
		execv(python, argv);
		_exit(127);
	}
	close(in[0]), close(out[1]);
	server_stdin = in[1];
	f = fdopen(out[0], "r");
	if (f == NULL || fgets(line, sizeof(line), f) == NULL ||
	    strncmp(line, "{\"port\"", 7) != 0 || read_keys(line) != 0) {
		diag("dnsserver.py: %s", line[0] ? line : "no output");
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	return 0;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void
cleanup(void)
{
	if (server_stdin >= 0)
		close(server_stdin);
	if (server_pid > 0)
		waitpid(server_pid, NULL, 0);
	server_stdin = -1;
	server_pid = -1;
	if (getenv("DDNS_TEST_KEEP") == NULL)
		nftw(workdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The records of name/type as BIND has them, space-separated ("" for none), asked
 * over TCP so that no cache or retry gets in the way. */
static const char *
lookup(const char *name, ldns_rr_type type, char *out, size_t len)
{
	ldns_resolver *r = ldns_resolver_new();
	ldns_rdf *ns = ldns_rdf_new_frm_str(LDNS_RDF_TYPE_A, "127.0.0.1");
	ldns_rdf *qname = ldns_dname_new_frm_str(name);
	ldns_pkt *p = NULL;
	ldns_rr_list *l = NULL;
	size_t n = 0;

	snprintf(out, len, "(no answer)");
	ldns_resolver_push_nameserver(r, ns);
	ldns_resolver_set_port(r, (uint16_t)bind_port);
	ldns_resolver_set_recursive(r, false);
	ldns_resolver_set_usevc(r, true);
	ldns_resolver_set_timeout(r, (struct timeval){2, 0});
	if ((p = ldns_resolver_query(r, qname, type, LDNS_RR_CLASS_IN, 0)) != NULL) {
		out[0] = '\0';
		l = ldns_pkt_rr_list_by_type(p, type, LDNS_SECTION_ANSWER);
	}
	for (size_t i = 0; l && i < ldns_rr_list_rr_count(l); i++) {
		char *s = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(l, i), 0));

		if (s && n < len)
			n += (size_t)snprintf(out + n, len - n, "%s%s", n ? " " : "", s);
		free(s);
	}
	ldns_rr_list_deep_free(l);
	ldns_pkt_free(p);
	ldns_rdf_deep_free(qname);
	ldns_rdf_deep_free(ns);
	ldns_resolver_deep_free(r);
	return out;
}

static const char *
dns_a(const char *fqdn)
{
	static char buf[256];

	return lookup(fqdn, LDNS_RR_TYPE_A, buf, sizeof(buf));
}

static const char *
dns_aaaa(const char *fqdn)
{
	static char buf[256];

	return lookup(fqdn, LDNS_RR_TYPE_AAAA, buf, sizeof(buf));
}

/* --- the daemon's side: configuration, database, hosts, updates -------------------------- */

/* A configuration as config.toml would give it: the SQLite file `path`, the DNS server on
 * loopback at `port`, `key` for ZONE, a one-second DNS timeout. NULL on failure. */
static struct config *
make_config(const char *path, int port, const char *key)
{
	struct config_error err;
	struct config *cfg = NULL;
	char text[2048];

	snprintf(text, sizeof(text),
		 "[database]\npath = \"%s\"\n"
		 "[dns_service]\ndns_server = \"127.0.0.1\"\ndns_port = %d\ndns_timeout = 1\n"
		 "[dns_service.zone_keys]\n\"" ZONE "\" = \"%s\"\n",
		 path, port, key);
	if (config_parse(text, strlen(text), "test_expiry.toml", &cfg, &err) != 0)
		diag("%s", err.msg);
	return cfg;
}

/* What the notify callback saw; `refresh_*` makes it act as a concurrent update. */
struct calls {
	int n;
	struct db_host rows[MAX_CALLS];
	int families[MAX_CALLS];
	struct db *refresh_db; /* when set: the first call refreshes this host's v4 */
	int64_t refresh_id, refresh_at;
};

static void
on_expired(void *arg, const struct db_host *h, int families)
{
	struct calls *c = arg;

	if (c->n < MAX_CALLS) {
		c->rows[c->n] = *h;
		c->families[c->n] = families;
	}
	if (c->n++ == 0 && c->refresh_db != NULL)
		ok(db_host_touch(c->refresh_db, c->refresh_id, DB_V4, c->refresh_at) == 0,
		   "a nochg refreshes the next host while the pass runs");
}

/* One test's world: a fresh database with the owner alice, the good configuration. */
struct fixture {
	char path[256];
	struct config *cfg;
	struct db *db;
	struct calls calls;
};

static int
fixture_open(struct fixture *f)
{
	struct db_user u = {.name = "alice", .email = OWNER_MAIL, .pw_hash = "$argon2id$x"};

	memset(f, 0, sizeof(*f));
	snprintf(f->path, sizeof(f->path), "%s/db%d.sqlite", workdir, db_no++);
	f->cfg = make_config(f->path, bind_port, key_file);
	if (f->cfg == NULL || db_open(f->cfg, &f->db) != 0 || db_user_add(f->db, &u) != 0) {
		ok(0, "database %s", f->path);
		return -1;
	}
	return 0;
}

static void
fixture_close(struct fixture *f)
{
	db_close(f->db);
	config_free(f->cfg);
}

static int
add_host(struct fixture *f, const char *name, int expiry_ttl)
{
	struct db_host h = {.owner = "alice", .zone = ZONE, .dns_ttl = 60};

	snprintf(h.hostname, sizeof(h.hostname), "%s", name);
	h.expiry_ttl = expiry_ttl;
	return db_host_add(f->db, &h);
}

/* A good update as the service makes it: DNS first, then the row, at time `t`. */
static int
publish(struct fixture *f, const char *fqdn, const char *v4, const char *v6, int64_t t)
{
	struct db_host h;
	struct dns_server srv;
	struct dns_change ch;
	struct dns_result res;
	const struct tsig_key *key;

	if (db_host_get(f->db, fqdn, &h) != 0)
		return -1;
	update_host_change(&h, &ch);
	if (v4) {
		ch.v4 = DNS_SET;
		snprintf(ch.ipv4, sizeof(ch.ipv4), "%s", v4);
	}
	if (v6) {
		ch.v6 = DNS_SET;
		snprintf(ch.ipv6, sizeof(ch.ipv6), "%s", v6);
	}
	key = config_dns_server(f->cfg, h.zone, &srv);
	if (dns_update(&srv, key, &ch, &res) != 0) {
		diag("publish %s: %s", fqdn, res.msg);
		return -1;
	}
	return db_host_set_addr(f->db, h.id, (v4 ? DB_V4 : 0) | (v6 ? DB_V6 : 0), v4, v6, t);
}

/* One pass at `now` with configuration `cfg` (the fixture's when NULL); its report
 * lines go to `report`. Returns expiry_run's result. */
static int
pass(struct fixture *f, const struct config *cfg, int64_t now, struct expiry_stats *st,
     char *report, size_t len)
{
	char *text = NULL;
	size_t n = 0;
	FILE *out = open_memstream(&text, &n);
	int rc = expiry_run(cfg ? cfg : f->cfg, f->db, now, on_expired, &f->calls, out, st);

	if (out)
		fclose(out);
	snprintf(report, len, "%s", text ? text : "(no report)");
	free(text);
	return rc;
}

static bool
is_due(struct fixture *f, int64_t now, size_t want)
{
	struct db_host *rows = NULL;
	size_t len = 0;
	bool res = db_host_due(f->db, now, 100, &rows, &len) == 0 && len == want;

	free(rows);
	return res;
}

/* --- the tests -------------------------------------------------------------------------- */

/* Each family on its own clock, due exactly at updated + expiry_ttl. */
static void
test_deadlines(void)
{
	static const struct {
		int64_t now;
		int expired;	      /* families this pass expires */
		const char *a, *aaaa; /* in DNS after it */
		const char *report;
	} steps[] = {
		{1599, 0, "192.0.2.10", "2001:db8::10", ""},
		{1600, DB_V4, "", "2001:db8::10", "expired a." ZONE " A\n"},
		{1699, 0, "", "2001:db8::10", ""},
		{1700, DB_V6, "", "", "expired a." ZONE " AAAA\n"},
		{999999, 0, "", "", ""},
	};
	struct fixture f;
	struct expiry_stats st;
	char report[256], name[64], name2[64];

	if (fixture_open(&f) != 0)
		return;
	ok(add_host(&f, "a", 600) == 0 && publish(&f, "a." ZONE, "192.0.2.10", NULL, 1000) == 0 &&
		   publish(&f, "a." ZONE, NULL, "2001:db8::10", 1100) == 0,
	   "a: A at 1000, AAAA at 1100, expiry_ttl 600");
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		int before = f.calls.n;

		snprintf(name, sizeof(name), "pass at %lld", (long long)steps[i].now);
		snprintf(name2, sizeof(name2), "hosts expired at %lld", (long long)steps[i].now);
		is_int(pass(&f, NULL, steps[i].now, &st, report, sizeof(report)), 0, name);
		is_int(st.hosts_expired, steps[i].expired ? 1 : 0, name2);
		is_int(f.calls.n - before, steps[i].expired ? 1 : 0, "notified once per expiry");
		if (steps[i].expired && f.calls.n > before)
			is_int(f.calls.families[before], steps[i].expired, "the expired families");
		is_str(dns_a("a." ZONE), steps[i].a, "A in DNS after the pass");
		is_str(dns_aaaa("a." ZONE), steps[i].aaaa, "AAAA in DNS after the pass");
		is_str(report, steps[i].report, "report line");
	}
	fixture_close(&f);
}

/* The callback gets the row as it was before the pass, with the owner's e-mail. */
static void
test_notified_row(void)
{
	struct fixture f;
	struct expiry_stats st;
	struct db_host got;
	char report[256];

	if (fixture_open(&f) != 0)
		return;
	ok(add_host(&f, "m", 3600) == 0 &&
		   publish(&f, "m." ZONE, "192.0.2.20", "2001:db8::20", 5000) == 0,
	   "m: both families at 5000, expiry_ttl 3600");
	is_int(pass(&f, NULL, 8600, &st, report, sizeof(report)), 0, "pass at the deadline");
	is_int(f.calls.n, 1, "one call for the host");
	if (f.calls.n == 1) {
		const struct db_host *h = &f.calls.rows[0];

		is_int(f.calls.families[0], DB_V4 | DB_V6, "both families in one call");
		is_str(h->fqdn, "m." ZONE, "the host's row");
		is_str(h->owner, "alice", "its owner");
		is_str(h->owner_email, OWNER_MAIL, "the owner's e-mail comes with the row");
		is_str(h->v4.ip, "192.0.2.20", "the last A address");
		is_str(h->v6.ip, "2001:db8::20", "the last AAAA address");
		is_int(h->v4.updated, 5000, "the last update time");
		ok(!h->v4.expired && !h->v6.expired, "the row as it was before the pass");
	}
	is_int(db_host_get(f.db, "m." ZONE, &got), 0, "row after the pass");
	ok(got.v4.expired && got.v6.expired, "both families marked expired");
	is_str(got.v4.ip, "192.0.2.20", "the row keeps the last address");
	is_str(report, "expired m." ZONE " A+AAAA\n", "one report line");
	fixture_close(&f);
}

/* expiry_ttl 0 never expires; a host never published has nothing to expire. */
static void
test_never(void)
{
	struct fixture f;
	struct expiry_stats st;
	char report[256];

	if (fixture_open(&f) != 0)
		return;
	ok(add_host(&f, "z", 0) == 0 && add_host(&f, "empty", 60) == 0 &&
		   publish(&f, "z." ZONE, "192.0.2.30", "2001:db8::30", 1) == 0,
	   "z: expiry_ttl 0, published at 1; empty: never published");
	ok(is_due(&f, 4000000000LL, 0), "nothing is due, ever");
	is_int(pass(&f, NULL, 4000000000LL, &st, report, sizeof(report)), 0, "pass far ahead");
	ok(st.hosts_due == 0 && st.hosts_expired == 0 && f.calls.n == 0, "nothing expired");
	is_str(dns_a("z." ZONE), "192.0.2.30", "A stays in DNS");
	is_str(dns_aaaa("z." ZONE), "2001:db8::30", "AAAA stays in DNS");
	is_str(report, "", "nothing reported");
	fixture_close(&f);
}

/* An update of a due host between the due query and its turn in the pass wins: the
 * pass re-reads the row under the host's lock and leaves it alone. */
static void
test_refresh_wins(void)
{
	struct fixture f;
	struct expiry_stats st;
	struct db *other = NULL;
	struct db_host r2;
	char report[256];

	if (fixture_open(&f) != 0)
		return;
	ok(add_host(&f, "r1", 600) == 0 && add_host(&f, "r2", 600) == 0 &&
		   publish(&f, "r1." ZONE, "192.0.2.41", NULL, 1000) == 0 &&
		   publish(&f, "r2." ZONE, "192.0.2.42", NULL, 1000) == 0 &&
		   db_host_get(f.db, "r2." ZONE, &r2) == 0 && db_open(f.cfg, &other) == 0,
	   "r1 and r2 due at 1600; a second connection for the update");
	f.calls.refresh_db = other;
	f.calls.refresh_id = r2.id;
	f.calls.refresh_at = 1600;
	is_int(pass(&f, NULL, 1600, &st, report, sizeof(report)), 0, "pass at 1600");
	is_int(st.hosts_due, 2, "both were due when the pass read them");
	is_int(st.hosts_expired, 1, "only r1 expired");
	is_int(f.calls.n, 1, "only r1 notified");
	is_str(dns_a("r1." ZONE), "", "r1 deleted from DNS");
	is_str(dns_a("r2." ZONE), "192.0.2.42", "the refreshed r2 stays in DNS");
	is_int(db_host_get(f.db, "r2." ZONE, &r2), 0, "r2 row");
	ok(!r2.v4.expired && r2.v4.updated == 1600, "r2 live, refreshed at 1600");
	f.calls.refresh_db = NULL;
	is_int(pass(&f, NULL, 2199, &st, report, sizeof(report)), 0, "pass at 2199");
	is_int(st.hosts_expired, 0, "r2 is not due before its new deadline");
	is_int(pass(&f, NULL, 2200, &st, report, sizeof(report)), 0, "pass at 2200");
	is_str(report, "expired r2." ZONE " A\n", "r2 expires at its new deadline");
	db_close(other);
	fixture_close(&f);
}

/* A DNS server that refuses the delete or does not answer: nothing is marked, nobody is
 * mailed, and the hosts stay due until a pass gets NOERROR. */
static void
test_dns_failure(void)
{
	struct fixture f;
	struct expiry_stats st;
	struct config *down = NULL, *wrong = NULL;
	char report[256];

	if (fixture_open(&f) != 0)
		return;
	down = make_config(f.path, closed_port, key_file);
	wrong = make_config(f.path, bind_port, wrong_key_file);
	ok(down && wrong && add_host(&f, "f1", 600) == 0 && add_host(&f, "f2", 600) == 0 &&
		   publish(&f, "f1." ZONE, "192.0.2.51", NULL, 1000) == 0 &&
		   publish(&f, "f2." ZONE, "192.0.2.52", NULL, 1000) == 0,
	   "f1 and f2 due at 1600; a server that is down and a key it refuses");
	is_int(pass(&f, down, 1600, &st, report, sizeof(report)), 0, "pass with the server down");
	is_int(st.dns_failures, 1, "the pass stops at the first host (no answer)");
	ok(st.hosts_expired == 0 && f.calls.n == 0, "nothing expired, nobody notified");
	ok(is_due(&f, 1600, 2), "both still due");
	is_int(pass(&f, wrong, 1600, &st, report, sizeof(report)), 0, "pass with a refused key");
	is_int(st.dns_failures, 2, "each refused delete counted, the pass goes on");
	ok(st.hosts_expired == 0 && f.calls.n == 0, "still nothing expired");
	ok(is_due(&f, 1600, 2), "both still due");
	is_str(dns_a("f1." ZONE), "192.0.2.51", "f1 still in DNS");
	is_int(pass(&f, NULL, 1601, &st, report, sizeof(report)), 0, "pass once DNS works");
	ok(st.hosts_expired == 2 && st.dns_failures == 0 && f.calls.n == 2, "both expired");
	is_str(dns_a("f1." ZONE), "", "f1 deleted");
	is_str(dns_a("f2." ZONE), "", "f2 deleted");
	ok(is_due(&f, 99999, 0), "nothing due any more");
	config_free(down);
	config_free(wrong);
	fixture_close(&f);
}

/* The TXT records of the ACME challenge name of `host` in ZONE. */
static const char *
dns_txt(const char *host)
{
	static char buf[512];
	char name[300];

	snprintf(name, sizeof(name), "_acme-challenge.%s." ZONE ".", host);
	return lookup(name, LDNS_RR_TYPE_TXT, buf, sizeof(buf));
}

/* A present as the ACME service makes it: the TXT value in DNS, then its record at `t`. */
static int
present(struct fixture *f, const char *fqdn, const char *value, int64_t t)
{
	struct db_host h;
	struct dns_server srv;
	struct dns_change ch;
	struct dns_result res;
	const struct tsig_key *key;

	if (db_host_get(f->db, fqdn, &h) != 0 ||
	    acme_txt_change(h.fqdn, h.zone, DNS_TXT_ADD, value, 60, &ch) != 0)
		return -1;
	key = config_dns_server(f->cfg, h.zone, &srv);
	if (dns_update(&srv, key, &ch, &res) != 0) {
		diag("present %s: %s", fqdn, res.msg);
		return -1;
	}
	return db_acme_add(f->db, h.id, value, t);
}

static int64_t
values_of(struct fixture *f, const char *fqdn)
{
	int64_t n = -1;
	struct db_host h;

	if (db_host_get(f->db, fqdn, &h) == 0)
		(void)db_acme_count(f->db, h.id, &n);
	return n;
}

/* Challenge values older than max_age (3600 by default) leave DNS and the database,
 * each on its own clock, only when DNS took the delete; a renewed value stays. */
static void
test_acme_values(void)
{
	struct fixture f;
	struct expiry_stats st;
	struct config *down = NULL;
	char report[256];

	if (fixture_open(&f) != 0)
		return;
	down = make_config(f.path, closed_port, key_file);
	ok(down && add_host(&f, "web", 0) == 0 && present(&f, "web." ZONE, "v-one", 1000) == 0 &&
		   present(&f, "web." ZONE, "v-two", 2000) == 0,
	   "two values of a host that never expires, presented at 1000 and 2000");
	ok(strstr(dns_txt("web"), "v-one") && strstr(dns_txt("web"), "v-two"), "both in DNS");
	is_int(pass(&f, NULL, 4599, &st, report, sizeof(report)), 0, "pass at 4599");
	ok(st.acme_expired == 0 && values_of(&f, "web." ZONE) == 2, "a second early: both stay");
	is_int(pass(&f, down, 4600, &st, report, sizeof(report)), 0, "pass with DNS down");
	ok(st.acme_expired == 0 && st.dns_failures == 1 && values_of(&f, "web." ZONE) == 2,
	   "DNS down: the value stays recorded");
	is_int(pass(&f, NULL, 4600, &st, report, sizeof(report)), 0, "pass at 4600");
	is_int(st.acme_expired, 1, "the first value expired");
	is_str(report, "expired _acme-challenge.web.dyn.test TXT\n", "the report line");
	is_str(dns_txt("web"), "\"v-two\"", "only the second value is left in DNS");
	is_int(values_of(&f, "web." ZONE), 1, "and in the database");
	ok(present(&f, "web." ZONE, "v-two", 3000) == 0,
	   "the second value presented again at 3000");
	is_int(pass(&f, NULL, 5600, &st, report, sizeof(report)), 0, "pass at 5600");
	ok(st.acme_expired == 0 && values_of(&f, "web." ZONE) == 1, "the renewed value stays");
	is_int(pass(&f, NULL, 6600, &st, report, sizeof(report)), 0, "pass at 6600");
	ok(st.acme_expired == 1 && values_of(&f, "web." ZONE) == 0, "then it expires too");
	is_str(dns_txt("web"), "", "nothing left in DNS");
	config_free(down);
	fixture_close(&f);
}

int
main(void)
{
	const char *srcdir = getenv("DDNS_TEST_SRCDIR");

	if (srcdir == NULL || access("/usr/sbin/named", X_OK) != 0) {
		printf("1..0 # SKIP needs DDNS_TEST_SRCDIR and /usr/sbin/named\n");
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	bind_port = next_free_port(PORT_FIRST);
	closed_port = bind_port < 0 ? -1 : next_free_port(bind_port + 1);
	if (closed_port < 0 || mkdtemp(workdir) == NULL || server_start(srcdir) != 0) {
		ok(0, "BIND started on a free port of %d-%d", PORT_FIRST, PORT_LAST);
		cleanup();
		return tap_done();
	}
	atexit(cleanup);
	test_deadlines();
	test_notified_row();
	test_never();
	test_refresh_wins();
	test_dns_failure();
	test_acme_values();
	return tap_done();
}
