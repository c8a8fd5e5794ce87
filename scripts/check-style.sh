#!/bin/sh
# SPDX-License-Identifier: MIT
# Rules enforced by a script rather than by reviewers: clang-format clean, no banned
# functions (unbounded or unchecked string handling), an SPDX line in every C file.
set -u
cd "$(dirname "$0")/.."
rc=0
files=$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h' 'bench/*.c' 2>/dev/null)
[ -n "$files" ] || exit 0
# shellcheck disable=SC2086
if ! clang-format --dry-run -Werror $files >/tmp/ddns-format.$$ 2>&1; then
	head -n 40 /tmp/ddns-format.$$
	echo "check-style: run clang-format -i on the files above"
	rc=1
fi
rm -f /tmp/ddns-format.$$
# shellcheck disable=SC2086
if grep -nE '\b(sprintf|vsprintf|strcpy|strcat|atoi|atol|sscanf|gets|strtok)\s*\(' $files | grep -v 'snprintf\|vsnprintf'; then
	echo "check-style: banned function (use snprintf, buf_*, strtol with checks, strtok_r)"
	rc=1
fi
for f in $files; do
	head -n 2 "$f" | grep -q 'SPDX-License-Identifier' || { echo "check-style: $f: no SPDX line"; rc=1; }
done
exit $rc
