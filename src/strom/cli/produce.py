"""``strom produce``: one record per stdin line (like kafka-console-producer.sh).

Lines lose their terminator (``\\n`` or ``\\r\\n``); an empty line is a record with an empty
value. With ``--key-separator SEP`` each line is ``key SEP value`` (Kafka's ``parse.key=true``
with ``key.separator``); a line without the separator is an error, as in Kafka. Everything is
flushed at end of input; any delivery failure makes the exit status 1.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any

from strom.cli._common import (
    CliError,
    add_client_arguments,
    client_config,
    from_kafka,
    is_terminal,
    non_negative_int,
    positive_int,
    print_error,
    progress,
    unescape_separator,
)

COMPRESSION = ("none", "gzip", "snappy", "lz4", "zstd")
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
    p.add_argument("--partition", type=non_negative_int, help="write every record to this partition")
    p.add_argument("--delivery-timeout-ms", type=positive_int, default=120000, metavar="MS",
                   help="give up on a record after this long (default 120000, Kafka's delivery.timeout.ms)")
    p.set_defaults(func=run)


def split_record(line: bytes, separator: bytes | None, lineno: int) -> tuple[bytes | None, bytes]:
    """(key, value) of one input line without its terminator."""
    if separator is None:
        return None, line
    key, sep, value = line.partition(separator)
    if not sep:
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
    }
    return client_config(args, base)


def produce_lines(producer: Any, topic: str, lines: Iterable[bytes], *, separator: bytes | None,
                  partition: int | None) -> tuple[int, list[Any]]:
    """Send every line; returns (records handed to the producer, delivery errors). Flushes."""
    errors: list[Any] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(err)

    extra = {} if partition is None else {"partition": partition}
    sent = 0
    try:
        for lineno, line in enumerate(lines, 1):
            key, value = split_record(line, separator, lineno)
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
    separator = args.key_separator.encode() if args.key_separator is not None else None
    try:
        producer = Producer(producer_config(args))
    except KafkaException as exc:
        raise from_kafka(exc) from None
    except ValueError as exc:  # bad librdkafka setting
        raise CliError(str(exc), exit_code=2) from None
    if is_terminal(sys.stdin) and is_terminal(sys.stderr):
        progress(f"Type records for {args.topic}, one per line; end with Ctrl-D.")
    try:
        sent, errors = produce_lines(producer, args.topic, read_lines(stream), separator=separator,
                                     partition=args.partition)
    except KafkaException as exc:
        raise from_kafka(exc) from None
    if errors:
        first = from_kafka(Exception(errors[0]))
        print_error(CliError(f"{first.message} ({len(errors)} of {sent} records not delivered)", name=first.name))
        return 1
    progress(f"{sent} records sent to {args.topic}.")
    return 0
