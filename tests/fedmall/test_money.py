from __future__ import annotations

import pytest

from fedmall.money import MoneyError, format_amount, parse_amount


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
