"""Finding indicator values in free text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from medisac.contrib.extract import find_values, headings, names_in, repair_breaks

SHA256 = "5c3b39ec6ffbfe05ac0246d98d6ce7287de442896c90d24e256a03da21f3ada9"


def values(text: str) -> dict[str, str]:
    return {found.value: found.type.value for found in find_values(repair_breaks(text))}


def test_defanged_forms() -> None:
    found = values(
        "C2 at hxxps://update-check[.]net/gate.php and 45.9.20[.]17, mail "
        "drop[@]mailbox-relay[.]com, backup bagon(dot)la, ftp at fxp://files[.]evil.org/"
    )
    assert found["https://update-check.net/gate.php"] == "url"
    assert found["45.9.20.17"] == "ipv4"
    assert found["drop@mailbox-relay.com"] == "email"
    assert found["bagon.la"] == "domain"


def test_hash_types() -> None:
    found = values(
        "| MD5 | 2645DEB7D2368C7CE87593E0D6C592F6 |\n"
        "| SHA1 | 65af7bfdbe8c68e8eb9b3b8e07c46033ccd84bef |\n"
        f"| SHA256 | {SHA256.upper()} |\n"
    )
    assert found["2645deb7d2368c7ce87593e0d6c592f6"] == "md5"
    assert found["65af7bfdbe8c68e8eb9b3b8e07c46033ccd84bef"] == "sha1"
    assert found[SHA256] == "sha256"


def test_hash_split_across_lines() -> None:
    found = values(f"SHA256: {SHA256[:40]}\n{SHA256[40:]}\nnext line")
    assert found == {SHA256: "sha256"}


def test_whole_hashes_not_joined() -> None:
    other = "f642fe6b372183af134c1c8cd5f806de37dcea27d6eab2ef53663d61795416e0"
    found = values(f"{SHA256}\n{other}\n")
    assert set(found) == {SHA256, other}


def test_url_split_across_lines() -> None:
    found = values("Download from hxxp://cdn-files[.]top/ist/\nNO_2950435796.zip today")
    assert "http://cdn-files.top/ist/NO_2950435796.zip" in found


def test_file_names_not_domains() -> None:
    found = values("The loader drops invoice.zip and runs setup.exe from update.py")
    assert found == {}


def test_defanged_file_extension_domain() -> None:
    assert values("payload host files-cdn[.]zip") == {"files-cdn.zip": "domain"}


def test_numbers_not_hashes() -> None:
    digits = "1" * 32
    assert values(f"ticket {digits}") == {}


def test_sections() -> None:
    text = "Intro text\n\n## Indicators of compromise\n\nevil[.]net\n\nREFERENCES\nhttps://a.org/x\n"
    found = {item.value: item.section for item in find_values(text)}
    assert found["evil.net"] == "Indicators of compromise"
    assert found["https://a.org/x"] == "REFERENCES"


def test_numbered_heading() -> None:
    assert [item.title for item in headings("4.2 Network indicators\ntext")] == [
        "Network indicators"
    ]


def test_names_found() -> None:
    found = names_in("Emotet dropped TrickBot, which led to Ryuk ransomware.")
    assert "Emotet" in found
    assert "Ryuk" in found


def test_lower_case_words_not_names() -> None:
    assert names_in("he swung a machete at the turla") == []


_LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=12)


@given(_LABEL, st.sampled_from(["com", "net", "org", "info", "ru"]))
def test_defang_round_trip(label: str, zone: str) -> None:
    domain = f"{label}-c2.{zone}"
    for spelling in (
        domain,
        f"{label}-c2[.]{zone}",
        f"{label}-c2(.){zone}",
        f"{label}-c2[dot]{zone}",
        f"{label}-c2(dot){zone}",
    ):
        assert values(f"beacon to {spelling} every hour") == {domain: "domain"}, (
            spelling
        )


@given(st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    for found in find_values(repair_breaks(text)):
        assert found.value


def test_long_runs_finish() -> None:
    # Each input made an unbounded pattern backtrack over the whole run.
    for unit in ("a+", "a.", "ab-", "x@", "1.2.3.", "hxxp://a/"):
        text = unit * (100_000 // len(unit))
        assert len(list(find_values(repair_breaks(text)))) <= 1, unit


def test_defanged_url_split() -> None:
    found = values("Payload at hxxps://cdn-sync[.]\ntop/a.bin was fetched")
    assert "https://cdn-sync.top/a.bin" in found
