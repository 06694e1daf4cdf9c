"""Customer features: hand-computed values on a tiny file, as-of windows, and properties.

The definitions: docs/architecture.md#customer-features.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import write_csv
from workflow.data import read_shipments
from workflow.errors import DataError
from workflow.features import (
    ALL_FEATURES,
    SHARE_FEATURES,
    available_features,
    build_features,
    default_as_of,
    select_features,
)

TODAY = pd.Timestamp("2026-11-24")

# Three customers, six shipments. A: a refund, a relay parcel to Belgium, one late, one returned;
# B: two express services, one to the US; C: a single relay parcel. The last date is 2026-03-10,
# so the default as-of date is 2026-03-11.
TINY = """
    customer_id,date,amount,weight_kg,service,destination_country,delivered_late,returned
    A,2026-03-01,10.00,1.0,Chrono 10,FR,false,false
    A,2026-03-05,20.00,3.0,Chrono Relais,BE,true,false
    A,2026-03-10,-5.00,2.0,Chrono Classic,FR,false,true
    B,2026-03-08,40.00,10.0,Chrono Express,US,false,false
    B,2026-03-09,30.00,6.0,Chrono 13,fr,yes,1
    C,2026-02-20,7.50,0.5,Chrono Relais,FR,0,no
"""

# Written out by hand from the rows above (February 2026 has 28 days: 20 Feb → 11 Mar is 19 days).
EXPECTED = pd.DataFrame(
    {
        "recency_days": [1.0, 2.0, 19.0],
        "frequency": [3.0, 2.0, 1.0],
        "monetary": [25.0, 70.0, 7.5],
        "avg_amount": [25.0 / 3, 35.0, 7.5],
        "tenure_days": [10.0, 3.0, 19.0],
        "avg_weight_kg": [2.0, 8.0, 0.5],
        "express_share": [1 / 3, 1.0, 0.0],
        "relay_share": [1 / 3, 0.0, 1.0],
        "international_share": [1 / 3, 0.5, 0.0],
        "late_rate": [1 / 3, 0.5, 0.0],
        "return_rate": [1 / 3, 0.5, 0.0],
    },
    index=pd.Index(["A", "B", "C"], name="customer_id"),
)


@pytest.fixture
def tiny(tmp_path: Path) -> pd.DataFrame:
    shipments, report = read_shipments(write_csv(tmp_path / "tiny.csv", TINY), today=TODAY)
    assert report.rows_dropped == 0
    return shipments


def test_hand_computed_features(tiny: pd.DataFrame) -> None:
    features = build_features(tiny)
    assert list(features.columns) == list(ALL_FEATURES)
    assert (features.dtypes == "float64").all()
    pd.testing.assert_frame_equal(features, EXPECTED, check_exact=False, rtol=1e-12)


def test_default_as_of_is_the_day_after_the_last_shipment(tiny: pd.DataFrame) -> None:
    assert default_as_of(tiny["date"]) == pd.Timestamp("2026-03-11")
    pd.testing.assert_frame_equal(build_features(tiny, as_of="2026-03-11"), build_features(tiny))


def test_a_later_as_of_adds_the_days_to_recency_and_tenure(tiny: pd.DataFrame) -> None:
    features = build_features(tiny, as_of=pd.Timestamp("2026-03-21"))
    np.testing.assert_allclose(features["recency_days"], EXPECTED["recency_days"] + 10)
    np.testing.assert_allclose(features["tenure_days"], EXPECTED["tenure_days"] + 10)
    pd.testing.assert_frame_equal(
        features.drop(columns=["recency_days", "tenure_days"]), EXPECTED.drop(columns=["recency_days", "tenure_days"])
    )


def test_an_earlier_as_of_ignores_later_shipments(tiny: pd.DataFrame) -> None:
    # As of 9 March: A's refund of 10 March and B's parcel of 9 March are not known yet.
    features = build_features(tiny, as_of="2026-03-09")
    expected = pd.DataFrame(
        {
            "recency_days": [4.0, 1.0, 17.0],
            "frequency": [2.0, 1.0, 1.0],
            "monetary": [30.0, 40.0, 7.5],
            "avg_amount": [15.0, 40.0, 7.5],
            "tenure_days": [8.0, 1.0, 17.0],
            "avg_weight_kg": [2.0, 10.0, 0.5],
            "express_share": [0.5, 1.0, 0.0],
            "relay_share": [0.5, 0.0, 1.0],
            "international_share": [0.5, 1.0, 0.0],
            "late_rate": [0.5, 0.0, 0.0],
            "return_rate": [0.0, 0.0, 0.0],
        },
        index=EXPECTED.index,
    )
    pd.testing.assert_frame_equal(features, expected, check_exact=False, rtol=1e-12)


def test_a_customer_with_no_shipment_before_as_of_is_absent(tiny: pd.DataFrame) -> None:
    features = build_features(tiny, as_of="2026-03-02")
    assert list(features.index) == ["A", "C"]
    assert features.loc["A", "frequency"] == 1.0
    assert features.loc["A", "recency_days"] == 1.0


def test_as_of_before_every_shipment_is_an_error(tiny: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"no shipment before the as-of date 2026-01-01 \(the first is on 2026-02-20\)"):
        build_features(tiny, as_of="2026-01-01")


def test_as_of_with_an_offset_keeps_the_wall_time(tiny: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(build_features(tiny, as_of="2026-03-11T00:00:00+02:00"), build_features(tiny))


def test_home_country_decides_what_is_international(tiny: pd.DataFrame) -> None:
    belgian = build_features(tiny, home_country="be", features=["international_share"])
    # Seen from Belgium, every parcel is international except A's parcel to Belgium.
    np.testing.assert_allclose(belgian["international_share"], [2 / 3, 1.0, 1.0])


def test_express_services_are_configurable(tiny: pd.DataFrame) -> None:
    features = build_features(tiny, express_services=["Chrono Classic"], features=["express_share"])
    np.testing.assert_allclose(features["express_share"], [1 / 3, 0.0, 0.0])


def test_only_features_whose_columns_exist(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "minimal.csv",
        """
        customer_id,date,amount
        A,2026-03-01,10
        A,2026-03-05,-4
        B,2026-03-02,8
        """,
    )
    shipments, _ = read_shipments(path, today=TODAY)
    features = build_features(shipments)
    assert list(features.columns) == ["recency_days", "frequency", "monetary", "avg_amount", "tenure_days"]
    expected = pd.DataFrame(
        {
            "recency_days": [1.0, 4.0],
            "frequency": [2.0, 1.0],
            "monetary": [6.0, 8.0],
            "avg_amount": [3.0, 8.0],
            "tenure_days": [5.0, 4.0],
        },
        index=pd.Index(["A", "B"], name="customer_id"),
    )
    pd.testing.assert_frame_equal(features, expected)


@pytest.mark.parametrize(
    ("column", "lost"),
    [
        ("weight_kg", {"avg_weight_kg"}),
        ("service", {"express_share", "relay_share"}),
        ("destination_country", {"international_share"}),
        ("delivered_late", {"late_rate"}),
        ("returned", {"return_rate"}),
    ],
)
def test_each_optional_column_gives_its_features(tiny: pd.DataFrame, column: str, lost: set[str]) -> None:
    features = build_features(tiny.drop(columns=column))
    assert set(ALL_FEATURES) - set(features.columns) == lost
    kept = list(features.columns)
    pd.testing.assert_frame_equal(features, EXPECTED[kept], check_exact=False, rtol=1e-12)


def test_select_features_keeps_the_canonical_order() -> None:
    columns = ["customer_id", "date", "amount", "service"]
    assert select_features(["relay_share", "frequency", "recency_days"], columns) == [
        "recency_days",
        "frequency",
        "relay_share",
    ]
    assert select_features(None, columns) == available_features(columns)


@pytest.mark.parametrize(
    ("requested", "message"),
    [
        (["frequency", "nope"], r"unknown feature\(s\) nope; known features: recency_days, frequency"),
        (["late_rate"], r"feature\(s\) late_rate need column\(s\) delivered_late, absent from the data"),
        (["express_share", "relay_share", "avg_weight_kg"], r"express_share, relay_share, avg_weight_kg need column"),
        (["frequency", "monetary", "frequency"], r"--features lists frequency twice"),
        ([], r"--features lists no feature"),
    ],
)
def test_select_features_errors(requested: list[str], message: str) -> None:
    with pytest.raises(DataError, match=message):
        select_features(requested, ["customer_id", "date", "amount"])


def test_build_features_checks_the_requested_features(tiny: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="unknown feature"):
        build_features(tiny, features=["recency_days", "churn"])
    subset = build_features(tiny, features=["monetary", "frequency"])
    assert list(subset.columns) == ["frequency", "monetary"]


def test_amounts_too_large_to_add_up_are_an_error(tiny: pd.DataFrame) -> None:
    huge = tiny.assign(amount=np.where(tiny["customer_id"] == "A", 1e308, tiny["amount"]))
    with pytest.raises(DataError, match=r"monetary.* not finite for 1 customer\(s\) \(A\)"):
        build_features(huge)


def test_no_shipments_is_an_error(tiny: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="no shipments"):
        build_features(tiny.iloc[:0])


# --- properties on generated data ---------------------------------------------------------------


@pytest.fixture(scope="module")
def generated() -> pd.DataFrame:
    from workflow.synth import generate_shipments

    shipments, _customers = generate_shipments(300, 4, seed=11)
    return shipments


def test_generated_data_properties(generated: pd.DataFrame) -> None:
    features = build_features(generated)
    assert features.index.is_unique
    assert features.index.is_monotonic_increasing
    assert set(features.index) == set(generated["customer_id"])
    assert np.isfinite(features.to_numpy()).all()
    shares = features[sorted(SHARE_FEATURES)]
    assert ((shares >= 0) & (shares <= 1)).all().all()
    assert features["frequency"].sum() == len(generated)
    assert features["monetary"].sum() == pytest.approx(generated["amount"].sum(), rel=1e-9)
    np.testing.assert_allclose(features["avg_amount"] * features["frequency"], features["monetary"], rtol=1e-9)
    assert (features["recency_days"] >= 1).all()
    assert (features["tenure_days"] >= features["recency_days"]).all()
    assert features["recency_days"].min() == 1.0  # the last shipment is the day before as-of


def test_generated_data_through_csv_gives_the_same_features(generated: pd.DataFrame, tmp_path: Path) -> None:
    from workflow.synth import write_dataset

    path = tmp_path / "generated.csv"
    write_dataset(generated, generated[["customer_id"]].drop_duplicates(), path)
    shipments, report = read_shipments(path, today=TODAY)
    assert report.rows_dropped == 0
    pd.testing.assert_frame_equal(build_features(shipments), build_features(generated), check_exact=False, rtol=1e-9)


def test_generated_features_with_an_as_of_in_the_middle(generated: pd.DataFrame) -> None:
    middle = generated["date"].min() + (generated["date"].max() - generated["date"].min()) / 2
    as_of = middle.normalize()
    features = build_features(generated, as_of=as_of)
    before = generated[generated["date"] < as_of]
    assert features["frequency"].sum() == len(before)
    assert features["monetary"].sum() == pytest.approx(before["amount"].sum(), rel=1e-9)
    assert set(features.index) == set(before["customer_id"])
    assert (features["recency_days"] > 0).all()


def test_categorical_columns_give_the_same_features_with_a_text_index(tiny: pd.DataFrame, tmp_path: Path) -> None:
    # Parquet files written by pandas or Spark often hold dictionary-encoded (categorical) text.
    categorical = ["customer_id", "service", "destination_country"]
    path = tmp_path / "categorical.parquet"
    tiny.astype(dict.fromkeys(categorical, "category")).to_parquet(path)
    shipments, _ = read_shipments(path, today=TODAY)
    assert isinstance(shipments["service"].dtype, pd.CategoricalDtype)
    features = build_features(shipments)
    assert features.index.dtype == "str"
    pd.testing.assert_frame_equal(features, build_features(tiny))
