/* SPDX-License-Identifier: MIT */
/* RFC 2136 dynamic updates of A/AAAA RRsets and of single TXT records, TSIG-signed (every
 * tsig-keygen algorithm), UDP with TCP fallback, the reply's TSIG verified, the whole
 * exchange time-bounded. Thread-safe: each call uses its own sockets. */
#ifndef DNS_H
#define DNS_H

#include <stddef.h>

#include "addr.h"
#include "hostname.h"
#include "tsig.h"

struct dns_server {
	char addr[ADDR_STRLEN]; /* the server's IP address */
	int port;
	int timeout_ms; /* bounds the whole exchange, retries and TCP included */
};

enum dns_action {
	DNS_KEEP = 0, /* leave this family's RRset alone */
	DNS_SET,      /* delete the RRset, add one record with `ttl` */
	DNS_DELETE    /* delete the RRset */
};

/* The TXT records of a name change one record at a time, so that the values of several
 * writers coexist (an ACME client validating a name and its wildcard publishes two
 * values at the same owner name, and removes each on its own). */
enum dns_txt_action {
	DNS_TXT_KEEP = 0, /* leave the TXT RRset alone */
	DNS_TXT_ADD,	  /* add the record `txt_value` with `ttl`, others stay (RFC 2136 2.5.1) */
	DNS_TXT_REMOVE,	  /* delete the one record `txt_value`, others stay (2.5.4) */
	DNS_TXT_CLEAR	  /* delete the whole TXT RRset (2.5.2) */
};

#define DNS_TXT_MAX 255 /* bytes of one TXT value: one <character-string> (RFC 1035 3.3) */

/* One UPDATE message: both address families and the TXT records of one name in one
 * zone. `ttl` applies to what is added (DNS_SET, DNS_TXT_ADD). */
struct dns_change {
	char fqdn[HOSTNAME_MAX + 1]; /* A-label, no trailing dot; '_' allowed (_acme-challenge) */
	char zone[HOSTNAME_MAX + 1];
	int ttl;
	enum dns_action v4, v6;
	char ipv4[ADDR_STRLEN]; /* for DNS_SET */
	char ipv6[ADDR_STRLEN];
	enum dns_txt_action txt;
	/* For DNS_TXT_ADD and DNS_TXT_REMOVE: 1..DNS_TXT_MAX printable ASCII bytes (0x20
	 * to 0x7e), sent as one character-string; compared byte for byte by the server. */
	char txt_value[DNS_TXT_MAX + 1];
};

struct dns_result {
	int rcode;	/* DNS rcode of the reply (0 NOERROR), -1 when there was none */
	int tsig_error; /* TSIG error field of the reply (16 BADSIG, 17 BADKEY...), 0 if none */
	char msg[200];	/* human-readable reason on failure, for the log */
};

/* dns_update: sends one UPDATE for `ch` to `srv`, signed with `key` (NULL = unsigned),
 * and waits for the reply. Returns 0 only for a NOERROR reply whose TSIG verified;
 * ERR_TIMEOUT, ERR_IO (network), ERR_CRYPTO (reply TSIG bogus), ERR_DNS (rcode != 0),
 * ERR_INVAL (bad change, or one with nothing to do). `res` is filled in every case.
 * Error replies the server could not sign (BADSIG/BADKEY with an empty MAC, PowerDNS's
 * unsigned REFUSED) are ERR_DNS with rcode/tsig_error set: they can only make an update
 * fail, never succeed. res->msg reads e.g. "REFUSED from 127.0.0.1:53", "NOTAUTH (BADSIG) from
 * [::1]:53", "timeout after 2000 ms talking to 127.0.0.1:5300 (udp)". */
int dns_update(const struct dns_server *srv, const struct tsig_key *key,
	       const struct dns_change *ch, struct dns_result *res);

#endif
