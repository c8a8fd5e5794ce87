/* SPDX-License-Identifier: MIT */
/* RFC 2136 UPDATE of A/AAAA RRsets and TXT records of one or many names of a zone: built
 * with ldns, signed with our TSIG code, sent over non-blocking UDP (TCP on truncation or
 * for large messages) under one deadline, through a client that keeps its UDP socket
 * between exchanges. */
#include "dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "clock.h"
#include "err.h"
#include "metrics.h"

#define DNS_UDP_MAX	      512   /* RFC 1035 UDP payload without EDNS; larger goes TCP */
#define DNS_MSG_MAX	      65535 /* the most a TCP length prefix can announce */
#define DNS_HDR		      12
#define UDP_MAX_SENDS	      4	  /* transmissions of one UDP request */
#define UDP_RETRANSMIT_MIN_MS 200 /* retransmit interval bounds; the interval is timeout/4 */
#define UDP_RETRANSMIT_MAX_MS 2000
#define UDP_REFUSED_RETRY_MS  100	 /* pause before resending after ICMP port unreachable */
#define TTL_MAX		      2147483647 /* RFC 2181 section 8 */

/* A server and what is kept between exchanges with it (dns.h). */
struct dns_client {
	struct sockaddr_storage sa;
	socklen_t salen;
	char where[ADDR_STRLEN + 10]; /* "192.0.2.1:53" / "[2001:db8::1]:53" for messages */
	int timeout_ms;
	int udp;	      /* connected UDP socket, -1 until the first UDP exchange */
	unsigned char *reply; /* DNS_MSG_MAX bytes, allocated on first use */
};

/* One exchange with the server: what, until when, and the reply. */
struct xfer {
	struct dns_client *c;
	const char *where;
	int64_t deadline; /* CLOCK_MONOTONIC, ms */
	int timeout_ms;
	unsigned char *req; /* 2 bytes of room for the TCP length, then the message */
	size_t req_len;
	unsigned char *reply; /* the client's buffer */
	size_t reply_len;
	const ldns_rdf *zone; /* to match the reply's zone section */
	bool sent;	      /* the request left this host at least once */
	bool refused;	      /* ... and the port turned out to be closed */
	char note[80];	      /* why replies were ignored, for the timeout message */
};

static int fail(struct dns_result *res, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records the reason in res->msg and returns rc, so callers can `return fail(...)`. */
static int
fail(struct dns_result *res, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->msg, sizeof(res->msg), fmt, ap);
	va_end(ap);
	return rc;
}

/* --- validation and message construction ----------------------------------------------------- */

/* A name we hand to ldns: LDH plus '_' and dots only, so ldns's escapes and '@' never
 * apply; one trailing dot allowed. Returns a new absolute dname or NULL. */
static ldns_rdf *
make_dname(const char *name)
{
	char buf[HOSTNAME_MAX + 2];
	size_t len = strnlen(name, HOSTNAME_MAX + 2);

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > HOSTNAME_MAX)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return NULL;
		if (c == '.' && (i == 0 || name[i - 1] == '.'))
			return NULL;
	}
	memcpy(buf, name, len);
	buf[len] = '.';
	buf[len + 1] = '\0';
	return ldns_dname_new_frm_str(buf);
}

static bool
is_action_valid(enum dns_action a)
{
	return a == DNS_KEEP || a == DNS_SET || a == DNS_DELETE;
}

static bool
is_txt_action_valid(enum dns_txt_action a)
{
	return a == DNS_TXT_KEEP || a == DNS_TXT_ADD || a == DNS_TXT_REMOVE || a == DNS_TXT_CLEAR;
}

/* A TXT value we send as one character-string: 1..DNS_TXT_MAX printable ASCII bytes
 * (the server stores bytes; printable keeps logs and zone files readable). */
static bool
is_txt_value_valid(const char *v)
{
	size_t n = strnlen(v, DNS_TXT_MAX + 1);

	if (n == 0 || n > DNS_TXT_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (v[i] < 0x20 || v[i] > 0x7e)
			return false;
	return true;
}

/* Whether the change adds records, which need a TTL. */
static bool
adds_records(const struct dns_change *ch)
{
	return ch->v4 == DNS_SET || ch->v6 == DNS_SET || ch->txt == DNS_TXT_ADD;
}

static int
check_change(const struct dns_change *ch, struct dns_result *res)
{
	unsigned char bin[16];

	if (!is_action_valid(ch->v4) || !is_action_valid(ch->v6) || !is_txt_action_valid(ch->txt))
		return fail(res, ERR_INVAL, "invalid change action");
	if (ch->v4 == DNS_KEEP && ch->v6 == DNS_KEEP && ch->txt == DNS_TXT_KEEP)
		return fail(res, ERR_INVAL, "nothing to change");
	if (adds_records(ch) && (ch->ttl < 0 || ch->ttl > TTL_MAX))
		return fail(res, ERR_INVAL, "TTL %d out of range 0..%d", ch->ttl, TTL_MAX);
	if ((ch->txt == DNS_TXT_ADD || ch->txt == DNS_TXT_REMOVE) &&
	    !is_txt_value_valid(ch->txt_value))
		return fail(res, ERR_INVAL, "invalid TXT value (1..%d printable ASCII bytes)",
			    DNS_TXT_MAX);
	if (ch->v4 == DNS_SET && inet_pton(AF_INET, ch->ipv4, bin) != 1)
		return fail(res, ERR_INVAL, "invalid IPv4 address");
	if (ch->v6 == DNS_SET && inet_pton(AF_INET6, ch->ipv6, bin) != 1)
		return fail(res, ERR_INVAL, "invalid IPv6 address");
	return 0;
}

static int
check_server(const struct dns_server *srv, struct dns_client *x, struct dns_result *res)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&x->sa;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&x->sa;

	memset(&x->sa, 0, sizeof(x->sa));
	if (srv->port < 1 || srv->port > 65535)
		return fail(res, ERR_INVAL, "DNS port %d out of range", srv->port);
	if (srv->timeout_ms <= 0)
		return fail(res, ERR_INVAL, "DNS timeout must be positive");
	if (inet_pton(AF_INET, srv->addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)srv->port);
		x->salen = sizeof(*s4);
		snprintf(x->where, sizeof(x->where), "%s:%d", srv->addr, srv->port);
	} else if (inet_pton(AF_INET6, srv->addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)srv->port);
		x->salen = sizeof(*s6);
		snprintf(x->where, sizeof(x->where), "[%s]:%d", srv->addr, srv->port);
	} else {
		return fail(res, ERR_INVAL, "DNS server '%.60s' is not an IP address", srv->addr);
	}
	x->timeout_ms = srv->timeout_ms;
	return 0;
}

/* Appends "delete RRset" (CLASS ANY, TTL 0, no rdata; RFC 2136 2.5.2) to `list`. */
static bool
push_delete(ldns_rr_list *list, const ldns_rdf *owner, ldns_rr_type type)
{
	ldns_rr *rr = ldns_rr_new();
	ldns_rdf *o = ldns_rdf_clone(owner);

	if (rr == NULL || o == NULL) {
		ldns_rr_free(rr);
		ldns_rdf_deep_free(o);
		return false;
	}
	ldns_rr_set_owner(rr, o);
	ldns_rr_set_ttl(rr, 0);
	ldns_rr_set_class(rr, LDNS_RR_CLASS_ANY);
	ldns_rr_set_type(rr, type);
	if (!ldns_rr_list_push_rr(list, rr)) {
		ldns_rr_free(rr);
		return false;
	}
	return true;
}

/* Appends "add to an RRset" (CLASS IN, the TTL, one address) to `list`. */
/* Appends one RR of `type` and class `cls` at `owner` with the data `rd` (taken over:
 * freed on failure too). */
static bool
push_rr(ldns_rr_list *list, const ldns_rdf *owner, ldns_rr_type type, ldns_rr_class cls, int ttl,
	ldns_rdf *rd)
{
	ldns_rr *rr = ldns_rr_new();
	ldns_rdf *o = ldns_rdf_clone(owner);

	if (rr == NULL || o == NULL || rd == NULL) {
		ldns_rr_free(rr);
		ldns_rdf_deep_free(o);
		ldns_rdf_deep_free(rd);
		return false;
	}
	ldns_rr_set_owner(rr, o);
	ldns_rr_set_ttl(rr, (uint32_t)ttl);
	ldns_rr_set_class(rr, cls);
	ldns_rr_set_type(rr, type);
	if (!ldns_rr_push_rdf(rr, rd)) {
		ldns_rdf_deep_free(rd);
		ldns_rr_free(rr);
		return false;
	}
	if (!ldns_rr_list_push_rr(list, rr)) {
		ldns_rr_free(rr);
		return false;
	}
	return true;
}

static bool
push_add(ldns_rr_list *list, const ldns_rdf *owner, ldns_rr_type type, int ttl, const char *ip)
{
	return push_rr(list, owner, type, LDNS_RR_CLASS_IN, ttl,
		       ldns_rdf_new_frm_str(
			       type == LDNS_RR_TYPE_A ? LDNS_RDF_TYPE_A : LDNS_RDF_TYPE_AAAA, ip));
}

/* Appends one TXT record with the value `v` as one character-string: class IN with the
 * TTL adds it (RFC 2136 2.5.1), class NONE with TTL 0 deletes exactly it (2.5.4). */
static bool
push_txt_rr(ldns_rr_list *list, const ldns_rdf *owner, ldns_rr_class cls, int ttl, const char *v)
{
	uint8_t data[DNS_TXT_MAX + 1];
	size_t n = strlen(v);

	data[0] = (uint8_t)n;
	memcpy(data + 1, v, n);
	return push_rr(list, owner, LDNS_RR_TYPE_TXT, cls, ttl,
		       ldns_rdf_new_frm_data(LDNS_RDF_TYPE_STR, n + 1, data));
}

static bool
push_txt(ldns_rr_list *list, const ldns_rdf *owner, const struct dns_change *ch)
{
	switch (ch->txt) {
	case DNS_TXT_ADD: return push_txt_rr(list, owner, LDNS_RR_CLASS_IN, ch->ttl, ch->txt_value);
	case DNS_TXT_REMOVE: return push_txt_rr(list, owner, LDNS_RR_CLASS_NONE, 0, ch->txt_value);
	case DNS_TXT_CLEAR: return push_delete(list, owner, LDNS_RR_TYPE_TXT);
	default: return true;
	}
}

static bool
push_family(ldns_rr_list *list, const ldns_rdf *owner, ldns_rr_type type, enum dns_action a,
	    int ttl, const char *ip)
{
	if (a == DNS_KEEP)
		return true;
	if (!push_delete(list, owner, type))
		return false;
	return a == DNS_DELETE || push_add(list, owner, type, ttl, ip);
}

/* Appends one change's RRs to `up`, after checking that its name is in `zone`. */
static int
push_change(ldns_rr_list *up, const struct dns_change *ch, const ldns_rdf *zone, const char *zname,
	    struct dns_result *res)
{
	ldns_rdf *owner = make_dname(ch->fqdn);
	int rc = 0;

	if (owner == NULL)
		return fail(res, ERR_INVAL, "invalid host name '%.80s'", ch->fqdn);
	if (ldns_dname_compare(owner, zone) != 0 && !ldns_dname_is_subdomain(owner, zone))
		rc = fail(res, ERR_INVAL, "%.80s is not in zone %.80s", ch->fqdn, zname);
	else if (!push_family(up, owner, LDNS_RR_TYPE_A, ch->v4, ch->ttl, ch->ipv4) ||
		 !push_family(up, owner, LDNS_RR_TYPE_AAAA, ch->v6, ch->ttl, ch->ipv6) ||
		 !push_txt(up, owner, ch))
		rc = fail(res, ERR_NOMEM, "out of memory building the UPDATE");
	ldns_rdf_deep_free(owner);
	return rc;
}

/* The packet for chs[0..n) with a random ID into *out (caller frees). */
static int
build_pkt(const struct dns_change *chs, size_t n, ldns_rdf *zone, const char *zname, ldns_pkt **out,
	  struct dns_result *res)
{
	ldns_rr_list *up = ldns_rr_list_new();
	ldns_rdf *zclone = ldns_rdf_clone(zone);
	uint16_t id;
	int rc = 0;

	*out = NULL;
	if (up == NULL || zclone == NULL)
		rc = fail(res, ERR_NOMEM, "out of memory building the UPDATE");
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = push_change(up, &chs[i], zone, zname, res);
	/* The ID guards against off-path spoofing: take it from the kernel's CSPRNG. */
	if (rc == 0 && getrandom(&id, sizeof(id), 0) != sizeof(id))
		rc = fail(res, ERR_INTERNAL, "getrandom: %s", strerror(errno));
	/* The packet takes the zone's dname and copies the list of RRs. */
	if (rc == 0 &&
	    (*out = ldns_update_pkt_new(zclone, LDNS_RR_CLASS_IN, NULL, up, NULL)) == NULL)
		rc = fail(res, ERR_NOMEM, "out of memory building the UPDATE");
	ldns_rr_list_deep_free(up);
	if (rc != 0) {
		ldns_rdf_deep_free(zclone);
		return rc;
	}
	ldns_pkt_set_id(*out, id);
	ldns_pkt_set_rd(*out, false);
	return 0;
}

/* build_wire: the UPDATE for chs[0..n) in wire form into x->req (after 2 bytes of
 * room), with room left for a TSIG RR. */
static int
build_wire(const struct dns_change *chs, size_t n, ldns_rdf *zone, const char *zname,
	   struct xfer *x, struct dns_result *res)
{
	ldns_pkt *pkt = NULL;
	uint8_t *wire = NULL;
	size_t size = 0;
	int rc = build_pkt(chs, n, zone, zname, &pkt, res);

	if (rc != 0)
		return rc;
	if (ldns_pkt2wire(&wire, pkt, &size) != LDNS_STATUS_OK)
		rc = fail(res, ERR_NOMEM, "out of memory building the UPDATE");
	else if (size + TSIG_MAX_RR > DNS_MSG_MAX)
		rc = fail(res, ERR_TOOBIG, "UPDATE of %zu names is too large (%zu bytes)", n, size);
	else if ((x->req = malloc(2 + size + TSIG_MAX_RR)) == NULL)
		rc = fail(res, ERR_NOMEM, "out of memory building the UPDATE");
	if (rc == 0) {
		memcpy(x->req + 2, wire, size);
		x->req_len = size;
	}
	free(wire);
	ldns_pkt_free(pkt);
	return rc;
}

/* --- reply handling --------------------------------------------------------------------------- */

enum verdict {
	REPLY_IGNORE, /* not ours (ID, zone) or unreadable: keep waiting on UDP */
	REPLY_TRUNC,  /* TC set: retry over TCP */
	REPLY_OK      /* ours: classify it */
};

static unsigned
get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* Whether `r` answers our request: same ID, QR set, opcode UPDATE, and the same zone
 * (error replies without a zone section are taken as they are). */
static enum verdict
check_reply(struct xfer *x, const unsigned char *r, size_t len)
{
	ldns_pkt *p = NULL;
	enum verdict v = REPLY_IGNORE;

	if (len < DNS_HDR || get16(r) != get16(x->req + 2) || !(r[2] & 0x80) ||
	    ((r[2] >> 3) & 0x0f) != LDNS_PACKET_UPDATE) {
		snprintf(x->note, sizeof(x->note), "ignored a reply with wrong ID or opcode");
		return REPLY_IGNORE;
	}
	if (r[2] & 0x02)
		return REPLY_TRUNC;
	if (ldns_wire2pkt(&p, r, len) != LDNS_STATUS_OK) {
		snprintf(x->note, sizeof(x->note), "ignored a malformed reply");
		return REPLY_IGNORE;
	}
	ldns_rr_list *q = ldns_pkt_question(p);
	if (ldns_pkt_qdcount(p) == 0 && (r[3] & 0x0f) != 0)
		v = REPLY_OK;
	else if (ldns_pkt_qdcount(p) == 1 && ldns_rr_list_rr_count(q) == 1 &&
		 ldns_rr_get_type(ldns_rr_list_rr(q, 0)) == LDNS_RR_TYPE_SOA &&
		 ldns_dname_compare(ldns_rr_owner(ldns_rr_list_rr(q, 0)), x->zone) == 0)
		v = REPLY_OK;
	else
		snprintf(x->note, sizeof(x->note), "ignored a reply for another zone");
	ldns_pkt_free(p);
	return v;
}

static const char *
rcode_name(int rcode)
{
	ldns_lookup_table *t = ldns_lookup_by_id(ldns_rcodes, rcode);

	return t ? t->name : "RCODE?";
}

/* classify: turns our reply into the result. A signed request must get a verified
 * reply; the exceptions are unsigned error replies (BADSIG/BADKEY with an empty MAC,
 * or servers like PowerDNS that answer a bad key with plain REFUSED), which can only
 * make us report failure, never success. */
static int
classify(const struct tsig_key *key, const unsigned char *mac, size_t mac_len, const struct xfer *x,
	 struct dns_result *res)
{
	const unsigned char *r = x->reply;
	const char *how = "";
	int vr = 0;

	res->rcode = r[3] & 0x0f;
	if (key != NULL) {
		vr = tsig_verify(key, r, x->reply_len, mac, mac_len, (uint64_t)time(NULL),
				 &res->tsig_error);
		if (vr == ERR_NOTFOUND)
			how = ", reply unsigned";
		else if (vr != 0 && res->tsig_error == 0)
			how = ", reply TSIG did not verify";
	}
	if (res->tsig_error != 0) {
		const char *te = tsig_error_str(res->tsig_error);
		if (te)
			return fail(res, ERR_DNS, "%s (%s) from %s", rcode_name(res->rcode), te,
				    x->where);
		return fail(res, ERR_DNS, "%s (TSIG error %d) from %s", rcode_name(res->rcode),
			    res->tsig_error, x->where);
	}
	if (res->rcode != LDNS_RCODE_NOERROR)
		return fail(res, ERR_DNS, "%s from %s%s", rcode_name(res->rcode), x->where, how);
	if (vr != 0)
		return fail(res, ERR_CRYPTO, "NOERROR from %s but %s", x->where,
			    vr == ERR_NOTFOUND ? "the reply is unsigned"
					       : "its TSIG did not verify");
	res->msg[0] = '\0';
	return 0;
}

/* --- transports --------------------------------------------------------------------------- */

static int
open_socket(const struct xfer *x, int type)
{
	return socket(x->c->sa.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

/* Waits for `events` on fd until the deadline. 1 ready, 0 deadline, -1 error. */
static int
wait_fd(int fd, short events, int64_t until)
{
	for (;;) {
		int64_t left = until - clock_mono_ms();
		struct pollfd p = {fd, events, 0};
		if (left <= 0)
			return 0;
		int n = poll(&p, 1, (int)(left > INT32_MAX ? INT32_MAX : left));
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

static int
timed_out(const struct xfer *x, struct dns_result *res, const char *proto)
{
	return fail(res, ERR_TIMEOUT, "timeout after %d ms talking to %s (%s)%s%s", x->timeout_ms,
		    x->where, proto, x->note[0] ? ": " : "", x->note);
}

/* Reads the datagrams waiting on fd. 1 = a reply of ours (or TC) is in x->reply,
 * 0 = nothing usable yet, -1 = the socket failed (errno says why; ECONNREFUSED when an
 * ICMP port unreachable came back). */
static int
udp_drain(int fd, struct xfer *x, enum verdict *v)
{
	for (;;) {
		ssize_t n = recv(fd, x->reply, DNS_MSG_MAX, MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0)
			return -1;
		if ((size_t)n > DNS_MSG_MAX)
			continue; /* cannot be a DNS message */
		*v = check_reply(x, x->reply, (size_t)n);
		if (*v != REPLY_IGNORE) {
			x->reply_len = (size_t)n;
			return 1;
		}
	}
}

/* The retransmission state of one UDP exchange. */
struct udp_state {
	int fd, interval, sends, refused;
	int64_t next_send;
};

/* Sends when it is time to. 0, or -1 with errno (ECONNREFUSED included). */
static int
udp_maybe_send(struct udp_state *u, struct xfer *x, int64_t now)
{
	if (u->sends >= UDP_MAX_SENDS || now < u->next_send)
		return 0;
	u->sends++;
	u->next_send = now + u->interval;
	if (send(u->fd, x->req + 2, x->req_len, 0) < 0) {
		if (errno != EAGAIN && errno != EINTR)
			return -1;
	} else {
		x->sent = true;
	}
	return 0;
}

/* One round: send if due, wait until the next send or the deadline, read.
 * 1 = reply, 0 = keep going, 2 = refused for good, -1 = error (errno). */
static int
udp_round(struct udp_state *u, struct xfer *x, enum verdict *v)
{
	int64_t now = clock_mono_ms(), until = x->deadline;
	int rc = udp_maybe_send(u, x, now);

	if (rc == 0) {
		if (u->sends < UDP_MAX_SENDS && u->next_send < until)
			until = u->next_send;
		if (wait_fd(u->fd, POLLIN, until) < 0)
			return -1;
		rc = udp_drain(u->fd, x, v);
	}
	if (rc < 0 && errno == ECONNREFUSED) {
		/* Nothing listens (yet): a few quick retries, then give up early. */
		if (++u->refused >= UDP_MAX_SENDS || u->sends >= UDP_MAX_SENDS)
			return 2;
		u->next_send = clock_mono_ms() + UDP_REFUSED_RETRY_MS;
		return 0;
	}
	return rc;
}

/* The client's connected UDP socket, made on first use: connected, so the kernel drops
 * datagrams from other addresses and reports ICMP errors. What a previous exchange
 * left in it (a late reply, a pending ICMP error) is read and dropped first. */
static int
udp_socket(struct xfer *x, struct dns_result *res)
{
	struct dns_client *c = x->c;
	unsigned char junk[16];

	if (c->udp >= 0) {
		while (recv(c->udp, junk, sizeof(junk), MSG_TRUNC) >= 0 || errno == EINTR ||
		       errno == ECONNREFUSED)
			;
		return c->udp;
	}
	if ((c->udp = open_socket(x, SOCK_DGRAM)) < 0)
		return fail(res, ERR_IO, "udp socket: %s", strerror(errno));
	if (connect(c->udp, (struct sockaddr *)&c->sa, c->salen) != 0) {
		int rc = fail(res, ERR_IO, "connect to %s: %s", x->where, strerror(errno));

		close(c->udp);
		c->udp = -1;
		return rc;
	}
	return c->udp;
}

/* udp_exchange: sends the request up to UDP_MAX_SENDS times, waits for a matching reply.
 * 0 with the reply in x->reply; 1 when the reply is truncated (use TCP); or an error. */
static int
udp_exchange(struct xfer *x, struct dns_result *res)
{
	struct udp_state u = {-1, x->timeout_ms / 4, 0, 0, clock_mono_ms()};
	enum verdict v = REPLY_IGNORE;
	int rc = 0;

	if (u.interval < UDP_RETRANSMIT_MIN_MS)
		u.interval = UDP_RETRANSMIT_MIN_MS;
	if (u.interval > UDP_RETRANSMIT_MAX_MS)
		u.interval = UDP_RETRANSMIT_MAX_MS;
	if ((u.fd = udp_socket(x, res)) < 0)
		return u.fd;
	while (rc == 0 && clock_mono_ms() < x->deadline)
		rc = udp_round(&u, x, &v);
	if (rc == 0)
		return timed_out(x, res, "udp");
	if (rc == 2) {
		x->refused = true;
		return fail(res, ERR_IO, "connection refused by %s (udp)", x->where);
	}
	if (rc < 0) {
		rc = fail(res, ERR_IO, "udp exchange with %s: %s", x->where, strerror(errno));
		/* A socket in an unknown state is not kept. */
		close(x->c->udp);
		x->c->udp = -1;
		return rc;
	}
	return v == REPLY_TRUNC ? 1 : 0;
}

static int
tcp_connect(int fd, struct xfer *x, struct dns_result *res)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (connect(fd, (struct sockaddr *)&x->c->sa, x->c->salen) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return fail(res, ERR_IO, "connect to %s (tcp): %s", x->where, strerror(errno));
	int w = wait_fd(fd, POLLOUT, x->deadline);
	if (w == 0)
		return timed_out(x, res, "tcp connect");
	if (w < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		return fail(res, ERR_IO, "connect to %s (tcp): %s", x->where, strerror(errno));
	if (err != 0)
		return fail(res, ERR_IO, "connect to %s (tcp): %s", x->where, strerror(err));
	return 0;
}

static int
tcp_write(int fd, const unsigned char *p, size_t len, struct xfer *x, struct dns_result *res)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			x->sent = true;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return fail(res, ERR_IO, "send to %s (tcp): %s", x->where, strerror(errno));
		int w = wait_fd(fd, POLLOUT, x->deadline);
		if (w == 0)
			return timed_out(x, res, "tcp");
		if (w < 0)
			return fail(res, ERR_IO, "poll: %s", strerror(errno));
	}
	return 0;
}

static int
tcp_read(int fd, unsigned char *p, size_t len, struct xfer *x, struct dns_result *res)
{
	while (len > 0) {
		ssize_t n = recv(fd, p, len, 0);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == 0)
			return fail(res, ERR_IO, "%s closed the TCP connection", x->where);
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return fail(res, ERR_IO, "recv from %s (tcp): %s", x->where,
				    strerror(errno));
		int w = wait_fd(fd, POLLIN, x->deadline);
		if (w == 0)
			return timed_out(x, res, "tcp");
		if (w < 0)
			return fail(res, ERR_IO, "poll: %s", strerror(errno));
	}
	return 0;
}

/* tcp_exchange: one request, one reply, one connection (RFC 7766 framing). */
static int
tcp_exchange(struct xfer *x, struct dns_result *res)
{
	unsigned char lenbuf[2];
	int fd = open_socket(x, SOCK_STREAM), rc;

	if (fd < 0)
		return fail(res, ERR_IO, "tcp socket: %s", strerror(errno));
	x->req[0] = (unsigned char)(x->req_len >> 8);
	x->req[1] = (unsigned char)x->req_len;
	if ((rc = tcp_connect(fd, x, res)) != 0 ||
	    (rc = tcp_write(fd, x->req, x->req_len + 2, x, res)) != 0 ||
	    (rc = tcp_read(fd, lenbuf, 2, x, res)) != 0)
		goto out;
	x->reply_len = get16(lenbuf);
	if ((rc = tcp_read(fd, x->reply, x->reply_len, x, res)) != 0)
		goto out;
	if (check_reply(x, x->reply, x->reply_len) != REPLY_OK)
		rc = fail(res, ERR_IO, "unusable TCP reply from %s (%s)", x->where,
			  x->note[0] ? x->note : "truncated");
out:
	close(fd);
	return rc;
}

static int
exchange(struct xfer *x, struct dns_result *res)
{
	int rc;

	x->deadline = clock_mono_ms() + x->timeout_ms;
	if (x->c->reply == NULL && (x->c->reply = malloc(DNS_MSG_MAX)) == NULL)
		return fail(res, ERR_NOMEM, "out of memory for the reply");
	x->reply = x->c->reply;
	if (x->req_len > DNS_UDP_MAX)
		return tcp_exchange(x, res);
	rc = udp_exchange(x, res);
	if (rc == 1)
		rc = tcp_exchange(x, res);
	return rc;
}

int
dns_client_new(const struct dns_server *srv, struct dns_client **out, struct dns_result *res)
{
	struct dns_client *c = calloc(1, sizeof(*c));
	int rc;

	*out = NULL;
	res->rcode = -1;
	res->tsig_error = 0;
	res->maybe_applied = false;
	res->msg[0] = '\0';
	if (c == NULL)
		return fail(res, ERR_NOMEM, "out of memory");
	c->udp = -1;
	if ((rc = check_server(srv, c, res)) != 0) {
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void
dns_client_free(struct dns_client *c)
{
	if (c == NULL)
		return;
	if (c->udp >= 0)
		close(c->udp);
	free(c->reply);
	free(c);
}

/* Builds, signs, sends and classifies one UPDATE. */
static int
client_update(struct xfer *x, const struct tsig_key *key, ldns_rdf *zone, const char *zname,
	      const struct dns_change *chs, size_t n, struct dns_result *res)
{
	unsigned char mac[TSIG_MAX_MAC];
	size_t mac_len = 0;
	int rc;

	for (size_t i = 0; i < n; i++)
		if ((rc = check_change(&chs[i], res)) != 0)
			return rc;
	if ((rc = build_wire(chs, n, zone, zname, x, res)) != 0)
		return rc;
	if (key != NULL) {
		rc = tsig_sign(key, x->req + 2, &x->req_len, x->req_len + TSIG_MAX_RR,
			       (uint64_t)time(NULL), mac, &mac_len);
		if (rc != 0)
			return fail(res, rc, "TSIG signing with key %.80s failed: %s", key->name,
				    err_str(rc));
	}
	if ((rc = exchange(x, res)) == 0)
		rc = classify(key, mac, mac_len, x, res);
	return rc;
}

int
dns_client_update(struct dns_client *c, const struct tsig_key *key, const char *zone,
		  const struct dns_change *chs, size_t n, struct dns_result *res)
{
	struct xfer x;
	ldns_rdf *z = NULL;
	int64_t start_us = clock_mono_us();
	int rc;

	memset(&x, 0, sizeof(x));
	res->rcode = -1;
	res->tsig_error = 0;
	res->maybe_applied = false;
	res->msg[0] = '\0';
	if (n == 0)
		return fail(res, ERR_INVAL, "nothing to change");
	if ((z = make_dname(zone)) == NULL)
		return fail(res, ERR_INVAL, "invalid zone name '%.80s'", zone);
	x.c = c;
	x.where = c->where;
	x.timeout_ms = c->timeout_ms;
	x.zone = z;
	rc = client_update(&x, key, z, zone, chs, n, res);
	/* Only an answer we trust, or a refusal before anything arrived, is certain. */
	res->maybe_applied = rc != 0 && rc != ERR_DNS && x.sent && !x.refused;
	metrics_count_dns_update(zone, rc, res->rcode, clock_mono_us() - start_us);
	free(x.req);
	ldns_rdf_deep_free(z);
	return rc;
}

int
dns_update(const struct dns_server *srv, const struct tsig_key *key, const struct dns_change *ch,
	   struct dns_result *res)
{
	struct dns_client *c = NULL;
	int rc = dns_client_new(srv, &c, res);

	if (rc != 0)
		return rc;
	rc = dns_client_update(c, key, ch->zone, ch, 1, res);
	dns_client_free(c);
	return rc;
}
