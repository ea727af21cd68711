"""Add the listing times of claims and an index for finding expired indicators.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("provenance", sa.Column("listed_at", sa.BigInteger()))
    op.add_column("provenance", sa.Column("delisted_at", sa.BigInteger()))
    op.create_index(
        "ix_indicators_state_valid_until",
        "indicators",
        ["state", "valid_until"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_indicators_state_valid_until", table_name="indicators")
    with op.batch_alter_table("provenance") as batch:
        batch.drop_column("delisted_at")
        batch.drop_column("listed_at")
