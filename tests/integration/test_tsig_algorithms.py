# SPDX-License-Identifier: MIT
"""Every TSIG algorithm tsig-keygen offers, through the daemon: one zone per algorithm
on a real BIND, Knot DNS and PowerDNS, each zone with its own key in
[dns_service.zone_keys]. hmac-sha256 and hmac-sha512 are covered by the shared
fixtures; the four others are here (hmac-sha224 and hmac-sha384 are the two that ldns
1.8.3 cannot sign)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from dnsserver import SERVERS  # noqa: E402
from helpers import start_dns_server, uid  # noqa: E402

ALGORITHMS = ["hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha384"]
ZONES = {f"{alg}.example.org": alg for alg in ALGORITHMS}
PASSWORD = "pw-tsig"


@pytest.fixture(scope="module", params=list(SERVERS))
def algbind(request, tmp_path_factory):
    """A server with one zone per algorithm: BIND, then Knot DNS, then PowerDNS."""
    kind = request.param
    if not SERVERS[kind].installed():
        pytest.skip(f"{SERVERS[kind].program} is not installed (scripts/setup-deps.sh)")
    srv = start_dns_server(kind, tmp_path_factory.mktemp(f"{kind}-algs"), ZONES)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def algd(module_daemons, algbind):
    return module_daemons(users={"carol": PASSWORD}, dns_server=algbind,
                          zone_keys={z: algbind.key_file(z) for z in ZONES})


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_update_signed_with(alg, algd, algbind):
    zone = f"{alg}.example.org"
    label = uid()
    algd.add_host("carol", label, zone)
    fqdn = f"{label}.{zone}"
    serial = algbind.soa_serial(zone)
    r = algd.get(f"/update?hostname={fqdn}&myip=192.0.2.77&myip6=2001:db8::77",
                 auth=("carol", PASSWORD))
    assert (r.status, r.text) == (200, "good 192.0.2.77,2001:db8::77\n")
    assert algbind.query(fqdn, "A") == ["192.0.2.77"]
    assert algbind.query(fqdn, "AAAA") == ["2001:db8::77"]
    assert algbind.soa_serial(zone) > serial
