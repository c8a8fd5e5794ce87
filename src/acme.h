/* SPDX-License-Identifier: MIT */
/* The ACME DNS-01 API of lego's "httpreq" provider, free of I/O: routes, the JSON body
 * (default and RAW mode), the challenge name → the host it belongs to, and the TXT
 * value rules. acme_service.h carries a request out. */
#ifndef ACME_H
#define ACME_H

#include <stdbool.h>
#include <stddef.h>

#include "dns.h"
#include "hostname.h"

#define ACME_BODY_MAX	 4096 /* bytes of a request body we accept (lego sends ~100) */
#define ACME_NAME_MAX	 1024 /* bytes of a name as sent (UTF-8 before IDN conversion) */
#define ACME_VALUE_MAX	 255  /* bytes of a TXT value: one DNS character-string */
#define ACME_KEYAUTH_MAX 1024 /* bytes of a RAW mode key authorization (token.thumbprint) */
#define ACME_LABEL	 "_acme-challenge" /* RFC 8555 8.4 */
/* TXT values one host may hold at once: a certificate for a name and its wildcard needs
 * two; the bound keeps a user from filling the zone with values. */
#define ACME_HOST_VALUES_MAX 10

enum acme_op { ACME_OP_NONE = 0, ACME_OP_PRESENT, ACME_OP_CLEANUP };

/* acme_op_name: "present", "cleanup" (NULL for ACME_OP_NONE). */
const char *acme_op_name(enum acme_op op);

/* acme_route: which operation the URL path `url` names under the configured base `path`
 * ([acme] path): <path>/present or <path>/cleanup, trailing slashes of `path` ignored
 * (so "/acme" and "/acme/" both serve /acme/present, as lego's path.Join builds it, and
 * "/" serves /present). ACME_OP_NONE for anything else. */
enum acme_op acme_route(const char *path, const char *url);

/* A request body. */
struct acme_body {
	/* The challenge name: "fqdn" as sent (default mode), or "_acme-challenge." and
	 * the "domain" (RAW mode, a leading "*." dropped). Not yet checked. */
	char name[ACME_NAME_MAX + sizeof(ACME_LABEL) + 1];
	/* The TXT value: "value" (default mode) or base64url(SHA-256(keyAuth)) (RAW mode,
	 * RFC 8555 8.4). Always acme_value_is_valid. */
	char value[ACME_VALUE_MAX + 1];
	bool raw; /* the body was lego's RAW mode */
};

/* acme_parse_body: `text` (`len` bytes, not NUL-terminated) as lego sends it:
 *   default mode: {"fqdn": "_acme-challenge.home.dyn.example.com.", "value": "..."}
 *   RAW mode:     {"domain": "home.dyn.example.com", "token": "...", "keyAuth": "..."}
 * A body with "fqdn" is default mode, else one with "domain" is RAW mode; other members
 * are ignored ("token" is not needed: the key authorization contains it). Members must
 * be strings without NUL; names at most ACME_NAME_MAX bytes. Returns 0 and *out;
 * ERR_TOOBIG past ACME_BODY_MAX; ERR_INVAL with the reason in `why` (for the client,
 * without echoing its input) for anything else, including a value that is not
 * acme_value_is_valid; ERR_NOMEM. */
int acme_parse_body(const char *text, size_t len, struct acme_body *out, char *why, size_t whylen);

/* acme_value_is_valid: 1..ACME_VALUE_MAX printable ASCII characters (0x20..0x7e)
 * except '"' and '\\' (an ACME value is 43 characters of base64url). NULL → false. */
bool acme_value_is_valid(const char *v);

/* acme_challenge_host: the host a challenge name belongs to: `name` must be
 * "_acme-challenge." (any case) followed by a host name of at least two labels (IDN and
 * case as elsewhere: hostname_normalize), one trailing dot allowed. Writes the host's
 * normalized fqdn ("home.dyn.example.com") into `host` (at least HOSTNAME_MAX + 1
 * bytes). Returns 0; ERR_INVAL for any other name; ERR_TOOBIG when the challenge name
 * would exceed HOSTNAME_MAX. */
int acme_challenge_host(const char *name, char *host, size_t hostlen);

/* acme_challenge_name: "_acme-challenge." + host into `out` (HOSTNAME_MAX + 1 bytes):
 * the owner name of the host's TXT records. ERR_TOOBIG when too long. */
int acme_challenge_name(const char *host, char *out, size_t outlen);

/* acme_txt_change: the DNS change of one challenge value of the host `host` (its fqdn)
 * in `zone`: action `a` on the TXT records of "_acme-challenge.<host>", `value` (NULL
 * for DNS_TXT_CLEAR), added with `ttl`. Returns 0, ERR_TOOBIG (name or value too long). */
int acme_txt_change(const char *host, const char *zone, enum dns_txt_action a, const char *value,
		    int ttl, struct dns_change *out);

/* acme_key_auth_value: the TXT value of a key authorization (RFC 8555 8.4):
 * base64url without padding of its SHA-256, 43 characters, into `out` (at least 44
 * bytes). Returns 0, ERR_TOOBIG (out too small), ERR_CRYPTO. */
int acme_key_auth_value(const char *key_auth, size_t len, char *out, size_t outlen);

#endif
