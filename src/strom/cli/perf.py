"""``strom perf produce|consume``: Strom's benchmark tool, the equivalent of Apache Kafka's
``kafka-producer-perf-test.sh`` and ``kafka-consumer-perf-test.sh``, on confluent-kafka (librdkafka).

**produce** sends ``--num-records`` records of ``--record-size`` bytes (no key) to ``--topic``,
creating the topic with ``--partitions`` partitions (AdminClient) if it does not exist. Values come
from a pool of at most 64 pre-generated payloads of random letters A-Z (Kafka's tool fills its
payload the same way, so compression codecs have something to do). ``--throughput R`` caps the rate
at R records/s; -1 (the default) means as fast as possible. The clock runs from the first
``produce()`` until ``flush()`` returns, i.e. until every record is acknowledged as ``--acks`` asks.

Latency is *sampled*: record 0, every 64th record after it and the last record carry a delivery
callback; the others carry none, because a Python callback per record costs the client about a
fifth of its throughput with 100-byte records and the measurement would dominate what it measures.
A sample's latency is librdkafka's own ``Message.latency()``: from the ``produce()`` call to the
broker's acknowledgement (queueing, linger, network and broker time; not Python's callback
dispatch). avg, max and the percentiles (Kafka's int-ms truncation) are over the samples only.

Delivery errors are seen through the same sampled callbacks (librdkafka fails records a batch, or
a whole timed-out queue, at a time), and, with acks 1 or all, by checking afterwards that the
topic's end offsets grew by at least N (``_NOT_DELIVERED`` otherwise; other producers writing at
the same time can hide a shortfall). Any error seen: exit 1 with its Kafka name, no result line.

**consume** subscribes with ``--group`` (default: a fresh random group, so it reads from the
beginning with ``auto.offset.reset=earliest``; nothing is committed) and reads exactly
``--messages`` records. ``start.time`` is taken just before subscribing; ``rebalance.time.ms`` runs
from there to the partition assignment; ``fetch.*`` from the first record received to the last;
``end.time`` is the last record's arrival. Bytes are key plus value bytes; MB means MiB as in
Kafka. If ``--timeout-ms`` passes without a record (counted from the partition assignment, or from
the start while none comes) before ``--messages`` records arrived, the figures so far are printed
and the command exits 1 (``_TIMED_OUT``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from strom.cli._common import (
    CliError,
    add_client_arguments,
    add_format_argument,
    client_config,
    from_kafka,
    is_terminal,
    non_negative_int,
    positive_int,
    progress,
)
from strom.cli.produce import ACKS, COMPRESSION, PARTITIONER

SAMPLE_EVERY = 64  # a power of two: ``i & (SAMPLE_EVERY - 1)`` selects the sampled records
POOL_SIZE = 64  # payloads; a power of two for the same reason
POOL_MAX_BYTES = 16 << 20  # fewer payloads when records are large
PROGRESS_EVERY_S = 5.0
SETUP_TIMEOUT_MS = 30000
MIB = 1024 * 1024
_LETTERS = bytes(65 + i % 26 for i in range(256))  # random byte -> letter A-Z


def register(subparsers: Any) -> None:
    perf = subparsers.add_parser("perf", help="benchmark producing and consuming",
                                 description="Benchmarks like kafka-producer-perf-test.sh and "
                                             "kafka-consumer-perf-test.sh.")
    verbs = perf.add_subparsers(dest="verb", metavar="VERB", required=True)

    p = verbs.add_parser("produce", help="send N records as fast as possible (or at --throughput)",
                         description="Send --num-records records of --record-size bytes and report throughput "
                                     "and (sampled) latency.")
    p.add_argument("--topic", required=True, help="topic to write to (created if missing)")
    p.add_argument("--num-records", type=positive_int, required=True, metavar="N", help="records to send")
    p.add_argument("--record-size", type=positive_int, required=True, metavar="BYTES", help="value size")
    p.add_argument("--throughput", type=int, default=-1, metavar="R",
                   help="at most R records/s; -1 (default) for no limit")
    p.add_argument("--acks", "--request-required-acks", dest="acks", choices=ACKS, default="all",
                   help="acks required from the broker (default all)")
    p.add_argument("--compression", "--compression-codec", dest="compression", choices=COMPRESSION,
                   default="none", help="compression codec (default none)")
    p.add_argument("--linger-ms", type=non_negative_int, default=5, metavar="MS", help="linger.ms (default 5)")
    p.add_argument("--batch-size", type=positive_int, default=1000000, metavar="BYTES",
                   help="batch.size (default 1000000)")
    p.add_argument("--partitions", type=positive_int, default=1, metavar="P",
                   help="partitions when the topic is created (default 1)")
    p.add_argument("--delivery-timeout-ms", type=positive_int, default=120000, metavar="MS",
                   help="give up on a record after this long (default 120000)")
    p.add_argument("--timeout-ms", type=positive_int, default=SETUP_TIMEOUT_MS, metavar="MS",
                   help=f"give up on metadata and topic creation after this long (default {SETUP_TIMEOUT_MS})")
    add_format_argument(p)
    add_client_arguments(p, config_aliases=("--producer.config",), property_aliases=("--producer-property",))
    p.set_defaults(func=run_produce, validate=check_produce_args)

    p = verbs.add_parser("consume", help="read N records from the beginning",
                         description="Read --messages records with a consumer group and report throughput.")
    p.add_argument("--topic", required=True, help="topic to read")
    p.add_argument("--messages", type=positive_int, required=True, metavar="N", help="records to read")
    p.add_argument("--group", help="consumer group (default: a fresh random group)")
    p.add_argument("--timeout-ms", type=positive_int, default=60000, metavar="MS",
                   help="fail after this long without a record (default 60000)")
    add_format_argument(p)
    add_client_arguments(p, config_aliases=("--consumer.config",), property_aliases=("--consumer-property",))
    p.set_defaults(func=run_consume)


# ---------------------------------------------------------------------------- results
@dataclass
class ProduceResult:
    records: int
    record_size: int
    elapsed_s: float
    latencies_ms: list[float]  # sampled, sorted

    @property
    def records_per_s(self) -> float:
        return self.records / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.records_per_s * self.record_size / MIB

    def percentile(self, p: float) -> int:
        """Kafka's rule: the sorted sample at index ``int(count * p)``, truncated to whole ms."""
        lat = self.latencies_ms
        return int(lat[min(len(lat) - 1, int(len(lat) * p))]) if lat else 0

    def to_json(self) -> dict[str, Any]:
        lat = self.latencies_ms
        return {"records": self.records, "record_size": self.record_size, "elapsed_s": round(self.elapsed_s, 3),
                "records_per_s": round(self.records_per_s, 1), "mb_per_s": round(self.mb_per_s, 2),
                "latency_samples": len(lat), "avg_latency_ms": round(sum(lat) / len(lat), 2) if lat else 0.0,
                "max_latency_ms": round(lat[-1], 2) if lat else 0.0, "p50_ms": self.percentile(0.5),
                "p95_ms": self.percentile(0.95), "p99_ms": self.percentile(0.99), "p99_9_ms": self.percentile(0.999)}

    def line(self) -> str:
        """kafka-producer-perf-test.sh's summary line."""
        j = self.to_json()
        return (f"{self.records} records sent, {self.records_per_s:.1f} records/sec ({self.mb_per_s:.2f} MB/sec), "
                f"{j['avg_latency_ms']:.2f} ms avg latency, {j['max_latency_ms']:.2f} ms max latency, "
                f"{j['p50_ms']} ms 50th, {j['p95_ms']} ms 95th, {j['p99_ms']} ms 99th, {j['p99_9_ms']} ms 99.9th.")


CONSUME_HEADER = ("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, "
                  "rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec")


@dataclass
class ConsumeResult:
    start: float  # wall clock, seconds since the epoch
    elapsed_s: float  # start -> last record (or -> giving up, when no record came)
    rebalance_ms: int  # start -> partitions assigned
    fetch_s: float  # first record -> last record
    records: int
    bytes: int

    def to_json(self) -> dict[str, Any]:
        mb = self.bytes / MIB

        def rate(amount: float, seconds: float) -> float:
            return round(amount / seconds, 4) if seconds > 0 else 0.0

        return {"start_time": _kafka_time(self.start), "end_time": _kafka_time(self.start + self.elapsed_s),
                "mb": round(mb, 4), "mb_per_s": rate(mb, self.elapsed_s), "records": self.records,
                "records_per_s": rate(self.records, self.elapsed_s), "rebalance_time_ms": self.rebalance_ms,
                "fetch_time_ms": int(self.fetch_s * 1000), "fetch_mb_per_s": rate(mb, self.fetch_s),
                "fetch_records_per_s": rate(self.records, self.fetch_s)}

    def row(self) -> str:
        """kafka-consumer-perf-test.sh's row (the values of CONSUME_HEADER)."""
        j = self.to_json()
        return (f"{j['start_time']}, {j['end_time']}, {j['mb']:.4f}, {j['mb_per_s']:.4f}, {j['records']}, "
                f"{j['records_per_s']:.4f}, {j['rebalance_time_ms']}, {j['fetch_time_ms']}, "
                f"{j['fetch_mb_per_s']:.4f}, {j['fetch_records_per_s']:.4f}")


def _kafka_time(epoch_s: float) -> str:
    """Kafka's ``yyyy-MM-dd HH:mm:ss:SSS`` in local time."""
    t = datetime.fromtimestamp(epoch_s)
    return t.strftime("%Y-%m-%d %H:%M:%S:") + f"{t.microsecond // 1000:03d}"


# ---------------------------------------------------------------------------- produce
def make_payloads(size: int) -> list[bytes]:
    """POOL_SIZE (fewer for big records, always a power of two) random A-Z values of ``size`` bytes."""
    count = POOL_SIZE
    while count > 1 and count * size > POOL_MAX_BYTES:
        count //= 2
    return [os.urandom(size).translate(_LETTERS) for _ in range(count)]


def _client(factory: Any, conf: dict[str, Any]) -> Any:
    from confluent_kafka import KafkaException  # noqa: PLC0415

    try:
        return factory(conf)
    except KafkaException as exc:
        raise from_kafka(exc) from None
    except (ValueError, TypeError) as exc:  # a bad librdkafka setting
        raise CliError(str(exc), exit_code=2) from None


def ensure_topic(admin: Any, topic: str, partitions: int, timeout_s: float) -> bool:
    """Create ``topic`` with ``partitions`` partitions unless it exists; True if this call created it."""
    from confluent_kafka import KafkaException  # noqa: PLC0415
    from confluent_kafka.admin import NewTopic  # noqa: PLC0415

    try:
        existing = admin.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if existing is not None and existing.error is None:
            return False
        futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=-1)],
                                      request_timeout=timeout_s, operation_timeout=timeout_s)
        futures[topic].result(timeout=timeout_s)
        return True
    except KafkaException as exc:
        error = from_kafka(exc)
        if error.name == "TOPIC_ALREADY_EXISTS":  # created meanwhile by someone else
            return False
        raise error from None
    except TimeoutError:
        raise CliError(f"topic {topic} not created within {timeout_s:g} s", name="REQUEST_TIMED_OUT") from None


def end_offsets_total(admin: Any, topic: str, timeout_s: float) -> int:
    """The sum of ``topic``'s partition end offsets (ListOffsets, latest)."""
    from confluent_kafka import TopicPartition  # noqa: PLC0415
    from confluent_kafka.admin import OffsetSpec  # noqa: PLC0415

    partitions = admin.list_topics(topic, timeout=timeout_s).topics[topic].partitions
    futures = admin.list_offsets({TopicPartition(topic, p): OffsetSpec.latest() for p in partitions},
                                 request_timeout=timeout_s)
    return sum(f.result().offset for f in futures.values())


def check_stored(sent: int, end_before: int, end_after: int) -> None:
    """Every record handed to the producer must have been appended: the topic's end offsets grew by
    at least ``sent`` (more when others wrote meanwhile, which can hide a shortfall). This catches the
    failures that fell between two latency samples."""
    stored = end_after - end_before
    if stored < sent:
        raise CliError(f"only {stored} of {sent} records were stored; deliveries failed without a "
                       "sampled record seeing it", name="_NOT_DELIVERED")


def producer_config(args: argparse.Namespace) -> dict[str, Any]:
    base = {
        "acks": args.acks,
        "compression.type": args.compression,
        "linger.ms": args.linger_ms,
        "batch.size": args.batch_size,
        "batch.num.messages": 1000000,  # let batch.size, not librdkafka's 10000-record default, bound a batch
        "queue.buffering.max.kbytes": 32768,  # 32 MiB of queued records, Kafka's buffer.memory
        "queue.buffering.max.messages": 1000000,
        "message.timeout.ms": args.delivery_timeout_ms,
        "partitioner": PARTITIONER,
    }
    return client_config(args, base)


def produce_records(producer: Any, topic: str, count: int, payloads: list[bytes], throughput: int,
                    on_progress: Callable[[int, list[float]], None] | None = None) -> ProduceResult:
    """Send ``count`` records (at most ``throughput``/s when > 0) and flush; raises CliError if any
    sampled record failed. ``on_progress(sent, latencies_ms)`` is called about every 5 s."""
    latencies: list[float] = []
    errors: list[Any] = []

    def on_sample(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(err)
        elif (latency := msg.latency()) is not None:
            latencies.append(latency * 1000)

    produce, poll, clock = producer.produce, producer.poll, time.perf_counter
    pool_mask, sample_mask, last = len(payloads) - 1, SAMPLE_EVERY - 1, count - 1
    start = clock()
    next_report = start + PROGRESS_EVERY_S
    i = 0
    while i < count:
        if throughput > 0:
            while (ahead := start + i / throughput - clock()) > 0:
                poll(ahead)
        try:
            if i & sample_mask == 0 or i == last:
                produce(topic, payloads[i & pool_mask], on_delivery=on_sample)
            else:
                produce(topic, payloads[i & pool_mask])
        except BufferError:  # local queue full: serve delivery reports, then retry this record
            poll(0.005)
            continue
        i += 1
        if i & 1023 == 0 or throughput > 0:
            poll(0)
            if on_progress is not None and clock() >= next_report:
                on_progress(i, latencies)
                next_report = clock() + PROGRESS_EVERY_S
    producer.flush()
    elapsed = clock() - start
    if errors:
        first = from_kafka(Exception(errors[0]))
        samples = len(range(0, count, SAMPLE_EVERY)) + (last % SAMPLE_EVERY != 0)
        raise CliError(f"{first.message} ({len(errors)} of {samples} sampled records not delivered)",
                       name=first.name)
    return ProduceResult(count, len(payloads[0]), elapsed, sorted(latencies))


class ProgressWindow:
    """Kafka's periodic line for the last window, on stderr when it is a terminal. Records counted
    are those handed to the producer; latencies are the samples acknowledged in the window."""

    def __init__(self, record_size: int, stream: IO[str]) -> None:
        self.record_size, self.stream = record_size, stream
        self.since, self.sent, self.seen = time.perf_counter(), 0, 0

    def __call__(self, sent: int, latencies: list[float]) -> None:
        now = time.perf_counter()
        rate = (sent - self.sent) / (now - self.since)
        window = latencies[self.seen:]
        avg = sum(window) / len(window) if window else 0.0
        progress(f"{sent - self.sent} records sent, {rate:.1f} records/sec ({rate * self.record_size / MIB:.2f} "
                 f"MB/sec), {avg:.1f} ms avg latency, {max(window, default=0.0):.1f} ms max latency.", self.stream)
        self.since, self.sent, self.seen = now, sent, len(latencies)


def check_produce_args(args: argparse.Namespace) -> None:
    """Usage errors (exit 2) that argparse cannot see."""
    if args.throughput == 0 or args.throughput < -1:
        raise CliError("--throughput must be a positive rate or -1 (no limit)", exit_code=2)


def run_produce(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    from confluent_kafka import KafkaException, Producer  # noqa: PLC0415 - lazy: keeps `strom --help` fast
    from confluent_kafka.admin import AdminClient  # noqa: PLC0415

    out = out or sys.stdout
    check_produce_args(args)
    timeout_s = args.timeout_ms / 1000
    conf = producer_config(args)
    # An admin client is a producer to librdkafka, whose metadata lookups would auto-create the
    # topic with the broker's default partition count before ensure_topic could create it.
    admin = _client(AdminClient, client_config(args, {"allow.auto.create.topics": False}))
    if ensure_topic(admin, args.topic, args.partitions, timeout_s):
        progress(f"Created topic {args.topic} with {args.partitions} partition(s).")
    producer = _client(Producer, conf)
    payloads = make_payloads(args.record_size)
    window = ProgressWindow(args.record_size, sys.stderr) if is_terminal(sys.stderr) else None
    try:
        producer.list_topics(args.topic, timeout=timeout_s)  # connect and learn the leaders before the clock
        end_before = end_offsets_total(admin, args.topic, timeout_s)
        result = produce_records(producer, args.topic, args.num_records, payloads, args.throughput, window)
        if args.acks != "0":  # acks=0 gives no guarantee to check
            check_stored(args.num_records, end_before, end_offsets_total(admin, args.topic, timeout_s))
    except KafkaException as exc:
        raise from_kafka(exc) from None
    print(json.dumps(result.to_json()) if args.format == "json" else result.line(), file=out)
    return 0


# ---------------------------------------------------------------------------- consume
def consumer_config(args: argparse.Namespace) -> dict[str, Any]:
    base = {
        "group.id": args.group or f"strom-perf-{uuid.uuid4().hex[:12]}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "enable.partition.eof": False,
        "fetch.wait.max.ms": 100,
        # librdkafka stops fetching for fetch.queue.backoff.ms (1 s) whenever more than
        # queued.min.messages (100000) records wait locally, which caps small records far below
        # what a broker delivers; keep the local queue deep and the pause short instead.
        "queued.min.messages": 1000000,
        "fetch.queue.backoff.ms": 10,
    }
    return client_config(args, base)


def consume_records(consumer: Any, topic: str, count: int, timeout_s: float) -> tuple[ConsumeResult, bool]:
    """Subscribe and read ``count`` records; returns the figures and whether all arrived before
    ``timeout_s`` passed without a record (counted from the latest partition assignment, or from the
    start while there is none). Raises CliError on a non-retriable consumer error."""
    clock = time.perf_counter
    wall_start, start = time.time(), clock()
    assigned: list[float] = []
    consumer.subscribe([topic], on_assign=lambda _c, _p: assigned.append(clock()))
    records = nbytes = 0
    first = last = None
    idle_since = start
    while records < count:
        messages = consumer.consume(num_messages=min(10000, count - records), timeout=0.2)
        now = clock()
        if not messages:
            if now - max(idle_since, assigned[-1] if assigned else start) >= timeout_s:
                break
            continue
        for msg in messages:
            error = msg.error()
            if error is not None:
                if error.fatal() or not error.retriable():
                    raise from_kafka(Exception(error))
                continue
            value, key = msg.value(), msg.key()
            nbytes += (len(value) if value else 0) + (len(key) if key else 0)
            records += 1
        if first is None and records:
            first = now
        last = idle_since = now
    end = last if last is not None else clock()
    rebalance_s = (assigned[0] if assigned else end) - start
    result = ConsumeResult(wall_start, end - start, int(rebalance_s * 1000),
                           (last - first) if first is not None and last is not None else 0.0, records, nbytes)
    return result, records >= count


def check_topic(consumer: Any, topic: str, timeout_s: float) -> None:
    """Fail fast (exit 1) when the broker is unreachable or the topic does not exist."""
    metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
    if metadata is None:
        raise CliError(f"topic {topic} not found", name="UNKNOWN_TOPIC_OR_PARTITION")
    if metadata.error is not None:
        raise from_kafka(Exception(metadata.error))


def run_consume(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    from confluent_kafka import Consumer, KafkaException  # noqa: PLC0415 - lazy: keeps `strom --help` fast

    out = out or sys.stdout
    timeout_s = args.timeout_ms / 1000
    consumer = _client(Consumer, consumer_config(args))
    try:
        check_topic(consumer, args.topic, timeout_s)
        result, complete = consume_records(consumer, args.topic, args.messages, timeout_s)
    except KafkaException as exc:
        raise from_kafka(exc) from None
    finally:
        consumer.close()
    if args.format == "json":
        print(json.dumps(result.to_json()), file=out)
    else:
        print(CONSUME_HEADER, file=out)
        print(result.row(), file=out)
    if not complete:
        raise CliError(f"only {result.records} of {args.messages} records read: none for {args.timeout_ms} ms "
                       "(--timeout-ms)", name="_TIMED_OUT")
    return 0
