"""Replica placement: which brokers hold the replicas of new partitions, and which one leads.

The idea of Kafka's StripedReplicaPlacer, written afresh:

1. Group the usable brokers (registered, unfenced, not in controlled shutdown) by rack; brokers
   without ``broker.rack`` share one unnamed rack.  Shuffle the racks and the brokers of each rack.
2. Build one *rack-alternating* list by taking one broker from each rack in turn
   (a0 b0 c0 a1 b1 c1 ...), so neighbours in the list sit in different racks where racks allow.
3. Partition k of a request starts at position ``(start + k) mod n`` of the list, ``start`` random
   per request: its first broker is the leader, so leaderships go round the list and every broker
   leads ⌊P/n⌋ or ⌈P/n⌉ of P new partitions.  The followers are taken walking on from there,
   preferring brokers of racks the partition does not use yet, so a partition spans
   min(RF, racks) racks; when every rack is used, the next brokers in the list follow.

Randomness comes from the ``random.Random`` the caller owns (the controller's, seeded in tests), so
placement is deterministic under a seed.  Pure functions of their arguments: no I/O, no state.
"""
from __future__ import annotations

import random
from collections.abc import Sequence

from strom.errors import ErrorCode, KafkaError
from strom.metadata.image import BrokerRegistration


def rack_alternating(brokers: Sequence[BrokerRegistration], rng: random.Random) -> list[BrokerRegistration]:
    """The usable brokers in rack-alternating order (step 2 above), shuffled by ``rng``."""
    by_rack: dict[str | None, list[BrokerRegistration]] = {}
    for b in sorted(brokers, key=lambda b: b.broker_id):
        by_rack.setdefault(b.rack, []).append(b)
    racks = sorted(by_rack, key=lambda r: (r is not None, r or ""))
    rng.shuffle(racks)
    columns = []
    for rack in racks:
        column = list(by_rack[rack])
        rng.shuffle(column)
        columns.append(column)
    out: list[BrokerRegistration] = []
    for depth in range(max((len(c) for c in columns), default=0)):
        out.extend(c[depth] for c in columns if depth < len(c))
    return out


def check_replication_factor(replication_factor: int, usable: int) -> None:
    """INVALID_REPLICATION_FACTOR (Kafka's messages) unless 1 <= RF <= the usable brokers."""
    if replication_factor <= 0:
        raise KafkaError("Replication factor must be larger than 0.", ErrorCode.INVALID_REPLICATION_FACTOR)
    if usable == 0:
        raise KafkaError("All brokers are currently fenced.", ErrorCode.INVALID_REPLICATION_FACTOR)
    if replication_factor > usable:
        raise KafkaError(f"Unable to replicate the partition {replication_factor} time(s): The target "
                         f"replication factor of {replication_factor} cannot be reached because only "
                         f"{usable} broker(s) are registered.", ErrorCode.INVALID_REPLICATION_FACTOR)


def place(num_partitions: int, replication_factor: int, brokers: Sequence[BrokerRegistration],
          rng: random.Random) -> list[list[int]]:
    """Replica lists (leader first) for ``num_partitions`` new partitions over ``brokers`` (the usable
    ones).  Raises INVALID_REPLICATION_FACTOR when the factor cannot be met."""
    check_replication_factor(replication_factor, len(brokers))
    ring = rack_alternating(brokers, rng)
    n = len(ring)
    start = rng.randrange(n)
    plan = []
    for k in range(num_partitions):
        first = (start + k) % n
        chosen = [ring[first]]
        racks = {ring[first].rack}
        rest = [ring[(first + i) % n] for i in range(1, n)]
        for b in rest:  # first pass: one replica per unused rack
            if len(chosen) == replication_factor:
                break
            if b.rack not in racks:
                chosen.append(b)
                racks.add(b.rack)
        for b in rest:  # then any broker, in list order
            if len(chosen) == replication_factor:
                break
            if b not in chosen:
                chosen.append(b)
        plan.append([b.broker_id for b in chosen])
    return plan
