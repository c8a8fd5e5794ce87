# SPDX-License-Identifier: MIT
"""ACME DNS-01 through the daemon (issue 14). First lego's httpreq API request by
request against the real binary and a real BIND: every reply, what named serves
afterwards, and the challenge values the database records. Then real certificates:
pebble (the ACME test CA, validating against the same BIND), lego 4.9 with
`--dns httpreq` and certbot with files/acme-hook.sh each issue one certificate for a
host and its wildcard through the daemon; and the same tools fail, leaving DNS as it
was, with another user's credentials, a wrong password and a name that is not
_acme-challenge.<host>."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import dns.message
import dns.query
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import pebble  # noqa: E402
from helpers import ROOT, uid  # noqa: E402

Z = "dyn.example.com"
ALICE = ("alice", "pw-alice")
BOB = ("bob", "pw b:ob")
HOOK = ROOT / "files" / "acme-hook.sh"
TOOL_TIMEOUT = 120  # seconds for one lego or certbot run (ASan daemon, loaded CI)


@pytest.fixture(scope="module")
def d(module_daemons):
    """One daemon with the ACME API on, for the request-level tests. Its own expiry
    passes are a day apart: test_values_left_behind_expire runs the pass itself
    (`cleanup`), and a pass of the daemon's in between would take its work away."""
    return module_daemons(users={"alice": ALICE[1], "bob": BOB[1]},
                          config={"acme": {"enabled": True},
                                  "dns_service": {"cleanup_interval": 86400}})


def host(d, user="alice", label=None):
    """A fresh host of `user` in Z: its fqdn."""
    label = label or uid()
    d.add_host(user, label, Z)
    return f"{label}.{Z}"


def value() -> str:
    """A value as ACME makes them: 43 characters of base64url."""
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


def post(d, op: str, body, auth=ALICE, headers=None, path="/acme"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    h = {"Content-Type": "application/json", **(headers or {})}
    return d.get(f"{path}/{op}", auth=auth, method="POST", body=data, headers=h)


def present(d, fqdn, v, **kw):
    return post(d, "present", {"fqdn": f"_acme-challenge.{fqdn}.", "value": v}, **kw)


def cleanup(d, fqdn, v, **kw):
    return post(d, "cleanup", {"fqdn": f"_acme-challenge.{fqdn}.", "value": v}, **kw)


def txt(bind, fqdn) -> list[str]:
    """The TXT values named serves at the host's challenge name, sorted."""
    return sorted(v.strip('"') for v in bind.query(f"_acme-challenge.{fqdn}", "TXT", tcp=True))


def stored(d, fqdn) -> list[str]:
    """The challenge values the database records for the host, sorted."""
    rows = d.sql("SELECT a.value FROM acme_challenges a JOIN hostnames h"
                 " ON h.id = a.host_id WHERE h.fqdn = ? ORDER BY a.value", (fqdn,))
    return [r["value"] for r in rows]


def ok_reply(r, op, fqdn):
    assert r.status == 200, r
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"status": "ok", "action": op, "fqdn": f"_acme-challenge.{fqdn}"}


# --- the API, request by request ---------------------------------------------------------
def test_two_values_coexist_and_each_is_cleaned_up(d, bind):
    """A name and its wildcard: two values at one name; present adds, cleanup deletes
    exactly its value; both idempotent; the database follows DNS."""
    fqdn, v1, v2 = host(d), value(), value()
    ok_reply(present(d, fqdn, v1), "present", fqdn)
    ok_reply(present(d, fqdn, v2), "present", fqdn)
    assert txt(bind, fqdn) == sorted([v1, v2])
    assert stored(d, fqdn) == sorted([v1, v2])
    assert bind.query(f"_acme-challenge.{fqdn}", "TXT") and \
        bind.query(fqdn, "A") == [], "the host's own records are not touched"
    ok_reply(present(d, fqdn, v1), "present", fqdn)
    assert txt(bind, fqdn) == sorted([v1, v2]), "present again adds nothing"
    ok_reply(cleanup(d, fqdn, v1), "cleanup", fqdn)
    assert txt(bind, fqdn) == [v2]
    assert stored(d, fqdn) == [v2]
    ok_reply(cleanup(d, fqdn, v1), "cleanup", fqdn)
    assert txt(bind, fqdn) == [v2], "cleanup again deletes nothing else"
    ok_reply(cleanup(d, fqdn, v2), "cleanup", fqdn)
    assert txt(bind, fqdn) == []
    assert stored(d, fqdn) == []
    log = d.log()
    assert f"acme: _acme-challenge.{fqdn}: TXT value added by alice" in log
    assert v1 not in log and ALICE[1] not in log


def test_ttl_and_a_record_of_the_host_survive(d, bind):
    fqdn, v = host(d), value()
    r = d.get(f"/update?hostname={fqdn}&myip=192.0.2.44", auth=ALICE)
    assert r.text == "good 192.0.2.44\n"
    ok_reply(present(d, fqdn, v), "present", fqdn)
    msg = dns.message.make_query(f"_acme-challenge.{fqdn}", "TXT")
    reply = dns.query.udp(msg, bind.address, port=bind.port, timeout=2)
    assert reply.answer and reply.answer[0].ttl == 60, "acme.txt_ttl is the TTL"
    assert bind.query(fqdn, "A") == ["192.0.2.44"]
    ok_reply(cleanup(d, fqdn, v), "cleanup", fqdn)
    assert bind.query(fqdn, "A") == ["192.0.2.44"]


def test_name_forms(d, bind):
    """Trailing dot optional, any case, IDN as in updates; the path may end in '/'."""
    label = uid()
    host(d, label=f"b\u00fccher-{label}")
    rows = d.sql("SELECT fqdn FROM hostnames WHERE fqdn LIKE ?", (f"xn--%{label}%",))
    assert len(rows) == 1, rows
    afqdn = rows[0]["fqdn"]
    v1, v2 = value(), value()
    r = post(d, "present", {"fqdn": f"_ACME-Challenge.B\u00dcCHER-{label.upper()}.{Z.upper()}",
                            "value": v1})
    ok_reply(r, "present", afqdn)
    r = post(d, "present", {"fqdn": f"_acme-challenge.{afqdn}", "value": v2})
    ok_reply(r, "present", afqdn)
    assert txt(bind, afqdn) == sorted([v1, v2])
    for v in (v1, v2):
        ok_reply(cleanup(d, afqdn, v), "cleanup", afqdn)
    assert txt(bind, afqdn) == [] and stored(d, afqdn) == []


def test_raw_mode(d, bind):
    """lego's HTTPREQ_MODE=RAW: the server computes the name and the value."""
    fqdn = host(d)
    key_auth = f"{value()}.{value()}"
    want = base64.urlsafe_b64encode(hashlib.sha256(key_auth.encode()).digest()) \
        .rstrip(b"=").decode()
    body = {"domain": f"*.{fqdn}", "token": key_auth.split(".")[0], "keyAuth": key_auth}
    ok_reply(post(d, "present", body), "present", fqdn)
    assert txt(bind, fqdn) == [want]
    ok_reply(post(d, "cleanup", body), "cleanup", fqdn)
    assert txt(bind, fqdn) == [] and stored(d, fqdn) == []


def test_other_users_host_and_other_names_are_forbidden(d, bind):
    """403 and nothing written: bob's host, a name below the host's challenge name, the
    host's own name, a host that does not exist. (Names that are not challenge names at
    all are refused by the same rule: tests/unit/test_acme.c.)"""
    mine, bobs = host(d), host(d, user="bob")
    serial = bind.soa_serial(Z)
    for op, name in (("present", f"_acme-challenge.{bobs}."),
                     ("cleanup", f"_acme-challenge.{bobs}"),
                     ("present", f"_acme-challenge.www.{mine}."), ("present", f"{mine}."),
                     ("present", f"_acme-challenge.nope-{uid()}.{Z}")):
        r = post(d, op, {"fqdn": name, "value": value()})
        assert r.status == 403, (name, r)
        assert r.json() == {"status": "error", "error":
                            "fqdn must be _acme-challenge.<host> for a host of yours"}
    assert bind.soa_serial(Z) == serial, "nothing was written to the zone"
    assert stored(d, mine) == [] and stored(d, bobs) == []
    assert "acme: user alice: refused _acme-challenge.www." in d.log()
    v = value()
    ok_reply(present(d, bobs, v, auth=BOB), "present", bobs)
    assert cleanup(d, bobs, v).status == 403, "alice cannot clean up bob's value"
    assert txt(bind, bobs) == [v]
    ok_reply(cleanup(d, bobs, v, auth=BOB), "cleanup", bobs)


def test_bad_bodies(d, bind):
    fqdn = host(d)
    name = f"_acme-challenge.{fqdn}"
    serial = bind.soa_serial(Z)
    cases = [
        (b"", "the body is not JSON"),
        (b"fqdn=x&value=y", "the body is not JSON"),
        (b'["x"]', "the body is not a JSON object"),
        (json.dumps({"fqdn": name}).encode(), '"fqdn" and "value" must be strings'),
        (json.dumps({"fqdn": name, "value": 7}).encode(), '"fqdn" and "value" must be strings'),
        (json.dumps({"fqdn": name, "value": ""}).encode(), "printable ASCII"),
        (json.dumps({"fqdn": name, "value": 'a"b'}).encode(), "printable ASCII"),
        (json.dumps({"fqdn": name, "value": "a\\b"}).encode(), "printable ASCII"),
        (json.dumps({"fqdn": name, "value": "x" * 256}).encode(), "printable ASCII"),
        (json.dumps({"fqdn": name, "value": "caf\u00e9"}).encode(), "printable ASCII"),
        (json.dumps({"domain": fqdn}).encode(), '"domain" and "keyAuth" must be strings'),
        (json.dumps({"name": name, "value": "v"}).encode(), "expected"),
    ]
    for body, why in cases:
        r = post(d, "present", body)
        assert r.status == 400, (body, r)
        assert why in r.json()["error"], (body, r)
    r = post(d, "present", {"fqdn": name, "value": "x" * 255})
    assert r.status == 200, "255 characters are a value"
    assert txt(bind, fqdn) == ["x" * 255]
    assert post(d, "cleanup", {"fqdn": name, "value": "x" * 255}).status == 200
    assert bind.soa_serial(Z) == serial + 2, "only the two good requests changed the zone"


def test_credentials(d, bind):
    fqdn = host(d)
    body = {"fqdn": f"_acme-challenge.{fqdn}", "value": value()}
    r = post(d, "present", body, auth=None)
    assert r.status == 401 and r.headers["www-authenticate"] == 'Basic realm="ddns"'
    assert r.json() == {"status": "error", "error": "credentials required"}
    for auth in (("alice", "wrong"), ("nobody", "pw"), ("alice", ""), ("", "pw-alice")):
        r = post(d, "present", body, auth=auth)
        assert r.status == 401, (auth, r)
        assert r.headers["www-authenticate"] == 'Basic realm="ddns"'
    r = d.get(f"/acme/present?username=alice&password={ALICE[1]}", method="POST",
              body=json.dumps(body).encode())
    assert r.status == 401, "credentials only as HTTP Basic"
    assert txt(bind, fqdn) == [] and stored(d, fqdn) == []
    assert "wrong" not in d.log()


def test_http_edges(d):
    """Only POST to <path>/present and <path>/cleanup; a body past 4096 bytes is refused
    before it is read; the update endpoint stays GET only."""
    fqdn = host(d)
    body = {"fqdn": f"_acme-challenge.{fqdn}", "value": value()}
    r = post(d, "present", json.dumps(body).encode() + b" " * 5000)
    assert r.status == 413
    assert d.get("/acme/present", auth=ALICE).status == 404
    assert post(d, "remove", body).status == 405
    assert post(d, "present", body, path="/acme/x").status == 405
    assert d.get(f"/update?hostname={fqdn}", auth=ALICE, method="POST").status == 405


def test_chunked_body_past_the_limit_closes_the_connection(d):
    s = socket.create_connection((d.host, d.port), timeout=10)
    try:
        auth = base64.b64encode(f"{ALICE[0]}:{ALICE[1]}".encode()).decode()
        s.sendall(b"POST /acme/present HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                  b"Authorization: Basic " + auth.encode() + b"\r\n\r\n")
        chunk = b"x" * 1000
        try:
            for _ in range(8):
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            pass
        data = s.recv(4096)
    except ConnectionResetError:
        data = b""
    finally:
        s.close()
    assert data == b"" or b" 200 " not in data.split(b"\r\n")[0], data[:200]


def test_values_per_host_are_bounded(d, bind):
    """At most 10 values per host: nine recorded beforehand (straight into the
    database), the tenth is taken, the eleventh refused, one it holds comes again."""
    fqdn = host(d)
    (row,) = d.sql("SELECT id FROM hostnames WHERE fqdn = ?", (fqdn,))
    held = [value() for _ in range(9)]
    for v in held:
        d.sql("INSERT INTO acme_challenges (host_id, value, created) VALUES (?, ?, ?)",
              (row["id"], v, int(time.time())))
    tenth = value()
    ok_reply(present(d, fqdn, tenth), "present", fqdn)
    r = present(d, fqdn, value())
    assert r.status == 409, r
    assert r.json()["error"] == "the host holds 10 challenge values already; clean up first"
    ok_reply(present(d, fqdn, held[0]), "present", fqdn)
    assert txt(bind, fqdn) == sorted([tenth, held[0]])
    assert len(stored(d, fqdn)) == 10
    for v in (tenth, held[0]):
        ok_reply(cleanup(d, fqdn, v), "cleanup", fqdn)
    d.sql("DELETE FROM acme_challenges WHERE host_id = ?", (row["id"],))
    assert txt(bind, fqdn) == []


def test_hostname_delete_removes_the_values(d, bind):
    fqdn = host(d)
    v1, v2 = value(), value()
    assert present(d, fqdn, v1).status == 200 and present(d, fqdn, v2).status == 200
    (row,) = d.sql("SELECT id FROM hostnames WHERE fqdn = ?", (fqdn,))
    d.cli("hostname", "delete", fqdn.split(".")[0], Z)
    assert txt(bind, fqdn) == []
    assert d.sql("SELECT count(*) AS n FROM acme_challenges WHERE host_id = ?",
                 (row["id"],))[0]["n"] == 0


def test_values_left_behind_expire(d, bind):
    """A client that never cleans up: the expiry pass (here `cleanup`) deletes values
    older than max_age (3600 s by default), and only those."""
    fqdn = host(d)
    old, new = value(), value()
    assert present(d, fqdn, old).status == 200 and present(d, fqdn, new).status == 200
    d.sql("UPDATE acme_challenges SET created = created - 3600 WHERE value = ?", (old,))
    r = d.cli("cleanup")
    assert f"expired _acme-challenge.{fqdn} TXT" in r.stdout
    assert txt(bind, fqdn) == [new]
    assert stored(d, fqdn) == [new]
    assert cleanup(d, fqdn, new).status == 200


def hook(d, *args, env=None, conf: Path | None = None):
    e = {k: v for k, v in os.environ.items() if not k.startswith(("DDNS_ACME_", "CERTBOT_"))}
    e["DDNS_ACME_CONFIG"] = str(conf) if conf else "/nonexistent"
    e.update(env or {})
    return subprocess.run([str(HOOK), *args], env=e, capture_output=True, text=True,
                          timeout=60)


def test_hook_script(d, bind, tmp_path):
    """files/acme-hook.sh as dehydrated calls it (settings from its file, two challenges
    in one call), its errors, and certbot's variables without an operation."""
    fqdn = host(d)
    v1, v2 = value(), value()
    conf = tmp_path / "hook.conf"
    conf.write_text(f"DDNS_ACME_URL=http://{d.host}:{d.port}/acme/\nDDNS_ACME_USER=alice\n"
                    f"DDNS_ACME_PASSWORD={ALICE[1]}\n")
    r = hook(d, "deploy_challenge", fqdn, "tok1", v1, f"*.{fqdn}", "tok2", v2, conf=conf)
    assert r.returncode == 0, r.stdout + r.stderr
    assert txt(bind, fqdn) == sorted([v1, v2])
    assert hook(d, "deploy_cert", fqdn, "k", "c", "f", "ch", "t", conf=conf).returncode == 0
    r = hook(d, "clean_challenge", fqdn, "tok1", v1, f"*.{fqdn}", "tok2", v2, conf=conf)
    assert r.returncode == 0, r.stdout + r.stderr
    assert txt(bind, fqdn) == [] and stored(d, fqdn) == []
    certbot_env = {"CERTBOT_DOMAIN": fqdn, "CERTBOT_VALIDATION": v1}
    r = hook(d, "present", conf=conf,
             env={**certbot_env, "DDNS_ACME_PASSWORD": "wrong"})
    assert r.returncode == 1 and "wrong user name or password" in r.stdout, r
    assert "present for" in r.stderr and "wrong" not in r.stderr
    r = hook(d, env=certbot_env, conf=conf)
    assert r.returncode == 2 and "usage" in r.stderr, r
    r = hook(d, "present", env=certbot_env)
    assert r.returncode == 2 and "DDNS_ACME_URL" in r.stderr, r
    r = hook(d, "present", env={"CERTBOT_DOMAIN": "a b", "CERTBOT_VALIDATION": v1}, conf=conf)
    assert r.returncode == 2 and "not a domain name" in r.stderr, r
    assert txt(bind, fqdn) == []


# --- daemons of their own -----------------------------------------------------------------
def test_off_by_default(make_daemon, bind):
    dd = make_daemon(users={"alice": ALICE[1]}, hosts=[("alice", "off", Z)])
    r = present(dd, f"off.{Z}", value())
    assert r.status == 405
    assert txt(bind, f"off.{Z}") == []


@pytest.mark.backends("sqlite", "mariadb")
def test_both_backends_and_another_path(make_daemon, bind):
    label = uid()
    dd = make_daemon(users={"alice": ALICE[1]}, hosts=[("alice", label, Z)],
                     config={"acme": {"enabled": True, "path": "/le/", "txt_ttl": 120}})
    fqdn, v1, v2 = f"{label}.{Z}", value(), value()
    assert present(dd, fqdn, v1).status == 405, "/acme is not the path any more"
    ok_reply(present(dd, fqdn, v1, path="/le"), "present", fqdn)
    ok_reply(present(dd, fqdn, v2, path="/le"), "present", fqdn)
    assert txt(bind, fqdn) == sorted([v1, v2])
    assert stored(dd, fqdn) == sorted([v1, v2])
    ok_reply(cleanup(dd, fqdn, v1, path="/le"), "cleanup", fqdn)
    ok_reply(cleanup(dd, fqdn, v2, path="/le"), "cleanup", fqdn)
    assert txt(bind, fqdn) == [] and stored(dd, fqdn) == []


def test_dns_failure_is_502_and_records_nothing(make_daemon, bind):
    label = uid()
    dd = make_daemon(users={"alice": ALICE[1]}, hosts=[("alice", label, Z)],
                     config={"acme": {"enabled": True}},
                     zone_keys={Z: bind.wrong_key_file(Z)})
    fqdn = f"{label}.{Z}"
    r = present(dd, fqdn, value())
    assert r.status == 502
    assert r.json() == {"status": "error", "error": "the DNS server answered NOTAUTH (BADSIG)"}
    assert stored(dd, fqdn) == [] and txt(bind, fqdn) == []
    assert "DNS update failed: NOTAUTH (BADSIG) from 127.0.0.1" in dd.log()


def test_rate_limit_as_for_updates(make_daemon, bind):
    """Refused requests count as bad ones; past the limit the answer is 429 without a
    password check or a DNS write."""
    label = uid()
    dd = make_daemon(users={"alice": ALICE[1]}, hosts=[("alice", label, Z)],
                     config={"acme": {"enabled": True},
                             "rate_limit": {"bad_max_requests": 2, "good_max_requests": 3}})
    fqdn = f"{label}.{Z}"
    assert present(dd, f"other.{Z}", value()).status == 403
    assert present(dd, fqdn, value(), auth=("alice", "wrong")).status == 401
    r = present(dd, fqdn, value())
    assert r.status == 429 and r.json()["error"] == "too many requests, try again later"
    assert txt(bind, fqdn) == []


# --- real ACME clients against pebble ------------------------------------------------------
@pytest.fixture(scope="module")
def ca(tmp_path_factory, bind):
    if not pebble.available():
        pytest.skip("pebble is not installed")
    srv = pebble.Pebble(tmp_path_factory.mktemp("pebble"), bind.port).start()
    yield srv
    srv.stop()


def journal(bind) -> list[tuple[str, str, str]]:
    """The zone's changes as BIND applied them: (add|del, owner, rdata), in order."""
    jnl = bind.workdir / f"{Z}.zone.jnl"
    out = subprocess.run(["named-journalprint", str(jnl)], capture_output=True, text=True,
                         check=True).stdout
    changes = []
    for line in out.splitlines():
        m = re.match(r"^(add|del) (\S+)\s+\d+\s+IN\s+TXT\s+(.*)$", line)
        if m:
            changes.append((m[1], m[2].rstrip(".").lower(), m[3].strip('"')))
    return changes


def most_at_once(bind, fqdn) -> set[str]:
    """The largest set of TXT values the host's challenge name held at one time."""
    name, now, best = f"_acme-challenge.{fqdn}", set(), set()
    for op, owner, v in journal(bind):
        if owner != name:
            continue
        if op == "add":
            now.add(v)
        else:
            now.discard(v)
        if len(now) > len(best):
            best = set(now)
    return best


def check_certificate(cert: Path, chain: Path, ca, fqdn, tmp_path):
    san = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-ext",
                          "subjectAltName"], capture_output=True, text=True, check=True).stdout
    assert sorted(re.findall(r"DNS:([^,\s]+)", san)) == sorted([fqdn, f"*.{fqdn}"]), san
    root = tmp_path / "root.pem"
    root.write_text(ca.root())
    r = subprocess.run(["openssl", "verify", "-CAfile", str(root), "-untrusted", str(chain),
                        str(cert)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip().endswith(": OK"), r.stdout + r.stderr


def lego(d, ca, bind, workdir: Path, domains, user, password):
    env = dict(os.environ, LEGO_CA_CERTIFICATES=ca.tls_ca,
               HTTPREQ_ENDPOINT=f"http://{d.host}:{d.port}/acme",
               HTTPREQ_USERNAME=user, HTTPREQ_PASSWORD=password,
               HTTPREQ_POLLING_INTERVAL="1", HTTPREQ_PROPAGATION_TIMEOUT="20",
               HTTPREQ_HTTP_TIMEOUT="30")
    args = ["lego", "--path", str(workdir), "--server", ca.directory,
            "--email", "alice@example.com", "--accept-tos", "--dns", "httpreq",
            "--dns.resolvers", f"127.0.0.1:{bind.port}", "--dns.disable-cp"]
    for dom in domains:
        args += ["--domains", dom]
    return subprocess.run(args + ["run"], env=env, capture_output=True, text=True,
                          timeout=TOOL_TIMEOUT)


def certbot(d, ca, workdir: Path, domains, user, password):
    """certbot as the README runs it: the hook's settings in its file."""
    workdir.mkdir(parents=True)
    conf = workdir / "ddns-acme-hook.conf"
    conf.write_text(f"DDNS_ACME_URL=http://{d.host}:{d.port}/acme\nDDNS_ACME_USER={user}\n"
                    f"DDNS_ACME_PASSWORD={password}\n")
    conf.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DDNS_ACME_")}
    env.update(REQUESTS_CA_BUNDLE=ca.tls_ca, DDNS_ACME_CONFIG=str(conf))
    args = ["certbot", "certonly", "--non-interactive", "--agree-tos",
            "-m", "alice@example.com", "--no-eff-email", "--server", ca.directory,
            "--config-dir", str(workdir / "config"), "--work-dir", str(workdir / "work"),
            "--logs-dir", str(workdir / "logs"), "--manual", "--preferred-challenges", "dns",
            "--manual-auth-hook", f"{HOOK} present", "--manual-cleanup-hook", f"{HOOK} cleanup",
            "--cert-name", "acme"]
    for dom in domains:
        args += ["-d", dom]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=TOOL_TIMEOUT)


@pytest.mark.skipif(shutil.which("lego") is None, reason="lego is not installed")
def test_lego_wildcard_certificate(d, bind, ca, tmp_path):
    fqdn = host(d)
    r = lego(d, ca, bind, tmp_path / "lego", [fqdn, f"*.{fqdn}"], *ALICE)
    assert r.returncode == 0, r.stdout + r.stderr
    certs = tmp_path / "lego" / "certificates"
    check_certificate(certs / f"{fqdn}.crt", certs / f"{fqdn}.issuer.crt", ca, fqdn, tmp_path)
    assert len(most_at_once(bind, fqdn)) == 2, "both values were served at the same time"
    assert txt(bind, fqdn) == [] and stored(d, fqdn) == [], "nothing is left"


@pytest.mark.skipif(shutil.which("certbot") is None, reason="certbot is not installed")
def test_certbot_wildcard_certificate(d, bind, ca, tmp_path):
    fqdn = host(d)
    r = certbot(d, ca, tmp_path / "cb", [fqdn, f"*.{fqdn}"], *ALICE)
    assert r.returncode == 0, r.stdout + r.stderr
    live = tmp_path / "cb" / "config" / "live" / "acme"
    check_certificate(live / "cert.pem", live / "chain.pem", ca, fqdn, tmp_path)
    assert len(most_at_once(bind, fqdn)) == 2, "both values were served at the same time"
    assert txt(bind, fqdn) == [] and stored(d, fqdn) == [], "nothing is left"


@pytest.mark.skipif(shutil.which("lego") is None or shutil.which("certbot") is None,
                    reason="lego or certbot is not installed")
def test_clients_fail_and_change_nothing(d, bind, ca, tmp_path):
    """Bob's credentials for alice's host, a wrong password, and a name that is not
    _acme-challenge.<host>: the client fails, the zone keeps its serial."""
    fqdn = host(d)
    serial = bind.soa_serial(Z)
    cases = [("bob", [fqdn], BOB, "403"), ("wrong", [fqdn], ("alice", "wrong"), "401"),
             ("www", [f"www.{fqdn}"], ALICE, "403")]
    for name, domains, auth, status in cases:
        r = lego(d, ca, bind, tmp_path / f"lego-{name}", domains, *auth)
        assert r.returncode != 0, (name, r.stdout + r.stderr)
        assert f"httpreq: {status}" in r.stdout + r.stderr, (name, r.stdout + r.stderr)
    r = certbot(d, ca, tmp_path / "cb-bob", [fqdn], *BOB)
    assert r.returncode != 0, r.stdout + r.stderr
    assert "fqdn must be _acme-challenge.<host> for a host of yours" in r.stdout + r.stderr
    assert bind.soa_serial(Z) == serial, "nothing was written to the zone"
    assert txt(bind, fqdn) == [] and txt(bind, f"www.{fqdn}") == []
    assert stored(d, fqdn) == []
