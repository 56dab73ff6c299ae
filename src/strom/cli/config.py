"""``strom config describe|alter``: topic and broker configs, like Apache Kafka's ``kafka-configs.sh``.

Entities: ``--entity-type topics|brokers`` with ``--entity-name N``, or ``--entity-default`` for
the cluster-wide broker defaults; Kafka's shorthands ``--topic T``, ``--broker ID`` and
``--broker-defaults`` work too. ``describe`` without a name describes every topic (or every
broker, then the broker defaults). Named entities go through confluent_kafka's AdminClient
(DescribeConfigs with synonyms, IncrementalAlterConfigs); the broker defaults (resource name "",
which librdkafka refuses) through ``strom.client.wire`` over PLAINTEXT.

Output follows kafka-configs.sh: ``Dynamic configs for topic T are:`` (``All configs ...`` with
``--all``, ``Default configs for brokers in the cluster are:``), then one line per config,
sorted, ``  name=value sensitive=false synonyms={SOURCE:name=value, ...}``. Without ``--all`` only
the configs set dynamically on that entity are listed, as Kafka does.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from strom.cli._common import (
    CliError,
    add_format_argument,
    add_verb_aliases,
    admin_verb,
    client_config,
    error_code_name,
    from_kafka,
    with_config_suggestion,
)

RESOURCE_TOPIC, RESOURCE_BROKER = 2, 4
API_DESCRIBE_CONFIGS, API_INCREMENTAL_ALTER_CONFIGS = 32, 44
SET, DELETE = 0, 1
# Kafka's ConfigSource ids (DescribeConfigs config_source / synonym source)
SOURCES = {0: "UNKNOWN", 1: "DYNAMIC_TOPIC_CONFIG", 2: "DYNAMIC_BROKER_CONFIG", 3: "DYNAMIC_DEFAULT_BROKER_CONFIG",
           4: "STATIC_BROKER_CONFIG", 5: "DEFAULT_CONFIG", 6: "DYNAMIC_BROKER_LOGGER_CONFIG",
           7: "CLIENT_METRICS_CONFIG", 8: "GROUP_CONFIG"}
_ENTITY_TYPES = {"topics": "topics", "topic": "topics", "brokers": "brokers", "broker": "brokers"}


def register(subparsers: Any) -> None:
    config = subparsers.add_parser("config", help="describe and alter topic and broker configs",
                                   description="Topic and broker configs (like kafka-configs.sh).")
    verbs = config.add_subparsers(dest="verb", metavar="VERB", required=True)

    p = admin_verb(verbs, "describe", "show an entity's configs (dynamic ones, or --all)")
    _entity_arguments(p)
    p.add_argument("--all", action="store_true", help="every config with its value and source, not only dynamic ones")
    add_format_argument(p)
    p.set_defaults(func=run_describe, validate=resolve_entity)

    p = admin_verb(verbs, "alter", "set or remove configs of a topic, a broker or the broker defaults")
    _entity_arguments(p)
    p.add_argument("--add-config", type=parse_add_config, action="extend", default=[], metavar="K=V[,K=V...]",
                   help="set configs; a value with commas goes in brackets: k=[a,b] (repeatable)")
    p.add_argument("--delete-config", type=parse_delete_config, action="extend", default=[], metavar="K[,K...]",
                   help="remove configs, back to the inherited value (repeatable)")
    p.set_defaults(func=run_alter, validate=check_alter_args)
    add_verb_aliases(config)


def _entity_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--entity-type", type=entity_type, metavar="topics|brokers", help="the kind of entity")
    p.add_argument("--entity-name", metavar="NAME", help="topic name or broker id")
    p.add_argument("--entity-default", action="store_true", help="the cluster-wide broker defaults (brokers only)")
    p.add_argument("--topic", metavar="T", help="shorthand for --entity-type topics --entity-name T")
    p.add_argument("--broker", metavar="ID", help="shorthand for --entity-type brokers --entity-name ID")
    p.add_argument("--broker-defaults", action="store_true",
                   help="shorthand for --entity-type brokers --entity-default")


# ---------------------------------------------------------------------------- arguments
def entity_type(text: str) -> str:
    try:
        return _ENTITY_TYPES[text.strip().lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(f"expected topics or brokers, got '{text}'") from None


def _split_top_level(text: str) -> list[str]:
    """Split at commas outside square brackets (kafka-configs' ``k=[a,b],k2=v``)."""
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def parse_add_config(text: str) -> list[tuple[str, str]]:
    """argparse type for ``k=v,k2=[a,b]``: a list of (name, value); brackets are removed."""
    pairs = []
    for item in _split_top_level(text):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise argparse.ArgumentTypeError(f"expected key=value, got '{item}'")
        value = value.strip()
        if value.startswith("[") and value.endswith("]"):
            value = value[1:-1]
        pairs.append((key.strip(), value))
    if not pairs:
        raise argparse.ArgumentTypeError("expected key=value[,key=value...]")
    return pairs


def parse_delete_config(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected a config name")
    return names


@dataclass(frozen=True)
class Entity:
    """``kind`` is "topics" or "brokers"; ``name`` None for every entity of the kind; "" for the broker defaults."""

    kind: str
    name: str | None

    @property
    def is_default(self) -> bool:
        return self.name == ""

    def header(self, all_configs: bool) -> str:
        if self.is_default:
            return "Default configs for brokers in the cluster are:"
        singular = "topic" if self.kind == "topics" else "broker"
        return f"{'All' if all_configs else 'Dynamic'} configs for {singular} {self.name} are:"

    def done(self) -> str:
        if self.is_default:
            return "Completed updating default config for brokers in the cluster."
        return f"Completed updating config for {'topic' if self.kind == 'topics' else 'broker'} {self.name}."


def resolve_entity(args: argparse.Namespace) -> Entity:
    """The entity the flags name; a usage error (exit 2) for contradictory or missing flags."""
    kinds = {k for k, given in (("topics", args.topic), ("brokers", args.broker or args.broker_defaults)) if given}
    if args.entity_type:
        kinds.add(args.entity_type)
    if args.entity_default and not kinds:
        kinds.add("brokers")
    if len(kinds) != 1:
        raise CliError("give one entity: --entity-type topics|brokers (or --topic, --broker, --broker-defaults)"
                       if not kinds else "the flags name both a topic and a broker", exit_code=2)
    kind = kinds.pop()
    names = [n for n in (args.entity_name, args.topic, args.broker) if n is not None]
    if args.entity_default or args.broker_defaults:
        names.append("")
    if len(set(names)) > 1:
        raise CliError("give one entity name (--entity-name, or --entity-default for the broker defaults)",
                       exit_code=2)
    name = names[0] if names else None
    if kind == "brokers" and name and not name.isdigit():
        raise CliError(f"a broker is named by its id (a number), not '{name}'", exit_code=2)
    if kind == "topics" and name == "":
        raise CliError("--entity-default applies to brokers only", exit_code=2)
    return Entity(kind, name)


# ---------------------------------------------------------------------------- model and rendering
@dataclass
class ConfigRow:
    name: str
    value: str | None
    source: str
    sensitive: bool = False
    read_only: bool = False
    synonyms: list[tuple[str, str | None, str]] = field(default_factory=list)  # (name, value, source)

    def line(self) -> str:
        synonyms = ", ".join(f"{source}:{name}={_null(value)}" for name, value, source in self.synonyms)
        return f"  {self.name}={_null(self.value)} sensitive={str(self.sensitive).lower()} synonyms={{{synonyms}}}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "source": self.source, "sensitive": self.sensitive,
                "read_only": self.read_only,
                "synonyms": [{"name": n, "value": v, "source": s} for n, v, s in self.synonyms]}


def _null(value: str | None) -> str:
    return "null" if value is None else value


def dynamic_source(entity: Entity) -> str:
    if entity.kind == "topics":
        return "DYNAMIC_TOPIC_CONFIG"
    return "DYNAMIC_DEFAULT_BROKER_CONFIG" if entity.is_default else "DYNAMIC_BROKER_CONFIG"


def shown(entity: Entity, rows: Sequence[ConfigRow], all_configs: bool) -> list[ConfigRow]:
    """kafka-configs' selection: every row with ``--all``, else those set dynamically on the entity; by name."""
    keep = [r for r in rows if all_configs or r.source == dynamic_source(entity)]
    return sorted(keep, key=lambda r: r.name)


def render_text(described: Sequence[tuple[Entity, list[ConfigRow]]], all_configs: bool) -> str:
    lines: list[str] = []
    for entity, rows in described:
        lines.append(entity.header(all_configs))
        lines.extend(r.line() for r in rows)
    return "\n".join(lines)


def render_json(described: Sequence[tuple[Entity, list[ConfigRow]]]) -> list[dict[str, Any]]:
    return [{"entity_type": e.kind, "entity_name": None if e.is_default else e.name,
             "configs": [r.to_json() for r in rows]} for e, rows in described]


def _source_name(source: Any) -> str:
    value = getattr(source, "value", source)
    return SOURCES.get(int(value), f"UNKNOWN_{value}")


# ---------------------------------------------------------------------------- clients
def _admin(args: argparse.Namespace) -> Any:
    from confluent_kafka.admin import AdminClient  # noqa: PLC0415 - lazy: keeps `strom --help` fast

    return AdminClient(client_config(args))


def _wire(args: argparse.Namespace) -> Any:
    from strom.cli.group import wire_client  # noqa: PLC0415 - the same small PLAINTEXT client

    return wire_client(client_config(args), args.timeout_ms / 1000)


def _result(future: Any, timeout_s: float) -> Any:
    from confluent_kafka import KafkaException  # noqa: PLC0415

    try:
        return future.result(timeout=timeout_s)
    except KafkaException as exc:
        raise from_kafka(exc) from None
    except TimeoutError:
        raise CliError(f"no answer within {timeout_s:g} s", name="REQUEST_TIMED_OUT") from None


def _entities(admin: Any, entity: Entity, timeout_s: float) -> list[Entity]:
    """The named entity, or every topic / every broker and the broker defaults."""
    from confluent_kafka import KafkaException  # noqa: PLC0415

    if entity.name is not None:
        return [entity]
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise from_kafka(exc) from None
    if entity.kind == "topics":
        return [Entity("topics", t) for t in sorted(metadata.topics)]
    return [Entity("brokers", str(b)) for b in sorted(metadata.brokers)] + [Entity("brokers", "")]


def describe_named(admin: Any, entity: Entity, timeout_s: float) -> list[ConfigRow]:
    from confluent_kafka.admin import ConfigResource, ResourceType  # noqa: PLC0415

    kind = ResourceType.TOPIC if entity.kind == "topics" else ResourceType.BROKER
    resource = ConfigResource(kind, entity.name)
    futures = admin.describe_configs([resource], request_timeout=timeout_s)
    try:
        entries = _result(next(iter(futures.values())), timeout_s)
    except CliError as exc:
        if exc.name == "UNKNOWN_TOPIC_OR_PARTITION":
            raise CliError(f"Topic '{entity.name}' does not exist.", name=exc.name) from None
        raise
    return [ConfigRow(name, e.value, _source_name(e.source), bool(e.is_sensitive), bool(e.is_read_only),
                      [(s.name, s.value, _source_name(s.source)) for s in (e.synonyms or {}).values()])
            for name, e in entries.items()]


def describe_default(args: argparse.Namespace) -> list[ConfigRow]:
    request = {"resources": [{"resource_type": RESOURCE_BROKER, "resource_name": "", "configuration_keys": None}],
               "include_synonyms": True, "include_documentation": False}
    response = _wire(args).any_broker(API_DESCRIBE_CONFIGS, 4, request)
    [result] = response.results
    _check(result.error_code, result.error_message, "cannot describe the broker defaults")
    return [ConfigRow(c.name, c.value, _source_name(c.config_source), bool(c.is_sensitive), bool(c.read_only),
                      [(s.name, s.value, _source_name(s.source)) for s in c.synonyms]) for c in result.configs]


def _check(code: int, message: str | None, what: str) -> None:
    if code:
        raise CliError(message or what, name=error_code_name(code))


# ---------------------------------------------------------------------------- commands
def run_describe(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    out = out or sys.stdout
    timeout_s = args.timeout_ms / 1000
    entity = resolve_entity(args)
    admin = _admin(args) if not entity.is_default else None
    described = []
    for e in _entities(admin, entity, timeout_s) if admin is not None else [entity]:
        rows = describe_default(args) if e.is_default else describe_named(admin, e, timeout_s)
        described.append((e, shown(e, rows, args.all)))
    if args.format == "json":
        print(json.dumps(render_json(described), indent=2), file=out)
    elif described:
        print(render_text(described, args.all), file=out)
    return 0


def check_alter_args(args: argparse.Namespace) -> Entity:
    """The entity to alter; usage errors (exit 2) for a missing entity or change."""
    entity = resolve_entity(args)
    if entity.name is None:
        raise CliError("alter needs one entity: --entity-name N or --entity-default", exit_code=2)
    if not args.add_config and not args.delete_config:
        raise CliError("nothing to alter: give --add-config or --delete-config", exit_code=2)
    return entity


def run_alter(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    out = out or sys.stdout
    entity = check_alter_args(args)
    names = [k for k, _ in args.add_config] + list(args.delete_config)
    try:
        if entity.is_default:
            alter_default(args)
        else:
            alter_named(args, entity)
    except CliError as exc:
        raise with_config_suggestion(exc, names, topic=entity.kind == "topics") from None
    print(entity.done(), file=out)
    return 0


def alter_named(args: argparse.Namespace, entity: Entity) -> None:
    from confluent_kafka.admin import (  # noqa: PLC0415
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
        ResourceType,
    )

    timeout_s = args.timeout_ms / 1000
    entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in args.add_config]
    entries += [ConfigEntry(k, None, incremental_operation=AlterConfigOpType.DELETE) for k in args.delete_config]
    kind = ResourceType.TOPIC if entity.kind == "topics" else ResourceType.BROKER
    admin = _admin(args)  # keep a reference while the future runs
    futures = admin.incremental_alter_configs([ConfigResource(kind, entity.name, incremental_configs=entries)],
                                              request_timeout=timeout_s)
    try:
        _result(next(iter(futures.values())), timeout_s)
    except CliError as exc:
        if exc.name == "UNKNOWN_TOPIC_OR_PARTITION":
            raise CliError(f"Topic '{entity.name}' does not exist.", name=exc.name) from None
        raise


def alter_default(args: argparse.Namespace) -> None:
    configs = [{"name": k, "config_operation": SET, "value": v} for k, v in args.add_config]
    configs += [{"name": k, "config_operation": DELETE, "value": None} for k in args.delete_config]
    request = {"resources": [{"resource_type": RESOURCE_BROKER, "resource_name": "", "configs": configs}],
               "validate_only": False}
    response = _wire(args).any_broker(API_INCREMENTAL_ALTER_CONFIGS, 1, request)
    [result] = response.responses
    _check(result.error_code, result.error_message, "cannot alter the broker defaults")
