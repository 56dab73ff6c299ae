"""Records of the group coordinator in ``__consumer_offsets``.

Key and value are canonical JSON objects (UTF-8).  The key's ``type`` says
what the record is about; a null value is a tombstone (the thing is gone).
Compaction (a later issue) keeps the newest record per key.

  offset        key {type, group, topic, partition}
                value {offset, leader_epoch, metadata, commit_timestamp}
  group         key {type, group}  -- a classic group after each completed rebalance
                value {protocol_type, generation, protocol, leader, state_timestamp,
                       members: [{member_id, group_instance_id, client_id, client_host,
                                  rebalance_timeout, session_timeout, subscription (base64),
                                  assignment (base64)}]}
  cg_*          KIP-848 consumer-group records, defined in consumer_group.py

Differences from Apache Kafka: Kafka stores these as versioned binary structs
(OffsetCommitKey/Value, GroupMetadataKey/Value, ConsumerGroup*); ours are
JSON with the same content, so Kafka's own __consumer_offsets formatters cannot
read them.
"""
from __future__ import annotations

import json
from typing import Any

OFFSET = "offset"
GROUP = "group"


def _dumps(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def key(record_type: str, group: str, **fields: Any) -> bytes:
    return _dumps({"type": record_type, "group": group, **fields})


def value(obj: dict[str, Any] | None) -> bytes | None:
    return None if obj is None else _dumps(obj)


def decode(key_bytes: bytes, value_bytes: bytes | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    return json.loads(key_bytes), (None if value_bytes is None else json.loads(value_bytes))


def offset_key(group: str, topic: str, partition: int) -> bytes:
    return key(OFFSET, group, topic=topic, partition=partition)


def group_key(group: str) -> bytes:
    return key(GROUP, group)
