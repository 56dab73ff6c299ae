"""Transactional offset commits in the group coordinator: pending until the COMMIT marker, gone at
ABORT, and the same after a reload of ``__consumer_offsets``."""
from __future__ import annotations

import asyncio

import pytest

from strom.coordinator.group.coordinator import GroupConfig, GroupCoordinator
from strom.util.clock import VirtualScheduler

from .test_txn_coordinator import MemoryWriter

pytestmark = pytest.mark.timeout(10)


class Metadata:
    def topic_partitions(self, name):
        return 1

    def topic_names(self):
        return ["t"]


def make(writer: MemoryWriter) -> GroupCoordinator:
    return GroupCoordinator(writer, GroupConfig(num_partitions=3), VirtualScheduler(), Metadata(), lambda c: c.close())


def test_offsets_in_a_transaction_take_effect_at_its_marker():
    writer = MemoryWriter()
    groups = make(writer)
    part = groups.partition_for("g")

    async def body():
        await groups.commit_offsets("g", "", -1, None, [("t", 0, 3, -1, None)], api_version=8)
        await groups.commit_txn_offsets("g", 42, 0, "", -1, None, [("t", 0, 10, -1, "m")])
        assert groups.fetch_offsets("g", [("t", 0)])[("t", 0)].offset == 3
        assert groups.has_pending_offsets("g", ("t", 0)) and not groups.has_pending_offsets("g", ("t", 1))
        await groups.write_txn_marker(part, 42, 0, 0, commit=False)
        assert groups.fetch_offsets("g", [("t", 0)])[("t", 0)].offset == 3
        assert not groups.has_pending_offsets("g")
        await groups.commit_txn_offsets("g", 42, 0, "", -1, None, [("t", 0, 11, -1, None)])
        await groups.commit_txn_offsets("g", 43, 0, "", -1, None, [("t", 0, 99, -1, None)])  # another producer
        await groups.write_txn_marker(part, 42, 0, 0, commit=True)

    asyncio.run(body())
    assert groups.fetch_offsets("g", [("t", 0)])[("t", 0)].offset == 11
    assert groups.has_pending_offsets("g")  # producer 43's transaction is still open
    reloaded = make(writer)
    reloaded.load()
    assert reloaded.fetch_offsets("g", [("t", 0)])[("t", 0)].offset == 11
    assert reloaded.has_pending_offsets("g", ("t", 0))
