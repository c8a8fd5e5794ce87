# SPDX-License-Identifier: MIT
"""Drive the real ddns-service binary: write a config, create users and hosts with the
CLI, run the daemon, send HTTP(S) requests to it. Used by conftest.py and the tests."""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import os
import random
import signal
import socket
import sqlite3
import ssl
import subprocess
import time
from pathlib import Path

from dnsserver import SERVERS, DnsServer

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("DDNS_SERVICE_BIN", str(ROOT / "build" / "src" / "ddns-service"))
DAEMON_PORTS = range(18000, 19000)   # this suite's daemons
SMTP_PORTS = range(12500, 12700)     # SMTP sinks
NAMED_PORTS = range(25400, 25700)    # named instances of single modules (the session's: 25300)
START_TIMEOUT = 20.0                 # seconds until the daemon listens (ASan is slow)
STOP_TIMEOUT = 20.0                  # seconds between SIGTERM and the exit
HTTP_TIMEOUT = 30.0                  # one request (Argon2 under ASan, DNS timeouts)

# The seed's example endpoints: /update with every alias, /nic/update with Dyn's names.
SEED_ENDPOINTS = """
[[endpoints]]
path = "/update"
[endpoints.params]
hostname = ["hostname", "host"]
ipv4 = ["myip", "ipv4", "ip4"]
ipv6 = ["myip6", "ipv6", "ip6"]
username = ["username", "user"]
password = ["password", "pass", "token"]
notify_change = ["notify_change"]

[[endpoints]]
path = "/nic/update"
[endpoints.params]
hostname = ["hostname"]
ipv4 = ["myip"]
ipv6 = ["myip6"]
username = ["username"]
password = ["password"]
notify_change = []
"""

_uid = itertools.count(1)


def uid() -> str:
    """A short label unique within the session: tests share one DNS server."""
    return f"t{next(_uid)}"


def port_free(port: int, kinds=(socket.SOCK_STREAM,)) -> bool:
    """Whether `port` can be bound on both 127.0.0.1 and ::1 for every socket kind."""
    for kind in kinds:
        for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            s = socket.socket(fam, kind)
            try:
                s.bind((host, port))
            except OSError:
                return False
            finally:
                s.close()
    return True


def free_port(ports: range | None = None, kinds=(socket.SOCK_STREAM,)) -> int:
    """A port of `ports` (default DAEMON_PORTS) free on 127.0.0.1 and ::1."""
    ports = list(ports if ports is not None else DAEMON_PORTS)
    random.shuffle(ports)
    for p in ports:
        if port_free(p, kinds):
            return p
    raise RuntimeError(f"no free port in {ports[0]}-{ports[-1]}")


def start_dns_server(kind: str, workdir: Path, zones: dict, ports: range = NAMED_PORTS,
                     attempts: int = 3) -> DnsServer:
    """A started SERVERS[kind] ("bind", "knot", "pdns") serving `zones` on a port of
    `ports` free for UDP and TCP; a port some other process takes between our check and
    the server's start costs one more attempt on another port (in its own subdirectory
    of workdir, since the port is part of the config)."""
    err = None
    for _ in range(attempts):
        port = free_port(ports, (socket.SOCK_STREAM, socket.SOCK_DGRAM))
        srv = SERVERS[kind](Path(workdir) / f"port-{port}", port, zones)
        try:
            srv.start()
            return srv
        except RuntimeError as e:
            err = e
    raise err


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v))  # a TOML basic string is a JSON string for our values


def to_toml(sections: dict, tail: str = "") -> str:
    """{"daemon": {"port": 1}, "dns_service.zone_keys": {...}} → TOML text."""
    out = []
    for name, keys in sections.items():
        out.append(f"[{name}]")
        out.extend(f"{_toml_value(k) if '.' in k else k} = {_toml_value(v)}"
                   for k, v in keys.items())
        out.append("")
    return "\n".join(out) + tail


class Response:
    def __init__(self, status: int, headers: dict, body: bytes, version: int):
        self.status = status
        self.headers = headers          # lower-case names
        self.body = body
        self.text = body.decode("utf-8", "replace")
        self.version = version

    def json(self):
        return json.loads(self.text)

    def __repr__(self):
        return f"<{self.status} {self.text!r}>"


def http_get(host: str, port: int, target: str, auth: tuple[str, str] | None = None,
             headers: dict | None = None, method: str = "GET", ca: str | None = None,
             body: bytes | None = None) -> Response:
    """One request on a fresh connection (HTTPS when `ca` is given)."""
    h = dict(headers or {})
    if auth is not None:
        h["Authorization"] = "Basic " + base64.b64encode(
            f"{auth[0]}:{auth[1]}".encode()).decode()
    if ca:
        ctx = ssl.create_default_context(cafile=ca)
        conn = http.client.HTTPSConnection(host, port, timeout=HTTP_TIMEOUT, context=ctx)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=HTTP_TIMEOUT)
    try:
        conn.request(method, target, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data, r.version)
    finally:
        conn.close()


class Daemon:
    """One ddns-service instance with its own config in `workdir` and its database:
    SQLite (`path`, by default in workdir) or MariaDB on `mariadb_server`."""

    def __init__(self, workdir: Path, sections: dict, endpoints: str = SEED_ENDPOINTS,
                 mariadb_server=None):
        self.mariadb = mariadb_server
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.sections = sections
        self.port = sections["daemon"]["port"]
        self.host = "127.0.0.1"
        self.config = self.workdir / "config.toml"
        self.log_path = self.workdir / "daemon.log"
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None
        self.ca: str | None = None
        fd = os.open(self.config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(to_toml(sections, endpoints))
        os.chmod(self.config, 0o600)

    # --- CLI ------------------------------------------------------------------------------
    def cli(self, *args: str, stdin: str | None = None, check: bool = True):
        r = subprocess.run([BIN, "-c", str(self.config), *args], input=stdin,
                           capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"ddns-service {' '.join(args)} → {r.returncode}\n"
                                 f"{r.stdout}{r.stderr}")
        return r

    def add_user(self, name: str, password: str) -> None:
        self.cli("user", "add", name, f"{name}@example.com", stdin=password + "\n")

    def add_host(self, user: str, host: str, zone: str, *extra: str) -> None:
        self.cli("hostname", "add", user, host, zone, *extra)

    def hosts(self) -> dict:
        """`hostname list --json` as {fqdn: row}."""
        rows = json.loads(self.cli("hostname", "list", "--json").stdout)
        out = {}
        for r in rows:
            fqdn = r.get("fqdn") or f"{r['hostname']}.{r['zone']}"
            out[fqdn] = r
        return out

    # --- the database directly (what a test cannot wait for, e.g. time passing) ----------
    @property
    def backend(self) -> str:
        return self.sections["database"].get("backend", "sqlite")

    def sql(self, query: str, params: tuple = ()) -> list[dict]:
        """Runs one statement on the daemon's database (SQLite or MariaDB) beside the
        running daemon; `?` placeholders; returns the rows as dicts."""
        if self.backend == "mariadb":
            return self._mariadb_sql(query, params)
        con = sqlite3.connect(self.sections["database"]["path"], timeout=10)
        try:
            con.row_factory = sqlite3.Row
            with con:
                return [dict(r) for r in con.execute(query, params).fetchall()]
        finally:
            con.close()

    def _mariadb_sql(self, query: str, params: tuple) -> list[dict]:
        def literal(v):
            if v is None:
                return "NULL"
            if isinstance(v, bool):
                return "1" if v else "0"
            if isinstance(v, int):
                return str(v)
            return "'" + str(v).replace("\\", "\\\\").replace("'", "''") + "'"

        parts = query.split("?")
        assert len(parts) == len(params) + 1, query
        text = parts[0] + "".join(literal(p) + rest for p, rest in zip(params, parts[1:]))
        rows = self.mariadb.sql_with_names(text, self.sections["database"]["name"])
        return rows

    def db_row(self, fqdn: str) -> dict:
        """The hostnames row of `fqdn` (integers as int, NULL as None)."""
        rows = self.sql("SELECT * FROM hostnames WHERE fqdn = ?", (fqdn,))
        assert len(rows) == 1, fqdn
        return rows[0]

    def backdate(self, fqdn: str, seconds: int, families=("ipv4", "ipv6")) -> dict:
        """Moves the last update of `families` `seconds` into the past (as if no client
        had sent anything for that long); returns the row afterwards."""
        # One statement: an expiry pass between two would see one family due and not
        # the other, and expire (and mail) the host twice.
        sets = ", ".join(f"{fam}_updated = {fam}_updated - ?" for fam in families)
        self.sql(f"UPDATE hostnames SET {sets} WHERE fqdn = ?", (*[seconds] * len(families), fqdn))
        return self.db_row(fqdn)

    # --- the daemon -----------------------------------------------------------------------
    def start(self, wait: bool = True) -> None:
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen([BIN, "--daemon", "-c", str(self.config)],
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
        finally:
            log.close()
        if wait:
            self.wait_listening()

    def wait_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.returncode = self.proc.returncode
                raise AssertionError(f"daemon exited with {self.returncode}:\n{self.log()}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"daemon not listening after {START_TIMEOUT} s:\n{self.log()}")

    def wait_exit(self, timeout: float = STOP_TIMEOUT) -> int:
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            raise AssertionError(f"daemon did not exit within {timeout} s:\n{self.log()}")
        self.proc = None
        return self.returncode

    def stop(self) -> int:
        """SIGTERM and wait; returns the exit status."""
        if self.proc is None:
            return self.returncode if self.returncode is not None else 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait_exit()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"

    def get(self, target: str, auth: tuple[str, str] | None = None, host: str | None = None,
            **kw) -> Response:
        return http_get(host or self.host, self.port, target, auth=auth, ca=self.ca, **kw)
