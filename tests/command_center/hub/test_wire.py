"""Frames built once per message, written at once or per event-loop step (``hub/wire.py``, issue 19).

The broadcast profile showed the CPU going to the ASGI send path, which framed the same text again for
every subscriber and wrote each message with its own system call. These tests hold the cheaper path to
the same guarantees: identical bytes for every subscriber, in order, a quiet connection written at once
and a busy one once per step, the bounded queue and 4408 for a client that stops reading, nothing written
once the connection is gone.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest
import uvicorn
from websockets.frames import Frame, Opcode

from command_center.auth.roles import Principal, Role
from command_center.hub.connection import Connection, Subscription
from command_center.hub.protocol import CLOSE_GOING_AWAY, CLOSE_SLOW, Message, text_frame
from command_center.hub.wire import (
    EXTENSION,
    PROTOCOL,
    Flag,
    HubWebSocketProtocol,
    Inbox,
    StepWriter,
    Written,
    serve_directly,
)
from command_center.settings import Settings


class FakeSink:
    """Records writes; ``state`` decides what the next write returns (as uvicorn's protocol would)."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.state = Written.done
        self.resumed = asyncio.Event()

    def write_frame(self, data: bytes) -> Written:
        if self.state is Written.done:
            self.writes.append(data)
        return self.state

    async def writable_again(self) -> None:
        await self.resumed.wait()


class FakeHub:
    def __init__(self, writes: StepWriter | None = None) -> None:
        self.settings = Settings(development=True)
        self.clock = time.monotonic
        self.writes = writes or StepWriter()


def connection(hub: FakeHub, sink: FakeSink, queue: int = 8) -> Connection:
    async def no_asgi(message: dict[str, Any]) -> None:
        raise AssertionError("a connection with a frame sink never uses the ASGI send")

    principal = Principal(7, "grace", Role.duty_officer, "section")
    conn = Connection(hub, principal, no_asgi, queue, 50.0, sink)  # type: ignore[arg-type]
    conn.subscriptions["board"] = Subscription(buffer=None)
    return conn


def message(offset: int) -> Message:
    return Message.build("board", offset, "e1", {"type": "t", "n": offset}, ts="2026-11-30T08:00:00.000Z")


async def next_step() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


def test_text_frame_is_a_final_unmasked_text_frame_of_the_utf8_text() -> None:
    for text in ("{}", "事件" * 40, "x" * 70_000):  # short, 16-bit and 64-bit lengths
        frames = []
        parser = Frame.parse(_reader(text_frame(text)), mask=False)
        with pytest.raises(StopIteration) as done:
            frames.append(next(parser))
        frame = done.value.value
        assert (frame.opcode, frame.fin, frame.data.decode()) == (Opcode.TEXT, True, text)


def _reader(data: bytes) -> Any:
    def read_exact(n: int) -> Any:
        nonlocal data
        chunk, data = data[:n], data[n:]
        return chunk
        yield  # a generator, as websockets' parser expects

    return read_exact


async def test_every_subscriber_gets_the_same_bytes_built_once() -> None:
    hub, sinks = FakeHub(), [FakeSink() for _ in range(3)]
    conns = [connection(hub, sink) for sink in sinks]
    msg = message(1)
    for conn in conns:
        conn.deliver(msg)
    await next_step()
    assert [len(sink.writes) for sink in sinks] == [1, 1, 1]
    assert all(sink.writes[0] is msg.wire for sink in sinks)  # one object: serialised once
    assert msg.wire == text_frame(msg.frame)


async def test_a_quiet_connection_is_written_at_once_and_a_busy_one_once_per_step() -> None:
    """A broadcast's first writes do not wait for the step's end; a burst leaves in one write per step."""
    hub, sink = FakeHub(), FakeSink()
    conn = connection(hub, sink)
    messages = [message(n) for n in range(1, 6)]
    for msg in messages:
        conn.deliver(msg)
    assert sink.writes == [messages[0].wire]  # quiet: the first at once, the rest at the end of the step
    await next_step()
    assert sink.writes == [messages[0].wire, b"".join(m.wire for m in messages[1:])]
    conn.deliver(message(6))  # written in the last step: still busy, so batched
    conn.deliver(message(7))
    assert len(sink.writes) == 2
    await next_step()
    assert sink.writes[2] == message(6).wire + message(7).wire
    for _ in range(3):  # steps without frames: quiet again
        await next_step()
    conn.deliver(message(8))
    assert sink.writes[3] == message(8).wire


async def test_a_connection_written_in_the_last_step_is_still_busy() -> None:
    hub, sink = FakeHub(), FakeSink()
    conn, other = connection(hub, sink), connection(hub, FakeSink())
    conn.deliver(message(1))
    await asyncio.sleep(0)  # the next step: ``conn`` was written in the last one
    other.deliver(message(1))
    conn.deliver(message(2))  # written in the step before: batched, although ``other`` was written at once
    assert sink.writes == [message(1).wire]
    await next_step()
    assert sink.writes == [message(1).wire, message(2).wire]


async def test_a_client_behind_is_queued_in_order_then_written_when_it_reads_again() -> None:
    hub, sink = FakeHub(), FakeSink()
    conn = connection(hub, sink)
    sink.state = Written.behind
    conn.deliver(message(1))
    await next_step()
    conn.deliver(message(2))
    conn.send('{"op":"pong"}')
    assert sink.writes == []
    sink.state = Written.done
    sink.resumed.set()
    for _ in range(10):
        await next_step()
    assert sink.writes == [message(1).wire, message(2).wire, text_frame('{"op":"pong"}')]


async def test_a_client_that_stops_reading_is_closed_with_4408_once_the_queue_is_full() -> None:
    hub, sink = FakeHub(), FakeSink()
    conn = connection(hub, sink, queue=4)
    sink.state = Written.behind
    conn.deliver(message(1))
    await next_step()
    for n in range(2, 6):  # 1 queued by the step, then 3 more fill the queue of 4; the 4th overflows
        conn.deliver(message(n))
    assert conn._close_code == CLOSE_SLOW


async def test_one_step_of_more_than_the_queue_is_4408_too() -> None:
    hub, sink = FakeHub(), FakeSink()
    conn = connection(hub, sink, queue=4)
    for n in range(1, 7):
        conn.deliver(message(n))
    assert conn._close_code == CLOSE_SLOW


async def test_nothing_is_written_once_the_connection_is_gone() -> None:
    hub, sink = FakeHub(), FakeSink()
    conn = connection(hub, sink)
    sink.state = Written.gone
    conn.deliver(message(1))
    await next_step()
    assert conn._close_code == CLOSE_GOING_AWAY
    sink.state = Written.done
    conn.deliver(message(2))
    await next_step()
    assert sink.writes == []


def test_the_protocol_offers_itself_only_without_compression() -> None:
    assert PROTOCOL == f"{HubWebSocketProtocol.__module__}:{HubWebSocketProtocol.__qualname__}"
    config = uvicorn.Config(app=None, ws=PROTOCOL, ws_per_message_deflate=False)  # type: ignore[arg-type]
    config.load()
    assert config.ws_protocol_class is HubWebSocketProtocol
    assert EXTENSION == "command_center.shared_frames"


async def test_the_protocol_sets_every_attribute_uvicorns_own_sets() -> None:
    """``HubWebSocketProtocol.__init__`` repeats uvicorn's (to skip three objects it would discard): a
    uvicorn release that adds an attribute must fail here, not in a connection."""
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    from uvicorn.server import ServerState

    for deflate in (False, True):
        config = uvicorn.Config(app=None, ws=PROTOCOL, ws_per_message_deflate=deflate)  # type: ignore[arg-type]
        config.load()
        theirs = WebSocketsSansIOProtocol(config, ServerState(), {})
        ours = HubWebSocketProtocol(config, ServerState(), {})
        assert set(vars(ours)) - {"_accept_key"} == set(vars(theirs))
        assert isinstance(ours.queue, Inbox) and isinstance(ours.writable, Flag) and ours.writable.is_set()
        assert ours.conn is None  # made by connection_made (standard way) or take_over

        class Transport(asyncio.Transport):
            def get_extra_info(self, name: str, default: Any = None) -> Any:
                return ("127.0.0.1", 8000) if name in ("sockname", "peername") else default

        ours.connection_made(Transport())
        # The standard way's parser, as uvicorn's: waiting for the request, compression as configured.
        assert ours.conn.state is theirs.conn.state
        assert ours.conn.max_message_size == theirs.conn.max_message_size == config.ws_max_size
        assert len(ours.conn.available_extensions) == len(theirs.conn.available_extensions) == int(deflate)
        ours.connections.discard(ours)


async def test_hub_start_takes_the_startup_heap_out_of_full_collections() -> None:
    """Full collections walking the startup heap were the broadcast p99 tail (RESULTS.md, issue 19)."""
    import gc

    from command_center.hub import Hub, create_broker

    async def nobody(token: str) -> Principal:
        raise AssertionError("no client connects here")

    gc.unfreeze()
    hub = Hub(settings=Settings(development=True), broker=create_broker("memory://"), authenticate=nobody)
    await hub.start()
    try:
        assert gc.get_freeze_count() > 0
    finally:
        await hub.close()
        gc.unfreeze()


async def busy(conn: Connection, sink: FakeSink) -> None:
    """Make ``conn`` busy: written in the step that just ended, so its next frames are batched."""
    conn.deliver(message(100))
    await asyncio.sleep(0)
    sink.writes.clear()


async def test_a_long_step_flushes_as_it_goes() -> None:
    """A long step flushes as it goes once frames waited ``max_wait`` (after a quick last flush)."""
    now = [0.0]
    hub, sink = FakeHub(StepWriter(max_wait=0.005, clock=lambda: now[0])), FakeSink()
    conn = connection(hub, sink)
    await busy(conn, sink)
    conn.deliver(message(101))
    now[0] += 0.004
    hub.writes.flush_if_late()
    assert sink.writes == []  # within max_wait: still batched
    conn.deliver(message(102))
    now[0] += 0.001
    hub.writes.flush_if_late()
    assert sink.writes == [message(101).wire + message(102).wire]  # late: written before the step ends
    await next_step()
    assert len(sink.writes) == 1


async def test_a_burst_gathers_frames_as_long_as_its_last_flush_took() -> None:
    """Visiting 5,000 subscribers outlasts ``max_wait``: frames then gather as long as writing them took.

    Otherwise every message of a burst to 5,000 subscribers was written on its own (deliveries per second
    0.89-1.06x the bare server; 4.5-4.8x once they gather, RESULTS.md).
    """
    now = [0.0]
    hub, sink = FakeHub(StepWriter(max_wait=0.005, most_wait=0.05, clock=lambda: now[0])), FakeSink()
    conn = connection(hub, sink)

    class SlowOwner:
        def flush_batch(self) -> None:
            now[0] += 0.03  # a flush that took 30 ms of writing

    await busy(conn, sink)
    hub.writes.add(SlowOwner())
    conn.deliver(message(101))
    now[0] += 0.005
    hub.writes.flush_if_late()  # flushes both; the flush took 30 ms
    assert sink.writes == [message(101).wire]
    conn.deliver(message(102))
    now[0] += 0.01
    hub.writes.flush_if_late()
    assert len(sink.writes) == 1  # 10 ms gathered: less than the last flush took
    now[0] += 0.02
    hub.writes.flush_if_late()
    assert sink.writes[1] == message(102).wire  # 30 ms: as long as the last flush


async def test_one_connection_failing_to_write_does_not_strand_the_others() -> None:
    hub, sink = FakeHub(), FakeSink()
    conn = connection(hub, sink)

    class Broken:
        def flush_batch(self) -> None:
            raise RuntimeError("broken")

    await busy(conn, sink)
    hub.writes.add(Broken())
    conn.deliver(message(101))
    await next_step()
    assert sink.writes == [message(101).wire]


async def test_gathering_never_outlasts_most_wait() -> None:
    now = [0.0]
    hub, sink = FakeHub(StepWriter(max_wait=0.005, most_wait=0.05, clock=lambda: now[0])), FakeSink()
    conn = connection(hub, sink)

    class VerySlowOwner:
        def flush_batch(self) -> None:
            now[0] += 1.0

    await busy(conn, sink)
    hub.writes.add(VerySlowOwner())
    now[0] += 0.005
    hub.writes.flush_if_late()
    conn.deliver(message(101))
    now[0] += 0.05
    hub.writes.flush_if_late()
    assert sink.writes == [message(101).wire]


async def test_inbox_and_flag_behave_as_asyncio_queue_and_event_for_uvicorn() -> None:
    inbox = Inbox()
    assert inbox.empty() and inbox.qsize() == 0
    getter = asyncio.ensure_future(inbox.get())
    await next_step()
    assert not getter.done()
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    assert await getter == 1 and inbox.qsize() == 1 and await inbox.get() == 2 and inbox.empty()
    flag = Flag()
    waiters = [asyncio.ensure_future(flag.wait()) for _ in range(2)]
    await next_step()
    assert not flag.is_set() and not any(w.done() for w in waiters)
    flag.set()
    await asyncio.gather(*waiters)
    flag.clear()
    assert not flag.is_set()


async def test_a_direct_route_skips_the_middleware_and_other_websockets_do_not() -> None:
    """``/ws`` under the hub's protocol is served by its endpoint alone; the app still sees the rest."""
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket
    from websockets.asyncio.client import connect

    seen: list[str] = []

    class Recorder:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            seen.append(scope["path"])
            await self.app(scope, receive, send)

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(f"{websocket.app.state.name}:{await websocket.receive_text()}")
        await websocket.close()

    app = Starlette(routes=[WebSocketRoute("/ws", echo), WebSocketRoute("/other", echo)])
    app.add_middleware(Recorder)
    app.state.name = "app"

    async def direct(scope: Any, receive: Any, send: Any) -> None:
        await echo(WebSocket(scope, receive, send))

    serve_directly(app, "/ws", direct)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, ws=PROTOCOL, ws_per_message_deflate=False, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        for path in ("/ws", "/other"):
            async with connect(f"ws://127.0.0.1:{port}{path}", compression=None) as ws:
                await ws.send("hi")
                assert await ws.recv() == "app:hi"
        assert seen == ["/other"]
    finally:
        server.should_exit = True
        await task
        sock.close()
