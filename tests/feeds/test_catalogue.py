"""The catalogue of public feeds: it loads, its formats read real samples, and
``medisac init`` enables the default set only when asked to.

Nothing here fetches a catalogue URL: formats are checked on corpus copies of
the same lists, or on hand-written samples of their layout.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from medisac.errors import ConfigError
from medisac.feeds.catalogue import (
    catalogue_entry,
    default_feed_names,
    enable_entry,
    load_catalogue,
)
from medisac.feeds.registry import KIND_HTTP, get_feed, kind_of, list_feeds
from medisac.ingest.detect import PARSERS
from medisac.store.engine import begin_write
from tests.cli.test_cli import medisac
from tests.cli.test_feeds_cli import invoke
from tests.conftest import Store
from tests.helpers import ingest_paths, ingest_text, record

# The layout of ThreatFox's CSV export: a commented banner and header, then
# quoted fields separated by ", ". Values are reserved examples.
THREATFOX_COLUMNS = [
    "first_seen_utc",
    "ioc_id",
    "ioc_value",
    "ioc_type",
    "threat_type",
    "fk_malware",
    "malware_alias",
    "malware_printable",
    "last_seen_utc",
    "confidence_level",
    "reference",
    "tags",
    "anonymous",
    "reporter",
]
THREATFOX_ROWS = [
    ["2026-12-04 14:55:01", "1650001", "198.51.100.7:443", "ip:port", "botnet_cc",
     "win.cobalt_strike", "None", "Cobalt Strike", "", "100", "", "c2", "0", "x"],
    ["2026-12-04 14:50:11", "1650002", "bad-c2.example.net", "domain", "botnet_cc",
     "win.lumma", "None", "Lumma Stealer", "", "75", "", "Lumma", "0", "x"],
    ["2026-12-04 14:40:11", "1650003", "https://bad.example.org/gate.php", "url",
     "payload_delivery", "js.clearfake", "None", "ClearFake", "", "100", "", "",
     "0", "x"],
]  # fmt: skip
THREATFOX_SAMPLE = "\n".join(
    [
        "#" * 64,
        "# ThreatFox IOCs: recent",
        "#" * 64,
        "#",
        "# " + ",".join(f'"{name}"' for name in THREATFOX_COLUMNS),
        *(", ".join(f'"{cell}"' for cell in row) for row in THREATFOX_ROWS),
        "",
    ]
)

# The layout of the abuse.ch plain lists (Feodo Tracker, SSL Blacklist,
# URLhaus): comment lines, then one value per line.
ABUSE_CH_SAMPLE = """\
#####################################################
# abuse.ch blocklist                                #
# Terms of use: see the provider's website          #
#####################################################
198.51.100.21
203.0.113.22
http://203.0.113.23/bins/x86
"""


def test_catalogue_loads() -> None:
    entries = load_catalogue()
    names = {entry.name for entry in entries}

    assert {
        "urlhaus-online",
        "feodo-ipblocklist",
        "threatfox-recent",
        "cisa-kev",
        "tor-exit-nodes",
    } <= names
    for entry in entries:
        assert entry.location.startswith("https://"), entry.name
        assert entry.terms.startswith("https://"), entry.name
        assert entry.every_seconds >= 3600, entry.name
        assert entry.note, entry.name


def test_defaults_are_readable() -> None:
    defaults = [entry for entry in load_catalogue() if entry.default]

    assert defaults
    for entry in defaults:
        assert entry.format in PARSERS, entry.name
        assert kind_of(entry.location, entry.format) == KIND_HTTP, entry.name
    assert default_feed_names({}) == [entry.name for entry in defaults]


def test_kev_enabled_on_request(store: Store) -> None:
    entry = catalogue_entry("cisa-kev")

    assert entry.readable
    assert not entry.default
    with begin_write(store.engine) as conn:
        assert enable_entry(conn, "cisa-kev")
    with store.engine.connect() as conn:
        feed = get_feed(conn, "cisa-kev")
    assert feed.format == "kev"


def test_default_feeds_env() -> None:
    assert default_feed_names({"MEDISAC_DEFAULT_FEEDS": "none"}) == []
    assert default_feed_names({"MEDISAC_DEFAULT_FEEDS": " NONE "}) == []
    chosen = default_feed_names({"MEDISAC_DEFAULT_FEEDS": "tor-exit-nodes, sslbl-ip"})
    assert chosen == ["tor-exit-nodes", "sslbl-ip"]
    with pytest.raises(ConfigError) as error:
        default_feed_names({"MEDISAC_DEFAULT_FEEDS": "no-such-feed"})
    assert "MEDISAC_DEFAULT_FEEDS" in str(error.value)


def test_tor_format_reads_corpus(store: Store, corpus_dir: Path) -> None:
    entry = catalogue_entry("tor-exit-nodes")
    path = corpus_dir / "indicators/text/tor/tor-exit-nodes.lst"
    lines = [line for line in path.read_text().splitlines() if line.strip()]

    summary = ingest_paths(store.engine, [path], source="tor", fmt=entry.format)

    assert summary.rejected == 0
    assert summary.failed == []
    assert summary.values == len(lines)


def test_threatfox_format_reads_sample(store: Store, tmp_path: Path) -> None:
    entry = catalogue_entry("threatfox-recent")

    summary = ingest_text(
        store.engine, tmp_path, THREATFOX_SAMPLE, name="recent.csv", fmt=entry.format
    )

    assert summary.failed == []
    assert summary.rejected == 0
    assert record(store.engine, "ipv4", "198.51.100.7") is not None
    assert record(store.engine, "domain", "bad-c2.example.net") is not None
    assert record(store.engine, "url", "https://bad.example.org/gate.php") is not None


def test_abuse_ch_format_reads_sample(store: Store, tmp_path: Path) -> None:
    entry = catalogue_entry("feodo-ipblocklist")

    summary = ingest_text(store.engine, tmp_path, ABUSE_CH_SAMPLE, fmt=entry.format)

    assert summary.failed == []
    assert summary.rejected == 0
    assert summary.values == 3


def test_enable_twice(store: Store) -> None:
    with begin_write(store.engine) as conn:
        assert enable_entry(conn, "tor-exit-nodes") is True
    with begin_write(store.engine) as conn:
        assert enable_entry(conn, "tor-exit-nodes") is False
        feed = get_feed(conn, "tor-exit-nodes")

    assert feed.enabled
    assert feed.reliability == "A"
    assert feed.every_seconds == 6 * 3600
    assert feed.options == {"catalogue": "tor-exit-nodes"}


def test_init_enables_none(tmp_path: Path) -> None:
    # A real child process, as `medisac init` runs in a deployment.
    db = f"sqlite:///{tmp_path / 'new.db'}"

    result = medisac("init", db=db, env={"MEDISAC_DEFAULT_FEEDS": "none"})

    assert result.returncode == 0, result.stderr
    assert "feeds enabled" not in result.stdout
    listed = medisac("feeds", "list", db=db)
    assert listed.returncode == 0, listed.stderr
    assert "no feeds" in listed.stdout


def test_init_enables_named(tmp_path: Path) -> None:
    from medisac.store.engine import create_engine

    db = f"sqlite:///{tmp_path / 'new.db'}"

    # Enabling registers the feed; nothing is fetched until a run.
    result = invoke("init", db=db, env={"MEDISAC_DEFAULT_FEEDS": "tor-exit-nodes"})
    again = invoke("init", db=db, env={"MEDISAC_DEFAULT_FEEDS": "sslbl-ip"})

    assert result.returncode == 0, result.stderr
    assert "feeds enabled: tor-exit-nodes" in result.stdout
    assert again.returncode == 0, again.stderr
    engine = create_engine(db)
    with engine.connect() as conn:
        names = [feed.name for feed in list_feeds(conn)]
    engine.dispose()
    # A second init of an existing store enables nothing more.
    assert names == ["tor-exit-nodes"]


def test_init_flag_enables_none(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'new.db'}"

    result = invoke(
        "init",
        "--no-default-feeds",
        db=db,
        env={"MEDISAC_DEFAULT_FEEDS": "tor-exit-nodes"},
    )

    assert result.returncode == 0, result.stderr
    assert "feeds enabled" not in result.stdout
