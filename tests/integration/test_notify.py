# SPDX-License-Identifier: MIT
"""Change mails end to end (SPEC §5 notify_change, §8): real daemon, real BIND, real
SMTP sink (plain, down, STARTTLS), and the start-up check of the templates."""

from __future__ import annotations

import email.utils
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from dnsserver import BindServer  # noqa: E402
from helpers import NAMED_PORTS, SMTP_PORTS, free_port, uid  # noqa: E402
from smtpsink import SmtpSink  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CHANGE_TEMPLATE = ROOT / "files" / "change_notification.j2"
EXPIRY_TEMPLATE = ROOT / "files" / "expiry_notification.j2"
Z = "dyn.example.com"
ZONES = {"dyn.example.com": "hmac-sha256", "dyn2.example.net": "hmac-sha512"}
ALICE = ("alice", "pw-alice")
OWNER = "alice@example.com"          # helpers.Daemon.add_user gives NAME@example.com
FROM = "ddns-notify@example.org"
FAST = 2.0                           # seconds an update may take while SMTP is down


@pytest.fixture(scope="module")
def bind(tmp_path_factory):
    """Overrides the session's named (port 25300) with one on this task's ports."""
    srv = BindServer(tmp_path_factory.mktemp("bind-notify"),
                     free_port(NAMED_PORTS, (socket.SOCK_STREAM, socket.SOCK_DGRAM)), ZONES)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def sink(tmp_path):
    s = SmtpSink("127.0.0.1", free_port(SMTP_PORTS), str(tmp_path / "mail")).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (the SMTP host the daemon dials)."""
    d = tmp_path_factory.mktemp("smtp-cert")
    crt, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", str(key), "-out", str(crt)], check=True, capture_output=True)
    return str(crt), str(key)


def email_config(port: int, **extra) -> dict:
    cfg = {"enabled": True, "smtp_host": "127.0.0.1", "smtp_port": port,
           "from_address": FROM,
           "change_notification_template": str(CHANGE_TEMPLATE),
           "expiry_notification_template": str(EXPIRY_TEMPLATE)}
    cfg.update(extra)
    return cfg


def make(make_daemon, smtp_port: int, hosts=(), start=True, **email_extra):
    return make_daemon(users={"alice": ALICE[1]}, hosts=hosts, start=start,
                       config={"dns_service": {"cleanup_interval": 1},
                               "email": email_config(smtp_port, **email_extra)})


def new_host(zone: str = Z) -> tuple[tuple, str]:
    label = uid()
    return ("alice", label, zone), f"{label}.{zone}"


def update(d, fqdn, **params):
    qs = "&".join(f"{k}={v}" for k, v in dict(hostname=fqdn, **params).items())
    return d.get(f"/update?{qs}", auth=ALICE)


def body_of(msg) -> str:
    return msg.get_content().replace("\r\n", "\n")


def check_headers(msg) -> None:
    assert [a.addr_spec for a in msg["From"].addresses] == [FROM]
    assert [a.addr_spec for a in msg["To"].addresses] == [OWNER]
    date = email.utils.parsedate_to_datetime(str(msg["Date"]))
    assert abs(date.timestamp() - time.time()) < 120, msg["Date"]
    assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", str(msg["Message-ID"]).strip())
    assert str(msg["MIME-Version"]).strip() == "1.0"
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"


# --- which updates send a mail ---------------------------------------------------------
def test_change_mail_only_when_asked_and_changed(make_daemon, sink, bind):
    h, fqdn = new_host()
    d = make(make_daemon, sink.port, [h])
    assert update(d, fqdn, myip="192.0.2.61", myip6="2001:db8::61").text.startswith("good")
    assert sink.wait_for(1, timeout=1.5) == []          # no notify_change: no mail

    r = update(d, fqdn, myip="192.0.2.62", notify_change=1)
    assert r.text == "good 192.0.2.62\n"
    assert bind.query(fqdn, "A") == ["192.0.2.62"]
    msgs = sink.wait_for(1)
    assert len(msgs) == 1, d.log()[-3000:]
    env = sink.envelopes()[0]
    assert env["mail_from"] == FROM and env["rcpt_tos"] == [OWNER]
    msg = msgs[0]
    check_headers(msg)
    assert str(msg["Subject"]) == f"[DDNS] {fqdn}: new IPv4 address"
    text = body_of(msg)
    assert f"the IPv4 address of {fqdn} changed" in text
    assert "IPv4 (A):      192.0.2.62   (new)" in text     # ipv4_changed true
    assert "IPv6 (AAAA):   2001:db8::61\n" in text          # unchanged: no "(new)"
    assert "If no update arrives for 1 hour (3600 seconds)" in text

    # The same address again with notify_change=1 is a nochg: no mail.
    assert update(d, fqdn, myip="192.0.2.62", notify_change=1).text == "nochg 192.0.2.62\n"
    # A change without notify_change: no mail.
    assert update(d, fqdn, myip6="2001:db8::63").text == "good 2001:db8::63\n"
    # A marker mail: the queue is FIFO, so a mail from the two updates above would
    # arrive before it.
    assert update(d, fqdn, myip6="2001:db8::64", notify_change=1).text.startswith("good")
    msgs = sink.wait_for(2)
    time.sleep(0.5)
    msgs = sink.messages()
    assert len(msgs) == 2, [str(m["Subject"]) for m in msgs]
    assert str(msgs[1]["Subject"]) == f"[DDNS] {fqdn}: new IPv6 address"
    text = body_of(msgs[1])
    assert "IPv6 (AAAA):   2001:db8::64   (new)" in text
    assert "IPv4 (A):      192.0.2.62\n" in text


def test_no_change_mail_when_template_unset(make_daemon, sink, bind):
    h, fqdn = new_host()
    d = make(make_daemon, sink.port, [h], change_notification_template="")
    r = update(d, fqdn, myip="192.0.2.65", notify_change=1)
    assert r.text == "good 192.0.2.65\n"
    time.sleep(1.5)
    assert sink.messages() == []


# --- delivery --------------------------------------------------------------------------
def test_smtp_down_does_not_delay_updates_and_mail_follows(make_daemon, bind, tmp_path):
    port = free_port(SMTP_PORTS)                         # nobody listens yet
    h, fqdn = new_host()
    d = make(make_daemon, port, [h])
    t0 = time.monotonic()
    r = update(d, fqdn, myip="192.0.2.66", notify_change=1)
    took = time.monotonic() - t0
    assert r.text == "good 192.0.2.66\n" and took < FAST, took
    assert bind.query(fqdn, "A") == ["192.0.2.66"]
    t1 = time.monotonic()
    r = update(d, fqdn, myip="192.0.2.67")               # the queue is busy retrying
    assert r.text == "good 192.0.2.67\n" and time.monotonic() - t1 < FAST

    time.sleep(max(0.0, 2.0 - (time.monotonic() - t0)))
    with SmtpSink("127.0.0.1", port, str(tmp_path / "late-mail")) as late:
        # Default back-off 1, 2, 4, 8, 16 s: the attempt at ~3 s reaches the sink.
        msgs = late.wait_for(1, timeout=20)
        assert len(msgs) == 1, d.log()[-3000:]
        assert str(msgs[0]["Subject"]) == f"[DDNS] {fqdn}: new IPv4 address"
        assert "192.0.2.66   (new)" in body_of(msgs[0])
        time.sleep(0.5)
        assert len(late.messages()) == 1


def test_starttls_with_own_ca(make_daemon, bind, cert, tmp_path):
    crt, key = cert
    port = free_port(SMTP_PORTS)
    with SmtpSink("127.0.0.1", port, str(tmp_path / "tls-mail"), tls_cert=crt, tls_key=key,
                  require_starttls=True) as tls_sink:
        h, fqdn = new_host()
        d = make(make_daemon, port, [h], smtp_starttls=True, smtp_ca_file=crt)
        assert update(d, fqdn, myip="192.0.2.68", notify_change=1).text.startswith("good")
        msgs = tls_sink.wait_for(1)
        assert len(msgs) == 1, d.log()[-3000:]
        env = tls_sink.envelopes()[0]
        assert env["tls"] is True
        assert env["rcpt_tos"] == [OWNER]
        assert str(msgs[0]["Subject"]) == f"[DDNS] {fqdn}: new IPv4 address"


# --- templates are checked at start-up -------------------------------------------------
@pytest.mark.parametrize("key", ["change_notification_template",
                                 "expiry_notification_template"])
def test_broken_template_refuses_start(make_daemon, sink, tmp_path, key):
    bad = tmp_path / "broken.j2"
    bad.write_text("Subject: {{ fqdn }}\n\nline three\n{% endif %}\nline five\n")
    d = make(make_daemon, sink.port, start=False, **{key: str(bad)})
    d.start(wait=False)
    assert d.wait_exit() == 1
    assert f"{bad}:4" in d.log(), d.log()


def test_mail_waiting_for_a_retry_survives_sighup(make_daemon, bind, tmp_path):
    """A reload with unchanged [email] hands the mail queue to the new configuration:
    a mail waiting for its next attempt is neither dropped nor delayed by the reload
    (logrotate sends SIGHUP every day)."""
    port = free_port(SMTP_PORTS)                         # nobody listens yet
    h, fqdn = new_host()
    d = make(make_daemon, port, [h])
    assert update(d, fqdn, myip="192.0.2.68", notify_change=1).text == "good 192.0.2.68\n"
    time.sleep(0.5)
    d.proc.send_signal(signal.SIGHUP)
    # Attempts at ~0, 1, 3, 7 s fail; the old queue would have been given 5 s and
    # dropped the mail. The sink comes up at ~8 s, the attempt at ~15 s delivers.
    time.sleep(8.0)
    assert "SIGHUP" in d.log() and "dropped" not in d.log()
    with SmtpSink("127.0.0.1", port, str(tmp_path / "after-reload")) as late:
        msgs = late.wait_for(1, timeout=20)
        assert len(msgs) == 1, d.log()[-3000:]
        assert str(msgs[0]["Subject"]) == f"[DDNS] {fqdn}: new IPv4 address"
