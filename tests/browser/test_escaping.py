"""Strings from the data reach the page as text, never as markup: no script runs, nothing is injected.

Customer ids are whatever the shipments file says, and the dashboard shows them in its table, its
search and its CSV export; column names and file paths reach the page inside error messages. Here
they are HTML payloads that set ``window.__xss`` (or open a dialog) if the browser ever parses them
as markup. A model is trained on such data through the CLI into a temporary SQLite store, served by
``segments dashboard`` in its own process, and loaded in Debian's chromium.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import FIRST_LOAD_MS, UPDATE_MS, VIEWPORT, open_dashboard
from tests.support.processes import cli_env, free_port, segments_command, started, wait_until
from tests.support.stores import using_store

START_TIMEOUT = 120

#: Payloads that set ``window.__xss`` or open a dialog if parsed as HTML (by the browser, or first by a
#: Markdown renderer: CommonMark passes raw HTML through only when attribute values are quoted or
#: free of ``=``), and one that would read differently if entities were decoded twice.
HOSTILE_IDS = (
    "<img src=x onerror=window.__xss=1>",
    '<img src="x" onerror="window.__xss=1">',
    "<img src=x onerror=alert(1)>",
    "<script>window.__xss=1</script>",
    '"><svg onload=window.__xss=1>',
    '\'><iframe srcdoc="<script>parent.__xss=1</script>"></iframe>',
    "<b onmouseover=alert(1)>bold?</b>",
    "A&amp;B &lt;i&gt;",
)
#: A payload with no ``/``, ``,`` or ``"``: usable as a file or folder name and as a CSV column name.
HOSTILE_NAME = "<img src=x onerror=alert(1)>"


@dataclass
class HostileStore:
    """A store whose version 1 (production) was trained on shipments with hostile customer ids."""

    uri: str
    data: Path
    folder: Path


def _hostile_shipments(folder: Path, n_customers: int = 400) -> Path:
    """Generated shipments whose first customers carry the hostile ids (and their ground truth too)."""
    from workflow.synth import generate_shipments, write_dataset

    shipments, customers = generate_shipments(n_customers, 12, seed=0)
    renamed = dict(zip(customers["customer_id"].iloc[: len(HOSTILE_IDS)], HOSTILE_IDS, strict=True))
    for frame in (shipments, customers):
        frame["customer_id"] = frame["customer_id"].map(lambda value: renamed.get(value, value))
    data = folder / "shipments.csv"
    write_dataset(shipments, customers, data)  # and the ground truth beside it
    return data


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory: pytest.TempPathFactory) -> HostileStore:
    """Train on the hostile shipments and promote version 1, through the real CLI (in this process)."""
    from segments.cli import run

    folder = tmp_path_factory.mktemp("hostile")
    data = _hostile_shipments(folder)
    uri = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
    with using_store(uri):
        assert run(["train", "--data", str(data), "--k", "3", "--seed", "0"]) == 0
        assert run(["promote", "1", "--force", "--reason", "escaping tests"]) == 0
    return HostileStore(uri, data, folder)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def dashboard(store: HostileStore, *extra: str) -> Iterator[str]:
    """``segments dashboard`` on ``store`` in its own process; yields its URL, kills it afterwards."""
    port = free_port()
    command = segments_command("dashboard", "--port", port, *extra)
    with started(command, cli_env(MLFLOW_TRACKING_URI=store.uri), store.folder, f"dashboard-{port}") as process:

        def up() -> bool:
            if not process.running():
                pytest.fail(f"segments dashboard exited:\n{process.result(process.popen.returncode).describe()}")
            return _listening(port)

        wait_until(up, timeout=START_TIMEOUT, what=f"segments dashboard on port {port}", interval=0.2)
        yield f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def hostile_url(hostile_store: HostileStore) -> Iterator[str]:
    with dashboard(hostile_store) as url:
        yield url


@dataclass
class Watched:
    """A page with its dialogs and uncaught errors recorded from the first byte on."""

    page: Page
    dialogs: list[str]
    errors: list[str]

    def assert_nothing_ran(self) -> None:
        # Uncaught errors are shown for context here; test_dashboard_consistency fails on any console
        # error across tabs, versions and languages.
        context = f"uncaught page errors: {self.errors}"
        assert self.page.evaluate("() => typeof window.__xss") == "undefined", "an injected script ran; " + context
        assert self.dialogs == [], f"an injected script opened a dialog: {self.dialogs}; {context}"
        # No element of the page carries an inline handler: none was injected (locators pierce shadow roots).
        assert self.page.locator("[onerror], [onload], [onmouseover], iframe[srcdoc]").count() == 0, context


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context: BrowserContext = browser.new_context(viewport=VIEWPORT, locale="en-US", accept_downloads=True)
    try:
        page = context.new_page()
        dialogs: list[str] = []
        errors: list[str] = []

        def on_dialog(dialog: object) -> None:
            dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda error: errors.append(str(error)))
        yield Watched(page, dialogs, errors)
    finally:
        context.close()


def search(page: Page, text: str) -> None:
    """Type ``text`` in the table's search box and wait until the table holds exactly one customer."""
    box = page.locator(".search input")
    box.fill(text)
    box.press("Enter")
    expect(page.locator(".rows-count")).to_have_attribute("data-rows", "1", timeout=UPDATE_MS)


def test_hostile_ids_are_shown_as_text_in_the_table(watched: Watched, hostile_url: str) -> None:
    page = watched.page
    open_dashboard(page, hostile_url)
    table = page.locator(".customer-table")
    for hostile in HOSTILE_IDS:
        search(page, hostile)
        cell = table.get_by_text(hostile, exact=True)
        expect(cell).to_be_visible(timeout=UPDATE_MS)
        assert cell.inner_text() == hostile  # the literal text, entities not decoded
        assert page.locator(".search input").input_value() == hostile
    page.wait_for_timeout(1000)  # an onerror/onload handler fires as soon as its element is parsed
    watched.assert_nothing_ran()


def test_export_of_a_hostile_id_is_the_id_verbatim(watched: Watched, hostile_url: str) -> None:
    page = watched.page
    open_dashboard(page, hostile_url)
    hostile = HOSTILE_IDS[0]
    search(page, hostile)
    with page.expect_download(timeout=UPDATE_MS) as download:
        page.locator(".export-rows").get_by_role("button").click()
    exported = pd.read_csv(download.value.path(), dtype={"customer_id": str})
    assert exported["customer_id"].tolist() == [hostile]
    watched.assert_nothing_ran()


def test_hostile_column_name_in_an_error_message_is_text(
    watched: Watched, hostile_store: HostileStore, tmp_path: Path
) -> None:
    """A ``--data`` file without ``amount`` but with a hostile column: the page explains, as text."""
    data = tmp_path / "new_shipments.csv"
    data.write_text(f"customer_id,date,{HOSTILE_NAME}\nC1,2026-10-01,12.5\n")
    with dashboard(hostile_store, "--data", str(data)) as url:
        page = watched.page
        page.goto(url, timeout=FIRST_LOAD_MS)
        banner = page.locator(".problem")
        expect(banner).to_contain_text("amount", timeout=FIRST_LOAD_MS)
        expect(banner).to_contain_text(HOSTILE_NAME)
        page.wait_for_timeout(1000)
        watched.assert_nothing_ran()


@pytest.fixture(scope="module")
def orphan_candidate(hostile_store: HostileStore) -> str:
    """Version 2 (``candidate``), trained on a file in a folder with a hostile name, then deleted.

    Its run's ``customers.parquet`` is removed too, as for a version registered before the training
    customers were logged with the run: the dashboard then falls back to the training file's path,
    and the page names that path when the file cannot be read.
    """
    from segments.cli import run
    from workflow import tracking

    folder = hostile_store.folder / HOSTILE_NAME
    folder.mkdir()
    data = folder / "shipments.csv"
    data.write_bytes(hostile_store.data.read_bytes())
    with using_store(hostile_store.uri):
        assert run(["train", "--data", str(data), "--k", "3", "--seed", "0"]) == 0
        version = tracking.client().get_model_version_by_alias(tracking.MODEL_NAME, "candidate")
        artifacts = Path(
            tracking.client().get_run(version.tags["customers_run_id"]).info.artifact_uri.removeprefix("file://")
        )
        (artifacts / tracking.CUSTOMERS_ARTIFACT).unlink()
    data.unlink()
    return "candidate"


@pytest.fixture(scope="module")
def hostile_named_data(hostile_store: HostileStore) -> Path:
    """Valid shipments in a file with a hostile name (for ``--data``)."""
    data = hostile_store.folder / f"{HOSTILE_NAME}.csv"
    data.write_bytes(hostile_store.data.read_bytes())
    return data


def test_hostile_training_data_path_in_an_error_message_is_text(
    watched: Watched, hostile_store: HostileStore, orphan_candidate: str
) -> None:
    with dashboard(hostile_store, "--model", orphan_candidate) as url:
        page = watched.page
        page.goto(url, timeout=FIRST_LOAD_MS)
        banner = page.locator(".problem")
        expect(banner).to_contain_text(HOSTILE_NAME, timeout=FIRST_LOAD_MS)
        page.wait_for_timeout(1000)
        watched.assert_nothing_ran()


def open_drift_tab(page: Page, url: str) -> None:
    open_dashboard(page, url)
    page.get_by_role("tab", name="Drift").click()


@pytest.mark.parametrize("model", ["production", "orphan"])
def test_hostile_paths_in_the_drift_tab_are_text(
    watched: Watched, hostile_store: HostileStore, hostile_named_data: Path, orphan_candidate: str, model: str
) -> None:
    """The drift summary names the ``--data`` file; without training data, the tab names that path."""
    ref = orphan_candidate if model == "orphan" else model
    with dashboard(hostile_store, "--model", ref, "--data", str(hostile_named_data)) as url:
        page = watched.page
        open_drift_tab(page, url)
        if model == "orphan":
            shown = page.get_by_text("is not available, so there is no reference distribution")
        else:
            shown = page.get_by_text("against", exact=False).filter(has_text="in the training data")
        expect(shown).to_contain_text(HOSTILE_NAME, timeout=FIRST_LOAD_MS)
        page.wait_for_timeout(1000)
        watched.assert_nothing_ran()
