"""DescribeLogDirs: v1-4.

Behaviour:
- Answers for this broker's log directory: its absolute path and, for each
  hosted replica, the size of its segment files (partition_size), offset_lag
  (max(high watermark - log end offset, 0), so 0 for a current log) and
  is_future_key false (there are never future logs: replicas do not move
  between directories).
- topics null means every hosted replica; otherwise only the named
  partitions this broker hosts (others are left out, as in Kafka).
- A log directory that cannot be read (statvfs fails) is listed with
  KAFKA_STORAGE_ERROR and no topics.
- Versions: v2 is the first flexible version; v3 adds the top-level
  error_code (always NONE); v4 adds total_bytes and usable_bytes, the size
  and the space available to Strom of the file system holding the directory.
  v0 is not served (Kafka 4 removed it).

Not implemented: only the first of ``log.dirs`` is used (Strom has no JBOD
yet), so only that directory is reported; no authorization (Kafka requires
DESCRIBE on the cluster).  v5 (KIP-1066, Kafka 4.3: is_cordoned) is not
advertised: Strom cannot cordon a directory, and kafka-python reads v5 as
"Kafka 4.3".
"""
from __future__ import annotations

from typing import Any

from strom.errors import ErrorCode
from strom.server.context import RequestContext

API_KEY = 35
VERSIONS = (1, 4)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    wanted = None
    if request.topics is not None:
        wanted = {(t.topic, p) for t in request.topics for p in t.partitions}
    results = []
    for info in await ctx.broker.replicas.describe_log_dirs(wanted):
        topics: dict[str, list[dict[str, Any]]] = {}
        for r in info.replicas:
            topics.setdefault(r.topic, []).append({"partition_index": r.partition, "partition_size": r.size_bytes,
                                                   "offset_lag": r.offset_lag, "is_future_key": False})
        results.append({"error_code": info.error, "log_dir": info.path,
                        "topics": [{"name": name, "partitions": parts} for name, parts in topics.items()],
                        "total_bytes": info.total_bytes, "usable_bytes": info.usable_bytes})
    return {"throttle_time": 0, "error_code": ErrorCode.NONE, "results": results}
