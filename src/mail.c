/* SPDX-License-Identifier: MIT */
/* Notification mail: message building (headers, RFC 2047, quoted-printable) and a
 * bounded queue drained by one worker thread that sends with libcurl SMTP. */
#include "mail.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "email.h"
#include "err.h"
#include "log.h"
#include "metrics.h"
#include "utf8.h"

/* RFC 5322 §2.1.1: lines SHOULD stay within 78 characters, MUST within 998. */
#define LINE_SOFT 78
#define LINE_HARD 998
/* A word longer than this cannot be folded into a legal line: encode the value instead. */
#define WORD_FOLD_MAX 900
/* RFC 2047 §2: an encoded word is at most 75 characters; "=?UTF-8?B?" + "?=" take 12. */
#define EW_MAX	    75
#define EW_OVERHEAD 12
/* RFC 2045 §6.7: quoted-printable lines are at most 76 characters. */
#define QP_LINE		76
#define HEADER_NAME_MAX 64

static const unsigned default_delays_ms[] = {1000, 2000, 4000, 8000, 16000};

/* Headers the service writes itself or that would misstate the recipients. */
static const char *const reserved_headers[] = {
	"From",
	"To",
	"Date",
	"Message-ID",
	"MIME-Version",
	"Content-Type",
	"Content-Transfer-Encoding",
	"Sender",
	"Cc",
	"Bcc",
	"Return-Path",
};

/* ---- characters --------------------------------------------------------------- */

/* Letters, digits and hyphens: header names and host names. */
static bool
is_ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-';
}

/* ---- small encoders ----------------------------------------------------------- */

static int
add_base64(struct buf *out, const unsigned char *p, size_t len)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char q[4];
	int rc = 0;

	for (size_t i = 0; i < len && rc == 0; i += 3) {
		unsigned v = (unsigned)p[i] << 16;

		if (i + 1 < len)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		q[0] = tab[(v >> 18) & 63];
		q[1] = tab[(v >> 12) & 63];
		q[2] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		q[3] = i + 2 < len ? tab[v & 63] : '=';
		rc = buf_add(out, q, 4);
	}
	return rc;
}

/* ---- headers from the template -------------------------------------------------- */

struct tmpl_header {
	const char *name; /* borrowed from rendered */
	size_t name_len;
	struct buf value; /* unfolded raw value */
};

struct tmpl_headers {
	struct tmpl_header h[MAIL_HEADERS_MAX];
	size_t n;
	bool last_dropped; /* continuation lines of a dropped header are dropped too */
};

static void
tmpl_headers_free(struct tmpl_headers *th)
{
	for (size_t i = 0; i < th->n; i++)
		buf_free(&th->h[i].value);
}

/* The length of a well-formed `Name:` at the start of the line, 0 when there is none. */
static size_t
header_name_len(const char *line, size_t len)
{
	size_t i = 0;

	while (i < len && i <= HEADER_NAME_MAX && is_ldh((unsigned char)line[i]))
		i++;
	if (i == 0 || i > HEADER_NAME_MAX || i >= len || line[i] != ':')
		return 0;
	return i;
}

static bool
is_name(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

static bool
is_dropped_name(const struct tmpl_headers *th, const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(reserved_headers) / sizeof(reserved_headers[0]); i++)
		if (is_name(name, len, reserved_headers[i]))
			return true;
	for (size_t i = 0; i < th->n; i++)
		if (th->h[i].name_len == len && strncasecmp(th->h[i].name, name, len) == 0)
			return true;
	return false;
}

/* Starts a header from `line` (already known to begin with a name and ':'). */
static int
tmpl_header_add(struct tmpl_headers *th, const char *line, size_t len, size_t name_len)
{
	struct tmpl_header *h;

	th->last_dropped = is_dropped_name(th, line, name_len);
	if (th->last_dropped)
		return 0;
	if (th->n == MAIL_HEADERS_MAX)
		return ERR_TOOBIG;
	h = &th->h[th->n++];
	h->name = line;
	h->name_len = name_len;
	buf_init(&h->value, MAIL_HEADER_VALUE_MAX);
	return buf_add(&h->value, line + name_len + 1, len - name_len - 1);
}

/* The next line of `text` at *pos: its start and length without CR LF / LF. */
static bool
next_line(const char *text, size_t *pos, const char **line, size_t *len)
{
	const char *s = text + *pos, *nl;

	if (*s == '\0')
		return false;
	nl = strchr(s, '\n');
	*line = s;
	*len = nl ? (size_t)(nl - s) : strlen(s);
	*pos += *len + (nl ? 1 : 0);
	if (*len > 0 && s[*len - 1] == '\r')
		(*len)--;
	return true;
}

/* Collects the leading header block; *body is where the body starts in `rendered`. */
static int
parse_headers(const char *rendered, struct tmpl_headers *th, const char **body)
{
	size_t pos = 0, prev, len, name_len;
	const char *line;
	int rc;

	for (prev = pos; next_line(rendered, &pos, &line, &len); prev = pos) {
		if (len == 0) {
			*body = rendered + pos;
			return 0;
		}
		if (line[0] == ' ' || line[0] == '\t') {
			if (th->n == 0 && !th->last_dropped)
				break;
			if (th->last_dropped)
				continue;
			rc = buf_add(&th->h[th->n - 1].value, line, len);
		} else if ((name_len = header_name_len(line, len)) > 0) {
			rc = tmpl_header_add(th, line, len, name_len);
		} else {
			break;
		}
		if (rc)
			return rc;
	}
	*body = rendered + prev;
	return 0;
}

/* ---- header output ------------------------------------------------------------ */

/* Makes a value safe in place: trims blanks, turns CR and every other control
 * character into a space (nothing can end the line), replaces invalid UTF-8 by '?'.
 * Sets *non_ascii when the result needs RFC 2047. */
static void
sanitize_value(struct buf *v, bool *non_ascii)
{
	unsigned char *p = (unsigned char *)v->data;
	size_t start = 0, end = v->len, n;

	*non_ascii = false;
	for (size_t i = 0; i < v->len; i += n) {
		n = utf8_decode(v->data + i, v->len - i, NULL);
		if (n == 0) {
			p[i] = '?';
			n = 1;
		} else if (n > 1) {
			*non_ascii = true;
		} else if (p[i] < 0x20 || p[i] == 0x7f) {
			p[i] = ' ';
		}
	}
	while (start < end && p[start] == ' ')
		start++;
	while (end > start && p[end - 1] == ' ')
		end--;
	if (!v->data)
		return;
	memmove(p, p + start, end - start);
	v->len = end - start;
	v->data[v->len] = '\0';
	/* A literal "=?" would be decoded by readers as an encoded word: encode it all. */
	if (strstr(v->data, "=?"))
		*non_ascii = true;
}

/* "Name: =?UTF-8?B?...?=" folded so that no word exceeds 75 characters and the first
 * line stays within 78. */
static int
add_encoded_value(struct buf *out, const struct buf *v, size_t prefix)
{
	const unsigned char *p = (const unsigned char *)v->data;
	size_t pos = 0, cap, n;
	long room = (long)LINE_SOFT - (long)prefix - EW_OVERHEAD;
	int rc = 0;

	/* Base64 turns 3 bytes into 4 characters; at least 6 bytes so a 4-byte character fits. */
	cap = room >= 8 ? (size_t)room / 4 * 3 : 6;
	while (pos < v->len && rc == 0) {
		if (cap > (EW_MAX - EW_OVERHEAD) / 4 * 3)
			cap = (EW_MAX - EW_OVERHEAD) / 4 * 3;
		n = utf8_prefix_len(v->data + pos, v->len - pos, cap);
		if (pos > 0)
			rc = buf_adds(out, "\r\n ");
		if (rc == 0)
			rc = buf_adds(out, "=?UTF-8?B?");
		if (rc == 0)
			rc = add_base64(out, p + pos, n);
		if (rc == 0)
			rc = buf_adds(out, "?=");
		pos += n;
		cap = (EW_MAX - EW_OVERHEAD) / 4 * 3;
	}
	return rc;
}

/* Whether some run of non-blanks is too long to fold into a legal line. */
static bool
has_unfoldable_word(const struct buf *v)
{
	size_t run = 0;

	for (size_t i = 0; i < v->len; i++) {
		run = v->data[i] == ' ' ? 0 : run + 1;
		if (run > WORD_FOLD_MAX)
			return true;
	}
	return false;
}

/* Folds an ASCII value before blanks so lines stay within 78 where words allow. */
static int
add_folded_value(struct buf *out, const struct buf *v, size_t prefix)
{
	size_t col = prefix, i = 0, j;
	int rc = 0;

	while (i < v->len && rc == 0) {
		/* A segment is a blank plus the word after it (or the first word). */
		j = i + 1;
		while (j < v->len && v->data[j] != ' ')
			j++;
		if (col + (j - i) > LINE_SOFT && col > prefix && v->data[i] == ' ' && j - i > 1) {
			rc = buf_adds(out, "\r\n");
			col = 0;
		}
		if (rc == 0)
			rc = buf_add(out, v->data + i, j - i);
		col += j - i;
		i = j;
	}
	return rc;
}

static int
add_header(struct buf *out, const char *name, size_t name_len, struct buf *v)
{
	bool non_ascii;
	int rc;

	sanitize_value(v, &non_ascii);
	rc = buf_add(out, name, name_len);
	if (rc == 0)
		rc = buf_adds(out, v->len ? ": " : ":");
	if (rc == 0 && v->len) {
		if (non_ascii || has_unfoldable_word(v))
			rc = add_encoded_value(out, v, name_len + 2);
		else
			rc = add_folded_value(out, v, name_len + 2);
	}
	return rc ? rc : buf_adds(out, "\r\n");
}

static int
add_date(struct buf *out, int64_t now)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t t = (time_t)now;
	struct tm tm;

	if (!gmtime_r(&t, &tm))
		return ERR_RANGE;
	return buf_printf(out, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday],
			  tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
			  tm.tm_sec);
}

static int
add_message_id(struct buf *out, const char *from)
{
	unsigned char r[16];
	int rc;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return ERR_IO;
	rc = buf_adds(out, "Message-ID: <");
	for (size_t i = 0; i < sizeof(r) && rc == 0; i++)
		rc = buf_printf(out, "%02x", r[i]);
	return rc ? rc : buf_printf(out, "@%s>\r\n", strrchr(from, '@') + 1);
}

/* ---- body ----------------------------------------------------------------------- */

static bool
is_qp_literal(unsigned char c)
{
	return (c >= 33 && c <= 126 && c != '=') || c == ' ' || c == '\t';
}

/* One line of text as quoted-printable with soft breaks, then CRLF. */
static int
add_qp_line(struct buf *out, const unsigned char *p, size_t len)
{
	char tok[4];
	size_t col = 0, tl;
	int rc = 0;

	for (size_t i = 0; i < len && rc == 0; i++) {
		bool last = i + 1 == len;

		/* Blanks at the end of a line must be encoded or transports may strip them. */
		if (is_qp_literal(p[i]) && !(last && (p[i] == ' ' || p[i] == '\t'))) {
			tok[0] = (char)p[i];
			tl = 1;
		} else {
			tok[0] = '=';
			tok[1] = "0123456789ABCDEF"[p[i] >> 4];
			tok[2] = "0123456789ABCDEF"[p[i] & 15];
			tl = 3;
		}
		/* The soft break '=' needs a column of its own, except after the last token. */
		if (col + tl > (last ? QP_LINE : QP_LINE - 1)) {
			rc = buf_adds(out, "=\r\n");
			col = 0;
		}
		if (rc == 0)
			rc = buf_add(out, tok, tl);
		col += tl;
	}
	return rc ? rc : buf_adds(out, "\r\n");
}

static int
add_body(struct buf *out, const char *body)
{
	size_t pos = 0, len;
	const char *line;
	int rc = 0;

	while (rc == 0 && next_line(body, &pos, &line, &len))
		rc = add_qp_line(out, (const unsigned char *)line, len);
	return rc;
}

/* ---- the whole message ------------------------------------------------------------ */

static int
add_own_headers(struct buf *out, const char *from, const char *to, int64_t now)
{
	int rc = add_date(out, now);

	if (rc == 0)
		rc = buf_printf(out, "From: %s\r\nTo: %s\r\n", from, to);
	return rc ? rc : add_message_id(out, from);
}

int
mail_build(const char *from, const char *to, const char *rendered, int64_t now, struct buf *out)
{
	struct tmpl_headers th = {.n = 0};
	const char *body = "";
	int rc;

	if (!email_address_is_valid(from) || !email_address_is_valid(to) || !rendered)
		return ERR_INVAL;
	if (strlen(rendered) > MAIL_RENDERED_MAX)
		return ERR_TOOBIG;
	rc = parse_headers(rendered, &th, &body);
	if (rc == 0)
		rc = add_own_headers(out, from, to, now);
	for (size_t i = 0; i < th.n && rc == 0; i++)
		rc = add_header(out, th.h[i].name, th.h[i].name_len, &th.h[i].value);
	if (rc == 0)
		rc = buf_adds(out, "MIME-Version: 1.0\r\n"
				   "Content-Type: text/plain; charset=utf-8\r\n"
				   "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	if (rc == 0)
		rc = add_body(out, body);
	tmpl_headers_free(&th);
	return rc;
}

/* ---- the queue ---------------------------------------------------------------------- */

struct mail_item {
	struct mail_item *next;
	int kind; /* enum metrics_mail_kind */
	char *to;
	char *msg; /* the built message, CRLF */
	size_t len;
};

struct mail_queue {
	pthread_mutex_t mu;
	pthread_cond_t wake; /* to the worker: mail queued, stop requested */
	pthread_cond_t idle; /* to the stopper: the worker has left its loop */
	pthread_t thread;
	struct mail_item *head, *tail;
	size_t len;
	bool stopping, worker_done;
	int64_t deadline;  /* clock_mono_ms() end of the drain, set with stopping */
	atomic_bool abort; /* the drain time is over: the curl callback aborts */
	struct mail_stats stats;

	/* Settings, copied at start. */
	char *url, *from, *user, *password, *ca_file;
	bool starttls;
	size_t queue_max;
	long connect_timeout_ms, timeout_ms;
	unsigned delays[MAIL_RETRIES_MAX];
	size_t delays_len;
};

/* Reads the message to libcurl from memory. */
struct mail_reader {
	const char *p;
	size_t left;
};

static void
item_free(struct mail_item *it)
{
	if (!it)
		return;
	free(it->to);
	free(it->msg);
	free(it);
}

static size_t
read_cb(char *dst, size_t size, size_t nmemb, void *arg)
{
	struct mail_reader *r = arg;
	size_t n = size * nmemb;

	if (n > r->left)
		n = r->left;
	memcpy(dst, r->p, n);
	r->p += n;
	r->left -= n;
	return n;
}

/* Called by libcurl during the transfer: a non-zero return aborts it. */
static int
progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct mail_queue *q = arg;

	return atomic_load(&q->abort) ? 1 : 0;
}

static void
set_transport_opts(CURL *c, struct mail_queue *q)
{
	curl_easy_setopt(c, CURLOPT_URL, q->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)CURLPROTO_SMTP);
#endif
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, q->connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, q->timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, q);
	if (q->starttls) {
		curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
		if (q->ca_file)
			curl_easy_setopt(c, CURLOPT_CAINFO, q->ca_file);
	}
	if (q->user) {
		curl_easy_setopt(c, CURLOPT_USERNAME, q->user);
		curl_easy_setopt(c, CURLOPT_PASSWORD, q->password ? q->password : "");
	}
}

/* One SMTP transaction. Returns 0 when the server accepted the data, else ERR_IO with
 * a reason in `why` and the last SMTP reply code (0 when none) in *code. */
static int
send_once(struct mail_queue *q, const struct mail_item *it, long *code, char *why, size_t whylen)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct mail_reader r = {it->msg, it->len};
	struct curl_slist *rcpt = NULL;
	CURL *c = curl_easy_init();
	CURLcode res = CURLE_OUT_OF_MEMORY;

	*code = 0;
	rcpt = curl_slist_append(NULL, it->to);
	if (c && rcpt) {
		set_transport_opts(c, q);
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
		curl_easy_setopt(c, CURLOPT_MAIL_FROM, q->from);
		curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(c, CURLOPT_READDATA, &r);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)it->len);
		res = curl_easy_perform(c);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
	}
	if (res != CURLE_OK)
		snprintf(why, whylen, "%s%s%s (SMTP %ld)", curl_easy_strerror(res),
			 errbuf[0] ? ": " : "", errbuf, *code);
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(c);
	return res == CURLE_OK ? 0 : ERR_IO;
}

/* Whether the drain time given to mail_queue_stop is over (lock held). */
static bool
drain_over(const struct mail_queue *q)
{
	if (atomic_load(&q->abort))
		return true;
	if (!q->stopping)
		return false;
	return clock_mono_ms() >= q->deadline;
}

/* Sleeps before a retry, cut short at the drain deadline. False when the message
 * must be given up because the queue is being torn down. */
static bool
backoff(struct mail_queue *q, unsigned delay_ms)
{
	int64_t until = clock_mono_ms() + delay_ms, wake_at;
	struct timespec wait_until;
	bool go_on;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		if (drain_over(q))
			break;
		if (clock_mono_ms() >= until)
			break;
		wake_at = q->stopping && q->deadline < until ? q->deadline : until;
		wait_until = clock_mono_timespec(wake_at);
		pthread_cond_timedwait(&q->wake, &q->mu, &wait_until);
	}
	go_on = !drain_over(q);
	pthread_mutex_unlock(&q->mu);
	return go_on;
}

/* Counts one finished attempt under the lock. */
static void
count(struct mail_queue *q, unsigned long *field)
{
	pthread_mutex_lock(&q->mu);
	(*field)++;
	pthread_mutex_unlock(&q->mu);
}

/* Sends one message with the retry schedule; logs and counts the outcome. */
static void
deliver(struct mail_queue *q, const struct mail_item *it)
{
	size_t tries = q->delays_len + 1;
	char why[CURL_ERROR_SIZE + 128];
	long code = 0;

	for (size_t i = 0; i < tries; i++) {
		if (i > 0 && !backoff(q, q->delays[i - 1])) {
			log_warnx("mail: shutting down: dropped message to %s", it->to);
			count(q, &q->stats.dropped_shutdown);
			metrics_count_mail(it->kind, METRICS_MAIL_DROPPED);
			return;
		}
		count(q, &q->stats.attempts);
		if (send_once(q, it, &code, why, sizeof(why)) == 0) {
			log_info("mail: sent to %s", it->to);
			count(q, &q->stats.sent);
			metrics_count_mail(it->kind, METRICS_MAIL_SENT);
			return;
		}
		if (atomic_load(&q->abort)) {
			log_warnx("mail: shutting down: aborted sending to %s", it->to);
			count(q, &q->stats.dropped_shutdown);
			metrics_count_mail(it->kind, METRICS_MAIL_DROPPED);
			return;
		}
		log_warnx("mail: to %s: attempt %zu of %zu failed: %s", it->to, i + 1, tries, why);
		/* A 5xx reply is permanent (RFC 5321 §4.2.1): retrying cannot help. */
		if (code >= 500 && code < 600)
			break;
	}
	log_error("mail: giving up on message to %s", it->to);
	count(q, &q->stats.failed);
	metrics_count_mail(it->kind, METRICS_MAIL_FAILED);
}

/* The worker leaves the process's signals to the main thread, and a peer closing the
 * connection must give EPIPE, not kill the daemon: with CURLOPT_NOSIGNAL libcurl does
 * not ignore SIGPIPE itself, and TLS writes may not use MSG_NOSIGNAL. */
static void
block_signals(void)
{
	static const int sigs[] = {SIGPIPE, SIGTERM, SIGINT,  SIGHUP, SIGUSR1,
				   SIGUSR2, SIGALRM, SIGCHLD, SIGQUIT};
	sigset_t set;

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&set, sigs[i]);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static void *
worker(void *arg)
{
	struct mail_queue *q = arg;
	struct mail_item *it;

	block_signals();
	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (!q->head && !q->stopping)
			pthread_cond_wait(&q->wake, &q->mu);
		if (!q->head || drain_over(q))
			break;
		it = q->head;
		q->head = it->next;
		if (!q->head)
			q->tail = NULL;
		q->len--;
		metrics_mail_queued(-1);
		pthread_mutex_unlock(&q->mu);
		deliver(q, it);
		item_free(it);
		pthread_mutex_lock(&q->mu);
	}
	q->worker_done = true;
	pthread_cond_broadcast(&q->idle);
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

/* The EHLO name: our host name when it is fully qualified, else the sender's domain
 * (many servers reject a bare "localhost"). */
static const char *
ehlo_name(const char *from, char *host, size_t hostlen)
{
	if (gethostname(host, hostlen) != 0)
		return strrchr(from, '@') + 1;
	host[hostlen - 1] = '\0';
	if (!strchr(host, '.') || !email_domain_is_valid(host))
		return strrchr(from, '@') + 1;
	return host;
}

static bool
is_smtp_host_valid(const char *h)
{
	size_t len = h ? strlen(h) : 0;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_ldh((unsigned char)h[i]) && h[i] != '.' && h[i] != ':')
			return false;
	return true;
}

static char *
dup_opt(const char *s, bool *failed)
{
	char *d;

	if (!s || !*s)
		return NULL;
	d = strdup(s);
	if (!d)
		*failed = true;
	return d;
}

static int
settings_check(const struct mail_settings *s)
{
	if (!is_smtp_host_valid(s->smtp_host)) {
		log_error("mail: smtp_host is not a host name or IP address");
		return ERR_INVAL;
	}
	if (s->smtp_port < 1 || s->smtp_port > 65535) {
		log_error("mail: smtp_port %d out of range", s->smtp_port);
		return ERR_INVAL;
	}
	if (!email_address_is_valid(s->from_address)) {
		log_error("mail: from_address is not a plain local@domain address");
		return ERR_INVAL;
	}
	if (s->retry_delays_len > MAIL_RETRIES_MAX || s->connect_timeout_ms < 0 ||
	    s->timeout_ms < 0 || (s->retry_delays_len && !s->retry_delays_ms)) {
		log_error("mail: bad retry schedule or timeouts");
		return ERR_INVAL;
	}
	if (s->smtp_ca_file && *s->smtp_ca_file && access(s->smtp_ca_file, R_OK) != 0) {
		log_error("mail: smtp_ca_file %s: %s", s->smtp_ca_file, strerror(errno));
		return ERR_INVAL;
	}
	if (s->smtp_user && *s->smtp_user && !s->smtp_starttls)
		log_warnx("mail: smtp_user set without smtp_starttls: the password crosses the "
			  "network in clear");
	return 0;
}

/* Copies the settings into q; ERR_NOMEM when a copy fails. */
static int
settings_copy(struct mail_queue *q, const struct mail_settings *s)
{
	char host[256] = "", url[600];
	bool failed = false;
	bool v6 = strchr(s->smtp_host, ':') != NULL;

	snprintf(url, sizeof(url), "smtp://%s%s%s:%d/%s", v6 ? "[" : "", s->smtp_host,
		 v6 ? "]" : "", s->smtp_port, ehlo_name(s->from_address, host, sizeof(host)));
	q->url = dup_opt(url, &failed);
	q->from = dup_opt(s->from_address, &failed);
	q->user = dup_opt(s->smtp_user, &failed);
	q->password = q->user ? dup_opt(s->smtp_password, &failed) : NULL;
	q->ca_file = dup_opt(s->smtp_ca_file, &failed);
	q->starttls = s->smtp_starttls;
	q->queue_max = s->queue_max ? s->queue_max : MAIL_QUEUE_DEFAULT;
	q->connect_timeout_ms =
		s->connect_timeout_ms ? s->connect_timeout_ms : MAIL_CONNECT_TIMEOUT_DEFAULT_MS;
	q->timeout_ms = s->timeout_ms ? s->timeout_ms : MAIL_TIMEOUT_DEFAULT_MS;
	if (s->retry_delays_ms) {
		q->delays_len = s->retry_delays_len;
		memcpy(q->delays, s->retry_delays_ms, q->delays_len * sizeof(q->delays[0]));
	} else {
		q->delays_len = sizeof(default_delays_ms) / sizeof(default_delays_ms[0]);
		memcpy(q->delays, default_delays_ms, sizeof(default_delays_ms));
	}
	return failed ? ERR_NOMEM : 0;
}

static void
queue_free(struct mail_queue *q)
{
	if (!q)
		return;
	if (q->password)
		explicit_bzero(q->password, strlen(q->password));
	free(q->url);
	free(q->from);
	free(q->user);
	free(q->password);
	free(q->ca_file);
	free(q);
}

static int
sync_init(struct mail_queue *q)
{
	pthread_condattr_t ca;
	int rc = 0;

	if (pthread_condattr_init(&ca))
		return ERR_INTERNAL;
	/* Back-off and drain deadlines must not jump with the wall clock. */
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) || pthread_mutex_init(&q->mu, NULL))
		rc = ERR_INTERNAL;
	else if (pthread_cond_init(&q->wake, &ca))
		rc = ERR_INTERNAL, pthread_mutex_destroy(&q->mu);
	else if (pthread_cond_init(&q->idle, &ca))
		rc = ERR_INTERNAL, pthread_cond_destroy(&q->wake), pthread_mutex_destroy(&q->mu);
	pthread_condattr_destroy(&ca);
	return rc;
}

static void
sync_destroy(struct mail_queue *q)
{
	pthread_cond_destroy(&q->idle);
	pthread_cond_destroy(&q->wake);
	pthread_mutex_destroy(&q->mu);
}

int
mail_queue_start(const struct mail_settings *s, struct mail_queue **out)
{
	struct mail_queue *q;
	int rc;

	*out = NULL;
	rc = settings_check(s);
	if (rc)
		return rc;
	q = calloc(1, sizeof(*q));
	if (!q)
		return ERR_NOMEM;
	atomic_init(&q->abort, false);
	rc = settings_copy(q, s);
	if (rc)
		goto out;
	rc = ERR_INTERNAL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		goto out;
	if (sync_init(q) != 0)
		goto out_curl;
	if (pthread_create(&q->thread, NULL, worker, q) != 0)
		goto out_sync;
	*out = q;
	return 0;
out_sync:
	sync_destroy(q);
out_curl:
	curl_global_cleanup();
out:
	log_error("mail: cannot start the mail queue: %s", err_str(rc));
	queue_free(q);
	return rc;
}

/* Appends a built message; ERR_BUSY when full or stopping (the caller logs). */
static int
enqueue(struct mail_queue *q, struct mail_item *it)
{
	int rc = 0;

	pthread_mutex_lock(&q->mu);
	if (q->stopping) {
		rc = ERR_BUSY;
	} else if (q->len >= q->queue_max) {
		q->stats.dropped_full++;
		rc = ERR_BUSY;
	} else {
		if (q->tail)
			q->tail->next = it;
		else
			q->head = it;
		q->tail = it;
		q->len++;
		q->stats.queued++;
		metrics_mail_queued(1);
		pthread_cond_signal(&q->wake);
	}
	pthread_mutex_unlock(&q->mu);
	return rc;
}

int
mail_queue_push(struct mail_queue *q, const char *to, const char *rendered)
{
	return mail_queue_push_kind(q, METRICS_MAIL_OTHER, to, rendered);
}

int
mail_queue_push_kind(struct mail_queue *q, int kind, const char *to, const char *rendered)
{
	const char *who = email_address_is_valid(to) ? to : "(invalid address)";
	struct mail_item *it = NULL;
	struct buf b;
	int rc;

	buf_init(&b, MAIL_MESSAGE_MAX);
	rc = mail_build(q->from, to, rendered, (int64_t)time(NULL), &b);
	if (rc == 0 && ((it = calloc(1, sizeof(*it))) == NULL || (it->to = strdup(to)) == NULL))
		rc = ERR_NOMEM;
	if (rc) {
		metrics_count_mail(kind, METRICS_MAIL_FAILED);
		log_warnx("mail: message to %s not queued: %s", who, err_str(rc));
		buf_free(&b);
		item_free(it);
		return rc;
	}
	it->kind = kind;
	it->len = b.len;
	it->msg = buf_steal(&b);
	rc = it->msg ? enqueue(q, it) : ERR_NOMEM;
	if (rc) {
		metrics_count_mail(kind, METRICS_MAIL_DROPPED);
		log_warnx("mail: message to %s dropped: %s", who,
			  rc == ERR_BUSY ? "queue full or stopping" : err_str(rc));
		item_free(it);
	}
	return rc;
}

/* Frees what the worker left in the queue; returns how many messages that was. */
static size_t
drop_queued(struct mail_queue *q)
{
	struct mail_item *it;
	size_t n = 0;

	while ((it = q->head) != NULL) {
		q->head = it->next;
		metrics_count_mail(it->kind, METRICS_MAIL_DROPPED);
		item_free(it);
		n++;
	}
	metrics_mail_queued(-(long)n);
	q->tail = NULL;
	q->len = 0;
	return n;
}

void
mail_queue_stop(struct mail_queue *q, int drain_ms)
{
	mail_queue_finish(q, drain_ms, NULL);
}

void
mail_queue_finish(struct mail_queue *q, int drain_ms, struct mail_stats *final)
{
	struct timespec deadline;
	size_t dropped;

	if (!q)
		return;
	pthread_mutex_lock(&q->mu);
	q->stopping = true;
	q->deadline = clock_mono_ms() + (drain_ms > 0 ? drain_ms : 0);
	deadline = clock_mono_timespec(q->deadline);
	pthread_cond_broadcast(&q->wake);
	while (!q->worker_done)
		if (pthread_cond_timedwait(&q->idle, &q->mu, &deadline) == ETIMEDOUT)
			break;
	atomic_store(&q->abort, true);
	pthread_cond_broadcast(&q->wake);
	pthread_mutex_unlock(&q->mu);
	pthread_join(q->thread, NULL);

	dropped = drop_queued(q);
	q->stats.dropped_shutdown += dropped;
	if (dropped)
		log_warnx("mail: shutting down: dropped %zu queued message(s)", dropped);
	if (final)
		*final = q->stats;
	sync_destroy(q);
	curl_global_cleanup();
	queue_free(q);
}

void
mail_queue_stats(struct mail_queue *q, struct mail_stats *out)
{
	pthread_mutex_lock(&q->mu);
	*out = q->stats;
	pthread_mutex_unlock(&q->mu);
}
