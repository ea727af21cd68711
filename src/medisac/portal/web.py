"""The pieces every portal page uses: templates, the signed-in user, CSRF, errors."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.engine import Engine

from medisac.members.gate import Gate
from medisac.model import TLP
from medisac.model.time import format_rfc3339
from medisac.portal.hunts import HuntRunner
from medisac.portal.sessions import Session, SessionManager
from medisac.portal.users import Role

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


class PageError(Exception):
    """An error that the portal returns as an HTML page with an HTTP status."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail


class SignInRequired(Exception):
    """The request needs a signed-in user; the portal redirects to sign-in."""


def not_found(detail: str) -> PageError:
    """Return the error of a page that does not exist or may not be read."""
    return PageError(404, "Not found", detail)


def forbidden(detail: str) -> PageError:
    """Return the error of a page the user's role may not use."""
    return PageError(403, "Not allowed", detail)


def bad_request(detail: str) -> PageError:
    """Return the error of a form with a missing or invalid field."""
    return PageError(400, "Invalid request", detail)


def _time(micros: int | None) -> str:
    if micros is None:
        return ""
    return format_rfc3339(micros)[:19].replace("T", " ") + " UTC"


def _tlp(level: int | TLP) -> str:
    return TLP(level).label


def make_environment() -> Environment:
    """Return the Jinja2 environment; it escapes every value it renders."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["time"] = _time
    environment.filters["tlp"] = _tlp
    environment.filters["urlquote"] = lambda text: quote(str(text), safe="")
    return environment


@dataclass
class Portal:
    """The state the routes share: store, sessions, templates and hunt runner."""

    engine: Engine
    sessions: SessionManager
    gate: Gate
    environment: Environment
    hunt_runner: HuntRunner

    def render(
        self,
        request: Request,
        name: str,
        session: Session | None,
        status: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        """Render template ``name`` for the signed-in user (or none)."""
        template = self.environment.get_template(name)
        body = template.render(
            request=request,
            session=session,
            user=None if session is None else session.user,
            csrf_token="" if session is None else session.csrf_token,
            Role=Role,
            **context,
        )
        return HTMLResponse(body, status_code=status, headers=_PAGE_HEADERS)


# Pages are private: no caching, no framing, no sniffing, no scripts at all.
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


def portal_of(request: Request) -> Portal:
    """Return the portal that serves ``request``."""
    portal: Portal = request.app.state.portal
    return portal


def current_session(request: Request) -> Session | None:
    """Return the request's live session, or None when no user is signed in."""
    if hasattr(request.state, "portal_session"):
        cached: Session | None = request.state.portal_session
        return cached
    session = portal_of(request).sessions.read(request.cookies.get("medisac_session"))
    request.state.portal_session = session
    return session


def signed_in(request: Request) -> Session:
    """Dependency: the signed-in session; raises :class:`SignInRequired`."""
    session = current_session(request)
    if session is None:
        raise SignInRequired()
    return session


def member(request: Request) -> Session:
    """Dependency: a signed-in member of an organisation."""
    session = signed_in(request)
    if not session.user.role.is_member:
        raise forbidden("this page is for members of an organisation")
    return session


def member_admin(request: Request) -> Session:
    """Dependency: a member allowed to act for the organisation."""
    session = member(request)
    if not session.user.can_write:
        raise forbidden(
            "a member reader may only read; ask your organisation's member admin"
        )
    return session


def staff(request: Request) -> Session:
    """Dependency: an analyst or operator of the exchange."""
    session = signed_in(request)
    if not session.user.role.is_staff:
        raise forbidden("this page is for the exchange's analysts")
    return session


def operator(request: Request) -> Session:
    """Dependency: an operator of the exchange."""
    session = signed_in(request)
    if session.user.role is not Role.OPERATOR:
        raise forbidden("this page is for the exchange's operators")
    return session


def csrf_checked(
    dependency: Callable[[Request], Session],
) -> Callable[[Request], Awaitable[Session]]:
    """Wrap a session dependency so that it also checks the form's CSRF token."""

    async def check(request: Request) -> Session:
        session = dependency(request)
        form = await request.form()
        submitted = form.get("csrf_token")
        if not isinstance(submitted, str) or not hmac.compare_digest(
            submitted, session.csrf_token
        ):
            raise forbidden(
                "the form's security token is missing or does not match this "
                "session; reload the page and send the form again"
            )
        return session

    return check


def redirect(url: str) -> Response:
    """Return a 303 redirect, as after every successful form."""
    return RedirectResponse(url, status_code=303)
