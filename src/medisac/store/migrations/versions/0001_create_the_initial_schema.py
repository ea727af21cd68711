"""Create the initial schema.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.String(length=200), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_table(
        "indicators",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("stix_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("confidence", sa.SmallInteger(), nullable=False),
        sa.Column("tlp", sa.SmallInteger(), nullable=False),
        sa.Column("first_seen", sa.BigInteger(), nullable=False),
        sa.Column("last_seen", sa.BigInteger(), nullable=False),
        sa.Column("valid_until", sa.BigInteger(), nullable=True),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("sources", sa.Text(), nullable=False),
        sa.Column("healthcare", sa.Boolean(), nullable=False),
        sa.Column("to_ids", sa.Boolean(), nullable=False),
        sa.Column("analyst_tlp", sa.SmallInteger(), nullable=True),
        sa.Column("analyst_confidence", sa.SmallInteger(), nullable=True),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("modified", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicators")),
        sa.UniqueConstraint("type", "value", name=op.f("uq_indicators_type_value")),
    )
    op.create_table(
        "sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("location", sa.Text(), nullable=True),
        sa.Column("format", sa.String(length=20), nullable=True),
        sa.Column("reliability", sa.String(length=1), nullable=False),
        sa.Column("default_tlp", sa.SmallInteger(), nullable=False),
        sa.Column("default_confidence", sa.SmallInteger(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sources")),
        sa.UniqueConstraint("name", name=op.f("uq_sources_name")),
    )
    op.create_table(
        "stix_objects",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("stix_id", sa.String(length=120), nullable=False),
        sa.Column("stix_type", sa.String(length=64), nullable=False),
        sa.Column("modified", sa.BigInteger(), nullable=False),
        sa.Column("date_added", sa.BigInteger(), nullable=False),
        sa.Column("indicator_id", sa.BigInteger(), nullable=True),
        sa.Column("is_latest", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("healthcare", sa.Boolean(), nullable=False),
        sa.Column("tlp", sa.SmallInteger(), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_stix_objects")),
        sa.UniqueConstraint(
            "stix_id", "modified", name=op.f("uq_stix_objects_stix_id_modified")
        ),
    )
    op.create_index(
        "ix_stix_objects_date_added", "stix_objects", ["date_added"], unique=False
    )
    op.create_table(
        "ingest_runs",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("started", sa.BigInteger(), nullable=False),
        sa.Column("finished", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("inputs", sa.Text(), nullable=False),
        sa.Column("new", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name=op.f("fk_ingest_runs_source_id_sources")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_runs")),
    )
    op.create_table(
        "provenance",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("indicator_id", sa.BigInteger(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.BigInteger(), nullable=False),
        sa.Column("last_seen", sa.BigInteger(), nullable=False),
        sa.Column("first_reported", sa.BigInteger(), nullable=False),
        sa.Column("confidence", sa.SmallInteger(), nullable=False),
        sa.Column("tlp", sa.SmallInteger(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("valid_until", sa.BigInteger(), nullable=True),
        sa.Column("observations", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("to_ids", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["indicators.id"],
            name=op.f("fk_provenance_indicator_id_indicators"),
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name=op.f("fk_provenance_source_id_sources")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provenance")),
        sa.UniqueConstraint(
            "indicator_id",
            "source_id",
            name=op.f("uq_provenance_indicator_id_source_id"),
        ),
    )
    op.create_index(
        "ix_provenance_source_id", "provenance", ["source_id"], unique=False
    )
    op.create_table(
        "source_objects",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=200), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_source_objects_source_id_sources"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_objects")),
        sa.UniqueConstraint(
            "source_id", "ref", name=op.f("uq_source_objects_source_id_ref")
        ),
    )
    op.create_table(
        "claims",
        sa.Column("source_object_id", sa.BigInteger(), nullable=False),
        sa.Column("indicator_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["indicators.id"],
            name=op.f("fk_claims_indicator_id_indicators"),
        ),
        sa.ForeignKeyConstraint(
            ["source_object_id"],
            ["source_objects.id"],
            name=op.f("fk_claims_source_object_id_source_objects"),
        ),
        sa.PrimaryKeyConstraint(
            "source_object_id", "indicator_id", name=op.f("pk_claims")
        ),
    )
    op.create_index("ix_claims_indicator_id", "claims", ["indicator_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_claims_indicator_id", table_name="claims")
    op.drop_table("claims")
    op.drop_table("source_objects")
    op.drop_index("ix_provenance_source_id", table_name="provenance")
    op.drop_table("provenance")
    op.drop_table("ingest_runs")
    op.drop_index("ix_stix_objects_date_added", table_name="stix_objects")
    op.drop_table("stix_objects")
    op.drop_table("sources")
    op.drop_table("indicators")
    op.drop_table("api_keys")
