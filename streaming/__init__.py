"""Live video for the command platform: ingest, forwarding relay, recording, cascade, field publisher.

A pure library on aiortc and PyAV; it knows nothing of incidents, users or HTTP. The application makes a
``Relay`` and implements ``StreamEvents`` to hear about streams.
"""

from streaming.errors import (
    BadSdp,
    CodecMismatch,
    RelayFull,
    SignalingError,
    StreamingError,
    UnknownStream,
)
from streaming.events import EventType, Health, Position, StreamEvent, StreamEvents, StreamInfo
from streaming.frames import EncodedFrame, is_keyframe
from streaming.negotiation import ice_configuration
from streaming.publisher import Publisher
from streaming.recording import read_manifest, sha256_file, verify_manifest
from streaming.relay import PublishResult, Relay, Signal, ViewResult
from streaming.scene import SceneVideoTrack
from streaming.sources import SyntheticVideoTrack, open_source
from streaming.stamp import Stamp, read_stamp, stamp_frame
from streaming.track import ForwardingTrack
from streaming.whip_client import WhipClient

__all__ = [
    "BadSdp",
    "CodecMismatch",
    "EncodedFrame",
    "EventType",
    "ForwardingTrack",
    "Health",
    "Position",
    "PublishResult",
    "Publisher",
    "Relay",
    "RelayFull",
    "SceneVideoTrack",
    "Signal",
    "SignalingError",
    "Stamp",
    "StreamEvent",
    "StreamEvents",
    "StreamInfo",
    "StreamingError",
    "SyntheticVideoTrack",
    "UnknownStream",
    "ViewResult",
    "WhipClient",
    "ice_configuration",
    "is_keyframe",
    "open_source",
    "read_manifest",
    "read_stamp",
    "sha256_file",
    "stamp_frame",
    "verify_manifest",
]
