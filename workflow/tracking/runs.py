"""Logging a sweep: one parent run, one child run per k, the model, and its registration as ``candidate``."""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from workflow.set_aside import SetAsideRule
from workflow.tracking.names import (
    CANDIDATE,
    CUSTOMERS_ARTIFACT,
    EXPERIMENT_NAME,
    MODEL_NAME,
    PRODUCTION,
    SCHEMA_ROWS,
    SKOPS_TRUSTED_TYPES,
)
from workflow.tracking.registry import _is_not_found
from workflow.tracking.store import (
    _user,
    client,
    configure,
    experiment_id,
    reap_stale_runs,
    store_errors,
)

if TYPE_CHECKING:
    from workflow.clustering import Recommendation, Sweep, Trial
    from workflow.data import ValidationReport
    from workflow.report import SweepReport, TrialReport

ProgressCallback = Callable[[str], None]


@dataclass
class SweepContext:
    """What a sweep was fitted on, for the runs' params and the dataset input."""

    data_path: str
    data_digest: str
    as_of: str
    n_rows: int
    home_country: str
    report: ValidationReport
    features: pd.DataFrame
    k_spec: str
    #: What was needed to read the data (``workflow.data.ReadOptions.to_dict``): recorded with the runs and
    #: the version, so that ``score`` and the dashboard read a file of the same shape without options.
    read_options: dict = field(default_factory=dict)
    #: ISO 4217 code of the amounts; None when unknown (descriptions then show plain numbers).
    currency: str | None = None


@dataclass
class TrainResult:
    """What ``log_sweep`` created."""

    parent_run_id: str
    child_run_ids: dict[int, str]
    experiment_id: str
    version: str
    k: int


def log_sweep(
    sweep: Sweep,
    recommendation: Recommendation,
    context: SweepContext,
    *,
    report: SweepReport | None = None,
    chosen_k: int | None = None,
    experiment: str = EXPERIMENT_NAME,
    model_name: str = MODEL_NAME,
    on_step: ProgressCallback | None = None,
) -> TrainResult:
    """Log a sweep as one parent run and one child run per k, then register the chosen k.

    ``report`` holds the profiles and charts of every k (``workflow.report.build_sweep_report``);
    it is built here when not given. Building it first, as ``segments train`` does, keeps
    computation out of the runs' lifetime: logging only writes.

    Nothing is registered unless every run was logged: a failure or an interrupt ends the open runs
    as FAILED or KILLED and re-raises. The registered version gets the alias ``candidate``.
    """
    import mlflow

    from workflow.report import build_sweep_report

    if report is None:
        report = build_sweep_report(sweep, context.features, recommendation.k)
    if set(report.trials) != {trial.k for trial in sweep.trials}:
        raise ValueError(f"the report covers k={sorted(report.trials)}, the sweep k={[t.k for t in sweep.trials]}")
    configure(write=True)
    with store_errors(f"log runs to the experiment '{experiment}'"):
        exp_id = experiment_id(experiment)
        reap_stale_runs(experiment)
    chosen = chosen_k if chosen_k is not None else recommendation.k
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    children: dict[int, str] = {}
    model_uris: dict[int, str] = {}
    # Runs are started and ended by hand, not with ``with``: the context manager would end them
    # FAILED on Ctrl-C before we could mark them KILLED.
    try:
        parent = mlflow.start_run(experiment_id=exp_id, run_name=f"sweep-{stamp}", tags=_tags("sweep"))
        _log_parent(sweep, recommendation, context, chosen, report.sweep_png)
        for trial in sweep.trials:
            if on_step is not None:
                on_step(f"logging k={trial.k}")
            child = mlflow.start_run(experiment_id=exp_id, run_name=f"k={trial.k}", nested=True, tags=_tags("trial"))
            model_uris[trial.k] = _log_trial(trial, sweep, context, report.trial(trial.k))
            children[trial.k] = child.info.run_id
            mlflow.end_run()
        if on_step is not None:
            on_step(f"registering k={chosen}")
        version = _register(
            model_name,
            model_uris[chosen],
            sweep.trial(chosen),
            report.trial(chosen),
            recommendation,
            context,
            sweep.set_aside,
            run_id=children[chosen],
            customers_run_id=parent.info.run_id,
        )
        mlflow.end_run()
    except KeyboardInterrupt:
        _end_open_runs("KILLED")
        raise
    except BaseException:
        _end_open_runs("FAILED")
        raise
    return TrainResult(parent.info.run_id, children, exp_id, version, chosen)


def _tags(kind: str) -> dict[str, str]:
    return {
        "segments.kind": kind,
        "segments.pid": str(os.getpid()),
        "segments.host": socket.gethostname(),
        "segments.user": _user(),
    }


def _end_open_runs(status: str) -> None:
    import mlflow

    while mlflow.active_run() is not None:
        mlflow.end_run(status=status)


def _log_files(files: dict[str, str | bytes]) -> None:
    """Log several artifacts of the active run in one call (``log_text``/``log_figure`` each make a folder)."""
    import mlflow

    with tempfile.TemporaryDirectory(prefix="segments-artifacts-") as folder:
        for name, content in files.items():
            if isinstance(content, bytes):
                (Path(folder) / name).write_bytes(content)
            else:
                (Path(folder) / name).write_text(content, encoding="utf-8")
        mlflow.log_artifacts(folder)


def _log_parent(
    sweep: Sweep, recommendation: Recommendation, context: SweepContext, chosen: int, sweep_png: bytes
) -> None:
    import mlflow
    from mlflow.entities import Metric
    from mlflow.models import infer_signature

    table = sweep.table()
    mlflow.log_params(
        {
            "data_path": context.data_path,
            "data_digest": context.data_digest,
            "n_rows": context.n_rows,
            "n_customers": sweep.n_customers,
            "features": ",".join(sweep.features),
            "k_range": context.k_spec,
            "random_state": sweep.random_state,
            "n_init": sweep.n_init,
            "silhouette_sample_size": sweep.silhouette_sample_size,
            "as_of": context.as_of,
            "home_country": context.home_country,
            "read_options": _read_options_json(context),
            "chosen_k": chosen,
            "set_aside_rule": sweep.set_aside.describe(),
        }
    )
    mlflow.set_tags(
        {
            "segments.recommendation": recommendation.reason,
            "segments.read_options": _read_options_json(context),
            # Shown as the run's description in the MLflow UI.
            "mlflow.note.content": _note(recommendation, sweep, chosen),
        }
    )
    mlflow.log_metrics({"recommended_k": recommendation.k, "best_silhouette": float(table["silhouette"].max())})
    # Silhouette and inertia against k as metric histories (step = k): the MLflow UI charts them.
    # One batch, not one transaction per point.
    now = int(time.time() * 1000)
    history = [
        Metric(key=name, value=float(row[name]), timestamp=now, step=int(k))
        for k, row in table.iterrows()
        for name in ("silhouette", "inertia")
    ]
    client().log_batch(mlflow.active_run().info.run_id, metrics=history)
    _log_files(
        {
            "validation.json": json.dumps(context.report.to_dict(), indent=2, default=str),
            "set_aside.json": json.dumps(
                {"rule": sweep.set_aside.to_dict(), "customers": sweep.set_aside_counts()}, indent=2
            ),
            "sweep.csv": table.to_csv(),
            "sweep.png": sweep_png,
            # The training customers travel with the runs: the dashboard and drift read them from the
            # registry, not from a file path that only the trainer's machine can open.
            CUSTOMERS_ARTIFACT: context.features.to_parquet(compression="zstd"),
        }
    )
    with warnings.catch_warnings():
        # MLflow registers its local-file source class twice and then warns that a local path is
        # ambiguous between the two identical candidates; the choice it makes is the right one.
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted in multiple ways")
        dataset = mlflow.data.from_pandas(
            context.features.reset_index(),
            source=context.data_path,
            name=Path(context.data_path).name,
            digest=context.data_digest,
        )
    # MLflow infers the dataset schema by checking every value of every row (15 s at 1M customers);
    # the features have one dtype per column, so the first rows give the same schema.
    dataset.__dict__["schema"] = infer_signature(context.features.reset_index().head(SCHEMA_ROWS)).inputs
    mlflow.log_input(dataset, context="training")


def _read_options_json(context: SweepContext) -> str:
    """The read options as compact JSON (``{}`` when the file needed none)."""
    return json.dumps(context.read_options, ensure_ascii=False)


def _note(recommendation: Recommendation, sweep: Sweep, chosen: int) -> str:
    sampled = (
        f"Silhouette on a seeded sample of {sweep.silhouette_sample_size} of {sweep.n_clustered} customers."
        if sweep.silhouette_sample_size < sweep.n_clustered
        else "Silhouette on every customer K-means saw."
    )
    choice = "" if chosen == recommendation.k else f"\n\nRegistered k={chosen} (chosen with --choose)."
    return f"**Recommendation.** {recommendation.reason}\n\n{sampled}{choice}"


def _transform_description(trial: Trial) -> str:
    parts = [
        f"{step}({','.join(columns)})"
        for step, _, columns in trial.pipeline.named_steps["transform"].transformers_
        if step != "remainder" and len(columns)
    ]
    return "+".join(parts) or "identity"


def _log_trial(trial: Trial, sweep: Sweep, context: SweepContext, report: TrialReport) -> str:
    """Log one k: params, metrics, centroids, profile, silhouette plot and the model. Returns the model URI."""
    import mlflow
    from mlflow.models import Model

    mlflow.log_params(
        {
            "k": trial.k,
            "features": ",".join(sweep.features),
            "transform": _transform_description(trial),
            "scaler": "StandardScaler",
            "n_init": sweep.n_init,
            "random_state": sweep.random_state,
            "n_customers": sweep.n_customers,
            "data_digest": context.data_digest,
            "as_of": context.as_of,
            "silhouette_sample_size": sweep.silhouette_sample_size,
        }
    )
    _log_files(
        {
            "centroids.csv": report.centroids.to_csv(),
            "profile.csv": report.profile.to_csv(),
            "silhouette.png": report.silhouette_png,
        }
    )
    example = context.features[sweep.features].head(5)
    info = Model.log(
        artifact_path=None,  # deprecated in favour of name=, but still a required argument of Model.log
        name="model",
        flavor=_SegmentsFlavor,
        sk_model=trial.pipeline,
        serialization_format="skops",
        skops_trusted_types=SKOPS_TRUSTED_TYPES,
        signature=model_signature(sweep.features),
        input_example=example,
        pip_requirements=_pip_requirements(),
        metadata={
            "segment_names": report.names,
            "segment_names_fr": report.names_fr,
            "set_aside": sweep.set_aside.to_dict(),
        },
    )
    # Logged after the model and linked to it: the MLflow UI shows them on the model's page too, and
    # log_model does not have to re-read every metric's history to link it (one query per metric).
    mlflow.log_metrics(trial.metrics, model_id=info.model_id)
    return info.model_uri


def model_signature(features: list[str]) -> Any:
    """The logged model's signature: the features by name, any number in; ``segment``, ``segment_name`` out.

    The inputs are typed ``any``, not ``double``: MLflow's schema enforcement refuses int64 in a
    ``double`` column ("Can not safely convert int64 to float64"), and counts such as ``frequency``
    naturally come as integers. ``workflow.segment_pyfunc`` reads every feature as float64 and
    refuses what is not a number.
    """
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, DataType, Schema
    from mlflow.types.schema import AnyType

    return ModelSignature(
        inputs=Schema([ColSpec(AnyType(), name) for name in features]),
        outputs=Schema([ColSpec(DataType.long, "segment"), ColSpec(DataType.string, "segment_name")]),
    )


class _SegmentsFlavor:
    """``mlflow.sklearn``'s skops model whose ``python_function`` flavour is ``workflow.segment_pyfunc``.

    ``Model.log`` calls ``save_model`` to write the model folder. The ``sklearn`` flavour stays as
    ``mlflow.sklearn`` writes it (the promotion gates and ``load_segment_model`` read it); only the
    pyfunc loader changes, so that MLflow's clients get segment names and the set-aside rule too.
    """

    __name__ = "segments"  # Model.log names the flavour module in its telemetry

    @staticmethod
    def save_model(path: str, mlflow_model: Any, **kwargs: Any) -> None:
        """Save with ``mlflow.sklearn.save_model``, then point the pyfunc flavour at our loader."""
        import mlflow.sklearn

        from workflow.segment_pyfunc import LOADER_MODULE

        mlflow.sklearn.save_model(path=path, mlflow_model=mlflow_model, **kwargs)
        mlflow_model.flavors["python_function"]["loader_module"] = LOADER_MODULE
        mlflow_model.save(str(Path(path) / "MLmodel"))


def _pip_requirements() -> list[str]:
    # Explicit requirements: MLflow's inference imports the model in a subprocess, seconds per model.
    import sklearn
    import skops

    return [f"scikit-learn=={sklearn.__version__}", f"skops=={skops.__version__}", f"numpy=={np.__version__}"]


def _register(
    model_name: str,
    model_uri: str,
    trial: Trial,
    report: TrialReport,
    recommendation: Recommendation,
    context: SweepContext,
    set_aside: SetAsideRule,
    *,
    run_id: str,
    customers_run_id: str,
) -> str:
    """Register the model with its tags and description, give it ``candidate``; delete the version if that fails.

    ``run_id`` is the child run that logged the model; ``customers_run_id`` the parent run holding
    ``CUSTOMERS_ARTIFACT`` (recorded as the version's ``customers_run_id`` tag).
    """
    tags = {
        "k": str(trial.k),
        "silhouette": f"{trial.metrics['silhouette']:.6f}",
        "stability_ari": f"{trial.metrics['stability_ari']:.6f}",
        "data_digest": context.data_digest,
        "data_path": context.data_path,
        "as_of": context.as_of,
        "home_country": context.home_country,
        "read_options": _read_options_json(context),
        "features": ",".join(context.features.columns),
        "segment_names": json.dumps(dict(enumerate(report.names)), ensure_ascii=False),
        "segment_names_fr": json.dumps(dict(enumerate(report.names_fr)), ensure_ascii=False),
        "set_aside": json.dumps(set_aside.to_dict()),
        "recommendation": recommendation.reason,
        "trained_by": _user(),
    }
    if context.currency:
        tags["currency"] = context.currency
    if customers_run_id:
        tags["customers_run_id"] = customers_run_id
    mlflow_client = client()
    description = version_description(report.profile, recommendation, trial.k)
    _ensure_registered_model(model_name)
    # The client's create_model_version, not mlflow.register_model: the latter prints "Successfully
    # registered model" and "Created version" to stderr, between the CLI's own lines. Tags and the
    # description go with the version in one transaction: no version is ever seen half-tagged.
    version = mlflow_client.create_model_version(
        model_name,
        source=model_uri,
        run_id=run_id,
        tags=tags,
        description=description,
        model_id=model_uri.removeprefix("models:/"),
    ).version
    try:
        mlflow_client.set_registered_model_alias(model_name, CANDIDATE, version)
        mlflow_client.update_registered_model(model_name, model_description(model_name, str(version), description))
    except BaseException:
        mlflow_client.delete_model_version(model_name, version)
        raise
    return str(version)


def _ensure_registered_model(model_name: str) -> None:
    from mlflow.exceptions import MlflowException

    mlflow_client = client()
    try:
        mlflow_client.get_registered_model(model_name)
    except MlflowException as error:
        if not _is_not_found(error):
            raise
        try:
            mlflow_client.create_registered_model(model_name)
        except MlflowException as again:
            # Another process registered it between our lookup and our create.
            if getattr(again, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
                raise


def _markdown_cell(text: object) -> str:
    # A pipe would end the table's cell; a line break the table's row.
    return str(text).replace("|", "\\|").replace("\n", " ")


def version_description(profile: pd.DataFrame, recommendation: Recommendation, k: int) -> str:
    """A version's Markdown description: the recommendation, then one table row per segment.

    Each row gives the segment's name, its customers (and share), its revenue share and its
    one-sentence description, as ``profile`` (``workflow.profiles.build_profile``) has them. A ``k``
    other than the recommended one was chosen with ``--choose``, and the description says so.
    """
    chosen = "" if k == recommendation.k else f" Registered k={k} instead (chosen with `--choose`)."
    lines = [
        f"{recommendation.reason}{chosen}",
        "",
        "| segment | name | customers | revenue share | description |",
        "|---:|---|---:|---:|---|",
    ]
    for segment, row in profile.iterrows():
        revenue = row.get("revenue_share", float("nan"))
        revenue_text = f"{revenue:.1%}" if pd.notna(revenue) else "-"
        name = _markdown_cell(row["name"]) + (" (set aside)" if row.get("kind") == "set_aside" else "")
        sentence = row.get("description")
        sentence = _markdown_cell(sentence) if isinstance(sentence, str) else ""
        lines.append(
            f"| {segment} | {name} | {int(row['size']):,} ({row['share']:.1%}) | {revenue_text} | {sentence} |"
        )
    return "\n".join(lines)


def model_description(model_name: str, version: str, version_text: str) -> str:
    """The registered model's Markdown description: what it is, then its newest version's description."""
    return (
        f"Customer segments: K-means on customer features (recency, frequency, revenue and the logistics "
        f"indicators the data has), with net refunders and exceptional accounts set aside. "
        f"`segments promote VERSION` gives a version the `{PRODUCTION}` alias behind quality gates.\n\n"
        f"### Latest version: {version}\n\n{version_text}"
    )
