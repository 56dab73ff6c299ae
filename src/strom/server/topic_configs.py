"""Describing configs the way Kafka reports them (shared by CreateTopics and DescribeConfigs).

Config sources (Kafka's DescribeConfigsResponse.ConfigSource): 1 TOPIC_CONFIG,
2 DYNAMIC_BROKER_CONFIG, 3 DYNAMIC_DEFAULT_BROKER_CONFIG, 4 STATIC_BROKER_CONFIG,
5 DEFAULT_CONFIG.

Synonyms follow Kafka's ConfigHelper: for a broker setting, its synonym names
(``strom.config.broker_config_synonyms``: ``log.retention.ms`` <- ms, minutes, hours)
are looked up level by level: this node's dynamic values, the cluster-wide dynamic
values, the values given at start-up (properties file, environment, ``--override``,
``--listen``, ``--data-dir``), then the table defaults that are not null.  Leading
entries named otherwise are dropped (``log.retention.hours`` never lists a
``log.retention.ms`` that outranks it; and ``log.retention.ms`` set by nobody lists
nothing even when ``log.retention.hours`` is set, as in Kafka).  The entry's source
is the first synonym's (DEFAULT_CONFIG when there is none).  A topic setting lists
its own override first, then the synonyms of its first broker synonym.
"""
from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from strom.config import BROKER_CONFIGS, DYNAMIC_BROKER_CONFIGS, TOPIC_CONFIGS, broker_config_synonyms
from strom.server.context import BrokerServices

TOPIC_CONFIG = 1
DYNAMIC_BROKER_CONFIG = 2
DYNAMIC_DEFAULT_BROKER_CONFIG = 3
STATIC_BROKER_CONFIG = 4
DEFAULT_CONFIG = 5

# Kafka's ConfigType for DescribeConfigs v3+ documentation field
_TYPE_CODES = {"boolean": 1, "string": 2, "int": 3, "short": 4, "long": 5, "double": 6, "list": 7,
               "class": 8, "password": 9}

Synonym = tuple[str, str | None, int]  # (name, value, source)
Levels = list[tuple[Mapping[str, str | None], int]]  # (values by name, source), highest precedence first


@dataclass
class ConfigEntry:
    name: str
    value: str | None
    source: int
    read_only: bool = False
    is_sensitive: bool = False
    synonyms: list[Synonym] = field(default_factory=list)
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


# The table defaults that Kafka lists as DEFAULT_CONFIG synonyms (null defaults are not listed).
_STATIC_DEFAULTS: dict[str, str | None] = {
    name: render(d.default) for name, d in BROKER_CONFIGS.items() if d.default is not None}


def _levels(broker: BrokerServices, node_dynamic: Mapping[str, str], cluster_dynamic: Mapping[str, str]) -> Levels:
    static = {name: render(value) for name, value in broker.config.explicit().items()}
    return [(node_dynamic, DYNAMIC_BROKER_CONFIG), (cluster_dynamic, DYNAMIC_DEFAULT_BROKER_CONFIG),
            (static, STATIC_BROKER_CONFIG), (_STATIC_DEFAULTS, DEFAULT_CONFIG)]


def config_synonyms(name: str, levels: Levels, *, sensitive: bool = False) -> list[Synonym]:
    """Kafka's ConfigHelper.configSynonyms: every value of ``name``'s synonyms, level by level (each
    level in synonym order), without the leading entries of other names. Sensitive values are null."""
    names = broker_config_synonyms(name)
    found = [(syn, None if sensitive else values[syn], source)
             for values, source in levels for syn in names if syn in values]
    return list(itertools.dropwhile(lambda s: s[0] != name, found))


def describe_topic_configs(broker: BrokerServices, topic: str, *,
                           overrides: Mapping[str, str] | None = None) -> list[ConfigEntry]:
    """Every topic config with its effective value and where it comes from."""
    if overrides is None:
        image_topic = broker.metadata.topic(topic)
        overrides = image_topic.configs if image_topic is not None else {}
    defaults = broker.metadata.effective_broker_config().topic_defaults()
    node_dynamic, cluster_dynamic = broker.metadata.dynamic_broker_configs()
    levels = _levels(broker, node_dynamic, cluster_dynamic)
    out = []
    for name, definition in sorted(TOPIC_CONFIGS.items()):
        sensitive = definition.type == "password"
        synonyms = config_synonyms(definition.synonyms[0], levels, sensitive=sensitive) if definition.synonyms else []
        if name in overrides:
            value = overrides[name]
            synonyms.insert(0, (name, None if sensitive else value, TOPIC_CONFIG))
        else:
            value = render(defaults.get(name))
        out.append(ConfigEntry(name, None if sensitive else value, synonyms[0][2] if synonyms else DEFAULT_CONFIG,
                               is_sensitive=sensitive, synonyms=synonyms,
                               config_type=_TYPE_CODES.get(definition.type, 0), documentation=definition.doc))
    return out


def describe_broker_configs(broker: BrokerServices, *, cluster_default: bool = False) -> list[ConfigEntry]:
    """This node's broker configs, every one with the highest-ranked value given under its own name
    (null when there is none: an unset ``log.retention.ms`` shows null although ``log.retention.hours``
    gives the retention, as in Kafka), or with ``cluster_default``
    the cluster-wide dynamic defaults only (DescribeConfigs on resource name ""), whose synonyms are
    only the cluster-wide dynamic ones, as in Kafka. ``read_only`` is true for every setting that
    cannot change at runtime (``strom.config.DYNAMIC_BROKER_CONFIGS``)."""
    node_dynamic, cluster_dynamic = broker.metadata.dynamic_broker_configs()
    levels = _levels(broker, node_dynamic, cluster_dynamic)
    names = sorted(cluster_dynamic) if cluster_default else sorted(BROKER_CONFIGS)
    out = []
    for name in names:
        definition = BROKER_CONFIGS[name]
        sensitive = definition.type == "password"
        synonyms = config_synonyms(name, levels, sensitive=sensitive)
        if cluster_default:
            synonyms = [s for s in synonyms if s[2] == DYNAMIC_DEFAULT_BROKER_CONFIG]
            value: str | None = cluster_dynamic[name]
        else:
            value = synonyms[0][1] if synonyms else None
        out.append(ConfigEntry(name, None if sensitive else value, synonyms[0][2] if synonyms else DEFAULT_CONFIG,
                               read_only=name not in DYNAMIC_BROKER_CONFIGS, is_sensitive=sensitive,
                               synonyms=synonyms, config_type=_TYPE_CODES.get(definition.type, 0),
                               documentation=definition.doc))
    return out
