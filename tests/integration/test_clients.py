# SPDX-License-Identifier: MIT
"""Real DynDNS clients against the real daemon (RECIPES.md §7): ddclient 3.10 and
inadyn 2.10 update hosts and exit 0, and report failure on a wrong password."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from helpers import uid  # noqa: E402

Z = "dyn.example.com"
PASSWORD = "pa:ss w0rd"
CLIENT_TIMEOUT = 90  # seconds; a client waiting for a reply is a failure anyway


@pytest.fixture(scope="module")
def d(module_daemons):
    return module_daemons(users={"testuser": PASSWORD})


def write_private(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def new_hosts(d, n: int) -> list[str]:
    out = []
    for _ in range(n):
        label = uid()
        d.add_host("testuser", label, Z)
        out.append(f"{label}.{Z}")
    return out


# --- ddclient -----------------------------------------------------------------------------
def run_ddclient(d, tmp_path: Path, hosts: list[str], ip: str, password: str = PASSWORD,
                 script: str = "/nic/update"):
    conf = write_private(tmp_path / "ddclient.conf", f"""daemon=0
syslog=no
ssl=no
pid={tmp_path}/ddclient.pid
use=ip, ip={ip}
protocol=dyndns2
server=127.0.0.1:{d.port}
script={script}
login=testuser
password='{password}'
""" + "\n".join(hosts) + "\n")
    cache = tmp_path / "ddclient.cache"  # fresh: a new tmp_path per test
    return subprocess.run(["ddclient", "-daemon=0", "-foreground", "-verbose", "-noquiet",
                           "-file", str(conf), "-cache", str(cache)],
                          capture_output=True, text=True, timeout=CLIENT_TIMEOUT)


@pytest.mark.skipif(not shutil.which("ddclient"), reason="ddclient not installed")
def test_ddclient_one_host(d, bind, tmp_path):
    (fqdn,) = new_hosts(d, 1)
    r = run_ddclient(d, tmp_path, [fqdn], "192.0.2.101")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "SUCCESS" in out and "FAILED" not in out, out
    assert bind.query(fqdn, "A") == ["192.0.2.101"]


@pytest.mark.skipif(not shutil.which("ddclient"), reason="ddclient not installed")
def test_ddclient_two_hosts_in_one_request(d, bind, tmp_path):
    a, b = new_hosts(d, 2)
    r = run_ddclient(d, tmp_path, [a, b], "192.0.2.102")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert out.count("SUCCESS") >= 2 and "FAILED" not in out, out
    assert bind.query(a, "A") == ["192.0.2.102"]
    assert bind.query(b, "A") == ["192.0.2.102"]
    # ddclient grouped them: one request naming both hosts.
    assert f"hostname={a},{b}" in d.log() or f"hostname={b},{a}" in d.log()


@pytest.mark.skipif(not shutil.which("ddclient"), reason="ddclient not installed")
def test_ddclient_wrong_password_fails(d, bind, tmp_path):
    (fqdn,) = new_hosts(d, 1)
    r = run_ddclient(d, tmp_path, [fqdn], "192.0.2.103", password="wrong")
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "badauth" in out, out
    assert bind.query(fqdn, "A") == []


@pytest.mark.skipif(not shutil.which("ddclient"), reason="ddclient not installed")
def test_ddclient_takes_the_offline_reply_as_success(d, bind, tmp_path):
    """ddclient has no offline option; the parameter rides in its script path (its
    own query string follows as `x`). The bare `good` of offline=YES, and the bare
    `nochg` of a second one, must be success to its dyndns2 parser."""
    (fqdn,) = new_hosts(d, 1)
    assert run_ddclient(d, tmp_path, [fqdn], "192.0.2.106").returncode == 0
    assert bind.query(fqdn, "A") == ["192.0.2.106"]
    for reply in ("good", "nochg"):
        (tmp_path / reply).mkdir()  # a fresh cache: ddclient skips what it set before
        r = run_ddclient(d, tmp_path / reply, [fqdn], "192.0.2.106",
                         script="/update?offline=YES&x=")
        out = r.stdout + r.stderr
        assert r.returncode == 0, out
        assert "FAILED" not in out and f"{fqdn}: {reply}" in out, out
        assert bind.query(fqdn, "A") == []


# --- inadyn -------------------------------------------------------------------------------
def run_inadyn(d, tmp_path: Path, hosts: list[str], ip: str, password: str = PASSWORD,
               path: str = "/nic/update?hostname=%h&myip=%i"):
    hostline = hosts[0] if len(hosts) == 1 else "{ " + ", ".join(hosts) + " }"
    conf = write_private(tmp_path / "inadyn.conf", f"""period          = 300
verify-address  = false
allow-ipv6      = true
custom testdyn {{
    ssl             = false
    username        = testuser
    password        = "{password}"
    checkip-command = "echo {ip}"
    ddns-server     = 127.0.0.1:{d.port}
    ddns-path       = "{path}"
    hostname        = {hostline}
}}
""")
    cache = tmp_path / "icache"  # fresh per test
    return subprocess.run(["inadyn", "-1", "-n", "--no-pidfile", "-l", "debug",
                           f"--cache-dir={cache}", "-f", str(conf)],
                          capture_output=True, text=True, timeout=CLIENT_TIMEOUT)


@pytest.mark.skipif(not shutil.which("inadyn"), reason="inadyn not installed")
def test_inadyn_updates_hosts(d, bind, tmp_path):
    a, b = new_hosts(d, 2)
    r = run_inadyn(d, tmp_path, [a, b], "192.0.2.104")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert bind.query(a, "A") == ["192.0.2.104"]
    assert bind.query(b, "A") == ["192.0.2.104"]


@pytest.mark.skipif(not shutil.which("inadyn"), reason="inadyn not installed")
def test_inadyn_wrong_password_fails(d, bind, tmp_path):
    (fqdn,) = new_hosts(d, 1)
    r = run_inadyn(d, tmp_path, [fqdn], "192.0.2.105", password="wrong")
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "badauth" in out, out
    assert bind.query(fqdn, "A") == []


@pytest.mark.skipif(not shutil.which("inadyn"), reason="inadyn not installed")
def test_inadyn_offline(d, bind, tmp_path):
    """inadyn with offline=YES in its update path: our bare `good` is success to its
    parser (it looks for good, nochg or OK in the body)."""
    (fqdn,) = new_hosts(d, 1)
    assert run_inadyn(d, tmp_path, [fqdn], "192.0.2.107").returncode == 0
    assert bind.query(fqdn, "A") == ["192.0.2.107"]
    (tmp_path / "off").mkdir()
    r = run_inadyn(d, tmp_path / "off", [fqdn], "192.0.2.107",
                   path="/nic/update?hostname=%h&offline=YES")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert bind.query(fqdn, "A") == []
    assert d.hosts()[fqdn]["ipv4_offline"] is True
