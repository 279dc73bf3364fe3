"""A merchant's catalogue in bulk: every row checked, all written in one transaction or none.

Rows stream in (ImportProducts) in batches; each batch is checked (node.market.product_rows:
the same rules as one product at a time, plus a SKU named twice in one import, and stock below
what orders hold) and, while no row has been refused, written at once in the import's one
transaction, so memory stays bounded by a batch whatever the file's size. At the end the
transaction commits only if no row was refused; otherwise it is rolled back and the answer
names every bad row (up to limits.import_problems_max; all are counted): a refused file changes
nothing. A retried import is safe: a row is an upsert by SKU.

On SQLite the import holds the store's write lock while it streams (BEGIN IMMEDIATE): writers
wait for it, readers (search) do not.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import sqlalchemy as sa

from fedmall.results import FedmallError
from fedmall.v1 import result_pb2

from node import fields, limits
from node.market import product_rows, search_index, store as tables
from node.market.merchants import load_merchant
from node.market.product_rows import ProductRow


@dataclass(frozen=True, slots=True)
class RowProblem:
    row_number: int
    code: int
    detail: str


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    result: int
    rows_seen: int
    rows_imported: int
    problems: list[RowProblem]
    problem_count: int


class _Refusal(Exception):
    """A bad row was seen: roll the import's transaction back."""


class ProductImport:
    def __init__(self, engine: sa.Engine, *, clock: Callable[[], float]) -> None:
        self._engine = engine
        self._clock = clock

    def run(self, merchant_id: str,
            batches: Iterable[list[tuple[int, ProductRow | FedmallError]]]) -> ImportOutcome:
        """batches: (row number, the row or why it could not be read) lists, in file order."""
        fields.check_id(merchant_id, "merchant id")
        now_ms = int(self._clock() * 1000)
        problems: list[RowProblem] = []
        seen_skus: set[str] = set()
        rows_seen = imported = 0
        try:
            with self._engine.begin() as connection, search_index.insert_trigger_suspended(connection) as index_here:
                load_merchant(connection, merchant_id)
                # A first catalogue has nothing to look up (SKUs repeat in no import: _checked).
                first_catalogue = connection.scalar(sa.select(tables.products.c.sku).where(
                    tables.products.c.merchant_id == merchant_id).limit(1)) is None
                for batch in batches:
                    rows_seen += len(batch)
                    if rows_seen > limits.import_rows_max:
                        problems.append(RowProblem(batch[-1][0], result_pb2.RESULT_CODE_INVALID_FIELD,
                                                   f"an import holds at most {limits.import_rows_max} rows"))
                        break
                    good = self._checked(batch, seen_skus, problems)
                    if problems:
                        continue  # Nothing more is written; the rest is still checked to name every bad row.
                    existing = {} if first_catalogue else product_rows.existing_rows(
                        connection, merchant_id, [row.sku for _, row in good], for_update=True)
                    held = [(number, row) for number, row in good
                            if row.sku in existing and row.stock < existing[row.sku].stock_reserved]
                    problems.extend(RowProblem(number, result_pb2.RESULT_CODE_INSUFFICIENT_STOCK,
                                               f"{existing[row.sku].stock_reserved} units of {row.sku!r} are "
                                               f"reserved by orders") for number, row in held)
                    if not problems:
                        imported += product_rows.write_rows(connection, merchant_id, [row for _, row in good],
                                                            existing=existing, now_ms=now_ms,
                                                            index_new_rows=index_here)
                if problems:
                    raise _Refusal
        except _Refusal:
            return ImportOutcome(result=result_pb2.RESULT_CODE_IMPORT_ROWS_REFUSED, rows_seen=rows_seen,
                                 rows_imported=0, problems=problems[:limits.import_problems_max],
                                 problem_count=len(problems))
        return ImportOutcome(result=result_pb2.RESULT_CODE_OK, rows_seen=rows_seen, rows_imported=imported,
                             problems=[], problem_count=0)

    @staticmethod
    def _checked(batch: list[tuple[int, ProductRow | FedmallError]], seen_skus: set[str],
                 problems: list[RowProblem]) -> list[tuple[int, ProductRow]]:
        """The batch's good rows; a problem recorded for each bad one."""
        good = []
        for number, row in batch:
            try:
                if isinstance(row, FedmallError):
                    raise row
                product_rows.check_row(row)
                if row.sku in seen_skus:
                    raise FedmallError(result_pb2.RESULT_CODE_INVALID_FIELD, f"sku {row.sku!r} is named twice")
            except FedmallError as error:
                problems.append(RowProblem(number, error.code, str(error)))
                continue
            seen_skus.add(row.sku)
            good.append((number, row))
        return good
