# SPDX-License-Identifier: MIT
"""Differential fuzzing of toml_decode against Python's tomllib (a developer tool, not a
meson test: it is random and slow).

  difffuzz.py TOML_DECODE mutate N SEED   N random mutations of the corpus in valid/, invalid/
  difffuzz.py TOML_DECODE dir DIR         every file of DIR (e.g. a libFuzzer corpus)

Reports crashes, accept/reject disagreements and value differences; exits 1 on any.
Our documented limits (64-bit integers, nesting depth) are not counted as disagreements.
"""
import json
import os
import random
import subprocess
import sys
import tomllib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check  # noqa: E402

ROOT = os.path.dirname(os.path.abspath(__file__))
TOKENS = [b'"', b"'", b'"""', b"'''", b"[", b"]", b"[[", b"]]", b"{", b"}", b",", b".",
          b"=", b"#", b"\n", b"\r\n", b"\r", b" ", b"\t", b"\\", b"a", b"0", b"1", b"_",
          b"-", b"+", b"e", b"x", b"o", b":", b"T", b"Z", b"inf", b"nan", b"true",
          b"\\u", b"\\U", b"1979-05-27", b"07:32:00", b".5", b"\xc3\xa9", b"\x7f", b"\x00"]


def verdict(prog, data):
    """None when both agree, else a description."""
    r = subprocess.run([prog], input=data, capture_output=True, timeout=30)
    try:
        want, theirs = tomllib.loads(data.decode()), True
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError):
        want, theirs = None, False
    if r.returncode not in (0, 1):
        return f"crash (exit {r.returncode}): {r.stderr[-300:]!r}"
    ours = r.returncode == 0
    if ours != theirs:
        limit = b"fit in 64 bits" in r.stderr or b"nesting deeper" in r.stderr
        if theirs and limit:
            return None
        return f"ours={ours} tomllib={theirs}: {r.stderr.decode(errors='replace').strip()}"
    if ours:
        return check.same(check.from_json(json.loads(r.stdout)), want)
    return None


def mutate(data, seeds):
    d = bytearray(data)
    for _ in range(random.randint(1, 4)):
        pos = random.randint(0, len(d))
        op = random.random()
        if op < 0.4:
            d[pos:pos] = random.choice(TOKENS)
        elif op < 0.7:
            del d[pos:pos + random.randint(1, 3)]
        else:
            d[pos:pos + 1] = random.choice(TOKENS)
    if random.random() < 0.2:
        other = random.choice(seeds)
        p = random.randint(0, len(other))
        d += other[p:p + random.randint(1, 40)]
    return bytes(d)


def inputs(args):
    if args[0] == "dir":
        for f in sorted(os.listdir(args[1])):
            with open(os.path.join(args[1], f), "rb") as fh:
                yield f, fh.read()
        return
    n, seed = int(args[1]), int(args[2])
    random.seed(seed)
    seeds = []
    for kind in ("valid", "invalid"):
        for f in sorted(os.listdir(os.path.join(ROOT, kind))):
            with open(os.path.join(ROOT, kind, f), "rb") as fh:
                seeds.append(fh.read())
    for i in range(n):
        yield f"#{i}", mutate(random.choice(seeds), seeds)


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    prog, bad, total = sys.argv[1], 0, 0
    for name, data in inputs(sys.argv[2:]):
        total += 1
        diff = verdict(prog, data)
        if diff:
            bad += 1
            print(f"{name} {data[:200]!r}: {diff}")
    print(f"{total - bad} passed, {bad} failed")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
