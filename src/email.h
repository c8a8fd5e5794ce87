/* SPDX-License-Identifier: MIT */
/* The one rule for an e-mail address, shared by the config, the command line and the mailer. */
#ifndef EMAIL_H
#define EMAIL_H

#include <stdbool.h>

#define EMAIL_ADDRESS_MAX 254 /* RFC 5321's 256-byte path minus the angle brackets */
#define EMAIL_LOCAL_MAX	  64  /* RFC 5321 4.5.3.1.1 */
#define EMAIL_LABEL_MAX	  63  /* RFC 1035 2.3.4 */

/*
 * email_address_is_valid: whether `addr` is an address we accept as a user's address
 * (`user add`, `user email`), as [email] from_address and as a mail's sender or
 * recipient. It is a bare addr-spec `local@domain` that goes into an SMTP envelope and a
 * mail header as it is, with nothing to quote or escape:
 *  - at most EMAIL_ADDRESS_MAX bytes of printable ASCII: no space, control character or
 *    non-ASCII byte (an address in UTF-8 would need SMTPUTF8);
 *  - exactly one '@', with a non-empty local part before it and a domain after it;
 *  - the local part is a dot-atom of at most EMAIL_LOCAL_MAX bytes: letters, digits and
 *    # $ & ' * + - / = ? ^ _ ` { | } ~ with single dots between them (not first, not
 *    last, never two in a row). RFC 5322 also allows '%' and '!', which only old
 *    source-routing relays give a meaning; we refuse them. So no quotes, angle
 *    brackets, commas, parentheses, semicolons, colons, backslashes or square brackets,
 *    and no quoted local part;
 *  - the domain is one or more dot-separated labels of 1 to EMAIL_LABEL_MAX letters,
 *    digits and hyphens, a label not starting or ending with a hyphen (so no leading,
 *    trailing or double dot). One label is enough: `root@localhost` is a legitimate
 *    recipient on a mail server. An internationalised domain is written in its ASCII
 *    form (xn--...); address literals such as [192.0.2.1] are refused.
 * Letter case is kept and not interpreted. NULL is not an address.
 */
bool email_address_is_valid(const char *addr);

/* email_domain_is_valid: the domain half of the rule above: dot-separated labels of 1 to
 * EMAIL_LABEL_MAX letters, digits and hyphens, none starting or ending with a hyphen
 * (also what the mailer accepts as its own host name in EHLO). */
bool email_domain_is_valid(const char *domain);

#endif
