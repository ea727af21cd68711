"""Links in HTML and the targets behind URL wrappers and redirectors."""

from __future__ import annotations

import base64
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from medisac.contrib.links import HtmlText, unwrap

TARGET = "https://evil-portal.net/login?user=x&id=9"


def test_safe_links() -> None:
    wrapped = (
        "https://nam12.safelinks.protection.outlook.com/?url="
        + quote(TARGET, safe="")
        + "&data=05%7C01&sdata=abc&reserved=0"
    )
    found = unwrap(wrapped)
    assert found.url == TARGET
    assert found.services == ("Microsoft Safe Links",)


def test_proofpoint_v1() -> None:
    wrapped = (
        "https://urldefense.proofpoint.com/v1/url?u="
        + quote(TARGET, safe="")
        + "&k=abc&r=def&m=ghi&s=jkl"
    )
    assert unwrap(wrapped).url == TARGET


def test_proofpoint_v2() -> None:
    wrapped = (
        "https://urldefense.proofpoint.com/v2/url?"
        "u=https-3A__evil-2Dportal.net_login-3Fuser-3Dx-26id-3D9"
        "&d=DwMFaQ&c=abc&r=def&m=ghi&s=jkl&e="
    )
    assert unwrap(wrapped).url == TARGET


def test_proofpoint_v3() -> None:
    codes = base64.urlsafe_b64encode(b"&").decode().rstrip("=")
    wrapped = (
        "https://urldefense.com/v3/__https://evil-portal.net/login?user=x*id=9__;"
        + codes
        + "!!AbCdEf!ghIjKl$"
    )
    assert unwrap(wrapped).url == TARGET


def test_proofpoint_v3_run() -> None:
    codes = base64.urlsafe_b64encode(b"&&&").decode().rstrip("=")
    wrapped = "https://urldefense.com/v3/__https://a.net/?x=1**Bb__;" + codes + "!!X!Y$"
    assert unwrap(wrapped).url == "https://a.net/?x=1&&&b"


def test_google_redirect() -> None:
    wrapped = "https://www.google.com/url?q=" + quote(TARGET, safe="") + "&sa=D"
    assert unwrap(wrapped).url == TARGET


def test_bing_redirect() -> None:
    code = base64.urlsafe_b64encode(TARGET.encode()).decode().rstrip("=")
    wrapped = f"https://www.bing.com/ck/a?!&&p=abc&u=a1{code}&ntb=1"
    assert unwrap(wrapped).url == TARGET


def test_mimecast_code_kept() -> None:
    wrapped = "https://protect-eu.mimecast.com/s/AbCdEfGh?domain=evil-portal.net"
    found = unwrap(wrapped)
    assert found.url == wrapped
    assert found.wrappers == ()


def test_nested_wrappers() -> None:
    inner = "https://www.google.com/url?q=" + quote(TARGET, safe="")
    outer = "https://eur01.safelinks.protection.outlook.com/?url=" + quote(
        inner, safe=""
    )
    found = unwrap(outer)
    assert found.url == TARGET
    assert found.services == ("Microsoft Safe Links", "Google redirect")


def test_open_redirect() -> None:
    wrapped = "https://tracker.example-mailer.com/click?id=4&url=" + quote(
        TARGET, safe=""
    )
    found = unwrap(wrapped)
    assert found.url == TARGET
    assert found.services == ("open redirect",)


def test_plain_url_unchanged() -> None:
    assert unwrap("https://valley-hospital.org/a?b=c").wrappers == ()


MARKUP = """
<html><head><meta http-equiv="refresh" content="0; URL='https://refresh.evil.net/r'">
<script>window.location.href = "https://script.evil.net/go";</script></head>
<body><h2>Account notice</h2>
<p>Dear user, <a href="https://shown.evil.net/login">sign in</a>.</p>
<div style="display: none"><a href="https://hidden.evil.net/x">.</a></div>
<span hidden><a href="https://attr-hidden.evil.net/">.</a></span>
<p style="font-size:0px"><a href="https://tiny.evil.net/">.</a></p>
<form action="https://form.evil.net/post.php"><input name="pw"></form>
<table><tr><td>md5</td><td>abc</td></tr></table>
<img src="http://203.0.113.9/pixel.gif">
</body></html>
"""


def test_html_links() -> None:
    parsed = HtmlText.read(MARKUP)
    found = {link.url: link for link in parsed.links}
    assert found["https://refresh.evil.net/r"].source == "refresh"
    assert found["https://script.evil.net/go"].source == "script"
    assert found["https://form.evil.net/post.php"].source == "form"
    assert found["http://203.0.113.9/pixel.gif"].source == "image"
    assert not found["https://shown.evil.net/login"].hidden
    assert found["https://shown.evil.net/login"].text == "sign in"


def test_hidden_links() -> None:
    found = {link.url: link for link in HtmlText.read(MARKUP).links}
    for url in (
        "https://hidden.evil.net/x",
        "https://attr-hidden.evil.net/",
        "https://tiny.evil.net/",
    ):
        assert found[url].hidden, url


def test_html_text() -> None:
    text = HtmlText.read(MARKUP).text
    assert "## Account notice" in text
    assert "| md5 | abc" in text
    assert "window.location" not in text


_LABEL = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12
)
_PATH = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._~/=&", max_size=30)


@given(_LABEL, _LABEL, _PATH)
def test_wrapped_round_trip(host: str, zone: str, path: str) -> None:
    target = f"https://{host}.{zone}x.net/{path}"
    for wrapped in (
        "https://www.google.com/url?q=" + quote(target, safe=""),
        "https://nam01.safelinks.protection.outlook.com/?url=" + quote(target, safe=""),
        "https://urldefense.proofpoint.com/v1/url?u=" + quote(target, safe="") + "&k=1",
    ):
        assert unwrap(wrapped).url == target
