/* SPDX-License-Identifier: MIT */
/* Unit tests of update.c: IP detection, host splitting, the per-host decision, result formats. */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "update.h"
#include "tap.h"

static const char *
fmt(const struct addr *a)
{
	static char buf[2][ADDR_STRLEN];
	static int which;

	return addr_format(a, buf[which++ % 2], ADDR_STRLEN);
}

/* One detection case of SPEC §5. want4/want6 NULL = family absent. */
struct detect_case {
	const char *v4, *v6, *client;
	int rc;
	const char *want4, *want6, *name;
};

static void
run_detect(const struct detect_case *t, size_t n)
{
	struct update_addrs out;
	struct addr client;

	for (size_t i = 0; i < n; i++) {
		const struct addr *c = NULL;
		int rc;

		if (t[i].client) {
			addr_parse(t[i].client, &client);
			c = &client;
		}
		rc = update_detect_addrs(t[i].v4, t[i].v6, c, false, &out);
		is_int(rc, t[i].rc, t[i].name);
		if (rc != 0) {
			ok(!out.has_v4 && !out.has_v6, "%s: nothing on error", t[i].name);
			ok(out.why[0] != '\0', "%s: a reason: %s", t[i].name, out.why);
			continue;
		}
		is_int(out.has_v4, t[i].want4 != NULL, t[i].name);
		if (t[i].want4)
			is_str(fmt(&out.v4), t[i].want4, t[i].name);
		is_int(out.has_v6, t[i].want6 != NULL, t[i].name);
		if (t[i].want6)
			is_str(fmt(&out.v6), t[i].want6, t[i].name);
	}
}

#define NCASES(t) (sizeof(t) / sizeof((t)[0]))

/* Explicit addresses, lists in either parameter, blanks and empty items. */
static void
test_detect_params(void)
{
	static const struct detect_case t[] = {
		{"192.0.2.1", NULL, "203.0.113.1", 0, "192.0.2.1", NULL, "explicit v4"},
		{NULL, "2001:db8::1", "203.0.113.1", 0, NULL, "2001:db8::1", "explicit v6"},
		{"192.0.2.1", "2001:db8::1", "203.0.113.1", 0, "192.0.2.1", "2001:db8::1", "both"},
		{"192.0.2.1,2001:db8::1", NULL, "203.0.113.1", 0, "192.0.2.1", "2001:db8::1",
		 "myip=4addr,6addr"},
		{"2001:db8::1,192.0.2.1", NULL, NULL, 0, "192.0.2.1", "2001:db8::1", "6addr,4addr"},
		{NULL, "192.0.2.1", NULL, 0, "192.0.2.1", NULL, "v4 in the ipv6 parameter"},
		{"2001:db8::1", NULL, NULL, 0, NULL, "2001:db8::1", "v6 in the ipv4 parameter"},
		{" 192.0.2.1 , 2001:db8::1 ", NULL, NULL, 0, "192.0.2.1", "2001:db8::1", "blanks"},
		{"", NULL, "203.0.113.1", 0, "203.0.113.1", NULL, "myip= empty: client"},
		{"", "", "2001:db8::99", 0, NULL, "2001:db8::99", "both empty: v6 client"},
		{",,", " , ", "203.0.113.1", 0, "203.0.113.1", NULL, "only empty items: client"},
		{"", "2001:db8::1", "203.0.113.1", 0, NULL, "2001:db8::1",
		 "empty v4 + v6: v6 only, no client v4"},
		{"192.0.2.1,,", NULL, NULL, 0, "192.0.2.1", NULL, "empty list items ignored"},
		{",192.0.2.1", "", NULL, 0, "192.0.2.1", NULL, "leading empty item"},
	};

	run_detect(t, NCASES(t));
}

/* Prefix suffixes, mapped addresses, the client fallback, repeated addresses. */
static void
test_detect_forms(void)
{
	static const struct detect_case t[] = {
		{NULL, "2001:db8:1:2::/64", NULL, 0, NULL, "2001:db8:1:2::", "/64 stripped"},
		{"192.0.2.1/24", NULL, NULL, 0, "192.0.2.1", NULL, "/24 stripped on v4"},
		{NULL, "2001:db8::1/128", NULL, 0, NULL, "2001:db8::1", "/128 stripped"},
		{"::ffff:192.0.2.7", NULL, NULL, 0, "192.0.2.7", NULL, "v4-mapped param is v4"},
		{NULL, NULL, "::ffff:198.51.100.3", 0, "198.51.100.3", NULL,
		 "v4-mapped client is v4"},
		{NULL, NULL, "203.0.113.1", 0, "203.0.113.1", NULL, "nothing given: v4 client"},
		{NULL, NULL, "2001:db8::5", 0, NULL, "2001:db8::5", "nothing given: v6 client"},
		{"192.0.2.1,192.0.2.1", NULL, NULL, 0, "192.0.2.1", NULL, "same v4 twice ok"},
		{"192.0.2.1", "::ffff:192.0.2.1", NULL, 0, "192.0.2.1", NULL,
		 "same v4, one mapped"},
		{"192.0.2.1,2001:db8::1,2001:db8::1", NULL, NULL, 0, "192.0.2.1", "2001:db8::1",
		 "repeated v6"},
		{"127.0.0.1", NULL, NULL, 0, "127.0.0.1", NULL, "loopback accepted"},
		{"10.1.2.3", NULL, NULL, 0, "10.1.2.3", NULL, "private accepted"},
		{NULL, "2001:DB8::A", NULL, 0, NULL, "2001:db8::a", "upper-case v6 canonicalised"},
	};

	run_detect(t, NCASES(t));
}

/* Everything that is badip. */
static void
test_detect_rejected(void)
{
	static const struct detect_case t[] = {
		{"192.0.2.1/33", NULL, NULL, ERR_INVAL, NULL, NULL, "/33 on v4"},
		{NULL, "2001:db8::/129", NULL, ERR_INVAL, NULL, NULL, "/129 on v6"},
		{NULL, "2001:db8::/", NULL, ERR_INVAL, NULL, NULL, "empty prefix"},
		{NULL, "2001:db8::/x", NULL, ERR_INVAL, NULL, NULL, "non-numeric prefix"},
		{NULL, NULL, NULL, ERR_INVAL, NULL, NULL, "nothing and no client"},
		{"192.0.2.1,192.0.2.2", NULL, NULL, ERR_INVAL, NULL, NULL, "two different v4"},
		{"192.0.2.1", "192.0.2.2", NULL, ERR_INVAL, NULL, NULL, "two v4 across params"},
		{"2001:db8::1,2001:db8::2", NULL, NULL, ERR_INVAL, NULL, NULL, "two different v6"},
		{"example.com", NULL, "203.0.113.1", ERR_INVAL, NULL, NULL,
		 "name is not an address"},
		{"192.0.2.1,bogus", NULL, NULL, ERR_INVAL, NULL, NULL, "one bad item spoils all"},
		{"256.1.1.1", NULL, NULL, ERR_INVAL, NULL, NULL, "octet too big"},
		{"192.0.2.01", NULL, NULL, ERR_INVAL, NULL, NULL, "leading zero"},
		{"[2001:db8::1]", NULL, NULL, ERR_INVAL, NULL, NULL, "brackets"},
		{"fe80::1%eth0", NULL, NULL, ERR_INVAL, NULL, NULL, "zone id"},
		{"192.0.2.1:80", NULL, NULL, ERR_INVAL, NULL, NULL, "port"},
		{"0.0.0.0", NULL, NULL, ERR_INVAL, NULL, NULL, "unspecified v4"},
		{NULL, "::", NULL, ERR_INVAL, NULL, NULL, "unspecified v6"},
		{"224.0.0.1", NULL, NULL, ERR_INVAL, NULL, NULL, "multicast v4"},
		{NULL, "ff02::1", NULL, ERR_INVAL, NULL, NULL, "multicast v6"},
		{"0.1.2.3", NULL, NULL, ERR_INVAL, NULL, NULL, "this network 0/8"},
		{"255.255.255.255", NULL, NULL, ERR_INVAL, NULL, NULL, "limited broadcast"},
		{NULL, NULL, "0.0.0.0", ERR_INVAL, NULL, NULL, "unspecified client"},
		{NULL, "::/64", NULL, ERR_INVAL, NULL, NULL, "unspecified prefix"},
		{NULL, "2001:db8::/64,2001:db8::", NULL, ERR_INVAL, NULL, NULL,
		 "one v6 value with, one without /nn"},
		{NULL, "2001:db8::/64,2001:db8::/56", NULL, ERR_INVAL, NULL, NULL,
		 "one v6 value with two lengths"},
	};

	run_detect(t, NCASES(t));
}

static void
test_detect_long(void)
{
	static char p[UPDATE_MAX_PARAM + 2];
	struct update_addrs out;
	size_t n = strlen("192.0.2.1");

	memset(p, ' ', sizeof(p) - 1);
	memcpy(p + UPDATE_MAX_PARAM - n, "192.0.2.1", n);
	p[UPDATE_MAX_PARAM] = '\0';
	is_int(update_detect_addrs(p, NULL, NULL, false, &out), 0,
	       "parameter of exactly the maximum");
	p[UPDATE_MAX_PARAM] = ' ';
	is_int(update_detect_addrs(p, NULL, NULL, false, &out), ERR_INVAL,
	       "parameter over the maximum");
}

/* An IPv6 value keeps its /nn for the per-host completion; an IPv4 value drops it.
 * FritzBox sends myip=<ipaddr>,<ip6lanprefix> or myip=<ipaddr>&myip6=<ip6lanprefix>,
 * and <ipaddr> is empty on a line without IPv4. */
static void
test_detect_prefix(void)
{
	static const struct {
		const char *v4, *v6;
		bool has_v4, has_plen;
		int plen;
		const char *name;
	} t[] = {
		{"192.0.2.1,2001:db8:1:2::/64", NULL, true, true, 64, "FritzBox myip=a,prefix"},
		{"192.0.2.1", "2001:db8:1:2::/64", true, true, 64, "FritzBox myip=a&myip6=prefix"},
		{",2001:db8:1:2::/64", NULL, false, true, 64, "FritzBox without IPv4"},
		{NULL, "2001:db8:1:2::/56", false, true, 56, "/56"},
		{NULL, "2001:db8::1/128", false, true, 128, "/128"},
		{NULL, "2001:db8::1/0", false, true, 0, "/0"},
		{NULL, "2001:db8::1", false, false, 0, "no suffix"},
		{"192.0.2.1/24", NULL, true, false, 0, "IPv4 suffix dropped"},
		{"::ffff:192.0.2.1/120", NULL, true, false, 0, "mapped: IPv4, suffix dropped"},
		{NULL, "2001:db8::/64,2001:db8::/64", false, true, 64, "the same value twice"},
	};
	struct update_addrs out;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		is_int(update_detect_addrs(t[i].v4, t[i].v6, NULL, false, &out), 0, t[i].name);
		ok(out.has_v4 == t[i].has_v4, "%s: v4", t[i].name);
		ok(out.v6_has_plen == t[i].has_plen, "%s: has /nn", t[i].name);
		if (t[i].has_plen)
			is_int(out.v6_plen, t[i].plen, t[i].name);
		ok(!out.public_only && !out.offline, "%s: defaults", t[i].name);
	}
	update_detect_addrs(NULL, "2001:DB8:1:2::/64", NULL, false, &out);
	is_str(fmt(&out.v6), "2001:db8:1:2::", "the value is kept as sent");
}

/* allow_private_addresses = false (public_only): local-only ranges become badip, with
 * the range named; true (the default) keeps them. */
static void
test_detect_policy(void)
{
	static const char *const local[] = {
		"10.1.2.3",    "172.16.5.4",  "192.168.178.20", "100.64.1.1",
		"127.0.0.1",   "169.254.3.3", "192.0.2.1",	"198.51.100.2",
		"203.0.113.3", "::1",	      "fe80::1",	"fd00::1",
		"2001:db8::1", "240.0.0.1",   "2001:db8::/64",	"fd00:1:2:3::/64",
	};
	struct update_addrs out;
	struct addr client;

	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
		ok(update_detect_addrs(local[i], NULL, NULL, false, &out) == 0,
		   "%s accepted by default", local[i]);
		ok(update_detect_addrs(local[i], NULL, NULL, true, &out) == ERR_INVAL,
		   "%s refused when public only", local[i]);
		ok(strstr(out.why, "allow_private_addresses") != NULL, "%s: %s", local[i], out.why);
	}
	is_int(update_detect_addrs("9.9.9.9", "2a00:1450::1", NULL, true, &out), 0,
	       "public addresses pass");
	ok(out.public_only, "the rule is recorded for update_decide");
	is_int(update_detect_addrs(NULL, "2a00:1450:1:2::/64", NULL, true, &out), 0,
	       "a public prefix passes");
	addr_parse("10.0.0.7", &client);
	is_int(update_detect_addrs(NULL, NULL, &client, true, &out), ERR_INVAL,
	       "a private client address is refused too");
	ok(strstr(out.why, "10.0.0.7") && strstr(out.why, "RFC 1918"), "reason: %s", out.why);
	is_int(update_detect_addrs("224.0.0.1", NULL, NULL, false, &out), ERR_INVAL,
	       "multicast is never a host");
	ok(strstr(out.why, "never") != NULL, "reason: %s", out.why);
	is_int(update_detect_addrs("bogus\nline", NULL, NULL, false, &out), ERR_INVAL, "junk");
	ok(strchr(out.why, '\n') == NULL && !strstr(out.why, "bogus"),
	   "the reason never echoes the input");
}

static void
test_names_hosts(void)
{
	ok(!update_names_hosts(NULL), "absent: no host named");
	ok(!update_names_hosts(""), "empty: no host named");
	ok(!update_names_hosts(" , ,"), "separators only: no host named");
	ok(update_names_hosts("x"), "an invalid name is still a name");
	ok(update_names_hosts(",a.example.com"), "one name");
}

static void
expect_hosts(const char *param, size_t max, int rc, const char *const *want, size_t nwant,
	     const char *name)
{
	struct update_host h[UPDATE_MAX_HOSTS + 5];
	size_t len = 99;
	int got;

	got = update_split_hosts(param, h, max, &len);
	is_int(got, rc, name);
	if (got != 0) {
		is_int(len, 0, "no entries on error");
		return;
	}
	is_int(len, nwant, name);
	for (size_t i = 0; i < len && i < nwant; i++) {
		is_str(h[i].fqdn, want[i] ? want[i] : "", name);
		is_int(h[i].status, want[i] ? UPDATE_GOOD : UPDATE_NOTFQDN, name);
	}
}

static void
test_split(void)
{
	static const char *const one[] = {"home.dyn.example.com"};
	static const char *const two[] = {"a.example.com", "b.example.com"};
	static const char *const bad[] = {"a.example.com", NULL, "b.example.com", NULL, NULL};
	static const char *const uni[] = {"xn--bcher-kva.example.com", "home.example.com"};
	static const char *const dup[] = {"a.example.com", "a.example.com"};
	static const char *const none[] = {NULL};
	static const char *twenty[UPDATE_MAX_HOSTS];
	char list[UPDATE_MAX_HOSTS * 20 + 40];
	size_t off = 0;

	expect_hosts("home.dyn.example.com", 20, 0, one, 1, "one host");
	expect_hosts("Home.Dyn.Example.Com.", 20, 0, one, 1, "normalized");
	expect_hosts("a.example.com,b.example.com", 20, 0, two, 2, "two hosts");
	expect_hosts(" a.example.com , b.example.com ", 20, 0, two, 2, "names trimmed");
	expect_hosts("a.example.com,,b.example.com,", 20, 0, two, 2, "empty items skipped");
	expect_hosts("a.example.com,bad_name.example.com,b.example.com,home,-x.example", 20, 0, bad,
		     5, "invalid names are notfqdn in order");
	expect_hosts("bücher.example.com,HOME.example.com", 20, 0, uni, 2, "Unicode");
	expect_hosts("a.example.com,A.example.com", 20, 0, dup, 2, "duplicates kept");
	expect_hosts(NULL, 20, 0, none, 1, "missing parameter: one notfqdn");
	expect_hosts("", 20, 0, none, 1, "empty parameter: one notfqdn");
	expect_hosts(" , ,", 20, 0, none, 1, "only separators: one notfqdn");
	expect_hosts("a.example.com,b.example.com", 1, ERR_TOOBIG, NULL, 0, "max 1");

	for (int i = 0; i < UPDATE_MAX_HOSTS; i++) {
		static char names[UPDATE_MAX_HOSTS][20];

		snprintf(names[i], sizeof(names[i]), "h%d.example.com", i);
		twenty[i] = names[i];
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", i ? "," : "",
					names[i]);
	}
	expect_hosts(list, UPDATE_MAX_HOSTS, 0, twenty, UPDATE_MAX_HOSTS, "20 hosts ok");
	snprintf(list + off, sizeof(list) - off, ",h20.example.com");
	expect_hosts(list, UPDATE_MAX_HOSTS, ERR_TOOBIG, NULL, 0, "21 hosts: numhost");
	snprintf(list + off, sizeof(list) - off, ",,, ");
	expect_hosts(list, UPDATE_MAX_HOSTS, 0, twenty, UPDATE_MAX_HOSTS,
		     "20 hosts + empty items ok");
}

/* The time of the decisions below: the row's families (updated 1000, expiry_ttl 3600)
 * are live and not due. */
#define NOW 2000

/* A row owned by "alice": v4 192.0.2.1 and v6 2001:db8::1, both live, unless changed. */
static struct db_host
row(void)
{
	struct db_host h;

	memset(&h, 0, sizeof(h));
	h.id = 7;
	h.user_id = 3;
	snprintf(h.owner, sizeof(h.owner), "alice");
	snprintf(h.hostname, sizeof(h.hostname), "home");
	snprintf(h.zone, sizeof(h.zone), "dyn.example.com");
	snprintf(h.fqdn, sizeof(h.fqdn), "home.dyn.example.com");
	h.dns_ttl = 60;
	h.expiry_ttl = 3600;
	snprintf(h.v4.ip, sizeof(h.v4.ip), "192.0.2.1");
	h.v4.updated = 1000;
	snprintf(h.v6.ip, sizeof(h.v6.ip), "2001:db8::1");
	h.v6.updated = 1000;
	return h;
}

static struct update_addrs
want(const char *v4, const char *v6)
{
	struct update_addrs w;

	memset(&w, 0, sizeof(w));
	if (v4) {
		w.has_v4 = true;
		addr_parse(v4, &w.v4);
	}
	if (v6) {
		w.has_v6 = true;
		addr_parse(v6, &w.v6);
	}
	return w;
}

enum { LIVE, EXPIRED, NEVER };

struct decide_case {
	const char *name;
	const char *user;
	int v4_state, v6_state; /* of the stored row */
	const char *stored4;	/* NULL: the row default */
	const char *w4, *w6;
	enum update_status status;
	enum dns_action a4, a6;
	int set, touch;
	bool ch4, ch6;
	const char *line;
};

static void
apply_state(struct db_rr *rr, int state, const char *stored)
{
	if (stored)
		snprintf(rr->ip, sizeof(rr->ip), "%s", stored);
	if (state == EXPIRED)
		rr->expired = true;
	if (state == NEVER) {
		rr->ip[0] = '\0';
		rr->updated = 0;
	}
}

static void
run_decide(const struct decide_case *c)
{
	struct db_host h = row();
	struct update_addrs w = want(c->w4, c->w6);
	struct update_plan p;
	struct buf line;

	apply_state(&h.v4, c->v4_state, c->stored4);
	apply_state(&h.v6, c->v6_state, NULL);
	memset(&p, 0x5a, sizeof(p));
	update_decide(&w, &h, c->user, NOW, &p);
	is_str(update_status_str(p.status), update_status_str(c->status), c->name);
	if (c->status == UPDATE_NOHOST) {
		ok(p.set_families == 0 && p.touch_families == 0, "%s: no writes", c->name);
		ok(!p.v4_changed && !p.v6_changed, "%s: no change", c->name);
		return;
	}
	is_int(p.change.v4, c->a4, "v4 action");
	is_int(p.change.v6, c->a6, "v6 action");
	is_int(p.set_families, c->set, "set families");
	is_int(p.touch_families, c->touch, "touch families");
	is_int(p.v4_changed, c->ch4, "v4_changed");
	is_int(p.v6_changed, c->ch6, "v6_changed");
	is_str(p.change.fqdn, "home.dyn.example.com", "change fqdn");
	is_str(p.change.zone, "dyn.example.com", "change zone");
	is_int(p.change.ttl, 60, "change ttl");
	is_str(p.change.ipv4, c->a4 == DNS_SET ? c->w4 : "", "change ipv4");
	is_str(p.change.ipv6, c->a6 == DNS_SET ? c->w6 : "", "change ipv6");
	is_str(p.ipv4, c->w4 ? c->w4 : "", "plan ipv4");
	is_str(p.ipv6, c->w6 ? c->w6 : "", "plan ipv6");
	buf_init(&line, 200);
	update_format_line(&line, p.status, p.ipv4, p.ipv6);
	is_str(buf_str(&line), c->line, "result line");
	buf_free(&line);
}

static void
test_decide(void)
{
	enum { V4 = DB_V4, V6 = DB_V6 };
#define K DNS_KEEP
#define S DNS_SET
	static const struct decide_case t[] = {
		{"other owner", "bob", LIVE, LIVE, NULL, "192.0.2.9", NULL, UPDATE_NOHOST, K, K, 0,
		 0, false, false, NULL},
		{"no user", NULL, LIVE, LIVE, NULL, "192.0.2.9", NULL, UPDATE_NOHOST, K, K, 0, 0,
		 false, false, NULL},
		{"nochg v4 live", "alice", LIVE, LIVE, NULL, "192.0.2.1", NULL, UPDATE_NOCHG, K, K,
		 0, V4, false, false, "nochg 192.0.2.1"},
		{"nochg v6 live", "alice", LIVE, LIVE, NULL, NULL, "2001:db8::1", UPDATE_NOCHG, K,
		 K, 0, V6, false, false, "nochg 2001:db8::1"},
		{"nochg dual", "alice", LIVE, LIVE, NULL, "192.0.2.1", "2001:db8::1", UPDATE_NOCHG,
		 K, K, 0, V4 | V6, false, false, "nochg 192.0.2.1,2001:db8::1"},
		{"stored text differs, same address", "alice", LIVE, LIVE, "::ffff:192.0.2.1",
		 "192.0.2.1", NULL, UPDATE_NOCHG, K, K, 0, V4, false, false, "nochg 192.0.2.1"},
		{"nochg becomes good when expired", "alice", EXPIRED, LIVE, NULL, "192.0.2.1", NULL,
		 UPDATE_GOOD, S, K, V4, 0, false, false, "good 192.0.2.1"},
		{"v4 changed", "alice", LIVE, LIVE, NULL, "192.0.2.2", NULL, UPDATE_GOOD, S, K, V4,
		 0, true, false, "good 192.0.2.2"},
		{"v4 changed while expired", "alice", EXPIRED, LIVE, NULL, "192.0.2.2", NULL,
		 UPDATE_GOOD, S, K, V4, 0, true, false, "good 192.0.2.2"},
		{"v6 changed, v4 left alone", "alice", LIVE, LIVE, NULL, NULL, "2001:db8::2",
		 UPDATE_GOOD, K, S, V6, 0, false, true, "good 2001:db8::2"},
		{"first v4 ever", "alice", NEVER, NEVER, NULL, "192.0.2.1", NULL, UPDATE_GOOD, S, K,
		 V4, 0, true, false, "good 192.0.2.1"},
		{"dual, both new", "alice", NEVER, NEVER, NULL, "192.0.2.1", "2001:db8::1",
		 UPDATE_GOOD, S, S, V4 | V6, 0, true, true, "good 192.0.2.1,2001:db8::1"},
		{"dual, v4 same, v6 changed", "alice", LIVE, LIVE, NULL, "192.0.2.1", "2001:db8::2",
		 UPDATE_GOOD, K, S, V6, V4, false, true, "good 192.0.2.1,2001:db8::2"},
		{"dual, v4 changed, v6 same", "alice", LIVE, LIVE, NULL, "192.0.2.3", "2001:db8::1",
		 UPDATE_GOOD, S, K, V4, V6, true, false, "good 192.0.2.3,2001:db8::1"},
		{"dual, v6 expired same", "alice", LIVE, EXPIRED, NULL, "192.0.2.1", "2001:db8::1",
		 UPDATE_GOOD, K, S, V6, V4, false, false, "good 192.0.2.1,2001:db8::1"},
		{"dual, both changed", "alice", LIVE, LIVE, NULL, "192.0.2.4", "2001:db8::4",
		 UPDATE_GOOD, S, S, V4 | V6, 0, true, true, "good 192.0.2.4,2001:db8::4"},
		{"garbage stored address is replaced", "alice", LIVE, LIVE, "junk", "192.0.2.1",
		 NULL, UPDATE_GOOD, S, K, V4, 0, true, false, "good 192.0.2.1"},
		{"v6 only wanted, v4 never set", "alice", NEVER, LIVE, NULL, NULL, "2001:db8::1",
		 UPDATE_NOCHG, K, K, 0, V6, false, false, "nochg 2001:db8::1"},
	};

#undef K
#undef S
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		run_decide(&t[i]);
}

static void
test_decide_edges(void)
{
	struct update_addrs w = want("192.0.2.1", NULL);
	struct db_host h = row();
	struct update_plan p;

	update_decide(&w, NULL, "alice", NOW, &p);
	is_int(p.status, UPDATE_NOHOST, "NULL row: nohost");
	ok(p.set_families == 0 && p.touch_families == 0, "NULL row: no writes");
	update_decide(NULL, &h, "alice", NOW, &p);
	is_int(p.status, UPDATE_NOCHG, "no wanted families: nochg");
	ok(p.set_families == 0 && p.touch_families == 0, "no wanted families: no writes");
	h.dns_ttl = 300;
	update_decide(&w, &h, "alice", NOW, &p);
	is_int(p.change.ttl, 300, "ttl from the row");
}

static void
test_host_change(void)
{
	struct db_host h = row();
	struct dns_change c;

	h.dns_ttl = 120;
	memset(&c, 0x5a, sizeof(c));
	update_host_change(&h, &c);
	is_str(c.fqdn, "home.dyn.example.com", "host change: fqdn of the row");
	is_str(c.zone, "dyn.example.com", "host change: zone of the row");
	is_int(c.ttl, 120, "host change: the row's dns_ttl");
	ok(c.v4 == DNS_KEEP && c.v6 == DNS_KEEP, "host change: nothing to do yet");
	ok(c.ipv4[0] == '\0' && c.ipv6[0] == '\0', "host change: no addresses");
}

/* A family past its expiry deadline may already be gone from DNS: the same address is
 * republished (good, not a change), never a nochg that would refresh a missing name. */
static void
test_decide_due(void)
{
	struct update_addrs w = want("192.0.2.1", "2001:db8::1");
	struct db_host h = row(); /* both updated 1000, expiry_ttl 3600: deadline 4600 */
	struct update_plan p;

	update_decide(&w, &h, "alice", 4599, &p);
	is_int(p.status, UPDATE_NOCHG, "a second before the deadline: nochg");
	is_int(p.touch_families, DB_V4 | DB_V6, "not yet due: both touched");
	update_decide(&w, &h, "alice", 4600, &p);
	is_int(p.status, UPDATE_GOOD, "at the deadline: republished");
	ok(p.change.v4 == DNS_SET && p.change.v6 == DNS_SET, "due: both set in DNS");
	is_str(p.change.ipv4, "192.0.2.1", "due: the same address again");
	is_int(p.set_families, DB_V4 | DB_V6, "due: both recorded");
	is_int(p.touch_families, 0, "due: nothing only touched");
	ok(!p.v4_changed && !p.v6_changed, "due: republishing is not a change");

	h.v6.updated = 2000; /* v6 due at 5600 */
	update_decide(&w, &h, "alice", 5000, &p);
	is_int(p.status, UPDATE_GOOD, "one family due: good");
	ok(p.change.v4 == DNS_SET && p.change.v6 == DNS_KEEP, "only the due family is sent");
	is_int(p.set_families, DB_V4, "due family set");
	is_int(p.touch_families, DB_V6, "the other touched");

	w = want("192.0.2.1", NULL);
	update_decide(&w, &h, "alice", 5000, &p);
	is_int(p.status, UPDATE_GOOD, "due family named alone: good");
	w = want(NULL, "2001:db8::1");
	update_decide(&w, &h, "alice", 5000, &p);
	is_int(p.status, UPDATE_NOCHG, "a due family the request does not name: left alone");
	is_int(p.change.v4, DNS_KEEP, "unnamed due family kept");

	h.expiry_ttl = 0;
	w = want("192.0.2.1", "2001:db8::1");
	update_decide(&w, &h, "alice", INT64_MAX / 2, &p);
	is_int(p.status, UPDATE_NOCHG, "expiry_ttl 0: never due, nochg");
	is_int(p.touch_families, DB_V4 | DB_V6, "expiry_ttl 0: touched");
}

/* A row with interface identifier `iid` ("" = none). */
static struct db_host
row_iid(const char *iid)
{
	struct db_host h = row();

	snprintf(h.ipv6_iid, sizeof(h.ipv6_iid), "%s", iid);
	return h;
}

/* The wanted IPv6 value `v6` with a /plen (-1 = none). */
static struct update_addrs
want_prefix(const char *v6, int plen)
{
	struct update_addrs w = want(NULL, v6);

	w.v6_has_plen = plen >= 0;
	w.v6_plen = plen >= 0 ? plen : 0;
	return w;
}

/* The completion of a router's prefix per host (the prefix lengths ISPs delegate,
 * /128 and non-nibble lengths), and what happens without an identifier. */
static void
test_host_v6(void)
{
	static const struct {
		const char *v6;
		int plen;
		const char *iid, *want; /* want NULL: ERR_INVAL */
	} t[] = {
		{"2001:db8:1:2::", 64, "::1234:5678:9abc:def0", "2001:db8:1:2:1234:5678:9abc:def0"},
		{"2001:db8:1::", 48, "::2:1234:5678:9abc:def0", "2001:db8:1:2:1234:5678:9abc:def0"},
		{"2001:db8:1:200::", 56, "::12:1234:5678:9abc:def0",
		 "2001:db8:1:212:1234:5678:9abc:def0"},
		{"2001:db8:1:20::", 60, "::a:0:0:0:1", "2001:db8:1:2a::1"},
		{"2001:db8:1:2::9", 128, "::1234:5678:9abc:def0", "2001:db8:1:2::9"},
		{"2001:db8:1:80::", 57, "::7f:0:0:0:5", "2001:db8:1:ff::5"},
		{"2001:db8:1:4::", 62, "::3:0:0:0:5", "2001:db8:1:7::5"},
		{"2001:db8:1:2::", 64, "2001:db8:ffff:ffff:1234:5678:9abc:def0",
		 "2001:db8:1:2:1234:5678:9abc:def0"},
		{"2001:db8:1:2::77", 64, "::1234:5678:9abc:def0",
		 "2001:db8:1:2:1234:5678:9abc:def0"},
		{"2001:db8:1:2::77", -1, "::1234:5678:9abc:def0", "2001:db8:1:2::77"},
		{"2001:db8:1:2::77", -1, "", "2001:db8:1:2::77"},
		{"2001:db8:1:2::77", 64, "", "2001:db8:1:2::77"},
		{"2001:db8:1:2::", 128, "", "2001:db8:1:2::"},
		{"2001:db8:1:2::", 64, "", NULL},
		{"2001:db8:1::", 48, "", NULL},
		{"2001:db8:1:2::", 64, "not an address", NULL},
		{"2001:db8:1:2::", 64, "192.0.2.1", NULL},
	};
	struct addr a;
	char why[UPDATE_WHY_MAX];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct update_addrs w = want_prefix(t[i].v6, t[i].plen);
		struct db_host h = row_iid(t[i].iid);
		int rc = update_host_v6(&w, &h, &a, why, sizeof(why));

		ok(rc == (t[i].want ? 0 : ERR_INVAL), "%s/%d + \"%s\"", t[i].v6, t[i].plen,
		   t[i].iid);
		if (t[i].want)
			is_str(fmt(&a), t[i].want, t[i].want);
		else
			ok(why[0] != '\0', "reason: %s", why);
	}
}

/* The reason for a network without identifier says how to set one; the combined
 * address is judged like any other. */
static void
test_host_v6_reasons(void)
{
	struct update_addrs w = want_prefix("2001:db8:1:2::", 64);
	struct db_host h = row_iid("");
	struct addr a;
	char why[UPDATE_WHY_MAX];

	update_host_v6(&w, &h, &a, why, sizeof(why));
	ok(strstr(why, "2001:db8:1:2::/64 is a network") != NULL, "names the value: %s", why);
	ok(strstr(why, "ddns-service hostname modify home dyn.example.com --ipv6-iid") != NULL,
	   "says how to set an identifier");
	w = want_prefix("2001:db8:1:2::", 64);
	w.public_only = true;
	h = row_iid("::1");
	is_int(update_host_v6(&w, &h, &a, why, sizeof(why)), ERR_INVAL,
	       "public only: a combined documentation address is refused");
	ok(strstr(why, "2001:db8:1:2::1") && strstr(why, "documentation"), "reason: %s", why);
	w = want_prefix("2a00:1450:1:2::", 64);
	w.public_only = true;
	is_int(update_host_v6(&w, &h, &a, why, sizeof(why)), 0, "a public combination passes");
	is_str(fmt(&a), "2a00:1450:1:2::1", "combined");
	w = want_prefix("2001:db8:1:2::", 0);
	h = row_iid("ff02::1");
	is_int(update_host_v6(&w, &h, &a, why, sizeof(why)), ERR_INVAL,
	       "a combination that is multicast is refused");
	w = want("192.0.2.1", NULL);
	is_int(update_host_v6(&w, &h, &a, why, sizeof(why)), ERR_INVAL, "no IPv6 wanted");
}

/* update_decide with a router's prefix: the host's identifier completes it; the
 * prefix moves, the AAAA follows; no identifier and a network: badip, nothing
 * changes (the IPv4 part of the request neither). */
static void
test_decide_iid(void)
{
	struct db_host h = row_iid("::1234:5678:9abc:def0");
	struct update_addrs w = want_prefix("2001:db8:1:2::", 64);
	struct update_plan p;

	update_decide(&w, &h, "alice", NOW, &p);
	is_int(p.status, UPDATE_GOOD, "prefix + identifier: good");
	is_int(p.change.v6, DNS_SET, "AAAA set");
	is_int(p.change.v4, DNS_KEEP, "A left alone");
	is_str(p.change.ipv6, "2001:db8:1:2:1234:5678:9abc:def0", "the host's address");
	is_str(p.ipv6, "2001:db8:1:2:1234:5678:9abc:def0", "reported");
	ok(p.v6_changed, "a change");
	snprintf(h.v6.ip, sizeof(h.v6.ip), "2001:db8:1:2:1234:5678:9abc:def0");
	update_decide(&w, &h, "alice", NOW, &p);
	is_int(p.status, UPDATE_NOCHG, "the same prefix again: nochg");
	is_int(p.touch_families, DB_V6, "touched");
	w = want_prefix("2001:db8:1:3::", 64);
	update_decide(&w, &h, "alice", NOW, &p);
	is_int(p.status, UPDATE_GOOD, "the prefix moved: good");
	is_str(p.change.ipv6, "2001:db8:1:3:1234:5678:9abc:def0", "the AAAA follows");

	h = row_iid("");
	w = want_prefix("2001:db8:1:2::", 64);
	w.has_v4 = true;
	addr_parse("192.0.2.9", &w.v4);
	update_decide(&w, &h, "alice", NOW, &p);
	is_int(p.status, UPDATE_BADIP, "a network without identifier: badip");
	ok(p.set_families == 0 && p.touch_families == 0 && p.offline_families == 0,
	   "badip: no writes");
	ok(p.change.v4 == DNS_KEEP && p.change.v6 == DNS_KEEP, "badip: no DNS, IPv4 neither");
	ok(strstr(p.why, "--ipv6-iid") != NULL, "badip: the reason says how");
	update_decide(&w, &h, "bob", NOW, &p);
	is_int(p.status, UPDATE_NOHOST, "another user's host is nohost, not badip");
}

/* offline=YES deletes what is published; the next update publishes again. */
static void
test_decide_offline(void)
{
	struct update_addrs w;
	struct db_host h = row();
	struct update_plan p;
	struct buf line;

	memset(&w, 0, sizeof(w));
	w.offline = true;
	update_decide(&w, &h, "alice", NOW, &p);
	is_int(p.status, UPDATE_GOOD, "offline with both published: good");
	ok(p.change.v4 == DNS_DELETE && p.change.v6 == DNS_DELETE, "both deleted");
	is_int(p.offline_families, DB_V4 | DB_V6, "both recorded offline");
	ok(p.set_families == 0 && p.touch_families == 0, "nothing set or touched");
	ok(!p.v4_changed && !p.v6_changed, "no change mail");
	buf_init(&line, 100);
	update_format_line(&line, p.status, p.ipv4, p.ipv6);
	is_str(buf_str(&line), "good", "the line is a bare good");
	buf_free(&line);

	h.v6.expired = true;
	update_decide(&w, &h, "alice", NOW, &p);
	is_int(p.offline_families, DB_V4, "only the published family is recorded");
	ok(p.change.v4 == DNS_DELETE && p.change.v6 == DNS_DELETE, "both deleted in DNS");
	h.v4.expired = h.v4.offline = true;
	update_decide(&w, &h, "alice", NOW, &p);
	is_int(p.status, UPDATE_NOCHG, "offline again: nochg");
	ok(p.change.v4 == DNS_KEEP && p.change.v6 == DNS_KEEP, "no DNS");
	ok(p.offline_families == 0 && p.touch_families == 0, "no writes");
	ok(p.ipv4[0] == '\0' && p.ipv6[0] == '\0', "no address reported");
	update_decide(&w, &h, "bob", NOW, &p);
	is_int(p.status, UPDATE_NOHOST, "offline for another user's host: nohost");

	w = want("192.0.2.1", NULL);
	update_decide(&w, &h, "alice", NOW, &p);
	is_int(p.status, UPDATE_GOOD, "back online with the same address: good");
	is_int(p.change.v4, DNS_SET, "republished");
	ok(!p.v4_changed, "the same address is not a change");
}

static void
test_status_str(void)
{
	static const char *const names[] = {"good",  "nochg",	"badauth", "nohost", "notfqdn",
					    "badip", "numhost", "dnserr",  "abuse",  "911"};

	for (int s = UPDATE_GOOD; s <= UPDATE_911; s++)
		is_str(update_status_str((enum update_status)s), names[s], names[s]);
	is_str(update_status_str((enum update_status)99), "911", "unknown is 911");
}

static void
test_format_line(void)
{
	static const struct {
		enum update_status s;
		const char *v4, *v6, *want;
	} t[] = {
		{UPDATE_GOOD, "192.0.2.1", NULL, "good 192.0.2.1"},
		{UPDATE_GOOD, NULL, "2001:db8::1", "good 2001:db8::1"},
		{UPDATE_GOOD, "192.0.2.1", "2001:db8::1", "good 192.0.2.1,2001:db8::1"},
		{UPDATE_GOOD, "", "", "good"},
		{UPDATE_NOCHG, "192.0.2.1", "", "nochg 192.0.2.1"},
		{UPDATE_NOCHG, NULL, NULL, "nochg"},
		{UPDATE_BADAUTH, "192.0.2.1", NULL, "badauth"},
		{UPDATE_NOHOST, "192.0.2.1", "2001:db8::1", "nohost"},
		{UPDATE_NOTFQDN, NULL, NULL, "notfqdn"},
		{UPDATE_BADIP, NULL, NULL, "badip"},
		{UPDATE_NUMHOST, NULL, NULL, "numhost"},
		{UPDATE_DNSERR, "192.0.2.1", NULL, "dnserr"},
		{UPDATE_ABUSE, NULL, NULL, "abuse"},
		{UPDATE_911, NULL, NULL, "911"},
	};
	struct buf b;

	buf_init(&b, 200);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		buf_reset(&b);
		is_int(update_format_line(&b, t[i].s, t[i].v4, t[i].v6), 0, t[i].want);
		is_str(buf_str(&b), t[i].want, t[i].want);
	}
	buf_free(&b);
	/* Lines append: the caller adds the newline between hosts. */
	buf_init(&b, 200);
	update_format_line(&b, UPDATE_GOOD, "192.0.2.1", NULL);
	buf_addc(&b, '\n');
	update_format_line(&b, UPDATE_NOHOST, NULL, NULL);
	is_str(buf_str(&b), "good 192.0.2.1\nnohost", "lines append");
	buf_free(&b);
	buf_init(&b, 6);
	is_int(update_format_line(&b, UPDATE_GOOD, "192.0.2.1", NULL), ERR_TOOBIG, "buffer max");
	buf_free(&b);
}

static void
test_json(void)
{
	static const struct {
		enum update_status s;
		const char *v4, *v6, *want;
	} t[] = {
		{UPDATE_GOOD, "192.0.2.1", "2001:db8::1",
		 "{\"status\": \"good\", \"ipv4\": \"192.0.2.1\", \"ipv6\": \"2001:db8::1\"}"},
		{UPDATE_NOCHG, "192.0.2.1", NULL,
		 "{\"status\": \"nochg\", \"ipv4\": \"192.0.2.1\", \"ipv6\": null}"},
		{UPDATE_GOOD, "", "2001:db8::1",
		 "{\"status\": \"good\", \"ipv4\": null, \"ipv6\": \"2001:db8::1\"}"},
		{UPDATE_BADAUTH, "192.0.2.1", NULL,
		 "{\"status\": \"badauth\", \"ipv4\": null, \"ipv6\": null}"},
		{UPDATE_911, NULL, NULL, "{\"status\": \"911\", \"ipv4\": null, \"ipv6\": null}"},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		json_t *o = update_result_json(t[i].s, t[i].v4, t[i].v6);
		char *s = o ? json_dumps(o, JSON_PRESERVE_ORDER) : NULL;

		is_str(s, t[i].want, t[i].want);
		free(s);
		json_decref(o);
	}
}

int
main(void)
{
	test_detect_params();
	test_detect_forms();
	test_detect_rejected();
	test_detect_long();
	test_detect_prefix();
	test_detect_policy();
	test_names_hosts();
	test_split();
	test_decide();
	test_decide_edges();
	test_decide_due();
	test_host_v6();
	test_host_v6_reasons();
	test_decide_iid();
	test_decide_offline();
	test_host_change();
	test_status_str();
	test_format_line();
	test_json();
	return tap_done();
}
