"""config/server.properties, the file `make serve` runs with: Kafka's development values, only
settings Strom honours, and it loads."""
from __future__ import annotations

import re
from pathlib import Path

from strom.config import BROKER_CONFIGS, BrokerConfig, read_properties

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config" / "server.properties"


def test_the_shipped_file_loads_and_is_served() -> None:
    config = BrokerConfig.load(properties_file=SHIPPED, env={})
    config.check_implemented()
    assert [str(lst) for lst in config.listeners] == ["PLAINTEXT://localhost:9092"]
    assert [str(d) for d in config.data_dirs] == ["data"]
    assert config.http_port == 9644 and config["strom.http.host"] == "127.0.0.1"  # /metrics, local only


def test_the_shipped_file_has_kafkas_development_values() -> None:
    props = read_properties(SHIPPED)
    assert props["group.initial.rebalance.delay.ms"] == "0"  # Kafka's default is 3000
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["num.partitions"] == "1" and props["log.retention.hours"] == "168"
    not_honoured = [name for name in props if BROKER_CONFIGS[name].support not in ("yes", "limited")]
    assert not not_honoured, f"config/server.properties sets settings Strom does not honour: {not_honoured}"


def test_serve_without_a_file_keeps_kafkas_defaults() -> None:
    assert BrokerConfig.load(env={})["group.initial.rebalance.delay.ms"] == 3000


def test_make_serve_uses_the_shipped_file() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^serve:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe and "strom serve config/server.properties" in recipe.group(1), makefile
