"""The node's configuration: fedmall.toml in the home folder, with environment overrides.

    FEDMALL_NODE_DATABASE_URL     [node].database_url (empty: sqlite file node.db in home)
    FEDMALL_NODE_LISTEN_ADDRESS   [node].listen_address
    FEDMALL_CLEARING_ADDRESS      [clearing].address

[node].credit_policy names the bank's merchant credit policy file (relative to home);
without it the node does not lend. [node].consumer_credit_policy names its consumer credit
policy (instalments at checkout, node.credit.consumer_policy); without it the node offers none.

The marketplace, as the seller's bank (node.market.seller_orders):
    [node].reservation_hold_s                   how long a merchant's stock stays reserved for an
                                                order it has not shipped; then the reservation expires
    [node].reservations_per_buyer_bank_max      open reservations one buyer bank may hold here
    [node].reserved_units_per_buyer_bank_max    units those reservations may hold

[log] (optional): level, format and file of the node's log lines (fedmall.logs).

[node].share_party_names (default false): whether this bank shares its customers' names with
the clearing and the other bank, the payer's name on its prepares (Prepare.debtor_name) and the
payee's in its quotes (QuoteResult.creditor_name); they then appear in the clearing's ISO 20022
exports. Off, the clearing sees account ids only (docs/architecture.md, "ISO 20022 exports").

[budget] (optional) is what each other member bank may ask of this node's peer services:
requests, request bytes, calls in flight, quote items and quote misses (node.budgets).

[metrics] (optional): enabled = true, listen_address = "127.0.0.1:0": Prometheus /metrics,
/healthz, /readyz and /status over HTTP (fedmall.observability, docs/observability.md).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from fedmall import budgets as member_budgets
from fedmall import observability
from fedmall import limits as protocol
from fedmall import logs
from fedmall.config_file import ConfigError, load_signing_key, read_toml
from fedmall.database import sqlite_url
from fedmall.envelope import SigningKey

from node import budgets, limits

CONFIG_FILE = "fedmall.toml"
FULFILMENT_SECRET_FILE = "fulfilment.secret"
DATABASE_FILE = "node.db"


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
    # The marketplace as the seller's bank: how long stock stays reserved for an order not shipped,
    # and how many open reservations (and units) one buyer bank may hold here.
    reservation_hold_s: int = limits.reservation_hold_s_default
    reservations_per_buyer_bank_max: int = limits.reservations_per_buyer_bank_max_default
    reserved_units_per_buyer_bank_max: int = limits.reserved_units_per_buyer_bank_max_default
    # How many cancellations of orders it does not know a seller bank remembers per buyer bank.
    cancelled_unplaced_per_bank_max: int = limits.cancelled_unplaced_per_bank_max_default
    # Merchant credit: the bank's policy file (node.credit.policy); None: this bank does not lend.
    credit_policy_path: Path | None = None
    # Consumer instalments: the bank's policy file (node.credit.consumer_policy); None: none offered.
    consumer_credit_policy_path: Path | None = None
    # What each other member bank may ask of the peer services (node.budgets).
    budget: member_budgets.Budget = budgets.DEFAULT_BUDGET
    # [log]: what fedmall.toml says of the log lines (the command line and environment come first).
    log: logs.FileSettings = logs.FileSettings()
    # Whether customers' names go on prepares and quotes (see the module doc).
    share_party_names: bool = False
    metrics: observability.MetricsSettings = observability.MetricsSettings()

    @property
    def fulfilment_secret_path(self) -> Path:
        return self.home / FULFILMENT_SECRET_FILE

    @property
    def signing_key_path(self) -> Path:
        return self.home / "signing.key"

    @property
    def clearing_public_key_path(self) -> Path:
        return self.home / "clearing.pub"

    def signing_key(self) -> SigningKey:
        """The bank's current signing key; ConfigError when its file is missing or wrong."""
        return load_signing_key(self.signing_key_path, self.signing_key_id, whose="the bank's")


# Every key a node reads; any other is refused (a misspelling must not fall back to a default).
KNOWN_KEYS = {
    "identity": frozenset({"party_id", "role", "signing_key_id"}),
    "clearing": frozenset({"address", "signing_key_id"}),
    "node": frozenset({"listen_address", "database_url", "transfer_expiry_ms", "auto_confirm_after_s",
                       "search_deadline_ms", "credit_policy", "consumer_credit_policy", "reservation_hold_s",
                       "reservations_per_buyer_bank_max", "reserved_units_per_buyer_bank_max",
                       "cancelled_unplaced_per_bank_max", "share_party_names"}),
    member_budgets.SECTION: budgets.KEYS,
    logs.SECTION: logs.KEYS,
    observability.SECTION: observability.KEYS,
}
AUTO_CONFIRM_AFTER_S_MAX = 365 * 24 * 3600
SEARCH_DEADLINE_MS_MIN = 50
SEARCH_DEADLINE_MS_MAX = 30_000
RESERVATION_HOLD_S_MAX = 365 * 24 * 3600
RESERVATIONS_PER_BUYER_BANK_MAX = 1_000_000


def load_config(home: Path, environ: Mapping[str, str] = os.environ) -> NodeConfig:
    home = Path(home)
    file = read_toml(home / CONFIG_FILE)
    file.check_known(KNOWN_KEYS)
    identity, clearing, node = file.section("identity"), file.section("clearing"), file.section("node")
    if identity.text("role", required=False) not in ("", "bank"):
        raise ConfigError(f"{file.path}: [identity].role must be 'bank' for a node")
    database_url = environ.get("FEDMALL_NODE_DATABASE_URL") or node.text("database_url", required=False)
    credit_policy = node.text("credit_policy", required=False)
    consumer_credit_policy = node.text("consumer_credit_policy", required=False)
    return NodeConfig(
        home=home,
        bank_id=identity.text("party_id"),
        signing_key_id=identity.text("signing_key_id"),
        clearing_address=environ.get("FEDMALL_CLEARING_ADDRESS") or clearing.text("address"),
        clearing_signing_key_id=clearing.text("signing_key_id"),
        listen_address=environ.get("FEDMALL_NODE_LISTEN_ADDRESS") or node.text("listen_address"),
        database_url=database_url or sqlite_url(home / DATABASE_FILE),
        transfer_expiry_ms=node.integer("transfer_expiry_ms", default=limits.transfer_expiry_ms_default,
                                        low=protocol.expiry_ms_min, high=protocol.expiry_ms_max),
        auto_confirm_after_s=node.integer("auto_confirm_after_s", default=limits.auto_confirm_after_s_default,
                                          low=1, high=AUTO_CONFIRM_AFTER_S_MAX),
        search_deadline_ms=node.integer("search_deadline_ms", default=limits.search_deadline_ms_default,
                                        low=SEARCH_DEADLINE_MS_MIN, high=SEARCH_DEADLINE_MS_MAX),
        cancelled_unplaced_per_bank_max=node.integer(
            "cancelled_unplaced_per_bank_max", default=limits.cancelled_unplaced_per_bank_max_default,
            low=1, high=limits.cancelled_unplaced_per_bank_max_max),
        credit_policy_path=home / credit_policy if credit_policy else None,
        consumer_credit_policy_path=home / consumer_credit_policy if consumer_credit_policy else None,
        reservation_hold_s=node.integer("reservation_hold_s", default=limits.reservation_hold_s_default,
                                        low=1, high=RESERVATION_HOLD_S_MAX),
        reservations_per_buyer_bank_max=node.integer(
            "reservations_per_buyer_bank_max", default=limits.reservations_per_buyer_bank_max_default,
            low=1, high=RESERVATIONS_PER_BUYER_BANK_MAX),
        reserved_units_per_buyer_bank_max=node.integer(
            "reserved_units_per_buyer_bank_max", default=limits.reserved_units_per_buyer_bank_max_default,
            low=1, high=limits.product_stock_max),
        budget=budgets.read_budget(file),
        log=logs.read_section(file, home),
        share_party_names=node.boolean("share_party_names", default=False),
        metrics=observability.read_settings(file),
    )


__all__ = ["CONFIG_FILE", "ConfigError", "NodeConfig", "load_config"]
