#!/bin/sh
# SPDX-License-Identifier: MIT
# Rules enforced by a script rather than by reviewers: clang-format clean, no banned
# functions (unbounded or unchecked string handling), an SPDX line in every C file, no
# function body over 60 lines.
set -u
cd "$(dirname "$0")/.." || exit 2
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
# Function length, relying on the clang-format layout: a definition's name starts at
# column 0 followed by '(' (the return type is on the line before), its body opens with
# '{' at column 0 and closes with '}' at column 0. The length is the lines between the
# two braces. A ';' before the '{' means it was a prototype or a call, not a definition.
cfiles=$(git ls-files 'src/*.c' 'tests/*.c' 'bench/*.c' 2>/dev/null)
# shellcheck disable=SC2086
if ! awk -v max=60 '
	BEGIN { bad = 0 }
	FNR == 1 { name = ""; body = 0 }
	body && /^}/ {
		n = FNR - open - 1
		if (n > max) {
			printf "%s:%d: %s: %d lines (at most %d)\n", FILENAME, at, name, n, max
			bad = 1
		}
		body = 0; name = ""; next
	}
	body { next }
	/^[A-Za-z_][A-Za-z0-9_]*\(/ { name = $0; sub(/\(.*/, "", name); at = FNR }
	name != "" && /;/ { name = ""; next }
	name != "" && /^\{/ { body = 1; open = FNR }
	END { exit bad }
' $cfiles; then
	echo "check-style: split the functions above into smaller ones"
	rc=1
fi
exit $rc
