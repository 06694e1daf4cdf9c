"""Everything that talks to MLflow: the store, sweep logging, the registry, promotion and loading.

This is the only package that imports mlflow (docs/architecture.md), lazily inside functions, because
``import mlflow`` costs seconds and ``segments --help`` or ``segments generate`` need none of it.
``workflow.segment_pyfunc`` is the exception MLflow itself needs: the loader of the logged models'
``python_function`` flavour, which imports no mlflow either.

Modules: ``names`` (the contract's names and the gate thresholds), ``store`` (where the store is,
``configure``, the client, the experiment), ``runs`` (logging a sweep and registering it),
``registry`` (versions, gates, promotion, rollback) and ``loading`` (a version for ``score`` and the
dashboard, its training customers). Callers use ``from workflow import tracking`` and the names below.
"""

from __future__ import annotations

from workflow.model import VersionSummary
from workflow.tracking import loading, names, registry, runs, store
from workflow.tracking.loading import (
    load_customers,
    load_segment_model,
    parse_model_ref,
    run_url,
    ui_command,
)
from workflow.tracking.names import (
    CANDIDATE,
    CUSTOMERS_ARTIFACT,
    DEFAULT_MIN_SILHOUETTE,
    DEFAULT_MIN_STABILITY,
    EXPERIMENT_KIND,
    EXPERIMENT_KIND_TAG,
    EXPERIMENT_NAME,
    MODEL_NAME,
    PRODUCTION,
    SCHEMA_ROWS,
    SKOPS_TRUSTED_TYPES,
)
from workflow.tracking.registry import (
    METRIC_GATES,
    GateFailure,
    Gates,
    audit_trail,
    below_threshold,
    check_gates,
    list_versions,
    metric_gate_failures,
    promote,
    resolve_version,
    rollback,
)
from workflow.tracking.runs import (
    ProgressCallback,
    SweepContext,
    TrainResult,
    log_sweep,
    model_description,
    model_signature,
    version_description,
)
from workflow.tracking.store import (
    artifact_root,
    client,
    configure,
    display_uri,
    embedded_uri,
    experiment_id,
    project_root,
    quiet_mlflow_logs,
    reap_stale_runs,
    redact,
    stale_runs,
    store_errors,
    tracking_uri,
)


def reset() -> None:
    """Forget the store checked by ``configure`` and the training customers cached per run.

    The next ``configure`` probes the store again (and creates it if it is gone). For tests, and for
    a long-lived process that must check its store again.
    """
    store.forget()
    loading.forget_customers()


__all__ = [
    "CANDIDATE",
    "CUSTOMERS_ARTIFACT",
    "DEFAULT_MIN_SILHOUETTE",
    "DEFAULT_MIN_STABILITY",
    "EXPERIMENT_KIND",
    "EXPERIMENT_KIND_TAG",
    "EXPERIMENT_NAME",
    "METRIC_GATES",
    "MODEL_NAME",
    "PRODUCTION",
    "SCHEMA_ROWS",
    "SKOPS_TRUSTED_TYPES",
    "GateFailure",
    "Gates",
    "ProgressCallback",
    "SweepContext",
    "TrainResult",
    "VersionSummary",
    "artifact_root",
    "audit_trail",
    "below_threshold",
    "check_gates",
    "client",
    "configure",
    "display_uri",
    "embedded_uri",
    "experiment_id",
    "list_versions",
    "load_customers",
    "load_segment_model",
    "loading",
    "log_sweep",
    "metric_gate_failures",
    "model_description",
    "model_signature",
    "names",
    "parse_model_ref",
    "project_root",
    "promote",
    "quiet_mlflow_logs",
    "reap_stale_runs",
    "redact",
    "registry",
    "reset",
    "resolve_version",
    "rollback",
    "run_url",
    "runs",
    "stale_runs",
    "store",
    "store_errors",
    "tracking_uri",
    "ui_command",
    "version_description",
]
