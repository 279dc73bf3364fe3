"""The node's configuration: fedmall.toml in the home folder, with environment overrides.

    FEDMALL_NODE_DATABASE_URL     [node].database_url (empty: sqlite file node.db in home)
    FEDMALL_NODE_LISTEN_ADDRESS   [node].listen_address
    FEDMALL_CLEARING_ADDRESS      [clearing].address

[node].credit_policy names the bank's merchant credit policy file (relative to home);
without it the node does not lend.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from fedmall import limits as protocol
from fedmall.database import sqlite_url

from node import limits

CONFIG_FILE = "fedmall.toml"
FULFILMENT_SECRET_FILE = "fulfilment.secret"
DATABASE_FILE = "node.db"


class ConfigError(ValueError):
    """The configuration is missing or malformed; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class NodeConfig:
    home: Path
    bank_id: str
    signing_key_id: str
    clearing_address: str
    clearing_signing_key_id: str
    listen_address: str
    database_url: str
    transfer_expiry_ms: int
    # The marketplace: how long after shipping an order confirms itself, and how long a
    # search waits for the other banks.
    auto_confirm_after_s: int = limits.auto_confirm_after_s_default
    search_deadline_ms: int = limits.search_deadline_ms_default
    # Merchant credit: the bank's policy file (node.credit.policy); None: this bank does not lend.
    credit_policy_path: Path | None = None

    @property
    def fulfilment_secret_path(self) -> Path:
        return self.home / FULFILMENT_SECRET_FILE

    @property
    def signing_key_path(self) -> Path:
        return self.home / "signing.key"

    @property
    def clearing_public_key_path(self) -> Path:
        return self.home / "clearing.pub"


def _section(document: dict, name: str) -> dict:
    section = document.get(name)
    if not isinstance(section, dict):
        raise ConfigError(f"{CONFIG_FILE}: missing section [{name}]")
    return section


def _text(section: dict, section_name: str, key: str, *, required: bool = True) -> str:
    value = section.get(key, "")
    if not isinstance(value, str) or (required and not value):
        raise ConfigError(f"{CONFIG_FILE}: [{section_name}].{key} must be a non-empty string")
    return value


AUTO_CONFIRM_AFTER_S_MAX = 365 * 24 * 3600
SEARCH_DEADLINE_MS_MIN = 50
SEARCH_DEADLINE_MS_MAX = 30_000


def _bounded_int(section: dict, key: str, default: int, *, low: int, high: int) -> int:
    value = section.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"{CONFIG_FILE}: [node].{key} must be an integer in {low}..{high}")
    return value


def load_config(home: Path, environ: Mapping[str, str] = os.environ) -> NodeConfig:
    home = Path(home)
    path = home / CONFIG_FILE
    try:
        document = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path} not found; is {home} a node home folder?") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: {error}") from None
    identity = _section(document, "identity")
    clearing = _section(document, "clearing")
    node = _section(document, "node")
    if identity.get("role", "bank") != "bank":
        raise ConfigError(f"{CONFIG_FILE}: [identity].role must be 'bank' for a node")
    expiry_ms = node.get("transfer_expiry_ms", limits.transfer_expiry_ms_default)
    if not isinstance(expiry_ms, int) or not protocol.expiry_ms_min <= expiry_ms <= protocol.expiry_ms_max:
        raise ConfigError(
            f"{CONFIG_FILE}: [node].transfer_expiry_ms must be an integer in "
            f"{protocol.expiry_ms_min}..{protocol.expiry_ms_max}")
    auto_confirm_after_s = _bounded_int(node, "auto_confirm_after_s", limits.auto_confirm_after_s_default,
                                        low=1, high=AUTO_CONFIRM_AFTER_S_MAX)
    search_deadline_ms = _bounded_int(node, "search_deadline_ms", limits.search_deadline_ms_default,
                                      low=SEARCH_DEADLINE_MS_MIN, high=SEARCH_DEADLINE_MS_MAX)
    database_url = environ.get("FEDMALL_NODE_DATABASE_URL") or _text(node, "node", "database_url", required=False)
    credit_policy = _text(node, "node", "credit_policy", required=False)
    return NodeConfig(
        home=home,
        bank_id=_text(identity, "identity", "party_id"),
        signing_key_id=_text(identity, "identity", "signing_key_id"),
        clearing_address=environ.get("FEDMALL_CLEARING_ADDRESS") or _text(clearing, "clearing", "address"),
        clearing_signing_key_id=_text(clearing, "clearing", "signing_key_id"),
        listen_address=environ.get("FEDMALL_NODE_LISTEN_ADDRESS") or _text(node, "node", "listen_address"),
        database_url=database_url or sqlite_url(home / DATABASE_FILE),
        transfer_expiry_ms=expiry_ms,
        auto_confirm_after_s=auto_confirm_after_s,
        search_deadline_ms=search_deadline_ms,
        credit_policy_path=home / credit_policy if credit_policy else None,
    )
