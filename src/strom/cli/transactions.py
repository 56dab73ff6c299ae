"""``strom transactions``: Apache Kafka's ``kafka-transactions.sh``.

Verbs (Kafka's names, columns and flags):

* ``list``: every transactional id of every broker's coordinator (ListTransactions):
  ``TransactionalId Coordinator ProducerId TransactionState``.
* ``describe --transactional-id ID``: FindCoordinator (key type 1), then
  DescribeTransactions: ``CoordinatorId TransactionalId ProducerId ProducerEpoch
  TransactionState TransactionTimeoutMs CurrentTransactionStartTimeMs
  TransactionDurationMs TopicPartitions``.
* ``describe-producers --topic T --partition P``: DescribeProducers at the partition's
  leader: ``ProducerId ProducerEpoch LatestCoordinatorEpoch LastSequence LastTimestamp
  CurrentTransactionStartOffset``.
* ``find-hanging (--broker-id N | --topic T [--partition P]) [--max-transaction-timeout MIN]``:
  open transactions of the partitions' producers (DescribeProducers) that have been
  open longer than the timeout (default 15 minutes, Kafka's transaction.max.timeout.ms)
  and that no coordinator has as an Ongoing transaction with that producer and
  partition (ListTransactions + DescribeTransactions): ``Topic Partition ProducerId
  ProducerEpoch CoordinatorEpoch StartOffset LastTimestamp Duration(min)``.
* ``abort --topic T --partition P (--start-offset O | --producer-id ID --producer-epoch E
  [--coordinator-epoch C])``: writes an ABORT marker for that producer into the partition
  with WriteTxnMarkers (the producer is found by the first offset of its open transaction).

``--format json`` prints the rows as a JSON list instead.  Through the blocking
``strom.client.wire`` client (PLAINTEXT only; confluent-kafka 2.16 binds none of these).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import IO, Any

from strom.cli._common import CliError, add_format_argument, admin_verb, client_config, non_negative_int
from strom.cli.group import render_table
from strom.cli.log_dirs import _Client, _code_name

API_METADATA, API_FIND_COORDINATOR, API_WRITE_TXN_MARKERS = 3, 10, 27
API_DESCRIBE_PRODUCERS, API_DESCRIBE_TRANSACTIONS, API_LIST_TRANSACTIONS = 61, 65, 66
LIST_HEADERS = ("TransactionalId", "Coordinator", "ProducerId", "TransactionState")
DESCRIBE_HEADERS = ("CoordinatorId", "TransactionalId", "ProducerId", "ProducerEpoch", "TransactionState",
                    "TransactionTimeoutMs", "CurrentTransactionStartTimeMs", "TransactionDurationMs",
                    "TopicPartitions")
PRODUCER_HEADERS = ("ProducerId", "ProducerEpoch", "LatestCoordinatorEpoch", "LastSequence", "LastTimestamp",
                    "CurrentTransactionStartOffset")
HANGING_HEADERS = ("Topic", "Partition", "ProducerId", "ProducerEpoch", "CoordinatorEpoch", "StartOffset",
                   "LastTimestamp", "Duration(min)")
DEFAULT_MAX_TIMEOUT_MIN = 15


def register(subparsers: Any) -> None:
    noun = subparsers.add_parser("transactions", help="list, describe and abort transactions (kafka-transactions.sh)",
                                 description="Transactions: their coordinators' state and the partitions' producers.")
    verbs = noun.add_subparsers(dest="verb", metavar="VERB", required=True)
    p = admin_verb(verbs, "list", "every transactional id and its state")
    add_format_argument(p)
    p.set_defaults(func=run_list)
    p = admin_verb(verbs, "describe", "one transactional id at its coordinator")
    p.add_argument("--transactional-id", required=True, metavar="ID", help="the producer's transactional.id")
    add_format_argument(p)
    p.set_defaults(func=run_describe)
    p = admin_verb(verbs, "describe-producers", "the active producers of a partition")
    p.add_argument("--topic", required=True, help="the partition's topic")
    p.add_argument("--partition", required=True, type=non_negative_int, help="the partition")
    add_format_argument(p)
    p.set_defaults(func=run_describe_producers)
    p = admin_verb(verbs, "find-hanging", "open transactions no coordinator knows of")
    p.add_argument("--broker-id", type=non_negative_int, help="every partition led by this broker")
    p.add_argument("--topic", help="the partitions of this topic")
    p.add_argument("--partition", type=non_negative_int, help="only this partition of --topic")
    p.add_argument("--max-transaction-timeout", type=non_negative_int, default=DEFAULT_MAX_TIMEOUT_MIN,
                   metavar="MINUTES", help=f"open at least this long (default {DEFAULT_MAX_TIMEOUT_MIN})")
    add_format_argument(p)
    p.set_defaults(func=run_find_hanging, validate=_validate_find_hanging)
    p = admin_verb(verbs, "abort", "abort an open transaction in one partition (writes an ABORT marker)")
    p.add_argument("--topic", required=True, help="the partition's topic")
    p.add_argument("--partition", required=True, type=non_negative_int, help="the partition")
    p.add_argument("--start-offset", type=non_negative_int, help="the first offset of the open transaction")
    p.add_argument("--producer-id", type=int, help="the producer (instead of --start-offset)")
    p.add_argument("--producer-epoch", type=int, help="its epoch (with --producer-id)")
    p.add_argument("--coordinator-epoch", type=int, default=0, help="the marker's coordinator epoch (default 0)")
    p.set_defaults(func=run_abort, validate=_validate_abort)


def _validate_find_hanging(args: argparse.Namespace) -> None:
    if (args.broker_id is None) == (args.topic is None):
        raise CliError("give exactly one of --broker-id and --topic", exit_code=2)
    if args.partition is not None and args.topic is None:
        raise CliError("--partition needs --topic", exit_code=2)


def _validate_abort(args: argparse.Namespace) -> None:
    if args.start_offset is None and (args.producer_id is None or args.producer_epoch is None):
        raise CliError("give --start-offset, or --producer-id and --producer-epoch", exit_code=2)


class TxnClient(_Client):
    def metadata(self) -> Any:
        return self._first_answer(lambda address: self.call(address, API_METADATA, 12,
                                                            {"topics": None, "allow_auto_topic_creation": False}))

    def _first_answer(self, fn: Any) -> Any:
        last: CliError | None = None
        for address in self.bootstrap:
            try:
                return fn(address)
            except CliError as exc:
                last = exc
        raise last or CliError("no bootstrap server answered", name="_TRANSPORT")

    def leader(self, topic: str, partition: int) -> tuple[int, tuple[str, int]]:
        meta = self.metadata()
        brokers = {b.node_id: (b.host, b.port) for b in meta.brokers}
        for t in meta.topics:
            if t.name == topic:
                for p in t.partitions:
                    if p.partition_index == partition and p.leader_id in brokers:
                        return p.leader_id, brokers[p.leader_id]
        raise CliError(f"topic-partition {topic}-{partition} does not exist", name="UNKNOWN_TOPIC_OR_PARTITION")

    def coordinator(self, transactional_id: str) -> tuple[int, tuple[str, int]]:
        response = self._first_answer(lambda address: self.call(
            address, API_FIND_COORDINATOR, 4, {"key_type": 1, "coordinator_keys": [transactional_id]}))
        [c] = response.coordinators
        if int(c.error_code):
            raise CliError(f"no coordinator for transactional id {transactional_id!r}",
                           name=_code_name(int(c.error_code)))
        return c.node_id, (c.host, c.port)

    def list_transactions(self) -> list[tuple[int, Any]]:
        out = []
        for broker_id, address in sorted(self.brokers().items()):
            response = self.call(address, API_LIST_TRANSACTIONS, 0, {"state_filters": [], "producer_id_filters": []})
            if int(response.error_code):
                raise CliError(f"ListTransactions failed on broker {broker_id}",
                               name=_code_name(int(response.error_code)))
            out += [(broker_id, s) for s in response.transaction_states]
        return out

    def describe(self, transactional_id: str) -> tuple[int, Any]:
        broker_id, address = self.coordinator(transactional_id)
        response = self.call(address, API_DESCRIBE_TRANSACTIONS, 0, {"transactional_ids": [transactional_id]})
        [state] = response.transaction_states
        if int(state.error_code):
            raise CliError(f"transactional id {transactional_id!r}: DescribeTransactions failed",
                           name=_code_name(int(state.error_code)))
        return broker_id, state

    def producers(self, address: tuple[str, int], topic: str, partitions: list[int]) -> dict[int, list[Any]]:
        response = self.call(address, API_DESCRIBE_PRODUCERS, 0,
                             {"topics": [{"name": topic, "partition_indexes": partitions}]})
        out = {}
        for t in response.topics:
            for p in t.partitions:
                if int(p.error_code):
                    raise CliError(f"{topic}-{p.partition_index}: {p.error_message or 'DescribeProducers failed'}",
                                   name=_code_name(int(p.error_code)))
                out[p.partition_index] = list(p.active_producers)
        return out


def _ms(value: Any) -> int:
    """A kio timestamp/duration field as integer milliseconds (-1 when none)."""
    if value is None:
        return -1
    if hasattr(value, "timestamp"):
        return round(value.timestamp() * 1000)
    if hasattr(value, "total_seconds"):
        return round(value.total_seconds() * 1000)
    return int(value)


def _print(args: argparse.Namespace, headers: tuple[str, ...], rows: list[tuple[Any, ...]], out: IO[str]) -> None:
    if args.format == "json":
        print(json.dumps([dict(zip(headers, row)) for row in rows]), file=out)
    else:
        print(render_table(headers, rows), file=out)


def _client(args: argparse.Namespace) -> TxnClient:
    conf = dict(client_config(args))
    conf.setdefault("client.id", "strom-transactions")
    return TxnClient(conf, args.timeout_ms / 1000)


def run_list(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    rows = [(s.transactional_id, broker_id, int(s.producer_id), s.transaction_state)
            for broker_id, s in _client(args).list_transactions()]
    _print(args, LIST_HEADERS, sorted(rows), out or sys.stdout)
    return 0


def run_describe(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    broker_id, s = _client(args).describe(args.transactional_id)
    start = _ms(s.transaction_start_time)
    duration = int(time.time() * 1000) - start if start >= 0 else -1
    partitions = ",".join(f"{t.topic}-{p}" for t in s.topics for p in t.partitions)
    row = (broker_id, s.transactional_id, int(s.producer_id), int(s.producer_epoch), s.transaction_state,
           _ms(s.transaction_timeout), start, duration, partitions)
    _print(args, DESCRIBE_HEADERS, [row], out or sys.stdout)
    return 0


def run_describe_producers(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    client = _client(args)
    _, address = client.leader(args.topic, args.partition)
    producers = client.producers(address, args.topic, [args.partition])[args.partition]
    rows = [(int(p.producer_id), int(p.producer_epoch), int(p.coordinator_epoch), int(p.last_sequence),
             int(p.last_timestamp), int(p.current_txn_start_offset)) for p in producers]
    _print(args, PRODUCER_HEADERS, rows, out or sys.stdout)
    return 0


def _candidates(client: TxnClient, args: argparse.Namespace) -> list[tuple[str, int, Any]]:
    """(topic, partition, producer) with an open transaction, from each partition's leader."""
    meta = client.metadata()
    brokers = {b.node_id: (b.host, b.port) for b in meta.brokers}
    wanted: dict[tuple[int, str], list[int]] = {}
    for t in meta.topics:
        if args.topic is not None and t.name != args.topic:
            continue
        for p in t.partitions:
            if args.broker_id is not None and p.leader_id != args.broker_id:
                continue
            if args.partition is not None and p.partition_index != args.partition:
                continue
            if p.leader_id in brokers:
                wanted.setdefault((p.leader_id, t.name), []).append(p.partition_index)
    if args.topic is not None and not wanted:
        raise CliError(f"topic {args.topic} (or its partition) does not exist", name="UNKNOWN_TOPIC_OR_PARTITION")
    out = []
    for (leader, topic), partitions in sorted(wanted.items()):
        for partition, producers in sorted(client.producers(brokers[leader], topic, sorted(partitions)).items()):
            out += [(topic, partition, p) for p in producers if int(p.current_txn_start_offset) >= 0]
    return out


def run_find_hanging(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    client = _client(args)
    now = int(time.time() * 1000)
    limit_ms = args.max_transaction_timeout * 60_000
    old = [(t, p, prod) for t, p, prod in _candidates(client, args) if now - int(prod.last_timestamp) >= limit_ms]
    rows = []
    if old:
        ongoing: dict[int, set[tuple[str, int]]] = {}
        for _, s in client.list_transactions():
            if s.transaction_state == "Ongoing":
                _, described = client.describe(s.transactional_id)
                ongoing.setdefault(int(described.producer_id), set()).update(
                    (t.topic, p) for t in described.topics for p in t.partitions)
        for topic, partition, prod in old:
            if (topic, partition) in ongoing.get(int(prod.producer_id), set()):
                continue  # its coordinator still has it open: a slow transaction, not a hanging one
            rows.append((topic, partition, int(prod.producer_id), int(prod.producer_epoch),
                         int(prod.coordinator_epoch), int(prod.current_txn_start_offset), int(prod.last_timestamp),
                         (now - int(prod.last_timestamp)) // 60_000))
    _print(args, HANGING_HEADERS, rows, out or sys.stdout)
    return 0


def run_abort(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    client = _client(args)
    _, address = client.leader(args.topic, args.partition)
    pid, epoch, coordinator_epoch = args.producer_id, args.producer_epoch, args.coordinator_epoch
    if args.start_offset is not None:
        producers = client.producers(address, args.topic, [args.partition])[args.partition]
        match = [p for p in producers if int(p.current_txn_start_offset) == args.start_offset]
        if not match:
            raise CliError(f"no open transaction starts at offset {args.start_offset} of "
                           f"{args.topic}-{args.partition}", name="INVALID_TXN_STATE")
        pid, epoch = int(match[0].producer_id), int(match[0].producer_epoch)
        coordinator_epoch = max(int(match[0].coordinator_epoch), 0)
    response = client.call(address, API_WRITE_TXN_MARKERS, 1, {"markers": [{
        "producer_id": pid, "producer_epoch": epoch, "transaction_result": False,
        "coordinator_epoch": coordinator_epoch,
        "topics": [{"name": args.topic, "partition_indexes": [args.partition]}]}]})
    for m in response.markers:
        for t in m.topics:
            for p in t.partitions:
                if int(p.error_code):
                    raise CliError(f"could not abort the transaction of producer {pid} in {t.name}-"
                                   f"{p.partition_index}", name=_code_name(int(p.error_code)))
    print(f"Aborted the transaction of producer {pid} (epoch {epoch}) in {args.topic}-{args.partition}",
          file=out or sys.stdout)
    return 0
