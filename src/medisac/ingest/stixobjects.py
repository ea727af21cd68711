"""STIX object types by role, and the values of cyber observable objects."""

from __future__ import annotations

from typing import Any

from medisac.ingest.stixpattern import HASH_TYPES

# Related to an indicator, these name its tags ("malware:Emotet").
TAG_TYPES = frozenset(
    {
        "malware",
        "threat-actor",
        "intrusion-set",
        "tool",
        "attack-pattern",
        "campaign",
        "infrastructure",
    }
)
# Read for what they lend other objects; they give no observations.
CONTEXT_TYPES = frozenset(
    TAG_TYPES - {"infrastructure"}
    | {
        "relationship",
        "sighting",
        "report",
        "identity",
        "marking-definition",
        "extension-definition",
        "language-content",
        "grouping",
        "note",
        "opinion",
    }
)
# Standard STIX 2.0 and 2.1 types that give no indicator; each is counted as
# skipped under its own type name.
SKIPPED_TYPES = frozenset(
    {
        "course-of-action",
        "infrastructure",
        "location",
        "malware-analysis",
        "vulnerability",
        "artifact",
        "autonomous-system",
        "directory",
        "email-message",
        "mac-addr",
        "mutex",
        "network-traffic",
        "process",
        "software",
        "user-account",
        "windows-registry-key",
        "x509-certificate",
    }
)

_VALUE_TYPES = {
    "ipv4-addr": "ipv4",
    "ipv6-addr": "ipv6",
    "domain-name": "domain",
    "url": "url",
    "email-addr": "email",
}
# Observables that only connect others; their referenced objects give values.
_CONNECTING_TYPES = frozenset({"network-traffic", "email-message"})
_RECIPIENT_REFS = ("to_refs", "cc_refs", "bcc_refs")

ObservableValue = tuple[str, str | None, dict[str, Any]]


def observable_values(
    observable: dict[str, Any],
) -> tuple[list[ObservableValue], list[str]]:
    """Return ``(value, declared type, context)`` triples and skipped kinds."""
    kind = str(observable.get("type", ""))
    value = observable.get("value")
    if kind in _VALUE_TYPES:
        if not isinstance(value, str):
            return [], [f"{kind}:no-value"]
        declared = _VALUE_TYPES[kind]
        if declared in ("ipv4", "ipv6") and "/" in value:
            declared = "cidr"
        return [(value, declared, {})], []
    if kind == "file":
        return _file_values(observable), []
    if kind in _CONNECTING_TYPES:
        return [], []
    return [], [kind or "observable:untyped"]


def _file_values(observable: dict[str, Any]) -> list[ObservableValue]:
    name = observable.get("name")
    context = {"filename": name} if isinstance(name, str) and name else {}
    values: list[ObservableValue] = []
    hashes = observable.get("hashes")
    if isinstance(hashes, dict):
        for algorithm, digest in hashes.items():
            key = str(algorithm).upper().replace("-", "").replace("_", "")
            if key in HASH_TYPES and isinstance(digest, str):
                values.append((digest, HASH_TYPES[key], dict(context)))
    if context:
        values.append((context["filename"], "filename", {}))
    return values


def recipient_refs(objects: Any) -> set[str]:
    """Return the refs of e-mail addresses that received a message.

    Recipients are the people a phishing message was sent to, not
    indicators, and their addresses are personal data, so they are skipped.
    ``objects`` are the observables (a dict's values or a list).
    """
    refs: set[str] = set()
    for item in objects:
        if not isinstance(item, dict) or item.get("type") != "email-message":
            continue
        for field in _RECIPIENT_REFS:
            found = item.get(field)
            if isinstance(found, list):
                refs.update(str(ref) for ref in found)
    return refs
