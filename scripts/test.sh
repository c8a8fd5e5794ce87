#!/bin/sh
# SPDX-License-Identifier: MIT
# The whole test suite, as CI runs it: installs what is missing, then builds and tests
# twice — a plain gcc build and an ASan+UBSan build — plus valgrind over the pure
# modules' unit tests, a clang build of the unit tests, the format check, the
# banned-function check, and the Debian package (built, installed on this machine and
# purged). Every server the tests need (BIND, the SMTP sink, ...) is started and
# stopped by the tests themselves.
# Last line: "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=/usr/bin/python3

"$ROOT/scripts/setup-deps.sh" || { echo "setup-deps failed"; echo "0 passed, 1 failed"; exit 1; }

RESULTS=$(mktemp)
trap 'rm -f "$RESULTS"' EXIT
# Sanitizer reports must fail the test that triggered them.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0"

# step NAME COMMAND... : runs a step, records "NAME passed|failed counts".
record() { echo "$*" >>"$RESULTS"; }

# meson_tests BUILDDIR LABEL: runs every meson test and counts them from testlog.json.
meson_tests() {
	meson test -C "$1" --print-errorlogs --num-processes 2 >"$1/test.out" 2>&1
	tail -n 15 "$1/test.out"
	$PY - "$1/meson-logs/testlog.json" "$2" >>"$RESULTS" <<'PYEOF'
import json, sys
ok = bad = skip = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL"): ok += 1
    elif r == "SKIP": skip += 1
    else: bad += 1
print(sys.argv[2], ok, bad, skip)
PYEOF
}

# pytest_suite OUTFILE LABEL PATH: runs the pytest suite PATH, records its counts.
pytest_suite() {
	$PY -m pytest -q -p no:cacheprovider "$3" >"$1" 2>&1
	rc=$?
	tail -n 25 "$1"
	$PY - "$1" "$2" "$rc" >>"$RESULTS" <<'PYEOF'
import re, sys
text = open(sys.argv[1]).read().splitlines()
last = next((l for l in reversed(text) if re.search(r"\d+ (passed|failed|error)", l)), "")
n = lambda w: sum(int(x) for x in re.findall(r"(\d+) " + w, last))
ok, bad, skip = n("passed"), n("failed") + n("errors?"), n("skipped")
if int(sys.argv[3]) not in (0, 5) and bad == 0: bad = 1   # crashed/collection error
print(sys.argv[2], ok, bad, skip)
PYEOF
}

# integration BUILDDIR LABEL: the pytest suites against real servers, real binary.
integration() {
	DDNS_SERVICE_BIN="$ROOT/$1/src/ddns-service" DDNS_TEST_BUILDDIR="$ROOT/$1" \
		pytest_suite "$1/pytest.out" "$2" "$ROOT/tests/integration"
}

# galera BUILDDIR LABEL: three daemons on a three-node Galera cluster (tests/galera),
# its own step since the cluster's start (two rsync state transfers) and a node's kill
# and rejoin take most of its time: about 1 minute on an idle 2-core machine, 2-3 on a
# busy one. It runs on the plain build only: the daemon code it exercises is the
# MariaDB backend that the integration suite already runs under ASan, and under ASan
# the cluster's timings (a node's 5 s suspect timeout, SST) would only get slower.
# The step prints how long it took, so that its cost stays visible in every run.
galera() {
	t0=$(date +%s)
	DDNS_SERVICE_BIN="$ROOT/$1/src/ddns-service" DDNS_TEST_BUILDDIR="$ROOT/$1" \
		pytest_suite "$1/pytest-galera.out" "$2" "$ROOT/tests/galera"
	echo "   the Galera step took $(($(date +%s) - t0)) s"
}

build() { # build DIR [meson args...]
	dir=$1; shift
	if [ ! -d "$dir" ]; then
		meson setup "$dir" --werror "$@" >"$ROOT/$dir.setup.log" 2>&1 ||
			{ cat "$ROOT/$dir.setup.log"; return 1; }
	fi
	ninja -C "$dir" >"$dir/build.out" 2>&1 || { tail -n 40 "$dir/build.out"; return 1; }
}

echo "== style: format and banned functions"
if "$ROOT/scripts/check-style.sh"; then record "style 1 0 0"; else record "style 0 1 0"; fi

echo "== plain build (gcc)"
if build build-ci; then
	meson_tests build-ci plain-unit
	integration build-ci plain-integration
	echo "== Galera: three daemons on a three-node cluster (plain build)"
	galera build-ci plain-galera
else record "plain-build 0 1 0"; fi

echo "== valgrind (the pure modules' unit tests on the plain build)"
if [ -x build-ci/tests/unit/test_update ] && meson test -C build-ci --no-rebuild \
	--wrap "valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite --quiet" \
	buf toml update addr hostname template config tsig ratelimit connlimit log gen clock credcache token acme \
	>build-ci/valgrind.out 2>&1; then
	record "valgrind 1 0 0"
else
	tail -n 20 build-ci/valgrind.out
	record "valgrind 0 1 0"
fi

echo "== ASan+UBSan build (gcc)"
if build build-ci-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug; then
	meson_tests build-ci-asan asan-unit
	integration build-ci-asan asan-integration
else record "asan-build 0 1 0"; fi

echo "== clang build (warnings as errors; unit tests)"
if CC=clang build build-ci-clang; then
	meson test -C build-ci-clang --suite unit --num-processes 2 >build-ci-clang/test.out 2>&1 &&
		record "clang 1 0 0" || { tail -n 20 build-ci-clang/test.out; record "clang 0 1 0"; }
else record "clang-build 0 1 0"; fi

# Builds the package from a copy of the tree in a temporary directory, installs it on
# this machine and purges it at the end (root only; it skips and says why otherwise).
echo "== Debian package (build, lintian, install, update as ddns, upgrade, purge)"
pytest_suite "$ROOT/build-ci-package.out" package "$ROOT/tests/package"

echo "== summary"
$PY - "$RESULTS" <<'PYEOF'
import sys
P = F = S = 0
for line in open(sys.argv[1]):
    name, p, f, s = line.split()
    print(f"  {name:20s} {p:>4s} passed {f:>3s} failed {s:>3s} skipped")
    P += int(p); F += int(f); S += int(s)
print(f"{P} passed, {F} failed, {S} skipped")
sys.exit(1 if F else 0)
PYEOF
