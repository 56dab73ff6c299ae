"""The controller's side of the broker lifecycle: registration, epochs, fencing by session timeout,
unfencing on a caught-up heartbeat, duplicate registrations, controlled shutdown, and restart replay.
A VirtualScheduler drives the session timers; the metadata log is in memory (or on disk for replay)."""
from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from pathlib import Path

from strom.config import BrokerConfig
from strom.controller.broker_heartbeats import BrokerControlState as S
from strom.controller.broker_heartbeats import next_state
from strom.controller.controller import Controller
from strom.controller.metadata_log import MetadataLog
from strom.errors import ErrorCode
from strom.metadata.controller_client import BrokerHeartbeat, RegisterBroker
from strom.metadata.records import BrokerRegistrationChangeRecord, RegisterBrokerRecord
from strom.util.clock import VirtualScheduler

from ._cluster import CLUSTER, MemoryMetadataLog, endpoint, new_controller, register, run


def beat(broker_id: int, epoch: int, offset: int, **flags: bool) -> BrokerHeartbeat:
    return BrokerHeartbeat(broker_id, epoch, offset, **flags)


# ---------------------------------------------------------------------------- state machine
def test_the_transition_table_is_walked() -> None:
    expected = {  # (current, want_shut_down, want_fence, caught_up, has_leaderships) -> next
        S.FENCED: lambda shut, fence, up, lead: S.SHUTDOWN_NOW if shut else S.FENCED if fence
        else S.UNFENCED if up else S.FENCED,
        S.UNFENCED: lambda shut, fence, up, lead: (S.CONTROLLED_SHUTDOWN if lead else S.SHUTDOWN_NOW) if shut
        else S.FENCED if fence else S.UNFENCED,
        S.CONTROLLED_SHUTDOWN: lambda shut, fence, up, lead: S.CONTROLLED_SHUTDOWN if lead else S.SHUTDOWN_NOW,
        S.SHUTDOWN_NOW: lambda shut, fence, up, lead: S.SHUTDOWN_NOW,
    }
    seen = set()
    for current in S:
        for shut, fence, up, lead in itertools.product((False, True), repeat=4):
            got = next_state(current, want_fence=fence, want_shut_down=shut, caught_up=up, has_leaderships=lead)
            assert got is expected[current](shut, fence, up, lead), (current, shut, fence, up, lead)
            seen.add((current, got))
    assert {c for c, _ in seen} == set(S) and {n for _, n in seen} == set(S)


# ---------------------------------------------------------------------------- registration
@run
async def test_epoch_is_the_offset_of_the_registration_record_and_the_broker_starts_fenced() -> None:
    controller, cache, _ = new_controller()
    await register(controller, 1)  # offsets 0 (register) and 1 (unfence)
    result = await controller.register_broker(RegisterBroker(2, CLUSTER, uuid.uuid4(), [endpoint(2)], "r2"))
    assert result.error_code == ErrorCode.NONE and result.broker_epoch == 2
    assert isinstance(list(controller.log.read_all())[2], RegisterBrokerRecord)
    reg = cache.image.brokers[2]
    assert reg.epoch == 2 and reg.fenced and reg.rack == "r2" and reg.endpoints == (endpoint(2),)
    assert cache.live_brokers == [1]


@run
async def test_unfenced_once_a_heartbeat_has_caught_up_with_the_registration() -> None:
    controller, cache, _ = new_controller()
    await register(controller, 1)
    epoch = (await controller.register_broker(RegisterBroker(2, CLUSTER, uuid.uuid4(), [endpoint(2)]))).broker_epoch
    behind = await controller.broker_heartbeat(beat(2, epoch, epoch - 1))
    assert (behind.error_code, behind.is_caught_up, behind.is_fenced) == (ErrorCode.NONE, False, True)
    assert cache.image.brokers[2].fenced
    caught_up = await controller.broker_heartbeat(beat(2, epoch, epoch))
    assert (caught_up.is_caught_up, caught_up.is_fenced, caught_up.should_shut_down) == (True, False, False)
    assert not cache.image.brokers[2].fenced and cache.live_brokers == [1, 2]
    assert list(controller.log.read_all())[-1] == BrokerRegistrationChangeRecord(2, epoch, fenced=False)


@run
async def test_heartbeat_errors() -> None:
    controller, _, _ = new_controller()
    epoch = await register(controller, 1)
    assert (await controller.broker_heartbeat(beat(9, 0, 5))).error_code == ErrorCode.BROKER_ID_NOT_REGISTERED
    assert (await controller.broker_heartbeat(beat(1, epoch + 1, 5))).error_code == ErrorCode.STALE_BROKER_EPOCH
    other = await controller.register_broker(RegisterBroker(1, "another-cluster", uuid.uuid4(), [endpoint(1)]))
    assert other.error_code == ErrorCode.INCONSISTENT_CLUSTER_ID and other.broker_epoch == -1


@run
async def test_a_second_incarnation_is_refused_while_the_first_is_alive_then_accepted_with_a_new_epoch() -> None:
    controller, cache, scheduler = new_controller()
    fencer = asyncio.create_task(controller.run())
    first = uuid.uuid4()
    epoch = await register(controller, 1, incarnation=first)
    second = RegisterBroker(1, CLUSTER, uuid.uuid4(), [endpoint(1)])
    refused = await controller.register_broker(second)
    assert refused.error_code == ErrorCode.DUPLICATE_BROKER_REGISTRATION and refused.broker_epoch == -1
    assert "Another broker is registered with that broker id" in (refused.error_message or "")
    # the same incarnation may register again (a retry): a new epoch
    again = await controller.register_broker(RegisterBroker(1, CLUSTER, first, [endpoint(1)]))
    assert again.error_code == ErrorCode.NONE and again.broker_epoch > epoch
    await controller.broker_heartbeat(beat(1, again.broker_epoch, controller.committed_offset))
    assert (await controller.register_broker(second)).error_code == ErrorCode.DUPLICATE_BROKER_REGISTRATION
    # the first stops heartbeating: fenced after the session timeout, then the second gets in
    await scheduler.run_for(9000)
    assert cache.image.brokers[1].fenced
    accepted = await controller.register_broker(second)
    assert accepted.error_code == ErrorCode.NONE and accepted.broker_epoch > again.broker_epoch
    assert cache.image.brokers[1].incarnation_id == str(second.incarnation_id) and cache.image.brokers[1].fenced
    fencer.cancel()


# ---------------------------------------------------------------------------- session timeout
@run
async def test_fenced_after_the_session_timeout_to_the_millisecond() -> None:
    controller, cache, scheduler = new_controller(["broker.session.timeout.ms=9000"])
    fencer = asyncio.create_task(controller.run())
    epoch = await register(controller, 1)
    await register(controller, 2)
    await scheduler.run_for(5000)
    assert (await controller.broker_heartbeat(beat(2, cache.image.brokers[2].epoch, cache.image.offset))).error_code == 0
    await scheduler.run_for(3999)  # t = 8999: broker 1's last heartbeat was at 0
    assert cache.live_brokers == [1, 2]
    await scheduler.run_for(1)  # t = 9000
    assert cache.live_brokers == [2] and cache.image.brokers[1].fenced
    assert list(controller.log.read_all())[-1] == BrokerRegistrationChangeRecord(1, epoch, fenced=True)
    await scheduler.run_for(4999)  # t = 13999: broker 2's heartbeat at 5000 renewed its session
    assert cache.live_brokers == [2]
    await scheduler.run_for(1)
    assert cache.live_brokers == []
    # a fenced broker that heartbeats again (caught up) is unfenced
    again = await controller.broker_heartbeat(beat(1, epoch, cache.image.offset))
    assert not again.is_fenced and cache.live_brokers == [1]
    fencer.cancel()


@run
async def test_a_fenced_broker_stays_fenced_and_gets_no_new_replicas() -> None:
    controller, cache, scheduler = new_controller()
    fencer = asyncio.create_task(controller.run())
    await register(controller, 1)
    await scheduler.run_for(9000)
    [result] = await controller.create_topics([{"name": "t", "num_partitions": 1, "replication_factor": 1}])
    assert result.error_code == ErrorCode.INVALID_REPLICATION_FACTOR
    assert result.error_message == "All brokers are currently fenced."
    fencer.cancel()


# ---------------------------------------------------------------------------- controlled shutdown
@run
async def test_controlled_shutdown_of_a_broker_that_leads_nothing_movable_is_allowed_at_once() -> None:
    controller, cache, _ = new_controller()
    epoch = await register(controller, 1)
    await controller.create_topics([{"name": "t", "num_partitions": 3, "replication_factor": 1}])
    answer = await controller.broker_heartbeat(beat(1, epoch, cache.image.offset, want_shut_down=True))
    assert (answer.should_shut_down, answer.is_fenced) == (True, True)
    reg = cache.image.brokers[1]
    assert reg.fenced and reg.in_controlled_shutdown and cache.live_brokers == []
    # its session ended: a new incarnation registers at once
    fresh = await controller.register_broker(RegisterBroker(1, CLUSTER, uuid.uuid4(), [endpoint(1)]))
    assert fresh.error_code == ErrorCode.NONE and fresh.broker_epoch > epoch


@run
async def test_controlled_shutdown_waits_while_a_leadership_could_move() -> None:
    controller, cache, _ = new_controller(seed=1)
    e1 = await register(controller, 1)
    await register(controller, 2)
    await controller.create_topics([{"name": "t", "num_partitions": 2, "replication_factor": 2}])
    assert {p.leader for p in cache.image.topics["t"].partitions.values()} == {1, 2}
    answer = await controller.broker_heartbeat(beat(1, e1, cache.image.offset, want_shut_down=True))
    assert (answer.should_shut_down, answer.is_fenced) == (False, False)
    reg = cache.image.brokers[1]
    assert reg.in_controlled_shutdown and not reg.fenced
    assert controller.movable_leaderships(1) and cache.live_brokers == [1, 2]
    # no new replicas go to a broker in controlled shutdown
    [r] = await controller.create_topics([{"name": "u", "num_partitions": 4, "replication_factor": 1}])
    assert r.error_code == ErrorCode.NONE
    assert {p.leader for p in cache.image.topics["u"].partitions.values()} == {2}
    # once the leaderships are gone (here: broker 2 fenced, so nothing can take over) it may go
    await controller.broker_heartbeat(beat(2, cache.image.brokers[2].epoch, cache.image.offset, want_fence=True))
    answer = await controller.broker_heartbeat(beat(1, e1, cache.image.offset, want_shut_down=True))
    assert answer.should_shut_down and cache.image.brokers[1].fenced


# ---------------------------------------------------------------------------- replay
@run
async def test_restart_replays_registrations_and_a_re_registration_gets_a_new_epoch(tmp_path: Path) -> None:
    scheduler = VirtualScheduler()
    config = BrokerConfig.load(env={})
    metadata_log = MetadataLog(tmp_path, scheduler, clean=True)
    controller = Controller(metadata_log, config, 1, scheduler=scheduler, cluster_id=CLUSTER, local_broker_id=1)
    controller.load()
    e1 = await register(controller, 1, rack="a")
    e2 = await register(controller, 2, rack="b")
    metadata_log.close()

    metadata_log = MetadataLog(tmp_path, scheduler, clean=False)
    restarted = Controller(metadata_log, config, 1, scheduler=scheduler, cluster_id=CLUSTER, local_broker_id=1)
    restarted.load()
    brokers = restarted.image.brokers
    assert (brokers[1].epoch, brokers[1].rack, brokers[1].fenced) == (e1, "a", False)
    assert (brokers[2].epoch, brokers[2].rack, brokers[2].fenced) == (e2, "b", False)
    # this process's own broker (a previous run of it) re-registers at once, with a new epoch
    new_e1 = await register(restarted, 1, rack="a")
    assert new_e1 > e2 > e1 and restarted.image.brokers[1].epoch == new_e1
    # another broker unfenced in the log got a fresh session: its new incarnation waits for it to expire
    second = RegisterBroker(2, CLUSTER, uuid.uuid4(), [endpoint(2)], "b")
    assert (await restarted.register_broker(second)).error_code == ErrorCode.DUPLICATE_BROKER_REGISTRATION
    scheduler.advance(9000)
    await restarted.fence_expired_brokers()
    accepted = await restarted.register_broker(second)
    assert accepted.error_code == ErrorCode.NONE and accepted.broker_epoch > new_e1
    metadata_log.close()


@run
async def test_registration_unfencing_and_fencing_log_one_info_line_each_with_fields(caplog) -> None:
    caplog.set_level(logging.INFO, logger="strom.controller.controller")
    controller, cache, scheduler = new_controller(["broker.session.timeout.ms=9000"])
    fencer = asyncio.create_task(controller.run())
    epoch = await register(controller, 1, rack="r1")
    await scheduler.run_for(9000)
    assert cache.image.brokers[1].fenced
    fencer.cancel()
    lines = [(r.event, r.broker, r.broker_epoch) for r in caplog.records if getattr(r, "event", None)]
    assert lines == [("broker_registered", 1, epoch), ("broker_unfenced", 1, epoch), ("broker_fenced", 1, epoch)]
    fenced = caplog.records[-1]
    assert fenced.reason == "session timeout" and "fencing it" in fenced.getMessage()
