"""ISO-8601 durations: the strict subset scenario files use."""

from __future__ import annotations

from datetime import timedelta

import pytest

from simulation import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT10M", timedelta(minutes=10)),
        ("PT1H30M", timedelta(minutes=90)),
        ("P1D", timedelta(days=1)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("PT45S", timedelta(seconds=45)),
        ("PT0.5M", timedelta(seconds=30)),
        ("P2W", timedelta(weeks=2)),
        ("PT0M", timedelta(0)),
    ],
)
def test_valid(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "P", "PT", "P1DT", "10", "10 min", "10:00", "PT-5M", "-PT5M", "pt10m", "T10M"]
)
def test_invalid(text):
    with pytest.raises(ValueError, match="ISO-8601"):
        parse_duration(text)


def test_not_a_string():
    with pytest.raises(ValueError, match="ISO-8601"):
        parse_duration(600)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["PT10M", "PT1H30M", "P1D", "P1DT2H", "PT45S", "PT0M", "PT1H0M5S"])
def test_round_trip(text):
    assert parse_duration(format_duration(parse_duration(text))) == parse_duration(text)
