# SPDX-License-Identifier: MIT
"""Checks the SMTP sink the mail tests rely on: storage, envelope, STARTTLS, script mode."""

import json
import os
import signal
import smtplib
import ssl
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from smtpsink import SmtpSink  # noqa: E402

HOST = "127.0.0.1"
# Ports 12550-12559 of the mail task's range belong to these tests.
PORT_PLAIN, PORT_TLS, PORT_REQ, PORT_SCRIPT, PORT_ORPHAN, PORT_AUTH = range(12550, 12556)

MESSAGE = (
    "From: a@example.org\r\n"
    "To: b@example.net\r\n"
    "Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "first line\r\n"
    ".leading dot\r\n"
    "caf=C3=A9\r\n"
)


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("cert")
    crt, key = str(d / "cert.pem"), str(d / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", key, "-out", crt], check=True, capture_output=True)
    return crt, key


def send(port, starttls_ca=None, rcpts=("b@example.net",), login=None):
    with smtplib.SMTP(HOST, port, timeout=10) as s:
        if starttls_ca:
            s.starttls(context=ssl.create_default_context(cafile=starttls_ca))
        if login:
            s.login(*login)
        s.sendmail("a@example.org", list(rcpts), MESSAGE.encode())


def test_stores_message_and_envelope(tmp_path):
    with SmtpSink(HOST, PORT_PLAIN, str(tmp_path)) as sink:
        send(PORT_PLAIN, rcpts=("b@example.net", "c@example.net"))
        send(PORT_PLAIN)
        msgs = sink.wait_for(2, timeout=10)
        envs = sink.envelopes()
    assert len(msgs) == 2
    assert sorted(os.listdir(tmp_path)) == ["0001.eml", "0001.json", "0002.eml", "0002.json"]
    m = msgs[0]
    assert str(m["Subject"]) == "Grüße"
    assert m.get_content() == "first line\r\n.leading dot\r\ncafé\r\n"  # dot-unstuffed
    assert envs[0]["mail_from"] == "a@example.org"
    assert envs[0]["rcpt_tos"] == ["b@example.net", "c@example.net"]
    assert envs[0]["tls"] is False
    assert envs[0]["subject"] == "Grüße"
    assert envs[0]["body"] == "first line\n.leading dot\ncafé\n"
    assert envs[1]["rcpt_tos"] == ["b@example.net"]
    # The raw bytes are kept as received (CRLF, still quoted-printable).
    raw = open(tmp_path / "0001.eml", "rb").read()
    assert b"caf=C3=A9\r\n" in raw


def test_numbering_continues_in_existing_maildir(tmp_path):
    (tmp_path / "0001.eml").write_bytes(b"Subject: old\r\n\r\nx\r\n")
    (tmp_path / "0001.json").write_text("{}")
    with SmtpSink(HOST, PORT_PLAIN, str(tmp_path)) as sink:
        send(PORT_PLAIN)
        assert len(sink.wait_for(2)) == 2
    assert (tmp_path / "0002.eml").exists()


def test_wait_for_times_out(tmp_path):
    with SmtpSink(HOST, PORT_PLAIN, str(tmp_path)) as sink:
        t = time.monotonic()
        assert sink.wait_for(1, timeout=0.3) == []
        assert time.monotonic() - t >= 0.3


def test_starttls_recorded(tmp_path, cert):
    crt, key = cert
    with SmtpSink(HOST, PORT_TLS, str(tmp_path), tls_cert=crt, tls_key=key) as sink:
        send(PORT_TLS, starttls_ca=crt)
        send(PORT_TLS)  # STARTTLS offered, not required
        sink.wait_for(2)
        envs = sink.envelopes()
    assert [e["tls"] for e in envs] == [True, False]


def test_require_starttls_refuses_plain(tmp_path, cert):
    crt, key = cert
    with SmtpSink(HOST, PORT_REQ, str(tmp_path), tls_cert=crt, tls_key=key,
                  require_starttls=True) as sink:
        with pytest.raises(smtplib.SMTPException):
            send(PORT_REQ)
        send(PORT_REQ, starttls_ca=crt)
        assert len(sink.wait_for(1)) == 1
        assert sink.envelopes()[0]["tls"] is True


def test_auth(tmp_path, cert):
    crt, key = cert
    with SmtpSink(HOST, PORT_AUTH, str(tmp_path), tls_cert=crt, tls_key=key,
                  auth=("mailer", "s3cret"), require_auth=True) as sink:
        with pytest.raises(smtplib.SMTPException):
            send(PORT_AUTH, starttls_ca=crt)  # no AUTH: refused
        with pytest.raises(smtplib.SMTPAuthenticationError):
            send(PORT_AUTH, starttls_ca=crt, login=("mailer", "wrong"))
        with pytest.raises(smtplib.SMTPException):
            send(PORT_AUTH, login=("mailer", "s3cret"))  # AUTH only under TLS
        send(PORT_AUTH, starttls_ca=crt, login=("mailer", "s3cret"))
        assert len(sink.wait_for(1)) == 1
        env = sink.envelopes()[0]
    assert env["auth_user"] == "mailer" and env["tls"] is True


def start_script(port, maildir, *extra):
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "smtpsink.py"), "--host", HOST,
                          "--port", str(port), "--maildir", maildir, *extra],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


def test_script_mode_and_sigterm(tmp_path, cert):
    crt, key = cert
    p = start_script(PORT_SCRIPT, str(tmp_path), "--tls-cert", crt, "--tls-key", key,
                     "--require-starttls")
    try:
        send(PORT_SCRIPT, starttls_ca=crt)
        env = json.load(open(tmp_path / "0001.json"))
        assert env["tls"] is True and env["auth_user"] is None
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=10) == 0
    with pytest.raises(OSError):
        send(PORT_SCRIPT)


def test_script_exits_when_parent_dies(tmp_path):
    # A shell starts the sink in the background and exits at once: the sink must notice.
    script = os.path.join(HERE, "smtpsink.py")
    # stderr too goes to /dev/null, or run() would wait for the sink to close the pipe.
    out = subprocess.run(["/bin/sh", "-c", '"$0" "$1" --host 127.0.0.1 --port "$2" '
                          '--maildir "$3" --watch-pid $$ >/dev/null 2>&1 & echo $!',
                          sys.executable, script, str(PORT_ORPHAN), str(tmp_path)],
                         check=True, capture_output=True, text=True)
    pid = int(out.stdout.strip())
    end = time.monotonic() + 10
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
        pytest.fail("orphaned sink kept running")
