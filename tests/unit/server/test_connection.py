"""Flow control of one connection, over a real socket pair and event loop."""
import asyncio
import socket

from strom.server import connection as conn_mod
from strom.server.connection import KafkaConnection


async def connect(dispatch, max_frame_bytes: int):
    """A KafkaConnection on one end of a socket pair; returns it, the client end (non-blocking)
    and a function that closes both and cancels the connection's task."""
    tasks: set[asyncio.Task] = set()
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    protocol = KafkaConnection(dispatch, lambda coro: tasks.add(loop.create_task(coro)), max_frame_bytes,
                               on_close=lambda c: None)
    await loop.connect_accepted_socket(lambda: protocol, ours)

    def close() -> None:
        theirs.close()
        protocol.close()
        for t in tasks:
            t.cancel()

    return protocol, theirs, close


def test_reading_pauses_when_queued_frames_hold_too_many_bytes():
    """A client pipelining big requests faster than they are handled holds a bounded amount of
    broker memory: reading stops once _MAX_QUEUED_BYTES wait, and resumes as they drain."""
    frames = 40

    async def scenario() -> tuple[bool, int, bool, int]:
        gate = asyncio.Event()
        handled: list[int] = []

        async def dispatch(_conn, frame):
            await gate.wait()
            handled.append(len(frame))
            return None

        loop = asyncio.get_running_loop()
        protocol, theirs, close = await connect(dispatch, 64 << 20)
        stream = ((1 << 20).to_bytes(4, "big") + b"x" * (1 << 20)) * frames
        sender = loop.create_task(loop.sock_sendall(theirs, stream))
        await asyncio.sleep(0.5)  # the handler is stuck: the broker stops reading, the sender blocks
        paused, queued = protocol._reading_paused, protocol._queued_bytes
        gate.set()
        await asyncio.wait_for(sender, 10)
        for _ in range(100):
            if len(handled) == frames:
                break
            await asyncio.sleep(0.05)
        resumed = not protocol._reading_paused
        close()
        return paused, queued, resumed, len(handled)

    paused, queued, resumed, handled = asyncio.run(scenario())
    assert paused and conn_mod._MAX_QUEUED_BYTES <= queued <= conn_mod._MAX_QUEUED_BYTES + (2 << 20)
    assert resumed and handled == frames  # reading resumed and every request was handled


def test_responses_are_written_once_a_mebibyte_waits_even_while_requests_keep_coming():
    """Coalesced responses go out at _MAX_PENDING_BYTES, not only when the request queue drains."""
    response_size = 600 * 1024

    async def scenario() -> int:
        gate = asyncio.Event()
        count = 0

        async def dispatch(_conn, frame):
            nonlocal count
            count += 1
            if count == 3:  # the third request is slow: the first two answers must not wait for it
                await gate.wait()
            return b"r" * response_size

        loop = asyncio.get_running_loop()
        protocol, theirs, close = await connect(dispatch, 1 << 20)
        frame = (8).to_bytes(4, "big") + b"\x00\x00\x00\x00\x00\x00\x00\x01"  # api key 0: never parks
        await loop.sock_sendall(theirs, frame * 5)
        received = 0
        for _ in range(50):
            await asyncio.sleep(0.02)
            try:
                while chunk := theirs.recv(1 << 20):
                    received += len(chunk)
            except BlockingIOError:
                pass
        gate.set()
        await asyncio.sleep(0.05)
        close()
        return received

    assert asyncio.run(scenario()) == 2 * 600 * 1024
