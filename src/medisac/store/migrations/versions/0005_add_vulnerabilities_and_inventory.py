"""Add vulnerabilities, their documents and products, inventories and notifications.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "vulnerabilities",
        sa.Column("cve", sa.String(20), primary_key=True),
        sa.Column("title", sa.Text()),
        sa.Column("description", sa.Text()),
        sa.Column("cvss_v3", sa.SmallInteger()),
        sa.Column("cvss_v3_vector", sa.String(200)),
        sa.Column("cvss_v4", sa.SmallInteger()),
        sa.Column("cvss_v4_vector", sa.String(200)),
        sa.Column("cwes", sa.Text(), nullable=False),
        sa.Column("reference_urls", sa.Text(), nullable=False),
        sa.Column("published", sa.BigInteger()),
        sa.Column("kev", sa.Boolean(), nullable=False),
        sa.Column("kev_date_added", sa.BigInteger()),
        sa.Column("kev_due_date", sa.BigInteger()),
        sa.Column("kev_ransomware", sa.Boolean(), nullable=False),
        sa.Column("kev_required_action", sa.Text()),
        sa.Column("healthcare", sa.Boolean(), nullable=False),
        sa.Column("healthcare_reason", sa.Text()),
        sa.Column("healthcare_set", sa.Boolean()),
        sa.Column("first_seen", sa.BigInteger(), nullable=False),
        sa.Column("modified", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
    )
    op.create_table(
        "vuln_documents",
        sa.Column(
            "cve",
            sa.String(20),
            sa.ForeignKey("vulnerabilities.cve"),
            primary_key=True,
        ),
        sa.Column("document", sa.String(200), primary_key=True),
        sa.Column("format", sa.String(10), nullable=False),
        sa.Column("title", sa.Text()),
        sa.Column("publisher", sa.String(200)),
        sa.Column("ingested", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "vuln_products",
        sa.Column("id", _BigId, primary_key=True),
        sa.Column(
            "cve", sa.String(20), sa.ForeignKey("vulnerabilities.cve"), nullable=False
        ),
        sa.Column("document", sa.String(200), nullable=False),
        sa.Column("vendor", sa.String(200), nullable=False),
        sa.Column("product", sa.String(300), nullable=False),
        sa.Column("vendor_key", sa.String(200), nullable=False),
        sa.Column("product_key", sa.String(300), nullable=False),
        sa.Column("versions", sa.Text(), nullable=False),
        sa.Column("version_range", sa.Text()),
        sa.Column("range_error", sa.Text()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cpe", sa.Text()),
        sa.Column("purl", sa.Text()),
        sa.Column("device", sa.Boolean(), nullable=False),
        sa.Column("remediation", sa.Text()),
    )
    op.create_index("ix_vuln_products_cve", "vuln_products", ["cve"])
    op.create_index("ix_vuln_products_vendor_key", "vuln_products", ["vendor_key"])
    op.create_table(
        "inventory",
        sa.Column("id", _BigId, primary_key=True),
        sa.Column(
            "org_id", sa.String(40), sa.ForeignKey("organisations.id"), nullable=False
        ),
        sa.Column("vendor", sa.String(200), nullable=False),
        sa.Column("product", sa.String(300), nullable=False),
        sa.Column("version", sa.String(200), nullable=False),
        sa.Column("vendor_key", sa.String(200), nullable=False),
        sa.Column("product_key", sa.String(300), nullable=False),
        sa.Column("cpe", sa.Text()),
        sa.Column("purl", sa.Text()),
        sa.Column("device", sa.Boolean(), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("added", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint(
            "org_id",
            "vendor_key",
            "product_key",
            "version",
            name=op.f("uq_inventory_org_id_vendor_key_product_key_version"),
        ),
    )
    op.create_table(
        "vuln_notifications",
        sa.Column("id", _BigId, primary_key=True),
        sa.Column(
            "org_id", sa.String(40), sa.ForeignKey("organisations.id"), nullable=False
        ),
        sa.Column(
            "cve", sa.String(20), sa.ForeignKey("vulnerabilities.cve"), nullable=False
        ),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("delivered", sa.BigInteger()),
    )
    op.create_index("ix_vuln_notifications_org_id", "vuln_notifications", ["org_id"])


def downgrade() -> None:
    op.drop_index("ix_vuln_notifications_org_id", table_name="vuln_notifications")
    op.drop_table("vuln_notifications")
    op.drop_table("inventory")
    op.drop_index("ix_vuln_products_vendor_key", table_name="vuln_products")
    op.drop_index("ix_vuln_products_cve", table_name="vuln_products")
    op.drop_table("vuln_products")
    op.drop_table("vuln_documents")
    op.drop_table("vulnerabilities")
