"""``medisac mark``: an analyst's decision on one stored value."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from medisac.cli.options import DbOption, opened_store, parse_tlp
from medisac.enrich.marks import (
    MarkResult,
    clear_false_positive,
    find_indicator,
    mark_false_positive,
    set_healthcare,
    set_tlp,
)
from medisac.errors import NormalizationError
from medisac.members import audit
from medisac.members.orgs import get_org
from medisac.model import TLP, IndicatorType
from medisac.normalize import normalize
from medisac.store.engine import begin_write


class Healthcare(StrEnum):
    """Choices of ``--healthcare``."""

    YES = "yes"
    NO = "no"
    AUTO = "auto"


_HEALTHCARE_FLAG = {Healthcare.YES: True, Healthcare.NO: False, Healthcare.AUTO: None}


def _parse(value: str, kind: str | None) -> tuple[IndicatorType, str]:
    if kind is not None:
        try:
            IndicatorType(kind)
        except ValueError:
            choices = ", ".join(t.value for t in IndicatorType)
            raise typer.BadParameter(
                f"unknown type {kind!r}; use one of {choices}", param_hint="--type"
            ) from None
    try:
        found = normalize(value, kind)
    except NormalizationError as exc:
        raise typer.BadParameter(
            f"{exc.value!r} is not a valid value: {exc.reason}"
        ) from None
    if len(found) != 1:
        shown = ", ".join(f"{item.type.value} {item.value}" for item in found)
        raise typer.BadParameter(
            f"the input is several values ({shown}); give one value, or --type"
        )
    return found[0].type, found[0].value


def mark(
    value: Annotated[str, typer.Argument(help="The value, in any form medisac reads.")],
    false_positive: Annotated[
        bool,
        typer.Option(
            "--false-positive",
            help="Mark it a false positive: it leaves every feed and export.",
        ),
    ] = False,
    benign_reset: Annotated[
        bool,
        typer.Option(
            "--benign-reset",
            help="Undo a false-positive mark: the sources and known-benign "
            "lists decide its state again.",
        ),
    ] = False,
    healthcare: Annotated[
        Healthcare | None,
        typer.Option(
            "--healthcare",
            help="Relevant to healthcare: yes, no, or auto to derive it from "
            "tags and threat names again.",
            show_default=False,
        ),
    ] = None,
    tlp: Annotated[
        str | None,
        typer.Option(
            "--tlp",
            help="Set its TLP level (auto: the most restrictive of its sources).",
        ),
    ] = None,
    recipients: Annotated[
        list[str] | None,
        typer.Option(
            "--for",
            metavar="ORG",
            help="With --tlp red: an organisation that may read it; repeatable.",
        ),
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option("--type", "-t", help="The value's indicator type, if ambiguous."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Record an analyst's decision on a stored value and publish the change."""
    chosen = sum(
        [false_positive, benign_reset, healthcare is not None, tlp is not None]
    )
    if chosen != 1:
        raise typer.BadParameter(
            "give exactly one of --false-positive, --benign-reset, --healthcare "
            "and --tlp"
        )
    level = None if tlp in (None, "auto") else parse_tlp(tlp)
    if recipients and level is not TLP.RED:
        raise typer.BadParameter("--for names readers of TLP:RED; add --tlp red")
    indicator_type, canonical = _parse(value, kind)
    # A MarkError (value not stored) ends the command with exit code 1.
    with opened_store(db) as engine, begin_write(engine) as conn:
        indicator_id = find_indicator(conn, indicator_type, canonical)
        if false_positive:
            result = mark_false_positive(conn, indicator_id)
        elif benign_reset:
            result = clear_false_positive(conn, indicator_id)
        elif tlp is not None:
            named = [get_org(conn, ref).id for ref in recipients or []]
            result = set_tlp(conn, indicator_id, level, named)
        else:
            assert healthcare is not None
            flag = _HEALTHCARE_FLAG[healthcare]
            result = set_healthcare(conn, indicator_id, flag)
        decision = {
            "false_positive": false_positive,
            "benign_reset": benign_reset,
            "healthcare": None if healthcare is None else healthcare.value,
            "tlp": tlp,
            "recipients": recipients or [],
        }
        audit.record(
            conn,
            "mark",
            f"{indicator_type.value} {canonical}",
            detail={name: value for name, value in decision.items() if value},
        )
    _report(indicator_type, canonical, result)


def _report(kind: IndicatorType, value: str, result: MarkResult) -> None:
    version = "new version published" if result.published else "no new version"
    healthcare = "yes" if result.healthcare else "no"
    typer.echo(
        f"{kind.value} {value}: state {result.state}, healthcare {healthcare}; "
        f"{version}"
    )


def register(app: typer.Typer) -> None:
    """Add the ``mark`` command to ``app``."""
    app.command()(mark)
