# SPDX-License-Identifier: MIT
"""Several processes on one database (SPEC §7, issue 5), on both backends: two daemons
plus concurrent `ddns-service cleanup` runs. Each expired host is deleted and mailed
exactly once, and concurrent updates of one host (racing each other and the expiry
passes) always leave what named serves and what the database says in agreement."""

from __future__ import annotations

import collections
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from helpers import SMTP_PORTS, free_port, uid  # noqa: E402
from smtpsink import SmtpSink  # noqa: E402

pytestmark = pytest.mark.backends("sqlite", "mariadb")

Z = "dyn.example.com"
ALICE = ("alice", "pw-alice")
EXPIRY_TTL = 3600                     # [defaults] of the test daemons
TEMPLATES = Path(__file__).resolve().parents[2] / "files"
FROM = "ddns-concurrency@example.org"


@pytest.fixture
def sink(tmp_path):
    port = free_port(SMTP_PORTS)
    s = SmtpSink("127.0.0.1", port, str(tmp_path / "mail")).start()
    yield s
    s.stop()


def config(sink=None) -> dict:
    """Expiry passes every second, no rate limit (the tests hammer from 127.0.0.1)."""
    c = {"dns_service": {"cleanup_interval": 1}, "rate_limit": {"enabled": False}}
    if sink is not None:
        c["email"] = {"enabled": True, "smtp_host": "127.0.0.1", "smtp_port": sink.port,
                      "from_address": FROM,
                      "change_notification_template": str(TEMPLATES / "change_notification.j2"),
                      "expiry_notification_template": str(TEMPLATES / "expiry_notification.j2")}
    return c


def two_daemons(make_daemon, hosts, sink=None):
    """Two daemons on one database (the second reuses the first's [database])."""
    d1 = make_daemon(users={"alice": ALICE[1]}, hosts=hosts, config=config(sink))
    c2 = config(sink)
    c2["database"] = dict(d1.sections["database"])
    d2 = make_daemon(config=c2)
    d2.mariadb = d1.mariadb
    return d1, d2


def update(d, fqdn, **params):
    qs = "&".join(f"{k}={v}" for k, v in dict(hostname=fqdn, **params).items())
    return d.get(f"/update?{qs}", auth=ALICE)


class CleanupLoop:
    """Runs `ddns-service cleanup` back to back in a thread until stopped; collects
    what each run reported as expired."""

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
                self.failures.append(r.stderr)
            self.expired += [line.split()[1] for line in r.stdout.splitlines()
                             if line.startswith("expired ")]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        self.thread.join(60)


def expiries_in_log(d, fqdns) -> collections.Counter:
    c = collections.Counter()
    for line in d.log().splitlines():
        for f in fqdns:
            if f"expiry: {f}: " in line and "records expired" in line:
                c[f] += 1
    return c


def wait_until(pred, timeout=20.0, what="condition"):
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_each_expired_host_is_deleted_and_mailed_once(make_daemon, sink, bind, backend):
    """Four actors expire at once: two daemons (passes every second) and two loops of
    `ddns-service cleanup`. Every host must be expired by exactly one of them."""
    labels = [uid() for _ in range(16)]
    fqdns = [f"{lb}.{Z}" for lb in labels]
    d1, d2 = two_daemons(make_daemon, [("alice", lb, Z) for lb in labels], sink)
    for i, f in enumerate(fqdns):
        r = update(d1 if i % 2 else d2, f, myip=f"192.0.2.{100 + i}",
                   myip6=f"2001:db8::{100 + i:x}")
        assert r.text.startswith("good "), r
    with CleanupLoop(d1) as c1, CleanupLoop(d2) as c2:
        time.sleep(0.3)
        # All hosts become due in the same instant, for every actor.
        d1.sql("UPDATE hostnames SET ipv4_updated = ipv4_updated - ?, "
               "ipv6_updated = ipv6_updated - ?", (EXPIRY_TTL + 5, EXPIRY_TTL + 5))
        wait_until(lambda: all(not bind.query(f, "A") and not bind.query(f, "AAAA")
                               for f in fqdns), what="named to drop every record")
        msgs = sink.wait_for(len(fqdns), timeout=20)
        time.sleep(2.5)     # a few more passes and cleanup runs: nothing more may happen
    assert not c1.failures and not c2.failures, c1.failures + c2.failures
    msgs = sink.messages()
    per_host = collections.Counter(f for m in msgs for f in fqdns
                                   if str(m["Subject"]).startswith(f"[DDNS] {f} expired"))
    assert per_host == {f: 1 for f in fqdns}, per_host
    assert len(msgs) == len(fqdns)
    # Who expired what: every host once across daemons and cleanup runs.
    by_actor = (expiries_in_log(d1, fqdns) + expiries_in_log(d2, fqdns)
                + collections.Counter(c1.expired) + collections.Counter(c2.expired))
    assert by_actor == {f: 1 for f in fqdns}, by_actor
    rows = d2.hosts()
    assert all(rows[f]["ipv4_expired"] and rows[f]["ipv6_expired"] for f in fqdns)


def stable_state(d, fqdn, bind):
    """(database row, A, AAAA) read twice in a row with the same answer, so that a pass
    caught between its DNS delete and its commit is not mistaken for disagreement."""
    for _ in range(20):
        row = d.hosts()[fqdn]
        a, aaaa = bind.query(fqdn, "A"), bind.query(fqdn, "AAAA")
        time.sleep(0.2)
        again = d.hosts()[fqdn]
        if row == again and a == bind.query(fqdn, "A") and aaaa == bind.query(fqdn, "AAAA"):
            return row, a, aaaa
    raise AssertionError(f"{fqdn} never settled")


def published(row, fam):
    """What named must serve for a family, according to the database row."""
    ip, expired = row[fam], row[f"{fam}_expired"]
    return [] if not ip or expired else [ip]


def test_concurrent_updates_leave_dns_and_database_agreeing(make_daemon, bind, backend):
    """Rounds of simultaneous updates of one host with different addresses, two
    threads per daemon, while the host is made due before every round so that the
    expiry passes of both daemons race the updates too."""
    label = uid()
    fqdn = f"{label}.{Z}"
    d1, d2 = two_daemons(make_daemon, [("alice", label, Z)])
    answers = collections.Counter()
    lock = threading.Lock()
    for rnd in range(12):
        d1.sql("UPDATE hostnames SET ipv4_updated = ipv4_updated - ?, "
               "ipv6_updated = ipv6_updated - ? WHERE fqdn = ?",
               (EXPIRY_TTL + 5, EXPIRY_TTL + 5, fqdn))
        barrier = threading.Barrier(4)

        def fire(d, n, rnd=rnd, barrier=barrier):
            params = {"myip": f"198.51.{rnd}.{n}"}
            if n % 2:
                params["myip6"] = f"2001:db8:{rnd:x}::{n}"
            barrier.wait()
            r = update(d, fqdn, **params)
            with lock:
                answers[r.text.split(" ")[0].strip()] += 1

        threads = [threading.Thread(target=fire, args=(d, n))
                   for n, d in enumerate((d1, d2, d1, d2))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        row, a, aaaa = stable_state(d1, fqdn, bind)
        assert a == published(row, "ipv4"), (rnd, row, a)
        assert aaaa == published(row, "ipv6"), (rnd, row, aaaa)
    assert set(answers) <= {"good", "nochg"}, answers
    assert answers["good"] >= 12 * 3, answers
