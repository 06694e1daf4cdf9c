"""The dashboard's viewers, rendered to Bokeh models in-process (no browser, no MLflow)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import panel_material_ui as pmui
import pytest
from panel.io.state import set_curdoc

from dashboard import export, linked_views, table_view, version_views, viewer, views
from dashboard.app import create_app, default_language
from dashboard.i18n import fmt_money, language_from_header
from dashboard.store import DataStore
from dashboard.testing import FakeRegistry, fit_model
from workflow.data import read_shipments
from workflow.features import build_features
from workflow.synth import generate_shipments, write_dataset


@pytest.fixture(scope="module")
def shipments_file(generated_shipments: Callable[..., Path]) -> Path:
    return generated_shipments(300, 12, 2)


@pytest.fixture(scope="module")
def registry(shipments_file: Path) -> FakeRegistry:
    features = build_features(read_shipments(shipments_file)[0])
    registry = FakeRegistry()
    registry.add(fit_model(features, 3, version="1", data_path=str(shipments_file)), aliases=["production"])
    registry.add(fit_model(features, 4, version="2", data_path=str(shipments_file)), aliases=["candidate"])
    return registry


@pytest.fixture(autouse=True)
def _extensions() -> None:
    pn.extension("tabulator")
    hv.extension("bokeh")


def make_store(registry: FakeRegistry, **params: object) -> DataStore:
    return DataStore(loader=registry.load, lister=registry.list, uri=lambda: "sqlite:///x.db", **params)


def rendered(viewable: pn.viewable.Viewable) -> list[pn.viewable.Viewable]:
    """Render to Bokeh (runs every Python-side callback) and return the Panel objects inside."""
    panel = pn.panel(viewable)
    panel.get_root()
    return panel.select()


def html_text(viewable: pn.viewable.Viewable) -> str:
    """Concatenated text of the HTML, Markdown and Alert objects inside a rendered viewable."""
    parts = []
    for obj in rendered(viewable):
        text = getattr(obj, "object", None)
        if isinstance(text, str):
            parts.append(text)
    return "\n".join(parts)


def test_the_whole_page_renders(registry: FakeRegistry) -> None:
    page = create_app(loader=registry.load, lister=registry.list, lang="en")
    page.get_root()  # every pane, plot and widget builds without error


@pytest.mark.parametrize("kind", ["no_model", "alias_missing", "store"])
def test_the_page_renders_each_problem(kind: str, registry: FakeRegistry) -> None:
    if kind == "no_model":
        fake = FakeRegistry()
    elif kind == "store":
        fake = FakeRegistry(unreachable=True)
    else:
        fake = FakeRegistry(models={"1": registry.models["1"]})
    page = create_app(loader=fake.load, lister=fake.list, lang="en")
    page.get_root()
    alerts = [obj for obj in page.select() if isinstance(obj, pmui.Alert) and obj.severity == "error"]
    assert len(alerts) == 1
    assert "How to fix it" in alerts[0].object
    assert "`segments" in alerts[0].object


def test_problem_banner_shows_message_and_command(registry: FakeRegistry, tmp_path: Path) -> None:
    store = make_store(registry, data_path=str(tmp_path / "missing.csv"))
    text = html_text(views.ProblemBanner(store))
    assert "missing.csv: file not found" in text
    assert "segments dashboard --data" in text
    # Without a problem the banner says nothing (no empty alert box on a working page).
    assert any(isinstance(obj, pmui.Alert) for obj in rendered(views.ProblemBanner(store)))
    assert not any(isinstance(obj, pmui.Alert) for obj in rendered(views.ProblemBanner(make_store(registry))))


def test_model_card_facts(registry: FakeRegistry) -> None:
    store = make_store(registry, ui_address="http://127.0.0.1:5000")
    text = html_text(views.ModelCard(store))
    model = store.model
    for fact in ("customer-segments", "v1", "production", "0.95", model.data_digest, "Why this k", "Trained"):
        assert fact in text
    assert f"#/experiments/{model.experiment_id}/runs/{model.run_id}" in text
    assert "MLflow" not in html_text(views.ModelCard(make_store(registry)))  # no link without a UI


def test_header_follows_the_version(registry: FakeRegistry) -> None:
    store = make_store(registry)
    header = views.HeaderTitle(store).__panel__()
    header.get_root()
    assert "v1 · production" in header.object
    store.model_ref = "2"
    assert "v2 · candidate" in header.object


def test_version_picker_lists_each_version_once(registry: FakeRegistry) -> None:
    store = make_store(registry)
    options = viewer.version_options(store)
    # A version with an alias is one entry, newest first; its ref is its number.
    assert options == {"v2 — candidate · 4 segments": "2", "v1 — production · 3 segments": "1"}
    picker = views.VersionPicker(store).__panel__()
    assert picker.value == "1"  # opened on the alias "production": its version's entry
    assert store.model_ref == "production"  # showing the entry is no switch
    picker.value = "2"
    assert store.model.version == "2"


def test_kpis_per_segment(registry: FakeRegistry) -> None:
    store = make_store(registry)
    text = html_text(views.SegmentKPIs(store))
    for name in store.model.names("en").values():
        assert name in text
    assert "customers" in text
    assert "of revenue" in text
    stats = store.segment_stats()
    per_customer = fmt_money(stats.loc[0, "revenue"] / stats.loc[0, "customers"], "en", store.model.currency)
    assert f"{per_customer} per customer" in text
    assert "in the selection" not in text
    store.select(hv.dim("pc1") > 0)
    assert "in the selection" in html_text(views.SegmentKPIs(store))


def test_table_follows_selection_filter_and_search(registry: FakeRegistry) -> None:
    store = make_store(registry)
    objects = rendered(table_view.CustomerTable(store))
    table = next(obj for obj in objects if isinstance(obj, pn.widgets.Tabulator))
    assert table.pagination == "remote"
    assert len(table.value) == len(store.customers)
    store.segment_filter = [0]
    assert len(table.value) == int((store.customers["segment"] == 0).sum())
    store.select(hv.dim("frequency") > 5)
    frame = store.customers
    assert len(table.value) == int(((frame["segment"] == 0) & (frame["frequency"] > 5)).sum())
    download = next(obj for obj in objects if isinstance(obj, pmui.FileDownload))
    exported = pd.read_csv(download.callback())
    assert exported["customer_id"].tolist() == table.value["customer_id"].tolist()


def test_clicking_a_heatmap_row_filters_the_table(registry: FakeRegistry) -> None:
    store = make_store(registry)
    linked = linked_views.LinkedViews(store)
    rendered(linked)
    name = store.model.names("en")[2]
    linked._heatmap_tapped(x="Shipments", y=name)
    assert store.segment_filter == [2]
    assert set(store.rows["segment"]) == {2}


def test_linked_views_render_with_a_selection(registry: FakeRegistry) -> None:
    store = make_store(registry)
    linked = linked_views.LinkedViews(store)
    rendered(linked)
    store.select(hv.dim("pc1") > 0)
    assert "selected" in html_text(linked)
    linked.features_shown = ["late_rate", "tenure_days"]  # rebuilds the histograms
    rendered(linked)


def test_distribution_charts_show_the_selection(registry: FakeRegistry) -> None:
    store = make_store(registry)
    linked = linked_views.LinkedViews(store)
    rendered(linked)
    assert [chart.bins.feature for chart in linked._charts] == linked.features_shown
    chart = linked._charts[0]
    feature, edges = chart.bins.feature, chart.bins.edges
    frame = store.customers
    everyone = np.histogram(frame[feature], edges)[0]
    assert chart.bars.data["all"].tolist() == chart.bars.data["selected"].tolist() == everyone.tolist()
    store.select(hv.dim("pc1") > 0)  # outside a server the redraw runs at once
    chosen = frame[frame["pc1"] > 0]
    assert chart.bars.data["all"].tolist() == everyone.tolist()
    assert chart.bars.data["selected"].tolist() == np.histogram(chosen[feature], edges)[0].tolist()
    for segment, steps in enumerate(chart.lines.data["ys"]):
        expected = np.histogram(chosen.loc[chosen["segment"] == segment, feature], edges)[0]
        assert steps.tolist() == np.repeat(expected, 2).tolist()
    assert len(chart.lines.data["xs"][0]) == len(chart.lines.data["ys"][0]) == 2 * (len(edges) - 1)


def test_brushing_a_distribution_selects_a_range(registry: FakeRegistry) -> None:
    from bokeh.events import SelectionGeometry

    store = make_store(registry)
    linked = linked_views.LinkedViews(store)
    rendered(linked)
    chart = next(chart for chart in linked._charts if chart.bins.feature == "frequency")
    geometry = {"type": "rect", "x0": 12.0, "x1": 4.0, "y0": 0.0, "y1": 1.0}
    chart._brushed(SelectionGeometry(chart.figure, geometry=geometry, final=False))
    assert store.selected is None  # only the final geometry (mouse-up) selects
    chart._brushed(SelectionGeometry(chart.figure, geometry=geometry, final=True))
    frequency = store.customers["frequency"]
    assert store.n_selected() == int(frequency.between(4, 12).sum())
    linked._box_brushed((0.0, -100.0, 100.0, 100.0))  # and a box on the projection: both hold
    assert store.n_selected() == int((frequency.between(4, 12) & (store.customers["pc1"] >= 0)).sum())
    assert "selected" in html_text(linked)
    linked._plot_reset(resetting=True)
    assert store.selected is None


def test_lasso_on_the_projection_selects(registry: FakeRegistry) -> None:
    store = make_store(registry)
    linked = linked_views.LinkedViews(store)
    linked._lasso_brushed(np.array([[-100.0, -100.0], [100.0, -100.0], [100.0, 0.0], [-100.0, 0.0]]))
    assert store.n_selected() == int((store.customers["pc2"] < 0).sum())


def test_the_projection_greys_the_unselected(registry: FakeRegistry) -> None:
    store = make_store(registry)
    linked = linked_views.LinkedViews(store)
    linked._scatter()
    assert (linked._projection_points().data["shade"].astype(str) == store.customers["segment"].astype(str)).all()
    store.select(hv.dim("pc1") > 0)
    shades = linked._projection_points().data["shade"]
    inside = store.customers["pc1"].to_numpy() > 0
    assert (shades[~inside] == linked_views.UNSELECTED).all()
    assert shades[inside].astype(str).tolist() == store.customers.loc[inside, "segment"].astype(str).tolist()


def test_table_maps_positions_without_a_dict(registry: FakeRegistry) -> None:
    store = make_store(registry)
    objects = rendered(table_view.CustomerTable(store))
    table = next(obj for obj in objects if isinstance(obj, pn.widgets.Tabulator))
    store.segment_filter = [1]
    mapping = table._index_mapping
    assert not isinstance(mapping, dict)
    assert mapping.get(0) == table.value.index[0]
    assert mapping.get(len(table.value), "none") == "none"


def test_compare_versions_shows_the_migration(registry: FakeRegistry) -> None:
    store = make_store(registry)
    objects = rendered(version_views.CompareVersions(store))
    assert store.compare_ref == "2"
    matrices = [obj for obj in objects if "migration-matrix" in obj.css_classes]
    assert len(matrices) == 1
    # The totals row ends with every customer scored by both versions.
    assert int(store.migration("2").counts.to_numpy().sum()) == len(store.customers)
    assert f'data-count="{len(store.customers)}"' in matrices[0].object
    assert '<td class="total grand"' in matrices[0].object


def test_compare_with_a_single_version(registry: FakeRegistry) -> None:
    single = FakeRegistry(models={"1": registry.models["1"]}, aliases={"production": "1"})
    text = html_text(version_views.CompareVersions(make_store(single)))
    assert "Only one version" in text


def test_drift_view_without_and_with_data(registry: FakeRegistry, tmp_path: Path) -> None:
    assert "segments dashboard --data" in html_text(version_views.DriftView(make_store(registry)))
    shipments, customers = generate_shipments(200, 6, seed=9, end_date="2026-11-15")
    path = tmp_path / "new.parquet"
    write_dataset(shipments, customers, path)
    store = make_store(registry, data_path=str(path))
    objects = rendered(version_views.DriftView(store))
    assert any(isinstance(obj, pn.pane.HoloViews) for obj in objects)
    text = html_text(version_views.DriftView(store))
    assert "Population Stability Index" in text


def test_language_switch_changes_labels_and_segment_names(registry: FakeRegistry) -> None:
    store = make_store(registry)
    card, kpis, table = views.ModelCard(store), views.SegmentKPIs(store), table_view.CustomerTable(store)
    assert "Trained" in html_text(card)
    english = store.model.names("en")
    store.lang = "fr"
    french = store.model.names("fr")
    assert "Entraîné le" in html_text(card)
    kpi_text = html_text(kpis)
    assert all(name in kpi_text for name in french.values())
    assert not any(name in kpi_text for name in english.values())
    assert "envois" in kpi_text
    assert "clients" in html_text(table)
    assert "v1 — production · 3\u00a0segments" in viewer.version_options(store)


def test_default_language() -> None:
    assert default_language("fr") == "fr"
    assert default_language(None) == "en"  # not served: no browser to ask
    with pytest.raises(ValueError, match="lang"):
        default_language("de")
    assert language_from_header("fr-FR,fr;q=0.9,en-US;q=0.8") == "fr"
    assert language_from_header("de-DE,en;q=0.5,fr;q=0.7") == "fr"
    assert language_from_header("de-DE") == "en"
    assert language_from_header(None) == "en"


def test_serve_with_basic_auth_asks_for_a_login(registry: FakeRegistry) -> None:
    import socket
    import time
    import urllib.error
    import urllib.request

    from dashboard.app import serve

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = serve(port=port, threaded=True, basic_auth="s3cret", loader=registry.load, lister=registry.list)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as response:
                    page = response.read().decode()
                    final_url = response.url
                break
            except urllib.error.URLError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        server.stop()
        server.join(timeout=30)
        pn.state.kill_all_servers()
    assert "/login" in final_url
    assert "password" in page.lower()


def test_a_session_rebuilt_from_its_websocket_asks_no_cdn_for_stylesheets(registry: FakeRegistry) -> None:
    """Bokeh rebuilds a session from its websocket when the page was slow to connect (under load) and the
    session was discarded meanwhile: no HTML page is rendered for it, so Panel never rewrites its
    stylesheets' CDN URLs to the server's copies. The page must be built with the server's URLs itself."""
    from bokeh.document import Document
    from bokeh.models import ImportedStyleSheet
    from panel.io.resources import CDN_DIST, LOCAL_DIST

    doc = Document()
    with set_curdoc(doc):
        create_app(loader=registry.load, lister=registry.list, lang="en").server_doc(doc)
    urls = [str(sheet.url) for sheet in doc.select({"type": ImportedStyleSheet})]
    assert any(url.startswith(LOCAL_DIST) for url in urls), urls
    assert [url for url in urls if url.startswith(("http://", "https://", CDN_DIST))] == []


def test_why_this_k_in_french() -> None:
    from dashboard.i18n import recommendation_text

    english = (
        "k=5: silhouette 0.274, within 0.01 of the best (k=4, 0.280) among the k from 3 to 8 with every segment"
        " ≥ 2% of customers and stability ARI ≥ 0.80 (none reached 0.90) (4, 5), and more segments to act on;"
        " stability ARI 0.87, smallest segment 7.3%; 1,105 net refunders and 1 exceptional account set aside"
        " before K-means (2.5% of customers)."
    )
    assert recommendation_text(english, "en") == english
    french = recommendation_text(english, "fr")
    assert french == (
        "k=5\u00a0: silhouette 0,274, à moins de 0,01 de la meilleure (k=4, 0,280) parmi les k de 3 à 8 où chaque"
        " segment fait ≥ 2\u202f% des clients et la stabilité ARI ≥ 0,80 (aucun n'atteignait 0,90) (4, 5), et plus"
        " de segments sur lesquels agir\u00a0; stabilité ARI 0,87, plus petit segment 7,3\u202f%\u00a0; 1\u202f105"
        " comptes en solde négatif et 1 compte hors norme mis à part avant K-means (2,5\u202f% des clients)."
    )
    # A sentence of unknown shape is not half translated: the card falls back to the metrics.
    assert recommendation_text("k=4: chosen by hand after a workshop.", "fr") is None
    assert recommendation_text("Chosen by hand.", "fr") is None


def test_model_card_in_french_has_no_english_sentence(registry: FakeRegistry) -> None:
    store = make_store(registry, lang="fr")
    text = html_text(views.ModelCard(store))
    assert "Pourquoi ce k" in text
    assert "silhouette" in text
    for word in ("best", "among", "stability", "smallest"):
        assert f" {word} " not in text


def test_table_numbers_in_french_use_a_decimal_comma() -> None:
    formatters = table_view.table_formatters(["monetary", "frequency", "late_rate"], "fr")
    assert formatters["monetary"] == {
        "type": "money",
        "decimal": ",",
        "thousand": "\u202f",
        "precision": 2,
        "negativeSign": "\u2212",  # refunds: −64,68, as the profiles and cards write them
    }
    assert formatters["frequency"]["precision"] == 0
    assert "replace('.', ',')" in formatters["late_rate"].template
    english = table_view.table_formatters(["monetary", "late_rate"], "en")
    assert english["monetary"] == {**formatters["monetary"], "decimal": ".", "thousand": ","}
    assert english["late_rate"].format == "0.0%"
    assert table_view.tabulator_language("fr")["langs"]["fr"]["pagination"]["next"] == "Suiv."


def test_version_picker_label_follows_the_language(registry: FakeRegistry) -> None:
    store = make_store(registry)
    picker = views.VersionPicker(store).__panel__()
    store.lang = "fr"
    assert picker.label == "Version du modèle"


def test_share_changes_are_signed_without_minus_zero() -> None:
    assert version_views._signed_points(-0.0004, "en") == "0.0"
    assert version_views._signed_points(0.015, "fr") == "+1,5"
    assert version_views._signed_points(-0.003, "en") == "\u22120.3"


def test_table_says_one_customer_and_disables_an_empty_export(registry: FakeRegistry) -> None:
    store = make_store(registry)
    table = table_view.CustomerTable(store)
    objects = rendered(table)
    download = next(obj for obj in objects if isinstance(obj, pmui.FileDownload))
    assert download.filename.startswith("v1-all-customers-")  # no filter: all customers
    assert download.filename.endswith(".csv")
    assert not download.disabled
    store.search = str(store.customers["customer_id"].iloc[0])
    assert len(store.rows) == 1
    assert ">1 customer<" in table._count()
    store.search = "no such id"
    assert "No customer matches these filters" in table._count()
    assert download.disabled


def test_export_names_say_version_segment_and_day(registry: FakeRegistry) -> None:
    store = make_store(registry)
    day = pd.Timestamp.now().date().isoformat()
    name = export.export_filename(store, "Clients à forte valeur / express")
    assert name == f"v1-clients-a-forte-valeur-express-{day}.csv"
