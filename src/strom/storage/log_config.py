"""LogConfig: the per-partition settings the storage layer obeys (Kafka topic config names, snake case)."""
from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

LONG_MAX = 2**63 - 1


@dataclass(frozen=True)
class LogConfig:
    """Per-log settings, named after Kafka's topic configs in snake case, with Kafka's defaults.

    ``retention_ms``/``retention_bytes`` -1 mean unlimited; ``flush_messages``/``flush_ms``
    default to never (durability from replication, like Kafka).  ``producer_id_expiration_ms``
    is Kafka's broker setting ``producer.id.expiration.ms``.  Immutable: a change is a new
    value passed to ``Log.update_config``.
    """

    segment_bytes: int = 1073741824
    segment_ms: int = 604800000
    segment_index_bytes: int = 10485760
    index_interval_bytes: int = 4096
    retention_ms: int = 604800000  # -1: no time limit
    retention_bytes: int = -1  # -1: no size limit
    max_message_bytes: int = 1048588
    flush_messages: int = LONG_MAX
    flush_ms: int = LONG_MAX
    file_delete_delay_ms: int = 60000
    message_timestamp_type: str = "CreateTime"
    cleanup_policy: str = "delete"
    producer_id_expiration_ms: int = 86400000
    compression_type: str = "producer"  # producer (keep), uncompressed, gzip, snappy, lz4, zstd
    min_insync_replicas: int = 1
    message_timestamp_before_max_ms: int = 2**63 - 1
    message_timestamp_after_max_ms: int = 3600000
    delete_retention_ms: int = 86400000  # compaction: how long tombstones and empty txn markers survive
    min_cleanable_dirty_ratio: float = 0.5
    min_compaction_lag_ms: int = 0
    max_compaction_lag_ms: int = LONG_MAX

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> "LogConfig":
        """Build from Kafka's dotted topic config names; unknown names are ignored.

        ``internal.segment.bytes`` (Kafka's test-only setting without the 1 MiB
        floor) wins over ``segment.bytes`` when set.
        """
        names = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in props.items():
            name = key.replace(".", "_")
            if name in names and value is not None:
                kwargs[name] = value
        internal = props.get("internal.segment.bytes")
        if internal is not None:
            kwargs["segment_bytes"] = internal
        policy = kwargs.get("cleanup_policy")
        if isinstance(policy, (list, tuple)):
            kwargs["cleanup_policy"] = ",".join(policy)
        return cls(**kwargs)

    @functools.cached_property
    def compact(self) -> bool:
        """Whether ``cleanup.policy`` includes compact (the log cleaner keeps the last record per key)."""
        return "compact" in self.cleanup_policy.split(",")

    @functools.cached_property
    def max_segment_ms(self) -> int:
        """Kafka's rule for compacted logs (KIP-354): the active segment rolls after the smaller of
        ``segment.ms`` and ``max.compaction.lag.ms``, so no record stays uncleanable longer."""
        if self.compact:
            return min(self.segment_ms, self.max_compaction_lag_ms)
        return self.segment_ms

    @property
    def log_append_time(self) -> bool:
        return self.message_timestamp_type == "LogAppendTime"
