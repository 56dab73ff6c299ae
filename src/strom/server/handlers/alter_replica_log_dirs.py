"""AlterReplicaLogDirs: v1-2.

Behaviour: Strom keeps every replica in one log directory (the first of
``log.dirs``; there is no JBOD yet), so no replica ever moves.  Each
partition is answered as Kafka answers it when no move is needed or
possible:
- a path that is not the absolute path of a log directory in use
  (byte for byte, as DescribeLogDirs reports it): LOG_DIR_NOT_FOUND;
- a partition of a topic that does not exist: UNKNOWN_TOPIC_OR_PARTITION;
- a partition that exists but is not hosted here: NOT_LEADER_OR_FOLLOWER;
- a hosted partition already in that directory: NONE (a no-op).
A partition named under several paths is answered once, for the last path,
as Kafka's map-by-partition does.  v2 is the first flexible version; v0 is
not served (Kafka 4 removed it).

Not implemented: moving a replica between directories (future logs); no
authorization (Kafka requires ALTER on the cluster).
"""
from __future__ import annotations

from typing import Any

from strom.errors import ErrorCode
from strom.server.context import RequestContext

API_KEY = 34
VERSIONS = (1, 2)


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    replicas = ctx.broker.replicas
    image = ctx.broker.metadata.image
    dirs = set(replicas.log_dirs)
    answers: dict[str, dict[int, ErrorCode]] = {}
    for target in request.dirs:
        for topic in target.topics:
            per_topic = answers.setdefault(topic.name, {})
            known = image.topics.get(topic.name)
            for index in topic.partitions:
                if target.path not in dirs:
                    code = ErrorCode.LOG_DIR_NOT_FOUND
                elif replicas.log_dir_of(topic.name, index) == target.path:
                    code = ErrorCode.NONE
                elif known is None or index not in known.partitions:
                    code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                else:
                    code = ErrorCode.NOT_LEADER_OR_FOLLOWER
                per_topic.pop(index, None)  # the last path named wins, in its position
                per_topic[index] = code
    return {"throttle_time": 0, "results": [
        {"topic_name": name, "partitions": [{"partition_index": i, "error_code": c} for i, c in parts.items()]}
        for name, parts in answers.items()]}
