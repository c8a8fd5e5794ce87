/* SPDX-License-Identifier: MIT */
/* Tests of the mail module: message building (pure) and the queue against a live
 * aiosmtpd sink (tests/integration/smtpsink.py), plain and with STARTTLS. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "log.h"
#include "mail.h"
#include "tap.h"

extern char **environ;

#define FROM "ddns@example.com"
#define TO   "user@example.net"
/* Ports of the mail task's range used by this program (12550+ are the fixture's). */
#define PORT_PLAIN 12500
#define PORT_TLS   12501
#define PORT_LATE  12502
#define PORT_DEAD  12503

/* ---- helpers on built messages ------------------------------------------------- */

static char *
build(const char *to, const char *rendered, int64_t now, int *rc)
{
	struct buf b;

	buf_init(&b, MAIL_MESSAGE_MAX);
	*rc = mail_build(FROM, to, rendered, now, &b);
	if (*rc) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b);
}

/* The header block (up to and including the CRLF before the blank line) length. */
static size_t
header_block_len(const char *msg)
{
	const char *end = strstr(msg, "\r\n\r\n");

	return end ? (size_t)(end - msg) + 2 : strlen(msg);
}

/* Counts the headers called `name` and copies the first one's unfolded value. */
static int
header_get(const char *msg, const char *name, char *val, size_t vlen)
{
	size_t hlen = header_block_len(msg), nlen = strlen(name), pos = 0, vpos = 0;
	int count = 0, in_first = 0;

	if (val && vlen)
		val[0] = '\0';
	while (pos < hlen) {
		const char *line = msg + pos, *eol = strstr(line, "\r\n");
		size_t len = (size_t)(eol - line);

		if ((line[0] == ' ' || line[0] == '\t') && in_first) {
			for (size_t i = 0; i < len && vpos + 1 < vlen; i++)
				val[vpos++] = line[i];
		} else {
			in_first = 0;
			if (len > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0) {
				if (count++ == 0 && val) {
					size_t i = nlen + 1;

					in_first = 1;
					while (i < len && line[i] == ' ')
						i++;
					for (; i < len && vpos + 1 < vlen; i++)
						val[vpos++] = line[i];
				}
			}
		}
		if (val && vlen)
			val[vpos] = '\0';
		pos += len + 2;
	}
	return count;
}

/* Every LF is preceded by CR and every CR followed by LF. */
static int
is_all_crlf(const char *s)
{
	for (size_t i = 0; s[i]; i++) {
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			return 0;
		if (s[i] == '\r' && s[i + 1] != '\n')
			return 0;
	}
	return 1;
}

static size_t
longest_line(const char *s, size_t from, size_t to)
{
	size_t best = 0, cur = 0;

	for (size_t i = from; i < to && s[i]; i++) {
		if (s[i] == '\r')
			continue;
		cur = s[i] == '\n' ? 0 : cur + 1;
		if (cur > best)
			best = cur;
	}
	return best;
}

static int
b64val(char c)
{
	const char *tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(tab, c) : NULL;

	return p ? (int)(p - tab) : -1;
}

/* Decodes base64 `in` of `len` characters; returns bytes written or -1. */
static long
b64dec(const char *in, size_t len, char *out, size_t outlen)
{
	size_t o = 0;

	if (len % 4)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], n = 3;

		for (int k = 0; k < 4; k++) {
			v[k] = in[i + k] == '=' ? 0 : b64val(in[i + k]);
			if (v[k] < 0)
				return -1;
		}
		if (in[i + 3] == '=')
			n = in[i + 2] == '=' ? 1 : 2;
		if (o + (size_t)n >= outlen)
			return -1;
		out[o++] = (char)((v[0] << 2) | (v[1] >> 4));
		if (n > 1)
			out[o++] = (char)(((v[1] & 15) << 4) | (v[2] >> 2));
		if (n > 2)
			out[o++] = (char)(((v[2] & 3) << 6) | v[3]);
	}
	out[o] = '\0';
	return (long)o;
}

static int
is_utf8(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len;) {
		size_t n = p[i] < 0x80	  ? 1
			   : p[i] >= 0xf0 ? 4
			   : p[i] >= 0xe0 ? 3
			   : p[i] >= 0xc0 ? 2
					  : 0;

		if (n == 0 || i + n > len)
			return 0;
		for (size_t k = 1; k < n; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
		i += n;
	}
	return 1;
}

/* Decodes an unfolded value made only of =?UTF-8?B?..?= words; -1 on anything else,
 * including a word whose bytes are not whole UTF-8 characters. */
static int
rfc2047_decode(const char *v, char *out, size_t outlen)
{
	size_t o = 0;

	while (*v) {
		const char *end;
		long n;

		while (*v == ' ' || *v == '\t')
			v++;
		if (!*v)
			break;
		if (strncmp(v, "=?UTF-8?B?", 10) != 0 || !(end = strstr(v + 10, "?=")))
			return -1;
		if (end + 2 - v > 75)
			return -1;
		n = b64dec(v + 10, (size_t)(end - v - 10), out + o, outlen - o);
		if (n < 0 || !is_utf8((unsigned char *)out + o, (size_t)n))
			return -1;
		o += (size_t)n;
		v = end + 2;
	}
	return 0;
}

/* Decodes the quoted-printable body of `msg` into out. */
static int
qp_body(const char *msg, char *out, size_t outlen)
{
	const char *p = strstr(msg, "\r\n\r\n");
	size_t o = 0;

	if (!p)
		return -1;
	for (p += 4; *p && o + 1 < outlen;) {
		if (p[0] == '=' && p[1] == '\r' && p[2] == '\n') {
			p += 3;
		} else if (p[0] == '=') {
			char hex[3] = {p[1], p[2], 0};

			if (!p[1] || !p[2])
				return -1;
			out[o++] = (char)strtol(hex, NULL, 16);
			p += 3;
		} else {
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
	return 0;
}

/* ---- pure tests: mail_build ------------------------------------------------------- */

static void
test_basic(void)
{
	char v[512];
	int rc;
	char *m = build(TO, "Subject: Hello there\nX-Tag: a\n\nBody line\nsecond\n", 0, &rc);

	is_int(rc, 0, "basic: builds");
	if (!m)
		return;
	is_int(header_get(m, "Subject", v, sizeof(v)), 1, "basic: one Subject");
	is_str(v, "Hello there", "basic: Subject value");
	ok(header_get(m, "X-Tag", v, sizeof(v)) == 1 && strcmp(v, "a") == 0, "basic: X-Tag kept");
	ok(header_get(m, "From", v, sizeof(v)) == 1 && strcmp(v, FROM) == 0, "basic: From");
	ok(header_get(m, "To", v, sizeof(v)) == 1 && strcmp(v, TO) == 0, "basic: To");
	ok(header_get(m, "MIME-Version", v, sizeof(v)) == 1 && strcmp(v, "1.0") == 0,
	   "basic: MIME-Version");
	ok(header_get(m, "Content-Type", v, sizeof(v)) == 1 &&
		   strcmp(v, "text/plain; charset=utf-8") == 0,
	   "basic: Content-Type utf-8");
	ok(header_get(m, "Content-Transfer-Encoding", v, sizeof(v)) == 1 &&
		   strcmp(v, "quoted-printable") == 0,
	   "basic: CTE");
	ok(strstr(m, "\r\n\r\nBody line\r\nsecond\r\n") != NULL, "basic: body after blank line");
	ok(is_all_crlf(m), "basic: CRLF everywhere");
	free(m);
}

static void
test_date_and_id(void)
{
	char v[256], v2[256];
	int rc;
	char *m = build(TO, "Subject: x\n\nb\n", 0, &rc);
	char *m2 = build(TO, "Subject: x\n\nb\n", 1700000000, &rc);

	if (!m || !m2) {
		ok(0, "date: builds");
		free(m);
		free(m2);
		return;
	}
	header_get(m, "Date", v, sizeof(v));
	is_str(v, "Thu, 01 Jan 1970 00:00:00 +0000", "date: epoch in RFC 5322 form");
	header_get(m2, "Date", v, sizeof(v));
	is_str(v, "Tue, 14 Nov 2023 22:13:20 +0000", "date: 1700000000 in UTC");
	header_get(m, "Message-ID", v, sizeof(v));
	header_get(m2, "Message-ID", v2, sizeof(v2));
	ok(strlen(v) == 1 + 32 + 1 + strlen("example.com") + 1 && v[0] == '<' &&
		   strspn(v + 1, "0123456789abcdef") == 32 && strcmp(v + 33, "@example.com>") == 0,
	   "message-id: <32 hex@domain of from>");
	ok(strcmp(v, v2) != 0, "message-id: random per message");
	free(m);
	free(m2);
}

static void
test_ours_win(void)
{
	const char *r = "From: evil@attacker.test\nTo: victim@attacker.test\nDate: yesterday\n"
			"Message-ID: <fake@attacker.test>\nMIME-Version: 2.0\n"
			"Content-Type: text/html\nContent-Transfer-Encoding: base64\n"
			"Bcc: spy@attacker.test\ncc: spy@attacker.test\nSender: s@attacker.test\n"
			"Return-Path: <r@attacker.test>\nSubject: first\nSubject: second\n"
			"Reply-To: help@example.com\n\nbody\n";
	char v[256];
	int rc;
	char *m = build(TO, r, 0, &rc);

	is_int(rc, 0, "ours win: builds");
	if (!m)
		return;
	ok(header_get(m, "From", v, sizeof(v)) == 1 && strcmp(v, FROM) == 0, "ours win: From");
	ok(header_get(m, "To", v, sizeof(v)) == 1 && strcmp(v, TO) == 0, "ours win: To");
	ok(header_get(m, "Date", v, sizeof(v)) == 1 && strcmp(v, "yesterday") != 0,
	   "ours win: Date");
	ok(header_get(m, "Message-ID", v, sizeof(v)) == 1 && !strstr(v, "attacker"),
	   "ours win: Message-ID");
	ok(header_get(m, "MIME-Version", v, sizeof(v)) == 1 && strcmp(v, "1.0") == 0,
	   "ours win: MIME-Version");
	ok(header_get(m, "Content-Type", v, sizeof(v)) == 1 && strstr(v, "text/plain"),
	   "ours win: Content-Type");
	ok(header_get(m, "Content-Transfer-Encoding", v, sizeof(v)) == 1 &&
		   strcmp(v, "quoted-printable") == 0,
	   "ours win: CTE");
	ok(header_get(m, "Bcc", NULL, 0) == 0 && header_get(m, "Cc", NULL, 0) == 0 &&
		   header_get(m, "Sender", NULL, 0) == 0 &&
		   header_get(m, "Return-Path", NULL, 0) == 0,
	   "ours win: Bcc/Cc/Sender/Return-Path dropped");
	ok(header_get(m, "Subject", v, sizeof(v)) == 1 && strcmp(v, "first") == 0,
	   "repeated header: first kept");
	ok(header_get(m, "Reply-To", v, sizeof(v)) == 1, "Reply-To passes");
	ok(!strstr(m, "attacker"), "nothing of the forged headers remains");
	free(m);
}

static void
test_header_injection(void)
{
	char v[512];
	int rc;
	char *m;

	m = build(TO, "Subject: hi\rBcc: evil@attacker.test\n\nbody\n", 0, &rc);
	ok(m && header_get(m, "Bcc", NULL, 0) == 0, "lone CR in a value does not start a header");
	ok(m && header_get(m, "Subject", v, sizeof(v)) == 1 &&
		   strcmp(v, "hi Bcc: evil@attacker.test") == 0,
	   "lone CR became a space inside Subject");
	ok(m && is_all_crlf(m), "lone CR: CRLF everywhere");
	free(m);

	m = build(TO, "Subject: hi\r\nBcc: evil@attacker.test\r\nFrom: evil@attacker.test\r\n\r\nb",
		  0, &rc);
	ok(m && header_get(m, "Bcc", NULL, 0) == 0 && header_get(m, "From", v, sizeof(v)) == 1 &&
		   strcmp(v, FROM) == 0,
	   "CRLF-separated forged Bcc/From dropped");
	free(m);

	m = build(TO, "Subject: a\n From: evil@attacker.test\n\tmore\n\nb\n", 0, &rc);
	ok(m && header_get(m, "Subject", v, sizeof(v)) == 1 &&
		   strcmp(v, "a From: evil@attacker.test more") == 0,
	   "continuation lines are unfolded into the value");
	ok(m && header_get(m, "From", v, sizeof(v)) == 1 && strcmp(v, FROM) == 0,
	   "continuation cannot add From");
	free(m);

	m = build(TO,
		  "Subject: a\x01"
		  "b\x7f"
		  "c\x1b[31m\n\nb\n",
		  0, &rc);
	ok(m && header_get(m, "Subject", v, sizeof(v)) == 1 && strcmp(v, "a b c [31m") == 0,
	   "control characters become spaces");
	free(m);

	m = build(TO, "Bcc: a@b.c\n continued\nSubject: s\n\nb\n", 0, &rc);
	ok(m && header_get(m, "Subject", v, sizeof(v)) == 1 && strcmp(v, "s") == 0 &&
		   !strstr(m, "continued"),
	   "continuation of a dropped header is dropped");
	free(m);
}

static void
test_addresses(void)
{
	int rc;
	struct buf b;

	/* The address rule itself is tested in test_email.c; here, that the mailer uses it. */
	free(build("victim@example.com\r\nBcc: x@attacker.test", "Subject: s\n\nb", 0, &rc));
	is_int(rc, ERR_INVAL, "To with CRLF: ERR_INVAL");
	free(build("a@b.c, x@attacker.test", "Subject: s\n\nb", 0, &rc));
	is_int(rc, ERR_INVAL, "To with a comma: ERR_INVAL");
	free(build("root@localhost", "Subject: s\n\nb", 0, &rc));
	is_int(rc, 0, "a local recipient (root@localhost) is fine");
	buf_init(&b, MAIL_MESSAGE_MAX);
	is_int(mail_build("Evil <e@x.y>", TO, "b", 0, &b), ERR_INVAL, "bad From: ERR_INVAL");
	buf_free(&b);
}

static void
test_rfc2047(void)
{
	/* 3- and 4-byte characters make a split in the middle of one likely. */
	const char *subj = "Grüße aus Köln – IP geändert ✓ 😀 für mypc.dyn.example.com, "
			   "Ärger über Öl, Übermaß an Änderungen 😀😀😀 日本語のテキスト";
	char r[1024], v[2048], d[2048], hdr[4096];
	size_t hlen;
	int rc;
	char *m;

	snprintf(r, sizeof(r), "Subject: %s\n\nbody\n", subj);
	m = build(TO, r, 0, &rc);
	if (!m) {
		ok(0, "rfc2047: builds");
		return;
	}
	header_get(m, "Subject", v, sizeof(v));
	ok(strncmp(v, "=?UTF-8?B?", 10) == 0, "rfc2047: UTF-8 subject is encoded");
	is_int(rfc2047_decode(v, d, sizeof(d)), 0,
	       "rfc2047: only words of <= 75 chars with whole characters each");
	is_str(d, subj, "rfc2047: decodes back to the original");
	hlen = header_block_len(m);
	ok(longest_line(m, 0, hlen) <= 78, "rfc2047: header lines within 78");
	snprintf(hdr, sizeof(hdr), "%.*s", (int)hlen, m);
	ok(strspn(hdr, "\t\r\n !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		       "[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~") == hlen,
	   "rfc2047: header block is 7-bit ASCII");
	free(m);

	m = build(TO, "Subject: looks =?UTF-8?B?ZXZpbA==?= encoded\n\nb\n", 0, &rc);
	ok(m && header_get(m, "Subject", v, sizeof(v)) == 1 &&
		   rfc2047_decode(v, d, sizeof(d)) == 0 &&
		   strcmp(d, "looks =?UTF-8?B?ZXZpbA==?= encoded") == 0,
	   "rfc2047: a literal encoded word is itself encoded (no spoofing)");
	free(m);

	m = build(TO, "Subject: bad \xff\xfe utf8 \xc3\n\nb\n", 0, &rc);
	ok(m && header_get(m, "Subject", v, sizeof(v)) == 1 && strcmp(v, "bad ?? utf8 ?") == 0,
	   "invalid UTF-8 becomes '?'");
	free(m);
}

static void
test_folding(void)
{
	char r[8192], v[4096], want[4096];
	size_t o = 0;
	int rc;
	char *m;

	for (int i = 0; i < 40; i++)
		o += (size_t)snprintf(want + o, sizeof(want) - o, "%sword%d", i ? " " : "", i);
	snprintf(r, sizeof(r), "Subject: %s\n\nb\n", want);
	m = build(TO, r, 0, &rc);
	ok(m && longest_line(m, 0, header_block_len(m)) <= 78, "long ASCII subject folded to 78");
	ok(m && header_get(m, "Subject", v, sizeof(v)) == 1 && strcmp(v, want) == 0,
	   "folding is undone by unfolding");
	free(m);

	memset(want, 'x', 1500);
	want[1500] = '\0';
	snprintf(r, sizeof(r), "Subject: %s\n\nb\n", want);
	m = build(TO, r, 0, &rc);
	ok(m && longest_line(m, 0, header_block_len(m)) <= 78 &&
		   header_get(m, "Subject", v, sizeof(v)) == 1 &&
		   rfc2047_decode(v, r, sizeof(r)) == 0 && strcmp(r, want) == 0,
	   "a 1500-char word is encoded rather than exceeding 998");
	free(m);
}

static void
test_body(void)
{
	static char r[8192], d[16384], want[8192];
	size_t o = 0;
	int rc;
	char *m;

	o += (size_t)snprintf(r + o, sizeof(r) - o, "Subject: s\n\n");
	for (int i = 0; i < 3000; i++)
		r[o++] = (char)('a' + i % 26);
	o += (size_t)snprintf(r + o, sizeof(r) - o,
			      "\n%s\nx=y trailing  \n.dot\n\ttab end\t\nlone\rcr\n", "ümläut");
	for (int i = 0; i < 700; i++)
		o += (size_t)snprintf(r + o, sizeof(r) - o, "é");
	r[o] = '\0';
	m = build(TO, r, 0, &rc);
	is_int(rc, 0, "body: builds");
	if (!m)
		return;
	ok(longest_line(m, header_block_len(m), strlen(m)) <= 76, "body: QP lines within 76");
	ok(is_all_crlf(m), "body: CRLF everywhere");
	ok(strspn(m, "\t\r\n !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		     "[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~") == strlen(m),
	   "message is 7-bit clean");
	/* Expected decoded body: the rendered body with LF turned into CRLF, lone CR kept. */
	o = 0;
	for (const char *p = strstr(r, "\n\n") + 2; *p; p++) {
		if (*p == '\n')
			want[o++] = '\r';
		want[o++] = *p;
	}
	memcpy(want + o, "\r\n", 3);
	is_int(qp_body(m, d, sizeof(d)), 0, "body: QP decodes");
	ok(strcmp(d, want) == 0, "body: decodes to the rendered text (3000-octet line intact)");
	free(m);

	m = build(TO, "Hello\nno headers here\n", 0, &rc);
	ok(m && header_get(m, "Subject", NULL, 0) == 0 &&
		   strstr(m, "\r\n\r\nHello\r\nno headers here\r\n"),
	   "no header block: all body");
	free(m);
	m = build(TO, "Subject: s\nnot a header line\nmore\n", 0, &rc);
	ok(m && header_get(m, "Subject", NULL, 0) == 1 &&
		   strstr(m, "\r\n\r\nnot a header line\r\nmore\r\n"),
	   "header run ends at the first non-header line, which starts the body");
	free(m);
	m = build(TO, "Bad Name: x\nSubject: s\n\nb\n", 0, &rc);
	ok(m && header_get(m, "Subject", NULL, 0) == 0 && strstr(m, "\r\n\r\nBad Name: x\r\n"),
	   "malformed header name is not a header");
	free(m);
}

static void
test_limits(void)
{
	struct buf r;
	int rc;

	buf_init(&r, MAIL_RENDERED_MAX + 16);
	for (int i = 0; i < MAIL_HEADERS_MAX + 1; i++)
		buf_printf(&r, "X-H%d: v\n", i);
	buf_adds(&r, "\nb\n");
	free(build(TO, buf_str(&r), 0, &rc));
	is_int(rc, ERR_TOOBIG, "too many headers: ERR_TOOBIG");
	buf_reset(&r);
	while (r.len <= MAIL_RENDERED_MAX)
		buf_adds(&r, "0123456789abcdef");
	free(build(TO, buf_str(&r), 0, &rc));
	is_int(rc, ERR_TOOBIG, "rendered text over MAIL_RENDERED_MAX: ERR_TOOBIG");
	buf_free(&r);
}

/* ---- live tests: the queue against smtpsink.py ------------------------------------- */

#define MAX_SINKS 8
static pid_t sinks[MAX_SINKS];
static char tmpdir[] = "/tmp/ddns-test-mail-XXXXXX";
static char certfile[300], keyfile[300], logfile[300];

static void
sink_stop(pid_t pid)
{
	int st;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			goto out;
		usleep(50000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
out:
	for (int i = 0; i < MAX_SINKS; i++)
		if (sinks[i] == pid)
			sinks[i] = 0;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* Always runs: no sink may outlive the test, no files may stay behind. */
static void
cleanup(void)
{
	for (int i = 0; i < MAX_SINKS; i++)
		sink_stop(sinks[i]);
	if (tmpdir[strlen(tmpdir) - 1] != 'X')
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
on_signal(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Runs argv to completion; returns its exit status or -1. */
static int
run(char *const argv[])
{
	pid_t pid;
	int st;

	if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0)
		return -1;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* Reads "ready" from the sink's stdout within 15 s. */
static int
wait_ready(int fd)
{
	char line[64];
	size_t n = 0;
	struct pollfd p = {.fd = fd, .events = POLLIN};

	while (n < sizeof(line) - 1 && poll(&p, 1, 15000) == 1) {
		ssize_t r = read(fd, line + n, sizeof(line) - 1 - n);

		if (r <= 0)
			break;
		n += (size_t)r;
		line[n] = '\0';
		if (strstr(line, "ready\n"))
			return 0;
	}
	return -1;
}

/* Starts smtpsink.py on `port` storing into tmpdir/`name`; with_tls adds the test
 * certificate, requires STARTTLS and offers AUTH for mailer/s3cret (not required).
 * Returns the pid or -1. */
static pid_t
sink_start(int port, const char *name, int with_tls)
{
	char script[600], portstr[16], maildir[400], watch[32];
	const char *src = getenv("DDNS_TEST_SRCDIR");
	char *argv[24];
	posix_spawn_file_actions_t fa;
	int fds[2], n = 0, slot;
	pid_t pid = -1;

	for (slot = 0; slot < MAX_SINKS && sinks[slot]; slot++)
		;
	if (!src || slot == MAX_SINKS || pipe(fds) != 0)
		return -1;
	snprintf(script, sizeof(script), "%s/tests/integration/smtpsink.py", src);
	snprintf(portstr, sizeof(portstr), "%d", port);
	snprintf(maildir, sizeof(maildir), "%s/%s", tmpdir, name);
	snprintf(watch, sizeof(watch), "%ld", (long)getpid());
	argv[n++] = "/usr/bin/python3";
	argv[n++] = script;
	argv[n++] = "--host";
	argv[n++] = "127.0.0.1";
	argv[n++] = "--port";
	argv[n++] = portstr;
	argv[n++] = "--maildir";
	argv[n++] = maildir;
	argv[n++] = "--watch-pid";
	argv[n++] = watch;
	if (with_tls) {
		argv[n++] = "--tls-cert";
		argv[n++] = certfile;
		argv[n++] = "--tls-key";
		argv[n++] = keyfile;
		argv[n++] = "--require-starttls";
		argv[n++] = "--auth-user";
		argv[n++] = "mailer";
		argv[n++] = "--auth-password";
		argv[n++] = "s3cret";
	}
	argv[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0)
		pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (pid > 0) {
		sinks[slot] = pid;
		if (wait_ready(fds[0]) != 0) {
			sink_stop(pid);
			pid = -1;
		}
	}
	close(fds[0]);
	return pid;
}

static int
make_cert(void)
{
	char subj_alt[] = "subjectAltName=IP:127.0.0.1,DNS:localhost";
	char *argv[] = {"/usr/bin/openssl",
			"req",
			"-x509",
			"-newkey",
			"ec",
			"-pkeyopt",
			"ec_paramgen_curve:prime256v1",
			"-nodes",
			"-days",
			"1",
			"-subj",
			"/CN=localhost",
			"-addext",
			subj_alt,
			"-keyout",
			keyfile,
			"-out",
			certfile,
			NULL};
	int devnull = open("/dev/null", O_WRONLY), saved = dup(STDERR_FILENO), rc;

	/* openssl chats on stderr; keep the TAP log readable. */
	dup2(devnull, STDERR_FILENO);
	rc = run(argv);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(devnull);
	return rc;
}

static long
ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static int
wait_path(const char *path, int ms)
{
	for (int i = 0; i < ms / 20; i++) {
		if (access(path, F_OK) == 0)
			return 0;
		usleep(20000);
	}
	return access(path, F_OK);
}

enum stat_field { ST_SENT, ST_FAILED, ST_ATTEMPTS };

static unsigned long
stat_get(struct mail_queue *q, enum stat_field f)
{
	struct mail_stats s;

	mail_queue_stats(q, &s);
	return f == ST_SENT ? s.sent : f == ST_FAILED ? s.failed : s.attempts;
}

static int
wait_stat(struct mail_queue *q, enum stat_field f, unsigned long want, int ms)
{
	for (int i = 0; i < ms / 20; i++) {
		if (stat_get(q, f) >= want)
			return 0;
		usleep(20000);
	}
	return stat_get(q, f) >= want ? 0 : -1;
}

static int
log_contains(const char *needle)
{
	static char text[1 << 20];
	FILE *f = fopen(logfile, "r");
	size_t n;

	if (!f)
		return 0;
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	return strstr(text, needle) != NULL;
}

static json_t *
load_envelope(const char *dir, int n)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/%s/%04d.json", tmpdir, dir, n);
	return json_load_file(path, 0, NULL);
}

static const char *
jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "(missing)";
}

static void
settings_init(struct mail_settings *s, int port, const unsigned *delays, size_t ndelays)
{
	memset(s, 0, sizeof(*s));
	s->smtp_host = "127.0.0.1";
	s->smtp_port = port;
	s->from_address = FROM;
	s->connect_timeout_ms = 2000;
	s->timeout_ms = 5000;
	s->retry_delays_ms = delays;
	s->retry_delays_len = ndelays;
}

static void
test_live_plain(void)
{
	static const unsigned delays[] = {100, 200};
	const char *rendered = "Subject: Grüße: IP von mypc geändert\n"
			       "\n"
			       "Ihre neue Adresse: 192.0.2.1\n"
			       ".a line with a leading dot\n"
			       "=equals and ümlauts\n";
	struct mail_settings s;
	struct mail_queue *q = NULL;
	struct mail_stats st;
	char path[600];
	json_t *env;

	settings_init(&s, PORT_PLAIN, delays, 2);
	is_int(mail_queue_start(&s, &q), 0, "live: queue starts");
	if (!q)
		return;
	is_int(mail_queue_push(q, TO, rendered), 0, "live: push accepted");
	snprintf(path, sizeof(path), "%s/plain/0001.eml", tmpdir);
	is_int(wait_path(path, 10000), 0, "live: message file appears");
	env = load_envelope("plain", 1);
	ok(env != NULL, "live: envelope side file");
	is_str(jstr(env, "mail_from"), FROM, "live: envelope MAIL FROM");
	is_str(json_string_value(json_array_get(json_object_get(env, "rcpt_tos"), 0)), TO,
	       "live: envelope RCPT TO");
	ok(json_is_false(json_object_get(env, "tls")), "live: plain session (no TLS)");
	is_str(jstr(env, "from"), FROM, "live: parsed From");
	is_str(jstr(env, "to"), TO, "live: parsed To");
	is_str(jstr(env, "subject"), "Grüße: IP von mypc geändert",
	       "live: Subject decoded by Python's email package");
	is_str(jstr(env, "body"),
	       "Ihre neue Adresse: 192.0.2.1\n.a line with a leading dot\n=equals and ümlauts\n",
	       "live: body decoded (QP, dot-stuffing undone)");
	json_decref(env);

	/* Shutdown drains: everything queued before stop is delivered when it returns. */
	for (int i = 0; i < 5; i++)
		mail_queue_push(q, TO, "Subject: drain\n\nqueued before stop\n");
	mail_queue_finish(q, 10000, &st);
	snprintf(path, sizeof(path), "%s/plain/0006.eml", tmpdir);
	ok(access(path, F_OK) == 0, "drain: all 5 queued messages delivered by stop");
	ok(st.sent == 6 && st.queued == 6 && st.dropped_shutdown == 0 && st.failed == 0,
	   "drain: counters sent=6 queued=6 dropped=0");
}

/* STARTTLS with the sink's CA file: delivered over TLS. False when the queue does not
 * start (the later STARTTLS steps are skipped then). */
static bool
starttls_with_ca(struct mail_settings *s)
{
	struct mail_queue *q = NULL;
	char path[600];
	json_t *env;

	if (mail_queue_start(s, &q) != 0) {
		ok(0, "starttls: queue starts");
		return false;
	}
	mail_queue_push(q, TO, "Subject: over TLS\n\nsecret\n");
	snprintf(path, sizeof(path), "%s/tls/0001.eml", tmpdir);
	is_int(wait_path(path, 10000), 0, "starttls with CA file: delivered");
	env = load_envelope("tls", 1);
	ok(json_is_true(json_object_get(env, "tls")), "starttls: envelope says TLS");
	is_str(jstr(env, "subject"), "over TLS", "starttls: subject");
	json_decref(env);
	mail_queue_stop(q, 1000);
	return true;
}

/* AUTH under TLS: the right password is used, a wrong one is a permanent failure. */
static bool
starttls_auth(struct mail_settings *s)
{
	struct mail_queue *q = NULL;
	struct mail_stats st;
	char path[600];
	json_t *env;

	s->smtp_user = "mailer";
	s->smtp_password = "s3cret";
	if (mail_queue_start(s, &q) != 0)
		return false;
	mail_queue_push(q, TO, "Subject: authenticated\n\nx\n");
	snprintf(path, sizeof(path), "%s/tls/0002.eml", tmpdir);
	is_int(wait_path(path, 10000), 0, "auth: delivered");
	env = load_envelope("tls", 2);
	is_str(jstr(env, "auth_user"), "mailer", "auth: the sink saw AUTH as mailer");
	json_decref(env);
	mail_queue_stop(q, 1000);
	s->smtp_password = "wrong";
	if (mail_queue_start(s, &q) != 0)
		return false;
	mail_queue_push(q, TO, "Subject: bad password\n\nx\n");
	wait_stat(q, ST_FAILED, 1, 10000);
	mail_queue_finish(q, 1000, &st);
	ok(st.failed == 1 && st.attempts == 1, "auth: wrong password (535) is not retried");
	s->smtp_user = s->smtp_password = NULL;
	return true;
}

/* Without the CA file the self-signed certificate must not be trusted. */
static bool
starttls_untrusted(struct mail_settings *s)
{
	struct mail_queue *q = NULL;
	struct mail_stats st;
	char path[600];

	s->smtp_ca_file = NULL;
	if (mail_queue_start(s, &q) != 0)
		return false;
	mail_queue_push(q, TO, "Subject: must not arrive\n\nx\n");
	is_int(wait_stat(q, ST_FAILED, 1, 10000), 0, "starttls without CA: given up");
	mail_queue_finish(q, 1000, &st);
	ok(st.attempts == 3 && st.sent == 0, "starttls without CA: 3 attempts, none sent");
	snprintf(path, sizeof(path), "%s/tls/0003.eml", tmpdir);
	ok(access(path, F_OK) != 0, "starttls without CA: nothing delivered");
	ok(log_contains("giving up on message to " TO), "failure logged");
	return true;
}

/* STARTTLS required but the server does not offer it: no silent downgrade. `delays` is
 * an empty (non-NULL) schedule: a single attempt. */
static void
starttls_not_offered(const unsigned *delays)
{
	struct mail_settings s;
	struct mail_queue *q = NULL;
	struct mail_stats st;
	char path[600];

	settings_init(&s, PORT_PLAIN, delays, 0);
	s.smtp_starttls = true;
	if (mail_queue_start(&s, &q) != 0)
		return;
	mail_queue_push(q, TO, "Subject: must not arrive in clear\n\nx\n");
	wait_stat(q, ST_FAILED, 1, 10000);
	mail_queue_finish(q, 1000, &st);
	ok(st.failed == 1 && st.sent == 0, "starttls required, server without TLS: not sent");
	snprintf(path, sizeof(path), "%s/plain/0007.eml", tmpdir);
	ok(access(path, F_OK) != 0, "no plaintext delivery");
}

/* The STARTTLS steps share one sink whose numbered files they count, so they run in
 * order and stop at the first queue that does not start. */
static void
test_live_starttls(void)
{
	static const unsigned delays[] = {50, 50};
	struct mail_settings s;

	settings_init(&s, PORT_TLS, delays, 2);
	s.smtp_starttls = true;
	s.smtp_ca_file = certfile;
	if (starttls_with_ca(&s) && starttls_auth(&s) && starttls_untrusted(&s))
		starttls_not_offered(delays);
}

static void
test_live_server_late(void)
{
	static const unsigned delays[] = {300, 600, 1200, 2400};
	struct mail_settings s;
	struct mail_queue *q = NULL;
	struct mail_stats st;
	char path[600];
	pid_t pid;

	settings_init(&s, PORT_LATE, delays, 4);
	if (mail_queue_start(&s, &q) != 0) {
		ok(0, "server down: queue starts");
		return;
	}
	mail_queue_push(q, TO, "Subject: late\n\npatience\n");
	is_int(wait_stat(q, ST_ATTEMPTS, 1, 5000), 0, "server down: first attempt made");
	pid = sink_start(PORT_LATE, "late", 0);
	ok(pid > 0, "server down: sink started after the first failure");
	snprintf(path, sizeof(path), "%s/late/0001.eml", tmpdir);
	is_int(wait_path(path, 8000), 0, "server down: delivered on a retry");
	mail_queue_finish(q, 1000, &st);
	ok(st.attempts >= 2 && st.sent == 1 && st.failed == 0,
	   "server down: retried, then sent once");
	diag("attempts: %lu", st.attempts);
	ok(log_contains("attempt 1 of 5 failed"), "failed attempt logged");
	sink_stop(pid);
}

static void
test_live_queue_full(void)
{
	static const unsigned delays[] = {10000};
	struct mail_settings s;
	struct mail_queue *q = NULL;
	struct mail_stats st;
	struct timespec t0;
	int rc = 0, pushed = 0;
	long took;

	settings_init(&s, PORT_DEAD, delays, 1);
	s.queue_max = 2;
	if (mail_queue_start(&s, &q) != 0) {
		ok(0, "queue full: queue starts");
		return;
	}
	/* The first message keeps the worker in a 10 s back-off; two more fill the queue. */
	mail_queue_push(q, TO, "Subject: 1\n\nx\n");
	wait_stat(q, ST_ATTEMPTS, 1, 5000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (pushed < 10 && (rc = mail_queue_push(q, TO, "Subject: n\n\nx\n")) == 0)
		pushed++;
	took = ms_since(&t0);
	is_int(pushed, 2, "queue full: exactly queue_max messages wait");
	is_int(rc, ERR_BUSY, "queue full: push returns ERR_BUSY");
	ok(took < 200, "queue full: push does not block");
	diag("3 pushes took %ld ms", took);
	ok(log_contains("dropped: queue full"), "queue full: warning logged");

	/* Shutdown with a short drain: the back-off is cut, the rest dropped with a warning. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	mail_queue_finish(q, 300, &st);
	took = ms_since(&t0);
	ok(took >= 250 && took < 2000, "stop: waits for the drain time, not the back-off");
	diag("stop took %ld ms", took);
	ok(st.dropped_full == 1 && st.dropped_shutdown == 3 && st.sent == 0,
	   "stop: 1 refused, 3 dropped at shutdown");
	ok(log_contains("dropped 2 queued message(s)"), "stop: drop warning logged");
}

static void
test_settings(void)
{
	struct mail_settings s;
	struct mail_queue *q = NULL;

	settings_init(&s, 0, NULL, 0);
	is_int(mail_queue_start(&s, &q), ERR_INVAL, "settings: port 0 rejected");
	settings_init(&s, 25, NULL, 0);
	s.smtp_host = "host/evil";
	is_int(mail_queue_start(&s, &q), ERR_INVAL, "settings: bad host rejected");
	settings_init(&s, 25, NULL, 0);
	s.from_address = "Name <a@b.c>";
	is_int(mail_queue_start(&s, &q), ERR_INVAL, "settings: bad from rejected");
	settings_init(&s, 25, NULL, 0);
	s.smtp_starttls = true;
	s.smtp_ca_file = "/nonexistent/ca.pem";
	is_int(mail_queue_start(&s, &q), ERR_INVAL, "settings: unreadable CA file rejected");
	ok(q == NULL, "settings: no queue on error");
	mail_queue_stop(NULL, 0);
}

static void
live_tests(void)
{
	struct log_settings ls = {.level = LOG_LVL_INFO, .target = LOG_TARGET_FILE};

	if (!mkdtemp(tmpdir)) {
		ok(0, "mkdtemp");
		return;
	}
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	snprintf(certfile, sizeof(certfile), "%s/cert.pem", tmpdir);
	snprintf(keyfile, sizeof(keyfile), "%s/key.pem", tmpdir);
	snprintf(logfile, sizeof(logfile), "%s/test.log", tmpdir);
	ls.file = logfile;
	is_int(log_open(&ls), 0, "log to a file we can read back");
	is_int(make_cert(), 0, "self-signed certificate made with openssl");
	ok(sink_start(PORT_PLAIN, "plain", 0) > 0, "plain sink started");
	ok(sink_start(PORT_TLS, "tls", 1) > 0, "STARTTLS sink started");
	test_settings();
	test_live_plain();
	test_live_starttls();
	test_live_server_late();
	test_live_queue_full();
	ok(!log_contains("s3cret"), "the SMTP password is never logged");
	log_close();
	cleanup();
}

int
main(void)
{
	test_basic();
	test_date_and_id();
	test_ours_win();
	test_header_injection();
	test_addresses();
	test_rfc2047();
	test_folding();
	test_body();
	test_limits();
	live_tests();
	return tap_done();
}
