"""``medisac vulns`` and ``medisac inventory``: advisories and what they affect."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from medisac.cli.options import DbOption, open_store
from medisac.errors import IngestError, MedisacError
from medisac.ingest.reader import expand
from medisac.members.orgs import get_org
from medisac.model.time import format_rfc3339, now_us
from medisac.settings import Settings
from medisac.store.engine import begin_write
from medisac.vulns.detect import VULN_FORMATS
from medisac.vulns.ingest import DocumentOutcome, ingest_vuln_document
from medisac.vulns.inventory import list_inventory, read_inventory, store_inventory
from medisac.vulns.match import matches_for_org
from medisac.vulns.records import VulnRecord
from medisac.vulns.stix import render_bundle
from medisac.vulns.store import get_vulnerability, list_vulnerabilities, set_healthcare

console = Console(stderr=True)


def _stdout() -> Console:
    """Return a console for standard output, sized for the terminal of this call."""
    return Console(soft_wrap=True)


vulns_app = typer.Typer(
    name="vulns",
    help="Vulnerability advisories (CSAF, CVE records, KEV) and what they affect.",
    no_args_is_help=True,
)
inventory_app = typer.Typer(
    name="inventory",
    help="What each member organisation runs: vendor, product and version.",
    no_args_is_help=True,
)

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON instead of a table.")
]


class Healthcare(StrEnum):
    """Choices of ``vulns mark --healthcare``."""

    YES = "yes"
    NO = "no"
    AUTO = "auto"


def _format(text: str | None) -> str | None:
    if text is not None and text not in VULN_FORMATS:
        raise typer.BadParameter(
            f"unknown format {text!r}; use one of {', '.join(VULN_FORMATS)}"
        )
    return text


@vulns_app.command("ingest")
def ingest_command(
    inputs: Annotated[
        list[str], typer.Argument(help="CSAF, CVE JSON 5 or KEV files or folders.")
    ],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="csaf, cve or kev; default: detected per file.",
            callback=_format,
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Store vulnerability documents and notify the members they affect."""
    settings = Settings.from_env(db=db)
    engine = open_store(settings)
    outcomes: list[DocumentOutcome] = []
    failures: list[str] = []
    columns = (
        TextColumn("[bold]vulns"),
        BarColumn(),
        TextColumn("{task.completed} documents"),
        TimeElapsedColumn(),
    )
    with Progress(
        *columns, console=console, transient=True, disable=not console.is_terminal
    ) as bar:
        task = bar.add_task("ingest", total=None)
        for item in inputs:
            try:
                for doc in expand([item], settings.max_input_bytes):
                    try:
                        outcomes.append(ingest_vuln_document(engine, doc, fmt))
                    except IngestError as exc:
                        failures.append(str(exc))
                    bar.update(task, advance=1)
            except IngestError as exc:
                failures.append(str(exc))
    _print_ingest(outcomes, failures)
    if failures or any(outcome.rejections for outcome in outcomes):
        raise typer.Exit(1)


def _print_ingest(outcomes: list[DocumentOutcome], failures: list[str]) -> None:
    table = Table(title="Vulnerability ingest", show_header=False)
    table.add_row(
        "documents read", f"{len(outcomes):,} of {len(outcomes) + len(failures):,}"
    )
    table.add_row("new CVEs", f"{sum(o.counts.new for o in outcomes):,}")
    table.add_row("changed CVEs", f"{sum(o.counts.changed for o in outcomes):,}")
    table.add_row("unchanged CVEs", f"{sum(o.counts.unchanged for o in outcomes):,}")
    table.add_row("notifications", f"{sum(o.notifications for o in outcomes):,}")
    table.add_row("rejected records", f"{sum(len(o.rejections) for o in outcomes):,}")
    console.print(table)
    for failure in failures:
        typer.echo(f"failed input: {failure}", err=True)
    for outcome in outcomes:
        for rejection in outcome.rejections[:50]:
            typer.echo(
                f"rejected: {outcome.document_id}, {rejection.location}: "
                f"{rejection.reason}",
                err=True,
            )


def _score(record: VulnRecord) -> str:
    return "" if record.cvss is None else f"{record.cvss:.1f}"


def _kev(record: VulnRecord) -> str:
    if record.ransomware:
        return "ransomware"
    return "yes" if record.kev else ""


@vulns_app.command("list")
def list_command(
    kev: Annotated[
        bool | None, typer.Option("--kev/--not-kev", help="Only (or no) KEV entries.")
    ] = None,
    healthcare: Annotated[
        bool | None,
        typer.Option(
            "--healthcare/--not-healthcare", help="Only (or no) healthcare ones."
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--max", min=1, help="Maximum number of rows to print.")
    ] = 100,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """List stored vulnerabilities, most recently changed first."""
    engine = open_store(Settings.from_env(db=db))
    with engine.connect() as conn:
        records = list_vulnerabilities(
            conn, kev=kev, healthcare=healthcare, limit=limit
        )
    if as_json:
        typer.echo(orjson.dumps([r.as_dict() for r in records]).decode())
        return
    table = Table("CVE", "CVSS", "KEV", "healthcare", "title")
    for record in records:
        table.add_row(
            record.cve,
            _score(record),
            _kev(record),
            "yes" if record.healthcare else "",
            record.title or "",
        )
    _stdout().print(table)


@vulns_app.command("show")
def show_command(
    cve: Annotated[str, typer.Argument(help="The CVE id, such as CVE-2024-1275.")],
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Show everything stored about one CVE."""
    engine = open_store(Settings.from_env(db=db))
    with engine.connect() as conn:
        record = get_vulnerability(conn, cve)
    if record is None:
        raise MedisacError(
            f"{cve.strip().upper()} is not stored; ingest an advisory that names it"
        )
    if as_json:
        typer.echo(orjson.dumps(record.as_dict()).decode())
        return
    _print_record(record)


def _print_record(record: VulnRecord) -> None:
    out = _stdout()
    out.print(
        f"[bold]{record.cve}[/bold] {record.title or ''}", markup=True, highlight=False
    )
    if record.description:
        out.print(record.description, markup=False)
    facts = []
    if record.cvss_v3 is not None:
        facts.append(f"CVSS v3 {record.cvss_v3}")
    if record.cvss_v4 is not None:
        facts.append(f"CVSS v4 {record.cvss_v4}")
    if record.kev and record.kev_date_added is not None:
        added = format_rfc3339(record.kev_date_added, digits=0)[:10]
        facts.append(f"KEV since {added}")
    if record.ransomware:
        facts.append("known ransomware use")
    if record.healthcare:
        facts.append(f"healthcare: {record.healthcare_reason}")
    out.print("; ".join(facts), markup=False)
    documents = ", ".join(d.document for d in record.documents)
    out.print(f"documents: {documents}", markup=False)

    table = Table("vendor", "product", "versions", "range", "status", "device")
    for product in record.products:
        table.add_row(
            product.vendor,
            product.product,
            product.versions,
            product.version_range or f"unread: {product.range_error}",
            product.status,
            "yes" if product.device else "",
        )
    out.print(table)


@vulns_app.command("for")
def for_command(
    org: Annotated[str, typer.Argument(help="Organisation id or name.")],
    certain: Annotated[
        bool, typer.Option("--certain", help="Leave out possible matches.")
    ] = False,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """List the vulnerabilities that affect what ORG runs, most urgent first."""
    engine = open_store(Settings.from_env(db=db))
    with engine.connect() as conn:
        member = get_org(conn, org)
        matches = matches_for_org(conn, member.id, include_possible=not certain)
    if as_json:
        typer.echo(orjson.dumps([m.as_dict() for m in matches]).decode())
        return
    table = Table(
        "priority", "CVE", "match", "asset", "affected versions", "KEV", "CVSS"
    )
    for match in matches:
        table.add_row(
            str(match.priority),
            match.cve,
            "certain" if match.certain else "possible",
            f"{match.item.vendor} {match.item.product} {match.item.version}".strip(),
            match.product.versions or match.product.version_range or "",
            _kev(match.record),
            _score(match.record),
        )
    _stdout().print(table)
    if not matches:
        console.print(f"nothing stored affects what {member.name} runs")


@vulns_app.command("export")
def export_command(
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="Output format: stix.")
    ] = "stix",
    healthcare: Annotated[
        bool | None,
        typer.Option(
            "--healthcare/--not-healthcare", help="Only (or no) healthcare ones."
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File to write; default stdout."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Write stored vulnerabilities as a STIX 2.1 bundle."""
    if fmt != "stix":
        raise typer.BadParameter(
            f"unknown format {fmt!r}; use stix", param_hint="--format"
        )
    engine = open_store(Settings.from_env(db=db))
    with engine.connect() as conn:
        records = [
            get_vulnerability(conn, record.cve)
            for record in list_vulnerabilities(conn, healthcare=healthcare)
        ]
    bundle = render_bundle([record for record in records if record is not None])
    data = orjson.dumps(bundle, option=orjson.OPT_INDENT_2)
    if output is None:
        typer.echo(data.decode())
    else:
        output.write_bytes(data)
        console.print(
            f"wrote {len(bundle['objects']) - 2:,} vulnerabilities to {output}"
        )


@vulns_app.command("mark")
def mark_command(
    cve: Annotated[str, typer.Argument(help="The CVE id.")],
    healthcare: Annotated[
        Healthcare,
        typer.Option(
            "--healthcare", help="yes, no, or auto to let the sources decide."
        ),
    ],
    db: DbOption = None,
) -> None:
    """Record an analyst's decision on a CVE's healthcare relevance."""
    value = {Healthcare.YES: True, Healthcare.NO: False, Healthcare.AUTO: None}[
        healthcare
    ]
    engine = open_store(Settings.from_env(db=db))
    with begin_write(engine) as conn:
        if not set_healthcare(conn, cve, value):
            raise MedisacError(f"{cve.strip().upper()} is not stored")
    typer.echo(f"{cve.strip().upper()}: healthcare {healthcare.value}")


@inventory_app.command("import")
def import_command(
    org: Annotated[str, typer.Argument(help="Organisation id or name.")],
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV (vendor, product, version), CPE list or CycloneDX SBOM."
        ),
    ],
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Remove the organisation's earlier inventory."),
    ] = False,
    db: DbOption = None,
) -> None:
    """Store what ORG runs, from a CSV file, a CPE list or a CycloneDX SBOM."""
    try:
        content = file.read_bytes()
    except OSError as exc:
        raise MedisacError(f"cannot read {file}: {exc.strerror}") from exc
    read = read_inventory(str(file), content)
    engine = open_store(Settings.from_env(db=db))
    with begin_write(engine) as conn:
        member = get_org(conn, org)
        added, known = store_inventory(
            conn, member.id, read.items, read.kind, now_us(), replace=replace
        )
    typer.echo(
        f"{member.name}: {added} items added, {known} already listed, "
        f"{len(read.rejected)} rejected ({read.kind})"
    )
    for location, reason in read.rejected:
        typer.echo(f"rejected: {file}, {location}: {reason}", err=True)
    if read.rejected:
        raise typer.Exit(1)


@inventory_app.command("list")
def inventory_list_command(
    org: Annotated[str, typer.Argument(help="Organisation id or name.")],
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """List what ORG runs."""
    engine = open_store(Settings.from_env(db=db))
    with engine.connect() as conn:
        member = get_org(conn, org)
        items = list_inventory(conn, member.id)
    if as_json:
        typer.echo(orjson.dumps([item.as_dict() for item in items]).decode())
        return
    table = Table("vendor", "product", "version", "device")
    for item in items:
        table.add_row(
            item.vendor, item.product, item.version, "yes" if item.is_device else ""
        )
    _stdout().print(table)


def register(app: typer.Typer) -> None:
    """Add the ``vulns`` and ``inventory`` command groups to ``app``."""
    app.add_typer(vulns_app, name="vulns")
    app.add_typer(inventory_app, name="inventory")
