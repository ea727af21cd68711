"""``medisac org``, ``medisac key`` and ``medisac audit``: members and their keys."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

import orjson
import sqlalchemy as sa
import typer
from rich.console import Console
from rich.table import Table

from medisac.cli.options import DbOption, opened_store, parse_tlp
from medisac.errors import ConfigError
from medisac.members import audit
from medisac.members.orgs import OrgKind, add_org, get_org, list_orgs, update_org
from medisac.members.tiers import DEFAULT_TIER, TIERS, get_tier
from medisac.model.time import format_rfc3339, now_us, parse_rfc3339, to_us
from medisac.store.engine import begin_write
from medisac.store.keys import (
    check_scopes,
    create_key,
    list_keys,
    resolve_key_id,
    revoke_key,
    rotate_key,
)
from medisac.store.tables import key_usage

org_app = typer.Typer(help="Member organisations.", no_args_is_help=True)
key_app = typer.Typer(help="API keys of members and operators.", no_args_is_help=True)
console = Console()

_DURATION = re.compile(r"(\d+)\s*([dhw])")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def _kind(text: str) -> OrgKind:
    try:
        return OrgKind(text)
    except ValueError:
        choices = ", ".join(kind.value for kind in OrgKind)
        raise typer.BadParameter(
            f"unknown kind {text!r}; use one of {choices}", param_hint="--kind"
        ) from None


def _tier(text: str) -> str:
    try:
        return get_tier(text).name
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--tier") from None


def _contacts(values: list[str] | None) -> list[dict[str, str]] | None:
    """Read ``NAME <EMAIL>`` or ``EMAIL`` contacts."""
    if values is None:
        return None
    contacts = []
    for value in values:
        match = re.fullmatch(r"\s*(.*?)\s*<([^<>\s]+@[^<>\s]+)>\s*", value)
        if match:
            contacts.append({"name": match.group(1), "email": match.group(2)})
        elif "@" in value and " " not in value.strip():
            contacts.append({"name": "", "email": value.strip()})
        else:
            raise typer.BadParameter(
                f"invalid contact {value!r}; give 'Name <email>' or an e-mail address",
                param_hint="--contact",
            )
    return contacts


def _when(micros: int | None) -> str:
    return "-" if micros is None else format_rfc3339(micros, digits=0)


@org_app.command("add")
def org_add(
    name: Annotated[str, typer.Argument(help="The organisation's unique name.")],
    tier: Annotated[
        str, typer.Option("--tier", help=f"Subscription tier: {', '.join(TIERS)}.")
    ] = DEFAULT_TIER,
    clearance: Annotated[
        str,
        typer.Option("--clearance", help="Most restrictive TLP level it may read."),
    ] = "green",
    kind: Annotated[
        str,
        typer.Option(
            "--kind", help="hospital-system, clinic, payer, device-maker or other."
        ),
    ] = "other",
    trusted: Annotated[
        bool,
        typer.Option("--trusted", help="Publish its submissions without review."),
    ] = False,
    contacts: Annotated[
        list[str] | None,
        typer.Option("--contact", help="'Name <email>'; repeatable."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Add a member organisation and print its id."""
    with opened_store(db) as engine:
        with begin_write(engine) as conn:
            org = add_org(
                conn,
                name,
                tier=_tier(tier),
                clearance=parse_tlp(clearance, "--clearance"),
                kind=_kind(kind),
                trusted=trusted,
                contacts=_contacts(contacts),
            )
            audit.record(conn, "org.add", org.id, detail={"name": org.name})
        typer.echo(org.id)


@org_app.command("list")
def org_list(db: DbOption = None) -> None:
    """List the member organisations."""
    with opened_store(db) as engine:
        with engine.connect() as conn:
            orgs = list_orgs(conn)
        table = Table("id", "name", "kind", "tier", "clearance", "trusted")
        for org in orgs:
            table.add_row(
                org.id,
                org.name,
                org.kind.value,
                org.tier,
                org.clearance.label,
                "yes" if org.trusted else "no",
            )
        console.print(table)


@org_app.command("show")
def org_show(
    org_ref: Annotated[str, typer.Argument(metavar="ORG", help="Id or name.")],
    db: DbOption = None,
) -> None:
    """Show one organisation and its keys."""
    with opened_store(db) as engine:
        with engine.connect() as conn:
            org = get_org(conn, org_ref)
            keys = list_keys(conn, org.id)
        console.print(f"id:        {org.id}", markup=False)
        console.print(f"name:      {org.name}", markup=False)
        console.print(f"kind:      {org.kind.value}", markup=False)
        console.print(f"tier:      {org.tier}", markup=False)
        console.print(f"clearance: TLP:{org.clearance.label}", markup=False)
        console.print(f"trusted:   {'yes' if org.trusted else 'no'}", markup=False)
        for contact in org.contacts:
            console.print(
                f"contact:   {contact.get('name', '')} <{contact.get('email', '')}>",
                markup=False,
            )
        console.print(f"keys:      {sum(not key.revoked for key in keys)} active")


@org_app.command("set")
def org_set(
    org_ref: Annotated[str, typer.Argument(metavar="ORG", help="Id or name.")],
    name: Annotated[str | None, typer.Option("--name", help="New name.")] = None,
    tier: Annotated[str | None, typer.Option("--tier", help="New tier.")] = None,
    clearance: Annotated[
        str | None, typer.Option("--clearance", help="New TLP clearance.")
    ] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="New kind.")] = None,
    trusted: Annotated[
        bool | None,
        typer.Option("--trusted/--untrusted", help="Publish without review or not."),
    ] = None,
    contacts: Annotated[
        list[str] | None,
        typer.Option("--contact", help="Replace the contacts; repeatable."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Change an organisation's settings."""
    changes = {
        "name": name,
        "tier": None if tier is None else _tier(tier),
        "clearance": None if clearance is None else parse_tlp(clearance, "--clearance"),
        "kind": None if kind is None else _kind(kind),
        "trusted": trusted,
        "contacts": _contacts(contacts),
    }
    with opened_store(db) as engine:
        with begin_write(engine) as conn:
            org = update_org(conn, org_ref, **changes)
            changed = {
                field: str(value)
                for field, value in changes.items()
                if value is not None
            }
            audit.record(conn, "org.set", org.id, detail=changed)
        typer.echo(f"updated {org.name} ({org.id})")


@org_app.command("usage")
def org_usage(
    org_ref: Annotated[
        str | None, typer.Argument(metavar="[ORG]", help="Id or name; default all.")
    ] = None,
    days: Annotated[int, typer.Option("--days", min=1, help="Days to show.")] = 7,
    db: DbOption = None,
) -> None:
    """Show requests per key, day and route group."""
    with opened_store(db) as engine:
        first_day = (datetime.now(UTC) - timedelta(days=days - 1)).date().isoformat()
        with engine.connect() as conn:
            keys = {key.id: key for key in list_keys(conn)}
            org_id = None if org_ref is None else get_org(conn, org_ref).id
            rows = conn.execute(
                sa.select(key_usage)
                .where(key_usage.c.day >= first_day)
                .order_by(key_usage.c.day, key_usage.c.key_id, key_usage.c.route_group)
            ).all()
        table = Table("day", "organisation", "key", "route group", "requests")
        for row in rows:
            key = keys.get(row.key_id)
            owner = key.org_id if key is not None else None
            if org_id is not None and owner != org_id:
                continue
            table.add_row(
                row.day,
                owner or "operator",
                str(row.key_id),
                row.route_group,
                f"{row.requests:,}",
            )
        console.print(table)


def _expiry(text: str | None) -> int | None:
    """Read ``90d``, ``12h``, ``2w`` or an RFC 3339 time as µs since the epoch."""
    if text is None:
        return None
    match = _DURATION.fullmatch(text.strip())
    if match:
        return now_us() + int(
            int(match.group(1)) * _UNITS[match.group(2)].total_seconds() * 1_000_000
        )
    try:
        moment = to_us(parse_rfc3339(text, assume_utc=True))
    except ValueError:
        raise typer.BadParameter(
            f"invalid expiry {text!r}; give a duration like 90d, 12h or 2w, or an "
            "RFC 3339 time",
            param_hint="--expires",
        ) from None
    if moment <= now_us():
        raise typer.BadParameter(
            f"the expiry {text!r} has passed; give a time in the future",
            param_hint="--expires",
        )
    return moment


@key_app.command("create")
def key_create(
    org_ref: Annotated[
        str | None,
        typer.Argument(metavar="[ORG]", help="Owner's id or name; none: operator."),
    ] = None,
    scopes: Annotated[
        str,
        typer.Option("--scopes", help="Comma-separated: read, submit, admin."),
    ] = "read",
    name: Annotated[str | None, typer.Option("--name", help="A label.")] = None,
    expires: Annotated[
        str | None,
        typer.Option("--expires", help="Duration (90d, 12h, 2w) or RFC 3339 time."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Create a key and print it once, alone on the last line."""
    try:
        scope_text = check_scopes(scopes)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--scopes") from None
    expiry = _expiry(expires)
    with opened_store(db) as engine:
        with begin_write(engine) as conn:
            org_id = None
            if org_ref is not None:
                org_id = get_org(conn, org_ref).id
            elif "admin" not in scope_text.split(","):
                raise typer.BadParameter(
                    "a key without an organisation is an operator key and needs the "
                    "admin scope; name the organisation",
                    param_hint="ORG",
                )
            label = name or (f"{org_id} key" if org_id else "operator")
            key = create_key(conn, label, scope_text, org_id=org_id, expires=expiry)
            key_id = resolve_key_id(conn, key)
            audit.record(
                conn,
                "key.create",
                f"key {key_id}",
                detail={"org": org_id, "scopes": scope_text, "expires": expiry},
            )
        typer.echo(
            f"key {key_id} for {org_id or 'the operator'}; it is shown only once:"
        )
        typer.echo(key)


@key_app.command("list")
def key_list(
    org_ref: Annotated[
        str | None, typer.Argument(metavar="[ORG]", help="Id or name; default all.")
    ] = None,
    db: DbOption = None,
) -> None:
    """List keys (never the keys themselves)."""
    with opened_store(db) as engine:
        with engine.connect() as conn:
            org_id = None if org_ref is None else get_org(conn, org_ref).id
            keys = list_keys(conn, org_id)
        table = Table(
            "id", "organisation", "name", "scopes", "expires", "last used", "state"
        )
        now = now_us()
        for key in keys:
            state = "revoked" if key.revoked else "active"
            if not key.revoked and key.expires is not None and key.expires <= now:
                state = "expired"
            table.add_row(
                str(key.id),
                key.org_id or "operator",
                key.name,
                key.scopes,
                _when(key.expires),
                _when(key.last_used),
                state,
            )
        console.print(table)


@key_app.command("revoke")
def key_revoke(
    ref: Annotated[
        str, typer.Argument(metavar="KEY", help="A key id, or a leaked key itself.")
    ],
    db: DbOption = None,
) -> None:
    """Revoke a key; it fails from the next request on."""
    with opened_store(db) as engine:
        with begin_write(engine) as conn:
            key_id = resolve_key_id(conn, ref)
            changed = revoke_key(conn, key_id)
            audit.record(
                conn, "key.revoke", f"key {key_id}", detail={"changed": changed}
            )
        typer.echo(f"key {key_id} {'revoked' if changed else 'was already revoked'}")


@key_app.command("rotate")
def key_rotate(
    ref: Annotated[
        str, typer.Argument(metavar="KEY", help="A key id, or the key itself.")
    ],
    db: DbOption = None,
) -> None:
    """Replace a key by a new one and revoke it; print the new key last."""
    with opened_store(db) as engine:
        with begin_write(engine) as conn:
            old_id = resolve_key_id(conn, ref)
            new_id, key = rotate_key(conn, old_id)
            audit.record(
                conn, "key.rotate", f"key {old_id}", detail={"new_key": new_id}
            )
        typer.echo(f"key {old_id} revoked; new key {new_id}, shown only once:")
        typer.echo(key)


def audit_command(
    org_ref: Annotated[
        str | None, typer.Option("--org", help="Only this organisation's entries.")
    ] = None,
    action: Annotated[
        str | None,
        typer.Option("--action", help="An action, or a prefix ending in '.'."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only entries at or after this time.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Entries shown.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
    db: DbOption = None,
) -> None:
    """Show the audit log, newest first."""
    since_us = None
    if since is not None:
        try:
            since_us = to_us(parse_rfc3339(since, assume_utc=True))
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--since") from None
    with opened_store(db) as engine:
        with engine.connect() as conn:
            org_id = None if org_ref is None else get_org(conn, org_ref).id
            entries = audit.query(
                conn, since=since_us, org_id=org_id, action=action, limit=limit
            )
        if as_json:
            for entry in entries:
                line = {
                    "at": format_rfc3339(entry.at),
                    "org": entry.org_id,
                    "key": entry.key_id,
                    "action": entry.action,
                    "target": entry.target,
                    "detail": entry.detail,
                }
                typer.echo(orjson.dumps(line).decode())
            return
        table = Table("time", "organisation", "key", "action", "target", "detail")
        for entry in entries:
            table.add_row(
                _when(entry.at),
                entry.org_id or "operator",
                "-" if entry.key_id is None else str(entry.key_id),
                entry.action,
                entry.target,
                orjson.dumps(entry.detail).decode(),
            )
        console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``org``, ``key`` and ``audit`` to ``app``."""
    app.add_typer(org_app, name="org")
    app.add_typer(key_app, name="key")
    app.command("audit")(audit_command)
