"""Merchants and their products, at the merchant's bank.

A merchant has a settlement account at this bank (an ordinary customer account) and is
ACTIVE or SUSPENDED. Products are keyed (merchant_id, sku); stock on hand is set by the
merchant, reserved stock by orders (node.market.seller_orders): available = on_hand - reserved,
never negative (a CHECK constraint holds it too).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa

from fedmall.database import read_connection
from fedmall.v1 import result_pb2

from node import fields, limits
from node.bank import store
from node.errors import InvalidRequest, Refused
from node.market import product_rows, store as tables
from node.market.product_rows import ProductRow

OK = result_pb2.RESULT_CODE_OK
EXISTS = result_pb2.RESULT_CODE_EXISTS
ACTIVE, SUSPENDED = tables.ACTIVE, tables.SUSPENDED


@dataclass(frozen=True, slots=True)
class MerchantView:
    merchant_id: str
    legal_name: str
    contact: str
    settlement_account_id: str
    status: str


@dataclass(frozen=True, slots=True)
class ProductView:
    bank_id: str
    merchant_id: str
    merchant_name: str
    sku: str
    title: str
    description: str
    price_minor: int
    currency: str
    stock_on_hand: int
    stock_reserved: int
    product_id: str = ""
    size: str = ""
    colour: str = ""
    category_id: str = product_rows.DEFAULT_CATEGORY
    status: str = tables.LISTED
    attributes: tuple[tuple[str, str], ...] = ()
    image_refs: tuple[str, ...] = ()
    created_at_unix_ms: int = 0
    # Verified reviews of orders that held it (node.market.reviews): how many, and their mean x 100.
    rating_count: int = 0
    rating_average_centi: int = 0

    @property
    def stock_available(self) -> int:
        return self.stock_on_hand - self.stock_reserved


def load_merchant(connection: sa.Connection, merchant_id: str) -> MerchantView:
    row = connection.execute(sa.select(tables.merchants).where(tables.merchants.c.merchant_id == merchant_id)).first()
    if row is None:
        raise Refused(result_pb2.RESULT_CODE_MERCHANT_UNKNOWN, f"no merchant {merchant_id!r}")
    return MerchantView(merchant_id=row.merchant_id, legal_name=row.legal_name, contact=row.contact,
                        settlement_account_id=row.settlement_account_id, status=row.status)


def product_query():
    """Products with their merchant's name and status, and their rating (node.market.reviews)."""
    products, ratings = tables.products, tables.product_ratings
    return (sa.select(products, tables.merchants.c.legal_name, tables.merchants.c.status.label("merchant_status"),
                      ratings.c.rating_sum, ratings.c.rating_count)
            .join(tables.merchants, tables.merchants.c.merchant_id == products.c.merchant_id)
            .outerjoin(ratings, sa.and_(ratings.c.merchant_id == products.c.merchant_id,
                                        ratings.c.sku == products.c.sku)))


def product_view(row, *, bank_id: str) -> ProductView:
    """One product as every answer shows it (search, a merchant's list): add a field here."""
    return ProductView(bank_id=bank_id, merchant_id=row.merchant_id, merchant_name=row.legal_name, sku=row.sku,
                       title=row.title, description=row.description, price_minor=row.price_minor,
                       currency=row.currency, stock_on_hand=row.stock_on_hand, stock_reserved=row.stock_reserved,
                       product_id=row.product_id, size=row.size, colour=row.colour, category_id=row.category_id,
                       status=row.status, attributes=tuple(sorted(json.loads(row.attributes).items())),
                       image_refs=tuple(json.loads(row.image_refs)), created_at_unix_ms=row.created_at_unix_ms,
                       rating_count=row.rating_count or 0,
                       rating_average_centi=row.rating_sum * 100 // row.rating_count if row.rating_count else 0)


def check_quantity(quantity: int) -> int:
    if not 0 < quantity <= limits.item_quantity_max:
        raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD,
                             f"quantity must be 1..{limits.item_quantity_max}")
    return quantity


class MerchantService:
    def __init__(self, engine: sa.Engine, *, bank_id: str, clock: Callable[[], float]) -> None:
        self._engine = engine
        self._bank_id = bank_id
        self._clock = clock

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def onboard(self, *, merchant_id: str, legal_name: str, contact: str, settlement_account_id: str) -> int:
        """OK when onboarded, EXISTS when the same merchant was onboarded before."""
        fields.check_id(merchant_id, "merchant id")
        fields.check_text(legal_name, "legal name", length_max=limits.merchant_name_length_max)
        fields.check_text(contact, "contact", length_max=limits.merchant_contact_length_max)
        fields.check_account_id(settlement_account_id)
        if not legal_name.strip():
            raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, "legal name is required")
        with self._engine.begin() as connection:
            row = connection.execute(
                sa.select(tables.merchants).where(tables.merchants.c.merchant_id == merchant_id)).first()
            if row is not None:
                if (row.legal_name, row.contact, row.settlement_account_id) == (
                        legal_name, contact, settlement_account_id):
                    return EXISTS
                raise Refused(result_pb2.RESULT_CODE_MODIFIED_REQUEST,
                              f"merchant {merchant_id!r} exists with other details")
            account = connection.execute(sa.select(store.accounts).where(
                store.accounts.c.account_id == settlement_account_id, store.accounts.c.internal.is_(False))).first()
            if account is None:
                raise Refused(result_pb2.RESULT_CODE_ACCOUNT_UNKNOWN, f"no account {settlement_account_id!r}")
            if account.closed:
                raise Refused(result_pb2.RESULT_CODE_ACCOUNT_CLOSED, f"account {settlement_account_id!r} is closed")
            connection.execute(tables.merchants.insert().values(
                merchant_id=merchant_id, legal_name=legal_name, contact=contact,
                settlement_account_id=settlement_account_id, status=ACTIVE, created_at_unix_ms=self._now_ms()))
        return OK

    def set_status(self, *, merchant_id: str, status: str) -> int:
        fields.check_id(merchant_id, "merchant id")
        if status not in (ACTIVE, SUSPENDED):
            raise InvalidRequest(result_pb2.RESULT_CODE_INVALID_FIELD, "status must be active or suspended")
        with self._engine.begin() as connection:
            merchant = load_merchant(connection, merchant_id)
            if merchant.status == status:
                return EXISTS
            connection.execute(tables.merchants.update().where(tables.merchants.c.merchant_id == merchant_id)
                               .values(status=status))
        return OK

    def upsert_product(self, *, merchant_id: str, sku: str, title: str, description: str, price_minor: int,
                       currency: str, stock: int, **catalogue) -> int:
        """Create or change a product; stock sets the stock on hand; catalogue holds ProductRow's
        other fields (variant, category, status, attributes, images). EXISTS when nothing changed."""
        fields.check_id(merchant_id, "merchant id")
        row = product_rows.check_row(ProductRow(sku=sku, title=title, description=description,
                                                price_minor=price_minor, currency=currency, stock=stock, **catalogue))
        with self._engine.begin() as connection:
            load_merchant(connection, merchant_id)
            existing = product_rows.existing_rows(connection, merchant_id, [sku], for_update=True)
            if sku in existing and product_rows.unchanged(existing[sku], row):
                return EXISTS
            product_rows.write_rows(connection, merchant_id, [row], existing=existing, now_ms=self._now_ms())
        return OK

    def set_product_status(self, *, merchant_id: str, sku: str, status: str) -> int:
        """DRAFT, LISTED or DELISTED; EXISTS when it already was."""
        fields.check_id(merchant_id, "merchant id")
        fields.check_id(sku, "sku")
        product_rows.check_status(status)
        table = tables.products
        with self._engine.begin() as connection:
            load_merchant(connection, merchant_id)
            current = connection.scalar(sa.select(table.c.status).where(
                table.c.merchant_id == merchant_id, table.c.sku == sku).with_for_update())
            if current is None:
                raise Refused(result_pb2.RESULT_CODE_PRODUCT_UNKNOWN, f"{merchant_id!r} has no product {sku!r}")
            if current == status:
                return EXISTS
            connection.execute(table.update().where(table.c.merchant_id == merchant_id, table.c.sku == sku)
                               .values(status=status, updated_at_unix_ms=self._now_ms()))
        return OK

    def list_products(self, merchant_id: str, *, after_sku: str = "") -> tuple[list[ProductView], str]:
        """One page of the merchant's products in SKU order, and the after_sku of the next ("" if none)."""
        fields.check_id(merchant_id, "merchant id")
        if after_sku:
            fields.check_id(after_sku, "after sku")
        with read_connection(self._engine) as connection:
            load_merchant(connection, merchant_id)
            rows = connection.execute(product_query().where(
                tables.products.c.merchant_id == merchant_id, tables.products.c.sku > after_sku)
                .order_by(tables.products.c.sku).limit(limits.products_listed_max + 1)).all()
        page = [product_view(row, bank_id=self._bank_id) for row in rows[:limits.products_listed_max]]
        return page, page[-1].sku if len(rows) > limits.products_listed_max else ""

    def get_merchant(self, merchant_id: str) -> MerchantView:
        fields.check_id(merchant_id, "merchant id")
        with read_connection(self._engine) as connection:
            return load_merchant(connection, merchant_id)
