import hashlib
import stat

import pytest

from node.bank.fulfilment import FulfilmentKey, condition_of, load_or_create_key

TERMS = dict(payer_bank_id="bank-a", transfer_id="t1", payee_account="bob", amount_minor=100, currency="EUR")


def test_condition__is_sha256_of_fulfilment():
    key = FulfilmentKey(b"k" * 32)
    fulfilment = key.fulfilment(**TERMS)
    assert len(fulfilment) == 32
    assert key.condition(**TERMS) == hashlib.sha256(fulfilment).digest() == condition_of(fulfilment)


@pytest.mark.parametrize("field,value", [
    ("payer_bank_id", "bank-c"), ("transfer_id", "t2"), ("payee_account", "bobby"),
    ("amount_minor", 101), ("currency", "USD")])
def test_fulfilment__changes_with_every_term(field, value):
    key = FulfilmentKey(b"k" * 32)
    assert key.fulfilment(**TERMS) != key.fulfilment(**{**TERMS, field: value})


def test_fulfilment__depends_on_the_secret():
    assert FulfilmentKey(b"k" * 32).fulfilment(**TERMS) != FulfilmentKey(b"j" * 32).fulfilment(**TERMS)


def test_load_or_create_key__creates_private_file_once(tmp_path):
    path = tmp_path / "fulfilment.secret"
    first = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == first


def test_load_or_create_key__refuses_wrong_length(tmp_path):
    path = tmp_path / "fulfilment.secret"
    path.write_bytes(b"short")
    with pytest.raises(ValueError):
        load_or_create_key(path)
