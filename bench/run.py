#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""ddns-service benchmark: one command that builds a release binary, runs it against a
real BIND (working directory on tmpfs, so BIND's journal fsync is not what is measured)
and prints every figure next to the limit it belongs to, measured side by side in the
same run: the rounds interleave the limits with the daemon's figures, and each figure is
the median of its rounds.

  bench/run.py [--quick] [--json FILE] [--seconds N] [--rounds N]

The limits (bench/): bare_mhd (libmicrohttpd with the daemon's threading model answering
a fixed `nochg`: the HTTP limit), the Argon2 ceiling (cores / one verification with the
daemon's parameters), raw_ldns (TSIG-signed RFC 2136 UPDATEs with ldns, 1 and 8 senders
one name per message, and 50 names per message: the DNS limit), and a DNS server that
never answers, which BIND forwards a second zone's updates to (the sick zone).

The daemon's figures: 401/404/nochg against bare MHD; nochg cold (a real Argon2
verification per request), warm (the same request repeated) and with a per-host token
(when `ddns-service token add` exists); `good` updates from 1/8/16/64 clients on distinct
hosts with a cheap Argon2 hash against the raw DNS loops; the latency of a healthy zone
while 64 clients hammer the sick zone; a client's latency and the daemon's peak RSS under
a wrong-password flood; idle RssAnon and start-to-ready time; SIGTERM with 80 requests in
flight; the expiry due query and a cleanup pass over 100,000 hosts.

Clients come from distinct loopback addresses (127.0.x.y) where more than 16 connections
are needed: the daemon allows 16 per client address. The rate limiter is off (the figures
are about capacity; a flood from many addresses is not rate-limited per client either).
All HTTP load comes from bench/loadgen (every reply checked, per-request credentials and
addresses, client addresses, resets). Needs the packages of scripts/setup-deps.sh (bind9,
python3-argon2)."""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (MiB, ROOT, TOOLS, Background, BareMhd, Results, SickBind,  # noqa: E402
                      Swallow, build, cpu_ticks, http_answer, loadgen, loadgen_cmd, median,
                      proc_status, raw_ldns, reset_peak_rss)
from helpers import Daemon, free_port, http_get  # noqa: E402
from argon2.low_level import Type, hash_secret, verify_secret  # noqa: E402

BIN = os.environ["DDNS_SERVICE_BIN"]
ZONE = "dyn.example.com"
SICK = "sick.example.com"
PASSWORD = "bench password"        # user `bench`: the daemon's own Argon2 parameters
CHEAP_PASSWORD = "cheap password"  # user `cheap`: a minimal-cost argon2id hash
ADDR = "192.0.2.7"
# The daemon's Argon2 parameters (src/auth.h) and the cheapest argon2id there is.
ARGON2 = {"time_cost": 3, "memory_cost": 65536, "parallelism": 4, "hash_len": 32}
ARGON2_CHEAP = {"time_cost": 1, "memory_cost": 8, "parallelism": 1, "hash_len": 32}
HTTP_CONNS = 16        # the daemon's per-client connection limit (HTTP_PER_IP_CONNECTIONS)
GOOD_CLIENTS = (1, 8, 16, 64)
SICK_CLIENTS = 64
FLOOD_CONNS = 32
SIGTERM_REQUESTS = 80
RAW_BATCH = 50
CACHE_FACTOR = 100     # warm nochg this much faster than cold: a credential cache exists
# How long the client beside a load (sick zone, flood) waits for an answer after its
# run ended before it gives up; its wait then counts as its latency (a lower bound).
HEALTHY_PATIENCE_MS = 5000
DNS_TIMEOUT_S = 5      # the daemon's dns_timeout (its default; the bench keeps it)
# Source addresses of the clients (127.0.0.0/8 is all loopback on Linux).
SRC = {"good": "127.0.1.1", "sick": "127.0.2.1", "healthy": "127.0.3.1",
       "flood": "127.0.4.1", "other": "127.0.5.1", "sigterm": "127.0.6.1",
       "cold": "127.0.7.1", "warm": "127.0.8.1"}


def phc(password: str, params: dict) -> str:
    return hash_secret(password.encode(), os.urandom(16), type=Type.ID, **params).decode()


class Bench:
    """One run: the servers, the daemon, and the samples of every round."""

    def __init__(self, args, tmp: Path, shm: Path):
        self.a = args
        self.tmp, self.shm = tmp, shm
        self.cores = os.cpu_count() or 1
        self.res = Results()
        self.samples: dict[str, list] = defaultdict(list)
        self.ids = itertools.count(1)  # 10.ID.x.y: addresses never repeat within the run
        self.token_auth: str | None = None  # user:token for loadgen
        self.token_note = ""
        self.cache: bool | None = None
        self.drain_cut = False  # a sick backlog outlived --drain-limit

    def next_id(self) -> int:
        i = next(self.ids)
        if i > 255:
            raise RuntimeError("too many load runs for distinct addresses; fewer --rounds")
        return i

    # --- set-up -----------------------------------------------------------------------------
    def setup(self) -> None:
        both = (socket.SOCK_STREAM, socket.SOCK_DGRAM)
        self.swallow = Swallow(free_port(kinds=both))
        self.bind = SickBind(self.shm / "bind", free_port(kinds=both), {ZONE: "hmac-sha256"},
                             SICK, self.swallow.port)
        self.bind.start()
        self.bare = BareMhd(free_port(), self.tmp / "bare_mhd.log")
        self.port = free_port()
        self.d = Daemon(self.tmp / "d", {
            "daemon": {"host": "127.0.0.1", "port": self.port, "log_level": "WARNING"},
            "database": {"path": str(self.tmp / "ddns.db")},
            "dns_service": {"dns_server": "127.0.0.1", "dns_port": self.bind.port,
                            "ddns_default_key_file": self.bind.key_file(ZONE),
                            "dns_timeout": DNS_TIMEOUT_S, "cleanup_interval": 86400},
            "rate_limit": {"enabled": False},
        })
        self.d.add_user("bench", PASSWORD)
        self.d.add_user("cheap", CHEAP_PASSWORD)
        self.d.sql("UPDATE users SET pw_hash = ? WHERE name = 'cheap'",
                   (phc(CHEAP_PASSWORD, ARGON2_CHEAP),))
        self.d.add_host("bench", "home", ZONE)
        self.add_hosts("bench", ["home"], ZONE, ADDR, replace=True)
        self.add_hosts("cheap", ["nc"], ZONE, ADDR)
        self.add_hosts("cheap", [f"g{c}" for c in range(max(GOOD_CLIENTS))] + ["hz0", "fo0"],
                       ZONE)
        self.add_hosts("cheap", [f"s{c}" for c in range(SICK_CLIENTS)], SICK)
        self.add_hosts("bench", [f"t{c}" for c in range(SIGTERM_REQUESTS)], ZONE)
        self.add_hosts("bench", [f"w{c}" for c in range(max(GOOD_CLIENTS))], ZONE)
        self.add_cold_users()

    def add_hosts(self, user: str, names: list[str], zone: str, ipv4: str | None = None,
                  replace: bool = False) -> None:
        """Hosts straight into SQLite, with the TTLs the CLI gave `home` (the CLI would
        take a process start per host); `ipv4` makes them answer nochg at once."""
        con = sqlite3.connect(self.tmp / "ddns.db")
        uid = con.execute("SELECT id FROM users WHERE name = ?", (user,)).fetchone()[0]
        ttl, exp = con.execute("SELECT dns_ttl, expiry_ttl FROM hostnames WHERE fqdn = ?",
                               (f"home.{ZONE}",)).fetchone()
        now = int(time.time())
        if replace:
            con.executemany("UPDATE hostnames SET ipv4 = ?, ipv4_updated = ? WHERE fqdn = ?",
                            [(ipv4, now, f"{n}.{zone}") for n in names])
        else:
            con.executemany(
                "INSERT INTO hostnames(user_id, hostname, zone, fqdn, dns_ttl, expiry_ttl,"
                " ipv4, ipv4_updated, created) VALUES (?,?,?,?,?,?,?,?,?)",
                [(uid, n, zone, f"{n}.{zone}", ttl, exp, ipv4, now if ipv4 else None, now)
                 for n in names])
        con.commit()
        con.close()

    def cold_names(self, rnd: int) -> list[str]:
        return [f"c{rnd}u{g}" for g in range(4 * self.a.cold_per_conn)]

    def add_cold_users(self) -> None:
        """One user per cold request, each with a hash of the daemon's cost: a request
        that no credential cache can have seen (hashing them takes a while)."""
        names = [n for r in range(self.a.rounds) for n in self.cold_names(r)]
        with ThreadPoolExecutor(self.cores) as ex:
            hashes = list(ex.map(lambda n: phc(f"cold-{n}", ARGON2), names))
        con = sqlite3.connect(self.tmp / "ddns.db")
        con.executemany("INSERT INTO users(name, email, pw_hash, created) VALUES (?,?,?,?)",
                        [(n, f"{n}@example.com", h, int(time.time()))
                         for n, h in zip(names, hashes)])
        con.commit()
        con.close()
        for n in names:
            self.add_hosts(n, [n], ZONE, ADDR)

    def check_paths(self) -> None:
        """Every path answers what its figure claims, before it is measured."""
        def get(target, auth=None, port=None):
            return http_get("127.0.0.1", port or self.port, target, auth=auth)

        want = f"nochg {ADDR}"
        checks = [
            (get(f"/update?hostname=home.{ZONE}&myip={ADDR}", port=self.bare.port), 200, want),
            (get("/nope"), 404, "not found"),
            (get(f"/update?hostname=home.{ZONE}&myip={ADDR}"), 401, ""),
            (get(f"/update?hostname=home.{ZONE}&myip={ADDR}", ("bench", PASSWORD)), 200, want),
            (get(f"/update?hostname=nc.{ZONE}&myip={ADDR}", ("cheap", CHEAP_PASSWORD)), 200,
             want),
            (get(f"/update?hostname=home.{ZONE}&myip={ADDR}", ("bench", "wrong")), 200,
             "badauth"),
        ]
        for r, status, body in checks:
            if r.status != status or not r.text.startswith(body):
                raise RuntimeError(f"unexpected reply {r!r}, want {status} {body!r}")

    def detect_token(self) -> None:
        """Per-host tokens: `ddns-service token add HOST ZONE` prints the token alone on
        the first line. The credential form is tried as Basic auth with the host's name
        (FQDN, then label) or the owner as the user name."""
        r = self.d.cli("token", "add", "home", ZONE, check=False)
        if r.returncode != 0 or not r.stdout.strip():
            self.token_note = "no token support"
            return
        token = r.stdout.splitlines()[0].strip()
        for user in (f"home.{ZONE}", "home", "bench"):
            resp = http_get("127.0.0.1", self.port, f"/update?hostname=home.{ZONE}&myip={ADDR}",
                            auth=(user, token))
            if resp.text.startswith("nochg"):
                self.token_auth = f"{user}:{token}"
                return
        self.token_note = "token made, but no Basic credential form accepted it"

    # --- figures measured once --------------------------------------------------------------
    def start_figures(self) -> None:
        """exec → first HTTP answer, and RssAnon once idle (after the first 1 s tick,
        which runs the first expiry pass), over several fresh starts."""
        times, anon = [], []
        for _ in range(self.a.starts):
            with open(self.tmp / "start.log", "ab") as log:
                t0 = time.perf_counter()
                proc = subprocess.Popen([BIN, "--daemon", "-c", str(self.d.config)],
                                        stdin=subprocess.DEVNULL, stdout=log,
                                        stderr=subprocess.STDOUT)
            while not http_answer(self.port):
                if proc.poll() is not None or time.perf_counter() - t0 > 20:
                    raise RuntimeError(f"daemon did not start: {self.tmp / 'start.log'}")
                time.sleep(0.0005)
            times.append((time.perf_counter() - t0) * 1000)
            time.sleep(1.2)
            anon.append(proc_status(proc.pid)["RssAnon"] / MiB)
            proc.terminate()
            proc.wait(30)
        self.res.group = "start and memory"
        self.res.add("start", "start: exec to first HTTP answer", "ms", times,
                     target=("value", "<=", 50))
        self.res.add("rss_idle", "idle RssAnon after start", "MiB", anon,
                     target=("value", "<=", 4))

    def argon2_ceiling(self) -> None:
        h = phc(PASSWORD, ARGON2)
        times = []
        for _ in range(self.a.argon2_runs):
            t0 = time.perf_counter()
            verify_secret(h.encode(), PASSWORD.encode(), Type.ID)
            times.append((time.perf_counter() - t0) * 1000)
        self.samples["argon2_ms"] = times

    # --- one round of each group -------------------------------------------------------------
    def settle(self, limit: float = 180) -> None:
        """Waits until the daemon is idle (under 10 % of a core for 200 ms, and a 404
        answered within a second): what an earlier figure left queued must not be
        measured with the next one."""
        pid, t0 = self.d.proc.pid, time.monotonic()
        while time.monotonic() - t0 < limit:
            c0 = cpu_ticks(pid)
            time.sleep(0.2)
            if cpu_ticks(pid) - c0 <= 2 and http_answer(self.port, 1.0):
                break
        waited = time.monotonic() - t0
        if waited > 2:
            print(f"    (waited {waited:.0f} s for the daemon to become idle)", flush=True)

    def wait_sick_drained(self) -> float:
        """The daemon keeps working off sick-zone requests whose clients have gone (it
        read them before they left): waits until BIND forwarded nothing new to the
        swallowing server for dns_timeout + 1 s, and returns how long the daemon kept
        sending sick updates after the clients left. Past --drain-limit the daemon is
        killed and started again (the figure is then that limit, a lower bound)."""
        quiet, limit = DNS_TIMEOUT_S + 1, self.a.drain_limit
        t0 = last_change = time.monotonic()
        seen = self.swallow.activity
        while time.monotonic() - last_change < quiet:
            if time.monotonic() - t0 > limit:
                print(f"    (sick backlog still draining after {limit:.0f} s: restarting"
                      " the daemon)", flush=True)
                self.d.proc.kill()
                self.d.wait_exit()
                self.d.start()
                self.drain_cut = True
                return limit
            time.sleep(0.1)
            now = self.swallow.activity
            if now != seen:
                seen, last_change = now, time.monotonic()
        return last_change - t0

    def load(self, port: int | None = None, **opts) -> dict:
        """A load run on an idle daemon: loadgen with `opts`; a run of `seconds` resets
        what is still unanswered at its end unless hard_stop_ms says otherwise."""
        self.settle()
        if "seconds" in opts:
            opts["seconds"] = max(1, round(opts["seconds"]))
            opts.setdefault("hard_stop_ms", 0)
        return loadgen(port or self.port, timeout_ms=120000, **opts)

    def http_round(self, rnd: int) -> None:
        s, c = self.a.seconds, HTTP_CONNS
        home = f"/update?hostname=home.{ZONE}&myip={ADDR}"
        bare = ("bare", dict(port=self.bare.port, path=home), "nochg")
        # The limit twice a round, around the daemon's fast paths: a noisy neighbour
        # then weighs on both sides of the ratios.
        runs = [bare,
                ("404", dict(path="/nope"), "404"),
                ("401", dict(path=home), "401"),
                ("cheap", dict(path=f"/update?hostname=nc.{ZONE}&myip={ADDR}",
                               auth=f"cheap:{CHEAP_PASSWORD}"), "nochg")]
        if self.token_auth:
            runs.append(("token", dict(path=home, auth=self.token_auth), "nochg"))
        runs += [bare, ("warm", dict(path=home, auth=f"bench:{PASSWORD}"), "nochg")]
        for key, opts, want in runs:
            secs = self.a.slow_seconds if key == "warm" else s
            r = self.load(conns=c, seconds=secs, **opts)
            self.expect(r, want, key)
            self.samples[key].append(r["rps"])
        user = f"c{rnd}u{{g}}"
        cold = self.load(path=f"/update?hostname={user}.{ZONE}&myip={ADDR}",
                         auth=f"{user}:cold-{user}", conns=4, requests=self.a.cold_per_conn,
                         src_base=SRC["cold"])
        self.expect(cold, "nochg", "cold nochg")
        self.samples["cold"].append(cold["rps"])
        if self.cache is None:
            self.cache = self.samples["warm"][0] > CACHE_FACTOR * cold["rps"]

    def expect(self, res: dict, status: str, what: str, total: int | None = None) -> None:
        """Notes replies other than `status` and connection errors of a load run."""
        bad = {k: v for k, v in res["classes"].items() if k != status and v}
        errs = {k: v for k, v in res["errors"].items() if v and k != "abandoned"}
        self.samples[f"bad:{what}"].append(sum(bad.values()) + sum(errs.values()))
        if bad or errs:
            print(f"    note: {what}: other replies {bad}, errors {errs}", flush=True)

    def good_run(self, conns: int, user: str, password: str, host: str, src: str,
                 seconds: float, **opts) -> dict:
        """`good` updates: connection c updates host HOSTc to a new address each time."""
        return self.load(path=f"/update?hostname={host}{{c}}.{ZONE}&myip={{ip}}",
                         auth=f"{user}:{password}", conns=conns, seconds=seconds,
                         round=self.next_id(), src_base=src, **opts)

    def dns_round(self, rnd: int) -> None:
        s = self.a.seconds
        for key, threads, batch in (("raw1", 1, 1), ("raw8", 8, 1), ("rawb", 1, RAW_BATCH)):
            self.raw_run(key, threads, batch)
        for c in GOOD_CLIENTS:
            r = self.good_run(c, "cheap", CHEAP_PASSWORD, "g", SRC["good"], s)
            self.expect(r, "good", f"good c={c}")
            self.samples[f"good{c}"].append(r["rps"])
            if c == 1:
                self.samples["good1_p50"].append(r["lat_ms"]["p50"])
                self.samples["good1_p99"].append(r["lat_ms"]["p99"])
        if self.cache:
            r = self.good_run(64, "bench", PASSWORD, "w", SRC["warm"], s)
            self.expect(r, "good", "good warm c=64")
            self.samples["goodwarm64"].append(r["rps"])
        self.raw_run("raw1", 1, 1)  # the main DNS limit again, after the daemon's runs

    def raw_run(self, key: str, threads: int, batch: int) -> None:
        self.settle()
        r = raw_ldns(self.bind, ZONE, self.a.seconds, threads, batch, self.next_id(), key)
        self.samples[key].append(r["names_per_s"])
        self.samples["raw_fail"].append(r["failures"])
        if r["failures"]:
            print(f"    note: {key}: {r['failures']} failed UPDATEs ({r['last_error']})")

    def sick_round(self, rnd: int) -> None:
        """64 clients on the sick zone's hosts; one second later one client on a healthy
        host for `seconds`. The sick run waits for its last requests (up to the daemon's
        dns_timeout) so the next figures start on an idle daemon."""
        self.settle()
        sick = Background(loadgen_cmd(
            self.port, f"/update?hostname=s{{c}}.{SICK}&myip={{ip}}",
            auth=f"cheap:{CHEAP_PASSWORD}", conns=SICK_CLIENTS, seconds=3600,
            round=self.next_id(), src_base=SRC["sick"], timeout_ms=120000))
        time.sleep(1)
        healthy = loadgen(self.port, f"/update?hostname=hz0.{ZONE}&myip={{ip}}",
                          auth=f"cheap:{CHEAP_PASSWORD}", conns=1,
                          seconds=max(1, round(self.a.seconds)), round=self.next_id(),
                          src_base=SRC["healthy"], timeout_ms=120000,
                          hard_stop_ms=HEALTHY_PATIENCE_MS)
        sres = sick.stop()
        self.samples["sick_drain"].append(self.wait_sick_drained())
        self.expect(healthy, "good", "healthy zone under sick load")
        for k in ("p50", "p99"):
            self.samples[f"healthy_{k}"].append(healthy["lat_ms"][k])
        self.samples["healthy_n"].append(healthy["answered"])
        self.samples["healthy_abandoned"].append(healthy["errors"]["abandoned"])
        for k in ("911", "dnserr", "good"):
            self.samples[f"sick_{k}"].append(sres["classes"][k])
        self.samples["sick_reset"].append(
            sum(r["errors"][k] for r in (sres, healthy) for k in ("reset", "connect")))
        self.samples["sick_n"].append(sres["answered"])
        self.samples["sick_abandoned"].append(sres["errors"]["abandoned"])

    def flood_round(self, rnd: int) -> None:
        pid = self.d.proc.pid
        self.settle()
        reset_peak_rss(pid)
        flood = Background(loadgen_cmd(
            self.port, f"/update?hostname=home.{ZONE}&myip={ADDR}",
            auth="bench:wrong password", conns=FLOOD_CONNS, seconds=3600,
            src_base=SRC["flood"], timeout_ms=120000))
        time.sleep(1)
        other = loadgen(self.port, f"/update?hostname=fo0.{ZONE}&myip={{ip}}",
                        auth=f"cheap:{CHEAP_PASSWORD}", conns=1,
                        seconds=max(1, round(self.a.seconds)), round=self.next_id(),
                        src_base=SRC["other"], timeout_ms=120000,
                        hard_stop_ms=HEALTHY_PATIENCE_MS)
        fres = flood.stop()
        self.samples["flood_hwm"].append(proc_status(pid)["VmHWM"] / MiB)
        self.expect(other, "good", "good beside the flood")
        self.expect(fres, "badauth", "wrong-password flood")
        self.settle()
        self.samples["rss_after"].append(proc_status(pid)["RssAnon"] / MiB)
        self.samples["flood_other_p50"].append(other["lat_ms"]["p50"])
        self.samples["flood_other_abandoned"].append(other["errors"]["abandoned"])
        self.samples["flood_rps"].append(fres["classes"]["badauth"] / fres["seconds"])

    def sigterm_run(self) -> None:
        """A fresh daemon, 80 `good` requests (the daemon's own Argon2 cost, so they are
        still in flight) from 80 addresses; SIGTERM 200 ms after the last one was sent.
        The daemon is left stopped."""
        if self.d.proc is not None:
            self.settle()
            self.d.proc.terminate()
            self.d.wait_exit(300)
        self.d.start()
        pid = self.d.proc.pid
        t0 = time.perf_counter()
        lg = Background(loadgen_cmd(
            self.port, f"/update?hostname=t{{c}}.{ZONE}&myip={{ip}}",
            auth=f"bench:{PASSWORD}", conns=SIGTERM_REQUESTS, requests=1,
            round=self.next_id(), src_base=SRC["sigterm"], timeout_ms=120000,
            sigterm=pid, sigterm_delay_ms=200))
        rc = self.d.proc.wait(120)
        t_exit = time.perf_counter()
        self.d.proc, self.d.returncode = None, rc
        r = lg.result(timeout=300)
        sm = self.samples
        sm["sigterm_sent"].append(r["sent_at_sigterm"])
        sm["sigterm_good"].append(r["classes"]["good"])
        sm["sigterm_other"].append(r["answered"] - r["classes"]["good"])
        sm["sigterm_reset"].append(sum(r["errors"].values()))
        sm["sigterm_exit"].append(rc)
        sm["sigterm_time"].append((t_exit - t0 - r["sigterm_at"]) * 1000)

    def sigterm_figures(self) -> None:
        add, sm = self.res.add, self.samples
        self.res.group = f"SIGTERM with {SIGTERM_REQUESTS} requests in flight"
        add("sigterm_sent", "requests sent before SIGTERM", "req", sm["sigterm_sent"],
            label="sent")
        add("sigterm_good", "answered `good` after SIGTERM", "req", sm["sigterm_good"],
            limit="sigterm_sent", paired=sm["sigterm_sent"])
        add("sigterm_other", "answered otherwise (911, dnserr, ...)", "req",
            sm["sigterm_other"])
        add("sigterm_reset", "reset or unanswered", "req", sm["sigterm_reset"])
        add("sigterm_exit", "exit status (the worst of the runs)", "", sm["sigterm_exit"],
            value=max(sm["sigterm_exit"], key=abs))
        add("sigterm_time", "SIGTERM to exit", "ms", sm["sigterm_time"])

    def expiry_figures(self) -> None:
        out = subprocess.run([str(TOOLS / "bench_expiry"), str(self.tmp)], capture_output=True,
                             text=True, check=True).stdout
        self.res.group = "expiry"
        rows = re.findall(r"^\s+(\d+) hosts:\s+([\d.]+) us", out, re.M)
        for n, us in rows:
            self.res.add(f"due{n}", f"due query, {int(n):,} hosts (10 due)", "us",
                         value=float(us), limit=None if n == rows[0][0] else f"due{rows[0][0]}",
                         label=f"{int(n):,} hosts")
        bulk_hosts(self.tmp / "ddns.db", "bench", 100_000, 10, int(time.time()))
        t0 = time.perf_counter()
        out = self.d.cli("cleanup").stdout
        self.res.add("cleanup", f"cleanup over 100,000 hosts ({len(out.splitlines())} expired)",
                     "ms", value=(time.perf_counter() - t0) * 1000)

    # --- the figures from the rounds' samples -----------------------------------------------
    def per_round(self, key: str) -> list:
        """The mean of each round's samples of `key` (the limits measured twice)."""
        xs = self.samples[key]
        k = len(xs) // self.a.rounds if xs else 0
        return [sum(xs[i:i + k]) / k for i in range(0, k * self.a.rounds, k)] if k else []

    def http_figures(self) -> None:
        add, sm = self.res.add, self.samples
        bare = self.per_round("bare")
        self.res.group = f"HTTP ({HTTP_CONNS} connections; cold: 4)"
        add("bare", "LIMIT bare MHD, fixed nochg", "req/s", sm["bare"], label="bare MHD")
        add("404", "404 unknown path", "req/s", sm["404"], limit="bare", paired=bare)
        add("401", "401 challenge (no credentials)", "req/s", sm["401"], limit="bare",
            paired=bare)
        add("cheap", "nochg, cheap hash (Argon2 out of the picture)", "req/s", sm["cheap"],
            limit="bare", paired=bare)
        ms = median(sm["argon2_ms"])
        add("argon2_ms", "Argon2 verification (t=3 m=64MiB p=4)", "ms", sm["argon2_ms"])
        add("ceiling", f"LIMIT Argon2 ceiling ({self.cores} cores / verification)", "req/s",
            value=self.cores * 1000 / ms, label="Argon2 ceiling")
        add("cold", "nochg cold (a real verification each)", "req/s", sm["cold"],
            limit="ceiling", label="nochg cold")
        add("warm", "nochg warm: same request repeated", "req/s", sm["warm"], limit="cold",
            target=("ratio", ">=", 1000), paired=sm["cold"])
        add("warm_bare", "nochg warm vs bare MHD", "req/s", sm["warm"], limit="bare",
            target=("ratio", ">=", 0.2), paired=bare)
        note = self.token_note
        add("token", "nochg with a per-host token", "req/s", sm["token"], note=note,
            limit="cold", target=("ratio", ">=", 1000), paired=sm["cold"])
        add("token_bare", "nochg with a per-host token vs bare MHD", "req/s", sm["token"],
            note=note, limit="bare", target=("ratio", ">=", 0.2), paired=bare)

    def dns_figures(self) -> None:
        add, sm = self.res.add, self.samples
        raw1 = self.per_round("raw1")
        self.res.group = "DNS updates (good: cheap hash, distinct hosts, one zone)"
        add("raw1", "LIMIT raw ldns, 1 sender, 1 name/UPDATE", "names/s", sm["raw1"],
            label="raw 1 sender")
        add("raw8", "LIMIT raw ldns, 8 senders, 1 name/UPDATE", "names/s", sm["raw8"],
            label="raw 8 senders")
        add("rawb", f"LIMIT raw ldns, 1 sender, {RAW_BATCH} names/UPDATE", "names/s",
            sm["rawb"], label=f"raw batched x{RAW_BATCH}")
        add("raw_fail", "raw ldns failed UPDATEs (all runs)", "msgs",
            value=sum(sm["raw_fail"]))
        for c in GOOD_CLIENTS:
            target = ("ratio", ">=", 1.5) if c == 64 else None
            clients = f"{c} client{'s' if c > 1 else ''}"
            add(f"good{c}", f"good, {clients}", "upd/s", sm[f"good{c}"], limit="raw1",
                target=target, paired=raw1)
            add(f"good{c}_b", f"good, {clients} vs batched", "upd/s", sm[f"good{c}"],
                limit="rawb", paired=sm["rawb"])
        add("good_bad", "good runs: other replies + errors (all)", "req",
            value=sum(sum(v) for k, v in sm.items() if k.startswith("bad:good c=")))
        add("good1_p50", "good, 1 client: latency p50", "ms", sm["good1_p50"],
            label="good 1 client p50")
        add("good1_p99", "good, 1 client: latency p99", "ms", sm["good1_p99"],
            label="good 1 client p99")
        note = "" if self.cache else "needs the credential cache (warm nochg not >100x cold)"
        add("goodwarm64", "good, 64 clients, normal hash, warm cache", "upd/s",
            sm["goodwarm64"], note=note, limit="raw1", target=("ratio", ">=", 1.5),
            paired=raw1)

    def sick_figures(self) -> None:
        add, sm = self.res.add, self.samples
        self.res.group = (f"sick zone ({SICK_CLIENTS} clients on a zone whose updates hang,"
                          " 1 client on a healthy zone)")
        note = censored(sm["healthy_abandoned"])
        add("healthy_p50", "healthy zone good: latency p50", "ms", sm["healthy_p50"],
            limit="good1_p50", note=note, paired=sm["good1_p50"])
        add("healthy_p99", "healthy zone good: latency p99", "ms", sm["healthy_p99"],
            limit="good1_p99", target=("value", "<", 100), note=note, paired=sm["good1_p99"])
        add("healthy_n", "healthy zone good: answered per round", "req", sm["healthy_n"])
        add("healthy_abandoned", f"healthy zone: given up after {HEALTHY_PATIENCE_MS} ms more"
            " (all rounds)", "req", value=sum(sm["healthy_abandoned"]))
        add("sick_n", "sick zone: answered (all rounds)", "req", value=sum(sm["sick_n"]))
        for k in ("911", "dnserr", "good"):
            add(f"sick_{k}", f"sick zone: {k} replies (all rounds)", "req",
                value=sum(sm[f"sick_{k}"]))
        add("sick_reset", "reset connections, both zones (all rounds)", "conn",
            value=sum(sm["sick_reset"]))
        add("sick_abandoned", "sick zone: unanswered at the end (all rounds)", "req",
            value=sum(sm["sick_abandoned"]))
        add("sick_drain", "sick updates still sent after the clients left", "s",
            sm["sick_drain"], note="" if not self.drain_cut else
            f"a lower bound: cut at --drain-limit {self.a.drain_limit:g} s")

    def flood_figures(self) -> None:
        add, sm = self.res.add, self.samples
        self.res.group = f"wrong-password flood ({FLOOD_CONNS} connections) beside one client"
        add("flood_other_p50", "other client's good: latency p50", "ms", sm["flood_other_p50"],
            limit="good1_p50", target=("value", "<", 50), paired=sm["good1_p50"],
            note=censored(sm["flood_other_abandoned"]))
        add("flood_other_abandoned", f"other client: given up after {HEALTHY_PATIENCE_MS} ms"
            " more (all)", "req", value=sum(sm["flood_other_abandoned"]))
        add("flood_rps", "flood: badauth answered", "req/s", sm["flood_rps"], limit="ceiling")
        add("mem_limit", f"LIMIT memory: {self.cores} cores x 64 MiB + 32 MiB", "MiB",
            value=self.cores * 64 + 32, label="memory limit")
        add("flood_hwm", "peak RSS (VmHWM) during the flood", "MiB", sm["flood_hwm"],
            limit="mem_limit", target=("ratio", "<", 1))
        add("rss_after", "RssAnon idle after the load", "MiB", sm["rss_after"])

    def run(self) -> None:
        self.setup()
        self.argon2_ceiling()
        self.start_figures()
        self.d.start()
        self.check_paths()
        self.detect_token()
        for rnd in range(self.a.rounds):
            t0 = time.monotonic()
            self.http_round(rnd)
            self.dns_round(rnd)
            self.flood_round(rnd)
            self.sick_round(rnd)
            print(f"  round {rnd + 1}/{self.a.rounds} done in {time.monotonic() - t0:.0f} s",
                  flush=True)
        self.http_figures()
        self.dns_figures()
        self.flood_figures()
        self.sick_figures()
        for _ in range(self.a.rounds):
            self.sigterm_run()
        self.sigterm_figures()
        self.expiry_figures()

    def stop(self) -> None:
        for what in ("d", "bare", "bind", "swallow"):
            obj = getattr(self, what, None)
            if obj is not None:
                try:
                    obj.stop()
                except Exception as e:  # keep stopping the others
                    print(f"stopping {what}: {e}", file=sys.stderr)


def censored(abandoned: list[int]) -> str:
    n = sum(abandoned)
    return (f"a lower bound: {n} request(s) given up {HEALTHY_PATIENCE_MS} ms after the run"
            " ended count with their wait so far") if n else ""


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


def meta(args, started: float, load0: str) -> dict:
    def cmd(*c):
        try:
            return subprocess.run(c, capture_output=True, text=True, cwd=ROOT).stdout.strip()
        except OSError:
            return ""

    return {"mode": "quick" if args.quick else "full", "seconds": args.seconds,
            "rounds": args.rounds, "cores": os.cpu_count(), "date": time.strftime("%F %T %z"),
            "commit": cmd("git", "rev-parse", "--short", "HEAD"),
            "kernel": platform.release(), "bind": cmd("named", "-v"),
            "loadavg_start": load0, "loadavg_end": Path("/proc/loadavg").read_text().strip(),
            "duration_s": round(time.monotonic() - started), "binary": BIN}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a short smoke run (~2 minutes)")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    ap.add_argument("--seconds", type=float, help="length of each measurement (6; quick 2)")
    ap.add_argument("--rounds", type=int, help="interleaved rounds, medians over them (3; quick 1)")
    ap.add_argument("--drain-limit", type=float,
                    help="seconds to let the daemon work off a sick-zone backlog before"
                         " restarting it (150; quick 5)")
    args = ap.parse_args()
    args.seconds = args.seconds or (2 if args.quick else 6)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.slow_seconds = 4  # the Argon2-bound warm path: a few seconds do
    args.cold_per_conn = 1 if args.quick else 3
    args.starts = 3 if args.quick else 7
    args.argon2_runs = 3 if args.quick else 7
    args.drain_limit = args.drain_limit or (5 if args.quick else 150)
    started, load0 = time.monotonic(), Path("/proc/loadavg").read_text().strip()
    build()
    print(f"ddns-service benchmark — {os.cpu_count()} cores, release build {BIN}")
    print(f"{'quick' if args.quick else 'full'} run: {args.rounds} round(s) of "
          f"{args.seconds:g} s per figure; load average at start: {load0}", flush=True)
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="ddns-bench-") as tmp, \
            tempfile.TemporaryDirectory(prefix="ddns-bench-", dir=shm) as tmpfs:
        bench = Bench(args, Path(tmp), Path(tmpfs))
        try:
            bench.run()
        finally:
            bench.stop()
    info = meta(args, started, load0)
    print(f"\nddns-service benchmark, {info['date']}, commit {info['commit']}, "
          f"{info['cores']} cores, {info['mode']} run ({args.rounds} round(s) of "
          f"{args.seconds:g} s, medians; {info['duration_s']} s in all)\n"
          f"load average {load0} at the start, {info['loadavg_end']} at the end\n"
          "ratio = value / limit; where the limit was measured in every round, the median of"
          " the rounds' ratios.\ntarget: on the value, or on the ratio where it says so;"
          " n/a: the feature the figure needs is missing.\n")
    print(bench.res.table())
    if args.json:
        bench.res.dump(args.json, info)
        print(f"\nJSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
