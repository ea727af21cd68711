"""Value-level expectations of the hard cases in the shared cases folder.

Each table mirrors the "Expected" list of one case: which canonical value a
line or attribute gives, and which lines are rejected and why. The inputs are
read from the case files, so a changed case shows up here.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from medisac.errors import NormalizationError
from medisac.model.types import IndicatorType as T
from medisac.normalize import Value, normalize, url_host

from .helpers import reason


def read_lines(path: Path) -> dict[int, str]:
    """Return the lines of a text case file by number, counting from 1."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return {number: line for number, line in enumerate(lines, start=1)}


def misp_attributes(path: Path) -> dict[str, dict[str, Any]]:
    """Return the attributes of a one-event MISP file by uuid."""
    event = json.loads(path.read_text(encoding="utf-8"))["Event"]
    return {attribute["uuid"]: attribute for attribute in event["Attribute"]}


def outcome(raw: str, declared: str | None = None) -> list[Value] | str:
    """Return the values for ``raw``, or the rejection reason."""
    try:
        return normalize(raw, declared)
    except NormalizationError as exc:
        return exc.reason


REFANG_EXPECTED = {
    2: (T.URL, "https://portal-login.example.com/auth/start"),
    3: (T.URL, "https://billing.example.net/pay"),
    4: (T.URL, "http://updates.example.org/patch.bin"),
    5: (T.URL, "https://records-share.example.com/doc"),
    6: (T.URL, "http://mail-relay.example.com/x"),
    7: (T.URL, "http://intake.example.org/form"),
    8: (T.URL, "https://files.example.org/report.pdf"),
    9: (T.URL, "http://[2001:db8::7]:8080/panel"),
    # The case allows rejection; medisac keeps unknown schemes as written.
    10: (T.URL, "tcp://relay.example.net:8989/c"),
    11: (T.DOMAIN, "clinic-payroll.example.org"),
    12: (T.EMAIL, "billing@example.net"),
    13: (T.IPV4, "198.51.100.12"),
}


@pytest.fixture(scope="module")
def refang_list(cases_dir: Path) -> dict[int, str]:
    return read_lines(cases_dir / "B01-refang-schemes.txt")


@pytest.mark.parametrize(("line", "expected"), sorted(REFANG_EXPECTED.items()))
def test_refang_list_values(
    refang_list: dict[int, str], line: int, expected: tuple[T, str]
) -> None:
    assert normalize(refang_list[line]) == [Value(*expected)]


def test_refang_list_fully_covered(refang_list: dict[int, str]) -> None:
    values = {n for n, text in refang_list.items() if text and not text.startswith("#")}
    assert values == set(REFANG_EXPECTED)


@pytest.mark.parametrize("line", [2, 3, 5, 8])
def test_hxxps_stays_https(refang_list: dict[int, str], line: int) -> None:
    [value] = normalize(refang_list[line])
    assert value.value.startswith("https://")


def test_no_defang_marker_left(refang_list: dict[int, str]) -> None:
    for line in REFANG_EXPECTED:
        [value] = normalize(refang_list[line])
        text = value.value.lower()
        for marker in ("(dot)", "[.]", "[@]", "hxxp"):
            assert marker not in text, (line, value)
        if line != 9:
            assert "[" not in text, (line, value)
            assert "]" not in text, (line, value)


def test_unknown_scheme_never_http(refang_list: dict[int, str]) -> None:
    [value] = normalize(refang_list[10])
    assert not value.value.startswith(("http://", "https://"))


DIGIT_HOST_URLS = {
    2: "https://10.20.30.40.cdn-edge.example.net:8443/dl/setup.msi",
    3: "http://192.0.2.10.mirror-one.example.org/a",
    4: "https://localhost.portal.example.com/login",
    5: "http://198.51.100.23:8080/gate.php",
}
DIGIT_HOSTS = {
    2: Value(T.DOMAIN, "10.20.30.40.cdn-edge.example.net"),
    3: Value(T.DOMAIN, "192.0.2.10.mirror-one.example.org"),
    4: Value(T.DOMAIN, "localhost.portal.example.com"),
    5: Value(T.IPV4, "198.51.100.23"),
}


@pytest.fixture(scope="module")
def digit_hosts(cases_dir: Path) -> dict[int, str]:
    return read_lines(cases_dir / "B03-url-host-ipv4-prefix.txt")


@pytest.mark.parametrize("line", sorted(DIGIT_HOST_URLS))
def test_digit_host_url_kept_whole(digit_hosts: dict[int, str], line: int) -> None:
    assert normalize(digit_hosts[line]) == [Value(T.URL, DIGIT_HOST_URLS[line])]


@pytest.mark.parametrize("line", sorted(DIGIT_HOSTS))
def test_digit_host_derived_host(digit_hosts: dict[int, str], line: int) -> None:
    assert url_host(digit_hosts[line]) == DIGIT_HOSTS[line]


def test_no_ipv4_prefix_host(digit_hosts: dict[int, str]) -> None:
    hosts = {url_host(digit_hosts[line]) for line in DIGIT_HOST_URLS}
    assert Value(T.IPV4, "10.20.30.40") not in hosts
    assert Value(T.IPV4, "192.0.2.10") not in hosts


@pytest.fixture(scope="module")
def spellings(cases_dir: Path) -> dict[int, str]:
    return read_lines(cases_dir / "B04-canonical-dedup-idn-ipv6.txt")


def test_idn_spellings_one_record(spellings: dict[int, str]) -> None:
    values = {value for line in range(2, 6) for value in normalize(spellings[line])}
    assert values == {Value(T.DOMAIN, "xn--klinik-mnchen-3ob.example.com")}


def test_ipv6_spellings_one_record(spellings: dict[int, str]) -> None:
    values = {value for line in range(6, 10) for value in normalize(spellings[line])}
    assert values == {Value(T.IPV6, "2001:db8::1")}


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        (
            "klinik-münchen.example.com",
            Value(T.DOMAIN, "xn--klinik-mnchen-3ob.example.com"),
        ),
        (
            "KLINIK-MÜNCHEN.EXAMPLE.COM",
            Value(T.DOMAIN, "xn--klinik-mnchen-3ob.example.com"),
        ),
        ("2001:0db8::0001", Value(T.IPV6, "2001:db8::1")),
    ],
)
def test_search_forms_match(search: str, expected: Value) -> None:
    assert normalize(search) == [expected]


LONG_NAMES_STORED = {
    4: "a-very-long-but-valid-host-name-part-number-one."
    "and-a-second-fairly-long-label-here.example.com",
    8: "good-host.example.net",
}
BAD_LABELS_REJECTED = {
    2: "empty label (leading dot)",
    3: "empty label",
    5: "label longer than 63 octets",
    6: "name longer than 253 characters",
    7: "invalid punycode label 'xn--zz'",
}


@pytest.fixture(scope="module")
def bad_labels(cases_dir: Path) -> dict[int, str]:
    return read_lines(cases_dir / "B05-fqdn-bad-labels.txt")


def test_bad_labels_line_lengths(bad_labels: dict[int, str]) -> None:
    assert len(bad_labels[4]) == 95
    assert len(bad_labels[6]) == 254


@pytest.mark.parametrize("line", sorted(LONG_NAMES_STORED))
def test_long_valid_names_stored(bad_labels: dict[int, str], line: int) -> None:
    assert normalize(bad_labels[line]) == [Value(T.DOMAIN, LONG_NAMES_STORED[line])]


@pytest.mark.parametrize("line", sorted(BAD_LABELS_REJECTED))
def test_bad_labels_rejected(bad_labels: dict[int, str], line: int) -> None:
    assert BAD_LABELS_REJECTED[line] in reason(bad_labels[line])
    assert BAD_LABELS_REJECTED[line] in reason(bad_labels[line], "domain")


def test_empty_label_not_dropped(bad_labels: dict[int, str]) -> None:
    assert outcome(bad_labels[2]) != [Value(T.DOMAIN, "shadow-resolver.example.net")]
    assert outcome(bad_labels[3]) != [Value(T.DOMAIN, "cache01.example.org")]


MISP_NETWORKS: dict[str, Value | str] = {
    "46d7f504-bdd7-5bdf-ad30-1c953dd213b8": Value(T.CIDR, "198.51.100.0/24"),
    "5d09d541-4014-5a03-b737-e50776c72bac": Value(T.CIDR, "2001:db8:abcd::/48"),
    "a4b3c291-a56c-5812-880a-7435da42368d": Value(T.IPV4, "203.0.113.7"),
    "798e80c3-5168-54a2-a863-9ab2cdbe21b2": Value(T.IPV4, "203.0.113.7"),
    "0cac035c-7b11-554a-8314-ece5753f3a91": "host bits set",
    "fd74681d-9b4b-5ea6-9409-80d70e7be7a8": "/129 is longer than 128 bits",
}


@pytest.mark.parametrize(("uuid", "expected"), sorted(MISP_NETWORKS.items()))
def test_misp_networks(cases_dir: Path, uuid: str, expected: Value | str) -> None:
    attribute = misp_attributes(cases_dir / "B07-misp-cidr-as-ipv6.json")[uuid]
    result = outcome(attribute["value"], attribute["type"])
    if isinstance(expected, Value):
        assert result == [expected]
    else:
        assert isinstance(result, str)
        assert expected in result


def test_no_ipv6_contains_ipv4(cases_dir: Path) -> None:
    attributes = misp_attributes(cases_dir / "B07-misp-cidr-as-ipv6.json")
    for attribute in attributes.values():
        result = outcome(attribute["value"], attribute["type"])
        for value in result if isinstance(result, list) else []:
            if value.type is T.IPV6:
                assert ":" in value.value
            if value.type is T.CIDR and "." in value.value:
                assert ":" not in value.value


COMPOSITE_SHA256 = "b484d0f98ae469cb4c9654587c8b274f5eb71c767263187444cc8afa1073052a"
MISP_COMPOSITES: dict[str, list[Value] | str] = {
    "5cf05863-7ef2-56f5-ad33-b4f927e4697c": [
        Value(T.SHA256, COMPOSITE_SHA256, {"filename": "invoice|final|v2.exe"}),
        Value(T.FILENAME, "invoice|final|v2.exe"),
    ],
    "8f428a7b-f4dd-5ecb-b323-6a7cf0963fd3": [
        Value(T.MD5, "7325192a9305a8ecdf4a6563277f7201", {"filename": "Setup.EXE"}),
        Value(T.FILENAME, "Setup.EXE"),
    ],
    "9f4caa8d-325d-545c-9809-3e8462f493bb": [
        Value(T.DOMAIN, "mail-gw.example.org"),
        Value(T.IPV6, "2001:db8::25"),
    ],
    "ac948d7c-ce7b-5c4d-9abf-c84769e3239a": [
        Value(T.IPV6, "2001:db8::1", {"port": 443}),
    ],
    "28c996d2-98c6-5da8-aab9-fc4113098666": [
        Value(T.IPV4, "198.51.100.20", {"port": 8080}),
    ],
    "3521e1a7-512f-5083-a345-f84d1dfbbec7": [
        Value(T.DOMAIN, "vpn.example.net", {"port": 4443}),
    ],
    "aa32c707-9dd5-5c1a-a97d-f8aa6269594b": "sha256 part is empty",
    "f9ec6799-25a5-5d8a-93a1-6fe9c9ded3c5": "sha256 part: 63 hex digits",
}


@pytest.fixture(scope="module")
def composites(cases_dir: Path) -> dict[str, dict[str, Any]]:
    return misp_attributes(cases_dir / "B29-misp-composite-split.json")


def test_composite_attributes_covered(composites: dict[str, dict[str, Any]]) -> None:
    assert set(composites) == set(MISP_COMPOSITES)


@pytest.mark.parametrize(("uuid", "expected"), sorted(MISP_COMPOSITES.items()))
def test_misp_composites(
    composites: dict[str, dict[str, Any]], uuid: str, expected: list[Value] | str
) -> None:
    attribute = composites[uuid]
    result = outcome(attribute["value"], attribute["type"])
    if isinstance(expected, list):
        assert result == expected
    else:
        assert isinstance(result, str)
        assert expected in result


def test_no_hash_contains_bar(composites: dict[str, dict[str, Any]]) -> None:
    for attribute in composites.values():
        result = outcome(attribute["value"], attribute["type"])
        for value in result if isinstance(result, list) else []:
            if value.type is not T.FILENAME:
                assert "|" not in value.value


HASH_ROW_SHA256 = "4fe535ab6823de249137118542338caa280e52332864319ea3010ae34d26ba30"
HASH_ROWS: dict[int, Value | str] = {
    2: Value(T.SHA256, HASH_ROW_SHA256),
    3: Value(T.SHA256, HASH_ROW_SHA256),
    4: Value(T.SHA256, HASH_ROW_SHA256),
    5: Value(T.SHA256, HASH_ROW_SHA256),
    6: "32 hex digits but the declared type is sha256 (64 digits)",
    7: "63 hex digits",
    8: "65 hex digits",
    9: "non-hex character 'g'",
    10: Value(T.MD5, "d32cf66a18575fa77a043998b417efe1"),
    11: Value(T.SHA1, "1a904ef3147267efc3dfc5dc348104bca1fecaaf"),
    12: Value(
        T.SHA512,
        "172e237303a9a7f730a33424588bed2b999f3958f550cf89f0e19b1d9d1ec26d"
        "be66dcc44a99d2a45d4fd6825ccc892cb77668e842844658252eddc06f39892a",
    ),
}


@pytest.fixture(scope="module")
def hash_rows_csv(cases_dir: Path) -> dict[int, tuple[str, str]]:
    path = cases_dir / "B32-hash-case-length.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    # Row n of the file is line n + 1; the header is line 1.
    return {
        number: (row[0], row[1]) for number, row in enumerate(rows, 1) if number > 1
    }


def test_hash_rows_covered(hash_rows_csv: dict[int, tuple[str, str]]) -> None:
    assert set(hash_rows_csv) == set(HASH_ROWS)


@pytest.mark.parametrize(("line", "expected"), sorted(HASH_ROWS.items()))
def test_hash_rows(
    hash_rows_csv: dict[int, tuple[str, str]], line: int, expected: Value | str
) -> None:
    value, declared = hash_rows_csv[line]
    result = outcome(value, declared)
    if isinstance(expected, Value):
        assert result == [expected]
    else:
        assert isinstance(result, str)
        assert expected in result


def test_md5_as_sha256_not_retyped(hash_rows_csv: dict[int, tuple[str, str]]) -> None:
    value, _ = hash_rows_csv[6]
    assert outcome(value, "sha256") != [Value(T.MD5, value)]
    assert isinstance(outcome(value, "sha256"), str)


def test_upper_case_hash_search() -> None:
    assert normalize(HASH_ROW_SHA256.upper()) == [Value(T.SHA256, HASH_ROW_SHA256)]
