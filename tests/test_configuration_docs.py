"""docs/configuration.md stays in step with the code, for every section either process reads
(a section added to clearing.config.KNOWN_KEYS or node.config.KNOWN_KEYS must be documented):

- the documented keys are exactly the keys each process reads;
- a documented default is the code's: writing it into a real home's fedmall.toml changes
  nothing the process loads; a key documented as required refuses to load without it;
- every key refuses a value of the wrong type with one line naming the file, the key and
  what was expected;
- the environment variables the configuration code reads are the ones documented.
"""
from __future__ import annotations

import copy
import json
import re
import tomllib
from pathlib import Path

import pytest

from fedmall.config_file import ConfigError

from clearing import config as clearing_config
from clearing.cli import main as clearing_main
from node import config as node_config

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "configuration.md"
ROW = re.compile(r"^\| `\[(?P<section>\w+)\]` \| `(?P<key>\w+)` \| [^|]+ \| (?P<default>[^|]+?) \|", re.MULTILINE)
SERVICES = {"fedmall-clearing": clearing_config.KNOWN_KEYS, "fedmall-node": node_config.KNOWN_KEYS}
CONFIGURATION_CODE = ("clearing/config.py", "node/config.py", "proto/fedmall/logs.py", "clearing/operator.py",
                      "clearing/console/settings.py")
ENVIRONMENT = re.compile(r"FEDMALL_[A-Z_]+[A-Z]")
REQUIRED = "required"


def documented(service: str) -> dict[tuple[str, str], str]:
    """(section, key) -> the default column, from the service's table."""
    section = DOC.read_text().split(f"\n## {service}\n", 1)[1].split("\n## ", 1)[0]
    rows = {(match["section"], match["key"]): match["default"].strip() for match in ROW.finditer(section)}
    assert rows, f"no table under ## {service}"
    return rows


def default_value(text: str):
    """The TOML value a default cell holds in backticks: `200`, `""`, `"info"`."""
    assert text.startswith("`") and text.endswith("`"), f"a default is {REQUIRED!r} or a TOML value in backticks: {text}"
    return tomllib.loads(f"value = {text[1:-1]}")["value"]


def toml_text(document: dict) -> str:
    def literal(value) -> str:
        if isinstance(value, list):
            return "[" + ", ".join(literal(item) for item in value) + "]"
        if isinstance(value, bool):
            return "true" if value else "false"
        return json.dumps(value) if isinstance(value, str) else str(value)
    return "".join(f"[{name}]\n" + "".join(f"{key} = {literal(value)}\n" for key, value in values.items()) + "\n"
                   for name, values in document.items())


@pytest.fixture(scope="module")
def homes(tmp_path_factory) -> dict[str, Path]:
    """A real clearing home (init) and a bank's home (admit), as the commands write them."""
    folder = tmp_path_factory.mktemp("homes")
    clearing_home, bank_home = folder / "clearing", folder / "bank-a"
    assert clearing_main(["--home", str(clearing_home), "init", "--listen", "127.0.0.1:7000"]) == 0
    assert clearing_main(["--home", str(clearing_home), "admit", "bank-a", "--name", "Bank A", "--currency", "EUR",
                          "--net-debit-cap", "10.00", "--liquidity", "20.00", "--node-address", "127.0.0.1:7101",
                          "--out", str(bank_home)]) == 0
    return {"fedmall-clearing": clearing_home, "fedmall-node": bank_home}


@pytest.fixture(autouse=True)
def no_environment_overrides(monkeypatch):
    for name in ("FEDMALL_CLEARING_LISTEN_ADDRESS", "FEDMALL_CLEARING_DATABASE_URL", "FEDMALL_NODE_DATABASE_URL",
                 "FEDMALL_NODE_LISTEN_ADDRESS", "FEDMALL_CLEARING_ADDRESS"):
        monkeypatch.delenv(name, raising=False)


def load(service: str, home: Path, document: dict):
    """What the service loads from home with document as its fedmall.toml."""
    (home / "fedmall.toml").write_text(toml_text(document))
    if service == "fedmall-clearing":
        return clearing_config.ClearingConfig.load(home)
    return node_config.load_config(home, environ={})


@pytest.fixture
def written(homes):
    """service -> (its home, the fedmall.toml the command wrote), put back after the test."""
    originals = {service: (home, (home / "fedmall.toml").read_text()) for service, home in homes.items()}
    yield {service: (home, tomllib.loads(text)) for service, (home, text) in originals.items()}
    for home, text in originals.values():
        (home / "fedmall.toml").write_text(text)


@pytest.mark.parametrize("service", SERVICES)
def test_documented_keys__are_every_key_the_service_reads(service):
    known = {(section, key) for section, keys in SERVICES[service].items() for key in keys}
    rows = set(documented(service))
    assert not known - rows, f"read by {service} but not in docs/configuration.md: {sorted(known - rows)}"
    assert not rows - known, f"in docs/configuration.md but not read by {service}: {sorted(rows - known)}"


@pytest.mark.parametrize("service", SERVICES)
def test_documented_defaults__are_the_code_s(service, written):
    home, document = written[service]
    for (section, key), default in documented(service).items():
        without = copy.deepcopy(document)
        without.get(section, {}).pop(key, None)
        without = {name: values for name, values in without.items() if values or name in ("identity", "clearing")}
        if default == REQUIRED:
            assert key in document.get(section, {}), f"[{section}].{key} is required, yet the command did not write it"
            with pytest.raises(ConfigError, match=re.escape(f"[{section}].{key}")):
                load(service, home, without)
            continue
        # The section stays in both: a section whose presence turns a part on ([console]) is on in both.
        with_section = copy.deepcopy(without)
        with_section.setdefault(section, {})
        with_default = copy.deepcopy(with_section)
        with_default[section][key] = default_value(default)
        assert load(service, home, with_default) == load(service, home, with_section), \
            f"[{section}].{key} = {default} is not {service}'s default"


@pytest.mark.parametrize("service", SERVICES)
def test_every_key__a_wrong_type_names_the_file_the_key_and_what_is_expected(service, written):
    home, document = written[service]
    for section, keys in SERVICES[service].items():
        for key in sorted(keys):
            wrong = copy.deepcopy(document)
            wrong.setdefault(section, {})[key] = [1, 2]
            with pytest.raises(ConfigError) as refused:
                load(service, home, wrong)
            message = str(refused.value)
            assert message.startswith(f"{home / 'fedmall.toml'}: [{section}].{key} must be "), message
            assert message.endswith("not [1, 2]"), message


def test_environment_variables__the_code_reads_are_documented():
    in_code = {name for path in CONFIGURATION_CODE for name in ENVIRONMENT.findall((ROOT / path).read_text())}
    table = DOC.read_text().split("\n## Environment\n", 1)[1].split("\n## ", 1)[0]
    in_doc = set(re.findall(r"^\| `(FEDMALL_[A-Z_]+)` \|", table, re.MULTILINE))
    assert in_code == in_doc
