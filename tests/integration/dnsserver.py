# SPDX-License-Identifier: MIT
"""Throwaway authoritative DNS servers on loopback for RFC 2136 + TSIG tests.

`DnsServer` is the interface the tests code against; its subclasses run a real server in
a temp dir, each with the same zones, keys and policies: `BindServer` (BIND 9, named -g),
`KnotServer` (Knot DNS 3.2, knotd) and `PowerDnsServer` (PowerDNS Authoritative 4.7 with
the gsqlite3 backend). SERVERS maps the short names bind/knot/pdns to them.

A server counts as ready only when the process we started is alive, answers
`id.server CH TXT` with the unique identity written into its config, and serves the SOA
of every zone: another server already on the port (Knot shares UDP ports through
SO_REUSEPORT; named keeps running without its sockets) can never pass for ours.

Use from pytest:

    srv = KnotServer(tmp_path, 15320, {"dyn.example.com": "hmac-sha256", "open.test": None})
    with srv:
        srv.query("ns1.dyn.example.com", "A")

or from a C test as a supervisor process (stops the server when stdin closes):

    python3 dnsserver.py serve [--server bind|knot|pdns] --workdir D --port P \
        --zone dyn.example.com=hmac-sha256 ...

which prints one JSON line with the key file paths once the server answers.
"""

from __future__ import annotations

import abc
import argparse
import base64
import ctypes
import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rdataclass
import dns.rdatatype
import dns.rcode

ALGORITHMS = ("hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384",
              "hmac-sha512")
SECRET_BYTES = {"hmac-md5": 16, "hmac-sha1": 20, "hmac-sha224": 28, "hmac-sha256": 32,
                "hmac-sha384": 48, "hmac-sha512": 64}
READY_TIMEOUT = 15.0  # seconds for a server to answer its first SOA query
STOP_TIMEOUT = 5.0    # seconds between SIGTERM and SIGKILL
PR_SET_PDEATHSIG = 1


def write_key_file(path: Path, name: str, algorithm: str, secret: bytes | None = None) -> Path:
    """Writes a BIND key file like tsig-keygen does; a random secret unless given."""
    if secret is None:
        secret = secrets.token_bytes(SECRET_BYTES[algorithm])
    text = (f'key "{name}" {{\n\talgorithm {algorithm};\n'
            f'\tsecret "{base64.b64encode(secret).decode()}";\n}};\n')
    path.write_text(text)
    return path


def read_key_file(path: Path) -> tuple[str, str, str]:
    """(name, algorithm, base64 secret) of a key file written by tsig-keygen or by us."""
    name = alg = secret = ""
    for line in Path(path).read_text().splitlines():
        words = line.replace(";", " ").replace('"', " ").split()
        if words[:1] == ["key"]:
            name = words[1]
        elif words[:1] == ["algorithm"]:
            alg = words[1]
        elif words[:1] == ["secret"]:
            secret = words[1]
    return name, alg, secret


def _die_with_parent() -> None:
    """Runs in the child before exec: the server dies when its starter does (even on
    SIGKILL), so a crashed test never leaves a server behind."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class DnsServer(abc.ABC):
    """One authoritative server on 127.0.0.1 (and ::1) at `port` serving `zones`.

    zones maps a zone name to the TSIG algorithm of the key allowed to update it, or to
    None for a zone that accepts unsigned updates from 127.0.0.1."""

    address = "127.0.0.1"
    address6 = "::1"
    program = ""  # the server binary, for "is it installed"

    @classmethod
    def installed(cls) -> bool:
        return shutil.which(cls.program) is not None

    def __init__(self, workdir: str | os.PathLike, port: int, zones: dict[str, str | None]):
        for alg in zones.values():
            if alg is not None and alg not in ALGORITHMS:
                raise ValueError(f"unknown TSIG algorithm {alg!r}")
        self.workdir = Path(workdir).absolute()
        self.port = port
        self._zones = dict(zones)
        self._keys: dict[str, Path] = {}
        self.identity = ""  # id.server CH TXT of this instance, set by the first start
        self.ready_timeout = READY_TIMEOUT
        self.proc: subprocess.Popen | None = None
        self.workdir.mkdir(parents=True, exist_ok=True)

    # --- the interface -------------------------------------------------------------------
    @abc.abstractmethod
    def _write_config(self) -> None:
        """Writes keys (with _generate_key), config and zone files into workdir, the
        config with self.identity as the server's identity (called once per workdir)."""

    @abc.abstractmethod
    def _command(self) -> list[str]:
        """The foreground server command line."""

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def zones(self) -> list[str]:
        return list(self._zones)

    def key_file(self, zone: str) -> str:
        """A BIND-format key file allowed to update `zone` (KeyError for unsigned zones)."""
        return str(self._keys[zone])

    def key_name(self, zone: str) -> str:
        return f"key-{self.zones.index(zone)}-{self._zones[zone]}"

    def wrong_key_file(self, zone: str) -> str:
        """Same key name and algorithm as key_file(zone), another secret."""
        name, alg, _ = read_key_file(self._keys[zone])
        return str(write_key_file(self.workdir / f"wrong-{name}.key", name, alg))

    def unknown_key_file(self, algorithm: str = "hmac-sha256") -> str:
        """A key whose name the server does not know."""
        return str(write_key_file(self.workdir / "unknown.key", "unknown-key", algorithm))

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def start(self) -> None:
        if self.proc is not None:
            raise RuntimeError(f"{self.name} already running")
        self._configure()
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(self._command(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, cwd=self.workdir,
                                         preexec_fn=_die_with_parent)
        finally:
            log.close()
        self._wait_ready()

    def stop(self) -> None:
        """Stops the server and waits until it is gone (port free)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        """Stop and start again; the zone contents (journal, zone file, database)
        survive."""
        self.stop()
        self.start()

    def query(self, name: str, rdtype: str, tcp: bool = False, address: str | None = None,
              timeout: float = 2.0) -> list[str]:
        """The rdata (text) of name/rdtype, straight from the server (no cache)."""
        msg = dns.message.make_query(name, rdtype)
        msg.flags &= ~dns.flags.RD
        send = dns.query.tcp if tcp else dns.query.udp
        reply = send(msg, address or self.address, timeout=timeout, port=self.port)
        want = dns.rdatatype.from_text(rdtype)
        return sorted(rd.to_text() for rrset in reply.answer if rrset.rdtype == want
                      for rd in rrset)

    def server_identity(self, address: str | None = None, tcp: bool = False,
                        timeout: float = 2.0) -> str | None:
        """What the server answers to `id.server CH TXT` (None: no such record)."""
        msg = dns.message.make_query("id.server", "TXT", dns.rdataclass.CH)
        msg.flags &= ~dns.flags.RD
        send = dns.query.tcp if tcp else dns.query.udp
        reply = send(msg, address or self.address, timeout=timeout, port=self.port)
        for rrset in reply.answer:
            for rd in rrset:
                if rrset.rdtype == dns.rdatatype.TXT:
                    return b"".join(rd.strings).decode(errors="replace")
        return None

    def soa_serial(self, zone: str) -> int:
        soa = self.query(zone, "SOA")
        if not soa:
            raise RuntimeError(f"no SOA for {zone}")
        return int(soa[0].split()[2])

    def __enter__(self) -> "DnsServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- helpers -------------------------------------------------------------------------
    def _configure(self) -> None:
        """Writes the config on the first start in workdir; later starts (also by a new
        object on the same workdir) find the identity and keys there."""
        marker, ident = self.workdir / ".configured", self.workdir / "identity"
        if marker.exists():
            self.identity = ident.read_text().strip()
            for zone, alg in self._zones.items():
                path = self.workdir / f"{self.key_name(zone)}.key"
                if alg is not None and path.exists():
                    self._keys[zone] = path
            return
        self.identity = f"ddns-test-{os.getpid()}-{secrets.token_hex(6)}"
        ident.write_text(self.identity + "\n")
        self._write_config()
        marker.touch()

    def _generate_key(self, zone: str) -> Path:
        """A new key file for `zone` as tsig-keygen writes it, named key_name(zone)."""
        name = self.key_name(zone)
        path = self.workdir / f"{name}.key"
        with open(path, "w") as out:
            subprocess.run(["tsig-keygen", "-a", self._zones[zone], name], check=True,
                           stdout=out)
        self._keys[zone] = path
        return path

    def _is_ready(self) -> bool:
        """Ours answers on both addresses over UDP and TCP (a server that got only one of
        its sockets while another server holds the other must not pass), and serves
        every zone's SOA."""
        try:
            for address in (self.address, self.address6):
                for tcp in (False, True):
                    if self.server_identity(address, tcp, timeout=0.2) != self.identity:
                        return False
            return all(self.query(zone, "SOA", timeout=0.2) for zone in self.zones)
        except (OSError, dns.exception.DNSException):
            return False

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.proc = None
                raise RuntimeError(f"{self.name} exited with {code} during start-up:\n"
                                   f"{self.log_tail()}")
            if self._is_ready():
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"{self.name} on port {self.port} did not answer as "
                           f"{self.identity!r} for all zones within {self.ready_timeout} s:\n"
                           f"{self.log_tail()}")

    def _zone_text(self, zone: str) -> str:
        return (f"$ORIGIN {zone}.\n$TTL 300\n"
                f"@ IN SOA ns1.{zone}. hostmaster.{zone}. ( 1 3600 600 86400 60 )\n"
                f"@ IN NS ns1.{zone}.\nns1 IN A 127.0.0.1\n")


class BindServer(DnsServer):
    """BIND 9 (`named -g`, as root without privilege drop: RECIPES.md section 1)."""

    program = "named"

    def _write_config(self) -> None:
        d = self.workdir
        includes, zones = [], []
        for zone, alg in self._zones.items():
            (d / f"{zone}.zone").write_text(self._zone_text(zone))
            if alg is None:
                policy = "allow-update { 127.0.0.1; ::1; };"
            else:
                name = self.key_name(zone)
                includes.append(f'include "{self._generate_key(zone)}";')
                policy = f"update-policy {{ grant {name} zonesub ANY; }};"
            zones.append(f'zone "{zone}" {{ type primary; file "{d}/{zone}.zone"; {policy} }};')
        conf = "\n".join(includes) + f"""
options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    session-keyfile "{d}/session.key";
    server-id "{self.identity}";   // id.server CH TXT: the readiness check
    reuseport no;   // a second named on our port gets no TCP socket instead of sharing it
    managed-keys-directory "{d}";
    listen-on port {self.port} {{ 127.0.0.1; }};
    listen-on-v6 port {self.port} {{ ::1; }};
    recursion no;
    allow-query {{ any; }};
    dnssec-validation no;
    notify no;
}};
controls {{ }};
""" + "\n".join(zones) + "\n"
        (d / "named.conf").write_text(conf)
        check = subprocess.run(["named-checkconf", str(d / "named.conf")],
                               capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"named-checkconf failed:\n{check.stdout}{check.stderr}")

    def _command(self) -> list[str]:
        return ["named", "-g", "-c", str(self.workdir / "named.conf")]


class KnotServer(DnsServer):
    """Knot DNS 3.2 (`knotd -c`, foreground, as root: RECIPES-knot-pdns.md section 1).

    Each zone has an ACL of its own: its key (Knot knows every zone's key, so another
    zone's key is a valid key the zone does not allow: NOTAUTH/BADKEY), or for an
    unsigned zone the loopback addresses. Knot writes every update into the zone file
    (zonefile-sync 0), so a restart serves what was there before. The control socket
    lives in workdir: a workdir path longer than about 90 bytes makes knotd exit."""

    program = "knotd"

    def _write_config(self) -> None:
        d = self.workdir
        for sub in ("run", "db", "zones"):
            (d / sub).mkdir(exist_ok=True)
        keys, acls, zones = [], [], []
        for i, (zone, alg) in enumerate(self._zones.items()):
            (d / "zones" / f"{zone}.zone").write_text(self._zone_text(zone))
            if alg is None:
                acls.append(f"  - id: acl-{i}\n    address: [127.0.0.1, ::1]\n"
                            "    action: update")
            else:
                name, alg, secret = read_key_file(self._generate_key(zone))
                keys.append(f"  - id: {name}\n    algorithm: {alg}\n    secret: {secret}")
                acls.append(f"  - id: acl-{i}\n    key: {name}\n    action: update")
            zones.append(f"  - domain: {zone}\n    acl: acl-{i}")
        conf = f"""server:
    rundir: "{d}/run"
    pidfile: "{d}/run/knot.pid"
    listen: [ {self.address}@{self.port}, {self.address6}@{self.port} ]
    identity: "{self.identity}"
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
control:
    listen: "{d}/run/knot.sock"
log:
  - target: stderr
    any: info
database:
    storage: "{d}/db"
"""
        conf += ("key:\n" + "\n".join(keys) + "\n") if keys else ""
        conf += "acl:\n" + "\n".join(acls) + "\n"
        conf += (f'template:\n  - id: default\n    storage: "{d}/zones"\n'
                 '    file: "%s.zone"\n')
        conf += "zone:\n" + "\n".join(zones) + "\n"
        (d / "knot.conf").write_text(conf)
        check = subprocess.run(["knotc", "-c", str(d / "knot.conf"), "conf-check"],
                               capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"knotc conf-check failed:\n{check.stdout}{check.stderr}")

    def _command(self) -> list[str]:
        return ["knotd", "-c", str(self.workdir / "knot.conf")]


class PowerDnsServer(DnsServer):
    """PowerDNS Authoritative 4.7 with gsqlite3 (`pdns_server --config-dir`, foreground,
    no guardian: RECIPES-knot-pdns.md section 2).

    Updates are off globally (`allow-dnsupdate-from=` empty): a zone takes them only from
    loopback (ALLOW-DNSUPDATE-FROM) and, when signed, only with its key
    (TSIG-ALLOW-DNSUPDATE); without that metadata PowerDNS would take unsigned updates.
    SOA-EDIT-DNSUPDATE=INCREASE makes the serial count +1 per update as on BIND and Knot.
    The caches are off, so every query sees the database as it is now (an update purges
    them anyway; off, a test may also look right after a change made behind the server's
    back). A refused TSIG (bad secret, unknown key) gets an unsigned REFUSED, not
    NOTAUTH/BADSIG."""

    program = "pdns_server"

    SCHEMA = Path("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql")

    def _write_config(self) -> None:
        d = self.workdir
        (d / "run").mkdir(exist_ok=True)
        (d / "pdns.conf").write_text(f"""launch=gsqlite3
gsqlite3-database={d}/pdns.sqlite3
gsqlite3-dnssec=no
local-address={self.address}, {self.address6}
local-port={self.port}
server-id={self.identity}
socket-dir={d}/run
daemon=no
guardian=no
disable-syslog=yes
log-timestamp=yes
loglevel=6
security-poll-suffix=
api=no
webserver=no
dnsupdate=yes
allow-dnsupdate-from=
zone-cache-refresh-interval=0
cache-ttl=0
negquery-cache-ttl=0
query-cache-ttl=0
""")
        self._seed_database(d / "pdns.sqlite3")

    def _seed_database(self, path: Path) -> None:
        """Schema, zones, keys and per-zone update policy in one transaction."""
        con = sqlite3.connect(path)
        try:
            con.executescript(self.SCHEMA.read_text())
            with con:
                for zone_id, (zone, alg) in enumerate(self._zones.items(), start=1):
                    self._seed_zone(con, zone_id, zone, alg)
        finally:
            con.close()

    def _seed_zone(self, con: sqlite3.Connection, zone_id: int, zone: str,
                   alg: str | None) -> None:
        con.execute("INSERT INTO domains (id, name, type) VALUES (?, ?, 'NATIVE')",
                    (zone_id, zone))
        records = [(zone, "SOA", f"ns1.{zone} hostmaster.{zone} 1 3600 600 86400 60"),
                   (zone, "NS", f"ns1.{zone}"), (f"ns1.{zone}", "A", "127.0.0.1")]
        con.executemany("INSERT INTO records (domain_id, name, type, content, ttl, prio, "
                        "disabled, auth) VALUES (?, ?, ?, ?, 300, 0, 0, 1)",
                        [(zone_id, *r) for r in records])
        meta = [("ALLOW-DNSUPDATE-FROM", "127.0.0.0/8"), ("ALLOW-DNSUPDATE-FROM", "::1"),
                ("SOA-EDIT-DNSUPDATE", "INCREASE")]
        if alg is not None:
            name, alg, secret = read_key_file(self._generate_key(zone))
            con.execute("INSERT INTO tsigkeys (name, algorithm, secret) VALUES (?, ?, ?)",
                        (name, alg, secret))
            meta.append(("TSIG-ALLOW-DNSUPDATE", name))
        con.executemany("INSERT INTO domainmetadata (domain_id, kind, content) "
                        "VALUES (?, ?, ?)", [(zone_id, *m) for m in meta])

    def _command(self) -> list[str]:
        return ["pdns_server", f"--config-dir={self.workdir}"]


SERVERS = {"bind": BindServer, "knot": KnotServer, "pdns": PowerDnsServer}


def _serve(argv: list[str]) -> int:
    """Supervisor mode for C tests: start, print the keys as JSON, stop when stdin
    closes (the test finished or died) or on SIGTERM/SIGINT."""
    p = argparse.ArgumentParser(prog="dnsserver.py serve")
    p.add_argument("--server", default="bind", choices=SERVERS)
    p.add_argument("--workdir", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--zone", action="append", required=True, help="ZONE=ALG or ZONE=none")
    args = p.parse_args(argv)
    zones = {}
    for z in args.zone:
        name, _, alg = z.partition("=")
        zones[name] = None if alg in ("", "none") else alg
    srv = SERVERS[args.server](args.workdir, args.port, zones)

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        srv.start()
        info = {"port": srv.port, "pid": srv.proc.pid,
                "keys": {z: srv.key_file(z) for z in srv.zones if zones[z]},
                "wrong_keys": {z: srv.wrong_key_file(z) for z in srv.zones if zones[z]},
                "unknown_key": srv.unknown_key_file()}
        print(json.dumps(info), flush=True)
        while sys.stdin.buffer.read(4096):
            pass
    except KeyboardInterrupt:
        pass
    except Exception as e:  # start-up failure: tell the C test on stdout, details on stderr
        print(json.dumps({"error": str(e).splitlines()[0]}), flush=True)
        print(e, file=sys.stderr)
        return 1
    finally:
        srv.stop()
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "serve":
        sys.exit(_serve(sys.argv[2:]))
    print(__doc__)
    sys.exit(2)
