# SPDX-License-Identifier: MIT
"""Fixtures of the integration suite: one BIND, one Knot DNS and one PowerDNS for the
session (each started on first use, each with the same two zones: one hmac-sha256 and
one hmac-sha512 key) and a factory of real ddns-service daemons, each with its own
config (mode 600), database, users and hosts made with the CLI.

The database backend is the `backend` fixture: "sqlite" (each daemon its own file)
unless a test is parametrised over backends; "mariadb" gives each daemon a fresh
database on one throwaway mariadbd for the session. A test runs on both backends when
it is marked `@pytest.mark.backends("sqlite", "mariadb")` (or its module sets
`pytestmark`), or is one of CORE_BOTH_BACKENDS below.

The DNS server of the daemons (`make_daemon`, `module_daemons`) is the `dns_server`
fixture: the session's BIND unless a test is parametrised over servers; then it is the
session's `bind`, `knot` or `pdns`. A test runs against every server when it is marked
`@pytest.mark.dns_servers` (or `dns_servers("knot", ...)` for some), or is one of
CORE_ALL_DNS_SERVERS below; such a test asks its DNS questions to `dns_server`, never
to `bind`. Knot and PowerDNS run with the default backend only: BIND runs on every
backend the test names, so the grid is bind × backends + {knot, pdns} × sqlite (what
differs between servers does not depend on the database). Test ids say both:
`test_good_v4[knot-sqlite]`."""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import mariadb  # noqa: E402
from dnsserver import SERVERS, BindServer  # noqa: E402
from helpers import BIN, SEED_ENDPOINTS, Daemon, free_port, start_dns_server  # noqa: E402

# The session's named; DDNS_TEST_BIND_PORT moves it (two suites side by side).
BIND_PORT = int(os.environ.get("DDNS_TEST_BIND_PORT", "25300"))
ZONES = {"dyn.example.com": "hmac-sha256", "dyn2.example.net": "hmac-sha512"}
# Limits far above what a test sends, for the tests that are not about limits.
HIGH_LIMITS = {"enabled": True, "good_window_seconds": 60, "good_max_requests": 100,
               "bad_window_seconds": 60, "bad_max_requests": 100}


BACKENDS = ("sqlite", "mariadb")
# Tests of modules this file does not own that run on both backends: the core update
# results (good, nochg, badauth, nohost, dnserr). A module can opt in itself with the
# `backends` marker instead.
CORE_BOTH_BACKENDS = {
    "test_update.py": {"test_good_v4", "test_good_v6", "test_dual_stack_in_one_request",
                       "test_nochg_keeps_dns_and_refreshes_update_time",
                       "test_one_family_left_alone", "test_several_hosts_mixed_results",
                       "test_badauth", "test_nohost_for_another_users_host",
                       "test_dns_down_gives_dnserr_and_leaves_db"},
}
DNS_SERVERS = ("bind", "knot", "pdns")
# Tests of modules this file does not own that run against every DNS server (SPEC §6):
# the updates that write DNS (one family, both, nochg, several hosts in one request), a
# refused key, the CLI's delete and republish, and an expiry.
CORE_ALL_DNS_SERVERS = {
    "test_update.py": {"test_good_v4", "test_good_v6", "test_dual_stack_in_one_request",
                       "test_nochg_keeps_dns_and_refreshes_update_time",
                       "test_one_family_left_alone", "test_several_hosts_mixed_results",
                       "test_rejected_key_gives_dnserr"},
    "test_cli_dns.py": {"test_modify_dns_ttl_republishes", "test_delete_removes_records"},
    "test_expiry.py": {"test_stale_host_expires_once_with_mail"},
}


def pytest_report_header(config):
    return f"ddns-service binary: {BIN}"


def pytest_configure(config):
    config.addinivalue_line("markers", "backends(*names): run the test once per database "
                            "backend named (sqlite, mariadb; none named: both)")
    config.addinivalue_line("markers", "dns_servers(*names): run the test once per DNS "
                            "server named (bind, knot, pdns; none named: all three)")


def _wanted(metafunc, fixture: str, marker: str, table: dict, every: tuple) -> tuple:
    """The names `fixture` runs with for this test: its marker's, all of `every` for a
    test listed in `table`, else none (not parametrised)."""
    if fixture not in metafunc.fixturenames:
        return ()
    mark = metafunc.definition.get_closest_marker(marker)
    if mark:
        return tuple(mark.args) or every
    if metafunc.function.__name__ in table.get(Path(str(metafunc.definition.fspath)).name, ()):
        return every
    return ()


def pytest_generate_tests(metafunc):
    """Parametrises `backend` and `dns_server` for the tests that run on several."""
    backends = _wanted(metafunc, "backend", "backends", CORE_BOTH_BACKENDS, BACKENDS)
    servers = _wanted(metafunc, "dns_server", "dns_servers", CORE_ALL_DNS_SERVERS,
                      DNS_SERVERS)
    if not servers:
        if backends:
            metafunc.parametrize("backend", backends, indirect=True, ids=list(backends))
        return
    if "backend" not in metafunc.fixturenames:
        metafunc.parametrize("dns_server", servers, indirect=True, ids=list(servers))
        return
    grid = [("bind", b) for b in (backends or ("sqlite",)) if "bind" in servers]
    grid += [(s, "sqlite") for s in servers if s != "bind"]
    metafunc.parametrize(("dns_server", "backend"), grid, indirect=True,
                         ids=[f"{s}-{b}" for s, b in grid])


@pytest.fixture(scope="module")
def backend(request):
    """The database backend of the daemons a test makes: "sqlite" unless parametrised.
    Module-scoped so that module-scoped daemon factories can depend on it."""
    name = getattr(request, "param", "sqlite")
    if name == "mariadb" and not mariadb.available():
        pytest.skip("mariadbd is not installed")
    return name


@pytest.fixture(scope="session")
def mariadb_server(tmp_path_factory):
    """One throwaway mariadbd for the session (started on first use)."""
    if not mariadb.available():
        pytest.skip("mariadbd is not installed")
    srv = mariadb.MariaDB(tmp_path_factory.mktemp("mariadb")).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def bind(tmp_path_factory):
    if not Path(BIN).exists():
        pytest.exit(f"{BIN} not built (set DDNS_SERVICE_BIN)", returncode=3)
    srv = BindServer(tmp_path_factory.mktemp("bind"), BIND_PORT, ZONES)
    srv.start()
    yield srv
    srv.stop()


def _session_server(kind: str, tmp_path_factory):
    """Knot or PowerDNS for the session, with the zones and key algorithms of `bind`,
    on a free port of NAMED_PORTS."""
    if not SERVERS[kind].installed():
        pytest.skip(f"{SERVERS[kind].program} is not installed (scripts/setup-deps.sh)")
    srv = start_dns_server(kind, tmp_path_factory.mktemp(kind), ZONES)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def knot(tmp_path_factory):
    yield from _session_server("knot", tmp_path_factory)


@pytest.fixture(scope="session")
def pdns(tmp_path_factory):
    yield from _session_server("pdns", tmp_path_factory)


@pytest.fixture(scope="module")
def dns_server(request):
    """The DNS server of the daemons a test makes: the `bind` fixture (a module's
    override included) unless parametrised with "knot" or "pdns". Module-scoped so that
    module-scoped daemon factories can depend on it."""
    return request.getfixturevalue(getattr(request, "param", "bind"))


def daemon_sections(dns_server, workdir: Path, port: int, overrides: dict | None = None,
                    zone_keys: dict | None = None, database: dict | None = None) -> dict:
    """The config of a test daemon: loopback, request log on, high rate limits, SQLite
    in `workdir` unless `database` says otherwise; each section of `overrides` updates
    the defaults."""
    sections = {
        "daemon": {"host": "127.0.0.1", "port": port, "log_level": "DEBUG",
                   "log_requests": True},
        "database": dict(database) if database else
        {"backend": "sqlite", "path": str(workdir / "ddns.db")},
        "dns_service": {"dns_server": "127.0.0.1", "dns_port": dns_server.port,
                        "dns_timeout": 2},
        "dns_service.zone_keys": zone_keys if zone_keys is not None else
        {z: dns_server.key_file(z) for z in dns_server.zones},
        "defaults": {"dns_ttl": 60, "expiry_ttl": 3600},
        "rate_limit": dict(HIGH_LIMITS),
    }
    for name, keys in (overrides or {}).items():
        sections.setdefault(name, {}).update(keys)
    return sections


class DaemonFactory:
    """make(...) → a started Daemon; every daemon is stopped (and must exit 0) at the
    end of the fixture's scope."""

    def __init__(self, tmp_path_factory, dns_server, backend: str = "sqlite", request=None):
        self.tmp = tmp_path_factory
        self.dns_server = dns_server
        self.backend = backend
        self.request = request
        self.daemons: list[Daemon] = []

    def database(self):
        """(the [database] section for a new daemon, its MariaDB server or None)."""
        if self.backend != "mariadb":
            return None, None
        srv = self.request.getfixturevalue("mariadb_server")
        return srv.config(srv.create_database()), srv

    def make(self, users: dict | None = None, hosts=(), config: dict | None = None,
             endpoints: str = SEED_ENDPOINTS, dns_server=None, zone_keys: dict | None = None,
             start: bool = True, listen_host: str = "127.0.0.1") -> Daemon:
        dns_server = dns_server or self.dns_server
        workdir = self.tmp.mktemp("ddns")
        config = copy.deepcopy(config or {})
        config.setdefault("daemon", {}).setdefault("host", listen_host)
        database, server = self.database()
        sections = daemon_sections(dns_server, workdir, free_port(), config, zone_keys,
                                   database)
        d = Daemon(workdir, sections, endpoints, mariadb_server=server)
        d.host = "::1" if sections["daemon"]["host"] == "::1" else "127.0.0.1"
        self.daemons.append(d)
        for name, pw in (users or {}).items():
            d.add_user(name, pw)
        for h in hosts:
            d.add_host(*h)
        if start:
            d.start()
        return d

    def finish(self):
        errors = []
        for d in self.daemons:
            if d.proc is not None:
                rc = d.stop()
                if rc != 0:
                    errors.append(f"{d.workdir}: exit {rc} on SIGTERM\n{d.log()[-3000:]}")
            # Under ASan+UBSan a report does not always change the exit status.
            log = d.log()
            if "Sanitizer" in log or "runtime error:" in log:
                errors.append(f"{d.workdir}: sanitizer report\n{log[-6000:]}")
        assert not errors, "\n".join(errors)


@pytest.fixture
def make_daemon(tmp_path_factory, dns_server, backend, request):
    f = DaemonFactory(tmp_path_factory, dns_server, backend, request)
    yield f.make
    f.finish()


@pytest.fixture(scope="module")
def module_daemons(tmp_path_factory, dns_server, backend, request):
    """A factory whose daemons live for the whole module (fewer start-ups)."""
    f = DaemonFactory(tmp_path_factory, dns_server, backend, request)
    yield f.make
    f.finish()
