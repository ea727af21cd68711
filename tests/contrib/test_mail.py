"""Reading phishing e-mails: the corpus, hand-checked values and hostile MIME.

The attachment hashes below were computed outside Python. The base64 lines
of each part were cut from the file with ``sed``, decoded with
``base64 -d -i`` and hashed with ``sha256sum``, ``sha1sum`` and ``md5sum``.
The ``-i`` option skips characters outside the base64 alphabet, which the
corpus's redaction wrote into one part.
"""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medisac.contrib.draft import draft_email, shared_form
from medisac.contrib.links import unwrap
from medisac.contrib.mail import read_email

CORPUS_FILES = 52


def read(eml_dir: Path, number: int) -> bytes:
    return (eml_dir / f"phishing_pot_sample-{number}.eml").read_bytes()


def test_corpus_reads(eml_dir: Path) -> None:
    files = sorted(eml_dir.glob("*.eml"))
    assert len(files) == CORPUS_FILES
    for path in files:
        analysis = read_email(path.read_bytes())
        assert analysis.sender is not None, path.name
        assert analysis.text or analysis.html_text or analysis.attachments, path.name


@pytest.mark.parametrize(
    ("number", "address"),
    [
        (10, "no-reply@access-accsecurity.com"),
        (108, "Williams_Sankoh@info.org"),
        (1266, "Paol.Reggiani@moss.it"),
        (3641, "fotc.461@infracc24.ddns.net"),
        (6214, "united@loyaltyprogram.com"),
        (2590, "test@jzbgno.hospedagemweb.net"),
    ],
)
def test_sender_exact(eml_dir: Path, number: int, address: str) -> None:
    analysis = read_email(read(eml_dir, number))
    assert analysis.sender is not None
    assert analysis.sender.address == address


def test_reply_to(eml_dir: Path) -> None:
    analysis = read_email(read(eml_dir, 1995))
    assert [item.address for item in analysis.reply_to] == ["contactvexnova@gmail.com"]


@pytest.mark.parametrize(
    ("number", "original", "forwarder"),
    [
        (478, "info_1xnsHOQ24bu@dxrcrnelqz.chiplines.net", "linhasegura@gmail.com"),
        (561, "services@csg-strategy.us", "phishing@pot"),
        (1298, "noreply@emeaemail.teams.microsoft.com", "phishing@pot"),
        (1968, "notifications_message-9bgostei5c3me4et1n5@dekadepos.com", None),
    ],
)
def test_forwarded_original_sender(
    eml_dir: Path, number: int, original: str, forwarder: str | None
) -> None:
    analysis = read_email(read(eml_dir, number))
    assert analysis.forwarded
    assert analysis.sender is not None
    assert analysis.sender.address == original
    if forwarder is not None:
        assert forwarder in analysis.personal


def test_attached_original(eml_dir: Path) -> None:
    original = EmailMessage()
    original["From"] = "Billing <billing@invoice-portal.example.net>"
    original["To"] = "Dana Reyes <dana.reyes@valley-hospital.org>"
    original["Subject"] = "Invoice overdue"
    original.set_content("Pay at https://pay.invoice-portal.net/login now.")
    envelope = EmailMessage()
    envelope["From"] = "Dana Reyes <dana.reyes@valley-hospital.org>"
    envelope["To"] = "phish-report@exchange.example"
    envelope["Subject"] = "Fwd: Invoice overdue"
    envelope.set_content("Please look at this one.\n\nDana Reyes\nIT, Valley Hospital")
    envelope.add_attachment(original)
    analysis = read_email(envelope.as_bytes())
    assert analysis.forwarded
    assert analysis.sender is not None
    assert analysis.sender.address == "billing@invoice-portal.example.net"
    assert "dana.reyes@valley-hospital.org" in analysis.personal
    assert "Dana Reyes" in analysis.personal_names


@pytest.mark.parametrize(
    ("number", "target"),
    [
        (20, "https://blog3.stellarnewsletter.org/"),
        (95, "https://drop-coin-availablenow.site44.com/"),
        (
            5949,
            "https://linklift.space/what-cybersecurity-services-are-necessary-in-2025/",
        ),
        (3860, "https://t.co/ldFQoYNqpD?fbclid="),
        (128, "https://project-v2u223afs.firebaseapp.com/__/auth/action?apiKey="),
    ],
)
def test_link_targets(eml_dir: Path, number: int, target: str) -> None:
    analysis = read_email(read(eml_dir, number))
    targets = [unwrap(link.url).url for link in analysis.links]
    assert any(found.startswith(target) for found in targets), targets


def test_safe_links_unwrapped(eml_dir: Path) -> None:
    analysis = read_email(read(eml_dir, 129))
    wrapped = [link for link in analysis.links if "safelinks.protection" in link.url]
    assert len(wrapped) == 1
    target = unwrap(wrapped[0].url)
    assert target.services == ("Microsoft Safe Links",)
    assert target.url.startswith("https://survey.alchemer.eu/s3/90478274/")


def test_ip_literal_link(eml_dir: Path) -> None:
    analysis = read_email(read(eml_dir, 3860))
    assert any("199.192.27.195" in link.url for link in analysis.links)


@pytest.mark.parametrize(
    ("number", "filename", "size", "md5", "sha1", "sha256"),
    [
        (
            1266,
            "quotation.iso",
            114688,
            "6aef1d7f88e8aa450a0c604b4caee5ba",
            "3fe45f8cd20cd7c63e55e3918dac1d3a0d7fb05a",
            "75fdb848eac332b4ca7d88f497e7ba7ebbb9a798d825b28cf1f87b9d7149e87f",
        ),
        (
            3641,
            "FotoCivicas.dsBsfqpJ3z.zip",
            41698,
            "3d3ec9d765c84b5e9760dbef9fe48291",
            "799c4715fe0b7eb31f9637ceca7bd09d82bf76de",
            "399a80f7122764dba934c348bb10e2cf867eae8c37be64cf32544c6708aa027a",
        ),
        (
            3641,
            "FotoCivicas.rCNuVDM3in.pdf",
            41706,
            "0b032f015b64b9a9b1c61079563d4bbb",
            "c12336ddc09f721f282bee989820e19ad986d9cb",
            "25e92ada5f7e560dc2c250d68d2f55d4e67d77b52fc3baabde803933bcf01078",
        ),
        (
            460,
            "V76AlVCdM3q9M.pdf",
            16160,
            "45cf65c4fb41d02fa896b4219d1ae276",
            "181655a80ecbdcd3f203c95027f9c5384f968cbb",
            "c41ce3c2dc4bc702d61c5a9e396a7766166a241f1af90f3d86a939420f70a035",
        ),
    ],
)
def test_attachment_hashes(
    eml_dir: Path,
    number: int,
    filename: str,
    size: int,
    md5: str,
    sha1: str,
    sha256: str,
) -> None:
    analysis = read_email(read(eml_dir, number))
    found = {item.filename: item for item in analysis.attachments}
    assert filename in found
    item = found[filename]
    assert item.size == size
    assert item.md5 == md5
    assert item.sha1 == sha1
    assert item.sha256 == sha256


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (1968, "Amаzon accоunt"),  # koi8-r encoded words with Cyrillic letters
        (7272, "お問い合わせをお受けいたしました"),
        (662, "Join pepe Airdrop"),
        (148, "تسجيل الدخول"),
    ],
)
def test_subject_decoded(eml_dir: Path, number: int, expected: str) -> None:
    assert expected in read_email(read(eml_dir, number)).subject


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (929, "$ARKM ICO token is finally HERE"),  # utf-7 HTML
        (662, "Pepe Rewards Αirdrop"),  # iso-8859-7, Greek capital alpha
        (1304, "Deutsche Express notifies you"),  # iso-8859-5
        (423, "legal beneficiary"),  # an invalid charset name
        (853, "Express Pharmacy"),  # transfer encoding "binary"
    ],
)
def test_body_decoded(eml_dir: Path, number: int, expected: str) -> None:
    analysis = read_email(read(eml_dir, number))
    assert expected in analysis.text + analysis.html_text


def test_received_chain(eml_dir: Path) -> None:
    analysis = read_email(read(eml_dir, 95))
    assert analysis.first_external is not None
    assert analysis.first_external.ip == "143.55.227.147"
    assert analysis.first_external.helo == "a227-147.mailgun.net"


def test_authentication_results(eml_dir: Path) -> None:
    analysis = read_email(read(eml_dir, 20))
    assert analysis.authentication["dkim"] == "fail"
    assert analysis.authentication["spf"] == "temperror"


MALFORMED = (
    b"From: Payroll <payroll@hr-portal-update.net>\r\n"
    b"To: nurse.kim@valley-hospital.org\r\n"
    b"Subject: =?utf-8?B?U2FsYXJ5IHVwZGF0ZQ?=\r\n"
    b'Content-Type: multipart/mixed; boundary="outer"\r\n'
    b"\r\n"
    b"--outer\r\n"
    b'Content-Type: text/html; charset="no-such-charset"\r\n'
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b'<a href=3D"https://hr-portal-update.net/login?u=3D1">Sign=\r\n'
    b' in</a><div style=3D"display:none"><a href=3D"https://hidden-track.net/p">x</a></div>\r\n'
    b"--outer\r\n"
    b'Content-Type: application/octet-stream; name="pay.exe"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAA!!!notbase64\r\n"
    b"--outer\r\n"
    b'Content-Type: multipart/alternative; boundary="never-closed"\r\n'
    b"\r\n"
    b"--never-closed\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"Visit hxxps://hr-portal-update[.]net/reset today\r\n"
)


def test_malformed_mime(tmp_path: Path) -> None:
    analysis = read_email(MALFORMED)
    assert analysis.sender is not None
    assert analysis.sender.address == "payroll@hr-portal-update.net"
    assert analysis.warnings
    assert [item.filename for item in analysis.attachments] == ["pay.exe"]
    urls = {link.url: link for link in analysis.links}
    assert "https://hr-portal-update.net/login?u=1" in urls
    assert urls["https://hidden-track.net/p"].hidden
    assert "hxxps://hr-portal-update[.]net/reset" in analysis.text


def test_not_a_message() -> None:
    analysis = read_email(b"\x00\x01binary junk without headers")
    assert any("no header fields" in warning for warning in analysis.warnings)


def zip_bomb(expanded: int) -> bytes:
    """Return a ZIP archive whose one member expands to ``expanded`` zero bytes."""
    buffer = io.BytesIO()
    block = bytes(1024 * 1024)
    with (
        zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("invoice.pdf.exe", "w", force_zip64=True) as member,
    ):
        for _ in range(expanded // len(block)):
            member.write(block)
    return buffer.getvalue()


def test_zip_bomb_hashed_only() -> None:
    bomb = zip_bomb(64 * 1024 * 1024)
    message = EmailMessage()
    message["From"] = "Courier <track@parcel-notice.net>"
    message["To"] = "frontdesk@valley-hospital.org"
    message["Subject"] = "Parcel"
    message.set_content("See the attached waybill.")
    message.add_attachment(
        bomb, maintype="application", subtype="zip", filename="waybill.zip"
    )
    analysis = read_email(message.as_bytes())
    assert len(analysis.attachments) == 1
    item = analysis.attachments[0]
    assert item.size == len(bomb)
    assert "never expanded" in item.note


def test_corpus_recipients_scrubbed(eml_dir: Path) -> None:
    for path in sorted(eml_dir.glob("*.eml")):
        analysis = read_email(path.read_bytes())
        draft = draft_email(analysis, None)
        _, scrubbed, shared = shared_form(draft)
        dumped = orjson.dumps({"analysis": scrubbed, "items": shared}).decode().lower()
        for address in analysis.personal:
            assert address not in dumped, (path.name, address)
        for name in analysis.personal_names:
            if len(name) >= 3:
                assert name.lower() not in dumped, (path.name, name)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_arbitrary_bytes(data: bytes) -> None:
    read_email(data)


_MIME_PIECES = st.sampled_from(
    [
        b"From: =?utf-8?B?broken?= <a@b>\r\n",
        b'Content-Type: multipart/mixed; boundary="b"\r\n',
        b'Content-Type: text/html; charset="x-unknown"\r\n',
        b"Content-Type: message/rfc822\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
        b"Content-Transfer-Encoding: quoted-printable\r\n",
        b"Content-Disposition: attachment; filename*=utf-8''%E2%82%AC.zip\r\n",
        b"Received: from x ([999.1.1.1]) by y;\r\n",
        b"Reply-To: <<<@>>>\r\n",
        b"\r\n",
        b"--b\r\n",
        b"--b--\r\n",
        b"<a href='http://[::1'>x</a>\r\n",
        b"=E2=82=AC=\r\n",
        b"aGVsbG8=\r\n",
        b"hxxp://a[.]b/\r\n",
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_MIME_PIECES, max_size=30))
def test_mime_fragments(pieces: list[bytes]) -> None:
    analysis = read_email(b"".join(pieces))
    draft_email(analysis, None)


def test_attached_not_duplicated() -> None:
    original = EmailMessage()
    original["From"] = "Billing <billing@invoice-portal.net>"
    original["Subject"] = "Invoice"
    original.set_content("Pay now.")
    original.add_attachment(
        b"MZ fake", maintype="application", subtype="octet-stream", filename="inv.exe"
    )
    envelope = EmailMessage()
    envelope["From"] = "member@valley-hospital.org"
    envelope.set_content("See attached.")
    envelope.add_attachment(original)
    analysis = read_email(envelope.as_bytes())
    assert [item.filename for item in analysis.attachments] == ["inv.exe"]
