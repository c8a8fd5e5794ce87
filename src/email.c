/* SPDX-License-Identifier: MIT */
/* The one e-mail address rule: a plain local@domain, safe in SMTP envelopes and headers. */
#include "email.h"

#include <stddef.h>
#include <string.h>

/* RFC 5322 atext without '%' and '!' (old source routing through relays). */
static bool
is_local_char(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("#$&'*+-/=?^_`{|}~.", c) != NULL;
}

static bool
is_ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-';
}

/* A dot-atom: atext runs joined by single dots. */
static bool
is_local_part_valid(const char *s, size_t len)
{
	if (len == 0 || len > EMAIL_LOCAL_MAX || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!is_local_char((unsigned char)s[i]))
			return false;
		if (s[i] == '.' && s[i + 1] == '.')
			return false;
	}
	return true;
}

bool
email_domain_is_valid(const char *s)
{
	size_t label = 0;

	if (*s == '\0')
		return false;
	for (const char *p = s;; p++) {
		if (*p == '.' || *p == '\0') {
			if (label == 0 || p[-1] == '-' || p[-label] == '-')
				return false;
			if (*p == '\0')
				return true;
			label = 0;
			continue;
		}
		if (!is_ldh((unsigned char)*p) || ++label > EMAIL_LABEL_MAX)
			return false;
	}
}

bool
email_address_is_valid(const char *addr)
{
	const char *at;

	if (!addr || strnlen(addr, EMAIL_ADDRESS_MAX + 1) > EMAIL_ADDRESS_MAX)
		return false;
	at = strchr(addr, '@');
	if (!at || strchr(at + 1, '@'))
		return false;
	return is_local_part_valid(addr, (size_t)(at - addr)) && email_domain_is_valid(at + 1);
}
