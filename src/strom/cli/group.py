"""``strom group list|describe|delete|reset-offsets|delete-offsets``: consumer groups over the wire.

Flags, column headers and messages follow Apache Kafka's ``kafka-consumer-groups.sh``. The work
is done by confluent_kafka's AdminClient (ListGroups, DescribeGroups/ConsumerGroupDescribe,
OffsetFetch, OffsetCommit, DeleteGroups) and a Consumer that is never subscribed and never commits
(ListOffsets for log start/end offsets and for ``--to-datetime``).

Simplifications and differences from Kafka's tool, also in docs/cli.md:

* confluent-kafka 2.16 has no binding for librdkafka's DeleteConsumerGroupOffsets, so
  ``delete-offsets`` sends FindCoordinator v1 and OffsetDelete v0 itself with the blocking
  ``strom.client.wire`` client (``WireClient``, PLAINTEXT only). ``delete`` first asks ApiVersions (same client) whether the
  broker serves DeleteGroups: librdkafka 2.16 aborts the process when a DeleteGroups request
  fails as unsupported (librdkafka issue #3663).
* A group that does not exist (state Dead) is an error: ``Error: GROUP_ID_NOT_FOUND: Consumer
  group 'G' does not exist.`` and exit 1 (Kafka's tool prints the message and exits 0).
* If the broker cannot describe groups (no DescribeGroups), ``describe`` (offsets view) warns and
  shows the committed offsets without members; a group without committed offsets is then
  reported as not existing. ``reset-offsets`` warns and relies on the broker, which refuses an
  admin OffsetCommit to a group with members (UNKNOWN_MEMBER_ID).
* Notes such as "has no active members" go to stderr so stdout holds only the table.
* ``--from-file``, ``--to-current``, ``--by-duration``, ``--export`` and ``--verbose`` are not
  implemented; ``reset-offsets`` takes one ``--group``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from strom.cli._common import (
    CLIENT_ID,
    CliError,
    add_format_argument,
    add_verb_aliases,
    admin_verb,
    bootstrap_addresses,
    error_code_name,
    client_config,
    from_kafka,
    non_negative_int,
    print_error,
    progress,
)
from strom.client import wire
from strom.errors import ErrorCode

TOOL_GROUP_ID = "strom-group-tool"  # the offsets consumer needs a group.id; it never joins or commits
_UNSUPPORTED = frozenset(["_UNSUPPORTED_FEATURE", "UNSUPPORTED_VERSION"])

OFFSETS_HEADERS = ("GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST",
                   "CLIENT-ID")
MEMBERS_HEADERS = ("GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS")
STATE_HEADERS = ("GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS")
RESET_HEADERS = ("GROUP", "TOPIC", "PARTITION", "NEW-OFFSET")
DELETE_OFFSETS_HEADERS = ("TOPIC", "PARTITION", "STATUS")

# confluent_kafka's ConsumerGroupState names -> Kafka's (what kafka-consumer-groups.sh prints)
STATE_NAMES = {
    "UNKNOWN": "Unknown",
    "PREPARING_REBALANCING": "PreparingRebalance",
    "COMPLETING_REBALANCING": "CompletingRebalance",
    "STABLE": "Stable",
    "DEAD": "Dead",
    "EMPTY": "Empty",
}
INACTIVE_STATES = frozenset(["Empty", "Dead"])  # Kafka resets offsets only in these


def register(subparsers: Any) -> None:
    group = subparsers.add_parser(
        "group", help="list, describe and delete consumer groups; reset and delete their offsets",
        description="Consumer group administration (like kafka-consumer-groups.sh).")
    verbs = group.add_subparsers(dest="verb", metavar="VERB", required=True)

    def verb(name: str, help_: str) -> argparse.ArgumentParser:
        return admin_verb(verbs, name, help_)

    p = verb("list", "list consumer group ids")
    p.add_argument("--state", type=parse_states, action="extend", default=[], metavar="STATE[,STATE...]",
                   help="only groups in these states: Stable, Empty, PreparingRebalance, CompletingRebalance, "
                        "Dead (repeatable)")
    p.add_argument("--type", choices=("classic", "consumer"), action="append", default=[], dest="group_type",
                   help="only groups of this protocol type (repeatable)")
    add_format_argument(p)
    p.set_defaults(func=run_list)

    p = verb("describe", "show a group's committed offsets and lag, its members, or its state")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--group", action="append", help="group id (repeatable)")
    which.add_argument("--all-groups", action="store_true", help="every group the cluster lists")
    view = p.add_mutually_exclusive_group()
    view.add_argument("--offsets", dest="view", action="store_const", const="offsets",
                      help="offsets and lag per partition (the default)")
    view.add_argument("--members", dest="view", action="store_const", const="members", help="members")
    view.add_argument("--state", dest="view", action="store_const", const="state",
                      help="coordinator, assignment strategy, state and member count")
    add_format_argument(p)
    p.set_defaults(func=run_describe, view="offsets")

    p = verb("delete", "delete groups (only groups without members)")
    p.add_argument("--group", required=True, action="append", help="group id (repeatable)")
    p.set_defaults(func=run_delete)

    p = verb("reset-offsets", "compute (and with --execute commit) new offsets for an inactive group")
    p.add_argument("--group", required=True, help="group id")
    scope = p.add_mutually_exclusive_group(required=True)
    scope.add_argument("--topic", type=parse_topic_partitions, action="append", metavar="TOPIC[:P,P...]",
                       help="topic, optionally with partitions (repeatable)")
    scope.add_argument("--all-topics", action="store_true", help="every topic the group has committed offsets for")
    spec = p.add_mutually_exclusive_group(required=True)
    spec.add_argument("--to-earliest", action="store_true", help="the log start offset")
    spec.add_argument("--to-latest", action="store_true", help="the log end offset")
    spec.add_argument("--to-offset", type=non_negative_int, metavar="N", help="offset N (clamped to the log)")
    spec.add_argument("--to-datetime", type=parse_datetime, metavar="YYYY-MM-DDTHH:mm:SS.sss",
                      help="the first offset at or after this time (local time unless it ends in Z or +hh:mm)")
    spec.add_argument("--shift-by", type=int, metavar="N", help="the committed offset plus N (may be negative)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="only print the new offsets (the default)")
    mode.add_argument("--execute", action="store_true", help="commit the new offsets")
    add_format_argument(p)
    p.set_defaults(func=run_reset_offsets)

    p = verb("delete-offsets", "delete a group's committed offsets for topics or partitions")
    p.add_argument("--group", required=True, help="group id")
    p.add_argument("--topic", required=True, type=parse_topic_partitions, action="append", metavar="TOPIC[:P,P...]",
                   help="topic, optionally with partitions (repeatable)")
    add_format_argument(p)
    p.set_defaults(func=run_delete_offsets)
    add_verb_aliases(group)


# ---------------------------------------------------------------------------- argument types
def _squash(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


_STATE_BY_SPELLING = {**{_squash(k): k for k in STATE_NAMES}, **{_squash(v): k for k, v in STATE_NAMES.items()}}


def parse_states(text: str) -> list[str]:
    """argparse type for ``--state Stable,Empty``: confluent_kafka ConsumerGroupState names."""
    states = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        name = _STATE_BY_SPELLING.get(_squash(item))
        if name is None:
            choices = ", ".join(v for v in STATE_NAMES.values() if v != "Unknown")
            raise argparse.ArgumentTypeError(f"unknown group state '{item}' (choose from {choices})")
        states.append(name)
    if not states:
        raise argparse.ArgumentTypeError("expected a group state")
    return states


def parse_topic_partitions(text: str) -> tuple[str, tuple[int, ...] | None]:
    """argparse type for ``TOPIC`` or ``TOPIC:0,1,2`` (Kafka's --topic of reset/delete-offsets)."""
    topic, sep, rest = text.partition(":")
    if not topic:
        raise argparse.ArgumentTypeError(f"expected TOPIC or TOPIC:P,P..., got '{text}'")
    if not sep:
        return topic, None
    try:
        partitions = tuple(int(p) for p in rest.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"partitions must be whole numbers: '{text}'") from None
    if any(p < 0 for p in partitions):
        raise argparse.ArgumentTypeError(f"partitions must not be negative: '{text}'")
    return topic, partitions


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def parse_datetime(text: str) -> int:
    """argparse type for ``--to-datetime``: ISO-8601 (Kafka's ``YYYY-MM-DDTHH:mm:SS.sss`` with optional
    ``Z`` or ``+hh:mm``; without a zone it is local time), as epoch milliseconds."""
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected YYYY-MM-DDTHH:mm:SS.sss, optionally ending in Z or +hh:mm, got '{text}'") from None
    if value.tzinfo is None:
        value = value.astimezone()  # local time, as Kafka's tool
    return (value - _EPOCH) // dt.timedelta(milliseconds=1)


# ---------------------------------------------------------------------------- model
@dataclass
class Member:
    consumer_id: str
    client_id: str
    host: str
    assignment: list[tuple[str, int]]
    group_instance_id: str | None = None


@dataclass
class GroupInfo:
    """A described group. ``described`` is False when the broker could not describe groups: then
    state, members and coordinator are unknown."""

    group: str
    state: str  # Kafka's name: Stable, Empty, PreparingRebalance, CompletingRebalance, Dead, Unknown
    type: str = "unknown"  # classic | consumer | unknown
    assignment_strategy: str = ""
    coordinator: tuple[int, str, int] | None = None  # (id, host, port)
    members: list[Member] = field(default_factory=list)
    described: bool = True


@dataclass
class OffsetRow:
    """One line of the default describe view; None prints as '-'."""

    group: str
    topic: str | None
    partition: int | None
    current_offset: int | None
    log_end_offset: int | None
    consumer_id: str | None = None
    host: str | None = None
    client_id: str | None = None

    @property
    def lag(self) -> int | None:
        if self.current_offset is None or self.log_end_offset is None:
            return None
        return self.log_end_offset - self.current_offset


def state_name(state: Any) -> str:
    name = getattr(state, "name", None) or str(state or "UNKNOWN")
    return STATE_NAMES.get(name, name.title().replace("_", ""))


def type_name(kind: Any) -> str:
    return (getattr(kind, "name", None) or str(kind or "UNKNOWN")).lower()


def group_info(description: Any) -> GroupInfo:
    """GroupInfo from a confluent_kafka ConsumerGroupDescription."""
    node = description.coordinator
    members = [Member(m.member_id, m.client_id, m.host,
                      [(tp.topic, tp.partition) for tp in (m.assignment.topic_partitions if m.assignment else [])],
                      m.group_instance_id) for m in description.members]
    return GroupInfo(description.group_id, state_name(getattr(description, "state", None)),
                     type_name(getattr(description, "type", None)), description.partition_assignor or "",
                     (node.id, node.host, node.port) if node is not None else None, members)


def offset_rows(info: GroupInfo, committed: Mapping[tuple[str, int], int],
                log_end: Mapping[tuple[str, int], int]) -> list[OffsetRow]:
    """Kafka's describe rows: each member's assigned partitions (a member without partitions gets a
    row of '-'), then partitions with a committed offset that no member owns. Sorted by topic and
    partition; members without partitions last."""
    rows: list[OffsetRow] = []
    owned: set[tuple[str, int]] = set()
    for m in info.members:
        if not m.assignment:
            rows.append(OffsetRow(info.group, None, None, None, None, m.consumer_id, m.host, m.client_id))
        for tp in m.assignment:
            owned.add(tp)
            rows.append(OffsetRow(info.group, tp[0], tp[1], committed.get(tp), log_end.get(tp),
                                  m.consumer_id, m.host, m.client_id))
    for tp, offset in committed.items():
        if tp not in owned:
            rows.append(OffsetRow(info.group, tp[0], tp[1], offset, log_end.get(tp)))
    return sorted(rows, key=lambda r: (r.topic is None, r.topic or "", -1 if r.partition is None else r.partition,
                                       r.consumer_id or ""))


# ---------------------------------------------------------------------------- rendering
def _cell(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def render_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Left-aligned columns separated by one space, '-' for unknown (Kafka's layout)."""
    cells = [list(headers)] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join(" ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)


def offsets_table(rows: Sequence[OffsetRow]) -> str:
    return render_table(OFFSETS_HEADERS, [(r.group, r.topic, r.partition, r.current_offset, r.log_end_offset, r.lag,
                                           r.consumer_id, r.host, r.client_id) for r in rows])


def members_table(info: GroupInfo) -> str:
    return render_table(MEMBERS_HEADERS, [(info.group, m.consumer_id, m.host, m.client_id, len(m.assignment))
                                          for m in sorted(info.members, key=lambda m: m.consumer_id)])


def _coordinator_text(info: GroupInfo) -> str | None:
    if info.coordinator is None:
        return None
    node_id, host, port = info.coordinator
    return f"{host}:{port} ({node_id})"


def state_table(info: GroupInfo) -> str:
    return render_table(STATE_HEADERS, [(info.group, _coordinator_text(info), info.assignment_strategy, info.state,
                                         len(info.members))])


def offsets_json(info: GroupInfo, rows: Sequence[OffsetRow]) -> dict[str, Any]:
    return {"group": info.group, "state": info.state, "partitions": [
        {"topic": r.topic, "partition": r.partition, "current_offset": r.current_offset,
         "log_end_offset": r.log_end_offset, "lag": r.lag, "consumer_id": r.consumer_id, "host": r.host,
         "client_id": r.client_id} for r in rows]}


def members_json(info: GroupInfo) -> dict[str, Any]:
    return {"group": info.group, "state": info.state, "members": [
        {"consumer_id": m.consumer_id, "group_instance_id": m.group_instance_id, "host": m.host,
         "client_id": m.client_id, "partitions": len(m.assignment),
         "assignment": [{"topic": t, "partition": p} for t, p in sorted(m.assignment)]}
        for m in sorted(info.members, key=lambda m: m.consumer_id)]}


def state_json(info: GroupInfo) -> dict[str, Any]:
    coordinator = None
    if info.coordinator is not None:
        node_id, host, port = info.coordinator
        coordinator = {"id": node_id, "host": host, "port": port}
    return {"group": info.group, "coordinator": coordinator, "assignment_strategy": info.assignment_strategy,
            "state": info.state, "type": info.type, "members": len(info.members)}


# ---------------------------------------------------------------------------- clients
def _admin(args: argparse.Namespace) -> Any:
    from confluent_kafka.admin import AdminClient  # noqa: PLC0415 - lazy: keeps `strom --help` fast

    return AdminClient(client_config(args))


def _consumer(args: argparse.Namespace) -> Any:
    """A consumer for log start/end offsets and offsets by time: never subscribes, never commits."""
    from confluent_kafka import Consumer, KafkaException  # noqa: PLC0415

    base = {"group.id": TOOL_GROUP_ID, "enable.auto.commit": False, "isolation.level": "read_uncommitted"}
    try:
        return Consumer(client_config(args, base))
    except KafkaException as exc:
        raise from_kafka(exc) from None
    except ValueError as exc:
        raise CliError(str(exc), exit_code=2) from None


def _wait(futures: Mapping[Any, Any], timeout_s: float) -> dict[Any, Any]:
    """Resolve admin futures; the first failure raises CliError."""
    from confluent_kafka import KafkaException  # noqa: PLC0415

    results: dict[Any, Any] = {}
    for key, future in futures.items():
        try:
            results[key] = future.result(timeout=timeout_s)
        except KafkaException as exc:
            raise from_kafka(exc) from None
        except TimeoutError:
            raise CliError(f"no answer within {timeout_s:g} s", name="REQUEST_TIMED_OUT") from None
    return results


def _call(func: Any, *args: Any, **kwargs: Any) -> Any:
    from confluent_kafka import KafkaException  # noqa: PLC0415

    try:
        return func(*args, **kwargs)
    except KafkaException as exc:
        raise from_kafka(exc) from None


def not_found(group: str) -> CliError:
    return CliError(f"Consumer group '{group}' does not exist.", name="GROUP_ID_NOT_FOUND")


def describe_group(admin: Any, group: str, timeout_s: float, *, fallback: bool = False,
                   err: IO[str] | None = None) -> GroupInfo:
    """DescribeGroups. With ``fallback``, a broker that cannot describe groups gives an undescribed
    GroupInfo and a warning instead of an error."""
    try:
        description = _wait(admin.describe_consumer_groups([group], request_timeout=timeout_s), timeout_s)[group]
    except CliError as exc:
        if exc.name == "GROUP_ID_NOT_FOUND":  # ConsumerGroupDescribe's answer; DescribeGroups says Dead
            return GroupInfo(group, "Dead")
        if not fallback or exc.name not in _UNSUPPORTED:
            raise
        print(f"warning: the broker cannot describe groups ({exc}); members and state unknown",
              file=err or sys.stderr)
        return GroupInfo(group, "Unknown", described=False)
    return group_info(description)


def committed_offsets(admin: Any, group: str, timeout_s: float) -> dict[tuple[str, int], int]:
    """OffsetFetch for every partition the group has committed."""
    from confluent_kafka import ConsumerGroupTopicPartitions  # noqa: PLC0415

    request = [ConsumerGroupTopicPartitions(group)]
    result = _wait(admin.list_consumer_group_offsets(request, request_timeout=timeout_s), timeout_s)[group]
    offsets: dict[tuple[str, int], int] = {}
    for tp in result.topic_partitions or []:
        if tp.error is not None:
            raise from_kafka(Exception(tp.error))
        if tp.offset >= 0:
            offsets[(tp.topic, tp.partition)] = tp.offset
    return offsets


def watermarks(consumer: Any, partitions: Iterable[tuple[str, int]], timeout_s: float, *,
               strict: bool = True) -> dict[tuple[str, int], tuple[int, int]]:
    """(log start, log end) per partition. Without ``strict`` a partition that cannot be asked
    (a deleted topic) is left out instead of failing."""
    from confluent_kafka import KafkaException, TopicPartition  # noqa: PLC0415

    marks: dict[tuple[str, int], tuple[int, int]] = {}
    for topic, partition in partitions:
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout_s,
                                                       cached=False)
        except KafkaException as exc:
            if strict:
                raise from_kafka(exc) from None
            continue
        marks[(topic, partition)] = (int(low), int(high))
    return marks


def topic_partitions(admin: Any, specs: Sequence[tuple[str, tuple[int, ...] | None]],
                     timeout_s: float) -> list[tuple[str, int]]:
    """Expand ``--topic T`` (every partition, from metadata) and ``--topic T:0,1`` (checked)."""
    wanted: dict[str, set[int] | None] = {}
    for topic, parts in specs:
        if parts is None or wanted.get(topic, set()) is None:
            wanted[topic] = None
        else:
            wanted.setdefault(topic, set()).update(parts)  # type: ignore[union-attr]
    metadata = _call(admin.list_topics, timeout=timeout_s)
    result: list[tuple[str, int]] = []
    for topic, parts in wanted.items():
        meta = metadata.topics.get(topic)
        error = getattr(meta, "error", None) if meta is not None else None
        if meta is None or error is not None or not meta.partitions:
            raise CliError(f"Topic '{topic}' does not exist.", name="UNKNOWN_TOPIC_OR_PARTITION")
        existing = set(meta.partitions)
        missing = sorted((parts or set()) - existing)
        if missing:
            raise CliError(f"Topic '{topic}' has no partition {','.join(map(str, missing))}.",
                           name="UNKNOWN_TOPIC_OR_PARTITION")
        result += [(topic, p) for p in sorted(existing if parts is None else parts)]
    return result


# ---------------------------------------------------------------------------- list
def run_list(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    from confluent_kafka import ConsumerGroupState, ConsumerGroupType  # noqa: PLC0415

    out = out or sys.stdout
    timeout_s = args.timeout_ms / 1000
    kwargs: dict[str, Any] = {"request_timeout": timeout_s}
    if args.state:
        kwargs["states"] = {ConsumerGroupState[s] for s in args.state}
    if args.group_type:
        kwargs["types"] = {ConsumerGroupType[t.upper()] for t in args.group_type}
    admin = _admin(args)  # keep a reference: the client is destroyed with the last one, failing its futures
    result = _wait({"list": _call(admin.list_consumer_groups, **kwargs)}, timeout_s)["list"]
    if result.errors:
        raise from_kafka(Exception(result.errors[0]))
    listings = sorted(result.valid, key=lambda g: g.group_id)
    if args.format == "json":
        print(json.dumps([{"group": g.group_id, "state": state_name(getattr(g, "state", None)),
                           "type": type_name(getattr(g, "type", None)),
                           "simple": bool(g.is_simple_consumer_group)} for g in listings], indent=2), file=out)
    else:
        for g in listings:
            print(g.group_id, file=out)
    return 0


# ---------------------------------------------------------------------------- describe
def run_describe(args: argparse.Namespace, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    timeout_s = args.timeout_ms / 1000
    admin = _admin(args)
    if args.all_groups:
        result = _wait({"list": _call(admin.list_consumer_groups, request_timeout=timeout_s)}, timeout_s)["list"]
        if result.errors:
            raise from_kafka(Exception(result.errors[0]))
        groups = sorted(g.group_id for g in result.valid)
    else:
        groups = list(dict.fromkeys(args.group))
    consumer = _consumer(args) if args.view == "offsets" and groups else None
    status = 0
    documents: list[dict[str, Any]] = []
    tables: list[str] = []
    try:
        for group in groups:
            info = describe_group(admin, group, timeout_s, fallback=args.view == "offsets", err=err)
            if info.state == "Dead":
                print_error(not_found(group), err)
                status = 1
                continue
            if args.view == "offsets":
                committed = committed_offsets(admin, group, timeout_s)
                if not info.described and not committed:
                    print_error(not_found(group), err)
                    status = 1
                    continue
                _state_note(info, err)
                wanted = set(committed) | {tp for m in info.members for tp in m.assignment}
                marks = watermarks(consumer, sorted(wanted), timeout_s, strict=False)
                rows = offset_rows(info, committed, {tp: high for tp, (_, high) in marks.items()})
                documents.append(offsets_json(info, rows))
                tables.append(offsets_table(rows))
            elif args.view == "members":
                _state_note(info, err)
                documents.append(members_json(info))
                if info.members:
                    tables.append(members_table(info))
            else:
                documents.append(state_json(info))
                tables.append(state_table(info))
    finally:
        if consumer is not None:
            consumer.close()
    if args.format == "json":
        print(json.dumps(documents, indent=2), file=out)
    elif tables:
        print("\n\n".join(tables), file=out)
    return status


def _state_note(info: GroupInfo, err: IO[str]) -> None:
    """Kafka's remarks about a group without members or in a rebalance (on stderr here)."""
    if info.state == "Empty":
        print(f"Consumer group '{info.group}' has no active members.", file=err)
    elif info.state in ("PreparingRebalance", "CompletingRebalance"):
        print(f"Warning: Consumer group '{info.group}' is rebalancing.", file=err)


# ---------------------------------------------------------------------------- delete
def run_delete(args: argparse.Namespace, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    from confluent_kafka import KafkaException  # noqa: PLC0415

    out = out or sys.stdout
    err = err or sys.stderr
    timeout_s = args.timeout_ms / 1000
    groups = list(dict.fromkeys(args.group))
    conf = client_config(args)
    if str(conf.get("security.protocol", "plaintext")).lower() == "plaintext" and \
            API_DELETE_GROUPS not in wire_client(conf, timeout_s).api_keys():
        # librdkafka 2.16 aborts the process (rd_kafka_q_destroy0 assertion) when it destroys an
        # admin client whose DeleteGroups request failed with "not supported by broker".
        raise CliError("the broker does not support DeleteGroups", name="_UNSUPPORTED_FEATURE")
    admin = _admin(args)  # keep a reference while the futures run
    futures = _call(admin.delete_consumer_groups, groups, request_timeout=timeout_s)
    status = 0
    for group in groups:
        try:
            futures[group].result(timeout=timeout_s)
        except KafkaException as exc:
            error = from_kafka(exc)
            print_error(CliError(f"Group '{group}' could not be deleted: {error.message}", name=error.name), err)
            status = 1
            continue
        except TimeoutError:
            print_error(CliError(f"Group '{group}': no answer within {timeout_s:g} s", name="REQUEST_TIMED_OUT"), err)
            status = 1
            continue
        print(f"Deleted consumer group '{group}'.", file=out)
    return status


# ---------------------------------------------------------------------------- reset-offsets
def clamp(tp: tuple[str, int], offset: int, low: int, high: int, err: IO[str]) -> int:
    """Kafka's checkOffsetsRange: keep the new offset within [log start, log end], with a warning."""
    name = f"{tp[0]}-{tp[1]}"
    if offset < low:
        print(f"warning: New offset ({offset}) is lower than earliest offset for topic partition {name}. "
              f"Value will be set to {low}", file=err)
        return low
    if offset > high:
        print(f"warning: New offset ({offset}) is higher than latest offset for topic partition {name}. "
              f"Value will be set to {high}", file=err)
        return high
    return offset


def requested_offsets(args: argparse.Namespace, consumer: Any, partitions: Sequence[tuple[str, int]],
                      marks: Mapping[tuple[str, int], tuple[int, int]], committed: Mapping[tuple[str, int], int],
                      timeout_s: float) -> dict[tuple[str, int], int]:
    """The offset each reset spec asks for, before clamping."""
    if args.to_earliest:
        return {tp: marks[tp][0] for tp in partitions}
    if args.to_latest:
        return {tp: marks[tp][1] for tp in partitions}
    if args.to_offset is not None:
        return {tp: args.to_offset for tp in partitions}
    if args.shift_by is not None:
        missing = [f"{t}-{p}" for t, p in partitions if (t, p) not in committed]
        if missing:
            raise CliError(f"Cannot shift offsets of {', '.join(missing)}: the group '{args.group}' has no "
                           "committed offset there")
        return {tp: committed[tp] + args.shift_by for tp in partitions}
    return offsets_for_time(consumer, partitions, args.to_datetime, marks, timeout_s)


def offsets_for_time(consumer: Any, partitions: Sequence[tuple[str, int]], timestamp_ms: int,
                     marks: Mapping[tuple[str, int], tuple[int, int]], timeout_s: float) -> dict[tuple[str, int], int]:
    """ListOffsets by timestamp; a partition without a record that late resets to its log end (Kafka)."""
    from confluent_kafka import TopicPartition  # noqa: PLC0415

    found = _call(consumer.offsets_for_times, [TopicPartition(t, p, timestamp_ms) for t, p in partitions],
                  timeout=timeout_s)
    result: dict[tuple[str, int], int] = {}
    for tp in found:
        if tp.error is not None:
            raise from_kafka(Exception(tp.error))
        key = (tp.topic, tp.partition)
        result[key] = tp.offset if tp.offset >= 0 else marks[key][1]
    return result


def run_reset_offsets(args: argparse.Namespace, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition  # noqa: PLC0415

    out = out or sys.stdout
    err = err or sys.stderr
    timeout_s = args.timeout_ms / 1000
    admin = _admin(args)
    info = describe_group(admin, args.group, timeout_s, fallback=True, err=err)
    if info.described and info.state not in INACTIVE_STATES:
        raise CliError(f"Assignments can only be reset if the group '{args.group}' is inactive, but the current "
                       f"state is {info.state}.", name="NON_EMPTY_GROUP")
    committed = committed_offsets(admin, args.group, timeout_s)
    partitions = sorted(committed) if args.all_topics else topic_partitions(admin, args.topic, timeout_s)
    new: dict[tuple[str, int], int] = {}
    if partitions:
        consumer = _consumer(args)
        try:
            marks = watermarks(consumer, partitions, timeout_s)
            asked = requested_offsets(args, consumer, partitions, marks, committed, timeout_s)
        finally:
            consumer.close()
        new = {tp: clamp(tp, asked[tp], *marks[tp], err) for tp in partitions}
    else:
        print(f"The group '{args.group}' has no committed offsets to reset.", file=err)
    if args.execute and new:
        progress(f"Committing {len(new)} offsets for group {args.group}...", err)
        request = [ConsumerGroupTopicPartitions(args.group, [TopicPartition(t, p, o) for (t, p), o in new.items()])]
        result = _wait(_call(admin.alter_consumer_group_offsets, request, request_timeout=timeout_s), timeout_s)
        for tp in result[args.group].topic_partitions or []:
            if tp.error is not None:
                error = from_kafka(Exception(tp.error))
                raise CliError(f"{tp.topic}-{tp.partition}: {error.message}", name=error.name)
    if args.format == "json":
        print(json.dumps([{"group": args.group, "topic": t, "partition": p, "new_offset": o}
                          for (t, p), o in sorted(new.items())], indent=2), file=out)
    else:
        print(render_table(RESET_HEADERS, [(args.group, t, p, o) for (t, p), o in sorted(new.items())]), file=out)
    if not args.execute:
        print("Dry run: nothing was changed; add --execute to commit these offsets.", file=err)
    return 0


# ---------------------------------------------------------------------------- delete-offsets
def run_delete_offsets(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    out = out or sys.stdout
    timeout_s = args.timeout_ms / 1000
    client = wire_client(client_config(args), timeout_s)
    partitions = topic_partitions(_admin(args), args.topic, timeout_s)
    results = client.delete_offsets(args.group, partitions)
    rows = sorted(results.items())
    if args.format == "json":
        print(json.dumps([{"topic": t, "partition": p, "error": None if code == 0 else error_code_name(code)}
                          for (t, p), code in rows], indent=2), file=out)
    else:
        print(render_table(DELETE_OFFSETS_HEADERS, [(t, p, "Successful" if code == 0 else f"Error: {error_code_name(code)}")
                                                    for (t, p), code in rows]), file=out)
    return 1 if any(code != 0 for _, code in rows) else 0


def wire_client(conf: Mapping[str, Any], timeout_s: float) -> WireClient:
    """The small PLAINTEXT client for what confluent_kafka cannot do (see the module docstring)."""
    protocol = str(conf.get("security.protocol", "plaintext")).lower()
    if protocol != "plaintext":
        raise CliError(f"this command speaks PLAINTEXT only, not security.protocol={protocol}", exit_code=2)
    return WireClient(bootstrap_addresses(str(conf["bootstrap.servers"])), str(conf.get("client.id", CLIENT_ID)),
                      timeout_s)


API_FIND_COORDINATOR, API_API_VERSIONS, API_DELETE_GROUPS, API_OFFSET_DELETE = 10, 18, 42, 47
_RETRY_COORDINATOR = frozenset([ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, ErrorCode.COORDINATOR_NOT_AVAILABLE,
                                ErrorCode.NOT_COORDINATOR])


class WireClient:
    """ApiVersions, FindCoordinator and OffsetDelete through ``strom.client.wire`` (one connection
    per request), retrying while the coordinator moves or loads, until ``timeout_s``. One
    short-lived instance per command; not thread-safe."""

    def __init__(self, bootstrap: Sequence[tuple[str, int]], client_id: str, timeout_s: float) -> None:
        self.bootstrap = list(bootstrap)
        self.client_id = client_id
        self.deadline = time.monotonic() + timeout_s
        self.correlation_id = 0

    def api_keys(self) -> set[int]:
        """The API keys the first bootstrap broker that answers advertises (ApiVersions v0; an
        UNSUPPORTED_VERSION answer still lists them, as Kafka does)."""
        last: CliError | None = None
        for address in self.bootstrap:
            try:
                response = self._call(address, API_API_VERSIONS, 0, {})
            except _Retry as retry:
                last = retry.error
                continue
            if response.error_code not in (0, ErrorCode.UNSUPPORTED_VERSION):
                raise CliError("ApiVersions failed", name=error_code_name(response.error_code))
            return {k.api_key for k in response.api_keys}
        raise last or CliError("no bootstrap server answered", name="_TRANSPORT")

    def any_broker(self, api_key: int, version: int, data: Mapping[str, Any]) -> Any:
        """Send one request to the first bootstrap broker that answers; its response entity."""
        last: CliError | None = None
        for address in self.bootstrap:
            try:
                return self._call(address, api_key, version, data)
            except _Retry as retry:
                last = retry.error
        raise last or CliError("no bootstrap server answered", name="_TRANSPORT")

    def delete_offsets(self, group: str, partitions: Sequence[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """OffsetDelete through the group's coordinator: error code per partition. A top-level
        error (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP, ...) raises CliError."""
        by_topic: dict[str, list[int]] = {}
        for topic, partition in partitions:
            by_topic.setdefault(topic, []).append(partition)
        request = {"group_id": group, "topics": [{"name": t, "partitions": [{"partition_index": p} for p in ps]}
                                                 for t, ps in by_topic.items()]}
        last: CliError | None = None
        while True:
            try:
                response = self._call(self._find_coordinator(group), API_OFFSET_DELETE, 0, request)
                error = response.error_code
                if error in _RETRY_COORDINATOR:
                    raise _Retry(CliError(f"coordinator for group '{group}' not ready", name=error_code_name(error)))
                if error == ErrorCode.GROUP_ID_NOT_FOUND:
                    raise not_found(group)
                if error != 0:
                    raise CliError(f"could not delete offsets of group '{group}'", name=error_code_name(error))
                return {(t.name, p.partition_index): int(p.error_code) for t in response.topics for p in t.partitions}
            except _Retry as retry:
                last = retry.error
            if time.monotonic() + 0.2 >= self.deadline:
                raise last
            time.sleep(0.2)

    def _find_coordinator(self, group: str) -> tuple[str, int]:
        last: CliError | None = None
        for address in self.bootstrap:
            try:
                response = self._call(address, API_FIND_COORDINATOR, 1, {"key": group, "key_type": 0})
            except _Retry as retry:
                last = retry.error
                continue
            error, message = response.error_code, response.error_message
            if error in _RETRY_COORDINATOR:
                raise _Retry(CliError(message or f"no coordinator for group '{group}' yet", name=error_code_name(error)))
            if error != 0:
                raise CliError(message or "FindCoordinator failed", name=error_code_name(error))
            return response.host, response.port
        raise _Retry(last or CliError("no bootstrap server answered", name="_TRANSPORT"))

    def _call(self, address: tuple[str, int], api_key: int, version: int, data: Mapping[str, Any]) -> Any:
        self.correlation_id += 1
        try:
            return wire.call(address, api_key, version, data, client_id=self.client_id,
                             correlation_id=self.correlation_id, timeout_s=self.deadline - time.monotonic())
        except wire.WireError as exc:
            error = CliError(exc.message, name=exc.name)
            if exc.transient:
                raise _Retry(error) from None
            raise error from None


class _Retry(Exception):
    def __init__(self, error: CliError) -> None:
        super().__init__(str(error))
        self.error = error
