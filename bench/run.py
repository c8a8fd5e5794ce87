#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""ddns-service benchmark: builds a release binary, runs it against a real BIND on
loopback, and prints figures and ratios.

  bench/run.py [--seconds N]

- the expiry due query on 1k/10k/100k hosts with 10 due (ratio ~1 = cost follows the
  result, not the table), and a full `ddns-service cleanup` pass over 100,000 hosts of
  which 10 expire, against the real DNS server;
- HTTP throughput with wrk on three paths: a 404 (HTTP layer only), a 401 challenge
  (routing + parameters), and an authenticated nochg (one Argon2 verification per
  request: the designed cost of a request); the last as a ratio to the Argon2 ceiling
  of this machine (cores / verification time);
- the good path: updates that change the record (Argon2 + RFC 2136 UPDATE + SQLite);
- memory: the daemon's resident set idle and its peak under the authenticated load.
Needs the packages of scripts/setup-deps.sh (bind9, wrk)."""

import argparse
import base64
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build-bench"
os.environ.setdefault("DDNS_SERVICE_BIN", str(BUILD / "src" / "ddns-service"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from dnsserver import BindServer  # noqa: E402
from helpers import Daemon, free_port, http_get  # noqa: E402

BIN = os.environ["DDNS_SERVICE_BIN"]
ZONE = "dyn.example.com"
PASSWORD = "bench password"


def build() -> None:
    if not (BUILD / "build.ninja").exists():
        subprocess.run(["meson", "setup", str(BUILD), "-Dbuildtype=release"], cwd=ROOT,
                       check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["ninja", "-C", str(BUILD)], check=True, stdout=subprocess.DEVNULL)


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB."""
    text = Path(f"/proc/{pid}/status").read_text()
    get = lambda k: int(re.search(rf"^{k}:\s+(\d+)", text, re.M).group(1))
    return get("VmRSS"), get("VmHWM")


def wrk(url: str, seconds: int, conns: int, headers: dict | None = None) -> tuple[float, str]:
    cmd = ["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--latency"]
    for k, v in (headers or {}).items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    return rps, p50.group(1) if p50 else "?"


def bulk_hosts(db: Path, user: str, n: int, due: int, now: int) -> None:
    """n published hosts straight into SQLite (the CLI would take minutes); `due` of
    them last updated two hours ago with a one-hour expiry_ttl."""
    con = sqlite3.connect(db)
    uid = con.execute("SELECT id FROM users WHERE name = ?", (user,)).fetchone()[0]
    step = n // due
    rows = ((uid, f"b{i}", ZONE, f"b{i}.{ZONE}", 60, 3600, "192.0.2.1",
             now - 7200 if i % step == 0 else now - 60, now) for i in range(n))
    con.executemany("INSERT INTO hostnames(user_id, hostname, zone, fqdn, dns_ttl,"
                    " expiry_ttl, ipv4, ipv4_updated, created) VALUES (?,?,?,?,?,?,?,?,?)",
                    rows)
    con.commit()
    con.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=8, help="length of each wrk run")
    args = ap.parse_args()
    build()
    cores = os.cpu_count() or 1
    print(f"ddns-service benchmark — {cores} cores, release build {BIN}\n")

    print(subprocess.run([str(BUILD / "bench" / "bench_expiry"), tempfile.gettempdir()],
                         capture_output=True, text=True, check=True).stdout)

    with tempfile.TemporaryDirectory(prefix="ddns-bench-") as tmp:
        tmp = Path(tmp)
        bind = BindServer(tmp / "bind", free_port(), {ZONE: "hmac-sha256"})
        bind.start()
        try:
            run_daemon(tmp, bind, args.seconds, cores)
        finally:
            bind.stop()
    return 0


def run_daemon(tmp: Path, bind, seconds: int, cores: int) -> None:
    port = free_port()
    sections = {
        "daemon": {"host": "127.0.0.1", "port": port, "log_level": "WARNING"},
        "database": {"path": str(tmp / "ddns.db")},
        "dns_service": {"dns_server": "127.0.0.1", "dns_port": bind.port,
                        "ddns_default_key_file": bind.key_file(ZONE),
                        "cleanup_interval": 86400},
        "rate_limit": {"enabled": False},
    }
    d = Daemon(tmp / "d", sections)
    d.add_user("bench", PASSWORD)
    d.add_host("bench", "home", ZONE)
    d.start()
    try:
        pid = d.proc.pid
        idle, _ = rss_kib(pid)
        base = f"http://127.0.0.1:{port}"
        auth = "Basic " + base64.b64encode(f"bench:{PASSWORD}".encode()).decode()
        # 16 connections: the per-client connection limit (HTTP_PER_IP_CONNECTIONS).
        r404, l404 = wrk(base + "/nope", seconds, 16)
        r401, l401 = wrk(base + f"/update?hostname=home.{ZONE}", seconds, 16)
        http_get("127.0.0.1", port, f"/update?hostname=home.{ZONE}&myip=192.0.2.7",
                 auth=("bench", PASSWORD))
        rnochg, lnochg = wrk(base + f"/update?hostname=home.{ZONE}&myip=192.0.2.7",
                             seconds, 8, {"Authorization": auth})
        _, peak = rss_kib(pid)
        t0, n = time.monotonic(), 0
        while time.monotonic() - t0 < seconds / 2:
            ip = f"192.0.2.{10 + n % 2}"
            r = http_get("127.0.0.1", port, f"/update?hostname=home.{ZONE}&myip={ip}",
                         auth=("bench", PASSWORD))
            assert r.text.startswith("good"), r.text
            n += 1
        good_ms = (time.monotonic() - t0) / n * 1000
    finally:
        d.stop()

    ceiling = cores * 1000.0 / (good_ms if good_ms else 1)
    print("HTTP (wrk, 2 threads, on the same 2 cores as the daemon)")
    print(f"  404 unknown path            {r404:10.0f} req/s  p50 {l404}")
    print(f"  401 challenge (no creds)    {r401:10.0f} req/s  p50 {l401}")
    print(f"  nochg with Basic auth       {rnochg:10.1f} req/s  p50 {lnochg}"
          f"  (one argon2id t=3 m=64MiB p=4 per request)")
    print(f"  good (DNS UPDATE + SQLite)  {good_ms:10.1f} ms per sequential request"
          f"  (~{ceiling:.1f} req/s over {cores} cores)")
    print(f"  ratio auth/no-auth path     {rnochg / r401:10.5f}  (Argon2 is the cost of a"
          " request, by design)")
    print("Memory")
    print(f"  daemon idle RSS             {idle / 1024:10.1f} MiB")
    print(f"  daemon peak RSS under auth  {peak / 1024:10.1f} MiB"
          f"  (Argon2 holds 64 MiB per verification; at most {cores} at once)")

    # A full expiry pass over 100,000 hosts of which 10 are due, real DNS deletes.
    now = int(time.time())
    bulk_hosts(tmp / "ddns.db", "bench", 100_000, 10, now)
    t0 = time.monotonic()
    out = d.cli("cleanup").stdout
    dt = time.monotonic() - t0
    print("Expiry")
    print(f"  cleanup over 100,000 hosts: {len(out.splitlines())} expired in {dt * 1000:.0f} ms"
          " (whole process: start, migrate check, 10 DNS deletes, mails off)")


if __name__ == "__main__":
    sys.exit(main())
