"""The Explore tab's plots in a real browser: tick labels as drawn, the map's toolbar and its tooltip.

Bokeh draws axes on a canvas: the labels are read from Bokeh's own axis views in the page
(``compute_labels`` on the ticks the axis draws), i.e. what the canvas shows, after formatters and
overrides. The conftest's app (generated shipments, no net refunder among its customers' 1st–99th
percentiles) serves the toolbar, tooltip and language tests; a second app on the same generated
customers with one in twelve turned into net refunders serves the signed (asinh) revenue axis.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import FIRST_LOAD_MS, UPDATE_MS, VIEWPORT, open_dashboard, served_dashboard

pytestmark = [
    # The served apps run in this process, so ``filterwarnings = error`` reaches the server thread.
    # Bokeh warns when a browser patch names a model the server document already holds (a picker's
    # change while the page rebuilds); the patch is applied all the same.
    pytest.mark.filterwarnings("ignore:reference already known:bokeh.util.warnings.BokehUserWarning"),
]

NNBSP = "\u202f"
MINUS = "\u2212"

#: The labels each axis of the plot whose Bokeh model has the CSS class ``cls`` draws (Panel gives a
#: figure the classes of its pane: ``projection`` for the map), as
#: ``[{"dimension": 0 (x) or 1 (y), "labels": [...]}, ...]``.
AXIS_LABELS_JS = """(cls) => {
  const found = []
  const seen = new Set()
  const walk = (view) => {
    if (view == null || seen.has(view)) { return }
    seen.add(view)
    if (view.axis_views !== undefined && (view.model.css_classes ?? []).includes(cls)) {
      for (const axis of view.axis_views) {
        const ticks = axis.tick_coords.major[axis.dimension]
        const labels = [...axis.compute_labels(ticks).items].map((label) => label.text ?? `${label}`)
        found.push({dimension: axis.dimension, labels})
      }
    }
    for (const child of view.children_views?.() ?? []) { walk(child) }
  }
  for (const root of Bokeh.index) { walk(root) }
  return found
}"""

#: The map's plotting area in page coordinates.
MAP_FRAME_JS = """() => {
  const seen = new Set()
  let frame = null
  const walk = (view) => {
    if (view == null || seen.has(view) || frame != null) { return }
    seen.add(view)
    if (view.frame !== undefined && (view.model.css_classes ?? []).includes("projection")) {
      const page = view.el.getBoundingClientRect()
      const box = view.frame.bbox
      frame = {x: page.left + box.left, y: page.top + box.top, width: box.width, height: box.height}
      return
    }
    for (const child of view.children_views?.() ?? []) { walk(child) }
  }
  for (const root of Bokeh.index) { walk(root) }
  return frame
}"""


#: The text of an element, its shadow roots included (Bokeh renders tooltips in shadow DOM, which
#: ``inner_text`` does not enter).
DEEP_TEXT_JS = """(element) => {
  const text = (node) => (node.shadowRoot ? text(node.shadowRoot) : "") +
    [...node.childNodes].map((child) => child.nodeType === 3 ? child.textContent : text(child)).join("")
  return text(element)
}"""


def axis_labels(page: Page, cls: str, dimension: int) -> list[str]:
    """The tick labels drawn on the x (0) or y (1) axis of the plot of CSS class ``cls`` (empty until drawn)."""
    return [
        label
        for axis in page.evaluate(AXIS_LABELS_JS, cls)
        if axis["dimension"] == dimension
        for label in axis["labels"]
    ]


def wait_labels(page: Page, cls: str, dimension: int, accept: Any) -> list[str]:
    """The plot's tick labels once ``accept(labels)`` holds (bounded by UPDATE_MS); fails otherwise."""
    labels: list[str] = []
    for _ in range(UPDATE_MS // 250):
        labels = axis_labels(page, cls, dimension)
        if labels and accept(labels):
            return labels
        page.wait_for_timeout(250)
    pytest.fail(f"{cls} axis {dimension}: labels {labels} never matched")


def map_frame(page: Page) -> dict[str, float]:
    """The map's plotting area in page coordinates, once drawn (bounded by UPDATE_MS)."""
    for _ in range(UPDATE_MS // 250):
        frame = page.evaluate(MAP_FRAME_JS)
        if frame and frame["width"] > 0:
            return frame
        page.wait_for_timeout(250)
    pytest.fail("the map was not drawn")


def is_number(label: str, lang: str) -> bool:
    """A tick label written in ``lang``: French has decimal commas and narrow-space thousands; both a true minus."""
    if lang == "fr":
        return re.fullmatch(rf"{MINUS}?\d{{1,3}}({NNBSP}\d{{3}})*(,\d+)?({NNBSP}[kM])?({NNBSP}%)?", label) is not None
    return re.fullmatch(rf"{MINUS}?\d{{1,3}}(,\d{{3}})*(\.\d+)?[kM]?%?", label) is not None


# --- the conftest's app ------------------------------------------------------------------------------


def open_explore(page: Page, url: str) -> None:
    """Open the page and bring the map and the distribution charts into the window."""
    open_dashboard(page, url)
    expect(page.locator(".distribution-monetary canvas").first).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(page.locator(".projection canvas").first).to_be_visible(timeout=FIRST_LOAD_MS)
    page.locator(".projection").first.scroll_into_view_if_needed()


def test_the_map_toolbar_has_only_the_analyst_tools(page: Page, dashboard_url: str, console_errors: list[str]) -> None:
    open_explore(page, dashboard_url)
    toolbar = page.locator(".projection .bk-Toolbar")
    expect(toolbar).to_have_count(1, timeout=UPDATE_MS)
    expect(toolbar.locator("[title]")).to_have_count(5, timeout=UPDATE_MS)
    titles = [toolbar.locator("[title]").nth(i).get_attribute("title") for i in range(5)]
    assert sorted(titles) == ["Box Select", "Lasso Select", "Pan", "Reset", "Wheel Zoom"]
    # No Bokeh logo (a link to bokeh.org) on any plot of the tab, the heatmap and the charts included.
    expect(page.locator(".segment-heatmap canvas").first).to_be_visible(timeout=UPDATE_MS)
    expect(page.locator(".bk-logo")).to_have_count(0)
    expect(page.locator("a[href*='bokeh.org']")).to_have_count(0)
    page.wait_for_timeout(500)
    assert console_errors == []


def test_hovering_the_map_names_customers_or_counts_them(
    page: Page, dashboard_url: str, console_errors: list[str]
) -> None:
    open_explore(page, dashboard_url)
    frame = map_frame(page)
    tooltip = page.locator(".bk-Tooltip").filter(has_text=re.compile(r"\d customers here|Customer \S+ · "))
    # From the centre of the map outwards (the customers' mean is at the origin of the PCA) until a
    # tooltip answers: a bounded number of positions, each given a second for the server's answer.
    offsets = [(0, 0)] + [
        (dx, dy) for r in (1, 2, 3) for dx in (-r, 0, r) for dy in (-r, 0, r) if max(abs(dx), abs(dy)) == r
    ]
    found = False
    for dx, dy in offsets:
        x = frame["x"] + frame["width"] * (0.5 + 0.12 * dx)
        y = frame["y"] + frame["height"] * (0.5 + 0.12 * dy)
        page.mouse.move(x, y)
        page.wait_for_timeout(150)
        page.mouse.move(x + 1, y)  # the tooltip shows the server's answer from the next move on
        try:
            expect(tooltip.first).to_be_visible(timeout=1000)
        except AssertionError:
            page.mouse.move(x + 2, y)
            if not tooltip.first.is_visible():
                continue
        found = True
        break
    assert found, "no tooltip anywhere on the map"
    text = tooltip.first.evaluate(DEEP_TEXT_JS)
    # A count by segment, or named customers with their features in real units.
    assert re.search(r"customers here|Revenue: |Shipments: ", text), text
    page.mouse.move(5, 5)
    page.wait_for_timeout(500)
    assert console_errors == []


def test_ticks_follow_the_language_after_a_toggle(page: Page, dashboard_url: str, console_errors: list[str]) -> None:
    open_explore(page, dashboard_url)
    english = wait_labels(page, "distribution-monetary", 0, lambda labels: any("k" in label for label in labels))
    assert all(is_number(label, "en") for label in english), english
    assert "1k" in english
    page.locator(".language-picker").get_by_role("button", name="Français").click()
    # The charts are rebuilt in French: "1 k" (narrow no-break space), counts with narrow-space thousands.
    french = wait_labels(page, "distribution-monetary", 0, lambda labels: f"1{NNBSP}k" in labels)
    assert all(is_number(label, "fr") for label in french), french
    counts = wait_labels(page, "distribution-monetary", 1, lambda labels: len(labels) > 1)
    assert all(is_number(label, "fr") for label in counts), counts
    # The map's ticks come from the browser as it zooms: zoomed in, they have decimals, with commas.
    map_labels = wait_labels(page, "projection", 0, lambda labels: len(labels) > 1)
    assert all(is_number(label, "fr") for label in map_labels), map_labels
    page.locator(".projection").first.scroll_into_view_if_needed()  # the French page was built anew
    frame = map_frame(page)
    page.mouse.move(frame["x"] + frame["width"] / 2, frame["y"] + frame["height"] / 2)
    for _ in range(12):
        page.mouse.wheel(0, -400)
        page.wait_for_timeout(100)
    zoomed = wait_labels(page, "projection", 0, lambda labels: any("," in label for label in labels))
    assert all(is_number(label, "fr") for label in zoomed), zoomed
    assert not any("." in label for label in zoomed), zoomed
    page.wait_for_timeout(500)
    assert console_errors == []


# --- customers with net refunds: the signed (asinh) axis ----------------------------------------------


@pytest.fixture(scope="module")
def refunds_url(trained_store: Any) -> Iterator[str]:
    """The dashboard on generated customers, one in twelve a net refunder, served in-process."""
    from dashboard.testing import FakeRegistry, fit_model
    from workflow.features import build_features
    from workflow.synth import generate_shipments

    shipments, _ = generate_shipments(600, 12, seed=3)
    features = build_features(shipments)
    features.loc[features.index[::12], ["monetary", "avg_amount"]] *= -1
    registry = FakeRegistry()
    registry.add(fit_model(features, 3, data_path="refunds"), aliases=["production"])

    def loader(*_options: str) -> Any:
        return features

    with served_dashboard(loader=registry.load, lister=registry.list, features_loader=loader) as url:
        yield url


@pytest.mark.parametrize(("locale", "lang", "thousand"), [("en-US", "en", "1k"), ("fr-FR", "fr", f"1{NNBSP}k")])
def test_the_revenue_axis_shows_refunds_and_purchases_in_real_units(
    browser: Browser, refunds_url: str, locale: str, lang: str, thousand: str
) -> None:
    context = browser.new_context(viewport=VIEWPORT, locale=locale)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    try:
        open_explore(page, refunds_url)
        labels = wait_labels(page, "distribution-monetary", 0, lambda labels: len(labels) > 2)
        assert any(label.startswith(MINUS) for label in labels), labels  # a true minus, as the page writes
        assert "0" in labels
        assert thousand in labels
        assert all(is_number(label, lang) for label in labels), labels
        page.wait_for_timeout(500)
        assert errors == []
    finally:
        context.close()
