"""Fixtures for contribution tests: the corpus folders and a member."""

from __future__ import annotations

from pathlib import Path

import pytest

from medisac.members.orgs import Org, OrgKind, add_org
from medisac.store.engine import begin_write
from tests.conftest import Store


@pytest.fixture(scope="session")
def eml_dir(corpus_dir: Path) -> Path:
    """The real phishing e-mails of the corpus."""
    return corpus_dir / "contrib" / "eml"


@pytest.fixture(scope="session")
def reports_dir(corpus_dir: Path) -> Path:
    """The real research reports of the corpus."""
    return corpus_dir / "contrib" / "reports"


@pytest.fixture
def member(store: Store) -> Org:
    """A member hospital that contributes."""
    with begin_write(store.engine) as conn:
        return add_org(conn, "Valley Hospital", kind=OrgKind.HOSPITAL_SYSTEM)
