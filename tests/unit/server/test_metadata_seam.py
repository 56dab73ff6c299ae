"""Handlers that create topics answer from the broker's image published after the commit, also when
the committed batch reaches the broker's MetadataCache later than the controller answers (as it will
through the raft log).  A real Controller on a temp dir; its commit listener hands each batch to the
cache only after a delay (or never), so a handler that answered from the image too early fails here.
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from strom.config import BrokerConfig
from strom.controller.client import LocalControllerClient
from strom.controller.controller import Controller
from strom.controller.metadata_log import MetadataLog
from strom.errors import ErrorCode
from strom.metadata.cache import MetadataCache
from strom.metadata.records import MetadataRecord
from strom.protocol import codec
from strom.protocol.codec import RequestHeader
from strom.server.context import BrokerServices, RequestContext
from strom.server.registry import HANDLERS
from strom.util.clock import FakeClock

from ..controller._cluster import register

METADATA, CREATE_TOPICS, DELETE_TOPICS = 3, 19, 20


class LaggingBroker:
    """A controller whose committed batches reach the broker's cache ``lag_s`` later (None: never)."""

    def __init__(self, data_dir: Path, lag_s: float | None) -> None:
        config = BrokerConfig.load(overrides=["num.partitions=2"], env={})
        clock = FakeClock()
        self.controller = Controller(MetadataLog(data_dir, clock, clean=True), config, node_id=1, scheduler=clock)
        self.controller.load()
        self.metadata = MetadataCache(1, config)
        self.lag_s = lag_s
        self.services = BrokerServices(node_id=1, cluster_id="c", host="127.0.0.1", port=19092, config=config,
                                       controller=LocalControllerClient(self.controller),
                                       replicas=None,  # type: ignore[arg-type]
                                       clock=FakeClock(), metadata=self.metadata)

    @classmethod
    async def create(cls, data_dir: Path, lag_s: float | None) -> LaggingBroker:
        """The broker with node 1 registered and unfenced (in its image at once), then the lag."""
        broker = cls(data_dir, lag_s)
        await register(broker.controller, 1)
        broker.metadata.replay(list(broker.controller.log.read_all()), broker.controller.committed_offset)
        broker.controller.add_listener(broker._committed)
        return broker

    def _committed(self, records: Sequence[MetadataRecord], offset: int) -> None:
        if self.lag_s is not None:
            asyncio.get_running_loop().call_later(self.lag_s, self.metadata.replay, list(records), offset)

    async def call(self, api_key: int, version: int, request: dict[str, Any]) -> dict[str, Any]:
        req = codec.build(codec.request_type(api_key, version), request)
        ctx = RequestContext(RequestHeader(api_key, version, 7, "test"), None, self.services)  # type: ignore[arg-type]
        response = codec.build_response(api_key, version, await HANDLERS[api_key].handle(ctx, req))
        codec.encode_response(7, response, api_key=api_key, version=version)
        return codec.to_dict(response)


def test_metadata_auto_create_answers_from_the_image_after_the_commit(tmp_path: Path) -> None:
    async def main() -> None:
        broker = await LaggingBroker.create(tmp_path, lag_s=0.05)
        r = await broker.call(METADATA, 12, {"topics": [{"name": "auto", "topic_id": None}],
                                             "allow_auto_topic_creation": True,
                                             "include_topic_authorized_operations": False})
        [t] = r["topics"]
        assert t["error_code"] == ErrorCode.NONE and [p["partition_index"] for p in t["partitions"]] == [0, 1]
        assert broker.metadata.topic("auto") is not None

    asyncio.run(main())


def test_create_and_delete_topics_wait_for_the_image(tmp_path: Path) -> None:
    async def main() -> None:
        broker = await LaggingBroker.create(tmp_path, lag_s=0.05)
        r = await broker.call(CREATE_TOPICS, 7, {"topics": [
            {"name": "t", "num_partitions": 3, "replication_factor": 1, "assignments": [], "configs": []}],
            "timeout": 5000, "validate_only": False})
        assert r["topics"][0]["error_code"] == ErrorCode.NONE
        assert len(broker.metadata.topic("t").partitions) == 3  # the next request on this broker sees it
        r = await broker.call(DELETE_TOPICS, 6, {"topics": [{"name": "t", "topic_id": None}], "timeout": 5000})
        assert r["responses"][0]["error_code"] == ErrorCode.NONE and broker.metadata.topic("t") is None

    asyncio.run(main())


def test_create_topics_times_out_when_the_image_never_catches_up(tmp_path: Path) -> None:
    async def main() -> None:
        broker = await LaggingBroker.create(tmp_path, lag_s=None)
        r = await broker.call(CREATE_TOPICS, 7, {"topics": [
            {"name": "t", "num_partitions": 1, "replication_factor": 1, "assignments": [], "configs": []}],
            "timeout": 20, "validate_only": False})
        assert r["topics"][0]["error_code"] == ErrorCode.REQUEST_TIMED_OUT
        assert broker.controller.topic("t") is not None  # created all the same, as in Kafka
        validate = await broker.call(CREATE_TOPICS, 7, {"topics": [
            {"name": "u", "num_partitions": 1, "replication_factor": 1, "assignments": [], "configs": []}],
            "timeout": 20, "validate_only": True})
        assert validate["topics"][0]["error_code"] == ErrorCode.NONE  # validate_only commits nothing

    asyncio.run(main())
