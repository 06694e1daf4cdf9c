"""Everything that talks to MLflow: the store, sweep logging, the registry, promotion and loading.

This is the only module that imports mlflow (DESIGN §5). It imports it lazily inside functions,
because ``import mlflow`` costs seconds and ``segments --help`` or ``segments generate`` need none of it.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import re
import socket
import sqlite3
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from workflow.errors import GateError, ModelNotFoundError, SegmentsError, StoreUnavailableError, first_line
from workflow.features import ALL_FEATURES
from workflow.model import SegmentModel
from workflow.profiles import currency_of
from workflow.set_aside import SetAsideRule

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from workflow.clustering import Recommendation, Sweep, Trial
    from workflow.data import ValidationReport
    from workflow.report import SweepReport, TrialReport

EXPERIMENT_NAME = "customer-segments"
MODEL_NAME = "customer-segments"
CANDIDATE = "candidate"
PRODUCTION = "production"
#: Gates that ``promote`` applies unless forced.
DEFAULT_MIN_SILHOUETTE = 0.25
DEFAULT_MIN_STABILITY = 0.8
#: Types inside our pipelines that skops must trust on load (numpy ufuncs in FunctionTransformer).
#: Rows the logged dataset's schema is inferred from (one dtype per feature column).
SCHEMA_ROWS = 1000

SKOPS_TRUSTED_TYPES = ["numpy.log1p", "numpy.expm1", "numpy.arcsinh", "numpy.sinh"]

ProgressCallback = Callable[[str], None]


# --------------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------------


def project_root() -> Path:
    """Where the embedded store lives: ``$SEGMENTS_HOME`` or the directory holding this package."""
    home = os.environ.get("SEGMENTS_HOME")
    return Path(home).resolve() if home else Path(__file__).resolve().parents[1]


def embedded_uri(root: Path | None = None) -> str:
    """``sqlite:///<root>/mlruns/mlflow.db``: the embedded default store (DESIGN §4)."""
    return f"sqlite:///{(root or project_root()) / 'mlruns' / 'mlflow.db'}"


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` when set, else the embedded store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or embedded_uri()


_CREDENTIALS = re.compile(r"(//[^/:@\s]+):[^@/\s]+@")


def redact(text: str) -> str:
    """``http://user:<password>@host`` → ``http://user:***@host``: URIs are shown to people, passwords never."""
    return _CREDENTIALS.sub(r"\1:***@", text)


def display_uri() -> str:
    """The tracking URI as it may be printed (credentials hidden)."""
    return redact(tracking_uri())


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def artifact_root(uri: str) -> str | None:
    """Artifact location for new experiments: ``mlruns/artifacts`` beside an SQLite store, else the server's."""
    db = _sqlite_path(uri)
    return (db.parent / "artifacts").as_uri() if db else None


_configured: str | None = None
_writable: str | None = None


def configure(*, write: bool = False) -> str:
    """Point MLflow at the store, creating an SQLite store once and safely; return the URI.

    Several processes creating a new SQLite store at once corrupt it (an alembic race, DESIGN §7), so
    creation runs under an exclusive file lock beside the database. An unreachable store raises
    ``StoreUnavailableError`` with the URI, not a stack of retries. With ``write=True`` an SQLite store
    is also checked to accept writes, so that a read-only file is refused before any work is done.
    """
    global _configured, _writable  # noqa: PLW0603 -- one store per process; set once, read by every call below
    uri = tracking_uri()
    if _configured == uri:
        if write and _writable != uri:
            _check_writable(uri)
            _writable = uri
        return uri
    import mlflow

    # Fail fast on an unreachable server instead of MLflow's minutes of retries.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")
    # Artifact downloads are small here; MLflow's tqdm bars would clutter the CLI's own output.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    db = _sqlite_path(uri)
    if db is not None:
        if not db.parent.is_dir():
            try:
                db.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreUnavailableError(f"cannot create the store folder {db.parent}: {error}") from None
        with _file_lock(db.with_suffix(".lock")):
            _probe(uri)
    else:
        _probe(uri)
    _configured = uri
    if write:
        _check_writable(uri)
        _writable = uri
    return uri


def _check_writable(uri: str) -> None:
    """Refuse a read-only SQLite store now rather than at the first write, after minutes of fitting."""
    db = _sqlite_path(uri)
    if db is None:
        return  # a server says so itself (permission errors are mapped by ``store_errors``)
    try:
        with contextlib.closing(sqlite3.connect(db, timeout=10)) as connection:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(f"PRAGMA user_version = {int(version)}")
            connection.execute("ROLLBACK")
    except (sqlite3.Error, OSError) as error:
        raise StoreUnavailableError(f"MLflow store {redact(uri)} is read-only: {first_line(error)}") from None


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    try:
        handle = path.open("a")
    except OSError as error:
        if path.with_suffix(".db").exists() and path.suffix == ".lock":
            # An existing store in a read-only folder: nothing will be created, so there is no race to
            # guard against, and reading must still work.
            yield
            return
        raise StoreUnavailableError(f"cannot open the store lock {path}: {error}") from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _probe(uri: str) -> None:
    """Open the tracking and registry stores once (creating tables if needed)."""
    from mlflow import MlflowClient

    try:
        client = MlflowClient(uri, uri)
        client.search_experiments(max_results=1)
        client.search_registered_models(max_results=1)
    except Exception as error:  # any failure here means the store is unusable; say which and why
        raise StoreUnavailableError(f"MLflow store {redact(uri)} is unavailable: {redact(first_line(error))}") from None


@contextlib.contextmanager
def store_errors(action: str) -> Iterator[None]:
    """Turn a server's refusal (no permission, not authenticated) into one clear ``StoreUnavailableError``."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as error:
        code = getattr(error, "error_code", "")
        if code in {"PERMISSION_DENIED", "UNAUTHENTICATED"}:
            who = os.environ.get("MLFLOW_TRACKING_USERNAME", _user())
            raise StoreUnavailableError(
                f"permission denied: {who} may not {action} on {display_uri()} (ask an admin for EDIT)"
            ) from None
        raise


def client() -> MlflowClient:
    """An ``MlflowClient`` on the configured store."""
    from mlflow import MlflowClient

    uri = configure()
    return MlflowClient(uri, uri)


def experiment_id(name: str = EXPERIMENT_NAME) -> str:
    """The experiment's id, creating it (with artifacts under ``mlruns/artifacts`` for SQLite) if new."""
    from mlflow.exceptions import MlflowException

    mlflow_client = client()
    existing = mlflow_client.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    location = artifact_root(tracking_uri())
    try:
        return mlflow_client.create_experiment(name, artifact_location=location)
    except MlflowException:
        # Another process created it between our lookup and our create.
        return mlflow_client.get_experiment_by_name(name).experiment_id


def reap_stale_runs(experiment: str = EXPERIMENT_NAME) -> int:
    """Mark KILLED the RUNNING runs whose process on this host is gone (a crash or ``kill -9``).

    Returns how many runs were marked.
    """
    mlflow_client = client()
    stale = stale_runs(experiment)
    for run_id in stale:
        mlflow_client.set_terminated(run_id, status="KILLED")
    return len(stale)


def stale_runs(experiment: str = EXPERIMENT_NAME) -> list[str]:
    """Ids of the RUNNING runs whose process on this host is gone; read-only (``segments models`` tells).

    Runs started on another host cannot be judged from here and are left out.
    """
    mlflow_client = client()
    exp = mlflow_client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    host = socket.gethostname()
    running = mlflow_client.search_runs([exp.experiment_id], "attributes.status = 'RUNNING'", max_results=1000)
    return [
        run.info.run_id
        for run in running
        if run.data.tags.get("segments.host") == host and not _alive(int(run.data.tags.get("segments.pid", "0")))
    ]


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --------------------------------------------------------------------------------------------------
# Logging a sweep
# --------------------------------------------------------------------------------------------------


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


def _user() -> str:
    try:
        return os.environ.get("SEGMENTS_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


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
    import mlflow.sklearn
    from mlflow.models import infer_signature

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
    info = mlflow.sklearn.log_model(
        trial.pipeline,
        name="model",
        serialization_format="skops",
        skops_trusted_types=SKOPS_TRUSTED_TYPES,
        signature=infer_signature(example, trial.pipeline.predict(example)),
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
) -> str:
    """Register the model with its tags, give it ``candidate``; delete the version if the alias fails."""
    import mlflow

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
    mlflow_client = client()
    # Tags go with the version in one transaction: no version is ever seen half-tagged.
    version = mlflow.register_model(model_uri, model_name, tags=tags).version
    try:
        mlflow_client.set_registered_model_alias(model_name, CANDIDATE, version)
    except BaseException:
        mlflow_client.delete_model_version(model_name, version)
        raise
    return str(version)


# --------------------------------------------------------------------------------------------------
# The registry: listing, promotion, rollback
# --------------------------------------------------------------------------------------------------


@dataclass
class VersionSummary:
    """One registered version as ``segments models`` and the dashboard's picker show it."""

    version: str
    aliases: list[str]
    k: int
    silhouette: float
    stability_ari: float
    created: pd.Timestamp
    data_digest: str
    data_path: str
    run_id: str


def _registered_aliases(model_name: str) -> dict[str, str]:
    """alias → version. ``search_model_versions`` returns no aliases (mlflow #9783), so ask the model."""
    from mlflow.exceptions import MlflowException

    try:
        return dict(client().get_registered_model(model_name).aliases)
    except MlflowException as error:
        if _is_not_found(error):
            raise ModelNotFoundError(
                f"no registered model '{model_name}' in {display_uri()}: run `segments train --data FILE` first"
            ) from None
        raise


def _is_not_found(error: Exception) -> bool:
    return getattr(error, "error_code", "") in {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"}


def list_versions(model_name: str = MODEL_NAME) -> list[VersionSummary]:
    """Every version of the registered model, newest first, with its aliases and headline metrics."""
    aliases = _registered_aliases(model_name)
    by_version: dict[str, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(str(version), []).append(alias)
    versions = client().search_model_versions(f"name = '{model_name}'")
    rows = [
        VersionSummary(
            version=str(mv.version),
            aliases=sorted(by_version.get(str(mv.version), [])),
            k=int(mv.tags.get("k", 0)),
            silhouette=float(mv.tags.get("silhouette", "nan")),
            stability_ari=float(mv.tags.get("stability_ari", "nan")),
            created=pd.Timestamp(mv.creation_timestamp, unit="ms", tz="UTC"),
            data_digest=mv.tags.get("data_digest", ""),
            data_path=mv.tags.get("data_path", ""),
            run_id=mv.run_id or "",
        )
        for mv in versions
    ]
    return sorted(rows, key=lambda row: -int(row.version))


def _get_version(model_name: str, version: str) -> Any:
    from mlflow.exceptions import MlflowException

    _registered_aliases(model_name)  # a clear error when the model itself does not exist
    if not str(version).isdigit():
        raise ModelNotFoundError(f"'{version}' is not a version number of '{model_name}'")
    try:
        return client().get_model_version(model_name, str(version))
    except MlflowException as error:
        if _is_not_found(error):
            known = ", ".join(v.version for v in list_versions(model_name)) or "none"
            raise ModelNotFoundError(f"'{model_name}' has no version {version} (versions: {known})") from None
        raise


def resolve_version(ref: str, model_name: str = MODEL_NAME) -> str:
    """Version number for an alias (``production``) or a version number (``3``)."""
    if str(ref).isdigit():
        return str(_get_version(model_name, ref).version)
    aliases = _registered_aliases(model_name)
    if ref not in aliases:
        hint = (
            f"run `segments promote VERSION --alias {ref}`" if ref != CANDIDATE else "run `segments train --data FILE`"
        )
        known = ", ".join(sorted(aliases)) or "none"
        raise ModelNotFoundError(f"'{model_name}' has no alias '{ref}' (aliases: {known}); {hint}")
    return str(aliases[ref])


@dataclass
class Gates:
    """Promotion thresholds."""

    min_silhouette: float = DEFAULT_MIN_SILHOUETTE
    min_stability: float = DEFAULT_MIN_STABILITY


def check_gates(version: Any, gates: Gates) -> list[str]:
    """Reasons a version may not be promoted (empty when it may).

    Checks: silhouette and stability against the thresholds; the features belong to the data
    contract; the model's artifacts are present, skops-serialised with our trusted types, and load.
    """
    failures = []
    silhouette = float(version.tags.get("silhouette", "nan"))
    stability = float(version.tags.get("stability_ari", "nan"))
    if not silhouette >= gates.min_silhouette:
        failures.append(f"silhouette {silhouette:.3f} < {gates.min_silhouette:.3f}")
    if not stability >= gates.min_stability:
        failures.append(f"stability ARI {stability:.3f} < {gates.min_stability:.3f}")
    features = [name for name in version.tags.get("features", "").split(",") if name]
    unknown = [name for name in features if name not in ALL_FEATURES]
    if not features or unknown:
        failures.append(f"features {unknown or '(none recorded)'} are not in the data contract")
    try:
        _load_pipeline(f"models:/{version.name}/{version.version}", features)
    except SegmentsError as error:
        failures.append(str(error))
    return failures


def _load_pipeline(uri: str, features: list[str]) -> Any:
    """Check the model's artifacts (see ``_check_model_artifacts``), then load it; a missing file is refused."""
    import mlflow.sklearn
    from mlflow.exceptions import MlflowException

    _check_model_artifacts(uri, features)
    try:
        return mlflow.sklearn.load_model(uri)
    except (MlflowException, OSError) as error:
        raise ModelNotFoundError(f"{uri}: model artifacts unreadable ({redact(first_line(error))})") from None


def _check_model_artifacts(uri: str, features: list[str]) -> None:
    """The model's MLmodel file is readable, skops-serialised, and its signature matches ``features``."""
    from mlflow.exceptions import MlflowException
    from mlflow.models import get_model_info

    try:
        info = get_model_info(uri)
    except (MlflowException, OSError) as error:
        raise ModelNotFoundError(f"{uri}: model artifacts unreadable ({first_line(error)})") from None
    flavor = info.flavors.get("sklearn", {})
    if flavor.get("serialization_format") != "skops":
        fmt = flavor.get("serialization_format", "unknown")
        raise ModelNotFoundError(f"{uri}: serialised as '{fmt}', only skops models are loaded (pickle can run code)")
    # MLflow hands skops the trusted types the model itself lists: refuse any beyond ours.
    extra = sorted(set(flavor.get("skops_trusted_types") or []) - set(SKOPS_TRUSTED_TYPES))
    if extra:
        raise ModelNotFoundError(f"{uri}: the model trusts types outside our list ({', '.join(extra)}); refused")
    inputs = [spec.name for spec in info.signature.inputs.inputs] if info.signature else []
    if features and inputs != features:
        raise ModelNotFoundError(f"{uri}: signature inputs {inputs} differ from the recorded features {features}")


def promote(
    version: str,
    *,
    alias: str = PRODUCTION,
    reason: str = "",
    force: bool = False,
    gates: Gates | None = None,
    model_name: str = MODEL_NAME,
) -> dict[str, str]:
    """Give ``alias`` to ``version`` after the gates pass; keep the former holder as ``previous-<alias>``.

    Returns a summary (version, previous version, who, when). Raises ``GateError`` listing every
    failed gate; ``force`` overrides the metric gates but needs a reason, and never skips the
    existence and artifact checks.
    """
    configure(write=True)
    mv = _get_version(model_name, version)
    failures = check_gates(mv, gates or Gates())
    hard = [f for f in failures if f.startswith("models:/")]  # artifact problems: never forced
    if hard or (failures and not force):
        advice = "" if hard else "; use --force --reason TEXT to override"
        raise GateError(f"version {version} of '{model_name}' refused: {'; '.join(failures)}{advice}")
    if force and not reason.strip():
        raise GateError("--force needs --reason TEXT: the audit trail must say why the gates were overridden")
    with store_errors(f"move the alias '{alias}' of '{model_name}'"):
        return _move_alias(model_name, alias, str(mv.version), reason, forced=force and bool(failures))


def _move_alias(model_name: str, alias: str, version: str, reason: str, *, forced: bool) -> dict[str, str]:
    """Read the holder, write the audit, move the aliases: one critical section per store.

    Concurrent promotions would otherwise all read the same holder and break the audit chain. An
    SQLite store is serialised with a file lock; on a server the move is re-checked afterwards.
    """
    db = _sqlite_path(tracking_uri())
    guard = _file_lock(db.with_name(db.stem + ".promote.lock")) if db else contextlib.nullcontext()
    with guard:
        result = _move_alias_unlocked(model_name, alias, version, reason, forced=forced)
    holder = _registered_aliases(model_name).get(alias)
    if str(holder) != version:
        raise StoreUnavailableError(
            f"another promotion moved '{alias}' to version {holder} at the same time; check `segments models`"
        )
    return result


def _move_alias_unlocked(model_name: str, alias: str, version: str, reason: str, *, forced: bool) -> dict[str, str]:
    mlflow_client = client()
    aliases = _registered_aliases(model_name)
    previous = aliases.get(alias)
    if previous is not None and str(previous) == version:
        return {"version": version, "previous": version, "alias": alias, "changed": "no"}
    moment = datetime.now(UTC)
    now = moment.isoformat(timespec="seconds")
    who = _user()
    audit = {
        "promoted_by": who,
        "promoted_at": now,
        "promotion_reason": reason or "(no reason given)",
        "promotion_alias": alias,
        "promotion_forced": str(forced).lower(),
        "promotion_previous": str(previous or ""),
    }
    # The audit trail is written before the aliases move: a crash in between leaves a trail that
    # over-reports, never an alias move that nobody can account for.
    for key, value in audit.items():
        mlflow_client.set_model_version_tag(model_name, version, key, value)
    forced_mark = " [forced]" if forced else ""
    event = f"{now} {alias}: {previous or '-'} -> {version} by {who} ({reason or 'no reason'}){forced_mark}"
    key = f"audit.{moment.strftime('%Y%m%dT%H%M%S.%fZ')}.{os.getpid()}"
    mlflow_client.set_registered_model_tag(model_name, key, event)
    if previous is not None:
        mlflow_client.set_registered_model_alias(model_name, f"previous-{alias}", str(previous))
    mlflow_client.set_registered_model_alias(model_name, alias, version)
    return {
        "version": version,
        "previous": str(previous or ""),
        "alias": alias,
        "changed": "yes",
        "by": who,
        "at": now,
    }


def rollback(*, alias: str = PRODUCTION, reason: str = "", model_name: str = MODEL_NAME) -> dict[str, str]:
    """Give ``alias`` back to the version holding ``previous-<alias>``; the two swap, so a second rollback undoes it."""
    configure(write=True)
    aliases = _registered_aliases(model_name)
    previous = aliases.get(f"previous-{alias}")
    if previous is None:
        raise ModelNotFoundError(f"no 'previous-{alias}' alias on '{model_name}': nothing to roll back to")
    with store_errors(f"move the alias '{alias}' of '{model_name}'"):
        return _move_alias(model_name, alias, str(previous), reason or f"rollback of {alias}", forced=False)


def audit_trail(model_name: str = MODEL_NAME) -> list[str]:
    """Alias moves, oldest first, as recorded by promote and rollback."""
    tags = client().get_registered_model(model_name).tags
    return [tags[key] for key in sorted(key for key in tags if key.startswith("audit."))]


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------


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
    )


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
