"""``strom transactions`` against a real broker: list, describe, describe-producers, find-hanging
and abort of an open transaction (the LSO moves past it)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import unique
from test_transactions import create_topic, end_offsets, read, txn_producer

pytestmark = pytest.mark.timeout(120)


def strom(broker, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "strom.cli.main", "transactions", *args,
                           "--bootstrap-server", broker.bootstrap], capture_output=True, text=True, timeout=60)


def test_transactions_tools(broker):
    topic, tid = unique("t"), unique("tid")
    create_topic(broker.bootstrap, topic, partitions=2)
    p = txn_producer(broker.bootstrap, tid)
    p.begin_transaction()
    p.produce(topic, b"open", partition=1)
    p.flush(10)

    listed = strom(broker, "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    [row] = [r for r in json.loads(listed.stdout) if r["TransactionalId"] == tid]
    assert row["TransactionState"] == "Ongoing" and row["Coordinator"] == 1
    text = strom(broker, "list")
    assert text.stdout.splitlines()[0].split() == ["TransactionalId", "Coordinator", "ProducerId", "TransactionState"]

    described = strom(broker, "describe", "--transactional-id", tid, "--format", "json")
    assert described.returncode == 0, described.stderr
    [d] = json.loads(described.stdout)
    assert d["TransactionState"] == "Ongoing" and d["TopicPartitions"] == f"{topic}-1"
    assert d["ProducerId"] == row["ProducerId"] and d["CurrentTransactionStartTimeMs"] > 0
    missing = strom(broker, "describe", "--transactional-id", "nope")
    assert missing.returncode == 1 and "TRANSACTIONAL_ID_NOT_FOUND" in missing.stderr

    producers = strom(broker, "describe-producers", "--topic", topic, "--partition", "1", "--format", "json")
    assert producers.returncode == 0, producers.stderr
    [prod] = json.loads(producers.stdout)
    assert prod["ProducerId"] == row["ProducerId"] and prod["CurrentTransactionStartOffset"] == 0

    # the coordinator knows the transaction: not hanging, however short the timeout
    hanging = strom(broker, "find-hanging", "--topic", topic, "--max-transaction-timeout", "0", "--format", "json")
    assert hanging.returncode == 0, hanging.stderr
    assert json.loads(hanging.stdout) == []
    usage = strom(broker, "find-hanging")
    assert usage.returncode == 2

    aborted = strom(broker, "abort", "--topic", topic, "--partition", "1", "--start-offset", "0")
    assert aborted.returncode == 0, aborted.stderr
    assert end_offsets(broker.bootstrap, topic, "read_committed", 1) == 2  # the record and the ABORT marker
    assert read(broker.bootstrap, topic, "read_committed", partitions=2) == []
    again = strom(broker, "abort", "--topic", topic, "--partition", "1", "--start-offset", "0")
    assert again.returncode == 1 and "INVALID_TXN_STATE" in again.stderr
