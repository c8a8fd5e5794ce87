/* SPDX-License-Identifier: MIT */
/* Notification mail: building an RFC 5322 message from rendered template text, and a
 * bounded queue that one worker thread drains with libcurl SMTP (STARTTLS, AUTH, retries). */
#ifndef MAIL_H
#define MAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define MAIL_RENDERED_MAX		262144 /* bytes of template output we accept */
#define MAIL_MESSAGE_MAX		1048576 /* bytes of a built message (QP may triple the body) */
#define MAIL_HEADER_VALUE_MAX		2048	/* bytes of one template header after unfolding */
#define MAIL_HEADERS_MAX		32	/* template headers kept; more is ERR_TOOBIG */
#define MAIL_QUEUE_DEFAULT		100	/* queued messages when settings say 0 */
#define MAIL_CONNECT_TIMEOUT_DEFAULT_MS 10000
#define MAIL_TIMEOUT_DEFAULT_MS		60000
#define MAIL_RETRIES_MAX		16 /* retry schedule entries we copy */

/* How the queue reaches the SMTP server. Strings are borrowed during mail_queue_start
 * only (it copies them). */
struct mail_settings {
	const char *smtp_host;	   /* host name or IP literal (IPv6 without brackets) */
	int smtp_port;		   /* 1..65535 */
	bool smtp_starttls;	   /* require STARTTLS with certificate verification */
	const char *smtp_user;	   /* NULL or "" = no AUTH */
	const char *smtp_password; /* never logged; wiped when the queue stops */
	const char *smtp_ca_file;  /* NULL or "" = the system CA store */
	const char *from_address;  /* envelope and header sender: a bare local@domain */
	size_t queue_max; /* messages waiting (not counting the one in flight); 0 = default */
	long connect_timeout_ms; /* 0 = MAIL_CONNECT_TIMEOUT_DEFAULT_MS */
	long timeout_ms;	 /* one whole SMTP transaction; 0 = MAIL_TIMEOUT_DEFAULT_MS */
	/* Back-off before retry 1, 2, ...: a message is tried 1 + retry_delays_len times.
	 * NULL = the default schedule 1, 2, 4, 8, 16 s (six attempts within ~31 s).
	 * An empty non-NULL schedule (len 0) means a single attempt. */
	const unsigned *retry_delays_ms;
	size_t retry_delays_len; /* at most MAIL_RETRIES_MAX */
};

/* Counters for operators and tests; a snapshot taken under the queue's lock. */
struct mail_stats {
	unsigned long queued;	    /* accepted by mail_queue_push */
	unsigned long sent;	    /* the server answered 250 to the data */
	unsigned long attempts;	    /* SMTP transactions started */
	unsigned long failed;	    /* given up after the last retry or a 5xx answer */
	unsigned long dropped_full; /* refused by push because the queue was full */
	unsigned long
		dropped_shutdown; /* still queued (or in flight) when the drain time ran out */
};

struct mail_queue;

/* mail_queue_start: validates `s`, copies it and starts the worker thread. Call it from
 * the main thread before other threads use libcurl (it calls curl_global_init).
 * Returns 0 with *out set (stop it with mail_queue_stop), ERR_INVAL for bad settings
 * (logged), ERR_NOMEM, or ERR_INTERNAL when the thread cannot be created. */
int mail_queue_start(const struct mail_settings *s, struct mail_queue **out);

/* mail_queue_push: builds the message for `to` from `rendered` (see mail_build, with
 * the current time) and queues it. Never blocks on the network: returns 0 when queued,
 * ERR_BUSY when the queue is full or stopping (dropped, logged at WARNING),
 * ERR_INVAL/ERR_TOOBIG when the address or text is unusable (logged), ERR_NOMEM.
 * Thread-safe. `to` and `rendered` are borrowed. */
int mail_queue_push(struct mail_queue *q, const char *to, const char *rendered);

/* mail_queue_push_kind: mail_queue_push for a message of `kind` (enum
 * metrics_mail_kind): what ddns_mails_total{kind} counts it under when it is sent,
 * given up or dropped. mail_queue_push counts as METRICS_MAIL_OTHER. Every message also
 * counts in ddns_mail_queue_length while it waits. */
int mail_queue_push_kind(struct mail_queue *q, int kind, const char *to, const char *rendered);

/* mail_queue_stop: stops accepting mail, lets the worker send what is queued for at
 * most `drain_ms` milliseconds (retry back-offs are cut short at that deadline), then
 * aborts the transfer in flight, drops the rest with a WARNING, joins the worker and
 * frees everything. NULL ok. */
void mail_queue_stop(struct mail_queue *q, int drain_ms);

/* mail_queue_finish: mail_queue_stop that also copies the final counters into *final
 * (NULL ok), for a closing log line and for tests. */
void mail_queue_finish(struct mail_queue *q, int drain_ms, struct mail_stats *final);

/* mail_queue_stats: copies the counters into *out. */
void mail_queue_stats(struct mail_queue *q, struct mail_stats *out);

/* mail_build: appends to `out` the complete message (CRLF line endings) from `from` to
 * `to` made of the template output `rendered`:
 *  - The leading run of `Name: value` lines of `rendered` are headers; the run ends at
 *    the first blank line (consumed) or at the first line that is not a well-formed
 *    header (it starts the body). Lines starting with a space or tab continue the
 *    previous header (unfolded). Names are [A-Za-z0-9-]{1,64}.
 *  - Headers the service sets (From, To, Date, Message-ID, MIME-Version, Content-Type,
 *    Content-Transfer-Encoding) and addressing headers that would misstate who gets
 *    the mail (Sender, Cc, Bcc, Return-Path: we deliver to `to` only) are dropped from
 *    the template; Reply-To and others pass; a repeated name keeps its first occurrence.
 *  - Header values: a stray CR or control character becomes a space, so nothing in a
 *    value can start a new header; a value with non-ASCII (invalid UTF-8 becomes '?')
 *    or one that looks like an encoded word is written as RFC 2047 =?UTF-8?B?...?=
 *    words of at most 75 characters; long ASCII values are folded at spaces.
 *  - The body is quoted-printable UTF-8 text/plain: lossless for lines of any length
 *    (soft breaks keep every line within 76 octets) and 7-bit clean, so no server
 *    needs 8BITMIME (libcurl does not announce BODY=8BITMIME). Line ends become CRLF.
 *  - Date is `now` (Unix time) in RFC 5322 form in UTC; Message-ID is
 *    <32 random hex digits@domain of from>.
 * Returns 0; ERR_INVAL for an invalid from/to address (email.h); ERR_TOOBIG when `rendered`
 * exceeds MAIL_RENDERED_MAX, a header value MAIL_HEADER_VALUE_MAX, the header count
 * MAIL_HEADERS_MAX, or `out` its maximum; ERR_NOMEM; ERR_IO when no randomness. */
int mail_build(const char *from, const char *to, const char *rendered, int64_t now,
	       struct buf *out);

#endif
