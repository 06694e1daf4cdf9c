"""Segment models and a registry without MLflow, for the dashboard's tests and benchmarks.

``fit_model`` fits the product's own pipeline (``workflow.clustering.make_pipeline``) and names the
segments with ``workflow.profiles``, so a test model looks like a registered one. ``FakeRegistry``
answers like ``workflow.tracking`` (``load_segment_model``, ``list_versions``), including its errors.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from sklearn.metrics import silhouette_score

from workflow.clustering import make_pipeline, scaled_space
from workflow.errors import ModelNotFoundError, StoreUnavailableError
from workflow.model import SegmentModel, VersionSummary
from workflow.profiles import build_profile
from workflow.tracking import MODEL_NAME, parse_model_ref


def fit_model(
    features: pd.DataFrame,
    k: int,
    *,
    version: str = "1",
    name: str = MODEL_NAME,
    data_path: str = "",
    as_of: str = "",
    random_state: int = 0,
    n_init: int = 3,
) -> SegmentModel:
    """Fit ``transform → scale → kmeans`` on ``features`` and wrap it as a registered model would be.

    The silhouette is computed on at most 5,000 customers (it is O(n²)).
    """
    pipeline = make_pipeline(list(features.columns), k, random_state=random_state, n_init=n_init)
    pipeline.fit(features)
    labels = pipeline.predict(features)
    profile = build_profile(pipeline, features, labels, currency="EUR")
    rng = np.random.default_rng(random_state)
    sample = rng.choice(len(features), size=min(len(features), 5_000), replace=False)
    silhouette = float(silhouette_score(scaled_space(pipeline, features)[sample], labels[sample]))
    return SegmentModel(
        name=name,
        version=str(version),
        pipeline=pipeline,
        segment_names=dict(enumerate(profile["name"])),
        segment_names_fr=dict(enumerate(profile["name_fr"])),
        currency="EUR",
        metrics={"silhouette": silhouette, "stability_ari": 0.95},
        recommendation=f"k={k}: highest silhouette ({silhouette:.3f}) among the k tried.",
        run_id=f"run-{version}",
        experiment_id="1",
        created=pd.Timestamp("2026-11-01T09:30:00Z") + pd.Timedelta(days=int(version) if version.isdigit() else 0),
        data_digest=f"digest{version:0>10}",
        data_path=data_path,
        as_of=as_of,
        profile=profile,
    )


@dataclass
class FakeRegistry:
    """An in-memory model registry with the lookup rules and errors of ``workflow.tracking``.

    ``unreachable=True`` makes every call raise ``StoreUnavailableError``; ``loads`` counts loads
    per version (to check caching).
    """

    models: dict[str, SegmentModel] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    unreachable: bool = False
    loads: dict[str, int] = field(default_factory=dict)

    def add(self, model: SegmentModel, aliases: Iterable[str] = ()) -> None:
        """Register ``model`` under its version and give it ``aliases``."""
        self.models[model.version] = model
        for alias in aliases:
            self.aliases[alias] = model.version

    def _aliases_of(self, version: str) -> tuple[str, ...]:
        return tuple(sorted(alias for alias, v in self.aliases.items() if v == version))

    def load(self, ref: str, model_name: str = MODEL_NAME) -> SegmentModel:
        """Like ``tracking.load_segment_model``: alias, version, or ``models:/name/<version|@alias>``."""
        self._check()
        _name, ref = parse_model_ref(ref, model_name)
        version = self.aliases.get(ref, ref)
        if not self.models:
            raise ModelNotFoundError(f"no registered model named '{model_name}'")
        if version not in self.models:
            raise ModelNotFoundError(f"model '{model_name}' has no version or alias '{ref}'")
        self.loads[version] = self.loads.get(version, 0) + 1
        # A copy, as a fresh load would be: the same model object may sit in several registries.
        return replace(self.models[version], aliases=self._aliases_of(version))

    def list(self, model_name: str = MODEL_NAME) -> list[VersionSummary]:
        """Like ``tracking.list_versions``: newest first."""
        self._check()
        return [
            VersionSummary(
                version=version,
                aliases=list(self._aliases_of(version)),
                k=model.k,
                silhouette=model.metrics.get("silhouette", float("nan")),
                stability_ari=model.metrics.get("stability_ari", float("nan")),
                created=model.created,
                data_digest=model.data_digest,
            )
            for version, model in sorted(self.models.items(), key=lambda item: -int(item[0]))
        ]

    def _check(self) -> None:
        if self.unreachable:
            raise StoreUnavailableError("cannot open sqlite:///nowhere/mlflow.db: unable to open database file")
