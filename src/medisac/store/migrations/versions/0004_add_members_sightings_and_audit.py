"""Add member organisations, key ownership, sightings, usage, audit and submissions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("tier", sa.String(40), nullable=False),
        sa.Column("clearance", sa.SmallInteger(), nullable=False),
        sa.Column("trusted", sa.Boolean(), nullable=False),
        sa.Column("contacts", sa.Text(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("modified", sa.BigInteger(), nullable=False),
    )
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("org_id", sa.String(40)))
        batch.add_column(sa.Column("expires", sa.BigInteger()))
        batch.add_column(sa.Column("last_used", sa.BigInteger()))
        batch.create_foreign_key(
            "fk_api_keys_org_id_organisations", "organisations", ["org_id"], ["id"]
        )
    op.create_table(
        "red_recipients",
        sa.Column(
            "indicator_id",
            sa.BigInteger(),
            sa.ForeignKey("indicators.id"),
            primary_key=True,
        ),
        sa.Column(
            "org_id", sa.String(40), sa.ForeignKey("organisations.id"), primary_key=True
        ),
    )
    op.create_table(
        "sightings",
        sa.Column("id", _BigId, primary_key=True),
        sa.Column(
            "indicator_id",
            sa.BigInteger(),
            sa.ForeignKey("indicators.id"),
            nullable=False,
        ),
        sa.Column("org_id", sa.String(40), sa.ForeignKey("organisations.id")),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.BigInteger(), nullable=False),
        sa.Column("last_seen", sa.BigInteger(), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_sightings_indicator_id", "sightings", ["indicator_id"])
    op.create_table(
        "key_usage",
        sa.Column(
            "key_id", sa.Integer(), sa.ForeignKey("api_keys.id"), primary_key=True
        ),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("route_group", sa.String(16), primary_key=True),
        sa.Column("requests", sa.Integer(), nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", _BigId, primary_key=True),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("org_id", sa.String(40)),
        sa.Column("key_id", sa.Integer()),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_table(
        "submissions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "org_id", sa.String(40), sa.ForeignKey("organisations.id"), nullable=False
        ),
        sa.Column("key_id", sa.Integer()),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("original", sa.Text(), nullable=False),
        sa.Column("scrubbed", sa.Text(), nullable=False),
        sa.Column("redactions", sa.Integer(), nullable=False),
        sa.Column("published", sa.Integer()),
        sa.Column("rejected", sa.Integer()),
        sa.Column("reviewed_by", sa.Integer()),
        sa.Column("reviewed_at", sa.BigInteger()),
        sa.Column("note", sa.Text()),
    )


def downgrade() -> None:
    op.drop_table("submissions")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("key_usage")
    op.drop_index("ix_sightings_indicator_id", table_name="sightings")
    op.drop_table("sightings")
    op.drop_table("red_recipients")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_constraint("fk_api_keys_org_id_organisations", type_="foreignkey")
        batch.drop_column("last_used")
        batch.drop_column("expires")
        batch.drop_column("org_id")
    op.drop_table("organisations")
