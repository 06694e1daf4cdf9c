"""Compare versions and Drift: equivalent segments, the headline, the periods compared, numbers in each language.

Pure functions are checked on hand-computed matrices and dates; the store and the views on models fitted
with the product's pipeline (``dashboard.testing``) on small generated shipments, without MLflow.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import pytest
from bokeh.models import CustomJSTickFormatter

from dashboard import analysis, version_views
from dashboard.i18n import TEXT
from dashboard.store import DataStore, Drift, Migration
from dashboard.testing import FakeRegistry, fit_model
from workflow.data import read_shipments
from workflow.features import build_features, default_as_of
from workflow.set_aside import NET_REFUNDERS, OUTLIERS
from workflow.synth import generate_shipments, write_dataset

NNBSP = "\u202f"
MINUS = "\u2212"
DAY = pd.Timestamp


# --- equivalent segments: hand-computed matrices ---------------------------------------------------------


def test_best_matching_is_not_the_identity_nor_the_greedy_pick() -> None:
    # Row 0 shares most with column 0 (6), but so does row 1 (5, its only flow): a greedy pick gives
    # row 0 → column 0 and leaves row 1 without an equivalent (6 + 0 + 3 = 9 on the diagonal). The
    # maximum-weight matching gives row 0 → column 1 and row 1 → column 0: 5 + 5 + 3 = 13.
    counts = np.array([[6, 5, 0], [5, 0, 0], [0, 0, 3]])
    rows, columns, n_matched = analysis.match_segments(counts, 3, 3)
    assert rows.tolist() == [0, 1, 2]
    assert columns.tolist() == [1, 0, 2]
    assert n_matched == 3
    ordered = counts[np.ix_(rows, columns)]
    assert np.trace(ordered) == 13
    assert analysis.kept_share(ordered, n_matched) == pytest.approx(13 / 19)
    # Off the diagonal: 6 (row 0 → column 0) is the largest move.
    assert analysis.largest_move(ordered, n_matched) == (0, 1)


def test_k_differs_and_set_aside_groups_match_by_kind() -> None:
    # A: k=2, then net refunders (label 2) and outliers (3). B: k=3, then net refunders (3) and outliers (4).
    counts = np.array(
        [
            [8, 1, 0, 0, 0],
            [0, 2, 7, 0, 0],
            [0, 0, 0, 4, 0],
            [1, 0, 0, 0, 2],
        ]
    )
    groups = (NET_REFUNDERS, OUTLIERS)
    rows, columns, n_matched = analysis.match_segments(counts, 2, 3, groups, groups)
    # K-means pairs 0↔0 and 1↔2, then the groups by kind, then B's unmatched segment 1 last.
    assert rows.tolist() == [0, 1, 2, 3]
    assert columns.tolist() == [0, 2, 3, 4, 1]
    assert n_matched == 4
    ordered = counts[np.ix_(rows, columns)]
    assert ordered.tolist() == [[8, 0, 0, 0, 1], [0, 7, 0, 0, 2], [0, 0, 4, 0, 0], [1, 0, 0, 2, 0]]
    assert analysis.kept_share(ordered, n_matched) == pytest.approx(21 / 25)
    assert analysis.largest_move(ordered, n_matched) == (1, 4)  # 2 of row 1 into the unmatched column


def test_more_segments_in_a_than_in_b_puts_the_unmatched_row_last() -> None:
    # A: k=3 + net refunders (label 3); B: k=2 + net refunders (label 2) and outliers (label 3).
    counts = np.array([[0, 9, 0, 0], [1, 1, 0, 0], [7, 0, 0, 1], [0, 0, 5, 0]])
    rows, columns, n_matched = analysis.match_segments(counts, 3, 2, (NET_REFUNDERS,), (NET_REFUNDERS, OUTLIERS))
    # 0↔1 (9), 2↔0 (7); A's segment 1 has no equivalent; the refunders pair; B's outliers unmatched.
    assert rows.tolist() == [0, 2, 3, 1]
    assert columns.tolist() == [1, 0, 2, 3]
    assert n_matched == 3
    assert analysis.kept_share(counts[np.ix_(rows, columns)], n_matched) == pytest.approx(21 / 24)


def test_segments_of_one_name_are_paired_first_when_they_share_enough_customers() -> None:
    # A's "Active" (row 0, 101 customers) splits into B's "Repeat" (61) and B's "Active" (40, 80 % of
    # that segment); A's "Lapsed" goes to both too. By counts alone Active→Repeat and Lapsed→Active
    # keep 61 + 10 = 71 customers, one more than Active→Active and Lapsed→Repeat (40 + 30 = 70); with
    # the names, "Active" faces "Active".
    counts = np.array([[61, 40], [30, 10]])
    names_a, names_b = ["Active", "Lapsed"], ["Repeat", "Active"]
    assert analysis.match_segments(counts, 2, 2)[1].tolist() == [0, 1]
    rows, columns, n_matched = analysis.match_segments(counts, 2, 2, names_a=names_a, names_b=names_b)
    assert (rows.tolist(), columns.tolist(), n_matched) == ([0, 1], [1, 0], 2)
    # One name but too few shared customers (2 of 101 and of 52: under 25 % of either): counts decide.
    small = np.array([[99, 2], [1, 50]])
    same_names = analysis.match_segments(small, 2, 2, names_a=["Active", "Lapsed"], names_b=["Other", "Active"])
    assert same_names[1].tolist() == [0, 1]
    # Language does not matter to the function, only equality; set-aside groups still pair by kind.
    groups = (NET_REFUNDERS,)
    with_groups = np.array([[61, 40, 0], [30, 10, 0], [0, 0, 5]])
    rows, columns, n_matched = analysis.match_segments(
        with_groups, 2, 2, groups, groups, [*names_a, "Net refunders"], [*names_b, "Net refunders"]
    )
    assert (rows.tolist(), columns.tolist(), n_matched) == ([0, 1, 2], [1, 0, 2], 3)


def test_a_pair_sharing_no_customer_is_no_equivalent() -> None:
    counts = np.array([[4, 0], [3, 0]])  # B's segment 1 is empty on these customers
    rows, columns, n_matched = analysis.match_segments(counts, 2, 2)
    assert (rows.tolist(), columns.tolist(), n_matched) == ([0, 1], [0, 1], 1)


def test_nobody_moves() -> None:
    assert analysis.largest_move(np.diag([3, 4]), 2) is None
    assert analysis.kept_share(np.diag([3, 4]), 2) == 1.0


def test_row_shares_sum_to_one() -> None:
    shares = analysis.row_shares(np.array([[1, 3], [0, 0], [5, 0]]))
    assert shares.tolist() == [[0.25, 0.75], [0.0, 0.0], [1.0, 0.0]]


# --- the headline and the matrix, in both languages ----------------------------------------------------


def hand_migration() -> Migration:
    """The k_a ≠ k_b case above as the store returns it (label order, with names)."""
    counts = pd.DataFrame(
        [[8, 1, 0, 0, 0], [0, 2, 7, 0, 0], [0, 0, 0, 4, 0], [1, 0, 0, 0, 2]],
        index=pd.Index(["Loyal", "Lapsed", "Net refunders", "Exceptional accounts"], name="v1"),
        columns=pd.Index(["Loyal B", "New B", "Lapsed B", "Net refunders", "Exceptional accounts"], name="v2"),
    )
    return Migration(
        version_a="1",
        version_b="2",
        counts=counts,
        rows=[0, 1, 2, 3],
        columns=[0, 2, 3, 4, 1],
        n_matched=4,
        kmeans_a=2,
        kmeans_b=3,
    )


def text_of(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def test_headline_in_english_and_french() -> None:
    result = hand_migration()
    assert result.kept_share == pytest.approx(0.84)
    english = text_of(version_views.migration_headline(result, "en"))
    assert "84% of customers keep an equivalent segment in v2." in english
    # 2 of Lapsed's 9 customers go to New B, a segment of v2 that no v1 segment matches.
    assert "Largest move: 22% of “Lapsed” (2 customers) go to “New B”, a v2 segment without an equivalent in v1." in (
        english
    )
    assert "No equivalent in v1: “New B”." in english
    french = text_of(version_views.migration_headline(result, "fr"))
    assert f"84{NNBSP}% des clients gardent un segment équivalent dans la v2." in french
    assert f"22{NNBSP}% des «{NNBSP}Lapsed{NNBSP}» (2 clients) passent dans «{NNBSP}New B{NNBSP}»" in french
    assert f"Sans équivalent dans la v1{NNBSP}: «{NNBSP}New B{NNBSP}»." in french


def test_headline_never_rounds_to_everyone_or_nobody() -> None:
    counts = pd.DataFrame([[996, 4], [0, 1000]], index=["A0", "A1"], columns=["B0", "B1"])
    result = Migration("1", "2", counts, rows=[0, 1], columns=[0, 1], n_matched=2, kmeans_a=2, kmeans_b=2)
    english = text_of(version_views.migration_headline(result, "en"))
    assert "99.8% of customers keep an equivalent segment" in english  # 1,996 of 2,000: not "100%"
    assert "Largest move: 0.4% of “A0” (4 customers)" in english  # 4 of 1,000: not "0%"


def test_headline_names_a_move_into_a_matched_segment_plainly() -> None:
    counts = pd.DataFrame([[90, 10], [0, 50]], index=["A0", "A1"], columns=["B0", "B1"])
    result = Migration("1", "2", counts, rows=[0, 1], columns=[0, 1], n_matched=2, kmeans_a=2, kmeans_b=2)
    english = text_of(version_views.migration_headline(result, "en"))
    assert "Largest move: 10% of “A0” (10 customers) go to “B1” in v2." in english
    assert "No equivalent" not in english


class _Cells(HTMLParser):
    """The matrix's header names, cell classes and counts, row by row."""

    def __init__(self) -> None:
        super().__init__()
        self.columns: list[str] = []
        self.rows: list[list[tuple[str, int]]] = []
        self.row_names: list[str] = []
        self._where: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        classes = (values.get("class") or "").split()
        if tag == "tr":
            self.rows.append([])
        elif tag == "th" and ("col" in classes or "row" in classes):
            self._where, self._text = ("col" if "col" in classes else "row"), ""
        elif tag == "td":
            self.rows[-1].append((" ".join(classes), int(values["data-count"])))

    def handle_data(self, data: str) -> None:
        if self._where:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "th" and self._where:
            (self.columns if self._where == "col" else self.row_names).append(self._text.strip())
            self._where = None


def test_matrix_orders_columns_to_the_rows_with_totals() -> None:
    cells = _Cells()
    cells.feed(version_views.migration_table(hand_migration(), "en"))
    assert cells.columns == ["Loyal B", "Lapsed B", "Net refunders", "Exceptional accounts", "New B"]
    assert cells.row_names == ["Loyal", "Lapsed", "Net refunders", "Exceptional accounts", "Total"]
    body = [row for row in cells.rows if row]
    # Outlined: the diagonal of the four pairs, nothing else.
    matched = [(i, j) for i, row in enumerate(body) for j, (kind, _) in enumerate(row) if "matched" in kind]
    assert matched == [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert [[count for _, count in row] for row in body] == [
        [8, 0, 0, 0, 1, 9],
        [0, 7, 0, 0, 2, 9],
        [0, 0, 4, 0, 0, 4],
        [1, 0, 0, 2, 0, 3],
        [9, 7, 4, 2, 3, 25],  # column totals, then every customer
    ]


def test_matrix_cells_show_row_shares_and_counts_in_the_language() -> None:
    html = version_views.migration_table(hand_migration(), "fr")
    # Row "Lapsed": 7 of 9 = 78 %, 2 of 9 = 22 %; its total 9 of 25 = 36,0 %.
    assert f'<span class="pct">78{NNBSP}%</span><span class="n">7</span>' in html
    assert f'<span class="pct">22{NNBSP}%</span><span class="n">2</span>' in html
    assert f"36,0{NNBSP}%" in html
    assert "des 9 clients de «" in html  # the tooltip, in French
    english = version_views.migration_table(hand_migration(), "en")
    assert '<span class="pct">78%</span>' in english
    assert "7 of the 9 customers of “Lapsed” (v1) are in “Lapsed B” (v2)" in english


def test_a_tiny_share_is_not_shown_as_zero() -> None:
    counts = pd.DataFrame([[999, 1]], index=["A0"], columns=["B0", "B1"])
    result = Migration("1", "2", counts, rows=[0], columns=[0, 1], n_matched=1, kmeans_a=1, kmeans_b=2)
    html = version_views.migration_table(result, "fr")
    assert f"&lt;1{NNBSP}%" in html
    assert f">0{NNBSP}%<" not in html


def test_names_are_escaped_in_the_matrix_and_the_headline() -> None:
    counts = pd.DataFrame([[5, 5]], index=["<b>bold</b>"], columns=["x", "<img src=y>"])
    result = Migration("1", "2", counts, rows=[0], columns=[0, 1], n_matched=1, kmeans_a=1, kmeans_b=2)
    for html in (version_views.migration_table(result, "en"), version_views.migration_headline(result, "en")):
        assert "<b>bold" not in html
        assert "<img" not in html


# --- periods ---------------------------------------------------------------------------------------------


def test_activity_period_is_the_first_and_last_shipment_day() -> None:
    # Times at midnight and late in the day: neither may slip to a neighbouring day through float days.
    shipments = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "c"],
            "date": pd.to_datetime(["2024-02-29 00:00", "2024-03-05 23:59", "2024-03-01 12:30", "2024-03-10 00:00"]),
            "amount": [10.0, 20.0, 5.0, 7.0],
        }
    )
    features = build_features(shipments)
    as_of = default_as_of(shipments["date"])
    assert as_of == DAY("2024-03-11")
    assert analysis.activity_period(features, as_of) == (DAY("2024-02-29"), DAY("2024-03-10"))
    assert analysis.activity_period(features, "2024-03-11") == (DAY("2024-02-29"), DAY("2024-03-10"))


def test_activity_period_unknown() -> None:
    features = pd.DataFrame({"recency_days": [1.0], "tenure_days": [3.0]})
    assert analysis.activity_period(features, "") is None  # a version registered without its as-of date
    assert analysis.activity_period(features[["recency_days"]], "2024-01-01") is None
    assert analysis.activity_period(features.iloc[:0], "2024-01-01") is None


TRAINING = (DAY("2009-12-01"), DAY("2010-12-09"))  # 374 days


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        ((DAY("2009-12-01"), DAY("2010-12-09")), ("same", 374)),
        ((DAY("2010-06-01"), DAY("2010-12-09")), ("end_of", 192)),
        ((DAY("2009-12-01"), DAY("2009-12-31")), ("start_of", 31)),
        ((DAY("2010-01-01"), DAY("2010-01-31")), ("inside", 31)),
        ((DAY("2009-11-01"), DAY("2010-12-31")), ("contains", 30 + 22)),
        ((DAY("2010-12-01"), DAY("2011-06-30")), ("overlap", 9)),
        ((DAY("2010-12-10"), DAY("2011-06-30")), ("after", 1)),
        ((DAY("2011-01-09"), DAY("2011-06-30")), ("after", 31)),
        ((DAY("2009-01-01"), DAY("2009-11-30")), ("before", 1)),
        ((DAY("2009-01-01"), DAY("2009-11-20")), ("before", 11)),
    ],
)
def test_period_relation(current: tuple[pd.Timestamp, pd.Timestamp], expected: tuple[str, int]) -> None:
    assert analysis.period_relation(TRAINING, current) == expected


@pytest.mark.parametrize(
    ("current", "english", "french"),
    [
        (TRAINING, "Same period.", "Même période."),
        (
            (DAY("2010-06-01"), DAY("2010-12-09")),
            "The current file covers the last 192 days of the training period.",
            "Le fichier actuel couvre les 192 derniers jours de la période d'entraînement.",
        ),
        (
            (DAY("2010-01-01"), DAY("2010-01-31")),
            "The current file's period lies within the training period (8% of it).",
            f"La période du fichier actuel est comprise dans celle de l'entraînement (8{NNBSP}% de celle-ci).",
        ),
        (
            (DAY("2010-12-10"), DAY("2011-06-30")),
            "The current file starts the day after the training period ends: a new period.",
            (
                f"Le fichier actuel commence le lendemain de la fin de la période d'entraînement{NNBSP}: une nouvelle "
                "période."
            ),
        ),
        (
            (DAY("2008-01-01"), DAY("2011-06-30")),
            "The current file's period holds the whole training period and 903 days more.",
            "La période du fichier actuel contient toute celle de l'entraînement, plus 903 jours.",
        ),
        (
            (DAY("2010-12-01"), DAY("2011-06-30")),
            "The periods overlap for 9 days (2% of the training period).",
            f"Les périodes se chevauchent sur 9 jours (2{NNBSP}% de la période d'entraînement).",
        ),
    ],
)
def test_relation_sentence(current: tuple[pd.Timestamp, pd.Timestamp], english: str, french: str) -> None:
    assert version_views.relation_text(TRAINING, current, "en") == english
    assert version_views.relation_text(TRAINING, current, "fr") == french


def test_periods_block_with_caveat_and_unknown_period() -> None:
    drift = Drift(
        psi=pd.DataFrame(columns=["feature", "psi", "flag"]),
        shares=pd.DataFrame(columns=["reference", "current", "change"]),
        segment_psi=0.0,
        n_reference=4383,
        n_current=3608,
        reference_period=TRAINING,
        current_period=(DAY("2010-06-01"), DAY("2010-12-09")),
        n_common=3600,
    )
    english = text_of(version_views.periods_html(drift, ["recency_days", "monetary"], "en"))
    assert "1 Dec 2009 to 9 Dec 2010 (374 days)" in english
    assert "1 Jun 2010 to 9 Dec 2010 (192 days)" in english
    assert "3,600 of the 3,608 current customers are also training customers." in english
    assert "The periods differ in length (374 days against 192 days)" in english
    french = text_of(version_views.periods_html(drift, ["recency_days"], "fr"))
    assert "du 1er déc. 2009 au 9 déc. 2010 (374 jours)" in french
    assert f"3{NNBSP}600 des 3{NNBSP}608 clients actuels" in french
    # Without recency or tenure among the model's features, the length of the periods changes nothing.
    assert "differ in length" not in version_views.periods_html(drift, ["monetary"], "en")
    drift.reference_period = None
    unknown = text_of(version_views.periods_html(drift, ["recency_days"], "en"))
    assert "Training customers" in unknown
    assert "not known" in unknown
    assert "differ in length" not in unknown


# --- numbers in the interface language --------------------------------------------------------------------


@pytest.mark.parametrize("change", [-0.0004, -0.00049, 0.0004, 0.0, -0.0])
def test_share_change_never_shows_a_negative_zero(change: float) -> None:
    assert version_views._signed_points(change, "en") == "0.0"
    assert version_views._signed_points(change, "fr") == "0,0"


def test_share_change_signs_and_decimal_comma() -> None:
    assert version_views._signed_points(0.015, "fr") == "+1,5"
    assert version_views._signed_points(-0.104, "fr") == f"{MINUS}10,4"
    assert version_views._signed_points(-0.003, "en") == f"{MINUS}0.3"


def test_shares_table_in_french() -> None:
    shares = pd.DataFrame(
        {"reference": [0.5, 0.5], "current": [0.6996, 0.3004]},
        index=pd.RangeIndex(2, name="segment"),
    )
    shares["change"] = shares["current"] - shares["reference"]
    drift = Drift(psi=pd.DataFrame(), shares=shares, segment_psi=0.0, n_reference=2, n_current=2)
    html = version_views.shares_table(drift, {0: "Fidèles", 1: "Perdus"}, "fr")
    assert f"50,0{NNBSP}%" in html
    assert f"70,0{NNBSP}%" in html
    assert ">+20,0<" in html
    assert f">{MINUS}20,0<" in html
    assert "." not in text_of(html).replace("Fidèles", "").replace("Perdus", "")  # no decimal point
    # Bars: the larger change fills its half, on its side of zero.
    assert html.count('class="bar"') == 2


def test_flags_legend_explains_each_flag_in_plain_words() -> None:
    drift = Drift(
        psi=pd.DataFrame({"feature": ["a"], "psi": [4.7], "flag": ["major"]}),
        shares=pd.DataFrame(),
        segment_psi=0.0,
        n_reference=1,
        n_current=1,
    )
    english = text_of(version_views.flags_legend(drift, "en"))
    assert "Stable — PSI below 0.1: the distribution barely moved." in english
    assert "Moderate shift — PSI from 0.1 to 0.25" in english
    assert "Major shift — PSI 0.25 or more" in english
    assert "Bars beyond 1.0 are cut" in english  # 4.7 is drawn cut at the axis' end
    french = text_of(version_views.flags_legend(drift, "fr"))
    assert f"PSI inférieur à 0,1{NNBSP}:" in french
    assert "PSI de 0,1 à 0,25" in french


MY_KEYS = re.compile(
    r"^(migration_(kept|move|no_move|help|unmatched|quote|and|total|cell_tip|scored)|drift_period|"
    r"drift_days|drift_common|period_|drift_psi_help|flag_help_|psi_capped|drift_shares_help)"
)


def test_new_strings_exist_in_both_languages_with_french_typography() -> None:
    keys = [key for key in TEXT if MY_KEYS.match(key)]
    assert len(keys) >= 30
    for key in keys:
        english, french = TEXT[key]["en"], TEXT[key]["fr"]
        assert english, key
        assert french, key
        assert english != french or key == "migration_total", key
        # A narrow no-break space (never a plain space, nor none) before : ; ! ? % and inside « ».
        assert not re.search(r"[ \u00a0][:;!?%»]|«[ \u00a0]|\w[:;!?]", french), (key, french)
        assert set(re.findall(r"\{(\w+)\}", english)) == set(re.findall(r"\{(\w+)\}", french)), key


# --- the store and the views on fitted models ---------------------------------------------------------------


@pytest.fixture(scope="module")
def shipments_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shipments, customers = generate_shipments(300, 12, seed=3)
    path = tmp_path_factory.mktemp("compare") / "shipments.parquet"
    write_dataset(shipments, customers, path)
    return path


@pytest.fixture(scope="module")
def registry(shipments_file: Path) -> FakeRegistry:
    shipments = read_shipments(shipments_file)[0]
    as_of = str(default_as_of(shipments["date"]).date())
    features = build_features(shipments)
    registry = FakeRegistry()
    for version, k, seed in (("1", 3, 0), ("2", 4, 1)):
        model = fit_model(features, k, version=version, data_path=str(shipments_file), as_of=as_of, random_state=seed)
        registry.add(model, aliases=["production"] if version == "1" else ["candidate"])
    return registry


@pytest.fixture(autouse=True)
def _extensions() -> None:
    pn.extension()
    hv.extension("bokeh")


def make_store(registry: FakeRegistry, **params: object) -> DataStore:
    return DataStore(loader=registry.load, lister=registry.list, uri=lambda: "sqlite:///x.db", **params)


def test_store_migration_puts_equivalent_segments_on_the_diagonal(registry: FakeRegistry) -> None:
    store = make_store(registry)
    result = store.migration("2")
    counts = result.counts.to_numpy()
    # The diagonal is a maximum-weight matching: no other one-to-one pairing keeps more customers.
    from itertools import permutations

    best = max(sum(counts[i, p[i]] for i in range(3)) for p in permutations(range(4), 3))
    ordered = result.ordered.to_numpy()
    assert np.trace(ordered[: result.n_matched, : result.n_matched]) == best
    assert sorted(result.rows) == list(range(3))
    assert sorted(result.columns) == list(range(4))
    assert result.kept_share == pytest.approx(best / len(store.customers))
    assert list(result.ordered.index) == [result.counts.index[r] for r in result.rows]


def test_compare_view_shows_headline_and_matrix(registry: FakeRegistry) -> None:
    store = make_store(registry, lang="fr")
    panel = pn.panel(version_views.CompareVersions(store))
    panel.get_root()
    html = [obj.object for obj in panel.select(pn.pane.HTML)]
    headline = next(text for text in html if "segment équivalent" in text)
    share = store.migration("2").kept_share
    assert f"{round(100 * share)}{NNBSP}%" in headline
    assert any('class="matrix"' in text for text in html)


def test_drift_on_the_training_file_is_the_same_period(registry: FakeRegistry, shipments_file: Path) -> None:
    store = make_store(registry, data_path=str(shipments_file))
    drift = store.drift()
    dates = read_shipments(shipments_file)[0]["date"]
    period = (dates.min().normalize(), dates.max().normalize())
    assert drift.current_period == period
    assert drift.reference_period == period
    assert drift.n_common == drift.n_current == drift.n_reference
    text = text_of(version_views.periods_html(drift, store.model.features, "en"))
    assert "Same period." in text
    assert "differ in length" not in text


def later_file(folder: Path) -> Path:
    """Shipments from 10 November 2026 on: ten days after the training data (up to 31 October) ends."""
    shipments, customers = generate_shipments(200, 2, seed=9, end_date="2026-11-30")
    shipments = shipments[shipments["date"] >= "2026-11-10"]
    path = folder / "later.parquet"
    write_dataset(shipments, customers[customers["customer_id"].isin(shipments["customer_id"])], path)
    return path


def test_drift_on_a_later_file(registry: FakeRegistry, tmp_path: Path) -> None:
    path = later_file(tmp_path)
    store = make_store(registry, data_path=str(path), lang="fr")
    drift = store.drift()
    dates = read_shipments(path)[0]["date"]
    assert drift.current_period == (dates.min().normalize(), dates.max().normalize())
    kind, days = analysis.period_relation(drift.reference_period, drift.current_period)
    assert kind == "after"
    assert days == (drift.current_period[0] - drift.reference_period[1]).days >= 10
    panel = pn.panel(version_views.DriftView(store))
    panel.get_root()
    text = " ".join(obj.object for obj in panel.select(pn.pane.HTML))
    assert "une nouvelle période" in text
    assert "Stable" in text
    assert "Dérive forte" in text


def test_psi_chart_numbers_follow_the_language(registry: FakeRegistry, tmp_path: Path) -> None:
    store = make_store(registry, data_path=str(later_file(tmp_path)), lang="fr")
    chart = version_views.psi_chart(store.drift(), store, "fr")
    labels = next(layer for layer in chart if isinstance(layer, hv.Labels))
    texts = list(labels.dimension_values("text"))
    assert texts
    assert all(re.fullmatch(r"\d+,\d\d", text) for text in texts), texts
    bars = next(layer for layer in chart if isinstance(layer, hv.Bars))
    formatter = hv.Store.lookup_options("bokeh", bars, "plot").kwargs["xformatter"]
    assert isinstance(formatter, CustomJSTickFormatter)
    assert formatter.args["locale"] == "fr-FR"
    # The cap: no bar beyond the axis, every label at its bar's end.
    assert bars.dimension_values("shown").max() <= version_views.PSI_AXIS_CAP
