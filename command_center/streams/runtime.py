"""The media side of one server process, made in the app's lifespan and closed there.

The relay (with this process's capacity), the process identity other processes redirect to, pulls,
self-healing cascades (resumed at start), hub signaling and the broker channel where other processes
forward WebRTC requests for the streams held here. ``app.state`` gets ``relay``, ``process``, ``puller``,
``cascades``, ``sources`` and ``whep_sessions`` for the routers.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from sqlalchemy.exc import SQLAlchemyError

from command_center.db import Database
from command_center.events import unit_of_work
from command_center.hub import Hub
from command_center.settings import Settings
from command_center.streams import forwarding, pulls, service, signaling
from command_center.streams.bridge import StreamBridge
from command_center.streams.cascades import Cascades, Sources
from command_center.streams.placement import Process
from streaming import Relay, ice_configuration
from streaming.pull import Puller

log = logging.getLogger(__name__)


#: Which streams an earlier run left are known dead at start (``earlier_runs``).
KnownDead = Literal["all", "at this address"]


def earlier_runs(settings: Settings) -> KnownDead | None:
    """Which streams other processes left live are known dead when this one starts.

    ``"all"`` with the memory broker (this is the only process there is); ``"at this address"`` over Redis
    when this process has a public URL of its own (one worker: no ``--workers`` sibling shares it);
    otherwise none (other processes are alive and may hold them).
    """
    if settings.broker_url.startswith("memory"):
        return "all"
    if settings.public_url and settings.serve_workers == 1:
        return "at this address"
    return None


async def _end_earlier_runs(database: Database, hub: Hub, process: Process, *, same_url: bool) -> None:
    """Streams an earlier run left live died with it (``service.end_earlier_runs``).

    With the memory broker this is the only process, so every stream another process id holds is dead.
    Over Redis, other processes are alive; only the streams left at this process's own public URL (given,
    and not shared by ``--workers`` siblings) are known to be its earlier run's.
    """
    try:
        async with unit_of_work(database, hub) as session:
            ended = await service.end_earlier_runs(session, process, same_url=same_url)
    except (SQLAlchemyError, OSError) as exc:  # the database is down at start: /healthz says so
        log.warning("streams left by an earlier run not ended: %s", exc)
        return
    if ended:
        log.warning("ended %d stream(s) left live by an earlier run of the server: %s", len(ended), ended)


class Media:
    def __init__(self, relay: Relay, puller: Puller, cascades: Cascades) -> None:
        self.relay = relay
        self.puller = puller
        self.cascades = cascades
        self.resuming: asyncio.Task[None] | None = None

    async def close(self) -> None:
        if self.resuming is not None:
            self.resuming.cancel()
            await asyncio.gather(self.resuming, return_exceptions=True)
        await self.cascades.close()
        await self.puller.close()
        await self.relay.close()


async def start(state: Any, settings: Settings, database: Database, hub: Hub) -> Media:
    """Build and start everything; ``state`` is the app's ``app.state``."""
    process = Process(settings.own_url)
    known_dead = earlier_runs(settings)
    if known_dead is not None:
        await _end_earlier_runs(database, hub, process, same_url=known_dead == "at this address")
    relay = Relay(
        settings.recordings_dir,
        StreamBridge(database, hub, process),
        max_streams=settings.relay_max_streams,
        max_viewers=settings.relay_max_viewers,
        retry_after=settings.relay_retry_after_seconds,
        configuration=ice_configuration(settings.webrtc_stun_server),
    )
    puller = Puller(relay, on_new_stream=pulls.continuation(database, hub))
    cascades = Cascades(relay, settings)
    state.relay, state.process, state.puller, state.cascades = relay, process, puller, cascades
    state.sources = Sources(puller, cascades)
    state.whep_sessions = {}
    signaling.install(hub, database, lambda: relay, process)
    await forwarding.install(hub, process, lambda: relay)
    media = Media(relay, puller, cascades)

    async def resume() -> None:
        # In the background: the process serves at once, even while the database or the other centres
        # are unreachable (then /healthz says degraded and the cascades wait for the next start).
        try:
            await cascades.resume(database, hub, process)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("cascades not resumed: %s", exc)

    media.resuming = asyncio.create_task(resume(), name="resume cascades")
    return media
