"""What every console request must pass before it is served: the Host it names, and for a
post the Origin it comes from and the session's CSRF token. Pure functions: each returns why a
request is refused, or None.

A post must come from a page of the console itself. Browsers send Origin on every post
(Referer is taken when a privacy setting dropped Origin; neither: refused), and it must be
the console's own origin, so another site's page cannot post to it even if a cookie went
along (SameSite=Strict already stops that). Then the form's csrf field must equal the
session's token, which only the console's own pages carry. A loopback console also refuses a
Host that is not a loopback name, so a web page whose DNS name was pointed at 127.0.0.1 (DNS
rebinding) reaches nothing.
"""
from __future__ import annotations

import hmac
from typing import Mapping
from urllib.parse import urlsplit

from clearing.console.settings import ConsoleSettings, is_loopback


def host_problem(host_header: str, settings: ConsoleSettings, *, port: int) -> str | None:
    if not settings_is_loopback(settings):
        return None  # Any name the operator's DNS gives the console's address; certificates guard it.
    host, _, host_port = host_header.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if host_port != str(port) or not is_loopback(host):
        return f"this console answers only to a loopback host name on port {port}, not {host_header!r}"
    return None


def settings_is_loopback(settings: ConsoleSettings) -> bool:
    return is_loopback(settings.host)


def origin_problem(headers: Mapping[str, str], *, scheme: str, host_header: str) -> str | None:
    """A post's Origin (or Referer) must be this console: scheme://Host."""
    expected = f"{scheme}://{host_header}".lower()
    origin = headers.get("origin", "")
    if not origin or origin == "null":
        referer = headers.get("referer", "")
        if not referer:
            return "a post must say where it comes from (Origin): refused"
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    if origin.lower() != expected:
        return f"a post from {origin} is not from this console ({expected}): refused"
    return None


def csrf_problem(form: Mapping[str, str], csrf_token: str) -> str | None:
    sent = form.get("csrf", "")
    if not sent or not hmac.compare_digest(sent.encode(), csrf_token.encode()):
        return "the form's CSRF token is missing or not this session's: reload the page and try again"
    return None
