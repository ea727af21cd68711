"""Hunts over the real logs of the corpus with indicators ingested from the corpus.

The expected values were found by hand: the orig_h and resp_h columns of
the Trickbot conn.log compared with the addresses of Maltrail's trickbot
trail (``comm`` of the sorted lists), and single lines read with ``grep -n``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Store
from tests.helpers import ingest_paths
from tests.hunt.helpers import extract_trail, hunt_store, hunt_with, memory_index

pytestmark = pytest.mark.corpus

TRICKBOT = "logs/zeek_tsv/trickbot_2018-11"
ZED_DNS = "logs/zeek_tsv/zed_sample/dns.log.gz"
EMPIRE = "logs/windows_events/empire_launcher_sct_regsvr32_2020-07-21232741.json.gz"

# The 22 addresses of trails/static/malware/trickbot.txt that conn.log reaches.
TRICKBOT_HOSTS = {
    "103.110.91.118",
    "174.105.235.178",
    "176.58.123.25",
    "181.113.17.230",
    "182.253.20.66",
    "190.145.74.84",
    "197.232.50.85",
    "199.227.126.250",
    "206.130.141.255",
    "207.140.14.141",
    "24.113.161.184",
    "42.115.91.177",
    "47.49.168.50",
    "51.68.170.58",
    "65.31.241.133",
    "66.60.121.58",
    "67.49.38.139",
    "68.4.173.10",
    "71.94.101.25",
    "72.189.124.41",
    "73.67.78.5",
    "76.181.182.166",
}


def test_trickbot_conn_hits(store: Store, corpus_dir: Path, tmp_path: Path) -> None:
    trail = extract_trail(corpus_dir, "malware/trickbot.txt", tmp_path)
    ingest_paths(store.engine, [trail], source="maltrail-trickbot", fmt="plain")
    hits, result = hunt_store(store.engine, [corpus_dir / TRICKBOT / "conn.log"])
    assert {hit.value for hit in hits} == TRICKBOT_HOSTS
    responders = {hit.value for hit in hits if hit.field == "id.resp_h"}
    originators = {hit.value for hit in hits if hit.field == "id.orig_h"}
    assert responders == TRICKBOT_HOSTS
    # Four of them also opened connections to the infected host.
    assert originators == {
        "190.145.74.84",
        "24.113.161.184",
        "73.67.78.5",
        "76.181.182.166",
    }
    assert {hit.indicator.type for hit in hits} == {"ipv4"}
    assert result.stats.lines == 13_010
    assert result.stats.malformed_lines == 0
    # conn.log line 215: 172.16.9.5 -> 68.4.173.10:443 at 1541117838.044136.
    first = min(
        (hit for hit in hits if hit.value == "68.4.173.10"), key=lambda h: h.line
    )
    assert first.line == 215
    assert first.time == 1_541_117_838_044_136
    assert first.how == "exact"
    assert first.known is False


def test_trickbot_all_logs(store: Store, corpus_dir: Path, tmp_path: Path) -> None:
    trail = extract_trail(corpus_dir, "malware/trickbot.txt", tmp_path)
    ingest_paths(store.engine, [trail], source="maltrail-trickbot", fmt="plain")
    logs = sorted((corpus_dir / TRICKBOT).glob("*.log"))
    hits, result = hunt_store(store.engine, logs)
    assert result.stats.inputs == len(logs) == 12
    assert result.stats.formats == {"zeek": 12}
    assert {hit.value for hit in hits} == TRICKBOT_HOSTS
    # ssl.log names the same servers and weird.log two of them; in dns.log,
    # ident.me resolves to 176.58.123.25, which the trail lists.
    by_file = {Path(hit.source).name for hit in hits}
    assert by_file == {"conn.log", "dns.log", "ssl.log", "weird.log"}
    in_dns = {(hit.field, hit.value) for hit in hits if hit.source.endswith("dns.log")}
    assert in_dns == {("answers", "176.58.123.25")}


def test_zed_dns_network(store: Store, corpus_dir: Path, tmp_path: Path) -> None:
    trail = extract_trail(corpus_dir, "mass_scanner_cidr.txt", tmp_path)
    ingest_paths(store.engine, [trail], source="mass-scanner", fmt="plain")
    hits, result = hunt_store(store.engine, [corpus_dir / ZED_DNS])
    assert result.stats.formats == {"zeek": 1}
    assert result.stats.lines == 53_624
    by_line = {(hit.line, hit.indicator.value): hit for hit in hits}
    # Line 46062: a query to the resolver 204.42.254.5, inside 204.42.254.0/24.
    network = by_line[(46_062, "204.42.254.0/24")]
    assert network.how == "network"
    assert network.field == "id.resp_h"
    assert network.value == "204.42.254.5"
    assert network.time == 1_521_912_811_890_802
    assert network.indicator.type == "cidr"


def test_trickbot_ssl_subdomain(store: Store, corpus_dir: Path, tmp_path: Path) -> None:
    trail = extract_trail(corpus_dir, "suspicious/ipinfo.txt", tmp_path)
    ingest_paths(store.engine, [trail], source="ipinfo", fmt="plain")
    hits, _ = hunt_store(store.engine, [corpus_dir / TRICKBOT / "ssl.log"])
    by_line = {(hit.line, hit.indicator.value): hit for hit in hits}
    # ssl.log line 12: the server name api.ip.sb lies under the listed ip.sb.
    subdomain = by_line[(12, "ip.sb")]
    assert subdomain.how == "subdomain"
    assert subdomain.field == "server_name"
    assert subdomain.value == "api.ip.sb"
    # The trail lists myexternalip.com too, but a MISP warning list marks it
    # as a known benign service, so the hunt leaves it out.
    assert not any(hit.indicator.value == "myexternalip.com" for hit in hits)


def test_clean_logs_give_nothing(
    store: Store, corpus_dir: Path, tmp_path: Path
) -> None:
    trail = extract_trail(corpus_dir, "malware/trickbot.txt", tmp_path)
    ingest_paths(store.engine, [trail], source="maltrail-trickbot", fmt="plain")
    quiet = [
        corpus_dir / "logs/proxy/squid_access1.log",
        corpus_dir / "logs/firewall/fortigate_syslog_2014.log",
        corpus_dir / "logs/suricata/zeus_eve.json",
        corpus_dir / "logs/zeek_json/apt29_day1/SCRANTON_http.log",
    ]
    hits, result = hunt_store(store.engine, quiet)
    assert hits == []
    assert result.exit_code == 0
    assert result.stats.formats == {"squid": 1, "syslog": 1, "eve": 1, "zeek-json": 1}
    assert result.stats.malformed_lines == 0
    assert result.stats.lines > 1_000


def test_windows_events_ipv6_form(corpus_dir: Path) -> None:
    # Sysmon writes the loopback address in full; the indicator is canonical.
    index = memory_index([("ipv6", "::1"), ("domain", "msn.com")])
    hits, result = hunt_with(index, [corpus_dir / EMPIRE])
    assert result.stats.formats == {"jsonl": 1}
    assert result.stats.malformed_lines == 0
    found = {(hit.line, hit.field, hit.value, hit.how) for hit in hits}
    assert (1458, "SourceIp", "::1", "exact") in found
    assert (1458, "DestinationIp", "::1", "exact") in found
    assert (2357, "QueryName", "arc.msn.com", "subdomain") in found
    # Sysmon event 3 at line 1458: UtcTime "2020-07-22 03:28:23.445".
    times = {hit.time for hit in hits if hit.line == 1458}
    assert times == {1_595_388_503_445_000}
