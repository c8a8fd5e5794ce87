# SPDX-License-Identifier: MIT
"""The update service end to end: real daemon, real BIND (the updates that write DNS
also against Knot DNS and PowerDNS: conftest.CORE_ALL_DNS_SERVERS). Every test checks
the HTTP reply AND what the server serves afterwards (and, where it matters, the
database)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from dnsserver import BindServer  # noqa: E402
from helpers import uid  # noqa: E402

Z = "dyn.example.com"
Z2 = "dyn2.example.net"
ALICE = ("alice", "pw-alice")
BOB = ("bob", "pw b:ob")  # a space and a colon: Basic auth splits at the first colon


@pytest.fixture(scope="module")
def d(module_daemons):
    """One daemon for the plain functional tests, on localhost (127.0.0.1 and ::1)."""
    return module_daemons(users={"alice": ALICE[1], "bob": BOB[1]}, listen_host="localhost")


def host(d, user="alice", zone=Z):
    """A fresh host of `user`: (label, fqdn)."""
    label = uid()
    d.add_host(user, label, zone)
    return label, f"{label}.{zone}"


def q(**params) -> str:
    return "&".join(f"{k}={quote(str(v), safe=',:/')}" for k, v in params.items())


# --- good / nochg --------------------------------------------------------------------------
def test_good_v4(d, dns_server):
    _, fqdn = host(d)
    r = d.get(f"/update?{q(hostname=fqdn, myip='192.0.2.1')}", auth=ALICE)
    assert (r.status, r.text) == (200, "good 192.0.2.1\n")
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["content-length"] == str(len(r.body))
    assert "transfer-encoding" not in r.headers
    assert dns_server.query(fqdn, "A") == ["192.0.2.1"]
    assert dns_server.query(fqdn, "AAAA") == []
    row = d.hosts()[fqdn]
    assert row["ipv4"] == "192.0.2.1"


def test_good_v6(d, dns_server):
    _, fqdn = host(d, zone=Z2)  # the hmac-sha512 zone
    r = d.get(f"/update?{q(hostname=fqdn, myip6='2001:db8::7')}", auth=ALICE)
    assert (r.status, r.text) == (200, "good 2001:db8::7\n")
    assert dns_server.query(fqdn, "AAAA") == ["2001:db8::7"]
    assert dns_server.query(fqdn, "A") == []


def test_dual_stack_in_one_request(d, dns_server):
    _, fqdn = host(d)
    r = d.get(f"/update?{q(hostname=fqdn, myip='192.0.2.2,2001:db8::2')}", auth=ALICE)
    assert r.text == "good 192.0.2.2,2001:db8::2\n"
    assert dns_server.query(fqdn, "A") == ["192.0.2.2"]
    assert dns_server.query(fqdn, "AAAA") == ["2001:db8::2"]
    r = d.get(f"/update?{q(hostname=fqdn, myip='192.0.2.3', myip6='2001:db8::3')}", auth=ALICE)
    assert r.text == "good 192.0.2.3,2001:db8::3\n"
    assert dns_server.query(fqdn, "A") == ["192.0.2.3"]
    assert dns_server.query(fqdn, "AAAA") == ["2001:db8::3"]


def test_client_address_when_no_ip_given(d, bind):
    """No myip: the TCP peer is the address, IPv4 over 127.0.0.1, IPv6 over ::1."""
    _, fqdn = host(d)
    r = d.get(f"/update?{q(hostname=fqdn)}", auth=ALICE, host="127.0.0.1")
    assert r.text == "good 127.0.0.1\n"
    r = d.get(f"/update?{q(hostname=fqdn)}", auth=ALICE, host="::1")
    assert r.text == "good ::1\n"
    assert bind.query(fqdn, "A") == ["127.0.0.1"]
    assert bind.query(fqdn, "AAAA") == ["::1"]


def test_nochg_keeps_dns_and_refreshes_update_time(d, dns_server):
    _, fqdn = host(d)
    assert d.get(f"/update?{q(hostname=fqdn, myip='192.0.2.4')}", auth=ALICE).text == \
        "good 192.0.2.4\n"
    before = d.hosts()[fqdn]
    serial = dns_server.soa_serial(Z)
    time.sleep(1.1)  # update times have a resolution of one second
    r = d.get(f"/update?{q(hostname=fqdn, myip='192.0.2.4')}", auth=ALICE)
    assert (r.status, r.text) == (200, "nochg 192.0.2.4\n")
    assert dns_server.soa_serial(Z) == serial, "nochg must not write to DNS"
    assert dns_server.query(fqdn, "A") == ["192.0.2.4"]
    after = d.hosts()[fqdn]
    assert after["ipv4_updated"] != before["ipv4_updated"]


def test_one_family_left_alone(d, dns_server):
    _, fqdn = host(d)
    d.get(f"/update?{q(hostname=fqdn, myip='192.0.2.5', myip6='2001:db8::5')}", auth=ALICE)
    r = d.get(f"/update?{q(hostname=fqdn, myip='192.0.2.6')}", auth=ALICE)
    assert r.text == "good 192.0.2.6\n"
    assert dns_server.query(fqdn, "A") == ["192.0.2.6"]
    assert dns_server.query(fqdn, "AAAA") == ["2001:db8::5"], "the v6 record must stay"
    r = d.get(f"/update?{q(hostname=fqdn, myip6='2001:db8::6')}", auth=ALICE)
    assert r.text == "good 2001:db8::6\n"
    assert dns_server.query(fqdn, "A") == ["192.0.2.6"]
    assert dns_server.query(fqdn, "AAAA") == ["2001:db8::6"]


def test_several_hosts_mixed_results(d, dns_server):
    _, a = host(d)
    _, b = host(d, zone=Z2)
    _, bobs = host(d, user="bob")
    names = ",".join([a, f"nothere-{uid()}.{Z}", "bad_name!", b, bobs])
    r = d.get(f"/update?{q(hostname=names, myip='192.0.2.8')}", auth=ALICE)
    assert r.text == "good 192.0.2.8\nnohost\nnotfqdn\ngood 192.0.2.8\nnohost\n"
    assert dns_server.query(a, "A") == ["192.0.2.8"]
    assert dns_server.query(b, "A") == ["192.0.2.8"]
    assert dns_server.query(bobs, "A") == []


def test_idn_hostname(d, bind):
    d.add_host("alice", "bücher", Z)
    fqdn_u = f"bücher.{Z}"
    r = d.get(f"/update?{q(hostname=fqdn_u, myip='192.0.2.9')}", auth=ALICE)
    assert r.text == "good 192.0.2.9\n"
    assert bind.query(f"xn--bcher-kva.{Z}", "A") == ["192.0.2.9"]


# --- errors ---------------------------------------------------------------------------------
def test_badauth(d, bind):
    _, fqdn = host(d)
    for auth in (("alice", "wrong"), ("nobody", "pw-alice")):
        r = d.get(f"/update?{q(hostname=fqdn, myip='192.0.2.10')}", auth=auth)
        assert (r.status, r.text) == (200, "badauth\n")
        assert "www-authenticate" not in r.headers
    r = d.get(f"/update?{q(hostname=fqdn, myip='192.0.2.10')}")
    assert (r.status, r.text) == (401, "badauth\n")
    assert r.headers["www-authenticate"] == 'Basic realm="ddns"'
    assert bind.query(fqdn, "A") == []


def test_basic_auth_password_with_colon_and_space(d, bind):
    _, fqdn = host(d, user="bob")
    r = d.get(f"/update?{q(hostname=fqdn, myip='192.0.2.11')}", auth=BOB)
    assert r.text == "good 192.0.2.11\n"
    assert bind.query(fqdn, "A") == ["192.0.2.11"]


def test_nohost_for_another_users_host(d, bind):
    _, fqdn = host(d, user="bob")
    r = d.get(f"/update?{q(hostname=fqdn, myip='192.0.2.12')}", auth=ALICE)
    assert (r.status, r.text) == (200, "nohost\n")
    assert bind.query(fqdn, "A") == []


def test_notfqdn(d):
    for name in ("x", "-bad-.dyn.example.com", ""):
        r = d.get(f"/update?{q(hostname=name, myip='192.0.2.13')}", auth=ALICE)
        assert (r.status, r.text) == (200, "notfqdn\n"), name
    r = d.get(f"/update?{q(myip='192.0.2.13')}", auth=ALICE)
    assert r.text == "notfqdn\n"


def test_badip(d, bind):
    _, fqdn = host(d)
    serial = bind.soa_serial(Z)
    for ip in ("999.1.1.1", "hello", "192.0.2.1,192.0.2.2"):
        r = d.get(f"/update?{q(hostname=fqdn, myip=ip)}", auth=ALICE)
        assert (r.status, r.text) == (200, "badip\n"), ip
    assert bind.query(fqdn, "A") == []
    assert bind.soa_serial(Z) == serial


def test_numhost(d, bind):
    _, fqdn = host(d)
    names = ",".join([fqdn] * 21)
    r = d.get(f"/update?{q(hostname=names, myip='192.0.2.14')}", auth=ALICE)
    assert (r.status, r.text) == (200, "numhost\n")
    assert bind.query(fqdn, "A") == []


# --- JSON -----------------------------------------------------------------------------------
def test_json_single_and_list(d, bind):
    _, a = host(d)
    r = d.get(f"/update?{q(hostname=a, myip='192.0.2.15')}", auth=ALICE,
              headers={"Accept": "application/json"})
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"status": "good", "ipv4": "192.0.2.15", "ipv6": None}
    r = d.get(f"/update?{q(hostname=a + ',x', myip='192.0.2.15')}", auth=ALICE,
              headers={"Accept": "text/html, application/json;q=0.9"})
    body = r.json()
    assert isinstance(body, list) and len(body) == 2
    assert (body[0]["status"], body[0]["ipv4"], body[0]["ipv6"]) == ("nochg", "192.0.2.15", None)
    assert body[1]["status"] == "notfqdn"
    r = d.get(f"/update?{q(hostname=a)}", auth=("alice", "nope"),
              headers={"Accept": "application/json"})
    assert r.json()["status"] == "badauth"
    assert bind.query(a, "A") == ["192.0.2.15"]


# --- endpoints, aliases, credentials ----------------------------------------------------------
def test_update_endpoint_aliases_and_query_credentials(d, bind):
    _, fqdn = host(d)
    r = d.get(f"/update?{q(host=fqdn, ipv4='192.0.2.16', user='alice', **{'pass': 'pw-alice'})}")
    assert r.text == "good 192.0.2.16\n"
    r = d.get(f"/update?{q(host=fqdn, ip6='2001:db8::16', user='alice', token='pw-alice')}")
    assert r.text == "good 2001:db8::16\n"
    r = d.get(f"/update?{q(hostname=fqdn, ip4='192.0.2.17', username='alice', password='pw-alice')}")
    assert r.text == "good 192.0.2.17\n"
    assert bind.query(fqdn, "A") == ["192.0.2.17"]
    assert bind.query(fqdn, "AAAA") == ["2001:db8::16"]
    # Basic auth wins over query credentials.
    r = d.get(f"/update?{q(hostname=fqdn, myip='192.0.2.18', username='alice', password='bad')}",
              auth=ALICE)
    assert r.text == "good 192.0.2.18\n"


def test_nic_update_endpoint(d, bind):
    _, fqdn = host(d)
    r = d.get(f"/nic/update?{q(system='dyndns', hostname=fqdn, myip='192.0.2.19')}", auth=ALICE)
    assert r.text == "good 192.0.2.19\n"
    assert bind.query(fqdn, "A") == ["192.0.2.19"]
    # /nic/update knows only Dyn's names: `host`, `ipv4`, `user` mean nothing there.
    r = d.get(f"/nic/update?{q(host=fqdn, myip='192.0.2.20')}", auth=ALICE)
    assert r.text == "notfqdn\n"
    r = d.get(f"/nic/update?{q(hostname=fqdn, myip='192.0.2.20', user='alice', password='pw-alice')}")
    assert (r.status, r.text) == (200, "badauth\n")  # a password but no user name
    assert bind.query(fqdn, "A") == ["192.0.2.19"]


def test_unknown_paths_and_methods(d):
    for path in ("/", "/update/", "/nic", "/updatex?hostname=a", "/UPDATE"):
        r = d.get(path, auth=ALICE)
        assert r.status == 404, path
    r = d.get("/update?hostname=a.dyn.example.com", auth=ALICE, method="POST", body=b"x=1")
    assert r.status == 405
    assert r.headers.get("allow") == "GET"


def test_http10_and_connection_close(d, bind):
    """inadyn speaks HTTP/1.0 with a Host header without port; ddclient sends
    Connection: close. Both must get a complete reply and a closed connection."""
    _, fqdn = host(d)
    for ver, extra in (("HTTP/1.0", "Host: 127.0.0.1\r\n"),
                       ("HTTP/1.1", f"Host: 127.0.0.1:{d.port}\r\nConnection: close\r\n")):
        s = socket.create_connection(("127.0.0.1", d.port), timeout=30)
        s.sendall(f"GET /nic/update?{q(hostname=fqdn, myip='192.0.2.21')} {ver}\r\n{extra}"
                  "Authorization: Basic YWxpY2U6cHctYWxpY2U=\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(4096):  # ends only when the server closes
            data += chunk
        s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.") and b" 200 " in head.split(b"\r\n")[0]
        assert b"Content-Length: %d" % len(body) in head
        assert body in (b"good 192.0.2.21\n", b"nochg 192.0.2.21\n")
    assert bind.query(fqdn, "A") == ["192.0.2.21"]


def test_request_log_masks_passwords(d):
    _, fqdn = host(d)
    d.get(f"/update?{q(hostname=fqdn, myip='192.0.2.22', username='alice', password='pw-alice')}")
    d.get(f"/update?{q(hostname=fqdn, user='alice', token='TOKEN-SECRET')}")
    log = d.log()
    assert "pw-alice" not in log and "TOKEN-SECRET" not in log
    assert f"GET /update?hostname={fqdn}&myip=192.0.2.22 (+2 not logged) from" in log
    assert f"GET /update?hostname={fqdn} (+2 not logged) from" in log


def test_seed_curl_and_wget_examples(d, bind):
    _, fqdn = host(d)
    url = f"http://127.0.0.1:{d.port}/update?hostname={fqdn}&myip=1.2.3.4"
    r = subprocess.run(["curl", "-sS", "-u", "alice:pw-alice", url], capture_output=True,
                       text=True, timeout=60)
    assert (r.returncode, r.stdout) == (0, "good 1.2.3.4\n")
    assert bind.query(fqdn, "A") == ["1.2.3.4"]
    url = f"http://127.0.0.1:{d.port}/update?hostname={fqdn}"
    r = subprocess.run(["wget", "-qO-", "--user=alice", "--password=pw-alice", url],
                       capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout) == (0, "good 127.0.0.1\n")
    assert bind.query(fqdn, "A") == ["127.0.0.1"]


# --- rate limiting ------------------------------------------------------------------------
def test_abuse_after_bad_and_good_limits(make_daemon, bind):
    """bad_max=2 from 127.0.0.1; good_max=2 from ::1 (the limiter counts per address)."""
    d = make_daemon(users={"alice": ALICE[1]}, listen_host="localhost",
                    config={"rate_limit": {"good_max_requests": 2, "bad_max_requests": 2}})
    label = uid()
    d.add_host("alice", label, Z)
    fqdn = f"{label}.{Z}"
    target = f"/update?{q(hostname=fqdn, myip='192.0.2.30')}"
    for _ in range(2):
        assert d.get(target, auth=("alice", "bad"), host="127.0.0.1").text == "badauth\n"
    r = d.get(target, auth=ALICE, host="127.0.0.1")
    assert (r.status, r.text) == (200, "abuse\n")
    assert bind.query(fqdn, "A") == []
    # The first good request pays the password check (later ones are answered from the
    # credential cache, so it is the one to compare with).
    t0 = time.monotonic()
    assert d.get(target, auth=ALICE, host="::1").text == "good 192.0.2.30\n"
    t1 = time.monotonic()
    assert d.get(target, auth=ALICE, host="::1").text == "nochg 192.0.2.30\n"
    t2 = time.monotonic()
    r = d.get(f"/update?{q(hostname=fqdn, myip='192.0.2.31')}", auth=("alice", "never checked"),
              host="::1")
    assert r.text == "abuse\n"
    assert time.monotonic() - t2 < (t1 - t0) / 2, "abuse must not cost a password check"
    assert bind.query(fqdn, "A") == ["192.0.2.30"]


# --- proxy ----------------------------------------------------------------------------------
def test_proxy_header_only_from_trusted_proxy(make_daemon, bind):
    d = make_daemon(users={"alice": ALICE[1]}, listen_host="localhost",
                    config={"daemon": {"proxy_header": "X-Forwarded-For",
                                       "trusted_proxies": ["127.0.0.1", "10.0.0.0/8"]}})
    label = uid()
    d.add_host("alice", label, Z)
    fqdn = f"{label}.{Z}"
    target = f"/update?{q(hostname=fqdn)}"
    r = d.get(target, auth=ALICE, host="127.0.0.1",
              headers={"X-Forwarded-For": "198.51.100.7, 10.1.2.3"})
    assert r.text == "good 198.51.100.7\n"
    assert bind.query(fqdn, "A") == ["198.51.100.7"]
    # From ::1 (not trusted) the header is ignored: the peer address is used.
    r = d.get(target, auth=ALICE, host="::1", headers={"X-Forwarded-For": "198.51.100.8"})
    assert r.text == "good ::1\n"
    assert bind.query(fqdn, "A") == ["198.51.100.7"]
    assert bind.query(fqdn, "AAAA") == ["::1"]


# --- DNS failures ---------------------------------------------------------------------------
def test_dns_down_gives_dnserr_and_leaves_db(make_daemon, tmp_path_factory):
    own = BindServer(tmp_path_factory.mktemp("bind-down"), 25301, {Z: "hmac-sha256"})
    own.start()
    try:
        d = make_daemon(users={"alice": ALICE[1]}, dns_server=own,
                        config={"dns_service": {"dns_timeout": 1}})
        label = uid()
        d.add_host("alice", label, Z)
        fqdn = f"{label}.{Z}"
        own.stop()
        r = d.get(f"/update?{q(hostname=fqdn, myip='192.0.2.40')}", auth=ALICE)
        assert (r.status, r.text) == (200, "dnserr\n")
        assert d.hosts()[fqdn]["ipv4"] in (None, "")
        own.start()
        assert own.query(fqdn, "A") == []
        r = d.get(f"/update?{q(hostname=fqdn, myip='192.0.2.40')}", auth=ALICE)
        assert r.text == "good 192.0.2.40\n"
        assert own.query(fqdn, "A") == ["192.0.2.40"]
        assert d.hosts()[fqdn]["ipv4"] == "192.0.2.40"
    finally:
        own.stop()


def test_rejected_key_gives_dnserr(make_daemon, dns_server):
    d = make_daemon(users={"alice": ALICE[1]},
                    zone_keys={Z: dns_server.wrong_key_file(Z), Z2: dns_server.key_file(Z)})
    label = uid()
    d.add_host("alice", label, Z)
    d.add_host("alice", label, Z2)
    a, b = f"{label}.{Z}", f"{label}.{Z2}"
    r = d.get(f"/update?{q(hostname=a + ',' + b, myip='192.0.2.41')}", auth=ALICE)
    assert r.text == "dnserr\ndnserr\n"  # see test_dnsserver_fixture.REFUSALS
    assert dns_server.query(a, "A") == [] and dns_server.query(b, "A") == []
    assert d.hosts()[a]["ipv4"] in (None, "")


# --- process life -----------------------------------------------------------------------------
def test_sigterm_finishes_request_in_flight(make_daemon, bind):
    d = make_daemon(users={"alice": ALICE[1]})
    label = uid()
    d.add_host("alice", label, Z)
    fqdn = f"{label}.{Z}"
    result = {}

    def req():
        result["r"] = d.get(f"/update?{q(hostname=fqdn, myip='192.0.2.50')}", auth=ALICE)

    t = threading.Thread(target=req)
    t.start()
    time.sleep(0.1)  # the request is inside its Argon2 verification now
    assert d.stop() == 0
    t.join(30)
    assert result["r"].text == "good 192.0.2.50\n"
    assert bind.query(fqdn, "A") == ["192.0.2.50"]


def test_port_in_use_is_refused(make_daemon):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen()
    try:
        d = make_daemon(users={}, start=False,
                        config={"daemon": {"port": s.getsockname()[1]}})
        d.start(wait=False)
        rc = d.wait_exit()
        assert rc != 0
        assert "Address already in use" in d.log()
        assert f"127.0.0.1:{s.getsockname()[1]}" in d.log()
    finally:
        s.close()


def test_world_readable_config_is_refused(make_daemon):
    d = make_daemon(users={}, start=False)
    d.config.chmod(0o644)
    d.start(wait=False)
    assert d.wait_exit() == 1
    assert "readable" in d.log()


def test_keep_alive_serves_several_requests_on_one_connection(d, bind):
    import http.client
    _, fqdn = host(d)
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)
    try:
        texts = []
        for ip in ("192.0.2.23", "192.0.2.24"):
            conn.request("GET", f"/update?{q(hostname=fqdn, myip=ip)}",
                         headers={"Authorization": "Basic YWxpY2U6cHctYWxpY2U="})
            r = conn.getresponse()
            texts.append(r.read().decode())
            assert r.getheader("Connection", "").lower() != "close"
        sock = conn.sock
        assert sock is not None, "the server closed a keep-alive connection"
    finally:
        conn.close()
    assert texts == ["good 192.0.2.23\n", "good 192.0.2.24\n"]
    assert bind.query(fqdn, "A") == ["192.0.2.24"]


def test_oversized_request_is_refused(d):
    r = d.get("/update?hostname=" + "a" * 20000, auth=ALICE)
    assert r.status in (414, 431, 413)
    r = d.get("/update?hostname=a.dyn.example.com", auth=ALICE,
              headers={f"X-Junk-{i}": "x" * 200 for i in range(100)})
    assert r.status in (413, 431)


def test_sighup_reopens_log_and_keeps_serving(d, bind):
    import signal
    _, fqdn = host(d)
    d.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "SIGHUP" not in d.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "SIGHUP: log reopened" in d.log()
    r = d.get(f"/update?{q(hostname=fqdn, myip='192.0.2.25')}", auth=ALICE)
    assert r.text == "good 192.0.2.25\n"
    assert bind.query(fqdn, "A") == ["192.0.2.25"]
