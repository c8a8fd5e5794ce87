# SPDX-License-Identifier: MIT
"""A DNS proxy on loopback between the daemon and a real DNS server, for the tests that
need a DNS server to misbehave on purpose: it forwards every message (UDP and TCP) to
the real server and can, per zone of an UPDATE, delay the reply (the server applied the
change, the answer is late: the crash window between DNS and the database), or swallow
the message (a sick server that never answers). It counts the UPDATE messages and the
names each carried, per zone (a retransmission of a message is counted once), so a test
can see how many messages a burst of requests became.

    proxy = DnsProxy(bind)                 # forwards to bind.port, listens on proxy.port
    proxy.swallow("sick.example.com")
    proxy.delay("dyn.example.com", 1.5)
    proxy.updates("dyn.example.com")       # [(names, rrs), ...] one per UPDATE message
    proxy.close()

It stands in for the server in a daemon's config (port, zones, key_file), while the test
reads the real server directly (bind.query)."""

from __future__ import annotations

import selectors
import socket
import struct
import threading
import time

OPCODE_UPDATE = 5
UPSTREAM_TIMEOUT = 20.0  # seconds the proxy waits for the real server
HOLD = 60.0              # seconds a swallowed TCP connection is kept open


def parse_update(wire: bytes) -> tuple[str, int, int] | None:
    """(zone, names, rrs) of an UPDATE request; None for anything else. `names` counts
    the distinct owner names of the update section, `rrs` its records."""
    if len(wire) < 12 or (wire[2] >> 3) & 0x0F != OPCODE_UPDATE or wire[2] & 0x80:
        return None
    zocount, _, upcount = struct.unpack("!HHH", wire[4:10])
    if zocount != 1:
        return None
    zone, off = _name(wire, 12)
    off += 4
    owners = set()
    for _ in range(upcount):
        owner, off = _name(wire, off)
        if off + 10 > len(wire):
            return None
        rdlen = struct.unpack("!H", wire[off + 8:off + 10])[0]
        off += 10 + rdlen
        owners.add(owner)
    return zone, len(owners), upcount


def _name(wire: bytes, off: int) -> tuple[str, int]:
    """A (possibly compressed) domain name at `off`: (text, offset after it)."""
    labels, end, jumps = [], None, 0
    while True:
        n = wire[off]
        if n & 0xC0 == 0xC0:
            if end is None:
                end = off + 2
            off = ((n & 0x3F) << 8) | wire[off + 1]
            jumps += 1
            if jumps > 64:
                raise ValueError("compression loop")
            continue
        if n == 0:
            return ".".join(labels).lower(), end if end is not None else off + 1
        labels.append(wire[off + 1:off + 1 + n].decode("ascii", "replace"))
        off += 1 + n


class DnsProxy:
    """See the module docstring. Thread-safe; one thread per exchange in flight."""

    def __init__(self, server, port: int | None = None, host: str = "127.0.0.1"):
        self.server = server
        self.host = host
        self.udp, self.tcp = self._bind(host, port)
        self.port = self.udp.getsockname()[1]
        self._lock = threading.Lock()
        self._rules: dict[str, tuple[str, float]] = {}
        self._seen: dict[str, dict[int, tuple[int, int]]] = {}  # zone: {id: ...}
        self._stop = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    @staticmethod
    def _bind(host: str, port: int | None) -> tuple[socket.socket, socket.socket]:
        """A UDP and a TCP socket on one port: `port`, or one the kernel picks for UDP
        that TCP can have as well (another process may hold its TCP side: try again)."""
        for _ in range(50):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind((host, port or 0))
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind((host, udp.getsockname()[1]))
            except OSError:
                udp.close()
                tcp.close()
                if port:
                    raise
                continue
            tcp.listen(256)
            return udp, tcp
        raise OSError("no port free for both UDP and TCP")

    # --- what the daemon's config needs -----------------------------------------------
    @property
    def zones(self) -> list[str]:
        return self.server.zones

    def key_file(self, zone: str) -> str:
        return self.server.key_file(zone)

    # --- behaviour ------------------------------------------------------------------------
    def swallow(self, zone: str) -> None:
        """UPDATEs for `zone` are read and dropped: the server seems dead for it."""
        with self._lock:
            self._rules[zone.lower()] = ("swallow", 0.0)

    def delay(self, zone: str, seconds: float) -> None:
        """UPDATEs for `zone` reach the server at once; its reply `seconds` later."""
        with self._lock:
            self._rules[zone.lower()] = ("delay", seconds)

    def forward(self, zone: str) -> None:
        with self._lock:
            self._rules.pop(zone.lower(), None)

    def updates(self, zone: str) -> list[tuple[int, int]]:
        """(names, records) of every UPDATE message for `zone` seen so far, in order;
        retransmissions (the same message ID) count once."""
        with self._lock:
            return list(self._seen.get(zone.lower(), {}).values())

    def reset_counts(self) -> None:
        with self._lock:
            self._seen.clear()

    def close(self) -> None:
        self._stop = True
        self._thread.join(5)
        self.udp.close()
        self.tcp.close()

    # --- the work ---------------------------------------------------------------------------
    def _rule(self, wire: bytes) -> tuple[str, float]:
        try:
            up = parse_update(wire)
        except (IndexError, ValueError, struct.error):
            up = None
        if up is None:
            return ("forward", 0.0)
        zone, names, rrs = up
        with self._lock:
            self._seen.setdefault(zone, {})[struct.unpack("!H", wire[:2])[0]] = (names, rrs)
            return self._rules.get(zone, ("forward", 0.0))

    def _loop(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.udp, selectors.EVENT_READ)
        sel.register(self.tcp, selectors.EVENT_READ)
        while not self._stop:
            for key, _ in sel.select(0.2):
                try:
                    if key.fileobj is self.udp:
                        wire, peer = self.udp.recvfrom(65535)
                        self._spawn(self._udp_exchange, wire, peer)
                    else:
                        conn, _ = self.tcp.accept()
                        self._spawn(self._tcp_conn, conn)
                except OSError:
                    continue
        sel.close()

    @staticmethod
    def _spawn(fn, *args) -> None:
        threading.Thread(target=fn, args=args, daemon=True).start()

    def _udp_exchange(self, wire: bytes, peer) -> None:
        action, seconds = self._rule(wire)
        if action == "swallow":
            return
        up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            up.settimeout(UPSTREAM_TIMEOUT)
            up.sendto(wire, (self.server.address, self.server.port))
            reply = up.recv(65535)
        except OSError:
            return
        finally:
            up.close()
        if seconds:
            time.sleep(seconds)
        try:
            self.udp.sendto(reply, peer)
        except OSError:
            pass

    def _tcp_conn(self, conn: socket.socket) -> None:
        with conn:
            while not self._stop:
                msg = _read_framed(conn)
                if msg is None:
                    return
                action, seconds = self._rule(msg)
                if action == "swallow":
                    time.sleep(HOLD)
                    return
                reply = self._tcp_upstream(msg)
                if reply is None:
                    return
                if seconds:
                    time.sleep(seconds)
                try:
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
                except OSError:
                    return

    def _tcp_upstream(self, msg: bytes) -> bytes | None:
        try:
            with socket.create_connection((self.server.address, self.server.port),
                                          timeout=UPSTREAM_TIMEOUT) as up:
                up.sendall(struct.pack("!H", len(msg)) + msg)
                return _read_framed(up)
        except OSError:
            return None


def _read_exact(s: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        try:
            chunk = s.recv(n - len(data))
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return data


def _read_framed(s: socket.socket) -> bytes | None:
    head = _read_exact(s, 2)
    if head is None:
        return None
    return _read_exact(s, struct.unpack("!H", head)[0])
