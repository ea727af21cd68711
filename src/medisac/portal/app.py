"""The member and analyst portal: server-rendered pages at ``/`` of ``medisac serve``.

Every page is plain HTML from Jinja2 templates with one style sheet, and
works without JavaScript. People sign in with an e-mail address and a
password (:mod:`medisac.portal.users`), the session lives in a signed
cookie (:mod:`medisac.portal.sessions`), and every form carries a CSRF
token. Member pages read through the organisation's
:class:`medisac.members.access.Audience`, the rule of the API and TAXII.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from medisac.members.gate import Gate
from medisac.members.limits import RateLimiter
from medisac.model.time import now_us
from medisac.portal import analyst, contributions, member, reports
from medisac.portal.hunts import MAX_UPLOAD_BYTES, HuntRunner
from medisac.portal.sessions import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SessionManager,
    SessionPolicy,
    load_secret,
)
from medisac.portal.users import verify_login
from medisac.portal.web import (
    STATIC,
    PageError,
    Portal,
    SignInRequired,
    current_session,
    make_environment,
    portal_of,
    redirect,
    signed_in,
)
from medisac.store.engine import begin_write

log = logging.getLogger(__name__)

# The largest request body the portal reads: the largest upload (a log to
# hunt) and room for the form fields around it.
MAX_REQUEST_BYTES = MAX_UPLOAD_BYTES + 1024 * 1024
RequestHandler = Callable[[Request], Awaitable[Response]]

PORTAL_MOUNT_PATH = "/"
# Sign-in attempts one e-mail address may make per minute, right or wrong.
SIGN_IN_ATTEMPTS_PER_MINUTE = 10


def create_portal_app(
    engine: Engine,
    gate: Gate | None = None,
    *,
    policy: SessionPolicy | None = None,
    clock: Callable[[], int] = now_us,
    upload_dir: Path | None = None,
    secure_cookies: bool = False,
) -> FastAPI:
    """Build the portal; mount it at :data:`PORTAL_MOUNT_PATH`, after every other.

    ``clock`` gives the time in µs that sessions expire by. ``upload_dir``
    keeps uploaded logs while they are hunted (a private temporary folder
    when None). A mounted application's lifespan does not run, so the
    application that mounts the portal calls ``hunt_runner.shutdown()``.
    ``secure_cookies`` marks the cookies HTTPS-only even when the request
    reached the portal over plain HTTP, as behind a proxy that ends TLS.
    """
    sessions = SessionManager(engine, load_secret(engine), policy, clock)
    portal = Portal(
        engine=engine,
        sessions=sessions,
        gate=gate or Gate(engine),
        environment=make_environment(),
        hunt_runner=HuntRunner(engine, upload_dir),
    )
    app = FastAPI(
        title="medisac portal", openapi_url=None, docs_url=None, redoc_url=None
    )
    app.state.portal = portal
    app.state.secure_cookies = secure_cookies
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _exc: SignInRequired) -> Response:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        response = redirect(f"/login?next={_quote_next(target)}")
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError) -> HTMLResponse:
        return portal.render(
            request,
            "error.html",
            current_session(request),
            status=exc.status,
            title=exc.title,
            detail=exc.detail,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        titles = {404: "Not found", 405: "Method not allowed"}
        detail = "there is no such page" if exc.status_code == 404 else str(exc.detail)
        return portal.render(
            request,
            "error.html",
            current_session(request),
            status=exc.status_code,
            title=titles.get(exc.status_code, "Error"),
            detail=detail,
        )

    @app.middleware("http")
    async def _limit_body(request: Request, call_next: RequestHandler) -> Response:
        # Form parsing spools a whole upload to disk before any route can
        # check its size, so a declared length over the largest upload is
        # rejected first. NOTE: a chunked body declares no length and is
        # still spooled whole before the route's own check.
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
            return portal.render(
                request,
                "error.html",
                current_session(request),
                status=413,
                title="Upload too large",
                detail=f"uploads are limited to {MAX_UPLOAD_BYTES:,} bytes",
            )
        return await call_next(request)

    _add_sign_in(app, portal)
    member.add_routes(app)
    analyst.add_routes(app)
    contributions.add_routes(app)
    reports.add_routes(app)
    return app


def _quote_next(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="")


def _safe_next(target: str | None) -> str:
    """Return a same-site path to go to after sign-in; anything else is ``/``."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return "/"
    return target


def _address_key(email: str) -> int:
    digest = hashlib.sha256(email.strip().lower().encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def _add_sign_in(app: FastAPI, portal: Portal) -> None:
    # Sign-in attempts per e-mail address, in this process.
    # NOTE: the buckets are never pruned, so each address ever tried keeps a
    # few dozen bytes until the server restarts.
    attempts = RateLimiter()

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/") -> Response:
        if current_session(request) is not None:
            return redirect(_safe_next(next))
        token, cookie = portal.sessions.new_login_token()
        response = portal.render(
            request, "login.html", None, login_token=token, next=_safe_next(next)
        )
        _set_cookie(request, response, LOGIN_COOKIE, cookie, max_age=3600)
        return response

    @app.post("/login", response_model=None)
    def login(
        request: Request,
        email: Annotated[str, Form(max_length=254)],
        password: Annotated[str, Form(max_length=1024)],
        login_token: Annotated[str, Form(max_length=100)] = "",
        next: Annotated[str, Form(max_length=2000)] = "/",
    ) -> Response:
        sessions = portal_of(request).sessions
        wait = attempts.acquire(_address_key(email), SIGN_IN_ATTEMPTS_PER_MINUTE)
        if wait:
            log.warning("portal sign-in attempts over the limit for one address")
            raise PageError(
                429,
                "Too many attempts",
                "too many sign-in attempts for this address; wait "
                f"{RateLimiter.retry_after(wait)} seconds and try again",
            )
        if not sessions.check_login_token(
            request.cookies.get(LOGIN_COOKIE), login_token
        ):
            raise PageError(
                403,
                "Not allowed",
                "the sign-in form's security token is missing or expired; "
                "open the sign-in page again",
            )
        # begin_write starts the transaction as a write, so the read and the
        # update of the sign-in time cannot meet a concurrent writer halfway.
        with begin_write(portal.engine) as conn:
            user = verify_login(conn, email, password)
            cookie = None if user is None else sessions.start(conn, user)
        if user is None or cookie is None:
            log.info("portal sign-in failed")
            token, login_cookie = sessions.new_login_token()
            response = portal.render(
                request,
                "login.html",
                None,
                status=401,
                login_token=token,
                next=_safe_next(next),
                email=email,
                error="The e-mail address or the password is wrong, or the "
                "account is disabled.",
            )
            _set_cookie(request, response, LOGIN_COOKIE, login_cookie, max_age=3600)
            return response
        log.info("portal sign-in of user %d", user.id)
        signed = redirect(_safe_next(next))
        _set_cookie(request, signed, SESSION_COOKIE, cookie)
        signed.delete_cookie(LOGIN_COOKIE, path="/")
        return signed

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        session = signed_in(request)
        form = await request.form()
        if form.get("csrf_token") != session.csrf_token:
            raise PageError(403, "Not allowed", "the sign-out form is out of date")
        portal.sessions.end(session.token)
        response = redirect("/login")
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response


def _set_cookie(
    request: Request,
    response: Response,
    name: str,
    value: str,
    max_age: int | None = None,
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=bool(request.app.state.secure_cookies) or request.url.scheme == "https",
    )
