"""Frames, names and codes of the hub protocol (DESIGN.md section 4), and the one ``Message`` type.

A ``Message`` carries its wire frame as a ready JSON string: it is serialised once per publish (in the
publishing process, or inside Redis for the Redis broker) and that same ``str`` is handed to every
subscriber's queue, never re-encoded per subscriber; ``Message.wire`` is that frame as WebSocket bytes,
built once on first use and written as is to every subscriber's socket (``wire.py``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

from websockets.frames import Frame, Opcode

#: Close codes (DESIGN.md section 4): authentication failed, missing or late; the client stopped reading.
CLOSE_AUTH: Final = 4401
CLOSE_SLOW: Final = 4408
#: The user already holds ``CC_WS_MAX_CONNECTIONS_PER_USER`` connections.
CLOSE_TOO_MANY: Final = 4429
#: The broker (Redis) stayed unreachable during a request: reconnect later, resend unacknowledged ids.
CLOSE_TRY_AGAIN: Final = 1013
CLOSE_GOING_AWAY: Final = 1001

#: Error codes of the ``error`` frame.
BAD_REQUEST: Final = "bad_request"
FORBIDDEN: Final = "forbidden"
UNKNOWN_CHANNEL: Final = "unknown_channel"
TOO_LARGE: Final = "too_large"
RATE_LIMITED: Final = "rate_limited"
NOT_SUBSCRIBED: Final = "not_subscribed"

#: A channel is a lower-case prefix, optionally ``:`` and an argument. A name that does not match is a
#: malformed frame field and answered ``bad_request``; a well-formed name whose prefix (or argument shape)
#: no rule knows is ``unknown_channel``.
CHANNEL_RE: Final = re.compile(r"^[a-z]+(:[A-Za-z0-9_.-]{1,64})?$")

MAX_CLIENT_ID_LENGTH: Final = 128
#: Offsets and integer ids are signed 64-bit everywhere (Redis stream ids, database columns).
MAX_INT: Final = 2**63 - 1
MAX_EPOCH_LENGTH: Final = 64
#: How deep a published ``data`` object may nest; deeper is a bad request, never a dropped connection.
MAX_DATA_DEPTH: Final = 16

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def dumps(obj: Any) -> str:
    """Encode a frame as compact JSON text (UTF-8 kept as is)."""
    return _dumps(obj)


def utc_now_iso() -> str:
    """Now as ISO-8601 UTC with milliseconds and a ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Position(NamedTuple):
    """Where a channel stands: the last offset given out and the epoch that offsets belong to."""

    offset: int
    epoch: str


def split_channel(channel: str) -> tuple[str, str | None]:
    """Split ``incident:42`` into ``("incident", "42")`` and ``board`` into ``("board", None)``."""
    prefix, sep, arg = channel.partition(":")
    return prefix, (arg if sep else None)


def message_frame(channel: str, offset: int, epoch: str, ts: str, data_json: str) -> str:
    """Build the ``message`` frame around data that is already JSON text."""
    # Channel names match CHANNEL_RE and epochs are hex, so neither needs escaping.
    return (
        f'{{"op":"message","channel":"{channel}","offset":{offset},"epoch":"{epoch}",'
        f'"ts":"{ts}","data":{data_json}}}'
    )


def text_frame(text: str) -> bytes:
    """One unmasked, uncompressed, final WebSocket text frame (what a server sends) holding ``text``."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


@dataclass(slots=True)
class Message:
    """One published message with its position; ``frame`` is the exact text every subscriber receives."""

    channel: str
    offset: int
    epoch: str
    frame: str
    _parsed: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    _wire: bytes | None = field(default=None, repr=False, compare=False)

    @classmethod
    def build(
        cls, channel: str, offset: int, epoch: str, data: dict[str, Any], ts: str | None = None
    ) -> Message:
        ts = ts or utc_now_iso()
        frame = message_frame(channel, offset, epoch, ts, dumps(data))
        return cls(channel, offset, epoch, frame)

    def _frame_obj(self) -> dict[str, Any]:
        if self._parsed is None:
            self._parsed = json.loads(self.frame)
        return self._parsed

    @property
    def wire(self) -> bytes:
        """The frame as WebSocket bytes, the same for every subscriber (built on first use)."""
        wire = self._wire
        if wire is None:
            wire = self._wire = text_frame(self.frame)
        return wire

    @property
    def data(self) -> dict[str, Any]:
        return self._frame_obj()["data"]  # type: ignore[no-any-return]

    @property
    def ts(self) -> str:
        return self._frame_obj()["ts"]  # type: ignore[no-any-return]

    @property
    def position(self) -> Position:
        return Position(self.offset, self.epoch)


def error_frame(code: str, detail: str, ref: Any = None) -> str:
    return dumps({"op": "error", "code": code, "detail": detail, "ref": ref})


def subscribed_frame(channel: str, position: Position, recovered: bool | None) -> str:
    frame: dict[str, Any] = {
        "op": "subscribed",
        "channel": channel,
        "offset": position.offset,
        "epoch": position.epoch,
    }
    if recovered is not None:
        frame["recovered"] = recovered
    return dumps(frame)


class FrameError(Exception):
    """A client frame that is answered with an ``error`` frame; the connection stays open."""

    def __init__(self, code: str, detail: str, ref: Any = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.ref = ref


def parse_frame(text: str) -> dict[str, Any]:
    """Decode a client frame into a dict with an ``op``; raise ``FrameError(bad_request)`` otherwise."""
    try:
        frame = json.loads(text)
    except ValueError as exc:
        raise FrameError(BAD_REQUEST, "frame is not valid JSON") from exc
    except RecursionError as exc:  # deeply nested arrays or objects
        raise FrameError(BAD_REQUEST, f"frame nests too deeply (at most {MAX_DATA_DEPTH} levels)") from exc
    if not isinstance(frame, dict):
        raise FrameError(BAD_REQUEST, "frame must be a JSON object")
    op = frame.get("op")
    if not isinstance(op, str):
        raise FrameError(BAD_REQUEST, "frame has no 'op'")
    return frame


def require_channel(frame: dict[str, Any], ref: Any = None) -> str:
    channel = frame.get("channel")
    if not isinstance(channel, str):
        raise FrameError(BAD_REQUEST, "missing 'channel'", ref)
    if not CHANNEL_RE.match(channel):
        raise FrameError(BAD_REQUEST, f"malformed channel name {channel[:80]!r}", ref)
    return channel


def parse_since(frame: dict[str, Any]) -> Position | None:
    since = frame.get("since")
    if since is None:
        return None
    if not isinstance(since, dict):
        raise FrameError(BAD_REQUEST, '\'since\' must be {"offset": N, "epoch": E}')
    offset, epoch = since.get("offset"), since.get("epoch")
    if not isinstance(offset, int) or isinstance(offset, bool) or not isinstance(epoch, str):
        raise FrameError(BAD_REQUEST, '\'since\' must be {"offset": N, "epoch": E}')
    if not 0 <= offset <= MAX_INT or len(epoch) > MAX_EPOCH_LENGTH:
        raise FrameError(BAD_REQUEST, f"'since.offset' must be 0 to {MAX_INT}, 'since.epoch' a short string")
    return Position(offset, epoch)


def check_depth(data: Any, ref: Any = None, limit: int = MAX_DATA_DEPTH) -> None:
    """Refuse ``data`` nested deeper than ``limit`` (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            raise FrameError(BAD_REQUEST, f"'data' nests too deeply (at most {limit} levels)", ref)
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def parse_client_id(frame: dict[str, Any]) -> str | int:
    client_id = frame.get("id")
    if isinstance(client_id, bool) or not isinstance(client_id, str | int):
        raise FrameError(BAD_REQUEST, "publish needs an 'id' (string or integer) chosen by the client")
    if isinstance(client_id, str) and not (0 < len(client_id) <= MAX_CLIENT_ID_LENGTH):
        raise FrameError(BAD_REQUEST, f"'id' must be 1 to {MAX_CLIENT_ID_LENGTH} characters", None)
    if isinstance(client_id, int) and not -MAX_INT <= client_id <= MAX_INT:
        raise FrameError(BAD_REQUEST, "'id' must fit in 64 bits", None)
    return client_id
