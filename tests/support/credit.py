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
