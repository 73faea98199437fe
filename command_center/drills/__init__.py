"""Drills in the live system: double-blind scheduling, the runner that drives the engine, live scores."""
