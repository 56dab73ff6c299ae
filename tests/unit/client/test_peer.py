"""Backoff arithmetic, PeerClient reconnects and NodeClient bookkeeping (fake peer on 127.0.0.1:0)."""
from __future__ import annotations

import asyncio
import random

import pytest

from strom.client import ConnectionFailed, ExponentialBackoff, NodeClient, PeerClient, UnknownNode
from tests.unit.client._fake_peer import FakePeer, metadata_answer

METADATA = 3


def run(coro):
    return asyncio.run(coro, debug=True)


async def answer(header, writer):
    writer.write(metadata_answer(header))


def test_backoff_doubles_to_the_max_and_resets():
    b = ExponentialBackoff(jitter=0)
    assert [b.failed() for _ in range(7)] == [50, 100, 200, 400, 800, 1000, 1000]
    b.reset()
    assert b.failed() == 50


def test_backoff_jitter_stays_within_twenty_percent():
    b = ExponentialBackoff(rng=random.Random(7))
    for n in range(1, 40):
        base = min(50 * 2 ** (n - 1), 1000)
        assert base * 0.8 <= b.failed() <= base * 1.2


def test_backoff_delay_for_huge_failure_counts_is_bounded():
    assert ExponentialBackoff(jitter=0).delay_ms(10_000) == 1000


def free_address() -> tuple[str, int]:
    async def closed_port():
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        address = server.sockets[0].getsockname()[:2]
        server.close()
        await server.wait_closed()
        return address
    return asyncio.run(closed_port())


def test_failed_attempts_back_off_and_fail_fast_when_backoff_exceeds_the_deadline():
    address = free_address()

    async def main():
        async with PeerClient(address, backoff=ExponentialBackoff(jitter=0)) as client:
            loop = asyncio.get_running_loop()
            with pytest.raises(ConnectionFailed, match="could not connect"):
                await client.send(METADATA, {"topics": None}, timeout=5)
            assert client.backoff.failures == 1
            started = loop.time()
            with pytest.raises(ConnectionFailed, match="could not connect"):
                await client.send(METADATA, {"topics": None}, timeout=5)
            assert loop.time() - started >= 0.05  # waited the 50 ms backoff before the second attempt
            assert client.backoff.failures == 2
            # the next attempt is 100 ms away: a 10 ms request fails at once, without an attempt
            with pytest.raises(ConnectionFailed, match=r"unreachable .*next connection attempt in \d+ ms"):
                await client.send(METADATA, {"topics": None}, timeout=0.01)
            assert client.backoff.failures == 2
    run(main())


def test_reconnects_after_the_peer_drops_the_connection():
    async def main():
        async with FakePeer(on_request=answer) as peer, PeerClient(peer.address) as client:
            await client.send(METADATA, {"topics": None})
            first = client.connection
            for w in peer.writers:
                w.close()
            while not first.closed:  # the reader sees EOF
                await asyncio.sleep(0.01)
            response = await client.send(METADATA, {"topics": None})
            assert response.cluster_id == "fake"
            assert client.connects == 2 and peer.connections == 2
            assert client.backoff.failures == 0  # reset by the successful reconnect
    run(main())


def test_concurrent_sends_share_one_connection():
    async def main():
        async with FakePeer(on_request=answer) as peer, PeerClient(peer.address) as client:
            await asyncio.gather(*(client.send(METADATA, {"topics": None}) for _ in range(20)))
            assert peer.connections == 1 and client.connects == 1
    run(main())


def test_leaving_the_block_fails_requests_and_leaves_no_task():
    async def silent(header, writer):
        pass

    async def main():
        async with FakePeer(on_request=silent) as peer:
            outcome = []
            async with PeerClient(peer.address) as client:
                async def request():
                    try:
                        await client.send(METADATA, {"topics": None})
                    except ConnectionFailed as exc:
                        outcome.append(exc)
                await client.connect()
                task = client.task_group.create_task(request())
                while peer.requests[-1].api_key != METADATA:
                    await asyncio.sleep(0.01)
            assert task.done() and isinstance(outcome[0], ConnectionFailed)
            assert [t for t in asyncio.all_tasks() if t.get_name().startswith("strom-client")] == []
            with pytest.raises(ConnectionFailed, match="is closed"):
                await client.send(METADATA, {"topics": None})
    run(main())


def test_borrowed_task_group_requires_aclose():
    async def main():
        async with FakePeer(on_request=answer) as peer, asyncio.TaskGroup() as tg:
            client = PeerClient(peer.address, tg=tg)
            await client.send(METADATA, {"topics": None})
            await client.aclose()
        assert client.connection is None
    run(main())


def test_node_client_routes_by_node_id_and_drops_moved_nodes():
    async def main():
        async with FakePeer(on_request=answer) as a, FakePeer(on_request=answer) as b:
            async with NodeClient({1: a.address, 2: b.address}) as nodes:
                await nodes.send(1, METADATA, {"topics": None})
                await nodes.send(2, METADATA, {"topics": None})
                assert (a.connections, b.connections) == (1, 1)
                with pytest.raises(UnknownNode, match="no address known for node 3"):
                    await nodes.send(3, METADATA, {"topics": None})
                old = nodes.peer(1)
                nodes.set_nodes({1: b.address, 2: b.address})  # node 1 moved
                assert nodes.peer(1) is not old and nodes.peer(1).address == b.address
                await nodes.send(1, METADATA, {"topics": None})
                assert b.connections == 2
                nodes.set_nodes({2: b.address})
                with pytest.raises(UnknownNode):
                    nodes.peer(1)
    run(main())
