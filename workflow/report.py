"""What the runs of a sweep show beside their metrics: profiles, named centroids and charts.

Pure computation (no MLflow, no paths). A sweep's report is built once, before anything is logged, so
that logging only writes: the MLflow step of ``segments train`` is then as short as the store allows,
and a failure while profiling or drawing stops the command before any run exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from workflow.clustering import Sweep, Trial, centroids_real_units
from workflow.plots import png_bytes, silhouette_figure, sweep_figure
from workflow.profiles import build_profile


@dataclass(frozen=True)
class TrialReport:
    """The artifacts of one k.

    Attributes
    ----------
    profile : DataFrame
        ``build_profile`` of the trial: one row per segment, with its English and French names.
    centroids : DataFrame
        Segment centres in real units, one row per segment, the segment's name first.
    silhouette_png : bytes
        The silhouette plot of the sampled customers, as a PNG file.
    """

    profile: pd.DataFrame
    centroids: pd.DataFrame
    silhouette_png: bytes

    @property
    def names(self) -> list[str]:
        """English segment names, indexed by segment number."""
        return self.profile["name"].tolist()

    @property
    def names_fr(self) -> list[str]:
        """French segment names, indexed by segment number."""
        return self.profile["name_fr"].tolist()


@dataclass(frozen=True)
class SweepReport:
    """The artifacts of a whole sweep: one ``TrialReport`` per k and the sweep's chart."""

    trials: dict[int, TrialReport]
    sweep_png: bytes

    def trial(self, k: int) -> TrialReport:
        """The report of ``k``."""
        return self.trials[k]


def build_sweep_report(
    sweep: Sweep,
    features: pd.DataFrame,
    recommended_k: int,
    *,
    currency: str | None = None,
    on_step: Callable[[str], None] | None = None,
) -> SweepReport:
    """Profile every k of ``sweep`` and draw its charts.

    Parameters
    ----------
    sweep : Sweep
        The fitted sweep (``fit_sweep`` or the Spark engine's).
    features : DataFrame
        The customers' features the sweep was fitted on, in real units and the sweep's row order.
    recommended_k : int
        The k marked on the sweep's chart.
    currency : str, optional
        ISO 4217 code of the amounts, for the segments' descriptions.
    on_step : callable, optional
        Called with a short description before each k (progress bars).
    """
    # Column-major: the per-segment means read each column once per k (twice as fast as row-major).
    scaled = np.asfortranarray(sweep.scaled) if sweep.scaled is not None else None
    trials = {}
    for trial in sweep.trials:
        if on_step is not None:
            on_step(f"profiling k={trial.k}")
        trials[trial.k] = _trial_report(trial, sweep, features, scaled, currency)
    return SweepReport(trials=trials, sweep_png=png_bytes(sweep_figure(sweep.table(), recommended_k)))


def _trial_report(
    trial: Trial, sweep: Sweep, features: pd.DataFrame, scaled: np.ndarray | None, currency: str | None
) -> TrialReport:
    profile = build_profile(
        trial.pipeline, features, trial.labels, scaled=scaled, set_aside=sweep.set_aside, currency=currency
    )
    # Centroids and the silhouette are K-means' own: the set-aside groups have neither.
    segment_names = profile["name"].iloc[: trial.k]
    centroids = centroids_real_units(trial.pipeline)
    centroids.insert(0, "name", segment_names.to_numpy())
    sample_labels = trial.labels[sweep.silhouette_labels_index]
    figure = silhouette_figure(trial.silhouette_values, sample_labels, segment_names.tolist(), trial.k)
    return TrialReport(profile=profile, centroids=centroids, silhouette_png=png_bytes(figure))
