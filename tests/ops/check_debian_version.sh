#!/bin/sh
# SPDX-License-Identifier: MIT
# The Debian package's version (the top entry of debian/changelog) carries the
# project's version as its upstream part, so that `ddns-service --version` of the
# installed package names the version the package says it is. Fails when the two
# drift apart (a release bumped meson.build but not debian/changelog, or back).
# usage: check_debian_version.sh CHANGELOG VERSION
set -eu
changelog=$1 version=$2

fail() { echo "FAIL: $*"; exit 1; }
[ -r "$changelog" ] || fail "cannot read $changelog"
first=$(head -n 1 "$changelog")
# "ddns-service (EPOCH:UPSTREAM-REVISION) DIST; urgency=..."
case $first in
"ddns-service ("*) ;;
*) fail "$changelog: first line is not a ddns-service entry: $first" ;;
esac
full=$(printf '%s\n' "$first" | sed -n 's/^ddns-service (\([^)]*\)).*/\1/p')
[ -n "$full" ] || fail "$changelog: no version in: $first"
upstream=${full#*:}
upstream=${upstream%-*}
[ "$upstream" = "$version" ] ||
	fail "debian/changelog has $full (upstream $upstream), meson.build has $version: add a changelog entry (dch -v $version-1)"
echo "ok: debian/changelog $full matches $version"
