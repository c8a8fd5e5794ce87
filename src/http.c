/* SPDX-License-Identifier: MIT */
/* libmicrohttpd glue: one MHD daemon (a thread pool) per listen address, routing to
 * the configured endpoints, parameters and credentials, the client address, replies
 * and the request log. The update itself is service.c's job. */
#include "http.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>

#include "acme_service.h"
#include "clock.h"
#include "connlimit.h"
#include "conntrack.h"
#include "db.h"
#include "err.h"
#include "fdlimit.h"
#include "gen.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "offenders.h"

/* Workers block on the DNS server (up to dns_timeout) as well as on Argon2, whose
 * concurrency auth_init bounds separately; twice the cores keeps a slow DNS server
 * from stalling every worker. */
#define HTTP_THREADS_PER_CORE 2
#define HTTP_MIN_THREADS      4
#define HTTP_MAX_THREADS      64

/* One listen address. */
struct listener {
	struct sockaddr_storage sa;
	socklen_t len;
	bool dual_stack; /* "::": an IPv6 socket that also accepts IPv4 */
	int fd;
	struct MHD_Daemon *mhd;
};

struct http_server {
	/* The start-up configuration: listeners, TLS and the database connections are
	 * made from it once and keep it for the server's life (a reload cannot change
	 * them). */
	const struct config *boot;
	struct gen_slot *gens; /* what requests take their generation from; borrowed */
	char *cert, *key;      /* PEM text for MHD; the key is wiped on stop */
	size_t key_len;
	pthread_key_t db_key; /* each worker thread's own database connection */
	bool db_key_made;
	atomic_int inflight; /* requests presented to the handler and not yet completed */
	/* Connections per client. Behind a reverse proxy the trusted proxies are exempt
	 * (every forwarded connection comes from them) while any other host that
	 * reaches the listener directly is still held to the limit. */
	struct connlimit *conns;
	struct cidr *exempt;
	size_t nexempt;
	/* Every open connection and the deadline for its request to arrive (MHD has only
	 * an inactivity timeout, which a client trickling bytes never meets). */
	struct conntrack *track;
	unsigned max_conns; /* connections at once, from the file descriptor budget */
	/* MHD's messages: warnings while the listeners start, then (see mhd_logger). */
	atomic_bool started;
	struct offenders *mhd_trouble;
	struct listener listeners[HTTP_MAX_LISTENERS];
	size_t nlisteners;
};

/* ---- small pure helpers (unit-tested) ---- */

/* Whether one media range of an Accept header is application/json with q > 0. */
static bool
media_range_is_json(const char *s, size_t len)
{
	static const char want[] = "application/json";
	size_t tl;
	const char *q;

	while (len && (*s == ' ' || *s == '\t'))
		s++, len--;
	tl = strcspn(s, ";");
	if (tl > len)
		tl = len;
	while (tl && (s[tl - 1] == ' ' || s[tl - 1] == '\t'))
		tl--;
	if (tl != sizeof(want) - 1 || strncasecmp(s, want, tl) != 0)
		return false;
	/* q=0 means "not acceptable" (RFC 9110 §12.4.2). */
	for (q = s + tl; q < s + len; q++)
		if ((*q == 'q' || *q == 'Q') && q + 1 < s + len && q[1] == '=')
			return strtod(q + 2, NULL) > 0.0;
	return true;
}

bool
http_accepts_json(const char *accept)
{
	const char *p = accept;

	if (!accept)
		return false;
	while (*p) {
		size_t n = strcspn(p, ",");

		if (media_range_is_json(p, n))
			return true;
		p += n;
		if (*p == ',')
			p++;
	}
	return false;
}

/* ---- the request log ---- */

/* Whether `key` is one of the aliases in `l` (case-insensitive, as libmicrohttpd's
 * parameter lookup is). */
static bool
is_alias(const struct config_strlist *l, const char *key)
{
	for (size_t i = 0; i < l->len; i++)
		if (strcasecmp(l->items[i], key) == 0)
			return true;
	return false;
}

/* The parameters whose values the request log may show: what the request is about,
 * never who sends it or how it proves it. "offline" is harmless whether or not the
 * endpoint knows it. */
static bool
is_harmless_param(const struct config_endpoint *ep, const char *key)
{
	static const enum config_param shown[] = {PARAM_HOSTNAME, PARAM_IPV4, PARAM_IPV6,
						  PARAM_NOTIFY_CHANGE};

	if (strcasecmp(key, "offline") == 0)
		return true;
	for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++)
		if (is_alias(&ep->params[shown[i]], key))
			return true;
	return false;
}

/* The bytes a harmless value is made of: host names (IDNs as UTF-8, lists with ","),
 * addresses (v4, v6, "/nn"), flags. The log shows a value up to the first other byte:
 * "hostname=h.example.com;password=..." must not carry the password along. */
static bool
is_value_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c >= 0x80 || (c != '\0' && strchr(".-_,:/", c) != NULL);
}

/* The bytes of a path we show: the same without ",", ":" and with "~". */
static bool
is_path_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c >= 0x80 || (c != '\0' && strchr("/.-_~", c) != NULL);
}

/* Appends the prefix of `s` made of bytes `keep` accepts, at most `max` bytes, and
 * "..." when something was left out. */
static int
add_prefix(struct buf *out, const char *s, bool (*keep)(unsigned char), size_t max)
{
	size_t n = 0;
	int rc;

	while (s[n] && n < max && keep((unsigned char)s[n]))
		n++;
	rc = buf_add(out, s, n);
	if (rc == 0 && s[n])
		rc = buf_adds(out, "...");
	return rc;
}

int
http_log_param(const struct config_endpoint *ep, const char *key, const char *value,
	       struct buf *out, unsigned *hidden)
{
	int rc = 0;

	if (!ep || !key || !is_harmless_param(ep, key)) {
		(*hidden)++;
		return 0;
	}
	if (out->len)
		rc = buf_addc(out, '&');
	if (rc == 0)
		rc = buf_adds(out, key);
	if (rc == 0 && value) {
		rc = buf_addc(out, '=');
		if (rc == 0)
			rc = add_prefix(out, value, is_value_byte, HTTP_LOG_VALUE_MAX);
	}
	return rc;
}

int
http_log_path(const struct config_endpoint *ep, const char *url, struct buf *out)
{
	if (ep)
		return buf_adds(out, ep->path);
	return add_prefix(out, url ? url : "", is_path_byte, HTTP_LOG_PATH_MAX);
}

/* The method as the log shows it: a client may put anything there. */
static const char *
log_method(const char *m)
{
	static const char *const known[] = {"GET",     "HEAD",	  "POST",  "PUT",  "DELETE",
					    "OPTIONS", "CONNECT", "TRACE", "PATCH"};

	for (size_t i = 0; m && i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(m, known[i]) == 0)
			return known[i];
	return "(other method)";
}

/* ---- listen addresses ---- */

static int
add_listener(struct http_server *srv, const struct sockaddr *sa, socklen_t len, bool dual)
{
	struct listener *l;

	for (size_t i = 0; i < srv->nlisteners; i++)
		if (srv->listeners[i].len == len && memcmp(&srv->listeners[i].sa, sa, len) == 0)
			return 0;
	if (srv->nlisteners == HTTP_MAX_LISTENERS)
		return ERR_TOOBIG;
	l = &srv->listeners[srv->nlisteners++];
	memset(l, 0, sizeof(*l));
	memcpy(&l->sa, sa, len);
	l->len = len;
	l->dual_stack = dual;
	l->fd = -1;
	return 0;
}

static int
add_literal(struct http_server *srv, int family, const char *text, int port, bool dual)
{
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;

	if (family == AF_INET) {
		memset(&in4, 0, sizeof(in4));
		in4.sin_family = AF_INET;
		in4.sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, text, &in4.sin_addr) != 1)
			return ERR_INVAL;
		return add_listener(srv, (struct sockaddr *)&in4, sizeof(in4), dual);
	}
	memset(&in6, 0, sizeof(in6));
	in6.sin6_family = AF_INET6;
	in6.sin6_port = htons((uint16_t)port);
	if (inet_pton(AF_INET6, text, &in6.sin6_addr) != 1)
		return ERR_INVAL;
	return add_listener(srv, (struct sockaddr *)&in6, sizeof(in6), dual);
}

/* Any other name or address: every address the resolver gives (v4 and v6). */
static int
add_resolved(struct http_server *srv, const char *host, int port)
{
	struct addrinfo hints, *res = NULL;
	char service[16];
	int rc, gai;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(service, sizeof(service), "%d", port);
	gai = getaddrinfo(host, service, &hints, &res);
	if (gai != 0) {
		log_error("daemon.host \"%s\": cannot resolve: %s", host, gai_strerror(gai));
		return ERR_INVAL;
	}
	rc = 0;
	for (struct addrinfo *ai = res; ai && rc == 0; ai = ai->ai_next)
		if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
			rc = add_listener(srv, ai->ai_addr, ai->ai_addrlen, false);
	freeaddrinfo(res);
	return rc;
}

/* cfg->daemon.host → listen addresses: "localhost" is 127.0.0.1 and ::1 (whatever
 * /etc/hosts says), "::" one dual-stack socket for every address of both families,
 * "0.0.0.0" every IPv4 address, any other address itself, any other name every
 * address it resolves to. Brackets around an IPv6 address are accepted. */
static int
resolve_listeners(struct http_server *srv, const char *host, int port)
{
	char buf[HOSTNAME_MAX + 1];
	size_t n = strlen(host);
	int rc;

	if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof(buf)) {
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		host = buf;
	}
	if (strcasecmp(host, "localhost") == 0) {
		rc = add_literal(srv, AF_INET, "127.0.0.1", port, false);
		return rc ? rc : add_literal(srv, AF_INET6, "::1", port, false);
	}
	if (strcmp(host, "::") == 0)
		return add_literal(srv, AF_INET6, "::", port, true);
	return add_resolved(srv, host, port);
}

static const char *
listener_name(const struct listener *l, char *buf, size_t len)
{
	struct addr a;
	char ip[ADDR_STRLEN];
	int port;

	if (l->sa.ss_family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)&l->sa;

		port = ntohs(in4->sin_port);
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&l->sa;

		port = ntohs(in6->sin6_port);
	}
	memset(&a, 0, sizeof(a));
	a.family = l->sa.ss_family;
	if (l->sa.ss_family == AF_INET)
		memcpy(a.bytes, &((const struct sockaddr_in *)&l->sa)->sin_addr, 4);
	else
		memcpy(a.bytes, &((const struct sockaddr_in6 *)&l->sa)->sin6_addr, 16);
	addr_format(&a, ip, sizeof(ip));
	snprintf(buf, len, a.family == AF_INET6 ? "[%s]:%d" : "%s:%d", ip, port);
	return buf;
}

/* Opens the socket ourselves (rather than letting MHD do it) so that "port in use"
 * and friends reach the operator as one clear line with the reason. */
static int
open_listen_socket(struct listener *l)
{
	char name[ADDR_STRLEN + 16];
	int one = 1, v6only = l->dual_stack ? 0 : 1;
	int fd;

	fd = socket(l->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	if (l->sa.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) < 0)
		goto fail;
	if (bind(fd, (struct sockaddr *)&l->sa, l->len) < 0 || listen(fd, SOMAXCONN) < 0)
		goto fail;
	l->fd = fd;
	return 0;
fail:
	log_error("cannot listen on %s: %s", listener_name(l, name, sizeof(name)), strerror(errno));
	if (fd >= 0)
		close(fd);
	return ERR_IO;
}

/* ---- TLS material ---- */

static int
read_pem(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "re");
	struct buf b;
	char chunk[4096];
	size_t n;
	int rc = 0;

	*out = NULL;
	if (!f) {
		log_error("cannot read %s: %s", path, strerror(errno));
		return ERR_IO;
	}
	buf_init(&b, HTTP_CERT_MAX);
	while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		rc = buf_add(&b, chunk, n);
	if (rc == 0 && ferror(f))
		rc = ERR_IO;
	fclose(f);
	explicit_bzero(chunk, sizeof(chunk));
	if (rc < 0) {
		log_error("cannot read %s: %s", path,
			  rc == ERR_TOOBIG ? "larger than 1 MiB" : err_str(rc));
		if (b.data)
			explicit_bzero(b.data, b.cap);
		buf_free(&b);
		return rc;
	}
	*len = b.len;
	*out = buf_steal(&b);
	return *out ? 0 : ERR_NOMEM;
}

/* Whether `pem` holds at least one parsable certificate. Checked on its own first:
 * gnutls_certificate_set_x509_key_mem leaks its partial parse on a broken certificate. */
static int
check_cert(const char *path, char *pem, size_t len)
{
	gnutls_x509_crt_t *list = NULL;
	unsigned int n = 0;
	gnutls_datum_t c = {(unsigned char *)pem, (unsigned int)len};
	int rc = gnutls_x509_crt_list_import2(&list, &n, &c, GNUTLS_X509_FMT_PEM, 0);

	if (rc < 0) {
		log_error("%s: not a usable certificate and key: %s", path, gnutls_strerror(rc));
		return ERR_INVAL;
	}
	for (unsigned int i = 0; i < n; i++)
		gnutls_x509_crt_deinit(list[i]);
	gnutls_free(list);
	return 0;
}

/* Loads and checks the certificate and key with GnuTLS first: MHD only says "failed
 * to setup x509 certificate/key pair", GnuTLS says what is wrong (also a key that
 * does not belong to the certificate). */
static int
load_tls(struct http_server *srv)
{
	const struct config *cfg = srv->boot;
	gnutls_certificate_credentials_t cred;
	gnutls_datum_t c, k;
	size_t clen = 0;
	int rc;

	rc = read_pem(cfg->daemon.ssl_cert_file, &srv->cert, &clen);
	if (rc == 0)
		rc = read_pem(cfg->daemon.ssl_key_file, &srv->key, &srv->key_len);
	if (rc == 0)
		rc = check_cert(cfg->daemon.ssl_cert_file, srv->cert, clen);
	if (rc < 0)
		return rc;
	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return ERR_NOMEM;
	c.data = (unsigned char *)srv->cert;
	c.size = (unsigned int)clen;
	k.data = (unsigned char *)srv->key;
	k.size = (unsigned int)srv->key_len;
	rc = gnutls_certificate_set_x509_key_mem(cred, &c, &k, GNUTLS_X509_FMT_PEM);
	gnutls_certificate_free_credentials(cred);
	if (rc < 0) {
		log_error("%s, %s: not a usable certificate and key: %s", cfg->daemon.ssl_cert_file,
			  cfg->daemon.ssl_key_file, gnutls_strerror(rc));
		return ERR_INVAL;
	}
	return 0;
}

/* ---- what a request must look like before anything else ---- */

unsigned int
http_target_status(const char *target)
{
	const char *q = strchr(target, '?');
	size_t params = 0;

	/* MHD decodes %00 into a NUL that ends the C string: "password=pw%00junk" would
	 * be read as "pw". Refused rather than truncated. */
	if (strstr(target, "%00") != NULL)
		return MHD_HTTP_BAD_REQUEST;
	if (q) {
		params = 1;
		for (const char *p = q + 1; *p; p++)
			params += *p == '&';
	}
	return params > HTTP_MAX_PARAMS ? MHD_HTTP_URI_TOO_LONG : 0;
}

/* Why a request is refused before it reaches an endpoint: a status and a few words
 * for the request log. The URI callback hands one of the static ones below to the
 * access handler through *req_cls (where a request otherwise keeps its generation). */
struct refusal {
	unsigned int status;
	const char *why;
};

static const struct refusal refuse_params = {MHD_HTTP_URI_TOO_LONG, "too many parameters"};
static const struct refusal refuse_nul = {MHD_HTTP_BAD_REQUEST, "%00 in the request target"};

static bool
is_refusal(const void *p)
{
	return p == &refuse_params || p == &refuse_nul;
}

/* MHD's URI callback: sees the raw request target before MHD splits and decodes it.
 * MHD 0.9.x stores every parameter in the connection's memory pool; past what fits
 * (some 300 empty ones in a 363-byte request) it queues a 431 and then loses track of
 * it: no answer, and the connection is held until its timeout (fixed in MHD 1.0).
 * So with too many parameters the query is cut to nothing here, before MHD parses it
 * (`uri` points into MHD's own writable read buffer; the '?' itself is already
 * past), and the access handler answers 414. */
static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	unsigned int status = http_target_status(uri);

	(void)cls;
	(void)conn;
	if (status == 0)
		return NULL;
	if (status == MHD_HTTP_URI_TOO_LONG) {
#if MHD_VERSION < 0x01000000
		char *q = strchr((char *)(uintptr_t)uri, '?');

		if (q && q[1])
			q[1] = '\0';
#endif
		return (void *)(uintptr_t)&refuse_params;
	}
	return (void *)(uintptr_t)&refuse_nul;
}

/* The headers of one request, as far as the checks below need them. */
struct head_scan {
	const char *length;   /* the first Content-Length */
	bool lengths_differ;  /* a later one says something else */
	const char *encoding; /* Transfer-Encoding */
	bool host;
};

static enum MHD_Result
scan_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct head_scan *h = cls;

	(void)kind;
	if (!key || !value)
		return MHD_YES;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
		if (h->length && strcmp(h->length, value) != 0)
			h->lengths_differ = true;
		if (!h->length)
			h->length = value;
	} else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		h->encoding = value;
	} else if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0) {
		h->host = true;
	}
	return MHD_YES;
}

/* What MHD 0.9.75 lets through and we refuse with 400 at once (RFC 9112), rather
 * than guess: two different Content-Length headers or one beside Transfer-Encoding
 * (the classic request-smuggling shapes); a transfer coding other than "chunked",
 * whose length MHD cannot know (it would wait for the connection's timeout); a GET
 * with a body (no client of ours sends one; a huge Content-Length would also be
 * waited for); HTTP/1.1 without Host. NULL when the head is fine. */
static const char *
head_problem(struct MHD_Connection *conn, const char *method, const char *version)
{
	struct head_scan h = {NULL, false, NULL, false};
	bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;

	MHD_get_connection_values(conn, MHD_HEADER_KIND, scan_header, &h);
	if (h.lengths_differ)
		return "two different Content-Length headers";
	if (h.length && h.encoding)
		return "Content-Length and Transfer-Encoding";
	if (h.encoding && strcasecmp(h.encoding, "chunked") != 0)
		return "a Transfer-Encoding other than chunked";
	if (get && (h.encoding || (h.length && strtoull(h.length, NULL, 10) > 0)))
		return "a GET with a body";
	if (strcmp(version, MHD_HTTP_VERSION_1_1) == 0 && !h.host)
		return "HTTP/1.1 without Host";
	return NULL;
}

/* ---- per-request handling ---- */

static void
close_thread_db(void *p)
{
	db_close(p);
}

/* After a failed open, the open that a worker does ahead of time when it accepts a
 * connection waits this long: with the database down, every connection would otherwise
 * add a connect and a log line. A request that needs the database tries at once: it
 * would fail anyway, and the first one after the database is back must not. */
#define HTTP_DB_RETRY_MS 1000

/* The calling worker thread's database connection, opened on first use (or when it
 * accepts its first connection): a connection is not thread-safe, and opening one per
 * request would cost more than the update. One that failed for a reason only a new
 * connection gets over (a file not writable when it was opened: db.h usable) is
 * replaced, so that fixing the file's mode is enough, without a restart. */
static struct db *
thread_db(struct http_server *srv, bool ahead)
{
	static _Thread_local int64_t retry_at;
	struct db *db = pthread_getspecific(srv->db_key);
	int rc;

	if (db && db_is_usable(db))
		return db;
	if (db) {
		(void)pthread_setspecific(srv->db_key, NULL);
		db_close(db);
	}
	if (ahead && retry_at && clock_mono_ms() < retry_at)
		return NULL;
	rc = db_open(srv->boot, &db);
	retry_at = rc < 0 ? clock_mono_ms() + HTTP_DB_RETRY_MS : 0;
	if (rc < 0) {
		log_error("cannot open the database: %s", err_str(rc));
		return NULL;
	}
	if (pthread_setspecific(srv->db_key, db) != 0) {
		db_close(db);
		return NULL;
	}
	return db;
}

static const struct config_endpoint *
find_endpoint(const struct config *cfg, const char *url)
{
	for (size_t i = 0; i < cfg->endpoints_len; i++)
		if (strcmp(cfg->endpoints[i].path, url) == 0)
			return &cfg->endpoints[i];
	return NULL;
}

/* The value of the first alias of `p` present in the query, or NULL. */
static const char *
param_value(struct MHD_Connection *conn, const struct config_endpoint *ep, enum config_param p)
{
	const struct config_strlist *l = &ep->params[p];

	for (size_t i = 0; i < l->len; i++) {
		const char *v =
			MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, l->items[i]);
		if (v)
			return v;
	}
	return NULL;
}

/* Collects every value of one header, in order, joined with ", " (RFC 9110 §5.3): a
 * proxy that adds its own X-Forwarded-For line after the client's must not let the
 * client's line be the only one looked at. */
struct header_join {
	const char *name;
	struct buf b;
	bool failed;
};

static enum MHD_Result
join_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct header_join *j = cls;

	(void)kind;
	if (!key || !value || strcasecmp(key, j->name) != 0)
		return MHD_YES;
	if ((j->b.len && buf_adds(&j->b, ", ") < 0) || buf_adds(&j->b, value) < 0)
		j->failed = true;
	return MHD_YES;
}

static void
client_address(const struct gen *g, struct MHD_Connection *conn, struct addr *out)
{
	const union MHD_ConnectionInfo *ci;
	const char *hdr = NULL;
	struct addr peer;

	memset(out, 0, sizeof(*out));
	memset(&peer, 0, sizeof(peer));
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!ci || !ci->client_addr || addr_from_sockaddr(ci->client_addr, &peer) < 0)
		return;
	*out = peer;
	if (!g->cfg->daemon.proxy_header || !g->cfg->daemon.proxy_header[0])
		return;
	{
		struct header_join j = {g->cfg->daemon.proxy_header, {0}, false};

		buf_init(&j.b, ADDR_HEADER_MAX);
		MHD_get_connection_values(conn, MHD_HEADER_KIND, join_header, &j);
		/* Too long to be honest: addr_client_from_header falls back to the peer. */
		hdr = j.failed ? NULL : (j.b.len ? buf_str(&j.b) : NULL);
		addr_client_from_header(&peer, hdr, g->trusted, g->ntrusted, out);
		buf_free(&j.b);
	}
}

struct log_ctx {
	const struct config_endpoint *ep;
	struct buf *out;
	unsigned hidden;
};

static enum MHD_Result
log_param_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct log_ctx *lc = cls;

	(void)kind;
	/* A query too long for the log line is cut; the request itself is unaffected. */
	return http_log_param(lc->ep, key, value, lc->out, &lc->hidden) == 0 ? MHD_YES : MHD_NO;
}

/* One INFO line per request (log_requests): the method, the path and the harmless
 * parameters (http.h), never a credential. `ep` is the endpoint the path matched, NULL
 * for none. */
static void
log_request(const struct gen *g, struct MHD_Connection *conn, const char *method,
	    const struct config_endpoint *ep, const char *url, const struct addr *client,
	    int status, const char *result, int64_t start_ms)
{
	struct buf path, q;
	struct log_ctx lc = {ep, &q, 0};
	char ip[ADDR_STRLEN] = "-", more[32] = "";

	if (!g->cfg->daemon.log_requests || !log_enabled(LOG_LVL_INFO))
		return;
	buf_init(&path, HTTP_LOG_PATH_MAX + 4);
	buf_init(&q, HTTP_LOG_URI_MAX);
	(void)http_log_path(ep, url, &path);
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, log_param_cb, &lc);
	if (lc.hidden)
		snprintf(more, sizeof(more), " (+%u not logged)", lc.hidden);
	if (client->family)
		addr_format(client, ip, sizeof(ip));
	log_info("%s %s%s%s%s from %s: %d %s (%lld ms)", log_method(method), buf_str(&path),
		 q.len ? "?" : "", buf_str(&q), more, ip, status, result,
		 (long long)clock_elapsed_ms(start_ms));
	buf_free(&path);
	buf_free(&q);
}

static enum MHD_Result
queue_text(struct MHD_Connection *conn, unsigned int status, const char *text)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* An answer to a request we refuse to read further: the connection closes after it
 * (the rest of what the client sends is not worth parsing). */
static enum MHD_Result
queue_refusal(struct MHD_Connection *conn, unsigned int status, const char *text)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
queue_reply(struct MHD_Connection *conn, const struct service_reply *rep)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(rep->body_len, rep->body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				rep->json ? "application/json" : "text/plain; charset=utf-8");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (rep->challenge)
		ret = MHD_queue_basic_auth_fail_response(conn, "ddns", r);
	else
		ret = MHD_queue_response(conn, (unsigned int)rep->http_status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Credentials: HTTP Basic wins over the query parameters. user/pass point either to
 * the MHD-allocated basic_* strings or to borrowed query values. */
struct creds {
	char *basic_user, *basic_pass; /* MHD_free'd */
	const char *user, *pass;
};

static void
creds_get(struct MHD_Connection *conn, const struct config_endpoint *ep, struct creds *c)
{
	c->basic_pass = NULL;
	c->basic_user = MHD_basic_auth_get_username_password(conn, &c->basic_pass);
	if (c->basic_user) {
		c->user = c->basic_user;
		c->pass = c->basic_pass;
		return;
	}
	c->user = param_value(conn, ep, PARAM_USERNAME);
	c->pass = param_value(conn, ep, PARAM_PASSWORD);
}

static void
creds_free(struct creds *c)
{
	if (c->basic_pass) {
		explicit_bzero(c->basic_pass, strlen(c->basic_pass));
		MHD_free(c->basic_pass);
	}
	if (c->basic_user)
		MHD_free(c->basic_user);
}

static enum MHD_Result
handle_update(struct http_server *srv, const struct gen *g, struct MHD_Connection *conn,
	      const struct config_endpoint *ep, const char *method, const char *url,
	      int64_t start_ms)
{
	struct service_ctx ctx;
	struct service_request req;
	struct service_reply rep;
	struct creds c;
	enum MHD_Result ret;

	memset(&req, 0, sizeof(req));
	gen_service_ctx(g, thread_db(srv, false), &ctx);
	creds_get(conn, ep, &c);
	req.hostname = param_value(conn, ep, PARAM_HOSTNAME);
	req.ipv4 = param_value(conn, ep, PARAM_IPV4);
	req.ipv6 = param_value(conn, ep, PARAM_IPV6);
	req.notify_change = service_flag_is_true(param_value(conn, ep, PARAM_NOTIFY_CHANGE));
	req.offline = service_flag_is_true(param_value(conn, ep, PARAM_OFFLINE));
	req.user = c.user;
	req.password = c.pass;
	req.bad_authorization =
		!c.basic_user && MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_AUTHORIZATION) != NULL;
	client_address(g, conn, &req.client);
	req.now = (int64_t)time(NULL);
	req.mono = clock_mono_s();
	req.want_json =
		http_accepts_json(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept"));
	if (service_handle(&ctx, &req, &rep) < 0) {
		creds_free(&c);
		metrics_count_request(ep->path, UPDATE_911, clock_elapsed_ms(start_ms) * 1000);
		log_request(g, conn, method, ep, url, &req.client, 500, "-", start_ms);
		return queue_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "911\n");
	}
	creds_free(&c);
	log_request(g, conn, method, ep, url, &req.client, rep.http_status,
		    update_status_str(rep.first), start_ms);
	metrics_count_request(ep->path, rep.first, clock_elapsed_ms(start_ms) * 1000);
	ret = queue_reply(conn, &rep);
	service_reply_free(&rep);
	return ret;
}

/* The connection's entry in srv->track (NULL when it has none). */
static struct conntrack_conn *
tracked(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* What a request keeps between the calls of the access handler (*req_cls). */
struct request {
	struct gen *g;	   /* the configuration generation, pinned to the end */
	enum acme_op acme; /* a POST to the ACME API, else ACME_OP_NONE */
	struct buf body;   /* its body, at most ACME_BODY_MAX bytes */
};

/* metrics_path and health_path (metrics_http.c), with a request log line. */
static enum MHD_Result
handle_monitoring(struct http_server *srv, const struct gen *g, struct MHD_Connection *conn,
		  enum metrics_route route, const char *method, const char *url, int64_t start_ms)
{
	unsigned int status = 0;
	enum MHD_Result ret = metrics_http_answer(conn, srv->boot, g->cfg, route, &status);
	struct addr client;

	client_address(g, conn, &client);
	log_request(g, conn, method, NULL, url, &client, (int)status, "-", start_ms);
	return ret;
}

/* A request of the ACME API (acme_service.h): HTTP Basic credentials (lego and the hook
 * script send them so) and the body that on_request collected. */
static enum MHD_Result
handle_acme(struct http_server *srv, struct request *rq, struct MHD_Connection *conn,
	    const char *method, const char *url, int64_t start_ms)
{
	struct acme_service_request req = {.op = rq->acme, .body = buf_str(&rq->body)};
	struct creds c = {NULL, NULL, NULL, NULL};
	struct service_ctx ctx;
	struct service_reply view;
	struct acme_reply rep;
	enum MHD_Result ret;
	int rc;

	gen_service_ctx(rq->g, thread_db(srv, false), &ctx);
	c.basic_user = MHD_basic_auth_get_username_password(conn, &c.basic_pass);
	req.user = c.basic_user;
	req.password = c.basic_pass;
	req.body_len = rq->body.len;
	client_address(rq->g, conn, &req.client);
	req.now = (int64_t)time(NULL);
	req.mono = clock_mono_s();
	rc = acme_service_handle(&ctx, &req, &rep);
	creds_free(&c);
	if (rc < 0) {
		log_request(rq->g, conn, method, NULL, url, &req.client, 500, "-", start_ms);
		return queue_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n");
	}
	log_request(rq->g, conn, method, NULL, url, &req.client, rep.http_status, rep.result,
		    start_ms);
	view = (struct service_reply){.http_status = rep.http_status,
				      .challenge = rep.challenge,
				      .json = true,
				      .body = rep.body,
				      .body_len = rep.body_len};
	ret = queue_reply(conn, &view);
	acme_reply_free(&rep);
	return ret;
}

/* The first call of a POST to the ACME API: its body is read into rq->body, unless
 * its announced length is past the limit (413 before it is read). */
static enum MHD_Result
begin_acme(const struct gen *g, struct request *rq, struct MHD_Connection *conn, const char *method,
	   const char *url)
{
	const char *cl =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	struct addr client;

	if (cl && strtoull(cl, NULL, 10) > ACME_BODY_MAX) {
		client_address(g, conn, &client);
		log_request(g, conn, method, NULL, url, &client, 413, "-", clock_mono_ms());
		return queue_text(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n");
	}
	buf_init(&rq->body, ACME_BODY_MAX);
	return MHD_YES;
}

/* Refuses a request on its first call: 405 for a method we do not serve there, else
 * the early refusal (URI callback) or head_problem's reason, and closes. */
static enum MHD_Result
refuse_first(const struct gen *g, struct MHD_Connection *conn, const char *url, const char *method,
	     const struct refusal *early, const char *why)
{
	int64_t start_ms = clock_mono_ms();
	struct addr client;

	client_address(g, conn, &client);
	if (!why) {
		log_request(g, conn, method, find_endpoint(g->cfg, url), url, &client, 405, "-",
			    start_ms);
		return queue_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	}
	log_request(g, conn, method, find_endpoint(g->cfg, url), url, &client,
		    early ? (int)early->status : MHD_HTTP_BAD_REQUEST, why, start_ms);
	if (early && early->status == MHD_HTTP_URI_TOO_LONG)
		return queue_refusal(conn, MHD_HTTP_URI_TOO_LONG, "request target too long\n");
	return queue_refusal(conn, MHD_HTTP_BAD_REQUEST, "bad request\n");
}

/* The first call of the access handler, once the request line and headers are in:
 * pins the configuration generation the request will use to the end (in *req_cls,
 * where the URI callback may have left a refusal), refuses at once and closes what must
 * go no further (see head_problem), refuses other methods than GET (and POST to the
 * ACME API) before a body is read, and lets the rest go on to its end. */
static enum MHD_Result
first_call(struct http_server *srv, struct MHD_Connection *conn, const char *url,
	   const char *method, const char *version, void **req_cls)
{
	const struct refusal *early = *req_cls;
	const char *why = early ? early->why : head_problem(conn, method, version);
	struct request *rq = calloc(1, sizeof(*rq));
	const struct gen *g;

	if (!rq)
		return MHD_NO;
	atomic_fetch_add(&srv->inflight, 1);
	conntrack_request(srv->track, tracked(conn)); /* in time: no deadline while handled */
	rq->g = gen_slot_acquire(srv->gens);
	*req_cls = rq;
	g = rq->g;
	if (!why && strcmp(method, MHD_HTTP_METHOD_GET) == 0)
		return MHD_YES;
	if (!why && g->cfg->acme.enabled && strcmp(method, MHD_HTTP_METHOD_POST) == 0 &&
	    (rq->acme = acme_route(g->cfg->acme.path, url)) != ACME_OP_NONE)
		return begin_acme(g, rq, conn, method, url);
	return refuse_first(g, conn, url, method, early, why);
}

/* The last call of a whole request: the monitoring paths, the ACME API, an update
 * endpoint, or 404. */
static enum MHD_Result
dispatch(struct http_server *srv, struct request *rq, struct MHD_Connection *conn,
	 const char *method, const char *url)
{
	const struct gen *g = rq->g;
	int64_t start_ms = clock_mono_ms();
	enum metrics_route route = metrics_http_route(g->cfg, url);
	const struct config_endpoint *ep;
	struct addr client;

	if (route != METRICS_ROUTE_NONE)
		return handle_monitoring(srv, g, conn, route, method, url, start_ms);
	if (rq->acme != ACME_OP_NONE)
		return handle_acme(srv, rq, conn, method, url, start_ms);
	ep = find_endpoint(g->cfg, url);
	if (!ep) {
		client_address(g, conn, &client);
		log_request(g, conn, method, NULL, url, &client, 404, "-", start_ms);
		return queue_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
	}
	return handle_update(srv, g, conn, ep, method, url, start_ms);
}

/* MHD's access handler. A GET (and a POST to the ACME API, once its body is in) is
 * answered when the whole request is in (the last call), which keeps the connection
 * reusable; the first call is first_call's. */
static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
	   const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls)
{
	struct http_server *srv = cls;
	struct request *rq = *req_cls;

	if (!rq || is_refusal(rq))
		return first_call(srv, conn, url, method, version, req_cls);
	if (*upload_data_size) {
		/* Only an ACME POST has a body (head_problem refuses a GET with one); past
		 * its limit (sent without a Content-Length) the connection closes. */
		if (rq->acme != ACME_OP_NONE &&
		    buf_add(&rq->body, upload_data, *upload_data_size) != 0)
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	return dispatch(srv, rq, conn, method, url);
}

/* The end of a request, answered or not. A request that died before the access
 * handler saw it holds no generation, maybe only the URI callback's refusal. */
static void
on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
	     enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct request *rq = *req_cls;

	*req_cls = NULL;
	conntrack_idle(srv->track, tracked(conn), clock_mono_ms()); /* the next one's deadline */
	if (rq && !is_refusal(rq)) {
		gen_release(rq->g); /* never blocks: the main thread frees a replaced generation */
		buf_free(&rq->body);
		free(rq);
		atomic_fetch_sub(&srv->inflight, 1);
	}
}

/* Whether a message of MHD's is about the server rather than one connection: it
 * cannot accept, start a thread, poll, or ran into a resource limit. */
static bool
is_server_trouble(const char *msg)
{
	static const char *const marks[] = {
		"accept", "thread", "epoll", "resource", "Too many open files", "connection limit"};

	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		if (strstr(msg, marks[i]) != NULL)
			return true;
	return false;
}

/* MHD's messages. While the listeners start they are warnings. Once they run, almost
 * all are about one connection and what its client did or failed to do (closed early,
 * a malformed header, a request too big): one line per connection would let any
 * client flood the log, so those go to DEBUG (the daemon logs what matters itself:
 * the request log, the slow and refused clients). Trouble of the server's own stays a
 * warning, one line a minute with the count of those held back. */
__attribute__((format(printf, 2, 0))) static void
mhd_logger(void *cls, const char *fmt, va_list ap)
{
	struct http_server *srv = cls;
	struct addr all;
	char msg[512];
	unsigned long n;
	size_t len;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	len = strlen(msg);
	while (len && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
		msg[--len] = '\0';
	if (!atomic_load(&srv->started)) {
		log_warnx("http: %s", msg);
	} else if (!is_server_trouble(msg)) {
		log_debug("http: %s", msg);
	} else {
		memset(&all, 0, sizeof(all));
		n = offenders_note(srv->mhd_trouble, &all, 1, clock_mono_ms());
		if (n == 1)
			log_warnx("http: %s", msg);
		else if (n > 1)
			log_warnx("http: %s (and %lu more such messages in the last minute)", msg,
				  n - 1);
	}
}

/* ---- start and stop ---- */

/* MHD's accept policy (in the worker thread that accepted): the connection budget
 * (connlimit.h), the refusals logged once per address and minute. The worker's
 * database connection is opened first, so that what a request needs is there
 * before more connections are admitted. */
static enum MHD_Result
on_accept(void *cls, const struct sockaddr *sa, socklen_t len)
{
	struct http_server *srv = cls;
	enum connlimit_result r;
	struct addr a;

	(void)len;
	if (addr_from_sockaddr(sa, &a) < 0)
		return MHD_YES;
	(void)thread_db(srv, true);
	r = connlimit_acquire(srv->conns, &a);
	if (r == CONNLIMIT_OK)
		return MHD_YES;
	conntrack_refused(srv->track, &a, r != CONNLIMIT_FULL, clock_mono_ms());
	return MHD_NO;
}

/* A connection's start (tracked for its request deadline) and end (untracked before
 * MHD closes its socket; the release matching on_accept). Should MHD fail to set up a
 * connection that on_accept admitted — out of memory — that one slot stays counted. */
static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
	      enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *srv = cls;
	const union MHD_ConnectionInfo *ci, *fd;
	struct addr a;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!ci || !ci->client_addr || addr_from_sockaddr(ci->client_addr, &a) < 0)
		memset(&a, 0, sizeof(a));
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		fd = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (fd)
			*socket_ctx =
				conntrack_add(srv->track, fd->connect_fd, &a, clock_mono_ms());
		return;
	}
	conntrack_remove(srv->track, *socket_ctx);
	*socket_ctx = NULL;
	if (a.family)
		connlimit_release(srv->conns, &a);
}

/* The limiter of every listener; trusted proxies are exempt only when a proxy
 * header is configured (otherwise nothing is forwarded and nobody is special). */
static int
make_connlimit(struct http_server *srv)
{
	const struct config *cfg = srv->boot;
	const struct config_strlist *l = &cfg->daemon.trusted_proxies;

	if (cfg->daemon.proxy_header && cfg->daemon.proxy_header[0] && l->len) {
		srv->exempt = calloc(l->len, sizeof(*srv->exempt));
		if (!srv->exempt)
			return ERR_NOMEM;
		for (size_t i = 0; i < l->len; i++)
			if (cidr_parse(l->items[i], &srv->exempt[srv->nexempt]) == 0)
				srv->nexempt++;
	}
	return connlimit_new(HTTP_PER_IP_CONNECTIONS, srv->max_conns, srv->exempt, srv->nexempt,
			     &srv->conns);
}

static unsigned int
pool_size(void)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	long n = (cores > 0 ? cores : 1) * HTTP_THREADS_PER_CORE;

	if (n < HTTP_MIN_THREADS)
		n = HTTP_MIN_THREADS;
	if (n > HTTP_MAX_THREADS)
		n = HTTP_MAX_THREADS;
	return (unsigned int)n;
}

/* How many connections the file descriptor limit allows beside the daemon's own
 * needs (http.h HTTP_FDS_*), counted once the listen addresses are known. Under
 * systemd without LimitNOFILE that is some 900 of the default 1024 with one listener:
 * an attacker holding every connection still leaves the database, DNS and the expiry
 * pass their descriptors. */
static int
connection_budget(struct http_server *srv)
{
	unsigned long long limit = fdlimit_current();
	unsigned in_use = fdlimit_in_use(HTTP_FDS_BASE);
	unsigned reserve =
		HTTP_FDS_BASE + (unsigned)srv->nlisteners *
					(HTTP_FDS_PER_LISTENER + pool_size() * HTTP_FDS_PER_THREAD);

	srv->max_conns = fdlimit_connections(limit, in_use, reserve, HTTP_CONNECTION_MAX);
	if (srv->max_conns < HTTP_CONNECTION_MIN) {
		log_error("the file descriptor limit (%llu) leaves room for %u connections, fewer "
			  "than %d: raise it (systemd: LimitNOFILE=; OpenRC: rc_ulimit=\"-n N\")",
			  limit, srv->max_conns, HTTP_CONNECTION_MIN);
		return ERR_IO;
	}
	log_info("at most %u connections at once (file descriptors: limit %llu, %u open, %u "
		 "kept for the database, DNS and mail)",
		 srv->max_conns, limit, in_use, reserve);
	return 0;
}

/* MHD's own connection limit (per listener, split between its threads) is twice
 * srv->max_conns: the accept policy (on_accept) keeps the total, over all listeners,
 * and refuses what is beyond it at once, so a client is told rather than left waiting
 * in the listen queue, and no thread of MHD stops accepting early because its own
 * part of the limit is used up while others have room. */
static int
start_listener(struct http_server *srv, struct listener *l)
{
	const struct config *cfg = srv->boot;
	unsigned int flags =
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	/* Passed only with TLS: MHD complains about HTTPS options without MHD_USE_TLS. */
	struct MHD_OptionItem tls[] = {
		{MHD_OPTION_HTTPS_MEM_CERT, 0, srv->cert},
		{MHD_OPTION_HTTPS_MEM_KEY, 0, srv->key},
		{MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)HTTP_TLS_PRIORITIES},
		{MHD_OPTION_END, 0, NULL},
	};
	char name[ADDR_STRLEN + 16];

	if (l->sa.ss_family == AF_INET6)
		flags |= l->dual_stack ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
	if (cfg->daemon.ssl)
		flags |= MHD_USE_TLS;
	if (open_listen_socket(l) < 0)
		return ERR_IO;
	l->mhd = MHD_start_daemon(
		flags, 0, on_accept, srv, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger,
		srv, MHD_OPTION_LISTEN_SOCKET, l->fd, MHD_OPTION_THREAD_POOL_SIZE, pool_size(),
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_CONNECTION_TIMEOUT,
		MHD_OPTION_CONNECTION_LIMIT, 2 * srv->max_conns, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)HTTP_CONNECTION_MEMORY, MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_NOTIFY_CONNECTION,
		on_connection, srv, MHD_OPTION_ARRAY, cfg->daemon.ssl ? tls : tls + 3,
		MHD_OPTION_END);
	listener_name(l, name, sizeof(name));
	if (!l->mhd) {
		log_error("cannot start the HTTP server on %s%s", name,
			  cfg->daemon.ssl ? " (TLS setup failed?)" : "");
		close(l->fd);
		l->fd = -1;
		return ERR_IO;
	}
	log_info("listening on %s (%s)", name, cfg->daemon.ssl ? "https" : "http");
	return 0;
}

static void
server_free(struct http_server *srv)
{
	if (srv->db_key_made)
		pthread_key_delete(srv->db_key);
	if (srv->key) {
		explicit_bzero(srv->key, srv->key_len);
		free(srv->key);
	}
	free(srv->cert);
	conntrack_free(srv->track);
	offenders_free(srv->mhd_trouble);
	connlimit_free(srv->conns);
	free(srv->exempt);
	free(srv);
}

int
http_start(const struct config *cfg, struct gen_slot *gens, struct http_server **out)
{
	struct http_server *srv;
	int rc;

	*out = NULL;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return ERR_NOMEM;
	srv->boot = cfg;
	srv->gens = gens;
	atomic_init(&srv->inflight, 0);
	atomic_init(&srv->started, false);
	rc = cfg->daemon.ssl ? load_tls(srv) : 0;
	if (rc == 0)
		rc = resolve_listeners(srv, cfg->daemon.host, cfg->daemon.port);
	if (rc == 0)
		rc = connection_budget(srv);
	if (rc == 0)
		rc = make_connlimit(srv);
	if (rc == 0)
		rc = conntrack_new((int64_t)cfg->daemon.request_timeout * 1000, &srv->track);
	if (rc == 0)
		rc = conntrack_start(srv->track);
	if (rc == 0)
		rc = offenders_new(CONNTRACK_REPORT_MS, &srv->mhd_trouble);
	if (rc == 0 && pthread_key_create(&srv->db_key, close_thread_db) != 0)
		rc = ERR_NOMEM;
	if (rc == 0)
		srv->db_key_made = true;
	for (size_t i = 0; rc == 0 && i < srv->nlisteners; i++)
		rc = start_listener(srv, &srv->listeners[i]);
	if (rc < 0) {
		http_stop(srv, 0);
		return rc;
	}
	atomic_store(&srv->started, true);
	*out = srv;
	return 0;
}

void
http_stop(struct http_server *srv, int drain_ms)
{
	struct timespec tick = {0, 20 * 1000 * 1000};

	if (!srv)
		return;
	for (size_t i = 0; i < srv->nlisteners; i++)
		if (srv->listeners[i].mhd)
			MHD_quiesce_daemon(srv->listeners[i].mhd);
	/* Requests already being handled get their answer; idle keep-alive connections
	 * hold no request and do not delay the stop. */
	for (int waited = 0; waited < drain_ms && atomic_load(&srv->inflight) > 0; waited += 20)
		nanosleep(&tick, NULL);
	conntrack_stop(srv->track); /* before MHD closes (and untracks) what is left */
	for (size_t i = 0; i < srv->nlisteners; i++) {
		struct listener *l = &srv->listeners[i];

		if (l->mhd)
			MHD_stop_daemon(l->mhd);
		if (l->fd >= 0)
			close(l->fd);
		l->mhd = NULL;
		l->fd = -1;
	}
	server_free(srv);
}
