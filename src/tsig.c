/* SPDX-License-Identifier: MIT */
/* TSIG: BIND key files, and RFC 8945 signing/verification of DNS messages done on the
 * wire with GnuTLS HMAC, one code path for every algorithm (ldns cannot do them all). */
#include "tsig.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "err.h"

#define DNS_HEADER_LEN	12
#define DNAME_MAX_WIRE	255 /* RFC 1035 limit of a name in wire form */
#define DNAME_MAX_LABEL 63
#define DNAME_MAX_PTRS	64 /* compression pointers followed before giving up */
#define CLASS_ANY	255
#define TSIG_OTHER_MAX	64 /* other data we accept in a reply (BADTIME carries 6) */

/* --- algorithms ----------------------------------------------------------------------- */

struct alg_info {
	const char *keyfile_name; /* what tsig-keygen writes */
	const char *wire_name;	  /* the TSIG algorithm name, RFC 8945 section 6 */
	gnutls_mac_algorithm_t mac;
	size_t mac_len;
};

static const struct alg_info algs[] = {
	[TSIG_HMAC_MD5] = {"hmac-md5", "hmac-md5.sig-alg.reg.int.", GNUTLS_MAC_MD5, 16},
	[TSIG_HMAC_SHA1] = {"hmac-sha1", "hmac-sha1.", GNUTLS_MAC_SHA1, 20},
	[TSIG_HMAC_SHA224] = {"hmac-sha224", "hmac-sha224.", GNUTLS_MAC_SHA224, 28},
	[TSIG_HMAC_SHA256] = {"hmac-sha256", "hmac-sha256.", GNUTLS_MAC_SHA256, 32},
	[TSIG_HMAC_SHA384] = {"hmac-sha384", "hmac-sha384.", GNUTLS_MAC_SHA384, 48},
	[TSIG_HMAC_SHA512] = {"hmac-sha512", "hmac-sha512.", GNUTLS_MAC_SHA512, 64},
};
#define N_ALGS (sizeof(algs) / sizeof(algs[0]))

static bool
is_alg_valid(enum tsig_alg alg)
{
	return (unsigned)alg < N_ALGS;
}

const char *
tsig_alg_name(enum tsig_alg alg)
{
	return is_alg_valid(alg) ? algs[alg].wire_name : "unknown.";
}

size_t
tsig_mac_len(enum tsig_alg alg)
{
	return is_alg_valid(alg) ? algs[alg].mac_len : 0;
}

/* Case-insensitive comparison of a counted string with a C string. */
static bool
is_word(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

int
tsig_alg_parse(const char *name, size_t len, enum tsig_alg *out)
{
	if (len > 0 && name[len - 1] == '.')
		len--;
	/* hmac-md5's registered name; "hmac-md5.sig-alg.reg.int" is what RFC 2845 used. */
	if (is_word(name, len, "hmac-md5.sig-alg.reg.int")) {
		*out = TSIG_HMAC_MD5;
		return 0;
	}
	for (size_t i = 0; i < N_ALGS; i++) {
		if (is_word(name, len, algs[i].keyfile_name)) {
			*out = (enum tsig_alg)i;
			return 0;
		}
	}
	return ERR_INVAL;
}

const char *
tsig_error_str(int error)
{
	switch (error) {
	case TSIG_BADSIG: return "BADSIG";
	case TSIG_BADKEY: return "BADKEY";
	case TSIG_BADTIME: return "BADTIME";
	case TSIG_BADTRUNC: return "BADTRUNC";
	}
	return NULL;
}

/* --- HMAC ------------------------------------------------------------------------------ */

/* A MAC computed in pieces: the TSIG digest covers several discontiguous buffers. */
struct mac_ctx {
	gnutls_hmac_hd_t hd;
	int err; /* first failure of gnutls_hmac, reported at the end */
};

static int
mac_begin(struct mac_ctx *c, enum tsig_alg alg, const void *secret, size_t secret_len)
{
	c->err = 0;
	if (!is_alg_valid(alg) || gnutls_hmac_init(&c->hd, algs[alg].mac, secret, secret_len) < 0)
		return ERR_CRYPTO;
	return 0;
}

static void
mac_add(struct mac_ctx *c, const void *data, size_t len)
{
	if (c->err == 0 && len > 0 && gnutls_hmac(c->hd, data, len) < 0)
		c->err = ERR_CRYPTO;
}

static int
mac_end(struct mac_ctx *c, enum tsig_alg alg, unsigned char *mac, size_t *mac_len)
{
	gnutls_hmac_deinit(c->hd, mac);
	*mac_len = algs[alg].mac_len;
	return c->err;
}

int
tsig_hmac(enum tsig_alg alg, const void *secret, size_t secret_len, const void *data, size_t len,
	  unsigned char *mac, size_t *mac_len)
{
	struct mac_ctx c;
	int rc = mac_begin(&c, alg, secret, secret_len);

	if (rc != 0)
		return rc;
	mac_add(&c, data, len);
	return mac_end(&c, alg, mac, mac_len);
}

/* --- wire helpers ---------------------------------------------------------------------- */

static void
put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static unsigned
get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static void
put48(unsigned char *p, uint64_t v)
{
	for (int i = 5; i >= 0; i--) {
		p[i] = (unsigned char)v;
		v >>= 8;
	}
}

static uint64_t
get48(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 6; i++)
		v = v << 8 | p[i];
	return v;
}

/* dname_to_wire: a text name (lower-case, trailing dot) to uncompressed wire form.
 * Returns the length, or 0 if the name does not fit the limits. */
static size_t
dname_to_wire(const char *name, unsigned char *out, size_t cap)
{
	size_t n = 0;
	const char *p = name;

	while (*p != '\0') {
		const char *dot = strchr(p, '.');
		size_t lab = dot ? (size_t)(dot - p) : strlen(p);

		if (lab == 0 || lab > DNAME_MAX_LABEL || n + 1 + lab + 1 > cap ||
		    n + 1 + lab + 1 > DNAME_MAX_WIRE)
			return 0;
		out[n++] = (unsigned char)lab;
		for (size_t i = 0; i < lab; i++)
			out[n++] = (unsigned char)tolower((unsigned char)p[i]);
		p += lab + (dot ? 1 : 0);
	}
	if (n + 1 > cap)
		return 0;
	out[n++] = 0;
	return n;
}

/* skip_name: advances *off past a (possibly compressed) name. */
static int
skip_name(const unsigned char *m, size_t len, size_t *off)
{
	size_t o = *off;

	for (;;) {
		if (o >= len)
			return ERR_INVAL;
		if ((m[o] & 0xc0) == 0xc0) {
			if (o + 2 > len)
				return ERR_INVAL;
			*off = o + 2;
			return 0;
		}
		if (m[o] & 0xc0)
			return ERR_INVAL; /* extended label types are obsolete */
		if (m[o] == 0) {
			*off = o + 1;
			return 0;
		}
		o += 1 + (size_t)m[o];
	}
}

/* read_name: the name at *off in canonical form (decompressed, lower-case) into out
 * (DNAME_MAX_WIRE bytes); advances *off past the name as it is on the wire. */
static int
read_name(const unsigned char *m, size_t len, size_t *off, unsigned char *out, size_t *out_len)
{
	size_t o = *off, n = 0, end = 0;
	int ptrs = 0;

	for (;;) {
		if (o >= len)
			return ERR_INVAL;
		if ((m[o] & 0xc0) == 0xc0) {
			if (o + 2 > len || ++ptrs > DNAME_MAX_PTRS)
				return ERR_INVAL;
			if (end == 0)
				end = o + 2;
			o = (size_t)(get16(m + o) & 0x3fff);
			continue;
		}
		if (m[o] & 0xc0)
			return ERR_INVAL;
		size_t lab = m[o];
		if (o + 1 + lab > len || n + 1 + lab > DNAME_MAX_WIRE)
			return ERR_INVAL;
		out[n++] = (unsigned char)lab;
		for (size_t i = 0; i < lab; i++)
			out[n++] = (unsigned char)tolower(m[o + 1 + i]);
		o += 1 + lab;
		if (lab == 0)
			break;
	}
	*off = end ? end : o;
	*out_len = n;
	return 0;
}

/* --- signing and verification ------------------------------------------------------------ */

/* The TSIG variables of RFC 8945 section 4.3.3 after the key name, class and TTL. */
struct tsig_vars {
	unsigned char alg[DNAME_MAX_WIRE];
	size_t alg_len;
	uint64_t time_signed;
	unsigned fudge, error, other_len;
	const unsigned char *other;
};

/* Feeds key name, class ANY, TTL 0 and the rest of the variables into the MAC. */
static void
mac_add_vars(struct mac_ctx *c, const unsigned char *kname, size_t kname_len,
	     const struct tsig_vars *v)
{
	unsigned char fixed[10];

	mac_add(c, kname, kname_len);
	put16(fixed, CLASS_ANY);
	memset(fixed + 2, 0, 4); /* TTL */
	mac_add(c, fixed, 6);
	mac_add(c, v->alg, v->alg_len);
	put48(fixed, v->time_signed);
	put16(fixed + 6, v->fudge);
	put16(fixed + 8, v->error);
	mac_add(c, fixed, 10);
	put16(fixed, v->other_len);
	mac_add(c, fixed, 2);
	mac_add(c, v->other, v->other_len);
}

int
tsig_sign(const struct tsig_key *key, unsigned char *wire, size_t *len, size_t cap, uint64_t now,
	  unsigned char *mac_out, size_t *mac_len)
{
	unsigned char kname[DNAME_MAX_WIRE];
	struct tsig_vars v = {.time_signed = now, .fudge = TSIG_FUDGE};
	struct mac_ctx c;
	size_t kl, n = *len, need;
	int rc;

	if (n < DNS_HEADER_LEN || !is_alg_valid(key->alg))
		return ERR_INVAL;
	kl = dname_to_wire(key->name, kname, sizeof(kname));
	v.alg_len = dname_to_wire(algs[key->alg].wire_name, v.alg, sizeof(v.alg));
	if (kl == 0 || v.alg_len == 0 || get16(wire + 10) == 0xffff)
		return ERR_INVAL;
	need = kl + 10 + v.alg_len + 16 + algs[key->alg].mac_len;
	if (n + need > cap)
		return ERR_TOOBIG;

	if ((rc = mac_begin(&c, key->alg, key->secret, key->secret_len)) != 0)
		return rc;
	mac_add(&c, wire, n);
	mac_add_vars(&c, kname, kl, &v);
	if ((rc = mac_end(&c, key->alg, mac_out, mac_len)) != 0)
		return rc;

	/* Owner, type, class, TTL, RDLENGTH, then RDATA (section 4.2). */
	unsigned char *p = wire + n;
	memcpy(p, kname, kl);
	p += kl;
	put16(p, TSIG_TYPE);
	put16(p + 2, CLASS_ANY);
	memset(p + 4, 0, 4);
	put16(p + 8, (unsigned)(v.alg_len + 16 + *mac_len));
	p += 10;
	memcpy(p, v.alg, v.alg_len);
	p += v.alg_len;
	put48(p, now);
	put16(p + 6, TSIG_FUDGE);
	put16(p + 8, (unsigned)*mac_len);
	memcpy(p + 10, mac_out, *mac_len);
	p += 10 + *mac_len;
	memcpy(p, wire, 2);  /* original ID */
	memset(p + 2, 0, 4); /* error, other len */
	*len = n + need;
	put16(wire + 10, get16(wire + 10) + 1);
	return 0;
}

/* A parsed TSIG RR of a received message. */
struct tsig_rr {
	size_t start; /* offset of the RR = length of the message without it */
	unsigned char name[DNAME_MAX_WIRE];
	size_t name_len;
	struct tsig_vars v;
	const unsigned char *mac;
	unsigned mac_len, orig_id;
};

/* Skips `count` resource records. */
static int
skip_rrs(const unsigned char *m, size_t len, size_t *off, unsigned count)
{
	for (unsigned i = 0; i < count; i++) {
		if (skip_name(m, len, off) != 0 || *off + 10 > len)
			return ERR_INVAL;
		*off += 10 + get16(m + *off + 8);
		if (*off > len)
			return ERR_INVAL;
	}
	return 0;
}

/* Parses the TSIG RDATA at m[o..end). */
static int
parse_tsig_rdata(const unsigned char *m, size_t o, size_t end, struct tsig_rr *t)
{
	if (read_name(m, end, &o, t->v.alg, &t->v.alg_len) != 0 || o + 10 > end)
		return ERR_INVAL;
	t->v.time_signed = get48(m + o);
	t->v.fudge = get16(m + o + 6);
	t->mac_len = get16(m + o + 8);
	o += 10;
	if (t->mac_len > TSIG_MAX_MAC || o + t->mac_len + 6 > end)
		return ERR_INVAL;
	t->mac = m + o;
	o += t->mac_len;
	t->orig_id = get16(m + o);
	t->v.error = get16(m + o + 2);
	t->v.other_len = get16(m + o + 4);
	t->v.other = m + o + 6;
	o += 6;
	if (t->v.other_len > TSIG_OTHER_MAX || o + t->v.other_len != end)
		return ERR_INVAL;
	return 0;
}

/* find_tsig: locates and parses the TSIG RR, which must be the message's last RR.
 * ERR_NOTFOUND when the last RR is something else or there is none. */
static int
find_tsig(const unsigned char *m, size_t len, struct tsig_rr *t)
{
	size_t off = DNS_HEADER_LEN;
	unsigned qd, an, ns, ar;

	if (len < DNS_HEADER_LEN)
		return ERR_INVAL;
	qd = get16(m + 4), an = get16(m + 6), ns = get16(m + 8), ar = get16(m + 10);
	for (unsigned i = 0; i < qd; i++) {
		if (skip_name(m, len, &off) != 0 || (off += 4) > len)
			return ERR_INVAL;
	}
	if (ar == 0)
		return skip_rrs(m, len, &off, an + ns) == 0 ? ERR_NOTFOUND : ERR_INVAL;
	if (skip_rrs(m, len, &off, an + ns + ar - 1) != 0)
		return ERR_INVAL;
	t->start = off;
	if (read_name(m, len, &off, t->name, &t->name_len) != 0 || off + 10 > len)
		return ERR_INVAL;
	if (get16(m + off) != TSIG_TYPE)
		return ERR_NOTFOUND;
	size_t rdlen = get16(m + off + 8);
	/* TTL 0 is required (section 4.2); the MAC does not cover the TTL on the wire. */
	if (get16(m + off + 2) != CLASS_ANY || get16(m + off + 4) != 0 || get16(m + off + 6) != 0 ||
	    off + 10 + rdlen != len)
		return ERR_INVAL;
	return parse_tsig_rdata(m, off + 10, len, t);
}

/* Compares in constant time, so a forger learns nothing from the timing. */
static bool
is_mac_equal(const unsigned char *a, const unsigned char *b, size_t n)
{
	unsigned char d = 0;

	for (size_t i = 0; i < n; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

int
tsig_verify(const struct tsig_key *key, const unsigned char *wire, size_t len,
	    const unsigned char *req_mac, size_t req_mac_len, uint64_t now, int *tsig_error)
{
	struct tsig_rr t;
	unsigned char kname[DNAME_MAX_WIRE], alg[DNAME_MAX_WIRE], mac[TSIG_MAX_MAC];
	unsigned char hdr[DNS_HEADER_LEN], pm[2];
	size_t kl, al, mac_len;
	struct mac_ctx c;
	int rc;

	*tsig_error = 0;
	if ((rc = find_tsig(wire, len, &t)) != 0)
		return rc;
	*tsig_error = (int)t.v.error;
	kl = dname_to_wire(key->name, kname, sizeof(kname));
	al = dname_to_wire(tsig_alg_name(key->alg), alg, sizeof(alg));
	if (kl != t.name_len || memcmp(kname, t.name, kl) != 0 || al != t.v.alg_len ||
	    memcmp(alg, t.v.alg, al) != 0)
		return ERR_CRYPTO;
	/* We sign with full-length MACs, so a conforming reply carries one too. */
	if (t.mac_len != algs[key->alg].mac_len)
		return ERR_CRYPTO;

	if ((rc = mac_begin(&c, key->alg, key->secret, key->secret_len)) != 0)
		return rc;
	put16(pm, (unsigned)req_mac_len);
	mac_add(&c, pm, 2);
	mac_add(&c, req_mac, req_mac_len);
	memcpy(hdr, wire, DNS_HEADER_LEN);
	put16(hdr, t.orig_id);
	put16(hdr + 10, get16(wire + 10) - 1);
	mac_add(&c, hdr, DNS_HEADER_LEN);
	mac_add(&c, wire + DNS_HEADER_LEN, t.start - DNS_HEADER_LEN);
	mac_add_vars(&c, kname, kl, &t.v);
	if ((rc = mac_end(&c, key->alg, mac, &mac_len)) != 0)
		return rc;
	if (!is_mac_equal(mac, t.mac, mac_len))
		return ERR_CRYPTO;
	/* Time is checked after the MAC (RFC 8945 5.4.3): only a signed time means anything. */
	if ((now > t.v.time_signed ? now - t.v.time_signed : t.v.time_signed - now) > t.v.fudge)
		return ERR_CRYPTO;
	return 0;
}

/* --- key files ------------------------------------------------------------------------------ */

enum tok_type { TOK_EOF, TOK_WORD, TOK_STRING, TOK_LBRACE, TOK_RBRACE, TOK_SEMI };

struct token {
	enum tok_type type;
	const char *s; /* text of a word or string (without the quotes) */
	size_t len;
	int line;
};

struct lexer {
	const char *p, *end;
	int line;
	char *err; /* message of the first error */
	size_t errlen;
	int err_line;
};

static void lex_error(struct lexer *lx, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
lex_error(struct lexer *lx, int line, const char *fmt, ...)
{
	va_list ap;

	lx->err_line = line;
	if (lx->errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(lx->err, lx->errlen, fmt, ap);
	va_end(ap);
}

/* Skips blanks and the three comment styles BIND accepts; fails on an open comment. */
static int
lex_skip(struct lexer *lx)
{
	while (lx->p < lx->end) {
		char ch = *lx->p;
		if (ch == '\n') {
			lx->line++;
			lx->p++;
		} else if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f' || ch == '\v') {
			lx->p++;
		} else if (ch == '#' || (ch == '/' && lx->p + 1 < lx->end && lx->p[1] == '/')) {
			while (lx->p < lx->end && *lx->p != '\n')
				lx->p++;
		} else if (ch == '/' && lx->p + 1 < lx->end && lx->p[1] == '*') {
			int start = lx->line;
			lx->p += 2;
			while (lx->p + 1 < lx->end && !(lx->p[0] == '*' && lx->p[1] == '/'))
				lx->line += *lx->p++ == '\n';
			if (lx->p + 1 >= lx->end) {
				lex_error(lx, start, "unterminated comment");
				return ERR_INVAL;
			}
			lx->p += 2;
		} else {
			return 0;
		}
	}
	return 0;
}

static bool
is_word_char(char ch)
{
	return (unsigned char)ch > ' ' && ch != 0x7f && !strchr("{};\"", ch);
}

static int
lex_string(struct lexer *lx, struct token *t)
{
	t->type = TOK_STRING;
	t->s = ++lx->p;
	while (lx->p < lx->end && *lx->p != '"') {
		if (*lx->p == '\n' || *lx->p == '\\' || *lx->p == '\0') {
			lex_error(lx, lx->line, "unsupported character in quoted string");
			return ERR_INVAL;
		}
		lx->p++;
	}
	if (lx->p >= lx->end) {
		lex_error(lx, t->line, "unterminated quoted string");
		return ERR_INVAL;
	}
	t->len = (size_t)(lx->p++ - t->s);
	return 0;
}

static int
lex_next(struct lexer *lx, struct token *t)
{
	if (lex_skip(lx) != 0)
		return ERR_INVAL;
	t->line = lx->line;
	t->s = lx->p;
	t->len = 1;
	if (lx->p >= lx->end) {
		t->type = TOK_EOF;
		t->len = 0;
		return 0;
	}
	switch (*lx->p) {
	case '{':
		t->type = TOK_LBRACE;
		lx->p++;
		return 0;
	case '}':
		t->type = TOK_RBRACE;
		lx->p++;
		return 0;
	case ';':
		t->type = TOK_SEMI;
		lx->p++;
		return 0;
	case '"': return lex_string(lx, t);
	}
	if (!is_word_char(*lx->p)) {
		lex_error(lx, lx->line, "unexpected character 0x%02x", (unsigned char)*lx->p);
		return ERR_INVAL;
	}
	t->type = TOK_WORD;
	while (lx->p < lx->end && is_word_char(*lx->p))
		lx->p++;
	t->len = (size_t)(lx->p - t->s);
	return 0;
}

/* A printable excerpt of a token for messages; never the secret. */
static const char *
tok_show(const struct token *t, char *buf, size_t len)
{
	size_t n = 0;

	if (t->type == TOK_EOF)
		return "end of file";
	for (size_t i = 0; i < t->len && n + 4 < len && i < 32; i++)
		buf[n++] = isprint((unsigned char)t->s[i]) ? t->s[i] : '?';
	if (t->len > 32 && n + 4 < len)
		buf[n++] = '.', buf[n++] = '.', buf[n++] = '.';
	buf[n] = '\0';
	return buf;
}

static int
expect(struct lexer *lx, enum tok_type type, const char *what, struct token *t)
{
	char show[40];

	if (lex_next(lx, t) != 0)
		return ERR_INVAL;
	if (t->type != type) {
		lex_error(lx, t->line, "expected %s, found '%s'", what,
			  tok_show(t, show, sizeof(show)));
		return ERR_INVAL;
	}
	return 0;
}

/* A value: a word or a quoted string, followed by ';'. */
static int
expect_value(struct lexer *lx, const char *what, struct token *v)
{
	struct token semi;
	char show[40];

	if (lex_next(lx, v) != 0)
		return ERR_INVAL;
	if (v->type != TOK_WORD && v->type != TOK_STRING) {
		lex_error(lx, v->line, "expected %s, found '%s'", what,
			  tok_show(v, show, sizeof(show)));
		return ERR_INVAL;
	}
	return expect(lx, TOK_SEMI, "';'", &semi);
}

/* Validates a key name and stores it lower-case with a trailing dot. */
static int
set_key_name(struct lexer *lx, const struct token *t, struct tsig_key *out)
{
	unsigned char wire[DNAME_MAX_WIRE];
	size_t len = t->len;

	if (len > 0 && t->s[len - 1] == '.')
		len--;
	if (len == 0 || len + 2 > sizeof(out->name)) {
		lex_error(lx, t->line, "invalid key name length");
		return ERR_INVAL;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)t->s[i];
		if (!isalnum(ch) && ch != '-' && ch != '_' && ch != '.') {
			lex_error(lx, t->line, "invalid character in key name");
			return ERR_INVAL;
		}
		out->name[i] = (char)tolower(ch);
	}
	out->name[len] = '.';
	out->name[len + 1] = '\0';
	if (dname_to_wire(out->name, wire, sizeof(wire)) == 0) {
		lex_error(lx, t->line, "invalid key name (empty or overlong label)");
		return ERR_INVAL;
	}
	return 0;
}

static int
b64_value(char ch)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = ch ? strchr(tab, ch) : NULL;

	return p ? (int)(p - tab) : -1;
}

/* Strict base64 (RFC 4648 section 4, padded); blanks inside are skipped as BIND does.
 * Returns the decoded length or -1. */
static long
b64_decode(const char *s, size_t len, unsigned char *out, size_t cap)
{
	unsigned acc = 0;
	int bits = 0, pad = 0, chars = 0;
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		if (ch == ' ' || ch == '\t')
			continue;
		chars++;
		if (ch == '=') {
			pad++;
			continue;
		}
		int v = b64_value(ch);
		if (v < 0 || pad > 0)
			return -1;
		acc = (acc << 6 | (unsigned)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= cap)
				return -1;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	/* Whole quanta only, at most two '=', and no stray bits left set. */
	if (chars % 4 != 0 || pad > 2 || (pad > 0 && bits / 2 != pad) ||
	    (acc & ((1u << bits) - 1)) != 0)
		return -1;
	return (long)n;
}

struct key_seen {
	bool alg, secret;
};

static int
parse_option(struct lexer *lx, const struct token *opt, struct tsig_key *out, struct key_seen *seen)
{
	struct token v;
	char show[40];

	if (is_word(opt->s, opt->len, "algorithm") && opt->type == TOK_WORD) {
		if (seen->alg) {
			lex_error(lx, opt->line, "duplicate algorithm");
			return ERR_INVAL;
		}
		if (expect_value(lx, "an algorithm name", &v) != 0)
			return ERR_INVAL;
		if (tsig_alg_parse(v.s, v.len, &out->alg) != 0) {
			lex_error(lx, v.line, "unsupported algorithm '%s'",
				  tok_show(&v, show, sizeof(show)));
			return ERR_INVAL;
		}
		seen->alg = true;
		return 0;
	}
	if (is_word(opt->s, opt->len, "secret") && opt->type == TOK_WORD) {
		if (seen->secret) {
			lex_error(lx, opt->line, "duplicate secret");
			return ERR_INVAL;
		}
		if (expect_value(lx, "a base64 secret", &v) != 0)
			return ERR_INVAL;
		long n = b64_decode(v.s, v.len, out->secret, sizeof(out->secret));
		if (n <= 0) {
			lex_error(lx, v.line,
				  n == 0 ? "empty secret"
					 : "secret is not valid base64 "
					   "(or longer than %d bytes)",
				  TSIG_MAX_SECRET);
			return ERR_INVAL;
		}
		out->secret_len = (size_t)n;
		seen->secret = true;
		return 0;
	}
	lex_error(lx, opt->line, "unknown key option '%s'", tok_show(opt, show, sizeof(show)));
	return ERR_INVAL;
}

static int
parse_key_body(struct lexer *lx, struct tsig_key *out)
{
	struct key_seen seen = {false, false};
	struct token t;
	char show[40];

	for (;;) {
		if (lex_next(lx, &t) != 0)
			return ERR_INVAL;
		if (t.type == TOK_RBRACE)
			break;
		if (t.type != TOK_WORD) {
			lex_error(lx, t.line, "expected 'algorithm', 'secret' or '}', found '%s'",
				  tok_show(&t, show, sizeof(show)));
			return ERR_INVAL;
		}
		if (parse_option(lx, &t, out, &seen) != 0)
			return ERR_INVAL;
	}
	if (!seen.alg || !seen.secret) {
		lex_error(lx, t.line, "key has no %s", seen.alg ? "secret" : "algorithm");
		return ERR_INVAL;
	}
	return 0;
}

static int
parse_key(struct lexer *lx, struct tsig_key *out)
{
	struct token t;
	char show[40];

	if (expect(lx, TOK_WORD, "'key'", &t) != 0)
		return ERR_INVAL;
	if (!is_word(t.s, t.len, "key")) {
		lex_error(lx, t.line, "expected 'key', found '%s'",
			  tok_show(&t, show, sizeof(show)));
		return ERR_INVAL;
	}
	if (lex_next(lx, &t) != 0)
		return ERR_INVAL;
	if (t.type != TOK_WORD && t.type != TOK_STRING) {
		lex_error(lx, t.line, "expected a key name, found '%s'",
			  tok_show(&t, show, sizeof(show)));
		return ERR_INVAL;
	}
	if (set_key_name(lx, &t, out) != 0 || expect(lx, TOK_LBRACE, "'{'", &t) != 0 ||
	    parse_key_body(lx, out) != 0 || expect(lx, TOK_SEMI, "';' after '}'", &t) != 0)
		return ERR_INVAL;
	if (lex_next(lx, &t) != 0)
		return ERR_INVAL;
	if (t.type != TOK_EOF) {
		lex_error(lx, t.line, "unexpected '%s' after the key (one key per file)",
			  tok_show(&t, show, sizeof(show)));
		return ERR_INVAL;
	}
	return 0;
}

int
tsig_key_parse(const char *text, size_t len, struct tsig_key *out, int *err_line, char *errbuf,
	       size_t errlen)
{
	struct lexer lx = {text, text + len, 1, errbuf, errlen, 0};
	int rc;

	memset(out, 0, sizeof(*out));
	if (errlen > 0)
		errbuf[0] = '\0';
	rc = parse_key(&lx, out);
	if (rc != 0) {
		tsig_key_wipe(out);
		*err_line = lx.err_line;
	} else {
		*err_line = 0;
	}
	return rc;
}

/* Reads at most TSIG_MAX_KEYFILE bytes; one more means the file is too large. */
static int
read_keyfile(const char *path, char *buf, size_t cap, size_t *len, char *errbuf, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;

	if (fd < 0) {
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return ERR_IO;
	}
	while (n < cap) {
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
			close(fd);
			return ERR_IO;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (n == cap) {
		snprintf(errbuf, errlen, "%s: larger than %d bytes", path, TSIG_MAX_KEYFILE);
		return ERR_INVAL;
	}
	*len = n;
	return 0;
}

int
tsig_key_load(const char *path, struct tsig_key *out, char *errbuf, size_t errlen)
{
	char buf[TSIG_MAX_KEYFILE + 1], msg[160];
	size_t len = 0;
	int line, rc;

	memset(out, 0, sizeof(*out));
	rc = read_keyfile(path, buf, sizeof(buf), &len, errbuf, errlen);
	if (rc == 0) {
		rc = tsig_key_parse(buf, len, out, &line, msg, sizeof(msg));
		if (rc != 0)
			snprintf(errbuf, errlen, "%s:%d: %s", path, line, msg);
	}
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

void
tsig_key_wipe(struct tsig_key *k)
{
	if (k != NULL) {
		explicit_bzero(k->secret, sizeof(k->secret));
		k->secret_len = 0;
	}
}
