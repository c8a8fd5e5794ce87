#!/bin/sh
# SPDX-License-Identifier: MIT
# `ddns-service --version` names the version and the features this build has, as
# build_config.h records them.
# usage: check_version.sh BINARY BUILD_CONFIG_H VERSION
set -eu
bin=$1 conf=$2 version=$3

out=$("$bin" --version) || { echo "FAIL: --version exited $?"; exit 1; }
printf '%s\n' "$out"
fail() { echo "FAIL: $*"; exit 1; }
printf '%s\n' "$out" | head -n 1 | grep -qx "ddns-service $version" || fail "first line"
printf '%s\n' "$out" | grep -q '^database backends: sqlite' || fail "backends"
printf '%s\n' "$out" | grep -q '^TLS: yes' || fail "TLS"
case $(sed -n 's/^#define HAVE_SYSTEMD \([01]\)$/\1/p' "$conf") in
1) want="systemd notify: yes" ;;
0) want="systemd notify: no" ;;
*) fail "HAVE_SYSTEMD not in $conf" ;;
esac
printf '%s\n' "$out" | grep -qx "$want" || fail "expected '$want'"
case $(sed -n 's/^#define HAVE_MARIADB \([01]\)$/\1/p' "$conf") in
1) printf '%s\n' "$out" | grep -qx "database backends: sqlite, mariadb" || fail "mariadb not listed" ;;
*) printf '%s\n' "$out" | grep -q 'mariadb' && fail "mariadb listed but not built" ;;
esac
# -V is the short form, and --version wins over a missing mode.
[ "$("$bin" -V)" = "$out" ] || fail "-V differs from --version"
echo "ok: version and features"
