"""Server-side partition assignors of KIP-848 consumer groups ("uniform" and "range").

An assignor is a pure function

    assign(subscriptions, partition_counts, current) -> target

``subscriptions`` maps each member id to the topics it subscribes to,
``partition_counts`` maps each topic to its partition count (topics that do
not exist are absent), ``current`` maps each member to its current *target*
assignment ``{topic: set(partitions)}`` (the input for stickiness, as Kafka's
GroupSpec does) and the result maps every member (also those that get
nothing) to ``{topic: frozenset(partitions)}``.  Topics are any sortable,
hashable keys; the coordinator uses topic ids (strings).  Output is
deterministic for a given input: members and topics are visited in sorted
order.

``uniform`` (Kafka's UniformAssignor): every partition of a subscribed topic
goes to exactly one member subscribed to it, the partition counts of the
members differ by at most one where the subscriptions allow, and a partition
stays with its current owner unless balance requires it to move (moves are
the fewest that reach balance in the homogeneous case).

``range`` (Kafka's server-side RangeAssignor): per topic, the members
subscribed to it in member-id order get contiguous ranges, the first
``partitions % members`` of them one extra; topics with the same partition
count and the same subscribers are therefore co-partitioned (member i gets the
same partition numbers of each).

Simplifications relative to Apache Kafka: no rack awareness (the member's
rack is stored and described but not used), and ``range`` is not sticky.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Set
from typing import Any

Topic = Hashable
Assignment = dict[Topic, frozenset[int]]
Assignor = Callable[[Mapping[str, Set[Any]], Mapping[Any, int], Mapping[str, Mapping[Any, Set[int]]]],
                    dict[str, Assignment]]


def _finish(owned: dict[str, dict[Topic, set[int]]]) -> dict[str, Assignment]:
    return {m: {t: frozenset(ps) for t, ps in sorted(parts.items(), key=lambda kv: str(kv[0])) if ps}
            for m, parts in owned.items()}


def uniform(subscriptions: Mapping[str, Set[Any]], partition_counts: Mapping[Any, int],
            current: Mapping[str, Mapping[Any, Set[int]]]) -> dict[str, Assignment]:
    members = sorted(subscriptions)
    owned: dict[str, dict[Topic, set[int]]] = {m: {} for m in members}
    count = dict.fromkeys(members, 0)
    subscribers: dict[Topic, list[str]] = {}
    for m in members:
        for t in subscriptions[m]:
            if t in partition_counts:
                subscribers.setdefault(t, []).append(m)
    topics = sorted(subscribers, key=str)
    homogeneous = len({frozenset(t for t in subscriptions[m] if t in partition_counts) for m in members}) <= 1
    total = sum(partition_counts[t] for t in topics)

    # 1. stickiness: keep current owners that are still subscribed (each partition at most once);
    #    with homogeneous subscriptions cap each member at its quota right away (fewest moves).
    if homogeneous and members:
        base, extra = divmod(total, len(members))
        # members that currently own the most keep the "+1" slots
        by_size = sorted(members, key=lambda m: (-sum(len(p) for t, p in current.get(m, {}).items()
                                                       if t in subscribers), m))
        quota = {m: base + (1 if i < extra else 0) for i, m in enumerate(by_size)}
    else:
        quota = dict.fromkeys(members, total)
    taken: set[tuple[Topic, int]] = set()
    for m in members:
        for t in sorted(current.get(m, {}), key=str):
            if t not in subscribers or m not in subscribers[t]:
                continue
            for p in sorted(current[m][t]):
                if p < partition_counts[t] and (t, p) not in taken and count[m] < quota[m]:
                    taken.add((t, p))
                    owned[m].setdefault(t, set()).add(p)
                    count[m] += 1

    # 2. every unassigned partition goes to the least loaded eligible member
    for t in topics:
        for p in range(partition_counts[t]):
            if (t, p) in taken:
                continue
            m = min(subscribers[t], key=lambda x: (count[x] >= quota[x], count[x], x))
            owned[m].setdefault(t, set()).add(p)
            count[m] += 1
            taken.add((t, p))

    # 3. balance: move partitions from a member to an eligible one with at least two fewer
    #    (each move lowers the sum of squared counts, so this ends)
    moved = True
    while moved:
        moved = False
        for src in sorted(members, key=lambda x: (-count[x], x)):
            for t in sorted(owned[src], key=str, reverse=True):
                for p in sorted(owned[src][t], reverse=True):
                    candidates = [d for d in subscribers[t] if count[d] + 1 < count[src]]
                    if not candidates:
                        continue
                    dst = min(candidates, key=lambda x: (count[x], x))
                    owned[src][t].discard(p)
                    owned[dst].setdefault(t, set()).add(p)
                    count[src] -= 1
                    count[dst] += 1
                    moved = True
                    break
                if moved:
                    break
            if moved:
                break
    return _finish(owned)


def range_(subscriptions: Mapping[str, Set[Any]], partition_counts: Mapping[Any, int],
           current: Mapping[str, Mapping[Any, Set[int]]]) -> dict[str, Assignment]:
    del current  # not sticky (see the module docstring)
    owned: dict[str, dict[Topic, set[int]]] = {m: {} for m in sorted(subscriptions)}
    topics = sorted({t for subs in subscriptions.values() for t in subs if t in partition_counts}, key=str)
    for t in topics:
        subs = sorted(m for m in subscriptions if t in subscriptions[m])
        n = partition_counts[t]
        base, extra = divmod(n, len(subs))
        start = 0
        for i, m in enumerate(subs):
            size = base + (1 if i < extra else 0)
            if size:
                owned[m][t] = set(range(start, start + size))
            start += size
    return _finish(owned)


ASSIGNORS: dict[str, Assignor] = {"uniform": uniform, "range": range_}
