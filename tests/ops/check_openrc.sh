#!/bin/sh
# SPDX-License-Identifier: MIT
# Checks the OpenRC service script and its conf.d file: they parse (`sh -n`), the
# linter (shellcheck -s sh) finds nothing, and they say what the README promises (supervised daemon as
# ddns:ddns, needs net, reload by SIGHUP). Also lints this directory's scripts.
# usage: check_openrc.sh INITD CONFD [SCRIPT...]
set -eu
initd=$1 confd=$2
shift 2

command -v shellcheck >/dev/null || { echo "SKIP: no shellcheck"; exit 77; }
for f in "$initd" "$confd" "$@"; do
	sh -n "$f" || { echo "FAIL: sh -n $f"; exit 1; }
done
echo "ok: sh -n"
shellcheck -s sh "$initd" "$confd" "$@" || { echo "FAIL: shellcheck"; exit 1; }
echo "ok: shellcheck -s sh"

head -n 1 "$initd" | grep -qx '#!/sbin/openrc-run' || { echo "FAIL: shebang"; exit 1; }
# The patterns are the script's own text, variables unexpanded.
# shellcheck disable=SC2016
for want in 'command="/usr/bin/ddns-service"' 'command_user="${DDNS_SERVICE_USER}:${DDNS_SERVICE_GROUP}"' \
	': "${DDNS_SERVICE_USER:=ddns}"' ': "${DDNS_SERVICE_GROUP:=ddns}"' 'need net' \
	'supervisor="supervise-daemon"' '--signal HUP' 'extra_started_commands="reload"' \
	': "${rc_ulimit:=-n 65536}"'; do
	grep -qF -- "$want" "$initd" || { echo "FAIL: $initd lacks: $want"; exit 1; }
done
grep -q -- '--daemon' "$initd" || { echo "FAIL: not started with --daemon"; exit 1; }
echo "ok: user, dependency, reload"
