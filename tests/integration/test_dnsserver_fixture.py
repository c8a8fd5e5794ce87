# SPDX-License-Identifier: MIT
"""The DNS server fixtures themselves, for BIND, Knot DNS and PowerDNS alike: start,
answer as themselves, accept signed updates with every algorithm, show an update to the
very next query, reject wrong/unknown/foreign keys, survive a restart, stop, and never
take another server on their port for themselves."""

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
from dnsserver import ALGORITHMS, SERVERS, BindServer, read_key_file  # noqa: E402
from helpers import NAMED_PORTS, free_port, port_free, start_dns_server  # noqa: E402

ZONES = {f"{alg}.dyn.test": alg for alg in ALGORITHMS}
ZONES["open.test"] = None
BOTH = (socket.SOCK_STREAM, socket.SOCK_DGRAM)
# How each server refuses an update to a signed zone (hmac-sha256.dyn.test): unsigned,
# signed with another zone's valid key, with the right key name but a wrong secret, with
# a key name it does not know. BADSIG/BADKEY are signed-reply TSIG errors; "unsigned"
# is a reply without TSIG to a signed request (the PowerDNS gotcha, RECIPES-knot-pdns.md).
REFUSALS = {
    "bind": {"unsigned": "REFUSED", "foreign": "REFUSED", "wrong": "BADSIG",
             "unknown": "BADKEY"},
    "knot": {"unsigned": "NOTAUTH", "foreign": "BADKEY", "wrong": "BADSIG",
             "unknown": "BADKEY"},
    "pdns": {"unsigned": "REFUSED", "foreign": "REFUSED", "wrong": "REFUSED unsigned",
             "unknown": "REFUSED unsigned"},
}


def keyring(path):
    name, alg, secret = read_key_file(path)
    if alg == "hmac-md5":
        alg = "hmac-md5.sig-alg.reg.int"
    return dns.tsig.Key(name, secret, alg)


def send_update(srv, zone, name, ip, key_path=None, rdtype="A", delete=False):
    up = dns.update.UpdateMessage(zone)
    if delete:
        up.delete(name + ".", rdtype)
    else:
        up.replace(name + ".", 60, rdtype, ip)
    if key_path:
        up.use_tsig(keyring(key_path))
    return dns.query.udp(up, srv.address, timeout=2, port=srv.port)


def outcome(srv, zone, key_path=None) -> str:
    """How `srv` answers an update of x.ZONE: the rcode, or the TSIG error of a signed
    error reply, with " unsigned" when a signed request got an unsigned reply."""
    try:
        reply = send_update(srv, zone, f"x.{zone}", "192.0.2.8", key_path)
    except dns.tsig.PeerBadSignature:
        return "BADSIG"
    except dns.tsig.PeerBadKey:
        return "BADKEY"
    text = dns.rcode.to_text(reply.rcode())
    return text + (" unsigned" if key_path and not reply.had_tsig else "")


def require(kind):
    if not SERVERS[kind].installed():
        pytest.skip(f"{SERVERS[kind].program} is not installed (scripts/setup-deps.sh)")


@pytest.fixture(scope="module", params=list(SERVERS))
def srv(request, tmp_path_factory):
    require(request.param)
    s = start_dns_server(request.param, tmp_path_factory.mktemp(request.param), ZONES)
    s.kind = request.param
    yield s
    s.stop()


def test_answers_as_itself_soa_over_udp_tcp_and_v6(srv):
    for address in (srv.address, srv.address6):
        for tcp in (False, True):
            assert srv.server_identity(address, tcp) == srv.identity
    assert srv.identity.startswith("ddns-test-")
    for zone in srv.zones:
        assert srv.soa_serial(zone) == 1
    assert srv.query("ns1.hmac-sha256.dyn.test", "A", tcp=True) == ["127.0.0.1"]
    assert srv.query("ns1.open.test", "A", address="::1") == ["127.0.0.1"]


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_signed_update_every_algorithm(srv, alg):
    zone = f"{alg}.dyn.test"
    before = srv.soa_serial(zone)
    key = srv.key_file(zone)
    assert read_key_file(key)[1] == alg
    reply = send_update(srv, zone, f"h.{zone}", "192.0.2.7", key)
    assert reply.rcode() == dns.rcode.NOERROR and reply.had_tsig
    assert srv.query(f"h.{zone}", "A") == ["192.0.2.7"]
    assert srv.soa_serial(zone) == before + 1


def test_unsigned_zone_takes_unsigned_updates(srv):
    reply = send_update(srv, "open.test", "h.open.test", "2001:db8::5", rdtype="AAAA")
    assert reply.rcode() == dns.rcode.NOERROR
    assert srv.query("h.open.test", "AAAA") == ["2001:db8::5"]


def test_query_right_after_update_sees_it(srv):
    """No cache between an update and the next answer (PowerDNS caches by default):
    a negative answer first, then every change, then the delete."""
    zone = "hmac-sha256.dyn.test"
    name, key = f"c.{zone}", srv.key_file(zone)
    assert srv.query(name, "A") == []
    for i in range(10):
        ip = f"192.0.2.{100 + i}"
        assert send_update(srv, zone, name, ip, key).rcode() == dns.rcode.NOERROR
        assert srv.query(name, "A") == [ip]
        assert srv.query(name, "A", tcp=True, address=srv.address6) == [ip]
    assert send_update(srv, zone, name, None, key, delete=True).rcode() == dns.rcode.NOERROR
    assert srv.query(name, "A") == []


def test_noop_update_keeps_the_serial(srv):
    """Deleting what is not there succeeds without a change (what the daemon's first
    update of a host and its deletes of absent families send)."""
    zone = "hmac-sha512.dyn.test"
    serial = srv.soa_serial(zone)
    reply = send_update(srv, zone, f"absent.{zone}", None, srv.key_file(zone), delete=True)
    assert reply.rcode() == dns.rcode.NOERROR
    assert srv.soa_serial(zone) == serial


def test_refusals(srv):
    zone = "hmac-sha256.dyn.test"
    serial = srv.soa_serial(zone)
    got = {"unsigned": outcome(srv, zone),
           "foreign": outcome(srv, zone, srv.key_file("hmac-sha512.dyn.test")),
           "wrong": outcome(srv, zone, srv.wrong_key_file(zone)),
           "unknown": outcome(srv, zone, srv.unknown_key_file())}
    assert got == REFUSALS[srv.kind]
    assert srv.soa_serial(zone) == serial
    assert srv.query(f"x.{zone}", "A") == []


def test_restart_keeps_data(srv):
    zone = "hmac-sha1.dyn.test"
    send_update(srv, zone, f"r.{zone}", "192.0.2.9", srv.key_file(zone))
    pid, identity = srv.proc.pid, srv.identity
    srv.restart()
    assert srv.proc.pid != pid and srv.identity == identity
    assert srv.query(f"r.{zone}", "A") == ["192.0.2.9"]
    assert srv.soa_serial(zone) == 3  # serial 1, the algorithm test's update, this one


@pytest.mark.parametrize("kind", list(SERVERS))
def test_stop_frees_the_port(tmp_path, kind):
    require(kind)
    s = start_dns_server(kind, tmp_path, {"solo.test": "hmac-sha256"})
    try:
        assert s.soa_serial("solo.test") == 1
        assert not port_free(s.port, (socket.SOCK_DGRAM,))
    finally:
        s.stop()
    assert s.proc is None
    # UDP can be bound again; TCP has no listener (a bind could meet TIME_WAIT).
    assert port_free(s.port, (socket.SOCK_DGRAM,))
    for address in (s.address, s.address6):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((address, s.port), timeout=2).close()


@pytest.mark.parametrize("kind", list(SERVERS))
def test_busy_port_is_never_ready(tmp_path, kind):
    """A second server on a port the first one holds must fail to start, even where
    it shares part of the port (Knot's UDP reuseport, named's UDP reuseaddr) and could
    answer the SOA; the first one keeps serving."""
    require(kind)
    first = start_dns_server(kind, tmp_path / "first", {"solo.test": "hmac-sha256"})
    try:
        second = SERVERS[kind](tmp_path / "second", first.port, {"solo.test": "hmac-sha256"})
        second.ready_timeout = 2.0
        with pytest.raises(RuntimeError) as e:
            second.start()
        assert second.proc is None
        if kind != "bind":  # named keeps running without its TCP socket: not ready
            assert "exited" in str(e.value)
            assert "address already in use" in str(e.value).lower()
        for tcp in (False, True):
            assert first.server_identity(tcp=tcp) == first.identity
        assert first.soa_serial("solo.test") == 1
    finally:
        first.stop()


class BrokenBind(BindServer):
    def _command(self):
        return ["named", "-g", "-c", str(self.workdir / "missing.conf")]


def test_bad_start_shows_log(tmp_path):
    srv = BrokenBind(tmp_path, free_port(NAMED_PORTS, BOTH), {"broken.test": "hmac-sha256"})
    t0 = time.monotonic()
    with pytest.raises(RuntimeError) as e:
        srv.start()
    assert "exited" in str(e.value) and "missing.conf" in str(e.value)
    assert time.monotonic() - t0 < 5
    assert srv.proc is None
