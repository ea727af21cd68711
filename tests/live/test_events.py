"""Subscription filters and the reader rule applied to change events."""

from __future__ import annotations

from medisac.live.events import ChangeEvent, Subscription, visible
from medisac.members.access import Audience
from medisac.model import TLP


def event(**changes: object) -> ChangeEvent:
    fields: dict[str, object] = {
        "seq": 1,
        "kind": "new",
        "stix_id": "indicator--1",
        "type": "domain",
        "value": "x.example.org",
        "confidence": 50,
        "tlp": TLP.GREEN,
        "current_tlp": TLP.GREEN,
        "healthcare": False,
        "state": "active",
        "date_added": 0,
    }
    fields.update(changes)
    return ChangeEvent(**fields)  # type: ignore[arg-type]


def test_type_filter() -> None:
    assert not Subscription(types=frozenset({"ipv4"})).accepts(event())


def test_confidence_filter() -> None:
    assert not Subscription(min_confidence=60).accepts(event())


def test_withdrawal_ignores_confidence() -> None:
    assert Subscription(min_confidence=60).accepts(event(kind="withdrawn"))


def test_healthcare_filter() -> None:
    assert not Subscription(healthcare_only=True).accepts(event())


def test_narrowing_intersects_types() -> None:
    stored = Subscription(types=frozenset({"ipv4", "domain"}))
    assert stored.narrowed(frozenset({"domain", "url"})).types == {"domain"}


def test_narrowing_keeps_stricter() -> None:
    narrowed = Subscription(min_confidence=70).narrowed(min_confidence=40)
    assert narrowed.min_confidence == 70


def test_member_above_clearance_hidden() -> None:
    audience = Audience.member("org-a", TLP.GREEN)
    assert not visible(event(tlp=TLP.AMBER, current_tlp=TLP.AMBER), audience)


def test_raised_record_hides_old_version() -> None:
    audience = Audience.member("org-a", TLP.GREEN)
    assert not visible(event(current_tlp=TLP.RED), audience)


def test_red_visible_to_named() -> None:
    audience = Audience.member("org-a", TLP.GREEN)
    red = event(tlp=TLP.RED, current_tlp=TLP.RED, red_orgs=frozenset({"org-a"}))
    assert visible(red, audience)
