# SPDX-License-Identifier: MIT
"""`ddns-service reconcile` against a real BIND, on both backends: drift injected with
nsupdate behind the service's back (a record deleted, an address changed, a TTL
changed, a stale AAAA added) is found by --dry-run (exit 1, nothing changed) and
repaired by reconcile (exit 0, DNS back in line, a second run finds nothing); a DNS
server that does not answer is exit 2; reconcile_on_start repairs at daemon start."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from helpers import free_port, uid  # noqa: E402

Z = "dyn.example.com"
ALICE = ("alice", "pw-alice")
pytestmark = pytest.mark.backends("sqlite", "mariadb")


def nsupdate(bind, zone: str, *lines: str) -> None:
    """Changes the zone behind the service's back, signed with the zone's key."""
    script = f"server 127.0.0.1 {bind.port}\nzone {zone}\n" + "\n".join(lines) + "\nsend\n"
    r = subprocess.run(["nsupdate", "-k", bind.key_file(zone)], input=script, text=True,
                       capture_output=True, timeout=20)
    assert r.returncode == 0, r.stdout + r.stderr


def rrset(bind, name: str, rdtype: str) -> list[tuple[str, int]]:
    """(address, ttl) of name/rdtype, straight from the server."""
    import dns.flags
    import dns.message
    import dns.query
    import dns.rdatatype

    msg = dns.message.make_query(name, rdtype)
    msg.flags &= ~dns.flags.RD
    reply = dns.query.udp(msg, "127.0.0.1", timeout=2, port=bind.port)
    want = dns.rdatatype.from_text(rdtype)
    return sorted((rd.to_text(), rrs.ttl) for rrs in reply.answer if rrs.rdtype == want
                  for rd in rrs)


def publish(d, label: str, v4: str, v6: str | None = None) -> str:
    fqdn = f"{label}.{Z}"
    q = f"/update?hostname={fqdn}&myip={v4}" + (f"&myip6={v6}" if v6 else "")
    r = d.get(q, auth=ALICE)
    assert r.text.startswith("good "), r.text
    return fqdn


def inject_drift(d, bind) -> dict:
    """Four hosts published by the service, then four kinds of drift; returns them."""
    hosts = {k: uid() for k in ("deleted", "address", "ttl", "stale")}
    for label in hosts.values():
        d.add_host("alice", label, Z, "--dns-ttl", "60")
    f = {k: publish(d, label, "192.0.2.10") for k, label in hosts.items()}
    nsupdate(bind, Z, f"update delete {f['deleted']} A")
    nsupdate(bind, Z, f"update delete {f['address']} A",
             f"update add {f['address']} 60 A 192.0.2.99")
    nsupdate(bind, Z, f"update delete {f['ttl']} A", f"update add {f['ttl']} 300 A 192.0.2.10")
    nsupdate(bind, Z, f"update add {f['stale']} 60 AAAA 2001:db8::dead")
    return f


def reconcile(d, *args: str):
    return d.cli("reconcile", *args, check=False)


def test_dry_run_finds_and_reconcile_repairs(make_daemon, bind):
    d = make_daemon(users={"alice": ALICE[1]})
    ok_fqdn = publish_fresh(d)
    f = inject_drift(d, bind)

    t0 = time.monotonic()
    r = reconcile(d, "--dry-run", "--json", "--zone", Z)
    assert r.returncode == 1, r.stdout + r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    got = {(x["fqdn"], x["family"]): x for x in lines}
    assert got[(f["deleted"], "A")]["action"] == "add"
    assert got[(f["deleted"], "A")]["dns"] == []
    assert got[(f["address"], "A")]["action"] == "replace"
    assert got[(f["address"], "A")]["dns"] == [{"address": "192.0.2.99", "ttl": 60}]
    assert got[(f["ttl"], "A")]["action"] == "replace"
    assert got[(f["ttl"], "A")]["ttl"] == 60
    assert got[(f["stale"], "AAAA")]["action"] == "delete"
    assert got[(f["stale"], "AAAA")]["address"] is None
    assert all(x["result"] == "dry-run" for x in lines)
    assert len(lines) == 4 and not any(x["fqdn"] == ok_fqdn for x in lines), lines
    assert rrset(bind, f["address"], "A") == [("192.0.2.99", 60)], "dry run changed nothing"

    r = reconcile(d)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(r.stdout.splitlines()) == 4 and "repaired" in r.stdout, r.stdout
    for name in f.values():
        assert rrset(bind, name, "A") == [("192.0.2.10", 60)], name
    assert rrset(bind, f["stale"], "AAAA") == []
    r = reconcile(d, "--dry-run")
    assert r.returncode == 0 and r.stdout == "", r.stdout + r.stderr
    print(f"reconcile: dry run, repair and check took {time.monotonic() - t0:.2f} s")


def publish_fresh(d) -> str:
    label = uid()
    d.add_host("alice", label, Z, "--dns-ttl", "60")
    return publish(d, label, "192.0.2.20", "2001:db8::20")


def test_expired_family_must_be_absent(make_daemon, bind):
    """A family the database marks expired is deleted when it shows up in DNS again."""
    d = make_daemon(users={"alice": ALICE[1]})
    fqdn = publish_fresh(d)
    d.sql("UPDATE hostnames SET ipv6_expired = 1 WHERE fqdn = ?", (fqdn,))
    r = reconcile(d, "--zone", Z)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{fqdn} AAAA delete" in r.stdout
    assert rrset(bind, fqdn, "AAAA") == [] and rrset(bind, fqdn, "A") == [("192.0.2.20", 60)]


def test_dns_unreachable_exits_2(make_daemon, bind):
    d = make_daemon(users={"alice": ALICE[1]})
    publish_fresh(d)
    dead = free_port(kinds=(__import__("socket").SOCK_DGRAM,))
    cfg = d.config.read_text().replace(f"dns_port = {bind.port}", f"dns_port = {dead}")
    d.config.write_text(cfg)
    t0 = time.monotonic()
    r = reconcile(d, "--dry-run")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "could not be reached" in r.stderr
    assert time.monotonic() - t0 < 30


def test_reconcile_on_start(make_daemon, bind):
    d = make_daemon(users={"alice": ALICE[1]},
                    config={"dns_service": {"reconcile_on_start": True}})
    fqdn = publish_fresh(d)
    d.stop()
    nsupdate(bind, Z, f"update delete {fqdn} A")
    d.start()
    deadline = time.monotonic() + 15
    while rrset(bind, fqdn, "A") == [] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert rrset(bind, fqdn, "A") == [("192.0.2.20", 60)], d.log()[-2000:]
    line = f"reconcile: {fqdn} A add 192.0.2.20 ttl 60 (dns: none): repaired"
    while line not in d.log() and time.monotonic() < deadline:  # logged after the update
        time.sleep(0.1)
    assert line in d.log()


def test_refused_repair_leaves_drift(make_daemon, bind):
    """The server refuses the repair (a wrong TSIG key): reported, exit 1."""
    d = make_daemon(users={"alice": ALICE[1]})
    fqdn = publish_fresh(d)
    nsupdate(bind, Z, f"update delete {fqdn} A")
    cfg = d.config.read_text().replace(bind.key_file(Z), bind.wrong_key_file(Z))
    d.config.write_text(cfg)
    r = reconcile(d, "--zone", Z)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"{fqdn} A add 192.0.2.20 ttl 60 (dns: none): failed: NOTAUTH" in r.stdout, r.stdout
    assert rrset(bind, fqdn, "A") == []
