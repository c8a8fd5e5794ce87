# SPDX-License-Identifier: MIT
"""The ddns-service command line (SPEC §3) driven as an operator would: real binary,
real SQLite file, exit statuses and the one-line stderr messages checked."""

import hashlib
import json
import os
import pty
import re
import select
import signal
import sqlite3
import stat
import subprocess
import time
from pathlib import Path

import argon2
import pytest

BIN = os.environ.get("DDNS_SERVICE_BIN", "")
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# The schema version this build migrates to (src/db.h), so that a new migration step
# does not have to touch the tests that only want "the current one".
SCHEMA = int(re.search(r"#define DB_SCHEMA_VERSION (\d+)",
                       (Path(__file__).resolve().parents[2] / "src" / "db.h").read_text())
             .group(1))
VERSIONS = [(v,) for v in range(1, SCHEMA + 1)]
# Nothing listens here: DNS calls fail fast (no test in this file needs a DNS server).
DEAD_DNS_PORT = 9
# The schema version this build migrates to (src/db.h): branches that add a migration
# step bump it, so the tests read it rather than name it.
SCHEMA = int(re.search(r"#define DB_SCHEMA_VERSION (\d+)",
                       (Path(__file__).resolve().parents[2] / "src" / "db.h").read_text())[1])
VERSIONS = [(v,) for v in range(1, SCHEMA + 1)]

pytestmark = pytest.mark.skipif(not BIN or not os.path.exists(BIN),
                                reason="DDNS_SERVICE_BIN not set or not built")


class Cli:
    """One temporary service configuration and a way to run the binary against it."""

    def __init__(self, tmp: Path):
        self.dir = tmp
        self.db = tmp / "ddns.db"
        self.config = tmp / "config.toml"
        self.write_config()

    def write_config(self, extra=""):
        self.config.write_text(
            "[database]\n"
            f'path = "{self.db}"\n'
            "[dns_service]\n"
            'dns_server = "127.0.0.1"\n'
            f"dns_port = {DEAD_DNS_PORT}\n"
            "dns_timeout = 1\n"
            "[defaults]\n"
            "dns_ttl = 90\n"
            "expiry_ttl = 1800\n" + extra)
        os.chmod(self.config, 0o600)

    def run(self, *args, input=None, env=None, config=True):
        e = {k: v for k, v in os.environ.items() if k != "DDNS_SERVICE_CONFIG"}
        if config:
            e["DDNS_SERVICE_CONFIG"] = str(self.config)
        e.update(env or {})
        return subprocess.run([BIN, *args], input=input, capture_output=True, text=True,
                              env=e, timeout=60)

    def ok(self, *args, input=None):
        r = self.run(*args, input=input)
        assert r.returncode == 0, f"{args}: rc={r.returncode} stderr={r.stderr!r}"
        assert r.stderr == "", f"{args}: unexpected stderr {r.stderr!r}"
        return r

    def fails(self, status, message, *args, input=None):
        """The command exits with `status` and exactly one stderr line matching `message`."""
        r = self.run(*args, input=input)
        assert r.returncode == status, f"{args}: rc={r.returncode} stderr={r.stderr!r}"
        lines = r.stderr.splitlines()
        assert len(lines) == 1, f"{args}: want one stderr line, got {r.stderr!r}"
        assert re.search(message, lines[0]), f"{args}: {lines[0]!r} !~ {message!r}"
        assert lines[0].startswith("error: ")
        return r

    def sql(self, query, *params):
        with sqlite3.connect(self.db) as c:
            return c.execute(query, params).fetchall()

    def add_user(self, name="alice", email=None, password="correct horse"):
        return self.ok("user", "add", name, email or f"{name}@example.com",
                       input=password + "\n")

    def hosts(self, *args):
        return json.loads(self.ok("hostname", "list", "--json", *args).stdout)


@pytest.fixture
def cli(tmp_path):
    return Cli(tmp_path)


def verifies(phc, password):
    try:
        return argon2.PasswordHasher().verify(phc, password)
    except argon2.exceptions.VerifyMismatchError:
        return False


def test_version_and_help(cli):
    r = cli.run("--version", config=False)
    assert r.returncode == 0
    assert re.match(r"ddns-service \d+\.\d+\.\d+\n", r.stdout)
    assert "sqlite" in r.stdout and "systemd" in r.stdout and "TLS" in r.stdout
    r = cli.run("--help", config=False)
    assert r.returncode == 0
    for synopsis in ("--init-db", "--daemon", "user add NAME EMAIL",
                     "hostname add USER HOST ZONE [--dns-ttl N] [--expiry-ttl N]",
                     "hostname modify HOST ZONE", "hostname delete HOST ZONE", "cleanup",
                     "token add HOST ZONE [--note TEXT]", "token list [--user NAME] [--json]",
                     "token delete ID"):
        assert synopsis in r.stdout


def test_usage_errors(cli):
    cli.fails(1, r"nothing to do")
    cli.fails(1, r"unknown command 'frobnicate'", "frobnicate")
    cli.fails(1, r"missing user command", "user")
    cli.fails(1, r"unknown user command 'rename'", "user", "rename", "a", "b")
    cli.fails(1, r"missing arguments; usage: user add NAME EMAIL", "user", "add", "alice")
    cli.fails(1, r"too many arguments", "user", "delete", "a", "b")
    cli.fails(1, r"unknown option '--json'", "user", "add", "a", "a@example.com", "--json")
    cli.fails(1, r"missing value for option '--dns-ttl'", "hostname", "add", "a", "h",
              "example.com", "--dns-ttl")
    cli.fails(1, r"only one of", "--init-db", "user", "list")
    cli.fails(1, r"-c/--config needs a path", "user", "list", "-c")


def schema_version(out: str) -> int:
    """The version --init-db reports; every step from 1 up to it must be recorded."""
    m = re.search(r"database ready \(schema version (\d+)\)", out)
    assert m, out
    return int(m.group(1))


def test_init_db_is_idempotent(cli):
    r = cli.ok("--init-db")
    assert f"schema version {SCHEMA}" in r.stdout
    assert cli.sql("SELECT version FROM schema_version ORDER BY version") == VERSIONS
    r = cli.ok("--init-db")
    assert f"schema version {SCHEMA}" in r.stdout
    assert cli.sql("SELECT version FROM schema_version ORDER BY version") == VERSIONS
    assert cli.sql("PRAGMA journal_mode") == [("wal",)]


def test_user_and_hostname_lifecycle(cli):
    r = cli.add_user("alice", "alice@example.com", "s3cret pass")
    assert "alice" in r.stdout
    (phc,) = cli.sql("SELECT pw_hash FROM users WHERE name = 'alice'")[0]
    assert phc.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert verifies(phc, "s3cret pass"), "the newline of stdin is not part of the password"

    cli.ok("hostname", "add", "alice", "home", "dyn.example.com", "--dns-ttl", "60",
           "--expiry-ttl", "7200")
    cli.ok("hostname", "add", "alice", "bücher", "dyn.example.com")
    hosts = cli.hosts("--user", "alice")
    assert [h["fqdn"] for h in hosts] == ["home.dyn.example.com",
                                          "xn--bcher-kva.dyn.example.com"]
    home, buecher = hosts
    assert (home["hostname"], home["zone"], home["owner"]) == ("home", "dyn.example.com",
                                                                "alice")
    assert (home["dns_ttl"], home["expiry_ttl"]) == (60, 7200)
    assert (buecher["dns_ttl"], buecher["expiry_ttl"]) == (90, 1800), "[defaults] apply"
    assert buecher["hostname"] == "xn--bcher-kva"
    for h in hosts:
        assert h["ipv4"] is None and h["ipv6"] is None
        assert h["ipv4_updated"] is None and h["ipv6_updated"] is None
        assert h["ipv4_expired"] is False
        assert h["ipv4_offline"] is False and h["ipv6_offline"] is False
        assert h["ipv6_iid"] is None
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", h["created"])

    table = cli.ok("hostname", "list", "--user", "alice").stdout.splitlines()
    assert table[0].split() == ["FQDN", "OWNER", "DNS_TTL", "EXPIRY_TTL", "IPV4",
                                "IPV4_UPDATED", "IPV6", "IPV6_UPDATED", "IPV6_IID"]
    assert table[1].split()[:4] == ["home.dyn.example.com", "alice", "60", "7200"]
    # Aligned: every row's OWNER column starts where the header's does.
    col = table[0].index("OWNER")
    assert all(row[col:].startswith("alice") for row in table[1:])

    cli.fails(1, r"^error: user 'alice' owns 2 hostnames; delete them first$",
              "user", "delete", "alice")
    cli.ok("hostname", "delete", "home", "dyn.example.com")
    cli.fails(1, r"^error: user 'alice' owns 1 hostname; delete them first$",
              "user", "delete", "alice")
    cli.ok("hostname", "delete", "bücher", "dyn.example.com.")
    assert cli.hosts() == []
    cli.ok("user", "delete", "alice")
    assert cli.sql("SELECT count(*) FROM users") == [(0,)]


def test_user_list(cli):
    assert json.loads(cli.ok("user", "list", "--json").stdout) == []
    cli.add_user("bob")
    cli.add_user("alice", "alice@example.org")
    users = json.loads(cli.ok("user", "list", "--json").stdout)
    assert [u["name"] for u in users] == ["alice", "bob"]
    assert users[0]["email"] == "alice@example.org"
    assert set(users[0]) == {"name", "email", "created"}, "never the password hash"
    table = cli.ok("user", "list").stdout.splitlines()
    assert table[0].split() == ["NAME", "EMAIL", "CREATED"]
    assert table[1].split()[:2] == ["alice", "alice@example.org"]


def test_passwd_and_email(cli):
    cli.add_user("alice", password="old password")
    cli.ok("user", "passwd", "alice", input="new password\r\n")
    (phc,) = cli.sql("SELECT pw_hash FROM users")[0]
    assert verifies(phc, "new password") and not verifies(phc, "old password")
    cli.ok("user", "email", "alice", "alice@new.example")
    assert cli.sql("SELECT email FROM users") == [("alice@new.example",)]
    cli.fails(1, r"^error: no such user 'bob'$", "user", "passwd", "bob", input="x\n")
    cli.fails(1, r"^error: no such user 'bob'$", "user", "email", "bob", "b@example.com")
    cli.fails(1, r"invalid e-mail address 'nope'", "user", "email", "alice", "nope")
    cli.fails(1, r"^error: empty password refused$", "user", "passwd", "alice", input="\n")
    cli.fails(1, r"^error: empty password refused$", "user", "passwd", "alice", input="")
    cli.fails(1, r"password longer than 1024 bytes", "user", "passwd", "alice",
              input="x" * 1025 + "\n")
    assert verifies(cli.sql("SELECT pw_hash FROM users")[0][0], "new password")


def test_local_addresses(cli):
    """The address rule is the one of the config and the mailer (email.h): a local
    recipient such as root@localhost is fine, a bad address still is not."""
    cli.add_user("root", email="root@localhost")
    assert cli.sql("SELECT email FROM users WHERE name = 'root'") == [("root@localhost",)]
    cli.add_user("alice")
    cli.ok("user", "email", "alice", "alice@mailhost")
    assert cli.sql("SELECT email FROM users WHERE name = 'alice'") == [("alice@mailhost",)]
    cli.fails(1, r"^error: invalid e-mail address 'alice@-mailhost'$",
              "user", "email", "alice", "alice@-mailhost")
    cli.fails(1, r"^error: invalid e-mail address 'bob@localhost, x@example\.com'$",
              "user", "add", "bob", "bob@localhost, x@example.com", input="pw\n")
    assert cli.sql("SELECT name, email FROM users ORDER BY name") == [
        ("alice", "alice@mailhost"), ("root", "root@localhost")]


def test_duplicates_and_unknowns(cli):
    cli.add_user("alice")
    cli.fails(1, r"^error: user 'alice' already exists$", "user", "add", "alice",
              "a@example.com", input="pw\n")
    cli.ok("hostname", "add", "alice", "home", "dyn.example.com")
    cli.fails(1, r"^error: hostname 'home.dyn.example.com' already exists$",
              "hostname", "add", "alice", "HOME", "Dyn.Example.COM")
    cli.fails(1, r"^error: no such user 'bob'$", "hostname", "add", "bob", "x",
              "dyn.example.com")
    cli.fails(1, r"^error: no such user 'bob'$", "user", "delete", "bob")
    cli.fails(1, r"^error: no such user 'bob'$", "hostname", "list", "--user", "bob")
    cli.fails(1, r"^error: no such hostname 'nope.dyn.example.com'$",
              "hostname", "delete", "nope", "dyn.example.com")
    cli.fails(1, r"^error: no such hostname 'nope.dyn.example.com'$",
              "hostname", "modify", "nope", "dyn.example.com", "--dns-ttl", "60")


@pytest.mark.parametrize("opts, message", [
    (["--dns-ttl", "0"], r"--dns-ttl must be an integer from 1 to 604800, not '0'"),
    (["--dns-ttl", "604801"], r"--dns-ttl must be"),
    (["--dns-ttl", "-5"], r"--dns-ttl must be"),
    (["--dns-ttl", "60s"], r"--dns-ttl must be"),
    (["--dns-ttl", ""], r"--dns-ttl must be"),
    (["--dns-ttl", "99999999999999999999"], r"--dns-ttl must be"),
    (["--expiry-ttl", "59"], r"--expiry-ttl must be 0 \(never expire\) or at least 60"),
    (["--expiry-ttl", "1"], r"--expiry-ttl must be"),
    (["--expiry-ttl", "-1"], r"--expiry-ttl must be"),
    (["--expiry-ttl", "x"], r"--expiry-ttl must be"),
])
def test_bad_ttls(cli, opts, message):
    cli.add_user("alice")
    cli.fails(1, message, "hostname", "add", "alice", "home", "dyn.example.com", *opts)
    cli.ok("hostname", "add", "alice", "home", "dyn.example.com")
    cli.fails(1, message, "hostname", "modify", "home", "dyn.example.com", *opts)
    assert cli.hosts()[0]["dns_ttl"] == 90


def test_good_ttls_and_modify(cli):
    cli.add_user("alice")
    cli.ok("hostname", "add", "alice", "a", "dyn.example.com", "--dns-ttl=1",
           "--expiry-ttl=0")
    cli.ok("hostname", "add", "alice", "b", "dyn.example.com", "--dns-ttl", "604800",
           "--expiry-ttl", "60")
    got = {h["fqdn"]: (h["dns_ttl"], h["expiry_ttl"]) for h in cli.hosts()}
    assert got == {"a.dyn.example.com": (1, 0), "b.dyn.example.com": (604800, 60)}
    cli.fails(1, r"nothing to modify", "hostname", "modify", "a", "dyn.example.com")
    # No live records: a new dns_ttl needs no DNS call (the configured server is dead).
    cli.ok("hostname", "modify", "a", "dyn.example.com", "--dns-ttl", "300")
    cli.ok("hostname", "modify", "a", "dyn.example.com", "--expiry-ttl", "3600")
    assert cli.hosts()[0]["dns_ttl"] == 300 and cli.hosts()[0]["expiry_ttl"] == 3600


def test_ipv6_iid(cli):
    """The interface identifier: set with add or modify (canonical form, a whole
    address is fine), cleared with "", shown by list and JSON; no DNS is needed."""
    cli.add_user("alice")
    cli.ok("hostname", "add", "alice", "fritz", "dyn.example.com",
           "--ipv6-iid", "::1234:5678:9ABC:DEF0")
    cli.ok("hostname", "add", "alice", "plain", "dyn.example.com")
    got = {h["hostname"]: h["ipv6_iid"] for h in cli.hosts()}
    assert got == {"fritz": "::1234:5678:9abc:def0", "plain": None}
    table = cli.ok("hostname", "list").stdout.splitlines()
    assert table[1].split()[0] == "fritz.dyn.example.com"
    assert table[1].split()[-1] == "::1234:5678:9abc:def0"
    assert table[2].split()[-1] == "-"
    r = cli.ok("hostname", "modify", "plain", "dyn.example.com",
               "--ipv6-iid=2001:db8:1:2:aaaa:bbbb:cccc:dddd")
    assert r.stdout == ("hostname 'plain.dyn.example.com' modified (dns_ttl 90, "
                        "expiry_ttl 1800, ipv6_iid 2001:db8:1:2:aaaa:bbbb:cccc:dddd)\n")
    r = cli.ok("hostname", "modify", "fritz", "dyn.example.com", "--ipv6-iid", "")
    assert r.stdout.endswith("ipv6_iid none)\n")
    r = cli.ok("hostname", "modify", "fritz", "dyn.example.com", "--dns-ttl", "120")
    assert "ipv6_iid" not in r.stdout
    got = {h["hostname"]: (h["ipv6_iid"], h["dns_ttl"]) for h in cli.hosts()}
    assert got == {"fritz": (None, 120), "plain": ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 90)}
    for bad, message in (("192.0.2.1", r"must be an IPv6 interface identifier"),
                         ("::1/64", r"must be an IPv6 interface identifier"),
                         ("fe80::1%eth0", r"must be an IPv6 interface identifier"),
                         ("::", r"the last 64 bits\) is zero"),
                         ("2001:db8:1:2::", r"the last 64 bits\) is zero")):
        cli.fails(1, message, "hostname", "add", "alice", "x", "dyn.example.com",
                  "--ipv6-iid", bad)
        cli.fails(1, message, "hostname", "modify", "plain", "dyn.example.com",
                  "--ipv6-iid", bad)
    assert len(cli.hosts()) == 2
    assert cli.hosts()[1]["ipv6_iid"] == "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "kept"
    cli.fails(1, r"nothing to modify; give --dns-ttl, --expiry-ttl and/or --ipv6-iid",
              "hostname", "modify", "plain", "dyn.example.com")
    cli.fails(1, r"unknown option '--ipv6-iid'", "hostname", "list", "--ipv6-iid", "::1")


@pytest.mark.parametrize("args, message", [
    (["user", "add", "Alice", "a@example.com"], r"invalid user name 'Alice'"),
    (["user", "add", "al ice", "a@example.com"], r"invalid user name 'al ice'"),
    (["user", "add", "", "a@example.com"], r"invalid user name ''"),
    (["user", "add", "a" * 65, "a@example.com"], r"invalid user name"),
    (["user", "add", "bob", "<bob@example.com>"], r"invalid e-mail address '<bob@example.com>'"),
    (["user", "add", "bob", "bob@exa_mple.com"], r"invalid e-mail address"),
    (["user", "add", "bob", "bob"], r"invalid e-mail address"),
    (["user", "add", "bob", "b ob@example.com"], r"invalid e-mail address"),
    (["user", "add", "bob", "bob@example.com\nBcc: x@example.com"],
     r"invalid e-mail address 'bob@example.com\\x0aBcc"),
    (["hostname", "add", "alice", "ho_me", "dyn.example.com"], r"invalid hostname 'ho_me'"),
    (["hostname", "add", "alice", "-home", "dyn.example.com"], r"unknown option '-home'"),
    (["hostname", "add", "alice", "--", "-home", "dyn.example.com"],
     r"invalid hostname '-home'"),
    (["hostname", "add", "alice", "a" * 64, "dyn.example.com"], r"invalid hostname"),
    (["hostname", "add", "alice", "home", "example"], r"invalid zone 'example' \(a domain"),
    (["hostname", "add", "alice", "home", "exa mple.com"], r"invalid zone"),
    (["hostname", "add", "alice", "home", "dyn..example.com"], r"invalid zone"),
    (["hostname", "add", "alice", ".".join(["a" * 60] * 3), ".".join(["b" * 60] * 2)],
     r"is longer than 253 characters"),
    (["hostname", "list", "--user", "Bad User"], r"invalid user name 'Bad User'"),
])
def test_bad_names(cli, args, message):
    cli.add_user("alice")
    cli.fails(1, message, *args, input="pw\n")
    assert cli.sql("SELECT count(*) FROM hostnames") == [(0,)]
    assert cli.sql("SELECT count(*) FROM users") == [(1,)]


def test_hostname_normalized(cli):
    cli.add_user("alice")
    cli.ok("hostname", "add", "alice", "Home.Office", "DYN.example.com.")
    assert [h["fqdn"] for h in cli.hosts()] == ["home.office.dyn.example.com"]
    assert cli.hosts()[0]["hostname"] == "home.office"


def test_delete_with_live_record_needs_dns(cli):
    """A host with a live record is not deleted when DNS cannot be updated."""
    cli.add_user("alice")
    cli.ok("hostname", "add", "alice", "home", "dyn.example.com")
    cli.ok("hostname", "add", "alice", "gone", "dyn.example.com")
    cli.sql("UPDATE hostnames SET ipv4 = '192.0.2.1', ipv4_updated = 1700000000")
    cli.sql("UPDATE hostnames SET ipv4_expired = 1 WHERE hostname = 'gone'")
    cli.fails(1, r"^error: DNS update failed: .*; hostname kept$",
              "hostname", "delete", "home", "dyn.example.com")
    cli.fails(1, r"^error: DNS update failed: .*; hostname not modified$",
              "hostname", "modify", "home", "dyn.example.com", "--dns-ttl", "300")
    home = [h for h in cli.hosts() if h["hostname"] == "home"][0]
    assert home["dns_ttl"] == 90 and home["ipv4"] == "192.0.2.1"
    # expiry_ttl alone never touches DNS.
    cli.ok("hostname", "modify", "home", "dyn.example.com", "--expiry-ttl", "0")
    # An expired record is no longer in DNS: deleting its host needs no DNS call.
    cli.ok("hostname", "delete", "gone", "dyn.example.com")
    assert [h["hostname"] for h in cli.hosts()] == ["home"]


TOKEN_RE = r"ddns_[A-Za-z0-9_-]{32}"


def test_token_lifecycle(cli):
    cli.add_user("alice")
    cli.add_user("bob")
    cli.ok("hostname", "add", "alice", "home", "dyn.example.com")
    cli.ok("hostname", "add", "bob", "office", "dyn.example.com")
    r = cli.ok("token", "add", "Home", "DYN.example.com.", "--note", "hall router")
    lines = r.stdout.splitlines()
    assert re.fullmatch(TOKEN_RE, lines[0]), "the token alone on the first line"
    assert lines[1:] == ["token 1 added for 'home.dyn.example.com'; it is shown only this once"]
    secret = lines[0]
    second = cli.ok("token", "add", "office", "dyn.example.com").stdout.splitlines()[0]
    third = cli.ok("token", "add", "home", "dyn.example.com", "--note=").stdout.splitlines()[0]
    assert len({secret, second, third}) == 3

    # Only the SHA-256 is stored; the secret is nowhere in the database.
    assert cli.sql("SELECT token_hash, note FROM host_tokens WHERE id = 1") == [
        (hashlib.sha256(secret.encode()).hexdigest(), "hall router")]
    for f in cli.dir.glob("ddns.db*"):
        assert secret.encode() not in f.read_bytes()

    tokens = json.loads(cli.ok("token", "list", "--json").stdout)
    assert [(t["id"], t["fqdn"], t["owner"], t["note"]) for t in tokens] == [
        (1, "home.dyn.example.com", "alice", "hall router"),
        (3, "home.dyn.example.com", "alice", ""),
        (2, "office.dyn.example.com", "bob", "")]
    assert set(tokens[0]) == {"id", "fqdn", "owner", "note", "created"}, "never the secret"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", tokens[0]["created"])
    bob = json.loads(cli.ok("token", "list", "--user", "bob", "--json").stdout)
    assert [t["id"] for t in bob] == [2]
    table = cli.ok("token", "list").stdout.splitlines()
    assert table[0].split() == ["ID", "FQDN", "OWNER", "CREATED", "NOTE"]
    assert table[1].split()[:3] == ["1", "home.dyn.example.com", "alice"]
    assert table[1].endswith("hall router") and table[2].endswith("-")
    col = table[0].index("OWNER")
    assert all(row[col:].startswith(("alice", "bob")) for row in table[1:]), "aligned"
    assert all(secret not in out for out in (cli.ok("token", "list").stdout,
                                             cli.ok("token", "list", "--json").stdout))

    cli.ok("token", "delete", "2")
    cli.fails(1, r"^error: no such token 2$", "token", "delete", "2")
    assert [t["id"] for t in json.loads(cli.ok("token", "list", "--json").stdout)] == [1, 3]
    cli.ok("token", "add", "home", "dyn.example.com", "--note", "\u00e9" * 100)  # 200 bytes
    assert json.loads(cli.ok("token", "list", "--json").stdout)[-1]["note"] == "\u00e9" * 100
    # A host's tokens go with it.
    cli.ok("hostname", "delete", "home", "dyn.example.com")
    assert json.loads(cli.ok("token", "list", "--json").stdout) == []
    assert cli.sql("SELECT count(*) FROM host_tokens") == [(0,)]


@pytest.mark.parametrize("args, message", [
    (["token", "add", "nope", "dyn.example.com"], r"^error: no such hostname 'nope.dyn"),
    (["token", "add", "ho_me", "dyn.example.com"], r"invalid hostname 'ho_me'"),
    (["token", "add", "home", "example"], r"invalid zone 'example'"),
    (["token", "add", "home", "dyn.example.com", "--note", "x" * 201],
     r"--note is longer than 200 bytes"),
    (["token", "add", "home", "dyn.example.com", "--note", "a\tb"],
     r"--note must not contain control characters"),
    (["token", "add", "home", "dyn.example.com", "--note", "caf\udce9"],
     r"--note is not valid UTF-8"),
    (["token", "add", "home", "dyn.example.com", "--json"], r"unknown option '--json'"),
    (["token", "add", "home"], r"missing arguments; usage: token add HOST ZONE"),
    (["token", "delete", "x"], r"invalid token id 'x'"),
    (["token", "delete", "0"], r"invalid token id '0'"),
    (["token", "delete", "-1"], r"unknown option '-1'"),
    (["token", "delete", "99999999999999999999"], r"invalid token id"),
    (["token", "delete", "7"], r"^error: no such token 7$"),
    (["token", "list", "--user", "carol"], r"^error: no such user 'carol'$"),
    (["token", "list", "--user", "Bad User"], r"invalid user name 'Bad User'"),
    (["token"], r"missing token command"),
    (["token", "show"], r"unknown token command 'show'"),
])
def test_token_errors(cli, args, message):
    cli.add_user("alice")
    cli.ok("hostname", "add", "alice", "home", "dyn.example.com")
    r = cli.fails(1, message, *args)
    assert r.stdout == "", "nothing on stdout, no token made"
    assert cli.sql("SELECT count(*) FROM host_tokens") == [(0,)]


def test_cleanup_with_nothing_due(cli):
    """A host that was never published has nothing to expire: no output, exit 0 (the
    DNS-side cases are in tests/integration/test_expiry.py)."""
    cli.ok("user", "add", "alice", "alice@example.com", input="pw\n")
    cli.ok("hostname", "add", "alice", "home", "dyn.example.com")
    assert cli.ok("cleanup").stdout == ""


def test_world_readable_config_warns(cli):
    os.chmod(cli.config, 0o644)
    r = cli.run("user", "list")
    assert r.returncode == 0
    assert r.stderr.startswith("warning: ") and "world-readable" in r.stderr
    assert str(cli.config) in r.stderr
    os.chmod(cli.config, 0o600)
    assert cli.run("user", "list").stderr == ""


def test_config_errors(cli):
    bad = cli.dir / "bad.toml"
    bad.write_text('[database]\npath = "x.db"\n\nbogus_key = 1\n')
    os.chmod(bad, 0o600)
    r = cli.run("-c", str(bad), "user", "list")
    assert r.returncode == 1
    assert re.match(rf"error: {re.escape(str(bad))}:4: ", r.stderr), r.stderr
    assert len(r.stderr.splitlines()) == 1
    r = cli.run("user", "list", config=False, env={"DDNS_SERVICE_CONFIG": str(bad)})
    assert r.returncode == 1 and ":4: " in r.stderr
    r = cli.run("-c", str(cli.dir / "missing.toml"), "user", "list")
    assert r.returncode == 2 and "missing.toml" in r.stderr


def test_config_path_precedence(cli, tmp_path):
    (tmp_path / "other").mkdir()
    other = Cli(tmp_path / "other")
    other.add_user("carol")
    cli.add_user("alice")
    # -c wins over the environment, in either position.
    for args in (["-c", str(other.config), "user", "list"],
                 ["user", "list", "--config", str(other.config)],
                 [f"--config={other.config}", "user", "list"]):
        assert "carol" in cli.ok(*args).stdout
    assert "alice" in cli.ok("user", "list").stdout
    # Without -c and without the variable: the built-in default (absent here).
    r = cli.run("user", "list", config=False)
    assert r.returncode in (1, 2) and "/etc/ddns-service/config.toml" in r.stderr


def test_mariadb_unreachable_is_an_environment_error(cli):
    """A MariaDB that does not answer: exit 2, one clear error, the password unsaid
    (the backend itself is tested in tests/integration/test_mariadb.py)."""
    cli.config.write_text('[database]\nbackend = "mariadb"\nhost = "127.0.0.1"\nport = 9\n'
                          'user = "u"\npassword = "secret-pw"\nname = "ddns"\n')
    r = cli.run("user", "list")
    assert r.returncode == 2
    assert "connect" in r.stderr and r.stderr.splitlines()[-1].startswith("error: ")
    assert "secret-pw" not in r.stderr


def test_schema_v1_database_keeps_working(cli):
    """A database made by schema version 1 (committed dump) is migrated to the current
    version by the first command and keeps its data."""
    with sqlite3.connect(cli.db) as c:
        c.executescript((FIXTURES / "schema-v1.sql").read_text())
    assert f"schema version {SCHEMA}" in cli.ok("--init-db").stdout
    assert cli.sql("SELECT version FROM schema_version ORDER BY version") == VERSIONS
    users = json.loads(cli.ok("user", "list", "--json").stdout)
    assert users == [{"name": "alice", "email": "alice@example.com",
                      "created": "2023-11-14T22:13:20Z"}]
    (home,) = cli.hosts()
    assert home == {
        "fqdn": "home.dyn.example.com", "hostname": "home", "zone": "dyn.example.com",
        "owner": "alice", "dns_ttl": 60, "expiry_ttl": 7200,
        "ipv4": "192.0.2.10", "ipv4_updated": "2023-11-14T22:15:00Z", "ipv4_expired": True,
        "ipv6": None, "ipv6_updated": None, "ipv6_expired": False,
        "created": "2023-11-14T22:13:20Z",
        "ipv4_offline": False, "ipv6_offline": False, "ipv6_iid": None}
    assert "192.0.2.10 (expired)" in cli.ok("hostname", "list").stdout
    (phc,) = cli.sql("SELECT pw_hash FROM users")[0]
    assert verifies(phc, "fixture password")
    cli.ok("hostname", "add", "alice", "office", "dyn.example.com")
    cli.fails(1, r"already exists", "hostname", "add", "alice", "home", "dyn.example.com")
    # The migrated host takes tokens (schema step 3), which go with it.
    assert re.fullmatch(TOKEN_RE, cli.ok("token", "add", "home", "dyn.example.com")
                        .stdout.splitlines()[0])
    cli.add_user("bob")
    cli.fails(1, r"owns 2 hostnames", "user", "delete", "alice")
    cli.ok("hostname", "delete", "office", "dyn.example.com")
    cli.ok("hostname", "delete", "home", "dyn.example.com")  # expired: no DNS needed
    assert cli.sql("SELECT count(*) FROM host_tokens") == [(0,)]
    cli.ok("user", "delete", "alice")
    assert [u["name"] for u in json.loads(cli.ok("user", "list", "--json").stdout)] == ["bob"]
    assert cli.sql("SELECT max(version) FROM schema_version") == [(SCHEMA,)]


def run_on_tty(cli, args, answers):
    """Runs the binary on a pseudo-terminal, answering each prompt in turn."""
    env = dict(os.environ, DDNS_SERVICE_CONFIG=str(cli.config))
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(BIN, [BIN, *args], env)
    out = b""
    pending = list(answers)
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.5)
            if not r:
                continue
            try:
                chunk = os.read(fd, 1024)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            # One answer per prompt seen so far (echoed newlines are not prompts).
            if pending and out.lower().count(b"password: ") > len(answers) - len(pending):
                os.write(fd, pending.pop(0).encode() + b"\n")
    finally:
        for _ in range(50):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.1)
        else:  # still waiting for input: a failure, not a hang
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def test_password_prompt_on_tty(cli):
    rc, out = run_on_tty(cli, ["user", "add", "alice", "a@example.com"],
                         ["tty secret", "tty secret"])
    assert rc == 0, out
    assert "Password:" in out and "Retype password:" in out
    assert "tty secret" not in out, "no echo"
    assert verifies(cli.sql("SELECT pw_hash FROM users")[0][0], "tty secret")
    rc, out = run_on_tty(cli, ["user", "passwd", "alice"], ["one", "two"])
    assert rc == 1 and "passwords do not match" in out
    assert verifies(cli.sql("SELECT pw_hash FROM users")[0][0], "tty secret")
