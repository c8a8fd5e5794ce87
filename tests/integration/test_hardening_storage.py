# SPDX-License-Identifier: MIT
"""A database the daemon's user cannot write (issue 12, item 4): refused at start with
the file and the user named, and recovered from without a restart once fixed. The
daemon runs as `nobody` here (the suite runs as root, which may write anything)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from conftest import daemon_sections  # noqa: E402
from helpers import BIN, Daemon, free_port, uid  # noqa: E402

Z = "dyn.example.com"
ALICE = ("alice", "pw-alice")
USER = "nobody"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run as nobody")


class NobodyDaemon(Daemon):
    """A Daemon whose process runs as `nobody`; the CLI still runs as root."""

    def start(self, wait: bool = True) -> None:
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen([BIN, "--daemon", "-c", str(self.config)],
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, user=USER, group="nogroup",
                                         extra_groups=[])
        finally:
            log.close()
        if wait:
            self.wait_listening()


@pytest.fixture
def nobody_daemon(bind):
    """make() → a NobodyDaemon (not started) in a directory `nobody` owns, with its own
    copies of the TSIG keys, a user alice and one host; its database made by root."""
    made = []
    pw = pwd.getpwnam(USER)

    def make() -> tuple[NobodyDaemon, str]:
        work = Path(tempfile.mkdtemp(prefix="ddns-storage-"))
        os.chmod(work, 0o755)
        keys = {}
        for z in bind.zones:
            k = work / f"{z}.key"
            shutil.copy(bind.key_file(z), k)
            os.chown(k, pw.pw_uid, pw.pw_gid)
            os.chmod(k, 0o600)
            keys[z] = str(k)
        d = NobodyDaemon(work, daemon_sections(bind, work, free_port(), zone_keys=keys))
        made.append(d)
        d.add_user(*ALICE)
        label = uid()
        d.add_host("alice", label, Z)
        for p in (work, d.config):
            os.chown(p, pw.pw_uid, pw.pw_gid)
        return d, f"{label}.{Z}"

    yield make
    for d in made:
        rc = d.stop()
        log = d.log()
        shutil.rmtree(d.workdir, ignore_errors=True)
        assert rc == 0 or rc == 1, log  # 1: a refused start
        assert "Sanitizer" not in log and "runtime error:" not in log, log


def chown_db(d, uid_: int, gid: int) -> Path:
    db = Path(d.sections["database"]["path"])
    os.chown(db, uid_, gid)
    return db


def test_unwritable_database_is_refused_at_start(nobody_daemon):
    d, _ = nobody_daemon()
    db = Path(d.sections["database"]["path"])
    os.chmod(db, 0o644)  # made by root: nobody may read it, not write it
    d.start(wait=False)
    assert d.wait_exit() == 1, d.log()
    log = d.log()
    assert str(db) in log and f"user {USER}" in log and "not writable" in log, log


def test_stale_shm_of_another_user_is_refused_at_start(nobody_daemon):
    """The database was fixed (chown) but root's -wal/-shm were left behind: the start
    names them instead of failing on every write."""
    d, _ = nobody_daemon()
    db = Path(d.sections["database"]["path"])
    # A root process that dies with the database open in WAL mode leaves both files.
    subprocess.run([sys.executable, "-c",
                    "import os, sqlite3, sys\n"
                    "c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA journal_mode=WAL')\n"
                    "c.execute('UPDATE users SET email = email'); c.commit(); os._exit(0)\n",
                    str(db)], check=True)
    shm = Path(str(db) + "-shm")
    assert shm.exists() and shm.stat().st_uid == 0
    pw = pwd.getpwnam(USER)
    chown_db(d, pw.pw_uid, pw.pw_gid)
    d.start(wait=False)
    assert d.wait_exit() == 1, d.log()
    log = d.log()
    assert f"{shm} is not writable by user {USER}" in log, log


def test_write_failure_for_permissions_recovers_without_restart(nobody_daemon, bind):
    d, fqdn = nobody_daemon()
    pw = pwd.getpwnam(USER)
    db = chown_db(d, pw.pw_uid, pw.pw_gid)
    d.start()
    # From now on a connection opened to the database is read-only...
    os.chmod(db, 0o444)
    texts = []
    for i in range(8):
        r = d.get(f"/update?hostname={fqdn}&myip=192.0.2.{100 + i}", auth=ALICE)
        texts.append(r.text)
    assert "911\n" in texts, texts
    assert f"{db} is not writable by user {USER}" in d.log(), d.log()
    # ... until the mode is fixed: every request succeeds again, no restart needed
    # (a worker whose open failed tries again a second later).
    os.chmod(db, 0o640)
    time.sleep(1.1)
    for i in range(8):
        r = d.get(f"/update?hostname={fqdn}&myip=192.0.2.{120 + i}", auth=ALICE)
        assert r.text == f"good 192.0.2.{120 + i}\n", (i, r.text, d.log()[-3000:])
    assert bind.query(fqdn, "A") == ["192.0.2.127"]
