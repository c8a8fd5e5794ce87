#!/bin/sh
# SPDX-License-Identifier: MIT
# Install every Debian package that building, running and testing ddns-service needs.
# Idempotent: it asks apt only for what is missing and runs `apt-get update` only then.
set -eu

BUILD="gcc clang meson ninja-build pkg-config clang-format libfuzzer-14-dev
libsqlite3-dev libargon2-dev libidn2-dev libjansson-dev libmicrohttpd-dev libldns-dev
libgnutls28-dev libcurl4-openssl-dev libmariadb-dev libssl-dev libsystemd-dev"
RUN="bind9 bind9-utils bind9-dnsutils openssl curl sqlite3"
TEST="python3 python3-pytest python3-dnspython python3-jinja2 python3-argon2
python3-aiosmtpd ddclient libio-socket-ssl-perl inadyn wget mariadb-server
knot pdns-server pdns-backend-sqlite3
mariadb-client galera-4 rsync valgrind wrk mandoc shellcheck systemd prometheus
debhelper dpkg-dev build-essential lintian adduser ucf pebble lego certbot"

# galera-4, rsync: the three-node cluster of tests/galera (rsync does its state transfers).
# prometheus: promtool and a real server for tests/integration/test_metrics.py, which
# starts its own on a free port (the packaged service is not used).
case "${1:-all}" in
run) WANT="$BUILD $RUN" ;;
*) WANT="$BUILD $RUN $TEST" ;;
esac

missing=""
for p in $WANT; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "setup-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
