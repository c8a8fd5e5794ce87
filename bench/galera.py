#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""ddns-service on a Galera cluster: `good` updates per second through 1, 2 and 3
daemons, each on its own node of a three-node cluster on loopback
(tests/integration/galera.py), against one daemon on a single MariaDB, all measured side
by side in the same run (the rounds interleave the configurations; each figure is the
median of its rounds).

  bench/galera.py [--quick] [--json FILE] [--seconds N] [--rounds N] [--clients N]

The same release binary as bench/run.py (build-bench), a real BIND on tmpfs, the load
from bench/loadgen (every reply checked), the rate limiter off, and the cheap Argon2
trick of bench/run.py: user `cheap` has a minimal-cost argon2id hash, so the figures are
about the database and DNS, not the password hash. --clients connections in all (24),
split evenly over the daemons; connection c of daemon k updates its own host gkcc to a
new address on every request (no two clients share a host). The DNS limit beside them:
raw_ldns, one sender, one name per UPDATE. One more figure: 8 hosts shared by all three
daemons (one client per host on each), which shows what concurrent updates of the same
hosts through different nodes cost and whether any of them fails.

On one machine the nodes, the daemons, BIND and the load generator share the cores:
this measures what synchronous replication costs per update and how the daemons share
a machine, not how a cluster of machines scales. Needs the packages of
scripts/setup-deps.sh (galera-4, rsync, mariadb-server, bind9, python3-argon2)."""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (ROOT, Background, Results, build, loadgen_cmd, median,  # noqa: E402
                      raw_ldns)
import galera  # noqa: E402  (tests/integration, on the path through benchlib)
import mariadb  # noqa: E402
from dnsserver import BindServer  # noqa: E402
from helpers import Daemon, free_port  # noqa: E402
from argon2.low_level import Type, hash_secret  # noqa: E402

BIN = os.environ["DDNS_SERVICE_BIN"]
ZONE = "dyn.example.com"
PASSWORD = "cheap password"
ARGON2_CHEAP = {"time_cost": 1, "memory_cost": 8, "parallelism": 1, "hash_len": 32}
SHARED_HOSTS = 8
CONFIGS = ("single", "galera1", "galera2", "galera3")
LABELS = {"single": "1 daemon, single MariaDB", "galera1": "1 daemon, Galera (3 nodes)",
          "galera2": "2 daemons, Galera", "galera3": "3 daemons, Galera"}


class Bench:
    def __init__(self, args, tmp: Path, shm: Path):
        self.a, self.tmp, self.shm = args, tmp, shm
        self.res = Results()
        self.samples: dict[str, list] = defaultdict(list)
        self.round_ids = iter(range(1, 256))  # 10.R.x.y: addresses never repeat
        self.bind = self.single = self.cluster = None
        self.daemons: dict[str, list[Daemon]] = {}

    # --- set-up --------------------------------------------------------------------------
    def setup(self) -> None:
        both = (socket.SOCK_STREAM, socket.SOCK_DGRAM)
        self.bind = BindServer(self.shm / "bind", free_port(kinds=both), {ZONE: "hmac-sha256"})
        self.bind.start()
        t0 = time.monotonic()
        self.cluster = galera.GaleraCluster(self.tmp / "galera").start()
        self.cluster_start = time.monotonic() - t0
        self.single = mariadb.MariaDB(self.tmp / "mariadb").start()
        nodes = self.cluster.nodes
        gdb = self.cluster.create_database("ddns_bench")
        sdb = self.single.create_database("ddns_bench")
        self.daemons["single"] = [self.daemon("single", self.single, sdb)]
        self.daemons["galera"] = [self.daemon(f"node{n.n}", n, gdb) for n in nodes]
        for server, d in ((self.single, self.daemons["single"][0]),
                          (nodes[0], self.daemons["galera"][0])):
            d.cli("--init-db")
            d.add_user("cheap", PASSWORD)
            self.add_hosts(server, d.sections["database"]["name"])
        for d in self.daemons["single"] + self.daemons["galera"]:
            d.start()

    def daemon(self, name: str, server, database: str) -> Daemon:
        return Daemon(self.tmp / name, {
            "daemon": {"host": "127.0.0.1", "port": free_port(), "log_level": "WARNING"},
            "database": server.config(database),
            "dns_service": {"dns_server": "127.0.0.1", "dns_port": self.bind.port,
                            "ddns_default_key_file": self.bind.key_file(ZONE),
                            "cleanup_interval": 86400},
            "rate_limit": {"enabled": False},
        })

    def add_hosts(self, server, database: str) -> None:
        """The cheap hash for `cheap`, and its hosts straight into the database (the
        CLI would take a process start per host)."""
        phc = hash_secret(PASSWORD.encode(), os.urandom(16), type=Type.ID,
                          **ARGON2_CHEAP).decode()
        names = [f"g{k}c{c}" for k in range(3) for c in range(self.a.clients)]
        names += [f"s{c}" for c in range(SHARED_HOSTS)]
        now = int(time.time())
        values = ",".join(f"((SELECT id FROM users WHERE name = 'cheap'), '{n}', '{ZONE}',"
                          f" '{n}.{ZONE}', 60, 86400, {now})" for n in names)
        server.sql(f"UPDATE users SET pw_hash = '{phc}' WHERE name = 'cheap';"
                   "INSERT INTO hostnames (user_id, hostname, zone, fqdn, dns_ttl,"
                   f" expiry_ttl, created) VALUES {values}", database)

    # --- runs -------------------------------------------------------------------------------
    def run_load(self, daemons: list[Daemon], conns: int, host: str) -> list[dict]:
        """One loadgen per daemon at once, `conns` connections each, for --seconds;
        host is the hostname template ({k}: the daemon's index, {c}: the connection)."""
        time.sleep(1)   # let the nodes finish applying what the last run left
        runs = []
        for k, d in enumerate(daemons):
            path = f"/update?hostname={host.replace('{k}', str(k))}.{ZONE}&myip={{ip}}"
            runs.append(Background(loadgen_cmd(
                d.port, path, auth=f"cheap:{PASSWORD}", conns=conns,
                seconds=max(1, round(self.a.seconds)), round=next(self.round_ids),
                src_base=f"127.0.{20 + k}.1", timeout_ms=120000)))
        return [r.result(timeout=600) for r in runs]

    def record(self, key: str, results: list[dict]) -> None:
        good = sum(r["classes"]["good"] for r in results)
        seconds = max(r["seconds"] for r in results)
        other = sum(v for r in results for c, v in r["classes"].items() if c != "good")
        other += sum(v for r in results for e, v in r["errors"].items())
        self.samples[key].append(good / seconds)
        self.samples[f"{key}_p50"].append(median([r["lat_ms"]["p50"] for r in results]))
        self.samples[f"{key}_other"].append(other)
        if other:
            classes = defaultdict(int)
            for r in results:
                for c, v in list(r["classes"].items()) + list(r["errors"].items()):
                    if c != "good" and v:
                        classes[c] += v
            print(f"    note: {key}: replies other than good: {dict(classes)}", flush=True)

    def round(self, rnd: int) -> None:
        """Every configuration once; each round starts one configuration later, so
        that a drift of the machine's load does not always favour the same one."""
        r = raw_ldns(self.bind, ZONE, self.a.seconds, 1, 1, next(self.round_ids), "raw")
        self.samples["raw1"].append(r["names_per_s"])
        keys = CONFIGS + ("shared",)
        for key in keys[rnd % len(keys):] + keys[:rnd % len(keys)]:
            if key == "shared":
                self.record(key, self.run_load(self.daemons["galera"], SHARED_HOSTS, "s{c}"))
                continue
            daemons = self.daemons["single"] if key == "single" else \
                self.daemons["galera"][:int(key[-1])]
            per = self.a.clients // len(daemons)
            self.record(key, self.run_load(daemons, per, "g{k}c{c}"))

    # --- figures ---------------------------------------------------------------------------
    def figures(self) -> None:
        add, sm = self.res.add, self.samples
        self.res.group = "set-up"
        add("cluster_start", "three-node cluster: start to all Synced", "s",
            value=self.cluster_start)
        self.res.group = (f"good updates, cheap hash, {self.a.clients} clients in all on"
                          " distinct hosts")
        add("raw1", "LIMIT raw ldns, 1 sender, 1 name/UPDATE", "names/s", sm["raw1"],
            label="raw 1 sender")
        for key in CONFIGS:
            add(key, LABELS[key], "upd/s", sm[key], label=LABELS[key],
                limit="raw1" if key == "single" else "single",
                paired=sm["raw1"] if key == "single" else sm["single"])
        for key in CONFIGS:
            add(f"{key}_p50", f"{LABELS[key]}: latency p50", "ms", sm[f"{key}_p50"])
        add("other", "replies other than good, errors (all runs)", "req",
            value=sum(sum(sm[f"{k}_other"]) for k in CONFIGS))
        self.res.group = (f"{SHARED_HOSTS} hosts shared by 3 daemons on Galera (one client"
                          " per host on each daemon)")
        add("shared", "good updates", "upd/s", sm["shared"], limit="galera3",
            paired=sm["galera3"])
        add("shared_p50", "latency p50", "ms", sm["shared_p50"])
        add("shared_other", "replies other than good, errors (all runs)", "req",
            value=sum(sm["shared_other"]))

    def stop(self) -> None:
        for d in self.daemons.get("single", []) + self.daemons.get("galera", []):
            try:
                d.stop()
            except Exception as e:  # keep stopping the others
                print(f"stopping daemon: {e}", file=sys.stderr)
        for what in (self.cluster, self.single, self.bind):
            if what is not None:
                what.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one short round")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    ap.add_argument("--seconds", type=float, help="length of each measurement (5; quick 2)")
    ap.add_argument("--rounds", type=int, help="interleaved rounds, medians over them (3; quick 1)")
    ap.add_argument("--clients", type=int, default=24,
                    help="connections in all, split over the daemons (24; divisible by 6)")
    args = ap.parse_args()
    args.seconds = args.seconds or (2 if args.quick else 5)
    args.rounds = args.rounds or (1 if args.quick else 3)
    if args.clients % 6:
        ap.error("--clients must be divisible by 6 (split over 1, 2 and 3 daemons)")
    if not galera.available():
        print("galera-4, rsync or mariadb-server is missing (scripts/setup-deps.sh)")
        return 2
    started, load0 = time.monotonic(), Path("/proc/loadavg").read_text().strip()
    build()
    print(f"ddns-service on Galera — {os.cpu_count()} cores, release build {BIN}; "
          f"{args.rounds} round(s) of {args.seconds:g} s; load average {load0}", flush=True)
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="ddns-galera-bench-") as tmp, \
            tempfile.TemporaryDirectory(prefix="ddns-galera-bench-", dir=shm) as tmpfs:
        bench = Bench(args, Path(tmp), Path(tmpfs))
        try:
            bench.setup()
            for rnd in range(args.rounds):
                t0 = time.monotonic()
                bench.round(rnd)
                print(f"  round {rnd + 1}/{args.rounds} done in {time.monotonic() - t0:.0f} s",
                      flush=True)
            bench.figures()
        finally:
            bench.stop()
    info = {"cores": os.cpu_count(), "date": time.strftime("%F %T %z"),
            "seconds": args.seconds, "rounds": args.rounds, "clients": args.clients,
            "loadavg_start": load0, "loadavg_end": Path("/proc/loadavg").read_text().strip(),
            "duration_s": round(time.monotonic() - started), "binary": BIN,
            "commit": os.popen(f"git -C {ROOT} rev-parse --short HEAD").read().strip()}
    print(f"\nddns-service on Galera, {info['date']}, commit {info['commit']}, "
          f"{info['cores']} cores, {args.rounds} round(s) of {args.seconds:g} s (medians; "
          f"{info['duration_s']} s in all)\nload average {load0} at the start, "
          f"{info['loadavg_end']} at the end\nratio = value / limit, the median of the "
          "rounds' ratios\n")
    print(bench.res.table())
    if args.json:
        bench.res.dump(args.json, info)
        print(f"\nJSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
