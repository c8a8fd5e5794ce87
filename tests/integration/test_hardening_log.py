# SPDX-License-Identifier: MIT
"""Secrets must not reach the request log (issue 12, item 6): the log shows the path
and the parameters known to be harmless, never the rest, whatever a client calls its
password; and every log line is valid UTF-8 without control bytes."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from helpers import uid  # noqa: E402

Z = "dyn.example.com"
ALICE = ("alice", "pw-alice")


def raw_get(d, target: bytes) -> bytes:
    """Sends `target` as it is (no client-side quoting) and returns the reply."""
    with socket.create_connection(("127.0.0.1", d.port), timeout=10) as s:
        s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        return data


def request_lines(d) -> list[str]:
    return [x for x in d.log().splitlines() if " from 127.0.0.1: " in x]


def test_only_harmless_parameters_are_logged(make_daemon):
    d = make_daemon(users={"alice": ALICE[1]})
    label = uid()
    d.add_host("alice", label, Z)
    fqdn = f"{label}.{Z}"
    targets = [
        f"/update?hostname={fqdn}&user=alice&passwd=secret-one".encode(),
        f"/update?hostname={fqdn}&user=alice&pass+word=secret-two".encode(),
        f"/update?hostname={fqdn}&user=alice&passwordsecret-three".encode(),
        f"/update?hostname={fqdn};password=secret-four&user=alice".encode(),
        f"/update?hostname={fqdn}%26password%3Dsecret-five".encode(),
        b"/update%3Fuser=alice&password=secret-six",
        b"/nope%3Fpassword=secret-seven",
        f"/update?hostname={fqdn}&myip=192.0.2.9&user=alice&password=secret-eight".encode(),
    ]
    for t in targets:
        assert raw_get(d, t).startswith(b"HTTP/1.1 "), t
    log = d.log()
    for word in ("one", "two", "three", "four", "five", "six", "seven", "eight"):
        assert f"secret-{word}" not in log, (word, log)
    lines = request_lines(d)
    assert len(lines) == len(targets), lines
    # The harmless parameters are there, with their values; the rest only counted.
    assert f"GET /update?hostname={fqdn}&myip=192.0.2.9 (+2 not logged) from" in lines[7], lines[7]
    assert f"GET /update?hostname={fqdn} (+2 not logged) from" in lines[0], lines[0]
    # A value is cut where a character no host name has begins.
    assert f"GET /update?hostname={fqdn}... (+1 not logged) from" in lines[3], lines[3]
    assert f"GET /update?hostname={fqdn}... from" in lines[4], lines[4]
    # An unknown path is cut where a character no path of ours has begins.
    assert "GET /update... from 127.0.0.1: 404" in lines[5], lines[5]
    assert "GET /nope... from 127.0.0.1: 404" in lines[6], lines[6]


def test_log_lines_are_utf8_without_control_bytes(make_daemon):
    d = make_daemon(users={"alice": ALICE[1]})
    raw_get(d, b"/update?hostname=a%FF%FEb.dyn.example.com&user=x%0Aforged%1Bline&password=p")
    raw_get(d, b"/update?hostname=caf%C3%A9.dyn.example.com&user=alice&password=wrong")
    data = d.log_path.read_bytes()
    text = data.decode("utf-8")          # strict: no byte that is not UTF-8
    assert "\x1b" not in text
    assert all(x.startswith("20") for x in text.splitlines()), "a forged line"
    assert "hostname=a\\xff\\xfeb.dyn.example.com" in text, text
    assert "hostname=café.dyn.example.com" in text, text
    # The user name of a failed login is logged (escaped), never the password.
    assert 'user "x\\nforged\\x1bline"' in text, text
