"""The load script (``bench/dashboard_load.py``) with 5 concurrent sessions: what CI checks of it.

It runs as a child process, exactly as a person runs it: it trains a small model through the CLI,
starts ``segments dashboard`` as its own process, drives 5 chromium sessions at once, and writes its
report as JSON. Nothing here judges a time (the machine is shared); the test checks that every session
reached its first paint, its plots and a selection update without an error, that the report holds
every figure, and that the server's memory came back within 20 % of where it started once the server
had discarded the sessions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import cli_env

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "dashboard_load.py"
SESSIONS = 5
#: The script's own bound (training, server start, warm-up, sessions, two session cleanups of up to
#: 32 s each); the child is killed a minute later if it ever ignores it.
SCRIPT_TIMEOUT = 300


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Run the script once for the module; ``browser_type_launch_args`` skips (or fails under CI)
    without Debian's chromium, as every browser test does."""
    folder = tmp_path_factory.mktemp("load")
    out = folder / "report.json"
    command = [sys.executable, str(SCRIPT), "--sessions", str(SESSIONS), "--customers", "1500"]
    command += ["--timeout", str(SCRIPT_TIMEOUT), "--json", str(out)]
    # Generated data and the temporary store go under the test's folder, not the bench cache.
    env = cli_env(SEGMENTS_BENCH_DATA=str(folder))
    done = subprocess.run(
        command, env=env, cwd=folder, capture_output=True, text=True, timeout=SCRIPT_TIMEOUT + 60, check=False
    )
    assert out.exists(), f"no report; exit {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    result = json.loads(out.read_text())
    result["_exit"], result["_stdout"] = done.returncode, done.stdout
    return result


def test_every_session_paints_and_updates_without_errors(report: dict[str, Any]) -> None:
    assert report["error_count"] == 0, report["errors"]
    assert report["errors"] == []
    for key in ("first_paint_s", "plots_s", "selection_s"):
        figures = report[key]
        assert figures["reached"] == figures["of"] == SESSIONS, (key, figures)
        assert len(figures["values"]) == SESSIONS
        assert all(value > 0 for value in figures["values"])
    # The selection (a segment picked in the table's filter) narrowed every session's table.
    assert len(report["rows"]) == SESSIONS
    for rows in report["rows"]:
        assert 0 < rows["after"] < rows["before"], rows
    assert {rows["before"] for rows in report["rows"]} == {report["rows"][0]["before"]}  # same customers


def test_report_has_the_figures(report: dict[str, Any]) -> None:
    for key in ("first_paint_s", "plots_s", "selection_s"):
        figures = report[key]
        assert 0 < figures["p50"] <= figures["p95"] <= figures["max"], (key, figures)
    rss = report["rss_mb"]
    assert 0 < rss["before"] <= rss["peak"] <= rss["hwm"], rss
    assert rss["after"] > 0
    assert report["rss_after_ratio"] == pytest.approx(rss["after"] / rss["before"], abs=1e-3)
    warm = report["warm_up"]
    assert warm["errors"] == []
    assert warm["first_paint_s"] > 0
    assert warm["selection_s"] > 0
    # The printed table carries the same figures.
    for label in ("first paint (s)", "plots drawn (s)", "selection update (s)", "server RSS (MB)", "errors: 0"):
        assert label in report["_stdout"]


def test_server_discards_the_sessions_and_memory_comes_back(report: dict[str, Any]) -> None:
    cleanup = report["cleanup"]
    assert cleanup["warm_up_discarded"]
    assert cleanup["expected"] == SESSIONS + 1  # the warm-up session and the 5
    assert cleanup["complete"], cleanup
    assert cleanup["discarded"] == cleanup["expected"]
    verdict = "memory back within 20% of the before once the sessions closed: "
    assert verdict + ("yes" if report["memory_back"] else "NO") in report["_stdout"]
    assert report["memory_back"], f"server RSS after/before = {report['rss_after_ratio']:.2f}: {report['rss_mb']}"
    assert report["_exit"] == 0
