# SPDX-License-Identifier: MIT
"""A throwaway ACME CA for tests: Debian's `pebble` on loopback, validating DNS-01
challenges against one DNS server (`-dnsserver`), as /work/shared/RECIPES-acme-galera.md
section 1 sets it up: its own TLS certificate (Debian's pebble ships none), fresh
authorizations for every order (PEBBLE_AUTHZREUSE=0), no random sleeps or nonce
rejections (fast and deterministic).

    ca = Pebble(workdir, dns_port=5300).start()
    ca.directory      # https://127.0.0.1:PORT/dir
    ca.tls_ca         # the CA file of pebble's TLS certificate (for lego and certbot)
    ca.root()         # pebble's issuing root (new at every start), PEM
    ca.stop()
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from dnsserver import _die_with_parent  # noqa: E402
from helpers import free_port  # noqa: E402

PEBBLE = "/usr/bin/pebble"
PORTS = range(14000, 14400)   # pebble's listen and management ports
READY_TIMEOUT = 15.0          # seconds until the directory answers
STOP_TIMEOUT = 5.0


def available() -> bool:
    return os.access(PEBBLE, os.X_OK) and shutil.which("openssl") is not None


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_tls(d: Path) -> None:
    """ca.pem/ca.key, and cert.pem/key.pem for localhost, 127.0.0.1 and ::1 signed by it."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "30",
             "-subj", "/CN=ddns-service test ACME CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    _openssl("req", "-new", *ec, "-keyout", "key.pem", "-out", "tls.csr",
             "-subj", "/CN=localhost", cwd=d)
    (d / "tls.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n"
                               "basicConstraints=critical,CA:FALSE\n"
                               "keyUsage=critical,digitalSignature\n"
                               "extendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", "tls.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-set_serial", "0x" + os.urandom(8).hex(), "-days", "30", "-extfile", "tls.ext",
             "-out", "cert.pem", cwd=d)


class Pebble:
    def __init__(self, workdir: str | os.PathLike, dns_port: int, dns_host: str = "127.0.0.1"):
        self.workdir = Path(workdir).absolute()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.dns = f"{dns_host}:{dns_port}"
        self.port = self.mgmt_port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def directory(self) -> str:
        return f"https://127.0.0.1:{self.port}/dir"

    @property
    def tls_ca(self) -> str:
        return str(self.workdir / "ca.pem")

    @property
    def log_path(self) -> Path:
        return self.workdir / "pebble.log"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"

    def start(self) -> "Pebble":
        make_tls(self.workdir)
        self.port = free_port(PORTS)
        self.mgmt_port = self.port
        while self.mgmt_port == self.port:
            self.mgmt_port = free_port(PORTS)
        cfg = {"pebble": {
            "listenAddress": f"127.0.0.1:{self.port}",
            "managementListenAddress": f"127.0.0.1:{self.mgmt_port}",
            "certificate": str(self.workdir / "cert.pem"),
            "privateKey": str(self.workdir / "key.pem"),
            # HTTP-01 and TLS-ALPN-01 are not used; these are only where pebble would look.
            "httpPort": 5002, "tlsPort": 5001,
            "ocspResponderURL": "", "externalAccountBindingRequired": False}}
        (self.workdir / "pebble.json").write_text(json.dumps(cfg))
        env = dict(os.environ, PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT="0",
                   PEBBLE_AUTHZREUSE="0")
        env.pop("PEBBLE_VA_ALWAYS_VALID", None)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [PEBBLE, "-config", str(self.workdir / "pebble.json"), "-dnsserver", self.dns],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                cwd=self.workdir, preexec_fn=_die_with_parent)
        self._wait_ready()
        return self

    def _get(self, url: str, timeout: float = 2.0) -> bytes:
        ctx = ssl.create_default_context(cafile=self.tls_ca)
        with urllib.request.urlopen(url, timeout=timeout, context=ctx) as r:
            return r.read()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pebble exited with {self.proc.returncode}:\n{self.log()}")
            try:
                self._get(self.directory, timeout=0.5)
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"pebble did not answer within {READY_TIMEOUT} s:\n{self.log()}")

    def root(self) -> str:
        """The root that signs this run's certificates (PEM)."""
        return self._get(f"https://127.0.0.1:{self.mgmt_port}/roots/0").decode()

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
