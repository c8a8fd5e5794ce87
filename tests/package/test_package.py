# SPDX-License-Identifier: MIT
"""The Debian package end to end on this machine, as an administrator uses it.

Builds the package from a copy of the tree (dpkg-buildpackage writes to the parent
directory, so the copy lives in a temporary directory and nothing lands beside the
checkout), lints it, installs it with `apt-get install ./...deb`, checks files, owners
and modes, runs the installed daemon as the user ddns against a real BIND for one
update, upgrades over itself and to a version with a changed example keeping the
edited configuration, removes (keeps the data) and purges (deletes it).

It changes the machine: it needs root, installs a system package and creates the
user ddns. So it skips, saying why, when it is not root, when dpkg stays locked, and
when ddns-service or any of its paths is already there (it would purge them). The
module fixture purges the package, and deletes the user if it made it, however the
tests end.

Run: sudo /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/package
(DDNS_TEST_BIND_PORT picks the port of its BIND.)"""

from __future__ import annotations

import fcntl
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from dnsserver import BindServer  # noqa: E402
from helpers import NAMED_PORTS, free_port, http_get  # noqa: E402

PKG = "ddns-service"
BIN = "/usr/bin/ddns-service"
UNIT = "/lib/systemd/system/ddns-service.service"
WANTS = "/etc/systemd/system/multi-user.target.wants/ddns-service.service"
CONF_DIR = Path("/etc/ddns-service")
CONF = CONF_DIR / "config.toml"
TEMPLATES = ("change_notification.j2", "expiry_notification.j2")
DATA_DIR = Path("/var/lib/ddns-service")
LOG_DIR = Path("/var/log/ddns-service")
DB = DATA_DIR / "ddns.db"
SHARE = Path("/usr/share/ddns-service")
EXAMPLES = Path("/usr/share/doc/ddns-service/examples")
# What the package owns or makes; any of it already present means an installation
# (from the package or the README's manual route) that the test must not purge.
FOOTPRINT = (BIN, UNIT, "/etc/systemd/system/ddns-service.service", CONF_DIR, DATA_DIR,
             LOG_DIR)
ZONE = "dyn.example.com"
DPKG_LOCK = "/var/lib/dpkg/lock-frontend"
LOCK_WAIT = 60.0        # seconds to wait for another apt/dpkg before skipping
APT_LOCK_TIMEOUT = 120  # seconds apt-get itself waits for the lock
BUILD_TIMEOUT = 900     # seconds for dpkg-buildpackage (2 cores shared)
START_TIMEOUT = 20.0    # seconds until the installed daemon listens
STOP_TIMEOUT = 20.0     # seconds between SIGTERM and its exit
TOOLS = ("dpkg-buildpackage", "dh", "lintian", "apt-get", "named", "tsig-keygen", "dig",
         "systemd-analyze", "runuser", "ucf")
UPGRADE_SUFFIX = "+pkgtest1"  # the Debian revision of the repacked "next version"


def run(*cmd: str, check: bool = True, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    """Runs cmd, output captured as text; a failure shows the command and its output."""
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        pytest.fail(f"{' '.join(cmd)}: exit {r.returncode}\n{r.stdout[-4000:]}\n"
                    f"{r.stderr[-4000:]}")
    return r


def apt_get(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    return run("apt-get", "-y", "-o", f"DPkg::Lock::Timeout={APT_LOCK_TIMEOUT}", *args,
               check=check, env=env, stdin=subprocess.DEVNULL)


def dpkg_status() -> str:
    """dpkg's status of the package ("" when dpkg never heard of it)."""
    r = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", PKG],
                       capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else ""


def dpkg_unlocked(wait: float) -> bool:
    """Whether the dpkg front-end lock can be taken within `wait` seconds (it is
    released at once: apt-get takes it for real)."""
    deadline = time.monotonic() + wait
    with open(DPKG_LOCK, "a") as f:
        while True:
            try:
                fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.lockf(f, fcntl.LOCK_UN)
                return True
            except OSError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(1)


def why_not() -> str | None:
    """The reason this machine is unfit for the test, or None."""
    if os.geteuid() != 0:
        return "needs root: it installs a system package and creates the user ddns"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return f"missing {', '.join(missing)} (scripts/setup-deps.sh installs them)"
    if dpkg_status() not in ("", "un"):
        return (f"{PKG} is known to dpkg here ({dpkg_status()}); the test would purge "
                f"it: dpkg --purge {PKG} first")
    present = [str(p) for p in FOOTPRINT if os.path.lexists(p)]
    if present:
        return f"{', '.join(present)} exist(s); the test would install over and purge them"
    if not dpkg_unlocked(LOCK_WAIT):
        return f"dpkg is locked ({DPKG_LOCK}) by another apt or dpkg"
    return None


def copy_tree(dest: Path) -> None:
    """The source tree as git sees it (tracked and new files, edits included, ignored
    files such as build directories left out) into dest."""
    dest.mkdir(parents=True)
    files = run("git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
                "--exclude-standard").stdout.split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if not src.exists() and not src.is_symlink():
            continue  # deleted in the work tree, not yet committed
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / name, follow_symlinks=False)


def changelog_version(src: Path) -> str:
    return run("dpkg-parsechangelog", "-l", str(src / "debian" / "changelog"),
               "-SVersion").stdout.strip()


def upstream_of(version: str) -> str:
    """The upstream part of a Debian version: no epoch, no Debian revision."""
    return version.split(":", 1)[-1].rsplit("-", 1)[0]


def mode_owner(path: Path) -> tuple[str, str, str]:
    st = os.stat(path)
    return (oct(stat.S_IMODE(st.st_mode)), pwd.getpwuid(st.st_uid).pw_name,
            grp.getgrgid(st.st_gid).gr_name)


def installed_daemons() -> list[int]:
    """Pids of processes running the installed binary (not a build tree's)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if os.readlink(d / "exe") == BIN:
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


class Machine:
    """What the test made on this machine, so that the fixture can undo it."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.user_existed = user_exists("ddns")
        self.bind: BindServer | None = None
        self.daemon: subprocess.Popen | None = None
        self.deb: Path | None = None
        self.version = ""
        self.edited: bytes = b""

    def undo(self) -> list[str]:
        errors = []
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.kill()
            self.daemon.wait()
        if self.bind is not None:
            self.bind.stop()
        if dpkg_status() not in ("", "un"):
            r = subprocess.run(["dpkg", "--purge", PKG], capture_output=True, text=True)
            if r.returncode != 0:
                errors.append(f"dpkg --purge {PKG}: {r.stdout}{r.stderr}")
        if not self.user_existed and user_exists("ddns"):
            subprocess.run(["userdel", "ddns"], capture_output=True)
            if group_exists("ddns"):
                subprocess.run(["groupdel", "ddns"], capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)
        return errors


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


@pytest.fixture(scope="module")
def machine():
    reason = why_not()
    if reason:
        pytest.skip(f"Debian package test: {reason}")
    tmp = Path(tempfile.mkdtemp(prefix="ddns-package-"))
    # apt's download user (_apt) reads the .deb from here.
    tmp.chmod(0o755)
    m = Machine(tmp)
    try:
        yield m
    finally:
        errors = m.undo()
        assert not errors, "\n".join(errors)


@pytest.fixture(scope="module")
def built(machine):
    """Builds source and binary packages from a copy of the tree: the .changes."""
    src = machine.tmp / "src"
    copy_tree(src)
    version = changelog_version(src)
    upstream = upstream_of(version)
    tree = machine.tmp / f"{PKG}-{upstream}"
    src.rename(tree)
    # 3.0 (quilt) needs the upstream tarball: the same tree without debian/.
    run("tar", "-C", str(machine.tmp), "--exclude", f"{tree.name}/debian", "-cJf",
        str(machine.tmp / f"{PKG}_{upstream}.orig.tar.xz"), tree.name)
    env = dict(os.environ, DEB_BUILD_OPTIONS="parallel=2")
    r = subprocess.run(["dpkg-buildpackage", "-us", "-uc"], cwd=tree, env=env,
                       capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    (machine.tmp / "build.log").write_text(r.stdout + r.stderr)
    if r.returncode != 0:
        pytest.fail(f"dpkg-buildpackage: exit {r.returncode}\n{(r.stdout + r.stderr)[-6000:]}")
    arch = run("dpkg", "--print-architecture").stdout.strip()
    noepoch = version.split(":", 1)[-1]
    machine.deb = machine.tmp / f"{PKG}_{noepoch}_{arch}.deb"
    machine.version = version
    assert machine.deb.is_file(), sorted(p.name for p in machine.tmp.iterdir())
    return machine.tmp / f"{PKG}_{noepoch}_{arch}.changes"


def test_build_and_lintian(built):
    """No lintian error or warning, on the source and the binary package; whatever an
    override hides is justified in debian/*lintian-overrides."""
    r = run("lintian", "-I", "--pedantic", "--fail-on", "error,warning", str(built),
            check=False, timeout=600)
    tags = [line for line in r.stdout.splitlines() if re.match(r"^[EWIPX]: ", line)]
    assert r.returncode == 0 and not tags, f"lintian (exit {r.returncode}):\n{r.stdout}{r.stderr}"


def test_install_says_enabled_not_started(machine, built):
    r = apt_get("install", str(machine.deb))
    assert dpkg_status() == "ii", r.stdout
    # The debconf-free word to the operator: what to edit, how to start.
    assert "enabled but NOT started" in r.stdout, r.stdout
    assert "systemctl start ddns-service" in r.stdout, r.stdout
    assert "runuser -u ddns -- ddns-service user add" in r.stdout, r.stdout


def test_files_owners_and_modes(machine, built):
    u = pwd.getpwnam("ddns")
    assert u.pw_uid < 1000 and u.pw_shell == "/usr/sbin/nologin", u
    assert u.pw_dir == str(DATA_DIR), u
    assert grp.getgrgid(u.pw_gid).gr_name == "ddns", u
    assert mode_owner(CONF_DIR) == ("0o750", "root", "ddns")
    assert mode_owner(DATA_DIR) == ("0o750", "ddns", "ddns")
    assert mode_owner(LOG_DIR) == ("0o770", "ddns", "ddns")
    assert mode_owner(CONF) == ("0o640", "root", "ddns")
    assert CONF.read_bytes() == (ROOT / "files" / "config.example.toml").read_bytes()
    for t in TEMPLATES:
        assert mode_owner(CONF_DIR / t) == ("0o640", "root", "ddns"), t
        assert (CONF_DIR / t).read_bytes() == (ROOT / "files" / t).read_bytes(), t
    # The example's paths are the package's directories: it works once DNS is set.
    text = CONF.read_text()
    assert f'path = "{DB}"' in text
    assert f'"{LOG_DIR}/ddns-service.log"' in text
    assert not DB.exists(), "the database is the daemon's to create"
    assert os.access(BIN, os.X_OK)
    assert Path("/usr/share/man/man8/ddns-service.8.gz").is_file()
    for f in ("config.example.toml", *TEMPLATES, "ddns-service-openrc.initd",
              "ddns-service-openrc.confd"):
        assert (EXAMPLES / f).read_bytes() == (ROOT / "files" / f).read_bytes(), f
        if not f.startswith("ddns-service-openrc"):
            assert (SHARE / f).read_bytes() == (ROOT / "files" / f).read_bytes(), f
    assert Path(UNIT).read_bytes() == (ROOT / "files" / "ddns-service.service").read_bytes()


def test_unit_enabled_not_started_and_verified(machine, built):
    assert os.readlink(WANTS) == UNIT
    assert installed_daemons() == []
    # No systemd as PID 1 here: check the installed unit offline. verify resolves
    # ExecStart= and the installed manual page (man:ddns-service(8)).
    man = [] if shutil.which("man") else ["--man=no"]
    r = run("systemd-analyze", "verify", *man, UNIT, check=False)
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), r.stdout + r.stderr


def test_version_matches_package(machine, built):
    first = run(BIN, "--version").stdout.splitlines()[0]
    pkg_version = run("dpkg-query", "-W", "-f=${Version}", PKG).stdout
    assert first == f"ddns-service {upstream_of(pkg_version)}", (first, pkg_version)


def edit_config(machine, bind: BindServer, http_port: int) -> None:
    """What an operator edits: the DNS server and its TSIG key, the listener, the log
    into the package's log directory. The rest stays as the example has it."""
    key = CONF_DIR / "ddns.key"
    shutil.copyfile(bind.key_file(ZONE), key)
    os.chown(key, 0, grp.getgrnam("ddns").gr_gid)
    key.chmod(0o640)
    text = CONF.read_text()
    text = text.replace("[daemon]\n", f'[daemon]\nhost = "127.0.0.1"\nport = {http_port}\n'
                        'log_target = "file"\nlog_requests = true\n', 1)
    text = text.replace("[dns_service]\n", '[dns_service]\ndns_server = "127.0.0.1"\n'
                        f'dns_port = {bind.port}\nddns_default_key_file = "{key}"\n', 1)
    CONF.write_text(text)  # the file keeps its owner and mode
    machine.edited = CONF.read_bytes()


def as_ddns(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return run("runuser", "-u", "ddns", "--", BIN, *args, input=stdin)


def start_daemon(machine, port: int) -> None:
    log = open(machine.tmp / "daemon.out", "ab")
    machine.daemon = subprocess.Popen(["runuser", "-u", "ddns", "--", BIN, "--daemon"],
                                      stdin=subprocess.DEVNULL, stdout=log,
                                      stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if machine.daemon.poll() is not None:
            pytest.fail(f"daemon exited {machine.daemon.returncode}:\n{daemon_output(machine)}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"daemon did not listen on {port}:\n{daemon_output(machine)}")


def stop_daemon(machine) -> int:
    """SIGTERM to the daemon itself (runuser would answer for it otherwise); runuser
    then exits with the daemon's status."""
    pids = [p for p in installed_daemons()
            if Path(f"/proc/{p}/stat").read_text().split()[3] == str(machine.daemon.pid)]
    assert pids, "no daemon under runuser"
    os.kill(pids[0], signal.SIGTERM)
    rc = machine.daemon.wait(STOP_TIMEOUT)
    machine.daemon = None
    return rc


def daemon_output(machine) -> str:
    out = (machine.tmp / "daemon.out").read_text(errors="replace")
    log = LOG_DIR / "ddns-service.log"
    if log.exists():
        out += log.read_text(errors="replace")
    return out[-4000:]


def test_update_as_ddns_against_bind(machine, built):
    """The installed daemon, started as ddns on the edited example, creates its
    database itself and publishes one update that BIND then serves."""
    port = int(os.environ.get("DDNS_TEST_BIND_PORT", "0")) or free_port(
        NAMED_PORTS, (socket.SOCK_STREAM, socket.SOCK_DGRAM))
    machine.bind = BindServer(machine.tmp / "bind", port, {ZONE: "hmac-sha256"})
    machine.bind.start()
    http_port = free_port()
    edit_config(machine, machine.bind, http_port)

    start_daemon(machine, http_port)
    assert mode_owner(DB)[1:] == ("ddns", "ddns"), "the daemon created the database"
    as_ddns("user", "add", "alice", "alice@example.com", stdin="pkg-test-secret\n")
    as_ddns("hostname", "add", "alice", "mypc", ZONE)
    r = http_get("127.0.0.1", http_port, f"/update?hostname=mypc.{ZONE}&myip=192.0.2.44",
                 auth=("alice", "pkg-test-secret"))
    assert (r.status, r.text.strip()) == (200, "good 192.0.2.44"), daemon_output(machine)
    dig = run("dig", "+short", "+norecurse", "-p", str(port), "@127.0.0.1", f"mypc.{ZONE}", "A")
    assert dig.stdout.split() == ["192.0.2.44"], dig.stdout
    assert stop_daemon(machine) == 0, daemon_output(machine)
    assert mode_owner(LOG_DIR / "ddns-service.log")[1:] == ("ddns", "ddns")
    assert "pkg-test-secret" not in daemon_output(machine)


def assert_config_kept(machine) -> None:
    assert CONF.read_bytes() == machine.edited, "the edited config.toml was changed"
    assert mode_owner(CONF) == ("0o640", "root", "ddns")
    assert mode_owner(CONF_DIR / "ddns.key") == ("0o640", "root", "ddns")
    hosts = as_ddns("hostname", "list").stdout
    assert "mypc" in hosts and "alice" in hosts, hosts


def test_upgrade_over_itself_keeps_edited_config(machine, built):
    assert machine.edited, "needs the edited configuration of the update test"
    r = apt_get("install", "--reinstall", str(machine.deb))
    assert dpkg_status() == "ii"
    assert "NOT started" not in r.stdout, "the first-install message again on an upgrade"
    assert_config_kept(machine)
    leftovers = [p.name for p in CONF_DIR.iterdir() if re.search(r"\.(ucf|dpkg)-", p.name)]
    assert leftovers == [], leftovers


def repack_next_version(machine) -> Path:
    """The same package as a later version whose example configuration changed: what
    an upgrade to a new release brings."""
    root = machine.tmp / "next"
    run("dpkg-deb", "-R", str(machine.deb), str(root))
    control = root / "DEBIAN" / "control"
    control.write_text(re.sub(r"(?m)^Version: .*$", f"Version: {machine.version}{UPGRADE_SUFFIX}",
                              control.read_text()))
    example = root / "usr/share/ddns-service/config.example.toml"
    example.write_text(example.read_text() + "# A comment of the next version.\n")
    md5 = run("md5sum", "usr/share/ddns-service/config.example.toml", cwd=root).stdout
    sums = root / "DEBIAN" / "md5sums"
    sums.write_text(re.sub(r"(?m)^\S+  usr/share/ddns-service/config\.example\.toml\n", md5,
                           sums.read_text()))
    deb = machine.tmp / f"{PKG}_next.deb"
    run("dpkg-deb", "--root-owner-group", "-b", str(root), str(deb))
    return deb


def test_upgrade_with_changed_example_keeps_edited_config(machine, built):
    """A new example does not replace an edited config.toml: ucf keeps it, without a
    prompt (no terminal here), and leaves the new example beside it."""
    assert machine.edited, "needs the edited configuration of the update test"
    r = apt_get("install", str(repack_next_version(machine)))
    assert "NOT started" not in r.stdout, "the first-install message again on an upgrade"
    assert run("dpkg-query", "-W", "-f=${Version}", PKG).stdout.endswith(UPGRADE_SUFFIX)
    assert_config_kept(machine)
    dist = CONF_DIR / "config.toml.ucf-dist"
    assert dist.read_text().endswith("# A comment of the next version.\n")
    # The untouched templates follow the package silently.
    for t in TEMPLATES:
        assert (CONF_DIR / t).read_bytes() == (ROOT / "files" / t).read_bytes(), t
    first = run(BIN, "--version").stdout.splitlines()[0]
    assert first == f"ddns-service {upstream_of(machine.version)}"


def test_remove_keeps_data(machine, built):
    apt_get("remove", PKG)
    assert dpkg_status() == "rc"
    assert not os.path.exists(BIN)
    assert CONF.read_bytes() == machine.edited
    assert DB.is_file() and (LOG_DIR / "ddns-service.log").is_file()


def test_purge_removes_config_database_and_logs(machine, built):
    apt_get("purge", PKG)
    assert dpkg_status() in ("", "un")
    for p in (CONF_DIR, DATA_DIR, LOG_DIR, Path(WANTS)):
        assert not os.path.lexists(p), f"{p} survived the purge"
    ucf = run("ucfq", "--with-colons", PKG, check=False).stdout
    assert str(CONF_DIR) not in ucf, ucf
    hashes = Path("/var/lib/ucf/hashfile")
    assert not hashes.exists() or str(CONF_DIR) not in hashes.read_text()
    # Debian keeps system users on purge (files elsewhere may belong to them).
    assert user_exists("ddns")
