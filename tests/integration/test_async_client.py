"""strom.client's asyncio client against a real ``strom serve``: negotiation, pipelining,
reconnects with backoff, timeouts."""
from __future__ import annotations

import asyncio

import pytest

from strom.client import (
    ConnectionFailed, ExponentialBackoff, NodeClient, PeerClient, RequestTimedOut, UnsupportedApi,
)
from strom.protocol import codec
from strom.records.batch import build_batch

pytestmark = pytest.mark.timeout(120)

API_VERSIONS, METADATA, FETCH, CREATE_TOPICS, PRODUCE = 18, 3, 1, 19, 0


def run(coro):
    return asyncio.run(coro, debug=True)


def address(broker) -> tuple[str, int]:
    return ("127.0.0.1", broker.port)


def test_api_versions_negotiation_picks_the_highest_common_versions(shared_broker):
    async def main():
        async with PeerClient(address(shared_broker)) as client:
            conn = await client.connect()
            assert conn.peer_versions[API_VERSIONS] == (0, 4)
            for api_key, (lo, hi) in conn.peer_versions.items():
                ours = codec.supported_range(api_key)
                assert conn.versions[api_key] == min(hi, ours[1]), api_key
            assert conn.versions[METADATA] >= 12
            with pytest.raises(UnsupportedApi, match=r"Metadata v99 is not supported"):
                await client.send(METADATA, {"topics": None}, version=99)
            with pytest.raises(UnsupportedApi, match=r"does not support API"):
                await client.send(1000, {})
            assert client.connection is conn  # a refused call does not touch the connection
    run(main())


def test_metadata_names_the_broker(shared_broker):
    async def main():
        async with NodeClient({1: address(shared_broker)}) as nodes:
            response = await nodes.send(1, METADATA, {"topics": None})
            assert [(b.node_id, b.port) for b in response.brokers] == [(1, shared_broker.port)]
            assert f"cluster {response.cluster_id}" in shared_broker.ready_line
    run(main())


def test_pipelined_requests_are_matched_to_their_answers(shared_broker):
    names = [f"absent-{i}" for i in range(200)]

    async def main():
        async with PeerClient(address(shared_broker)) as client:
            conn = await client.connect()
            sends = [client.send(METADATA, {"topics": [{"name": n}], "allow_auto_topic_creation": False})
                     for n in names]
            tasks = [asyncio.ensure_future(s) for s in sends]
            await asyncio.sleep(0)
            assert conn.in_flight > 1  # really pipelined, not one by one
            responses = await asyncio.gather(*tasks)
            assert [r.topics[0].name for r in responses] == names
            assert all(r.topics[0].error_code == 3 for r in responses)  # UNKNOWN_TOPIC_OR_PARTITION
            assert client.connects == 1
    run(main())


def test_reconnects_with_backoff_after_a_broker_restart(broker):
    async def main():
        async with PeerClient(address(broker), backoff=ExponentialBackoff(jitter=0)) as client:
            await client.send(METADATA, {"topics": None})
            await asyncio.to_thread(broker.stop)
            failures = []
            for _ in range(3):
                with pytest.raises(ConnectionFailed) as info:
                    await client.send(METADATA, {"topics": None}, timeout=5)
                failures.append(client.backoff.failures)
                assert "could not connect" in str(info.value) or "closed" in str(info.value)
            assert failures == sorted(failures) and failures[-1] >= 3  # each failure backs off further
            await asyncio.to_thread(broker.start)
            response = await client.send(METADATA, {"topics": None}, timeout=10)
            assert response.brokers[0].port == broker.port
            assert client.connects == 2 and client.backoff.failures == 0
    run(main())


def test_restart_with_a_connection_open_reconnects_on_the_next_send(broker):
    async def main():
        async with PeerClient(address(broker)) as client:
            first = await client.connect()
            await asyncio.to_thread(broker.restart)
            response = await client.send(METADATA, {"topics": None}, timeout=10)
            assert first.closed and client.connection is not first
            assert response.brokers[0].port == broker.port
    run(main())


def test_a_request_that_times_out_fails_and_the_next_one_reconnects(shared_broker):
    topic = "async-client-timeout"

    async def main():
        async with PeerClient(address(shared_broker)) as client:
            created = await client.send(CREATE_TOPICS, {"topics": [{"name": topic, "num_partitions": 1,
                                                                    "replication_factor": 1}], "timeout": 10_000})
            assert created.topics[0].error_code in (0, 36)
            long_poll = {"replica_id": -1, "max_wait": 10_000, "min_bytes": 1, "max_bytes": 1 << 20,
                         "topics": [{"topic": topic, "partitions": [{"partition": 0, "fetch_offset": 0,
                                                                      "partition_max_bytes": 1 << 20}]}]}
            first = client.connection
            with pytest.raises(RequestTimedOut, match=r"no answer to Fetch v12 .* within 300 ms"):
                await client.send(FETCH, long_poll, version=12, timeout=0.3)
            assert first.closed
            response = await client.send(METADATA, {"topics": [{"name": topic}]})
            assert response.topics[0].error_code == 0
            assert client.connects == 2
    run(main())


def test_produce_acks_0_is_not_answered_and_later_answers_still_match(shared_broker):
    topic = "async-client-acks0"

    def produce(acks: int, value: bytes) -> dict:
        return {"acks": acks, "timeout": 10_000, "topic_data": [{"name": topic, "partition_data": [
            {"index": 0, "records": build_batch([(None, value)])}]}]}

    async def main():
        async with PeerClient(address(shared_broker)) as client:
            await client.send(CREATE_TOPICS, {"topics": [{"name": topic, "num_partitions": 1,
                                                          "replication_factor": 1}], "timeout": 10_000})
            results = await asyncio.gather(client.send(PRODUCE, produce(0, b"a"), version=9),
                                           client.send(PRODUCE, produce(1, b"b"), version=9),
                                           client.send(PRODUCE, produce(0, b"c"), version=9),
                                           client.send(PRODUCE, produce(-1, b"d"), version=9))
            assert results[0] is None and results[2] is None
            first, last = (r.responses[0].partition_responses[0] for r in (results[1], results[3]))
            assert (first.error_code, last.error_code) == (0, 0)
            assert (first.base_offset, last.base_offset) == (1, 3)  # a=0, b=1, c=2, d=3: all written in order
            assert client.connects == 1
    run(main())
