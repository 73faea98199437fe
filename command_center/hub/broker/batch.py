"""One round trip for the publishes of an event-loop step, one round trip in flight at a time.

Why: over Redis every publish is a Lua script, and the profile of 100 channels of 10 subscribers
(benchmarks/RESULTS.md) spent its time in one round trip per message, answered in order: a publisher's
hundred messages waited for each other. ``StepBatcher`` gathers what is submitted while the event loop
runs one step (or while the previous batch is on the wire) and sends it as one batch.

Order: items go out in the order they were submitted, and a batch leaves only once the previous one has
been answered, so two batches never race on different Redis connections: a client's publishes on a
channel get their offsets in the order it sent them, as when each waited for the last.
"""

from __future__ import annotations

import asyncio
import copy
import functools
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

Item = TypeVar("Item")
Result = TypeVar("Result")
Key = TypeVar("Key", bound=Hashable)

#: Sends a batch and returns one result per item, in order; raising fails every item of the batch.
Send = Callable[[Sequence[Item]], Awaitable[Sequence[Result]]]


class StepBatcher(Generic[Item, Result]):
    """Gather items into batches for ``send``; ``submit`` returns the item's future result."""

    __slots__ = ("_flushing", "_limit", "_pending", "_send", "_shared")

    def __init__(self, send: Send[Item, Result], *, limit: int = 512) -> None:
        self._send = send
        #: Most items in one batch (a longer queue leaves in several batches, in order).
        self._limit = limit
        self._pending: list[tuple[Item, asyncio.Future[Result], Hashable | None]] = []
        #: Items submitted with ``same_as`` and not sent yet, by that key (``submit``).
        self._shared: dict[Hashable, asyncio.Future[Result]] = {}
        self._flushing: asyncio.Task[None] | None = None

    def submit(self, item: Item, same_as: Hashable | None = None) -> asyncio.Future[Result]:
        """Queue ``item`` for the next batch (synchronously: submission order is sending order).

        ``same_as``: a key under which an item still waiting to be sent answers this one too (a read
        whose answer does not depend on who asks). Only items not sent yet are shared, so the answer is
        never older than the submission: a reconnect storm's thousands of identical recoveries of one
        channel cost one command per batch instead of one each.
        """
        loop = asyncio.get_running_loop()
        if same_as is None:
            future: asyncio.Future[Result] = loop.create_future()
            self._pending.append((item, future, None))
        else:
            shared = self._shared.get(same_as)
            if shared is None:  # the sent item's own future: no caller can cancel it for the others
                shared = self._shared[same_as] = loop.create_future()
                self._pending.append((item, shared, same_as))
            future = follow(shared)
        if self._flushing is None:
            self._flushing = loop.create_task(self._flush())
        return future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[: self._limit], self._pending[self._limit :]
                for _, future, same_as in batch:
                    if same_as is not None and self._shared.get(same_as) is future:
                        del self._shared[same_as]  # sent: later submissions get a fresh answer
                live = [(item, future) for item, future, _ in batch if not future.cancelled()]
                if not live:
                    continue
                try:
                    results = await self._send([item for item, _ in live])
                except BaseException as exc:
                    for _, future in live:
                        if not future.done():
                            future.set_exception(exc if isinstance(exc, Exception) else RuntimeError(exc))
                            future.exception()  # retrieved: a submitter that was cancelled raises nothing
                    if not isinstance(exc, Exception):
                        self._fail_pending(RuntimeError("batch sender stopped"))
                        raise
                    continue
                for (_, future), result in zip(live, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._flushing = None

    def _fail_pending(self, exc: Exception) -> None:
        pending, self._pending = self._pending, []
        self._shared.clear()
        for _, future, _ in pending:
            if not future.done():
                future.set_exception(exc)
                future.exception()


def follow(shared: asyncio.Future[Result]) -> asyncio.Future[Result]:
    """One caller's own future for a result shared with others.

    Cancelling it (the caller gave up) leaves the shared one to the others; an error is raised to each
    caller as its own copy (``_own_copy``).
    """
    future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
    shared.add_done_callback(functools.partial(_answer, future))
    return future


class InFlight(Generic[Key, Result]):
    """Calls under way, by key: a caller asking for what is already being fetched joins that call.

    For reads whose answer is the same for whoever asks and cannot be stale by the time it arrives (a
    channel's history up to a given offset): a reconnect storm's thousands of identical recoveries share
    one read and its decoding. Each caller gets its own future (``follow``).
    """

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        self._calls: dict[Key, asyncio.Future[Result]] = {}

    def join(self, key: Key, call: Callable[[], Awaitable[Result]]) -> asyncio.Future[Result]:
        """The caller's future for ``call()`` under ``key``, started now unless one is under way."""
        shared = self._calls.get(key)
        if shared is None:
            shared = self._calls[key] = asyncio.ensure_future(call())
            shared.add_done_callback(functools.partial(self._forget, key))
        return follow(shared)

    def _forget(self, key: Key, done: asyncio.Future[Result]) -> None:
        """The next caller calls afresh; an error reaches each caller and is not logged as lost."""
        if self._calls.get(key) is done:
            del self._calls[key]
        if not done.cancelled():
            done.exception()


def _answer(future: asyncio.Future[Result], shared: asyncio.Future[Result]) -> None:
    """Give a caller of a shared item the shared answer (its own future: it may be cancelled alone)."""
    if future.done():
        return
    if shared.cancelled():
        future.cancel()
    elif (exc := shared.exception()) is not None:
        future.set_exception(_own_copy(exc))
    else:
        future.set_result(shared.result())


def _own_copy(exc: BaseException) -> BaseException:
    """A copy of ``exc`` for one of the callers sharing it.

    Raising one exception object in a thousand tasks (a reconnect storm's shared reads after Redis
    restarted) appends every task's frames to its one traceback and keeps them all alive.
    """
    try:
        return copy.copy(exc).with_traceback(None)
    except Exception:  # an exception type that cannot be copied: shared as it is
        return exc


async def evalsha(redis: Redis, script: AsyncScript, keys: Sequence[str], args: Sequence[Any]) -> Any:
    """Run a registered script with ``EVALSHA`` directly.

    redis-py's script objects ask ``SCRIPT EXISTS`` first, a second round trip per call. A Redis that lost
    its scripts (restarted) answers ``NOSCRIPT`` having run nothing: it gets the script and the call again.
    """
    try:
        return await redis.evalsha(script.sha, len(keys), *keys, *args)
    except NoScriptError:
        await redis.script_load(script.script)
        return await redis.evalsha(script.sha, len(keys), *keys, *args)


class CommandBatcher:
    """Redis commands of one event-loop step in one pipeline; each caller gets its own reply or error.

    For commands whose callers wait on them one by one (a subscribe's position and history, a seat taken
    for a connection): a reconnect storm's thousands then cost a few round trips instead of one each, and
    never more than one connection of the pool.
    """

    __slots__ = ("_batcher", "_redis", "_timeout")

    def __init__(self, redis: Redis, *, timeout: float | None = None) -> None:
        """``timeout``: seconds a batch may wait for its replies; past it, every caller in it gets a
        ``TimeoutError`` and the next batch goes out (one batch with no answer held all the later ones)."""
        self._redis = redis
        self._timeout = timeout
        self._batcher: StepBatcher[tuple[Any, ...], Any] = StepBatcher(self._send)

    async def __call__(self, *command: Any, same_as: Hashable | None = None) -> Any:
        """Run ``command`` in this step's pipeline; ``same_as``: shared with identical reads (``submit``)."""
        reply = await self._batcher.submit(command, same_as)
        if isinstance(reply, Exception):
            raise reply if same_as is None else _own_copy(reply)
        return reply

    async def run_script(
        self,
        script: AsyncScript,
        keys: Sequence[str],
        args: Sequence[Any],
        same_as: Hashable | None = None,
    ) -> Any:
        """``EVALSHA`` with the step's other commands; a Redis that forgot the script (restarted) gets it."""
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            return await self(*command, same_as=same_as)
        except NoScriptError:
            await self._redis.script_load(script.script)
            return await self(*command, same_as=same_as)

    async def _send(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        pipe = self._redis.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        async with asyncio.timeout(self._timeout):
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        return replies
