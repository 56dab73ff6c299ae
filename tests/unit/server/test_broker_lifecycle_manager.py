"""BrokerLifecycleManager against a real Controller (in-memory log) through LocalControllerClient,
with a VirtualScheduler: registration, unfencing without delay, heartbeats every interval, controlled
shutdown, a duplicate node id kept out until the first one's session expires, re-registration."""
from __future__ import annotations

import asyncio

from strom.controller.client import LocalControllerClient
from strom.errors import ErrorCode
from strom.metadata.controller_client import BrokerHeartbeat, BrokerHeartbeatResult
from strom.metadata.records import BrokerEndpoint
from strom.server.broker_lifecycle import BrokerLifecycleManager, BrokerLifecycleState

from ..controller._cluster import CLUSTER, new_controller, register, run


class CountingClient(LocalControllerClient):
    """The in-process client, counting heartbeats (with their virtual send time)."""

    def __init__(self, controller, scheduler) -> None:  # type: ignore[no-untyped-def]
        super().__init__(controller)
        self.scheduler = scheduler
        self.beats: list[tuple[float, BrokerHeartbeat]] = []

    async def broker_heartbeat(self, request: BrokerHeartbeat) -> BrokerHeartbeatResult:
        self.beats.append((self.scheduler.monotonic(), request))
        return await super().broker_heartbeat(request)


def manager(controller, cache, scheduler, client=None, rack: str | None = "r1") -> BrokerLifecycleManager:  # type: ignore[no-untyped-def]
    return BrokerLifecycleManager(1, CLUSTER, client or LocalControllerClient(controller), cache, scheduler,
                                  listeners=[BrokerEndpoint("PLAINTEXT", "localhost", 9092)], rack=rack,
                                  heartbeat_interval_ms=2000)


@run
async def test_registers_and_is_unfenced_without_virtual_time_passing_then_heartbeats_every_interval() -> None:
    controller, cache, scheduler = new_controller()
    client = CountingClient(controller, scheduler)
    m = manager(controller, cache, scheduler, client)
    task = asyncio.create_task(m.run())
    await asyncio.wait_for(m.wait_unfenced(), 5)
    assert scheduler.monotonic() == 0 and m.state is BrokerLifecycleState.RUNNING
    reg = cache.image.brokers[1]
    assert (reg.epoch, reg.rack, reg.fenced, reg.incarnation_id) == (m.broker_epoch, "r1", False, str(m.incarnation_id))
    assert cache.live_brokers == [1]
    await scheduler.run_for(10_000)
    assert [t for t, _ in client.beats] == [0, 2, 4, 6, 8, 10]
    assert all(b.current_metadata_offset == cache.image.offset for _, b in client.beats[1:])
    # the controller's session never ran out meanwhile
    await scheduler.run_for(20_000)
    assert cache.live_brokers == [1]
    task.cancel()


@run
async def test_controlled_shutdown_stops_the_heartbeats() -> None:
    controller, cache, scheduler = new_controller()
    fencer = asyncio.create_task(controller.run())
    client = CountingClient(controller, scheduler)
    m = manager(controller, cache, scheduler, client)
    task = asyncio.create_task(m.run())
    await m.wait_unfenced()
    assert await m.controlled_shutdown(9000)
    await asyncio.wait_for(task, 5)  # run returns once allowed to shut down
    assert m.state is BrokerLifecycleState.SHUTTING_DOWN and client.beats[-1][1].want_shut_down
    reg = cache.image.brokers[1]
    assert reg.fenced and reg.in_controlled_shutdown and cache.live_brokers == []
    sent = len(client.beats)
    await scheduler.run_for(30_000)
    assert len(client.beats) == sent
    fencer.cancel()


@run
async def test_controlled_shutdown_gives_up_after_its_timeout_when_leaderships_cannot_move() -> None:
    controller, cache, scheduler = new_controller()
    await register(controller, 2)
    m = manager(controller, cache, scheduler)
    task = asyncio.create_task(m.run())
    await m.wait_unfenced()
    [r] = await controller.create_topics([{"name": "t", "num_partitions": 4, "replication_factor": 2}])
    assert r.error_code == ErrorCode.NONE
    waiting = asyncio.create_task(m.controlled_shutdown(5000))
    await scheduler.run_for(4999)
    assert not waiting.done() and cache.image.brokers[1].in_controlled_shutdown
    await scheduler.run_for(1)
    assert await waiting is False
    task.cancel()


@run
async def test_a_second_process_with_the_same_node_id_waits_until_the_first_is_fenced() -> None:
    controller, cache, scheduler = new_controller()
    fencer = asyncio.create_task(controller.run())
    first = manager(controller, cache, scheduler)
    first_task = asyncio.create_task(first.run())
    await first.wait_unfenced()
    second = manager(controller, cache, scheduler)
    second_task = asyncio.create_task(second.run())
    await scheduler.run_for(4000)
    assert second.state is BrokerLifecycleState.STARTING
    assert second.last_error is not None and second.last_error[0] == ErrorCode.DUPLICATE_BROKER_REGISTRATION
    first_task.cancel()  # the first process dies (no controlled shutdown)
    await scheduler.run_until(lambda: second.state is BrokerLifecycleState.RUNNING, timeout_ms=20_000)
    assert 4000 + 9000 <= scheduler.monotonic() * 1000 <= 4000 + 9000 + 2000
    assert cache.image.brokers[1].incarnation_id == str(second.incarnation_id) and cache.live_brokers == [1]
    # the first one's heartbeats, were it to come back, are stale
    stale = await controller.broker_heartbeat(BrokerHeartbeat(1, first.broker_epoch, cache.image.offset))
    assert stale.error_code == ErrorCode.STALE_BROKER_EPOCH
    second_task.cancel()
    fencer.cancel()


@run
async def test_six_brokers_register_see_one_another_and_a_silent_one_drops_out_of_placement() -> None:
    controller, cache, scheduler = new_controller(["default.replication.factor=3"])
    fencer = asyncio.create_task(controller.run())
    racks = {1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}
    managers = {b: BrokerLifecycleManager(b, CLUSTER, LocalControllerClient(controller), cache, scheduler,
                                          listeners=[BrokerEndpoint("PLAINTEXT", f"host{b}", 9092)], rack=rack,
                                          heartbeat_interval_ms=2000) for b, rack in racks.items()}
    tasks = {b: asyncio.create_task(m.run()) for b, m in managers.items()}
    await asyncio.wait_for(asyncio.gather(*(m.wait_unfenced() for m in managers.values())), 5)
    assert cache.live_brokers == [1, 2, 3, 4, 5, 6]
    assert {b: reg.rack for b, reg in cache.image.brokers.items()} == racks
    [r] = await controller.create_topics([{"name": "t", "num_partitions": 6, "replication_factor": -1}])
    assert r.error_code == ErrorCode.NONE
    assert all({racks[b] for b in p.replicas} == {"a", "b", "c"} for p in cache.image.topics["t"].partitions.values())
    tasks.pop(6).cancel()  # broker 6's process dies
    await scheduler.run_for(9000)
    assert cache.live_brokers == [1, 2, 3, 4, 5]
    [r] = await controller.create_topics([{"name": "u", "num_partitions": 10, "replication_factor": 3}])
    assert r.error_code == ErrorCode.NONE
    assert all(6 not in p.replicas for p in cache.image.topics["u"].partitions.values())
    for task in tasks.values():
        task.cancel()
    fencer.cancel()
