"""The sweep's report: profiles, named centroids and charts built before anything is logged."""

from __future__ import annotations

import struct
from pathlib import Path

import pandas as pd
import pytest

from workflow.clustering import Sweep, centroids_real_units, fit_sweep
from workflow.data import read_shipments
from workflow.features import build_features
from workflow.profiles import build_profile
from workflow.report import SweepReport, build_sweep_report

KS = [2, 3, 5]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG file, read from its IHDR chunk."""
    assert data.startswith(PNG_SIGNATURE)
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def fitted(small_shipments: Path) -> tuple[Sweep, pd.DataFrame]:
    features = build_features(read_shipments(small_shipments)[0])
    return fit_sweep(features, KS, random_state=0, n_init=2), features


@pytest.fixture(scope="module")
def report(fitted: tuple[Sweep, pd.DataFrame]) -> SweepReport:
    sweep, features = fitted
    return build_sweep_report(sweep, features, recommended_k=3)


def test_one_trial_report_per_k_with_the_profile_of_its_labels(
    fitted: tuple[Sweep, pd.DataFrame], report: SweepReport
) -> None:
    sweep, features = fitted
    assert sorted(report.trials) == KS
    for trial in sweep.trials:
        expected = build_profile(trial.pipeline, features, trial.labels)  # scaled space computed afresh
        pd.testing.assert_frame_equal(report.trial(trial.k).profile, expected)
        assert report.trial(trial.k).names == expected["name"].tolist()
        assert report.trial(trial.k).names_fr == expected["name_fr"].tolist()
        assert len(set(report.trial(trial.k).names)) == trial.k


def test_centroids_are_in_real_units_and_named_like_the_profile(
    fitted: tuple[Sweep, pd.DataFrame], report: SweepReport
) -> None:
    sweep, _ = fitted
    for trial in sweep.trials:
        centroids = report.trial(trial.k).centroids
        assert list(centroids.columns) == ["name", *trial.pipeline.feature_names_in_]
        assert centroids["name"].tolist() == report.trial(trial.k).names
        pd.testing.assert_frame_equal(centroids.drop(columns="name"), centroids_real_units(trial.pipeline))


def test_charts_are_png_files_of_the_figures_size(report: SweepReport) -> None:
    # matplotlib's default 100 dpi: the silhouette figure is 7 in wide and 2.5 + 0.6 k in high,
    # the sweep figure 10 × 4 in.
    for k in KS:
        assert png_size(report.trial(k).silhouette_png) == (700, round(100 * (2.5 + 0.6 * k)))
    assert png_size(report.sweep_png) == (1000, 400)


def test_progress_is_told_once_per_k_in_order(fitted: tuple[Sweep, pd.DataFrame]) -> None:
    sweep, features = fitted
    steps: list[str] = []
    build_sweep_report(sweep, features, recommended_k=2, on_step=steps.append)
    assert steps == [f"profiling k={k}" for k in KS]
