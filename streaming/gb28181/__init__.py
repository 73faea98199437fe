"""GB/T 28181 (2016/2022) for body-worn cameras and video platforms: SIP registrar, MANSCDP, PS over RTP.

``Gateway`` registers devices (Digest), tracks their keepalives, reads their catalogs and positions, and
on ``play()`` turns a channel's PS-over-RTP H.264 into a relay stream without transcoding. It imports
nothing of the application; the application implements ``GatewayEvents``.
"""

from streaming.gb28181.diagnosis import HOPS, Diagnosis, Hop
from streaming.gb28181.gateway import DeviceEvent, DeviceOffline, Gateway, GatewayConfig, GatewayEvents
from streaming.gb28181.play import PlayFailed
from streaming.gb28181.sip import ha1

__all__ = [
    "HOPS",
    "DeviceEvent",
    "DeviceOffline",
    "Diagnosis",
    "Gateway",
    "GatewayConfig",
    "GatewayEvents",
    "Hop",
    "PlayFailed",
    "ha1",
]
