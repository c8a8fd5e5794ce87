# SPDX-License-Identifier: MIT
"""Credentials end to end on both database backends: the verified-credential cache
(a password verified once is accepted again without Argon2, but never after the stored
hash changed; parallel identical requests verify once; a reload keeps it)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import helpers  # noqa: E402
from helpers import uid  # noqa: E402

Z = "dyn.example.com"
PW = "pw-alice"
# The daemon's DEBUG lines that say how a password was checked (credentials.c).
FROM_CACHE = "user alice: credentials verified from the cache"
BY_ARGON2 = "user alice: password verified by Argon2"
REFUSED_BY_ARGON2 = "user alice: password refused by Argon2"

pytestmark = pytest.mark.backends("sqlite", "mariadb")


def update(d, fqdn: str | None, auth=("alice", PW), **params):
    if fqdn is not None:
        params = dict(hostname=fqdn, **params)
    return d.get(f"/update?{urlencode(params)}", auth=auth)


def new_daemon(make_daemon, config=None):
    label = uid()
    d = make_daemon(users={"alice": PW}, hosts=[("alice", label, Z)], config=config)
    return d, f"{label}.{Z}"


def sighup(d, timeout: float = 15.0) -> None:
    before = d.log().count("SIGHUP: configuration reloaded")
    d.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while d.log().count("SIGHUP: configuration reloaded") == before:
        assert time.monotonic() < deadline, d.log()[-3000:]
        time.sleep(0.05)


# --- the verified-credential cache ---------------------------------------------------------
def test_cache_answers_without_argon2_until_passwd(make_daemon, backend, bind):
    d, fqdn = new_daemon(make_daemon)
    assert update(d, fqdn, myip="192.0.2.1").text == "good 192.0.2.1\n"
    assert d.log().count(BY_ARGON2) == 1 and FROM_CACHE not in d.log()
    for _ in range(3):
        assert update(d, fqdn, myip="192.0.2.1").text == "nochg 192.0.2.1\n"
    assert d.log().count(FROM_CACHE) == 3, "answered from the cache"
    assert d.log().count(BY_ARGON2) == 1, "without another Argon2 run"

    # A wrong password is never a hit and never remembered: it costs Argon2 each time.
    for _ in range(2):
        assert update(d, fqdn, auth=("alice", "wrong"), myip="192.0.2.1").text == "badauth\n"
    assert d.log().count(REFUSED_BY_ARGON2) == 2

    # The CLI changes the password (another process, on SQLite as on MariaDB): the very
    # next request with the old one is refused, without waiting for the time to live.
    d.cli("user", "passwd", "alice", stdin="new-pw\n")
    assert update(d, fqdn, myip="192.0.2.2").text == "badauth\n"
    assert bind.query(fqdn, "A") == ["192.0.2.1"]
    assert update(d, fqdn, auth=("alice", "new-pw"), myip="192.0.2.2").text == \
        "good 192.0.2.2\n"
    assert update(d, fqdn, auth=("alice", "new-pw"), myip="192.0.2.2").text == \
        "nochg 192.0.2.2\n"
    assert update(d, fqdn, myip="192.0.2.3").text == "badauth\n", "the old one stays refused"
    assert bind.query(fqdn, "A") == ["192.0.2.2"]


def test_cache_forgets_a_deleted_user(make_daemon, backend, bind):
    d, fqdn = new_daemon(make_daemon)
    assert update(d, fqdn, myip="192.0.2.1").text == "good 192.0.2.1\n"
    assert update(d, fqdn, myip="192.0.2.1").text == "nochg 192.0.2.1\n"
    assert FROM_CACHE in d.log()
    d.cli("hostname", "delete", fqdn.split(".")[0], Z)
    d.cli("user", "delete", "alice")
    assert update(d, fqdn, myip="192.0.2.1").text == "badauth\n"
    # Recreated with the same password: a new stored hash, so a new verification.
    d.add_user("alice", PW)
    d.add_host("alice", fqdn.split(".")[0], Z)
    argon2_runs = d.log().count(BY_ARGON2)
    assert update(d, fqdn, myip="192.0.2.5").text == "good 192.0.2.5\n"
    assert d.log().count(BY_ARGON2) == argon2_runs + 1


def test_hash_changed_in_the_database(make_daemon, backend):
    """Another daemon on the same database (or an operator's SQL) changing the stored
    hash ends the cached entry: the decision compares with the row of every request."""
    d, fqdn = new_daemon(make_daemon)
    assert update(d, fqdn, myip="192.0.2.1").text == "good 192.0.2.1\n"
    assert update(d, fqdn, myip="192.0.2.1").text == "nochg 192.0.2.1\n"
    other = d.sql("SELECT pw_hash FROM users WHERE name = 'alice'")[0]["pw_hash"]
    d.cli("user", "add", "bob", "bob@example.com", stdin="other-pw\n")
    bob = d.sql("SELECT pw_hash FROM users WHERE name = 'bob'")[0]["pw_hash"]
    d.sql("UPDATE users SET pw_hash = ? WHERE name = 'alice'", (bob,))
    assert update(d, fqdn, myip="192.0.2.1").text == "badauth\n"
    assert update(d, fqdn, auth=("alice", "other-pw"), myip="192.0.2.1").text == \
        "nochg 192.0.2.1\n"
    # The old hash back (a restored backup): the old password is good again.
    d.sql("UPDATE users SET pw_hash = ? WHERE name = 'alice'", (other,))
    assert update(d, fqdn, myip="192.0.2.1").text == "nochg 192.0.2.1\n"


def test_ttl_zero_turns_the_cache_off(make_daemon, backend):
    d, fqdn = new_daemon(make_daemon, config={"daemon": {"credential_cache_ttl": 0}})
    for text in ("good 192.0.2.1\n", "nochg 192.0.2.1\n", "nochg 192.0.2.1\n"):
        assert update(d, fqdn, myip="192.0.2.1").text == text
    assert d.log().count(BY_ARGON2) == 3 and FROM_CACHE not in d.log()


def test_parallel_identical_requests_verify_once(make_daemon, backend):
    """A burst of one router's retries (the same credentials at the same time) starts
    one Argon2 run; the others wait for its result."""
    d, fqdn = new_daemon(make_daemon)
    n = 6
    results: list[str] = []
    barrier = threading.Barrier(n)

    def client():
        barrier.wait()
        results.append(update(d, fqdn, myip="192.0.2.9").text)

    threads = [threading.Thread(target=client) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["good 192.0.2.9\n"] + ["nochg 192.0.2.9\n"] * (n - 1)
    log = d.log()
    # Requests that arrived after the verification landed are cache hits; none ran
    # Argon2 of its own.
    assert log.count(BY_ARGON2) == 1, log[-4000:]


def test_reload_keeps_the_cache(make_daemon, backend):
    d, fqdn = new_daemon(make_daemon)
    assert update(d, fqdn, myip="192.0.2.1").text == "good 192.0.2.1\n"
    sighup(d)
    assert update(d, fqdn, myip="192.0.2.1").text == "nochg 192.0.2.1\n"
    assert d.log().count(FROM_CACHE) == 1, "the entry survived the reload"
    # A reload that turns the cache off: the next request verifies again.
    sections = {k: dict(v) for k, v in d.sections.items()}
    sections["daemon"]["credential_cache_ttl"] = 0
    fd = os.open(d.config, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "w") as f:
        f.write(helpers.to_toml(sections, helpers.SEED_ENDPOINTS))
    sighup(d)
    runs = d.log().count(BY_ARGON2)
    assert update(d, fqdn, myip="192.0.2.1").text == "nochg 192.0.2.1\n"
    assert d.log().count(BY_ARGON2) == runs + 1
    assert d.log().count(FROM_CACHE) == 1
