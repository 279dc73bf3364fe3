import pytest

from node.config import ConfigError, load_config


def test_load_config__reads_bundle_and_defaults_database_to_home(consortium):
    home = consortium.bundle("bank-a", clearing_address="127.0.0.1:7000", listen_address="127.0.0.1:7101")
    config = load_config(home, environ={})
    assert config.bank_id == "bank-a"
    assert config.signing_key_id == "bank-a/k1"
    assert config.clearing_address == "127.0.0.1:7000"
    assert config.clearing_signing_key_id == "clearing/k1"
    assert config.listen_address == "127.0.0.1:7101"
    assert config.database_url == f"sqlite:///{home / 'node.db'}"
    assert config.transfer_expiry_ms == 30_000


def test_load_config__environment_overrides(consortium):
    home = consortium.bundle("bank-a")
    config = load_config(home, environ={
        "FEDMALL_NODE_DATABASE_URL": "sqlite:///x.db", "FEDMALL_NODE_LISTEN_ADDRESS": "0.0.0.0:9",
        "FEDMALL_CLEARING_ADDRESS": "clearing:7000"})
    assert (config.database_url, config.listen_address, config.clearing_address) == (
        "sqlite:///x.db", "0.0.0.0:9", "clearing:7000")


def test_load_config__missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path, environ={})


def test_load_config__missing_section_is_a_config_error(tmp_path):
    (tmp_path / "fedmall.toml").write_text('[identity]\nparty_id = "x"\nsigning_key_id = "x/k1"\n')
    with pytest.raises(ConfigError, match=r"\[clearing\]"):
        load_config(tmp_path, environ={})
