# SPDX-License-Identifier: MIT
"""Fixtures of the integration suite: one BIND for the session (two zones, one
hmac-sha256 and one hmac-sha512 key) and a factory of real ddns-service daemons, each
with its own config (mode 600), SQLite database, users and hosts made with the CLI."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from dnsserver import BindServer  # noqa: E402
from helpers import BIN, SEED_ENDPOINTS, Daemon, free_port  # noqa: E402

BIND_PORT = 25300
ZONES = {"dyn.example.com": "hmac-sha256", "dyn2.example.net": "hmac-sha512"}
# Limits far above what a test sends, for the tests that are not about limits.
HIGH_LIMITS = {"enabled": True, "good_window_seconds": 60, "good_max_requests": 100,
               "bad_window_seconds": 60, "bad_max_requests": 100}


def pytest_report_header(config):
    return f"ddns-service binary: {BIN}"


@pytest.fixture(scope="session")
def bind(tmp_path_factory):
    if not Path(BIN).exists():
        pytest.exit(f"{BIN} not built (set DDNS_SERVICE_BIN)", returncode=3)
    srv = BindServer(tmp_path_factory.mktemp("bind"), BIND_PORT, ZONES)
    srv.start()
    yield srv
    srv.stop()


def daemon_sections(dns_server, workdir: Path, port: int, overrides: dict | None = None,
                    zone_keys: dict | None = None) -> dict:
    """The config of a test daemon: loopback, request log on, high rate limits; each
    section of `overrides` updates the defaults."""
    sections = {
        "daemon": {"host": "127.0.0.1", "port": port, "log_level": "DEBUG",
                   "log_requests": True},
        "database": {"backend": "sqlite", "path": str(workdir / "ddns.db")},
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

    def __init__(self, tmp_path_factory, bind):
        self.tmp = tmp_path_factory
        self.bind = bind
        self.daemons: list[Daemon] = []

    def make(self, users: dict | None = None, hosts=(), config: dict | None = None,
             endpoints: str = SEED_ENDPOINTS, dns_server=None, zone_keys: dict | None = None,
             start: bool = True, listen_host: str = "127.0.0.1") -> Daemon:
        dns_server = dns_server or self.bind
        workdir = self.tmp.mktemp("ddns")
        config = copy.deepcopy(config or {})
        config.setdefault("daemon", {}).setdefault("host", listen_host)
        sections = daemon_sections(dns_server, workdir, free_port(), config, zone_keys)
        d = Daemon(workdir, sections, endpoints)
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
def make_daemon(tmp_path_factory, bind):
    f = DaemonFactory(tmp_path_factory, bind)
    yield f.make
    f.finish()


@pytest.fixture(scope="module")
def module_daemons(tmp_path_factory, bind):
    """A factory whose daemons live for the whole module (fewer start-ups)."""
    f = DaemonFactory(tmp_path_factory, bind)
    yield f.make
    f.finish()
