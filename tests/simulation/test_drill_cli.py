"""``command-center drill validate|simulate``: exit codes, output, and no traceback for bad input."""

from __future__ import annotations

import json

import pytest
from sim_helpers import MINIMAL

from simulation import shipped_scenario_files

cli = pytest.importorskip("command_center.cli")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "good.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    return path


def test_validate_every_shipped_scenario(capsys):
    files = [str(p) for p in shipped_scenario_files()]
    code, out, err = run(capsys, "drill", "validate", *files)
    assert code == 0, err
    assert out.count(": ok (") == len(files)


def test_validate_reports_every_problem_with_file_and_line(capsys, tmp_path, good):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        MINIMAL.replace("weight: 2\n    critical", "weight: two\n    critical").replace(
            "check: written_report", "check: nope"
        ),
        encoding="utf-8",
    )
    code, out, err = run(capsys, "drill", "validate", str(good), str(bad))
    assert code == 1
    assert "good.yaml: ok" in out
    lines = err.strip().splitlines()
    assert len(lines) == 2
    assert any(":38: injects[1].when.check: unknown check 'nope'" in line for line in lines)
    assert lines[0].startswith(f"{bad}:")
    assert any(":17: checks[0].weight: " in line and "(hint: write a plain number)" in line for line in lines)
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"- just\n- a list\n",
        b"schema_version: [\n",
        b"\x00\x01\x02\xff\xfe garbage",
        b"schema_version: 1\nid: Not A Slug\n",
        "schema_version: 1\nid: x\ntitle: 标题\n".encode(),
    ],
)
def test_bad_files_never_traceback(capsys, tmp_path, content):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    for command in (
        ["drill", "validate", str(path)],
        ["drill", "simulate", str(path), "--replications", "2"],
    ):
        code, _, err = run(capsys, *command)
        assert code == 1
        assert err.startswith(str(path))
        assert "Traceback" not in err


def test_validate_reports_cross_reference_problems(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        MINIMAL.replace("hard_limit: PT30M", "hard_limit: PT8M").replace(
            "check: written_report", "check: nope"
        ),
        encoding="utf-8",
    )
    code, _, err = run(capsys, "drill", "validate", str(bad))
    assert code == 1
    lines = err.strip().splitlines()
    assert f"{bad}:16: checks[0].hard_limit: hard_limit is before target (hint:" in lines[1]
    assert lines[0].startswith(f"{bad}:38: injects[1].when.check: unknown check 'nope'")


def test_missing_file(capsys, tmp_path):
    code, _, err = run(capsys, "drill", "validate", str(tmp_path / "nope.yaml"))
    assert code == 1 and "no such file" in err


def test_simulate_prints_a_table(capsys, good):
    code, out, err = run(capsys, "drill", "simulate", str(good), "--replications", "200", "--seed", "4")
    assert code == 0, err
    assert "phone_report*" in out and "written_report" in out
    assert "on time" in out and "p90" in out and "overall score: mean" in out


def test_simulate_json_with_staff_override(capsys, good):
    argv = ["drill", "simulate", str(good), "--replications", "100", "--seed", "4", "--json"]
    code, out, _ = run(capsys, *argv, "--staff", "field_officer=3")
    assert code == 0
    data = json.loads(out)
    assert data["staff"]["field_officer"] == 3
    assert data["replications"] == 100 and data["rubric_version"] == 1
    check = data["checks"][0]
    assert set(check) >= {"on_time", "p50_minutes", "p90_minutes", "ratings", "done"}
    assert check["on_time"]["low"] <= check["on_time"]["value"] <= check["on_time"]["high"]
    assert set(data["overall"]["ratings"]) == {"P", "S", "M", "U"}
    # same seed, same figures
    assert json.loads(run(capsys, *argv, "--staff", "field_officer=3")[1]) == data


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--staff", "field_officer"], "ROLE=N"),
        (["--staff", "field_officer=0"], "at least 1"),
        (["--staff", "chef=2"], "does not use"),
        (["--replications", "many"], "whole number"),
    ],
)
def test_simulate_bad_options(capsys, good, extra, message):
    try:
        code, _, err = run(capsys, "drill", "simulate", str(good), "--replications", "5", *extra)
    except SystemExit as exc:  # argparse refuses with status 2 and a usage line
        code, err = exc.code, capsys.readouterr().err
    assert code != 0
    assert message in err
    assert "Traceback" not in err
