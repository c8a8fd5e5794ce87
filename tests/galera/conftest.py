# SPDX-License-Identifier: MIT
"""Fixtures of the Galera suite: the integration suite's BIND and daemon factory
(tests/integration/conftest.py, loaded under another name), one three-node Galera
cluster on loopback for the session (tests/integration/galera.py says how it is built)
and `trio`: three daemons, one per node, on one database of their own.

A separate suite (scripts/test.sh runs it as its own step) because the cluster takes
half a minute to start and a node's kill and rejoin most of another."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

INTEGRATION = Path(__file__).resolve().parents[1] / "integration"
sys.path.insert(0, str(INTEGRATION))
import galera  # noqa: E402
import helpers  # noqa: E402
from argon2.low_level import Type, hash_secret  # noqa: E402


def _load_integration_conftest():
    spec = importlib.util.spec_from_file_location("integration_conftest",
                                                  INTEGRATION / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_integration = _load_integration_conftest()
bind = _integration.bind                 # the session's named (DDNS_TEST_BIND_PORT)
DaemonFactory = _integration.DaemonFactory

Z = "dyn.example.com"
# The cheapest argon2id there is (bench/run.py's trick): a daemon's own Argon2 cost
# (t=3, 64 MiB) would make every test wait for verifications instead of the cluster.
ARGON2_CHEAP = {"time_cost": 1, "memory_cost": 8, "parallelism": 1, "hash_len": 32}


def cheap_hash(password: str) -> str:
    return hash_secret(password.encode(), os.urandom(16), type=Type.ID,
                       **ARGON2_CHEAP).decode()


def pytest_report_header(config):
    return f"ddns-service binary: {helpers.BIN}"


@pytest.fixture(scope="session")
def cluster():
    """Three Galera nodes, Synced, for the whole session; stopped (by PID) and
    removed at the end."""
    if not galera.available():
        pytest.skip("galera-4, rsync or mariadb-server is not installed")
    c = galera.GaleraCluster()
    try:
        c.start()
        yield c
    finally:
        c.stop()
        c.remove()


class Trio:
    """Three daemons on one database, daemon i talking to node i only. Users and hosts
    are made with the first daemon's CLI (node 1); `sql` reads through any node with
    wsrep_sync_wait, so a read sees every commit the cluster has made."""

    def __init__(self, cluster, database: str, daemons: list):
        self.cluster = cluster
        self.database = database
        self.daemons = daemons
        self.nodes = cluster.nodes

    def sql(self, query: str, node: int = 0) -> list[dict]:
        return self.nodes[node].sql_with_names(
            "SET SESSION wsrep_sync_wait = 1;\n" + query, self.database)

    def add_user(self, name: str, password: str, cheap: bool = True) -> None:
        self.daemons[0].add_user(name, password)
        if cheap:
            self.sql(f"UPDATE users SET pw_hash = '{cheap_hash(password)}' "
                     f"WHERE name = '{name}'")

    def add_hosts(self, user: str, labels: list[str], zone: str = Z) -> list[str]:
        for label in labels:
            self.daemons[0].add_host(user, label, zone)
        return [f"{label}.{zone}" for label in labels]

    def rows(self, node: int = 0) -> dict[str, dict]:
        return {r["fqdn"]: r for r in self.sql(
            "SELECT fqdn, ipv4, ipv4_updated, ipv4_expired, ipv6, ipv6_updated, "
            "ipv6_expired FROM hostnames", node)}


@pytest.fixture
def trio(cluster, tmp_path_factory, bind, request):
    """make(config=None) → a Trio of started daemons on a fresh database; the daemons
    must exit 0 on SIGTERM at the end (DaemonFactory.finish)."""
    factory = DaemonFactory(tmp_path_factory, bind, "sqlite", request)

    def make(config: dict | None = None, start: bool = True) -> Trio:
        cluster.wait_synced()
        db = cluster.create_database()
        daemons = []
        for node in cluster.nodes:
            c = {k: dict(v) for k, v in (config or {}).items()}
            c["database"] = node.config(db)
            c.setdefault("rate_limit", {})["enabled"] = False
            d = factory.make(config=c, start=False)
            d.mariadb = node
            daemons.append(d)
        daemons[0].cli("--init-db")
        if start:
            for d in daemons:
                d.start()
        return Trio(cluster, db, daemons)

    yield make
    factory.finish()
