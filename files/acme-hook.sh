#!/bin/sh
# SPDX-License-Identifier: MIT
# ACME DNS-01 hook for certbot and dehydrated: publishes the challenge of a host you own
# through ddns-service's ACME API (lego's "httpreq" protocol) with your ddns-service
# user name and password, so a TLS certificate (wildcard included) for a dynamic name
# needs no TSIG key. Needs curl.
#
# certbot:
#   certbot certonly --manual --preferred-challenges dns \
#     --manual-auth-hook '/usr/local/bin/acme-hook.sh present' \
#     --manual-cleanup-hook '/usr/local/bin/acme-hook.sh cleanup' \
#     -d home.dyn.example.com -d '*.home.dyn.example.com'
# dehydrated (config): CHALLENGETYPE="dns-01" and HOOK=/usr/local/bin/acme-hook.sh
#
# Settings come from the environment or, for what the environment leaves unset, from
# KEY=value lines (no quotes) in the file $DDNS_ACME_CONFIG (default
# /etc/ddns-acme-hook.conf; keep it mode 600, it holds the password):
#   DDNS_ACME_URL       the API, e.g. https://ddns.example.com/acme ([acme] path)
#   DDNS_ACME_USER      the ddns-service user who owns the host
#   DDNS_ACME_PASSWORD  the user's password
#   DDNS_ACME_CACERT    optional: a CA file for a server certificate no public CA signed
#   DDNS_ACME_WAIT      optional: seconds to wait after publishing (secondary servers)
# Exit status: 0 done, 1 the server refused or failed (its answer is printed), 2 usage.
set -eu

die() {
	echo "acme-hook: $2" >&2
	exit "$1"
}

# setting NAME: NAME from the environment, else from the configuration file.
setting() {
	eval "v=\${$1:-}"
	if [ -z "$v" ] && [ -r "$conf" ]; then
		v=$(sed -n "s/^$1=//p" "$conf" | tail -n 1)
	fi
	printf '%s' "$v"
}

# A value for a double-quoted string of curl's config syntax.
quote() {
	printf '%s' "$1" | sed 's/[\\"]/\\&/g'
}

# post OPERATION DOMAIN VALUE: one request to <url>/present or <url>/cleanup. The
# credentials reach curl on its standard input, never on a command line.
post() {
	domain=${2#\*.}
	case $domain in "" | *[!A-Za-z0-9.-]*) die 2 "not a domain name: $2" ;; esac
	case $3 in "" | *[!A-Za-z0-9_-]*) die 2 "not an ACME challenge value: $3" ;; esac
	body=$(printf '{"fqdn": "_acme-challenge.%s.", "value": "%s"}' "${domain%.}" "$3")
	set -- "$1" -sS --fail-with-body --max-time 30 -K - -H 'Content-Type: application/json' \
		--data-binary "$body"
	if [ -n "$cacert" ]; then
		set -- "$@" --cacert "$cacert"
	fi
	what=$1
	shift
	printf 'user = "%s:%s"\n' "$(quote "$user")" "$(quote "$password")" |
		curl "$@" "$url/$what" || die 1 "$what for $domain failed"
}

conf=${DDNS_ACME_CONFIG:-/etc/ddns-acme-hook.conf}
url=$(setting DDNS_ACME_URL)
url=${url%/}
user=$(setting DDNS_ACME_USER)
password=$(setting DDNS_ACME_PASSWORD)
cacert=$(setting DDNS_ACME_CACERT)
wait=$(setting DDNS_ACME_WAIT)

case ${1:-} in
present | cleanup)
	if [ -z "${CERTBOT_DOMAIN:-}" ] || [ -z "${CERTBOT_VALIDATION:-}" ]; then
		die 2 "$1: CERTBOT_DOMAIN and CERTBOT_VALIDATION are not set (run by certbot?)"
	fi
	op=$1
	set -- "$CERTBOT_DOMAIN" x "$CERTBOT_VALIDATION"
	;;
deploy_challenge | clean_challenge)
	# dehydrated: DOMAIN TOKEN_FILENAME TOKEN_VALUE, repeated with HOOK_CHAIN=yes.
	op=present
	[ "$1" = deploy_challenge ] || op=cleanup
	shift
	;;
*_*)
	exit 0 # another of dehydrated's hooks: nothing to do for DNS-01
	;;
*)
	die 2 "usage: acme-hook.sh present|cleanup (certbot), or as dehydrated's HOOK"
	;;
esac
if [ -z "$url" ] || [ -z "$user" ] || [ -z "$password" ]; then
	die 2 "set DDNS_ACME_URL, DDNS_ACME_USER and DDNS_ACME_PASSWORD (environment or $conf)"
fi
while [ $# -ge 3 ]; do
	post "$op" "$1" "$3"
	shift 3
done
if [ "$op" = present ] && [ -n "$wait" ]; then
	sleep "$wait"
fi
