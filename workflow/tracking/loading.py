"""Loading a registered version for ``score`` and the dashboard, and the training customers logged with it."""

from __future__ import annotations

import functools
import json
import tempfile

import pandas as pd

from workflow.errors import (
    DataError,
    ModelNotFoundError,
    first_line,
)
from workflow.model import SegmentModel
from workflow.profiles import currency_of
from workflow.set_aside import SetAsideRule
from workflow.tracking.names import (
    CUSTOMERS_ARTIFACT,
    MODEL_NAME,
    PRODUCTION,
)
from workflow.tracking.registry import (
    _get_version,
    _load_pipeline,
    _registered_aliases,
    resolve_version,
)
from workflow.tracking.store import (
    artifact_root,
    client,
    configure,
    redact,
)


def parse_model_ref(ref: str | None, model_name: str = MODEL_NAME) -> tuple[str, str]:
    """``(model name, alias or version)`` from ``production``, ``3``, ``models:/name@alias`` or ``models:/name/3``."""
    ref = ref or PRODUCTION
    if not ref.startswith("models:/"):
        return model_name, ref
    body = ref.removeprefix("models:/")
    if "@" in body:
        name, alias = body.split("@", 1)
        return name, alias
    if "/" in body:
        name, version = body.rsplit("/", 1)
        return name, version
    raise ModelNotFoundError(f"{ref}: expected models:/NAME@ALIAS or models:/NAME/VERSION")


def load_segment_model(ref: str | None = PRODUCTION, model_name: str = MODEL_NAME) -> SegmentModel:
    """Load a registered version (by alias, number or ``models:/`` URI) with its names and facts.

    Only skops-serialised models are loaded; anything else is refused with ``ModelNotFoundError``.
    """
    name, ref = parse_model_ref(ref, model_name)
    version = resolve_version(ref, name)
    mv = _get_version(name, version)
    uri = f"models:/{name}/{version}"
    features = [f for f in mv.tags.get("features", "").split(",") if f]
    pipeline = _load_pipeline(uri, features)
    aliases = sorted(alias for alias, v in _registered_aliases(name).items() if str(v) == version)
    run = client().get_run(mv.run_id) if mv.run_id else None
    return SegmentModel(
        name=name,
        version=version,
        pipeline=pipeline,
        segment_names=_names(mv.tags.get("segment_names")),
        segment_names_fr=_names(mv.tags.get("segment_names_fr")),
        aliases=tuple(aliases),
        metrics=dict(run.data.metrics) if run else {},
        recommendation=mv.tags.get("recommendation", ""),
        run_id=mv.run_id or "",
        experiment_id=run.info.experiment_id if run else "",
        created=pd.Timestamp(mv.creation_timestamp, unit="ms", tz="UTC"),
        data_digest=mv.tags.get("data_digest", ""),
        data_path=mv.tags.get("data_path", ""),
        as_of=mv.tags.get("as_of", ""),
        home_country=mv.tags.get("home_country", "FR"),
        read_options=json.loads(mv.tags.get("read_options") or "{}"),
        # Versions from before the tag: the home country's currency, as train chooses it today.
        currency=mv.tags.get("currency") or currency_of(mv.tags.get("home_country", "FR")) or "",
        profile=_load_profile(mv.run_id) if mv.run_id else None,
        set_aside=SetAsideRule.from_dict(json.loads(mv.tags.get("set_aside") or "{}")),
        customers_run_id=mv.tags.get("customers_run_id", ""),
    )


def load_customers(run_id: str) -> pd.DataFrame:
    """The training customers' features logged with the sweep ``run_id`` (``CUSTOMERS_ARTIFACT``).

    One row per customer, indexed by ``customer_id``, as ``build_features`` made them. Cached per
    store and run (a run's artifacts never change); the frame is shared: do not modify it.
    Raises ``DataError`` when the artifact is missing or unreadable.
    """
    return _cached_customers(configure(), run_id)


@functools.lru_cache(maxsize=4)
def _cached_customers(uri: str, run_id: str) -> pd.DataFrame:
    # ``uri`` is in the key only so that two stores' runs never share an entry.
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory(prefix="segments-customers-") as folder:
        try:
            path = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=CUSTOMERS_ARTIFACT, dst_path=folder, tracking_uri=uri
            )
            return pd.read_parquet(path)
        except (MlflowException, OSError, ValueError) as error:
            raise DataError(f"run {run_id}: {CUSTOMERS_ARTIFACT} unreadable ({redact(first_line(error))})") from None


def _names(text: str | None) -> dict[int, str]:
    return {int(k): v for k, v in json.loads(text).items()} if text else {}


def _load_profile(run_id: str) -> pd.DataFrame | None:
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory() as folder:
        try:
            path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="profile.csv", dst_path=folder)
        except (MlflowException, OSError):
            return None
        return pd.read_csv(path, index_col="segment")


def run_url(ui_address: str, model: SegmentModel) -> str:
    """Link to the model's run in the MLflow UI at ``ui_address`` (e.g. ``http://127.0.0.1:5000``)."""
    return f"{ui_address.rstrip('/')}/#/experiments/{model.experiment_id}/runs/{model.run_id}"


def ui_command(port: int, host: str = "127.0.0.1") -> list[str]:
    """The ``mlflow server`` command line that serves the UI on this project's store."""
    import sys

    uri = configure()
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        uri,
        "--host",
        host,
        "--port",
        str(port),
    ]
    root = artifact_root(uri)
    if root:
        command += ["--default-artifact-root", root]
    return command


def forget_customers() -> None:
    """Empty the cache of ``load_customers`` (``tracking.reset``)."""
    _cached_customers.cache_clear()
