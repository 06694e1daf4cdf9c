"""A registered segmentation model as the rest of the product sees it (no MLflow types here).

``workflow.tracking`` builds a ``SegmentModel`` from the registry, and a ``VersionSummary`` per version
it lists; the CLI's ``score`` and ``models`` and the dashboard use them. Tests can build both directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from sklearn.pipeline import Pipeline

from workflow.clustering import assign_segments
from workflow.features import SHIPMENT_FEATURES
from workflow.set_aside import NO_SET_ASIDE, SetAsideRule


@dataclass
class SegmentModel:
    """A fitted segmentation pipeline with its registry facts and segment names."""

    name: str
    version: str
    pipeline: Pipeline
    segment_names: dict[int, str]
    segment_names_fr: dict[int, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    metrics: dict[str, float] = field(default_factory=dict)
    recommendation: str = ""
    run_id: str = ""
    experiment_id: str = ""
    created: pd.Timestamp | None = None
    data_digest: str = ""
    data_path: str = ""
    as_of: str = ""
    home_country: str = "FR"
    #: What was needed to read the training file (``workflow.data.ReadOptions.to_dict``).
    read_options: dict = field(default_factory=dict)
    profile: pd.DataFrame | None = None
    #: ISO 4217 code of the amounts (the home country's unless ``train --currency`` said otherwise);
    #: empty when unknown.
    currency: str = ""
    #: Who is set aside before K-means (net refunders, exceptional accounts): labels k, k + 1, ….
    set_aside: SetAsideRule = NO_SET_ASIDE
    #: The run holding the training customers' features (``workflow.tracking.CUSTOMERS_ARTIFACT``);
    #: empty for versions registered before it was logged, whose customers come from ``data_path``.
    customers_run_id: str = ""

    @property
    def features(self) -> list[str]:
        """The model's input columns, in order."""
        return list(self.pipeline.feature_names_in_)

    @property
    def k(self) -> int:
        """Number of K-means segments (the set-aside groups not counted)."""
        return int(self.pipeline.named_steps["kmeans"].n_clusters)

    @property
    def shipment_data(self) -> bool:
        """Whether the model was trained on shipments (service or weight columns) rather than orders."""
        return bool(SHIPMENT_FEATURES & set(self.features))

    @property
    def n_labels(self) -> int:
        """Number of labels a customer can get: the K-means segments, then the set-aside groups."""
        return self.k + len(self.set_aside.groups)

    def names(self, lang: str = "en") -> dict[int, str]:
        """Segment names in ``lang`` (``en`` or ``fr``), falling back to English."""
        if lang == "fr" and self.segment_names_fr:
            return self.segment_names_fr
        return self.segment_names

    def descriptions(self, lang: str = "en") -> dict[int, str]:
        """Each segment's one-sentence description in ``lang`` from the profile (empty before they existed)."""
        column = "description_fr" if lang == "fr" else "description"
        if self.profile is None or column not in self.profile:
            return {}
        return {int(segment): text for segment, text in self.profile[column].items() if isinstance(text, str)}

    def score(self, features: pd.DataFrame, lang: str = "en") -> pd.DataFrame:
        """One row per customer: ``segment``, ``segment_name`` and the model's features.

        Raises ``DataError`` when the data lacks a feature the model needs.
        """
        labels = assign_segments(self.pipeline, features, self.set_aside)
        names = self.names(lang)
        scored = pd.DataFrame(
            {
                "segment": labels,
                "segment_name": pd.Series(labels).map(names).to_numpy(dtype=object),
            },
            index=features.index,
        )
        return pd.concat([scored, features[self.features]], axis=1)


@dataclass
class VersionSummary:
    """One registered version as ``segments models`` and the dashboard's version picker show it."""

    version: str
    aliases: list[str]
    k: int
    silhouette: float
    stability_ari: float
    created: pd.Timestamp
    data_digest: str
    data_path: str = ""
    run_id: str = ""
