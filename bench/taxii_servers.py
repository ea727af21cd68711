"""Servers for the TAXII paging bench: medisac, OpenTAXII 0.9.3 and medallion 3.0.0.

Each ``prepare_*`` function loads the same generated indicators into one
server, starts it on a free 127.0.0.1 port as a child process, and returns a
:class:`Target` that bench/taxii_paging.py pages through. OpenTAXII and
medallion run in their own virtualenvs under bench/.venvs/, built from the
pinned files in bench/requirements/ on first use, each under gunicorn with one
sync worker process (medisac serves from one uvicorn process).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
VENV_DIR = BENCH_DIR / ".venvs"
REQUIREMENTS_DIR = BENCH_DIR / "requirements"

TAXII_ACCEPT = "application/taxii+json;version=2.1"
USERNAME = "bench"

# Seconds allowed for each setup step. A step past its limit fails the server.
INSTALL_TIMEOUT = 900.0
LOAD_TIMEOUT = 3600.0
READY_TIMEOUT = 180.0
STOP_TIMEOUT = 15.0

# uuid5 ids and timestamps derived from the index keep the generated objects
# identical across runs. The namespace is arbitrary but must not change.
FIRST_CREATED = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
BENCH_NAMESPACE = uuid.UUID("5f0b7f64-6f1e-4c4e-9a52-3c1f1f0b6a41")
BENCH_IDENTITY = f"identity--{uuid.uuid5(BENCH_NAMESPACE, 'identity')}"
# The TLP:CLEAR marking definition of TLP 2.0, as published by FIRST.
TLP_CLEAR = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
# 198.18.0.0/15 is reserved for benchmarks (RFC 2544) and example.com for
# documentation (RFC 2606), so no generated value names a real host. medisac
# reads a bare name in a plain list as a domain only under a public suffix,
# which rules out the reserved .example and .test.
IPV4_FIRST = int(ipaddress.IPv4Address("198.18.0.1"))
IPV4_COUNT = 2**17 - 2
MAX_OBJECTS = 2 * IPV4_COUNT


class SetupError(RuntimeError):
    """A server could not be installed, loaded or started."""


@dataclass(frozen=True, slots=True)
class Indicator:
    """One generated indicator value and the STIX observable type it has."""

    stix_type: str
    value: str


def indicator_values(count: int) -> list[Indicator]:
    """Return ``count`` distinct values, alternating IPv4 addresses and domains.

    Raises ValueError when ``count`` exceeds the supply of test addresses.
    """
    if count > MAX_OBJECTS:
        raise ValueError(f"count {count} is too large; use at most {MAX_OBJECTS}")
    values = []
    for index in range(count):
        serial = index // 2
        if index % 2 == 0:
            address = str(ipaddress.IPv4Address(IPV4_FIRST + serial))
            values.append(Indicator("ipv4-addr", address))
        else:
            values.append(Indicator("domain-name", f"host-{serial:06d}.example.com"))
    return values


def stix_time(index: int) -> str:
    """Return the STIX timestamp ``index`` seconds after the first object's."""
    moment = FIRST_CREATED + dt.timedelta(seconds=index)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def stix_indicator(indicator: Indicator, index: int) -> dict[str, Any]:
    """Return a STIX 2.1 indicator for ``indicator`` with the fields medisac sends.

    The field set follows medisac's own rendering (name, confidence, marking
    and one external reference), so each server sends objects of about the
    same size. The bench reports bytes per object to show it. Each object
    gets its own ``created``/``modified`` time, ``index`` seconds apart,
    because OpenTAXII 0.9.3 on SQLite slows down badly when many objects
    share one version (see bench/README.md).
    """
    created = stix_time(index)
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid5(BENCH_NAMESPACE, indicator.value)}",
        "created": created,
        "modified": created,
        "created_by_ref": BENCH_IDENTITY,
        "name": indicator.value,
        "indicator_types": ["malicious-activity"],
        "pattern": f"[{indicator.stix_type}:value = '{indicator.value}']",
        "pattern_type": "stix",
        "pattern_version": "2.1",
        "valid_from": created,
        "confidence": 50,
        "object_marking_refs": [TLP_CLEAR],
        "external_references": [
            {
                "source_name": "bench",
                "description": "reported with confidence 50 at TLP:CLEAR",
            }
        ],
    }


@dataclass(frozen=True, slots=True)
class Limits:
    """Time limits in seconds that the servers' own settings must allow for."""

    page_timeout: float
    budget: float


class ServerProcess:
    """A server started as the leader of its own process group.

    Stopping it signals that group, so gunicorn's worker stops with its
    master, and no process that this bench did not start is touched.
    """

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], cwd: Path
    ) -> None:
        self.name = name
        self.log_path = cwd / f"{name}-server.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, url: str, timeout: float) -> None:
        """Poll ``url`` until it responds with a status below 500.

        Raises SetupError if the server exits first or ``timeout`` runs out.
        """
        deadline = time.monotonic() + timeout
        with httpx.Client(trust_env=False, timeout=5.0) as client:
            while time.monotonic() < deadline:
                if self.popen.poll() is not None:
                    raise SetupError(
                        f"{self.name} exited with code {self.popen.returncode} before "
                        f"it responded; its log ends:\n{self.log_tail()}"
                    )
                try:
                    response = client.get(url, headers={"Accept": TAXII_ACCEPT})
                except httpx.TransportError:
                    time.sleep(0.2)
                    continue
                if response.status_code < 500:
                    return
                time.sleep(0.2)
        raise SetupError(
            f"{self.name} did not respond to {url} within {timeout:.0f} s; "
            f"its log ends:\n{self.log_tail()}"
        )

    def group_pids(self) -> list[int]:
        """Return the live processes of this server's process group."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # Fields after the command name: state, ppid, pgrp, ...
            fields = stat[stat.rfind(")") + 2 :].split()
            if int(fields[2]) == self.popen.pid:
                pids.append(int(entry.name))
        return pids

    def cpu_seconds(self) -> float:
        """Return the user plus system CPU time of the live group processes."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.group_pids():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])
        return total / ticks

    def peak_rss_mib(self) -> float:
        """Return the summed peak resident memory (VmHWM) of the group, in MiB."""
        total_kib = 0
        for pid in self.group_pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    total_kib += int(line.split()[1])
        return total_kib / 1024

    def log_tail(self, lines: int = 20) -> str:
        """Return the last ``lines`` lines of the server's output."""
        self._log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Send SIGTERM to the group, then SIGKILL if it has not exited in time."""
        try:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(self.popen.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.popen.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    continue
                if not self.group_pids():
                    break
        finally:
            self._log.close()


@dataclass
class Target:
    """A running server with a loaded collection, ready to be paged."""

    name: str
    version: str
    discovery_url: str
    objects_url: str
    headers: dict[str, str]
    server: ServerProcess
    load_seconds: float
    notes: list[str] = field(default_factory=list)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def basic_auth(username: str, password: str) -> str:
    """Return an HTTP Basic ``Authorization`` header value."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def run_step(what: str, argv: list[str], env: dict[str, str], timeout: float) -> str:
    """Run one setup command and return its stdout.

    Raises SetupError with the end of its output when it fails or times out.
    """
    try:
        result = subprocess.run(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise SetupError(f"{what} timed out after {timeout:.0f} s") from exc
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()
        tail = "\n".join(output[-20:])
        raise SetupError(f"{what} failed with exit code {result.returncode}:\n{tail}")
    return result.stdout


def ensure_venv(name: str) -> Path:
    """Return the virtualenv bench/.venvs/NAME, building it if its pins changed.

    The venv records the SHA-256 of its requirements file, so editing a pin
    rebuilds it on the next run. Raises SetupError if venv or pip fails.
    """
    requirements = REQUIREMENTS_DIR / f"{name}.txt"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    venv = VENV_DIR / name
    stamp = venv / "bench-requirements.sha256"
    if stamp.exists() and stamp.read_text().strip() == digest:
        return venv
    if venv.exists():
        shutil.rmtree(venv)
    log(f"{name}: creating {venv} from {requirements.name}")
    env = dict(os.environ)
    run_step(f"venv for {name}", [sys.executable, "-m", "venv", str(venv)], env, 120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    run_step(
        f"pip install for {name}", [*pip, "-r", str(requirements)], env, INSTALL_TIMEOUT
    )
    stamp.write_text(digest + "\n")
    return venv


def log(message: str) -> None:
    """Print a progress line to stderr, so stdout keeps only the results."""
    print(message, file=sys.stderr, flush=True)


def write_jsonl(path: Path, objects: list[dict[str, Any]]) -> None:
    """Write one JSON object a line."""
    with path.open("w", encoding="utf-8") as handle:
        for obj in objects:
            handle.write(json.dumps(obj, separators=(",", ":")))
            handle.write("\n")


def prepare_opentaxii(
    workdir: Path, objects: list[dict[str, Any]], limits: Limits
) -> Target:
    """Load ``objects`` into OpenTAXII 0.9.3 and start it under gunicorn.

    The client sends a JWT from ``POST /management/auth``, not Basic
    credentials. OpenTAXII checks a Basic password against its Werkzeug
    password hash (scrypt in Werkzeug 3) on every request, a cost that a
    client avoids by logging in once.
    """
    venv = ensure_venv("opentaxii")
    home = workdir / "opentaxii"
    home.mkdir()
    port = free_port()
    password = secrets.token_urlsafe(16)
    config_path = home / "opentaxii.yml"
    # YAML is a superset of JSON, so OpenTAXII reads this file as written.
    config_path.write_text(json.dumps(_opentaxii_config(home, port, limits), indent=2))
    objects_path = home / "objects.jsonl"
    write_jsonl(objects_path, objects)
    env = {**os.environ, "OPENTAXII_CONFIG": str(config_path)}
    result_path = home / "load.json"
    log(f"opentaxii: adding {len(objects):,} objects through its persistence API")
    started = time.perf_counter()
    run_step(
        "opentaxii_load.py",
        [
            str(venv / "bin" / "python"),
            str(BENCH_DIR / "opentaxii_load.py"),
            f"--objects={objects_path}",
            f"--result={result_path}",
            f"--username={USERNAME}",
            f"--password={password}",
        ],
        env,
        LOAD_TIMEOUT,
    )
    load_seconds = time.perf_counter() - started
    ids = json.loads(result_path.read_text())
    server = ServerProcess(
        "opentaxii",
        _gunicorn_argv(venv, port, limits, "opentaxii.http:app"),
        env,
        home,
    )
    base = f"http://127.0.0.1:{port}"
    server.wait_ready(f"{base}/taxii2/", READY_TIMEOUT)
    token = _opentaxii_token(base, password)
    root = f"{base}/taxii2/{ids['api_root_id']}"
    url = f"{root}/collections/{ids['collection_id']}/objects/"
    return Target(
        name="opentaxii",
        version="OpenTAXII 0.9.3",
        discovery_url=f"{base}/taxii2/",
        objects_url=url,
        headers={"Authorization": f"Bearer {token}"},
        server=server,
        load_seconds=load_seconds,
        notes=["gunicorn 23, 1 sync worker", "SQLite", "JWT bearer auth"],
    )


def _opentaxii_config(home: Path, port: int, limits: Limits) -> dict[str, Any]:
    return {
        "domain": f"127.0.0.1:{port}",
        "support_basic_auth": True,
        "return_server_error_details": True,
        "auth_api": {
            "class": "opentaxii.auth.sqldb.SQLDatabaseAPI",
            "parameters": {
                "db_connection": f"sqlite:///{home / 'auth.db'}",
                "create_tables": True,
                "secret": secrets.token_hex(32),
                # The token must outlive the whole page-through.
                "token_ttl_secs": int(limits.budget) + 600,
            },
        },
        # None turns TAXII 1 off, so OpenTAXII serves TAXII 2.1 only.
        "taxii1": None,
        "taxii2": {
            "persistence_api": {
                "class": "opentaxii.persistence.sqldb.Taxii2SQLDatabaseAPI",
                "parameters": {
                    "db_connection": f"sqlite:///{home / 'data.db'}",
                    "create_tables": True,
                },
            },
            "title": "bench",
            "max_content_length": 10 * 1024 * 1024,
            "public_discovery": True,
            "allow_custom_properties": True,
        },
        "logging": {"opentaxii": "warning", "root": "warning"},
    }


def _opentaxii_token(base: str, password: str) -> str:
    response = httpx.post(
        f"{base}/management/auth",
        json={"username": USERNAME, "password": password},
        trust_env=False,
        timeout=30.0,
    )
    if response.status_code != 200:
        raise SetupError(
            f"opentaxii: POST /management/auth returned {response.status_code}: "
            f"{response.text[:300]}"
        )
    token: str = response.json()["token"]
    return token


def _gunicorn_argv(venv: Path, port: int, limits: Limits, app: str) -> list[str]:
    # gunicorn kills a sync worker whose request runs past --timeout (30 s by
    # default). The limit is set above the client's page timeout, so that the
    # client's timeout is the one that ends a slow page.
    return [
        str(venv / "bin" / "gunicorn"),
        "--workers=1",
        f"--bind=127.0.0.1:{port}",
        f"--timeout={int(limits.page_timeout) + 60}",
        "--graceful-timeout=5",
        app,
    ]


def prepare_medallion(
    workdir: Path, objects: list[dict[str, Any]], limits: Limits, limit: int
) -> Target:
    """Write ``objects`` to a medallion 3.0.0 memory-backend file and start it.

    medallion keeps the rest of a paged result in memory under the ``next``
    id and drops it ``session_timeout`` seconds after the first page (30 by
    default, whatever the activity since), so the config sets it past the
    bench budget.
    """
    venv = ensure_venv("medallion")
    home = workdir / "medallion"
    home.mkdir()
    port = free_port()
    password = secrets.token_urlsafe(16)
    started = time.perf_counter()
    data_path = home / "data.json"
    data_path.write_text(json.dumps(_medallion_data(objects, port)), encoding="utf-8")
    config = {
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": str(data_path),
            "session_timeout": int(limits.budget) + 600,
        },
        "users": {USERNAME: password},
        # medallion lowers any larger limit to max_page_size.
        "taxii": {"max_page_size": limit},
    }
    config_path = home / "medallion.json"
    config_path.write_text(json.dumps(config, indent=2))
    app = f"medallion:load_app({str(config_path)!r})"
    server = ServerProcess(
        "medallion", _gunicorn_argv(venv, port, limits, app), dict(os.environ), home
    )
    base = f"http://127.0.0.1:{port}"
    server.wait_ready(f"{base}/taxii2/", READY_TIMEOUT)
    load_seconds = time.perf_counter() - started
    return Target(
        name="medallion",
        version="medallion 3.0.0",
        discovery_url=f"{base}/taxii2/",
        objects_url=f"{base}/{MEDALLION_API_ROOT}/collections/{MEDALLION_COLLECTION}/objects/",
        headers={"Authorization": basic_auth(USERNAME, password)},
        server=server,
        load_seconds=load_seconds,
        notes=["gunicorn 23, 1 sync worker", "memory backend", "Basic auth"],
    )


# NOTE: medallion's memory backend finds a key by walking the data in sorted
# key order. The API root must sort after "/discovery", because otherwise every
# discovery request walks all objects first.
MEDALLION_API_ROOT = "bench"
MEDALLION_COLLECTION = "9f5b3e1c-4b0e-4d7a-8a53-0b6c1f0e2d11"


def _medallion_data(objects: list[dict[str, Any]], port: int) -> dict[str, Any]:
    # Each object gets its own date_added, one millisecond apart, so the
    # manifest order is the generation order.
    first_added = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    manifest = [
        {
            "id": obj["id"],
            "date_added": (first_added + dt.timedelta(milliseconds=index)).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ"
            ),
            "version": obj["modified"],
            "media_type": "application/stix+json;version=2.1",
        }
        for index, obj in enumerate(objects)
    ]
    root_url = f"http://127.0.0.1:{port}/{MEDALLION_API_ROOT}/"
    collection = {
        "id": MEDALLION_COLLECTION,
        "title": "Indicators",
        "can_read": True,
        "can_write": False,
        "media_types": ["application/stix+json;version=2.1"],
        "objects": objects,
        "manifest": manifest,
    }
    return {
        "/discovery": {"title": "bench", "default": root_url, "api_roots": [root_url]},
        MEDALLION_API_ROOT: {
            "information": {
                "title": "bench",
                "versions": [TAXII_ACCEPT],
                "max_content_length": 10 * 1024 * 1024,
            },
            "status": [],
            "collections": [collection],
        },
    }


def prepare_medisac(workdir: Path, values: list[Indicator]) -> Target:
    """Ingest ``values`` into a fresh medisac SQLite store and start ``medisac serve``.

    Uses the medisac of the Python running this script. The client sends the
    operator key as the password of HTTP Basic authentication.
    """
    home = workdir / "medisac"
    home.mkdir()
    key = "bench-" + secrets.token_urlsafe(32)
    env = {
        **os.environ,
        "MEDISAC_DB": f"sqlite:///{home / 'medisac.db'}",
        "MEDISAC_OPERATOR_KEY": key,
    }
    values_path = home / "values.txt"
    values_path.write_text("".join(f"{item.value}\n" for item in values))
    medisac = [sys.executable, "-m", "medisac"]
    run_step("medisac init", [*medisac, "init"], env, 120)
    log(f"medisac: ingesting {len(values):,} values")
    started = time.perf_counter()
    ingest = [
        *medisac,
        "ingest",
        str(values_path),
        "--format",
        "plain",
        "--source",
        "bench",
    ]
    run_step("medisac ingest", ingest, env, LOAD_TIMEOUT)
    load_seconds = time.perf_counter() - started
    port = free_port()
    server = ServerProcess(
        "medisac", [*medisac, "serve", "--port", str(port)], env, home
    )
    base = f"http://127.0.0.1:{port}"
    server.wait_ready(f"{base}/taxii2/", READY_TIMEOUT)
    headers = {"Authorization": basic_auth(USERNAME, key)}
    return Target(
        name="medisac",
        version=f"medisac {_medisac_version()}",
        discovery_url=f"{base}/taxii2/",
        objects_url=_medisac_objects_url(base, headers),
        headers=headers,
        server=server,
        load_seconds=load_seconds,
        notes=["uvicorn, 1 process", "SQLite", "Basic auth"],
    )


def _medisac_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("medisac")
    except PackageNotFoundError:
        return "(not installed)"


def _medisac_objects_url(base: str, headers: dict[str, str]) -> str:
    """Return the objects URL of medisac's collection of all indicators.

    Raises SetupError when discovery or the collection list is not as expected.
    """
    request_headers = {"Accept": TAXII_ACCEPT, **headers}
    with httpx.Client(trust_env=False, timeout=30.0, headers=request_headers) as client:
        discovery = _get_json(client, f"{base}/taxii2/")
        root = discovery.get("default") or (discovery.get("api_roots") or [None])[0]
        if not root:
            raise SetupError(f"medisac: discovery names no API root: {discovery}")
        root_url = str(httpx.URL(f"{base}/taxii2/").join(root))
        root_url = root_url if root_url.endswith("/") else root_url + "/"
        listing = _get_json(client, f"{root_url}collections/")
    collections = listing.get("collections", [])
    chosen = _pick_indicator_collection(collections)
    if chosen is None:
        titles = [c.get("title") for c in collections]
        raise SetupError(f"medisac: no indicator collection among {titles}")
    return f"{root_url}collections/{chosen['id']}/objects/"


def _pick_indicator_collection(
    collections: list[dict[str, Any]],
) -> dict[str, Any] | None:
    for wanted in ("indicators", "all active indicators"):
        for collection in collections:
            if str(collection.get("title", "")).lower() == wanted:
                return collection
    for collection in collections:
        if "indicator" in str(collection.get("title", "")).lower():
            return collection
    return None


def _get_json(client: httpx.Client, url: str) -> dict[str, Any]:
    response = client.get(url)
    if response.status_code != 200:
        raise SetupError(
            f"GET {url} returned {response.status_code}: {response.text[:300]}"
        )
    body: dict[str, Any] = response.json()
    return body
