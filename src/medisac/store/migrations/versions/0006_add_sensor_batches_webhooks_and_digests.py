"""Add sensor batches, live subscriptions, webhooks and digests.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sensor_batches",
        sa.Column("sender", sa.String(60), nullable=False),
        sa.Column("batch_id", sa.String(128), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("applied", sa.BigInteger(), nullable=False),
        sa.Column("sightings", sa.Integer(), nullable=False),
        sa.Column("new_indicators", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("sender", "batch_id", name=op.f("pk_sensor_batches")),
    )
    op.create_table(
        "live_subscriptions",
        sa.Column("org_id", sa.String(40), nullable=False),
        sa.Column("types", sa.Text(), nullable=False),
        sa.Column("min_confidence", sa.SmallInteger(), nullable=False),
        sa.Column("healthcare_only", sa.Boolean(), nullable=False),
        sa.Column("modified", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_live_subscriptions_org_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_live_subscriptions")),
    )
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.String(40), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_attempt", sa.BigInteger(), nullable=False),
        sa.Column("leased_until", sa.BigInteger(), nullable=False),
        sa.Column("last_delivered", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_webhooks_org_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
    )
    op.create_index(op.f("ix_webhooks_org_id"), "webhooks", ["org_id"])
    op.create_table(
        "digest_subscriptions",
        sa.Column("org_id", sa.String(40), nullable=False),
        sa.Column("recipients", sa.Text(), nullable=False),
        sa.Column("frequency", sa.String(10), nullable=False),
        sa.Column("last_sent", sa.BigInteger(), nullable=False),
        sa.Column("leased_until", sa.BigInteger(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_digest_subscriptions_org_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_digest_subscriptions")),
    )


def downgrade() -> None:
    op.drop_table("digest_subscriptions")
    op.drop_index(op.f("ix_webhooks_org_id"), table_name="webhooks")
    op.drop_table("webhooks")
    op.drop_table("live_subscriptions")
    op.drop_table("sensor_batches")
