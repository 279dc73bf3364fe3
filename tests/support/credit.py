"""A credit policy for tests on real nodes: the example policy, with the knockouts a merchant
onboarded minutes ago would fail turned down (tenure, sales)."""
from __future__ import annotations

from pathlib import Path

EXAMPLE = Path(__file__).parents[2] / "node" / "credit_policy.example.toml"


def permissive_policy(folder: Path) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8")
    for old, new in (("tenure_days_min = 90", "tenure_days_min = 0"),
                     ("gross_sales_minor_90d_min = 300_000", "gross_sales_minor_90d_min = 1_000")):
        assert old in text, old
        text = text.replace(old, new)
    path = folder / "credit-policy.toml"
    path.write_text(text, encoding="utf-8")
    return path
