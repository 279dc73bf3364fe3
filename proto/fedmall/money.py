"""Money at the user's edge: currencies and the one decimal-string converter.

Everywhere inside, money is an int of minor units plus an ISO 4217 code.
"""
from __future__ import annotations

import decimal
import re

from fedmall import limits

# ISO 4217 alphabetic code -> number of minor-unit digits (the exponent).
CURRENCY_EXPONENTS: dict[str, int] = {
    "CHF": 2, "CNY": 2, "EUR": 2, "GBP": 2, "HKD": 2, "JPY": 0, "KWD": 3,
    "SGD": 2, "USD": 2,
}

_DECIMAL = re.compile(r"^(?P<units>\d{1,19})(\.(?P<fraction>\d+))?$")


class MoneyError(ValueError):
    """A currency or amount a user typed is not acceptable."""


class AmountOutOfRange(MoneyError):
    """A well-formed amount outside 1..limits.amount_minor_max (or zero where that is not allowed)."""


def check_currency(currency: str) -> str:
    if currency not in CURRENCY_EXPONENTS:
        raise MoneyError(f"unknown currency {currency!r}; known: {', '.join(sorted(CURRENCY_EXPONENTS))}")
    return currency


def is_valid_amount(amount_minor: int) -> bool:
    return 0 < amount_minor <= limits.amount_minor_max


def parse_amount(text: str, currency: str, *, zero_allowed: bool = False) -> int:
    """'12.34' EUR -> 1234. Refuses more fraction digits than the currency has, and zero unless
    zero_allowed (a limit may be zero; a payment may not)."""
    exponent = CURRENCY_EXPONENTS[check_currency(currency)]
    match = _DECIMAL.match(text.strip())
    if not match:
        raise MoneyError(f"{text!r} is not an amount like 12.34")
    fraction = match.group("fraction") or ""
    if len(fraction) > exponent:
        raise MoneyError(f"{currency} has {exponent} decimal places; {text!r} has {len(fraction)}")
    amount_minor = int(match.group("units")) * 10**exponent + int(fraction.ljust(exponent, "0") or 0)
    if not (is_valid_amount(amount_minor) or (zero_allowed and amount_minor == 0)):
        largest = format_money(limits.amount_minor_max, currency)
        raise AmountOutOfRange(f"{text!r} {currency} is {'too large' if zero_allowed else 'zero or too large'}: "
                               f"an amount is at most {largest}")
    return amount_minor


def format_amount(amount_minor: int, currency: str) -> str:
    """1234 EUR -> '12.34'. Negative amounts keep their sign."""
    exponent = CURRENCY_EXPONENTS[check_currency(currency)]
    value = decimal.Decimal(amount_minor).scaleb(-exponent)
    return f"{value:.{exponent}f}"


def format_money(amount_minor: int, currency: str) -> str:
    """1234 EUR -> '12.34 EUR'."""
    return f"{format_amount(amount_minor, currency)} {currency}"
