"""Asking a server's HTTP listener (fedmall.observability) as Prometheus or a load balancer would."""
from __future__ import annotations

import urllib.error
import urllib.request


def get(address: str, path: str) -> tuple[int, str]:
    """(status, body) of GET http://address/path; an error status is an answer too."""
    try:
        with urllib.request.urlopen(f"http://{address}{path}", timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
