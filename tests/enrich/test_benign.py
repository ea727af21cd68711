"""Known-benign matching: warning lists, reserved ranges and allow lists."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medisac.enrich.benign import (
    ALLOW_DOMAIN,
    ALLOW_NETWORK,
    HEALTHCARE_PREFIX,
    OPERATOR_ALLOW,
    OVER_BROAD,
    RESERVED_PREFIX,
    AllowEntry,
    KnownBenign,
    healthcare_entries,
    healthcare_organisations,
    shared_warning_lists,
)
from medisac.enrich.networks import RangeIndex, network_bounds
from medisac.enrich.warninglists import DISABLED_BY_DEFAULT, SELECTED_LISTS, read_list
from medisac.model import IndicatorType
from medisac.normalize import normalize

T = IndicatorType

PUBLIC_DNS_V4 = "misp:List of known IPv4 public DNS resolvers"


@pytest.fixture(scope="module")
def matcher() -> KnownBenign:
    """The shipped lists and healthcare allow list, with one operator domain."""
    entries = [AllowEntry(ALLOW_DOMAIN, "portal.clinic.example.org", OPERATOR_ALLOW)]
    entries.extend(healthcare_entries())
    return KnownBenign(entries, warning_lists=shared_warning_lists(DISABLED_BY_DEFAULT))


def _canonical(text: str) -> tuple[IndicatorType, str]:
    (value,) = normalize(text)
    return value.type, value.value


# -- no blocklist entry may cover the Internet or a member's own LAN -------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.0.0.0/0", OVER_BROAD),
        ("::/0", OVER_BROAD),
        ("8.0.0.0/7", OVER_BROAD),
        ("2000::/15", OVER_BROAD),
        ("127.0.0.1", RESERVED_PREFIX + "loopback (RFC 1122)"),
        ("10.0.0.0/8", RESERVED_PREFIX + "private network (RFC 1918)"),
        ("192.168.1.104", RESERVED_PREFIX + "private network (RFC 1918)"),
        ("172.31.255.255", RESERVED_PREFIX + "private network (RFC 1918)"),
        ("100.64.0.1", RESERVED_PREFIX + "shared carrier-grade NAT space (RFC 6598)"),
        ("169.254.169.254", RESERVED_PREFIX + "link-local (RFC 3927)"),
        ("224.0.0.251", RESERVED_PREFIX + "multicast (RFC 5771)"),
        ("255.255.255.255", RESERVED_PREFIX + "reserved for future use (RFC 1112)"),
        ("::1", RESERVED_PREFIX + "loopback (RFC 4291)"),
        ("fd12:3456::1", RESERVED_PREFIX + "unique local address (RFC 4193)"),
        ("fe80::1", RESERVED_PREFIX + "link-local (RFC 4291)"),
    ],
)
def test_non_global_ranges_match(
    matcher: KnownBenign, text: str, expected: str
) -> None:
    kind, value = _canonical(text)
    assert matcher.match(kind, value) == expected


def test_blocklist_values_all_held_back(matcher: KnownBenign) -> None:
    # The values of the end-to-end blocklist check, through the matcher.
    for text in ("0.0.0.0/0", "::/0", "127.0.0.1", "10.0.0.0/8", "192.168.1.104"):
        kind, value = _canonical(text)
        assert matcher.match(kind, value) is not None, text


@pytest.mark.parametrize(
    "text",
    [
        "11.0.0.0/8",  # shortest allowed IPv4 network, all public
        "2a00::/16",
        "9.255.255.255",
        "11.0.0.0",
        "172.32.0.1",
        "100.128.0.1",
    ],
)
def test_public_edges_do_not_match(matcher: KnownBenign, text: str) -> None:
    kind, value = _canonical(text)
    assert matcher.match(kind, value) is None


def test_network_over_private_space(matcher: KnownBenign) -> None:
    # A network is held back when any part of it is private, not only inside.
    assert matcher.match(T.CIDR, "172.0.0.0/11") == RESERVED_PREFIX + (
        "private network (RFC 1918)"
    )
    assert matcher.match(T.CIDR, "192.160.0.0/12") is not None
    assert matcher.match(T.CIDR, "172.32.0.0/11") is None


@pytest.mark.parametrize(
    "text",
    ["192.0.2.10", "198.51.100.23", "203.0.113.99", "2001:db8::1", "198.18.0.1"],
)
def test_documentation_ranges_stay_ordinary(matcher: KnownBenign, text: str) -> None:
    kind, value = _canonical(text)
    assert matcher.match(kind, value) is None


# -- warning lists ---------------------------------------------------------


def test_public_resolvers_match(matcher: KnownBenign) -> None:
    assert matcher.match(T.IPV4, "8.8.8.8") == PUBLIC_DNS_V4
    assert matcher.match(T.IPV4, "1.1.1.1") == PUBLIC_DNS_V4
    assert matcher.match(T.IPV6, "2001:4860:4860::8888") == (
        "misp:List of known IPv6 public DNS resolvers"
    )
    # A /32 network of a resolver is the resolver.
    assert matcher.match(T.CIDR, "8.8.8.8/32") == PUBLIC_DNS_V4


def test_cdn_address_matches(matcher: KnownBenign) -> None:
    assert matcher.match(T.IPV4, "104.16.1.1") == (
        "misp:List of known Cloudflare IP ranges"
    )


def test_compute_clouds_not_listed(matcher: KnownBenign) -> None:
    # Tenants of general compute clouds run C2 servers: an AWS EC2 address
    # (3.0.0.0/15 is in the amazon-aws warning list) stays a valid indicator.
    assert "amazon-aws" not in SELECTED_LISTS
    assert matcher.match(T.IPV4, "3.0.5.32") is None


def test_top_site_host_matches_exactly(matcher: KnownBenign) -> None:
    assert matcher.match(T.DOMAIN, "www.google.com") is not None
    assert matcher.match(T.DOMAIN, "google.com") is not None
    # Names under a popular domain are not cleared with it.
    assert matcher.match(T.DOMAIN, "evil-login.google.com") is None
    assert matcher.match(T.DOMAIN, "phish.github.io") is None


def test_www_name_of_listed_site(matcher: KnownBenign) -> None:
    # tranco10k names "amazon.com"; its www host is the same site.
    assert matcher.match(T.DOMAIN, "amazon.com") is not None
    assert matcher.match(T.DOMAIN, "www.amazon.com") is not None


def test_special_use_names_stay_ordinary(matcher: KnownBenign) -> None:
    # rfc6761 is off by default, and popularity lists naming example.com
    # must not clear it either.
    for name in ("example.com", "example.org", "example.net"):
        assert matcher.match(T.DOMAIN, name) is None, name


def test_rfc6761_on_when_enabled() -> None:
    enabled = KnownBenign([], warning_lists=shared_warning_lists(frozenset()))
    assert enabled.match(T.DOMAIN, "example.com") is not None
    assert enabled.match(T.IPV6, "2001:db8::1") is not None


def test_url_root_matches_by_host(matcher: KnownBenign) -> None:
    assert matcher.match(T.URL, "https://accounts.google.com/") is not None
    assert matcher.match(T.URL, "http://www.google.com/") is not None


def test_url_path_on_top_site_kept(matcher: KnownBenign) -> None:
    # A payload on a popular host is a real indicator.
    assert matcher.match(T.URL, "https://github.com/u/r/raw/main/a.exe") is None
    assert matcher.match(T.URL, "https://www.google.com/?q=x") is None


def test_url_on_private_host_matches(matcher: KnownBenign) -> None:
    assert matcher.match(T.URL, "http://192.168.0.1:8080/Mozi.m") == (
        RESERVED_PREFIX + "private network (RFC 1918)"
    )
    assert matcher.match(T.URL, "http://[::1]/x") == (
        RESERVED_PREFIX + "loopback (RFC 4291)"
    )
    assert matcher.match(T.URL, "http://198.51.100.7/x") is None


def test_known_false_positive_hashes(matcher: KnownBenign) -> None:
    empty_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert matcher.match(T.SHA256, empty_sha256) == (
        "misp:List of known hashes for empty files"
    )
    assert matcher.match(T.MD5, "d41d8cd98f00b204e9800998ecf8427e") is not None
    assert matcher.match(T.SHA256, "a" * 64) is None


def test_every_selected_list_ships() -> None:
    for key in SELECTED_LISTS:
        warning_list = read_list(key)
        assert warning_list.entries, key
        assert warning_list.kinds, key


def test_disabled_list_is_skipped() -> None:
    without = KnownBenign(
        [], warning_lists=shared_warning_lists(frozenset({"public-dns-v4"}))
    )
    assert without.match(T.IPV4, "8.8.8.8") is None
    assert without.match(T.IPV4, "104.16.1.1") is not None


# -- allow lists -----------------------------------------------------------


def test_operator_domain_covers_names_under(matcher: KnownBenign) -> None:
    assert matcher.match(T.DOMAIN, "portal.clinic.example.org") == OPERATOR_ALLOW
    assert matcher.match(T.DOMAIN, "a.b.portal.clinic.example.org") == OPERATOR_ALLOW
    assert matcher.match(T.URL, "https://portal.clinic.example.org/x?y=1") == (
        OPERATOR_ALLOW
    )
    assert matcher.match(T.EMAIL, "it@portal.clinic.example.org") == OPERATOR_ALLOW


def test_domain_boundary_respected(matcher: KnownBenign) -> None:
    assert matcher.match(T.DOMAIN, "evilportal.clinic.example.org") is None
    assert matcher.match(T.DOMAIN, "clinic.example.org") is None


def test_healthcare_vendor_matches(matcher: KnownBenign) -> None:
    assert matcher.match(T.DOMAIN, "fhir.epic.com") == HEALTHCARE_PREFIX + (
        "Epic Systems"
    )
    assert matcher.match(T.URL, "https://www.surescripts.com/news") == (
        HEALTHCARE_PREFIX + "Surescripts"
    )
    assert matcher.match(T.DOMAIN, "epic.com.evil.example.net") is None


def test_healthcare_list_entries_are_sound() -> None:
    organisations = healthcare_organisations()
    names = {organisation.name for organisation in organisations}
    for wanted in ("Epic Systems", "Oracle Health (Cerner)", "MEDITECH", "Carequality"):
        assert wanted in names
    for organisation in organisations:
        assert organisation.reason.strip(), organisation.name
        assert organisation.domains, organisation.name
        for domain in organisation.domains:
            assert _canonical(domain) == (T.DOMAIN, domain), domain


def test_operator_network_and_address() -> None:
    allowed = KnownBenign.allow_only(
        [
            AllowEntry(ALLOW_NETWORK, "203.0.113.0/25", OPERATOR_ALLOW),
            AllowEntry("ipv4", "198.51.100.5", OPERATOR_ALLOW),
            AllowEntry("sha256", "b" * 64, OPERATOR_ALLOW),
        ]
    )
    assert allowed.match(T.IPV4, "203.0.113.5") == OPERATOR_ALLOW
    assert allowed.match(T.IPV4, "203.0.113.200") is None
    assert allowed.match(T.CIDR, "203.0.113.0/26") == OPERATOR_ALLOW
    assert allowed.match(T.CIDR, "203.0.113.0/24") is None
    assert allowed.match(T.URL, "http://198.51.100.5/a") == OPERATOR_ALLOW
    assert allowed.match(T.SHA256, "b" * 64) == OPERATOR_ALLOW
    # Without the shipped lists, nothing else matches.
    assert allowed.match(T.IPV4, "8.8.8.8") is None


def test_operator_list_wins(matcher: KnownBenign) -> None:
    both = KnownBenign(
        [AllowEntry("ipv4", "8.8.8.8", OPERATOR_ALLOW)],
        warning_lists=shared_warning_lists(DISABLED_BY_DEFAULT),
    )
    assert both.match(T.IPV4, "8.8.8.8") == OPERATOR_ALLOW


def test_invalid_value_matches_nothing(matcher: KnownBenign) -> None:
    assert matcher.match(T.IPV4, "not-an-address") is None
    assert matcher.match(T.CIDR, "10.0.0.0/99") is None


# -- values from real feeds in the corpus ----------------------------------


def _line(path: Path, number: int) -> str:
    return path.read_text(encoding="utf-8").splitlines()[number - 1].strip()


@pytest.mark.corpus
def test_corpus_feed_values_match(matcher: KnownBenign, corpus_dir: Path) -> None:
    threatfox = corpus_dir / "indicators/text/threatfox/ThreatFox-IOC-IPs.txt"
    signature_base = corpus_dir / "indicators/text/signature-base/c2-iocs.txt"
    cgnat = _line(threatfox, 8438)
    cloudflare = _line(threatfox, 15122)
    top_site = _line(signature_base, 1901)
    assert (cgnat, cloudflare, top_site) == (
        "100.65.29.247",
        "172.65.185.109",
        "repocket.com",
    )
    assert matcher.match(T.IPV4, cgnat) == RESERVED_PREFIX + (
        "shared carrier-grade NAT space (RFC 6598)"
    )
    assert matcher.match(T.IPV4, cloudflare) == (
        "misp:List of known Cloudflare IP ranges"
    )
    assert matcher.match(T.DOMAIN, top_site) == (
        "misp:Top 10K most-used sites from Tranco"
    )


# -- properties ------------------------------------------------------------

_ranges = st.lists(
    st.tuples(
        st.integers(0, 2**16 - 1), st.integers(0, 300), st.sampled_from("abc")
    ).map(lambda item: (item[0], item[0] + item[1], item[2])),
    max_size=20,
)


@given(_ranges, st.integers(0, 2**16 + 400))
def test_range_index_finds_first_range(
    ranges: list[tuple[int, int, str]], number: int
) -> None:
    expected = next(
        (name for first, last, name in ranges if first <= number <= last), None
    )
    assert RangeIndex(ranges).find(number) == expected


@given(_ranges, st.integers(0, 2**16), st.integers(0, 600))
def test_range_index_overlap(
    ranges: list[tuple[int, int, str]], first: int, width: int
) -> None:
    last = first + width
    found = RangeIndex(ranges).overlapping(first, last)
    overlaps = {name for a, b, name in ranges if a <= last and b >= first}
    if overlaps:
        assert found in overlaps
    else:
        assert found is None


@given(st.ip_addresses(), st.integers(0, 128))
def test_network_bounds_agree(address: object, prefix: int) -> None:
    assert isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address)
    prefix = min(prefix, address.max_prefixlen)
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    assert network_bounds(f"{address}/{prefix}") == (
        network.version,
        prefix,
        int(network.network_address),
        int(network.broadcast_address),
    )


_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)


@given(st.lists(_label, min_size=1, max_size=4))
def test_names_under_allowed_domain(labels: list[str]) -> None:
    allowed = KnownBenign.allow_only(
        [AllowEntry(ALLOW_DOMAIN, "clinic.example.org", OPERATOR_ALLOW)]
    )
    name = ".".join(labels)
    assert allowed.match(T.DOMAIN, f"{name}.clinic.example.org") == OPERATOR_ALLOW
    # Glued to the allowed name without a dot, it is another domain.
    assert allowed.match(T.DOMAIN, f"{name}clinic.example.org") is None
