"""Multilateral netting of a settlement window. Pure: aggregated rows in, nets out."""
from __future__ import annotations

import decimal
from collections import defaultdict
from dataclasses import dataclass


def liquidity_saving_pct(*, gross_minor: int, net_total_minor: int) -> decimal.Decimal:
    """100 * (1 - net / gross) to two decimals, half-even: the share of gross value that
    netting spares the banks from moving. 0.00 for an empty window."""
    if gross_minor == 0:
        return decimal.Decimal("0.00")
    saving = decimal.Decimal(gross_minor - net_total_minor) * 100 / decimal.Decimal(gross_minor)
    return saving.quantize(decimal.Decimal("0.01"), rounding=decimal.ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class Bilateral:
    """What one bank paid another in one currency (gross) and in how many transfers."""
    payer_bank_id: str
    payee_bank_id: str
    currency: str
    amount_minor: int
    transfer_count: int


@dataclass(frozen=True, slots=True)
class NetRow:
    bank_id: str
    currency: str
    debits_minor: int
    credits_minor: int

    @property
    def net_minor(self) -> int:
        """credits - debits: positive means the bank receives at settlement."""
        return self.credits_minor - self.debits_minor


@dataclass(frozen=True, slots=True)
class PairRow:
    """What two banks paid each other in one currency, seen from bank_id (the lesser id)."""
    bank_id: str
    counterparty_bank_id: str
    currency: str
    paid_minor: int        # bank_id paid counterparty_bank_id (gross).
    received_minor: int    # counterparty_bank_id paid bank_id (gross).
    transfer_count: int    # Both ways.

    @property
    def net_minor(self) -> int:
        """received - paid: positive means counterparty_bank_id owes bank_id."""
        return self.received_minor - self.paid_minor


@dataclass(frozen=True, slots=True)
class Netting:
    rows: tuple[NetRow, ...]
    pairs: tuple[PairRow, ...]       # Bilateral positions, one per pair of banks and currency.
    gross_minor: dict[str, int]      # currency -> sum of every transfer
    net_total_minor: dict[str, int]  # currency -> sum of the positive nets
    transfer_count: int

    def liquidity_saving(self, currency: str) -> float:
        """1 - net/gross: the share of gross value that netting spares the banks from moving."""
        gross_minor = self.gross_minor.get(currency, 0)
        return 1 - self.net_total_minor.get(currency, 0) / gross_minor if gross_minor else 0.0


def net(bilateral: list[Bilateral], *, bank_ids: list[str], currencies: dict[str, str]) -> Netting:
    """Net every bank in bank_ids (each in its currency, zero when it did nothing).

    Each transfer is one bank's debit and another's credit of the same amount, so per
    currency the nets must sum to zero. If they do not, a transfer was counted on one
    side only: a bug in this module or in the query feeding it, never outside input,
    so it is an assertion.
    """
    debits: dict[tuple[str, str], int] = defaultdict(int)
    credits: dict[tuple[str, str], int] = defaultdict(int)
    gross: dict[str, int] = defaultdict(int)
    count = 0
    for row in bilateral:
        assert row.payer_bank_id != row.payee_bank_id and row.amount_minor > 0, row
        debits[row.payer_bank_id, row.currency] += row.amount_minor
        credits[row.payee_bank_id, row.currency] += row.amount_minor
        gross[row.currency] += row.amount_minor
        count += row.transfer_count
    keys = {(bank_id, currencies[bank_id]) for bank_id in bank_ids} | set(debits) | set(credits)
    rows = tuple(NetRow(bank_id=b, currency=c, debits_minor=debits[b, c], credits_minor=credits[b, c])
                 for b, c in sorted(keys))
    net_total: dict[str, int] = defaultdict(int)
    for currency in {c for _, c in keys}:
        nets = [row.net_minor for row in rows if row.currency == currency]
        assert sum(nets) == 0, (currency, nets)
        net_total[currency] = sum(n for n in nets if n > 0)
    pairs = bilateral_positions(bilateral)
    _assert_pairs_sum_to_nets(pairs, rows)
    return Netting(rows=rows, pairs=pairs, gross_minor=dict(gross), net_total_minor=dict(net_total),
                   transfer_count=count)


def bilateral_positions(bilateral: list[Bilateral]) -> tuple[PairRow, ...]:
    """Fold the directed grosses into one row per unordered pair and currency, from the
    lesser bank id's side, sorted."""
    paid: dict[tuple[str, str, str], int] = defaultdict(int)
    received: dict[tuple[str, str, str], int] = defaultdict(int)
    counts: dict[tuple[str, str, str], int] = defaultdict(int)
    for row in bilateral:
        low, high = sorted((row.payer_bank_id, row.payee_bank_id))
        key = (low, high, row.currency)
        if row.payer_bank_id == low:
            paid[key] += row.amount_minor
        else:
            received[key] += row.amount_minor
        counts[key] += row.transfer_count
    return tuple(PairRow(bank_id=low, counterparty_bank_id=high, currency=currency, paid_minor=paid[low, high, currency],
                         received_minor=received[low, high, currency], transfer_count=counts[low, high, currency])
                 for low, high, currency in sorted(counts))


def _assert_pairs_sum_to_nets(pairs: tuple[PairRow, ...], rows: tuple[NetRow, ...]) -> None:
    """Each pair's nets sum to zero (it is one number seen from both sides), so a bank's
    multilateral net must be the sum of its bilateral nets: the report's two views of the
    same transfers agree, or this module has a bug."""
    by_bank: dict[tuple[str, str], int] = defaultdict(int)
    for pair in pairs:
        by_bank[pair.bank_id, pair.currency] += pair.net_minor
        by_bank[pair.counterparty_bank_id, pair.currency] -= pair.net_minor
    for row in rows:
        assert by_bank.get((row.bank_id, row.currency), 0) == row.net_minor, (row, by_bank)
