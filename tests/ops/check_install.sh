#!/bin/sh
# SPDX-License-Identifier: MIT
# `meson install` into a temporary DESTDIR puts the binary, the manual page and the
# example files where the build's prefix/bindir/mandir/datadir say; the installed
# binary runs, the installed page lints clean and the installed unit passes the
# systemd checks (check_systemd_unit.sh) against the installed binary and page.
# usage: check_install.sh MESON BUILDROOT SOURCEROOT PYTHON
set -eu
meson=$1 build=$2 src=$3 py=$4
here=$(dirname "$0")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# The installation directories as configured (absolute prefix, the others relative
# to it unless absolute).
"$meson" introspect --buildoptions "$build" >"$tmp/options.json"
dirs=$("$py" - "$tmp/options.json" <<'PYEOF'
import json, os, sys
opts = {o["name"]: o["value"] for o in json.load(open(sys.argv[1]))}
for name in ("bindir", "mandir", "datadir"):
    print(os.path.join(opts["prefix"], opts[name]))
PYEOF
)
bindir=$(printf '%s\n' "$dirs" | sed -n 1p)
mandir=$(printf '%s\n' "$dirs" | sed -n 2p)
datadir=$(printf '%s\n' "$dirs" | sed -n 3p)

DESTDIR='' "$meson" install -C "$build" --no-rebuild --quiet --destdir "$tmp/root" \
	>"$tmp/install.out" 2>&1 || { cat "$tmp/install.out"; fail "meson install"; }
root=$tmp/root

bin=$root$bindir/ddns-service
page=$root$mandir/man8/ddns-service.8
examples=$root$datadir/doc/ddns-service/examples
[ -x "$bin" ] || fail "no executable $bindir/ddns-service"
"$bin" --version | head -n 1 | grep -q '^ddns-service ' || fail "installed binary does not run"
cmp -s "$page" "$src/man/ddns-service.8" || fail "no $mandir/man8/ddns-service.8"
for f in config.example.toml change_notification.j2 expiry_notification.j2 \
	ddns-service.service ddns-service-openrc.initd ddns-service-openrc.confd ddns-service-alerts.yml \
	acme-hook.sh; do
	cmp -s "$examples/$f" "$src/files/$f" || fail "examples: $f missing or different"
done
echo "ok: installed under $tmp/root$(dirname "$bindir")"
find "$root" -type f | sed "s|^$root||" | sort

if command -v mandoc >/dev/null; then
	mandoc -T lint -W warning "$page" || fail "installed page does not lint clean"
fi
sh "$here/check_systemd_unit.sh" "$examples/ddns-service.service" "$bin" "$page"
