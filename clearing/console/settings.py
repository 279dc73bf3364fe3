"""[console] of the clearing's fedmall.toml: whether the operator's web console runs, where, and
how the operator logs in. No [console] section: no console.

    [console]
    listen_address = "127.0.0.1:7080"   host:port (port 0: any free port); loopback by default
    authentication = "token"            "token": a one-time login link from
                                        `fedmall-clearing console-token`, over plain HTTP, so only
                                        on a loopback address; "certificate": HTTPS with the
                                        operator's client certificate (the consortium CA's, role
                                        operator), on any address
    session_s = 28800                   a login lasts this long (60..86400)
    login_token_s = 600                 a login link is good this long, once (30..86400)

Override: FEDMALL_CLEARING_CONSOLE_LISTEN_ADDRESS (several clearing processes on one home and
host each need their own port, as FEDMALL_CLEARING_LISTEN_ADDRESS gives each its gRPC port).
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

from fedmall.config_file import ConfigError, TomlFile

SECTION = "console"
LISTEN_ADDRESS_ENVIRONMENT = "FEDMALL_CLEARING_CONSOLE_LISTEN_ADDRESS"
KEYS = frozenset({"listen_address", "authentication", "session_s", "login_token_s"})
TOKEN, CERTIFICATE = "token", "certificate"
AUTHENTICATIONS = (TOKEN, CERTIFICATE)
LISTEN_ADDRESS_DEFAULT = "127.0.0.1:7080"
SESSION_S_DEFAULT, SESSION_S_MIN, SESSION_S_MAX = 8 * 3600, 60, 24 * 3600
LOGIN_TOKEN_S_DEFAULT, LOGIN_TOKEN_S_MIN, LOGIN_TOKEN_S_MAX = 600, 30, 24 * 3600


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    host: str
    port: int
    authentication: str
    session_s: int
    login_token_s: int

    @property
    def uses_tls(self) -> bool:
        return self.authentication == CERTIFICATE

    @property
    def scheme(self) -> str:
        return "https" if self.uses_tls else "http"

    def address(self, port: int | None = None) -> str:
        """The console's origin, on port (the bound one when listen_address said 0)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port if port is None else port}"


def read(file: TomlFile) -> ConsoleSettings | None:
    """The [console] section, or None when there is none (the console is off)."""
    if SECTION not in file.document:
        return None
    section = file.section(SECTION)
    where = f"{file.path}: [{SECTION}]"
    listen_address = (os.environ.get(LISTEN_ADDRESS_ENVIRONMENT) or section.text("listen_address", required=False)
                      or LISTEN_ADDRESS_DEFAULT)
    host, port = _host_port(listen_address, where)
    authentication = section.text("authentication", required=False) or TOKEN
    if authentication not in AUTHENTICATIONS:
        raise ConfigError(f"{where}.authentication must be one of {', '.join(AUTHENTICATIONS)}, not {authentication!r}")
    if authentication == TOKEN and not is_loopback(host):
        raise ConfigError(f"{where}.listen_address {listen_address!r} is not a loopback address: a token login "
                          f"travels over plain HTTP, so it is for loopback only; bind 127.0.0.1 (and reach it "
                          f"through an SSH tunnel) or set authentication = \"{CERTIFICATE}\" (HTTPS)")
    return ConsoleSettings(
        host=host, port=port, authentication=authentication,
        session_s=section.integer("session_s", default=SESSION_S_DEFAULT, low=SESSION_S_MIN, high=SESSION_S_MAX),
        login_token_s=section.integer("login_token_s", default=LOGIN_TOKEN_S_DEFAULT, low=LOGIN_TOKEN_S_MIN,
                                      high=LOGIN_TOKEN_S_MAX))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_port(address: str, where: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isascii() or not port.isdigit() or not 0 <= int(port) <= 65_535:
        raise ConfigError(f"{where}.listen_address must be host:port (port 0..65535, 0: any free one), "
                          f"not {address!r}")
    return host, int(port)
