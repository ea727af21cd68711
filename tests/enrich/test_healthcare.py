"""Healthcare relevance from sector tags and from MISP galaxy names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medisac.enrich.galaxies import (
    describes_healthcare_targeting,
    healthcare_names,
    name_key,
    read_clusters,
    targets_healthcare,
)
from medisac.enrich.healthcare import (
    COMMON_WORDS,
    healthcare_relevance,
    is_healthcare,
)


@pytest.mark.parametrize(
    "tag",
    [
        'misp-galaxy:ransomware="Conti"',
        'misp-galaxy:threat-actor="WIZARD SPIDER"',
        'misp-galaxy:ransomware="Ryuk"',
        "malware_family:lockbit",
        "malware:LockBit 3.0",
        "threat-actor:APT41",
        "ryuk",
        "Conti",
        "win.lockbit",
        "BlackCat",
        "alphv",
        "Rhysida ransomware",
        "daixin-team",
    ],
)
def test_galaxy_names_mark_healthcare(tag: str) -> None:
    assert is_healthcare([tag])


@pytest.mark.parametrize(
    "tag",
    [
        "Agent Tesla",
        "agent",
        "stealer",
        "malware:Emotet",
        'misp-galaxy:threat-actor="Sofacy"',
        "tlp:green",
        "Hospitality",
        "lockbit3",  # not a name the galaxies give, and no word boundary
        "continental",
        "ghost",  # a group name, but also a common word
        "hive",
    ],
)
def test_unrelated_tags_do_not(tag: str) -> None:
    assert not is_healthcare([tag])


def test_common_word_names_need_structure() -> None:
    # In a galaxy or malware tag the name is unambiguous.
    assert is_healthcare(['misp-galaxy:ransomware="Hive"'])
    assert is_healthcare(["malware:Ghost"])
    assert not is_healthcare(["campaign: ghost in the machine"])


def test_sector_keywords_still_mark() -> None:
    for tag in ("sector:Health", "healthcare", 'misp-galaxy:sector="Health"', "HPH"):
        assert is_healthcare([tag]), tag
    assert not is_healthcare(["hphost"])


def test_context_names_mark() -> None:
    assert is_healthcare([], {"malware": "BlackCat"})
    assert is_healthcare([], {"name": "Conti C2 server"})
    assert is_healthcare([], {"event_info": "Ryuk ransomware deployment"})
    assert is_healthcare([], {"comment": ["seen with", "LockBit affiliates"]})


def test_context_without_names() -> None:
    assert not is_healthcare([], {"event_info": "Agent Tesla phishing wave"})
    assert not is_healthcare([], {"event_info": "royal mail parcel lure"})
    # Only name and text fields are read; a file name is not a claim.
    assert not is_healthcare([], {"filename": "conti.exe"})
    assert not is_healthcare([], None)


def test_analyst_overrides() -> None:
    assert healthcare_relevance(["ryuk"], None, False) is False
    assert healthcare_relevance([], None, True) is True
    assert healthcare_relevance(["ryuk"], None, None) is True
    assert healthcare_relevance([], {}, None) is False


# -- the galaxy index ------------------------------------------------------


def test_names_come_from_sector_meta() -> None:
    names = healthcare_names()
    # threat-actor "cfr-target-category": Healthcare.
    assert names["molerats"] == "Molerats"
    # tidal-groups "target_categories": Healthcare.
    assert names["rhysida"] == "Rhysida Ransomware Actors"
    # ransomware used by Wizard Spider, a healthcare-targeting group.
    assert "conti" in names
    assert "ryuk" in names


def test_generic_tools_left_out() -> None:
    names = healthcare_names()
    for tool in ("cobalt strike", "mimikatz", "trickbot", "emotet", "adfind"):
        assert tool not in names


def test_negated_descriptions_left_out() -> None:
    # Both descriptions state that the group does not attack hospitals.
    names = healthcare_names()
    assert "gd lockersec" not in names
    assert "genesis" not in names
    assert describes_healthcare_targeting(
        "Known for targeting the healthcare sector. It encrypts files."
    )
    assert not describes_healthcare_targeting(
        "We do not allow non-profit hospitals to be targeted."
    )


def test_hospitality_is_not_a_target() -> None:
    cluster = {"value": "x", "meta": {"cfr-target-category": ["Hospitality"]}}
    assert not targets_healthcare("threat-actor", cluster)
    cluster["meta"] = {"cfr-target-category": ["Pharmaceuticals"]}
    assert targets_healthcare("threat-actor", cluster)


def test_common_words_are_names() -> None:
    # The stop list only lists names the galaxies give.
    names = healthcare_names()
    assert set(names) >= COMMON_WORDS


def test_threat_actor_galaxy_ships() -> None:
    assert len(read_clusters("threat-actor")) > 100
    assert read_clusters("no-such-galaxy") == []


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("LockBit 3.0", "lockbit"),
        ("win.lockbit", "lockbit"),
        ("LockBit Ransomware Actors & Affiliates", "lockbit"),
        ("Akira _v2", "akira"),
        ("Qilin Ransomware (Linux)", "qilin"),
        ("DEV-0193", "dev 0193"),
        ("APT41", "apt41"),
        ("Group 88", ""),
    ],
)
def test_name_key(name: str, key: str) -> None:
    assert name_key(name) == key


@given(st.text(max_size=60))
def test_name_key_is_clean(text: str) -> None:
    key = name_key(text)
    assert key == key.strip()
    assert "  " not in key
    assert key == key.casefold()


@given(
    st.lists(st.text(max_size=40), max_size=5),
    st.dictionaries(
        st.sampled_from(["name", "malware", "comment", "x"]),
        st.text(max_size=40) | st.lists(st.text(max_size=20), max_size=3),
        max_size=3,
    ),
)
def test_is_healthcare_total(tags: list[str], context: dict[str, object]) -> None:
    assert is_healthcare(tags, context) in (True, False)
