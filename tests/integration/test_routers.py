# SPDX-License-Identifier: MIT
"""What real routers send, end to end against the real daemon and BIND: an IPv6 prefix
that each host completes with its interface identifier (FritzBox's <ip6lanprefix>),
offline=YES, updates without a hostname, and the address policy. Every test checks the
HTTP reply and what named serves (and, where it matters, the database)."""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import quote

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from helpers import SEED_ENDPOINTS, uid  # noqa: E402

Z = "dyn.example.com"
ALICE = ("alice", "pw-alice")
IID = "::1234:5678:9abc:def0"


@pytest.fixture(scope="module")
def d(module_daemons):
    return module_daemons(users={"alice": ALICE[1]})


def host(d, *extra: str, user: str = "alice") -> str:
    """A fresh host of `user` (hostname add ... *extra); its fqdn."""
    label = uid()
    d.add_host(user, label, Z, *extra)
    return f"{label}.{Z}"


def q(**params) -> str:
    return "&".join(f"{k}={quote(str(v), safe=',:/')}" for k, v in params.items())


def served(bind, fqdn: str) -> tuple[list[str], list[str]]:
    return bind.query(fqdn, "A"), bind.query(fqdn, "AAAA")


# --- IPv6 prefix + interface identifier ---------------------------------------------------
@pytest.mark.backends("sqlite", "mariadb")
def test_fritzbox_prefix_and_identifier(d, bind):
    """FritzBox's update URL myip=<ipaddr>,<ip6lanprefix>: the AAAA is the prefix and
    the host's identifier; the prefix moves, the AAAA follows; a v6-only update (no
    <ipaddr> on the line) leaves the A record alone."""
    fqdn = host(d, "--ipv6-iid", IID)
    r = d.get(f"/update?{q(hostname=fqdn, myip='192.0.2.40,2001:db8:1:2::/64')}", auth=ALICE)
    assert (r.status, r.text) == (200, "good 192.0.2.40,2001:db8:1:2:1234:5678:9abc:def0\n")
    assert served(bind, fqdn) == (["192.0.2.40"], ["2001:db8:1:2:1234:5678:9abc:def0"])
    r = d.get(f"/update?{q(hostname=fqdn, myip='192.0.2.40,2001:db8:1:2::/64')}", auth=ALICE)
    assert r.text == "nochg 192.0.2.40,2001:db8:1:2:1234:5678:9abc:def0\n"

    # The other FritzBox form, myip=<ipaddr>&myip6=<ip6lanprefix>, with a new prefix.
    r = d.get(f"/update?{q(hostname=fqdn, myip='192.0.2.40', myip6='2001:db8:1:3::/64')}",
              auth=ALICE)
    assert r.text == "good 192.0.2.40,2001:db8:1:3:1234:5678:9abc:def0\n"
    assert served(bind, fqdn) == (["192.0.2.40"], ["2001:db8:1:3:1234:5678:9abc:def0"])

    serial = bind.soa_serial(Z)
    r = d.get(f"/update?{q(hostname=fqdn, myip=',2001:db8:aa:bb00::/56')}", auth=ALICE)
    assert r.text == "good 2001:db8:aa:bb00:1234:5678:9abc:def0\n"
    assert served(bind, fqdn) == (["192.0.2.40"], ["2001:db8:aa:bb00:1234:5678:9abc:def0"])
    assert bind.soa_serial(Z) == serial + 1, "one UPDATE, of the AAAA only"
    row = d.hosts()[fqdn]
    assert (row["ipv4"], row["ipv6"], row["ipv6_iid"]) == (
        "192.0.2.40", "2001:db8:aa:bb00:1234:5678:9abc:def0", IID)


def test_identifier_changed_by_cli(d, bind):
    """A new identifier is published by the router's next update of the same prefix."""
    fqdn = host(d, "--ipv6-iid", IID)
    d.get(f"/update?{q(hostname=fqdn, myip6='2001:db8:5::/48')}", auth=ALICE)
    assert bind.query(fqdn, "AAAA") == ["2001:db8:5:0:1234:5678:9abc:def0"]
    d.cli("hostname", "modify", fqdn.split(".")[0], Z, "--ipv6-iid", "::7:0:0:0:42")
    r = d.get(f"/update?{q(hostname=fqdn, myip6='2001:db8:5::/48')}", auth=ALICE)
    assert r.text == "good 2001:db8:5:7::42\n"
    assert bind.query(fqdn, "AAAA") == ["2001:db8:5:7::42"]


def test_network_without_identifier_is_badip(d, bind):
    """The bug of the issue: the prefix itself is not published any more; the log says
    how to set an identifier; the A record of a dual-stack request is not changed
    either."""
    fqdn = host(d)
    d.get(f"/update?{q(hostname=fqdn, myip='192.0.2.41')}", auth=ALICE)
    serial = bind.soa_serial(Z)
    r = d.get(f"/update?{q(hostname=fqdn, myip='192.0.2.42,2001:db8:1:2::/64')}", auth=ALICE)
    assert (r.status, r.text) == (200, "badip\n")
    assert served(bind, fqdn) == (["192.0.2.41"], [])
    assert bind.soa_serial(Z) == serial
    label = fqdn.split(".")[0]
    assert (f"{fqdn}: badip: 2001:db8:1:2::/64 is a network, not a host" in d.log() and
            f"hostname modify {label} {Z} --ipv6-iid" in d.log()), d.log()[-2000:]


def test_prefix_forms_without_identifier(d, bind):
    """Without identifier: a /nn value with host bits set is published as it is (the
    suffix dropped), and so is /128; a value without /nn never needs an identifier."""
    fqdn = host(d)
    r = d.get(f"/update?{q(hostname=fqdn, myip6='2001:db8:1:2::77/64')}", auth=ALICE)
    assert r.text == "good 2001:db8:1:2::77\n"
    r = d.get(f"/update?{q(hostname=fqdn, myip6='2001:db8:1:2::/128')}", auth=ALICE)
    assert r.text == "good 2001:db8:1:2::\n"
    assert bind.query(fqdn, "AAAA") == ["2001:db8:1:2::"]
    with_iid = host(d, "--ipv6-iid", IID)
    r = d.get(f"/update?{q(hostname=with_iid, myip6='2001:db8:1:2::99')}", auth=ALICE)
    assert r.text == "good 2001:db8:1:2::99\n", "a plain address is published as sent"


# --- offline ------------------------------------------------------------------------------
@pytest.mark.backends("sqlite", "mariadb")
def test_offline_deletes_and_the_next_update_restores(d, bind):
    fqdn = host(d)
    d.get(f"/update?{q(hostname=fqdn, myip='192.0.2.43,2001:db8::43')}", auth=ALICE)
    assert served(bind, fqdn) == (["192.0.2.43"], ["2001:db8::43"])

    r = d.get(f"/update?{q(hostname=fqdn, offline='YES')}", auth=ALICE)
    assert (r.status, r.text) == (200, "good\n")
    assert served(bind, fqdn) == ([], [])
    row = d.hosts()[fqdn]
    assert row["ipv4_offline"] and row["ipv6_offline"], row
    assert row["ipv4_expired"] and row["ipv6_expired"], "deleted, like an expiry"
    assert (row["ipv4"], row["ipv6"]) == ("192.0.2.43", "2001:db8::43"), "last addresses kept"
    assert f"{fqdn}: records deleted (offline)" in d.log()

    serial = bind.soa_serial(Z)
    r = d.get(f"/update?{q(hostname=fqdn, offline='yes', myip='192.0.2.44')}", auth=ALICE,
              headers={"Accept": "application/json"})
    assert r.json() == {"status": "nochg", "ipv4": None, "ipv6": None}, "already offline"
    assert bind.soa_serial(Z) == serial, "no DNS write"

    r = d.get(f"/update?{q(hostname=fqdn, myip='192.0.2.43,2001:db8::43', offline='NO')}",
              auth=ALICE)
    assert r.text == "good 192.0.2.43,2001:db8::43\n", "offline=NO: a normal update"
    assert served(bind, fqdn) == (["192.0.2.43"], ["2001:db8::43"])
    row = d.hosts()[fqdn]
    assert not (row["ipv4_offline"] or row["ipv6_offline"] or row["ipv4_expired"]), row


def test_offline_is_never_due_for_expiry(d, bind):
    """Expiry neither deletes nor mails an offline host, however old its update."""
    fqdn = host(d)
    d.get(f"/update?{q(hostname=fqdn, myip='192.0.2.45')}", auth=ALICE)
    d.get(f"/update?{q(hostname=fqdn, offline='YES')}", auth=ALICE)
    d.backdate(fqdn, 10 * 86400)
    out = d.cli("cleanup").stdout
    assert fqdn not in out, out
    assert "192.0.2.45 (offline)" in d.cli("hostname", "list").stdout


def test_offline_param_disabled(make_daemon, bind):
    """[endpoints.params] offline = [] disables it: offline=YES is a normal update."""
    endpoints = SEED_ENDPOINTS.replace('notify_change = ["notify_change"]',
                                       'notify_change = ["notify_change"]\noffline = []')
    d = make_daemon(users={"alice": ALICE[1]}, endpoints=endpoints)
    fqdn = host(d)
    r = d.get(f"/update?{q(hostname=fqdn, myip='192.0.2.46', offline='YES')}", auth=ALICE)
    assert r.text == "good 192.0.2.46\n"
    assert bind.query(fqdn, "A") == ["192.0.2.46"]
    r = d.get(f"/nic/update?{q(hostname=fqdn, offline='YES')}", auth=ALICE)
    assert r.text == "good\n", "the other endpoint keeps the default alias"
    assert bind.query(fqdn, "A") == []


# --- no hostname --------------------------------------------------------------------------
@pytest.mark.backends("sqlite", "mariadb")
def test_single_host_account_without_hostname(d, bind):
    user = f"solo{uid()}"
    d.add_user(user, "pw-solo")
    r = d.get(f"/update?{q(myip='192.0.2.47')}", auth=(user, "pw-solo"))
    assert r.text == "notfqdn\n", "no host at all"
    fqdn = host(d, "--ipv6-iid", IID, user=user)
    r = d.get(f"/update?{q(myip='192.0.2.47,2001:db8:7::/64')}", auth=(user, "pw-solo"))
    assert r.text == "good 192.0.2.47,2001:db8:7:0:1234:5678:9abc:def0\n"
    assert served(bind, fqdn) == (["192.0.2.47"], ["2001:db8:7:0:1234:5678:9abc:def0"])
    r = d.get(f"/nic/update?{q(system='dyndns', hostname='', offline='YES')}",
              auth=(user, "pw-solo"))
    assert r.text == "good\n", "an empty hostname is no hostname"
    assert served(bind, fqdn) == ([], [])
    second = host(d, user=user)
    r = d.get(f"/update?{q(myip='192.0.2.48')}", auth=(user, "pw-solo"))
    assert r.text == "notfqdn\n", "two hosts: the request must name one"
    assert bind.query(second, "A") == [] and bind.query(fqdn, "A") == []


# --- the address policy -------------------------------------------------------------------
def test_addresses_never_published(d, bind):
    fqdn = host(d)
    for ip in ("0.0.0.0", "0.1.2.3", "255.255.255.255", "224.0.0.1", "::", "ff02::1"):
        r = d.get(f"/update?{q(hostname=fqdn, myip=ip)}", auth=ALICE)
        assert r.text == "badip\n", ip
    assert served(bind, fqdn) == ([], [])
    for ip in ("127.0.0.1", "10.1.2.3", "fe80::1", "fd00::1"):
        r = d.get(f"/update?{q(hostname=fqdn, myip=ip)}", auth=ALICE)
        assert r.text.startswith("good "), f"{ip}: allowed by default ({r.text!r})"


def test_public_only_service(make_daemon, bind):
    d = make_daemon(users={"alice": ALICE[1]},
                    config={"daemon": {"allow_private_addresses": False}})
    fqdn = host(d, "--ipv6-iid", "::1")
    for ip in ("10.1.2.3", "192.168.178.2", "100.64.0.9", "127.0.0.1", "169.254.1.1",
               "192.0.2.1", "::1", "fe80::1", "fd00::1", "2001:db8::1"):
        r = d.get(f"/update?{q(hostname=fqdn, myip=ip)}", auth=ALICE)
        assert r.text == "badip\n", ip
    r = d.get(f"/update?{q(hostname=fqdn)}", auth=ALICE)
    assert r.text == "badip\n", "the client's own loopback address"
    assert "allow_private_addresses is false" in d.log()
    r = d.get(f"/update?{q(hostname=fqdn, myip='9.9.9.9,2a00:1450:1:2::/64')}", auth=ALICE)
    assert r.text == "good 9.9.9.9,2a00:1450:1:2::1\n"
    assert served(bind, fqdn) == (["9.9.9.9"], ["2a00:1450:1:2::1"])
