#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs ddns-service for real on this machine: a local BIND on 127.0.0.1:5300 with a demo
# zone (dyn.example.com) and TSIG key, a demo config with SQLite under ./demo, a demo
# user and host, and the daemon in the foreground on 127.0.0.1:8443. Ctrl-C stops both.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
D="$ROOT/demo"
DNS_PORT=5300
HTTP_PORT=8443
USER=demo
PASS=demo-password

scripts/setup-deps.sh run
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null
BIN="$ROOT/build/src/ddns-service"

mkdir -p "$D/bind"
chmod 700 "$D"
# A fresh zone each run: stop a leftover named, drop its journal.
if [ -f "$D/bind/named.pid" ]; then kill "$(cat "$D/bind/named.pid")" 2>/dev/null || true; sleep 1; fi
rm -f "$D/bind/"*.jnl
[ -f "$D/bind/demo-key.key" ] || tsig-keygen -a hmac-sha256 demo-key >"$D/bind/demo-key.key"
cat >"$D/bind/dyn.example.com.zone" <<ZONE
\$TTL 300
@   IN SOA ns1.dyn.example.com. hostmaster.dyn.example.com. ( 1 3600 600 86400 60 )
    IN NS  ns1.dyn.example.com.
ns1 IN A   127.0.0.1
ZONE
cat >"$D/bind/named.conf" <<CONF
include "$D/bind/demo-key.key";
options {
	directory "$D/bind";
	pid-file "$D/bind/named.pid";
	session-keyfile "$D/bind/session.key";
	managed-keys-directory "$D/bind";
	listen-on port $DNS_PORT { 127.0.0.1; };
	listen-on-v6 port $DNS_PORT { ::1; };
	recursion no;
	allow-query { any; };
	dnssec-validation no;
	notify no;
};
controls { };
zone "dyn.example.com" { type primary; file "$D/bind/dyn.example.com.zone";
	update-policy { grant demo-key zonesub ANY; }; };
CONF
named -g -c "$D/bind/named.conf" >"$D/bind/named.log" 2>&1 &
NAMED=$!
trap 'kill $NAMED 2>/dev/null; wait $NAMED 2>/dev/null' EXIT INT TERM
i=0
until dig +short +time=1 +tries=1 @127.0.0.1 -p $DNS_PORT dyn.example.com SOA | grep -q ns1; do
	i=$((i + 1)); [ $i -lt 100 ] || { cat "$D/bind/named.log"; exit 1; }
	sleep 0.1
done

cat >"$D/config.toml" <<CONF
# Demo configuration written by scripts/demo.sh (see files/config.example.toml).
[daemon]
host = "127.0.0.1"
port = $HTTP_PORT
log_requests = true

[database]
path = "$D/ddns.db"

[dns_service]
dns_server = "127.0.0.1"
dns_port = $DNS_PORT
dns_timeout = 3
ddns_default_key_file = "$D/bind/demo-key.key"

[rate_limit]
good_max_requests = 30
CONF
chmod 600 "$D/config.toml"
export DDNS_SERVICE_CONFIG="$D/config.toml"

"$BIN" --init-db
"$BIN" user list --json | grep -q "\"$USER\"" || printf '%s\n' "$PASS" | "$BIN" user add $USER demo@example.com
"$BIN" hostname list --json | grep -q '"home.dyn.example.com"' ||
	"$BIN" hostname add $USER home dyn.example.com --dns-ttl 60 --expiry-ttl 86400

cat <<MSG

ddns-service demo: BIND on 127.0.0.1:$DNS_PORT (zone dyn.example.com), daemon on 127.0.0.1:$HTTP_PORT.
In another terminal, update the record and look at it:

  curl -u "$USER:$PASS" "http://127.0.0.1:$HTTP_PORT/update?hostname=home.dyn.example.com&myip=192.0.2.10"
  dig +short @127.0.0.1 -p $DNS_PORT home.dyn.example.com A

Manage users and hosts with: DDNS_SERVICE_CONFIG=$D/config.toml $BIN --help
Ctrl-C stops the daemon and BIND.

MSG
"$BIN" --daemon
