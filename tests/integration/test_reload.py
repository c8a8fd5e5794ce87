# SPDX-License-Identifier: MIT
"""SIGHUP reloads the configuration (SPEC §9-10): rate limits, endpoints and templates
change without a restart; a broken file (syntax, template, permissions) is refused and
the daemon keeps answering with the running configuration; a changed listen port is a
warning and the old port stays; a request in progress finishes with the configuration
it started with. Real daemon, real named, real SMTP sink."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import helpers  # noqa: E402
from dnsserver import BindServer  # noqa: E402
from helpers import NAMED_PORTS, SMTP_PORTS, free_port, uid  # noqa: E402
from smtpsink import SmtpSink  # noqa: E402

Z = "dyn.example.com"
ZONES = {"dyn.example.com": "hmac-sha256", "dyn2.example.net": "hmac-sha512"}
ALICE = ("alice", "pw-alice")
# This module's ports (the ops task's ranges): daemons and the SMTP sink share the
# 20000-20499 range, named has 25600-25699.
RELOAD_TIMEOUT = 15.0
# The log lines that end a SIGHUP, one of them per signal.
RELOADED = "SIGHUP: configuration reloaded"
KEPT = "SIGHUP: keeping the running configuration"


@pytest.fixture(scope="module")
def bind(tmp_path_factory):
    """Overrides the session's named with one on this module's ports."""
    srv = BindServer(tmp_path_factory.mktemp("bind-reload"),
                     free_port(NAMED_PORTS, (socket.SOCK_STREAM, socket.SOCK_DGRAM)), ZONES)
    srv.start()
    yield srv
    srv.stop()


# --- local helpers (Daemon lives in helpers.py, which this task does not own) -----------
def write_config(d, sections: dict | None = None, endpoints: str = helpers.SEED_ENDPOINTS,
                 text: str | None = None) -> None:
    """Rewrites d's config.toml (mode 600) from sections, or with `text` as is."""
    if text is None:
        text = helpers.to_toml(sections if sections is not None else d.sections, endpoints)
    tmp = d.config.with_name("config.toml.new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, d.config)   # the daemon never reads half a file


def sighup(d) -> str:
    """Sends SIGHUP and waits for its outcome; returns the log written since."""
    before = d.log()
    done = before.count(RELOADED) + before.count(KEPT)
    d.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + RELOAD_TIMEOUT
    while time.monotonic() < deadline:
        log = d.log()
        if log.count(RELOADED) + log.count(KEPT) > done:
            return log[len(before):]
        assert d.proc.poll() is None, f"daemon died on SIGHUP:\n{log[-3000:]}"
        time.sleep(0.05)
    raise AssertionError(f"no outcome of SIGHUP within {RELOAD_TIMEOUT} s:\n{d.log()[-3000:]}")


def new_host() -> tuple[tuple, str]:
    label = uid()
    return ("alice", label, Z), f"{label}.{Z}"


def update(d, fqdn: str, path: str = "/update", port: int | None = None, **params):
    qs = urllib.parse.urlencode(dict(hostname=fqdn, **params))
    if port is None:
        return d.get(f"{path}?{qs}", auth=ALICE)
    return helpers.http_get(d.host, port, f"{path}?{qs}", auth=ALICE)


def sections_with(d, **changes) -> dict:
    """A copy of d.sections with whole keys of some sections replaced."""
    out = {name: dict(keys) for name, keys in d.sections.items()}
    for name, keys in changes.items():
        out.setdefault(name, {}).update(keys)
    return out


# --- what a reload changes --------------------------------------------------------------
def test_rate_limit_changes_on_sighup(make_daemon, bind):
    h, fqdn = new_host()
    d = make_daemon(users={"alice": ALICE[1]}, hosts=[h])
    for i in range(4):      # the factory's limits are far above this
        assert update(d, fqdn, myip=f"192.0.2.{10 + i}").text == f"good 192.0.2.{10 + i}\n"

    new = sections_with(d, rate_limit={"good_window_seconds": 60, "good_max_requests": 2})
    write_config(d, new)
    out = sighup(d)
    assert RELOADED in out, out
    # New limits, new counts: two good requests pass, the third is abuse.
    assert update(d, fqdn, myip="192.0.2.20").text == "good 192.0.2.20\n"
    assert update(d, fqdn, myip="192.0.2.21").text == "good 192.0.2.21\n"
    assert update(d, fqdn, myip="192.0.2.22").text == "abuse\n"
    assert bind.query(fqdn, "A") == ["192.0.2.21"]

    # A reload that leaves the limits alone keeps the counts (logrotate's daily SIGHUP
    # must not forgive an abusive client).
    out = sighup(d)
    assert RELOADED in out, out
    assert update(d, fqdn, myip="192.0.2.23").text == "abuse\n"


def test_endpoints_change_on_sighup(make_daemon, bind):
    h, fqdn = new_host()
    d = make_daemon(users={"alice": ALICE[1]}, hosts=[h])
    assert update(d, fqdn, path="/dyn", myip="192.0.2.30").status == 404
    assert update(d, fqdn, path="/nic/update", myip="192.0.2.31").text == "good 192.0.2.31\n"

    write_config(d, endpoints="""
[[endpoints]]
path = "/dyn"
[endpoints.params]
hostname = ["h"]
ipv4 = ["addr"]
""")
    out = sighup(d)
    assert RELOADED in out, out
    r = d.get(f"/dyn?h={fqdn}&addr=192.0.2.32", auth=ALICE)
    assert r.text == "good 192.0.2.32\n"
    assert bind.query(fqdn, "A") == ["192.0.2.32"]
    assert update(d, fqdn, path="/nic/update", myip="192.0.2.33").status == 404
    assert update(d, fqdn, path="/update", myip="192.0.2.33").status == 404


def test_template_change_on_sighup(make_daemon, bind, tmp_path):
    sink = SmtpSink("127.0.0.1", free_port(SMTP_PORTS), str(tmp_path / "mail")).start()
    try:
        tpl = tmp_path / "change.j2"
        tpl.write_text("Subject: first {{ fqdn }}\n\nnow {{ ipv4 }}\n")
        h, fqdn = new_host()
        d = make_daemon(users={"alice": ALICE[1]}, hosts=[h], config={"email": {
            "enabled": True, "smtp_host": "127.0.0.1", "smtp_port": sink.port,
            "from_address": "ddns@example.org",
            "change_notification_template": str(tpl)}})
        assert update(d, fqdn, myip="192.0.2.40", notify_change=1).text.startswith("good")
        msgs = sink.wait_for(1)
        assert [str(m["Subject"]) for m in msgs] == [f"first {fqdn}"], d.log()[-2000:]

        # The compiled template is what counts: editing the file alone changes nothing.
        tpl.write_text("Subject: second {{ fqdn }}\n\nnow {{ ipv4 }}\n")
        assert update(d, fqdn, myip="192.0.2.41", notify_change=1).text.startswith("good")
        msgs = sink.wait_for(2)
        assert str(msgs[1]["Subject"]) == f"first {fqdn}"

        out = sighup(d)
        assert RELOADED in out, out
        assert update(d, fqdn, myip="192.0.2.42", notify_change=1).text.startswith("good")
        msgs = sink.wait_for(3)
        assert len(msgs) == 3, d.log()[-2000:]
        assert str(msgs[2]["Subject"]) == f"second {fqdn}"
        assert "now 192.0.2.42" in msgs[2].get_content()
    finally:
        sink.stop()


# --- what a reload refuses --------------------------------------------------------------
BROKEN = {
    "syntax": lambda d, tmp: write_config(d, text="[daemon\nport = 1\n"),
    "unknown key": lambda d, tmp: write_config(d, sections_with(d, rate_limit={"bogus": 1})),
    "out of range": lambda d, tmp: write_config(
        d, sections_with(d, rate_limit={"good_max_requests": 100000})),
    "missing TSIG key": lambda d, tmp: write_config(
        d, sections_with(d, **{"dns_service.zone_keys": {Z: str(tmp / "nokey.key")}})),
    "broken template": lambda d, tmp: (
        (tmp / "bad.j2").write_text("Subject: {% if %}\n\nx\n"),
        write_config(d, sections_with(d, email={
            "enabled": False, "smtp_host": "127.0.0.1", "from_address": "a@example.org",
            "change_notification_template": str(tmp / "bad.j2")}))),
    "world-readable": lambda d, tmp: (
        write_config(d, sections_with(d, rate_limit={"good_max_requests": 1})),
        os.chmod(d.config, 0o644)),
}


@pytest.mark.parametrize("kind", list(BROKEN))
def test_broken_config_keeps_running_one(make_daemon, bind, tmp_path, kind):
    h, fqdn = new_host()
    d = make_daemon(users={"alice": ALICE[1]}, hosts=[h])
    BROKEN[kind](d, tmp_path)
    out = sighup(d)
    assert KEPT in out and RELOADED not in out, out
    assert " ERROR " in out, out       # the reason is logged at error level
    assert "SIGHUP: log reopened" in out
    # Still serving, with the old endpoints and limits (well above 3 requests).
    for i in range(3):
        assert update(d, fqdn, myip=f"192.0.2.{50 + i}").text == f"good 192.0.2.{50 + i}\n"
    assert update(d, fqdn, path="/nic/update", myip="192.0.2.60").text == "good 192.0.2.60\n"
    assert bind.query(fqdn, "A") == ["192.0.2.60"]
    # A fixed file is taken on the next SIGHUP.
    write_config(d, sections_with(d, rate_limit={"good_max_requests": 1}))
    os.chmod(d.config, 0o600)
    out = sighup(d)
    assert RELOADED in out, out
    assert update(d, fqdn, myip="192.0.2.61").text == "good 192.0.2.61\n"
    assert update(d, fqdn, myip="192.0.2.62").text == "abuse\n"


def test_listen_change_needs_restart(make_daemon, bind):
    h, fqdn = new_host()
    d = make_daemon(users={"alice": ALICE[1]}, hosts=[h])
    other = helpers.free_port()
    write_config(d, sections_with(d, daemon={"port": other},
                                  rate_limit={"good_max_requests": 2}))
    out = sighup(d)
    assert RELOADED in out, out
    assert " WARNING " in out and "needs a restart" in out, out
    assert f"still listening on 127.0.0.1 port {d.port}" in out
    # The old port serves, with the rest of the new configuration; the new one is closed.
    assert update(d, fqdn, myip="192.0.2.70").text == "good 192.0.2.70\n"
    assert update(d, fqdn, myip="192.0.2.71").text == "good 192.0.2.71\n"
    assert update(d, fqdn, myip="192.0.2.72").text == "abuse\n"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", other), timeout=1).close()


def test_database_change_needs_restart(make_daemon, bind, tmp_path):
    h, fqdn = new_host()
    d = make_daemon(users={"alice": ALICE[1]}, hosts=[h])
    write_config(d, sections_with(d, database={"path": str(tmp_path / "other.db")}))
    out = sighup(d)
    assert RELOADED in out and "[database] changed: this needs a restart" in out, out
    assert update(d, fqdn, myip="192.0.2.75").text == "good 192.0.2.75\n"
    assert not (tmp_path / "other.db").exists()


# --- a request in progress keeps its configuration ---------------------------------------
def test_request_in_flight_keeps_its_config(make_daemon, bind):
    """A DNS server that never answers holds a request for dns_timeout seconds; a
    reload that removes its endpoint meanwhile must not disturb it (under ASan a
    configuration freed too early would be a use after free)."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        h, fqdn = new_host()
        d = make_daemon(users={"alice": ALICE[1]}, hosts=[h], config={
            "dns_service": {"dns_port": silent.getsockname()[1], "dns_timeout": 3}})
        result = {}

        def slow():
            t0 = time.monotonic()
            result["r"] = update(d, fqdn, path="/nic/update", myip="192.0.2.80")
            result["t"] = time.monotonic() - t0

        t = threading.Thread(target=slow)
        t.start()
        # The request pins its configuration when its headers arrive; by now it is
        # checking the password or waiting for the DNS server.
        time.sleep(1.0)
        assert t.is_alive()
        write_config(d, endpoints="""
[[endpoints]]
path = "/other"
""")
        out = sighup(d)
        assert RELOADED in out, out
        t.join(30)
        assert not t.is_alive()
        # Answered by the old endpoint (not 404) after the DNS timeout.
        assert result["r"].status == 200 and result["r"].text == "dnserr\n", result
        assert result["t"] >= 2.5, result
        assert update(d, fqdn, path="/nic/update", myip="192.0.2.81").status == 404
        # Once the request is done, the next tick frees the old configuration; the
        # daemon goes on serving and stops cleanly (the factory checks exit 0).
        time.sleep(1.5)
        assert d.get(f"/other?hostname={fqdn}&myip=192.0.2.82", auth=ALICE).status == 200
    finally:
        silent.close()


# --- systemd notification ----------------------------------------------------------------
def _has_sd_notify() -> bool:
    import subprocess
    out = subprocess.run([helpers.BIN, "--version"], capture_output=True, text=True).stdout
    return "systemd notify: yes" in out


def test_sd_notify_ready_reload_stopping(make_daemon, bind, tmp_path):
    """Type=notify: READY=1 once listening, RELOADING=1 then READY=1 around SIGHUP,
    STOPPING=1 on SIGTERM, on a NOTIFY_SOCKET as systemd provides it."""
    if not _has_sd_notify():
        pytest.skip("built without libsystemd")
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(RELOAD_TIMEOUT)
    try:
        d = make_daemon(users={"alice": ALICE[1]}, start=False)
        os.environ["NOTIFY_SOCKET"] = path
        try:
            d.start(wait=False)
        finally:
            del os.environ["NOTIFY_SOCKET"]

        def next_message() -> str:
            return sock.recv(4096).decode()

        first = next_message()
        assert "READY=1" in first.split("\n"), first
        # READY comes after the listeners are up: the port answers at once.
        socket.create_connection((d.host, d.port), timeout=2).close()
        d.proc.send_signal(signal.SIGHUP)
        assert next_message() == "RELOADING=1"
        assert next_message() == "READY=1"
        d.proc.send_signal(signal.SIGTERM)
        assert next_message() == "STOPPING=1"
        assert d.wait_exit() == 0
    finally:
        sock.close()
