"""The "what to do" list: plain-language actions for a small hospital.

Each action follows from a figure of the report, so the list changes with
the month. Two standing actions close the list, because they help in every
month.
"""

from __future__ import annotations

from typing import Any

MAX_NAMED = 5


def _names(items: list[dict[str, Any]], key: str) -> str:
    return ", ".join(str(item[key]) for item in items[:MAX_NAMED])


def plan_actions(figures: dict[str, Any]) -> list[str]:
    """Return short actions in the order a small team should take them."""
    actions: list[str] = []
    member = figures.get("member")
    if member and member["matches"]:
        certain = [match for match in member["matches"] if match["certain"]]
        first = certain or member["matches"]
        actions.append(
            f"Your inventory lists {len(member['matches'])} affected products. "
            f"Start with {_names(first, 'cve')}: install the vendor's fix or "
            "ask the vendor for a workaround."
        )
    kev = figures["vulns"]["kev"]
    if kev:
        actions.append(
            f"Patch these known-exploited vulnerabilities first, because "
            f"attackers already use them: {_names(kev, 'cve')}."
        )
    devices = figures["vulns"]["device_advisories"]
    if devices:
        actions.append(
            f"Check whether you run the medical devices named in "
            f"{len(devices)} advisories ({_names(devices, 'document')}). If you "
            "do, keep them off the internet and ask the maker for the fix."
        )
    ransomware = figures["threats"]["ransomware"]
    if ransomware:
        actions.append(
            f"Ransomware seen this month: {_names(ransomware, 'name')}. Keep an "
            "offline copy of your backups and test one restore this month."
        )
    if member and member["hunt_hits"]:
        actions.append(
            f"Your log hunts found {len(member['hunt_hits'])} matches. Look at "
            "the machines involved and reset the passwords used on them."
        )
    lead = figures["lead_time"]
    if lead.get("shown") and lead["median_days"] > 0:
        actions.append(
            "Indicators reached the exchange a median of "
            f"{lead['median_days']:g} days before members saw them: load the "
            "block lists at least once a day to use that head start."
        )
    actions.append(
        "Load the exchange's firewall and DNS block lists (the starter kit, "
        "medisac export --kit) so that known bad addresses are blocked."
    )
    actions.append(
        "Turn on multi-factor sign-in for e-mail and remote access, because "
        "stolen passwords are the most common way in."
    )
    return actions
