# SPDX-License-Identifier: MIT
"""A throwaway mariadbd for the tests: its own datadir in a temp dir, loopback TCP on a
port of 13300-13399 plus a unix socket, no /etc/mysql (--no-defaults first), started
and stopped by the tests. Also usable by hand: `python3 mariadb.py DIR` runs one until
Enter is pressed and prints how to connect."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from dnsserver import _die_with_parent

MARIADB_PORTS = range(13300, 13400)
START_TIMEOUT = 30.0   # seconds until the server answers (install-db ~1 s, start ~0.5 s)
STOP_TIMEOUT = 30.0
USER, PASSWORD = "ddns", "ddns-test-pw"
SERVER = shutil.which("mariadbd") or ("/usr/sbin/mariadbd"
                                      if Path("/usr/sbin/mariadbd").exists() else None)


def available() -> bool:
    return SERVER is not None and shutil.which("mariadb-install-db") is not None


def _port_free(port: int) -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port() -> int:
    for p in MARIADB_PORTS:
        if _port_free(p):
            return p
    raise RuntimeError("no free port in 13300-13399")


class MariaDB:
    """One mariadbd. Root logs in over the socket (unix_socket auth: we are root); the
    application user USER/PASSWORD may use every database named ddns_*."""

    def __init__(self, workdir: Path, port: int | None = None):
        self.dir = Path(workdir)
        self.data = self.dir / "data"
        self.socket = str(self.dir / "mysqld.sock")
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self._n = 0
        self._users_made = False

    # --- life ---------------------------------------------------------------------------
    def install(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={self.data}",
                        "--user=root", "--auth-root-authentication-method=socket",
                        "--skip-test-db"], check=True, capture_output=True, timeout=120)

    def start(self) -> "MariaDB":
        if not self.data.exists():
            self.install()
        log = open(self.dir / "stdout.log", "ab")
        try:
            self.proc = subprocess.Popen(
                [SERVER, "--no-defaults", "--user=root", f"--datadir={self.data}",
                 f"--socket={self.socket}", f"--pid-file={self.dir / 'mysqld.pid'}",
                 "--bind-address=127.0.0.1", f"--port={self.port}", "--skip-name-resolve",
                 f"--log-error={self.dir / 'error.log'}", "--innodb-buffer-pool-size=64M",
                 "--innodb-log-file-size=16M", "--skip-log-bin", f"--tmpdir={self.dir}",
                 # Tests create a database each; durability is not what they test.
                 "--innodb-flush-log-at-trx-commit=2", "--sync-binlog=0",
                 "--innodb-doublewrite=0"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent)
        finally:
            log.close()
        self._wait_ready()
        if not self._users_made:
            self.sql(f"CREATE USER IF NOT EXISTS '{USER}'@'127.0.0.1' IDENTIFIED BY "
                     f"'{PASSWORD}'; CREATE USER IF NOT EXISTS '{USER}'@'localhost' "
                     f"IDENTIFIED BY '{PASSWORD}'; GRANT ALL ON `ddns\\_%`.* TO "
                     f"'{USER}'@'127.0.0.1', '{USER}'@'localhost';")
            self._users_made = True
        return self

    def _wait_ready(self) -> None:
        end = time.monotonic() + START_TIMEOUT
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mariadbd exited with {self.proc.returncode}:\n"
                                   f"{self.error_log()[-3000:]}")
            r = subprocess.run(["mariadb-admin", "--no-defaults", f"--socket={self.socket}",
                                "-uroot", "ping"], capture_output=True)
            if r.returncode == 0:
                return
            time.sleep(0.05)
        raise RuntimeError(f"mariadbd not ready after {START_TIMEOUT} s")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def error_log(self) -> str:
        try:
            return (self.dir / "error.log").read_text(errors="replace")
        except OSError:
            return ""

    # --- SQL ----------------------------------------------------------------------------
    def sql(self, text: str, database: str | None = None) -> list[list[str | None]]:
        """Runs SQL as root over the socket; the rows of the last result (tab-separated
        batch output, NULL → None)."""
        args = ["mariadb", "--no-defaults", f"--socket={self.socket}", "-uroot", "--batch",
                "--skip-column-names", "--raw"]
        if database:
            args.append(database)
        r = subprocess.run(args, input=text, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"mariadb: {r.stderr.strip()}\nSQL: {text}")
        return [[None if v == "NULL" else v for v in line.split("\t")]
                for line in r.stdout.splitlines()]

    def sql_with_names(self, text: str, database: str) -> list[dict]:
        """Runs SQL as root in `database`; the rows of the last result as dicts, integer
        texts as int, NULL as None."""
        args = ["mariadb", "--no-defaults", f"--socket={self.socket}", "-uroot", "--batch",
                "--raw", database]
        r = subprocess.run(args, input=text, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"mariadb: {r.stderr.strip()}\nSQL: {text}")
        lines = r.stdout.splitlines()
        if not lines:
            return []
        names = lines[0].split("\t")

        def value(v: str):
            if v == "NULL":
                return None
            return int(v) if v.lstrip("-").isdigit() else v

        return [dict(zip(names, map(value, line.split("\t")))) for line in lines[1:]]

    def create_database(self, name: str | None = None) -> str:
        """A fresh, empty database ddns_<n> (the application user may use it)."""
        self._n += 1
        name = name or f"ddns_t{os.getpid()}_{self._n}"
        self.sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        return name

    def config(self, database: str, socket_path: bool = False) -> dict:
        """The [database] section of a ddns-service config for `database`."""
        c = {"backend": "mariadb", "user": USER, "password": PASSWORD, "name": database}
        if socket_path:
            c["socket"] = self.socket
        else:
            c.update(host="127.0.0.1", port=self.port)
        return c


if __name__ == "__main__":
    import sys

    m = MariaDB(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/ddns-mariadb")).start()
    db = m.create_database("ddns_demo")
    print(f"mariadbd on 127.0.0.1:{m.port} and {m.socket}; database {db}, "
          f"user {USER} password {PASSWORD}. Enter stops it.")
    try:
        input()
    finally:
        m.stop()
