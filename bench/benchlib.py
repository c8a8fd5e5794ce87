# SPDX-License-Identifier: MIT
"""The machinery of bench/run.py: the limit programs and load generators as functions,
a BIND with a zone that hangs on updates (the sick zone), process figures, and the
result table with its JSON form."""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build-bench"
TOOLS = BUILD / "bench"
os.environ.setdefault("DDNS_SERVICE_BIN", str(BUILD / "src" / "ddns-service"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from dnsserver import BindServer  # noqa: E402

MiB = 1024  # KiB per MiB: /proc reports KiB


def build() -> None:
    """The release build in build-bench (configured once, then incremental)."""
    if not (BUILD / "build.ninja").exists():
        subprocess.run(["meson", "setup", str(BUILD), "-Dbuildtype=release"], cwd=ROOT,
                       check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["ninja", "-C", str(BUILD)], check=True, stdout=subprocess.DEVNULL)


def median(xs: list[float]) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# --- the tools ------------------------------------------------------------------------------

def loadgen_cmd(port: int, path: str, **opts) -> list[str]:
    """bench/loadgen's command line; opts are its long options (src_base → --src-base)."""
    cmd = [str(TOOLS / "loadgen"), "--port", str(port), "--path", path]
    for k, v in opts.items():
        if v is not None:
            cmd += ["--" + k.replace("_", "-"), str(v)]
    return cmd


def loadgen(port: int, path: str, **opts) -> dict:
    out = subprocess.run(loadgen_cmd(port, path, **opts), capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)


class Background:
    """A tool started now whose JSON line is collected later."""

    def __init__(self, cmd: list[str]):
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)

    def result(self, timeout: float = 300) -> dict:
        out, _ = self.proc.communicate(timeout=timeout)
        if self.proc.returncode != 0:
            raise RuntimeError(f"{self.proc.args[0]} exited with {self.proc.returncode}")
        return json.loads(out)

    def stop(self) -> dict:
        """Ends the run now (loadgen abandons what is in flight) and returns its result."""
        self.proc.send_signal(signal.SIGINT)
        return self.result()


def raw_ldns(bind: BindServer, zone: str, seconds: float, threads: int = 1, batch: int = 1,
             round_: int = 0, prefix: str = "raw") -> dict:
    cmd = [str(TOOLS / "raw_ldns"), "--port", str(bind.port), "--key", bind.key_file(zone),
           "--zone", zone, "--seconds", str(max(1, round(seconds))), "--threads", str(threads),
           "--batch", str(batch), "--round", str(round_), "--prefix", prefix]
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)


class BareMhd:
    """bench/bare_mhd on 127.0.0.1:port (its MHD error log goes to a file)."""

    def __init__(self, port: int, log: Path):
        self.port = port
        with open(log, "ab") as f:
            self.proc = subprocess.Popen([str(TOOLS / "bare_mhd"), str(port)],
                                         stdout=f, stderr=f)
        wait_http(port, 10)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def http_answer(port: int, timeout: float = 1.0) -> bool:
    """Whether something answers an HTTP request on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET /bench-ready HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            return s.recv(16).startswith(b"HTTP/1.")
    except OSError:
        return False


def wait_http(port: int, timeout: float) -> float:
    """Polls until an HTTP answer comes; the seconds it took."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if http_answer(port):
            return time.perf_counter() - t0
        time.sleep(0.0005)
    raise RuntimeError(f"nothing answers HTTP on port {port} after {timeout} s")


def proc_status(pid: int) -> dict[str, int]:
    """The KiB fields of /proc/PID/status (VmRSS, VmHWM, RssAnon, ...)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        m = re.match(r"(\w+):\s+(\d+) kB", line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def cpu_ticks(pid: int) -> int:
    """User + system CPU time of a process in clock ticks (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def reset_peak_rss(pid: int) -> None:
    """Starts VmHWM afresh (proc(5): writing 5 to clear_refs resets the peak RSS)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


# --- the sick zone -----------------------------------------------------------------------------

class Swallow:
    """A DNS server that never answers: UDP datagrams and TCP streams are read and
    dropped, TCP connections held open (closed after HOLD seconds, long after any
    client gave up), so every exchange with it times out. `activity` counts what
    arrived (datagrams and TCP reads), to tell when its clients have stopped trying."""

    HOLD = 60.0

    def __init__(self, port: int):
        self.port = port
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", port))
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("127.0.0.1", port))
        self.tcp.listen(512)
        self.activity = 0
        self._stop = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.udp, selectors.EVENT_READ)
        sel.register(self.tcp, selectors.EVENT_READ)
        held: dict[socket.socket, float] = {}
        while not self._stop:
            for key, _ in sel.select(0.2):
                s = key.fileobj
                try:
                    if s is self.tcp:
                        conn, _ = s.accept()
                        held[conn] = time.monotonic()
                        sel.register(conn, selectors.EVENT_READ)
                    elif not s.recv(65535) and s is not self.udp:
                        sel.unregister(s)
                        del held[s]
                        s.close()
                except OSError:
                    continue
                self.activity += 1
            for conn in [c for c, t in held.items() if time.monotonic() - t > self.HOLD]:
                sel.unregister(conn)
                del held[conn]
                conn.close()
        for conn in held:
            conn.close()
        sel.close()

    def stop(self) -> None:
        self._stop = True
        self._thread.join(5)
        self.udp.close()
        self.tcp.close()


class SickBind(BindServer):
    """BIND with the healthy zones of BindServer plus `sick`, a secondary zone (loaded
    from its file) whose primary is a Swallow: BIND forwards every UPDATE for it
    (allow-update-forwarding, signed with the first zone's key) and waits for an answer
    that never comes. So one DNS server has a zone that hangs on updates and zones that
    answer at once, which today's single `dns_server` can reach. The update quota is
    raised so that the forwarded updates piling up never refuse the healthy zone's."""

    def __init__(self, workdir, port: int, zones: dict, sick: str, swallow_port: int):
        self.sick = sick
        self.swallow_port = swallow_port
        super().__init__(workdir, port, zones)

    def _write_config(self) -> None:
        super()._write_config()
        d = self.workdir
        (d / f"{self.sick}.zone").write_text(self._zone_text(self.sick))
        conf = (d / "named.conf").read_text()
        assert "notify no;" in conf, "BindServer's options changed: adapt SickBind"
        conf = conf.replace("notify no;", "notify no;\n    update-quota 100000;")
        conf += (f'zone "{self.sick}" {{ type secondary; masterfile-format text;'
                 f' file "{d}/{self.sick}.zone";'
                 f' primaries {{ 127.0.0.1 port {self.swallow_port}; }};'
                 f' allow-update-forwarding {{ key {self.key_name(self.zones[0])}; }}; }};\n')
        (d / "named.conf").write_text(conf)
        check = subprocess.run(["named-checkconf", str(d / "named.conf")],
                               capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"named-checkconf failed:\n{check.stdout}{check.stderr}")


# --- results -----------------------------------------------------------------------------------

@dataclass
class Figure:
    """One line of the table. `value` is the median of `samples` (None: n/a, with `note`
    saying why). The limit is another figure's value; `target` is (what, op, bound):
    what is "value" or "ratio", op one of >=, <=, <."""
    name: str
    unit: str
    samples: list = field(default_factory=list)
    value: float | None = None
    note: str = ""
    limit_name: str = ""
    limit: float | None = None
    target: tuple | None = None
    group: str = ""
    label: str = ""  # a short name for the limit column of the figures that use this one
    ratios: list = field(default_factory=list)  # per round: sample / the limit that round

    @property
    def ratio(self) -> float | None:
        """The median of the per-round ratios when the limit was measured in every
        round (a slow neighbour then weighs on both sides), else value / limit."""
        if self.ratios:
            return median(self.ratios)
        if self.value is None or not self.limit:
            return None
        return self.value / self.limit

    @property
    def verdict(self) -> str:
        if not self.target:
            return ""
        what, op, bound = self.target
        x = self.value if what == "value" else self.ratio
        if x is None:
            return "n/a"
        ok = {">=": x >= bound, "<=": x <= bound, "<": x < bound}[op]
        return "PASS" if ok else "FAIL"

    def target_text(self) -> str:
        if not self.target:
            return ""
        what, op, bound = self.target
        return f"{'ratio' if what == 'ratio' else ''}{op}{fmt(bound)}"

    def as_json(self) -> dict:
        return {"name": self.name, "group": self.group, "value": self.value,
                "unit": self.unit, "samples": self.samples, "note": self.note,
                "limit_name": self.limit_name or None, "limit": self.limit,
                "ratio": self.ratio, "ratio_per_round": self.ratios or None,
                "target": self.target_text() or None,
                "verdict": self.verdict or None}


def fmt(x: float | None) -> str:
    if x is None:
        return "n/a"
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 0.01:
        return f"{x:.2f}"
    return f"{x:.2g}"


class Results:
    def __init__(self):
        self.figures: dict[str, Figure] = {}
        self.group = ""

    def add(self, key: str, name: str, unit: str, samples: list | None = None, *,
            value: float | None = None, note: str = "", limit: str | None = None,
            target: tuple | None = None, label: str = "", paired: list | None = None
            ) -> Figure:
        """Records a figure; its value is `value` or the median of `samples`, and its
        limit the value of the figure `limit` (a key) when given. `paired` holds the
        limit as measured in each sample's round, for per-round ratios."""
        ratios = [s / p for s, p in zip(samples or [], paired or [])
                  if s is not None and p] if paired and len(paired) == len(samples) else []
        samples = [s for s in (samples or []) if s is not None]
        f = Figure(name, unit, samples, value if value is not None else median(samples),
                   note, target=target, group=self.group, label=label or key, ratios=ratios)
        if limit:
            lim = self.figures.get(limit)
            f.limit_name = lim.label if lim else limit
            f.limit = lim.value if lim else None
        self.figures[key] = f
        return f

    def value(self, key: str) -> float | None:
        f = self.figures.get(key)
        return f.value if f else None

    @staticmethod
    def line(f: Figure) -> str:
        value = fmt(f.value)
        limit = f"{f.limit_name} ({fmt(f.limit)})" if f.limit_name else ""
        ratio = fmt(f.ratio) if f.limit_name else ""
        return (f"{f.name:<50} {value:>9} {f.unit:<7} {limit:<26} {ratio:>7} "
                f"{f.target_text():>8} {f.verdict}").rstrip()

    def table(self) -> str:
        head = (f"{'figure':<50} {'value':>9} {'unit':<7} {'limit (its value)':<26} "
                f"{'ratio':>7} {'target':>8} verdict")
        out, group = [head, "-" * len(head)], None
        for f in self.figures.values():
            if f.group != group:
                group = f.group
                out.append(f"[{group}]")
            out.append(self.line(f))
            if f.note:
                out.append(f"{'':<8}{'n/a' if f.value is None else 'note'}: {f.note}")
        return "\n".join(out)

    def dump(self, path: Path, meta: dict) -> None:
        data = {"meta": meta, "figures": {k: f.as_json() for k, f in self.figures.items()}}
        path.write_text(json.dumps(data, indent=2) + "\n")
