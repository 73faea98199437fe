"""Drill tests run on the injected clock (tests/command_center/clock.py)."""

from tests.command_center.clock import clock

__all__ = ["clock"]
