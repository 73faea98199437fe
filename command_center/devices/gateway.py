"""Start the GB/T 28181 gateway in the app's lifespan when CC_SIP_PORT is set."""

from __future__ import annotations

import errno
import logging

from command_center.db import Database
from command_center.devices.bridge import DeviceBridge
from command_center.events import Publisher
from command_center.settings import Settings
from streaming import Relay
from streaming.gb28181 import Gateway, GatewayConfig

log = logging.getLogger(__name__)


def gateway_config(settings: Settings) -> GatewayConfig:
    return GatewayConfig(
        domain=settings.sip_domain,
        host=settings.sip_host,
        port=settings.sip_port,
        media_host=settings.sip_media_host,
        rtp_port_min=settings.sip_rtp_port_min,
        rtp_port_max=settings.sip_rtp_port_max,
        media_transport=settings.sip_media_transport,
        invite_timeout=settings.sip_invite_timeout_seconds,
        media_timeout=settings.sip_media_timeout_seconds,
        keepalive_interval=settings.sip_keepalive_seconds,
        ssrc_check=settings.sip_ssrc_check,
        bye_on_last_viewer=settings.sip_bye_on_last_viewer,
        idle_seconds=settings.sip_idle_seconds,
    )


async def start_gateway(
    settings: Settings, database: Database, hub: Publisher, relay: Relay
) -> Gateway | None:
    """The running gateway, or None when CC_SIP_PORT is not set (no SIP port is opened then)."""
    if not settings.sip_enabled:
        return None
    bridge = DeviceBridge(database, hub, relay, settings.sip_domain)
    gateway = Gateway(gateway_config(settings), relay, bridge)
    try:
        await gateway.start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            # With `serve --workers N` the first worker holds the port; the others serve no devices.
            log.warning(
                "CC_SIP_PORT %s is held by another process (another worker?): this process runs no "
                "GB/T 28181 gateway",
                settings.sip_port,
            )
            return None
        raise RuntimeError(
            f"the GB/T 28181 gateway cannot listen on {settings.sip_host}:{settings.sip_port} "
            f"(UDP and TCP): {exc}; change CC_SIP_PORT or CC_SIP_HOST"
        ) from exc
    bridge.gateway = gateway
    log.info(
        "GB/T 28181 gateway on %s:%s (UDP+TCP), domain %s",
        settings.sip_host,
        gateway.port,
        settings.sip_domain,
    )
    return gateway
