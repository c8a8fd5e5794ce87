# SPDX-License-Identifier: MIT
"""A three-node MariaDB Galera cluster on loopback for the tests (tests/galera), built
beside the single server of mariadb.py. Also usable by hand: `python3 galera.py DIR`
runs one until Enter is pressed and prints how to connect.

The recipe (Debian 12: mariadb-server 10.11, galera-4 26.4, rsync; verified in
/work/shared/RECIPES-acme-galera.md §4):

  * one `mariadb-install-db --no-defaults --user=mysql` into a template datadir, copied
    to each node (the joiners' copies are replaced by the state transfer anyway);
  * node N (1..3) has its own directory DIR/nodeN (data/, tmp/, my.cnf, mysqld.sock,
    error.log) and its own ports, a block of 16 found free from GALERA_PORTS: SQL
    base+N, group communication (gcomm) base+4+N, IST base+8+N, SST (the joiner's
    rsync daemon) base+12+N;
  * the settings Galera needs (my.cnf below): wsrep_on, wsrep_provider =
    /usr/lib/galera/libgalera_smm.so, wsrep_cluster_address listing the three gcomm
    ports, the node's own gcomm address, gmcast.listen_addr and ist.recv_addr in
    wsrep_provider_options, wsrep_sst_receive_address, wsrep_sst_method = rsync,
    binlog_format = ROW, InnoDB, innodb_autoinc_lock_mode = 2; small and quick: a 32M
    buffer pool, 8M redo log, no performance_schema, a 16M gcache, no fsync per commit;
  * the servers read their settings with --defaults-file=nodeN/my.cnf, not
    --no-defaults: the SST script (wsrep_sst_rsync, run by mariadbd) reads the node's
    settings from that file with my_print_defaults;
  * they run as the mysql user (started as mysql, not switched by user=, so that the
    parent-death signal survives and a crashed test leaves no server behind): as root,
    the joiner's rsync daemon would switch to uid nobody, which can neither reach nor
    write a root-owned datadir; the scratch directory is made traversable (o+x);
  * node 1 is bootstrapped with --wsrep-new-cluster; nodes 2 and 3 then join with a
    full state transfer (rsync SST from a synced node; one at a time: the donor serves
    one joiner while the other waits);
  * ready when every node says wsrep_ready = ON, wsrep_cluster_size = 3 and
    wsrep_local_state_comment = Synced;
  * a node killed with -9 is restarted with `--wsrep-recover` first (it writes the
    recovered position to its error log), then with `--wsrep-start-position=<that>`: it
    rejoins by IST from a survivor's gcache instead of a full copy;
  * torn down by PID: every mariadbd started here (TERM, then KILL), and whatever the
    SST scripts left running in the node directories (the joiner's rsync daemon).

Timings on a loaded 2-core VM: ready 13-16 s after the start; after a kill -9 the
survivors' commits stall ~6 s (evs.suspect_timeout = 5 s, then the two-node view is
installed); the restart with IST takes 14-32 s. Root talks to every node over its unix
socket (unix_socket authentication); the application user of mariadb.py (USER,
PASSWORD) may use every database named ddns_* and is created once (replicated)."""

from __future__ import annotations

import ctypes
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import mariadb
from mariadb import PASSWORD, SERVER, USER

PROVIDER = "/usr/lib/galera/libgalera_smm.so"
GALERA_PORTS = range(13400, 13800, 16)   # blocks of 16 ports (this suite's range)
NODES = 3
READY_TIMEOUT = 180.0   # a node until Synced (an SST on a loaded machine: 10-30 s)
STOP_TIMEOUT = 60.0
PR_SET_PDEATHSIG = 1


def available() -> bool:
    return (mariadb.available() and Path(PROVIDER).exists() and shutil.which("rsync")
            is not None)


def _port_block_free(base: int) -> bool:
    return all(mariadb._port_free(base + i) for i in range(16))


def free_port_block() -> int:
    for base in GALERA_PORTS:
        if _port_block_free(base):
            return base
    raise RuntimeError(f"no free block of 16 ports in {GALERA_PORTS.start}-"
                       f"{GALERA_PORTS.stop}")


def _server_user() -> tuple[int, int] | None:
    """(uid, gid) the servers run as: mysql when we are root, else ourselves (None)."""
    if os.getuid() != 0:
        return None
    pw = pwd.getpwnam("mysql")
    return pw.pw_uid, pw.pw_gid


def _as_server_user(ids: tuple[int, int] | None):
    """preexec_fn: drop to the server user, then die with the test process."""
    def run() -> None:
        if ids is not None:
            os.setgroups([])
            os.setgid(ids[1])
            os.setuid(ids[0])
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    return run


def _chown_tree(path: Path, ids: tuple[int, int] | None) -> None:
    if ids is None:
        return
    for root, dirs, files in os.walk(path):
        os.chown(root, *ids)
        for name in dirs + files:
            os.lchown(os.path.join(root, name), *ids)


def _parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[1])


class GaleraNode(mariadb.MariaDB):
    """One node of the cluster: the SQL helpers of mariadb.MariaDB (root over the
    socket) with Galera's start, kill -9, recovery and status."""

    def __init__(self, cluster: "GaleraCluster", n: int):
        super().__init__(cluster.dir / f"node{n}", port=cluster.base + n)
        self.cluster = cluster
        self.n = n
        self.gcomm = cluster.base + 4 + n
        self.ist = cluster.base + 8 + n
        self.sst = cluster.base + 12 + n
        self.cnf = self.dir / "my.cnf"
        self._users_made = True   # created once on the cluster (replicated)

    def write_config(self) -> None:
        c = self.cluster
        peers = ",".join(f"127.0.0.1:{node.gcomm}" for node in c.nodes)
        provider_opts = ";".join([
            f"gmcast.listen_addr=tcp://127.0.0.1:{self.gcomm}",
            f"ist.recv_addr=127.0.0.1:{self.ist}", "gcache.size=16M",
            f"base_dir={self.data}"])
        self.cnf.write_text(f"""[mysqld]
datadir={self.data}
socket={self.socket}
pid-file={self.dir / 'mysqld.pid'}
tmpdir={self.dir / 'tmp'}
log-error={self.dir / 'error.log'}
port={self.port}
bind-address=127.0.0.1
skip-name-resolve
# small and quick: durability is not what the tests are about
innodb_buffer_pool_size=32M
innodb_log_file_size=8M
innodb_flush_log_at_trx_commit=0
innodb_doublewrite=0
sync_binlog=0
performance_schema=OFF
# what Galera needs
binlog_format=ROW
default_storage_engine=InnoDB
innodb_autoinc_lock_mode=2
wsrep_on=ON
wsrep_provider={PROVIDER}
wsrep_cluster_name=ddns-test-{c.base}
wsrep_cluster_address=gcomm://{peers}
wsrep_node_name=node{self.n}
wsrep_node_address=127.0.0.1:{self.gcomm}
wsrep_provider_options="{provider_opts}"
wsrep_sst_method=rsync
wsrep_sst_receive_address=127.0.0.1:{self.sst}
""")

    def install(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "tmp").mkdir(exist_ok=True)
        if not self.data.exists():
            shutil.copytree(self.cluster.template, self.data, symlinks=True)
        self.write_config()
        _chown_tree(self.dir, self.cluster.ids)

    def start(self, new_cluster: bool = False, position: str | None = None,
              wait: bool = True) -> "GaleraNode":
        if not self.data.exists():
            self.install()
        args = [SERVER, f"--defaults-file={self.cnf}"]
        if new_cluster:
            args.append("--wsrep-new-cluster")
        if position:
            args.append(f"--wsrep-start-position={position}")
        log = open(self.dir / "stdout.log", "ab")
        try:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT,
                                         preexec_fn=_as_server_user(self.cluster.ids))
        finally:
            log.close()
        if wait:
            self.wait_synced()
        return self

    def status(self) -> dict[str, str]:
        """SHOW GLOBAL STATUS LIKE 'wsrep%' as a dict; {} when the node does not answer."""
        try:
            rows = self.sql("SHOW GLOBAL STATUS LIKE 'wsrep%'")
        except (RuntimeError, subprocess.TimeoutExpired):
            return {}
        return {r[0]: r[1] for r in rows if len(r) == 2}

    def synced(self, size: int = NODES) -> bool:
        s = self.status()
        return (s.get("wsrep_ready") == "ON" and s.get("wsrep_cluster_size") == str(size)
                and s.get("wsrep_local_state_comment") == "Synced")

    def wait_synced(self, size: int = NODES, timeout: float = READY_TIMEOUT) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"node{self.n} exited with {self.proc.returncode}:\n"
                                   f"{self.error_log()[-4000:]}")
            if self.synced(size):
                return
            time.sleep(0.2)
        raise RuntimeError(f"node{self.n} not synced in a cluster of {size} after "
                           f"{timeout} s: {self.status()}\n{self.error_log()[-4000:]}")

    def kill(self) -> None:
        """kill -9: no shutdown, no goodbye to the group."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def recover(self) -> str:
        """`mariadbd --wsrep-recover`: the last committed position (uuid:seqno) of a
        node that was killed, for --wsrep-start-position (then it rejoins by IST)."""
        mark = len(self.error_log())
        subprocess.run([SERVER, f"--defaults-file={self.cnf}", "--wsrep-recover"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=STOP_TIMEOUT,
                       preexec_fn=_as_server_user(self.cluster.ids), check=True)
        found = re.findall(r"WSREP: Recovered position: (\S+:-?\d+)",
                           self.error_log()[mark:])
        if not found:
            raise RuntimeError(f"node{self.n}: --wsrep-recover found no position:\n"
                               f"{self.error_log()[mark:][-3000:]}")
        return found[-1]

    def rejoin(self, wait: bool = True) -> "GaleraNode":
        """Restarts a killed node at its recovered position."""
        return self.start(position=self.recover(), wait=wait)

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

    def config(self, database: str, socket_path: bool = False) -> dict:
        """The [database] section of a daemon that talks to this node."""
        return super().config(database, socket_path)


class GaleraCluster:
    """Three GaleraNodes in `workdir` (a fresh directory is made when None)."""

    def __init__(self, workdir: Path | None = None):
        self.ids = _server_user()
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="ddns-galera-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self._traversable(self.dir)
        self.base = free_port_block()
        self.template = self.dir / "template"
        self.nodes = [GaleraNode(self, n) for n in range(1, NODES + 1)]
        self._n = 0

    @staticmethod
    def _traversable(path: Path) -> None:
        """The server user must reach its directory: o+x on the path down to it."""
        for p in [path, *path.parents]:
            mode = p.stat().st_mode
            if not mode & 0o001:
                os.chmod(p, mode | 0o001)

    def install(self) -> None:
        if self.template.exists():
            return
        self.template.mkdir()
        _chown_tree(self.template, self.ids)
        user = ["--user=mysql"] if self.ids else []
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={self.template}",
                        *user, "--auth-root-authentication-method=socket", "--skip-test-db"],
                       check=True, capture_output=True, timeout=120)

    def start(self) -> "GaleraCluster":
        """Bootstraps node 1, then joins 2 and 3; returns when all three are Synced."""
        self.install()
        for node in self.nodes:
            node.install()
        try:
            self.nodes[0].start(new_cluster=True, wait=False)
            self.nodes[0].wait_synced(size=1)
            for node in self.nodes[1:]:
                node.start(wait=False)
                node.wait_synced(size=node.n)
            for node in self.nodes:
                node.wait_synced()
            self.nodes[0].sql(
                f"CREATE USER IF NOT EXISTS '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}';"
                f" CREATE USER IF NOT EXISTS '{USER}'@'localhost' IDENTIFIED BY "
                f"'{PASSWORD}'; GRANT ALL ON `ddns\\_%`.* TO '{USER}'@'127.0.0.1', "
                f"'{USER}'@'localhost';")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stops every node (by PID) and what the SST scripts left behind."""
        for node in reversed(self.nodes):
            node.stop()
        self._kill_leftovers()

    def _kill_leftovers(self) -> None:
        """Processes still running with one of our node directories on their command
        line (an SST script's rsync daemon: descendants of the servers started here),
        never this process or its ancestors."""
        keep, pid = set(), os.getpid()
        while pid > 1:
            keep.add(pid)
            pid = _parent(pid)
        marks = [f"{node.dir}/" for node in self.nodes]
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) in keep:
                continue
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                    errors="replace")
            except OSError:
                continue
            if any(m in cmd for m in marks):
                try:
                    os.kill(int(entry.name), signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def wait_synced(self, timeout: float = READY_TIMEOUT) -> None:
        for node in self.nodes:
            node.wait_synced(timeout=timeout)

    def create_database(self, name: str | None = None) -> str:
        """A fresh, empty database ddns_<n>, made on node 1 (replicated to all)."""
        self._n += 1
        name = name or f"ddns_g{os.getpid()}_{self._n}"
        self.nodes[0].sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        return name

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


if __name__ == "__main__":
    import sys

    t0 = time.monotonic()
    c = GaleraCluster(Path(sys.argv[1]) if len(sys.argv) > 1 else None).start()
    db = c.create_database("ddns_demo")
    print(f"cluster ready in {time.monotonic() - t0:.1f} s in {c.dir}; database {db}, user "
          f"{USER} password {PASSWORD}; SQL ports "
          f"{', '.join(str(n.port) for n in c.nodes)} on 127.0.0.1. Enter stops it.")
    try:
        input()
    finally:
        c.stop()
