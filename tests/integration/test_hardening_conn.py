# SPDX-License-Identifier: MIT
"""Clients that hold connections instead of sending requests (issue 12, items 1 and
2): every request has a deadline to arrive however slowly it trickles, offenders get
one log line per address, a share of the connections stays for clients that hold
few, and the connection limit follows the file descriptors the daemon may open, so
that the database, DNS and the expiry pass always have theirs.

Loopback has a whole /8: clients bind 127.0.0.N to be N different addresses."""

from __future__ import annotations

import errno
import os
import re
import resource
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from helpers import BIN, uid  # noqa: E402

Z = "dyn.example.com"
ALICE = ("alice", "pw-alice")


def connect_from(src: str, port: int, timeout: float = 5) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def is_closed(s: socket.socket) -> bool:
    """Whether the server closed `s` (EOF or reset), without blocking."""
    r, _, _ = select.select([s], [], [], 0)
    if not r:
        return False
    try:
        return s.recv(4096, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def trickle(socks: list[socket.socket], data: bytes, every: float, limit: float) -> list:
    """Sends `data` one byte per `every` seconds on each socket until the server closes
    it or `limit` seconds passed; the seconds each socket stayed open (None: open)."""
    start = time.monotonic()
    closed_after: list = [None] * len(socks)
    pos = 0
    while time.monotonic() - start < limit and None in closed_after:
        for i, s in enumerate(socks):
            if closed_after[i] is not None:
                continue
            if is_closed(s):
                closed_after[i] = time.monotonic() - start
                continue
            try:
                if data:
                    s.send(data[pos % len(data):pos % len(data) + 1])
            except OSError:
                closed_after[i] = time.monotonic() - start
        pos += 1
        time.sleep(every)
    return closed_after


def offender_lines(d, ip: str) -> list[str]:
    return [x for x in d.log().splitlines() if f"client {ip}:" in x]


def test_trickled_request_is_closed_at_its_deadline(make_daemon):
    """Today's 15 s timeout counts inactivity only: a byte every 0.4 s kept a request
    open for ever. Now the request line and headers must be in within request_timeout,
    and each offending address gets one log line, however many connections it had."""
    d = make_daemon(users={"alice": ALICE[1]}, config={"daemon": {"request_timeout": 2}})
    slow = [connect_from("127.0.0.2", d.port) for _ in range(3)]
    mute = [connect_from("127.0.0.3", d.port)]
    keep = connect_from("127.0.0.4", d.port)
    keep.sendall(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
    assert keep.recv(4096).startswith(b"HTTP/1.1 404")
    head = b"GET /update?hostname=x HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    took = trickle(slow, head, 0.4, 8)
    assert all(t is not None and t < 4.0 for t in took), took
    assert trickle(mute, b"", 0.2, 3)[0] is not None, "a silent connection is closed too"
    # An idle keep-alive connection is closed as well, but it is no offence.
    assert trickle([keep], b"", 0.2, 3)[0] is not None
    time.sleep(0.6)
    lines = offender_lines(d, "127.0.0.2")
    assert len(lines) == 1, lines
    assert "3 connections" in lines[0] and "within 2 s" in lines[0], lines[0]
    assert len(offender_lines(d, "127.0.0.3")) == 1
    assert offender_lines(d, "127.0.0.4") == []
    # Well-behaved clients are served all along.
    assert d.get("/nope").status == 404
    for s in slow + mute + [keep]:
        s.close()
