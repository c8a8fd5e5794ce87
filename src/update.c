/* SPDX-License-Identifier: MIT */
/* The DynDNS protocol decision: addresses and hosts a request names, and what to do per host. */
#include "update.h"

#include <stdio.h>
#include <string.h>

#include "err.h"

static const char *const status_names[] = {
	[UPDATE_GOOD] = "good",	      [UPDATE_NOCHG] = "nochg",	    [UPDATE_BADAUTH] = "badauth",
	[UPDATE_NOHOST] = "nohost",   [UPDATE_NOTFQDN] = "notfqdn", [UPDATE_BADIP] = "badip",
	[UPDATE_NUMHOST] = "numhost", [UPDATE_DNSERR] = "dnserr",   [UPDATE_ABUSE] = "abuse",
	[UPDATE_911] = "911",
};

const char *
update_status_str(enum update_status s)
{
	if ((unsigned)s >= sizeof(status_names) / sizeof(status_names[0]))
		return "911";
	return status_names[s];
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* The item s[b..e) without the blanks around it, as [*ob, *oe). */
static void
trim(const char *s, size_t b, size_t e, size_t *ob, size_t *oe)
{
	while (b < e && is_blank(s[b]))
		b++;
	while (e > b && is_blank(s[e - 1]))
		e--;
	*ob = b;
	*oe = e;
}

/* Splits a "/nn" suffix off (FritzBox sends its LAN prefix as "2001:db8:1:2::/64"):
 * digits only, at most 3, not above the family's width. Anything else after "/" →
 * invalid. *plen gets the length, -1 when there is no suffix. */
static int
split_prefix(char *text, int *plen)
{
	char *slash = strchr(text, '/');
	size_t n = 0;
	int v = 0;

	*plen = -1;
	if (!slash)
		return 0;
	for (const char *p = slash + 1; *p; p++, n++) {
		if (*p < '0' || *p > '9' || n >= 3)
			return ERR_INVAL;
		v = v * 10 + (*p - '0');
	}
	if (n == 0 || v > 128 || (v > 32 && !strchr(text, ':')))
		return ERR_INVAL;
	*slash = '\0';
	*plen = v;
	return 0;
}

/* Whether `a` may be published (see update_detect_addrs); else ERR_INVAL and why. The
 * address in the message is our canonical text, never the client's bytes. */
static int
judge(const struct addr *a, bool public_only, char *why, size_t len)
{
	char text[ADDR_STRLEN];
	const char *range = NULL;
	enum addr_use use = addr_classify(a, &range);

	if (use == ADDR_USE_PUBLIC || (use == ADDR_USE_LOCAL && !public_only))
		return 0;
	addr_format(a, text, sizeof(text));
	if (use == ADDR_USE_NEVER)
		snprintf(why, len, "%s is never a host's address: %s", text,
			 range ? range : "no address");
	else
		snprintf(why, len,
			 "%s is not a public address: %s ([daemon] allow_private_addresses is "
			 "false)",
			 text, range);
	return ERR_INVAL;
}

/* One list item: an address fit to publish (unmapped, judged) and the /nn it carried
 * (-1 when none; always -1 for IPv4, whose suffix is dropped). */
static int
parse_item(const char *s, size_t len, struct update_addrs *r, struct addr *out, int *plen)
{
	char text[ADDR_STRLEN + 4]; /* address + "/128" */

	if (len >= sizeof(text))
		goto bad;
	memcpy(text, s, len);
	text[len] = '\0';
	if (split_prefix(text, plen) != 0 || addr_parse(text, out) != 0)
		goto bad;
	addr_unmap(out);
	if (out->family == AF_INET)
		*plen = -1;
	return judge(out, r->public_only, r->why, sizeof(r->why));
bad:
	snprintf(r->why, sizeof(r->why),
		 "an address value is not an IP address (with an "
		 "optional /prefixlen)");
	return ERR_INVAL;
}

/* Files `a` (with its /nn, -1 = none) under its family; a second, different value
 * for a family is an error. */
static int
add_addr(struct update_addrs *out, const struct addr *a, int plen)
{
	if (a->family == AF_INET) {
		if (out->has_v4 && !addr_equal(&out->v4, a))
			goto conflict;
		out->has_v4 = true;
		out->v4 = *a;
		return 0;
	}
	if (out->has_v6 && (!addr_equal(&out->v6, a) || out->v6_has_plen != (plen >= 0) ||
			    (plen >= 0 && out->v6_plen != plen)))
		goto conflict;
	out->has_v6 = true;
	out->v6 = *a;
	out->v6_has_plen = plen >= 0;
	out->v6_plen = plen >= 0 ? plen : 0;
	return 0;
conflict:
	snprintf(out->why, sizeof(out->why), "two different IPv%c values",
		 a->family == AF_INET ? '4' : '6');
	return ERR_INVAL;
}

static int
scan_param(const char *param, struct update_addrs *out)
{
	size_t len, start = 0;
	struct addr a;
	int plen;

	if (!param)
		return 0;
	len = strnlen(param, UPDATE_MAX_PARAM + 1);
	if (len > UPDATE_MAX_PARAM) {
		snprintf(out->why, sizeof(out->why), "an address value is longer than %d bytes",
			 UPDATE_MAX_PARAM);
		return ERR_INVAL;
	}
	while (start <= len) {
		const char *comma = memchr(param + start, ',', len - start);
		size_t end = comma ? (size_t)(comma - param) : len, b, e;

		trim(param, start, end, &b, &e);
		if (e > b) {
			if (parse_item(param + b, e - b, out, &a, &plen) != 0 ||
			    add_addr(out, &a, plen) != 0)
				return ERR_INVAL;
		}
		start = end + 1;
	}
	return 0;
}

/* No address in the parameters: the client's own, judged like any other. */
static int
use_client(const struct addr *client, struct update_addrs *r)
{
	struct addr c;

	if (!client || (client->family != AF_INET && client->family != AF_INET6)) {
		snprintf(r->why, sizeof(r->why), "no address given and no client address");
		return ERR_INVAL;
	}
	c = *client;
	addr_unmap(&c);
	if (judge(&c, r->public_only, r->why, sizeof(r->why)) != 0)
		return ERR_INVAL;
	return add_addr(r, &c, -1);
}

int
update_detect_addrs(const char *ipv4_param, const char *ipv6_param, const struct addr *client,
		    bool public_only, struct update_addrs *out)
{
	struct update_addrs r;
	int rc;

	if (!out)
		return ERR_INVAL;
	memset(&r, 0, sizeof(r));
	r.public_only = public_only;
	rc = scan_param(ipv4_param, &r);
	if (rc == 0)
		rc = scan_param(ipv6_param, &r);
	if (rc == 0 && !r.has_v4 && !r.has_v6)
		rc = use_client(client, &r);
	if (rc != 0) {
		memset(out, 0, sizeof(*out));
		memcpy(out->why, r.why, sizeof(out->why));
		return ERR_INVAL;
	}
	*out = r;
	return 0;
}

/* One name of the list s[b..e) (already trimmed) into h. */
static void
split_one(const char *s, size_t b, size_t e, struct update_host *h)
{
	char name[HOSTNAME_MAX * 4 + 1]; /* UTF-8 may take 4 bytes per A-label octet */

	memset(h, 0, sizeof(*h));
	h->status = UPDATE_NOTFQDN;
	if (e - b >= sizeof(name))
		return;
	memcpy(name, s + b, e - b);
	name[e - b] = '\0';
	if (hostname_normalize(name, h->fqdn, sizeof(h->fqdn)) != 0 || !hostname_is_fqdn(h->fqdn)) {
		h->fqdn[0] = '\0';
		return;
	}
	h->status = UPDATE_GOOD;
}

/* Counts the non-empty items, so that numhost is decided before any work is done. */
static size_t
count_items(const char *param, size_t len)
{
	size_t n = 0, start = 0;

	while (start <= len) {
		const char *comma = memchr(param + start, ',', len - start);
		size_t end = comma ? (size_t)(comma - param) : len, b, e;

		trim(param, start, end, &b, &e);
		if (e > b)
			n++;
		start = end + 1;
	}
	return n;
}

bool
update_names_hosts(const char *param)
{
	return param && count_items(param, strlen(param)) > 0;
}

int
update_split_hosts(const char *param, struct update_host *out, size_t max, size_t *len)
{
	size_t plen, n, start = 0, i = 0;

	if (!out || !len)
		return ERR_INVAL;
	*len = 0;
	plen = param ? strlen(param) : 0;
	n = param ? count_items(param, plen) : 0;
	if (n > max || (n == 0 && max == 0))
		return ERR_TOOBIG;
	if (n == 0) {
		memset(&out[0], 0, sizeof(out[0]));
		out[0].status = UPDATE_NOTFQDN;
		*len = 1;
		return 0;
	}
	while (start <= plen && i < n) {
		const char *comma = memchr(param + start, ',', plen - start);
		size_t end = comma ? (size_t)(comma - param) : plen, b, e;

		trim(param, start, end, &b, &e);
		if (e > b)
			split_one(param, b, e, &out[i++]);
		start = end + 1;
	}
	*len = i;
	return 0;
}

void
update_host_change(const struct db_host *h, struct dns_change *out)
{
	_Static_assert(sizeof(out->fqdn) == sizeof(h->fqdn) && sizeof(out->zone) == sizeof(h->zone),
		       "names fit");
	memset(out, 0, sizeof(*out));
	memcpy(out->fqdn, h->fqdn, sizeof(out->fqdn));
	memcpy(out->zone, h->zone, sizeof(out->zone));
	out->ttl = h->dns_ttl;
}

/* Decides one family `fam` (DB_V4 or DB_V6) of `row`: touch, set (and whether that is a
 * change), or keep. `due` is db_host_due_families of the row. */
static void
decide_family(const struct update_addrs *want, const struct db_host *row, int fam, int due,
	      struct update_plan *out)
{
	bool v4 = fam == DB_V4;
	const struct addr *a = v4 ? &want->v4 : &want->v6;
	const struct db_rr *rr = v4 ? &row->v4 : &row->v6;
	char *plan_ip = v4 ? out->ipv4 : out->ipv6;
	struct addr stored;
	bool same;

	if (!(v4 ? want->has_v4 : want->has_v6))
		return; /* DNS_KEEP */
	addr_format(a, plan_ip, ADDR_STRLEN);
	same = addr_parse(rr->ip, &stored) == 0 && (addr_unmap(&stored), addr_equal(&stored, a));
	if (same && !rr->expired && !(due & fam)) {
		out->touch_families |= fam;
		return;
	}
	*(v4 ? &out->change.v4 : &out->change.v6) = DNS_SET;
	memcpy(v4 ? out->change.ipv4 : out->change.ipv6, plan_ip, ADDR_STRLEN);
	out->set_families |= fam;
	*(v4 ? &out->v4_changed : &out->v6_changed) = !same;
}

int
update_host_v6(const struct update_addrs *want, const struct db_host *row, struct addr *out,
	       char *why, size_t len)
{
	struct addr iid, a;
	char text[ADDR_STRLEN];

	if (!want || !row || !out || !want->has_v6)
		return ERR_INVAL;
	a = want->v6;
	if (want->v6_has_plen && row->ipv6_iid[0] != '\0') {
		if (addr_parse(row->ipv6_iid, &iid) != 0 || iid.family != AF_INET6 ||
		    addr_combine(&want->v6, want->v6_plen, &iid, &a) != 0) {
			snprintf(why, len, "the stored IPv6 interface identifier is not usable");
			return ERR_INVAL;
		}
	} else if (want->v6_has_plen && want->v6_plen < 128 &&
		   addr_host_bits_zero(&want->v6, want->v6_plen)) {
		snprintf(why, len,
			 "%s/%d is a network, not a host, and the host has no IPv6 interface "
			 "identifier to complete it; set one with: ddns-service hostname modify "
			 "%s %s --ipv6-iid ::<interface identifier>",
			 addr_format(&want->v6, text, sizeof(text)), want->v6_plen, row->hostname,
			 row->zone);
		return ERR_INVAL;
	}
	if (judge(&a, want->public_only, why, len) != 0)
		return ERR_INVAL;
	*out = a;
	return 0;
}

/* Published: an address that DNS serves as far as the database knows. */
static bool
is_published(const struct db_rr *rr)
{
	return rr->ip[0] != '\0' && !rr->expired;
}

/* offline=YES: delete what is published (see update_decide). */
static void
decide_offline(const struct db_host *row, struct update_plan *out)
{
	int present = (is_published(&row->v4) ? DB_V4 : 0) | (is_published(&row->v6) ? DB_V6 : 0);

	if (!present) {
		out->status = UPDATE_NOCHG;
		return;
	}
	out->change.v4 = DNS_DELETE;
	out->change.v6 = DNS_DELETE;
	out->offline_families = present;
	out->status = UPDATE_GOOD;
}

void
update_decide(const struct update_addrs *want, const struct db_host *row, const char *user,
	      int64_t now, struct update_plan *out)
{
	static const struct update_addrs none;
	struct update_addrs w;
	int due;

	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	if (!row || !user || strcmp(row->owner, user) != 0) {
		out->status = UPDATE_NOHOST;
		return;
	}
	if (!want)
		want = &none;
	update_host_change(row, &out->change);
	if (want->offline) {
		decide_offline(row, out);
		return;
	}
	w = *want;
	if (w.has_v6 && update_host_v6(want, row, &w.v6, out->why, sizeof(out->why)) != 0) {
		out->status = UPDATE_BADIP;
		return;
	}
	due = db_host_due_families(row, now);
	decide_family(&w, row, DB_V4, due, out);
	decide_family(&w, row, DB_V6, due, out);
	out->status = out->set_families ? UPDATE_GOOD : UPDATE_NOCHG;
}

static bool
has_addrs(enum update_status s)
{
	return s == UPDATE_GOOD || s == UPDATE_NOCHG;
}

static bool
nonempty(const char *s)
{
	return s && s[0] != '\0';
}

int
update_format_line(struct buf *out, enum update_status s, const char *ipv4, const char *ipv6)
{
	const char *sep = " ";
	int rc;

	if (!out)
		return ERR_INVAL;
	if ((rc = buf_adds(out, update_status_str(s))) != 0 || !has_addrs(s))
		return rc;
	if (nonempty(ipv4)) {
		if ((rc = buf_adds(out, sep)) != 0 || (rc = buf_adds(out, ipv4)) != 0)
			return rc;
		sep = ",";
	}
	if (nonempty(ipv6)) {
		if ((rc = buf_adds(out, sep)) != 0 || (rc = buf_adds(out, ipv6)) != 0)
			return rc;
	}
	return 0;
}

/* A JSON string for a non-empty address, else JSON null (both new references). */
static json_t *
json_addr(bool show, const char *ip)
{
	return show && nonempty(ip) ? json_string(ip) : json_null();
}

json_t *
update_result_json(enum update_status s, const char *ipv4, const char *ipv6)
{
	json_t *o = json_object();
	bool show = has_addrs(s);

	if (!o)
		return NULL;
	if (json_object_set_new(o, "status", json_string(update_status_str(s))) != 0 ||
	    json_object_set_new(o, "ipv4", json_addr(show, ipv4)) != 0 ||
	    json_object_set_new(o, "ipv6", json_addr(show, ipv6)) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}
