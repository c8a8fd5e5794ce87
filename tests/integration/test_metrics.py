# SPDX-License-Identifier: MIT
"""/metrics and /health on the daemon's listeners: the exposition is what `promtool
check metrics` accepts and counts what happened; a real Prometheus scrapes it and
answers ddns_requests_total through its query API; metrics_allow decides by the TCP
peer (403 otherwise, 404 when empty); /health says 200 while the database answers and
503 with the reason when it does not, also while a writer holds SQLite's lock; the
README's alert rules pass `promtool check rules` and name metrics the daemon has."""

from __future__ import annotations

import json
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from helpers import ROOT, free_port, http_get, uid  # noqa: E402

Z = "dyn.example.com"
ALICE = ("alice", "pw-alice")
ALERTS = ROOT / "files" / "ddns-service-alerts.yml"
needs_promtool = pytest.mark.skipif(not shutil.which("promtool"),
                                    reason="promtool (Debian package prometheus) missing")


def sample(text: str, line_start: str) -> float | None:
    """The value of the sample whose line starts with `line_start` + ' '."""
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.split()[-1])
    return None


def some_traffic(d) -> str:
    label = uid()
    d.add_host("alice", label, Z)
    fqdn = f"{label}.{Z}"
    assert d.get(f"/update?hostname={fqdn}&myip=192.0.2.30", auth=ALICE).text.startswith("good")
    assert d.get(f"/update?hostname={fqdn}&myip=192.0.2.30", auth=ALICE).text.startswith("nochg")
    assert d.get(f"/update?hostname={fqdn}&myip=192.0.2.30", auth=("alice", "wrong")).text == \
        "badauth\n"
    return fqdn


@needs_promtool
def test_exposition_counts_and_passes_promtool(make_daemon):
    d = make_daemon(users={"alice": ALICE[1]})
    some_traffic(d)
    r = d.get("/metrics")
    assert r.status == 200
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    p = subprocess.run(["promtool", "check", "metrics"], input=r.body, capture_output=True,
                       timeout=30)
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
    t = r.text
    assert sample(t, 'ddns_requests_total{endpoint="/update",status="good"}') == 1
    assert sample(t, 'ddns_requests_total{endpoint="/update",status="nochg"}') == 1
    assert sample(t, 'ddns_requests_total{endpoint="/update",status="badauth"}') == 1
    assert sample(t, 'ddns_requests_total{endpoint="/nic/update",status="good"}') == 0
    assert sample(t, "ddns_request_duration_seconds_count") == 3
    # good: Argon2 (a cache miss); nochg: the credential cache; badauth: Argon2 (a miss).
    assert sample(t, 'ddns_auth_verifications_total{result="ok"}') == 1
    assert sample(t, 'ddns_auth_verifications_total{result="fail"}') == 1
    assert sample(t, 'ddns_auth_verifications_total{result="cache_hit"}') == 1
    assert sample(t, 'ddns_auth_verifications_total{result="cache_miss"}') == 2
    assert sample(t, f'ddns_dns_updates_total{{zone="{Z}",rcode="NOERROR"}}') == 1
    assert sample(t, "ddns_dns_update_duration_seconds_count") == 1
    assert sample(t, "process_start_time_seconds") > 1.6e9
    # The first expiry pass (on the first tick after start) also counts the hosts.
    deadline = time.monotonic() + 10
    while sample(t, "ddns_hosts") is None and time.monotonic() < deadline:
        time.sleep(0.2)
        t = d.get("/metrics").text
    assert sample(t, "ddns_expiry_runs_total") >= 1
    assert sample(t, "ddns_expiry_last_success_timestamp_seconds") > 1.6e9
    assert sample(t, "ddns_hosts") in (0, 1)
    assert re.search(r'^ddns_build_info\{version="[^"]+"\} 1$', t, re.M)


def test_access_by_tcp_peer(make_daemon):
    d = make_daemon(config={"daemon": {"host": "localhost", "metrics_allow": ["127.0.0.1"],
                                       "proxy_header": "X-Forwarded-For",
                                       "trusted_proxies": ["::1"]}})
    assert http_get("127.0.0.1", d.port, "/metrics").status == 200
    assert http_get("127.0.0.1", d.port, "/health").status == 200
    r = http_get("::1", d.port, "/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
    assert r.status == 403, "a forwarded header never grants access"
    assert http_get("::1", d.port, "/health").status == 403


def test_empty_allow_list_turns_both_off(make_daemon):
    d = make_daemon(config={"daemon": {"metrics_allow": [], "metrics_path": "/m"}})
    assert d.get("/m").status == 404 and d.get("/health").status == 404


def test_health(make_daemon):
    d = make_daemon()
    r = d.get("/health")
    assert (r.status, r.text) == (200, "ok\n")
    db = Path(d.sections["database"]["path"])
    # A writer holding SQLite's lock does not hold the probe up.
    con = sqlite3.connect(db, timeout=1, isolation_level=None)
    con.execute("BEGIN EXCLUSIVE")
    con.execute("INSERT INTO users (name, email, pw_hash, created) VALUES ('w', 'w@x.y', 'h', 0)")
    t0 = time.monotonic()
    r = d.get("/health")
    assert r.status == 200 and time.monotonic() - t0 < 1.5, (r, time.monotonic() - t0)
    con.execute("ROLLBACK")
    con.close()
    # Not a database at the path (a bare rename would not do: a worker that opens its
    # connection meanwhile creates a fresh database there, and the probe finds it).
    db.rename(db.with_suffix(".gone"))
    db.write_bytes(b"this is not an SQLite database, " * 64)
    r = d.get("/health")
    assert r.status == 503 and r.text.startswith("database: "), r
    assert "health check failed" in d.log()
    db.unlink()
    db.with_suffix(".gone").rename(db)
    assert d.get("/health").status == 200


@pytest.mark.backends("mariadb")
def test_health_mariadb(make_daemon, backend):
    d = make_daemon()
    assert (d.get("/health").status, d.get("/health").text) == (200, "ok\n")
    name = d.sections["database"]["name"]
    d.mariadb.sql(f"DROP DATABASE {name}")
    r = d.get("/health")
    assert r.status == 503 and "database: mariadb" in r.text, r


def test_counters_survive_reload(make_daemon):
    d = make_daemon(users={"alice": ALICE[1]})
    some_traffic(d)
    d.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "configuration reloaded" not in d.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    t = d.get("/metrics").text
    assert sample(t, 'ddns_requests_total{endpoint="/update",status="good"}') == 1


@needs_promtool
def test_alert_rules(make_daemon):
    p = subprocess.run(["promtool", "check", "rules", str(ALERTS)], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    readme = (ROOT / "README.md").read_text()
    rules = ALERTS.read_text()
    names = re.findall(r"alert: (\w+)", rules)
    assert len(names) >= 3 and all(n in readme for n in names)
    exposed = set(re.findall(r"^# TYPE (\w+)", make_daemon().get("/metrics").text, re.M))
    for metric in set(re.findall(r"\b(ddns_\w+)", rules)):
        assert metric in exposed, f"alert rule uses {metric}, which the daemon does not expose"


def prometheus_query(port: int, q: str) -> list:
    url = f"http://127.0.0.1:{port}/api/v1/query?query={urllib.request.quote(q)}"
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)["data"]["result"]


@pytest.mark.skipif(not shutil.which("prometheus"), reason="prometheus not installed")
def test_prometheus_scrapes(make_daemon, tmp_path):
    d = make_daemon(users={"alice": ALICE[1]})
    some_traffic(d)
    port = free_port()
    (tmp_path / "prometheus.yml").write_text(f"""
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: ddns-service
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:{d.port}"]
""")
    t0 = time.monotonic()
    log = open(tmp_path / "prometheus.log", "wb")
    prom = subprocess.Popen(["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        got = []
        while not got and time.monotonic() - t0 < 60:
            time.sleep(0.5)
            try:
                got = prometheus_query(
                    port, 'ddns_requests_total{endpoint="/update",status="good"}')
            except OSError:
                pass
        assert got, (tmp_path / "prometheus.log").read_text()[-3000:]
        assert got[0]["value"][1] == "1", got
        assert prometheus_query(port, 'up{job="ddns-service"}')[0]["value"][1] == "1"
        print(f"prometheus: first result after {time.monotonic() - t0:.1f} s")
    finally:
        prom.terminate()
        prom.wait(timeout=20)
        log.close()
