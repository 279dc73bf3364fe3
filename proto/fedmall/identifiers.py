"""What an account id looks like, for every party: it travels in prepares and statements."""
from __future__ import annotations

import re

from fedmall import limits

_ACCOUNT_ID = re.compile(r"^[A-Za-z0-9_.-]{1,%d}$" % limits.account_id_length_max)


def is_account_id(text: str) -> bool:
    """ASCII letters, digits, '-', '_' and '.', at most account_id_length_max characters."""
    return bool(_ACCOUNT_ID.fullmatch(text))
