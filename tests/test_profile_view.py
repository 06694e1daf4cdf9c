"""The page's reading aids: the segment profile table, the period the figures cover, the version picker's
entries, the model card's order and the customer table's columns and export names (no browser, no MLflow).

The profile's numbers are checked on eight hand-placed customers in two obvious groups, whose medians,
means and z-scores are computed by hand below.
"""

from __future__ import annotations

import re

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import pytest

from dashboard import profile_view, table_view, viewer, views
from dashboard.profile_view import segment_profile
from dashboard.store import DataStore
from dashboard.testing import FakeRegistry, fit_model

NNBSP = "\u202f"

#: Group A: recent, frequent, big spenders, never late. Group B: lapsed, rare, small, often late.
TINY = pd.DataFrame(
    {
        "recency_days": [2.0, 4.0, 6.0, 8.0, 200.0, 250.0, 300.0, 310.0],
        "frequency": [20.0, 30.0, 40.0, 100.0, 1.0, 1.0, 2.0, 2.0],
        "monetary": [1000.0, 2000.0, 3000.0, 50000.0, 10.0, 20.0, 30.0, 40.0],
        "late_rate": [0.0, 0.0, 0.0, 0.0, 0.3, 0.5, 0.2, 0.2],
    },
    index=pd.Index([f"C{i}" for i in range(8)], name="customer_id"),
)
#: Not a model feature: dates the period (days from each customer's first order to as-of).
TENURE = [373.5, 300.0, 200.0, 100.0, 365.0, 280.0, 310.0, 320.0]
AS_OF = "2010-12-10"


@pytest.fixture(autouse=True)
def _extensions() -> None:
    pn.extension("tabulator")
    hv.extension("bokeh")


@pytest.fixture(scope="module")
def tiny_registry() -> FakeRegistry:
    registry = FakeRegistry()
    model = fit_model(TINY, 2, version="1", data_path="/data/shop/orders 2010.csv", as_of=AS_OF)
    model.currency = "GBP"
    registry.add(model, aliases=["production"])
    return registry


def tiny_store(registry: FakeRegistry, **params: object) -> DataStore:
    def features_loader(*_: object) -> pd.DataFrame:
        return TINY.assign(tenure_days=TENURE)

    return DataStore(
        loader=registry.load, lister=registry.list, features_loader=features_loader, uri=lambda: "x", **params
    )


def group_labels(store: DataStore) -> tuple[int, int]:
    """The labels K-means gave groups A and B (which is 0 is arbitrary)."""
    labels = store.scored.labels
    a, b = int(labels[0]), int(labels[4])
    assert a != b
    assert (labels[:4] == a).all()
    assert (labels[4:] == b).all()
    return a, b


# --- the profile's numbers ---------------------------------------------------------------------------


def test_profile_medians_means_and_overall_by_hand(tiny_registry: FakeRegistry) -> None:
    store = tiny_store(tiny_registry)
    a, b = group_labels(store)
    profile = profile_view.SegmentProfiles(store).profile()
    typical = profile.typical
    # Medians for counts, days and money; the mean for the share.
    assert profile.statistic.to_dict() == {
        "recency_days": "median",
        "frequency": "median",
        "monetary": "median",
        "late_rate": "mean",
    }
    assert typical.loc["recency_days", a] == 5.0  # median of 2, 4, 6, 8
    assert typical.loc["recency_days", b] == 275.0  # median of 200, 250, 300, 310
    assert typical.loc["frequency", a] == 35.0
    assert typical.loc["frequency", b] == 1.5
    assert typical.loc["monetary", a] == 2500.0  # the mean (14,000) would describe nobody
    assert typical.loc["late_rate", a] == 0.0
    assert typical.loc["late_rate", b] == pytest.approx(0.3)
    # Over all eight customers.
    assert profile.overall.to_dict() == pytest.approx(
        {"recency_days": 104.0, "frequency": 11.0, "monetary": 520.0, "late_rate": 0.15}
    )
    # A share is standardised as is: z = (0.3 − 0.15) / 0.1732 (population std of the 8 rates).
    assert profile.z.loc["late_rate", b] == pytest.approx(0.15 / np.sqrt(0.03))
    assert profile.z.loc["late_rate", a] == pytest.approx(-0.15 / np.sqrt(0.03))
    assert list(profile.sizes) == [4, 4]


def test_marks_need_a_large_z_and_the_same_side_as_the_values(tiny_registry: FakeRegistry) -> None:
    store = tiny_store(tiny_registry)
    a, b = group_labels(store)
    profile = profile_view.SegmentProfiles(store).profile()
    marks = profile.marks()
    assert marks.loc["late_rate", b] == 1
    assert marks.loc["late_rate", a] == -1
    assert marks.loc["recency_days", b] == 1
    assert marks.loc["frequency", a] == 1
    # A large z whose median sits on the other side of the overall median gets no mark.
    tied = profile_view.Profile(
        typical=pd.DataFrame({0: [10.0]}, index=["frequency"]),
        overall=pd.Series({"frequency": 11.0}),
        z=pd.DataFrame({0: [1.5]}, index=["frequency"]),
        statistic=pd.Series({"frequency": "median"}),
        sizes=np.array([3]),
    )
    assert tied.marks().loc["frequency", 0] == 0


def test_the_logged_profile_is_reused_only_for_the_same_customers(tiny_registry: FakeRegistry) -> None:
    store = tiny_store(tiny_registry)
    a, _b = group_labels(store)
    labels, z = store.scored.labels, store.z_scores(everyone=True)
    computed = segment_profile(TINY, labels, 2, z)
    logged = store.model.profile.copy()
    assert logged.loc[a, "median_monetary"] == 2500.0  # what build_profile logged
    logged.loc[a, "median_monetary"] = 999.0  # a marker: was it read?
    reused = segment_profile(TINY, labels, 2, z, logged)
    assert reused.typical.loc["monetary", a] == 999.0
    logged.loc[a, "size"] = 5  # other customers than these: not theirs
    recomputed = segment_profile(TINY, labels, 2, z, logged)
    pd.testing.assert_frame_equal(recomputed.typical, computed.typical)


def test_profile_table_reads_in_real_units_in_both_languages(tiny_registry: FakeRegistry) -> None:
    store = tiny_store(tiny_registry)
    _a, b = group_labels(store)
    view = profile_view.SegmentProfiles(store)
    english = view._html()
    name = store.model.names("en")[b]
    assert name in english
    assert "All customers" in english
    assert "Late rate" in english
    # 30 % late against 15 % overall, marked in words as well as by the arrow and the tint.
    assert "<b>30.0%</b>" in english
    assert "15.0%" in english
    assert "well above all customers" in english
    assert "£2,500" in english  # group A's median revenue, in the model's currency
    assert "£25.00" in english  # group B's: cents below 100
    assert english.count("median") >= 3
    assert "mean" in english
    store.lang = "fr"
    french = view._html()
    assert store.model.names("fr")[b] in french
    assert f"<b>30,0{NNBSP}%</b>" in french
    assert f"2{NNBSP}500{NNBSP}£" in french
    assert "médiane" in french
    assert "nettement au-dessus" in french


class _OneSegmentModel:
    """The tiny model's numbers read as one K-means segment (0) and one set-aside group (1)."""

    k = 1
    n_labels = 2

    def names(self, lang: str) -> dict[int, str]:
        return {0: "<A>", 1: "Net refunders"}

    def descriptions(self, lang: str) -> dict[int, str]:
        return {0: "Spends & returns", 1: ""}


def test_profile_table_escapes_names_and_lists_set_aside_groups_after(tiny_registry: FakeRegistry) -> None:
    store = tiny_store(tiny_registry)
    profile = profile_view.SegmentProfiles(store).profile()
    html = profile_view.profile_html(profile, _OneSegmentModel(), "en", {"currency": "GBP", "orders": True})
    assert "&lt;A&gt;" in html
    assert "<A>" not in html
    assert "Spends &amp; returns" in html
    assert html.index("&lt;A&gt;") < html.index("Net refunders")
    assert '<span class="aside-tag">set aside</span>' in html
    assert "Set aside before K-means" in html
    assert 'class="group aside first-aside"' in html
    # An empty set-aside group gets no column.
    empty = profile_view.Profile(
        typical=profile.typical,
        overall=profile.overall,
        z=profile.z,
        statistic=profile.statistic,
        sizes=np.array([8, 0]),
    )
    html = profile_view.profile_html(empty, _OneSegmentModel(), "en", {"currency": "GBP", "orders": True})
    assert "Net refunders" not in html
    assert "aside" not in html


class _EightSegmentModel:
    """Eight K-means segments and two set-aside groups: the most the recommendation makes."""

    k = 8
    n_labels = 10

    def names(self, lang: str) -> dict[int, str]:
        word = "Clients internationaux" if lang == "fr" else "International customers"
        return {label: f"{word} {label}" for label in range(10)}

    def descriptions(self, lang: str) -> dict[int, str]:
        return {label: f"Sentence <{label}>" for label in range(10)}


def test_a_crowded_table_lists_its_sentences_below_and_hyphenates_long_words(tiny_registry: FakeRegistry) -> None:
    one = profile_view.SegmentProfiles(tiny_store(tiny_registry)).profile()
    wide = {
        name: pd.concat([frame[0]] * 10, axis=1, keys=range(10))
        for name, frame in (("typical", one.typical), ("z", one.z))
    }
    crowded = profile_view.Profile(
        typical=wide["typical"], overall=one.overall, z=wide["z"], statistic=one.statistic, sizes=np.arange(1, 11)
    )
    unit = {"currency": "GBP", "orders": True}
    french_name = "Clients in\u00adter\u00adna\u00adtio\u00adnaux"  # "Clients": under eight letters, whole
    english_name = "In\u00adter\u00adna\u00adtion\u00adal cus\u00adtom\u00aders"
    for lang, name in (("fr", french_name), ("en", english_name)):
        html = profile_view.profile_html(crowded, _EightSegmentModel(), lang, unit)
        assert 'class="profile-table crowded"' in html
        assert 'class="sentence"' not in html  # no row of ten narrow sentences
        sentences = html[html.index('<dl class="sentences">') :]
        assert [sentences.count(f"Sentence &lt;{label}&gt;") for label in range(10)] == [1] * 10
        assert html.count(name) == 20  # each name, in its header and before its sentence
    # Up to six groups the sentences stay a row of the table and the names are not touched.
    html = profile_view.profile_html(one, _OneSegmentModel(), "en", unit)
    assert 'class="sentence"' in html
    assert "sentences" not in html
    assert "\u00ad" not in html


def test_hyphenation_only_marks_places_a_line_may_break() -> None:
    for lang in ("en", "fr"):
        for text in ("Remboursements exceptionnels", "Lapsed occasional customers", "Net refunders"):
            marked = profile_view.hyphenated(text, lang)
            assert marked.replace("\u00ad", "") == text
    assert profile_view.hyphenated("Net refunders", "en") == "Net re\u00adfun\u00adders"
    assert profile_view.hyphenated("Comptes", "fr") == "Comptes"  # under eight letters


def test_money_has_a_true_minus_and_cents_below_100() -> None:
    assert profile_view.fmt_signed_money(-1044.4, "en", "GBP") == "\u2212£1,044"
    assert profile_view.fmt_signed_money(-64.68, "fr", "GBP", cents=True) == f"\u221264,68{NNBSP}£"
    assert profile_view.fmt_value("avg_amount", 8.5, "en", "EUR") == "€8.50"
    assert profile_view.fmt_value("monetary", 346.2, "en", "GBP") == "£346"
    assert profile_view.fmt_value("frequency", 2.5, "fr", "EUR") == "2,5"
    assert profile_view.fmt_value("frequency", 3.0, "en", "EUR") == "3"
    assert profile_view.fmt_value("late_rate", 0.179, "en", "EUR") == "17.9%"
    assert profile_view.fmt_value("recency_days", 161.4, "en", "EUR") == "161"


# --- the period the figures cover ----------------------------------------------------------------------


def test_period_text_in_both_languages(tiny_registry: FakeRegistry) -> None:
    store = tiny_store(tiny_registry)
    # First order 373.5 days before the version's as-of 10 Dec 2010, last 2 days before.
    assert views.period_text(store, "en") == "1 Dec 2009 – 8 Dec 2010"
    assert views.period_text(store, "fr") == "du 1er déc. 2009 au 8 déc. 2010"


def test_a_data_file_is_dated_by_its_own_as_of(tiny_registry: FakeRegistry) -> None:
    def features_loader(*_: object) -> pd.DataFrame:
        features = TINY.assign(tenure_days=TENURE)
        features.attrs["as_of"] = "2011-06-30T00:00:00"  # what build_features keeps with a file's features
        return features

    store = DataStore(
        loader=tiny_registry.load,
        lister=tiny_registry.list,
        features_loader=features_loader,
        uri=lambda: "x",
        data_path="/new/second_half.csv",
    )
    assert views.period_text(store, "en") == "21 Jun 2010 – 28 Jun 2011"


def test_a_data_file_without_its_as_of_is_not_dated(tiny_registry: FakeRegistry) -> None:
    # The version's as-of belongs to its training customers, never to another file's.
    store = tiny_store(tiny_registry, data_path="/new/second_half.csv")
    assert views.period_text(store, "en") == ""
    assert "Revenue and" not in views.kpi_caption(store, store.segment_stats(), "en")


def test_kpi_cards_say_the_period_and_the_totals(tiny_registry: FakeRegistry) -> None:
    store = tiny_store(tiny_registry)
    caption = views.kpi_caption(store, store.segment_stats(), "en")
    assert "Revenue and orders, 1 Dec 2009 – 8 Dec 2010" in caption
    total = TINY["monetary"].sum()
    assert f"8 customers, £{total / 1000:.1f}k, {int(TINY['frequency'].sum())} orders" in caption
    text = re.sub(r"<[^>]+>", "", views.SegmentKPIs(store)._card_html(0, store.segment_stats().iloc[0]))
    assert "per customer" in text


# --- the model card ------------------------------------------------------------------------------------


def test_model_card_plain_words_first_then_the_details(tiny_registry: FakeRegistry) -> None:
    store = tiny_store(tiny_registry, ui_address="http://127.0.0.1:5000")
    card = views.ModelCard(store)._render().object
    text = re.sub(r"<[^>]+>", " ", card)
    order = [
        "v1 — production",
        "Customers",
        "1 Dec 2009 – 8 Dec 2010",
        "Trained",
        "orders 2010.csv",
        "Details",
        "Silhouette",
        "Why this k",
        "digest",
        "Open the run",
    ]
    positions = [text.index(fact) for fact in order]
    assert positions == sorted(positions)
    # The plain part names the file, its full path is the tooltip; the path wraps only after a slash.
    assert 'title="/data/shop/orders 2010.csv"' in card
    assert "/<wbr>data/<wbr>shop/<wbr>orders 2010.csv" in card
    assert "break-all" not in views._CARD_CSS


# --- the version picker ----------------------------------------------------------------------------------


def test_version_options_list_each_version_once(tiny_registry: FakeRegistry) -> None:
    registry = FakeRegistry()
    for version in ("1", "2", "3"):
        registry.add(fit_model(TINY, 2, version=version))
    registry.aliases = {"production": "1", "candidate": "2", "staging": "2"}
    store = DataStore(loader=registry.load, lister=registry.list, uri=lambda: "x", model_ref="production")
    assert viewer.version_options(store) == {
        "v3 · 2 segments": "3",
        "v2 — candidate, staging · 2 segments": "2",
        "v1 — production · 2 segments": "1",
    }
    assert viewer.picked_version(store) == "1"
    store.model_ref = "staging"
    assert viewer.picked_version(store) == "2"
    assert len(viewer.version_options(store)) == 3
    store.model_ref = "9"  # unknown: listed beside its error
    assert viewer.version_options(store)["9"] == "9"


# --- the customer table ----------------------------------------------------------------------------------


def test_default_columns_keep_rfm_then_the_most_telling() -> None:
    features = ["recency_days", "frequency", "monetary", "avg_amount", "tenure_days", "late_rate", "return_rate"]
    z = pd.DataFrame([[1.0, 0.5, 0.2, 0.1, 0.3, 2.0, 0.0], [-1.0, -0.5, -0.2, -0.9, 0.0, -0.1, 0.05]], columns=features)
    assert table_view.default_columns(features, z, n=5) == [
        "recency_days",
        "frequency",
        "monetary",
        "avg_amount",
        "late_rate",
    ]
    assert table_view.default_columns(features, pd.DataFrame(), n=4) == features[:4]


def test_short_column_titles_carry_the_unit() -> None:
    assert table_view.column_title("monetary", "en", currency="GBP") == "Revenue (£)"
    assert table_view.column_title("monetary", "en", currency="") == "Revenue"
    assert table_view.column_title("recency_days", "fr") == "Récence (j)"
    assert table_view.column_title("frequency", "en", orders=True) == "Orders"
    assert table_view.column_title("custom_feature", "en") == "custom_feature"


def test_table_fills_the_window_and_hides_the_other_columns(tiny_registry: FakeRegistry) -> None:
    store = tiny_store(tiny_registry)
    table = table_view.CustomerTable(store)
    tabulator = table._table
    assert tabulator.page_size is None  # the browser counts the rows that fit
    assert any("100vh" in str(sheet) for sheet in tabulator.stylesheets)
    assert tabulator.layout == "fit_columns"
    assert table._columns.value == store.model.features  # four features: all shown
    table._columns.value = ["monetary"]
    assert set(tabulator.hidden_columns) == {"segment", "recency_days", "frequency", "late_rate"}
    store.lang = "fr"  # a new table in French keeps the choice, in French words
    assert set(table._table.hidden_columns) == {"segment", "recency_days", "frequency", "late_rate"}
    assert table._columns.value == ["monetary"]
    assert table._columns.options["Récence (j)"] == "recency_days"


def test_export_names_follow_the_filter(tiny_registry: FakeRegistry) -> None:
    store = tiny_store(tiny_registry)
    a, _b = group_labels(store)
    table = table_view.CustomerTable(store)
    day = pd.Timestamp.now().date().isoformat()
    assert table.export_name() == f"v1-all-customers-{day}.csv"
    slug = re.sub(r"[^0-9a-z]+", "-", store.model.names("en")[a].lower()).strip("-")
    store.segment_filter = [a]
    assert table._export.filename == f"v1-{slug}-{day}.csv"
    store.search = "C"
    assert table.export_name() == f"v1-{slug}-filtered-{day}.csv"
    store.segment_filter = []
    assert table.export_name() == f"v1-filtered-customers-{day}.csv"
    # The name is made again at the click (the filters and the day of the file).
    table._export.filename = "stale.csv"
    table._export_rows()
    assert table._export.filename == f"v1-filtered-customers-{day}.csv"


def test_segment_exports_are_named_by_version_segment_and_day(tiny_registry: FakeRegistry) -> None:
    store = tiny_store(tiny_registry)
    a, _b = group_labels(store)
    kpis = views.SegmentKPIs(store)
    kpis._render()
    download = kpis._card(a, kpis._bodies[a]).objects[1]
    slug = re.sub(r"[^0-9a-z]+", "-", store.model.names("en")[a].lower()).strip("-")
    day = pd.Timestamp.now().date().isoformat()
    download.filename = "stale.csv"
    exported = pd.read_csv(download.callback())
    assert download.filename == f"v1-{slug}-{day}.csv"
    assert list(exported["customer_id"]) == ["C0", "C1", "C2", "C3"]
