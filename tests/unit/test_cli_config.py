"""``strom config`` without a broker: entity flags, kafka-configs' --add-config syntax, the layout."""
from __future__ import annotations

import argparse
from typing import Any

import pytest

from strom.cli import config
from strom.cli._common import CliError
from strom.cli.main import build_parser


def parse(*argv: str) -> Any:
    return build_parser().parse_args(["config", *argv])


@pytest.mark.parametrize(("argv", "entity"), [
    (["describe", "--entity-type", "topics", "--entity-name", "t"], config.Entity("topics", "t")),
    (["describe", "--entity-type", "topic", "--entity-name", "t"], config.Entity("topics", "t")),
    (["describe", "--topic", "t"], config.Entity("topics", "t")),
    (["describe", "--entity-type", "brokers"], config.Entity("brokers", None)),
    (["describe", "--entity-type", "brokers", "--entity-default"], config.Entity("brokers", "")),
    (["describe", "--entity-default"], config.Entity("brokers", "")),
    (["describe", "--broker-defaults"], config.Entity("brokers", "")),
    (["describe", "--broker", "1"], config.Entity("brokers", "1")),
    (["--alter", "--entity-type", "brokers", "--entity-name", "1", "--add-config", "a=b"],
     config.Entity("brokers", "1")),
])
def test_entity_flags(argv: list[str], entity: config.Entity) -> None:
    assert config.resolve_entity(parse(*argv)) == entity


@pytest.mark.parametrize(("argv", "message"), [
    (["describe"], "give one entity"),
    (["describe", "--topic", "t", "--broker", "1"], "both a topic and a broker"),
    (["describe", "--entity-type", "topics", "--entity-default"], "brokers only"),
    (["describe", "--entity-type", "brokers", "--entity-name", "one"], "by its id"),
    (["describe", "--entity-type", "brokers", "--entity-name", "1", "--entity-default"], "one entity name"),
])
def test_bad_entity_flags_are_usage_errors(argv: list[str], message: str) -> None:
    with pytest.raises(CliError) as info:
        config.resolve_entity(parse(*argv))
    assert info.value.exit_code == 2 and message in info.value.message


def test_alter_needs_an_entity_name_and_a_change() -> None:
    with pytest.raises(CliError, match="alter needs one entity"):
        config.check_alter_args(parse("alter", "--entity-type", "topics", "--add-config", "a=b"))
    with pytest.raises(CliError, match="nothing to alter"):
        config.check_alter_args(parse("alter", "--topic", "t"))


def test_add_config_and_delete_config_syntax() -> None:
    args = parse("alter", "--topic", "t", "--add-config", "retention.ms=5, cleanup.policy=[compact,delete]",
                 "--add-config", "x=", "--delete-config", "a,b", "--delete-config", "c")
    assert args.add_config == [("retention.ms", "5"), ("cleanup.policy", "compact,delete"), ("x", "")]
    assert args.delete_config == ["a", "b", "c"]
    with pytest.raises(argparse.ArgumentTypeError):
        config.parse_add_config("novalue")
    with pytest.raises(SystemExit):
        parse("alter", "--topic", "t", "--add-config", "=5")


def test_kafka_configs_layout() -> None:
    rows = [config.ConfigRow("retention.ms", "5", "DYNAMIC_TOPIC_CONFIG",
                             synonyms=[("retention.ms", "5", "DYNAMIC_TOPIC_CONFIG"),
                                       ("log.retention.hours", "168", "DEFAULT_CONFIG")]),
            config.ConfigRow("cleanup.policy", "delete", "DEFAULT_CONFIG"),
            config.ConfigRow("password", None, "DYNAMIC_TOPIC_CONFIG", sensitive=True)]
    topic = config.Entity("topics", "t")
    assert config.render_text([(topic, config.shown(topic, rows, False))], False) == (
        "Dynamic configs for topic t are:\n"
        "  password=null sensitive=true synonyms={}\n"
        "  retention.ms=5 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=5, "
        "DEFAULT_CONFIG:log.retention.hours=168}")
    assert [r.name for r in config.shown(topic, rows, True)] == ["cleanup.policy", "password", "retention.ms"]
    assert config.Entity("brokers", "1").header(True) == "All configs for broker 1 are:"
    assert config.Entity("brokers", "").header(False) == "Default configs for brokers in the cluster are:"
    assert config.Entity("brokers", "").done() == "Completed updating default config for brokers in the cluster."
    [entity] = config.render_json([(config.Entity("brokers", ""), rows[1:2])])
    assert entity == {"entity_type": "brokers", "entity_name": None, "configs": [
        {"name": "cleanup.policy", "value": "delete", "source": "DEFAULT_CONFIG", "sensitive": False,
         "read_only": False, "synonyms": []}]}
