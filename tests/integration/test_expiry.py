# SPDX-License-Identifier: MIT
"""Expiry end to end (SPEC §7, §8): real daemon, real BIND (the basic expiry also Knot
DNS and PowerDNS), real SMTP sink.

Time cannot be waited out (expiry_ttl is at least 60 s), so a test makes a host stale
the way leaving it alone would: it moves the host's last update time back in the
SQLite database while the daemon runs (cleanup_interval = 1). Every test checks what
named serves, what the database says (`hostname list --json`) and what mail arrived."""

from __future__ import annotations

import email.utils
import re
import socket
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import jinja2
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from dnsserver import BindServer  # noqa: E402
from helpers import NAMED_PORTS, SMTP_PORTS, free_port, uid  # noqa: E402
from smtpsink import SmtpSink  # noqa: E402

# SPEC §7 on both storage backends (the claim and the per-host lock differ).
pytestmark = pytest.mark.backends("sqlite", "mariadb")

ROOT = Path(__file__).resolve().parents[2]
CHANGE_TEMPLATE = ROOT / "files" / "change_notification.j2"
EXPIRY_TEMPLATE = ROOT / "files" / "expiry_notification.j2"
Z = "dyn.example.com"
ZONES = {"dyn.example.com": "hmac-sha256", "dyn2.example.net": "hmac-sha512"}
ALICE = ("alice", "pw-alice")
OWNER = "alice@example.com"          # helpers.Daemon.add_user gives NAME@example.com
FROM = "ddns-expiry@example.org"
EXPIRY_TTL = 3600                    # [defaults] of the test daemons
# This module's ports (the task's ranges): daemons, SMTP sinks, its own named.
PASS_WAIT = 10.0                     # seconds for a pass to act (interval 1 s, slack)


# --- ports and servers -----------------------------------------------------------------


def start_bind(workdir: Path, zones=None) -> BindServer:
    port = free_port(NAMED_PORTS, (socket.SOCK_STREAM, socket.SOCK_DGRAM))
    srv = BindServer(workdir, port, zones or ZONES)
    srv.start()
    return srv


@pytest.fixture(scope="module")
def bind(tmp_path_factory):
    """Overrides the session's named (port 25300) with one on this task's ports, so
    this module can run beside other suites."""
    srv = start_bind(tmp_path_factory.mktemp("bind-expiry"))
    yield srv
    srv.stop()


@pytest.fixture
def sink(tmp_path):
    s = SmtpSink("127.0.0.1", free_port(SMTP_PORTS), str(tmp_path / "mail")).start()
    yield s
    s.stop()


# --- helpers ---------------------------------------------------------------------------
def email_config(sink_port: int) -> dict:
    return {"enabled": True, "smtp_host": "127.0.0.1", "smtp_port": sink_port,
            "from_address": FROM,
            "change_notification_template": str(CHANGE_TEMPLATE),
            "expiry_notification_template": str(EXPIRY_TEMPLATE)}


def make(make_daemon, sink, hosts, start=True, dns_server=None, dns=None):
    """A daemon with user alice, the given hosts, expiry passes every second and mail
    to `sink`."""
    dns_service = {"cleanup_interval": 1}
    dns_service.update(dns or {})
    return make_daemon(users={"alice": ALICE[1]}, hosts=hosts, start=start,
                       dns_server=dns_server,
                       config={"dns_service": dns_service,
                               "email": email_config(sink.port)})


def new_host(*extra: str, zone: str = Z) -> tuple[tuple, str]:
    label = uid()
    return ("alice", label, zone, *extra), f"{label}.{zone}"


def update(d, fqdn, **params):
    qs = "&".join(f"{k}={v}" for k, v in dict(hostname=fqdn, **params).items())
    return d.get(f"/update?{qs}", auth=ALICE)


def db_row(d, fqdn) -> dict:
    return d.db_row(fqdn)


def backdate(d, fqdn, seconds: int, families=("ipv4", "ipv6")) -> dict:
    """Moves the last update of `families` `seconds` into the past, beside the running
    daemon (either backend); returns the row afterwards."""
    return d.backdate(fqdn, seconds, families)


def wait_until(pred, timeout=PASS_WAIT, what="condition"):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def wait_passes(d, n: int = 3) -> None:
    """Lets at least n expiry passes go by (one per second, first at start)."""
    time.sleep(n + 0.5)
    assert d.proc is not None and d.proc.poll() is None, d.log()[-3000:]


def fmt_time(t: int) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def render_expiry(row: dict, v4: bool, v6: bool) -> tuple[str, str]:
    """(Subject, body) of the shipped expiry template as python3-jinja2 renders it for
    `row` (the database row before the pass): the oracle for the C engine."""
    text = jinja2.Environment().from_string(EXPIRY_TEMPLATE.read_text()).render(
        hostname=row["hostname"], zone=row["zone"], fqdn=row["fqdn"],
        expiry_ttl=row["expiry_ttl"],
        ipv4_expired=v4, last_ipv4=row["ipv4"],
        last_ipv4_update=fmt_time(row["ipv4_updated"]) if row["ipv4_updated"] else None,
        ipv6_expired=v6, last_ipv6=row["ipv6"],
        last_ipv6_update=fmt_time(row["ipv6_updated"]) if row["ipv6_updated"] else None)
    head, _, body = text.partition("\n\n")
    assert head.startswith("Subject: ")
    return head[len("Subject: "):], body


def check_headers(msg, to: str = OWNER) -> None:
    """What the service adds to every mail (SPEC §8)."""
    assert [a.addr_spec for a in msg["From"].addresses] == [FROM]
    assert [a.addr_spec for a in msg["To"].addresses] == [to]
    date = email.utils.parsedate_to_datetime(str(msg["Date"]))
    assert abs(date.timestamp() - time.time()) < 120, msg["Date"]
    assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", str(msg["Message-ID"]).strip()), \
        msg["Message-ID"]
    assert str(msg["MIME-Version"]).strip() == "1.0"
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"


def body_of(msg) -> str:
    return msg.get_content().replace("\r\n", "\n")


# --- the daemon's pass -----------------------------------------------------------------
def test_stale_host_expires_once_with_mail(make_daemon, sink, dns_server):
    h, fqdn = new_host()
    d = make(make_daemon, sink, [h])
    r = update(d, fqdn, myip="192.0.2.41", myip6="2001:db8::41")
    assert r.text == "good 192.0.2.41,2001:db8::41\n"
    assert dns_server.query(fqdn, "A") == ["192.0.2.41"]
    assert dns_server.query(fqdn, "AAAA") == ["2001:db8::41"]
    # Fresh records survive passes: nothing is due yet.
    wait_passes(d, 2)
    assert dns_server.query(fqdn, "A") == ["192.0.2.41"]
    assert sink.messages() == []

    before = backdate(d, fqdn, EXPIRY_TTL + 5)
    wait_until(lambda: not dns_server.query(fqdn, "A") and not dns_server.query(fqdn, "AAAA"),
               what="named to drop A and AAAA")
    row = d.hosts()[fqdn]
    assert row["ipv4_expired"] is True and row["ipv6_expired"] is True, row

    msgs = sink.wait_for(1)
    assert len(msgs) == 1, d.log()[-3000:]
    msg = msgs[0]
    env = sink.envelopes()[0]
    assert env["mail_from"] == FROM and env["rcpt_tos"] == [OWNER]
    check_headers(msg)
    subject, body = render_expiry(before, True, True)
    assert str(msg["Subject"]) == subject == f"[DDNS] {fqdn} expired: A and AAAA records removed"
    assert fqdn in body_of(msg)
    assert "192.0.2.41" in body_of(msg) and "2001:db8::41" in body_of(msg)
    assert body_of(msg).rstrip("\n") == body.rstrip("\n")

    # Later passes find nothing to do: no second mail, records stay gone.
    wait_passes(d, 3)
    assert len(sink.messages()) == 1
    assert dns_server.query(fqdn, "A") == [] and dns_server.query(fqdn, "AAAA") == []
    assert d.log().count(f"expiry: {fqdn}:") == 1


def test_expiry_ttl_zero_never_expires(make_daemon, sink, bind):
    h0, never = new_host("--expiry-ttl", "0")
    h1, control = new_host()
    d = make(make_daemon, sink, [h0, h1])
    assert update(d, never, myip="192.0.2.42", myip6="2001:db8::42").text.startswith("good")
    assert update(d, control, myip="192.0.2.43").text.startswith("good")
    backdate(d, never, 10 * 365 * 86400)
    backdate(d, control, EXPIRY_TTL + 5, ("ipv4",))
    # The control host proves passes run on this daemon ...
    wait_until(lambda: not bind.query(control, "A"), what="the control host to expire")
    assert len(sink.wait_for(1)) == 1
    wait_passes(d, 2)
    # ... and the never-expiring one is untouched by them.
    assert bind.query(never, "A") == ["192.0.2.42"]
    assert bind.query(never, "AAAA") == ["2001:db8::42"]
    row = d.hosts()[never]
    assert row["ipv4_expired"] is False and row["ipv6_expired"] is False
    msgs = sink.messages()
    assert len(msgs) == 1 and control in str(msgs[0]["Subject"])


def test_one_family_expires_alone(make_daemon, sink, bind):
    h, fqdn = new_host()
    d = make(make_daemon, sink, [h])
    assert update(d, fqdn, myip="192.0.2.44", myip6="2001:db8::44").text.startswith("good")
    before = backdate(d, fqdn, EXPIRY_TTL + 5, ("ipv4",))
    wait_until(lambda: not bind.query(fqdn, "A"), what="named to drop A")
    assert bind.query(fqdn, "AAAA") == ["2001:db8::44"]
    row = d.hosts()[fqdn]
    assert row["ipv4_expired"] is True and row["ipv6_expired"] is False, row

    msgs = sink.wait_for(1)
    assert len(msgs) == 1
    subject, body = render_expiry(before, True, False)
    assert str(msgs[0]["Subject"]) == subject == f"[DDNS] {fqdn} expired: A record removed"
    text = body_of(msgs[0])
    assert "IPv4 (A):      192.0.2.44" in text
    assert "IPv6" not in text and "2001:db8::44" not in text
    assert text.rstrip("\n") == body.rstrip("\n")

    wait_passes(d, 2)
    assert bind.query(fqdn, "AAAA") == ["2001:db8::44"]
    assert len(sink.messages()) == 1


def test_update_after_expiry_restores(make_daemon, sink, bind):
    h, fqdn = new_host()
    d = make(make_daemon, sink, [h])
    assert update(d, fqdn, myip="192.0.2.45", myip6="2001:db8::45").text.startswith("good")
    backdate(d, fqdn, EXPIRY_TTL + 5)
    wait_until(lambda: not bind.query(fqdn, "A") and not bind.query(fqdn, "AAAA"),
               what="expiry")
    assert len(sink.wait_for(1)) == 1

    # The same addresses again: the records are not live, so this is a write.
    r = update(d, fqdn, myip="192.0.2.45", myip6="2001:db8::45")
    assert r.text == "good 192.0.2.45,2001:db8::45\n"
    assert bind.query(fqdn, "A") == ["192.0.2.45"]
    assert bind.query(fqdn, "AAAA") == ["2001:db8::45"]
    row = d.hosts()[fqdn]
    assert row["ipv4_expired"] is False and row["ipv6_expired"] is False, row
    assert row["ipv4"] == "192.0.2.45" and row["ipv6"] == "2001:db8::45"
    # The clock restarted: passes leave the restored records alone ...
    wait_passes(d, 2)
    assert bind.query(fqdn, "A") == ["192.0.2.45"]
    assert len(sink.messages()) == 1
    # ... and a nochg now keeps them alive.
    assert update(d, fqdn, myip="192.0.2.45").text == "nochg 192.0.2.45\n"


# --- the CLI's pass --------------------------------------------------------------------
def test_cleanup_command(make_daemon, sink, bind):
    h, fqdn = new_host()
    h2, fresh = new_host()
    d = make(make_daemon, sink, [h, h2])
    assert update(d, fqdn, myip="192.0.2.46", myip6="2001:db8::46").text.startswith("good")
    assert update(d, fresh, myip="192.0.2.47").text.startswith("good")
    assert d.stop() == 0            # the command runs with no daemon
    backdate(d, fqdn, EXPIRY_TTL + 5)

    r = d.cli("cleanup", check=False)
    assert (r.returncode, r.stdout) == (0, f"expired {fqdn} A+AAAA\n"), r.stderr
    assert "Sanitizer" not in r.stderr and "runtime error:" not in r.stderr, r.stderr
    assert bind.query(fqdn, "A") == [] and bind.query(fqdn, "AAAA") == []
    assert bind.query(fresh, "A") == ["192.0.2.47"]
    row = d.hosts()[fqdn]
    assert row["ipv4_expired"] is True and row["ipv6_expired"] is True
    # The command waited for the queue: the mail is there when it has exited.
    msgs = sink.messages()
    assert len(msgs) == 1
    check_headers(msgs[0])
    assert str(msgs[0]["Subject"]) == f"[DDNS] {fqdn} expired: A and AAAA records removed"

    r = d.cli("cleanup", check=False)
    assert (r.returncode, r.stdout) == (0, ""), r.stderr
    time.sleep(0.5)
    assert len(sink.messages()) == 1


# --- DNS down during a pass ------------------------------------------------------------
def test_dns_down_leaves_host_for_a_later_pass(make_daemon, sink, tmp_path):
    own = start_bind(tmp_path / "named", {Z: "hmac-sha256"})
    try:
        h, fqdn = new_host()
        d = make(make_daemon, sink, [h], dns_server=own, dns={"dns_timeout": 1})
        assert update(d, fqdn, myip="192.0.2.48", myip6="2001:db8::48").text.startswith("good")
        assert own.query(fqdn, "A") == ["192.0.2.48"]
        own.stop()
        backdate(d, fqdn, EXPIRY_TTL + 5)
        wait_until(lambda: "DNS delete failed" in d.log(), what="a pass against the dead named")
        wait_passes(d, 2)
        row = d.hosts()[fqdn]
        assert row["ipv4_expired"] is False and row["ipv6_expired"] is False, row
        assert sink.messages() == []

        own.start()
        # Whatever named served before is what a later pass must remove.
        wait_until(lambda: not own.query(fqdn, "A") and not own.query(fqdn, "AAAA"),
                   what="the later pass to delete the records")
        row = d.hosts()[fqdn]
        assert row["ipv4_expired"] is True and row["ipv6_expired"] is True, row
        msgs = sink.wait_for(1)
        assert len(msgs) == 1 and fqdn in str(msgs[0]["Subject"])
    finally:
        own.stop()


# --- several daemons, one database -----------------------------------------------------
def test_two_daemons_sharing_a_database_mail_once(make_daemon, sink, bind):
    """SPEC §7: the claim in the database is conditional, so whichever daemon's pass
    comes second finds nothing to announce. (Both passes run every second; whether they
    overlap is up to timing, so this can only catch a double expiry, not prove none.)"""
    hosts = [new_host() for _ in range(5)]
    d1 = make(make_daemon, sink, [h for h, _ in hosts])
    d2 = make_daemon(config={"dns_service": {"cleanup_interval": 1},
                             "database": dict(d1.sections["database"]),
                             "email": email_config(sink.port)})
    for i, (_, fqdn) in enumerate(hosts):
        r = update(d2 if i % 2 else d1, fqdn, myip=f"192.0.2.{50 + i}")
        assert r.text == f"good 192.0.2.{50 + i}\n"
    for _, fqdn in hosts:
        backdate(d1, fqdn, EXPIRY_TTL + 5, ("ipv4",))
    wait_until(lambda: all(not bind.query(f, "A") for _, f in hosts), what="expiry")
    assert len(sink.wait_for(len(hosts))) == len(hosts)
    wait_passes(d1, 2)
    subjects = sorted(str(m["Subject"]) for m in sink.messages())
    assert subjects == sorted(f"[DDNS] {f} expired: A record removed" for _, f in hosts)
    assert all(r["ipv4_expired"] for r in d2.hosts().values())
