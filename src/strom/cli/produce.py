"""``strom produce``: one record per stdin line (like kafka-console-producer.sh).

Lines lose their terminator (``\\n`` or ``\\r\\n``); an empty line is a record with an empty
value. With ``--key-separator SEP`` each line is ``key SEP value`` (Kafka's ``parse.key=true``
with ``key.separator``); a line without the separator is an error, as in Kafka. Kafka's
``--property`` spelling works too (``PROPERTIES``: ``parse.key``, ``key.separator``,
``ignore.error``, ``null.marker``). Everything is flushed at end of input; any delivery failure
makes the exit status 1. Keys go to partitions by murmur2, as with Java clients (librdkafka's
``partitioner=murmur2_random``).
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from strom.cli._common import (
    CliError,
    add_client_arguments,
    client_config,
    from_kafka,
    is_terminal,
    is_true,
    non_negative_int,
    positive_int,
    print_error,
    progress,
    property_type,
    unescape_separator,
)

COMPRESSION = ("none", "gzip", "snappy", "lz4", "zstd")
# Java's partitioner for keyed records: the same key lands on the same partition as from Java
# clients and kafka-python (librdkafka's default, consistent_random, hashes with CRC32).
PARTITIONER = "murmur2_random"
# kafka-console-producer's LineMessageReader properties this command honours: name -> kind
PROPERTIES = {"parse.key": bool, "key.separator": str, "ignore.error": bool, "null.marker": str}
ACKS = ("all", "-1", "0", "1")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("produce", help="send stdin lines as records",
                              description="Send one record per line of standard input.")
    p.add_argument("--topic", required=True, help="topic to write to")
    add_client_arguments(p, config_aliases=("--producer.config",), property_aliases=("--producer-property",))
    p.add_argument("--key-separator", type=unescape_separator, metavar="SEP",
                   help="lines are KEY<SEP>VALUE ('\\t' is a tab); without it records have no key")
    p.add_argument("--acks", "--request-required-acks", dest="acks", choices=ACKS, default="all",
                   help="acks required from the broker (default all)")
    p.add_argument("--compression", "--compression-codec", dest="compression", choices=COMPRESSION,
                   default="none", help="compression codec (default none)")
    p.add_argument("--property", type=property_type(PROPERTIES, "console producer"), action="append", default=[],
                   metavar="NAME=VALUE",
                   help="a kafka-console-producer reader property (repeatable): " + ", ".join(PROPERTIES))
    p.add_argument("--partition", type=non_negative_int, help="write every record to this partition")
    p.add_argument("--delivery-timeout-ms", type=positive_int, default=120000, metavar="MS",
                   help="give up on a record after this long (default 120000, Kafka's delivery.timeout.ms)")
    p.set_defaults(func=run)


@dataclass
class LineFormat:
    """How lines become records: ``separator`` None means no key."""

    separator: bytes | None = None
    ignore_error: bool = False
    null_marker: bytes | None = None


def line_format(args: argparse.Namespace) -> LineFormat:
    """``--key-separator`` parses keys; so does ``--property parse.key=true`` (separator
    ``key.separator``, else ``--key-separator``, else a tab, Kafka's default)."""
    props = dict(args.property)
    parse_key = is_true(props.get("parse.key", "false"))
    separator = args.key_separator
    if "key.separator" in props:
        separator = unescape_separator(props["key.separator"])
    if parse_key and separator is None:
        separator = "\t"
    if not parse_key and args.key_separator is None:
        separator = None
    marker = props.get("null.marker")
    return LineFormat(separator.encode() if separator is not None else None,
                      is_true(props.get("ignore.error", "false")),
                      unescape_separator(marker).encode() if marker is not None else None)


def split_record(line: bytes, separator: bytes | None, lineno: int, *,
                 ignore_error: bool = False) -> tuple[bytes | None, bytes]:
    """(key, value) of one input line without its terminator. With ``ignore_error`` a line without
    the separator is a record without a key (Kafka's ``ignore.error=true``)."""
    if separator is None:
        return None, line
    key, sep, value = line.partition(separator)
    if not sep:
        if ignore_error:
            return None, line
        shown = line.decode("utf-8", "replace")
        raise CliError(f"No key separator found on line number {lineno}: '{shown}'", name="INVALID_RECORD")
    return key, value


def read_lines(stream: IO[bytes]) -> Iterator[bytes]:
    for raw in stream:
        if raw.endswith(b"\r\n"):
            yield raw[:-2]
        elif raw.endswith(b"\n") or raw.endswith(b"\r"):
            yield raw[:-1]
        else:
            yield raw


def producer_config(args: argparse.Namespace) -> dict[str, Any]:
    base = {
        "acks": args.acks,
        "compression.type": args.compression,
        "message.timeout.ms": args.delivery_timeout_ms,
        "partitioner": PARTITIONER,
    }
    return client_config(args, base)


def produce_lines(producer: Any, topic: str, lines: Iterable[bytes], *, separator: bytes | None,
                  partition: int | None, ignore_error: bool = False,
                  null_marker: bytes | None = None) -> tuple[int, list[Any]]:
    """Send every line; returns (records handed to the producer, delivery errors). Flushes."""
    errors: list[Any] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(err)

    extra = {} if partition is None else {"partition": partition}
    sent = 0
    try:
        for lineno, line in enumerate(lines, 1):
            key, value = split_record(line, separator, lineno, ignore_error=ignore_error)
            if null_marker is not None:
                key = None if key == null_marker else key
                value = None if value == null_marker else value  # type: ignore[assignment]
            while True:
                try:
                    producer.produce(topic, value=value, key=key, on_delivery=on_delivery, **extra)
                    break
                except BufferError:  # local queue full: let deliveries drain
                    producer.poll(0.1)
            sent += 1
            producer.poll(0)
    finally:
        producer.flush()
    return sent, errors


def run(args: argparse.Namespace, stdin: IO[bytes] | None = None) -> int:
    from confluent_kafka import KafkaException, Producer  # noqa: PLC0415 - lazy import

    stream = stdin if stdin is not None else sys.stdin.buffer
    fmt = line_format(args)
    try:
        producer = Producer(producer_config(args))
    except KafkaException as exc:
        raise from_kafka(exc) from None
    except ValueError as exc:  # bad librdkafka setting
        raise CliError(str(exc), exit_code=2) from None
    if is_terminal(sys.stdin) and is_terminal(sys.stderr):
        progress(f"Type records for {args.topic}, one per line; end with Ctrl-D.")
    try:
        sent, errors = produce_lines(producer, args.topic, read_lines(stream), separator=fmt.separator,
                                     partition=args.partition, ignore_error=fmt.ignore_error,
                                     null_marker=fmt.null_marker)
    except KafkaException as exc:
        raise from_kafka(exc) from None
    if errors:
        first = from_kafka(Exception(errors[0]))
        print_error(CliError(f"{first.message} ({len(errors)} of {sent} records not delivered)", name=first.name))
        return 1
    progress(f"{sent} records sent to {args.topic}.")
    return 0
