"""Expanding paths: directories, archives, MISP feeds and unreadable inputs."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from medisac.errors import IngestError, InputTooLarge
from medisac.ingest.reader import expand, feed_events
from tests.ingest.helpers import MAX_BYTES, observations, parse_document


def origins(paths: list[Path], max_bytes: int = MAX_BYTES) -> list[str]:
    return [document.origin for document in expand(paths, max_bytes)]


def test_directory_sorted_recursive(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "inner.txt").write_text("x\n")
    (tmp_path / "a.txt").write_text("x\n")
    (tmp_path / ".hidden").write_text("x\n")
    (tmp_path / "SOURCES.md").write_text("# notes\n")
    names = [
        Path(origin).relative_to(tmp_path).as_posix() for origin in origins([tmp_path])
    ]
    assert names == [".hidden", "SOURCES.md", "a.txt", "b/inner.txt"]


def test_directory_symlink_loop_not_followed(tmp_path: Path) -> None:
    (tmp_path / "list.txt").write_text("198.51.100.1\n")
    os.symlink(tmp_path, tmp_path / "loop")
    documents = list(expand([tmp_path], MAX_BYTES))
    assert [d.origin for d in documents] == [
        str(tmp_path / "list.txt"),
        str(tmp_path / "loop"),
    ]
    with pytest.raises(IngestError, match="symbolic link"):
        documents[1].read_bytes()


def test_missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(IngestError) as caught:
        origins([tmp_path / "nothing.txt"])
    assert "nothing.txt" in str(caught.value)
    assert "no such file" in str(caught.value)


def test_url_is_not_a_path() -> None:
    with pytest.raises(IngestError):
        origins(["https://feeds.example.org/list.txt"])


def test_gzip_file_is_one_document(tmp_path: Path) -> None:
    path = tmp_path / "list.txt.gz"
    path.write_bytes(gzip.compress(b"198.51.100.7\n"))
    documents = list(expand([path], MAX_BYTES))
    assert [d.origin for d in documents] == [str(path)]
    assert documents[0].read_bytes() == b"198.51.100.7\n"


def _tar(path: Path, members: dict[str, bytes], mode: str = "w:gz") -> None:
    with tarfile.open(path, mode) as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))


def test_tar_members_are_documents(tmp_path: Path) -> None:
    path = tmp_path / "feeds.tar.gz"
    _tar(path, {"a/one.txt": b"198.51.100.1\n", "b/two.txt": b"198.51.100.2\n"})
    documents = list(expand([path], MAX_BYTES))
    assert [d.origin for d in documents] == [f"{path}!a/one.txt", f"{path}!b/two.txt"]
    # Read after the expansion finished: the member reopens the archive.
    assert documents[1].read_bytes() == b"198.51.100.2\n"
    assert documents[0].read_bytes() == b"198.51.100.1\n"


def test_tar_read_while_expanding(tmp_path: Path) -> None:
    path = tmp_path / "feeds.tgz"
    _tar(path, {f"list{i}.txt": f"198.51.100.{i}\n".encode() for i in range(20)})
    seen = []
    for document in expand([path], MAX_BYTES):
        seen.extend(obs.value for obs in observations(parse_document(document)))
    assert seen == [f"198.51.100.{i}" for i in range(20)]


def test_tar_skips_links_and_strange_names(tmp_path: Path) -> None:
    path = tmp_path / "tricky.tar"
    with tarfile.open(path, "w") as archive:
        link = tarfile.TarInfo("link-to-passwd")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        archive.addfile(link)
        info = tarfile.TarInfo("../../escape\nname.txt")
        content = b"203.0.113.9\n"
        info.size = len(content)
        archive.addfile(info, io.BytesIO(content))
    documents = list(expand([path], MAX_BYTES))
    assert [d.origin for d in documents] == [f"{path}!../../escape?name.txt"]
    assert documents[0].read_bytes() == content
    assert not (tmp_path.parent / "escape\nname.txt").exists()


def test_tar_member_over_cap(tmp_path: Path) -> None:
    path = tmp_path / "big.tar.gz"
    _tar(path, {"zeros.txt": b"\n" * 20_000})
    document = next(expand([path], 4096))
    with pytest.raises(InputTooLarge) as caught:
        document.read_bytes()
    assert "big.tar.gz!zeros.txt" in str(caught.value)


def test_zip_members_are_documents(tmp_path: Path) -> None:
    path = tmp_path / "feeds.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("dir/", b"")
        archive.writestr("dir/list.txt", b"198.51.100.3\n")
        archive.writestr("../../evil.txt", b"198.51.100.4\n")
    documents = list(expand([path], MAX_BYTES))
    assert [d.origin for d in documents] == [
        f"{path}!dir/list.txt",
        f"{path}!../../evil.txt",
    ]
    assert documents[1].read_bytes() == b"198.51.100.4\n"


def test_zip_bomb_member_stops_at_cap(tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.csv", b"\n" * (8 * 1024 * 1024))
    assert path.stat().st_size < 64 * 1024
    document = next(expand([path], 1024 * 1024))
    with pytest.raises(InputTooLarge) as caught:
        document.read_bytes()
    assert caught.value.read == 1024 * 1024 + 1


def test_corrupt_archive_fails_alone(tmp_path: Path) -> None:
    (tmp_path / "a-broken.zip").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    (tmp_path / "b-list.txt").write_text("198.51.100.5\n")
    documents = list(expand([tmp_path], MAX_BYTES))
    assert [Path(d.origin).name for d in documents] == ["a-broken.zip", "b-list.txt"]
    with pytest.raises(IngestError) as caught:
        documents[0].read_bytes()
    assert "a-broken.zip" in str(caught.value)
    assert documents[1].read_bytes() == b"198.51.100.5\n"


def _misp_feed(directory: Path) -> None:
    event = {"Event": {"uuid": "5b6f5ad4-0000-4000-8000-000000000001", "info": "x"}}
    manifest = {"5b6f5ad4-0000-4000-8000-000000000001": {"info": "x", "Orgc": {}}}
    (directory / "manifest.json").write_text(json.dumps(manifest))
    (directory / "5b6f5ad4-0000-4000-8000-000000000001.json").write_text(
        json.dumps(event)
    )
    (directory / "hashes.csv").write_text("5b6f5ad4-0000-4000-8000-000000000001,abc\n")


def test_misp_feed_directory_lists_events(tmp_path: Path) -> None:
    _misp_feed(tmp_path)
    assert origins([tmp_path]) == [
        str(tmp_path / "5b6f5ad4-0000-4000-8000-000000000001.json")
    ]


def test_misp_manifest_path_lists_events(tmp_path: Path) -> None:
    _misp_feed(tmp_path)
    assert origins([tmp_path / "manifest.json"]) == [
        str(tmp_path / "5b6f5ad4-0000-4000-8000-000000000001.json")
    ]


def test_misp_feed_missing_event_fails_alone(tmp_path: Path) -> None:
    manifest = {"5b6f5ad4-0000-4000-8000-00000000000a": {"info": "gone"}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    document = next(expand([tmp_path], MAX_BYTES))
    with pytest.raises(IngestError) as caught:
        document.read_bytes()
    assert "5b6f5ad4-0000-4000-8000-00000000000a.json" in str(caught.value)


def test_unrelated_manifest_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text('{"name": "web app", "version": 2}')
    (tmp_path / "list.txt").write_text("198.51.100.6\n")
    assert feed_events(tmp_path / "manifest.json") is None
    assert [Path(o).name for o in origins([tmp_path])] == ["list.txt", "manifest.json"]


def test_manifest_names_stay_inside_folder(tmp_path: Path) -> None:
    listing = [{"filename": "../../etc/passwd.json", "info": "x"}]
    (tmp_path / "manifest.json").write_text(json.dumps(listing))
    assert feed_events(tmp_path / "manifest.json") == [tmp_path / "passwd.json"]


def test_corpus_feed_directory(corpus_dir: Path) -> None:
    feed = corpus_dir / "misp" / "feed_malvuln"
    names = [Path(origin).name for origin in origins([feed])]
    assert len(names) == 702
    assert all(name.startswith("misp_event_") for name in names)
    assert "manifest.json" not in names
