# SPDX-License-Identifier: MIT
"""Credentials end to end on both database backends: the verified-credential cache
(a password verified once is accepted again without Argon2, but never after the stored
hash changed; parallel identical requests verify once; a reload keeps it) and per-host
update tokens (a token updates its host and nothing else, with the owner's name or the
host's name as user name, masked in the request log, rate-limited, deleted with its
host). The tests check the HTTP answer and, where a record may change, what named
serves."""

from __future__ import annotations

import json
import os
import re
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


# --- per-host update tokens ----------------------------------------------------------------
def make_token(d, label: str, *extra: str) -> str:
    out = d.cli("token", "add", label, Z, *extra).stdout.splitlines()
    assert re.fullmatch(r"ddns_[A-Za-z0-9_-]{32}", out[0]), out
    return out[0]


def test_token_updates_its_host_and_nothing_else(make_daemon, backend, bind):
    a, b, c = uid(), uid(), uid()
    fa, fb, fc = f"{a}.{Z}", f"{b}.{Z}", f"{c}.{Z}"
    d = make_daemon(users={"alice": PW, "bob": "pw-bob"},
                    hosts=[("alice", a, Z), ("alice", b, Z), ("bob", c, Z)])
    tok = make_token(d, a, "--note", "router")
    assert update(d, fa, auth=("alice", tok), myip="192.0.2.10").text == "good 192.0.2.10\n"
    assert bind.query(fa, "A") == ["192.0.2.10"]
    assert update(d, fa, auth=("alice", tok), myip="192.0.2.10").text == "nochg 192.0.2.10\n"
    # Another host of the same owner, another user's host: nohost, DNS untouched.
    assert update(d, fb, auth=("alice", tok), myip="192.0.2.11").text == "nohost\n"
    assert update(d, fc, auth=("alice", tok), myip="192.0.2.11").text == "nohost\n"
    r = update(d, f"{fb},{fa}", auth=("alice", tok), myip="192.0.2.12")
    assert r.text == "nohost\ngood 192.0.2.12\n"
    assert bind.query(fb, "A") == [] and bind.query(fc, "A") == []
    assert bind.query(fa, "A") == ["192.0.2.12"]
    # Only the owner's name or the host's name go with it.
    assert update(d, fa, auth=("bob", tok), myip="192.0.2.13").text == "badauth\n"
    assert update(d, fa, auth=(fb, tok), myip="192.0.2.13").text == "badauth\n"
    assert update(d, fa, auth=("alice", tok[:-1] + ("A" if tok[-1] != "A" else "B")),
                  myip="192.0.2.13").text == "badauth\n"
    assert bind.query(fa, "A") == ["192.0.2.12"]
    # The password of the account still updates every host of it.
    assert update(d, fb, myip="192.0.2.14").text == "good 192.0.2.14\n"
    # A token's changes are the owner's: notify and the rows say so.
    assert d.hosts()[fa]["ipv4"] == "192.0.2.12" and d.hosts()[fa]["owner"] == "alice"

    # Deleted: badauth from the next request on.
    (row,) = [t for t in json.loads(d.cli("token", "list", "--json").stdout)
              if t["fqdn"] == fa]
    assert row["note"] == "router"
    d.cli("token", "delete", str(row["id"]))
    assert update(d, fa, auth=("alice", tok), myip="192.0.2.15").text == "badauth\n"
    assert update(d, None, auth=(fa, tok), myip="192.0.2.15").text == "badauth\n"
    assert bind.query(fa, "A") == ["192.0.2.12"]


def test_fqdn_as_user_name_without_hostname(make_daemon, backend, bind):
    """A FritzBox puts the host's name in the user field and may send no hostname."""
    label = uid()
    fqdn = f"{label}.{Z}"
    d = make_daemon(users={"alice": PW}, hosts=[("alice", label, Z)])
    tok = make_token(d, label)
    r = d.get("/update?myip=192.0.2.20&myip6=2001:db8::20", auth=(fqdn, tok))
    assert r.text == "good 192.0.2.20,2001:db8::20\n"
    assert bind.query(fqdn, "A") == ["192.0.2.20"]
    assert bind.query(fqdn, "AAAA") == ["2001:db8::20"]
    r = d.get("/update?hostname=&myip=192.0.2.20", auth=(fqdn.upper() + ".", tok))
    assert r.text == "nochg 192.0.2.20\n", "an empty hostname, the name in any case"
    r = d.get("/update?myip=192.0.2.21", auth=("alice", tok),
              headers={"Accept": "application/json"})
    assert r.json() == {"status": "good", "ipv4": "192.0.2.21", "ipv6": None}
    assert bind.query(fqdn, "A") == ["192.0.2.21"]
    # The account's password with the host's name as user name is no login.
    assert d.get("/update?myip=192.0.2.22", auth=(fqdn, PW)).text == "badauth\n"
    # A wrong token with a host name as user name: badauth whether that host exists
    # or not (both cost a full verification: no host enumeration).
    fake = "ddns_" + "A" * 32
    assert d.get("/update?myip=192.0.2.22", auth=(fqdn, fake)).text == "badauth\n"
    assert d.get("/update?myip=192.0.2.22", auth=(f"nope.{Z}", fake)).text == "badauth\n"
    assert bind.query(fqdn, "A") == ["192.0.2.21"]


def test_token_in_the_query_string_is_masked(make_daemon, backend, bind):
    label = uid()
    fqdn = f"{label}.{Z}"
    d = make_daemon(users={"alice": PW}, hosts=[("alice", label, Z)])
    tok = make_token(d, label)
    r = d.get(f"/update?{urlencode(dict(hostname=fqdn, myip='192.0.2.30', user=fqdn, token=tok))}")
    assert r.text == "good 192.0.2.30\n"
    r = d.get(f"/update?{urlencode(dict(username='alice', password=tok, myip='192.0.2.30'))}")
    assert r.text == "nochg 192.0.2.30\n"
    assert bind.query(fqdn, "A") == ["192.0.2.30"]
    log = d.log()
    # Credentials are not logged at all, not even masked: only counted.
    assert "token=" not in log and "password=" not in log, log[-3000:]
    assert "not logged)" in log, log[-3000:]
    assert tok not in log and tok[5:] not in log, "the token is in no log line"
    assert tok not in d.cli("token", "list").stdout


def test_token_requests_are_rate_limited(make_daemon, backend):
    label = uid()
    fqdn = f"{label}.{Z}"
    d = make_daemon(users={"alice": PW}, hosts=[("alice", label, Z)],
                    config={"rate_limit": {"bad_window_seconds": 60, "bad_max_requests": 2}})
    tok = make_token(d, label)
    fake = "ddns_" + "B" * 32
    for _ in range(2):
        assert update(d, fqdn, auth=(fqdn, fake), myip="192.0.2.40").text == "badauth\n"
    assert update(d, fqdn, auth=(fqdn, tok), myip="192.0.2.40").text == "abuse\n", \
        "over the limit even the right token is not checked"


def test_hostname_delete_removes_its_tokens(make_daemon, backend, bind):
    a, b = uid(), uid()
    d = make_daemon(users={"alice": PW}, hosts=[("alice", a, Z), ("alice", b, Z)])
    ta, tb = make_token(d, a), make_token(d, b)
    assert update(d, f"{a}.{Z}", auth=("alice", ta), myip="192.0.2.50").text == \
        "good 192.0.2.50\n"
    d.cli("hostname", "delete", a, Z)
    assert [t["fqdn"] for t in json.loads(d.cli("token", "list", "--json").stdout)] == \
        [f"{b}.{Z}"]
    assert d.sql("SELECT count(*) AS n FROM host_tokens")[0]["n"] == 1
    # Re-created under the same name, the host does not inherit the old token.
    d.add_host("alice", a, Z)
    assert update(d, f"{a}.{Z}", auth=("alice", ta), myip="192.0.2.51").text == "badauth\n"
    assert update(d, f"{b}.{Z}", auth=("alice", tb), myip="192.0.2.51").text == \
        "good 192.0.2.51\n"
