"""The contract's one rule for text (fedmall.text) and one spelling per id (fedmall.identifiers)."""
from __future__ import annotations

import uuid

import pytest

from fedmall import identifiers, limits, text


@pytest.mark.parametrize("value", [
    "", "order 42", "Zürich café", "北京银行", "名字\u3000有空格", "price\u00a0€ 10", "emoji \U0001F600", "a" * 140,
    "tab-free, newline-free; quotes \" and ' fine",
])
def test_text__ordinary_text_of_any_script_is_allowed(value):
    assert text.text_problem(value, length_max=140) is None


@pytest.mark.parametrize("value, character", [
    ("line\nbreak", "\n"), ("carriage\rreturn", "\r"), ("tab\there", "\t"), ("nul\0", "\0"), ("esc\x1b[31m", "\x1b"),
    ("del\x7f", "\x7f"), ("c1\x85next line", "\x85"), ("c1\x9bcsi", "\x9b"),
    ("invoice \u202egnp.exe", "\u202e"), ("\u202aembedding", "\u202a"), ("\u202doverride", "\u202d"),
    ("\u2066isolate\u2069", "\u2066"), ("\u2067rtl isolate", "\u2067"), ("\u2068first strong", "\u2068"),
    ("mark\u200f", "\u200f"), ("arabic mark\u061c", "\u061c"), ("zero\u200bwidth", "\u200b"), ("joiner\u200d", "\u200d"),
    ("word\u2060joiner", "\u2060"), ("\ufeffbom", "\ufeff"), ("soft\u00adhyphen", "\u00ad"),
    ("tag\U000E0041", "\U000E0041"), ("line\u2028separator", "\u2028"), ("para\u2029separator", "\u2029"),
    ("private\ue000use", "\ue000"), ("non\ufffecharacter", "\ufffe"), ("non\ufdd0character", "\ufdd0"),
    ("lone \ud800 surrogate", "\ud800"),
])
def test_text__control_format_and_invisible_characters_are_refused(value, character):
    problem = text.text_problem(value, length_max=140)
    assert problem is not None and f"U+{ord(character):04X}" in problem
    assert not text.is_text(value, length_max=140)


def test_text__length_is_counted_in_characters_and_bounded():
    assert text.is_text("\U0001F600" * 140, length_max=140)
    assert not text.is_text("a" * 141, length_max=140)
    assert text.text_problem("  ", length_max=10, required=True) == "text is required"


def test_text__the_bounds_of_the_contract_relate():
    assert limits.reject_reason_length_max <= limits.reference_length_max
    assert limits.key_id_length_max == limits.bank_id_length_max + 1 + limits.key_name_length_max


def test_is_uuid__one_spelling_per_uuid_and_no_sentinels():
    value = str(uuid.uuid4())
    assert identifiers.is_uuid(value) and identifiers.is_uuid(str(uuid.uuid5(uuid.NAMESPACE_URL, "x")))
    for other in (value.upper(), value[:8].upper() + value[8:], "{" + value + "}", value.replace("-", ""),
                  "urn:uuid:" + value, value + "\n", " " + value, value[:-1], value + "0",
                  identifiers.NIL_UUID, identifiers.MAX_UUID, "", "t1"):
        assert not identifiers.is_uuid(other), other


@pytest.mark.parametrize("key_id, owner, sound", [
    ("bank-a/k1", "bank-a", True), ("bank-a/k1-k2", "bank-a", True), ("clearing/k1", "clearing", True),
    ("bank-a/" + "k" * limits.key_name_length_max, "bank-a", True),
    ("bank-a/" + "k" * (limits.key_name_length_max + 1), "bank-a", False),
    ("bank-b/k1", "bank-a", False), ("bank-a", "bank-a", False), ("bank-a/", "bank-a", False),
    ("bank-a/k1/k2", "bank-a", False), ("bank-a/-k1", "bank-a", False), ("bank-a/k 1", "bank-a", False),
    ("bank-a/k1\n", "bank-a", False), ("bank-a/k\u202e1", "bank-a", False), ("bank-a//k1", "bank-a", False),
])
def test_is_key_id__owner_slash_a_bounded_name(key_id, owner, sound):
    assert identifiers.is_key_id(key_id, owner=owner) is sound
