"""The registered model as MLflow's own clients use it: a segment and its name per customer.

Each model that ``segments train`` logs has two flavours in its ``MLmodel`` file: ``sklearn`` (the skops
pipeline, which ``segments score`` and the dashboard load through ``workflow.tracking``) and
``python_function``, whose loader is this module. So ``mlflow.pyfunc.load_model(uri).predict(frame)``
and ``mlflow models serve`` answer ``segment`` and ``segment_name`` (English), with the version's
set-aside rule applied, exactly as ``SegmentModel.score`` does.

MLflow imports this module by name and calls :func:`_load_pyfunc`. It imports no mlflow itself: the
pipeline is read with skops trusting our types only (``workflow.tracking.SKOPS_TRUSTED_TYPES``), never
the list the model file carries, and the names and the rule come from the ``MLmodel`` metadata.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from workflow.clustering import assign_segments
from workflow.errors import DataError
from workflow.set_aside import SetAsideRule

#: The module MLflow imports to load a model's ``python_function`` flavour.
LOADER_MODULE = __name__


class SegmentPredictor:
    """What ``mlflow.pyfunc.load_model`` wraps: a fitted pipeline, its segment names and set-aside rule.

    Parameters
    ----------
    pipeline : Pipeline
        The fitted ``transform → scale → kmeans`` pipeline.
    names : dict of int to str
        Name of each label (the K-means segments, then the set-aside groups).
    set_aside : SetAsideRule
        The version's rule for the customers set aside before K-means.
    """

    def __init__(self, pipeline: Any, names: dict[int, str], set_aside: SetAsideRule) -> None:
        self.pipeline = pipeline
        self.names = names
        self.set_aside = set_aside

    @property
    def features(self) -> list[str]:
        """The model's input columns, in order."""
        return list(self.pipeline.feature_names_in_)

    def predict(self, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """One row per input row: ``segment`` (int) and ``segment_name`` (``params``: unused, MLflow passes it).

        Counts may come as integers and amounts as floats (the signature accepts any number, since
        MLflow refuses int64 for a ``double`` column): every feature is read as float64 here.
        Raises ``DataError`` when a feature is missing or not numeric.
        """
        frame = pd.DataFrame(model_input)
        missing = [name for name in self.features if name not in frame.columns]
        if missing:
            raise DataError(f"the model needs feature(s) {', '.join(missing)}")
        try:
            features = frame[self.features].astype("float64")
        except (TypeError, ValueError) as error:
            raise DataError(f"features must be numbers: {error}") from None
        labels = assign_segments(self.pipeline, features, self.set_aside)
        names = pd.Series(labels).map(self.names).to_numpy(dtype=object)
        return pd.DataFrame({"segment": labels, "segment_name": names}, index=frame.index)


def _load_pyfunc(path: str) -> SegmentPredictor:
    """MLflow's loader hook: ``path`` is the folder of a model logged by ``segments train``."""
    import skops.io

    from workflow.tracking.names import SKOPS_TRUSTED_TYPES

    folder = Path(path)
    folder = folder.parent if folder.is_file() else folder  # MLflow passes the folder, or its model file
    spec = yaml.safe_load((folder / "MLmodel").read_text(encoding="utf-8"))
    meta = spec.get("metadata") or {}
    pipeline = skops.io.load(folder / spec["flavors"]["sklearn"]["pickled_model"], trusted=SKOPS_TRUSTED_TYPES)
    names = {int(label): str(name) for label, name in enumerate(meta.get("segment_names") or [])}
    return SegmentPredictor(pipeline, names, SetAsideRule.from_dict(meta.get("set_aside") or {}))
