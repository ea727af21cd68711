"""Add contributions from e-mails and reports, and their proposed indicators.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "contributions",
        sa.Column("id", _BigId, primary_key=True),
        sa.Column("org_id", sa.String(40), sa.ForeignKey("organisations.id")),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("filename", sa.String(300), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("original", sa.LargeBinary(), nullable=False),
        sa.Column("analysis", sa.Text(), nullable=False),
        sa.Column("scrubbed", sa.Text(), nullable=False),
        sa.Column("redactions", sa.Integer(), nullable=False),
        sa.Column("warnings", sa.Text(), nullable=False),
        sa.Column("reviewed_by", sa.String(200)),
        sa.Column("reviewed_at", sa.BigInteger()),
    )
    op.create_index("ix_contributions_org_id", "contributions", ["org_id"])
    op.create_table(
        "contribution_items",
        sa.Column("id", _BigId, primary_key=True),
        sa.Column(
            "contribution_id",
            sa.BigInteger(),
            sa.ForeignKey("contributions.id"),
            nullable=False,
        ),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("proposal", sa.String(16), nullable=False),
        sa.Column("confidence", sa.SmallInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("context_original", sa.Text(), nullable=False),
        sa.Column("section", sa.Text(), nullable=False),
        sa.Column("related", sa.Text(), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("final_type", sa.String(16)),
        sa.Column("final_value", sa.Text()),
        sa.Column("final_confidence", sa.SmallInteger()),
        sa.Column("decided_by", sa.String(200)),
        sa.Column("decided_at", sa.BigInteger()),
    )
    op.create_index(
        "ix_contribution_items_contribution_id",
        "contribution_items",
        ["contribution_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_contribution_items_contribution_id", "contribution_items")
    op.drop_table("contribution_items")
    op.drop_index("ix_contributions_org_id", "contributions")
    op.drop_table("contributions")
