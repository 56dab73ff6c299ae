"""A controller over an in-memory metadata log, and helpers that register fake brokers through it.

``MemoryMetadataLog`` has MetadataLog's interface (end_offset, read_all, append) without files or
worker threads, so a VirtualScheduler drives everything; each record still goes through the
records' byte encoding, so what replays is what would have been stored.
"""
from __future__ import annotations

import asyncio
import functools
import random
import uuid
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any

from strom.config import BrokerConfig
from strom.controller.controller import Controller
from strom.errors import ErrorCode
from strom.metadata.cache import MetadataCache
from strom.metadata.controller_client import BrokerHeartbeat, RegisterBroker
from strom.metadata.records import BrokerEndpoint, MetadataRecord, decode, encode
from strom.util.clock import VirtualScheduler

CLUSTER = "test-cluster"


def run(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test on a fresh loop in debug mode, with a real-time safety net."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 20), debug=True)
    return wrapper


class MemoryMetadataLog:
    def __init__(self) -> None:
        self.stored: list[tuple[bytes, bytes]] = []

    @property
    def end_offset(self) -> int:
        return len(self.stored)

    def read_all(self) -> Iterator[MetadataRecord]:
        for key, value in self.stored:
            yield decode(key, value)

    async def append(self, records: Sequence[MetadataRecord]) -> int:
        self.stored.extend(encode(r) for r in records)
        return len(self.stored) - 1

    def close(self) -> None:
        pass


def new_controller(overrides: Sequence[str] = (), *, seed: int = 7, log: MemoryMetadataLog | None = None,
                   scheduler: VirtualScheduler | None = None, node_id: int = 1,
                   local_broker_id: int | None = None) -> tuple[Controller, MetadataCache, VirtualScheduler]:
    """A loaded controller and a broker cache fed by its commits."""
    config = BrokerConfig.load(overrides=list(overrides), env={})
    scheduler = scheduler or VirtualScheduler()
    controller = Controller(log or MemoryMetadataLog(), config, node_id, scheduler=scheduler,  # type: ignore[arg-type]
                            rng=random.Random(seed), cluster_id=CLUSTER, local_broker_id=local_broker_id)
    controller.load()
    cache = MetadataCache(node_id, config, controller.image)
    controller.add_listener(cache.replay)
    return controller, cache, scheduler


def endpoint(broker_id: int) -> BrokerEndpoint:
    return BrokerEndpoint("PLAINTEXT", f"broker{broker_id}.example", 9092)


async def register(controller: Controller, broker_id: int, rack: str | None = None,
                   incarnation: uuid.UUID | None = None, *, unfence: bool = True,
                   endpoints: Sequence[BrokerEndpoint] | None = None) -> int:
    """Register ``broker_id`` and (by a caught-up heartbeat) unfence it; returns its epoch."""
    result = await controller.register_broker(RegisterBroker(broker_id, CLUSTER, incarnation or uuid.uuid4(),
                                                             endpoints or [endpoint(broker_id)], rack))
    assert result.error_code == ErrorCode.NONE, result
    if unfence:
        beat = await controller.broker_heartbeat(BrokerHeartbeat(broker_id, result.broker_epoch,
                                                                 controller.committed_offset))
        assert beat.error_code == ErrorCode.NONE and not beat.is_fenced, beat
    return result.broker_epoch
