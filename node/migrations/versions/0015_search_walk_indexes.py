"""Indexes in each sort's order (price up, price down, newest), so a search for a common word
walks its page off an index instead of ordering every match (node.market.search_plan).

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_products_walk_price": ["price_minor", "merchant_id", "sku"],
    "ix_products_walk_price_desc": [sa.column("price_minor").desc(), "merchant_id", "sku"],
    "ix_products_walk_newest": [sa.column("created_at_unix_ms").desc(), "merchant_id", "sku"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "products", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="products")
