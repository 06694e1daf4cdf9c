"""The synthetic shipments generator: data contract, determinism, archetype behaviour, files.

The contract: docs/architecture.md#data-contract.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workflow.errors import DataError, SegmentsError
from workflow.synth import (
    ARCHETYPE_MIX,
    ARCHETYPES,
    SERVICES,
    generate_shipments,
    truth_path_for,
    write_dataset,
)

END = pd.Timestamp("2026-10-31")
#: The data contract's columns (docs/architecture.md, "Data contract"), written out here rather than
#: taken from ``workflow.data.KNOWN_COLUMNS``: the generator must follow the documented contract.
SHIPMENT_COLUMNS = [
    "customer_id",
    "date",
    "amount",
    "weight_kg",
    "service",
    "destination_country",
    "delivered_late",
    "returned",
    "customer_type",
]


@pytest.fixture(scope="module")
def generated() -> tuple[pd.DataFrame, pd.DataFrame]:
    """2000 customers over the 12 months ending 2026-10-31 (~40k rows, a few hundred ms)."""
    return generate_shipments(2000, 12, seed=0)


@pytest.fixture(scope="module")
def rows(generated: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    """The shipments with their customer's archetype, for per-archetype assertions."""
    shipments, customers = generated
    archetype = shipments["customer_id"].map(customers.set_index("customer_id")["archetype"].astype(str))
    return shipments.assign(archetype=archetype.to_numpy())


def of(rows: pd.DataFrame, archetype: str) -> pd.DataFrame:
    return rows[rows["archetype"] == archetype]


# --- determinism and contract -------------------------------------------------------------------


def test_same_seed_gives_identical_frames() -> None:
    first = generate_shipments(300, 12, seed=7)
    second = generate_shipments(300, 12, seed=7)
    pd.testing.assert_frame_equal(first[0], second[0])
    pd.testing.assert_frame_equal(first[1], second[1])


def test_another_seed_gives_other_frames() -> None:
    shipments, customers = generate_shipments(300, 12, seed=7)
    other_shipments, other_customers = generate_shipments(300, 12, seed=8)
    assert not shipments.equals(other_shipments)
    assert not customers["archetype"].equals(other_customers["archetype"])


def test_columns_and_dtypes_follow_the_data_contract(generated: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    shipments, customers = generated
    assert list(shipments.columns) == SHIPMENT_COLUMNS
    assert pd.api.types.is_string_dtype(shipments["customer_id"])
    assert shipments["customer_id"].str.fullmatch(r"C\d{7}").all()
    assert shipments["date"].dtype == "datetime64[ns]"
    assert (shipments["date"] == shipments["date"].dt.normalize()).all()
    assert shipments["amount"].dtype == "float64"
    np.testing.assert_allclose(shipments["amount"] * 100, np.round(shipments["amount"] * 100), atol=1e-6)
    assert shipments["weight_kg"].dtype == "float64"
    assert (shipments["weight_kg"] > 0).all()
    assert (shipments["weight_kg"] <= 30).all()
    assert set(shipments["service"].unique()) == set(SERVICES)
    assert shipments["destination_country"].astype(str).str.fullmatch(r"[A-Z]{2}").all()
    assert shipments["delivered_late"].dtype == bool
    assert shipments["returned"].dtype == bool
    assert set(shipments["customer_type"].unique()) == {"B2B", "B2C"}
    assert list(customers.columns) == ["customer_id", "archetype", "customer_type"]
    assert set(customers["archetype"].unique()) == set(ARCHETYPES)


def test_rows_are_sorted_by_date_then_customer(generated: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    shipments, _ = generated
    keys = shipments[["date", "customer_id"]]
    pd.testing.assert_frame_equal(keys, keys.sort_values(["date", "customer_id"]).reset_index(drop=True))


def test_every_customer_ships_and_is_in_the_truth(generated: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    shipments, customers = generated
    assert len(customers) == 2000
    assert customers["customer_id"].is_unique
    assert customers["customer_id"].is_monotonic_increasing
    assert set(shipments["customer_id"]) == set(customers["customer_id"])
    # The shipments' customer_type is the account's.
    declared = shipments["customer_id"].map(customers.set_index("customer_id")["customer_type"].astype(str))
    assert (declared == shipments["customer_type"].astype(str)).all()


def test_ids_are_zero_padded_so_string_order_is_numeric_order() -> None:
    _, customers = generate_shipments(12, 12, seed=0)
    assert customers["customer_id"].tolist() == [f"C{i:07d}" for i in range(12)]


def test_archetype_shares_follow_the_documented_mix(generated: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    _, customers = generated
    shares = customers["archetype"].value_counts(normalize=True)
    assert sum(ARCHETYPE_MIX.values()) == pytest.approx(1.0)
    for archetype, share in ARCHETYPE_MIX.items():
        assert shares[archetype] == pytest.approx(share, abs=0.005)


def test_volume_is_about_twenty_parcels_per_customer_a_year(generated: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    shipments, customers = generated
    assert 10 <= len(shipments) / len(customers) <= 22


def test_dates_stay_inside_the_window(generated: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    shipments, _ = generated
    assert shipments["date"].min() >= pd.Timestamp("2025-11-01")
    assert shipments["date"].max() <= END
    short, _ = generate_shipments(200, 3, seed=1, end_date="2026-03-31")
    assert short["date"].min() >= pd.Timestamp("2026-01-01")
    assert short["date"].max() <= pd.Timestamp("2026-03-31")


def test_volume_scales_with_the_window() -> None:
    year, _ = generate_shipments(1000, 12, seed=2)
    half, _ = generate_shipments(1000, 6, seed=2)
    assert 0.35 < len(half) / len(year) < 0.65


# --- archetype behaviour ------------------------------------------------------------------------


def test_ecommerce_smes_peak_in_november_and_december(rows: pd.DataFrame) -> None:
    sme = of(rows, "ecommerce_sme")
    peak = sme["date"].dt.month.isin([11, 12])
    per_day_peak = peak.sum() / 61  # November 30 + December 31 days
    per_day_rest = (~peak).sum() / (365 - 61)
    assert per_day_peak / per_day_rest > 1.5


def test_marketplace_sellers_send_light_parcels_to_relay_points(rows: pd.DataFrame) -> None:
    marketplace = of(rows, "marketplace_relay")
    assert (marketplace["service"] == "Chrono Relais").mean() > 0.6
    assert marketplace["weight_kg"].mean() < of(rows, "b2b_heavy")["weight_kg"].mean()


def test_returns_come_mostly_from_marketplace_and_ecommerce(rows: pd.DataFrame) -> None:
    rate = rows.groupby("archetype")["returned"].mean()
    assert rate["marketplace_relay"] > rate["ecommerce_sme"] > rate[["b2b_heavy", "occasional_private"]].max()


def test_b2b_accounts_ship_heavy_parcels_often_and_express(rows: pd.DataFrame) -> None:
    b2b = of(rows, "b2b_heavy")
    parcels = b2b.groupby("customer_id").size().median()
    assert parcels > 2 * of(rows, "ecommerce_sme").groupby("customer_id").size().median()
    assert b2b["service"].isin(["Chrono 10", "Chrono 13"]).mean() > 0.6
    assert b2b["weight_kg"].mean() > 5


def test_exporters_ship_mostly_abroad(rows: pd.DataFrame) -> None:
    exporter = of(rows, "exporter")
    abroad = exporter["destination_country"] != "FR"
    assert abroad.mean() > 0.5
    # International services go abroad, the others stay at home.
    international = rows["service"].isin(["Chrono Classic", "Chrono Express"])
    assert ((rows["destination_country"] != "FR") == international).all()


def test_occasional_private_senders_ship_a_handful_a_year(rows: pd.DataFrame) -> None:
    private = of(rows, "occasional_private")
    per_customer = private.groupby("customer_id").size()
    assert per_customer.between(2, 6).all()
    assert (private["customer_type"] == "B2C").all()


def test_dormant_accounts_stopped_months_before_the_end(rows: pd.DataFrame) -> None:
    dormant = of(rows, "dormant")
    last = dormant.groupby("customer_id")["date"].max()
    assert ((END - last).dt.days >= 90).all()
    assert dormant.groupby("customer_id").size().min() >= 10


def test_late_deliveries_are_more_frequent_abroad(rows: pd.DataFrame) -> None:
    abroad = rows["destination_country"] != "FR"
    assert rows.loc[abroad, "delivered_late"].mean() > rows.loc[~abroad, "delivered_late"].mean()
    assert 0.01 < rows["delivered_late"].mean() < 0.15


def test_prices_rank_services_at_equal_weight(rows: pd.DataFrame) -> None:
    band = rows[rows["weight_kg"].between(1.0, 3.0) & (rows["amount"] > 0)]
    mean = band.groupby("service", observed=True)["amount"].mean()
    assert mean["Chrono 10"] > mean["Chrono 13"] > mean["Chrono 18"] > mean["Chrono Relais"]


def test_refunds_are_rare(rows: pd.DataFrame) -> None:
    negative = rows["amount"] < 0
    assert 0 < negative.mean() < 0.005
    # Only late parcels are refunded.
    assert rows.loc[negative, "delivered_late"].all()


def test_another_home_country_makes_its_own_parcels_domestic() -> None:
    shipments, _ = generate_shipments(300, 12, seed=3, home_country="BE")
    domestic = ~shipments["service"].isin(["Chrono Classic", "Chrono Express"])
    assert (shipments.loc[domestic, "destination_country"] == "BE").all()
    assert (shipments.loc[~domestic, "destination_country"] != "BE").all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_customers": 0}, "customers"),
        ({"months": 0}, "months"),
        ({"end_date": "31/13/2026"}, "end date"),
        ({"home_country": "France"}, "home country"),
    ],
)
def test_bad_arguments_are_usage_errors(kwargs: dict[str, object], message: str) -> None:
    arguments = {"n_customers": 10, **kwargs}
    with pytest.raises(SegmentsError, match=message):
        generate_shipments(**arguments)  # type: ignore[arg-type]


# --- files --------------------------------------------------------------------------------------


def test_truth_path_sits_beside_the_data() -> None:
    assert truth_path_for(Path("out/shipments.parquet")) == Path("out/shipments.truth.parquet")
    assert truth_path_for(Path("shipments.csv")) == Path("shipments.truth.csv")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_write_dataset_round_trips(suffix: str, tmp_path: Path) -> None:
    shipments, customers = generate_shipments(200, 12, seed=4)
    out = tmp_path / "nested" / f"shipments{suffix}"
    truth = write_dataset(shipments, customers, out)

    assert truth == truth_path_for(out)
    if suffix == ".csv":
        assert out.read_text().splitlines()[1].split(",")[1].count("-") == 2  # ISO date, no time
        back = pd.read_csv(out, parse_dates=["date"])
        back_truth = pd.read_csv(truth)
    else:
        back = pd.read_parquet(out)
        back_truth = pd.read_parquet(truth)
    assert list(back.columns) == SHIPMENT_COLUMNS
    for column in ("customer_id", "service", "destination_country", "customer_type"):
        assert back[column].astype(str).tolist() == shipments[column].astype(str).tolist()
    np.testing.assert_array_equal(back["date"].to_numpy("datetime64[ns]"), shipments["date"].to_numpy())
    np.testing.assert_array_equal(back["amount"].to_numpy(), shipments["amount"].to_numpy())
    np.testing.assert_array_equal(back["weight_kg"].to_numpy(), shipments["weight_kg"].to_numpy())
    for column in ("delivered_late", "returned"):
        assert back[column].dtype == bool
        np.testing.assert_array_equal(back[column].to_numpy(), shipments[column].to_numpy())
    assert back_truth["customer_id"].astype(str).tolist() == customers["customer_id"].tolist()
    assert back_truth["archetype"].astype(str).tolist() == customers["archetype"].astype(str).tolist()


def test_write_dataset_refuses_other_extensions(tmp_path: Path) -> None:
    shipments, customers = generate_shipments(20, 12, seed=5)
    with pytest.raises(DataError, match=r"\.xlsx"):
        write_dataset(shipments, customers, tmp_path / "shipments.xlsx")
    assert list(tmp_path.iterdir()) == []
