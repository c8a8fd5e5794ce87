#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Checks the manual page: `mandoc -T lint -W warning` is silent, and the page documents
every config key of files/config.example.toml in its section, every command and option
that `ddns-service --help` lists, every HTTP parameter and result of src/update.h, the
HTTP status codes, the signals, the exit statuses, FILES and EXAMPLES.

usage: check_man.py MANPAGE CONFIG_EXAMPLE BINARY UPDATE_H"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

page_path, example_path, binary, update_h = sys.argv[1:5]
page = open(page_path, encoding="utf-8").read()
failures: list[str] = []


def need(cond: bool, what: str) -> None:
    if not cond:
        failures.append(what)


def lint() -> None:
    if not shutil.which("mandoc"):
        print("SKIP: no mandoc")
        sys.exit(77)
    r = subprocess.run(["mandoc", "-T", "lint", "-W", "warning", page_path],
                       capture_output=True, text=True)
    need(r.returncode == 0 and not r.stdout and not r.stderr,
         f"mandoc -T lint -W warning:\n{r.stdout}{r.stderr}")


def example_keys() -> dict[str, list[str]]:
    """{section: [keys]} of config.example.toml, commented-out keys and tables included."""
    keys: dict[str, list[str]] = {}
    section = ""
    for line in open(example_path, encoding="utf-8"):
        m = re.match(r"^#?\s*(\[\[?[a-z_.]+\]\]?)\s*$", line)
        if m:
            section = m.group(1).strip("[]")
            keys.setdefault(section, [])
            continue
        m = re.match(r"^#?\s*([a-z_0-9]+)\s*=", line)
        if m and section:
            keys[section].append(m.group(1))
    return keys


def subsection(title: str) -> str:
    """The text of `.Ss TITLE` up to the next .Ss/.Sh."""
    m = re.search(r"^\.Ss " + re.escape(title) + r"\n(.*?)(?=^\.S[sh] )", page, re.S | re.M)
    return m.group(1) if m else ""


def check_config() -> None:
    keys = example_keys()
    need(len(keys) >= 8, f"config.example.toml: only sections {sorted(keys)} found")
    for section, names in keys.items():
        if section == "endpoints.params":   # the HTTP parameters, checked below
            text, title = page, "HTTP API"
        else:
            title = f"[[{section}]]" if section == "endpoints" else f"[{section}]"
            text = subsection(title)
            need(bool(text), f"no .Ss {title}")
        for k in sorted(set(names)):
            need(re.search(r"^\.It Cm " + re.escape(k) + r"\b", text, re.M) is not None,
                 f"{title}: key {k} not documented (.It Cm {k})")
    need(re.search(r"^\.It Cm params\b", subsection("[[endpoints]]"), re.M) is not None,
         "[[endpoints]]: params")


def check_commands() -> None:
    r = subprocess.run([binary, "--help"], capture_output=True, text=True)
    need(r.returncode == 0, f"--help exited {r.returncode}")
    cmds = options = 0
    for line in r.stdout.splitlines():
        m = re.match(r"^\s*(?:usage: )?ddns-service (?:\[-c[^\]]*\] )?(.*)$", line)
        if not m:
            continue
        words = m.group(1).split()
        if words and re.match(r"^[a-z]+$", words[0]):
            verb = " ".join(words[:2]) if len(words) > 1 and re.match(r"^[a-z]+$", words[1]) \
                else words[0]
            cmds += 1
            need(re.search(r"^\.It Cm " + re.escape(verb) + r"\b", page, re.M) is not None,
                 f"command '{verb}' not documented (.It Cm {verb})")
        for opt in re.findall(r"--([a-z][a-z0-9-]*)", m.group(1)):
            options += 1
            need(re.search(r"\bFl -" + re.escape(opt) + r"\b", page) is not None,
                 f"option --{opt} not documented (Fl -{opt})")
    need(cmds >= 10 and options >= 6, f"--help parsed to {cmds} commands, {options} options")
    need(re.search(r"^\.It Fl c Ar path", page, re.M) is not None, "option -c")


def check_http() -> None:
    text = open(update_h, encoding="utf-8").read()
    enum = re.search(r"enum update_status\s*\{(.*?)\}", text, re.S)
    need(enum is not None, "enum update_status not found in update.h")
    results = [n.lower() for n in re.findall(r"UPDATE_([A-Z0-9]+)", enum.group(1) if enum else "")]
    need(len(results) >= 10, f"results parsed: {results}")
    api = re.search(r"^\.Sh HTTP API\n(.*?)(?=^\.Sh )", page, re.S | re.M)
    api = api.group(1) if api else ""
    for res in results:
        need(re.search(r"^\.It Cm " + res + r"\b", api, re.M) is not None,
             f"HTTP result {res} not documented")
    for param in ("hostname", "ipv4", "ipv6", "username", "password", "notify_change"):
        need(re.search(r"^\.It Cm " + param + r"$", api, re.M) is not None,
             f"HTTP parameter {param} not documented")
    for code in ("200", "401", "404", "405", "500"):
        need(re.search(r"^\.It " + code + r"\b", api, re.M) is not None,
             f"HTTP status {code} not documented")


def check_sections() -> None:
    for sh in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS", "CONFIGURATION",
               "HTTP API", "SIGNALS", "ENVIRONMENT", "FILES", "EXIT STATUS", "EXAMPLES",
               "SEE ALSO"):
        need(re.search(r"^\.Sh " + sh + "$", page, re.M) is not None, f"no .Sh {sh}")
    for sig in ("SIGHUP", "SIGTERM", "SIGINT"):
        need(f"Dv {sig}" in page, f"signal {sig}")
    status = re.search(r"^\.Sh EXIT STATUS\n(.*?)(?=^\.Sh )", page, re.S | re.M)
    for code in ("0", "1", "2"):
        need(status is not None and re.search(r"^\.It " + code + "$", status.group(1), re.M)
             is not None, f"exit status {code}")
    need("Ev DDNS_SERVICE_CONFIG" in page, "DDNS_SERVICE_CONFIG")


lint()
check_config()
check_commands()
check_http()
check_sections()
for f in failures:
    print("FAIL:", f)
if not failures:
    print("ok: lint clean; keys, commands, options, HTTP API, signals, exit statuses")
sys.exit(1 if failures else 0)
