"""Records of the transaction coordinator in ``__transaction_state``.

Key and value are canonical JSON objects (UTF-8), like the group coordinator's:

  key   {"type": "txn", "id": <transactional id>}
  value {"producer_id", "producer_epoch", "last_producer_id", "last_producer_epoch",
         "timeout_ms", "state" (Kafka's state name), "partitions": [[topic, partition], ...],
         "txn_start_ms", "last_update_ms"}

A null value (tombstone) removes an expired id.  The newest record per key is the
id's state, so compaction may keep only that.  Difference from Apache Kafka:
Kafka stores TransactionLogKey/Value as versioned binary structs; ours are JSON
with the same content.
"""
from __future__ import annotations

import json

from strom.coordinator.txn.state import TransactionMetadata, TxnState

TXN = "txn"


def key(transactional_id: str) -> bytes:
    return json.dumps({"id": transactional_id, "type": TXN}, separators=(",", ":"), sort_keys=True).encode()


def value(m: TransactionMetadata) -> bytes:
    return json.dumps({
        "producer_id": m.producer_id, "producer_epoch": m.producer_epoch, "last_producer_id": m.last_producer_id,
        "last_producer_epoch": m.last_producer_epoch, "timeout_ms": m.timeout_ms, "state": m.state.value,
        "partitions": sorted([t, p] for t, p in m.partitions), "txn_start_ms": m.txn_start_ms,
        "last_update_ms": m.last_update_ms}, separators=(",", ":"), sort_keys=True).encode()


def decode(key_bytes: bytes, value_bytes: bytes | None) -> tuple[str, TransactionMetadata | None]:
    """(transactional id, metadata or None for a tombstone); raises ValueError on a foreign record."""
    k = json.loads(key_bytes)
    if k.get("type") != TXN:
        raise ValueError(f"unknown record type {k.get('type')!r}")
    tid = k["id"]
    if value_bytes is None:
        return tid, None
    v = json.loads(value_bytes)
    return tid, TransactionMetadata(
        transactional_id=tid, producer_id=v["producer_id"], producer_epoch=v["producer_epoch"],
        timeout_ms=v["timeout_ms"], state=TxnState(v["state"]),
        partitions=frozenset((t, p) for t, p in v["partitions"]), last_producer_id=v["last_producer_id"],
        last_producer_epoch=v["last_producer_epoch"], txn_start_ms=v["txn_start_ms"],
        last_update_ms=v["last_update_ms"])
