"""Compare versions and Drift in a real chromium: the headline, the matrix's order and totals, the periods
compared, in English and in French, with no console error.

The expected values are computed in this process with the store the page uses (``DataStore`` on the same
MLflow store), so the test checks what the page shows against the computation, not against itself.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import UPDATE_MS, TrainedStore, open_dashboard
from tests.support.processes import cli_env, free_port, segments_command, started, wait_until

pytestmark = [
    # The served app runs in this process, so ``filterwarnings = error`` reaches the server thread.
    # Bokeh warns when a browser patch (a picker's change while the page rebuilds) names a model the
    # server document already holds; the patch is applied all the same.
    pytest.mark.filterwarnings("ignore:reference already known:bokeh.util.warnings.BokehUserWarning"),
]

TAB = {"en": ("Compare versions", "Drift"), "fr": ("Comparer des versions", "Dérive")}


#: A fresh ``segments dashboard`` process imports mlflow and loads the model before it listens.
START_TIMEOUT = 120


@pytest.fixture(scope="module")
def drift_url(trained_store: TrainedStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``segments dashboard --data <the training file>`` in its own process: Drift compares the same period.

    Its own process rather than a second in-process server: stopping an in-process server cleanly means
    ``pn.state.kill_all_servers()``, which would also stop the session's ``dashboard_url`` server.
    """
    port = free_port()
    command = segments_command("dashboard", "--port", port, "--data", trained_store.data)
    folder = tmp_path_factory.mktemp("drift-dashboard")
    with started(command, cli_env(MLFLOW_TRACKING_URI=trained_store.uri), folder, f"dashboard-{port}") as process:

        def up() -> bool:
            if not process.running():
                pytest.fail(f"segments dashboard exited:\n{process.result(process.popen.returncode).describe()}")
            with socket.socket() as probe:
                probe.settimeout(1)
                return probe.connect_ex(("127.0.0.1", port)) == 0

        wait_until(up, timeout=START_TIMEOUT, what=f"segments dashboard on port {port}", interval=0.2)
        yield f"http://127.0.0.1:{port}/"


def expected_migration(lang: str) -> Any:
    """The migration v1 → v2 as the page's store computes it."""
    from dashboard.store import DataStore

    store = DataStore(model_ref="production", lang=lang)
    assert store.problem is None
    return store.migration("2")


def switch_to_french(page: Page) -> None:
    page.locator(".language-picker").get_by_role("button", name="Français").click()
    expect(page.get_by_role("tab", name=TAB["fr"][0])).to_be_visible(timeout=UPDATE_MS)


def check_matrix(page: Page, lang: str) -> None:
    """Headline, column order (equivalent segments on the diagonal) and totals, against the store."""
    from dashboard.version_views import _share_text

    result = expected_migration(lang)
    kept = _share_text(result.kept_share, lang)
    sentence = {
        "en": f"{kept} of customers keep an equivalent segment in v2.",
        "fr": f"{kept} des clients gardent un segment équivalent dans la v2.",
    }[lang]
    expect(page.locator(".migration-headline")).to_contain_text(sentence, timeout=UPDATE_MS)
    matrix = page.locator(".migration-matrix table.matrix")
    ordered = result.ordered
    expect(matrix.locator("th.col")).to_have_text(list(ordered.columns), timeout=UPDATE_MS)
    total = {"en": "Total", "fr": "Total"}[lang]
    expect(matrix.locator("th.row")).to_have_text([*ordered.index, total])
    # The outlined cells are the diagonal's first n_matched cells, in that order.
    positions = matrix.locator("tbody tr").evaluate_all(
        "rows => rows.flatMap((row, i) => [...row.querySelectorAll('td.cell')]"
        ".map((cell, j) => cell.classList.contains('matched') ? [i, j] : null).filter(Boolean))"
    )
    assert positions == [[i, i] for i in range(result.n_matched)]
    counts = ordered.to_numpy()
    row_totals = matrix.locator("tbody tr:not(.totals) td.total").evaluate_all(
        "cells => cells.map(c => Number(c.dataset.count))"
    )
    column_totals = matrix.locator("tr.totals td.total").evaluate_all(
        "cells => cells.map(c => Number(c.dataset.count))"
    )
    assert row_totals == counts.sum(axis=1).tolist()
    assert column_totals == [*counts.sum(axis=0).tolist(), int(counts.sum())]


def test_compare_shows_equivalent_segments_in_english_and_french(
    page: Page, dashboard_url: str, console_errors: list[str]
) -> None:
    open_dashboard(page, dashboard_url)
    page.get_by_role("tab", name=TAB["en"][0]).click()
    picker = page.locator(".compare-picker")
    expect(picker).to_be_visible(timeout=UPDATE_MS)
    picker.get_by_role("combobox").click()
    page.get_by_role("menuitem", name=re.compile(r"\bv2\b")).click()
    expect(page.locator(".migration-title")).to_contain_text("from v1 (rows) to v2 (columns)", timeout=UPDATE_MS)
    check_matrix(page, "en")
    switch_to_french(page)
    check_matrix(page, "fr")
    page.wait_for_timeout(1000)  # late renders report their errors after the expectations pass
    assert console_errors == [], "\n".join(console_errors)


def expected_dates(trained_store: TrainedStore, lang: str) -> tuple[str, str]:
    import pandas as pd

    from dashboard.version_views import _fmt_date
    from workflow.data import read_shipments

    dates = read_shipments(trained_store.data)[0]["date"]
    return _fmt_date(pd.Timestamp(dates.min()), lang), _fmt_date(pd.Timestamp(dates.max()), lang)


def test_drift_shows_the_periods_and_the_flags_in_english_and_french(
    page: Page, drift_url: str, trained_store: TrainedStore, console_errors: list[str]
) -> None:
    open_dashboard(page, drift_url)
    page.get_by_role("tab", name=TAB["en"][1]).click()
    periods = page.locator(".drift-periods")
    expect(periods).to_contain_text("Same period.", timeout=UPDATE_MS)
    first, last = expected_dates(trained_store, "en")
    expect(periods.locator("tr.training th")).to_have_text("Training customers")
    expect(periods.locator("tr.training td")).to_contain_text(f"{first} to {last} (")
    expect(periods.locator("tr.current th")).to_have_text("Current file")
    expect(periods.locator("tr.current td")).to_contain_text(f"{first} to {last} (")
    expect(page.locator(".drift-chart canvas").first).to_be_visible(timeout=UPDATE_MS)
    legend = page.locator(".drift-legend")
    expect(legend).to_contain_text("Stable — PSI below 0.1: the distribution barely moved.")
    expect(legend).to_contain_text("Major shift — PSI 0.25 or more")
    shares = page.locator(".drift-shares")
    expect(shares.locator("tbody tr").first).to_be_visible()
    for text in shares.locator("td").all_inner_texts():
        assert not re.search(r"[-\u2212]0[.,]0\b", text), text  # no negative zero
    switch_to_french(page)
    page.get_by_role("tab", name=TAB["fr"][1]).click()
    expect(periods).to_contain_text("Même période.", timeout=UPDATE_MS)
    first, last = expected_dates(trained_store, "fr")
    expect(periods.locator("tr.training td")).to_contain_text(f"du {first} au {last} (")
    expect(periods.locator("tr.current td")).to_contain_text(f"du {first} au {last} (")
    expect(legend).to_contain_text("Dérive forte — PSI de 0,25 ou plus")
    for text in shares.locator("td.num").all_inner_texts():
        assert re.fullmatch(r"\d+,\d\u202f%", text), text  # decimal comma, narrow space before %
    page.wait_for_timeout(1000)
    assert console_errors == [], "\n".join(console_errors)
