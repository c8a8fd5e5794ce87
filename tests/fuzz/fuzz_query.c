/* SPDX-License-Identifier: MIT */
/* libFuzzer target: request parameters through IP detection, host splitting and the proxy walk. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "update.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Completes the IPv6 value with an interface identifier, as update_decide does. */
static void
host_v6(const struct update_addrs *want)
{
	struct db_host row;
	struct addr a;
	char why[UPDATE_WHY_MAX];

	memset(&row, 0, sizeof(row));
	if (update_host_v6(want, &row, &a, why, sizeof(why)) == 0 && a.family != AF_INET6)
		abort();
	snprintf(row.ipv6_iid, sizeof(row.ipv6_iid), "::1234:5678:9abc:def0");
	if (update_host_v6(want, &row, &a, why, sizeof(why)) == 0 && a.family != AF_INET6)
		abort();
}

/* Input: two parameter values separated by the first newline or NUL. The first is the
 * hostname list and an ipv4 value; the second an ipv6 value and the proxy header. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct update_host hosts[UPDATE_MAX_HOSTS];
	struct update_addrs want;
	struct addr peer, client;
	struct cidr trusted[2];
	char *p1 = malloc(size + 2), *p2;
	size_t cut = 0, n;

	if (!p1)
		return 0;
	while (cut < size && data[cut] != '\n' && data[cut] != '\0')
		cut++;
	memcpy(p1, data, size);
	p1[size] = p1[size + 1] = '\0';
	p1[cut] = '\0';
	p2 = p1 + cut + 1;
	cidr_parse("10.0.0.0/8", &trusted[0]);
	cidr_parse("2001:db8:ffff::/48", &trusted[1]);
	addr_parse("10.0.0.1", &peer);
	if (addr_client_from_header(&peer, p2, trusted, 2, &client) != 0)
		abort();
	/* The last byte's low bit picks [daemon] allow_private_addresses. */
	if (update_detect_addrs(p1, p2, &client, size > 0 && (data[size - 1] & 1), &want) == 0) {
		if (!want.has_v4 && !want.has_v6)
			abort();
		if (want.has_v6)
			host_v6(&want);
	}
	if (update_split_hosts(p1, hosts, UPDATE_MAX_HOSTS, &n) == 0 &&
	    (n == 0 || n > UPDATE_MAX_HOSTS))
		abort();
	free(p1);
	return 0;
}
