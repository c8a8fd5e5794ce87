# SPDX-License-Identifier: MIT
"""The CLI's DNS side effects against a real BIND (SPEC §3; delete and modify also
against Knot DNS and PowerDNS): `hostname delete` removes the host's A/AAAA records,
`hostname modify --dns-ttl` republishes them with the new TTL; when the DNS server
refuses, the database keeps what DNS serves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from helpers import BIN, uid  # noqa: E402

Z = "dyn.example.com"
ALICE = ("alice", "pw-alice")
pytestmark = pytest.mark.backends("sqlite", "mariadb")


def ttl_of(dns_server, name: str, rdtype: str) -> int | None:
    msg = dns.message.make_query(name, rdtype)
    msg.flags &= ~dns.flags.RD
    reply = dns.query.udp(msg, dns_server.address, timeout=2, port=dns_server.port)
    return next((r.ttl for r in reply.answer), None)


def published(d, dns_server) -> tuple[str, str]:
    label = uid()
    d.add_host("alice", label, Z, "--dns-ttl", "60")
    fqdn = f"{label}.{Z}"
    r = d.get(f"/update?hostname={fqdn}&myip=192.0.2.90&myip6=2001:db8::90", auth=ALICE)
    assert r.text == "good 192.0.2.90,2001:db8::90\n"
    return label, fqdn


def test_modify_dns_ttl_republishes(make_daemon, dns_server):
    d = make_daemon(users={"alice": ALICE[1]})
    label, fqdn = published(d, dns_server)
    assert ttl_of(dns_server, fqdn, "A") == 60
    r = d.cli("hostname", "modify", label, Z, "--dns-ttl", "300")
    assert "dns_ttl 300" in r.stdout
    assert ttl_of(dns_server, fqdn, "A") == 300 and ttl_of(dns_server, fqdn, "AAAA") == 300
    assert dns_server.query(fqdn, "A") == ["192.0.2.90"]
    assert d.hosts()[fqdn]["dns_ttl"] == 300


def test_delete_removes_records(make_daemon, dns_server):
    d = make_daemon(users={"alice": ALICE[1]})
    label, fqdn = published(d, dns_server)
    d.cli("hostname", "delete", label, Z)
    assert dns_server.query(fqdn, "A") == [] and dns_server.query(fqdn, "AAAA") == []
    assert fqdn not in d.hosts()


def test_refused_dns_keeps_the_database(make_daemon, bind):
    """With a key the server rejects, delete keeps the host and modify keeps the TTL."""
    d = make_daemon(users={"alice": ALICE[1]})
    label, fqdn = published(d, bind)
    # The same database, but a config whose key BIND rejects (BADSIG).
    bad = Path(d.workdir) / "wrong-key.toml"
    bad.write_text(Path(d.config).read_text().replace(bind.key_file(Z),
                                                      bind.wrong_key_file(Z)))
    bad.chmod(0o600)
    for args in (["hostname", "delete", label, Z],
                 ["hostname", "modify", label, Z, "--dns-ttl", "600"]):
        r = subprocess.run([BIN, "-c", str(bad), *args], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 1 and "DNS update failed" in r.stderr, r.stderr
    assert bind.query(fqdn, "A") == ["192.0.2.90"]
    assert ttl_of(bind, fqdn, "A") == 60
    assert d.hosts()[fqdn]["dns_ttl"] == 60
