"""Multilateral netting, by hand-checked numbers."""
from __future__ import annotations

import pytest

from clearing.netting import Bilateral, net

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
    result = net([Bilateral("a", "b", "EUR", 100, 1), Bilateral("a", "b", "USD", 7, 1)],
                 bank_ids=["a", "b"], currencies={"a": "EUR", "b": "EUR"})
    assert {(r.bank_id, r.currency): r.net_minor for r in result.rows} == {
        ("a", "EUR"): -100, ("b", "EUR"): 100, ("a", "USD"): -7, ("b", "USD"): 7}


def test_net__a_row_paying_itself_is_our_bug_and_asserts():
    with pytest.raises(AssertionError):
        net([Bilateral("a", "a", "EUR", 100, 1)], bank_ids=["a"], currencies=CURRENCIES)
