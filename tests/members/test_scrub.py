"""Scrubbing personal and patient data from member submissions."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medisac.members.scrub import (
    KeepSet,
    Redaction,
    placeholder,
    scrub_json,
    scrub_text,
)

PROPERTY = settings(max_examples=200, deadline=None)

PHISHING_SENDER = "billing@medicare-claims-portal.com"
PHISHING_URL = "https://medicare-claims-portal.com/verify/login.php?id=7781"

FORWARDED_REPORT = """\
Hi team, forwarding the mail below. Three nurses on 4 West clicked the link
before we blocked it. Sender and URL are submitted as indicators.

-----Original Message-----
From: Medicare Claims <billing@medicare-claims-portal.com>
Sent: Tuesday, March 5, 2024 8:14 AM
To: Maria Gonzalez <maria.gonzalez@stmarys-health.org>;
 "Okafor, Chidi" <cokafor@stmarys-health.org>
Cc: nursing-4west@stmarys-health.org
Subject: Action required: claim denied for MRN 00482913

Dear Maria Gonzalez,

The claim for patient Patient: Robert Whitfield (DOB: 04/12/1958,
MRN: 00482913, Acct# 7730019921) was denied. Verify the patient record at
hxxps://medicare-claims-portal[.]com/verify/login.php?id=7781 within 24 hours.

Server 10.20.30.40 logged the click at 2024-03-05T08:21:33Z on port 8443.

Regards,
Daniel Keane
Information Security Analyst, St. Mary's Health
Desk: (555) 214-8890 ext. 4471 | Mobile: +1 555 867 5309
daniel.keane@stmarys-health.org
"""


def redacted(text: str, keep: tuple[str, ...] = ()) -> str:
    return scrub_text(text, keep).text


# -- the forwarded phishing report ---------------------------------------------


def test_report_redacts_staff_and_patient() -> None:
    result = scrub_text(FORWARDED_REPORT, keep=(PHISHING_SENDER, PHISHING_URL))
    text = result.text
    for personal in (
        "maria.gonzalez@stmarys-health.org",
        "cokafor@stmarys-health.org",
        "nursing-4west@stmarys-health.org",
        "daniel.keane@stmarys-health.org",
        "Maria Gonzalez",
        "Okafor, Chidi",
        "Robert Whitfield",
        "Daniel Keane",
        "04/12/1958",
        "00482913",
        "7730019921",
        "214-8890",
        "867 5309",
    ):
        assert personal not in text, personal
    assert text.count(placeholder("email")) == 4
    assert placeholder("dob") in text
    assert placeholder("mrn") in text
    assert placeholder("account") in text
    assert text.count(placeholder("phone")) == 2


def test_report_keeps_indicators() -> None:
    text = redacted(FORWARDED_REPORT, keep=(PHISHING_SENDER, PHISHING_URL))
    assert "Medicare Claims <billing@medicare-claims-portal.com>" in text
    assert "hxxps://medicare-claims-portal[.]com/verify/login.php?id=7781" in text
    assert "10.20.30.40" in text
    assert "2024-03-05T08:21:33Z" in text
    assert "port 8443" in text
    assert "Sent: Tuesday, March 5, 2024 8:14 AM" in text
    assert "Information Security Analyst, St. Mary's Health" in text


def test_report_without_keep_redacts_sender() -> None:
    text = redacted(FORWARDED_REPORT)
    assert PHISHING_SENDER not in text
    assert "Medicare Claims" not in text
    # A URL is no personal data, so it stays even when it was not declared.
    assert "hxxps://medicare-claims-portal[.]com/verify/login.php" in text


def test_report_offsets_point_into_input() -> None:
    result = scrub_text(FORWARDED_REPORT, keep=(PHISHING_SENDER, PHISHING_URL))
    spans = {FORWARDED_REPORT[r.start : r.end]: r.kind for r in result.redactions}
    assert spans["maria.gonzalez@stmarys-health.org"] == "email"
    assert spans["Robert Whitfield"] == "name"
    assert spans["04/12/1958"] == "dob"
    assert spans["00482913"] == "mrn"
    assert spans["(555) 214-8890 ext. 4471"] == "phone"
    starts = [r.start for r in result.redactions]
    assert starts == sorted(starts)


# -- one table per detector ------------------------------------------------------

EMAILS = [
    ("mail jane.doe@hospital.org now", "mail [REDACTED:email] now"),
    ("<J.Doe+triage@Clinic.Example.COM>", "<[REDACTED:email]>"),
    ("mailto:front-desk@clinic.example.net", "mailto:[REDACTED:email]"),
    ("jdoe[@]hospital[.]org", "[REDACTED:email]"),
    ("jdoe(at)hospital(dot)org", "[REDACTED:email]"),
    ("see...jdoe@hospital.org.", "see...[REDACTED:email]."),
    (
        "https://nurse@portal.example.com/x",
        "https://[REDACTED:email]@portal.example.com/x",
    ),
    (
        "https://evil.example/a?u=rn.lee@hospital.org",
        "https://evil.example/a?u=[REDACTED:email]",
    ),
    ('"Lee, Ann" <alee@hospital.org>', '"[REDACTED:name]" <[REDACTED:email]>'),
    ("Ann Lee <alee@hospital.org>", "[REDACTED:name] <[REDACTED:email]>"),
    (
        "contact Ann Lee <alee@hospital.org>",
        "contact [REDACTED:name] <[REDACTED:email]>",
    ),
]
NOT_EMAILS = [
    "lodash@4.17.21",
    "user@localhost",
    "npm install @babel/core",
    "a@b",
    "price @ 5.00",
]


@pytest.mark.parametrize(("text", "expected"), EMAILS)
def test_email_redacted(text: str, expected: str) -> None:
    assert redacted(text) == expected


@pytest.mark.parametrize("text", NOT_EMAILS)
def test_email_near_miss_kept(text: str) -> None:
    assert redacted(text) == text


PHONES = [
    "(555) 123-4567",
    "555-123-4567",
    "555.123.4567",
    "555 123 4567",
    "+1 555 123 4567",
    "1-555-123-4567",
    "+1 (555) 123-4567",
    "555-123-4567 x1234",
    "555-123-4567 ext. 12",
    "(555)123-4567",
    "+44 20 7946 0958",
    "+442079460958",
    "+49 (30) 901820",
    "+33 1 23 45 67 89",
]
NOT_PHONES = [
    "10.20.30.40",
    "192.168.100.200",
    "2024-01-15",
    "01/15/2024",
    "CVE-2024-1234",
    "CVE-2023-44487",
    "version 10.2.3.4",
    "build 2023.10.1234",
    "port 8443",
    "2024-01-15T12:34:56Z",
    "12:34:56.789",
    "Fri, 8 Sep 2023 05:47:04 +0000",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "uuid e161fdcf-9708-4e51-66e5-08dbb02f07be",
    "id 15.20.6768.30",
    "+0530",
    "555-1234",
    "http://example.com/555-123-4567",
    "ticket #555-123-4567",
    "10.1.1.1:555-123-4567",
    "2603:10a6:10:130::24",
]


@pytest.mark.parametrize("number", PHONES)
def test_phone_redacted(number: str) -> None:
    assert redacted(f"call {number} today") == "call [REDACTED:phone] today"


@pytest.mark.parametrize("text", NOT_PHONES)
def test_phone_near_miss_kept(text: str) -> None:
    assert redacted(text) == text


SSNS = [
    ("123-45-6789", "[REDACTED:ssn]"),
    ("123 45 6789", "[REDACTED:ssn]"),
    ("SSN: 123456789", "SSN: [REDACTED:ssn]"),
    ("ssn#123-45-6789", "ssn#[REDACTED:ssn]"),
    ("Social Security Number 123456789", "Social Security Number [REDACTED:ssn]"),
]
NOT_SSNS = [
    "000-12-3456",
    "666-12-3456",
    "912-34-5678",
    "123-00-4567",
    "123-45-0000",
    "123-45 6789",
    "SSN: 000123456",
    "order 123456789",
    "1123-45-6789",
    "123-45-67890",
    "10.123-45-6789",
]


@pytest.mark.parametrize(("text", "expected"), SSNS)
def test_ssn_redacted(text: str, expected: str) -> None:
    assert redacted(text) == expected


@pytest.mark.parametrize("text", NOT_SSNS)
def test_ssn_near_miss_kept(text: str) -> None:
    assert redacted(text) == text


RECORDS = [
    ("MRN: 00482913", "MRN: [REDACTED:mrn]"),
    ("MRN 00482913", "MRN [REDACTED:mrn]"),
    ("mrn#A12-3456", "mrn#[REDACTED:mrn]"),
    ("MR# 4471-22", "MR# [REDACTED:mrn]"),
    ("Medical Record Number: MR-2024-0091", "Medical Record Number: [REDACTED:mrn]"),
    ("Patient ID: P00912", "Patient ID: [REDACTED:mrn]"),
    ("Acct# 7730019921", "Acct# [REDACTED:account]"),
    ("Account No. 55-0091-7", "Account No. [REDACTED:account]"),
    ("Patient Account: 991/2231", "Patient Account: [REDACTED:account]"),
    ("Encounter: E20240305", "Encounter: [REDACTED:account]"),
    ("Encounter No 88120", "Encounter No [REDACTED:account]"),
    ("FIN: 300412765", "FIN: [REDACTED:account]"),
]
NOT_RECORDS = [
    "MRN: pending",
    "account 12345 was locked",
    "TCP FIN 3000 ACK",
    "state FIN_WAIT2",
    "Acct: n/a",
    "MRN: 12",
    "fin: 1234567",
]


@pytest.mark.parametrize(("text", "expected"), RECORDS)
def test_record_number_redacted(text: str, expected: str) -> None:
    assert redacted(text) == expected


@pytest.mark.parametrize("text", NOT_RECORDS)
def test_record_near_miss_kept(text: str) -> None:
    assert redacted(text) == text


BIRTH_DATES = [
    "DOB: 04/12/1958",
    "DOB 1958-04-12",
    "D.O.B.: 4/12/58",
    "Date of Birth: March 3, 1961",
    "date of birth 03-Mar-1961",
    "Birthdate: 3 March 1961",
    "born on Mar. 3rd, 1961",
    "born 03/03/1961",
    "DOB: 19610303",
]
NOT_BIRTH_DATES = [
    "admitted 04/12/2024",
    "2024-03-05T08:21:33Z",
    "March 3, 2024",
    "03-Mar-2024 10:00",
    "DOB: unknown",
    "newborn unit",
]


@pytest.mark.parametrize("text", BIRTH_DATES)
def test_birth_date_redacted(text: str) -> None:
    scrubbed = redacted(text)
    assert scrubbed.endswith(placeholder("dob"))
    assert not re.search(r"19(58|61)|/58", scrubbed)


@pytest.mark.parametrize("text", NOT_BIRTH_DATES)
def test_date_without_label_kept(text: str) -> None:
    assert redacted(text) == text


NAMES = [
    ("Patient: Robert Whitfield", "Patient: [REDACTED:name]"),
    ("Patient Name: DOE, JANE", "Patient Name: [REDACTED:name]"),
    ("Name: María José Núñez", "Name: [REDACTED:name]"),
    ("Attn: Chidi Okafor-Bello", "Attn: [REDACTED:name]"),
    ("seen by Dr. Priya Raman today", "seen by Dr. [REDACTED:name] today"),
    ("ask Mrs. O'Neill", "ask Mrs. [REDACTED:name]"),
    ("Dear Maria,", "Dear [REDACTED:name],"),
    ("Hello Sam!", "Hello [REDACTED:name]!"),
    ("From: Keane, Daniel", "From: [REDACTED:name], [REDACTED:name]"),
    ("To: Ann Lee; Bo Chen", "To: [REDACTED:name]; [REDACTED:name]"),
    ("Thanks,\nDaniel Keane\nSOC", "Thanks,\n[REDACTED:name]\nSOC"),
    ("Best regards,\n\nAnn Lee, RN", "Best regards,\n\n[REDACTED:name], RN"),
    ("Regards, Ann Lee", "Regards, [REDACTED:name]"),
]
NOT_NAMES = [
    "Dear Customer,",
    "Dear Valued Member,",
    "Dear Netflix Member,",
    "Hi team,",
    "Hello World of malware",
    "Host Name: SRV-EHR-01",
    "File Name: Invoice.pdf",
    "To: All Staff",
    "From: IT Help Desk",
    "Patient: unknown",
    "Thanks,\nthe security team",
    "Regards,\nIT Security Team at the hospital",
    "Subject: Microsoft Account Alert",
]


@pytest.mark.parametrize(("text", "expected"), NAMES)
def test_name_redacted(text: str, expected: str) -> None:
    assert redacted(text) == expected


@pytest.mark.parametrize("text", NOT_NAMES)
def test_name_near_miss_kept(text: str) -> None:
    assert redacted(text) == text


# -- kept indicator values ---------------------------------------------------------


def test_keep_email_case_insensitive() -> None:
    text = "From: Support <Billing@Evil-Portal.COM>"
    assert redacted(text, ("billing@evil-portal.com",)) == text


def test_keep_defanged_in_text() -> None:
    text = "sent from billing[@]evil-portal[.]com via hxxp://evil-portal[.]com/x"
    keep = ("billing@evil-portal.com", "http://evil-portal.com/x")
    assert redacted(text, keep) == text


def test_keep_declared_defanged() -> None:
    assert redacted("from a@evil.example", ("a[@]evil[.]example",)) == (
        "from a@evil.example"
    )


def test_keep_url_protects_numbers() -> None:
    url = "https://evil.example/pay/555-123-4567?ssn=123-45-6789"
    assert redacted(f"visit {url} now", (url,)) == f"visit {url} now"


def test_keep_domain_inside_address() -> None:
    # The declared domain does not make a staff address on it a kept value.
    assert redacted("jdoe@evil.example and evil.example", ("evil.example",)) == (
        "[REDACTED:email] and evil.example"
    )


def test_keep_wins_over_name_words() -> None:
    assert redacted("Patient: Robert Whitfield", ("whitfield",)) == (
        "Patient: [REDACTED:name] Whitfield"
    )


def test_keep_set_reused() -> None:
    keep = KeepSet(["billing@evil.example"])
    assert keep
    assert keep.contains("BILLING[@]evil[.]example")
    assert not keep.contains("jdoe@evil.example")
    assert redacted("billing@evil.example") != "billing@evil.example"
    assert scrub_text("billing@evil.example", keep).text == "billing@evil.example"


def test_redaction_record_is_typed() -> None:
    result = scrub_text("call 555-123-4567")
    assert result.redactions == (Redaction("phone", 5, 17),)


# -- JSON documents ------------------------------------------------------------------

BUNDLE: dict[str, Any] = {
    "type": "bundle",
    "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
    "objects": [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "created": "2024-03-05T08:30:00.000Z",
            "modified": "2024-03-05T08:30:00.000Z",
            "name": "Phish to jdoe@hospital.org",
            "description": "Sent to Patient: Robert Whitfield, call 555-123-4567",
            "pattern": "[email-addr:value = 'jdoe@hospital.org']",
            "pattern_type": "stix",
            "valid_from": "2024-03-05T08:30:00Z",
            "x_analyst_notes": ["MRN: 00482913", {"deep": "DOB: 04/12/1958"}],
        },
        {
            "type": "malware",
            "id": "malware--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
            "name": "Dr. Qakbot",
            "is_family": True,
        },
        {
            "type": "email-message",
            "id": "email-message--cf9b4b7f-14c8-5955-8065-020e0316b559",
            "is_multipart": True,
            "subject": "Claim for MRN 00482913",
            "additional_header_fields": {
                "Reply-To": ["Nurse Ann Lee <alee@hospital.org>"],
                "X-Mailer": "Outlook 16.0",
            },
            "body_multipart": [
                {"content_type": "text/plain", "body": "Dear Ann,\nclick now"},
                {"content_type": "image/png", "body_raw_ref": "artifact--1"},
            ],
        },
        {
            "type": "email-addr",
            "id": "email-addr--2d77a846-6264-5d51-b586-e43822ea1ea3",
            "value": "alee@hospital.org",
            "display_name": "Ann Lee",
        },
        {
            "type": "email-addr",
            "id": "email-addr--89f52ea8-d6ef-51e9-8fce-6a29236436ed",
            "value": "billing@evil.example",
            "display_name": "Billing Dept",
        },
        {
            "type": "identity",
            "id": "identity--311b2d2d-f010-4473-83ec-1edf84858f4c",
            "identity_class": "individual",
            "name": "Daniel Keane",
        },
        {
            "type": "note",
            "id": "note--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
            "content": "Reported by daniel.keane@hospital.org",
            "object_refs": ["indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"],
        },
    ],
}


def scrubbed_bundle() -> tuple[dict[str, Any], int]:
    result, count = scrub_json(BUNDLE, keep=["billing@evil.example"])
    assert isinstance(result, dict)
    return result, count


def test_json_scrubs_free_text() -> None:
    result, count = scrubbed_bundle()
    indicator, _, message, staff, _, person, note = result["objects"]
    assert indicator["name"] == "Phish to [REDACTED:email]"
    assert indicator["description"] == (
        "Sent to Patient: [REDACTED:name], call [REDACTED:phone]"
    )
    assert indicator["x_analyst_notes"] == [
        "MRN: [REDACTED:mrn]",
        {"deep": "DOB: [REDACTED:dob]"},
    ]
    assert message["subject"] == "Claim for MRN [REDACTED:mrn]"
    assert message["additional_header_fields"]["Reply-To"] == [
        "Nurse [REDACTED:name] <[REDACTED:email]>"
    ]
    assert message["body_multipart"][0]["body"] == "Dear [REDACTED:name],\nclick now"
    assert staff["value"] == "[REDACTED:email]"
    assert staff["display_name"] == "[REDACTED:name]"
    assert person["name"] == "[REDACTED:name]"
    assert note["content"] == "Reported by [REDACTED:email]"
    assert count == 13


def test_json_leaves_structure_alone() -> None:
    result, _ = scrubbed_bundle()
    indicator, malware, message, _, sender, _, note = result["objects"]
    assert indicator["pattern"] == "[email-addr:value = 'jdoe@hospital.org']"
    assert indicator["id"] == BUNDLE["objects"][0]["id"]
    assert indicator["valid_from"] == "2024-03-05T08:30:00Z"
    assert malware["name"] == "Dr. Qakbot"
    assert message["additional_header_fields"]["X-Mailer"] == "Outlook 16.0"
    assert message["body_multipart"][1] == BUNDLE["objects"][2]["body_multipart"][1]
    assert sender == BUNDLE["objects"][4]
    assert note["object_refs"] == BUNDLE["objects"][6]["object_refs"]


def test_json_input_not_changed() -> None:
    before = copy.deepcopy(BUNDLE)
    scrub_json(BUNDLE)
    assert before == BUNDLE


def test_json_skip_keys() -> None:
    body = {"description": "call 555-123-4567", "comment": "call 555-123-4567"}
    result, count = scrub_json(body, skip_keys={"comment"})
    assert result == {
        "description": "call [REDACTED:phone]",
        "comment": "call 555-123-4567",
    }
    assert count == 1


def test_json_api_body_notes() -> None:
    body = {
        "value": "jdoe@hospital.org",
        "notes": ["Reported by Dr. Ann Lee", {"content": "SSN 123-45-6789"}],
        "sightings": [{"count": 3, "comment": "MRN: 4471-22"}],
    }
    result, count = scrub_json(body)
    assert result == {
        "value": "jdoe@hospital.org",
        "notes": ["Reported by Dr. [REDACTED:name]", {"content": "SSN [REDACTED:ssn]"}],
        "sightings": [{"count": 3, "comment": "MRN: [REDACTED:mrn]"}],
    }
    assert count == 3


# -- properties ------------------------------------------------------------------------

LETTERS = "abcdefghijklmnopqrstuvwxyz"
LOCAL_PARTS = st.from_regex(
    r"[a-z][a-z0-9]{0,8}(?:[._+-][a-z0-9]{1,8}){0,2}", fullmatch=True
)
DOMAINS = st.from_regex(
    r"[a-z][a-z0-9-]{0,10}[a-z0-9](?:\.[a-z]{2,6}){1,2}", fullmatch=True
)
EMAIL_ADDRESSES = st.builds(
    lambda local, domain: f"{local}@{domain}", LOCAL_PARTS, DOMAINS
)
SSN_VALUES = st.builds(
    lambda area, group, serial, sep: f"{area:03d}{sep}{group:02d}{sep}{serial:04d}",
    st.integers(1, 899).filter(lambda area: area != 666),
    st.integers(1, 99),
    st.integers(1, 9999),
    st.sampled_from(["-", " "]),
)
PHONE_NUMBERS = st.builds(
    lambda area, exchange, line, form: form.format(a=area, e=exchange, n=line),
    st.integers(200, 999),
    st.integers(0, 999).map(lambda n: f"{n:03d}"),
    st.integers(0, 9999).map(lambda n: f"{n:04d}"),
    st.sampled_from(
        [
            "({a}) {e}-{n}",
            "{a}-{e}-{n}",
            "{a}.{e}.{n}",
            "+1 {a} {e} {n}",
            "{a}-{e}-{n} x42",
        ]
    ),
)
IPV4 = st.ip_addresses(v=4).map(str)
HASHES = st.binary(min_size=32, max_size=32).map(bytes.hex)
URLS = st.builds(
    lambda domain, path: f"https://{domain}/{path}",
    DOMAINS,
    st.from_regex(r"[a-z0-9/_-]{0,20}", fullmatch=True),
)
KEEP_VALUES = st.one_of(EMAIL_ADDRESSES, DOMAINS, IPV4, HASHES, URLS)
# Arbitrary text, and text built from the pieces the detectors react to.
CUES = st.sampled_from(
    [
        "Patient:",
        "Name:",
        "DOB:",
        "MRN:",
        "Acct#",
        "Dear",
        "Dr.",
        "Regards,\n",
        "From:",
        "<",
        ">",
        "@",
        "[.]",
        "[@]",
        "\n",
        "John",
        "Smith,",
        "555",
        "123-45-6789",
        "(555)",
        "+44",
        "x12",
        "a@b.co",
        "http://",
        placeholder("name"),
    ]
)
WORDS = st.one_of(
    st.text(max_size=12), CUES, st.text(alphabet=LETTERS + "0123456789-.", max_size=8)
)
ANY_TEXT = st.one_of(st.text(), st.lists(WORDS, max_size=30).map(" ".join))


@PROPERTY
@given(ANY_TEXT, st.lists(KEEP_VALUES, max_size=3))
def test_scrub_idempotent(text: str, keep: list[str]) -> None:
    once = scrub_text(text, keep).text
    assert scrub_text(once, keep).text == once


@PROPERTY
@given(ANY_TEXT)
def test_scrub_offsets_valid(text: str) -> None:
    result = scrub_text(text)
    previous_end = 0
    for item in result.redactions:
        assert previous_end <= item.start < item.end <= len(text)
        previous_end = item.end


@PROPERTY
@given(
    st.lists(ANY_TEXT, min_size=1, max_size=4),
    st.one_of(EMAIL_ADDRESSES, SSN_VALUES, PHONE_NUMBERS),
)
def test_embedded_value_redacted(pieces: list[str], value: str) -> None:
    text = f" {value} ".join(pieces) if len(pieces) > 1 else f"{pieces[0]} {value} "
    assert value not in scrub_text(text).text


@PROPERTY
@given(
    st.lists(ANY_TEXT, min_size=2, max_size=4),
    st.lists(KEEP_VALUES, min_size=1, max_size=3),
)
def test_keep_values_survive(pieces: list[str], keep: list[str]) -> None:
    text = pieces[0]
    for index, piece in enumerate(pieces[1:]):
        text += f" {keep[index % len(keep)]} {piece}"
    scrubbed = scrub_text(text, keep).text
    for value in keep:
        if value in text:
            assert value in scrubbed


@PROPERTY
@given(
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), ANY_TEXT),
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(
                st.sampled_from(
                    ["description", "name", "type", "x_note", "body", "id"]
                ),
                children,
                max_size=4,
            ),
        ),
        max_leaves=12,
    )
)
def test_json_never_raises(value: Any) -> None:
    result, count = scrub_json(value)
    assert count >= 0
    assert type(result) is type(value)


# -- hostile input ------------------------------------------------------------

ADVERSARIAL = [
    "a@" * 50_000,
    "1-" * 50_000,
    "1" * 100_000,
    "a." * 50_000,
    "+1 " * 50_000,
    "a[.]" * 30_000,
    "x(at)y[.]" * 20_000,
    "Patient: " * 20_000,
    "Dear " * 30_000,
    "<a@b.co>" * 10_000,
    "MRN: 1-" * 20_000,
    "DOB: 1/" * 20_000,
    ("x" * 5_000 + "@") * 20,
]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=[text[:8] for text in ADVERSARIAL])
def test_adversarial_input_completes(text: str) -> None:
    result = scrub_text(text, keep=["a.b.example"])
    for item in result.redactions:
        assert 0 <= item.start < item.end <= len(text)


# -- the phishing corpus ------------------------------------------------------

ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
IPV4_TEXT = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w.])")


@pytest.mark.corpus
def test_corpus_mails_scrubbed(corpus_dir: Path) -> None:
    mails = sorted((corpus_dir / "contrib" / "eml").glob("*.eml"))
    if not mails:
        pytest.skip("no .eml files in the corpus")
    for path in mails:
        text = path.read_bytes().decode("utf-8", errors="replace")
        scrubbed = scrub_text(text)
        once = scrubbed.text
        assert scrub_text(once).text == once, path.name
        left = [match for match in ADDRESS.findall(once) if "REDACTED" not in match]
        assert left == [], path.name
        for address in uncovered_addresses(text, scrubbed.redactions):
            assert address in once, (path.name, address)


def uncovered_addresses(text: str, redactions: tuple[Redaction, ...]) -> set[str]:
    """Return the IPv4 addresses of ``text`` that lie outside every redaction."""
    found = set()
    for match in IPV4_TEXT.finditer(text):
        inside = any(r.start <= match.start() < r.end for r in redactions)
        if not inside:
            found.add(match.group())
    return found
