"""Add monthly reports and published advisories.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "advisories",
        sa.Column("stix_id", sa.String(64), primary_key=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("tlp", sa.SmallInteger(), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("indicator_refs", sa.Text(), nullable=False),
        sa.Column("cves", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("modified", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "advisory_recipients",
        sa.Column(
            "stix_id",
            sa.String(64),
            sa.ForeignKey("advisories.stix_id"),
            primary_key=True,
        ),
        sa.Column(
            "org_id",
            sa.String(40),
            sa.ForeignKey("organisations.id"),
            primary_key=True,
        ),
    )
    op.create_table(
        "monthly_reports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("org_id", sa.String(40), sa.ForeignKey("organisations.id")),
        sa.Column("generated", sa.BigInteger(), nullable=False),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("stix_id", sa.String(64)),
    )
    op.create_index("ix_monthly_reports_month", "monthly_reports", ["month"])


def downgrade() -> None:
    op.drop_index("ix_monthly_reports_month", table_name="monthly_reports")
    op.drop_table("monthly_reports")
    op.drop_table("advisory_recipients")
    op.drop_table("advisories")
