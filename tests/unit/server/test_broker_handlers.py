"""BrokerRegistration, BrokerHeartbeat and the broker lists of Metadata and DescribeCluster, against a
real Controller (in-memory log) and the broker's MetadataCache, without sockets.  Every request is
built in each served version and every response built and encoded in that version (codec)."""
from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from strom.controller.client import LocalControllerClient
from strom.errors import ErrorCode
from strom.metadata.records import BrokerEndpoint
from strom.protocol import codec
from strom.protocol.codec import RequestHeader
from strom.server.context import BrokerServices, RequestContext
from strom.server.registry import HANDLERS

from ..controller._cluster import CLUSTER, new_controller, register

METADATA, DESCRIBE_CLUSTER, BROKER_REGISTRATION, BROKER_HEARTBEAT = 3, 60, 62, 63


class Cluster:
    """Node 1's handlers over a controller with brokers 1-3 registered (1 and 2 unfenced, 3 fenced)."""

    def __init__(self) -> None:
        self.controller, self.metadata, scheduler = new_controller()
        self.metadata.set_active_controller(1)
        asyncio.run(self._register())
        self.services = BrokerServices(node_id=1, cluster_id=CLUSTER, host="127.0.0.1", port=19092,
                                       config=self.controller.config,
                                       controller=LocalControllerClient(self.controller),
                                       replicas=None,  # type: ignore[arg-type]
                                       clock=scheduler, metadata=self.metadata, listener_name="CLIENT")

    async def _register(self) -> None:
        for b, rack in ((1, "r1"), (2, "r2"), (3, "r3")):
            await register(self.controller, b, rack, unfence=b != 3, endpoints=[
                BrokerEndpoint("INTERNAL", f"internal{b}", 9093), BrokerEndpoint("CLIENT", f"client{b}", 9092)])

    def call(self, api_key: int, version: int, request: dict[str, Any]) -> dict[str, Any]:
        req = codec.build(codec.request_type(api_key, version), request)
        ctx = RequestContext(RequestHeader(api_key, version, 7, "test"), None, self.services)  # type: ignore[arg-type]
        response = codec.build_response(api_key, version, asyncio.run(HANDLERS[api_key].handle(ctx, req)))
        codec.encode_response(7, response, api_key=api_key, version=version)
        return codec.to_dict(response)


@pytest.fixture
def cluster() -> Cluster:
    return Cluster()


def versions(api_key: int) -> range:
    lo, hi = HANDLERS[api_key].VERSIONS
    return range(lo, hi + 1)


@pytest.mark.parametrize("version", versions(METADATA))
def test_metadata_lists_the_live_brokers_at_this_listeners_endpoint(cluster: Cluster, version: int) -> None:
    res = cluster.call(METADATA, version, {"topics": [], "allow_auto_topic_creation": False})
    brokers = [(b["node_id"], b["host"], b["port"], b.get("rack")) for b in res["brokers"]]
    rack = (lambda r: r) if version >= 1 else (lambda r: None)
    assert brokers == [(1, "client1", 9092, rack("r1")), (2, "client2", 9092, rack("r2"))]
    if version >= 1:
        assert res["controller_id"] == 1


@pytest.mark.parametrize("version", versions(DESCRIBE_CLUSTER))
def test_describe_cluster_fenced_brokers_only_on_request(cluster: Cluster, version: int) -> None:
    res = cluster.call(DESCRIBE_CLUSTER, version, {"include_fenced_brokers": True})
    got = {b["broker_id"]: (b["host"], b["rack"], b.get("is_fenced")) for b in res["brokers"]}
    if version >= 2:
        assert got == {1: ("client1", "r1", False), 2: ("client2", "r2", False), 3: ("client3", "r3", True)}
    else:
        assert got == {1: ("client1", "r1", None), 2: ("client2", "r2", None)}
    cluster.metadata.set_active_controller(None)
    assert cluster.call(DESCRIBE_CLUSTER, version, {})["controller_id"] == -1


@pytest.mark.parametrize("version", versions(BROKER_REGISTRATION))
def test_broker_registration_and_heartbeat_through_the_codec(cluster: Cluster, version: int) -> None:
    broker_id = 10 + version
    request: dict[str, Any] = {
        "broker_id": broker_id, "cluster_id": CLUSTER, "incarnation_id": uuid.uuid4(),
        "listeners": [{"name": "CLIENT", "host": "h", "port": 9093, "security_protocol": 0}],
        "features": [], "rack": "r9"}
    res = cluster.call(BROKER_REGISTRATION, version, request)
    image = cluster.metadata.image
    assert res["error_code"] == ErrorCode.NONE and res["broker_epoch"] == image.brokers[broker_id].epoch
    assert image.brokers[broker_id].endpoints == (BrokerEndpoint("CLIENT", "h", 9093, 0),)
    again = cluster.call(BROKER_REGISTRATION, version, {**request, "incarnation_id": uuid.uuid4()})
    assert again["error_code"] == ErrorCode.NONE  # the first is still fenced: it may be replaced
    epoch = again["broker_epoch"]
    other = cluster.call(BROKER_REGISTRATION, version, {**request, "cluster_id": "other"})
    assert other["error_code"] == ErrorCode.INCONSISTENT_CLUSTER_ID and other["broker_epoch"] == -1
    for hb_version in versions(BROKER_HEARTBEAT):
        hb = {"broker_id": broker_id, "broker_epoch": epoch, "want_fence": False, "want_shut_down": False,
              "current_metadata_offset": cluster.metadata.image.offset}
        answer = cluster.call(BROKER_HEARTBEAT, hb_version, hb)
        assert (answer["error_code"], answer["is_caught_up"], answer["is_fenced"], answer["should_shut_down"]) == (
            ErrorCode.NONE, True, False, False)
        stale = cluster.call(BROKER_HEARTBEAT, hb_version, {**hb, "broker_epoch": epoch - 1})
        assert stale["error_code"] == ErrorCode.STALE_BROKER_EPOCH
    duplicate = cluster.call(BROKER_REGISTRATION, version, {**request, "incarnation_id": uuid.uuid4()})
    assert duplicate["error_code"] == ErrorCode.DUPLICATE_BROKER_REGISTRATION
    bye = cluster.call(BROKER_HEARTBEAT, 1, {"broker_id": broker_id, "broker_epoch": epoch, "want_fence": False,
                                             "current_metadata_offset": cluster.metadata.image.offset,
                                             "want_shut_down": True})
    assert bye["should_shut_down"] and bye["is_fenced"] and cluster.metadata.image.brokers[broker_id].fenced
    no_incarnation = cluster.call(BROKER_REGISTRATION, version, {**request, "incarnation_id": uuid.UUID(int=0)})
    assert no_incarnation["error_code"] == ErrorCode.INVALID_REGISTRATION
