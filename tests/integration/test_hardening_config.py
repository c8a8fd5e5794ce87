# SPDX-License-Identifier: MIT
"""Configuration that would be silently unsafe (issue 12, item 5): a proxy header
without trusted proxies, a config file others may write, TSIG key files others may
read, and a database file that --init-db makes readable for everybody."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from helpers import uid  # noqa: E402

Z = "dyn.example.com"


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_proxy_header_without_trusted_proxies_is_a_config_error(make_daemon):
    """Every client would share the proxy's rate-limit bucket (three bad logins of one
    attacker made another user's update answer `abuse`): refused, naming the key."""
    d = make_daemon(users={}, start=False,
                    config={"daemon": {"proxy_header": "X-Forwarded-For"}})
    d.start(wait=False)
    assert d.wait_exit() == 1
    log = d.log()
    assert "daemon.proxy_header" in log and "trusted_proxies" in log, log
    # The CLI reads the same file and refuses it the same way.
    r = d.cli("user", "list", check=False)
    assert r.returncode == 1 and "daemon.proxy_header" in r.stderr, r.stderr


@pytest.mark.parametrize("perm", [0o602, 0o622], ids=["602", "622"])
def test_world_writable_config_is_refused(make_daemon, perm):
    d = make_daemon(users={}, start=False)
    os.chmod(d.config, perm)
    d.start(wait=False)
    assert d.wait_exit() == 1
    assert "writable by other users" in d.log(), d.log()
    assert str(d.config) in d.log()
    r = d.cli("user", "list", check=False)
    assert r.returncode == 0
    assert r.stderr.startswith("warning: ") and "writable" in r.stderr, r.stderr


def test_world_writable_config_is_refused_by_a_reload(make_daemon):
    d = make_daemon(users={})
    os.chmod(d.config, 0o602)
    mark = len(d.log())
    d.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "keeping the running configuration" not in d.log()[mark:]:
        assert time.monotonic() < deadline, d.log()[mark:]
        time.sleep(0.05)
    assert "writable by other users" in d.log()[mark:]
    os.chmod(d.config, 0o600)


def test_tsig_key_file_readable_by_others_is_a_warning(make_daemon, bind, tmp_path):
    key = tmp_path / "zone.key"
    shutil.copy(bind.key_file(Z), key)
    os.chmod(key, 0o644)
    d = make_daemon(users={}, zone_keys={Z: str(key)})
    log = d.log()
    line = next((x for x in log.splitlines() if str(key) in x), "")
    assert " WARNING " in line and "readable by other users" in line, log
    assert f"chmod o-rwx {key}" in line, line
    # A key file only its owner and group read gets no such line.
    d.stop()
    os.chmod(key, 0o640)
    d2 = make_daemon(users={}, zone_keys={Z: str(key)})
    assert str(key) not in d2.log(), d2.log()


def test_init_db_creates_a_database_others_cannot_read(make_daemon):
    d = make_daemon(users={}, start=False)
    db = Path(d.sections["database"]["path"])
    assert not db.exists()
    old = os.umask(0o022)  # what a shell usually has
    try:
        d.cli("--init-db")
    finally:
        os.umask(old)
    assert mode(db) == 0o640, oct(mode(db))
    # The daemon opens it in WAL mode: SQLite makes -wal and -shm with the same mode.
    d.add_user("alice", "pw-alice")
    label = uid()
    d.add_host("alice", label, Z)
    d.start()
    r = d.get(f"/update?hostname={label}.{Z}&myip=192.0.2.77", auth=("alice", "pw-alice"))
    assert r.text == "good 192.0.2.77\n"
    for suffix in ("-wal", "-shm"):
        side = Path(str(db) + suffix)
        assert side.exists() and mode(side) == 0o640, (suffix, oct(mode(side)))
