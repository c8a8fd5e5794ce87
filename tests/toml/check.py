# SPDX-License-Identifier: MIT
"""Differential test of our TOML parser against Python's tomllib.

Usage: check.py TOML_DECODE DIR

Every DIR/valid/*.toml must be accepted by both, with equal typed values (toml_decode's
JSON is turned back into the Python types tomllib returns). Every DIR/invalid/*.toml
must be rejected by both, toml_decode exiting 1 with "line L, column C: message".
The few documented deviations are listed in DEVIATIONS: each names the file and the
exact way tomllib's answer differs, so a deviation cannot hide a real disagreement.
"""
import datetime
import json
import math
import os
import re
import subprocess
import sys
import tomllib

INT64 = (-(2**63), 2**63 - 1)


def has_big_int(value):
    """True when the document holds an integer outside 64 bits (tomllib has no limit;
    TOML 1.0 says such an integer must be an error)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return not INT64[0] <= value <= INT64[1]
    if isinstance(value, dict):
        return any(has_big_int(v) for v in value.values())
    if isinstance(value, list):
        return any(has_big_int(v) for v in value)
    return False


# Invalid files that tomllib accepts, and the reason. Each entry is a predicate that
# tomllib's result must satisfy.
DEVIATIONS = {
    "integer-overflow-dec.toml": has_big_int,
    "integer-overflow-neg.toml": has_big_int,
    "integer-overflow-hex.toml": has_big_int,
    "integer-overflow-oct.toml": has_big_int,
    "integer-overflow-bin.toml": has_big_int,
}

DT_RE = re.compile(
    r"^(?:(\d{4})-(\d{2})-(\d{2}))?T?"
    r"(?:(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?)?"
    r"(Z|[+-]\d{2}:\d{2})?$"
)


def micros(frac):
    # tomllib keeps the first six digits of a fraction, as we do in toml_decode's text.
    return int(frac[:6].ljust(6, "0")) if frac else 0


def to_datetime(typ, text):
    m = DT_RE.match(text)
    if not m:
        raise ValueError(f"bad {typ} {text!r}")
    y, mo, d, h, mi, s, frac, off = m.groups()
    if typ == "date-local":
        return datetime.date(int(y), int(mo), int(d))
    t = (int(h), int(mi), int(s), micros(frac))
    if typ == "time-local":
        return datetime.time(*t)
    tz = None
    if typ == "datetime":
        if off == "Z":
            tz = datetime.timezone.utc
        else:
            sign = -1 if off[0] == "-" else 1
            tz = datetime.timezone(
                sign * datetime.timedelta(hours=int(off[1:3]), minutes=int(off[4:6]))
            )
    return datetime.datetime(int(y), int(mo), int(d), *t, tzinfo=tz)


def from_json(j):
    """toml-test JSON back to tomllib's types."""
    if isinstance(j, list):
        return [from_json(x) for x in j]
    if set(j) == {"type", "value"} and all(isinstance(x, str) for x in j.values()):
        typ, val = j["type"], j["value"]
        if typ == "string":
            return val
        if typ == "integer":
            return int(val)
        if typ == "float":
            return float(val)
        if typ == "bool":
            return {"true": True, "false": False}[val]
        return to_datetime(typ, val)
    return {k: from_json(v) for k, v in j.items()}


def same(a, b, path="$"):
    """Strict equality: same types, same key order, nan equals nan, -0.0 is not 0.0,
    date-times equal only with the same offset. Returns a description of the first
    difference, or None."""
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} {a!r} vs {type(b).__name__} {b!r}"
    if isinstance(a, dict):
        if list(a) != list(b):
            return f"{path}: keys {list(a)} vs {list(b)}"
        for k in a:
            diff = same(a[k], b[k], f"{path}.{k}")
            if diff:
                return diff
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            diff = same(x, y, f"{path}[{i}]")
            if diff:
                return diff
        return None
    if isinstance(a, float):
        if math.isnan(a) and math.isnan(b):
            return None
        ok = a == b and math.copysign(1, a) == math.copysign(1, b)
        return None if ok else f"{path}: {a!r} vs {b!r}"
    if isinstance(a, datetime.datetime) and a.utcoffset() != b.utcoffset():
        return f"{path}: offset {a.utcoffset()} vs {b.utcoffset()}"
    return None if a == b else f"{path}: {a!r} vs {b!r}"


def decode(prog, path):
    with open(path, "rb") as f:
        return subprocess.run(prog, stdin=f, capture_output=True, timeout=30)


def tomllib_load(path):
    with open(path, "rb") as f:
        try:
            return True, tomllib.load(f)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            return False, e


def check_valid(prog, path):
    ok, want = tomllib_load(path)
    if not ok:
        return f"tomllib rejects it ({want}): the file does not belong in valid/"
    r = decode(prog, path)
    if r.returncode != 0:
        return f"toml_decode rejects it: {r.stderr.decode(errors='replace').strip()}"
    try:
        got = from_json(json.loads(r.stdout))
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        return f"toml_decode output not understood: {e!r}"
    diff = same(got, want)
    return f"values differ: {diff}" if diff else None


ERR_RE = re.compile(rb"^line \d+, column \d+: .+\n$")


def check_invalid(prog, path):
    name = os.path.basename(path)
    r = decode(prog, path)
    if r.returncode != 1:
        return f"toml_decode exit {r.returncode}, want 1 (stdout {r.stdout[:200]!r})"
    if not ERR_RE.match(r.stderr):
        return f"toml_decode error not 'line L, column C: msg': {r.stderr[:200]!r}"
    ok, got = tomllib_load(path)
    if not ok:
        return None
    if name in DEVIATIONS and DEVIATIONS[name](got):
        return None
    return f"tomllib accepts it: {got!r:.200}"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    prog, root = sys.argv[1], sys.argv[2]
    passed = failed = 0
    for kind, check in (("valid", check_valid), ("invalid", check_invalid)):
        d = os.path.join(root, kind)
        files = sorted(f for f in os.listdir(d) if f.endswith(".toml"))
        for f in files:
            err = check(prog, os.path.join(d, f))
            if err:
                failed += 1
                print(f"FAIL {kind}/{f}: {err}")
            else:
                passed += 1
        print(f"# {kind}: {len(files)} files")
    print(f"# {len(DEVIATIONS)} documented deviations from tomllib (64-bit integer range)")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or not passed else 0)


if __name__ == "__main__":
    main()
