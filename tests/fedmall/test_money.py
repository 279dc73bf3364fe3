from __future__ import annotations

import pytest

from fedmall import limits
from fedmall.money import (
    AmountOutOfRange, MoneyError, check_currency, format_amount, format_money, is_valid_amount, parse_amount)


@pytest.mark.parametrize("text, currency, minor", [
    ("12.34", "EUR", 1234), ("12", "EUR", 1200), ("0.01", "EUR", 1), ("1000", "JPY", 1000), ("1.234", "KWD", 1234),
])
def test_parse_amount__decimal_to_minor_units(text, currency, minor):
    assert parse_amount(text, currency) == minor
    assert parse_amount(format_amount(minor, currency), currency) == minor


@pytest.mark.parametrize("text, currency", [
    ("12.345", "EUR"), ("1.5", "JPY"), ("-1", "EUR"), ("0", "EUR"), ("abc", "EUR"), ("1e3", "EUR"),
    ("99999999999999999999", "EUR"), ("1", "XXX"),
])
def test_parse_amount__refuses_what_is_not_an_amount(text, currency):
    with pytest.raises(MoneyError):
        parse_amount(text, currency)


def test_format_amount__keeps_sign():
    assert format_amount(-1234, "EUR") == "-12.34"


def test_is_valid_amount__from_one_minor_unit_to_the_bound():
    assert [is_valid_amount(amount) for amount in (0, 1, limits.amount_minor_max, limits.amount_minor_max + 1, -1)] \
        == [False, True, True, False, False]


@pytest.mark.parametrize("text, minor", [("10000000000000.00", 10**15), (" 12.34 ", 1234), ("0.10", 10)])
def test_parse_amount__at_the_edges(text, minor):
    assert parse_amount(text, "EUR") == minor


@pytest.mark.parametrize("text", ["10000000000000.01", "92233720368547758.07", "9999999999999999999"])
def test_parse_amount__past_the_bound_is_out_of_range_and_names_it(text):
    with pytest.raises(AmountOutOfRange, match="zero or too large: an amount is at most 10000000000000.00 EUR"):
        parse_amount(text, "EUR")


def test_format_money__amount_and_currency():
    assert [format_money(1234, "EUR"), format_money(5, "JPY"), format_money(1, "KWD"), format_money(0, "EUR")] == [
        "12.34 EUR", "5 JPY", "0.001 KWD", "0.00 EUR"]


def test_check_currency__returns_a_known_one_and_names_the_known_ones_otherwise():
    assert check_currency("JPY") == "JPY"
    with pytest.raises(MoneyError, match="unknown currency 'EURO'; known: CHF, CNY"):
        check_currency("EURO")


# ISO 4217 minor units: one place more or less would move every amount tenfold.
ISO_4217_EXPONENTS = {"CHF": 2, "CNY": 2, "EUR": 2, "GBP": 2, "HKD": 2, "JPY": 0, "KWD": 3, "SGD": 2, "USD": 2}


@pytest.mark.parametrize("currency, exponent", sorted(ISO_4217_EXPONENTS.items()))
def test_currency__minor_units_are_iso_4217s(currency, exponent):
    assert parse_amount("1", currency) == 10 ** exponent
    assert format_amount(1, currency) == ("1" if exponent == 0 else "0." + "0" * (exponent - 1) + "1")


def test_parse_amount__zero_only_where_allowed_and_the_maximum_still_binds():
    assert parse_amount("0.00", "EUR", zero_allowed=True) == 0
    for text in ("-0.01", "92233720368547758.08"):
        with pytest.raises(MoneyError):
            parse_amount(text, "EUR", zero_allowed=True)
