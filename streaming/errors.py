"""Errors raised by the streaming package; every one derives from ``StreamingError``.

The application maps these to HTTP answers (``UnknownStream`` -> 404, ``BadSdp`` and ``CodecMismatch`` -> 400)
without knowing anything about aiortc, whose own exceptions are translated here at the boundary.
"""

from __future__ import annotations


class StreamingError(Exception):
    """Root of every error the streaming package raises on purpose."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadSdp(StreamingError):
    """The offer could not be parsed or negotiated (not SDP, wrong type, no usable media)."""


class UnknownStream(StreamingError):
    """No live stream has this id (it never existed, or it ended)."""

    def __init__(self, stream_id: str) -> None:
        super().__init__(f"unknown stream: {stream_id!r}")
        self.stream_id = stream_id


class CodecMismatch(BadSdp):
    """The viewer cannot receive the publisher's codec, and the relay never transcodes."""


class SignalingError(StreamingError):
    """The signaling callable of a publisher or a pulled stream failed or answered nonsense."""


class RelayFull(StreamingError):
    """The relay holds as many streams or viewers as it was configured to; try again later or elsewhere."""

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
