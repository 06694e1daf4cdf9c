"""The served dashboard in a real chromium: loads cleanly, shows the model, filters, switches, exports."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    UPDATE_MS,
    VIEWPORT,
    drag,
    open_dashboard,
    pick_segment,
    table_rows,
    wait_rows_change,
)

pytestmark = [
    # The served app runs in this process, so ``filterwarnings = error`` reaches the server thread.
    # Bokeh warns when a browser patch (here, the version picker's change while the page rebuilds)
    # names a model the server document already holds; the patch is applied all the same.
    pytest.mark.filterwarnings("ignore:reference already known:bokeh.util.warnings.BokehUserWarning"),
]


@pytest.fixture(scope="module")
def production(trained_store: Any) -> Any:
    """The production model as ``workflow.tracking`` loads it (the page must show the same)."""
    from workflow import tracking

    return tracking.load_segment_model("production")


def test_page_loads_without_console_errors(page: Page, dashboard_url: str, console_errors: list[str]) -> None:
    open_dashboard(page, dashboard_url)
    expect(page.locator(".kpis")).to_be_visible()
    page.wait_for_timeout(1500)  # let late renders (plots, table page) report their errors
    assert console_errors == []


def test_shows_production_version_and_segment_names(page: Page, dashboard_url: str, production: Any) -> None:
    open_dashboard(page, dashboard_url)
    expect(page.locator(".header-title")).to_contain_text(f"v{production.version} · production")
    for name in production.names("en").values():
        expect(page.locator(".kpis").get_by_text(name, exact=True)).to_be_visible()
    assert table_rows(page) == int(production.profile["size"].sum())


def test_segment_filter_changes_the_table(page: Page, dashboard_url: str, production: Any) -> None:
    open_dashboard(page, dashboard_url)
    filtered = pick_segment(page, production.names("en")[0], before=table_rows(page))
    assert filtered == int(production.profile.loc[0, "size"])


def test_brushing_the_projection_changes_the_table(page: Page, dashboard_url: str) -> None:
    open_dashboard(page, dashboard_url)
    total = table_rows(page)
    canvas = page.locator(".projection canvas").first
    expect(canvas).to_be_visible(timeout=UPDATE_MS)  # the plots are built after the first paint
    page.wait_for_timeout(1000)  # the datashaded image arrives after the canvas
    drag(page, canvas, (0.15, 0.1), (0.5, 0.85))  # a box over the left half of the plot area
    brushed = wait_rows_change(page, total)
    assert 0 < brushed < total
    expect(page.locator(".selection-count")).to_contain_text("selected")
    page.locator(".clear-selection").get_by_role("button").click()
    expect(page.locator(".rows-count")).to_have_attribute("data-rows", str(total), timeout=UPDATE_MS)


def test_brushing_a_distribution_changes_the_table(page: Page, dashboard_url: str) -> None:
    # The distribution charts are plain Bokeh: their brush reaches the server as a SelectionGeometry
    # event, which only a served page delivers.
    open_dashboard(page, dashboard_url)
    total = table_rows(page)
    canvas = page.locator(".distribution canvas").first
    expect(canvas).to_be_visible(timeout=UPDATE_MS)
    page.wait_for_timeout(500)
    drag(page, canvas, (0.5, 0.5), (0.9, 0.5))  # inside the plot frame: a drag from the y axis selects nothing
    brushed = wait_rows_change(page, total)
    assert 0 < brushed < total
    expect(page.locator(".selection-count")).to_contain_text("selected")


def test_switching_version_updates_the_header(page: Page, dashboard_url: str) -> None:
    open_dashboard(page, dashboard_url)
    expect(page.locator(".header-title")).to_contain_text("v1 · production")
    page.locator(".version-picker").get_by_role("combobox").click()
    page.get_by_role("menuitem", name=re.compile(r"^v2\b")).click()
    # A switch loads the other version and rebuilds every view before the page is patched.
    expect(page.locator(".header-title")).to_contain_text("v2 · candidate", timeout=2 * UPDATE_MS)
    expect(page.locator(".model-info")).to_contain_text("Segments (k)5", timeout=UPDATE_MS)


def test_export_downloads_the_filtered_customers(
    page: Page, dashboard_url: str, production: Any, trained_store: Any
) -> None:
    open_dashboard(page, dashboard_url)
    expected = pick_segment(page, production.names("en")[1], before=table_rows(page))
    with page.expect_download(timeout=UPDATE_MS) as download:
        page.locator(".export-rows").get_by_role("button").click()
    exported = pd.read_csv(download.value.path())
    assert len(exported) == expected
    assert set(exported["segment"]) == {1}
    assert set(exported["segment_name"]) == {production.names("en")[1]}
    assert exported["customer_id"].is_unique
    assert list(exported.columns[:3]) == ["customer_id", "segment", "segment_name"]


def test_french_browser_gets_the_french_interface(browser: Browser, dashboard_url: str, production: Any) -> None:
    context = browser.new_context(viewport=VIEWPORT, locale="fr-FR")
    try:
        page = context.new_page()
        open_dashboard(page, dashboard_url)
        expect(page.locator(".rows-count")).to_contain_text("clients")
        for name in production.names("fr").values():
            expect(page.locator(".kpis").get_by_text(name, exact=True)).to_be_visible()
    finally:
        context.close()
