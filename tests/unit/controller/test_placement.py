"""Replica placement over several registered fake brokers (records replayed into a controller):
rack spread, leader balance, determinism under a seed, Kafka's replication-factor errors, manual
assignments validated against the registered brokers."""
from __future__ import annotations

import random
from collections import Counter

import pytest

from strom.controller import placement
from strom.errors import ErrorCode, KafkaError
from strom.metadata.controller_client import BrokerHeartbeat
from strom.metadata.image import BrokerRegistration

from ._cluster import new_controller, register, run

RACKS = {1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}


def brokers(racks: dict[int, str | None]) -> list[BrokerRegistration]:
    return [BrokerRegistration(b, "i", 0, (), rack, False, False) for b, rack in racks.items()]


@run
async def test_six_brokers_in_three_racks_rf3_every_partition_spans_three_racks_and_leaders_balance() -> None:
    controller, cache, _ = new_controller()
    for b, rack in RACKS.items():
        await register(controller, b, rack)
    [r] = await controller.create_topics([{"name": "t", "num_partitions": 60, "replication_factor": 3}])
    assert r.error_code == ErrorCode.NONE and r.replication_factor == 3
    parts = cache.image.topics["t"].partitions.values()
    for p in parts:
        assert len(set(p.replicas)) == 3 and {RACKS[b] for b in p.replicas} == {"a", "b", "c"}, p
        assert p.leader == p.replicas[0] and p.isr == p.replicas
    assert Counter(p.leader for p in parts) == {b: 10 for b in RACKS}
    assert Counter(b for p in parts for b in p.replicas) == {b: 30 for b in RACKS}


def test_placement_is_deterministic_under_a_seed_and_varies_without() -> None:
    group = brokers(RACKS)
    plans = [placement.place(12, 3, group, random.Random(42)) for _ in range(2)]
    assert plans[0] == plans[1]
    others = {tuple(map(tuple, placement.place(12, 3, group, random.Random(seed)))) for seed in range(10)}
    assert len(others) > 1


def test_unbalanced_racks_still_use_every_rack_and_no_rack_means_plain_striping() -> None:
    racks = {1: "a", 2: "a", 3: "a", 4: "a", 5: "b", 6: "c"}
    for replicas in placement.place(30, 3, brokers(racks), random.Random(3)):
        assert {racks[b] for b in replicas} == {"a", "b", "c"}
    plain = placement.place(8, 2, brokers({1: None, 2: None, 3: None, 4: None}), random.Random(5))
    assert all(len(set(r)) == 2 for r in plain)
    assert Counter(r[0] for r in plain) == {1: 2, 2: 2, 3: 2, 4: 2}


def test_replication_factor_errors_use_kafkas_messages() -> None:
    with pytest.raises(KafkaError) as err:
        placement.place(1, 4, brokers({1: None, 2: None, 3: None}), random.Random())
    assert err.value.code == ErrorCode.INVALID_REPLICATION_FACTOR
    assert err.value.message == ("Unable to replicate the partition 4 time(s): The target replication factor of 4 "
                                 "cannot be reached because only 3 broker(s) are registered.")
    with pytest.raises(KafkaError) as err:
        placement.place(1, 0, brokers({1: None}), random.Random())
    assert err.value.code == ErrorCode.INVALID_REPLICATION_FACTOR


@run
async def test_replication_factor_counts_live_brokers_and_minus_one_takes_the_default() -> None:
    controller, cache, _ = new_controller(["default.replication.factor=3"])
    await register(controller, 1, "a")
    await register(controller, 2, "b")
    await register(controller, 3, "c", unfence=False)  # registered but fenced: not counted
    [r] = await controller.create_topics([{"name": "t", "num_partitions": 2, "replication_factor": -1}])
    assert r.error_code == ErrorCode.INVALID_REPLICATION_FACTOR
    assert "only 2 broker(s) are registered" in (r.error_message or "")
    await controller.broker_heartbeat(BrokerHeartbeat(3, cache.image.brokers[3].epoch, cache.image.offset))
    [r] = await controller.create_topics([{"name": "t", "num_partitions": 2, "replication_factor": -1}])
    assert r.error_code == ErrorCode.NONE and r.replication_factor == 3
    # CreatePartitions places the new partitions the same way
    await controller.create_partitions("t", 5, None)
    parts = cache.image.topics["t"].partitions
    assert len(parts) == 5 and {len(set(p.replicas)) for p in parts.values()} == {3}


@run
async def test_manual_assignments_are_validated_against_registered_brokers() -> None:
    controller, cache, _ = new_controller()
    await register(controller, 1)
    await register(controller, 2)
    await register(controller, 3, unfence=False)

    async def create(name: str, assignment: list[list[int]]) -> tuple[ErrorCode, str | None]:
        [r] = await controller.create_topics([{"name": name, "assignments": list(enumerate(assignment))}])
        return r.error_code, r.error_message

    code, message = await create("x", [[1, 7]])
    assert code == ErrorCode.INVALID_REPLICA_ASSIGNMENT
    assert message == "The manual partition assignment includes broker 7, but no such broker is registered."
    code, message = await create("x", [[3]])
    assert code == ErrorCode.INVALID_REPLICA_ASSIGNMENT and "are fenced or in controlled shutdown" in (message or "")
    assert (await create("x", [[1, 1]]))[0] == ErrorCode.INVALID_REPLICA_ASSIGNMENT
    assert (await create("ok", [[3, 2], [1, 2]]))[0] == ErrorCode.NONE
    p0, p1 = cache.image.topics["ok"].partitions[0], cache.image.topics["ok"].partitions[1]
    assert (p0.replicas, p0.isr, p0.leader) == ((3, 2), (2,), 2)  # the fenced broker is out of the ISR
    assert (p1.replicas, p1.isr, p1.leader) == ((1, 2), (1, 2), 1)
    with pytest.raises(KafkaError) as err:
        await controller.create_partitions("ok", 3, [[1, 9]])
    assert err.value.code == ErrorCode.INVALID_REPLICA_ASSIGNMENT
