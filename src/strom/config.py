"""Broker and topic configuration with Apache Kafka's property names (layer L0, stdlib only).

Two tables of :class:`ConfigDef` describe every setting Strom accepts:

* ``BROKER_CONFIGS``: what one node reads at start-up (``server.properties``,
  ``STROM_``/``KAFKA_`` environment variables, ``--override key=value``).
* ``TOPIC_CONFIGS``: the per-topic settings of CreateTopics / IncrementalAlterConfigs,
  each naming the broker setting(s) that supply its default (Kafka's "synonyms").

Values are typed the way Kafka's ``ConfigDef`` types them (``int`` 32-bit, ``long``
64-bit, ``short`` 16-bit, ``double``, ``boolean`` "true"/"false" in any case,
``string`` trimmed, ``list`` comma-separated and trimmed, ``password`` hidden when
printed, ``class`` a dotted name that Strom never loads).

Differences from Apache Kafka (also in docs/configuration.md):

* Unknown names are an error (Kafka only logs a warning), so typos fail fast.
* Defaults that differ: ``node.id`` 1 (Kafka: required), ``process.roles``
  "broker,controller" (Kafka: required), ``listeners`` "PLAINTEXT://localhost:9092"
  (Kafka: "PLAINTEXT://:9092"), ``log.dir`` "./data" (Kafka: /tmp/kafka-logs),
  ``offsets.topic.replication.factor`` 1 (Kafka: 3).
* ``segment.bytes``/``log.segment.bytes`` keep Kafka 4's minimum of 1 MiB. Tests that
  need tiny segments use Kafka's own test-only topic setting ``internal.segment.bytes``
  (no 1 MiB floor, at least 14 bytes) or its Strom broker-wide default
  ``strom.internal.segment.bytes``; see :func:`effective_segment_bytes`.
* Strom-only settings carry a ``strom.`` prefix.
* ``listeners`` and ``listener.security.protocol.map`` cannot change at runtime (Kafka: per-broker
  dynamic); see :data:`DYNAMIC_BROKER_CONFIGS`.

Nothing here does I/O except :meth:`BrokerConfig.load` reading the properties file.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "BROKER_CONFIGS",
    "DYNAMIC_BROKER_CONFIGS",
    "TOPIC_CONFIGS",
    "BrokerConfig",
    "check_topic_configs_implemented",
    "ConfigDef",
    "ConfigError",
    "Listener",
    "OneOf",
    "Password",
    "QuorumVoter",
    "Range",
    "broker_config_synonyms",
    "describe_broker_config",
    "describe_topic_config",
    "effective_segment_bytes",
    "parse_host_port",
    "parse_listener",
    "parse_properties",
    "property_name_from_env",
    "read_properties",
    "validate_topic_configs",
]

INT_MAX = 2**31 - 1
LONG_MAX = 2**63 - 1
_TYPE_BOUNDS = {"short": (-(2**15), 2**15 - 1), "int": (-(2**31), INT_MAX), "long": (-(2**63), LONG_MAX)}
TYPES = frozenset(["int", "long", "short", "double", "boolean", "string", "list", "password", "class"])
#: Kafka's "Dynamic Update Mode" words that Strom uses (Kafka also has "per-broker", for listener
#: and SSL settings, none of which Strom can change while running).
UPDATE_MODES = frozenset(["read-only", "cluster-wide"])


class ConfigError(Exception):
    """A bad configuration. The message always names the offending setting and, when known,
    where the value came from ("(from --override)", "(from environment variable KAFKA_X)",
    "(from server.properties line 3)"). ``setting`` and ``source`` carry the same facts.

    Handlers answer it with Kafka's INVALID_CONFIG (40). (It does not subclass
    ``strom.errors.KafkaError``: the layer contract keeps strom.config independent of strom.errors.)
    """

    def __init__(self, message: str, *, setting: str | None = None, source: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.setting = setting
        self.source = source


class Password:
    """A secret value: prints as ``[hidden]``; the text is in ``.value``."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "[hidden]"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Password) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)


# ---------------------------------------------------------------------------- validators
@dataclass(frozen=True)
class Range:
    """Kafka's ``Range.atLeast``/``between``: inclusive bounds, either may be open."""

    min: float | None = None
    max: float | None = None

    def __call__(self, value: Any) -> None:
        if value is None:
            return
        if self.min is not None and value < self.min:
            raise ValueError(f"must be at least {self.min}" if self.max is None
                             else f"must be between {self.min} and {self.max}")
        if self.max is not None and value > self.max:
            raise ValueError(f"must be at most {self.max}" if self.min is None
                             else f"must be between {self.min} and {self.max}")

    def __str__(self) -> str:
        if self.max is None:
            return f"[{self.min},...]"
        if self.min is None:
            return f"[...,{self.max}]"
        return f"[{self.min},...,{self.max}]"


@dataclass(frozen=True)
class OneOf:
    """Kafka's ``ValidString.in`` / ``ValidList.in``: the value (each element of a list) is one
    of ``values``. ``case_sensitive=False`` accepts any case (Kafka's ``CaseInsensitiveValidString``)."""

    values: tuple[str, ...]
    case_sensitive: bool = True

    def __call__(self, value: Any) -> None:
        if value is None:
            return
        items = value if isinstance(value, list) else [value]
        allowed = self.values if self.case_sensitive else tuple(v.lower() for v in self.values)
        for item in items:
            probe = item if self.case_sensitive else str(item).lower()
            if probe not in allowed:
                raise ValueError(f"'{item}' is not one of {', '.join(self.values)}")

    def __str__(self) -> str:
        return "[" + ", ".join(self.values) + "]"


Validator = Callable[[Any], None]


@dataclass(frozen=True)
class ConfigDef:
    """One setting: Kafka's name, type, default and documentation, plus what Strom does with it.

    ``synonyms`` (topic settings only): the broker settings that supply the topic's default, in
    Kafka's order of precedence (``retention.ms`` <- ``log.retention.ms``, ``log.retention.minutes``,
    ``log.retention.hours``). ``kafka_default`` is set only where Strom's default differs.
    ``support`` is "yes" (honoured), "ignored" (accepted and validated, has no effect by design),
    "planned" (accepted and validated, no effect until the feature named in ``note`` lands) or
    "limited" (see ``note``; values Strom cannot serve yet are refused, see
    :meth:`BrokerConfig.check_implemented` and :func:`check_topic_configs_implemented`). ``internal`` settings are not listed by DescribeConfigs.
    ``update_mode`` (broker settings only) is Kafka's "Dynamic Update Mode": "read-only" (start-up
    only) or "cluster-wide" (IncrementalAlterConfigs may change it, per broker or for all brokers);
    it is set from :data:`DYNAMIC_BROKER_CONFIGS`, never by hand.
    """

    name: str
    type: str
    default: Any
    doc: str
    validator: Validator | None = None
    importance: str = "medium"
    synonyms: tuple[str, ...] = ()
    kafka_default: Any = None
    default_differs: bool = False
    support: str = "yes"
    note: str = ""
    internal: bool = False
    update_mode: str = "read-only"

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"{self.name}: unknown config type {self.type!r}")
        if self.update_mode not in UPDATE_MODES:
            raise ValueError(f"{self.name}: unknown update mode {self.update_mode!r}")

    @property
    def nullable(self) -> bool:
        return self.default is None

    def parse(self, value: Any) -> Any:
        """Turn a raw value (text, or an already typed Python value) into this setting's type and
        validate it. Raises ValueError with the reason (callers add the setting name)."""
        typed = _parse_type(self.type, value, nullable=self.nullable)
        if self.validator is not None and typed is not None:
            self.validator(typed)
        return typed


_INT_RE = re.compile(r"[+-]?[0-9]+")
_COMMA_RE = re.compile(r"\s*,\s*")


def _parse_type(kind: str, value: Any, *, nullable: bool) -> Any:
    if value is None:
        if nullable:
            return None
        raise ValueError("a value is required")
    if isinstance(value, str):
        text = value.strip()
        if text == "" and nullable and kind not in ("string", "list", "password"):
            return None
        if kind in _TYPE_BOUNDS:
            if not _INT_RE.fullmatch(text):
                raise ValueError(f"expected a whole number ({kind})")
            number = int(text)
        elif kind == "double":
            try:
                number_f = float(text)
            except ValueError:
                raise ValueError("expected a number (double)") from None
            if math.isnan(number_f):
                raise ValueError("expected a number (double)")
            return number_f
        elif kind == "boolean":
            lowered = text.lower()
            if lowered not in ("true", "false"):
                raise ValueError("expected true or false")
            return lowered == "true"
        elif kind == "list":
            return [] if text == "" else _COMMA_RE.split(text)
        elif kind == "password":
            return Password(text)
        else:  # string, class
            return text
    else:
        if kind in _TYPE_BOUNDS:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"expected a whole number ({kind})")
            number = value
        elif kind == "double":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError("expected a number (double)")
            return float(value)
        elif kind == "boolean":
            if not isinstance(value, bool):
                raise ValueError("expected true or false")
            return value
        elif kind == "list":
            if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
                return [v.strip() for v in value]
            raise ValueError("expected a comma-separated list")
        elif kind == "password":
            return value if isinstance(value, Password) else Password(str(value))
        else:
            if isinstance(value, os.PathLike):
                return os.fspath(value)
            raise ValueError(f"expected text ({kind})")
    low, high = _TYPE_BOUNDS[kind]
    if not low <= number <= high:
        raise ValueError(f"out of range for a {kind} ({low}..{high})")
    return number


def _format(value: Any) -> str:
    """A typed value the way Kafka prints it in properties and DescribeConfigs."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(value)
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    return str(value)


# ---------------------------------------------------------------------------- listeners
@dataclass(frozen=True)
class Listener:
    """One entry of ``listeners``/``advertised.listeners``: ``NAME://host:port``.

    ``name`` is upper-cased as Kafka does; ``host`` "" means all interfaces; port 0 means an
    ephemeral port chosen at bind time (the node advertises the bound port)."""

    name: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.name}://{host}:{self.port}"


@dataclass(frozen=True)
class QuorumVoter:
    """One entry of ``controller.quorum.voters``: ``id@host:port``."""

    id: int
    host: str
    port: int


_LISTENER_RE = re.compile(r"^([A-Za-z0-9_.\-]+)://(\[[0-9A-Za-z:%.\-]*\]|[0-9A-Za-z%._\-]*):([0-9]+)$")
_HOST_PORT_RE = re.compile(r"^(\[[0-9A-Za-z:%.\-]*\]|[0-9A-Za-z%._\-]*):([0-9]+)$")


def _check_port(port_text: str, what: str) -> int:
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} of '{what}' is out of range 0..65535")
    return port


def parse_listener(text: str) -> Listener:
    """Parse ``NAME://host:port`` (IPv6 hosts in brackets, empty host = all interfaces)."""
    match = _LISTENER_RE.match(text.strip())
    if not match:
        raise ValueError(f"'{text}' is not a listener of the form NAME://host:port")
    name, host, port = match.groups()
    return Listener(name.upper(), host.strip("[]"), _check_port(port, text))


def parse_host_port(text: str) -> tuple[str, int]:
    """Parse ``host:port`` (IPv6 hosts in brackets)."""
    match = _HOST_PORT_RE.match(text.strip())
    if not match:
        raise ValueError(f"'{text}' is not of the form host:port")
    return match.group(1).strip("[]"), _check_port(match.group(2), text)


def _listeners_validator(value: list[str]) -> None:
    seen: set[str] = set()
    for item in value:
        listener = parse_listener(item)
        if listener.name in seen:
            raise ValueError(f"listener name {listener.name} appears more than once")
        seen.add(listener.name)


def _voters_validator(value: list[str]) -> None:
    for item in value:
        _parse_voter(item)


def _parse_voter(item: str) -> QuorumVoter:
    node, sep, address = item.partition("@")
    if not sep or not _INT_RE.fullmatch(node.strip()):
        raise ValueError(f"'{item}' is not a voter of the form id@host:port")
    try:
        host, port = parse_host_port(address)
    except ValueError as exc:
        raise ValueError(f"'{item}' is not a voter of the form id@host:port ({exc})") from None
    return QuorumVoter(int(node), host, port)


def _host_ports_validator(value: list[str]) -> None:
    for item in value:
        parse_host_port(item)


def _protocol_map_validator(value: list[str]) -> None:
    for item in value:
        name, sep, protocol = item.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"'{item}' is not of the form LISTENER_NAME:SECURITY_PROTOCOL")
        OneOf(_SECURITY_PROTOCOLS, case_sensitive=False)(protocol.strip())


def _non_empty_unique(value: list[str]) -> None:
    if not value or any(not v for v in value):
        raise ValueError("must name at least one directory, without empty entries")
    if len(set(value)) != len(value):
        raise ValueError("must not name a directory twice")


def _roles_validator(value: list[str]) -> None:
    if not value:
        raise ValueError("must contain broker, controller or both")
    OneOf(("broker", "controller"))(value)
    if len(set(value)) != len(value):
        raise ValueError("must not repeat a role")


def _only_false(value: bool) -> None:
    if value:
        raise ValueError("tiered storage is not supported by Strom (only false is accepted)")


_SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_COMPRESSION = OneOf(("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"))
_TIMESTAMP_TYPE = OneOf(("CreateTime", "LogAppendTime"))
_CLEANUP = OneOf(("compact", "delete"))
_GZIP_LEVEL = Range(1, 9)
_LZ4_LEVEL = Range(1, 17)
_ZSTD_LEVEL = Range(-131072, 22)


def _gzip_level(value: int) -> None:
    if value != -1:
        _GZIP_LEVEL(value)


def _d(name: str, type_: str, default: Any, doc: str, validator: Validator | None = None,
       importance: str = "medium", **extra: Any) -> ConfigDef:
    return ConfigDef(name, type_, default, doc, validator, importance, **extra)


_DAY_MS = 24 * 3600 * 1000
_IGNORED_THREADS = "Strom runs one asyncio event loop per process; accepted for compatibility, no effect."
_DEDUPE_NOTE = ("Bounds the offset map by key count: one entry is reckoned at 96 bytes (Kafka: 24-byte hashed "
                "slots), split between the cleaner threads.")
_QUORUM_TIMING = ("Used by the raft quorum of the metadata log; with one voter, the only quorum Strom runs yet, it "
                  "has no visible effect (a lone voter elects itself at once).")
_REPLICATION_PLANNED = "Validated; no effect until replication lands (one node has no followers)."
_CODEC_DEFAULT_LEVEL = "Recompression uses the codec's default level."
_MIGRATION_PLANNED = ("Validated; only empty groups change type (an empty classic group becomes a consumer "
                      "group and back); a non-empty group is not converted online yet.")

# ---------------------------------------------------------------------------- broker table
_BROKER_DEFS: list[ConfigDef] = [
    # --- node identity and roles
    _d("node.id", "int", 1, "The node id of this process, shared by its broker and controller roles.",
       Range(0, None), "high", kafka_default=None, default_differs=True,
       note="Kafka requires it in KRaft mode; Strom defaults to 1."),
    _d("broker.id", "int", None, "Legacy name of node.id; if set it must equal node.id.", Range(0, None), "high",
       kafka_default=-1, default_differs=True, note="Used as node.id when node.id is not set."),
    _d("process.roles", "list", ["broker", "controller"], "The roles of this process: broker, controller or both.",
       _roles_validator, "high", kafka_default=None, default_differs=True, support="limited",
       note="Kafka requires it; Strom defaults to a combined broker and controller, the only roles it runs yet "
            "(other values are refused at start-up). A node with a controller.quorum.* setting must be formatted "
            "first (strom storage format); the embedded single node formats itself."),
    # --- listeners
    _d("listeners", "list", ["PLAINTEXT://localhost:9092"],
       "Comma-separated NAME://host:port URIs to listen on; empty host = all interfaces, port 0 = ephemeral.",
       _listeners_validator, "high", kafka_default=["PLAINTEXT://:9092"], default_differs=True, support="limited",
       note="Strom binds one client listener whose security protocol is PLAINTEXT; a TLS or SASL listener, or a "
            "second client listener, is refused at start-up. Controller listeners are accepted and not bound "
            "(a single-node quorum has no peers)."),
    _d("advertised.listeners", "list", None,
       "Addresses published to clients in Metadata; defaults to listeners (controller listeners excluded).",
       _listeners_validator, "high"),
    _d("listener.security.protocol.map", "list",
       ["PLAINTEXT:PLAINTEXT", "SSL:SSL", "SASL_PLAINTEXT:SASL_PLAINTEXT", "SASL_SSL:SASL_SSL"],
       "Listener name to security protocol.", _protocol_map_validator, "low", support="limited",
       note="Validated; a listener mapped to anything but PLAINTEXT is refused at start-up until TLS and SASL land."),
    _d("inter.broker.listener.name", "string", None,
       "Listener used between brokers (replication); defaults to the first broker listener.", None, "medium",
       support="planned", note="Validated; no effect until replication lands (one node has no peers)."),
    _d("controller.listener.names", "list", None,
       "Listener names used by the controller quorum. When unset a combined node serves quorum traffic on "
       "its broker listener.", None, "high", kafka_default=None, support="limited",
       note="Validated; the controller listeners are not bound (a single-node quorum has no peers)."),
    _d("controller.quorum.voters", "list", [],
       "Static quorum: comma-separated id@host:port of every controller voter.", _voters_validator, "high",
       support="limited", note="Only this node may be named (a single-node quorum); other voters are refused at "
                               "start-up until the raft quorum lands."),
    _d("controller.quorum.bootstrap.servers", "list", [],
       "Dynamic quorum: host:port of controllers to discover the quorum from.", _host_ports_validator, "high",
       support="planned", note="Validated; no effect until the raft quorum lands."),
    _d("controller.quorum.election.timeout.ms", "int", 1000,
       "Time without a leader after which a voter starts an election (randomised between it and twice it).",
       Range(1, None), "high", support="limited", note=_QUORUM_TIMING),
    _d("controller.quorum.fetch.timeout.ms", "int", 2000,
       "Time without a successful fetch from the leader after which a follower starts an election.",
       Range(1, None), "high", support="limited", note=_QUORUM_TIMING),
    _d("controller.quorum.election.backoff.max.ms", "int", 1000,
       "Longest random wait before a candidate that lost an election tries again.",
       Range(1, None), "high", support="limited", note=_QUORUM_TIMING),
    _d("controller.quorum.request.timeout.ms", "int", 2000,
       "How long a voter waits for the answer to a quorum request.",
       Range(1, None), "medium", support="limited", note=_QUORUM_TIMING),
    _d("controller.quorum.retry.backoff.ms", "int", 20,
       "Wait before a quorum request that failed is sent again.",
       Range(0, None), "low", support="limited", note=_QUORUM_TIMING),
    _d("metadata.log.max.record.bytes.between.snapshots", "long", 20 * 1024 * 1024,
       "Bytes of metadata records after which the quorum takes a snapshot of the metadata.",
       Range(1, None), "high", support="planned",
       note="Validated; no effect until the controller writes metadata snapshots."),
    # --- broker lifecycle (registration with the controller, heartbeats, fencing)
    _d("broker.rack", "string", None,
       "Rack of this broker; replicas of a partition are spread across racks when brokers set it.", None,
       "medium"),
    _d("broker.session.timeout.ms", "int", 9000,
       "The controller fences a broker that has sent no heartbeat for this long.", Range(1, None), "medium"),
    _d("broker.heartbeat.interval.ms", "int", 2000, "How often a broker heartbeats to the controller.",
       Range(1, None), "medium"),
    # --- data directories and log defaults
    _d("log.dirs", "list", None, "Directories for partition data; overrides log.dir.", _non_empty_unique, "high",
       support="limited", note="One directory: a second one is refused at start-up until JBOD lands."),
    _d("log.dir", "string", "./data", "Directory for partition data when log.dirs is not set.", None, "high",
       kafka_default="/tmp/kafka-logs", default_differs=True),
    _d("num.partitions", "int", 1, "Default partition count of auto-created and CreateTopics(-1) topics.",
       Range(1, None), "medium"),
    _d("default.replication.factor", "int", 1, "Default replication factor of new topics.", Range(1, None),
       "medium"),
    _d("min.insync.replicas", "int", 1, "Minimum ISR size for acks=all produce (topic: min.insync.replicas).",
       Range(1, None), "high"),
    _d("auto.create.topics.enable", "boolean", True, "Create a topic when a client asks for unknown metadata.",
       None, "high"),
    _d("delete.topic.enable", "boolean", True, "Allow DeleteTopics.", None, "high"),
    _d("log.segment.bytes", "int", 1073741824, "Maximum size of one segment file (topic: segment.bytes).",
       Range(1024 * 1024, None), "high"),
    _d("log.roll.ms", "long", None, "Roll a segment after this time (topic: segment.ms); wins over log.roll.hours.",
       Range(1, None), "high"),
    _d("log.roll.hours", "int", 168, "Roll a segment after this many hours when log.roll.ms is unset.",
       Range(1, None), "high"),
    _d("log.roll.jitter.ms", "long", None, "Random jitter subtracted from the roll time (topic: segment.jitter.ms).",
       Range(0, None), "high", support="ignored", note="Segments roll without jitter."),
    _d("log.roll.jitter.hours", "int", 0, "Roll jitter in hours when log.roll.jitter.ms is unset.", Range(0, None),
       "high", support="ignored", note="Segments roll without jitter."),
    _d("log.retention.ms", "long", None,
       "Delete segments older than this (topic: retention.ms); -1 = forever. Wins over minutes and hours.",
       None, "high"),
    _d("log.retention.minutes", "int", None, "Retention in minutes when log.retention.ms is unset.", None, "high"),
    _d("log.retention.hours", "int", 168, "Retention in hours when log.retention.ms and .minutes are unset.",
       None, "high"),
    _d("log.retention.bytes", "long", -1, "Delete old segments when a partition exceeds this size; -1 = no limit.",
       None, "high"),
    _d("log.retention.check.interval.ms", "long", 300000, "How often retention runs.", Range(1, None), "medium"),
    _d("log.segment.delete.delay.ms", "long", 60000,
       "Delay before a deleted segment's files are removed (topic: file.delete.delay.ms).", Range(0, None), "high"),
    _d("log.flush.interval.messages", "long", LONG_MAX,
       "fsync a partition after this many messages (topic: flush.messages).", Range(1, None), "high"),
    _d("log.flush.interval.ms", "long", None,
       "fsync a partition after this time (topic: flush.ms); unset = log.flush.scheduler.interval.ms.",
       Range(0, None), "high"),
    _d("log.flush.scheduler.interval.ms", "long", LONG_MAX, "How often the flusher checks for due fsyncs.",
       None, "high", support="limited",
       note="Used as the default of log.flush.interval.ms; Strom's flusher checks flush.ms every second."),
    _d("log.index.interval.bytes", "int", 4096, "Bytes between offset-index entries (topic: index.interval.bytes).",
       Range(0, None), "medium"),
    _d("log.index.size.max.bytes", "int", 10485760, "Maximum size of an index file (topic: segment.index.bytes).",
       Range(4, None), "medium"),
    _d("log.message.timestamp.type", "string", "CreateTime",
       "CreateTime or LogAppendTime (topic: message.timestamp.type).", _TIMESTAMP_TYPE, "medium"),
    _d("log.message.timestamp.before.max.ms", "long", LONG_MAX,
       "Reject records whose timestamp is further in the past than this.", Range(0, None), "medium"),
    _d("log.message.timestamp.after.max.ms", "long", 3600000,
       "Reject records whose timestamp is further in the future than this (Kafka 4 default: 1 hour).",
       Range(0, None), "medium"),
    _d("log.cleanup.policy", "list", ["delete"], "delete, compact or both (topic: cleanup.policy).", _CLEANUP,
       "medium"),
    _d("log.cleaner.enable", "boolean", True, "Run the log cleaner (compaction).", None, "medium"),
    _d("log.cleaner.threads", "int", 1, "Worker threads that compact logs at the same time.", Range(0, None),
       "medium"),
    _d("log.cleaner.dedupe.buffer.size", "long", 134217728,
       "Memory for the cleaners' offset maps, shared by all cleaner threads.", Range(1024 * 1024, None), "medium",
       support="limited", note=_DEDUPE_NOTE),
    _d("log.cleaner.backoff.ms", "long", 15000, "Pause between checks when no log needs cleaning.",
       Range(0, None), "medium"),
    _d("log.cleaner.io.buffer.size", "int", 524288, "I/O buffer of the cleaner threads.", Range(0, None), "medium",
       support="ignored", note="The cleaner reads in 8 MiB chunks and writes in 4 MiB chunks."),
    _d("log.cleaner.io.max.bytes.per.second", "double", 1.7976931348623157e308,
       "Cleaner I/O throttle.", None, "medium", support="ignored", note="The cleaner is not throttled."),
    _d("log.cleaner.delete.retention.ms", "long", _DAY_MS,
       "How long tombstones are kept after compaction (topic: delete.retention.ms).", Range(0, None), "medium"),
    _d("log.cleaner.min.cleanable.ratio", "double", 0.5,
       "Dirty ratio that makes a log eligible for compaction (topic: min.cleanable.dirty.ratio).", Range(0, 1),
       "medium"),
    _d("log.cleaner.min.compaction.lag.ms", "long", 0,
       "Minimum age of a record before it can be compacted (topic: min.compaction.lag.ms).", Range(0, None),
       "medium"),
    _d("log.cleaner.max.compaction.lag.ms", "long", LONG_MAX,
       "Maximum time a record stays uncompacted (topic: max.compaction.lag.ms).", Range(1, None), "medium"),
    _d("log.preallocate", "boolean", False, "Preallocate segment files (topic: preallocate).", None, "medium",
       support="ignored", note="Accepted; Strom does not preallocate."),
    _d("log.local.retention.ms", "long", -2, "Tiered storage: local retention (topic: local.retention.ms).",
       Range(-2, None), "medium", support="ignored", note="Tiered storage is not supported."),
    _d("log.local.retention.bytes", "long", -2, "Tiered storage: local retention (topic: local.retention.bytes).",
       Range(-2, None), "medium", support="ignored", note="Tiered storage is not supported."),
    _d("num.recovery.threads.per.data.dir", "int", 2, "Threads for log recovery at start-up.", Range(1, None),
       "high", support="ignored", note=_IGNORED_THREADS),
    _d("message.max.bytes", "int", 1048588, "Largest record batch accepted (topic: max.message.bytes).",
       Range(0, None), "high"),
    _d("compression.type", "string", "producer",
       "Final compression of a topic's data; producer = keep the producer's codec.", _COMPRESSION, "high"),
    _d("compression.gzip.level", "int", -1, "gzip level when recompressing (-1 = codec default).", _gzip_level,
       "medium", support="ignored", note=_CODEC_DEFAULT_LEVEL),
    _d("compression.lz4.level", "int", 9, "lz4 level when recompressing.", _LZ4_LEVEL, "medium", support="ignored", note=_CODEC_DEFAULT_LEVEL),
    _d("compression.zstd.level", "int", 3, "zstd level when recompressing.", _ZSTD_LEVEL, "medium", support="ignored", note=_CODEC_DEFAULT_LEVEL),
    # --- network
    _d("socket.request.max.bytes", "int", 104857600, "Largest request frame accepted; bigger closes the connection.",
       Range(1, None), "high"),
    _d("socket.send.buffer.bytes", "int", 102400, "SO_SNDBUF of server sockets; -1 = OS default.", None, "high", support="ignored",
       note="Strom leaves the socket buffers at the OS default."),
    _d("socket.receive.buffer.bytes", "int", 102400, "SO_RCVBUF of server sockets; -1 = OS default.", None, "high", support="ignored",
       note="Strom leaves the socket buffers at the OS default."),
    _d("max.connections", "int", INT_MAX, "Maximum open client connections.", Range(0, None), "medium"),
    _d("max.connections.per.ip", "int", INT_MAX, "Maximum open connections from one IP address.", Range(0, None),
       "medium"),
    _d("connections.max.idle.ms", "long", 600000, "Close connections idle this long.", None, "medium"),
    _d("num.network.threads", "int", 3, "Kafka's network thread count.", Range(1, None), "high",
       support="ignored", note=_IGNORED_THREADS),
    _d("num.io.threads", "int", 8, "Kafka's request handler thread count.", Range(1, None), "high",
       support="ignored", note=_IGNORED_THREADS),
    # --- group coordinator
    _d("offsets.topic.num.partitions", "int", 50, "Partitions of __consumer_offsets (fixed once created).",
       Range(1, None), "high"),
    _d("offsets.topic.replication.factor", "short", 1, "Replication factor of __consumer_offsets.",
       Range(1, None), "high", kafka_default=3, default_differs=True,
       note="Strom defaults to 1 so that a single node works out of the box."),
    _d("offsets.retention.minutes", "int", 10080, "Keep committed offsets of empty groups this long.",
       Range(1, None), "high"),
    _d("group.initial.rebalance.delay.ms", "int", 3000, "Wait for more members before the first rebalance.",
       None, "medium"),
    _d("group.min.session.timeout.ms", "int", 6000, "Smallest session.timeout.ms a member may ask for.", None,
       "medium"),
    _d("group.max.session.timeout.ms", "int", 1800000, "Largest session.timeout.ms a member may ask for.", None,
       "medium"),
    _d("group.max.size", "int", INT_MAX, "Maximum members of one classic group.", Range(1, None), "medium"),
    _d("offsets.retention.check.interval.ms", "long", 600000, "How often expired committed offsets are removed.",
       Range(1, None), "high"),
    _d("offset.metadata.max.bytes", "int", 4096, "Largest metadata string of a committed offset.",
       Range(0, None), "high"),
    _d("offsets.topic.segment.bytes", "int", 104857600, "segment.bytes of __consumer_offsets.",
       Range(1, None), "high"),
    _d("offsets.commit.timeout.ms", "int", 5000, "Accepted for compatibility (commits are local appends).",
       Range(1, None), "low", support="ignored",
       note="Commits are local appends on one node."),
    _d("group.coordinator.rebalance.protocols", "list", ["classic", "consumer"],
       "Group protocols the coordinator serves (classic, consumer).", None, "medium", support="ignored",
       note="Both protocols are always served."),
    _d("group.consumer.session.timeout.ms", "int", 45000, "Session timeout of KIP-848 consumer group members.",
       Range(1, None), "medium"),
    _d("group.consumer.min.session.timeout.ms", "int", 45000, "Smallest consumer-group session timeout.",
       Range(1, None), "medium", support="ignored",
       note="Members get group.consumer.session.timeout.ms."),
    _d("group.consumer.max.session.timeout.ms", "int", 60000, "Largest consumer-group session timeout.",
       Range(1, None), "medium", support="ignored",
       note="Members get group.consumer.session.timeout.ms."),
    _d("group.consumer.heartbeat.interval.ms", "int", 5000, "Heartbeat interval told to KIP-848 members.",
       Range(1, None), "medium"),
    _d("group.consumer.assignors", "list", ["uniform", "range"], "Server-side assignors; the first is the default.",
       None, "medium"),
    _d("group.consumer.max.size", "int", INT_MAX, "Maximum members of one consumer group.", Range(1, None),
       "medium", support="ignored",
       note="group.max.size limits consumer groups too."),
    _d("group.consumer.migration.policy", "string", "bidirectional",
       "Online conversion between classic and consumer groups (KIP-848): disabled, upgrade, downgrade, "
       "bidirectional.", OneOf(("disabled", "upgrade", "downgrade", "bidirectional"), case_sensitive=False),
       "medium", support="planned",
       note=_MIGRATION_PLANNED),
    # --- transactions and producer ids
    _d("transaction.state.log.num.partitions", "int", 50, "Partitions of __transaction_state (fixed once created).",
       Range(1, None), "high"),
    _d("transaction.state.log.replication.factor", "short", 1, "Replication factor of __transaction_state.",
       Range(1, None), "high", kafka_default=3, default_differs=True,
       note="Strom defaults to 1 so that a single node works out of the box."),
    _d("transaction.state.log.min.isr", "int", 1, "min.insync.replicas of __transaction_state.", Range(1, None),
       "high", kafka_default=2, default_differs=True,
       note="Strom defaults to 1 so that a single node works out of the box."),
    _d("transaction.state.log.segment.bytes", "int", 104857600, "segment.bytes of __transaction_state.",
       Range(1, None), "high"),
    _d("transactional.id.expiration.ms", "int", 604800000,
       "Expire a transactional id after this long without transactions.", Range(1, None), "high"),
    _d("transaction.max.timeout.ms", "int", 900000, "Largest transaction timeout a producer may ask for.",
       Range(1, None), "high"),
    _d("transaction.abort.timed.out.transaction.cleanup.interval.ms", "int", 10000,
       "How often to abort transactions open longer than their transaction.timeout.ms.", Range(1, None), "low"),
    _d("transaction.remove.expired.transaction.cleanup.interval.ms", "int", 3600000,
       "How often to remove transactional ids that expired.", Range(1, None), "low"),
    _d("producer.id.expiration.ms", "int", 86400000, "Expire idempotent producer state after this long.",
       Range(1, None), "low"),
    # --- replication
    _d("unclean.leader.election.enable", "boolean", False,
       "Allow an out-of-sync replica to become leader (data loss).", None, "high", support="planned",
       note=_REPLICATION_PLANNED),
    _d("replica.lag.time.max.ms", "long", 30000, "Drop a follower from the ISR after this long without catching up.",
       None, "high", support="planned",
       note=_REPLICATION_PLANNED),
    _d("share.coordinator.state.topic.replication.factor", "short", 1,
       "Replication factor of __share_group_state.", Range(1, None), "medium", kafka_default=3,
       default_differs=True, support="ignored", note="Share groups are not implemented."),
    _d("share.coordinator.state.topic.min.isr", "short", 1, "min.insync.replicas of __share_group_state.",
       Range(1, None), "medium", kafka_default=2, default_differs=True, support="ignored",
       note="Share groups are not implemented."),
    # --- Strom only
    _d("strom.http.port", "int", None,
       "Port of the HTTP side port (Prometheus /metrics, admin REST, console); unset = off, 0 = ephemeral.",
       Range(0, 65535), "medium", note="Strom-only."),
    _d("strom.http.host", "string", "127.0.0.1",
       "Address the HTTP side port binds (empty = all interfaces).", None, "medium", note="Strom-only."),
    _d("strom.internal.segment.bytes", "int", None,
       "Test only: broker-wide default of the topic setting internal.segment.bytes (segment size without "
       "Kafka's 1 MiB floor).", Range(14, None), "low", internal=True, note="Strom-only, for tests."),
]

# ---------------------------------------------------------------------------- topic table
_TOPIC_DEFS: list[ConfigDef] = [
    _d("cleanup.policy", "list", ["delete"], "delete, compact or both.", _CLEANUP,
       synonyms=("log.cleanup.policy",)),
    _d("compression.type", "string", "producer", "Final compression of the topic; producer = as produced.",
       _COMPRESSION, synonyms=("compression.type",)),
    _d("compression.gzip.level", "int", -1, "gzip level when recompressing.", _gzip_level,
       synonyms=("compression.gzip.level",), support="ignored", note=_CODEC_DEFAULT_LEVEL),
    _d("compression.lz4.level", "int", 9, "lz4 level when recompressing.", _LZ4_LEVEL,
       synonyms=("compression.lz4.level",), support="ignored", note=_CODEC_DEFAULT_LEVEL),
    _d("compression.zstd.level", "int", 3, "zstd level when recompressing.", _ZSTD_LEVEL,
       synonyms=("compression.zstd.level",), support="ignored", note=_CODEC_DEFAULT_LEVEL),
    _d("delete.retention.ms", "long", _DAY_MS, "How long tombstones survive compaction.", Range(0, None),
       synonyms=("log.cleaner.delete.retention.ms",)),
    _d("file.delete.delay.ms", "long", 60000, "Delay before a deleted segment's files are removed.",
       Range(0, None), synonyms=("log.segment.delete.delay.ms",)),
    _d("flush.messages", "long", LONG_MAX, "fsync after this many messages.", Range(1, None),
       synonyms=("log.flush.interval.messages",)),
    _d("flush.ms", "long", LONG_MAX, "fsync after this much time.", Range(0, None),
       synonyms=("log.flush.interval.ms", "log.flush.scheduler.interval.ms")),
    _d("index.interval.bytes", "int", 4096, "Bytes between offset-index entries.", Range(0, None),
       synonyms=("log.index.interval.bytes",)),
    _d("max.message.bytes", "int", 1048588, "Largest record batch accepted.", Range(0, None),
       synonyms=("message.max.bytes",)),
    _d("message.timestamp.type", "string", "CreateTime", "CreateTime or LogAppendTime.", _TIMESTAMP_TYPE,
       synonyms=("log.message.timestamp.type",)),
    _d("message.timestamp.before.max.ms", "long", LONG_MAX, "Largest allowed age of a record timestamp.",
       Range(0, None), synonyms=("log.message.timestamp.before.max.ms",)),
    _d("message.timestamp.after.max.ms", "long", 3600000, "Largest allowed future skew of a record timestamp.",
       Range(0, None), synonyms=("log.message.timestamp.after.max.ms",)),
    _d("min.cleanable.dirty.ratio", "double", 0.5, "Dirty ratio that makes the log eligible for compaction.",
       Range(0, 1), synonyms=("log.cleaner.min.cleanable.ratio",)),
    _d("min.compaction.lag.ms", "long", 0, "Minimum age before a record can be compacted.", Range(0, None),
       synonyms=("log.cleaner.min.compaction.lag.ms",)),
    _d("max.compaction.lag.ms", "long", LONG_MAX, "Maximum time a record stays uncompacted.", Range(1, None),
       synonyms=("log.cleaner.max.compaction.lag.ms",)),
    _d("min.insync.replicas", "int", 1, "Minimum ISR size for acks=all.", Range(1, None),
       synonyms=("min.insync.replicas",)),
    _d("preallocate", "boolean", False, "Preallocate segment files.", synonyms=("log.preallocate",),
       support="ignored", note="Accepted; Strom does not preallocate."),
    _d("retention.bytes", "long", -1, "Size limit per partition; -1 = none.", synonyms=("log.retention.bytes",)),
    _d("retention.ms", "long", 7 * _DAY_MS, "Time limit for old segments; -1 = forever.", Range(-1, None),
       synonyms=("log.retention.ms", "log.retention.minutes", "log.retention.hours")),
    _d("segment.bytes", "int", 1073741824, "Maximum size of one segment file (at least 1 MiB, as in Kafka 4).",
       Range(1024 * 1024, None), synonyms=("log.segment.bytes",)),
    _d("segment.index.bytes", "int", 10485760, "Maximum size of an index file.", Range(4, None),
       synonyms=("log.index.size.max.bytes",)),
    _d("segment.jitter.ms", "long", 0, "Random jitter subtracted from segment.ms.", Range(0, None),
       synonyms=("log.roll.jitter.ms", "log.roll.jitter.hours"), support="ignored",
       note="Segments roll without jitter."),
    _d("segment.ms", "long", 7 * _DAY_MS, "Roll a segment after this time.", Range(1, None),
       synonyms=("log.roll.ms", "log.roll.hours")),
    _d("unclean.leader.election.enable", "boolean", False, "Allow an out-of-sync replica to become leader.",
       synonyms=("unclean.leader.election.enable",), support="planned",
       note=_REPLICATION_PLANNED),
    _d("local.retention.ms", "long", -2, "Tiered storage: local retention time.", Range(-2, None),
       synonyms=("log.local.retention.ms",), support="ignored", note="Tiered storage is not supported."),
    _d("local.retention.bytes", "long", -2, "Tiered storage: local retention size.", Range(-2, None),
       synonyms=("log.local.retention.bytes",), support="ignored", note="Tiered storage is not supported."),
    _d("remote.storage.enable", "boolean", False, "Tiered storage on/off.", _only_false, support="limited",
       note="Only false is accepted."),
    _d("leader.replication.throttled.replicas", "list", [], "Replicas throttled on the leader side.",
       support="ignored", note="Replication quotas are not implemented."),
    _d("follower.replication.throttled.replicas", "list", [], "Replicas throttled on the follower side.",
       support="ignored", note="Replication quotas are not implemented."),
    _d("internal.segment.bytes", "int", None,
       "Test only (Kafka's internal setting): segment size without the 1 MiB floor; wins over segment.bytes.",
       Range(14, None), synonyms=("strom.internal.segment.bytes",), internal=True),
]

# ---------------------------------------------------------------------------- dynamic broker settings
#: The broker settings that may change at runtime (IncrementalAlterConfigs/AlterConfigs on a BROKER
#: resource, for one node or for the cluster default ""); every other one is read-only, and
#: DescribeConfigs reports ``read_only`` from this set. It follows Kafka 4's
#: ``DynamicBrokerConfig.AllDynamicConfigs`` for the settings Strom defines:
#:
#: * ``DynamicLogConfig``: the *first* broker synonym of each topic setting (``log.retention.ms``,
#:   not ``log.retention.minutes``/``.hours``; ``log.roll.ms``, not ``log.roll.hours``;
#:   ``log.flush.interval.ms``, not ``log.flush.scheduler.interval.ms``);
#: * ``DynamicThreadPool``: ``num.io.threads``, ``num.recovery.threads.per.data.dir``;
#: * ``DynamicListenerConfig``/``SocketServer``: ``num.network.threads``, ``max.connections``,
#:   ``max.connections.per.ip``;
#: * ``DynamicProducerStateManagerConfig``: ``producer.id.expiration.ms``;
#: * Strom's ``strom.internal.segment.bytes``, as the broker default of a topic setting.
#:
#: Differences: ``listeners`` and ``listener.security.protocol.map`` are read-only (Kafka: per-broker)
#: because a running Strom node cannot rebind its sockets. Kafka 4 made ``advertised.listeners``
#: read-only too (KAFKA-18405). ``log.retention.check.interval.ms`` is read-only, as in Kafka.
DYNAMIC_BROKER_CONFIGS: frozenset[str] = frozenset(
    {d.synonyms[0] for d in _TOPIC_DEFS if d.synonyms}
    | {"num.io.threads", "num.recovery.threads.per.data.dir", "num.network.threads", "max.connections",
       "max.connections.per.ip", "producer.id.expiration.ms"})

if not DYNAMIC_BROKER_CONFIGS <= {d.name for d in _BROKER_DEFS}:  # a typo above must not pass silently
    raise ValueError(f"unknown dynamic settings {sorted(DYNAMIC_BROKER_CONFIGS - {d.name for d in _BROKER_DEFS})}")

BROKER_CONFIGS: dict[str, ConfigDef] = {
    d.name: dataclasses.replace(d, update_mode="cluster-wide") if d.name in DYNAMIC_BROKER_CONFIGS else d
    for d in _BROKER_DEFS}
TOPIC_CONFIGS: dict[str, ConfigDef] = {d.name: d for d in _TOPIC_DEFS}

# Kafka's DynamicBrokerConfig.brokerConfigSynonyms: the broker settings that set the same value,
# in order of precedence (a setting not listed is its own only synonym).
_BROKER_SYNONYMS: tuple[tuple[str, ...], ...] = (
    ("log.roll.ms", "log.roll.hours"),
    ("log.roll.jitter.ms", "log.roll.jitter.hours"),
    ("log.retention.ms", "log.retention.minutes", "log.retention.hours"),
)


def broker_config_synonyms(name: str) -> tuple[str, ...]:
    """The broker settings that give ``name`` its value, highest precedence first, as Kafka lists them
    in DescribeConfigs: ``log.retention.hours`` -> (``log.retention.ms``, ``log.retention.minutes``,
    ``log.retention.hours``). ``log.flush.interval.ms`` falls back to ``log.flush.scheduler.interval.ms``
    (but not the other way round); any other setting is its own only synonym."""
    if name == "log.flush.interval.ms":
        return ("log.flush.interval.ms", "log.flush.scheduler.interval.ms")
    for group in _BROKER_SYNONYMS:
        if name in group:
            return group
    return (name,)


def describe_topic_config(name: str) -> ConfigDef:
    """The definition of a topic setting; ConfigError if there is none."""
    try:
        return TOPIC_CONFIGS[name]
    except KeyError:
        raise ConfigError(_unknown_message(name, TOPIC_CONFIGS, None, topic=True), setting=name) from None


def describe_broker_config(name: str) -> ConfigDef:
    """The definition of a broker setting; ConfigError if there is none."""
    try:
        return BROKER_CONFIGS[name]
    except KeyError:
        raise ConfigError(_unknown_message(name, BROKER_CONFIGS, None), setting=name) from None


def _unknown_message(name: str, table: Mapping[str, ConfigDef], source: str | None, *, topic: bool = False) -> str:
    kind = "topic setting" if topic else "setting"
    message = f"unknown {kind} '{name}'"
    if source:
        message += f" (from {source})"
    if not topic and name in TOPIC_CONFIGS and TOPIC_CONFIGS[name].synonyms:
        message += (f"; '{name}' is a topic setting, its broker-wide default is "
                    f"'{TOPIC_CONFIGS[name].synonyms[0]}'")
    elif topic and name in BROKER_CONFIGS:
        topics = [t.name for t in _TOPIC_DEFS if name in t.synonyms]
        if topics:
            message += f"; '{name}' is a broker setting, the topic setting is '{topics[0]}'"
    else:
        close = difflib.get_close_matches(name, list(table), n=1)
        if close:
            message += f"; did you mean '{close[0]}'?"
    return message


def _invalid_message(name: str, value: Any, reason: str, source: str | None) -> str:
    shown = "[hidden]" if name in BROKER_CONFIGS and BROKER_CONFIGS[name].type == "password" else value
    where = f" (from {source})" if source else ""
    return f"invalid value '{shown}' for setting '{name}'{where}: {reason}"


def _parse_setting(defn: ConfigDef, value: Any, source: str | None) -> Any:
    try:
        return defn.parse(value)
    except ValueError as exc:
        raise ConfigError(_invalid_message(defn.name, value, str(exc), source), setting=defn.name,
                          source=source) from None


def validate_topic_configs(props: Mapping[str, Any]) -> dict[str, Any]:
    """Validate topic overrides (CreateTopics configs, AlterConfigs) and return them typed.

    Values may be text or already typed; ``None`` means "no override" and stays ``None``.
    Raises ConfigError (INVALID_CONFIG) for an unknown name or a bad value; also checks, like
    Kafka, that min.compaction.lag.ms <= max.compaction.lag.ms when both are given.
    """
    typed: dict[str, Any] = {}
    for name, value in props.items():
        defn = TOPIC_CONFIGS.get(name)
        if defn is None:
            raise ConfigError(_unknown_message(name, TOPIC_CONFIGS, None, topic=True), setting=name)
        typed[name] = None if value is None else _parse_setting(defn, value, None)
    low, high = typed.get("min.compaction.lag.ms"), typed.get("max.compaction.lag.ms")
    if low is not None and high is not None and low > high:
        raise ConfigError(f"invalid value '{high}' for setting 'max.compaction.lag.ms': must not be smaller than "
                          f"min.compaction.lag.ms ({low})", setting="max.compaction.lag.ms")
    return typed


def check_topic_configs_implemented(props: Mapping[str, Any]) -> None:
    """Refuse topic settings (or their broker-wide defaults) that are valid in Kafka but that Strom
    cannot honour yet (ConfigError, INVALID_CONFIG).  Nothing is refused today: compaction, the last
    such feature, has landed; the hook stays for the next one."""
    del props


def effective_segment_bytes(topic_config: Mapping[str, Any]) -> int:
    """Segment size of a topic from its typed effective config: ``internal.segment.bytes`` when set
    (tests), else ``segment.bytes``."""
    internal = topic_config.get("internal.segment.bytes")
    return int(internal) if internal is not None else int(topic_config["segment.bytes"])


# ---------------------------------------------------------------------------- properties files
def read_properties(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a Java properties file into {key: value} (last occurrence wins)."""
    return {key: value for key, value, _ in parse_properties(_read_text(Path(path)))}


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # Java's Properties.load(InputStream) reads ISO-8859-1


_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_BLANK = " \t\f"
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def parse_properties(text: str) -> list[tuple[str, str, int]]:
    """Parse Java ``.properties`` text into (key, value, line number) triples, in file order.

    Follows ``java.util.Properties.load``: ``#`` and ``!`` comment lines; ``key=value``,
    ``key:value`` or ``key value``; a line ending in an odd number of backslashes continues on
    the next line (its leading blanks dropped); escapes ``\\t \\n \\r \\f \\uXXXX`` and ``\\x`` = x.
    """
    lines = _LINE_BREAK.split(text)
    out: list[tuple[str, str, int]] = []
    index = 0
    while index < len(lines):
        lineno = index + 1
        line = lines[index].lstrip(_BLANK)
        index += 1
        if not line or line[0] in "#!":
            continue
        while _continues(line):
            line = line[:-1]
            if index >= len(lines):
                break
            line += lines[index].lstrip(_BLANK)
            index += 1
        key, value = _split_entry(line)
        out.append((_unescape(key), _unescape(value), lineno))
    return out


def _continues(line: str) -> bool:
    count = len(line) - len(line.rstrip("\\"))
    return count % 2 == 1


def _split_entry(line: str) -> tuple[str, str]:
    """Split a logical line into raw key and raw value exactly as Properties.load does."""
    limit = len(line)
    key_len, value_start, has_sep, backslash = 0, limit, False, False
    while key_len < limit:
        ch = line[key_len]
        if ch in "=:" and not backslash:
            value_start, has_sep = key_len + 1, True
            break
        if ch in _BLANK and not backslash:
            value_start = key_len + 1
            break
        backslash = (not backslash) if ch == "\\" else False
        key_len += 1
    while value_start < limit:
        ch = line[value_start]
        if ch not in _BLANK:
            if not has_sep and ch in "=:":
                has_sep = True
            else:
                break
        value_start += 1
    return line[:key_len], line[value_start:]


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= n:
            break
        nxt = text[i + 1]
        if nxt == "u":
            digits = text[i + 2:i + 6]
            if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise ValueError(f"malformed \\uxxxx escape in {text!r}")
            out.append(chr(int(digits, 16)))
            i += 6
            continue
        out.append(_ESCAPES.get(nxt, nxt))
        i += 2
    return "".join(out)


# ---------------------------------------------------------------------------- environment
ENV_PREFIXES = ("KAFKA_", "STROM_")
#: Variables that Kafka's images and scripts (and Strom's tools) use for other purposes.
IGNORED_ENV_VARS = frozenset([
    "KAFKA_HEAP_OPTS", "KAFKA_OPTS", "KAFKA_JMX_OPTS", "KAFKA_LOG4J_OPTS", "KAFKA_JVM_PERFORMANCE_OPTS",
    "KAFKA_GC_LOG_OPTS", "KAFKA_DEBUG", "KAFKA_VERSION", "KAFKA_HOME", "KAFKA_JMX_PORT", "KAFKA_JMX_HOSTNAME",
    "KAFKA_LOG4J_LOGGERS", "KAFKA_LOG4J_ROOT_LOGLEVEL", "KAFKA_TOOLS_LOG4J_LOGLEVEL",
    "STROM_BENCH_HOME", "STROM_BOOTSTRAP_SERVERS", "STROM_LOG_LEVEL",
])
IGNORED_ENV_PREFIXES = ("STROM_TEST_",)


def property_name_from_env(var: str) -> str | None:
    """Kafka's docker mapping of an environment variable to a property name, or None when the
    variable is not a setting (no ``KAFKA_``/``STROM_`` prefix, or on the ignore list).

    After the prefix: ``___`` -> ``-``, ``__`` -> ``_``, ``_`` -> ``.``, lower-cased.
    ``KAFKA_LOG_RETENTION_MS`` -> ``log.retention.ms``. For ``STROM_`` variables a Strom-only
    setting may drop its ``strom.`` prefix: ``STROM_HTTP_PORT`` -> ``strom.http.port``.
    """
    if var in IGNORED_ENV_VARS or var.startswith(IGNORED_ENV_PREFIXES):
        return None
    for prefix in ENV_PREFIXES:
        if var.startswith(prefix) and len(var) > len(prefix):
            rest = var[len(prefix):]
            name = (rest.replace("___", "\0").replace("__", "\1").replace("_", ".")
                    .replace("\0", "-").replace("\1", "_").lower())
            if prefix == "STROM_" and name not in BROKER_CONFIGS and f"strom.{name}" in BROKER_CONFIGS:
                name = f"strom.{name}"
            return name
    return None


# ---------------------------------------------------------------------------- broker config
class BrokerConfig:
    """The typed, validated configuration of one node. Immutable once built.

    Build it with :meth:`load`. ``config["name"]`` returns the typed effective value; for the
    settings Kafka derives from others it returns the derived value, as Kafka's getters do:
    ``log.retention.ms`` (from .ms, else .minutes, else .hours; negative = -1),
    ``log.roll.ms`` and ``log.roll.jitter.ms`` (from .ms, else .hours),
    ``log.flush.interval.ms`` (else ``log.flush.scheduler.interval.ms``) and
    ``node.id`` (else ``broker.id``). :meth:`explicit` returns only what the user set.
    """

    __slots__ = ("_explicit", "_origins", "_values")

    def __init__(self, explicit: Mapping[str, Any] | None = None, origins: Mapping[str, str] | None = None) -> None:
        """Build from already typed explicit values (use :meth:`load` for raw text)."""
        self._explicit: dict[str, Any] = {}
        self._origins: dict[str, str] = dict(origins or {})
        for name, value in (explicit or {}).items():
            defn = BROKER_CONFIGS.get(name)
            source = self._origins.get(name)
            if defn is None:
                raise ConfigError(_unknown_message(name, BROKER_CONFIGS, source), setting=name, source=source)
            self._explicit[name] = _parse_setting(defn, value, source)
        self._values = self._resolve()
        self._check()

    # -- construction
    @classmethod
    def load(cls, *, properties_file: str | os.PathLike[str] | None = None, overrides: Sequence[str] = (),
             env: Mapping[str, str] | None = None) -> BrokerConfig:
        """Defaults < properties file < environment (``KAFKA_*`` then ``STROM_*``) < overrides.

        ``env`` defaults to ``os.environ``; pass ``{}`` to ignore the environment. ``overrides``
        are ``key=value`` strings (``--override``). Raises ConfigError naming the setting and
        its source for an unknown name, a bad value or an unreadable file.
        """
        raw: dict[str, Any] = {}
        origins: dict[str, str] = {}
        if properties_file is not None:
            path = Path(properties_file)
            try:
                entries = parse_properties(_read_text(path))
            except OSError as exc:
                raise ConfigError(f"cannot read properties file '{path}': {exc.strerror or exc}",
                                  source=str(path)) from None
            except ValueError as exc:
                raise ConfigError(f"malformed properties file '{path}': {exc}", source=str(path)) from None
            for key, value, lineno in entries:
                cls._stage(raw, origins, key, value, f"{path.name} line {lineno}")
        environ = os.environ if env is None else env
        for prefix in ENV_PREFIXES:  # KAFKA_ first so that STROM_ wins
            for var in sorted(v for v in environ if v.startswith(prefix)):
                name = property_name_from_env(var)
                if name is not None:
                    cls._stage(raw, origins, name, environ[var], f"environment variable {var}")
        for item in overrides:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"invalid override '{item}' (from --override): expected key=value",
                                  setting=key.strip() or item, source="--override")
            cls._stage(raw, origins, key.strip(), value, "--override")
        return cls(raw, origins)

    @staticmethod
    def _stage(raw: dict[str, Any], origins: dict[str, str], name: str, value: str, source: str) -> None:
        defn = BROKER_CONFIGS.get(name)
        if defn is None:
            raise ConfigError(_unknown_message(name, BROKER_CONFIGS, source), setting=name, source=source)
        _parse_setting(defn, value, source)  # fail at the first bad source, naming it
        raw[name] = value
        origins[name] = source

    def with_overrides(self, **props: Any) -> BrokerConfig:
        """A copy with more settings (text or typed). Keyword names may use ``_`` for ``.``:
        ``with_overrides(log_retention_ms=1000)`` or ``with_overrides(**{"log.retention.ms": 1000})``."""
        explicit = dict(self._explicit)
        origins = dict(self._origins)
        for key, value in props.items():
            name = key if key in BROKER_CONFIGS else key.replace("_", ".")
            explicit[name] = value
            origins[name] = "with_overrides"
        return BrokerConfig(explicit, origins)

    # -- access
    def __getitem__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise KeyError(_unknown_message(name, BROKER_CONFIGS, None)) from None

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def get(self, name: str, default: Any = None) -> Any:
        return self._values.get(name, default)

    def items(self) -> Iterator[tuple[str, Any]]:
        """Every setting with its typed effective value, in table order."""
        return iter(list(self._values.items()))

    def explicit(self) -> dict[str, Any]:
        """The settings the user set (file, environment, overrides), typed."""
        return dict(self._explicit)

    def is_explicit(self, name: str) -> bool:
        return name in self._explicit

    def origin(self, name: str) -> str | None:
        """Where an explicit setting came from ("server.properties line 3", "--override", ...)."""
        return self._origins.get(name) if name in self._explicit else None

    def text(self, name: str) -> str:
        """The effective value as Kafka prints it (DescribeConfigs)."""
        return _format(self[name])

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={self._explicit[k]!r}" for k in sorted(self._explicit))
        return f"BrokerConfig({shown})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BrokerConfig) and other._explicit == self._explicit

    __hash__ = None  # type: ignore[assignment]

    # -- derived views
    @property
    def node_id(self) -> int:
        return int(self._values["node.id"])

    @property
    def process_roles(self) -> list[str]:
        return list(self._values["process.roles"])

    @property
    def listeners(self) -> list[Listener]:
        return [parse_listener(item) for item in self._values["listeners"]]

    @property
    def controller_listener_names(self) -> list[str]:
        return [n.upper() for n in (self._values["controller.listener.names"] or [])]

    @property
    def controller_listeners(self) -> list[Listener]:
        names = self.controller_listener_names
        return [listener for listener in self.listeners if listener.name in names]

    @property
    def broker_listeners(self) -> list[Listener]:
        """Listeners that serve clients (all listeners except controller ones)."""
        names = self.controller_listener_names
        return [listener for listener in self.listeners if listener.name not in names]

    @property
    def advertised_listeners(self) -> list[Listener]:
        """``advertised.listeners``, else the broker listeners with an empty or wildcard host
        replaced by this machine's name (Kafka uses the canonical host name too).
        Port 0 is left as is: the node substitutes the port it bound."""
        if self._values["advertised.listeners"] is not None:
            return [parse_listener(item) for item in self._values["advertised.listeners"]]
        return [Listener(lst.name, socket.getfqdn() if lst.host in ("", "0.0.0.0", "::") else lst.host, lst.port)
                for lst in self.broker_listeners]

    @property
    def inter_broker_listener_name(self) -> str | None:
        """``inter.broker.listener.name``, else the first broker listener's name."""
        name = self._values["inter.broker.listener.name"]
        if name:
            return str(name).upper()
        listeners = self.broker_listeners
        return listeners[0].name if listeners else None

    def security_protocol(self, listener_name: str) -> str:
        """The security protocol of a listener name, from ``listener.security.protocol.map``."""
        mapping = self._protocol_map()
        try:
            return mapping[listener_name.upper()]
        except KeyError:
            raise ConfigError(f"no security protocol for listener {listener_name} in setting "
                              f"'listener.security.protocol.map'", setting="listener.security.protocol.map") from None

    @property
    def quorum_voters(self) -> list[QuorumVoter]:
        return [_parse_voter(item) for item in self._values["controller.quorum.voters"]]

    @property
    def quorum_bootstrap_servers(self) -> list[tuple[str, int]]:
        return [parse_host_port(item) for item in self._values["controller.quorum.bootstrap.servers"]]

    @property
    def data_dirs(self) -> list[Path]:
        """``log.dirs`` if set, else ``log.dir``; ``~`` expanded, relative paths kept relative."""
        dirs = self._values["log.dirs"] or [self._values["log.dir"]]
        return [Path(d).expanduser() for d in dirs]

    @property
    def http_port(self) -> int | None:
        return self._values["strom.http.port"]

    def topic_defaults(self) -> dict[str, Any]:
        """Every TOPIC_CONFIGS name -> its typed default as resolved from this broker's settings
        (``retention.ms`` from log.retention.ms/minutes/hours, ``segment.ms`` from log.roll.*, ...)."""
        out: dict[str, Any] = {}
        for defn in _TOPIC_DEFS:
            if defn.synonyms and defn.synonyms[0] in self._values:
                out[defn.name] = self._values[defn.synonyms[0]]
            else:
                out[defn.name] = defn.default
            if isinstance(out[defn.name], list):
                out[defn.name] = list(out[defn.name])
        return out

    def topic_default_source(self, topic_name: str) -> str | None:
        """The broker setting that supplied a topic default when the user set it explicitly
        (for DescribeConfigs synonyms / STATIC_BROKER_CONFIG), else None (DEFAULT_CONFIG)."""
        defn = describe_topic_config(topic_name)
        for synonym in defn.synonyms:
            if synonym in self._explicit:
                return synonym
        return None

    def check_implemented(self) -> None:
        """Refuse settings that are valid for Kafka but that Strom cannot serve yet, so that a
        configuration is never silently half-honoured (``strom serve`` runs this at start-up; each
        check goes when its feature lands). Raises ConfigError naming the setting and its source:

        * a listener whose security protocol is not PLAINTEXT (TLS and SASL), or a second client
          listener (one is bound); controller listeners are accepted and not bound;
        * ``process.roles`` other than broker and controller combined;
        * ``controller.quorum.voters`` naming a node other than this one (no raft quorum yet);
        * more than one directory in ``log.dirs`` (no JBOD yet).
        """
        protocols = self._protocol_map()
        for listener in self.listeners:
            protocol = protocols.get(listener.name, "PLAINTEXT")
            if protocol != "PLAINTEXT":
                via = "" if protocol == listener.name else " (mapped by listener.security.protocol.map)"
                raise self._fail("listeners", f"listener {listener} uses security protocol {protocol}{via}; "
                                              f"Strom serves PLAINTEXT only until TLS and SASL are implemented")
        clients = self.broker_listeners
        if len(clients) > 1:
            raise self._fail("listeners", f"Strom binds one client listener yet; {clients[1]} would not be bound "
                                          f"(keep one, or mark it a controller listener in controller.listener.names)")
        if sorted(self._values["process.roles"]) != ["broker", "controller"]:
            raise self._fail("process.roles", "Strom runs broker and controller combined only "
                                              "(process.roles=broker,controller) until the raft quorum is implemented")
        others = [v for v in self.quorum_voters if v.id != self.node_id]
        if others:
            raise self._fail("controller.quorum.voters",
                             f"names node {others[0].id}, but Strom runs a single-node quorum (only node.id "
                             f"{self.node_id} may be a voter) until the raft quorum is implemented")
        if len(self.data_dirs) > 1:
            raise self._fail("log.dirs", "Strom uses one data directory until JBOD is implemented")

    # -- internals
    def _protocol_map(self) -> dict[str, str]:
        mapping: dict[str, str] = {}
        for item in self._values["listener.security.protocol.map"]:
            name, _, protocol = item.partition(":")
            mapping[name.strip().upper()] = protocol.strip().upper()
        return mapping

    def _resolve(self) -> dict[str, Any]:
        values = {name: self._explicit.get(name, defn.default) for name, defn in BROKER_CONFIGS.items()}
        for name, value in values.items():
            if isinstance(value, list):
                values[name] = list(value)

        if values["log.retention.ms"] is not None:
            retention = values["log.retention.ms"]
        elif values["log.retention.minutes"] is not None:
            retention = values["log.retention.minutes"] * 60_000
        else:
            retention = values["log.retention.hours"] * 3_600_000
        values["log.retention.ms"] = -1 if retention < 0 else retention
        if values["log.roll.ms"] is None:
            values["log.roll.ms"] = values["log.roll.hours"] * 3_600_000
        if values["log.roll.jitter.ms"] is None:
            values["log.roll.jitter.ms"] = values["log.roll.jitter.hours"] * 3_600_000
        if values["log.flush.interval.ms"] is None:
            values["log.flush.interval.ms"] = values["log.flush.scheduler.interval.ms"]
        if "node.id" not in self._explicit and values["broker.id"] is not None:
            values["node.id"] = values["broker.id"]
        return values

    def _fail(self, name: str, message: str) -> ConfigError:
        source = self._origins.get(name) if name in self._explicit else None
        where = f" (from {source})" if source else ""
        return ConfigError(f"setting '{name}'{where}: {message}", setting=name, source=source)

    def _check(self) -> None:
        """Cross-setting rules, as Kafka's KafkaConfig.validateValues checks them."""
        values = self._values
        broker_id = self._explicit.get("broker.id")
        if broker_id is not None and "node.id" in self._explicit and broker_id != self._explicit["node.id"]:
            raise self._fail("broker.id", f"{broker_id} must equal node.id ({self._explicit['node.id']})")

        listeners = self.listeners
        names = [listener.name for listener in listeners]
        if not listeners:
            raise self._fail("listeners", "must name at least one listener")
        protocols = self._protocol_map()
        for listener in listeners:
            if listener.name not in protocols:
                raise self._fail("listeners", f"no security protocol is defined for listener {listener.name} "
                                              f"in listener.security.protocol.map")

        roles = values["process.roles"]
        controller_names = self.controller_listener_names
        if controller_names:
            present = [n for n in controller_names if n in names]
            if "controller" in roles and not present:
                raise self._fail("controller.listener.names",
                                 "must contain at least one listener name that appears in 'listeners' "
                                 "when process.roles includes controller")
            if "controller" not in roles and present:
                raise self._fail("controller.listener.names",
                                 f"listener {present[0]} must not appear in 'listeners' on a broker-only node")
            if "broker" in roles and not self.broker_listeners:
                raise self._fail("listeners", "needs a listener for clients besides the controller listeners")

        if values["advertised.listeners"] is not None:
            advertised = self.advertised_listeners
            for listener in advertised:
                if listener.name not in names:
                    raise self._fail("advertised.listeners",
                                     f"listener {listener.name} is not defined in 'listeners'")
                if listener.host in ("0.0.0.0", "::"):
                    raise self._fail("advertised.listeners",
                                     f"cannot use the nonroutable meta-address {listener.host}; "
                                     f"use a routable host name or address")
            if len({lst.name for lst in advertised}) != len(advertised):
                raise self._fail("advertised.listeners", "names a listener more than once")

        inter = values["inter.broker.listener.name"]
        if inter:
            if inter.upper() not in names:
                raise self._fail("inter.broker.listener.name", f"listener {inter} is not defined in 'listeners'")
            if inter.upper() in controller_names:
                raise self._fail("inter.broker.listener.name",
                                 f"listener {inter} is a controller listener and cannot serve brokers")

        voters = self.quorum_voters
        if len({v.id for v in voters}) != len(voters):
            raise self._fail("controller.quorum.voters", "names a voter id more than once")

        if values["group.min.session.timeout.ms"] > values["group.max.session.timeout.ms"]:
            raise self._fail("group.min.session.timeout.ms", "must not exceed group.max.session.timeout.ms")
        if values["log.cleaner.min.compaction.lag.ms"] > values["log.cleaner.max.compaction.lag.ms"]:
            raise self._fail("log.cleaner.max.compaction.lag.ms",
                             "must not be smaller than log.cleaner.min.compaction.lag.ms")
