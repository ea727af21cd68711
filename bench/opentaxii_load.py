"""Load STIX objects into a fresh OpenTAXII 0.9.3 database for the paging bench.

Runs with the Python of the OpenTAXII virtualenv that bench/taxii_paging.py
creates, never with medisac's, because it imports ``opentaxii``. The
``OPENTAXII_CONFIG`` environment variable names the server configuration, as
for every ``opentaxii-*`` command. The script adds one default API root, one
collection and one admin account, then adds the objects through OpenTAXII's
own persistence API (the code path of a TAXII "add objects" request, without
HTTP), and writes the ids it created to the ``--result`` file as JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from opentaxii.cli import app
from opentaxii.entities import Account
from opentaxii.local import context

BATCH = 1000


def read_objects(path: Path) -> list[dict[str, Any]]:
    """Return the STIX objects of a JSON Lines file, one object a line."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load(args: argparse.Namespace) -> dict[str, Any]:
    """Create the API root, collection and account, add the objects; return ids."""
    objects = read_objects(args.objects)
    with app.app_context():
        # The persistence API checks permissions against the context account.
        context.account = Account(
            id=None, username="bench-loader", permissions=None, is_admin=True
        )
        persistence = app.taxii_server.servers.taxii2.persistence.api
        api_root = persistence.add_api_root(title="bench", default=True)
        collection = persistence.add_collection(
            api_root_id=api_root.id, title=args.collection_title
        )
        app.taxii_server.auth.api.create_account(
            username=args.username, password=args.password, is_admin=True
        )
        started = time.perf_counter()
        for start in range(0, len(objects), BATCH):
            persistence.add_objects(
                api_root.id, collection.id, objects[start : start + BATCH]
            )
        seconds = time.perf_counter() - started
    return {
        "api_root_id": str(api_root.id),
        "collection_id": str(collection.id),
        "objects": len(objects),
        "add_seconds": seconds,
    }


def main() -> None:
    """Parse the command line, load the objects and write the result file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=Path, required=True, help="JSON Lines file")
    parser.add_argument("--result", type=Path, required=True, help="JSON output")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--collection-title", default="Indicators")
    args = parser.parse_args()
    args.result.write_text(json.dumps(load(args)), encoding="utf-8")


if __name__ == "__main__":
    main()
