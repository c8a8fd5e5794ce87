/* SPDX-License-Identifier: MIT */
/* Unit tests of reconcile_compare: a database row and what the server answered → the
 * repair of each family and the one UPDATE that carries it out. */
#include <string.h>

#include "reconcile.h"
#include "tap.h"

#define NOW 1700000000

static struct db_host
host(const char *v4, const char *v6)
{
	struct db_host h;

	memset(&h, 0, sizeof(h));
	snprintf(h.fqdn, sizeof(h.fqdn), "home.dyn.example.com");
	snprintf(h.zone, sizeof(h.zone), "dyn.example.com");
	h.dns_ttl = 60;
	h.expiry_ttl = 3600;
	snprintf(h.v4.ip, sizeof(h.v4.ip), "%s", v4);
	snprintf(h.v6.ip, sizeof(h.v6.ip), "%s", v6);
	h.v4.updated = v4[0] ? NOW - 10 : 0;
	h.v6.updated = v6[0] ? NOW - 10 : 0;
	return h;
}

static void
add_rr(struct reconcile_rrset *s, const char *ip, int ttl)
{
	addr_parse(ip, &s->addr[s->n]);
	s->ttl[s->n++] = ttl;
}

static void
test_in_line(void)
{
	struct db_host h = host("192.0.2.1", "2001:db8::1");
	struct reconcile_seen seen = {0};
	struct reconcile_plan p;

	add_rr(&seen.v4, "192.0.2.1", 60);
	add_rr(&seen.v6, "2001:0db8:0:0::1", 60);
	ok(!reconcile_compare(&h, NOW, &seen, &p), "in line: no drift");
	ok(p.v4 == RECONCILE_OK && p.v6 == RECONCILE_OK, "both families ok");
	ok(p.change.v4 == DNS_KEEP && p.change.v6 == DNS_KEEP, "nothing to send");

	h = host("", "");
	memset(&seen, 0, sizeof(seen));
	ok(!reconcile_compare(&h, NOW, &seen, &p), "never published, nothing in DNS: no drift");
}

static void
test_missing_and_wrong(void)
{
	struct db_host h = host("192.0.2.1", "2001:db8::1");
	struct reconcile_seen seen = {0};
	struct reconcile_plan p;

	add_rr(&seen.v6, "2001:db8::2", 60);
	ok(reconcile_compare(&h, NOW, &seen, &p), "missing A, wrong AAAA: drift");
	is_int(p.v4, RECONCILE_ADD, "missing record → add");
	is_int(p.v6, RECONCILE_REPLACE, "wrong address → replace");
	is_int(p.change.v4, DNS_SET, "add is a set");
	is_int(p.change.v6, DNS_SET, "replace is a set");
	is_str(p.change.ipv4, "192.0.2.1", "the database's IPv4");
	is_str(p.change.ipv6, "2001:db8::1", "the database's IPv6");
	is_int(p.change.ttl, 60, "with the host's dns_ttl");
	is_str(p.change.fqdn, "home.dyn.example.com", "the host's name");
	is_str(p.change.zone, "dyn.example.com", "in its zone");

	memset(&seen, 0, sizeof(seen));
	add_rr(&seen.v4, "192.0.2.1", 300);
	add_rr(&seen.v6, "2001:db8::1", 60);
	ok(reconcile_compare(&h, NOW, &seen, &p), "wrong TTL: drift");
	is_int(p.v4, RECONCILE_REPLACE, "wrong TTL → replace");
	is_int(p.v6, RECONCILE_OK, "the other family untouched");
	is_int(p.change.v6, DNS_KEEP, "and kept in the UPDATE");

	memset(&seen, 0, sizeof(seen));
	add_rr(&seen.v4, "192.0.2.1", 60);
	add_rr(&seen.v4, "192.0.2.7", 60);
	add_rr(&seen.v6, "2001:db8::1", 60);
	ok(reconcile_compare(&h, NOW, &seen, &p), "an extra A record: drift");
	is_int(p.v4, RECONCILE_REPLACE, "two records where one belongs → replace");
}

static void
test_absent_families(void)
{
	struct db_host h = host("192.0.2.1", "2001:db8::1");
	struct reconcile_seen seen = {0};
	struct reconcile_plan p;

	h.v6.expired = true;
	add_rr(&seen.v4, "192.0.2.1", 60);
	add_rr(&seen.v6, "2001:db8::1", 60);
	ok(reconcile_compare(&h, NOW, &seen, &p), "an expired family still in DNS: drift");
	is_int(p.v6, RECONCILE_DELETE, "expired → delete");
	is_int(p.change.v6, DNS_DELETE, "sent as a delete");
	is_str(p.change.ipv6, "", "without an address");

	h = host("192.0.2.1", "");
	ok(reconcile_compare(&h, NOW, &seen, &p), "a stale AAAA for a host without IPv6");
	is_int(p.v6, RECONCILE_DELETE, "never published → delete");
	is_int(p.v4, RECONCILE_OK, "the A record is fine");
}

/* A family whose expiry is due belongs to the expiry pass: reconcile neither re-adds
 * nor deletes it. */
static void
test_due_left_alone(void)
{
	struct db_host h = host("192.0.2.1", "2001:db8::1");
	struct reconcile_seen seen = {0};
	struct reconcile_plan p;

	h.v4.updated = NOW - 4000; /* expiry_ttl 3600: due */
	add_rr(&seen.v6, "2001:db8::1", 60);
	ok(!reconcile_compare(&h, NOW, &seen, &p), "a due family missing in DNS: no drift");
	add_rr(&seen.v4, "192.0.2.9", 60);
	ok(!reconcile_compare(&h, NOW, &seen, &p), "a due family with another address: no drift");
	h.expiry_ttl = 0; /* never expires: never due */
	ok(reconcile_compare(&h, NOW, &seen, &p), "a host that never expires is checked");
}

int
main(void)
{
	test_in_line();
	test_missing_and_wrong();
	test_absent_families();
	test_due_left_alone();
	return tap_done();
}
