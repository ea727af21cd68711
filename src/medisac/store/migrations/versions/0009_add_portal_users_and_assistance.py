"""Add portal users, sessions and assistance requests.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "portal_users",
        sa.Column("id", _BigId, primary_key=True),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("org_id", sa.String(40), sa.ForeignKey("organisations.id")),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("last_login", sa.BigInteger()),
    )
    op.create_table(
        "portal_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column(
            "user_id",
            sa.BigInteger(),
            sa.ForeignKey("portal_users.id"),
            nullable=False,
        ),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("last_seen", sa.BigInteger(), nullable=False),
        sa.Column("expires", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_portal_sessions_user_id", "portal_sessions", ["user_id"])
    op.create_table(
        "portal_settings",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "portal_hunts",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "org_id", sa.String(40), sa.ForeignKey("organisations.id"), nullable=False
        ),
        sa.Column(
            "user_id",
            sa.BigInteger(),
            sa.ForeignKey("portal_users.id"),
            nullable=False,
        ),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("finished", sa.BigInteger()),
        sa.Column("result", sa.Text()),
        sa.Column("error", sa.Text()),
    )
    op.create_index("ix_portal_hunts_org_id", "portal_hunts", ["org_id"])
    op.create_table(
        "assistance_requests",
        sa.Column("id", _BigId, primary_key=True),
        sa.Column(
            "org_id", sa.String(40), sa.ForeignKey("organisations.id"), nullable=False
        ),
        sa.Column(
            "user_id",
            sa.BigInteger(),
            sa.ForeignKey("portal_users.id"),
            nullable=False,
        ),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("modified", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_assistance_requests_org_id", "assistance_requests", ["org_id"])
    op.create_table(
        "assistance_messages",
        sa.Column("id", _BigId, primary_key=True),
        sa.Column(
            "request_id",
            sa.BigInteger(),
            sa.ForeignKey("assistance_requests.id"),
            nullable=False,
        ),
        sa.Column(
            "user_id",
            sa.BigInteger(),
            sa.ForeignKey("portal_users.id"),
            nullable=False,
        ),
        sa.Column("from_analyst", sa.Boolean(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
    )
    op.create_index(
        "ix_assistance_messages_request_id", "assistance_messages", ["request_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_assistance_messages_request_id", "assistance_messages")
    op.drop_table("assistance_messages")
    op.drop_index("ix_assistance_requests_org_id", "assistance_requests")
    op.drop_table("assistance_requests")
    op.drop_index("ix_portal_hunts_org_id", "portal_hunts")
    op.drop_table("portal_hunts")
    op.drop_table("portal_settings")
    op.drop_index("ix_portal_sessions_user_id", "portal_sessions")
    op.drop_table("portal_sessions")
    op.drop_table("portal_users")
