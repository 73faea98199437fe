"""Live mode: asyncio-clocked, actions keep their own times, a restart resumes without re-emitting."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sim_helpers import MINIMAL

from simulation import (
    CheckStatusChanged,
    DrillFinished,
    InjectFired,
    LiveDrill,
    ObservedAction,
    ScoreUpdated,
    load_scenario_text,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SCALE = 60.0  # one scenario minute per wall second
ALL = frozenset({"headcount", "demands", "dynamics"})

JITTERED = MINIMAL.replace(
    "synthetic:",
    "  - id: reinforcements\n    after: {inject: arrival, delay: PT30M}\n"
    "    jitter: {low: PT0M, high: PT10M}\n    to: [commander]\n    kind: message\n"
    "    content: {zh-CN: 增援到达, en: Reinforcements arrive}\nsynthetic:",
)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def to(self, minutes: float) -> None:
        self.now = T0 + timedelta(seconds=minutes * 60 / SCALE)


class Sink:
    def __init__(self) -> None:
        self.events: list = []

    async def emit(self, event) -> None:
        self.events.append(event)

    def of(self, kind):
        return [e for e in self.events if isinstance(e, kind)]


def wall(minutes: float) -> datetime:
    return T0 + timedelta(seconds=minutes * 60 / SCALE)


def make(text=MINIMAL, **kwargs):
    clock, sink = kwargs.pop("clock", Clock()), kwargs.pop("sink", Sink())
    drill = LiveDrill(
        load_scenario_text(text), seed=kwargs.pop("seed", 1), started_at=T0, sink=sink, time_scale=SCALE,
        clock=clock, **kwargs,
    )  # fmt: skip
    return drill, clock, sink


async def test_injects_branches_statuses_and_finish():
    drill, clock, sink = make()
    await drill.step()
    (fired,) = sink.of(InjectFired)
    assert fired.inject.id == "arrival" and fired.record.at == T0
    assert {e.check_id: e.status for e in sink.of(CheckStatusChanged)} == {
        "phone_report": "open",
        "written_report": "open",
    }
    drill.observe(ObservedAction("report.phone", wall(6), actor="officer-1"))
    clock.to(8)
    await drill.step()
    changed = sink.of(CheckStatusChanged)[-1]
    assert (changed.check_id, changed.status, changed.rating) == ("phone_report", "done", "P")
    assert sink.of(ScoreUpdated)[-1].score.overall == pytest.approx(100.0)
    clock.to(21)
    await drill.step()
    escalation = sink.of(InjectFired)[-1]
    assert escalation.inject.id == "escalation"
    assert escalation.record.at == wall(20)  # stamped with its due time, not the tick's
    drill.observe(ObservedAction("report.written", wall(25), fields=ALL))
    clock.to(26)
    await drill.step()
    assert drill.finished
    finished = sink.events[-1]
    assert isinstance(finished, DrillFinished) and finished.reason == "completed"
    assert finished.score.overall == pytest.approx(100.0) and finished.score.final
    assert [r.inject_id for r in drill.released] == ["arrival", "escalation"]


async def test_a_branch_does_not_fire_when_the_check_is_done():
    drill, clock, sink = make()
    await drill.step()
    drill.observe(ObservedAction("report.written", wall(15), fields=ALL))
    clock.to(25)
    await drill.step()
    assert [e.inject.id for e in sink.of(InjectFired)] == ["arrival"]


async def test_late_arriving_action_keeps_its_own_time():
    drill, clock, _ = make()
    await drill.step()
    clock.to(29)  # the phone report done at minute 5 only reaches the engine at minute 29
    drill.observe(ObservedAction("report.phone", wall(5)))
    await drill.step()
    assert drill.score().check("phone_report").elapsed == pytest.approx(5.0)
    assert drill.score().check("phone_report").rating == "P"


async def test_observe_from_another_thread():
    drill, clock, _ = make()
    await drill.step()
    threads = [
        threading.Thread(
            target=drill.observe, args=(ObservedAction("report.phone", wall(3 + i), actor=f"o{i}"),)
        )
        for i in range(5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    clock.to(10)
    await drill.step()
    assert len(drill.actions) == 5
    assert drill.score().check("phone_report").elapsed == pytest.approx(3.0)


async def run_to_end(drill, clock, observe, until=100.0):
    minute = 0.0
    while not drill.finished and minute <= until:
        for action in [a for a in observe if a.at <= wall(minute) and a not in drill.actions]:
            drill.observe(action)
        clock.to(minute)
        await drill.step()
        minute += 0.5


ACTIONS = [
    ObservedAction("report.phone", wall(7)),
    ObservedAction("report.written", wall(33), fields=frozenset({"headcount", "demands"})),
    ObservedAction("report.written", wall(38), fields=frozenset({"dynamics"})),
]


async def test_restart_resumes_without_re_emitting_and_ends_the_same():
    straight, clock_a, _sink_a = make(JITTERED, seed=11)
    await run_to_end(straight, clock_a, ACTIONS)
    assert straight.finished

    first, clock_b, _sink_b = make(JITTERED, seed=11)
    await run_to_end(first, clock_b, ACTIONS, until=22)
    assert [r.inject_id for r in first.released] == ["arrival", "escalation"]
    # the process dies; a new one rebuilds the drill from the stored log
    sink_c = Sink()
    clock_c = Clock()
    clock_c.to(22)
    resumed, _, _ = make(
        JITTERED, seed=11, clock=clock_c, sink=sink_c, released=first.released, actions=first.actions
    )
    await resumed.step()
    assert sink_c.of(InjectFired) == []  # nothing released twice
    minute = 22.0
    while not resumed.finished:
        minute += 0.5
        for action in [a for a in ACTIONS if a.at <= wall(minute) and a not in resumed.actions]:
            resumed.observe(action)
        clock_c.to(minute)
        await resumed.step()
    assert [e.inject.id for e in sink_c.of(InjectFired)] == ["reinforcements"]
    assert resumed.released == straight.released  # jitter comes from the seed, so the same release time
    assert resumed.final_score == straight.final_score


async def test_restart_after_downtime_releases_a_due_branch_late_and_stamps_it_honestly():
    first, _clock, _ = make(seed=3)
    await first.step()
    sink = Sink()
    later = Clock()
    later.to(40)  # down from minute 0 to 40: the escalation fell due at 20
    resumed, _, _ = make(seed=3, clock=later, sink=sink, released=first.released, actions=first.actions)
    await resumed.step()
    (fired,) = sink.of(InjectFired)
    assert fired.inject.id == "escalation"
    assert fired.record.at == wall(40)


async def test_run_loop_in_compressed_time_with_a_thread_reporting():
    sink = Sink()
    drill = LiveDrill(
        load_scenario_text(MINIMAL), seed=1, started_at=datetime.now(UTC), sink=sink, time_scale=3600,
        tick_seconds=0.02,
    )  # fmt: skip

    def officer() -> None:
        drill.observe(ObservedAction("report.phone", datetime.now(UTC)))

    task = asyncio.create_task(drill.run())
    await asyncio.sleep(0.05)
    await asyncio.to_thread(officer)
    final = await asyncio.wait_for(task, timeout=5)  # 60 scenario minutes take one second
    assert final.check("phone_report").rating == "P"
    assert final.check("written_report").rating == "U"
    assert isinstance(sink.events[-1], DrillFinished)


async def test_stop_ends_the_drill_at_once():
    drill, _clock, sink = make()
    task = asyncio.create_task(drill.run())
    await asyncio.sleep(0.02)
    drill.stop("real_world_stop")
    final = await asyncio.wait_for(task, timeout=2)
    assert sink.events[-1].reason == "real_world_stop"
    assert final.check("written_report").status == "open"


async def test_a_failing_sink_does_not_stop_the_drill(caplog):
    class Flaky(Sink):
        async def emit(self, event) -> None:
            if isinstance(event, ScoreUpdated):
                raise RuntimeError("hub down")
            await super().emit(event)

    drill, clock, sink = make(sink=Flaky())
    await drill.step()
    clock.to(61)
    await drill.step()
    assert drill.finished
    assert isinstance(sink.events[-1], DrillFinished)
    assert "drill sink failed" in caplog.text


def test_naive_times_are_refused():
    with pytest.raises(ValueError):
        ObservedAction("report.phone", datetime(2026, 1, 1))


async def test_an_inject_the_sink_refused_is_offered_again_never_dropped(caplog):
    """The CLI drill's IntegrityError used to lose its incident silently; now the inject waits and says so."""

    class FailsOnce(Sink):
        def __init__(self) -> None:
            super().__init__()
            self.refused = 0

        async def emit(self, event) -> None:
            if isinstance(event, InjectFired) and not self.refused:
                self.refused += 1
                raise RuntimeError("database refused the row")
            await super().emit(event)

    drill, clock, sink = make(sink=FailsOnce())
    await drill.step()
    assert sink.of(InjectFired) == [] and not drill.delivered
    assert "drill sink failed on InjectFired; offered again at the next step" in caplog.text
    clock.to(1)
    await drill.step()
    assert [e.inject.id for e in sink.of(InjectFired)] == ["arrival"] and drill.delivered
    assert sink.of(InjectFired)[0].record.at == T0  # stamped when it was due, not when it got through


async def test_a_finished_drill_delivers_its_end_before_run_returns():
    class FailsFinishOnce(Sink):
        def __init__(self) -> None:
            super().__init__()
            self.refused = False

        async def emit(self, event) -> None:
            if isinstance(event, DrillFinished) and not self.refused:
                self.refused = True
                raise RuntimeError("hub down")
            await super().emit(event)

    drill, _clock, sink = make(sink=FailsFinishOnce())
    task = asyncio.create_task(drill.run())
    await asyncio.sleep(0.02)
    drill.stop("real_world_stop")
    await asyncio.wait_for(task, timeout=5)
    assert isinstance(sink.events[-1], DrillFinished) and sink.refused
