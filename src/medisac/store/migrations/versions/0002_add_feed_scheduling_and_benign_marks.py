"""Add feed scheduling, known-benign marks, the allow list and healthcare override.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("indicators", sa.Column("analyst_healthcare", sa.Boolean()))
    op.add_column("indicators", sa.Column("benign", sa.String(length=200)))
    op.add_column(
        "sources",
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
    )
    op.add_column("sources", sa.Column("every_seconds", sa.Integer()))
    op.add_column("sources", sa.Column("credentials", sa.Text()))
    op.add_column(
        "sources",
        sa.Column("options", sa.Text(), server_default="{}", nullable=False),
    )
    op.add_column(
        "sources",
        sa.Column("fetch_state", sa.Text(), server_default="{}", nullable=False),
    )
    op.add_column("sources", sa.Column("last_success", sa.BigInteger()))
    op.create_table(
        "allow_list",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allow_list")),
        sa.UniqueConstraint("type", "value", name=op.f("uq_allow_list_type_value")),
    )


def downgrade() -> None:
    op.drop_table("allow_list")
    with op.batch_alter_table("sources") as batch:
        for name in (
            "last_success",
            "fetch_state",
            "options",
            "credentials",
            "every_seconds",
            "enabled",
        ):
            batch.drop_column(name)
    with op.batch_alter_table("indicators") as batch:
        batch.drop_column("benign")
        batch.drop_column("analyst_healthcare")
