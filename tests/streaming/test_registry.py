"""Registry data: start time, health, position (from the app or the telemetry channel), change events."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from streaming_helpers import relay_signal

from streaming import Publisher, Relay, SyntheticVideoTrack


async def test_health_is_measured_and_announced(relay: Relay, publisher: Publisher, viewers, events):
    viewer = viewers()
    await viewer.watch(relay, publisher.stream_id)
    # Two samples taken while the viewer watched: the second covers a whole interval of forwarded frames.
    while len([e for e in events.of("health") if e.data["viewers"] == 1]) < 2:
        await asyncio.sleep(0.05)
    info = relay.get(publisher.stream_id)
    assert info.live and info.connected and info.started_at <= datetime.now(UTC)
    assert info.health is not None
    assert info.health.fps > 0  # frames per wall-clock second: how many depends on the machine's load
    assert info.health.bitrate_kbps > 10
    assert info.health.packets_received > 0 and info.health.loss_fraction < 0.05
    assert info.health.viewers == 1
    health_events = events.of("health")
    assert health_events and "fps" in health_events[-1].data
    assert events.events[0].type == "started"


async def test_position_from_the_app_and_from_telemetry(relay: Relay, publisher: Publisher, events):
    relay.update_position(publisher.stream_id, 30.66, 104.06, accuracy=8.0)
    assert relay.get(publisher.stream_id).position.lat == 30.66
    for _ in range(50):
        if publisher.send_position(30.67, 104.07, 5.0):
            break
        await asyncio.sleep(0.1)
    for _ in range(50):
        position = relay.get(publisher.stream_id).position
        if position.lat == 30.67:
            break
        await asyncio.sleep(0.1)
    assert (position.lat, position.lon, position.accuracy) == (30.67, 104.07, 5.0)
    await asyncio.sleep(0.1)
    assert [e.data["lat"] for e in events.of("position")] == [30.66, 30.67]


async def test_round_trip_time_comes_from_the_publishers_stats(relay: Relay, publisher: Publisher):
    # The sender's RTT needs an RTCP receiver report (about every second): wait for it, however long the
    # machine takes (the suite's timeout bounds the wait), then for the relay's next sample to carry it.
    while not await publisher.send_stats():
        await asyncio.sleep(0.1)
    stream = relay._streams[publisher.stream_id]
    while (health := await stream.sample_health()).rtt_ms is None:
        await asyncio.sleep(0.05)
    assert health.rtt_ms >= 0  # a measured figure; how large depends on the machine's load, not the code


async def test_ended_streams_leave_the_live_list(relay: Relay, publisher: Publisher, events):
    assert [s.id for s in relay.streams()] == [publisher.stream_id]
    await asyncio.sleep(0.5)
    await relay.stop(publisher.stream_id)
    assert relay.streams() == []
    assert relay.manifest(publisher.stream_id), "recordings stay"
    await asyncio.sleep(0.1)
    assert events.of("ended")[0].info.live is False


async def test_a_failing_event_handler_does_not_stall_the_relay(tmp_path, viewers):
    class Broken:
        calls = 0

        async def on_stream_event(self, event) -> None:
            Broken.calls += 1
            raise RuntimeError("handler bug")

    relay = Relay(tmp_path, Broken(), health_interval=0.2)
    publisher = Publisher(relay_signal(relay), lambda: [SyntheticVideoTrack()])
    try:
        stream_id = await publisher.connect()
        viewer = viewers()
        await viewer.watch(relay, stream_id)
        await viewer.wait_frames(10)
        assert Broken.calls >= 2
    finally:
        await publisher.close()
        await relay.close()
