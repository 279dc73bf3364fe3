"""A merchant's product rows: what each must be, and the one write path for them.

A product is sold by SKU. A product with variants (a size, a colour) is several rows sharing
a product_id, each with its own SKU, price and stock, so an order line that names a SKU names
a variant and reserves that variant's stock (node.market.seller_orders, unchanged). A product
without variants is one row whose product_id is its SKU.

Only LISTED rows are found by search or sold; DRAFT and DELISTED rows are the merchant's alone.

Every write (one product, or a bulk import) goes through write_rows: it numbers new rows for
the full-text index and stores the normalised search words (node.market.search_text) with
them, in the caller's transaction; SQLite's triggers (migration 0011) put them in products_fts
in that same transaction, PostgreSQL's GIN index follows the row.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

import sqlalchemy as sa

from fedmall import categories
from fedmall.v1 import result_pb2

from node import fields, limits
from node.errors import InvalidRequest, Refused
from node.market import search_index, search_text, store as tables

STATUSES = (tables.DRAFT, tables.LISTED, tables.DELISTED)
DEFAULT_CATEGORY = "other"
_IMAGE_REF = re.compile(r"(https://[!-~]+|sha256:[0-9a-f]{64})")


@dataclass(frozen=True, slots=True)
class ProductRow:
    """What a merchant says about one SKU. None for category and status: unchanged on an
    existing row, "other" and LISTED on a new one."""
    sku: str
    title: str
    description: str
    price_minor: int
    currency: str
    stock: int
    product_id: str = ""
    size: str = ""
    colour: str = ""
    category_id: str | None = None
    status: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()
    image_refs: tuple[str, ...] = ()


def check_category(category_id: str) -> str:
    if categories.TREE.get(category_id) is None:
        raise Refused(result_pb2.RESULT_CODE_CATEGORY_UNKNOWN,
                      f"no category {category_id!r} in the category tree (version {categories.VERSION})")
    return category_id


def check_status(status: str) -> str:
    if status not in STATUSES:
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, f"status must be one of {', '.join(STATUSES)}")
    return status


def check_row(row: ProductRow) -> ProductRow:
    """The row as it will be stored; InvalidRequest or Refused (a result code) on the first
    problem. Pure."""
    fields.check_id(row.sku, "sku")
    if row.product_id:
        fields.check_id(row.product_id, "product id")
    fields.check_text(row.title, "title", length_max=limits.product_title_length_max)
    if not row.title.strip():
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, "title is required")
    fields.check_text(row.description, "description", length_max=limits.product_description_length_max)
    fields.check_amount(row.price_minor)
    fields.check_currency(row.currency)
    if not 0 <= row.stock <= limits.product_stock_max:
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, f"stock must be 0..{limits.product_stock_max}")
    for value, what in ((row.size, "size"), (row.colour, "colour")):
        fields.check_text(value, what, length_max=limits.product_variant_value_length_max)
    if row.category_id is not None:
        check_category(row.category_id)
    if row.status is not None:
        check_status(row.status)
    _check_attributes(row.attributes)
    _check_images(row.image_refs)
    return row


def _check_attributes(attributes: tuple[tuple[str, str], ...]) -> None:
    if len(attributes) > limits.product_attributes_max:
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD,
                             f"at most {limits.product_attributes_max} attributes")
    for key, value in attributes:
        fields.check_text(key, "attribute name", length_max=limits.product_attribute_key_length_max)
        fields.check_text(value, f"attribute {key!r}", length_max=limits.product_attribute_value_length_max)
        if not key.strip():
            raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, "an attribute needs a name")


def _check_images(image_refs: tuple[str, ...]) -> None:
    if len(image_refs) > limits.product_images_max:
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, f"at most {limits.product_images_max} images")
    for ref in image_refs:
        if len(ref) > limits.product_image_ref_length_max or not _IMAGE_REF.fullmatch(ref):
            raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD,
                                 f"an image is an https URL or sha256:<64 hex digits> of at most "
                                 f"{limits.product_image_ref_length_max} characters, not {ref[:80]!r}")


def _stored(row: ProductRow) -> dict:
    """The columns a row sets, category and status only when it names them."""
    values = dict(title=row.title, description=row.description, price_minor=row.price_minor,
                  currency=row.currency, stock_on_hand=row.stock, product_id=row.product_id or row.sku,
                  size=row.size, colour=row.colour,
                  attributes=json.dumps(dict(row.attributes), sort_keys=True, ensure_ascii=False)
                  if row.attributes else "{}",
                  image_refs=json.dumps(list(row.image_refs), ensure_ascii=False) if row.image_refs else "[]",
                  **search_text.search_columns(title=row.title, description=row.description, sku=row.sku))
    if row.category_id is not None:
        values["category_id"] = row.category_id
    if row.status is not None:
        values["status"] = row.status
    return values


def _next_numbers(connection: sa.Connection, count: int) -> list[int]:
    """count new product numbers. SQLite: after the largest (writers hold the database lock,
    BEGIN IMMEDIATE); PostgreSQL: from products_number_seq (migration 0011)."""
    if connection.dialect.name == "sqlite":
        largest = connection.scalar(sa.select(sa.func.max(tables.products.c.product_number))) or 0
        return list(range(largest + 1, largest + 1 + count))
    return list(connection.scalars(sa.text("SELECT nextval('products_number_seq') FROM generate_series(1, :n)"),
                                   {"n": count}))


_INSERTED = ("merchant_id", "sku", "title", "description", "price_minor", "currency", "stock_on_hand", "stock_reserved",
             "updated_at_unix_ms", "product_id", "size", "colour", "category_id", "status", "attributes", "image_refs",
             "created_at_unix_ms", "product_number", "search_title", "search_body", "search_sku")


def _insert_many(connection: sa.Connection, records: list[dict]) -> None:
    """One driver-level executemany (a bulk import's rows are many: SQLAlchemy's per-row parameter
    processing would cost more than the store's insert). Every column of products is named."""
    assert set(_INSERTED) == {column.name for column in tables.products.columns}, "a products column is missing"
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    connection.exec_driver_sql(
        f"INSERT INTO products ({', '.join(_INSERTED)}) VALUES ({', '.join([mark] * len(_INSERTED))})",
        [tuple(record[name] for name in _INSERTED) for record in records])


def existing_rows(connection: sa.Connection, merchant_id: str, skus: list[str], *,
                  for_update: bool) -> dict[str, sa.Row]:
    """The merchant's rows among skus, by SKU (looked up ids_per_query_max at a time)."""
    table, found = tables.products, {}
    for start in range(0, len(skus), limits.ids_per_query_max):
        query = sa.select(table).where(table.c.merchant_id == merchant_id,
                                       table.c.sku.in_(skus[start:start + limits.ids_per_query_max]))
        found.update((row.sku, row) for row in connection.execute(
            query.with_for_update() if for_update else query))
    return found


def unchanged(existing: sa.Row, row: ProductRow) -> bool:
    return all(getattr(existing, key) == value for key, value in _stored(row).items())


def write_rows(connection: sa.Connection, merchant_id: str, rows: list[ProductRow], *, existing: dict[str, sa.Row],
               now_ms: int, index_new_rows: bool = False) -> int:
    """Insert the new rows and update the changed ones (rows checked by check_row, SKUs unique,
    existing from existing_rows in this transaction). Refused (INSUFFICIENT_STOCK) when a row
    sets stock below what orders reserve. Returns how many rows changed. index_new_rows: the
    caller suspended SQLite's insert trigger (node.market.search_index), the new rows are
    indexed here in one statement."""
    table = tables.products
    new = [row for row in rows if row.sku not in existing]
    changed = [row for row in rows if row.sku in existing and not unchanged(existing[row.sku], row)]
    for row in changed:
        if row.stock < existing[row.sku].stock_reserved:
            raise Refused(result_pb2.RESULT_CODE_INSUFFICIENT_STOCK,
                          f"{existing[row.sku].stock_reserved} units of {row.sku!r} are reserved by orders")
    if new:
        numbers = _next_numbers(connection, len(new))
        _insert_many(connection, [
            {"category_id": DEFAULT_CATEGORY, "status": tables.LISTED, **_stored(row), "merchant_id": merchant_id,
             "sku": row.sku, "stock_reserved": 0, "created_at_unix_ms": now_ms, "updated_at_unix_ms": now_ms,
             "product_number": number} for row, number in zip(new, numbers)])
        if index_new_rows:
            search_index.index_new_rows(connection, numbers[0], numbers[-1])  # Consecutive on SQLite.
    for row in changed:
        connection.execute(table.update().where(table.c.merchant_id == merchant_id, table.c.sku == row.sku)
                           .values(updated_at_unix_ms=now_ms, **_stored(row)))
    return len(new) + len(changed)
