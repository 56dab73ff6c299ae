"""``strom consume``: print records to stdout (like kafka-console-consumer.sh).

Without ``--group`` the consumer assigns partitions itself (all partitions of the topic from
metadata, or ``--partition N``) at the chosen start offset, so no consumer group, coordinator or
committed offset is involved. With ``--group`` it subscribes and commits like Kafka's tool.
Output per record, in Kafka's DefaultMessageFormatter order: [timestamp] [partition] [offset]
[headers] [key] [value], fields joined by the key separator (tab by default), ``null`` for a null
key/value, then the line separator. Kafka's ``--property NAME=VALUE`` formatter properties
(``PROPERTIES``) set the same switches as the ``--print-*`` flags; any other property is refused.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import IO, Any

from strom.cli._common import (
    CliError,
    add_client_arguments,
    client_config,
    from_kafka,
    is_true,
    non_negative_int,
    positive_int,
    property_type,
    unescape_separator,
)

METADATA_TIMEOUT_S = 30.0
# kafka-console-consumer's DefaultMessageFormatter properties this command honours: name -> kind
PROPERTIES = {"print.timestamp": bool, "print.partition": bool, "print.offset": bool, "print.headers": bool,
              "print.key": bool, "print.value": bool, "key.separator": str, "line.separator": str,
              "headers.separator": str, "null.literal": str}
ASSIGN_GROUP_ID = "strom-console-consumer"  # librdkafka needs one; never used for commits when assigning


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("consume", help="print records to stdout",
                              description="Print records of a topic, one per line.")
    p.add_argument("--topic", required=True, help="topic to read")
    add_client_arguments(p, config_aliases=("--consumer.config",), property_aliases=("--consumer-property",))
    p.add_argument("--from-beginning", action="store_true", help="start at the earliest offset")
    p.add_argument("--offset", type=parse_offset, metavar="N|earliest|latest",
                   help="start offset (default latest; not with --group)")
    p.add_argument("--partition", type=non_negative_int, help="read only this partition (not with --group)")
    p.add_argument("--max-messages", type=positive_int, metavar="N", help="exit after N records")
    p.add_argument("--group", help="consume as a member of this consumer group (subscribe and commit)")
    p.add_argument("--print-key", action="store_true", help="print keys")
    p.add_argument("--print-partition", action="store_true", help="print Partition:N")
    p.add_argument("--print-offset", action="store_true", help="print Offset:N")
    p.add_argument("--print-timestamp", action="store_true", help="print CreateTime:MS or LogAppendTime:MS")
    p.add_argument("--key-separator", type=unescape_separator, metavar="SEP",
                   help="separator between printed fields (default tab); implies --print-key")
    p.add_argument("--print-headers", action="store_true", help="print headers as KEY:VALUE,... (or NO_HEADERS)")
    p.add_argument("--property", type=property_type(PROPERTIES, "console consumer"), action="append", default=[],
                   metavar="NAME=VALUE",
                   help="a kafka-console-consumer formatter property (repeatable): " + ", ".join(PROPERTIES))
    p.add_argument("--timeout-ms", type=positive_int, metavar="MS",
                   help="exit after MS milliseconds without a record")
    p.set_defaults(func=run, validate=check_args)


@dataclass
class Formatter:
    """What to print per record: the ``--print-*`` flags, then ``--property`` settings."""

    print_timestamp: bool = False
    print_partition: bool = False
    print_offset: bool = False
    print_headers: bool = False
    print_key: bool = False
    print_value: bool = True
    key_separator: bytes = b"\t"
    line_separator: bytes = b"\n"
    headers_separator: bytes = b","
    null_literal: bytes = b"null"

    def format(self, msg: Any) -> bytes:
        return format_record(msg, print_key=self.print_key, separator=self.key_separator,
                             print_partition=self.print_partition, print_offset=self.print_offset,
                             print_timestamp=self.print_timestamp, print_headers=self.print_headers,
                             print_value=self.print_value, headers_separator=self.headers_separator,
                             null_literal=self.null_literal) + self.line_separator


def formatter(args: argparse.Namespace) -> Formatter:
    """The Formatter of the flags, then the ``--property`` settings (checked by formatter_property)."""
    f = Formatter(print_timestamp=args.print_timestamp, print_partition=args.print_partition,
                  print_offset=args.print_offset, print_headers=args.print_headers,
                  print_key=args.print_key or args.key_separator is not None)
    if args.key_separator is not None:
        f.key_separator = args.key_separator.encode()
    for name, value in args.property:
        if PROPERTIES[name] is bool:
            setattr(f, name.replace(".", "_"), is_true(value))
        else:
            setattr(f, name.replace(".", "_"), unescape_separator(value).encode())
    return f


def parse_offset(text: str) -> int | str:
    lowered = text.strip().lower()
    if lowered in ("earliest", "latest"):
        return lowered
    try:
        int(lowered)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, earliest or latest, got '{text}'") from None
    return non_negative_int(lowered)


def check_args(args: argparse.Namespace) -> None:
    """Reject flag combinations Kafka's tool rejects (usage error, exit 2)."""
    if args.group is not None and args.partition is not None:
        raise CliError("--partition cannot be used with --group (a group assigns partitions)", exit_code=2)
    if args.group is not None and args.offset is not None:
        raise CliError("--offset cannot be used with --group (the group's committed offsets apply)", exit_code=2)
    if args.from_beginning and args.offset is not None:
        raise CliError("--from-beginning and --offset cannot be used together", exit_code=2)


def start_offset(args: argparse.Namespace) -> int:
    """The librdkafka offset to assign at: OFFSET_BEGINNING, OFFSET_END or an absolute offset."""
    from confluent_kafka import OFFSET_BEGINNING, OFFSET_END  # noqa: PLC0415

    if args.from_beginning or args.offset == "earliest":
        return int(OFFSET_BEGINNING)
    if args.offset is None or args.offset == "latest":
        return int(OFFSET_END)
    return int(args.offset)


_TIMESTAMP_TYPES = {1: "CreateTime", 2: "LogAppendTime"}


def format_record(msg: Any, *, print_key: bool, separator: bytes, print_partition: bool = False,
                  print_offset: bool = False, print_timestamp: bool = False, print_headers: bool = False,
                  print_value: bool = True, headers_separator: bytes = b",", null_literal: bytes = b"null") -> bytes:
    """One output line (without the line separator) for a confluent_kafka Message-like object."""
    fields: list[bytes] = []
    if print_timestamp:
        kind, ms = msg.timestamp()
        name = _TIMESTAMP_TYPES.get(kind)
        fields.append(f"{name}:{ms}".encode() if name else b"NO_TIMESTAMP")
    if print_partition:
        fields.append(f"Partition:{msg.partition()}".encode())
    if print_offset:
        fields.append(f"Offset:{msg.offset()}".encode())
    if print_headers:
        headers = msg.headers() or []
        fields.append(headers_separator.join(
            k.encode() + b":" + (null_literal if v is None else v if isinstance(v, bytes) else str(v).encode())
            for k, v in headers) if headers else b"NO_HEADERS")
    if print_key:
        key = msg.key()
        fields.append(null_literal if key is None else key)
    if print_value:
        value = msg.value()
        fields.append(null_literal if value is None else value)
    return separator.join(fields)


def consumer_config(args: argparse.Namespace) -> dict[str, Any]:
    base: dict[str, Any] = {
        "group.id": args.group or ASSIGN_GROUP_ID,
        "enable.auto.commit": args.group is not None,
        "auto.offset.reset": "earliest" if args.from_beginning else "latest",
        "enable.partition.eof": False,
    }
    return client_config(args, base)


def run(args: argparse.Namespace, stdout: IO[bytes] | None = None, stderr: IO[str] | None = None) -> int:
    from confluent_kafka import Consumer, KafkaException, TopicPartition  # noqa: PLC0415 - lazy import

    check_args(args)
    out = stdout if stdout is not None else sys.stdout.buffer
    err = stderr if stderr is not None else sys.stderr
    fmt = formatter(args)
    try:
        consumer = Consumer(consumer_config(args))
    except KafkaException as exc:
        raise from_kafka(exc) from None
    except ValueError as exc:
        raise CliError(str(exc), exit_code=2) from None
    count = 0
    status = 0
    try:
        if args.group is not None:
            consumer.subscribe([args.topic])
        else:
            wait_s = args.timeout_ms / 1000 if args.timeout_ms is not None else METADATA_TIMEOUT_S
            metadata = consumer.list_topics(args.topic, timeout=wait_s)
            topic = metadata.topics.get(args.topic)
            if topic is None or topic.error is not None:
                error = topic.error if topic is not None else None
                raise (from_kafka(Exception(error)) if error is not None
                       else CliError(f"topic {args.topic} not found", name="UNKNOWN_TOPIC_OR_PARTITION"))
            partitions = sorted(topic.partitions)
            if args.partition is not None:
                if args.partition not in topic.partitions:
                    raise CliError(f"topic {args.topic} has no partition {args.partition}",
                                   name="UNKNOWN_TOPIC_OR_PARTITION")
                partitions = [args.partition]
            offset = start_offset(args)
            consumer.assign([TopicPartition(args.topic, p, offset) for p in partitions])
        last_record = time.monotonic()
        while args.max_messages is None or count < args.max_messages:
            want = 500 if args.max_messages is None else min(500, args.max_messages - count)
            messages = consumer.consume(num_messages=want, timeout=0.2)
            for msg in messages:
                error = msg.error()
                if error is not None:
                    if error.code() == -191:  # _PARTITION_EOF
                        continue
                    cli_error = from_kafka(Exception(error))
                    if error.fatal() or not error.retriable():
                        raise cli_error
                    continue
                out.write(fmt.format(msg))
                count += 1
            if messages:
                out.flush()
                last_record = time.monotonic()
            elif args.timeout_ms is not None and (time.monotonic() - last_record) * 1000 >= args.timeout_ms:
                break
    except KafkaException as exc:
        raise from_kafka(exc) from None
    except KeyboardInterrupt:
        status = 130
    except BrokenPipeError:
        status = 0
    finally:
        consumer.close()
    print(f"Processed a total of {count} messages", file=err)
    return status
