"""``NetworkChannel``: the raft ``Channel`` over Kafka's wire protocol.

Outgoing requests go through ``strom.client.PeerClient`` (one per voter, reconnecting with
backoff), at the highest version both sides support, translated by ``strom.raft.wire``; the
response is handed to the host's ``receive``. A failed or timed-out request is dropped: the core
expires it and retries.

Incoming requests arrive through ``handle`` (called by the controller listener's dispatcher): the
request is given to the host under a fresh correlation id and ``handle`` waits for the core's
answer (a ``Send`` of the matching response, which the host carries out after any persist or
flush it depends on), up to ``request_timeout_ms``. The sender is the request's own replica,
candidate or leader id; DescribeQuorum, which names none, gets a private negative id.

Ownership: one channel per host, on the host's event loop; its tasks belong to ``tg``.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Mapping
from typing import Any

from strom.client.errors import ClientError
from strom.client.peer import PeerClient
from strom.raft import messages as m
from strom.raft.host import RaftHost
from strom.raft.wire import API_KEYS, request_from_kio, request_to_kio, response_from_kio, response_to_kio

log = logging.getLogger(__name__)

_RESPONSES = (m.VoteResponse, m.BeginQuorumEpochResponse, m.EndQuorumEpochResponse, m.FetchResponse,
              m.FetchSnapshotResponse, m.DescribeQuorumResponse)


def _sender(request: m.Request) -> int | None:
    if isinstance(request, m.VoteRequest):
        return request.candidate_id
    if isinstance(request, (m.BeginQuorumEpochRequest, m.EndQuorumEpochRequest)):
        return request.leader_id
    if isinstance(request, (m.FetchRequest, m.FetchSnapshotRequest)):
        return request.replica_id
    return None


class NetworkChannel:
    def __init__(self, peers: Mapping[int, tuple[str, int]], tg: asyncio.TaskGroup, *,
                 request_timeout_ms: int = 2000) -> None:
        """``peers``: node id -> (host, port) of its controller listener."""
        self.peers = dict(peers)
        self.tg = tg
        self.request_timeout_ms = request_timeout_ms
        self.host: RaftHost | None = None
        self._clients: dict[int, PeerClient] = {}
        self._pending: dict[tuple[int, int], asyncio.Future[m.Message]] = {}
        self._ids = itertools.count(1)
        self._closed = False

    def attach(self, host: RaftHost) -> None:
        self.host = host

    # ---------------------------------------------------------------------------- outgoing
    def send(self, source: int, destination: int, message: m.Message, correlation_id: int) -> None:
        if isinstance(message, _RESPONSES):
            future = self._pending.pop((destination, correlation_id), None)
            if future is not None and not future.done():
                future.set_result(message)
            return
        if self._closed or type(message) not in API_KEYS or destination not in self.peers:
            return  # an API not carried over the network (voter changes), or an unknown node
        self.tg.create_task(self._call(destination, message, correlation_id))

    def _client(self, node_id: int) -> PeerClient:
        client = self._clients.get(node_id)
        if client is None:
            client = self._clients[node_id] = PeerClient(self.peers[node_id], tg=self.tg,
                                                         client_id=f"raft-{node_id}")
        return client

    async def _call(self, destination: int, request: m.Message, correlation_id: int) -> None:
        api_key = API_KEYS[type(request)]
        timeout = self.request_timeout_ms / 1000
        client = self._client(destination)
        try:
            conn = await client.connect(timeout)
            version = conn.pick_version(api_key)
            entity = await client.send(api_key, request_to_kio(request, version), version,  # type: ignore[arg-type]
                                       timeout=timeout)
            response = response_from_kio(api_key, entity)
        except (ClientError, ValueError) as exc:
            log.debug("raft %s to node %d failed: %s", type(request).__name__, destination, exc)
            return
        if self.host is not None and not self._closed:
            self.host.receive(destination, response, correlation_id)

    # ---------------------------------------------------------------------------- incoming
    async def handle(self, api_key: int, version: int, entity: Any) -> Any:
        """Answer one incoming KRaft request (a decoded kio entity) with the kio response entity.
        ValueError: not a request for the quorum; TimeoutError: the core did not answer in time."""
        request = request_from_kio(api_key, entity)
        if self.host is None or self._closed:
            raise TimeoutError("the raft host is not running")
        correlation_id = next(self._ids)
        source = _sender(request)
        if source is None:
            source = -correlation_id - 1  # private: DescribeQuorum names no sender
        future: asyncio.Future[m.Message] = asyncio.get_running_loop().create_future()
        self._pending[(source, correlation_id)] = future
        try:
            self.host.receive(source, request, correlation_id)
            async with asyncio.timeout(self.request_timeout_ms / 1000):
                response = await future
        finally:
            self._pending.pop((source, correlation_id), None)
        return response_to_kio(response, version)  # type: ignore[arg-type]

    async def aclose(self) -> None:
        self._closed = True
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
        for client in self._clients.values():
            await client.aclose()
