"""``strom topic create|list|describe|delete|alter|delete-records``: topic administration over the wire.

Uses confluent_kafka's AdminClient. Flags and the ``--describe`` layout follow Apache Kafka's
``kafka-topics.sh``; ``alter --add-config/--delete-config`` (IncrementalAlterConfigs) is what
``kafka-configs.sh --alter`` does for a topic; ``delete-records --offset-json-file`` (DeleteRecords)
is ``kafka-delete-records.sh``, with its JSON file and its output lines.
"""
from __future__ import annotations

import argparse
import base64
import json
import struct
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from strom.cli._common import (
    CliError,
    add_format_argument,
    add_verb_aliases,
    admin_verb,
    client_config,
    from_kafka,
    key_value,
    positive_int,
    with_config_suggestion,
)

_CONFIGS_UNSUPPORTED = frozenset(["_UNSUPPORTED_FEATURE", "UNSUPPORTED_VERSION"])
SKIPPED = object()  # result of a future whose error was ignored (--if-exists, --if-not-exists)


def register(subparsers: Any) -> None:
    topic = subparsers.add_parser("topic", help="create, list, describe, delete and alter topics; delete records",
                                  description="Topic administration (like kafka-topics.sh).")
    verbs = topic.add_subparsers(dest="verb", metavar="VERB", required=True)

    def verb(name: str, help_: str) -> argparse.ArgumentParser:
        return admin_verb(verbs, name, help_)

    p = verb("create", "create a topic")
    p.add_argument("--topic", required=True, help="topic name")
    p.add_argument("--partitions", type=positive_int, help="partition count (default: the broker's num.partitions)")
    p.add_argument("--replication-factor", type=positive_int,
                   help="replicas per partition (default: the broker's default.replication.factor)")
    p.add_argument("--config", type=key_value, action="append", default=[], metavar="KEY=VALUE",
                   help="a topic setting (repeatable)")
    p.add_argument("--if-not-exists", action="store_true", help="succeed if the topic already exists")
    p.set_defaults(func=run_create)

    p = verb("list", "list topic names")
    p.add_argument("--exclude-internal", action="store_true", help="leave out internal topics (__*)")
    add_format_argument(p)
    p.set_defaults(func=run_list)

    p = verb("describe", "describe partitions, leaders, replicas and non-default settings")
    p.add_argument("--topic", action="append", default=[], help="topic name (repeatable; default: all)")
    p.add_argument("--exclude-internal", action="store_true", help="leave out internal topics (__*)")
    add_format_argument(p)
    p.set_defaults(func=run_describe)

    p = verb("delete", "delete a topic")
    p.add_argument("--topic", required=True, action="append", help="topic name (repeatable)")
    p.add_argument("--if-exists", action="store_true", help="succeed if the topic does not exist")
    p.set_defaults(func=run_delete)

    p = verb("alter", "add partitions or change topic settings")
    p.add_argument("--topic", required=True, help="topic name")
    p.add_argument("--partitions", type=positive_int, help="new (larger) partition count")
    p.add_argument("--add-config", type=key_value, action="append", default=[], metavar="KEY=VALUE",
                   help="set a topic setting (repeatable)")
    p.add_argument("--delete-config", action="append", default=[], metavar="KEY",
                   help="remove a topic override, back to the broker default (repeatable)")
    p.add_argument("--if-exists", action="store_true", help="succeed if the topic does not exist")
    p.set_defaults(func=run_alter, validate=check_alter_args)

    p = verb("delete-records", "delete the records of partitions below an offset (like kafka-delete-records.sh)")
    p.add_argument("--offset-json-file", required=True, metavar="FILE",
                   help='JSON {"partitions": [{"topic": "t", "partition": 0, "offset": 5}], "version": 1}; '
                        "offset -1 means the high watermark")
    add_format_argument(p)
    p.set_defaults(func=run_delete_records)
    add_verb_aliases(topic)


# ---------------------------------------------------------------------------- model and rendering
@dataclass
class PartitionInfo:
    partition: int
    leader: int  # -1: none
    replicas: list[int]
    isr: list[int]


@dataclass
class TopicInfo:
    name: str
    topic_id: str
    partitions: list[PartitionInfo]
    configs: dict[str, str] = field(default_factory=dict)  # non-default settings only
    internal: bool = False

    @property
    def replication_factor(self) -> int:
        return len(self.partitions[0].replicas) if self.partitions else 0


def _ids(nodes: Iterable[int]) -> str:
    return ",".join(str(n) for n in nodes)


def render_describe_text(topics: Sequence[TopicInfo]) -> str:
    """kafka-topics.sh --describe layout: one summary line per topic, one line per partition."""
    lines: list[str] = []
    for t in topics:
        configs = ",".join(f"{k}={v}" for k, v in sorted(t.configs.items()))
        lines.append(f"Topic: {t.name}\tTopicId: {t.topic_id}\tPartitionCount: {len(t.partitions)}\t"
                     f"ReplicationFactor: {t.replication_factor}\tConfigs: {configs}")
        for p in sorted(t.partitions, key=lambda p: p.partition):
            leader = "none" if p.leader < 0 else str(p.leader)
            lines.append(f"\tTopic: {t.name}\tPartition: {p.partition}\tLeader: {leader}\t"
                         f"Replicas: {_ids(p.replicas)}\tIsr: {_ids(p.isr)}")
    return "\n".join(lines)


def describe_json(topics: Sequence[TopicInfo]) -> list[dict[str, Any]]:
    return [{
        "name": t.name,
        "topic_id": t.topic_id,
        "internal": t.internal,
        "partition_count": len(t.partitions),
        "replication_factor": t.replication_factor,
        "configs": dict(sorted(t.configs.items())),
        "partitions": [{"partition": p.partition, "leader": p.leader, "replicas": p.replicas, "isr": p.isr}
                       for p in sorted(t.partitions, key=lambda p: p.partition)],
    } for t in topics]


def is_internal(name: str) -> bool:
    return name.startswith("__")


# ---------------------------------------------------------------------------- commands
def _admin(args: argparse.Namespace) -> Any:
    from confluent_kafka.admin import AdminClient  # noqa: PLC0415 - lazy: keeps `strom --help` fast

    return AdminClient(client_config(args))


def _wait(futures: dict[Any, Any], timeout_s: float, *, ignore: Iterable[str] = ()) -> dict[Any, Any]:
    """Resolve admin futures; the first failure (other than error names in ``ignore``) raises CliError."""
    from confluent_kafka import KafkaException  # noqa: PLC0415

    results: dict[Any, Any] = {}
    for key, future in futures.items():
        try:
            results[key] = future.result(timeout=timeout_s)
        except KafkaException as exc:
            error = from_kafka(exc)
            if error.name in set(ignore):
                results[key] = SKIPPED
                continue
            if error.name == "UNKNOWN_TOPIC_OR_PARTITION" and isinstance(_topic_of(key), str):
                raise CliError(f"Topic '{_topic_of(key)}' does not exist.", name=error.name) from None
            raise error from None
        except TimeoutError:
            raise CliError(f"no answer within {timeout_s:g} s", name="REQUEST_TIMED_OUT") from None
    return results


def _topic_of(key: Any) -> Any:
    """The topic a future's key names: a topic name, or a ConfigResource of a topic."""
    return getattr(key, "name", key)


def run_create(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    from confluent_kafka.admin import NewTopic  # noqa: PLC0415

    out = out or sys.stdout
    timeout_s = args.timeout_ms / 1000
    new = NewTopic(args.topic, num_partitions=args.partitions or -1,
                   replication_factor=args.replication_factor or -1, config=dict(args.config))
    admin = _admin(args)
    ignore = ("TOPIC_ALREADY_EXISTS",) if args.if_not_exists else ()
    results = _wait(admin.create_topics([new], request_timeout=timeout_s, operation_timeout=timeout_s), timeout_s,
                    ignore=ignore)
    if results.get(args.topic) is not SKIPPED:
        print(f"Created topic {args.topic}.", file=out)
    return 0


def _list_metadata(admin: Any, timeout_s: float) -> Any:
    from confluent_kafka import KafkaException  # noqa: PLC0415

    try:
        return admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise from_kafka(exc) from None


def run_list(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    out = out or sys.stdout
    metadata = _list_metadata(_admin(args), args.timeout_ms / 1000)
    names = sorted(n for n in metadata.topics if not (args.exclude_internal and is_internal(n)))
    if args.format == "json":
        rows = []
        for name in names:
            parts = metadata.topics[name].partitions
            replicas = len(next(iter(parts.values())).replicas) if parts else 0
            rows.append({"name": name, "partitions": len(parts), "replicas": replicas})
        print(json.dumps(rows, indent=2), file=out)
    else:
        for name in names:
            print(name, file=out)
    return 0


def fetch_topics(admin: Any, names: Sequence[str], timeout_s: float) -> list[TopicInfo]:
    """Describe topics (DescribeTopics via Metadata, then DescribeConfigs for the overrides)."""
    from confluent_kafka import TopicCollection  # noqa: PLC0415
    from confluent_kafka.admin import ConfigResource, ConfigSource, ResourceType  # noqa: PLC0415

    described = _wait(admin.describe_topics(TopicCollection(list(names)), request_timeout=timeout_s), timeout_s)
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in names]
    try:
        configs = _wait(admin.describe_configs(resources, request_timeout=timeout_s), timeout_s) if resources else {}
    except CliError as exc:
        if exc.name not in _CONFIGS_UNSUPPORTED:
            raise
        print(f"warning: the broker cannot describe configs ({exc}); Configs left empty", file=sys.stderr)
        configs = {}
    by_name = {res.name: entries for res, entries in configs.items()}
    topics: list[TopicInfo] = []
    for name in names:
        d = described[name]
        entries = by_name.get(name) or {}
        overrides = {k: ("[hidden]" if e.is_sensitive else str(e.value)) for k, e in entries.items()
                     if _source(e) != ConfigSource.DEFAULT_CONFIG.value and not e.is_default}
        partitions = [PartitionInfo(p.id, p.leader.id if p.leader is not None else -1,
                                    [n.id for n in p.replicas], [n.id for n in p.isr]) for p in d.partitions]
        topics.append(TopicInfo(name, kafka_topic_id(d.topic_id), partitions, overrides, bool(d.is_internal)))
    return topics


def kafka_topic_id(uuid: Any) -> str:
    """A topic id as Kafka prints it: the 16 bytes in URL-safe base64 without padding
    (confluent_kafka's ``str(Uuid)`` uses the standard alphabet, with ``+`` and ``/``)."""
    if not hasattr(uuid, "get_most_significant_bits"):
        return str(uuid)
    raw = struct.pack(">qq", uuid.get_most_significant_bits(), uuid.get_least_significant_bits())
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _source(entry: Any) -> Any:
    return getattr(entry.source, "value", entry.source)


def run_describe(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    out = out or sys.stdout
    timeout_s = args.timeout_ms / 1000
    admin = _admin(args)
    names = list(dict.fromkeys(args.topic))
    if not names:
        metadata = _list_metadata(admin, timeout_s)
        names = sorted(n for n in metadata.topics if not (args.exclude_internal and is_internal(n)))
    topics = fetch_topics(admin, names, timeout_s) if names else []
    if args.format == "json":
        print(json.dumps(describe_json(topics), indent=2), file=out)
    elif topics:
        print(render_describe_text(topics), file=out)
    return 0


def run_delete(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    out = out or sys.stdout
    timeout_s = args.timeout_ms / 1000
    admin = _admin(args)
    ignore = ("UNKNOWN_TOPIC_OR_PARTITION",) if args.if_exists else ()
    results = _wait(admin.delete_topics(list(args.topic), request_timeout=timeout_s, operation_timeout=timeout_s),
                    timeout_s, ignore=ignore)
    for name in args.topic:
        if results.get(name) is not SKIPPED:
            print(f"Deleted topic {name}.", file=out)
    return 0


def check_alter_args(args: argparse.Namespace) -> None:
    if args.partitions is None and not args.add_config and not args.delete_config:
        raise CliError("nothing to alter: give --partitions, --add-config or --delete-config", exit_code=2)


def run_alter(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    from confluent_kafka.admin import (  # noqa: PLC0415
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
        NewPartitions,
        ResourceType,
    )

    out = out or sys.stdout
    check_alter_args(args)
    timeout_s = args.timeout_ms / 1000
    admin = _admin(args)
    ignore = ("UNKNOWN_TOPIC_OR_PARTITION",) if args.if_exists else ()
    if args.partitions is not None:
        futures = admin.create_partitions([NewPartitions(args.topic, args.partitions)], request_timeout=timeout_s,
                                          operation_timeout=timeout_s)
        if SKIPPED in _wait(futures, timeout_s, ignore=ignore).values():
            return 0
        print(f"Topic {args.topic} now has {args.partitions} partitions.", file=out)
    if args.add_config or args.delete_config:
        entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in args.add_config]
        entries += [ConfigEntry(k, None, incremental_operation=AlterConfigOpType.DELETE) for k in args.delete_config]
        resource = ConfigResource(ResourceType.TOPIC, args.topic, incremental_configs=entries)
        names = [k for k, _ in args.add_config] + list(args.delete_config)
        try:
            results = _wait(admin.incremental_alter_configs([resource], request_timeout=timeout_s), timeout_s,
                            ignore=ignore)
        except CliError as exc:
            raise with_config_suggestion(exc, names, topic=True) from None
        if SKIPPED in results.values():
            return 0
        print(f"Completed updating config for topic {args.topic}.", file=out)
    return 0


def parse_offset_json(text: str) -> list[tuple[str, int, int]]:
    """kafka-delete-records.sh's offset file: ``{"partitions": [{"topic", "partition", "offset"}],
    "version": 1}`` -> [(topic, partition, offset)]; CliError (exit 2) on anything else,
    duplicate partitions included."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise CliError(f"the offset JSON file is not valid JSON: {exc}", exit_code=2) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("partitions"), list):
        raise CliError('the offset JSON file needs a "partitions" list', exit_code=2)
    if doc.get("version", 1) != 1:
        raise CliError(f"Not supported version field value {doc.get('version')!r} (only 1)", exit_code=2)
    out: list[tuple[str, int, int]] = []
    for entry in doc["partitions"]:
        if not isinstance(entry, dict):
            raise CliError(f"each partition must be an object, got {entry!r}", exit_code=2)
        topic, partition, offset = entry.get("topic"), entry.get("partition"), entry.get("offset")
        if (not isinstance(topic, str) or not topic or type(partition) is not int or partition < 0
                or type(offset) is not int):
            raise CliError('each partition needs "topic" (a name), "partition" (>= 0) and "offset" '
                           f"(an integer), got {json.dumps(entry)}", exit_code=2)
        out.append((topic, partition, offset))
    seen = [(t, p) for t, p, _ in out]
    duplicates = sorted({f"{t}-{p}" for t, p in seen if seen.count((t, p)) > 1})
    if duplicates:
        raise CliError(f"Offset json file contains duplicate topic partitions: {','.join(duplicates)}", exit_code=2)
    if not out:
        raise CliError("the offset JSON file names no partition", exit_code=2)
    return out


def run_delete_records(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    """Kafka's lines: ``Records delete operation completed:`` then, per partition,
    ``partition: t-0<TAB>low_watermark: 5`` or ``partition: t-0<TAB>error: NAME: message``.
    Exit status 1 when any partition failed (Kafka's tool exits 0)."""
    from confluent_kafka import KafkaException, TopicPartition  # noqa: PLC0415

    out = out or sys.stdout
    try:
        with open(args.offset_json_file, encoding="utf-8") as f:
            wanted = parse_offset_json(f.read())
    except OSError as exc:
        raise CliError(f"cannot read {args.offset_json_file}: {exc.strerror or exc}", exit_code=2) from None
    timeout_s = args.timeout_ms / 1000
    admin = _admin(args)
    futures = admin.delete_records([TopicPartition(t, p, o) for t, p, o in wanted], request_timeout=timeout_s,
                                   operation_timeout=timeout_s)
    rows: list[dict[str, Any]] = []
    for tp, future in futures.items():
        row: dict[str, Any] = {"topic": tp.topic, "partition": tp.partition}
        try:
            row["low_watermark"] = future.result(timeout=timeout_s).low_watermark
        except KafkaException as exc:
            error = from_kafka(exc)
            row["error"], row["message"] = error.name, error.message
        except TimeoutError:
            row["error"], row["message"] = "REQUEST_TIMED_OUT", f"no answer within {timeout_s:g} s"
        rows.append(row)
    rows.sort(key=lambda r: (r["topic"], r["partition"]))
    if args.format == "json":
        print(json.dumps(rows, indent=2), file=out)
    else:
        print("Executing records delete operation", file=out)
        print("Records delete operation completed:", file=out)
        for r in rows:
            result = (f"low_watermark: {r['low_watermark']}" if "error" not in r
                      else f"error: {r['error']}: {r['message']}")
            print(f"partition: {r['topic']}-{r['partition']}\t{result}", file=out)
    return 1 if any("error" in r for r in rows) else 0
