"""A read-process-write copier (exactly-once): run as a process so a test can kill -9 it.

    python txn_copier.py CLIENT BOOTSTRAP INPUT OUTPUT GROUP TRANSACTIONAL_ID [MAX_PER_TXN]

CLIENT is ``confluent`` or ``kafka-python``.  It consumes INPUT (read_committed,
group GROUP, no auto-commit), writes ``copied:<value>`` with the same key to the
same partition of OUTPUT inside a transaction together with the consumed offsets
(send_offsets_to_transaction), commits, and loops until killed.  Each committed
transaction prints ``committed N`` (N = records so far in this process).  At most
MAX_PER_TXN (default 500) records go into one transaction.
"""
from __future__ import annotations

import sys


def confluent(bootstrap: str, source: str, target: str, group: str, txn_id: str, max_per_txn: str = "500") -> None:
    from confluent_kafka import Consumer, Producer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         "session.timeout.ms": 6000})
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id, "linger.ms": 5,
                         "transaction.timeout.ms": 60000})
    producer.init_transactions(60)
    consumer.subscribe([source])
    copied = 0
    while True:
        msgs = consumer.consume(int(max_per_txn), 1.0)
        msgs = [m for m in msgs if m.error() is None]
        if not msgs:
            continue
        producer.begin_transaction()
        positions: dict[int, int] = {}
        for m in msgs:
            producer.produce(target, b"copied:" + m.value(), key=m.key(), partition=m.partition())
            positions[m.partition()] = m.offset() + 1
        producer.send_offsets_to_transaction([TopicPartition(source, p, o) for p, o in positions.items()],
                                             consumer.consumer_group_metadata(), 60)
        producer.commit_transaction(60)
        copied += len(msgs)
        print(f"committed {copied}", flush=True)


def kafka_python(bootstrap: str, source: str, target: str, group: str, txn_id: str, max_per_txn: str = "500"
                 ) -> None:
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.structs import OffsetAndMetadata

    consumer = KafkaConsumer(source, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                             enable_auto_commit=False, isolation_level="read_committed", session_timeout_ms=6000,
                             max_poll_records=int(max_per_txn))
    producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=txn_id, linger_ms=5,
                             transaction_timeout_ms=60000)
    producer.init_transactions()
    copied = 0
    while True:
        batches = consumer.poll(1000)
        if not batches:
            continue
        producer.begin_transaction()
        offsets = {}
        n = 0
        for tp, records in batches.items():
            for r in records:
                producer.send(target, b"copied:" + r.value, key=r.key, partition=tp.partition)
                n += 1
            offsets[tp] = OffsetAndMetadata(records[-1].offset + 1, "", -1)
        producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
        producer.commit_transaction()
        copied += n
        print(f"committed {copied}", flush=True)


if __name__ == "__main__":
    client, *args = sys.argv[1:]
    {"confluent": confluent, "kafka-python": kafka_python}[client](*args)
