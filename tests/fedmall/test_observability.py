"""The HTTP listener beside each server (fedmall.observability): [metrics] read strictly, the
endpoints, the address file, a port already taken."""
from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter

from fedmall import observability
from fedmall.config_file import ConfigError, read_toml

from tests.support.http import get


def settings_of(tmp_path, text: str) -> observability.MetricsSettings:
    path = tmp_path / "fedmall.toml"
    path.write_text(text)
    return observability.read_settings(read_toml(path))


def test_settings__absent_means_on_loopback_on_a_free_port(tmp_path):
    assert settings_of(tmp_path, "[identity]\n") == observability.MetricsSettings(True, "127.0.0.1:0")
    assert settings_of(tmp_path, '[metrics]\nenabled = false\nlisten_address = "0.0.0.0:9100"\n') == \
        observability.MetricsSettings(False, "0.0.0.0:9100")


@pytest.mark.parametrize("text, message", [
    ('[metrics]\nenabled = "yes"\n', "[metrics].enabled must be true or false"),
    ('[metrics]\nlisten_address = "9100"\n', "[metrics].listen_address must be host:port"),
    ('[metrics]\nlisten_address = "localhost:99999"\n', "[metrics].listen_address must be host:port"),
    ('[metrics]\nlisten_address = 9100\n', "[metrics].listen_address must be a string"),
    ('metrics = 1\n', "[metrics] must be a table"),
])
def test_settings__a_wrong_value_names_the_file_and_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as refused:
        settings_of(tmp_path, text)
    assert message in str(refused.value) and str(tmp_path / "fedmall.toml") in str(refused.value)


def test_server__serves_metrics_health_readiness_and_status_and_says_where(tmp_path):
    registry = CollectorRegistry()
    Counter("fedmall_test_things", "things", registry=registry).inc(3)
    problems: list[str] = []
    server = observability.ObservabilityServer(
        listen_address="127.0.0.1:0", registry=registry, readiness=lambda: list(problems), home=tmp_path,
        status=observability.ProcessFacts(role="bank", party_id="bank-a", readiness=lambda: list(problems)))
    address = server.start()
    try:
        assert (tmp_path / observability.ADDRESS_FILE).read_text().strip() == address
        code, text = get(address, "/metrics")
        assert code == 200 and "fedmall_test_things_total 3.0" in text and "_created" not in text
        assert get(address, "/healthz") == (200, "ok\n")
        assert get(address, "/readyz") == (200, "ready\n")
        problems.append("database unreachable: gone")
        assert get(address, "/readyz") == (503, "database unreachable: gone\n")
        assert get(address, "/healthz") == (200, "ok\n")
        facts, found = observability.running_status(tmp_path)
        assert found == address and (facts["party_id"], facts["ready"]) == ("bank-a", False)
        assert facts["problems"] == ["database unreachable: gone"] and json.dumps(facts)
        assert get(address, "/elsewhere")[0] == 404
    finally:
        server.stop()
    assert not (tmp_path / observability.ADDRESS_FILE).exists()
    assert observability.running_status(tmp_path)[0] is None


def test_server__a_stale_address_file_reads_as_not_running(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (tmp_path / observability.ADDRESS_FILE).write_text(f"127.0.0.1:{port}\n")
    facts, why = observability.running_status(tmp_path)
    assert facts is None and "not running" in why and "stale" in why


def test_server__a_port_already_taken_is_a_config_error_naming_it(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = "127.0.0.1:%d" % taken.getsockname()[1]
        server = observability.ObservabilityServer(listen_address=address, registry=CollectorRegistry(),
                                                   readiness=list, status=dict, home=tmp_path)
        with pytest.raises(ConfigError, match=r"\[metrics\].listen_address .* cannot listen there"):
            server.start()


def test_server__holds_at_most_its_bound_of_requests_at_once(tmp_path):
    server = observability.ObservabilityServer(listen_address="127.0.0.1:0", registry=CollectorRegistry(),
                                               readiness=list, status=dict, home=tmp_path)
    address = server.start()
    host, port = address.rsplit(":", 1)
    stalled = [socket.create_connection((host, int(port))) for _ in range(observability.REQUESTS_IN_FLIGHT_MAX)]
    try:
        time.sleep(0.3)  # Each is accepted and holds a slot, sending nothing.
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(f"http://{address}/healthz", timeout=5).read()
        for connection in stalled:
            connection.close()
        assert wait_for(lambda: get(address, "/healthz") == (200, "ok\n"))
    finally:
        for connection in stalled:
            connection.close()
        server.stop()


def wait_for(predicate, *, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.05)
    return False
