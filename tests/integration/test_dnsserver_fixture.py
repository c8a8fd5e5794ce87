# SPDX-License-Identifier: MIT
"""The DNS server fixture itself: start, answer, accept signed updates with every
algorithm, reject wrong/unknown/foreign keys, survive a restart, stop."""

import socket
import sys
import time
from pathlib import Path

import dns.query
import dns.rcode
import dns.tsig
import dns.tsigkeyring
import dns.update
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from dnsserver import ALGORITHMS, BindServer, read_key_file  # noqa: E402

PORT = 15320
ZONES = {f"{alg}.dyn.test": alg for alg in ALGORITHMS}
ZONES["open.test"] = None


def keyring(path):
    name, alg, secret = read_key_file(path)
    if alg == "hmac-md5":
        alg = "hmac-md5.sig-alg.reg.int"
    return dns.tsig.Key(name, secret, alg)


def send_update(srv, zone, name, ip, key_path=None, rdtype="A"):
    up = dns.update.UpdateMessage(zone)
    up.replace(name + ".", 60, rdtype, ip)
    if key_path:
        up.use_tsig(keyring(key_path))
    return dns.query.udp(up, srv.address, timeout=2, port=srv.port)


@pytest.fixture(scope="module")
def bind(tmp_path_factory):
    srv = BindServer(tmp_path_factory.mktemp("bind"), PORT, ZONES)
    srv.start()
    yield srv
    srv.stop()


def test_answers_soa_over_udp_tcp_and_v6(bind):
    for zone in bind.zones:
        assert bind.soa_serial(zone) == 1
    assert bind.query("ns1.hmac-sha256.dyn.test", "A", tcp=True) == ["127.0.0.1"]
    assert bind.query("ns1.open.test", "A", address="::1") == ["127.0.0.1"]


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_signed_update_every_algorithm(bind, alg):
    zone = f"{alg}.dyn.test"
    before = bind.soa_serial(zone)
    key = bind.key_file(zone)
    assert read_key_file(key)[1] == alg
    reply = send_update(bind, zone, f"h.{zone}", "192.0.2.7", key)
    assert reply.rcode() == dns.rcode.NOERROR
    assert bind.query(f"h.{zone}", "A") == ["192.0.2.7"]
    assert bind.soa_serial(zone) == before + 1


def test_unsigned_zone_takes_unsigned_updates(bind):
    reply = send_update(bind, "open.test", "h.open.test", "2001:db8::5", rdtype="AAAA")
    assert reply.rcode() == dns.rcode.NOERROR
    assert bind.query("h.open.test", "AAAA") == ["2001:db8::5"]


def test_rejections(bind):
    zone = "hmac-sha256.dyn.test"
    serial = bind.soa_serial(zone)
    assert send_update(bind, zone, f"x.{zone}", "192.0.2.8").rcode() == dns.rcode.REFUSED
    foreign = bind.key_file("hmac-sha512.dyn.test")
    assert send_update(bind, zone, f"x.{zone}", "192.0.2.8", foreign).rcode() == dns.rcode.REFUSED
    for path in (bind.wrong_key_file(zone), bind.unknown_key_file()):
        with pytest.raises(dns.tsig.PeerError):  # BADSIG / BADKEY
            send_update(bind, zone, f"x.{zone}", "192.0.2.8", path)
    assert bind.soa_serial(zone) == serial
    assert bind.query(f"x.{zone}", "A") == []


def test_restart_keeps_data(bind):
    zone = "hmac-sha1.dyn.test"
    send_update(bind, zone, f"r.{zone}", "192.0.2.9", bind.key_file(zone))
    bind.restart()
    assert bind.query(f"r.{zone}", "A") == ["192.0.2.9"]


def test_stop_frees_the_port(tmp_path):
    srv = BindServer(tmp_path, PORT + 1, {"solo.test": "hmac-sha256"})
    with srv:
        assert srv.soa_serial("solo.test") == 1
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", PORT + 1))
    finally:
        s.close()


class BrokenBind(BindServer):
    def _command(self):
        return ["named", "-g", "-c", str(self.workdir / "missing.conf")]


def test_bad_start_shows_log(tmp_path):
    srv = BrokenBind(tmp_path, PORT + 2, {"broken.test": "hmac-sha256"})
    t0 = time.monotonic()
    with pytest.raises(RuntimeError) as e:
        srv.start()
    assert "exited" in str(e.value) and "missing.conf" in str(e.value)
    assert time.monotonic() - t0 < 5
    assert srv.proc is None


def test_busy_port_is_never_ready(tmp_path):
    """A second named on the port of the first gets its UDP sockets (SO_REUSEADDR) but
    not TCP, and would answer the SOA: it must not count as ready."""
    with BindServer(tmp_path / "first", PORT + 3, {"solo.test": "hmac-sha256"}) as first:
        second = BindServer(tmp_path / "second", PORT + 3, {"solo.test": "hmac-sha256"})
        second.ready_timeout = 2.0
        with pytest.raises(RuntimeError):
            second.start()
        assert second.proc is None
        for tcp in (False, True):
            assert first.server_identity(tcp=tcp) == first.identity
