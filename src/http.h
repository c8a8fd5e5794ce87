/* SPDX-License-Identifier: MIT */
/* The HTTP(S) front end on libmicrohttpd: listeners, routing to endpoints, parameters,
 * credentials, the client address, replies and the request log. */
#ifndef HTTP_H
#define HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "addr.h"
#include "buf.h"
#include "config.h"

/* Limits of one connection; libmicrohttpd answers 431/413 past them. */
#define HTTP_CONNECTION_MEMORY	16384 /* bytes for the request line + headers (+ I/O) */
#define HTTP_CONNECTION_TIMEOUT 15    /* seconds of inactivity before a connection closes */
#define HTTP_PER_IP_CONNECTIONS 16    /* per client (IPv6: per /64); trusted proxies exempt */

/* Connections at once, over all listeners: what the file descriptor limit leaves
 * once the daemon's own needs are reserved (below), at most HTTP_CONNECTION_MAX (each
 * may hold HTTP_CONNECTION_MEMORY: 64 MiB at most). A limit that leaves fewer than
 * HTTP_CONNECTION_MIN stops the start. A quarter of them is kept for clients that
 * hold fewer than two (connlimit.h). */
#define HTTP_CONNECTION_MAX 4096
#define HTTP_CONNECTION_MIN 16
/* Descriptors reserved: for the process (stdio, the log, the expiry pass's database
 * connection and DNS exchange, the mail queue's SMTP connection and resolver, the
 * files a reload reads, slack), per listener (its socket, MHD's epoll and inter-thread
 * channel), per worker thread (its epoll and channel, its database connection: SQLite's
 * file, -wal and -shm; its DNS exchange: UDP, then TCP). */
#define HTTP_FDS_BASE	      32
#define HTTP_FDS_PER_LISTENER 3
#define HTTP_FDS_PER_THREAD   7
#define HTTP_CERT_MAX	      (1024 * 1024) /* bytes of a certificate or key file we read */
#define HTTP_LOG_URI_MAX      2048	    /* bytes of the (filtered) query kept for the log */
#define HTTP_LOG_VALUE_MAX    255	    /* bytes of one parameter value in the log */
#define HTTP_LOG_PATH_MAX     128	    /* bytes of an unknown path in the log */
#define HTTP_MAX_LISTENERS    16	    /* addresses one `host` may resolve to */
/* Query parameters of one request; past it 414 (MHD 0.9.x runs out of pool memory at
 * some 300 and then neither answers nor closes). A DynDNS request has at most 8. */
#define HTTP_MAX_PARAMS 32
/* TLS 1.2 minimum: older versions have known weaknesses and every client we serve
 * (ddclient with IO::Socket::SSL, inadyn with GnuTLS, curl, routers) speaks 1.2. */
#define HTTP_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct http_server;
struct gen_slot;

/* http_start: listens on every address of cfg->daemon.host (see http.c for how names
 * map to addresses) at cfg->daemon.port, with TLS when cfg->daemon.ssl, and logs
 * "listening on ADDR:PORT" for each, and the connection limit the file descriptor
 * limit allows (see HTTP_CONNECTION_MAX). `cfg` is borrowed and must outlive the server:
 * listeners, TLS, the per-client connection limit and the database connections are
 * made from it once (a reload cannot change them). Everything else a request uses
 * (endpoints, parameter aliases, proxy_header, trusted_proxies, log_requests, rate
 * limiter, notifier) comes from the generation it takes from `gens` (borrowed; must
 * outlive the server) when it arrives, and releases when it completes: a reload
 * publishes a new generation there and requests in progress finish with theirs. The
 * caller must have blocked the signals it waits for before calling (the worker threads
 * inherit the mask). Returns 0, ERR_IO (port in use, unreadable certificate, cannot
 * listen, too few file descriptors: already logged with the reason), ERR_INVAL (bad certificate/key
 * or host), ERR_NOMEM. */
int http_start(const struct config *cfg, struct gen_slot *gens, struct http_server **out);

/* http_stop: stops accepting, waits up to `drain_ms` for requests in progress to be
 * answered, then stops the worker threads (closing their database connections).
 * NULL ok. */
void http_stop(struct http_server *srv, int drain_ms);

/* http_accepts_json: whether an Accept header value asks for application/json (with a
 * non-zero q). NULL → false. */
bool http_accepts_json(const char *accept);

/* http_target_status: what a raw request target (as the request line has it, not yet
 * decoded) gets before anything else: 400 when it holds an encoded NUL ("%00": MHD
 * would cut the decoded value there, so "pw%00junk" would be read as "pw"), 414 with
 * more than HTTP_MAX_PARAMS query parameters, 0 when it is fine. */
unsigned int http_target_status(const char *target);

/* The request log (daemon.log_requests) shows the method, the path and the query
 * parameters known to be harmless — the endpoint's hostname, ipv4, ipv6 and
 * notify_change aliases and "offline" — with their values; every other parameter
 * (credentials, and whatever a client calls its password: "passwd", "pass word", a
 * bare "password..." without "=") is only counted, as " (+N not logged)". A shown
 * value is cut ("...") at the first byte no host name, address or flag contains, so
 * that "hostname=x;password=y" shows "hostname=x..."; a path that matched no endpoint
 * is cut the same way at the first byte no path of ours contains (a decoded "%3F"
 * would otherwise carry the query into the log). The log module escapes what is left
 * (control bytes, bytes that are not UTF-8). */

/* http_log_param: appends one query parameter of a request to endpoint `ep` (NULL: the
 * path matched none, so nothing is known to be harmless) to the log's query string
 * `out` ("&" between parameters), or counts it in *hidden. `value` NULL appends the
 * bare key. Returns 0 or ERR_TOOBIG/ERR_NOMEM (`out` is bounded). */
int http_log_param(const struct config_endpoint *ep, const char *key, const char *value,
		   struct buf *out, unsigned *hidden);

/* http_log_path: appends the path as the log shows it: the endpoint's own path, or
 * (`ep` NULL) the decoded `url` cut as above. Returns 0 or ERR_TOOBIG/ERR_NOMEM. */
int http_log_path(const struct config_endpoint *ep, const char *url, struct buf *out);

#endif
