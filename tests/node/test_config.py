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


def test_load_config__credit_policy_is_a_path_in_home_or_none(consortium):
    home = consortium.bundle("bank-a")
    assert load_config(home, environ={}).credit_policy_path is None
    with (home / "fedmall.toml").open("a") as config:
        config.write('credit_policy = "credit.toml"\n')
    assert load_config(home, environ={}).credit_policy_path == home / "credit.toml"


def test_load_config__reservation_hold_and_bounds_default_and_are_read_in_range(consortium):
    from node import limits

    home = consortium.bundle("bank-a")
    config = load_config(home, environ={})
    assert (config.reservation_hold_s, config.reservations_per_buyer_bank_max,
            config.reserved_units_per_buyer_bank_max) == (
        limits.reservation_hold_s_default, limits.reservations_per_buyer_bank_max_default,
        limits.reserved_units_per_buyer_bank_max_default)
    text = (home / "fedmall.toml").read_text()   # [node] is the file's last section.
    (home / "fedmall.toml").write_text(text + "reservation_hold_s = 3600\nreservations_per_buyer_bank_max = 20\n"
                                              "reserved_units_per_buyer_bank_max = 500\n")
    config = load_config(home, environ={})
    assert (config.reservation_hold_s, config.reservations_per_buyer_bank_max,
            config.reserved_units_per_buyer_bank_max) == (3_600, 20, 500)
    (home / "fedmall.toml").write_text(text + "reservation_hold_s = 0\n")
    with pytest.raises(ConfigError, match="reservation_hold_s"):
        load_config(home, environ={})


def test_load_config__share_party_names_is_off_unless_set_and_must_be_a_boolean(consortium):
    home = consortium.bundle("bank-a")
    assert load_config(home, environ={}).share_party_names is False
    text = (home / "fedmall.toml").read_text()   # [node] is the file's last section.
    (home / "fedmall.toml").write_text(text + "share_party_names = true\n")
    assert load_config(home, environ={}).share_party_names is True
    (home / "fedmall.toml").write_text(text + 'share_party_names = "yes"\n')
    with pytest.raises(ConfigError, match="share_party_names must be true or false"):
        load_config(home, environ={})


def test_build_node__a_bad_credit_policy_stops_the_start_with_every_problem(consortium):
    from node.server import build_node

    home = consortium.bundle("bank-a")
    (home / "credit.toml").write_text('name = "x"\ncurrency = "EUR"\n')
    with (home / "fedmall.toml").open("a") as config:
        config.write('credit_policy = "credit.toml"\n')
    with pytest.raises(ConfigError) as refused:
        build_node(load_config(home, environ={}))
    assert str(refused.value).startswith(f"[node].credit_policy: {home / 'credit.toml'}: 14 problem(s):\n")
    assert "\n  missing table [knockouts]\n" in str(refused.value)
