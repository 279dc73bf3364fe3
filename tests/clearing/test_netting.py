"""Multilateral netting, by hand-checked numbers."""
from __future__ import annotations

import decimal

import pytest

from clearing.netting import Bilateral, liquidity_saving_pct, net

CURRENCIES = {"a": "EUR", "b": "EUR", "c": "EUR", "d": "EUR"}


def test_net__three_banks_in_a_ring_net_to_the_differences():
    # a pays b 100, b pays c 80, c pays a 50.
    result = net([Bilateral("a", "b", "EUR", 100, 1), Bilateral("b", "c", "EUR", 80, 2),
                  Bilateral("c", "a", "EUR", 50, 1)], bank_ids=["a", "b", "c", "d"], currencies=CURRENCIES)
    nets = {row.bank_id: row.net_minor for row in result.rows}
    assert nets == {"a": -50, "b": 20, "c": 30, "d": 0}
    assert result.gross_minor == {"EUR": 230}
    assert result.net_total_minor == {"EUR": 50}
    assert result.transfer_count == 4
    assert result.liquidity_saving("EUR") == pytest.approx(1 - 50 / 230)


def test_net__banks_without_transfers_appear_with_zero():
    result = net([], bank_ids=["a", "b"], currencies=CURRENCIES)
    assert [(row.bank_id, row.net_minor) for row in result.rows] == [("a", 0), ("b", 0)]
    assert result.liquidity_saving("EUR") == 0.0


def test_net__currencies_are_netted_apart():
    result = net([Bilateral("a", "b", "EUR", 100, 1), Bilateral("a", "b", "USD", 7, 1),
                  Bilateral("b", "c", "USD", 3, 1)], bank_ids=["a", "b"], currencies={"a": "EUR", "b": "EUR"})
    assert {(r.bank_id, r.currency): r.net_minor for r in result.rows} == {
        ("a", "EUR"): -100, ("b", "EUR"): 100, ("a", "USD"): -7, ("b", "USD"): 4, ("c", "USD"): 3}
    assert result.gross_minor == {"EUR": 100, "USD": 10}
    assert result.net_total_minor == {"EUR": 100, "USD": 7}


def test_net__a_bank_outside_bank_ids_that_paid_and_was_paid_is_netted_too():
    result = net([Bilateral("a", "b", "EUR", 5, 1), Bilateral("b", "a", "EUR", 4, 1)], bank_ids=[], currencies={})
    assert {r.bank_id: (r.debits_minor, r.credits_minor) for r in result.rows} == {"a": (5, 4), "b": (4, 5)}


def test_net__a_net_of_one_minor_unit_counts_in_the_net_total():
    result = net([Bilateral("a", "b", "EUR", 1, 1)], bank_ids=["a", "b"], currencies=CURRENCIES)
    assert result.net_total_minor == {"EUR": 1} and result.liquidity_saving("EUR") == 0.0


@pytest.mark.parametrize("gross, net_total, pct", [
    (0, 0, "0.00"),            # An empty window saves nothing (and divides by nothing).
    (230, 50, "78.26"),        # 78.2608...
    (100, 100, "0.00"),        # Nothing netted away.
    (800, 1, "99.88"),         # 99.875: exactly half a hundredth, to the even 8.
    (160, 1, "99.38"),         # 99.375: to the even 8.
    (800, 3, "99.62"),         # 99.625: to the even 2, where half-up would give 99.63.
    (160, 3, "98.12"),         # 98.125: to the even 2.
    (80_000, 2, "100.00"),     # 99.9975.
])
def test_liquidity_saving_pct__to_two_decimals_half_even(gross, net_total, pct):
    assert liquidity_saving_pct(gross_minor=gross, net_total_minor=net_total) == decimal.Decimal(pct)


@pytest.mark.parametrize("row", [
    Bilateral("bank-a", "".join(["bank", "-a"]), "EUR", 100, 1),   # An equal id, not the same object.
    Bilateral("a", "b", "EUR", 0, 1),
    Bilateral("a", "b", "EUR", -5, 1),
])
def test_net__a_row_paying_itself_or_nothing_is_our_bug_and_asserts(row):
    with pytest.raises(AssertionError):
        net([row], bank_ids=[], currencies={})


def test_net__bilateral_positions_fold_both_directions_of_a_pair_and_sum_to_each_net():
    # a pays b 100 in 2 transfers and b pays a 30; b pays c 80; c pays a 50.
    result = net([Bilateral("a", "b", "EUR", 100, 2), Bilateral("b", "a", "EUR", 30, 1),
                  Bilateral("b", "c", "EUR", 80, 1), Bilateral("c", "a", "EUR", 50, 1)],
                 bank_ids=["a", "b", "c"], currencies=CURRENCIES)
    pairs = {(p.bank_id, p.counterparty_bank_id): (p.paid_minor, p.received_minor, p.net_minor, p.transfer_count)
             for p in result.pairs}
    assert pairs == {("a", "b"): (100, 30, -70, 3), ("a", "c"): (0, 50, 50, 1), ("b", "c"): (80, 0, -80, 1)}
    nets = {row.bank_id: row.net_minor for row in result.rows}
    for bank_id, net_minor in nets.items():
        bilateral_sum = (sum(p.net_minor for p in result.pairs if p.bank_id == bank_id)
                         - sum(p.net_minor for p in result.pairs if p.counterparty_bank_id == bank_id))
        assert bilateral_sum == net_minor, bank_id
    assert sum(nets.values()) == 0


def test_net__bilateral_positions_are_per_currency():
    result = net([Bilateral("b", "a", "EUR", 5, 1), Bilateral("a", "b", "USD", 7, 1)],
                 bank_ids=["a", "b"], currencies={"a": "EUR", "b": "EUR"})
    assert [(p.bank_id, p.counterparty_bank_id, p.currency, p.net_minor) for p in result.pairs] == [
        ("a", "b", "EUR", 5), ("a", "b", "USD", -7)]
