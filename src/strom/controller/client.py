"""LocalControllerClient: the ``ControllerClient`` of a node whose active controller is in-process.

It calls the local ``Controller`` and turns its answers (and KafkaErrors)
into the protocol's per-entry results.  ``metadata_offset`` is the
controller's committed offset right after the call: no other commit can
slip in between (no await), so it is this call's commit or a later one, and
the controller has already handed the batch to its commit listeners (the
broker's cache), so waiting for it returns at once.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from strom.controller.controller import Controller
from strom.errors import ErrorCode, KafkaError
from strom.metadata.acls import AclBinding, AclFilter
from strom.metadata.controller_client import (
    AclCreateResult, AclDeleteResult, BrokerHeartbeat, BrokerHeartbeatResult, ConfigChanges, EntryResult,
    NewPartitions, NewTopic, RegisterBroker, RegisterBrokerResult, ScramDeletion, ScramUpsertion, TopicResult,
    TopicToDelete, WriteResult,
)
from strom.metadata.records import BROKER_RESOURCE, TOPIC_RESOURCE


class LocalControllerClient:
    def __init__(self, controller: Controller) -> None:
        self._controller = controller

    def _result(self, results: list[Any]) -> WriteResult[Any]:
        return WriteResult(results, self._controller.committed_offset)

    async def create_topics(self, topics: Sequence[NewTopic], *, validate_only: bool = False
                            ) -> WriteResult[TopicResult]:
        specs = [{"name": t.name, "num_partitions": t.num_partitions, "replication_factor": t.replication_factor,
                  "assignments": [(p, list(b)) for p, b in t.assignments], "configs": dict(t.configs)}
                 for t in topics]
        results = await self._controller.create_topics(specs, validate_only=validate_only)
        return self._result(results)

    async def delete_topics(self, topics: Sequence[TopicToDelete]) -> WriteResult[EntryResult]:
        results = []
        for t in topics:
            try:
                topic = await self._controller.delete_topic(name=t.name if t.topic_id is None else None,
                                                            topic_id=t.topic_id)
            except KafkaError as exc:
                results.append(EntryResult(t.name, exc.code, exc.message, t.topic_id))
            else:
                results.append(EntryResult(topic.name, topic_id=topic.topic_id))
        return self._result(results)

    async def create_partitions(self, topics: Sequence[NewPartitions], *, validate_only: bool = False
                                ) -> WriteResult[EntryResult]:
        results = []
        for t in topics:
            try:
                await self._controller.create_partitions(t.name, t.count, t.assignments, validate_only=validate_only)
            except KafkaError as exc:
                results.append(EntryResult(t.name, exc.code, exc.message))
            else:
                results.append(EntryResult(t.name))
        return self._result(results)

    async def alter_configs(self, resources: Sequence[ConfigChanges], *, replace: bool,
                            validate_only: bool = False) -> WriteResult[EntryResult]:
        controller = self._controller
        results = []
        for r in resources:
            try:
                if r.resource_type == TOPIC_RESOURCE:
                    await controller.alter_topic_configs(r.resource_name, r.changes, replace=replace,
                                                         validate_only=validate_only)
                elif r.resource_type == BROKER_RESOURCE:
                    await controller.alter_broker_configs(r.resource_name, r.changes, replace=replace,
                                                          validate_only=validate_only)
                else:
                    raise KafkaError(f"resource type {r.resource_type} is not supported", ErrorCode.INVALID_REQUEST)
            except KafkaError as exc:
                results.append(EntryResult(r.resource_name, exc.code, exc.message))
            else:
                results.append(EntryResult(r.resource_name))
        return self._result(results)

    async def allocate_producer_id(self) -> int:
        return await self._controller.allocate_producer_id()

    async def register_broker(self, request: RegisterBroker) -> RegisterBrokerResult:
        result = await self._controller.register_broker(request)
        return replace(result, metadata_offset=self._controller.committed_offset)

    async def broker_heartbeat(self, request: BrokerHeartbeat) -> BrokerHeartbeatResult:
        result = await self._controller.broker_heartbeat(request)
        return replace(result, metadata_offset=self._controller.committed_offset)

    async def create_acls(self, creations: Sequence[AclBinding]) -> WriteResult[AclCreateResult]:
        return self._result(await self._controller.create_acls(creations))

    async def delete_acls(self, filters: Sequence[AclFilter]) -> WriteResult[AclDeleteResult]:
        return self._result(await self._controller.delete_acls(filters))

    async def alter_user_scram_credentials(self, deletions: Sequence[ScramDeletion],
                                           upsertions: Sequence[ScramUpsertion]) -> WriteResult[EntryResult]:
        return self._result(await self._controller.alter_user_scram_credentials(deletions, upsertions))
