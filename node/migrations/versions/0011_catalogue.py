"""The catalogue: categories, variants, attributes, images and a status on products, and
full-text search in the store (SQLite FTS5 kept in step by triggers; a PostgreSQL GIN index
on the words' tsvector).

Existing products become LISTED products in "other", without variants, created when they
were last updated.

Revision ID: 0011
Revises: 0010
"""
import re

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_WORD = re.compile(r"[^\W_]+")  # node.market.search_text's rule, frozen here.

COLUMNS = [
    sa.Column("product_id", sa.String(length=64), server_default="", nullable=False),
    sa.Column("size", sa.String(length=32), server_default="", nullable=False),
    sa.Column("colour", sa.String(length=32), server_default="", nullable=False),
    sa.Column("category_id", sa.String(length=64), server_default="other", nullable=False),
    sa.Column("status", sa.String(length=16), server_default="LISTED", nullable=False),
    sa.Column("attributes", sa.Text(), server_default="{}", nullable=False),
    sa.Column("image_refs", sa.Text(), server_default="[]", nullable=False),
    sa.Column("created_at_unix_ms", sa.BigInteger(), server_default="0", nullable=False),
    sa.Column("product_number", sa.BigInteger(), nullable=True),
    sa.Column("search_title", sa.Text(), server_default="", nullable=False),
    sa.Column("search_body", sa.Text(), server_default="", nullable=False),
    sa.Column("search_sku", sa.Text(), server_default="", nullable=False),
]

# SQLite: an external-content FTS5 index over the search columns, its rowid the product's
# number; the triggers keep it in step in the same transaction as every write (stock moves
# do not touch it).
SQLITE_SEARCH = [
    """CREATE VIRTUAL TABLE products_fts USING fts5(
         search_title, search_body, search_sku, content='products', content_rowid='product_number',
         tokenize='unicode61 remove_diacritics 0')""",
    """CREATE TRIGGER products_fts_insert AFTER INSERT ON products WHEN new.product_number IS NOT NULL BEGIN
         INSERT INTO products_fts(rowid, search_title, search_body, search_sku)
         VALUES (new.product_number, new.search_title, new.search_body, new.search_sku);
       END""",
    """CREATE TRIGGER products_fts_delete AFTER DELETE ON products WHEN old.product_number IS NOT NULL BEGIN
         INSERT INTO products_fts(products_fts, rowid, search_title, search_body, search_sku)
         VALUES ('delete', old.product_number, old.search_title, old.search_body, old.search_sku);
       END""",
    """CREATE TRIGGER products_fts_update
         AFTER UPDATE OF product_number, search_title, search_body, search_sku ON products BEGIN
         INSERT INTO products_fts(products_fts, rowid, search_title, search_body, search_sku)
           SELECT 'delete', old.product_number, old.search_title, old.search_body, old.search_sku
           WHERE old.product_number IS NOT NULL;
         INSERT INTO products_fts(rowid, search_title, search_body, search_sku)
           SELECT new.product_number, new.search_title, new.search_body, new.search_sku
           WHERE new.product_number IS NOT NULL;
       END""",
    "INSERT INTO products_fts(products_fts) VALUES ('rebuild')",
]

# PostgreSQL: the same words in a GIN-indexed tsvector ('simple': no stemming, no stop words,
# so it matches what node.market.ranking counts); product numbers from a sequence.
POSTGRES_SEARCH = [
    "CREATE INDEX ix_products_search ON products USING gin "
    "(to_tsvector('simple', search_title || ' ' || search_body || ' ' || search_sku))",
    "CREATE SEQUENCE products_number_seq",
    "SELECT setval('products_number_seq', (SELECT coalesce(max(product_number), 0) + 1 FROM products), false)",
]


def _normalised(text: str) -> str:
    """The words, space-separated, with a space before and after (node.market.search_text.stored)."""
    return " " + " ".join(_WORD.findall(text.lower())) + " "


def upgrade() -> None:
    for column in COLUMNS:
        op.add_column("products", column)
    connection = op.get_bind()
    products = sa.table("products", *(sa.column(name) for name in (
        "merchant_id", "sku", "title", "description", "updated_at_unix_ms", "product_id", "created_at_unix_ms",
        "product_number", "search_title", "search_body", "search_sku")))
    rows = connection.execute(sa.select(products.c.merchant_id, products.c.sku, products.c.title,
                                        products.c.description, products.c.updated_at_unix_ms)
                              .order_by(products.c.merchant_id, products.c.sku)).all()
    for number, row in enumerate(rows, start=1):
        connection.execute(products.update().where(
            products.c.merchant_id == row.merchant_id, products.c.sku == row.sku).values(
            product_id=row.sku, created_at_unix_ms=row.updated_at_unix_ms, product_number=number,
            search_title=_normalised(row.title), search_body=_normalised(row.description),
            search_sku=_normalised(row.sku)))
    op.create_index("ix_products_product_number", "products", ["product_number"], unique=True)
    for statement in SQLITE_SEARCH if connection.dialect.name == "sqlite" else POSTGRES_SEARCH:
        connection.exec_driver_sql(statement)


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        for trigger in ("products_fts_insert", "products_fts_delete", "products_fts_update"):
            connection.exec_driver_sql(f"DROP TRIGGER {trigger}")
        connection.exec_driver_sql("DROP TABLE products_fts")
    else:
        connection.exec_driver_sql("DROP INDEX ix_products_search")
        connection.exec_driver_sql("DROP SEQUENCE products_number_seq")
    op.drop_index("ix_products_product_number", table_name="products")
    with op.batch_alter_table("products") as batch:
        for column in reversed(COLUMNS):
            batch.drop_column(column.name)
