# SPDX-License-Identifier: MIT
"""The MariaDB backend end to end: the CLI behaves exactly as with SQLite, the daemon
survives a MariaDB restart (the request during the outage gets a retryable answer, the
database keeps no half-written state, the next requests succeed), and the password
never reaches a log."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import mariadb  # noqa: E402
from helpers import uid  # noqa: E402

Z = "dyn.example.com"
ALICE = ("alice", "pw-alice")

pytestmark = pytest.mark.skipif(not mariadb.available(), reason="mariadbd is not installed")


def update(d, fqdn, **params):
    qs = "&".join(f"{k}={v}" for k, v in dict(hostname=fqdn, **params).items())
    return d.get(f"/update?{qs}", auth=ALICE)


# --- the CLI: the same answers on both backends ------------------------------------------
def cli_session(d, label: str) -> list[tuple[int, str, str]]:
    """The README's management commands, errors included, with times masked."""
    home, office = f"{label}a", f"{label}b"
    steps = [
        ("--init-db",), ("user", "add", "alice", "alice@example.com"),
        ("user", "add", "bob", "bob@example.com"), ("user", "add", "bob", "b@example.com"),
        ("user", "list"), ("user", "list", "--json"),
        ("hostname", "add", "alice", home, Z),
        ("hostname", "add", "bob", office, Z, "--dns-ttl", "120", "--expiry-ttl", "0"),
        ("hostname", "add", "alice", home, Z), ("hostname", "add", "carol", "x", Z),
        ("user", "delete", "alice"), ("user", "email", "bob", "bob@example.org"),
        ("hostname", "modify", home, Z, "--dns-ttl", "300"),
        ("token", "add", home, Z, "--note", "hall"), ("token", "add", office, Z),
        ("token", "list"), ("token", "list", "--user", "bob", "--json"),
        ("token", "delete", "2"), ("token", "delete", "2"), ("token", "add", "nope", Z),
        ("hostname", "list"), ("hostname", "list", "--user", "bob", "--json"),
        ("hostname", "delete", home, Z), ("token", "list"), ("hostname", "delete", home, Z),
        ("user", "delete", "alice"), ("user", "list"), ("cleanup",),
    ]
    out = []
    for args in steps:
        r = d.cli(*args, stdin="secret-pw\n", check=False)
        text = (r.stdout + "\0" + r.stderr).replace(home, "HOME").replace(office, "OFFICE")
        text = re.sub(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\dZ?", "TIME", text)
        text = re.sub(r"ddns_[A-Za-z0-9_-]{32}", "TOKEN", text)
        out.append((" ".join(args), r.returncode, text))
    return out


def test_cli_behaves_as_with_sqlite(make_daemon, mariadb_server):
    lite = make_daemon(start=False)
    maria = make_daemon(start=False, config={"database": mariadb_server.config(
        mariadb_server.create_database())})
    label = uid()
    a, b = cli_session(lite, label), cli_session(maria, label)
    for x, y in zip(a, b):
        assert x == y
    assert [rc for _, rc, _ in b] == [0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0,
                                      1, 1, 0, 0, 0, 0, 1, 0, 0, 0], b
    lists = [text.split("\0")[0].splitlines() for args, _, text in b if args == "token list"]
    assert [len(rows) for rows in lists] == [3, 1], "home's token went with the host"
    assert lists[0][1].split()[1:3] == ["HOME.dyn.example.com", "alice"]
    assert mariadb.PASSWORD not in "".join(t for _, _, t in b)


# --- a MariaDB restart under a running daemon ---------------------------------------------
@pytest.fixture
def own_mariadb(tmp_path):
    """A server of this test's own, so that restarting it disturbs nobody else."""
    srv = mariadb.MariaDB(tmp_path / "mariadb").start()
    yield srv
    srv.stop()


def test_mariadb_restart_mid_run(make_daemon, own_mariadb, bind):
    srv = own_mariadb
    label = uid()
    fqdn = f"{label}.{Z}"
    d = make_daemon(users={"alice": ALICE[1]}, hosts=[("alice", label, Z)],
                    config={"database": srv.config(srv.create_database()),
                            "daemon": {"log_level": "DEBUG"}})
    d.mariadb = srv
    assert update(d, fqdn, myip="192.0.2.61").text == "good 192.0.2.61\n"

    srv.stop()
    r = update(d, fqdn, myip="192.0.2.62")
    assert r.status == 200 and r.text in ("911\n", "dnserr\n"), r
    assert bind.query(fqdn, "A") == ["192.0.2.61"]

    srv.start()
    # Nothing of the failed request was written.
    assert d.db_row(fqdn)["ipv4"] == "192.0.2.61"
    assert d.hosts()[fqdn]["ipv4"] == "192.0.2.61"
    # Every worker thread's connection died with the server; each finds out on its
    # next request and must still answer it (more requests than worker threads).
    for i in range(12):
        ip = f"192.0.2.{70 + i}"
        assert update(d, fqdn, myip=ip).text == f"good {ip}\n"
        assert bind.query(fqdn, "A") == [ip]
    assert d.hosts()[fqdn]["ipv4"] == "192.0.2.81"

    # A restart while idle: not one request fails.
    srv.restart()
    for i in range(12):
        assert update(d, fqdn, myip="192.0.2.81").text == "nochg 192.0.2.81\n"
    assert update(d, fqdn, myip="192.0.2.90").text == "good 192.0.2.90\n"
    assert d.hosts()[fqdn]["ipv4"] == "192.0.2.90" and bind.query(fqdn, "A") == ["192.0.2.90"]

    log = d.log()
    assert "connection lost" in log or "cannot connect" in log
    assert mariadb.PASSWORD not in log
    assert d.proc.poll() is None


def test_daemon_refuses_to_start_without_mariadb(make_daemon, tmp_path):
    """A database that cannot be reached at start is a clear error, not a hang."""
    port = mariadb.free_port()
    d = make_daemon(start=False, config={"database": {
        "backend": "mariadb", "host": "127.0.0.1", "port": port, "user": "ddns",
        "password": "not-logged-pw", "name": "ddns_x"}})
    t0 = time.monotonic()
    r = d.cli("--init-db", check=False)
    assert r.returncode == 2, r
    assert time.monotonic() - t0 < 10
    assert "cannot connect" in r.stderr and f"127.0.0.1:{port}/ddns_x" in r.stderr
    assert "not-logged-pw" not in r.stdout + r.stderr


def test_opening_a_current_database_runs_no_ddl(make_daemon, own_mariadb):
    """Every connection checks the schema version when it opens. On an up-to-date
    database that must be a read only: on Galera any DDL (even a CREATE TABLE IF NOT
    EXISTS of an existing table) stops the whole cluster for a moment, and fails while
    a node's replication is paused for a backup."""
    srv = own_mariadb
    d = make_daemon(start=False, config={"database": srv.config(srv.create_database())})
    d.cli("--init-db")

    def ddl_count() -> int:
        rows = srv.sql("SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_create_table',"
                       " 'Com_alter_table', 'Com_drop_table')")
        return sum(int(v) for _, v in rows)

    before = ddl_count()
    d.cli("user", "list")
    d.add_user("alice", ALICE[1])
    assert ddl_count() == before
