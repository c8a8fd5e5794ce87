/* SPDX-License-Identifier: MIT */
/* The benchmark's HTTP load generator for what wrk cannot do: every connection from its
 * own loopback address (the daemon allows 16 connections per client address), a request
 * line and credentials that change per request, every reply classified by its DynDNS
 * status, latencies, resets, and a SIGTERM sent to the server once every connection
 * has its request out. Prints one JSON line.
 *
 *   loadgen --port P --path TPL [--auth TPL] [--conns N] [--seconds S | --requests K]
 *           [--src-base 127.0.1.1] [--round R] [--timeout-ms T] [--hard-stop-ms H]
 *           [--sigterm PID [--sigterm-delay-ms D]]
 *
 * Templates expand {c} (connection index), {n} (request number on that connection),
 * {g} (c + N*n, unique over the run) and {ip} (10.R.x.y from n: a new address on every
 * request of a connection). One thread per connection, keep-alive, blocking I/O.
 * With --hard-stop-ms, a request still unanswered H ms after the end of a --seconds run
 * is abandoned (counted, its wait kept as its latency: a lower bound) and its connection
 * reset, as a client that gives up does; without it the run waits for every answer.
 * SIGINT or SIGTERM ends a run the same way at once (a load that runs until the
 * measurement beside it is done). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LG_MAX_CONNS   512
#define LG_REQ_MAX     4096  /* bytes of one request */
#define LG_RESP_MAX    65536 /* bytes of one response (a reply is a few lines) */
#define LG_FIELD_MAX   1024  /* bytes of an expanded template */
#define LG_SIGTERM_MAX 10.0  /* seconds to wait for every request to be out */
#define LG_SLICE_MS    50    /* longest wait before looking at the stop flag again */

/* The reply classes, in output order: DynDNS statuses, then HTTP-level outcomes. */
static const char *const classes[] = {"good",  "nochg",	  "badauth", "nohost", "notfqdn",
				      "badip", "numhost", "dnserr",  "abuse",  "911",
				      "401",   "404",	  "other"};
#define LG_NCLASSES    (sizeof(classes) / sizeof(classes[0]))
#define LG_NSTATUSES   10 /* the DynDNS statuses at the head of `classes` */
#define LG_CLASS_401   10
#define LG_CLASS_404   11
#define LG_CLASS_OTHER 12
enum lg_error { LG_CONNECT, LG_RESET, LG_TIMEOUT, LG_ABANDONED, LG_NERRORS };
static const char *const error_names[] = {"connect", "reset", "timeout", "abandoned"};

struct lg_opts {
	const char *host, *path, *auth;
	int port, conns, requests, round, timeout_ms, sigterm_pid, sigterm_delay_ms;
	int hard_stop_ms; /* -1: wait for every answer */
	double seconds;
	double start;	   /* CLOCK_MONOTONIC seconds when the run began */
	double hard_stop;  /* when unanswered requests are abandoned, or 0 */
	uint32_t src_base; /* host order; 0: the kernel picks */
};

struct lg_conn {
	const struct lg_opts *o;
	pthread_t tid;
	int idx, fd;
	long counts[LG_NCLASSES], errors[LG_NERRORS];
	double *lat; /* ms of every answered request */
	size_t nlat, cap;
	char buf[LG_RESP_MAX + 1];
};

static atomic_int sent_first;
static volatile sig_atomic_t stop_now; /* SIGINT/SIGTERM: abandon what is in flight */

static void
on_stop(int sig)
{
	(void)sig;
	stop_now = 1;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t
base64(const unsigned char *in, size_t len, char *out, size_t cap)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < len && o + 5 < cap; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? in[i + 1] << 8 : 0) |
			     (i + 2 < len ? in[i + 2] : 0);

		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = i + 1 < len ? tab[v >> 6 & 63] : '=';
		out[o++] = i + 2 < len ? tab[v & 63] : '=';
	}
	out[o] = '\0';
	return o;
}

/* The text of placeholder `name` for request n on connection c into out. */
static int
placeholder(const struct lg_conn *c, long n, const char *name, size_t len, char *out, size_t cap)
{
	long g = c->idx + (long)c->o->conns * n;

	if (len == 1 && name[0] == 'c')
		return snprintf(out, cap, "%d", c->idx);
	if (len == 1 && name[0] == 'n')
		return snprintf(out, cap, "%ld", n);
	if (len == 1 && name[0] == 'g')
		return snprintf(out, cap, "%ld", g);
	if (len == 2 && memcmp(name, "ip", 2) == 0)
		return snprintf(out, cap, "10.%d.%ld.%ld", c->o->round & 255, (n >> 8) & 255,
				n & 255);
	return -1;
}

/* Expands a template; -1 when it does not fit or names an unknown placeholder. */
static int
expand(const struct lg_conn *c, long n, const char *tpl, char *out, size_t cap)
{
	size_t o = 0;

	for (const char *p = tpl; *p; p++) {
		const char *end = *p == '{' ? strchr(p, '}') : NULL;
		int k;

		if (!end) {
			if (o + 1 >= cap)
				return -1;
			out[o++] = *p;
			continue;
		}
		k = placeholder(c, n, p + 1, (size_t)(end - p - 1), out + o, cap - o);
		if (k < 0 || (size_t)k >= cap - o)
			return -1;
		o += (size_t)k;
		p = end;
	}
	out[o] = '\0';
	return 0;
}

/* The request text for request n of connection c; its length or -1. */
static int
make_request(const struct lg_conn *c, long n, char *req, size_t cap)
{
	char path[LG_FIELD_MAX], cred[LG_FIELD_MAX], b64[LG_FIELD_MAX * 2];
	char auth[LG_FIELD_MAX * 2 + 64];
	int k;

	if (expand(c, n, c->o->path, path, sizeof(path)) < 0)
		return -1;
	auth[0] = '\0';
	if (c->o->auth) {
		if (expand(c, n, c->o->auth, cred, sizeof(cred)) < 0)
			return -1;
		base64((const unsigned char *)cred, strlen(cred), b64, sizeof(b64));
		snprintf(auth, sizeof(auth), "Authorization: Basic %s\r\n", b64);
	}
	k = snprintf(req, cap, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", path, c->o->host, auth);
	return k > 0 && (size_t)k < cap ? k : -1;
}

static int
connect_conn(struct lg_conn *c)
{
	const struct lg_opts *o = c->o;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
	struct sockaddr_in src = {.sin_family = AF_INET};
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0 || inet_pton(AF_INET, o->host, &sa.sin_addr) != 1)
		return -1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (o->src_base) {
		src.sin_addr.s_addr = htonl(o->src_base + (uint32_t)c->idx);
		if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) < 0)
			return -1;
	}
	return connect(c->fd, (struct sockaddr *)&sa, sizeof(sa));
}

static void
close_conn(struct lg_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* Closes with a reset, as a client that gives up does: the kernel drops the unread
 * request, so the server never starts it if it had not yet. */
static void
abort_conn(struct lg_conn *c)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	if (c->fd >= 0)
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close_conn(c);
}

/* Whether the run is over for requests still waiting: SIGINT/SIGTERM, or the hard stop. */
static bool
is_stopped(const struct lg_opts *o)
{
	return stop_now || (o->hard_stop > 0 && now_s() >= o->hard_stop);
}

/* Reads until `want` bytes are in buf (want 0: until the end of the headers). Returns
 * the bytes read, -1 on reset/EOF, -2 on timeout, -3 when the run was stopped. */
static long
read_until(struct lg_conn *c, size_t have, size_t want, double deadline)
{
	while (want ? have < want : !strstr(c->buf, "\r\n\r\n")) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		int ms = (int)((deadline - now_s()) * 1000);
		ssize_t r;

		if (is_stopped(c->o))
			return -3;
		if (ms <= 0)
			return -2;
		/* Short slices: a stop must be seen soon. */
		if (poll(&p, 1, ms < LG_SLICE_MS ? ms : LG_SLICE_MS) <= 0)
			continue;
		if (have >= LG_RESP_MAX)
			return -1;
		r = read(c->fd, c->buf + have, LG_RESP_MAX - have);
		if (r <= 0)
			return -1;
		have += (size_t)r;
		c->buf[have] = '\0';
	}
	return (long)have;
}

static size_t
classify(int status, const char *body)
{
	size_t len = strcspn(body, " \r\n");

	if (status == 401)
		return LG_CLASS_401;
	if (status == 404)
		return LG_CLASS_404;
	for (size_t i = 0; status == 200 && i < LG_NSTATUSES; i++)
		if (strlen(classes[i]) == len && strncmp(body, classes[i], len) == 0)
			return i;
	return LG_CLASS_OTHER;
}

/* Reads one response: its class index, or -1 (reset/EOF), -2 (timeout), -3 (the hard
 * stop came first). Sets *close_after when the server ends the connection after it. */
static int
read_response(struct lg_conn *c, int *close_after)
{
	double deadline = now_s() + c->o->timeout_ms / 1000.0;
	long have, clen = 0;
	const char *cl, *body;
	int status;

	c->buf[0] = '\0';
	have = read_until(c, 0, 0, deadline);
	if (have < 0)
		return (int)have;
	body = strstr(c->buf, "\r\n\r\n") + 4;
	cl = strcasestr(c->buf, "\r\nContent-Length:");
	if (cl)
		clen = strtol(cl + 17, NULL, 10);
	if (strncmp(c->buf, "HTTP/1.", 7) != 0 || clen < 0 || clen > LG_RESP_MAX / 2)
		return -1;
	status = (int)strtol(c->buf + 9, NULL, 10);
	*close_after = strcasestr(c->buf, "\r\nConnection: close") != NULL;
	have = read_until(c, (size_t)have, (size_t)(body - c->buf) + (size_t)clen, deadline);
	if (have < 0)
		return (int)have;
	return (int)classify(status, body);
}

static void
record_latency(struct lg_conn *c, double ms)
{
	if (c->nlat == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 4096;
		double *p = realloc(c->lat, cap * sizeof(double));

		if (!p)
			return;
		c->lat = p;
		c->cap = cap;
	}
	c->lat[c->nlat++] = ms;
}

/* One request on connection c (connecting first when needed); counts the outcome. */
static void
one_request(struct lg_conn *c, long n)
{
	char req[LG_REQ_MAX];
	int len = make_request(c, n, req, sizeof(req)), cls, close_after = 0;
	double t0 = now_s();

	if (len < 0) {
		c->counts[LG_CLASS_OTHER]++;
		return;
	}
	if (c->fd < 0 && connect_conn(c) < 0) {
		c->errors[LG_CONNECT]++;
		close_conn(c);
		return;
	}
	if (send(c->fd, req, (size_t)len, MSG_NOSIGNAL) != len) {
		c->errors[LG_RESET]++;
		close_conn(c);
		return;
	}
	if (n == 0)
		atomic_fetch_add(&sent_first, 1);
	cls = read_response(c, &close_after);
	if (cls == -3) {
		c->errors[LG_ABANDONED]++;
		record_latency(c, (now_s() - t0) * 1000);
		abort_conn(c);
		return;
	}
	if (cls < 0) {
		c->errors[cls == -2 ? LG_TIMEOUT : LG_RESET]++;
		close_conn(c);
		return;
	}
	c->counts[cls]++;
	record_latency(c, (now_s() - t0) * 1000);
	if (close_after)
		close_conn(c);
}

static void *
conn_run(void *arg)
{
	struct lg_conn *c = arg;
	double end = c->o->start + c->o->seconds;

	for (long n = 0; !stop_now && (c->o->requests ? n < c->o->requests : now_s() < end); n++)
		one_request(c, n);
	close_conn(c);
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The q-quantile of sorted v (nearest rank); -1 when empty. */
static double
quantile(const double *v, size_t n, double q)
{
	size_t i = (size_t)(q * (double)n);

	return n ? v[i < n ? i : n - 1] : -1.0;
}

static void
report(const struct lg_opts *o, const struct lg_conn *c, double elapsed, double sigterm_at,
       int sent_at_sigterm)
{
	long counts[LG_NCLASSES] = {0}, errors[LG_NERRORS] = {0}, answered = 0;
	size_t n = 0;
	double *all;

	for (int i = 0; i < o->conns; i++)
		n += c[i].nlat;
	all = malloc((n + 1) * sizeof(double));
	n = 0;
	for (int i = 0; i < o->conns; i++) {
		for (size_t k = 0; k < LG_NCLASSES; k++)
			counts[k] += c[i].counts[k];
		for (size_t k = 0; k < LG_NERRORS; k++)
			errors[k] += c[i].errors[k];
		for (size_t k = 0; all && k < c[i].nlat; k++)
			all[n++] = c[i].lat[k];
	}
	if (all)
		qsort(all, n, sizeof(double), cmp_double);
	for (size_t k = 0; k < LG_NCLASSES; k++)
		answered += counts[k];
	printf("{\"conns\": %d, \"seconds\": %.3f, \"answered\": %ld, \"rps\": %.2f, "
	       "\"sigterm_at\": %.3f, \"sent_at_sigterm\": %d, \"classes\": {",
	       o->conns, elapsed, answered, answered / elapsed, sigterm_at, sent_at_sigterm);
	for (size_t k = 0; k < LG_NCLASSES; k++)
		printf("%s\"%s\": %ld", k ? ", " : "", classes[k], counts[k]);
	printf("}, \"errors\": {");
	for (size_t k = 0; k < LG_NERRORS; k++)
		printf("%s\"%s\": %ld", k ? ", " : "", error_names[k], errors[k]);
	printf("}, \"lat_ms\": {\"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, \"max\": %.3f}}\n",
	       all ? quantile(all, n, 0.5) : -1, all ? quantile(all, n, 0.9) : -1,
	       all ? quantile(all, n, 0.99) : -1, all && n ? all[n - 1] : -1);
	free(all);
}

static int
parse_int(const char *s, int lo, int hi, int *out)
{
	char *end = NULL;
	long v = strtol(s, &end, 10);

	if (!*s || *end || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

/* One option with its value; 0, or -1 when unknown or invalid. */
static int
parse_opt(struct lg_opts *o, const char *a, const char *v)
{
	struct in_addr in;
	int secs;

	if (strcmp(a, "--host") == 0)
		o->host = v;
	else if (strcmp(a, "--path") == 0)
		o->path = v;
	else if (strcmp(a, "--auth") == 0)
		o->auth = v;
	else if (strcmp(a, "--src-base") == 0 && inet_pton(AF_INET, v, &in) == 1)
		o->src_base = ntohl(in.s_addr);
	else if (strcmp(a, "--seconds") == 0 && parse_int(v, 1, 3600, &secs) == 0)
		o->seconds = secs;
	else if (strcmp(a, "--port") == 0)
		return parse_int(v, 1, 65535, &o->port);
	else if (strcmp(a, "--conns") == 0)
		return parse_int(v, 1, LG_MAX_CONNS, &o->conns);
	else if (strcmp(a, "--requests") == 0)
		return parse_int(v, 1, 1000000, &o->requests);
	else if (strcmp(a, "--round") == 0)
		return parse_int(v, 0, 255, &o->round);
	else if (strcmp(a, "--timeout-ms") == 0)
		return parse_int(v, 1, 600000, &o->timeout_ms);
	else if (strcmp(a, "--sigterm") == 0)
		return parse_int(v, 2, 1 << 30, &o->sigterm_pid);
	else if (strcmp(a, "--hard-stop-ms") == 0)
		return parse_int(v, 0, 600000, &o->hard_stop_ms);
	else if (strcmp(a, "--sigterm-delay-ms") == 0)
		return parse_int(v, 0, 60000, &o->sigterm_delay_ms);
	else
		return -1;
	return 0;
}

/* Waits until every connection has its first request out (at most LG_SIGTERM_MAX s),
 * then D ms more, and sends SIGTERM; returns when it was sent (seconds since t0) and
 * how many requests were out by then. */
static double
send_sigterm(const struct lg_opts *o, double t0, int *sent)
{
	struct timespec tick = {0, 1000 * 1000};
	double give_up = now_s() + LG_SIGTERM_MAX;

	while (atomic_load(&sent_first) < o->conns && now_s() < give_up)
		nanosleep(&tick, NULL);
	tick.tv_sec = o->sigterm_delay_ms / 1000;
	tick.tv_nsec = (long)(o->sigterm_delay_ms % 1000) * 1000 * 1000;
	nanosleep(&tick, NULL);
	*sent = atomic_load(&sent_first);
	kill(o->sigterm_pid, SIGTERM);
	return now_s() - t0;
}

int
main(int argc, char **argv)
{
	struct lg_opts o = {.host = "127.0.0.1",
			    .conns = 1,
			    .seconds = 5,
			    .timeout_ms = 30000,
			    .hard_stop_ms = -1};
	struct lg_conn *c;
	double t0, sigterm_at = -1;
	int sent = -1;

	for (int i = 1; i < argc; i += 2) {
		if (i + 1 >= argc || parse_opt(&o, argv[i], argv[i + 1]) < 0) {
			fprintf(stderr, "loadgen: bad option %s\n", argv[i]);
			return 2;
		}
	}
	if (!o.port || !o.path) {
		fprintf(stderr, "loadgen: --port and --path are required\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_stop);
	signal(SIGTERM, on_stop);
	c = calloc((size_t)o.conns, sizeof(*c));
	if (!c)
		return 1;
	t0 = o.start = now_s();
	if (o.hard_stop_ms >= 0 && !o.requests)
		o.hard_stop = t0 + o.seconds + o.hard_stop_ms / 1000.0;
	for (int i = 0; i < o.conns; i++) {
		c[i].o = &o;
		c[i].idx = i;
		c[i].fd = -1;
		if (pthread_create(&c[i].tid, NULL, conn_run, &c[i]) != 0)
			return 1;
	}
	if (o.sigterm_pid)
		sigterm_at = send_sigterm(&o, t0, &sent);
	for (int i = 0; i < o.conns; i++)
		pthread_join(c[i].tid, NULL);
	report(&o, c, now_s() - t0, sigterm_at, sent);
	for (int i = 0; i < o.conns; i++)
		free(c[i].lat);
	free(c);
	return 0;
}
