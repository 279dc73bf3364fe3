"""The clearing's configuration: fedmall.toml in its home folder, environment overrides.

    [identity]  party_id = "clearing", role = "clearing", signing_key_id = "clearing/k1"
    [clearing]  listen_address = "127.0.0.1:7000", database_url = ""  (empty: clearing.db in home)
                expiry_sweep_ms = 200
                window_close_interval_s = 0  (0: windows close only when the operator says)

Overrides: FEDMALL_CLEARING_LISTEN_ADDRESS, FEDMALL_CLEARING_DATABASE_URL.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from fedmall import database

CONFIG_FILE = "fedmall.toml"


@dataclass(frozen=True, slots=True)
class ClearingConfig:
    home: Path
    listen_address: str
    database_url: str
    signing_key_id: str
    expiry_sweep_ms: int
    window_close_interval_s: int

    @classmethod
    def load(cls, home: Path) -> "ClearingConfig":
        path = home / CONFIG_FILE
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: run 'fedmall-clearing init --home {home}' first")
        document = tomllib.loads(path.read_text())
        section = document["clearing"]
        database_url = os.environ.get("FEDMALL_CLEARING_DATABASE_URL") or section.get("database_url") \
            or database.sqlite_url(home / "clearing.db")
        return cls(
            home=home,
            listen_address=os.environ.get("FEDMALL_CLEARING_LISTEN_ADDRESS") or section["listen_address"],
            database_url=database_url,
            signing_key_id=document["identity"]["signing_key_id"],
            expiry_sweep_ms=int(section.get("expiry_sweep_ms", 200)),
            window_close_interval_s=int(section.get("window_close_interval_s", 0)),
        )


def toml_document(sections: dict[str, dict[str, str | int]]) -> str:
    """Write a flat two-level TOML document (strings and ints only)."""
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        for key, value in values.items():
            rendered = str(value) if isinstance(value, int) else '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
            lines.append(f"{key} = {rendered}")
        lines.append("")
    return "\n".join(lines)
