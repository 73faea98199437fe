"""Broker backends behind one interface, chosen by URL scheme and imported lazily."""

from __future__ import annotations

from typing import Any

from command_center.hub.broker.base import Broker, BrokerUnavailable, PublishResult, Recovery


def create_broker(
    url: str,
    *,
    history_size: int = 1000,
    history_seconds: float = 86400,
    history_bytes: int = 64 * 1024 * 1024,
    **options: Any,
) -> Broker:
    """Make the broker for ``memory://`` or ``redis://`` / ``rediss://`` / ``unix://`` URLs.

    ``history_bytes`` bounds the memory broker's history across all channels (Redis bounds each stream
    by ``history_size`` with ``MAXLEN`` and keeps its memory outside the process).
    """
    scheme = url.partition("://")[0].lower()
    if scheme == "memory":
        from command_center.hub.broker.memory import MemoryBroker

        return MemoryBroker(
            history_size=history_size, history_seconds=history_seconds, history_bytes=history_bytes, **options
        )
    if scheme in {"redis", "rediss", "unix"}:
        from command_center.hub.broker.redis import RedisBroker

        return RedisBroker(url, history_size=history_size, history_seconds=history_seconds, **options)
    raise ValueError(f"unknown broker URL scheme {scheme!r}: use memory:// or redis://host:port/db")


__all__ = ["Broker", "BrokerUnavailable", "PublishResult", "Recovery", "create_broker"]
