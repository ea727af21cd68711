"""Benchmark: storing the KEV catalogue and ICSMA advisories, then matching.

Usage: python bench/vulns_match.py [--corpus DIR] [--items N]

Creates a fresh SQLite store in a temporary folder and, in one process,
measures the time to store the KEV catalogue (JSON) and every ICSMA CSAF
advisory of the corpus. Then it measures ``matches_for_org`` for one member
whose inventory has N items: the products those documents name, in turn,
each at version 1.0. Prints the counts and times as JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from medisac.ingest.reader import expand
from medisac.members.orgs import add_org
from medisac.store.engine import begin_write, create_engine
from medisac.store.migrate import upgrade
from medisac.vulns.ingest import ingest_vuln_document, parse_vuln_document
from medisac.vulns.inventory import InventoryItem, store_inventory
from medisac.vulns.match import matches_for_org

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "vulns"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--items", type=int, default=2000)
    args = parser.parse_args()
    kev = args.corpus / "kev" / "known_exploited_vulnerabilities.json"
    advisories = sorted((args.corpus / "csaf").glob("icsma-*.json"))
    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine(f"sqlite:///{folder}/bench.db")
        upgrade(engine)
        documents = [
            doc for path in [kev, *advisories] for doc in expand([path], 1 << 28)
        ]
        products = [
            (product.vendor, product.product)
            for doc in documents
            for vuln in parse_vuln_document(doc).vulnerabilities
            for product in vuln.products
        ]
        started = time.perf_counter()
        for doc in documents:
            ingest_vuln_document(engine, doc)
        stored = time.perf_counter() - started
        unique = list(dict.fromkeys(products))
        items = [
            InventoryItem(vendor, product, "1.0")
            for vendor, product in (unique * (args.items // len(unique) + 1))[
                : args.items
            ]
        ]
        with begin_write(engine) as conn:
            org = add_org(conn, "bench")
            store_inventory(conn, org.id, items, "api", 1)
        started = time.perf_counter()
        with engine.connect() as conn:
            found = matches_for_org(conn, org.id)
        matched = time.perf_counter() - started
    result = {
        "documents": 1 + len(advisories),
        "store_seconds": round(stored, 2),
        "inventory_items": len(items),
        "matches": len(found),
        "certain": sum(1 for m in found if m.certain),
        "match_seconds": round(matched, 2),
        "python": platform.python_version(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
