# SPDX-License-Identifier: MIT
"""The expiry pass when things go wrong half-way (found in review):
- a DNS server that swallows requests must end the pass at the first timeout, not
  hold the per-host lock for dns_timeout once per due host;
- a record deleted from DNS by a pass that could not record it (or whose reply was
  lost) must be republished by the client's next update, not answered `nochg`."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import dns.query
import dns.tsigkeyring
import dns.update
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from dnsserver import read_key_file  # noqa: E402
from helpers import BIN, uid  # noqa: E402

Z = "dyn.example.com"
ALICE = ("alice", "pw-alice")
EXPIRY_TTL = 3600
pytestmark = pytest.mark.backends("sqlite", "mariadb")


@pytest.fixture
def blackhole():
    """A UDP and TCP port on 127.0.0.1 that accepts DNS requests and never answers."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    port = udp.getsockname()[1]
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", port))
    tcp.listen(16)
    yield port
    udp.close()
    tcp.close()


def test_pass_ends_at_the_first_dns_timeout(make_daemon, bind, blackhole):
    # The daemon's own passes stay out of the way: the CLI runs the passes here.
    d = make_daemon(users={"alice": ALICE[1]}, config={"dns_service": {"cleanup_interval": 86400}})
    time.sleep(1.5)  # the daemon's one pass (on its first tick) is over before we start
    fqdns = []
    for _ in range(4):
        label = uid()
        d.add_host("alice", label, Z)
        fqdn = f"{label}.{Z}"
        assert d.get(f"/update?hostname={fqdn}&myip=192.0.2.80", auth=ALICE).text.startswith(
            "good")
        d.backdate(fqdn, EXPIRY_TTL + 5, ("ipv4",))
        fqdns.append(fqdn)
    cfg = Path(d.config).read_text()
    cfg = cfg.replace(f"dns_port = {bind.port}", f"dns_port = {blackhole}")
    cfg = cfg.replace("dns_timeout = 2", "dns_timeout = 1")
    hole = Path(d.workdir) / "blackhole.toml"
    hole.write_text(cfg)
    hole.chmod(0o600)
    t0 = time.monotonic()
    r = subprocess.run([BIN, "-c", str(hole), "cleanup"], capture_output=True, text=True,
                       timeout=60)
    elapsed = time.monotonic() - t0
    assert r.returncode == 2 and "1 host(s) could not be deleted" in r.stderr, r.stderr
    assert elapsed < 3, f"the pass waited {elapsed:.1f} s: one timeout per due host"
    # Nothing was marked; with the DNS server back, the real pass expires all four.
    assert all(not d.db_row(f)["ipv4_expired"] for f in fqdns)
    r = d.cli("cleanup")
    assert len(r.stdout.splitlines()) == 4, r.stdout
    assert all(bind.query(f, "A") == [] for f in fqdns)


def test_update_republishes_a_due_record_that_dns_lost(make_daemon, bind):
    d = make_daemon(users={"alice": ALICE[1]},
                    config={"dns_service": {"cleanup_interval": 86400}})
    time.sleep(1.5)  # the daemon's one pass (on its first tick) is over before we start
    label = uid()
    d.add_host("alice", label, Z)
    fqdn = f"{label}.{Z}"
    assert d.get(f"/update?hostname={fqdn}&myip=192.0.2.81", auth=ALICE).text == \
        "good 192.0.2.81\n"
    # A pass deleted the record and then could not record it: the row still says live.
    d.backdate(fqdn, EXPIRY_TTL + 5, ("ipv4",))
    name, alg, secret = read_key_file(bind.key_file(Z))
    upd = dns.update.Update(Z, keyring=dns.tsigkeyring.from_text({name: secret}),
                            keyname=name, keyalgorithm=alg)
    upd.delete(label, "A")
    dns.query.tcp(upd, bind.address, port=bind.port, timeout=5)
    assert bind.query(fqdn, "A") == []
    r = d.get(f"/update?hostname={fqdn}&myip=192.0.2.81", auth=ALICE)
    assert r.text == "good 192.0.2.81\n"
    assert bind.query(fqdn, "A") == ["192.0.2.81"]
    # Fresh again: the next identical update is a plain nochg.
    assert d.get(f"/update?hostname={fqdn}&myip=192.0.2.81", auth=ALICE).text == \
        "nochg 192.0.2.81\n"


def test_nochg_does_not_wait_for_another_hosts_dns_exchange(make_daemon, blackhole):
    """A routine refresh (nochg) needs no DNS and takes no per-host lock: it must not
    queue behind another host's update stuck on a DNS server that does not answer
    (with SQLite the per-host lock is a lease row, not the database's write lock)."""
    import threading
    d = make_daemon(users={"alice": ALICE[1]},
                    config={"dns_service": {"dns_port": blackhole, "dns_timeout": 4}})
    stuck, fine = uid(), uid()
    d.add_host("alice", stuck, Z)
    d.add_host("alice", fine, Z)
    # `fine` is published (as a previous update would have left it).
    d.sql("UPDATE hostnames SET ipv4 = ?, ipv4_updated = ? WHERE fqdn = ?",
          ("192.0.2.83", int(time.time()), f"{fine}.{Z}"))
    slow = {}
    t = threading.Thread(target=lambda: slow.setdefault("r", d.get(
        f"/update?hostname={stuck}.{Z}&myip=192.0.2.84", auth=ALICE)))
    t.start()
    time.sleep(1.0)  # the stuck update holds its lock by now
    t0 = time.monotonic()
    r = d.get(f"/update?hostname={fine}.{Z}&myip=192.0.2.83", auth=ALICE)
    took = time.monotonic() - t0
    t.join()
    assert r.text == "nochg 192.0.2.83\n"
    assert took < 2.0, f"nochg waited {took:.1f} s behind the stuck DNS exchange"
    assert slow["r"].text == "dnserr\n"
