"""The command hub: durable, recoverable WebSocket channels over a memory or Redis broker."""

from command_center.hub.api import router, serve_hub_directly
from command_center.hub.broker import Broker, BrokerUnavailable, create_broker
from command_center.hub.hub import Hub
from command_center.hub.policy import ChannelPolicy, Verdict
from command_center.hub.protocol import Message, Position

__all__ = [
    "Broker",
    "BrokerUnavailable",
    "ChannelPolicy",
    "Hub",
    "Message",
    "Position",
    "Verdict",
    "create_broker",
    "router",
    "serve_hub_directly",
]
