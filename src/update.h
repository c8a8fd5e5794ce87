/* SPDX-License-Identifier: MIT */
/* The DynDNS protocol decision, free of I/O: which hosts a request names, which
 * addresses it means, and per host good / nochg / nohost / notfqdn / badip / numhost
 * together with the DNS change and the database writes that follow. */
#ifndef UPDATE_H
#define UPDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "addr.h"
#include "buf.h"
#include "db.h"
#include "dns.h"

#define UPDATE_MAX_HOSTS 20   /* hostnames per request; more → numhost */
#define UPDATE_MAX_PARAM 4096 /* bytes of one parameter value we look at */
#define UPDATE_WHY_MAX	 768  /* bytes of the reason given with a badip, for the log */

enum update_status {
	UPDATE_GOOD,
	UPDATE_NOCHG,
	UPDATE_BADAUTH,
	UPDATE_NOHOST,
	UPDATE_NOTFQDN,
	UPDATE_BADIP,
	UPDATE_NUMHOST,
	UPDATE_DNSERR,
	UPDATE_ABUSE,
	UPDATE_911
};

/* update_status_str: the DynDNS return code ("good", "nochg", "badauth", ..., "911"). */
const char *update_status_str(enum update_status s);

/* What a request asks for: the addresses to publish (or, with `offline`, to withdraw
 * the host's records), and the rule they are judged by. A zeroed struct plus the
 * addresses is a plain request under today's defaults. */
struct update_addrs {
	bool has_v4, has_v6;
	struct addr v4, v6;
	/* The IPv6 value carried "/v6_plen" (a router's prefix, e.g. FritzBox's
	 * <ip6lanprefix>): each host completes it with its interface identifier
	 * (update_host_v6). v6 is the value as sent, host bits included. */
	bool v6_has_plen;
	int v6_plen;
	/* Refuse local-only addresses too (addr_classify ADDR_USE_LOCAL): [daemon]
	 * allow_private_addresses = false. Addresses that are never a host's are refused
	 * whatever this says. */
	bool public_only;
	/* offline=YES: delete the host's A and AAAA records instead (the addresses are
	 * not looked at). */
	bool offline;
	char why[UPDATE_WHY_MAX]; /* after a failure of update_detect_addrs: the reason */
};

/* update_detect_addrs: IP detection (SPEC §5). `ipv4_param`/`ipv6_param` are the raw
 * values of the ipv4/ipv6 parameters, NULL when absent. Each may be a comma list; every
 * item goes to its own family whatever parameter carried it; empty values and items are
 * ignored; IPv4-mapped IPv6 counts as IPv4. A "/nn" suffix (0..32 on IPv4, 0..128 on
 * IPv6) is dropped from an IPv4 value and kept with an IPv6 value (v6_has_plen,
 * v6_plen). When no address results, `client` (the peer after proxy handling) is used.
 *
 * Every address is judged by addr_classify: ADDR_USE_NEVER (unspecified, 0/8, the
 * limited broadcast, multicast) is refused; ADDR_USE_LOCAL too when `public_only`
 * (recorded in out->public_only for update_decide, which judges combined addresses).
 * Returns 0, or ERR_INVAL when an item is not an address, one family gets two
 * different values (an IPv6 value with and one without the same /nn differ), or an
 * address is refused (→ badip); then out has no family and out->why the reason
 * (never the raw input). */
int update_detect_addrs(const char *ipv4_param, const char *ipv6_param, const struct addr *client,
			bool public_only, struct update_addrs *out);

/* One hostname named by a request. */
struct update_host {
	char fqdn[HOSTNAME_MAX + 1]; /* normalized A-label form; "" when invalid */
	enum update_status status;   /* UPDATE_NOTFQDN when invalid, else UPDATE_GOOD (pending) */
};

/* update_names_hosts: whether the hostname parameter names at least one host (a
 * non-blank item). A request that names none updates the account's only host. */
bool update_names_hosts(const char *param);

/* update_split_hosts: splits the hostname parameter (comma-separated, possibly
 * Unicode) into out[0..*len). A missing/empty parameter gives one UPDATE_NOTFQDN
 * entry. Returns 0, or ERR_TOOBIG when more than `max` names (→ numhost). */
int update_split_hosts(const char *param, struct update_host *out, size_t max, size_t *len);

/* What to do for one host. */
struct update_plan {
	enum update_status status;   /* GOOD: DNS change needed; NOCHG: none; NOHOST; BADIP */
	struct dns_change change;    /* valid when status is GOOD */
	int set_families;	     /* DB_V4|DB_V6 to record after NOERROR (GOOD) */
	int touch_families;	     /* DB_V4|DB_V6 whose update time is refreshed */
	int offline_families;	     /* DB_V4|DB_V6 to record as deleted by offline=YES */
	bool v4_changed, v6_changed; /* an address really changed (for notify_change) */
	/* The addresses of the families the request named, as text for the result
	 * line / JSON ("" for a family it did not name); set for GOOD and NOCHG. For
	 * IPv6 it is the address published: a prefix completed by the identifier. */
	char ipv4[ADDR_STRLEN], ipv6[ADDR_STRLEN];
	char why[UPDATE_WHY_MAX]; /* BADIP: the reason, for the log */
};

/* update_host_v6: the IPv6 address `want` asks to publish for host `row`, whose
 * interface identifier is row->ipv6_iid ("" = none).
 *  - a value without "/nn" is published as it is, identifier or not;
 *  - a value with "/nn" and an identifier: the first nn bits of the value followed by
 *    the last 128 - nn bits of the identifier (addr_combine);
 *  - a value with "/nn" and no identifier: the value itself when it has host bits set
 *    (or nn is 128); a network (nn < 128, host bits all zero) is not a host → error.
 * The result is judged as update_detect_addrs judges (never / public_only).
 * Returns 0 with *out set, or ERR_INVAL with the reason in why[0..len) (a network
 * without identifier: how to set one; a stored identifier that does not parse). */
int update_host_v6(const struct update_addrs *want, const struct db_host *row, struct addr *out,
		   char *why, size_t len);

/* update_host_change: the DNS change of host row `h` with nothing to do yet: its fqdn,
 * zone and dns_ttl, both families DNS_KEEP. Every UPDATE about a host starts here
 * (update_decide, the expiry pass's deletes, the CLI's delete and republish); the
 * caller sets the actions. */
void update_host_change(const struct db_host *h, struct dns_change *out);

/* update_decide: the decision for one host at time `now` (unix time). `row` is the
 * database row for the fqdn or NULL; a row owned by a user other than `user` is nohost.
 * A family whose wanted address equals the stored one and is live needs no DNS write
 * (touch only); a family the request does not name is left alone.
 *
 * The IPv6 address wanted is update_host_v6's for this row; when that fails the host
 * is BADIP (why set) and nothing of it changes, its IPv4 part neither.
 *
 * want->offline: the families that are published (an address, not expired) are
 * deleted: status GOOD, both families DNS_DELETE in the change (deleting a family DNS
 * does not hold is harmless, and no stray record survives), offline_families = those
 * families, for the caller to record with host_set_offline after NOERROR; no family
 * published → NOCHG without any write. No address is reported either way. An offline
 * family is `expired`, so the next update naming it publishes it again (a DNS_SET,
 * vN_changed only when the address differs).
 *
 * Precisely, per family the request names: the stored address equal (as an address,
 * not as text) and the family live — not marked expired and not due at `now`
 * (db_host_due_families) — → touch only (touch_families); otherwise DNS_SET
 * (set_families), and vN_changed only when the stored address is absent or different
 * (an expired or due record re-published with the same address is not a change). A
 * family not named: DNS_KEEP, in neither mask. Status GOOD when set_families is
 * non-zero, else NOCHG. For GOOD the caller records set_families with host_set_addr
 * and touch_families with host_touch only after NOERROR (dnserr leaves the database
 * unchanged); for NOCHG it touches at once.
 *
 * Why a due family is republished: it may already be gone from DNS — an expiry pass
 * may have deleted it and then failed to record that (a database error, or a DNS reply
 * that timed out although the server applied the delete). Deciding `nochg` on it would
 * refresh the row and leave the name missing for good; the DNS write is idempotent. */
void update_decide(const struct update_addrs *want, const struct db_host *row, const char *user,
		   int64_t now, struct update_plan *out);

/* update_format_line: appends one DynDNS result line without newline, e.g.
 * "good 192.0.2.1,2001:db8::1" (addresses for good/nochg only; either may be NULL). */
int update_format_line(struct buf *out, enum update_status s, const char *ipv4, const char *ipv6);

/* update_result_json: one host's result as a new JSON object
 * {"status": "good", "ipv4": "192.0.2.1", "ipv6": null}. As with the text line,
 * addresses appear for good/nochg only; a NULL or "" address is JSON null.
 * Returns a new reference (caller json_decref's it), NULL when allocation fails.
 * Several hosts: append each to a json_array(); serialise with json_dumps. */
json_t *update_result_json(enum update_status s, const char *ipv4, const char *ipv6);

#endif
