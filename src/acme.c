/* SPDX-License-Identifier: MIT */
/* lego's httpreq API without I/O: which path is which operation, what a body says, whose
 * host a challenge name belongs to, and which TXT values we publish. */
#include "acme.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <jansson.h>

#include "err.h"

#define SHA256_LEN 32

const char *
acme_op_name(enum acme_op op)
{
	switch (op) {
	case ACME_OP_PRESENT: return "present";
	case ACME_OP_CLEANUP: return "cleanup";
	default: return NULL;
	}
}

enum acme_op
acme_route(const char *path, const char *url)
{
	size_t n = strlen(path);
	const char *rest;

	while (n > 0 && path[n - 1] == '/')
		n--;
	if (strncmp(url, path, n) != 0)
		return ACME_OP_NONE;
	rest = url + n;
	if (strcmp(rest, "/present") == 0)
		return ACME_OP_PRESENT;
	if (strcmp(rest, "/cleanup") == 0)
		return ACME_OP_CLEANUP;
	return ACME_OP_NONE;
}

bool
acme_value_is_valid(const char *v)
{
	size_t n;

	if (v == NULL)
		return false;
	n = strnlen(v, ACME_VALUE_MAX + 1);
	if (n == 0 || n > ACME_VALUE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (v[i] < 0x20 || v[i] > 0x7e || v[i] == '"' || v[i] == '\\')
			return false;
	return true;
}

/* The string member `key` of `obj` into *out: 0, ERR_NOTFOUND when absent, ERR_INVAL when
 * not a string or with a NUL, ERR_TOOBIG past `max` bytes. */
static int
member(json_t *obj, const char *key, size_t max, const char **out)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL)
		return ERR_NOTFOUND;
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
		return ERR_INVAL;
	if (json_string_length(v) > max)
		return ERR_TOOBIG;
	*out = json_string_value(v);
	return 0;
}

static int
reason(char *why, size_t len, const char *text)
{
	snprintf(why, len, "%s", text);
	return ERR_INVAL;
}

/* The two members of a mode, with the reason when one is missing or unusable. */
static int
two_members(json_t *root, const char *k1, size_t max1, const char *k2, size_t max2, const char **v1,
	    const char **v2, char *why, size_t whylen)
{
	int r1 = member(root, k1, max1, v1), r2 = member(root, k2, max2, v2);

	if (r1 == ERR_TOOBIG || r2 == ERR_TOOBIG) {
		snprintf(why, whylen, "\"%s\" is longer than %zu bytes", r1 ? k1 : k2,
			 r1 ? max1 : max2);
		return ERR_INVAL;
	}
	if (r1 != 0 || r2 != 0) {
		snprintf(why, whylen, "\"%s\" and \"%s\" must be strings", k1, k2);
		return ERR_INVAL;
	}
	return 0;
}

/* Default mode: the name and the value as sent. */
static int
parse_default(json_t *root, struct acme_body *out, char *why, size_t whylen)
{
	const char *fqdn, *value;

	if (two_members(root, "fqdn", ACME_NAME_MAX, "value", ACME_BODY_MAX, &fqdn, &value, why,
			whylen) != 0)
		return ERR_INVAL;
	if (!acme_value_is_valid(value))
		return reason(why, whylen,
			      "\"value\" must be 1 to 255 printable ASCII characters without "
			      "quotes or backslashes");
	snprintf(out->name, sizeof(out->name), "%s", fqdn);
	snprintf(out->value, sizeof(out->value), "%s", value);
	return 0;
}

/* Whether every byte of s is printable ASCII: a key authorization is two base64url
 * strings joined by a dot. */
static bool
is_printable(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s < 0x21 || *s > 0x7e)
			return false;
	return true;
}

/* RAW mode: the name from the domain, the value from the key authorization. */
static int
parse_raw(json_t *root, struct acme_body *out, char *why, size_t whylen)
{
	const char *domain, *key_auth;

	if (two_members(root, "domain", ACME_NAME_MAX, "keyAuth", ACME_KEYAUTH_MAX, &domain,
			&key_auth, why, whylen) != 0)
		return ERR_INVAL;
	if (key_auth[0] == '\0' || !is_printable(key_auth))
		return reason(why, whylen, "\"keyAuth\" must be printable ASCII");
	/* A wildcard's challenge lives at the name without "*." (RFC 8555 8.4). */
	if (strncmp(domain, "*.", 2) == 0)
		domain += 2;
	snprintf(out->name, sizeof(out->name), "%s.%s", ACME_LABEL, domain);
	if (acme_key_auth_value(key_auth, strlen(key_auth), out->value, sizeof(out->value)) != 0)
		return reason(why, whylen, "cannot hash \"keyAuth\"");
	out->raw = true;
	return 0;
}

int
acme_parse_body(const char *text, size_t len, struct acme_body *out, char *why, size_t whylen)
{
	json_error_t jerr;
	json_t *root;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > ACME_BODY_MAX) {
		snprintf(why, whylen, "the body is longer than %d bytes", ACME_BODY_MAX);
		return ERR_TOOBIG;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return reason(why, whylen, "the body is not JSON");
	if (!json_is_object(root))
		rc = reason(why, whylen, "the body is not a JSON object");
	else if (json_object_get(root, "fqdn") != NULL)
		rc = parse_default(root, out, why, whylen);
	else if (json_object_get(root, "domain") != NULL)
		rc = parse_raw(root, out, why, whylen);
	else
		rc = reason(
			why, whylen,
			"expected {\"fqdn\", \"value\"} or {\"domain\", \"token\", \"keyAuth\"}");
	json_decref(root);
	if (rc != 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

int
acme_challenge_host(const char *name, char *host, size_t hostlen)
{
	static const char prefix[] = ACME_LABEL ".";
	char rest[ACME_NAME_MAX + 1];
	size_t n = strnlen(name, sizeof(rest) + sizeof(prefix));
	int rc;

	host[0] = '\0';
	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n <= sizeof(prefix) - 1 || strncasecmp(name, prefix, sizeof(prefix) - 1) != 0)
		return ERR_INVAL;
	n -= sizeof(prefix) - 1;
	if (n >= sizeof(rest))
		return ERR_TOOBIG;
	memcpy(rest, name + sizeof(prefix) - 1, n);
	rest[n] = '\0';
	/* hostname_normalize refuses '_', so a second "_acme-challenge" label cannot
	 * pass; a trailing dot left in `rest` (two in the name) is an empty label. */
	if (n > 0 && rest[n - 1] == '.')
		return ERR_INVAL;
	rc = hostname_normalize(rest, host, hostlen);
	if (rc == 0 && !hostname_is_fqdn(host))
		rc = ERR_INVAL;
	if (rc == 0 && strlen(host) + sizeof(prefix) - 1 > HOSTNAME_MAX)
		rc = ERR_TOOBIG;
	if (rc != 0)
		host[0] = '\0';
	return rc;
}

int
acme_challenge_name(const char *host, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s.%s", ACME_LABEL, host);

	if (n < 0 || (size_t)n >= outlen || (size_t)n > HOSTNAME_MAX)
		return ERR_TOOBIG;
	return 0;
}

int
acme_txt_change(const char *host, const char *zone, enum dns_txt_action a, const char *value,
		int ttl, struct dns_change *out)
{
	int n;

	memset(out, 0, sizeof(*out));
	out->ttl = ttl;
	out->txt = a;
	n = snprintf(out->zone, sizeof(out->zone), "%s", zone);
	if (n < 0 || (size_t)n >= sizeof(out->zone) ||
	    acme_challenge_name(host, out->fqdn, sizeof(out->fqdn)) != 0)
		return ERR_TOOBIG;
	n = snprintf(out->txt_value, sizeof(out->txt_value), "%s", value ? value : "");
	return n < 0 || (size_t)n >= sizeof(out->txt_value) ? ERR_TOOBIG : 0;
}

/* base64url without padding (RFC 4648 section 5) of `len` bytes; `out` has room. */
static void
base64url(const unsigned char *in, size_t len, char *out)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		size_t left = len - i;

		if (left > 1)
			v |= (uint32_t)in[i + 1] << 8;
		if (left > 2)
			v |= in[i + 2];
		out[o++] = abc[(v >> 18) & 63];
		out[o++] = abc[(v >> 12) & 63];
		if (left > 1)
			out[o++] = abc[(v >> 6) & 63];
		if (left > 2)
			out[o++] = abc[v & 63];
	}
	out[o] = '\0';
}

int
acme_key_auth_value(const char *key_auth, size_t len, char *out, size_t outlen)
{
	unsigned char digest[SHA256_LEN];

	if (outlen < (SHA256_LEN * 4 + 2) / 3 + 1)
		return ERR_TOOBIG;
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, key_auth, len, digest) < 0)
		return ERR_CRYPTO;
	base64url(digest, sizeof(digest), out);
	return 0;
}
