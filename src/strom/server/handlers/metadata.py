"""Metadata: v0-13.

Behaviour: null topics (v1+) or an empty list in v0 means all topics; topics
may be named or (v10+) given by id.  A named topic that does not exist is
created when the request allows it (v4+ ``allow_auto_topic_creation``, always
in v0-3) and ``auto.create.topics.enable`` is true, with ``num.partitions``
and ``default.replication.factor``; the handler waits until the broker's
image holds the creation, so the answer already describes it (Kafka answers
LEADER_NOT_AVAILABLE first, as we do if the image does not catch up in time).
Unknown topic ids get UNKNOWN_TOPIC_ID.  As in Kafka, v10-11 carry a topic_id
field but take topics by name only: a request there with a null name or a
topic id is answered with INVALID_REQUEST for every topic (null names as "").
Brokers are the live (registered, unfenced) brokers of the broker's image, each at its
endpoint for this listener's name, with its rack; controller_id is the active controller as
the metadata cache knows it (-1 when unknown).  Authorized operations are not computed yet
(-2147483648 = not requested/unknown).
"""
from __future__ import annotations

from typing import Any

from strom.errors import ErrorCode, KafkaError
from strom.metadata.cache import METADATA_WAIT_MS
from strom.metadata.controller_client import NewTopic
from strom.metadata.image import TopicImage
from strom.metadata.names import validate_topic_name
from strom.server.context import RequestContext

API_KEY = 3
VERSIONS = (0, 13)
_NO_OPS = -2147483648


def topic_entry(topic: TopicImage, live: set[int]) -> dict[str, Any]:
    return {
        "error_code": 0,
        "name": topic.name,
        "topic_id": topic.topic_id,
        "is_internal": topic.internal,
        "partitions": [
            {"error_code": 0 if p.leader in live else ErrorCode.LEADER_NOT_AVAILABLE,
             "partition_index": p.partition, "leader_id": p.leader, "leader_epoch": p.leader_epoch,
             "replica_nodes": list(p.replicas), "isr_nodes": list(p.isr),
             "offline_replicas": [r for r in p.replicas if r not in live]}
            for p in sorted(topic.partitions.values(), key=lambda p: p.partition)],
        "topic_authorized_operations": _NO_OPS,
    }


def _has_id(req: Any) -> bool:
    topic_id = getattr(req, "topic_id", None)
    return topic_id is not None and topic_id.int != 0


async def handle(ctx: RequestContext, request: Any) -> dict[str, Any]:
    broker = ctx.broker
    metadata = broker.metadata
    image = metadata.image
    live = set(metadata.live_brokers)
    version = ctx.api_version
    allow_create = getattr(request, "allow_auto_topic_creation", True) and broker.config["auto.create.topics.enable"]
    requested = request.topics
    topics: list[dict[str, Any]] = []
    if requested is None or (version == 0 and not requested):
        topics = [topic_entry(t, live) for t in image.topics.values()]
    elif version < 12 and any(req.name is None or _has_id(req) for req in requested):
        topics = [{"error_code": ErrorCode.INVALID_REQUEST, "name": req.name or "", "topic_id": req.topic_id,
                   "partitions": [], "topic_authorized_operations": _NO_OPS} for req in requested]
    else:
        to_create = []
        for req in requested:
            name = req.name
            topic_id = getattr(req, "topic_id", None)
            if name is None and topic_id is not None and topic_id.int != 0:
                topic = image.topics_by_id.get(topic_id)
                if topic is None:
                    topics.append({"error_code": ErrorCode.UNKNOWN_TOPIC_ID, "name": None, "topic_id": topic_id,
                                   "partitions": [], "topic_authorized_operations": _NO_OPS})
                else:
                    topics.append(topic_entry(topic, live))
                continue
            topic = image.topics.get(name) if name is not None else None
            if topic is not None:
                topics.append(topic_entry(topic, live))
                continue
            try:
                validate_topic_name(name)
            except KafkaError:
                topics.append({"error_code": ErrorCode.INVALID_TOPIC_EXCEPTION, "name": name,
                               "partitions": [], "topic_authorized_operations": _NO_OPS})
                continue
            if allow_create and not name.startswith("__"):
                to_create.append(name)
                topics.append({"error_code": ErrorCode.LEADER_NOT_AVAILABLE, "name": name,
                               "partitions": [], "topic_authorized_operations": _NO_OPS})
            else:
                topics.append({"error_code": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "name": name,
                               "partitions": [], "topic_authorized_operations": _NO_OPS})
        if to_create:
            written = await broker.controller.create_topics([NewTopic(n) for n in to_create])
            await metadata.wait_for(written.metadata_offset, METADATA_WAIT_MS)  # else LEADER_NOT_AVAILABLE stays
            image = metadata.image
            created = {r.name: r for r in written.results}
            for entry in topics:
                r = created.get(entry.get("name"))
                if r is None:
                    continue
                if r.error_code == ErrorCode.NONE or r.error_code == ErrorCode.TOPIC_ALREADY_EXISTS:
                    topic = image.topics.get(r.name)
                    if topic is not None:
                        entry.update(topic_entry(topic, live))
                else:
                    entry["error_code"] = r.error_code
    brokers = []
    for broker_id in sorted(live):
        reg = image.brokers.get(broker_id)
        endpoint = reg.endpoint(broker.listener_name) if reg is not None else None
        if reg is not None and endpoint is not None:
            brokers.append({"node_id": broker_id, "host": endpoint.host, "port": endpoint.port, "rack": reg.rack})
    return {
        "throttle_time": 0,
        "brokers": brokers,
        "cluster_id": broker.cluster_id,
        "controller_id": metadata.controller_id,
        "topics": topics,
        "cluster_authorized_operations": _NO_OPS,
    }
