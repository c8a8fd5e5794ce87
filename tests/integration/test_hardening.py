# SPDX-License-Identifier: MIT
"""Abuse the HTTP edge the way an attacker would: passwords under other spellings must
not reach the request log, a client's own X-Forwarded-For line must not choose its
address, and one host must not take every connection slot behind a proxy."""

from __future__ import annotations

import base64
import socket
import time
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from helpers import uid  # noqa: E402

Z = "dyn.example.com"
ALICE = ("alice", "pw-alice")
PROXY = {"daemon": {"proxy_header": "X-Forwarded-For", "trusted_proxies": ["127.0.0.1"]}}


def raw_request(host: str, port: int, lines: list[str]) -> bytes:
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect((host, port))
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        return data


def test_password_under_any_spelling_is_masked(make_daemon):
    d = make_daemon(users={"alice": ALICE[1]})
    label = uid()
    d.add_host("alice", label, Z)
    for name in ("PASSWORD", "Pass", "ToKeN"):
        d.get(f"/update?hostname={label}.{Z}&user=alice&{name}=secret-{name}")
    log = d.log()
    for name in ("PASSWORD", "Pass", "ToKeN"):
        assert f"secret-{name}" not in log
    # Credentials are not even named: only counted (see test_hardening_log.py).
    assert log.count(f"GET /update?hostname={label}.{Z} (+2 not logged) from") == 3, log


def test_client_x_forwarded_for_line_does_not_choose_the_address(make_daemon, bind):
    """The client sends its own header line; the trusted proxy appends a second line
    with the real peer. The right-most untrusted address of both lines counts."""
    d = make_daemon(users={"alice": ALICE[1]}, config=PROXY)
    label = uid()
    d.add_host("alice", label, Z)
    fqdn = f"{label}.{Z}"
    auth = "Basic " + base64.b64encode(b"alice:pw-alice").decode()
    reply = raw_request("127.0.0.1", d.port, [
        f"GET /update?hostname={fqdn} HTTP/1.1", "Host: x", f"Authorization: {auth}",
        "X-Forwarded-For: 203.0.113.9", "X-Forwarded-For: 198.51.100.20",
        "Connection: close"])
    assert reply.endswith(b"good 198.51.100.20\n"), reply
    assert bind.query(fqdn, "A") == ["198.51.100.20"]


def test_connection_limit_holds_behind_a_proxy_except_for_the_proxy(make_daemon):
    d = make_daemon(users={"alice": ALICE[1]}, config=PROXY, listen_host="localhost")
    held = []
    try:
        for _ in range(16):  # HTTP_PER_IP_CONNECTIONS, from an untrusted client
            s = socket.create_connection(("::1", d.port), timeout=5)
            # One answered request proves the daemon accepted (and counts) it: MHD's
            # threads take connections from the listen queue in no fixed order. The
            # connection then stays open (keep-alive).
            s.sendall(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 404")
            held.append(s)
        extra = socket.create_connection(("::1", d.port), timeout=5)
        extra.sendall(b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        try:
            got = extra.recv(100)
        except ConnectionResetError:
            got = b""
        extra.close()
        assert got == b"", "the 17th connection of one client must be refused"
        # The trusted proxy is not counted: it still gets through.
        r = d.get("/nope", host="127.0.0.1")
        assert r.status == 404
    finally:
        for s in held:
            s.close()
    # Once the client's connections are gone, it is served again.

    for _ in range(50):
        try:
            if d.get("/nope", host="::1").status == 404:
                break
        except OSError:
            pass
        time.sleep(0.1)
    else:
        raise AssertionError("client not served after closing its connections")


def test_parallel_burst_stops_at_the_bad_limit(make_daemon):
    """Requests in flight count against the limit: 12 parallel wrong passwords with
    bad_max_requests = 3 reach Argon2 at most 3 times; the rest are `abuse`."""
    from concurrent.futures import ThreadPoolExecutor
    d = make_daemon(users={"alice": ALICE[1]},
                    config={"rate_limit": {"bad_max_requests": 3, "good_max_requests": 3}})
    label = uid()
    d.add_host("alice", label, Z)
    with ThreadPoolExecutor(12) as pool:
        replies = list(pool.map(
            lambda _: d.get(f"/update?hostname={label}.{Z}", auth=("alice", "wrong")).text,
            range(12)))
    assert replies.count("badauth\n") <= 3, replies
    assert replies.count("abuse\n") >= 9, replies
