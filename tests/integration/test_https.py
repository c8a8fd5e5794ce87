# SPDX-License-Identifier: MIT
"""HTTPS: a self-signed certificate (openssl), TLS 1.2 or newer, verified by the
client; a bad certificate or a key that does not match is refused at start-up."""

from __future__ import annotations

import http.client
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from helpers import http_get, uid  # noqa: E402

Z = "dyn.example.com"
ALICE = ("alice", "pw-alice")


def make_cert(d: Path, name: str = "") -> tuple[str, str]:
    cert, key = d / f"cert{name}.pem", d / f"key{name}.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"],
                   check=True, capture_output=True, timeout=60)
    key.chmod(0o600)
    return str(cert), str(key)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_cert(tmp_path_factory.mktemp("tls"))


def test_https_update(make_daemon, bind, certs):
    cert, key = certs
    d = make_daemon(users={"alice": ALICE[1]}, listen_host="localhost",
                    config={"daemon": {"ssl": True, "ssl_cert_file": cert,
                                       "ssl_key_file": key}})
    d.ca = cert
    label = uid()
    d.add_host("alice", label, Z)
    fqdn = f"{label}.{Z}"
    r = d.get(f"/update?hostname={fqdn}&myip=192.0.2.60", auth=ALICE)
    assert (r.status, r.text) == (200, "good 192.0.2.60\n")
    assert bind.query(fqdn, "A") == ["192.0.2.60"]
    # curl, verifying the certificate, over IPv6 and by name.
    for hostpart in (f"[::1]:{d.port}", f"localhost:{d.port}"):
        out = subprocess.run(["curl", "-sS", "--cacert", cert, "-u", "alice:pw-alice",
                              f"https://{hostpart}/update?hostname={fqdn}&myip=192.0.2.61"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout in ("good 192.0.2.61\n", "nochg 192.0.2.61\n")
    assert bind.query(fqdn, "A") == ["192.0.2.61"]
    # TLS 1.2 is still accepted; the negotiated version is never below it.
    ctx = ssl.create_default_context(cafile=cert)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    conn = http.client.HTTPSConnection("127.0.0.1", d.port, timeout=30, context=ctx)
    conn.request("GET", "/nope")
    assert conn.sock.version() == "TLSv1.2"
    assert conn.getresponse().status == 404
    conn.close()
    # Plain HTTP to the HTTPS port gets no DynDNS answer.
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        http_get("127.0.0.1", d.port, "/update")


def test_bad_certificate_is_refused(make_daemon, tmp_path, certs):
    cert, key = certs
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
                       "-----END CERTIFICATE-----\n")
    _, other_key = make_cert(tmp_path, "-other")
    for c, k in ((str(garbage), key), (cert, other_key)):
        d = make_daemon(users={}, start=False,
                        config={"daemon": {"ssl": True, "ssl_cert_file": c, "ssl_key_file": k}})
        d.start(wait=False)
        assert d.wait_exit() == 1
        assert "not a usable certificate and key" in d.log(), d.log()
