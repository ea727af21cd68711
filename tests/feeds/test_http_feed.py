"""HTTP feeds against a real server on 127.0.0.1 serving corpus files.

An unchanged feed costs one conditional request and no parsing, and a changed
one is read again. A feed that fails (HTTP 500, a hang, a compression bomb, an
HTML page) is recorded as failed with its reason and stores nothing of its
body. The other feeds of the same run go on.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from medisac.errors import FeedError
from medisac.feeds.httpfeed import MAX_RETRY_WAIT, HttpSettings, download_feed
from medisac.feeds.registry import FeedSpec, add_feed, get_feed, last_runs
from medisac.feeds.runner import run_feed, run_feeds
from medisac.store.engine import begin_write
from medisac.store.tables import ingest_runs, provenance, sources
from tests.conftest import Store
from tests.feeds.feedserver import FeedServer, Route
from tests.helpers import record

GOOD = "/feeds/lotusblossom.txt"
GOOD_FILE = "indicators/text/unit42/lotusblossom_c2_ips.txt"
OTHER_FILE = "indicators/text/amnesty/uzbekistan_ips.txt"
FAST = {"retries": 0, "timeout": 2.0}


def corpus_lines(corpus_dir: Path, name: str) -> list[str]:
    text = (corpus_dir / name).read_text("utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def register(store: Store, name: str, url: str, **options: object) -> None:
    spec = FeedSpec(name=name, location=url, format="plain", options=options)
    with begin_write(store.engine) as conn:
        add_feed(conn, spec)


def provenance_rows(store: Store, name: str) -> int:
    query = (
        sa.select(sa.func.count())
        .select_from(provenance.join(sources, provenance.c.source_id == sources.c.id))
        .where(sources.c.name == name)
    )
    with store.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def run_rows(store: Store, name: str) -> list[str]:
    query = (
        sa.select(ingest_runs.c.outcome)
        .select_from(ingest_runs.join(sources, ingest_runs.c.source_id == sources.c.id))
        .where(sources.c.name == name)
        .order_by(ingest_runs.c.id)
    )
    with store.engine.connect() as conn:
        return list(conn.execute(query).scalars())


def test_unchanged_feed_gets_304(
    store: Store, corpus_dir: Path, feed_server: FeedServer
) -> None:
    body = (corpus_dir / GOOD_FILE).read_bytes()
    feed_server.routes[GOOD] = Route(body)
    register(store, "good", feed_server.url(GOOD), **FAST)

    first = run_feed(store.engine, "good")
    second = run_feed(store.engine, "good")

    assert first.outcome == "ok"
    assert first.new == len(set(corpus_lines(corpus_dir, GOOD_FILE)))
    requests = feed_server.requests_to(GOOD)
    assert len(requests) == 2
    assert "If-None-Match" not in requests[0].headers
    assert requests[1].headers["If-None-Match"] == feed_server.routes[GOOD].etag
    assert requests[1].headers["If-Modified-Since"].endswith("GMT")
    assert requests[1].status == 304
    # Nothing parsed: no value counted, and one run row each.
    assert second.outcome == "not-modified"
    assert (second.new, second.updated, second.unchanged) == (0, 0, 0)
    assert run_rows(store, "good") == ["ok", "not-modified"]


def test_changed_feed_is_read_again(
    store: Store, corpus_dir: Path, feed_server: FeedServer
) -> None:
    feed_server.routes[GOOD] = Route((corpus_dir / GOOD_FILE).read_bytes())
    register(store, "good", feed_server.url(GOOD), **FAST)
    run_feed(store.engine, "good")

    feed_server.routes[GOOD] = Route(
        (corpus_dir / OTHER_FILE).read_bytes(), modified=1_800_000_000.0
    )
    second = run_feed(store.engine, "good")

    assert feed_server.requests_to(GOOD)[1].status == 200
    assert second.outcome == "ok"
    assert second.new == len(set(corpus_lines(corpus_dir, OTHER_FILE)))
    for line in corpus_lines(corpus_dir, OTHER_FILE):
        assert record(store.engine, "ipv4", line) is not None
    with store.engine.connect() as conn:
        state = get_feed(conn, "good").fetch_state
    assert state["etag"] == feed_server.routes[GOOD].etag


@pytest.fixture
def bad_feeds(store: Store, cases_dir: Path, feed_server: FeedServer) -> dict[str, str]:
    """Register six failing feeds; return each one's expected reason."""
    bomb = (cases_dir / "B28-decompression-bomb.csv.gz").read_bytes()
    html = b"<!DOCTYPE html><html><body><p>198.51.100.9</p></body></html>"
    feed_server.routes.update(
        {
            "/error": Route(b"198.51.100.10\n", status=500),
            "/hang": Route(hang=True),
            "/bomb": Route(bomb, encoding="gzip", content_type="text/csv"),
            "/bomb.gz": Route(bomb, content_type="application/gzip"),
            "/login": Route(html, content_type="text/html"),
            "/login-as-text": Route(html),
        }
    )
    limit = {"max_bytes": 4 * 1024 * 1024}
    register(store, "error", feed_server.url("/error"), retries=1, retry_wait=0.01)
    register(store, "hang", feed_server.url("/hang"), retries=0, timeout=0.5)
    register(store, "bomb", feed_server.url("/bomb"), **FAST, **limit)
    register(store, "bomb-file", feed_server.url("/bomb.gz"), **FAST, **limit)
    register(store, "login", feed_server.url("/login"), **FAST)
    register(store, "login-as-text", feed_server.url("/login-as-text"), **FAST)
    return {
        "error": "HTTP 500 Internal Server Error",
        "hang": "timed out",
        "bomb": "response too large",
        "bomb-file": "decompressed size passed the limit of 4,194,304 bytes",
        "login": "the server sent an HTML page",
        "login-as-text": "the server sent an HTML page",
    }


def test_failures_isolated(
    store: Store,
    corpus_dir: Path,
    feed_server: FeedServer,
    bad_feeds: dict[str, str],
) -> None:
    feed_server.routes[GOOD] = Route((corpus_dir / GOOD_FILE).read_bytes())
    register(store, "good", feed_server.url(GOOD), **FAST)

    runs = {run.name: run for run in run_feeds(store.engine)}

    assert runs["good"].outcome == "ok"
    assert runs["good"].error is None
    for line in corpus_lines(corpus_dir, GOOD_FILE):
        assert record(store.engine, "ipv4", line) is not None
    for name, reason in bad_feeds.items():
        assert runs[name].outcome == "failed", name
        assert reason in (runs[name].error or ""), name
        assert provenance_rows(store, name) == 0, name
        assert run_rows(store, name) == ["failed"], name
        with store.engine.connect() as conn:
            feed = get_feed(conn, name)
            health = last_runs(conn, feed.id)[0]
        assert feed.last_success is None
        assert reason in (health.error or "")
        assert health.seconds is not None
    # The 500 was retried once; nothing of any bad body was stored.
    assert len(feed_server.requests_to("/error")) == 2
    assert record(store.engine, "ipv4", "198.51.100.9") is None
    assert record(store.engine, "ipv4", "198.51.100.10") is None
    assert record(store.engine, "ipv4", "198.51.100.77") is None


def test_retry_after_is_honoured(tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.routes["/busy"] = Route(
        b"busy", status=429, headers={"Retry-After": "7"}
    )
    feed_server.routes["/slow"] = Route(
        b"busy", status=503, headers={"Retry-After": "86400"}
    )
    waits: list[float] = []
    settings = HttpSettings(retries=2, retry_wait=0.5, timeout=2.0)

    with pytest.raises(FeedError) as busy:
        download_feed(
            feed_server.url("/busy"), tmp_path, settings, {}, sleep=waits.append
        )
    assert waits == [7.0, 7.0]
    assert busy.value.status == 429
    assert len(feed_server.requests_to("/busy")) == 3

    waits.clear()
    with pytest.raises(FeedError):
        download_feed(
            feed_server.url("/slow"), tmp_path, settings, {}, sleep=waits.append
        )
    assert waits == [MAX_RETRY_WAIT, MAX_RETRY_WAIT]


def test_backoff_doubles(tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.routes["/down"] = Route(b"down", status=502)
    waits: list[float] = []
    settings = HttpSettings(retries=3, retry_wait=0.5, timeout=2.0)

    with pytest.raises(FeedError) as failure:
        download_feed(
            feed_server.url("/down"), tmp_path, settings, {}, sleep=waits.append
        )

    assert waits == [0.5, 1.0, 2.0]
    assert "HTTP 502 Bad Gateway" in failure.value.reason
    assert list(tmp_path.iterdir()) == []


def test_not_found_is_not_retried(tmp_path: Path, feed_server: FeedServer) -> None:
    waits: list[float] = []

    with pytest.raises(FeedError) as failure:
        download_feed(
            feed_server.url("/missing"),
            tmp_path,
            HttpSettings(),
            {},
            sleep=waits.append,
        )

    assert failure.value.status == 404
    assert waits == []


def test_plain_list_labelled_html(
    store: Store, corpus_dir: Path, feed_server: FeedServer
) -> None:
    body = (corpus_dir / GOOD_FILE).read_bytes()
    feed_server.routes[GOOD] = Route(body, content_type="text/html")
    register(store, "labelled", feed_server.url(GOOD), **FAST)

    run = run_feed(store.engine, "labelled")

    assert run.outcome == "ok"
    assert run.new == len(set(corpus_lines(corpus_dir, GOOD_FILE)))


def test_empty_body_keeps_feed(
    store: Store, corpus_dir: Path, feed_server: FeedServer
) -> None:
    feed_server.routes[GOOD] = Route((corpus_dir / GOOD_FILE).read_bytes())
    register(store, "good", feed_server.url(GOOD), **FAST)
    run_feed(store.engine, "good")
    feed_server.routes[GOOD] = Route(b"")

    second = run_feed(store.engine, "good")

    assert second.outcome == "failed"
    assert "empty body" in (second.error or "")
    rows = provenance_rows(store, "good")
    assert rows == len(set(corpus_lines(corpus_dir, GOOD_FILE)))


def test_credentials_sent_not_logged(
    store: Store,
    corpus_dir: Path,
    feed_server: FeedServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from medisac.feeds.registry import Credentials
    from medisac.settings import Secret

    secret = "s3cr3t-token-value-0123456789"
    feed_server.routes[GOOD] = Route((corpus_dir / GOOD_FILE).read_bytes())
    feed_server.routes["/denied"] = Route(b"no", status=401)
    with begin_write(store.engine) as conn:
        for name, path in (("good", GOOD), ("denied", "/denied")):
            add_feed(
                conn,
                FeedSpec(
                    name=name,
                    location=feed_server.url(path),
                    format="plain",
                    credentials=Credentials(token=Secret(secret)),
                    options=FAST,
                ),
            )
    caplog.set_level("DEBUG")

    runs = {run.name: run for run in run_feeds(store.engine)}

    assert runs["good"].outcome == "ok"
    assert runs["denied"].outcome == "failed"
    sent = feed_server.requests_to(GOOD)[0].headers["Authorization"]
    assert sent == f"Bearer {secret}"
    assert secret not in caplog.text
    assert secret not in (runs["denied"].error or "")
    with store.engine.connect() as conn:
        errors = conn.execute(sa.select(ingest_runs.c.error)).scalars().all()
    assert all(secret not in (error or "") for error in errors)


def test_query_url_downloads(
    store: Store, corpus_dir: Path, feed_server: FeedServer
) -> None:
    feed_server.routes["/blocklist/"] = Route((corpus_dir / GOOD_FILE).read_bytes())
    register(store, "query", feed_server.url("/blocklist/?download=ips"), **FAST)

    run = run_feed(store.engine, "query")

    assert run.outcome == "ok"
    assert feed_server.requests[0].path == "/blocklist/?download=ips"


def test_retry_after_forms() -> None:
    from email.utils import formatdate

    from medisac.feeds.fetch import retry_after_seconds

    later = retry_after_seconds(formatdate(time.time() + 60, usegmt=True))

    assert retry_after_seconds("30") == 30.0
    assert later is not None
    assert 55 <= later <= 61
    assert retry_after_seconds(formatdate(0, usegmt=True)) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None
