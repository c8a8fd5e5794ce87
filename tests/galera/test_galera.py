# SPDX-License-Identifier: MIT
"""Several daemons on a Galera cluster (README "Several instances"): three daemons,
each on its own node of a three-node cluster, one zone on the test BIND.

- Concurrent updates of the same hosts through all three daemons leave DNS and every
  node's database agreeing, lose no update, and never answer 911: a conflict that
  Galera reports as a deadlock at commit (certification) is retried.
- Expiry passes and `ddns-service cleanup` on all three nodes at once expire and mail
  every due host exactly once, and none of them fails over the other's claim.
- A node killed (-9) under load: the daemon on it answers 911 and its /health 503
  while its node is gone (it does not fail over: the load balancer does, by /health),
  the other two keep serving; the node rejoins by IST and catches up, its daemon
  serves again, and DB and DNS agree.
- `user passwd` through one node is honoured at once by the daemons on the others,
  also right after their credential caches accepted the old password (the cache is
  keyed by the stored hash), and also when a node's applier lags behind (the daemons
  read with wsrep_sync_wait)."""

from __future__ import annotations

import collections
import ipaddress
import itertools
import random
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import SMTP_PORTS, free_port, uid  # tests/integration (conftest.py)
from smtpsink import SmtpSink

Z = "dyn.example.com"
ALICE = ("alice", "pw-alice")
TEMPLATES = Path(__file__).resolve().parents[2] / "files"
FROM = "ddns-galera@example.org"
EXPIRY_TTL = 3600                 # [defaults] of the test daemons
OK = {"good", "nochg"}


def update(d, fqdn, auth=ALICE, **params):
    qs = "&".join(f"{k}={v}" for k, v in dict(hostname=fqdn, **params).items())
    return d.get(f"/update?{qs}", auth=auth)


def status(text: str) -> str:
    return text.split(" ")[0].strip()


def conflicts(cluster) -> int:
    """Certification failures and brute-force aborts so far, over all nodes: how many
    times Galera rolled a transaction back for a write of another node."""
    n = 0
    for node in cluster.nodes:
        s = node.status()
        n += int(s.get("wsrep_local_cert_failures", 0)) + int(s.get("wsrep_local_bf_aborts", 0))
    return n


def wait_until(pred, timeout=30.0, what="condition", step=0.1):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


def published(row, fam):
    """What named must serve for a family, according to the database row."""
    ip, expired = row[fam], row[f"{fam}_expired"]
    return [] if not ip or expired else [ip]


def assert_agree(trio, bind, fqdns):
    """Every node holds the same rows, and named serves what they say."""
    rows = [trio.rows(n) for n in range(3)]
    for n in (1, 2):
        assert rows[n] == rows[0], f"node {n + 1} differs from node 1"
    for f in fqdns:
        row = rows[0][f]
        assert bind.query(f, "A") == published(row, "ipv4"), (f, row)
        assert bind.query(f, "AAAA") == published(row, "ipv6"), (f, row)
    return rows[0]


# --- concurrent updates of the same hosts ------------------------------------------------
@dataclass
class Req:
    daemon: int
    fqdn: str
    ipv4: str
    ipv6: str
    start: float
    end: float = 0.0
    answer: str = ""


def hammer(trio, fqdns, per_thread: int, addresses, threads_per_daemon: int = 3):
    """threads_per_daemon threads per daemon, released together, each sending
    per_thread updates in a row: request i of thread t updates fqdns[(t + i) % n] to
    addresses(t, i) = (ipv4, ipv6). Returns every request with its answer and times."""
    reqs: list[Req] = []
    lock = threading.Lock()
    n = 3 * threads_per_daemon
    barrier = threading.Barrier(n)

    def run(t: int):
        d = trio.daemons[t % 3]
        barrier.wait()
        for i in range(per_thread):
            fqdn = fqdns[(t + i) % len(fqdns)]
            v4, v6 = addresses(t, i)
            r = Req(t % 3, fqdn, v4, v6, time.monotonic())
            try:
                r.answer = update(d, fqdn, myip=v4, myip6=v6).text.strip()
            except OSError as e:
                r.answer = f"error {e}"
            r.end = time.monotonic()
            with lock:
                reqs.append(r)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    return reqs


def canon(*ips) -> tuple:
    return tuple(ipaddress.ip_address(ip).compressed if ip else ip for ip in ips)


def assert_no_lost_update(reqs, rows):
    """The address each host ended with comes from a request that no other request of
    that host started after the end of: what a later request wrote cannot have been
    overwritten by an earlier one, nor dropped."""
    by_host = collections.defaultdict(list)
    for r in reqs:
        by_host[r.fqdn].append(r)
    for fqdn, rs in by_host.items():
        last = {canon(r.ipv4, r.ipv6) for r in rs if not any(o.start > r.end for o in rs)}
        final = canon(rows[fqdn]["ipv4"], rows[fqdn]["ipv6"])
        assert final in last, f"{fqdn}: ended with {final}, latest requests {last}"


def test_concurrent_updates_of_the_same_hosts(trio, bind):
    """Nine clients (three per daemon) update four hosts: first every request a new
    address pair (each one a DNS change under the host's lock), then from a pool of
    three pairs per host (good and nochg mixed: the unlocked nochg path races the
    locked writes of other nodes). Rounds repeat until Galera has reported at least
    one certification conflict (the case under test), at most four."""
    t = trio(config={"daemon": {"log_level": "INFO"}})
    t.add_user(*ALICE)
    fqdns = t.add_hosts("alice", [uid() for _ in range(4)])
    before = conflicts(t.cluster)
    answers = collections.Counter()
    seq = itertools.count(1)
    for rnd in range(4):
        base = next(seq)

        def fresh(th, i, base=base):
            k = th * 20 + i + 1
            return f"198.51.{100 + base}.{k}", f"2001:db8:{base:x}::{k:x}"

        def pool(th, i, base=base):
            k = random.Random(base * 1000 + th * 50 + i).randrange(3) + 1
            return f"203.0.{100 + base}.{k}", f"2001:db8:{base:x}:1::{k:x}"

        for addresses in (fresh, pool):
            reqs = hammer(t, fqdns, 8, addresses)
            answers.update(status(r.answer) for r in reqs)
            bad = [r for r in reqs if status(r.answer) not in OK]
            assert not bad, f"not good/nochg: {bad[:5]}"
            rows = assert_agree(t, bind, fqdns)
            assert_no_lost_update(reqs, rows)
        if conflicts(t.cluster) > before:
            break
    assert conflicts(t.cluster) > before, "no certification conflict was provoked"
    assert answers["good"] > 0 and answers["nochg"] > 0, answers
    # One more update per host through each daemon in turn: each one goes through.
    for i, f in enumerate(fqdns):
        for k, d in enumerate(t.daemons):
            ip = f"192.0.2.{10 * i + k + 1}"
            assert update(d, f, myip=ip).text == f"good {ip}\n"
            assert bind.query(f, "A") == [ip]
    assert_agree(t, bind, fqdns)


# --- expiry and cleanup on all three at once ------------------------------------------------
@pytest.fixture
def sink(tmp_path):
    s = SmtpSink("127.0.0.1", free_port(SMTP_PORTS), str(tmp_path / "mail")).start()
    yield s
    s.stop()


class CleanupLoop:
    """`ddns-service cleanup` back to back in a thread (through one daemon's node)
    until stopped; collects what each run reported as expired and every failure."""

    def __init__(self, d):
        self.d = d
        self.expired: list[str] = []
        self.failures: list[str] = []
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop_flag.is_set():
            r = self.d.cli("cleanup", check=False)
            if r.returncode != 0:
                self.failures.append(f"exit {r.returncode}: {r.stderr.strip()}")
            self.expired += [line.split()[1] for line in r.stdout.splitlines()
                             if line.startswith("expired ")]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        self.thread.join(120)


def expiries_in_log(d, fqdns) -> collections.Counter:
    c = collections.Counter()
    for line in d.log().splitlines():
        for f in fqdns:
            if f"expiry: {f}: " in line and "records expired" in line:
                c[f] += 1
    return c


def test_expiry_and_cleanup_on_all_nodes_at_once(trio, bind, sink):
    """Six actors: the three daemons' passes (every second) and a loop of `cleanup`
    on each node. Every due host is deleted and mailed exactly once, and no actor
    fails or logs an error because another one claimed a host first."""
    mail = {"enabled": True, "smtp_host": "127.0.0.1", "smtp_port": sink.port,
            "from_address": FROM,
            "change_notification_template": str(TEMPLATES / "change_notification.j2"),
            "expiry_notification_template": str(TEMPLATES / "expiry_notification.j2")}
    t = trio(config={"dns_service": {"cleanup_interval": 1}, "email": mail})
    t.add_user(*ALICE)
    fqdns = t.add_hosts("alice", [uid() for _ in range(18)])
    for i, f in enumerate(fqdns):
        params = {"myip": f"192.0.2.{100 + i}"}
        if i % 2 == 0:
            params["myip6"] = f"2001:db8::{100 + i:x}"
        assert status(update(t.daemons[i % 3], f, **params).text) == "good"
    loops = [CleanupLoop(d) for d in t.daemons]
    for lp in loops:
        lp.__enter__()
    try:
        time.sleep(0.5)
        # Every host becomes due in the same instant, for every actor on every node.
        t.sql(f"UPDATE hostnames SET ipv4_updated = ipv4_updated - {EXPIRY_TTL + 5},"
              f" ipv6_updated = ipv6_updated - {EXPIRY_TTL + 5}")
        wait_until(lambda: all(not bind.query(f, "A") and not bind.query(f, "AAAA")
                               for f in fqdns), what="named to drop every record")
        sink.wait_for(len(fqdns), timeout=30)
        time.sleep(3)   # more passes and cleanup runs: nothing more may happen
    finally:
        for lp in loops:
            lp.__exit__(None, None, None)
    failures = [f for lp in loops for f in lp.failures]
    assert not failures, failures[:5]
    msgs = sink.messages()
    per_host = collections.Counter(f for m in msgs for f in fqdns
                                   if str(m["Subject"]).startswith(f"[DDNS] {f} expired"))
    assert per_host == {f: 1 for f in fqdns}, per_host
    assert len(msgs) == len(fqdns)
    by_actor = sum((expiries_in_log(d, fqdns) for d in t.daemons), collections.Counter())
    by_actor += collections.Counter(f for lp in loops for f in lp.expired)
    assert by_actor == {f: 1 for f in fqdns}, by_actor
    rows = assert_agree(t, bind, fqdns)
    for i, f in enumerate(fqdns):
        assert rows[f]["ipv4_expired"] == 1 and rows[f]["ipv6_expired"] == (i % 2 == 0), rows[f]
    for d in t.daemons:
        errors = [line for line in d.log().splitlines() if " ERROR " in line]
        assert not errors, errors[:5]


# --- a node killed under load -------------------------------------------------------------
class Load:
    """Two clients per daemon sending updates of `fqdns` with a new address each
    time, until stopped; every request is kept with its daemon, times and answer."""

    def __init__(self, trio, fqdns, per_daemon: int = 2):
        self.trio, self.fqdns = trio, fqdns
        self.reqs: list[Req] = []
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(k, c), daemon=True)
                        for k in range(3) for c in range(per_daemon)]

    def _run(self, k: int, c: int):
        rnd = random.Random(k * 10 + c)
        d = self.trio.daemons[k]
        for i in itertools.count():
            if self.stop_flag.is_set():
                return
            fqdn = rnd.choice(self.fqdns)
            v4 = f"198.51.{k * 2 + c}.{i % 250 + 1}"
            v6 = f"2001:db8:{k * 2 + c:x}::{i:x}"
            r = Req(k, fqdn, v4, v6, time.monotonic())
            try:
                r.answer = update(d, fqdn, myip=v4, myip6=v6).text.strip()
            except OSError as e:
                r.answer = f"error {e}"
            r.end = time.monotonic()
            with self.lock:
                self.reqs.append(r)
            if status(r.answer) not in OK:
                time.sleep(0.1)   # a client that got an error retries a bit later

    def __enter__(self):
        for th in self.threads:
            th.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for th in self.threads:
            th.join(120)


def health(d) -> int:
    return d.get("/health").status


def test_node_killed_under_load(trio, bind):
    """Node 2 is killed (-9) under load and restarted at its recovered position.
    Documented behaviour: the daemon on node 2 does not fail over (its [database] names
    one server); it answers 911 and its /health 503 while the node is gone or joining,
    so a load balancer that checks /health sends its clients to the other two, which
    keep serving throughout. Once the node has rejoined (IST) it serves again."""
    t = trio(config={"daemon": {"log_level": "INFO"}})
    t.add_user(*ALICE)
    fqdns = t.add_hosts("alice", [uid() for _ in range(6)])
    node2, d2 = t.nodes[1], t.daemons[1]
    assert [health(d) for d in t.daemons] == [200, 200, 200]
    with Load(t, fqdns) as load:
        time.sleep(3)
        t_kill = time.monotonic()
        node2.kill()
        wait_until(lambda: t.nodes[0].synced(size=2), timeout=60, what="the two-node view")
        t_view = time.monotonic()
        assert health(d2) == 503
        assert health(t.daemons[0]) == 200 and health(t.daemons[2]) == 200
        time.sleep(4)
        t_restart = time.monotonic()
        node2.rejoin(wait=False)
        node2.wait_synced()
        t.cluster.wait_synced()
        t_synced = time.monotonic()
        wait_until(lambda: health(d2) == 200, timeout=30, what="daemon 2 healthy again")
        time.sleep(5)
    reqs = load.reqs
    timeline = (f"kill at 0, two-node view at {t_view - t_kill:.1f} s, restart at "
                f"{t_restart - t_kill:.1f} s, synced at {t_synced - t_kill:.1f} s")
    # The other two kept serving: every answer good, before, during and after.
    survivors = [r for r in reqs if r.daemon != 1]
    bad = [r for r in survivors if status(r.answer) != "good"]
    assert not bad, f"{timeline}: {[(r.answer, round(r.start - t_kill, 1)) for r in bad[:5]]}"
    assert sum(1 for r in survivors if t_kill < r.start < t_synced) >= 4, timeline
    # Daemon 2: good before the kill; while its node was gone, a clear error (911),
    # never a success nor anything else; good again once the node is back.
    mine = [r for r in reqs if r.daemon == 1]
    assert all(status(r.answer) == "good" for r in mine if r.end < t_kill), timeline
    down = [r for r in mine if t_kill < r.start and r.end < t_restart]
    assert down and all(r.answer == "911" for r in down), \
        f"{timeline}: {collections.Counter(r.answer for r in down)}"
    back = [r for r in mine if r.start > t_synced + 1]
    assert back and all(status(r.answer) == "good" for r in back), \
        f"{timeline}: {collections.Counter(r.answer for r in back)}"
    log = d2.log()
    assert "connection lost" in log or "cannot connect" in log
    # The rejoined node caught up, and DNS says what the database says.
    rows = assert_agree(t, bind, fqdns)
    assert_no_lost_update(reqs, rows)


# --- user passwd on one node, honoured on the others ----------------------------------------
def auth_counts(d) -> dict[str, float]:
    """The daemon's ddns_auth_verifications_total by result (ok, fail, cache_hit,
    cache_miss): which requests its credential cache answered."""
    counts = {}
    for line in d.get("/metrics").text.splitlines():
        if line.startswith('ddns_auth_verifications_total{result="'):
            counts[line.split('"')[1]] = float(line.split()[-1])
    return counts


def counted(d, before: dict, **expected) -> None:
    now = auth_counts(d)
    got = {k: now.get(k, 0) - before.get(k, 0) for k in expected}
    assert got == expected, f"daemon on {d.mariadb.n}: {got}, expected {expected}"


def test_passwd_on_one_node_is_honoured_by_the_others_at_once(trio, bind):
    """Each round changes alice's password through another node's CLI. Before it, every
    daemon has just accepted the old password from its credential cache (the metrics
    show a hit); right after it, every daemon refuses the old password, with an Argon2
    check against the new stored hash rather than a cache hit, and accepts the new one
    (the cache is keyed by the stored hash: a changed hash is a miss)."""
    t = trio()
    t.add_user(*ALICE)
    (fqdn,) = t.add_hosts("alice", [uid()])
    old = ALICE[1]
    for rnd in range(3):
        for d in t.daemons:   # the old password, verified once, then from the cache
            assert status(update(d, fqdn, auth=("alice", old), myip="192.0.2.9").text) in OK
            before = auth_counts(d)
            assert status(update(d, fqdn, auth=("alice", old), myip="192.0.2.9").text) in OK
            counted(d, before, cache_hit=1, cache_miss=0)
        new = f"pw-round-{rnd}"
        t.daemons[rnd].cli("user", "passwd", "alice", stdin=new + "\n")
        for d in t.daemons[rnd + 1:] + t.daemons[:rnd + 1]:   # the other nodes first
            before = auth_counts(d)
            assert update(d, fqdn, auth=("alice", old), myip="192.0.2.9").text == "badauth\n"
            counted(d, before, cache_hit=0, cache_miss=1, fail=1)
            assert status(update(d, fqdn, auth=("alice", new), myip="192.0.2.9").text) in OK
        old = new


class PausedNode:
    """FLUSH TABLES WITH READ LOCK held on one node: on Galera it desyncs the node and
    pauses its applier, so the node falls behind the cluster (as a node being backed up
    does) while the others go on committing. Released by UNLOCK TABLES."""

    def __init__(self, node):
        self.proc = subprocess.Popen(
            ["mariadb", "--no-defaults", f"--socket={node.socket}", "-uroot", "--batch",
             "--unbuffered"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.proc.stdin.write("FLUSH TABLES WITH READ LOCK; SELECT 'locked';\n")
        self.proc.stdin.flush()
        while "locked" not in self.proc.stdout.readline():
            if self.proc.poll() is not None:
                raise RuntimeError("FLUSH TABLES WITH READ LOCK failed")

    def release(self):
        if self.proc.poll() is None:
            self.proc.stdin.write("UNLOCK TABLES;\n")
            self.proc.stdin.close()
            self.proc.wait(30)


def test_passwd_is_honoured_by_a_node_that_lags_behind(trio, bind):
    """Node 3's applier is paused when the password changes through node 1, so node 3
    holds the old hash for a while. Its daemon must neither accept the old password nor
    refuse the new one as badauth from that stale copy: it waits until its node has
    caught up (wsrep_sync_wait) and then answers as the cluster says."""
    t = trio()
    t.add_user(*ALICE)
    (fqdn,) = t.add_hosts("alice", [uid()])
    d3 = t.daemons[2]
    assert status(update(d3, fqdn, myip="192.0.2.8").text) in OK
    paused = PausedNode(t.nodes[2])
    answers = {}
    try:
        t.daemons[0].cli("user", "passwd", "alice", stdin="pw-new\n")
        assert t.nodes[2].sql_with_names(
            "SELECT pw_hash FROM users WHERE name = 'alice'", t.database)[0]["pw_hash"] != \
            t.sql("SELECT pw_hash FROM users WHERE name = 'alice'")[0]["pw_hash"], \
            "node 3 did not lag behind: the test would prove nothing"

        def ask(name, pw):
            answers[pw] = update(d3, fqdn, auth=(name, pw), myip="192.0.2.8").text

        asks = [threading.Thread(target=ask, args=("alice", pw)) for pw in
                (ALICE[1], "pw-new")]
        for a in asks:
            a.start()
        time.sleep(2)
    finally:
        paused.release()
    for a in asks:
        a.join(60)
    assert answers[ALICE[1]] == "badauth\n", answers
    assert status(answers["pw-new"]) in OK, answers


# --- what Galera needs of the schema -------------------------------------------------------
def test_schema_suits_galera(trio):
    """Galera replicates InnoDB only, and needs a primary key on every table (rows of a
    table without one may differ in order between nodes, and DELETE is unsupported).
    Every table that --init-db creates, on every node, has both."""
    t = trio(start=False)
    for n in range(3):
        tables = t.sql(
            "SELECT t.table_name AS name, t.engine AS engine, count(c.constraint_name) AS pk"
            " FROM information_schema.tables t LEFT JOIN information_schema.table_constraints c"
            " ON c.table_schema = t.table_schema AND c.table_name = t.table_name"
            " AND c.constraint_type = 'PRIMARY KEY'"
            " WHERE t.table_schema = DATABASE() GROUP BY t.table_name, t.engine", n)
        names = {r["name"] for r in tables}
        assert {"users", "hostnames", "host_leases", "host_tokens", "acme_challenges",
                "schema_version", "schema_progress"} <= names, names
        bad = [r for r in tables if r["engine"] != "InnoDB" or int(r["pk"]) != 1]
        assert not bad, f"node {n + 1}: {bad}"
