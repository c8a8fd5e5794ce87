/* SPDX-License-Identifier: MIT */
/* Host names as the DNS sees them: Unicode to A-labels with libidn2, then strict LDH checks. */
#include "hostname.h"

#include <idn2.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

/* Bytes of input we hand to libidn2. A 253-octet A-label name can come from a longer
 * UTF-8 U-label name (up to 4 bytes per code point), never from more than this. */
#define HOSTNAME_INPUT_MAX 1024

static bool
is_ldh(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-';
}

static char
to_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Checks one label s[0..len): 1..63 LDH octets, no hyphen at either end. */
static int
check_label(const char *s, size_t len)
{
	if (len == 0)
		return ERR_INVAL;
	if (len > HOSTNAME_LABEL_MAX)
		return ERR_TOOBIG;
	if (s[0] == '-' || s[len - 1] == '-')
		return ERR_INVAL;
	for (size_t i = 0; i < len; i++)
		if (!is_ldh(s[i]))
			return ERR_INVAL;
	return 0;
}

/* Validates an ASCII name (no trailing dot) label by label and copies it lower-cased. */
static int
check_and_copy(const char *name, char *out, size_t outlen)
{
	size_t len = strlen(name), start = 0;
	int rc;

	if (len == 0)
		return ERR_INVAL;
	if (len > HOSTNAME_MAX || len >= outlen)
		return ERR_TOOBIG;
	for (size_t i = 0; i <= len; i++) {
		if (name[i] != '.' && name[i] != '\0')
			continue;
		if ((rc = check_label(name + start, i - start)) != 0)
			return rc;
		start = i + 1;
	}
	for (size_t i = 0; i <= len; i++)
		out[i] = to_lower(name[i]);
	return 0;
}

static int
idn2_err(int rc)
{
	if (rc == IDN2_MALLOC)
		return ERR_NOMEM;
	if (rc == IDN2_TOO_BIG_DOMAIN || rc == IDN2_TOO_BIG_LABEL || rc == IDN2_PUNYCODE_BIG_OUTPUT)
		return ERR_TOOBIG;
	return ERR_INVAL;
}

/* libidn2 does the IDNA2008 + UTS#46 work (mapping, NFC, punycode, bidi and
 * context rules, the "--" in positions 3-4 rule); it lets through what the LDH check
 * below then refuses (underscores, spaces, empty labels, "*"). Non-transitional
 * processing keeps "ß" as "ß" (xn--fa-hia), as browsers and registries do today. */
int
hostname_normalize(const char *in, char *out, size_t outlen)
{
	char copy[HOSTNAME_INPUT_MAX + 1];
	char *alabel = NULL;
	size_t len;
	int rc;

	if (!in || !out || outlen == 0)
		return ERR_INVAL;
	out[0] = '\0';
	len = strnlen(in, HOSTNAME_INPUT_MAX + 1);
	if (len > HOSTNAME_INPUT_MAX)
		return ERR_TOOBIG;
	memcpy(copy, in, len + 1);
	if (len > 0 && copy[len - 1] == '.')
		copy[--len] = '\0';
	if (len == 0 || copy[len - 1] == '.')
		return ERR_INVAL;
	rc = idn2_to_ascii_8z(copy, &alabel, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
	if (rc != IDN2_OK)
		return idn2_err(rc);
	rc = check_and_copy(alabel, out, outlen);
	idn2_free(alabel);
	if (rc != 0)
		out[0] = '\0';
	return rc;
}

bool
hostname_is_fqdn(const char *name)
{
	const char *dot;

	if (!name || name[0] == '\0')
		return false;
	dot = strchr(name, '.');
	return dot && dot != name && dot[1] != '\0';
}

int
hostname_join(const char *host, const char *zone, char *out, size_t outlen)
{
	size_t hl, zl;

	if (!host || !zone || !out || outlen == 0)
		return ERR_INVAL;
	out[0] = '\0';
	hl = strnlen(host, HOSTNAME_MAX + 1);
	zl = strnlen(zone, HOSTNAME_MAX + 1);
	if (hl == 0 || zl == 0)
		return ERR_INVAL;
	if (hl + 1 + zl > HOSTNAME_MAX || hl + 1 + zl >= outlen)
		return ERR_TOOBIG;
	memcpy(out, host, hl);
	out[hl] = '.';
	memcpy(out + hl + 1, zone, zl);
	out[hl + 1 + zl] = '\0';
	return 0;
}

/* Display only: a name that libidn2 cannot decode is shown as it is stored. */
int
hostname_to_unicode(const char *alabel, char *out, size_t outlen)
{
	char *u = NULL;
	const char *src;
	size_t len;

	if (!alabel || !out || outlen == 0)
		return ERR_INVAL;
	src = alabel;
	if (idn2_to_unicode_8z8z(alabel, &u, 0) == IDN2_OK && u)
		src = u;
	len = strlen(src);
	if (len >= outlen) {
		idn2_free(u);
		out[0] = '\0';
		return ERR_TOOBIG;
	}
	memcpy(out, src, len + 1);
	idn2_free(u);
	return 0;
}
