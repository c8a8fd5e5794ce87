/* SPDX-License-Identifier: MIT */
/* dns_update against a real BIND on loopback (started through tests/integration/
 * dnsserver.py): every TSIG algorithm, both families, rejections, timeouts, TCP fallback. */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "dns.h"
#include "err.h"
#include "tap.h"
#include "tsig.h"

/* Our port range is 15300-15399; 15310-15319 belong to this test. */
#define PORT_BIND   15310
#define PORT_PROXY  15311 /* UDP answers TC, TCP forwards to BIND */
#define PORT_SILENT 15312 /* UDP bound, never answers */
#define PORT_CLOSED 15313 /* nothing bound */
#define PORT_HANG   15314 /* UDP answers TC, TCP accepts and never answers */
#define SLACK_MS    100	  /* allowed lateness of the deadline (ASan, loaded CI) */
#define N_ALGS	    6

static const char *const alg_names[N_ALGS] = {"hmac-md5",    "hmac-sha1",   "hmac-sha224",
					      "hmac-sha256", "hmac-sha384", "hmac-sha512"};
static char workdir[] = "/tmp/test_dns_XXXXXX";
static pid_t server_pid = -1;
static int server_stdin = -1;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- the BIND supervisor ------------------------------------------------------------- */

/* Starts `python3 dnsserver.py serve`; it stops named when our end of its stdin closes,
 * which also happens when this test crashes. Returns 0 once named answers. */
static int
server_start(const char *srcdir)
{
	int in[2], out[2];
	char script[4096], line[1024], port[16], zones[N_ALGS + 1][64];
	const char *python = getenv("PYTHON") ? getenv("PYTHON") : "/usr/bin/python3";
	char *argv[8 + 2 * (N_ALGS + 1)];
	int n = 0;

	snprintf(script, sizeof(script), "%s/tests/integration/dnsserver.py", srcdir);
	snprintf(port, sizeof(port), "%d", PORT_BIND);
	argv[n++] = (char *)python, argv[n++] = script, argv[n++] = "serve";
	argv[n++] = "--workdir", argv[n++] = workdir, argv[n++] = "--port", argv[n++] = port;
	for (int i = 0; i < N_ALGS; i++) {
		snprintf(zones[i], sizeof(zones[i]), "%s.dyn.test=%s", alg_names[i], alg_names[i]);
		argv[n++] = "--zone", argv[n++] = zones[i];
	}
	snprintf(zones[N_ALGS], sizeof(zones[N_ALGS]), "open.test=none");
	argv[n++] = "--zone", argv[n++] = zones[N_ALGS];
	argv[n] = NULL;
	if (pipe(in) != 0 || pipe(out) != 0)
		return -1;
	server_pid = fork();
	if (server_pid < 0)
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
	FILE *f = fdopen(out[0], "r");
	bool ok = f && fgets(line, sizeof(line), f) && strncmp(line, "{\"port\"", 7) == 0;
	if (!ok)
		diag("dnsserver.py: %s", f ? line : "no output");
	if (f)
		fclose(f);
	return ok ? 0 : -1;
}

static void
server_stop(void)
{
	if (server_stdin >= 0)
		close(server_stdin);
	server_stdin = -1;
	if (server_pid > 0)
		waitpid(server_pid, NULL, 0);
	server_pid = -1;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
cleanup(void)
{
	server_stop();
	nftw(workdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* --- helpers ---------------------------------------------------------------------------- */

static void
load_key(const char *file, struct tsig_key *k)
{
	char path[512], msg[300];

	snprintf(path, sizeof(path), "%s/%s", workdir, file);
	if (tsig_key_load(path, k, msg, sizeof(msg)) != 0) {
		diag("%s", msg);
		memset(k, 0, sizeof(*k));
	}
}

static void
alg_key(int i, struct tsig_key *k)
{
	char file[64];

	snprintf(file, sizeof(file), "key-%d-%s.key", i, alg_names[i]);
	load_key(file, k);
}

static struct dns_server
server(const char *addr, int port, int timeout_ms)
{
	struct dns_server s = {.port = port, .timeout_ms = timeout_ms};

	snprintf(s.addr, sizeof(s.addr), "%s", addr);
	return s;
}

static struct dns_change
change(const char *host, const char *zone, enum dns_action v4, const char *ip4, enum dns_action v6,
       const char *ip6)
{
	struct dns_change c = {.ttl = 60, .v4 = v4, .v6 = v6};

	snprintf(c.fqdn, sizeof(c.fqdn), "%s.%s", host, zone);
	snprintf(c.zone, sizeof(c.zone), "%s", zone);
	snprintf(c.ipv4, sizeof(c.ipv4), "%s", ip4 ? ip4 : "");
	snprintf(c.ipv6, sizeof(c.ipv6), "%s", ip6 ? ip6 : "");
	return c;
}

/* The records of name/type as the server has them, space-separated ("" for none),
 * asked with ldns over TCP so no cache or retry gets in the way. */
static const char *
lookup(const char *name, ldns_rr_type type, char *out, size_t len)
{
	ldns_resolver *r = ldns_resolver_new();
	ldns_rdf *ns = ldns_rdf_new_frm_str(LDNS_RDF_TYPE_A, "127.0.0.1");
	ldns_rdf *qname = ldns_dname_new_frm_str(name);
	struct timeval tv = {2, 0};
	size_t n = 0;

	out[0] = '\0';
	ldns_resolver_push_nameserver(r, ns);
	ldns_resolver_set_port(r, PORT_BIND);
	ldns_resolver_set_recursive(r, false);
	ldns_resolver_set_usevc(r, true);
	ldns_resolver_set_timeout(r, tv);
	ldns_pkt *p = ldns_resolver_query(r, qname, type, LDNS_RR_CLASS_IN, 0);
	ldns_rr_list *l = p ? ldns_pkt_rr_list_by_type(p, type, LDNS_SECTION_ANSWER) : NULL;
	for (size_t i = 0; l && i < ldns_rr_list_rr_count(l); i++) {
		ldns_rr *rr = ldns_rr_list_rr(l, i);
		char *s = ldns_rdf2str(ldns_rr_rdf(rr, type == LDNS_RR_TYPE_SOA ? 2 : 0));
		if (s)
			n += (size_t)snprintf(out + n, n < len ? len - n : 0, "%s%s", n ? " " : "",
					      s);
		free(s);
	}
	if (!p)
		snprintf(out, len, "(no answer)");
	ldns_rr_list_deep_free(l);
	ldns_pkt_free(p);
	ldns_rdf_deep_free(qname);
	ldns_rdf_deep_free(ns);
	ldns_resolver_deep_free(r);
	return out;
}

/* --- a UDP/TCP "server" that forces the TCP fallback ------------------------------------ */

struct proxy {
	int udp, tcp;
	bool forward; /* TCP: forward to BIND (true) or accept and stay silent */
	atomic_bool stop;
	atomic_int udp_seen, tcp_seen;
	pthread_t thread;
	int held[8];
	int n_held;
};

static int
bound_socket(int type, int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int one = 1, fd = socket(AF_INET, type, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    (type == SOCK_STREAM && listen(fd, 8) != 0)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Answers a UDP request with its header and zone section, QR and TC set. */
static void
proxy_udp(struct proxy *p)
{
	unsigned char m[1024];
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	ssize_t n = recvfrom(p->udp, m, sizeof(m), 0, (struct sockaddr *)&from, &fl);
	size_t q = 12;

	if (n < 12)
		return;
	while (q < (size_t)n && m[q] != 0)
		q += 1 + m[q];
	q += 5;
	m[2] |= 0x82;
	m[4] = 0, m[5] = 1;
	memset(m + 6, 0, 6);
	atomic_fetch_add(&p->udp_seen, 1);
	sendto(p->udp, m, q, 0, (struct sockaddr *)&from, fl);
}

static bool
read_full(int fd, unsigned char *b, size_t len)
{
	while (len > 0) {
		ssize_t n = read(fd, b, len);
		if (n <= 0)
			return false;
		b += n, len -= (size_t)n;
	}
	return true;
}

/* Relays one length-prefixed TCP exchange to BIND. */
static void
proxy_tcp(struct proxy *p)
{
	unsigned char m[65537];
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(PORT_BIND)};
	int c = accept(p->tcp, NULL, NULL), b = -1;

	if (c < 0)
		return;
	atomic_fetch_add(&p->tcp_seen, 1);
	if (!p->forward) {
		if (p->n_held < 8)
			p->held[p->n_held++] = c;
		else
			close(c);
		return;
	}
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	b = socket(AF_INET, SOCK_STREAM, 0);
	if (b >= 0 && connect(b, (struct sockaddr *)&sa, sizeof(sa)) == 0 && read_full(c, m, 2) &&
	    read_full(c, m + 2, (size_t)(m[0] << 8 | m[1])) &&
	    write(b, m, 2 + (size_t)(m[0] << 8 | m[1])) > 0 && read_full(b, m, 2) &&
	    read_full(b, m + 2, (size_t)(m[0] << 8 | m[1])))
		(void)!write(c, m, 2 + (size_t)(m[0] << 8 | m[1]));
	if (b >= 0)
		close(b);
	close(c);
}

static void *
proxy_run(void *arg)
{
	struct proxy *p = arg;

	while (!atomic_load(&p->stop)) {
		struct pollfd fds[2] = {{p->udp, POLLIN, 0}, {p->tcp, POLLIN, 0}};
		if (poll(fds, 2, 50) <= 0)
			continue;
		if (fds[0].revents & POLLIN)
			proxy_udp(p);
		if (fds[1].revents & POLLIN)
			proxy_tcp(p);
	}
	return NULL;
}

static int
proxy_start(struct proxy *p, int port, bool forward)
{
	memset(p, 0, sizeof(*p));
	p->forward = forward;
	p->udp = bound_socket(SOCK_DGRAM, port);
	p->tcp = bound_socket(SOCK_STREAM, port);
	if (p->udp < 0 || p->tcp < 0)
		return -1;
	return pthread_create(&p->thread, NULL, proxy_run, p) == 0 ? 0 : -1;
}

static void
proxy_stop(struct proxy *p)
{
	atomic_store(&p->stop, true);
	pthread_join(p->thread, NULL);
	for (int i = 0; i < p->n_held; i++)
		close(p->held[i]);
	close(p->udp);
	close(p->tcp);
}

/* --- the tests ---------------------------------------------------------------------------- */

static void
test_every_algorithm(void)
{
	struct dns_server s = server("127.0.0.1", PORT_BIND, 3000);

	for (int i = 0; i < N_ALGS; i++) {
		char zone[64], fqdn[96], ip[32], got[256];
		struct tsig_key k;
		struct dns_result res;
		alg_key(i, &k);
		snprintf(zone, sizeof(zone), "%s.dyn.test", alg_names[i]);
		snprintf(ip, sizeof(ip), "192.0.2.%d", 10 + i);
		struct dns_change c = change("h1", zone, DNS_SET, ip, DNS_KEEP, NULL);
		int rc = dns_update(&s, &k, &c, &res);
		ok(rc == 0 && res.rcode == 0 && res.tsig_error == 0, "%s: update (rc %d, %s)",
		   alg_names[i], rc, res.msg);
		snprintf(fqdn, sizeof(fqdn), "h1.%s.", zone);
		is_str(lookup(fqdn, LDNS_RR_TYPE_A, got, sizeof(got)), ip, "record is served");
		tsig_key_wipe(&k);
	}
}

static void
test_families(void)
{
	struct dns_server s = server("127.0.0.1", PORT_BIND, 3000);
	const char *z = "hmac-sha256.dyn.test", *name = "both.hmac-sha256.dyn.test.";
	struct dns_result res;
	struct tsig_key k;
	char got[256];

	alg_key(3, &k);
	struct dns_change c = change("both", z, DNS_SET, "198.51.100.1", DNS_SET, "2001:db8::1");
	is_int(dns_update(&s, &k, &c, &res), 0, "v4 and v6 in one message");
	is_str(lookup(name, LDNS_RR_TYPE_A, got, sizeof(got)), "198.51.100.1", "A set");
	is_str(lookup(name, LDNS_RR_TYPE_AAAA, got, sizeof(got)), "2001:db8::1", "AAAA set");

	c = change("both", z, DNS_SET, "198.51.100.2", DNS_KEEP, NULL);
	is_int(dns_update(&s, &k, &c, &res), 0, "v4 only");
	is_str(lookup(name, LDNS_RR_TYPE_A, got, sizeof(got)), "198.51.100.2", "A replaced");
	is_str(lookup(name, LDNS_RR_TYPE_AAAA, got, sizeof(got)), "2001:db8::1", "KEEP kept AAAA");

	c = change("both", z, DNS_DELETE, NULL, DNS_KEEP, NULL);
	is_int(dns_update(&s, &k, &c, &res), 0, "delete v4");
	is_str(lookup(name, LDNS_RR_TYPE_A, got, sizeof(got)), "", "A gone");
	is_str(lookup(name, LDNS_RR_TYPE_AAAA, got, sizeof(got)), "2001:db8::1", "AAAA stays");

	c = change("both", z, DNS_KEEP, NULL, DNS_DELETE, NULL);
	is_int(dns_update(&s, &k, &c, &res), 0, "delete v6");
	is_str(lookup(name, LDNS_RR_TYPE_AAAA, got, sizeof(got)), "", "AAAA gone");

	/* Over IPv6 to the server, with the zone given with a trailing dot and upper case. */
	struct dns_server s6 = server("::1", PORT_BIND, 3000);
	c = change("V6", "HMAC-SHA256.dyn.test.", DNS_KEEP, NULL, DNS_SET, "2001:db8::6");
	snprintf(c.fqdn, sizeof(c.fqdn), "v6.hmac-sha256.dyn.test");
	int rc = dns_update(&s6, &k, &c, &res);
	ok(rc == 0, "update via ::1 (rc %d, %s)", rc, res.msg);
	is_str(lookup("v6.hmac-sha256.dyn.test.", LDNS_RR_TYPE_AAAA, got, sizeof(got)),
	       "2001:db8::6", "AAAA via ::1 served");
	tsig_key_wipe(&k);
}

static void
test_rejections(void)
{
	struct dns_server s = server("127.0.0.1", PORT_BIND, 3000);
	const char *z = "hmac-sha256.dyn.test";
	struct dns_result res;
	struct tsig_key k;
	char serial[64], got[64];
	int rc;

	lookup("hmac-sha256.dyn.test.", LDNS_RR_TYPE_SOA, serial, sizeof(serial));
	struct dns_change c = change("bad", z, DNS_SET, "203.0.113.1", DNS_KEEP, NULL);

	load_key("wrong-key-3-hmac-sha256.key", &k);
	rc = dns_update(&s, &k, &c, &res);
	ok(rc == ERR_DNS && res.tsig_error == TSIG_BADSIG && res.rcode == LDNS_RCODE_NOTAUTH &&
		   strstr(res.msg, "NOTAUTH (BADSIG)"),
	   "wrong secret: BADSIG (rc %d, %s)", rc, res.msg);

	load_key("unknown.key", &k);
	rc = dns_update(&s, &k, &c, &res);
	ok(rc == ERR_DNS && res.tsig_error == TSIG_BADKEY && strstr(res.msg, "BADKEY"),
	   "unknown key: BADKEY (rc %d, %s)", rc, res.msg);

	alg_key(5, &k); /* hmac-sha512.dyn.test's key */
	rc = dns_update(&s, &k, &c, &res);
	ok(rc == ERR_DNS && res.rcode == LDNS_RCODE_REFUSED && res.tsig_error == 0 &&
		   strncmp(res.msg, "REFUSED", 7) == 0,
	   "other zone's key: REFUSED (rc %d, %s)", rc, res.msg);

	rc = dns_update(&s, NULL, &c, &res);
	ok(rc == ERR_DNS && res.rcode == LDNS_RCODE_REFUSED, "unsigned: REFUSED (rc %d, %s)", rc,
	   res.msg);

	c = change("bad", "not-served.test", DNS_SET, "203.0.113.1", DNS_KEEP, NULL);
	alg_key(3, &k);
	rc = dns_update(&s, &k, &c, &res);
	ok(rc == ERR_DNS && res.rcode == LDNS_RCODE_NOTAUTH, "zone not served: NOTAUTH (%s)",
	   res.msg);

	is_str(lookup("bad.hmac-sha256.dyn.test.", LDNS_RR_TYPE_A, got, sizeof(got)), "",
	       "no record written");
	is_str(lookup("hmac-sha256.dyn.test.", LDNS_RR_TYPE_SOA, got, sizeof(got)), serial,
	       "SOA serial unchanged");

	c = change("open", "open.test", DNS_SET, "203.0.113.9", DNS_KEEP, NULL);
	rc = dns_update(&s, NULL, &c, &res);
	ok(rc == 0, "unsigned update of an allow-update zone (rc %d, %s)", rc, res.msg);
	is_str(lookup("open.open.test.", LDNS_RR_TYPE_A, got, sizeof(got)), "203.0.113.9",
	       "unsigned record served");
	tsig_key_wipe(&k);
}

static void
test_invalid(void)
{
	struct dns_server s = server("127.0.0.1", PORT_BIND, 1000);
	const char *z = "hmac-sha256.dyn.test";
	struct dns_result res;
	struct dns_change c;

	c = change("x", z, DNS_SET, "192.0.2.300", DNS_KEEP, NULL);
	is_int(dns_update(&s, NULL, &c, &res), ERR_INVAL, "bad IPv4");
	c = change("x", z, DNS_KEEP, NULL, DNS_SET, "2001:db8::g");
	is_int(dns_update(&s, NULL, &c, &res), ERR_INVAL, "bad IPv6");
	c = change("x", z, DNS_SET, "192.0.2.1", DNS_KEEP, NULL);
	c.ttl = -1;
	is_int(dns_update(&s, NULL, &c, &res), ERR_INVAL, "negative TTL");
	c = change("x", "other.test", DNS_SET, "192.0.2.1", DNS_KEEP, NULL);
	snprintf(c.zone, sizeof(c.zone), "%s", z);
	ok(dns_update(&s, NULL, &c, &res) == ERR_INVAL && strstr(res.msg, "not in zone"),
	   "name outside the zone: %s", res.msg);
	c = change("x", z, DNS_KEEP, NULL, DNS_KEEP, NULL);
	is_int(dns_update(&s, NULL, &c, &res), ERR_INVAL, "nothing to change");
	c = change("a b", z, DNS_SET, "192.0.2.1", DNS_KEEP, NULL);
	is_int(dns_update(&s, NULL, &c, &res), ERR_INVAL, "blank in name");
	c = change("x", z, DNS_SET, "192.0.2.1", DNS_KEEP, NULL);
	struct dns_server bad = server("localhost", PORT_BIND, 1000);
	is_int(dns_update(&bad, NULL, &c, &res), ERR_INVAL, "server must be an address");
	bad = server("127.0.0.1", 0, 1000);
	is_int(dns_update(&bad, NULL, &c, &res), ERR_INVAL, "port 0");
	is_int(res.rcode, -1, "no rcode without a reply");
}

/* A TXT change of one name: `txt` and its value, nothing else. */
static struct dns_change
txt_change(const char *name, enum dns_txt_action a, const char *value)
{
	struct dns_change c = {.ttl = 60, .txt = a};

	snprintf(c.fqdn, sizeof(c.fqdn), "%s", name);
	snprintf(c.zone, sizeof(c.zone), "hmac-sha256.dyn.test");
	snprintf(c.txt_value, sizeof(c.txt_value), "%s", value ? value : "");
	return c;
}

/* TXT records change one value at a time: two values coexist, each is removed on its
 * own, adding or removing twice changes nothing, CLEAR removes the RRset. */
static void
test_txt(void)
{
	struct dns_server s = server("127.0.0.1", PORT_BIND, 3000);
	const char *name = "_acme-challenge.web.hmac-sha256.dyn.test";
	const char *v1 = "LHDhK3oGRvkiefQnx7OOczTY5Tic_xZ6HcMOc_gmtoM";
	const char *v2 = "Zm9vYmFyLWJhei1xdXV4LTEyMzQ1Njc4OTAtYWJjZGVm";
	struct dns_result res;
	struct dns_change c;
	struct tsig_key k;
	char got[512], want[512];

	alg_key(3, &k);
	c = txt_change(name, DNS_TXT_ADD, v1);
	is_int(dns_update(&s, &k, &c, &res), 0, "TXT add one value");
	c = txt_change(name, DNS_TXT_ADD, v2);
	is_int(dns_update(&s, &k, &c, &res), 0, "TXT add a second value");
	is_int(dns_update(&s, &k, &c, &res), 0, "TXT add the second value again");
	lookup("_acme-challenge.web.hmac-sha256.dyn.test.", LDNS_RR_TYPE_TXT, got, sizeof(got));
	ok(strstr(got, v1) && strstr(got, v2) && strlen(got) == strlen(v1) + strlen(v2) + 5,
	   "both values are served, once each: %s", got);
	c = txt_change(name, DNS_TXT_REMOVE, v1);
	is_int(dns_update(&s, &k, &c, &res), 0, "TXT remove the first value");
	is_int(dns_update(&s, &k, &c, &res), 0, "TXT remove it again (nothing to remove)");
	snprintf(want, sizeof(want), "\"%s\"", v2);
	is_str(lookup("_acme-challenge.web.hmac-sha256.dyn.test.", LDNS_RR_TYPE_TXT, got,
		      sizeof(got)),
	       want, "only the second value is left");
	c = txt_change(name, DNS_TXT_ADD, "with space and 'quote' and \"dq\" and \\");
	is_int(dns_update(&s, &k, &c, &res), 0, "TXT add a value with blanks and quotes");
	lookup("_acme-challenge.web.hmac-sha256.dyn.test.", LDNS_RR_TYPE_TXT, got, sizeof(got));
	ok(strstr(got, "\"with space and 'quote' and \\\"dq\\\" and \\\\\"") != NULL,
	   "it is served byte for byte: %s", got);
	c = txt_change(name, DNS_TXT_ADD, "x");
	memset(c.txt_value, 'a', DNS_TXT_MAX);
	is_int(dns_update(&s, &k, &c, &res), 0, "TXT add a value of 255 bytes (the limit)");
	c = txt_change(name, DNS_TXT_CLEAR, NULL);
	is_int(dns_update(&s, &k, &c, &res), 0, "TXT clear");
	is_str(lookup("_acme-challenge.web.hmac-sha256.dyn.test.", LDNS_RR_TYPE_TXT, got,
		      sizeof(got)),
	       "", "no TXT record left");
	tsig_key_wipe(&k);
}

/* TXT values the server could store but we refuse to send. */
static void
test_txt_invalid(void)
{
	struct dns_server s = server("127.0.0.1", PORT_BIND, 1000);
	const char *name = "_acme-challenge.x.hmac-sha256.dyn.test";
	struct dns_result res;
	struct dns_change c;
	c = txt_change(name, DNS_TXT_ADD, "");
	is_int(dns_update(&s, NULL, &c, &res), ERR_INVAL, "TXT: empty value");
	c = txt_change(name, DNS_TXT_REMOVE, "line\nbreak");
	is_int(dns_update(&s, NULL, &c, &res), ERR_INVAL, "TXT: control character");
	c = txt_change(name, DNS_TXT_ADD, "caf\xc3\xa9");
	is_int(dns_update(&s, NULL, &c, &res), ERR_INVAL, "TXT: not ASCII");
	c = txt_change(name, DNS_TXT_ADD, "x");
	memset(c.txt_value, 'a', sizeof(c.txt_value)); /* no terminating NUL within 256 */
	is_int(dns_update(&s, NULL, &c, &res), ERR_INVAL, "TXT: more than 255 bytes");
	c = txt_change(name, DNS_TXT_ADD, "x");
	c.ttl = -1;
	is_int(dns_update(&s, NULL, &c, &res), ERR_INVAL, "TXT: negative TTL");
	c = txt_change(name, (enum dns_txt_action)9, "x");
	is_int(dns_update(&s, NULL, &c, &res), ERR_INVAL, "TXT: unknown action");
}

static void
test_timeouts(void)
{
	struct dns_change c =
		change("t", "hmac-sha256.dyn.test", DNS_SET, "192.0.2.1", DNS_KEEP, NULL);
	struct dns_result res;
	struct tsig_key k;
	int64_t t0, ms;
	int rc;

	alg_key(3, &k);
	int silent = bound_socket(SOCK_DGRAM, PORT_SILENT);
	ok(silent >= 0, "silent UDP socket bound");
	for (int timeout = 300; timeout <= 1200; timeout += 900) {
		struct dns_server s = server("127.0.0.1", PORT_SILENT, timeout);
		t0 = now_ms();
		rc = dns_update(&s, &k, &c, &res);
		ms = now_ms() - t0;
		ok(rc == ERR_TIMEOUT && ms >= timeout && ms <= timeout + SLACK_MS,
		   "silent server: timeout after %lld ms (bound %d): %s", (long long)ms, timeout,
		   res.msg);
	}
	char buf[2048];
	ssize_t n = recv(silent, buf, sizeof(buf), MSG_DONTWAIT);
	int sends = 0;
	while (n > 0) {
		sends++;
		n = recv(silent, buf, sizeof(buf), MSG_DONTWAIT);
	}
	ok(sends >= 3, "UDP retransmitted (%d datagrams in two exchanges)", sends);
	close(silent);

	struct dns_server s = server("127.0.0.1", PORT_CLOSED, 1000);
	t0 = now_ms();
	rc = dns_update(&s, &k, &c, &res);
	ms = now_ms() - t0;
	ok((rc == ERR_IO || rc == ERR_TIMEOUT) && ms <= 1000 + SLACK_MS,
	   "nothing listening: rc %d after %lld ms: %s", rc, (long long)ms, res.msg);

	/* UDP says "truncated", TCP accepts and says nothing: one deadline covers both. */
	struct proxy p;
	ok(proxy_start(&p, PORT_HANG, false) == 0, "hanging TCP server");
	s = server("127.0.0.1", PORT_HANG, 800);
	t0 = now_ms();
	rc = dns_update(&s, &k, &c, &res);
	ms = now_ms() - t0;
	ok(rc == ERR_TIMEOUT && ms >= 800 && ms <= 800 + SLACK_MS && strstr(res.msg, "tcp"),
	   "UDP TC then silent TCP: timeout after %lld ms: %s", (long long)ms, res.msg);
	proxy_stop(&p);
	tsig_key_wipe(&k);
}

static void
test_tcp_fallback(void)
{
	struct proxy p;
	struct dns_result res;
	struct tsig_key k;
	char got[128];

	alg_key(4, &k); /* hmac-sha384: ldns could not even sign this one */
	ok(proxy_start(&p, PORT_PROXY, true) == 0, "truncating proxy");
	struct dns_server s = server("127.0.0.1", PORT_PROXY, 3000);
	struct dns_change c = change("tcp", "hmac-sha384.dyn.test", DNS_SET, "192.0.2.99", DNS_SET,
				     "2001:db8::99");
	int rc = dns_update(&s, &k, &c, &res);
	ok(rc == 0 && atomic_load(&p.udp_seen) == 1 && atomic_load(&p.tcp_seen) == 1,
	   "TC over UDP -> TCP retry verified (rc %d, udp %d, tcp %d, %s)", rc,
	   atomic_load(&p.udp_seen), atomic_load(&p.tcp_seen), res.msg);
	is_str(lookup("tcp.hmac-sha384.dyn.test.", LDNS_RR_TYPE_AAAA, got, sizeof(got)),
	       "2001:db8::99", "record from the TCP update served");
	proxy_stop(&p);
	tsig_key_wipe(&k);
}

/* Over 512 bytes the request goes straight to TCP. A key name of 244 characters makes it
 * that big; BIND does not know the key and answers BADKEY over TCP. */
static void
test_large_goes_tcp(void)
{
	struct proxy p;
	struct dns_result res;
	struct tsig_key k = {.alg = TSIG_HMAC_SHA512, .secret_len = 64};
	char label[64], host[160];

	memset(label, 'a', 63);
	label[63] = '\0';
	for (int i = 0; i < 4; i++)
		memcpy(k.name + 61 * i, label, 60), k.name[61 * i + 60] = '.';
	snprintf(host, sizeof(host), "%s.%s", label, label);
	ok(proxy_start(&p, PORT_PROXY, true) == 0, "proxy for the large request");
	struct dns_server s = server("127.0.0.1", PORT_PROXY, 3000);
	struct dns_change c =
		change(host, "hmac-sha512.dyn.test", DNS_SET, "192.0.2.1", DNS_SET, "2001:db8::1");
	int rc = dns_update(&s, &k, &c, &res);
	ok(rc == ERR_DNS && res.tsig_error == TSIG_BADKEY && atomic_load(&p.udp_seen) == 0 &&
		   atomic_load(&p.tcp_seen) == 1,
	   "large request: TCP only (rc %d, udp %d, tcp %d, %s)", rc, atomic_load(&p.udp_seen),
	   atomic_load(&p.tcp_seen), res.msg);
	proxy_stop(&p);
}

struct worker {
	int id, fails;
	struct tsig_key key;
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	struct dns_server s = server("127.0.0.1", PORT_BIND, 3000);

	for (int i = 0; i < 25; i++) {
		char host[32], ip[32];
		struct dns_result res;
		snprintf(host, sizeof(host), "w%d", w->id);
		snprintf(ip, sizeof(ip), "192.0.2.%d", i + 1);
		struct dns_change c =
			change(host, "hmac-sha512.dyn.test", DNS_SET, ip, DNS_KEEP, NULL);
		if (dns_update(&s, &w->key, &c, &res) != 0)
			w->fails++;
	}
	return NULL;
}

static void
test_threads_and_rate(void)
{
	struct worker w[4];
	pthread_t t[4];
	int fails = 0;

	for (int i = 0; i < 4; i++) {
		w[i].id = i, w[i].fails = 0;
		alg_key(5, &w[i].key);
		pthread_create(&t[i], NULL, worker_run, &w[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		fails += w[i].fails;
		tsig_key_wipe(&w[i].key);
	}
	is_int(fails, 0, "4 threads x 25 updates, no failure");

	struct tsig_key k;
	struct dns_server s = server("127.0.0.1", PORT_BIND, 3000);
	int n = 300, bad = 0;
	alg_key(3, &k);
	int64_t t0 = now_ms();
	for (int i = 0; i < n; i++) {
		struct dns_result res;
		struct dns_change c = change("loop", "hmac-sha256.dyn.test", DNS_SET,
					     i % 2 ? "192.0.2.1" : "192.0.2.2", DNS_KEEP, NULL);
		bad += dns_update(&s, &k, &c, &res) != 0;
	}
	int64_t ms = now_ms() - t0;
	is_int(bad, 0, "sequential loop without failure");
	diag("%d sequential UDP updates (hmac-sha256) in %lld ms: %.0f updates/s", n, (long long)ms,
	     ms > 0 ? n * 1000.0 / (double)ms : 0.0);
	tsig_key_wipe(&k);
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
	if (mkdtemp(workdir) == NULL || server_start(srcdir) != 0) {
		ok(0, "BIND started");
		cleanup();
		return tap_done();
	}
	atexit(cleanup);
	test_every_algorithm();
	test_families();
	test_rejections();
	test_invalid();
	test_txt();
	test_txt_invalid();
	test_timeouts();
	test_tcp_fallback();
	test_large_goes_tcp();
	test_threads_and_rate();
	return tap_done();
}
