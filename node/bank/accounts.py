"""Customer accounts: open, deposit at the teller, read balances."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa

from fedmall.database import read_connection
from fedmall import limits
from fedmall.money import format_money
from fedmall.v1 import result_pb2

from node import fields
from node import limits as node_limits
from node.bank import ledger, store
from node.errors import Refused

OK = result_pb2.RESULT_CODE_OK
EXISTS = result_pb2.RESULT_CODE_EXISTS


@dataclass(frozen=True, slots=True)
class AccountView:
    account_id: str
    holder_name: str
    currency: str
    balance_minor: int
    closed: bool


def _view(row) -> AccountView:
    return AccountView(account_id=row.account_id, holder_name=row.holder_name, currency=row.currency,
                       balance_minor=row.balance_minor, closed=row.closed)


def load_customer_account(connection: sa.Connection, account_id: str) -> AccountView:
    row = connection.execute(sa.select(store.accounts).where(
        store.accounts.c.account_id == account_id, store.accounts.c.internal.is_(False))).first()
    if row is None:
        raise Refused(result_pb2.RESULT_CODE_ACCOUNT_UNKNOWN, f"no account {account_id!r}")
    return _view(row)


class AccountService:
    def __init__(self, engine: sa.Engine, *, clock: Callable[[], float]) -> None:
        self._engine = engine
        self._clock = clock

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def open_account(self, *, account_id: str, holder_name: str, currency: str) -> int:
        """OK when opened, EXISTS when the same account was opened before."""
        fields.check_account_id(account_id)
        fields.check_text(holder_name, "holder name", length_max=limits.holder_name_length_max)
        fields.check_currency(currency)
        with self._engine.begin() as connection:
            row = connection.execute(
                sa.select(store.accounts).where(store.accounts.c.account_id == account_id)).first()
            if row is not None:
                if row.holder_name == holder_name and row.currency == currency and not row.internal:
                    return EXISTS
                raise Refused(result_pb2.RESULT_CODE_MODIFIED_REQUEST,
                              f"account {account_id!r} exists with other details")
            connection.execute(store.accounts.insert().values(
                account_id=account_id, holder_name=holder_name, currency=currency, internal=False,
                closed=False, balance_minor=0, created_at_unix_ms=self._now_ms()))
        return OK

    def deposit(self, *, deposit_id: str, account_id: str, amount_minor: int, currency: str) -> tuple[int, AccountView]:
        """Teller deposit: cash -x, customer +x. Same id and content again: EXISTS."""
        fields.check_uuid(deposit_id, "deposit id")
        fields.check_account_id(account_id)
        fields.check_amount(amount_minor)
        fields.check_currency(currency)
        with self._engine.begin() as connection:
            previous = connection.execute(
                sa.select(store.deposits).where(store.deposits.c.deposit_id == deposit_id)).first()
            if previous is not None:
                if (previous.account_id, previous.amount_minor, previous.currency) != (account_id, amount_minor, currency):
                    raise Refused(result_pb2.RESULT_CODE_MODIFIED_REQUEST,
                                  f"deposit {deposit_id!r} was made with other details")
                return EXISTS, load_customer_account(connection, account_id)
            # Locked: the balance checked below is the one the deposit adds to.
            connection.execute(store.locking_accounts_in_order(connection, sa.select(store.accounts.c.account_id).where(
                store.accounts.c.account_id == account_id, store.accounts.c.internal.is_(False))))
            account = load_customer_account(connection, account_id)
            if account.closed:
                raise Refused(result_pb2.RESULT_CODE_ACCOUNT_CLOSED, f"account {account_id!r} is closed")
            if account.currency != currency:
                raise Refused(result_pb2.RESULT_CODE_CURRENCY_NOT_SUPPORTED,
                              f"account {account_id!r} holds {account.currency}")
            if account.balance_minor + amount_minor > node_limits.account_balance_minor_max:
                raise Refused(result_pb2.RESULT_CODE_INVALID_AMOUNT, (
                    f"account {account_id!r} would hold more than "
                    f"{format_money(node_limits.account_balance_minor_max, currency)}"))
            now_ms = self._now_ms()
            connection.execute(store.deposits.insert().values(
                deposit_id=deposit_id, account_id=account_id, amount_minor=amount_minor, currency=currency,
                created_at_unix_ms=now_ms))
            store.write_entries(connection, [ledger.move(
                f"deposit:{deposit_id}", "deposit", source=ledger.internal_account_id(ledger.CASH, currency),
                destination=account_id, amount_minor=amount_minor, currency=currency)], now_ms=now_ms)
            return OK, load_customer_account(connection, account_id)

    def get_account(self, account_id: str) -> AccountView:
        fields.check_account_id(account_id)
        with read_connection(self._engine) as connection:
            return load_customer_account(connection, account_id)

    def internal_balances(self) -> dict[str, int]:
        """Non-zero balances of the internal accounts, by account id."""
        with read_connection(self._engine) as connection:
            return {row.account_id: row.balance_minor for row in connection.execute(
                sa.select(store.accounts.c.account_id, store.accounts.c.balance_minor)
                .where(store.accounts.c.internal, store.accounts.c.balance_minor != 0))}
