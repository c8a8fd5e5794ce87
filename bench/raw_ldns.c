/* SPDX-License-Identifier: MIT */
/* The DNS limit of the benchmark: RFC 2136 UPDATEs built and TSIG-signed with ldns, sent
 * as fast as the server answers, by N threads (each its own socket) with B names per
 * message; every reply checked (ID, NOERROR, TSIG). Prints one JSON line.
 *
 *   raw_ldns --port P --key FILE --zone Z [--server 127.0.0.1] [--threads N] [--batch B]
 *            [--seconds S] [--round R] [--prefix PFX] [--tcp]
 *
 * Each name's update deletes its A RRset and adds one A record whose address changes on
 * every pass over the name pool (10.R.x.y, R the round), so the server always does a
 * real change, never a no-op. */
#include <arpa/inet.h>
#include <errno.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RAW_POOL	1000 /* names per thread; a multiple of every batch size we use */
#define RAW_MAX_THREADS 64
#define RAW_MAX_BATCH	500
#define RAW_TIMEOUT_MS	2000  /* one exchange; a timeout counts as a failure */
#define RAW_MAX_LAT	65536 /* message latencies kept per thread (for the median) */
#define RAW_MAX_WIRE	65535
#define RAW_KEYFILE_MAX 4096
#define RAW_FIELD_MAX	256
#define RAW_NAME_MAX	256

struct raw_opts {
	const char *server, *zone, *prefix;
	int port, threads, batch, round, tcp;
	double seconds;
	char key_name[RAW_FIELD_MAX], key_alg[RAW_FIELD_MAX], key_b64[RAW_FIELD_MAX];
};

struct raw_worker {
	const struct raw_opts *o;
	pthread_t tid;
	int id, fd;
	long messages, names, failures;
	char last_error[160];
	double *lat;
	size_t nlat;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Copies the value after `word` in BIND key-file text (quotes and `;` stripped). */
static int
key_field(const char *text, const char *word, char *out, size_t cap)
{
	const char *p = strstr(text, word);
	size_t n = 0;

	if (!p)
		return -1;
	p += strlen(word);
	while (*p == ' ' || *p == '\t' || *p == '"')
		p++;
	while (p[n] && p[n] != '"' && p[n] != ';' && p[n] != ' ' && p[n] != '\n')
		n++;
	if (n == 0 || n + 2 > cap)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

/* Reads name, algorithm and base64 secret of a tsig-keygen key file. */
static int
load_key(const char *path, struct raw_opts *o)
{
	char text[RAW_KEYFILE_MAX + 1];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -1;
	n = fread(text, 1, RAW_KEYFILE_MAX, f);
	fclose(f);
	text[n] = '\0';
	if (key_field(text, "key ", o->key_name, sizeof(o->key_name)) < 0 ||
	    key_field(text, "algorithm ", o->key_alg, sizeof(o->key_alg)) < 0 ||
	    key_field(text, "secret ", o->key_b64, sizeof(o->key_b64)) < 0)
		return -1;
	/* ldns compares the algorithm as a dname: it needs the trailing dot. */
	n = strlen(o->key_alg);
	o->key_alg[n] = '.';
	o->key_alg[n + 1] = '\0';
	return 0;
}

static ldns_rr *
make_rr(const char *owner, ldns_rr_class cls, uint32_t ttl, const char *ip)
{
	ldns_rr *rr = ldns_rr_new();
	ldns_rdf *o = ldns_dname_new_frm_str(owner);
	ldns_rdf *rd = ip ? ldns_rdf_new_frm_str(LDNS_RDF_TYPE_A, ip) : NULL;

	if (!rr || !o || (ip && !rd)) {
		ldns_rr_free(rr);
		ldns_rdf_deep_free(o);
		ldns_rdf_deep_free(rd);
		return NULL;
	}
	ldns_rr_set_owner(rr, o);
	ldns_rr_set_ttl(rr, ttl);
	ldns_rr_set_class(rr, cls);
	ldns_rr_set_type(rr, LDNS_RR_TYPE_A);
	if (rd)
		ldns_rr_push_rdf(rr, rd);
	return rr;
}

/* Appends "delete the A RRset of name k, add 10.R.x.y" for message `msg`'s k-th name. */
static int
push_name(const struct raw_worker *w, ldns_rr_list *up, long slot)
{
	const struct raw_opts *o = w->o;
	long pass = slot / RAW_POOL;
	char owner[RAW_NAME_MAX], ip[32];
	ldns_rr *del, *add;

	snprintf(owner, sizeof(owner), "%s-%d-%ld.%s.", o->prefix, w->id, slot % RAW_POOL, o->zone);
	snprintf(ip, sizeof(ip), "10.%d.%ld.%ld", o->round & 255, (pass >> 8) & 255, pass & 255);
	del = make_rr(owner, LDNS_RR_CLASS_ANY, 0, NULL);
	add = make_rr(owner, LDNS_RR_CLASS_IN, 60, ip);
	if (!del || !add || !ldns_rr_list_push_rr(up, del)) {
		ldns_rr_free(del);
		ldns_rr_free(add);
		return -1;
	}
	if (!ldns_rr_list_push_rr(up, add)) {
		ldns_rr_free(add);
		return -1;
	}
	return 0;
}

/* The signed UPDATE for message number `msg` of worker `w`: *pkt (for the reply's
 * TSIG check) and its wire form (caller frees both). */
static int
build(const struct raw_worker *w, long msg, ldns_pkt **pkt, uint8_t **wire, size_t *len)
{
	const struct raw_opts *o = w->o;
	ldns_rr_list *up = ldns_rr_list_new();
	ldns_rdf *zone = ldns_dname_new_frm_str(o->zone);
	uint16_t id = 0;
	int rc = -1;

	*pkt = NULL;
	*wire = NULL;
	for (int k = 0; up && k < o->batch; k++)
		if (push_name(w, up, msg * o->batch + k) < 0)
			goto out;
	if (!up || !zone || !(*pkt = ldns_update_pkt_new(zone, LDNS_RR_CLASS_IN, NULL, up, NULL)))
		goto out;
	zone = NULL; /* the packet owns it now */
	if (getrandom(&id, sizeof(id), 0) != sizeof(id))
		goto out;
	ldns_pkt_set_id(*pkt, id);
	if (ldns_pkt_tsig_sign(*pkt, o->key_name, o->key_b64, 300, o->key_alg, NULL) !=
		    LDNS_STATUS_OK ||
	    ldns_pkt2wire(wire, *pkt, len) != LDNS_STATUS_OK)
		goto out;
	rc = 0;
out:
	ldns_rr_list_deep_free(up);
	ldns_rdf_deep_free(zone);
	return rc;
}

static int
open_socket(const struct raw_opts *o)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
	int fd = socket(AF_INET, o->tcp ? SOCK_STREAM : SOCK_DGRAM, 0);

	if (fd < 0 || inet_pton(AF_INET, o->server, &sa.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Reads exactly n bytes before the deadline (TCP). */
static int
read_full(int fd, uint8_t *buf, size_t n, double deadline)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int ms = (int)((deadline - now_s()) * 1000);
		ssize_t r;

		if (ms <= 0 || poll(&p, 1, ms) <= 0)
			return -1;
		r = read(fd, buf + got, n - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* One request/reply on the worker's socket; the reply's length or -1. */
static ssize_t
exchange(struct raw_worker *w, const uint8_t *req, size_t len, uint8_t *reply)
{
	double deadline = now_s() + RAW_TIMEOUT_MS / 1000.0;
	uint8_t hdr[2] = {(uint8_t)(len >> 8), (uint8_t)len};

	if (w->o->tcp) {
		struct iovec iov[2] = {{hdr, 2}, {(void *)req, len}};
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};

		if (sendmsg(w->fd, &mh, MSG_NOSIGNAL) != (ssize_t)len + 2 ||
		    read_full(w->fd, hdr, 2, deadline) < 0)
			return -1;
		len = (size_t)hdr[0] << 8 | hdr[1];
		return read_full(w->fd, reply, len, deadline) < 0 ? -1 : (ssize_t)len;
	}
	if (send(w->fd, req, len, 0) != (ssize_t)len)
		return -1;
	for (;;) {
		struct pollfd p = {.fd = w->fd, .events = POLLIN};
		int ms = (int)((deadline - now_s()) * 1000);
		ssize_t r;

		if (ms <= 0 || poll(&p, 1, ms) <= 0)
			return -1;
		r = recv(w->fd, reply, RAW_MAX_WIRE, 0);
		/* A late reply to an earlier, timed-out request: keep waiting for ours. */
		if (r >= 2 && memcmp(reply, req, 2) == 0)
			return r;
	}
}

/* Whether `reply` answers `req` with NOERROR and a valid TSIG. */
static int
check_reply(struct raw_worker *w, ldns_pkt *req, const uint8_t *reply, size_t len)
{
	ldns_pkt *r = NULL;
	ldns_rr *tsig = ldns_pkt_tsig(req);
	int ok = 0;

	if (ldns_wire2pkt(&r, reply, len) != LDNS_STATUS_OK) {
		snprintf(w->last_error, sizeof(w->last_error), "unparsable reply");
	} else if (ldns_pkt_get_rcode(r) != LDNS_RCODE_NOERROR) {
		snprintf(w->last_error, sizeof(w->last_error), "rcode %d", ldns_pkt_get_rcode(r));
	} else if (!tsig || !ldns_pkt_tsig_verify(r, reply, len, w->o->key_name, w->o->key_b64,
						  ldns_rr_rdf(tsig, 3))) {
		snprintf(w->last_error, sizeof(w->last_error), "reply TSIG does not verify");
	} else {
		ok = 1;
	}
	ldns_pkt_free(r);
	return ok;
}

static void *
worker_run(void *arg)
{
	struct raw_worker *w = arg;
	uint8_t *reply = malloc(RAW_MAX_WIRE);
	double end = now_s() + w->o->seconds;

	for (long msg = 0; reply && now_s() < end; msg++) {
		ldns_pkt *pkt;
		uint8_t *wire;
		size_t len = 0;
		double t0 = now_s();
		ssize_t n;

		if (build(w, msg, &pkt, &wire, &len) < 0) {
			snprintf(w->last_error, sizeof(w->last_error), "cannot build the UPDATE");
			w->failures++;
			ldns_pkt_free(pkt);
			break;
		}
		n = exchange(w, wire, len, reply);
		if (n < 0)
			snprintf(w->last_error, sizeof(w->last_error), "no reply within %d ms",
				 RAW_TIMEOUT_MS);
		if (n >= 0 && check_reply(w, pkt, reply, (size_t)n)) {
			w->names += w->o->batch;
			if (w->nlat < RAW_MAX_LAT)
				w->lat[w->nlat++] = now_s() - t0;
		} else {
			w->failures++;
		}
		w->messages++;
		ldns_pkt_free(pkt);
		free(wire);
	}
	free(reply);
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Prints the totals and the median message latency as one JSON line. */
static void
report(const struct raw_opts *o, struct raw_worker *w, double elapsed)
{
	long messages = 0, names = 0, failures = 0;
	size_t nlat = 0;
	double *all = calloc((size_t)o->threads * RAW_MAX_LAT, sizeof(double));
	const char *err = "";

	for (int i = 0; i < o->threads; i++) {
		messages += w[i].messages;
		names += w[i].names;
		failures += w[i].failures;
		if (w[i].last_error[0])
			err = w[i].last_error;
		for (size_t k = 0; all && k < w[i].nlat; k++)
			all[nlat++] = w[i].lat[k];
	}
	if (all)
		qsort(all, nlat, sizeof(double), cmp_double);
	printf("{\"threads\": %d, \"batch\": %d, \"tcp\": %s, \"seconds\": %.3f, \"messages\": %ld,"
	       " \"names\": %ld, \"failures\": %ld, \"names_per_s\": %.1f, \"p50_ms\": %.3f,"
	       " \"last_error\": \"%s\"}\n",
	       o->threads, o->batch, o->tcp ? "true" : "false", elapsed, messages, names, failures,
	       names / elapsed, nlat ? all[nlat / 2] * 1000 : -1.0, err);
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

/* Options as pairs; returns 0 or -1 with a message on stderr. */
static int
parse_args(int argc, char **argv, struct raw_opts *o)
{
	int secs = 5;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;

		if (strcmp(a, "--tcp") == 0) {
			o->tcp = 1;
			continue;
		}
		if (!v)
			bad = 1;
		else if (strcmp(a, "--server") == 0)
			o->server = v;
		else if (strcmp(a, "--zone") == 0)
			o->zone = v;
		else if (strcmp(a, "--prefix") == 0)
			o->prefix = v;
		else if (strcmp(a, "--key") == 0)
			bad = load_key(v, o) < 0;
		else if (strcmp(a, "--port") == 0)
			bad = parse_int(v, 1, 65535, &o->port) < 0;
		else if (strcmp(a, "--threads") == 0)
			bad = parse_int(v, 1, RAW_MAX_THREADS, &o->threads) < 0;
		else if (strcmp(a, "--batch") == 0)
			bad = parse_int(v, 1, RAW_MAX_BATCH, &o->batch) < 0 || RAW_POOL % o->batch;
		else if (strcmp(a, "--seconds") == 0)
			bad = parse_int(v, 1, 3600, &secs) < 0;
		else if (strcmp(a, "--round") == 0)
			bad = parse_int(v, 0, 255, &o->round) < 0;
		else
			bad = 1;
		if (bad) {
			fprintf(stderr, "raw_ldns: bad option %s %s\n", a, v ? v : "");
			return -1;
		}
		i++;
	}
	o->seconds = secs;
	if (!o->zone || !o->port || !o->key_b64[0]) {
		fprintf(stderr, "raw_ldns: --port, --key and --zone are required\n");
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct raw_opts o = {.server = "127.0.0.1", .prefix = "raw", .threads = 1, .batch = 1};
	struct raw_worker *w;
	double t0;

	if (parse_args(argc, argv, &o) < 0)
		return 2;
	w = calloc((size_t)o.threads, sizeof(*w));
	for (int i = 0; w && i < o.threads; i++) {
		w[i] = (struct raw_worker){.o = &o, .id = i, .fd = open_socket(&o)};
		w[i].lat = malloc(RAW_MAX_LAT * sizeof(double));
		if (w[i].fd < 0 || !w[i].lat) {
			fprintf(stderr, "raw_ldns: cannot reach %s:%d: %s\n", o.server, o.port,
				strerror(errno));
			return 1;
		}
	}
	if (!w)
		return 1;
	t0 = now_s();
	for (int i = 0; i < o.threads; i++)
		if (pthread_create(&w[i].tid, NULL, worker_run, &w[i]) != 0)
			return 1;
	for (int i = 0; i < o.threads; i++)
		pthread_join(w[i].tid, NULL);
	report(&o, w, now_s() - t0);
	for (int i = 0; i < o.threads; i++) {
		close(w[i].fd);
		free(w[i].lat);
	}
	free(w);
	explicit_bzero(o.key_b64, sizeof(o.key_b64));
	return 0;
}
