"""The page as an analyst reads it at 1280×800 (and 1920×1080): the segment profiles in real units in
English and French, a customer table that fills the window without sideways scrolling, one picker entry
per version, the model card's plain words, and a clean console on every tab.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from dashboard.i18n import fmt_pct
from tests.browser.conftest import (
    FIRST_LOAD_MS,
    UPDATE_MS,
    VIEWPORT,
    open_dashboard,
    served_dashboard,
    wait_rows_change,
)

pytestmark = [
    # The served app runs in this process, so ``filterwarnings = error`` reaches the server thread.
    # Bokeh warns when a browser patch names a model the server document already holds (a picker's
    # change while the page rebuilds); the patch is applied all the same.
    pytest.mark.filterwarnings("ignore:reference already known:bokeh.util.warnings.BokehUserWarning"),
]

NNBSP = "\u202f"
#: The page at 1920×1080, for the table's page size.
LARGE = {"width": 1920, "height": 1080}
#: Height of the app bar over the page (px).
APP_BAR = 64


@pytest.fixture(scope="module")
def production(trained_store: Any) -> Any:
    """The production model as ``workflow.tracking`` loads it (the page must show the same)."""
    from workflow import tracking

    return tracking.load_segment_model("production")


@pytest.fixture(scope="module")
def overall_late_rate(trained_store: Any) -> float:
    """Share of late shipments over all customers (the mean of their rates), from the training file."""
    from workflow.data import read_shipments
    from workflow.features import build_features

    return float(build_features(read_shipments(trained_store.data)[0])["late_rate"].mean())


def fits(page: Page, selector: str) -> tuple[int, int]:
    """``(scrollWidth, clientWidth)`` of the first element matching ``selector`` (shadow roots pierced)."""
    return tuple(page.locator(selector).first.evaluate("e => [e.scrollWidth, e.clientWidth]"))


def table_geometry(page: Page) -> dict[str, float]:
    """The customer table's rows on the page, their height, its scroll holder's height and its host's box."""
    holder = page.locator(".customer-table .tabulator-tableholder").first
    rows = page.locator(".customer-table .tabulator-row")
    return {
        "rows": rows.count(),
        "row_height": rows.first.bounding_box()["height"],
        "holder": holder.evaluate("e => e.clientHeight"),
        # The whole card: title, search, filters, column picker, table and pager.
        "card_height": page.locator(".customer-card").first.bounding_box()["height"],
    }


def wait_page_size_settled(page: Page) -> dict[str, float]:
    """Wait (bounded) until the table holds as many rows as fit its height; return its geometry.

    The first page has ``FIRST_PAGE_ROWS`` rows; the browser then measures its rows and asks for
    as many as fit, which the server sends.
    """
    holder = page.locator(".customer-table .tabulator-tableholder").first
    expect(holder).to_be_visible(timeout=UPDATE_MS)
    page.wait_for_function(
        """(holder) => {
            const rows = holder.querySelectorAll('.tabulator-row');
            if (!rows.length) return false;
            const fit = Math.floor(holder.clientHeight / rows[0].getBoundingClientRect().height);
            return rows.length === fit;
        }""",
        arg=holder.element_handle(),
        timeout=UPDATE_MS,
    )
    return table_geometry(page)


def test_profile_table_shows_facts_in_real_units_in_english_and_french(
    page: Page, dashboard_url: str, production: Any, overall_late_rate: float, console_errors: list[str]
) -> None:
    open_dashboard(page, dashboard_url)
    profiles = page.locator(".segment-profiles")
    expect(profiles).to_be_visible(timeout=UPDATE_MS)
    expect(profiles).to_contain_text("Segment profiles")
    expect(profiles).to_contain_text("All customers")
    # Every segment by name (a set-aside group nobody falls in has no column).
    for segment in range(production.k):
        expect(profiles.get_by_text(production.names("en")[segment], exact=True)).to_be_visible()
    # A carrier's fact in its unit beside the overall value: the late rate, a percentage.
    late = profiles.locator("tr.feature-late_rate")
    expect(late).to_contain_text("Late rate")
    expect(late.locator("td.overall")).to_have_text(fmt_pct(overall_late_rate, "en"))
    expect(late).to_contain_text(re.compile(r"\d+\.\d%"))
    expect(profiles.locator("tr.feature-monetary")).to_contain_text("€")
    expect(profiles).to_contain_text("median")
    # A value well above or below the rest is said in words, not only tinted.
    marked = profiles.locator("td.high, td.low")
    expect(marked.first).to_be_visible()
    expect(marked.first).to_have_attribute("title", re.compile(r"well (above|below) all customers"))
    expect(page.locator(".kpi-period")).to_contain_text(re.compile(r"Revenue and shipments, \d+ \w+ \d{4} – "))

    page.locator(".language-picker").get_by_role("button", name="Français").click()
    expect(profiles).to_contain_text("Profils des segments", timeout=UPDATE_MS)
    expect(profiles).to_contain_text("Tous les clients")
    expect(late.locator("td.overall")).to_have_text(fmt_pct(overall_late_rate, "fr"))
    expect(late).to_contain_text(re.compile(rf"\d+,\d{NNBSP}%"))
    expect(profiles).to_contain_text("médiane")
    for segment in range(production.k):
        expect(profiles.get_by_text(production.names("fr")[segment], exact=True)).to_be_visible()
    expect(page.locator(".kpi-period")).to_contain_text("Chiffre d'affaires et envois, du ")
    page.wait_for_timeout(1000)  # late renders report their errors after the expectations
    assert console_errors == [], "\n".join(console_errors)


def test_nothing_scrolls_sideways_at_1280(page: Page, dashboard_url: str) -> None:
    open_dashboard(page, dashboard_url)
    expect(page.locator(".segment-profiles .profile-table")).to_be_visible(timeout=UPDATE_MS)
    wait_page_size_settled(page)
    scroll, client = fits(page, ".customer-table .tabulator-tableholder")
    assert scroll <= client, f"the customer table scrolls sideways: {scroll} > {client} px"
    table = page.locator(".segment-profiles .profile-table").first
    width, holder = table.evaluate("e => [e.scrollWidth, e.parentElement.clientWidth]")
    assert width <= holder, f"the profile table is wider than its card: {width} > {holder} px"
    scroll, client = fits(page, ".model-info")
    assert scroll <= client, "the model card overflows the sidebar"
    assert page.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def test_the_table_page_fills_the_window(page: Page, browser: Browser, dashboard_url: str) -> None:
    open_dashboard(page, dashboard_url)
    small = wait_page_size_settled(page)
    # As many rows as fit the table (no row cut, no room for another), and the whole card within
    # the window below the app bar, yet taking most of it.
    assert small["rows"] * small["row_height"] <= small["holder"] + 1
    assert (small["rows"] + 1) * small["row_height"] > small["holder"] - 1
    assert VIEWPORT["height"] * 0.75 <= small["card_height"] <= VIEWPORT["height"] - APP_BAR
    context = browser.new_context(viewport=LARGE, locale="en-US")
    try:
        large_page = context.new_page()
        open_dashboard(large_page, dashboard_url)
        large = wait_page_size_settled(large_page)
        assert large["rows"] >= small["rows"] + 7  # 280 px more of window: 36 px rows
        assert LARGE["height"] * 0.75 <= large["card_height"] <= LARGE["height"] - APP_BAR
        assert large["rows"] * large["row_height"] <= large["holder"] + 1
        scroll, client = fits(large_page, ".customer-table .tabulator-tableholder")
        assert scroll <= client
    finally:
        context.close()


def test_one_customer_and_no_customer(page: Page, dashboard_url: str) -> None:
    open_dashboard(page, dashboard_url)
    total = int(page.locator(".rows-count").get_attribute("data-rows"))
    search = page.locator(".search input")
    first_row = page.locator(".customer-table .tabulator-row").first
    first_id = first_row.locator('.tabulator-cell[tabulator-field="customer_id"]').inner_text()
    search.fill(first_id)
    search.press("Enter")
    if wait_rows_change(page, total) == 1:
        expect(page.locator(".rows-count")).to_have_text("1 customer")
    search.fill("no such customer id")
    search.press("Enter")
    wait_rows_change(page, 1)
    expect(page.locator(".rows-count")).to_contain_text("No customer matches these filters")
    expect(page.locator(".export-rows button")).to_be_disabled(timeout=UPDATE_MS)


def test_version_picker_lists_each_version_once(page: Page, dashboard_url: str, production: Any) -> None:
    open_dashboard(page, dashboard_url)
    picker = page.locator(".version-picker")
    expect(picker).to_contain_text(f"v{production.version} — production")
    picker.get_by_role("combobox").click()
    items = page.get_by_role("menuitem")
    expect(items).to_have_count(2)  # versions 1 and 2, whatever their aliases
    expect(items.filter(has_text="production")).to_have_count(1)
    page.keyboard.press("Escape")


def test_model_card_says_plain_facts_first(page: Page, dashboard_url: str, production: Any) -> None:
    open_dashboard(page, dashboard_url)
    card = page.locator(".model-info")
    expect(card).to_contain_text("Period")
    plain, details = card.locator("table.model-card").nth(0), card.locator("table.model-card").nth(1)
    for fact in ("Version", "Segments", "Customers", "Period", "Trained"):
        expect(plain).to_contain_text(fact)
    for fact in ("Silhouette", "Stability", "Why this k", "Data digest"):
        expect(details).to_contain_text(fact)
        expect(plain).not_to_contain_text(fact)
    heading = card.locator("h4.details")
    expect(heading).to_have_text("Details")
    tops = [part.bounding_box()["y"] for part in (plain, heading, details)]
    assert tops == sorted(tops), "plain facts, then the Details heading, then the numbers"
    # The training file by name, its full path on hover.
    expect(card.locator(".file").first).to_have_attribute("title", str(production.data_path))


def test_every_tab_is_clean_in_the_console(page: Page, dashboard_url: str, console_errors: list[str]) -> None:
    seen: list[str] = []

    def step(name: str) -> None:
        page.wait_for_timeout(1500)  # let the step's views render and report their errors
        seen.extend(f"{name}: {error}" for error in console_errors[len(seen) :])

    page.goto(dashboard_url, timeout=FIRST_LOAD_MS)
    expect(page.locator(".segment-profiles")).to_be_visible(timeout=FIRST_LOAD_MS)
    step("load")
    for tab, body in (("Compare versions", ".compare-tab"), ("Drift", ".drift-tab"), ("Explore", ".customer-table")):
        page.get_by_role("tab", name=tab).click()
        expect(page.locator(body).first).to_be_visible(timeout=UPDATE_MS)
        step(tab)
    assert seen == [], "\n".join(seen)


def test_no_blank_band_under_the_heatmap(page: Page, dashboard_url: str) -> None:
    # The heatmap's placeholder was 50 px taller than the plot: a blank band above its caption.
    from dashboard.i18n import t

    open_dashboard(page, dashboard_url)
    heatmap = page.locator(".segment-heatmap").first
    heatmap.scroll_into_view_if_needed(timeout=UPDATE_MS)
    expect(heatmap.locator("canvas").first).to_be_visible(timeout=UPDATE_MS)
    caption = page.get_by_text(t("heatmap_help", "en"))
    plot_bottom = heatmap.bounding_box()["y"] + heatmap.bounding_box()["height"]
    gap = caption.bounding_box()["y"] - plot_bottom
    assert 0 <= gap <= 16, f"{gap:.0f} px between the heatmap and its caption"


# --- many segments: the profiles stay readable ---------------------------------------------------------

#: Line breaks inside a word of each element's text, as the browser laid it out: a break not after a
#: space, a hyphen or a soft hyphen ("internatio|naux", not "relay-|point").
MID_WORD_BREAKS_JS = """
(elements) => elements.flatMap((element) => {
  const text = element.textContent, node = element.firstChild, breaks = [];
  if (!node || node.nodeType !== Node.TEXT_NODE) return breaks;
  const range = document.createRange();
  let top = null;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === " " || text[i] === "\\u00ad") continue;
    range.setStart(node, i); range.setEnd(node, i + 1);
    // The last box: the first letter after a soft-hyphen break also gets one for the hyphen shown
    // at the end of the line before.
    const boxes = range.getClientRects(), rect = boxes[boxes.length - 1];
    if (top !== null && rect.top > top + 2 && i > 0 && !" -\\u00ad".includes(text[i - 1])) {
      breaks.push(text.slice(Math.max(0, i - 6), i) + "|" + text.slice(i, i + 6));
    }
    top = rect.top;
  }
  return breaks;
})
"""


@pytest.fixture(scope="module")
def eight_segments_url(trained_store: Any) -> Iterator[str]:
    """The dashboard on a k=8 model of generated customers (the most segments the k rule gives)."""
    from dashboard.testing import FakeRegistry, fit_model
    from workflow.features import build_features
    from workflow.synth import generate_shipments

    features = build_features(generate_shipments(1200, 12, seed=4)[0])
    registry = FakeRegistry()
    registry.add(fit_model(features, 8, data_path="eight"), aliases=["production"])
    with served_dashboard(loader=registry.load, lister=registry.list, features_loader=lambda *_: features) as url:
        yield url


@pytest.mark.parametrize("locale", ["en-US", "fr-FR"])
def test_eight_segments_keep_whole_words_and_list_their_sentences(
    browser: Browser, eight_segments_url: str, locale: str
) -> None:
    context = browser.new_context(viewport=VIEWPORT, locale=locale)
    page = context.new_page()
    try:
        open_dashboard(page, eight_segments_url)
        table = page.locator(".segment-profiles .profile-table.crowded")
        expect(table).to_be_visible(timeout=UPDATE_MS)
        assert page.locator(".segment-profiles tr.sentence").count() == 0
        expect(page.locator(".segment-profiles dl.sentences .item")).to_have_count(8)
        names = page.locator(".segment-profiles .profile-table thead th .name")
        assert names.evaluate_all(MID_WORD_BREAKS_JS) == []
        # Values keep their arrow on their line ("−64,68 £ ▼", not the arrow under the number).
        wrapped = page.locator(".segment-profiles .profile-table tbody td").evaluate_all(
            """cells => cells.filter((cell) => {
                const arrow = cell.querySelector('.arrow'), range = document.createRange();
                if (!arrow || !cell.firstChild) return false;
                range.selectNodeContents(cell.firstChild);
                return Math.abs(arrow.getBoundingClientRect().bottom - range.getBoundingClientRect().bottom) > 4;
            }).map((cell) => cell.textContent)"""
        )
        assert wrapped == []
        width, holder = table.evaluate("e => [e.scrollWidth, e.parentElement.clientWidth]")
        assert width <= holder, f"the profile table is wider than its card: {width} > {holder} px"
        # The deferred plots drawn before the page closes: a page closed mid-update leaves the server
        # sends it never makes, which pytest reports in whichever test comes next.
        expect(page.locator(".projection canvas").first).to_be_visible(timeout=UPDATE_MS)
        expect(page.locator(".segment-heatmap canvas").first).to_be_attached(timeout=UPDATE_MS)
    finally:
        context.close()
