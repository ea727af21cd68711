"""Property-based tests: idempotence, refang invariance, type consistency."""

from __future__ import annotations

import ipaddress
import string

from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.provisional import domains, urls

from medisac.errors import NormalizationError
from medisac.model.types import HASH_TYPES
from medisac.model.types import IndicatorType as T
from medisac.normalize import DECLARED_TYPES, Value, normalize
from medisac.normalize.hashes import HEX_LENGTHS

DECLARED = st.sampled_from([None, "", *sorted(DECLARED_TYPES)])
# File names are kept as written, so only the other types are refanged.
REFANGED_TYPES = st.sampled_from(
    [None, *sorted(name for name in DECLARED_TYPES if "filename" not in name)]
)
# Characters that reach the IP, URL, composite and hash parsers' edge cases.
TRICKY = st.text(
    alphabet="0123456789abcdefxn.:/[]()-_%@|= \t\ufeffü\u200bXHTPS",
    max_size=40,
)
ANY_TEXT = st.one_of(st.text(), TRICKY)
DOMAINS = domains(max_length=253)


def outcome(raw: str, declared: str | None = None) -> list[Value] | str:
    """Return the values for ``raw``, or the rejection reason."""
    try:
        return normalize(raw, declared)
    except NormalizationError as exc:
        return exc.reason


def assert_consistent(value: Value) -> None:
    """Fail unless the canonical text of ``value`` fits its type."""
    text = value.value
    assert text == text.strip()
    assert text
    if value.type is T.IPV4:
        assert str(ipaddress.IPv4Address(text)) == text
    elif value.type is T.IPV6:
        assert ":" in text
        ipaddress.IPv6Address(text)
        assert_not_ipv4(text)
    elif value.type is T.CIDR:
        network = ipaddress.ip_network(text, strict=True)
        assert network.prefixlen < network.max_prefixlen
    elif value.type is T.DOMAIN:
        assert_domain(text)
    elif value.type is T.EMAIL:
        assert_domain(text.rpartition("@")[2])
    elif value.type is T.URL:
        scheme = text.partition("://")[0]
        assert scheme and scheme == scheme.lower()
    elif value.type in HASH_TYPES:
        assert len(text) == HEX_LENGTHS[value.type]
        assert all(char in string.hexdigits.lower()[:16] for char in text)
    else:
        assert value.type is T.FILENAME
        assert len(text) <= 255
        assert all(ord(char) >= 0x20 and not 0x7F <= ord(char) <= 0x9F for char in text)


def assert_not_ipv4(text: str) -> None:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return
    raise AssertionError(f"ipv6 value {text!r} parses as IPv4")


def assert_domain(text: str) -> None:
    assert text.isascii()
    assert text == text.lower()
    assert len(text) <= 253
    labels = text.split(".")
    assert len(labels) >= 2
    assert all(0 < len(label) <= 63 for label in labels)


@given(ANY_TEXT, DECLARED)
def test_only_normalization_errors(raw: str, declared: str | None) -> None:
    try:
        values = normalize(raw, declared)
    except NormalizationError as exc:
        assert exc.reason
        assert exc.value == raw
        return
    assert values
    for value in values:
        assert_consistent(value)


@given(ANY_TEXT, DECLARED)
def test_idempotent(raw: str, declared: str | None) -> None:
    try:
        values = normalize(raw, declared)
    except NormalizationError:
        return
    for value in values:
        # Context belongs to the composite it came from, not to the value.
        assert normalize(value.value, value.type) == [Value(value.type, value.value)]


@given(
    st.one_of(
        st.ip_addresses(v=4).map(str),
        st.ip_addresses(v=6).map(lambda address: address.exploded.upper()),
        st.ip_addresses(v=6).map(str),
        DOMAINS,
        urls(),
        st.emails(domains=DOMAINS),
        st.binary(min_size=16, max_size=16).map(bytes.hex),
        st.binary(min_size=32, max_size=32).map(lambda data: data.hex().upper()),
    )
)
def test_valid_values_round_trip(raw: str) -> None:
    detected = normalize(raw, None) if _detectable(raw) else []
    for value in detected:
        assert_consistent(value)
        assert normalize(value.value, value.type) == [value]


def _detectable(raw: str) -> bool:
    return not isinstance(outcome(raw), str)


DOT_FORMS = st.sampled_from(["[.]", "(.)", "{.}", "[dot]", "(dot)", "[DOT]"])
AT_FORMS = st.sampled_from(["[@]", "(at)", "[at]", "(@)"])


@given(st.one_of(DOMAINS, st.ip_addresses(v=4).map(str)), DOT_FORMS, REFANGED_TYPES)
def test_defanged_dots_same_outcome(raw: str, dot: str, declared: str | None) -> None:
    assert outcome(raw.replace(".", dot), declared) == outcome(raw, declared)


@given(DOMAINS, DOT_FORMS)
def test_filename_not_refanged(raw: str, dot: str) -> None:
    defanged = raw.replace(".", dot)
    assert normalize(defanged, "filename") == [Value(T.FILENAME, defanged)]


@given(st.emails(domains=DOMAINS), AT_FORMS, DOT_FORMS)
def test_defanged_email_same_outcome(raw: str, at: str, dot: str) -> None:
    local, _, domain = raw.rpartition("@")
    defanged = f"{local}{at}{domain.replace('.', dot)}"
    assert outcome(defanged) == outcome(raw)


@given(
    st.sampled_from(["http", "https"]),
    DOMAINS,
    st.from_regex(r"(/[a-zA-Z0-9_~-]{0,8}){0,3}", fullmatch=True),
    st.sampled_from(["hxxp", "hXXp", "HXXP"]),
    st.sampled_from(["://", "[://]", "[:]//"]),
    DOT_FORMS,
)
def test_defanged_url_same_outcome(
    scheme: str, host: str, path: str, fang: str, separator: str, dot: str
) -> None:
    raw = f"{scheme}://{host}{path}"
    defanged_scheme = fang + scheme[4:]
    defanged = f"{defanged_scheme}{separator}{host.replace('.', dot)}{path}"
    expected = outcome(raw, "url")
    assert outcome(defanged, "url") == expected
    if isinstance(expected, list):
        assert expected[0].value.startswith(scheme + "://")


@given(st.ip_addresses(v=4), st.integers(min_value=0, max_value=31))
def test_ipv4_host_bits_rejected(address: ipaddress.IPv4Address, prefix: int) -> None:
    network = ipaddress.IPv4Network(f"{address}/{prefix}", strict=False)
    assume(network.network_address != address)
    result = outcome(f"{address}/{prefix}")
    assert isinstance(result, str)
    assert "host bits set" in result


@given(st.ip_addresses(v=6), st.integers(min_value=0, max_value=127))
def test_ipv6_host_bits_rejected(address: ipaddress.IPv6Address, prefix: int) -> None:
    network = ipaddress.IPv6Network(f"{address}/{prefix}", strict=False)
    assume(network.network_address != address)
    result = outcome(f"{address}/{prefix}", "cidr")
    assert isinstance(result, str)
    assert "host bits set" in result


@given(st.ip_addresses(v=4), st.integers(min_value=33, max_value=999))
def test_ipv4_prefix_too_long_rejected(
    address: ipaddress.IPv4Address, prefix: int
) -> None:
    assert isinstance(outcome(f"{address}/{prefix}"), str)


@given(
    st.lists(st.integers(min_value=0, max_value=255), min_size=4, max_size=4),
    st.integers(min_value=0, max_value=3),
)
def test_ipv4_leading_zero_rejected(octets: list[int], position: int) -> None:
    parts = [str(octet) for octet in octets]
    parts[position] = "0" + parts[position]
    result = outcome(".".join(parts))
    assert isinstance(result, str)
    assert "leading zero" in result


@given(
    st.sampled_from(sorted(HASH_TYPES)),
    st.integers(min_value=1, max_value=160),
    st.data(),
)
def test_hash_wrong_length_rejected(kind: T, length: int, data: st.DataObject) -> None:
    assume(length != HEX_LENGTHS[kind])
    digest = data.draw(
        st.text(alphabet="0123456789abcdefABCDEF", min_size=length, max_size=length)
    )
    result = outcome(digest, kind.value)
    assert isinstance(result, str)
    assert f"{length} hex digits" in result


@given(DOMAINS, st.integers(min_value=64, max_value=80))
def test_long_label_rejected(domain: str, length: int) -> None:
    result = outcome("a" * length + "." + domain, "domain")
    assert isinstance(result, str)
    assert "label longer than 63 octets" in result
