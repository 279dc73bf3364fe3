"""A credit policy for tests on real nodes: the example policy, with the knockouts a merchant
onboarded minutes ago would fail (tenure, sales) turned down."""
from __future__ import annotations

import re
from pathlib import Path

EXAMPLE_POLICY = Path(__file__).parents[2] / "node" / "credit" / "policy.example.toml"


def permissive_policy(folder: Path) -> Path:
    text = EXAMPLE_POLICY.read_text(encoding="utf-8")
    text, tenure = re.subn(r"(?m)^tenure_days_min = .*$", "tenure_days_min = 0", text)
    text, sales = re.subn(r"(?m)^gross_sales_minor_90d_min = .*$", "gross_sales_minor_90d_min = 1", text)
    assert (tenure, sales) == (1, 1)
    path = folder / "credit_policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


CONSUMER_EXAMPLE_POLICY = Path(__file__).parents[2] / "node" / "credit" / "consumer_policy.example.toml"


def consumer_policy(folder: Path, *, account_age_days_min: int = 0, inflows_minor_90d_min: int = 10_000) -> Path:
    """The example consumer credit policy (3, 6 and 12 instalments; half the 90 days' inflows, at most
    3 000.00), with the account age and the inflows it asks for set for tests."""
    text = CONSUMER_EXAMPLE_POLICY.read_text(encoding="utf-8")
    text, age = re.subn(r"(?m)^account_age_days_min = \d+", f"account_age_days_min = {account_age_days_min}", text)
    text, inflows = re.subn(r"(?m)^inflows_minor_90d_min = \d+", f"inflows_minor_90d_min = {inflows_minor_90d_min}",
                            text)
    assert (age, inflows) == (1, 1)
    path = folder / "consumer_policy.toml"
    path.write_text(text, encoding="utf-8")
    return path
