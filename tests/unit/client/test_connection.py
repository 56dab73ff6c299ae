"""Connection edge cases against an in-process fake peer (tests/unit/client/_fake_peer.py)."""
from __future__ import annotations

import asyncio
import struct

import pytest

from strom.client import (
    Connection, ConnectionFailed, ProtocolViolation, RequestTimedOut, UnsupportedApi, negotiate,
)
from strom.protocol import codec
from tests.unit.client._fake_peer import FakePeer, metadata_answer, response_frame

METADATA = 3


def run(coro):
    return asyncio.run(coro, debug=True)


async def open_conn(peer: FakePeer, tg: asyncio.TaskGroup, **kw) -> Connection:
    return await Connection.open(*peer.address, tg=tg, **kw)


def test_negotiate_picks_highest_common_version():
    chosen = negotiate({METADATA: (0, 5), 18: (0, 99), 9999: (0, 3), 1: (50, 60)})
    assert chosen[METADATA] == 5
    assert chosen[18] == codec.supported_range(18)[1]
    assert 9999 not in chosen  # unknown to our codec
    assert 1 not in chosen  # no common version


def test_api_versions_falls_back_to_the_version_the_peer_names():
    async def main():
        async with FakePeer({18: (0, 3), METADATA: (0, 9)}) as peer, asyncio.TaskGroup() as tg:
            conn = await open_conn(peer, tg)
            assert [(h.api_key, h.api_version) for h in peer.requests] == [(18, 4), (18, 3)]
            assert conn.versions == {18: 3, METADATA: 9}
            await conn.aclose()
    run(main())


def test_unsupported_api_and_version_raise_clear_errors():
    async def answer(header, writer):
        writer.write(metadata_answer(header))

    async def main():
        async with FakePeer({18: (0, 4), METADATA: (1, 5)}, answer) as peer, asyncio.TaskGroup() as tg:
            conn = await open_conn(peer, tg)
            with pytest.raises(UnsupportedApi, match=r"does not support API Produce \(0\)"):
                await conn.send(0, {})
            with pytest.raises(UnsupportedApi, match=r"Metadata v7 is not supported: .* supports v1-v5"):
                await conn.send(METADATA, {"topics": None}, version=7)
            response = await conn.send(METADATA, {"topics": None}, version=1)
            assert response.controller_id == 1
            assert peer.requests[-1].api_version == 1
            response = await conn.send(METADATA, {"topics": None})
            assert peer.requests[-1].api_version == 5
            assert not conn.closed
            await conn.aclose()
    run(main())


def test_pipelined_requests_are_matched_in_order():
    async def answer(header, writer):
        writer.write(metadata_answer(header, cluster_id=f"c{header.correlation_id}"))

    async def main():
        async with FakePeer(on_request=answer) as peer, asyncio.TaskGroup() as tg:
            conn = await open_conn(peer, tg)
            results = await asyncio.gather(*(conn.send(METADATA, {"topics": None}) for _ in range(50)))
            ids = [h.correlation_id for h in peer.requests if h.api_key == METADATA]
            assert [r.cluster_id for r in results] == [f"c{i}" for i in ids]
            assert conn.in_flight == 0
            await conn.aclose()
    run(main())


def test_wrong_correlation_id_fails_the_connection():
    async def answer(header, writer):
        writer.write(metadata_answer(header._replace(correlation_id=header.correlation_id + 1000)))

    async def main():
        async with FakePeer(on_request=answer) as peer, asyncio.TaskGroup() as tg:
            conn = await open_conn(peer, tg)
            results = await asyncio.gather(*(conn.send(METADATA, {"topics": None}) for _ in range(3)),
                                           return_exceptions=True)
            assert isinstance(results[0], ProtocolViolation)
            assert "answered correlation id" in str(results[0])
            assert all(isinstance(r, ProtocolViolation) for r in results)
            assert conn.closed
            with pytest.raises(ProtocolViolation):
                await conn.send(METADATA, {"topics": None})
    run(main())


def test_peer_closing_mid_response_fails_in_flight_requests():
    async def answer(header, writer):
        frame = metadata_answer(header)
        writer.write(frame[: len(frame) // 2])
        await writer.drain()
        writer.close()

    async def main():
        async with FakePeer(on_request=answer) as peer, asyncio.TaskGroup() as tg:
            conn = await open_conn(peer, tg)
            with pytest.raises(ConnectionFailed, match="closed mid-response"):
                await conn.send(METADATA, {"topics": None})
            assert conn.closed
    run(main())


def test_oversized_response_is_refused_before_reading_it():
    async def answer(header, writer):
        # announce 1 GiB and send nothing more: the client must not wait for (or allocate) it
        writer.write(struct.pack(">i", 1 << 30) + header.correlation_id.to_bytes(4, "big"))

    async def main():
        async with FakePeer(on_request=answer) as peer, asyncio.TaskGroup() as tg:
            conn = await open_conn(peer, tg, max_response_bytes=1 << 20)
            with pytest.raises(ProtocolViolation, match=r"response of 1073741824 bytes \(allowed 4\.\.1048576\)"):
                await conn.send(METADATA, {"topics": None}, timeout=30)
    run(main())


def test_malformed_response_body_fails_the_connection():
    async def answer(header, writer):
        body = header.correlation_id.to_bytes(4, "big") + b"\x00"  # a header and one stray byte
        writer.write(len(body).to_bytes(4, "big") + body)

    async def main():
        async with FakePeer(on_request=answer) as peer, asyncio.TaskGroup() as tg:
            conn = await open_conn(peer, tg)
            with pytest.raises(ProtocolViolation, match="malformed Metadata"):
                await conn.send(METADATA, {"topics": None}, version=1)
            assert conn.closed
    run(main())


def test_timeout_fails_the_request_and_closes_the_connection():
    async def silent(header, writer):
        pass

    async def main():
        async with FakePeer(on_request=silent) as peer, asyncio.TaskGroup() as tg:
            conn = await open_conn(peer, tg)
            other = asyncio.ensure_future(conn.send(METADATA, {"topics": None}, timeout=30))
            with pytest.raises(RequestTimedOut, match=r"no answer to Metadata v\d+ from .* within 200 ms"):
                await conn.send(METADATA, {"topics": None}, timeout=0.2)
            with pytest.raises(ConnectionFailed, match="another request timed out"):
                await other
            assert conn.closed
    run(main())


def test_close_fails_pending_requests_and_ends_the_reader_task():
    async def main():
        seen = asyncio.Event()

        async def silent(header, writer):
            seen.set()

        async with FakePeer(on_request=silent) as peer:
            async with asyncio.TaskGroup() as tg:
                conn = await open_conn(peer, tg)
                async def request():
                    with pytest.raises(ConnectionFailed, match="closed by the client"):
                        await conn.send(METADATA, {"topics": None})

                pending = tg.create_task(request())
                await seen.wait()
                await conn.aclose()
                await pending
            # the TaskGroup ended: the reader task finished without raising into it
            assert {t for t in asyncio.all_tasks() if t.get_name().startswith("strom-client")} == set()
    run(main())


def test_caller_cancellation_keeps_the_connection():
    release = []

    async def answer(header, writer):
        release.append((header, writer))
        if len(release) == 2:  # answer both, in order, once the second arrived
            for h, w in release:
                w.write(metadata_answer(h, cluster_id=f"c{h.correlation_id}"))

    async def main():
        async with FakePeer(on_request=answer) as peer, asyncio.TaskGroup() as tg:
            conn = await open_conn(peer, tg)
            first = asyncio.ensure_future(conn.send(METADATA, {"topics": None}))
            await asyncio.sleep(0)
            first.cancel()
            response = await conn.send(METADATA, {"topics": None})
            assert response.cluster_id == f"c{release[1][0].correlation_id}"
            assert not conn.closed
            await conn.aclose()
    run(main())


def test_connection_refused_is_connection_failed():
    async def main():
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        address = server.sockets[0].getsockname()[:2]
        server.close()
        await server.wait_closed()
        async with asyncio.TaskGroup() as tg:
            with pytest.raises(ConnectionFailed, match="could not connect"):
                await Connection.open(*address, tg=tg)
    run(main())


def test_response_frame_helper_round_trips():
    frame = response_frame(3, 12, 7, {"brokers": [], "topics": []})
    cid, value = codec.decode_response(3, 12, frame[4:])
    assert cid == 7 and value.topics == ()


def test_produce_with_acks_0_expects_no_answer_and_keeps_matching():
    async def answer(header, writer):
        if header.api_key == 3:
            writer.write(metadata_answer(header, cluster_id=f"c{header.correlation_id}"))
        # Produce (acks=0): no response, as Kafka

    async def main():
        async with FakePeer({18: (0, 4), 3: (0, 12), 0: (3, 9)}, answer) as peer, asyncio.TaskGroup() as tg:
            conn = await open_conn(peer, tg)
            produce = {"acks": 0, "timeout": 1000, "topic_data": []}
            results = await asyncio.gather(conn.send(0, produce), conn.send(METADATA, {"topics": None}),
                                           conn.send(0, produce), conn.send(METADATA, {"topics": None}))
            assert results[0] is None and results[2] is None
            metadata_ids = [h.correlation_id for h in peer.requests if h.api_key == 3]
            assert [results[1].cluster_id, results[3].cluster_id] == [f"c{i}" for i in metadata_ids]
            assert conn.in_flight == 0 and not conn.closed
            await conn.aclose()
    run(main())


def test_peer_that_closes_at_once_or_never_answers_api_versions():
    async def main():
        async def close_at_once(reader, writer):
            writer.close()

        async def silent(reader, writer):
            await reader.read()  # until the client goes away

        for handler, error, message in [(close_at_once, ConnectionFailed, "closed|lost"),
                                        (silent, RequestTimedOut, "no answer to ApiVersions")]:
            server = await asyncio.start_server(handler, "127.0.0.1", 0)
            address = server.sockets[0].getsockname()[:2]
            async with asyncio.TaskGroup() as tg:
                with pytest.raises(error, match=message):
                    await Connection.open(*address, tg=tg, timeout=0.3)
            server.close()
            await server.wait_closed()
    run(main())
