"""Browser tests of the dashboard: pytest-playwright driving Debian's chromium against a served app.

The app is served in-process on a free port (``serve(threaded=True)``) on a real temporary SQLite
MLflow store, trained and promoted through the CLI (``segments.cli.run``), so the page goes through
``workflow.tracking`` exactly as ``segments dashboard`` does.

Without ``/usr/bin/chromium`` the tests skip with the reason, except under ``CI=true`` where they fail:
CI installs chromium (``.ci/run``) and a silent skip there would hide a broken dashboard.
"""

from __future__ import annotations

import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}
#: The first page of a fresh server imports mlflow, loads the model and compiles datashader's kernels.
FIRST_LOAD_MS = 120_000


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium) to run the browser tests"
    if os.environ.get("CI") == "true":
        pytest.fail(reason + " (CI=true: browser tests must run in CI)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def base_url() -> None:
    """No base URL (each test has the served app's URL).

    Overrides pytest-base-url's fixture, which pytest 9 flags as deprecated (PytestRemovedIn10Warning:
    a session fixture defined as an instance method) and ``filterwarnings = error`` turns into a failure.
    """
    return


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's chromium, never a downloaded one (no ``playwright install``)."""
    _require_chromium()
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """The 1280×800 window the issue asks to check, English unless a test asks otherwise."""
    return {**browser_context_args, "viewport": VIEWPORT, "locale": "en-US", "accept_downloads": True}


@dataclass
class TrainedStore:
    """A temporary MLflow store with two versions: 1 (production) and 2 (candidate)."""

    uri: str
    data: Path


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrainedStore]:
    """Generate shipments, train twice and promote version 1, through the real CLI."""
    _require_chromium()  # training takes a minute: not for tests that will skip anyway
    from segments.cli import run
    from workflow import tracking
    from workflow.synth import generate_shipments, write_dataset

    root = tmp_path_factory.mktemp("dashboard-store")
    data = root / "shipments.parquet"
    shipments, customers = generate_shipments(1500, 12, seed=0)
    write_dataset(shipments, customers, data)
    uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    patch = pytest.MonkeyPatch()
    patch.setenv("MLFLOW_TRACKING_URI", uri)
    patch.setenv("SEGMENTS_USER", "tester")
    tracking.reset()
    try:
        assert run(["train", "--data", str(data), "--k", "3-4", "--seed", "0"]) == 0
        assert run(["train", "--data", str(data), "--k", "5", "--seed", "1"]) == 0
        assert run(["promote", "1", "--reason", "browser tests"]) == 0
        yield TrainedStore(uri=uri, data=data)
    finally:
        patch.undo()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url: str, timeout: float = 60.0) -> None:
    """Poll ``url`` until the server answers (bounded: a dead server fails the test, not hangs it).

    The first request also warms the server up (model load, datashader's compilation), so the
    tests' own page loads measure a running dashboard.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=FIRST_LOAD_MS / 1000):
                return
        except urllib.error.URLError:  # refused while the server thread starts
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="session")
def dashboard_url(trained_store: TrainedStore) -> Iterator[str]:
    """The dashboard served in-process on a free port, stopped after the session."""
    import panel as pn

    from dashboard.app import serve

    port = free_port()
    server = serve(port=port, threaded=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for(url)
        yield url
    finally:
        server.stop()
        # stop() only asks the server's loop to end; kill_all_servers() on a thread still stopping
        # raises "Thread already stopping", so wait for it first (bounded).
        server.join(timeout=30)
        pn.state.kill_all_servers()
