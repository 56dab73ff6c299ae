"""Describing configs the way Kafka reports them (shared by CreateTopics and DescribeConfigs).

Config sources (Kafka's DescribeConfigsResponse.ConfigSource): 1 TOPIC_CONFIG,
2 DYNAMIC_BROKER_CONFIG, 3 DYNAMIC_DEFAULT_BROKER_CONFIG, 4 STATIC_BROKER_CONFIG,
5 DEFAULT_CONFIG.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from strom.config import BROKER_CONFIGS, TOPIC_CONFIGS
from strom.server.context import BrokerServices

TOPIC_CONFIG = 1
DYNAMIC_BROKER_CONFIG = 2
DYNAMIC_DEFAULT_BROKER_CONFIG = 3
STATIC_BROKER_CONFIG = 4
DEFAULT_CONFIG = 5

# Kafka's ConfigType for DescribeConfigs v3+ documentation field
_TYPE_CODES = {"boolean": 1, "string": 2, "int": 3, "short": 4, "long": 5, "double": 6, "list": 7,
               "class": 8, "password": 9}


@dataclass
class ConfigEntry:
    name: str
    value: str | None
    source: int
    read_only: bool = False
    is_sensitive: bool = False
    synonyms: list[tuple[str, str | None, int]] = field(default_factory=list)
    config_type: int = 0
    documentation: str | None = None


def render(value: Any) -> str | None:
    """A typed config value as Kafka prints it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def describe_topic_configs(broker: BrokerServices, topic: str, *,
                           overrides: Mapping[str, str] | None = None) -> list[ConfigEntry]:
    """Every topic config with its effective value and where it comes from."""
    if overrides is None:
        image_topic = broker.metadata.topic(topic)
        overrides = image_topic.configs if image_topic is not None else {}
    defaults = broker.metadata.effective_broker_config().topic_defaults()
    explicit = broker.config.explicit()
    node_dynamic, cluster_dynamic = broker.metadata.dynamic_broker_configs()
    out = []
    for name, definition in sorted(TOPIC_CONFIGS.items()):
        sensitive = definition.type == "password"
        type_code = _TYPE_CODES.get(definition.type, 0)
        doc = definition.doc
        synonyms: list[tuple[str, str | None, int]] = []
        if name in overrides:
            synonyms.append((name, overrides[name], TOPIC_CONFIG))
        for syn in definition.synonyms:
            if syn in node_dynamic:
                synonyms.append((syn, node_dynamic[syn], DYNAMIC_BROKER_CONFIG))
            if syn in cluster_dynamic:
                synonyms.append((syn, cluster_dynamic[syn], DYNAMIC_DEFAULT_BROKER_CONFIG))
            if syn in explicit:
                synonyms.append((syn, render(explicit[syn]), STATIC_BROKER_CONFIG))
        if name in overrides:
            entry = ConfigEntry(name, overrides[name], TOPIC_CONFIG)
        else:
            source = synonyms[0][2] if synonyms else DEFAULT_CONFIG
            entry = ConfigEntry(name, render(defaults.get(name)), source)
        entry.is_sensitive = sensitive
        entry.synonyms = synonyms
        entry.config_type = type_code
        entry.documentation = doc
        out.append(entry)
    return out


def describe_broker_configs(broker: BrokerServices) -> list[ConfigEntry]:
    explicit = broker.config.explicit()
    node_dynamic, cluster_dynamic = broker.metadata.dynamic_broker_configs()
    out = []
    for name, definition in sorted(BROKER_CONFIGS.items()):
        sensitive = definition.type == "password"
        if name in node_dynamic:
            value, source = node_dynamic[name], DYNAMIC_BROKER_CONFIG
        elif name in cluster_dynamic:
            value, source = cluster_dynamic[name], DYNAMIC_DEFAULT_BROKER_CONFIG
        elif name in explicit:
            value, source = render(explicit[name]), STATIC_BROKER_CONFIG
        else:
            value, source = render(broker.config.get(name)), DEFAULT_CONFIG
        out.append(ConfigEntry(name, None if sensitive else value, source, read_only=False, is_sensitive=sensitive,
                               config_type=_TYPE_CODES.get(definition.type, 0),
                               documentation=definition.doc))
    return out
