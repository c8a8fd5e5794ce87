#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks the systemd unit: `systemd-analyze verify` passes and the sandbox's exposure
# (`systemd-analyze security --offline=yes`) is at most MAX_EXPOSURE.
# usage: check_systemd_unit.sh UNIT BINARY MANPAGE
#
# verify resolves ExecStart= and Documentation=man:; on a build machine the binary is
# not in /usr/bin and the page not in the man path, so a copy of the unit in a
# temporary directory points ExecStart= at BINARY and MANPATH at a copy of MANPAGE.
# Nothing else of the unit changes.
set -eu
MAX_EXPOSURE=2.0
unit=$1 bin=$2 page=$3

command -v systemd-analyze >/dev/null || { echo "SKIP: no systemd-analyze"; exit 77; }
[ -x "$bin" ] || { echo "FAIL: $bin is not executable"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/man/man8"
cp "$page" "$tmp/man/man8/ddns-service.8"

grep -q '^ExecStart=/usr/bin/ddns-service --daemon$' "$unit" ||
	{ echo "FAIL: ExecStart is not /usr/bin/ddns-service --daemon"; exit 1; }
sed "s|^ExecStart=/usr/bin/ddns-service |ExecStart=$bin |" "$unit" >"$tmp/ddns-service.service"

if ! MANPATH="$tmp/man" systemd-analyze verify "$tmp/ddns-service.service" >"$tmp/verify.out" 2>&1 ||
	[ -s "$tmp/verify.out" ]; then
	echo "FAIL: systemd-analyze verify:"
	cat "$tmp/verify.out"
	exit 1
fi
echo "ok: systemd-analyze verify"

systemd-analyze security --offline=yes "$unit" >"$tmp/security.out" 2>&1 || {
	echo "FAIL: systemd-analyze security:"
	cat "$tmp/security.out"
	exit 1
}
score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$tmp/security.out")
[ -n "$score" ] || { echo "FAIL: no exposure score in:"; cat "$tmp/security.out"; exit 1; }
if awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s + 0 <= m + 0) }'; then
	echo "ok: exposure $score <= $MAX_EXPOSURE"
else
	echo "FAIL: exposure $score > $MAX_EXPOSURE:"
	cat "$tmp/security.out"
	exit 1
fi

# The settings the README and the daemon rely on, present as written ($MAINPID is
# systemd's, not ours).
# shellcheck disable=SC2016
for want in 'Type=notify' 'User=ddns' 'Group=ddns' 'ExecReload=/bin/kill -HUP $MAINPID' \
	'ProtectSystem=strict' 'ReadWritePaths=/var/lib/ddns-service /var/log/ddns-service' \
	'NoNewPrivileges=yes' 'CapabilityBoundingSet=' 'AmbientCapabilities=' 'UMask=0027' \
	'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' 'SystemCallFilter=@system-service' \
	'LimitNOFILE=65536'; do
	grep -qxF "$want" "$unit" || { echo "FAIL: $unit lacks the line: $want"; exit 1; }
done
echo "ok: required settings"
