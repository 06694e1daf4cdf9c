"""The Explore tab's plots: asinh distribution axes, tick labels in the page's language, the map's
axis titles, tooltip and toolbar (no browser, no MLflow; the browser side is tests/browser/test_plots.py)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import pytest
from bokeh.events import SelectionGeometry
from bokeh.models import (
    BoxSelectTool,
    CustomJSTickFormatter,
    HoverTool,
    LassoSelectTool,
    PanTool,
    ResetTool,
    WheelZoomTool,
)

from dashboard import analysis, linked_views
from dashboard.app import warm_up
from dashboard.scoring import HistogramBins, Scored
from dashboard.store import DataStore
from dashboard.testing import FakeRegistry, fit_model
from workflow.features import build_features
from workflow.synth import generate_shipments

NNBSP = "\u202f"
MINUS = "\u2212"

# --- asinh bins, ticks and brush, hand-computed ---------------------------------------------------


def test_asinh_bins_have_zero_as_an_edge_and_follow_asinh() -> None:
    # 101 values: the 1st and 99th percentiles are the 2nd and 100th sorted values exactly
    # (np.quantile's positions 1.0 and 99.0): -sinh(1) and sinh(3). |x| has its 10th percentile
    # between 1 and 10, so the asinh width is 1: the axis runs from asinh(-sinh 1) = -1 to 3.
    low, high = -math.sinh(1.0), math.sinh(3.0)
    values = np.concatenate([[-100.0, low], np.linspace(1.0, 10.0, 97), [high, 1000.0]])
    axis = analysis.histogram_axis(values, share=False, skewed=True, n_bins=4)
    assert axis.scale == analysis.ASINH
    assert axis.width == 1.0
    # The negative side is 1/4 of the axis: one bar; the positive side three, evenly in asinh.
    expected = [low, 0.0, math.sinh(1.0), math.sinh(2.0), high]
    assert axis.edges.tolist() == pytest.approx(expected, rel=1e-12)
    assert analysis.to_axis(axis.edges, analysis.ASINH, 1.0).tolist() == pytest.approx([-1, 0, 1, 2, 3])


def test_asinh_width_is_a_power_of_ten_that_leaves_room_for_the_small_side() -> None:
    # |x| has its 10th percentile at 150: width 100, and on [-10, 10,000] the negative side would be
    # asinh(0.1) / (asinh(0.1) + asinh(100)) = 2 % of the axis; 10 gives 12 %, 1 gives 36 % (≥ 20 %).
    values = np.concatenate([np.full(10, 150.0), np.full(90, 1000.0)])
    assert analysis.asinh_width(values, 10.0, 10_000.0) == 100.0
    assert analysis.asinh_width(values, -10.0, 10_000.0) == 1.0
    assert analysis.asinh_width(np.zeros(5), -1.0, 1.0) == 1.0  # no magnitude to go by


def test_scales_of_the_distribution_charts() -> None:
    positive = np.geomspace(1.0, 10_000.0, 200)
    assert analysis.histogram_axis(positive, share=False, skewed=True).scale == analysis.LOG
    signed = np.concatenate([-positive[:20], positive])
    assert analysis.histogram_axis(signed, share=False, skewed=True).scale == analysis.ASINH
    # A feature the product does not know: heavy tails are read from the data.
    assert analysis.histogram_axis(signed, share=False, skewed=False).scale == analysis.ASINH
    normal = np.random.default_rng(0).normal(size=2000)
    assert analysis.histogram_axis(normal, share=False, skewed=False).scale == analysis.LINEAR
    assert analysis.histogram_axis(normal, share=True, skewed=False).edges.tolist() == pytest.approx(
        np.linspace(0, 1, analysis.HIST_BINS + 1).tolist()
    )
    # The old contract holds: (edges, log) with asinh edges not logarithmic.
    edges, log = analysis.histogram_edges(signed, share=False, skewed=True)
    assert not log
    assert edges[0] < 0 < edges[-1]


def test_brushed_positions_map_back_to_real_values() -> None:
    # asinh(x / 100) at x = -100 is asinh(-1) = -0.8814, at 1,000 asinh(10) = 2.9982.
    assert analysis.from_axis(math.asinh(-1.0), analysis.ASINH, 100.0) == -100.0
    assert analysis.from_axis(math.asinh(10.0), analysis.ASINH, 100.0) == 1000.0
    assert analysis.from_axis(0.0, analysis.ASINH, 100.0) == 0.0
    assert analysis.from_axis(2.0, analysis.LOG) == 100.0
    assert analysis.from_axis(0.123456789, analysis.LINEAR) == 0.123457  # six significant digits
    values = np.array([-250.0, -3.5, 0.0, 42.0, 12_345.0])
    back = [analysis.from_axis(u, analysis.ASINH, 10.0) for u in analysis.to_axis(values, analysis.ASINH, 10.0)]
    assert back == values.tolist()


@pytest.mark.parametrize(
    ("low", "high", "scale", "width", "expected"),
    [
        # Revenue on the UCI retail data: 1st percentile -£129, 99th £19,444, width 10.
        (-128.96, 19_444.48, analysis.ASINH, 10.0, [-100, 0, 100, 1000, 10_000]),
        # Average price: no -100 within the axis; -50 is the round value left of 0.
        (-69.71, 1534.14, analysis.ASINH, 10.0, [-50, 0, 100, 1000]),
        (1.0, 36.36, analysis.LOG, 1.0, [1, 2, 5, 10, 20]),
        (0.0, 1.0, analysis.LINEAR, 1.0, [0, 0.25, 0.5, 0.75, 1]),
    ],
)
def test_axis_ticks_hand_checked(low: float, high: float, scale: str, width: float, expected: list[float]) -> None:
    ticks = analysis.axis_ticks(low, high, scale, width, max_ticks=5)
    assert ticks == pytest.approx(expected)


@pytest.mark.parametrize("scale", [analysis.ASINH, analysis.LOG])
@pytest.mark.parametrize(("low", "high"), [(-5e4, 3e6), (-0.7, 12.0), (2.0, 9e5), (-3e3, -1.0)])
def test_axis_ticks_are_inside_and_apart(scale: str, low: float, high: float) -> None:
    if scale == analysis.LOG and low <= 0:
        return
    width = 1.0
    ticks = analysis.axis_ticks(low, high, scale, width)
    assert ticks == sorted(ticks)
    assert all(low <= tick <= high for tick in ticks)
    positions = analysis.to_axis(np.array(ticks), scale, width)
    span = float(np.diff(analysis.to_axis(np.array([low, high]), scale, width))[0])
    assert np.all(np.diff(positions) >= 0.16 * span - 1e-9)
    assert len(ticks) >= 2


@pytest.mark.parametrize(
    ("value", "lang", "text"),
    [
        (-1000.0, "en", f"{MINUS}1k"),
        (-1000.0, "fr", f"{MINUS}1{NNBSP}k"),
        (2500.0, "en", "2.5k"),
        (2500.0, "fr", f"2,5{NNBSP}k"),
        (10_000.0, "fr", f"10{NNBSP}k"),
        (3e6, "en", "3M"),
        (-100.0, "fr", f"{MINUS}100"),
        (0.25, "fr", "0,25"),
        (0.0, "en", "0"),
    ],
)
def test_tick_labels_in_the_interface_language(value: float, lang: str, text: str) -> None:
    assert linked_views.tick_label(value, lang) == text


def test_share_ticks_are_percentages() -> None:
    assert linked_views.tick_label(0.25, "en", percent=True) == "25%"
    assert linked_views.tick_label(0.25, "fr", percent=True) == f"25{NNBSP}%"


def test_a_chart_is_drawn_in_asinh_and_labelled_in_real_units() -> None:
    # Width 10: x is drawn at asinh(x / 10). The axis from -200 (asinh(-20) = -3.69) to 5,000 (6.91)
    # gets ticks -100, 0, 100, 1,000 (10 would be 1.0 from 0, under 0.16 × 10.6 = 1.7).
    edges = np.array([-200.0, 0.0, 100.0, 5000.0])
    bins = HistogramBins("monetary", edges, analysis.ASINH, np.zeros(3, dtype=np.int8), 1, 10.0)
    assert linked_views.chart_x(bins, edges).tolist() == pytest.approx(
        [math.asinh(-20.0), 0.0, math.asinh(10.0), math.asinh(500.0)]
    )
    positions, labels = zip(*linked_views.x_ticks(bins, "fr"), strict=True)
    assert labels == (f"{MINUS}100", "0", "100", f"1{NNBSP}k")
    assert positions == pytest.approx([math.asinh(-10.0), 0.0, math.asinh(10.0), math.asinh(100.0)])
    assert linked_views.chart_value(bins, math.asinh(-10.0)) == -100.0
    log_bins = HistogramBins("frequency", np.array([1.0, 10.0]), analysis.LOG, np.zeros(1, dtype=np.int8), 1)
    assert linked_views.chart_value(log_bins, 12.0) == 12.0  # Bokeh's log axis reports real values


# --- the views on a model of customers with net refunds -------------------------------------------


@pytest.fixture(scope="module")
def refunds() -> pd.DataFrame:
    """Customers of generated shipments, 1 in 12 turned into net refunders (negative money)."""
    shipments, _ = generate_shipments(300, 12, seed=2)
    features = build_features(shipments)
    refunders = features.index[::12]
    features.loc[refunders, ["monetary", "avg_amount"]] *= -1
    return features


@pytest.fixture(scope="module")
def registry(refunds: pd.DataFrame) -> FakeRegistry:
    registry = FakeRegistry()
    registry.add(fit_model(refunds, 3, data_path="refunds"), aliases=["production"])
    return registry


@pytest.fixture(autouse=True)
def _extensions() -> None:
    pn.extension()
    hv.extension("bokeh")


def make_store(registry: FakeRegistry, refunds: pd.DataFrame, lang: str = "en") -> DataStore:
    return DataStore(
        loader=registry.load, lister=registry.list, uri=lambda: "x", features_loader=lambda *_: refunds, lang=lang
    )


def test_the_revenue_chart_has_negative_and_positive_ticks(registry: FakeRegistry, refunds: pd.DataFrame) -> None:
    for lang, thousand in (("en", "1k"), ("fr", f"1{NNBSP}k")):
        store = make_store(registry, refunds, lang)
        chart = linked_views.DistributionChart(store.histogram("monetary"), store, lang)
        labels = list(chart.figure.xaxis[0].major_label_overrides.values())
        assert f"{MINUS}100" in labels
        assert thousand in labels
        assert "(log ±)" in chart.figure.xaxis[0].axis_label
        # The bars are drawn where the ticks say: the bar holding 0 starts at asinh(0) = 0.
        assert 0.0 in chart.bars.data["left"].tolist()


def test_brushing_an_asinh_chart_selects_the_real_range(registry: FakeRegistry, refunds: pd.DataFrame) -> None:
    store = make_store(registry, refunds)
    bins = store.histogram("monetary")
    assert bins.scale == analysis.ASINH
    chart = linked_views.DistributionChart(bins, store, "en")
    # A brush drawn from the position of -100 to that of 1,000 on the chart (right to left).
    x0, x1 = (math.asinh(value / bins.width) for value in (1000.0, -100.0))
    geometry = {"type": "rect", "x0": x0, "x1": x1, "y0": 0.0, "y1": 1.0}
    chart._brushed(SelectionGeometry(chart.figure, geometry=geometry, final=True))
    monetary = store.customers["monetary"]
    expected = monetary.between(-100.0, 1000.0)
    assert 0 < expected.sum() < len(monetary)
    assert expected[monetary < 0].any()  # refunders inside the brush
    assert store.selected.tolist() == expected.tolist()
    label = store.filters()[0][2]
    assert label == f"Revenue (€): {MINUS}100–1,000"


def test_map_axis_titles_in_both_languages() -> None:
    features = ["monetary", "frequency", "recency_days", "avg_amount"]
    weights = np.array([0.6, -0.6, 0.5, 0.1732])  # squares 0.36 + 0.36 ≥ 0.6: two features
    units = {"currency": "GBP", "orders": True}
    assert linked_views.map_axis_title(1, weights, features, "en", **units) == (
        "Map axis 1 — to the right: revenue ↑, orders ↓"
    )
    assert linked_views.map_axis_title(2, weights, features, "fr", **units) == (
        f"Axe 2 de la carte — vers le haut{NNBSP}: chiffre d'affaires ↑, commandes ↓"
    )
    three = np.array([0.5, 0.5, 0.5, 0.5])  # 0.25 each: three features reach 0.75, the cap
    assert linked_views.map_axis_title(1, three, features, "en", **units).endswith("revenue ↑, orders ↑, recency ↑")
    assert linked_views.map_axis_title(2, np.zeros(4), features, "en", **units) == "Map axis 2"


def _customers() -> pd.DataFrame:
    names = pd.Categorical.from_codes([0, 1, 1, 0, 1], categories=["Loyal", "Lapsed"])
    return pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3", "C4", "C5"],
            "segment": [0, 1, 1, 0, 1],
            "segment_name": names,
            "monetary": [-1234.4, 56.0, 10.0, 2000.0, 5.0],
            "frequency": [3.0, 1.0, 2.0, 12.0, 1.0],
            "recency_days": [40.2, 200.0, 3.0, 1.0, 99.0],
            "international_share": [0.25, 0.0, 1.0, 0.5, 0.0],
        }
    )


def test_hover_names_one_customer_in_real_units() -> None:
    customers = _customers()
    features = ["recency_days", "frequency", "monetary", "international_share"]
    title, text = linked_views.map_hover_text(
        customers, np.array([0]), None, features, "en", currency="GBP", orders=True
    )
    assert title == "Customer C1 · Loyal"
    assert text.splitlines() == [
        f"Revenue: {MINUS}£1,234",
        "Orders: 3",
        "Recency (days): 40",
        "International share: 25%",
    ]
    title, text = linked_views.map_hover_text(
        customers, np.array([0]), np.array([False, True, True, True, True]), features, "fr", currency="GBP", orders=True
    )
    assert title == "Client C1 · Loyal"
    assert text.splitlines() == [
        f"Chiffre d'affaires{NNBSP}: {MINUS}1{NNBSP}234{NNBSP}£",
        f"Commandes{NNBSP}: 3",
        f"Récence (jours){NNBSP}: 40",
        f"Part international{NNBSP}: 25{NNBSP}%",
        "hors de la sélection",
    ]


def test_hover_lists_a_few_customers_and_counts_many() -> None:
    customers = _customers()
    features = ["monetary", "frequency"]
    title, text = linked_views.map_hover_text(
        customers, np.array([1, 3]), None, features, "en", currency="GBP", orders=True
    )
    assert title == "2 customers here"
    assert text.splitlines() == [
        "Customer C2 · Lapsed",
        "  Revenue: £56 · Orders: 1",
        "Customer C4 · Loyal",
        "  Revenue: £2,000 · Orders: 12",
    ]
    # Four customers: counted by segment, the largest first, with how many are selected.
    selected = np.array([True, True, False, False, False])
    title, text = linked_views.map_hover_text(
        customers, np.array([0, 1, 2, 4]), selected, features, "en", currency="GBP", orders=True
    )
    assert title == "4 customers here"
    assert text.splitlines() == ["Lapsed: 3", "Loyal: 1", "Selected: 2"]
    assert linked_views.map_hover_text(
        customers, np.array([], dtype=int), None, features, "en", currency="", orders=False
    ) == (
        "",
        "",
    )


def test_hover_asks_the_shared_index_of_the_map(registry: FakeRegistry, refunds: pd.DataFrame) -> None:
    store = make_store(registry, refunds)
    coords = store.scored.coords.astype("float64")
    x, y = float(np.median(coords[:, 0])), float(np.median(coords[:, 1]))
    dx, dy = 1.37, 1.29
    expected = np.flatnonzero((np.abs(coords[:, 0] - x) <= dx) & (np.abs(coords[:, 1] - y) <= dy))
    assert len(expected) > linked_views.HOVER_MAX_NAMED
    assert store.scored.near(x, y, dx, dy).tolist() == expected.tolist()
    # The view answers a cursor position with the count under it (radius HOVER_RADIUS_PX pixels).
    linked = linked_views.LinkedViews(store)
    hover = linked_views.MapHover()
    pixel = (dx / linked_views.HOVER_RADIUS_PX, dy / linked_views.HOVER_RADIUS_PX)
    linked._map_hovered(hover, [x, y, *pixel])
    assert hover.title == f"{len(expected)} customers here"
    far = float(coords[:, 0].max()) + 100.0
    linked._map_hovered(hover, [far, y, *pixel])
    assert hover.title == hover.text == ""  # nobody there: no tooltip


def test_warm_up_sorts_the_hover_index_before_the_first_visitor(refunds: pd.DataFrame) -> None:
    # A registry of its own: the scored customers are cached per model, and another test's hover
    # would already have sorted the index of the module's model.
    registry = FakeRegistry()
    registry.add(fit_model(refunds, 3, data_path="refunds"), aliases=["production"])
    warm_up(loader=registry.load, lister=registry.list, features_loader=lambda *_: refunds)
    scored = make_store(registry, refunds).scored
    assert "by_x" in scored._ranges
    order, xs = scored._ranges["by_x"]
    assert np.all(np.diff(xs) >= 0)
    assert sorted(order.tolist()) == list(range(len(refunds)))


def test_the_map_has_the_analyst_tools_plain_axes_and_french_numbers(
    registry: FakeRegistry, refunds: pd.DataFrame
) -> None:
    store = make_store(registry, refunds, "fr")
    linked = linked_views.LinkedViews(store)
    figure = hv.render(linked._scatter())
    tools = figure.toolbar.tools
    assert {type(tool) for tool in tools} == {
        PanTool,
        WheelZoomTool,
        ResetTool,
        BoxSelectTool,
        LassoSelectTool,
        HoverTool,
    }
    assert [tool.visible for tool in tools if isinstance(tool, HoverTool)] == [False]  # no button
    assert figure.toolbar.logo is None
    assert figure.xaxis[0].axis_label.startswith(f"Axe 1 de la carte — vers la droite{NNBSP}: ")
    assert figure.yaxis[0].axis_label.startswith(f"Axe 2 de la carte — vers le haut{NNBSP}: ")
    for axis in (figure.xaxis[0], figure.yaxis[0]):
        assert isinstance(axis.formatter, CustomJSTickFormatter)
        assert axis.formatter.args == {"group": NNBSP, "point": ","}
    english = hv.render(linked_views.LinkedViews(make_store(registry, refunds))._scatter())
    assert english.xaxis[0].axis_label.startswith("Map axis 1 — to the right: ")
    assert english.xaxis[0].formatter.args == {"group": ",", "point": "."}


def test_the_heatmap_colour_bar_and_hover_follow_the_language(registry: FakeRegistry, refunds: pd.DataFrame) -> None:
    store = make_store(registry, refunds, "fr")
    figure = hv.render(linked_views.LinkedViews(store)._heatmap())
    (colour_bar,) = figure.select(type=__import__("bokeh.models", fromlist=["ColorBar"]).ColorBar)
    assert colour_bar.formatter.args == {"group": NNBSP, "point": ","}
    (hover,) = [tool for tool in figure.toolbar.tools if isinstance(tool, HoverTool)]
    assert ("score z", "@z{custom}") in hover.tooltips
    assert hover.formatters["@z"].args == {"group": NNBSP, "point": ","}
    assert figure.toolbar_location is None  # no toolbar, hence no logo


def test_the_map_axes_are_fitted_on_the_segments_and_the_view_opens_on_them() -> None:
    rng = np.random.default_rng(1)
    # 950 customers spread along feature 0; 50 set aside far out along feature 1 (net refunders'
    # negative prices on the real retail log).
    bulk = rng.normal(size=(950, 2)) * [2.0, 0.3]
    far = np.column_stack([rng.normal(size=50) * 0.3, rng.normal(size=50) * 0.3 - 40.0])
    scaled = np.vstack([bulk, far]).astype(np.float32)
    labels = np.r_[(bulk[:, 0] > 0).astype(int), np.full(50, 2)]
    everyone = analysis.pca_axes(scaled)[2]
    assert abs(everyone[0, 1]) > 0.99  # fitted on all, axis 1 points at the 50
    coords, _, components = analysis.pca_axes(scaled, fit_rows=labels < 2)
    assert abs(components[0, 0]) > 0.99  # fitted on the segments, axis 1 is theirs
    assert coords.shape == (1000, 2)  # every customer is projected
    frame = pd.DataFrame({"pc1": coords[:, 0], "pc2": coords[:, 1]})
    scored = Scored(labels, scaled, coords, np.array([0.9, 0.1]), frame, hv.Dataset(frame), 3, components, k=2)
    (x0, x1), (y0, y1) = scored.projection_ranges()
    inside = (coords[:, 0] >= x0) & (coords[:, 0] <= x1) & (coords[:, 1] >= y0) & (coords[:, 1] <= y1)
    assert not inside[950:].any()  # the set-aside customers lie beyond the opening view...
    assert inside[:950].mean() > 0.99  # ...which holds nearly all the segments' customers
    outside = int((~inside).sum())
    assert scored.outside_opening_view() == (outside, 50)
    store = SimpleNamespace(scored=scored)
    assert linked_views.map_help(store, "en").endswith(
        f"{outside} customers lie beyond this view (50 of them set aside): zoom out to see them."
    )
    assert f"{outside}\u00a0clients sont hors de cette vue (dont 50 mis à part)" in linked_views.map_help(store, "fr")
    # A view holding everyone: the caption says nothing of it; everyone but the rightmost customer
    # (one of the segments', far right of the spread): one customer, not set aside.
    xs, ys = coords[:, 0].astype(float), coords[:, 1].astype(float)
    scored._ranges["projection"] = ((xs.min(), xs.max()), (ys.min(), ys.max()))
    assert scored.outside_opening_view() == (0, 0)
    assert "beyond this view" not in linked_views.map_help(store, "en")
    scored._ranges["projection"] = ((xs.min(), np.sort(xs)[-2]), (ys.min(), ys.max()))
    assert scored.outside_opening_view() == (1, 0)
    assert linked_views.map_help(store, "en").endswith(" 1 customer lies beyond this view: zoom out to see it.")
    assert linked_views.map_help(store, "fr").endswith(
        f" 1\u00a0client est hors de cette vue{NNBSP}: dézoomez pour le voir."
    )


def test_pca_axes_are_what_the_coordinates_are_made_of() -> None:
    scaled = np.random.default_rng(0).normal(size=(500, 4)) * [3.0, 1.0, 0.5, 0.1]
    coords, explained, components = analysis.pca_axes(scaled)
    assert np.allclose(np.linalg.norm(components, axis=1), 1.0)
    assert np.allclose(coords, (scaled - scaled.mean(axis=0)) @ components.T, atol=1e-4)
    assert abs(components[0, 0]) > 0.99  # the widest feature makes the first axis
    assert analysis.pca_projection(scaled)[1].tolist() == explained.tolist()
