"""The registry: listing versions, the promotion gates, promotion with its audit trail, rollback."""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from workflow.errors import (
    GateError,
    ModelNotFoundError,
    SegmentsError,
    StoreUnavailableError,
    first_line,
)
from workflow.features import ALL_FEATURES
from workflow.model import VersionSummary
from workflow.tracking.names import (
    CANDIDATE,
    DEFAULT_MIN_SILHOUETTE,
    DEFAULT_MIN_STABILITY,
    MODEL_NAME,
    PRODUCTION,
    SKOPS_TRUSTED_TYPES,
)
from workflow.tracking.store import (
    _file_lock,
    _sqlite_path,
    _user,
    client,
    configure,
    display_uri,
    redact,
    store_errors,
    tracking_uri,
)


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


@dataclass(frozen=True)
class GateFailure:
    """One gate a version failed.

    Attributes
    ----------
    gate : str
        ``silhouette``, ``stability`` (the metric gates), ``contract`` (the features belong to the
        data contract) or ``artifacts`` (present, skops-serialised with our trusted types, loadable).
    message : str
        What failed, for people.
    overridable : bool
        Whether ``promote --force --reason`` may override it: only the metric gates are.
    """

    gate: str
    message: str
    overridable: bool


#: The gates ``--force`` overrides: a weak but sound model may be promoted on purpose.
METRIC_GATES = frozenset({"silhouette", "stability"})


def check_gates(version: Any, gates: Gates) -> list[GateFailure]:
    """The gates a version fails (empty when it may be promoted).

    Checks: silhouette and stability against the thresholds (overridable); the features belong to
    the data contract, and the model's artifacts are present, skops-serialised with our trusted
    types, and load (never overridable).
    """
    failures = metric_gate_failures(
        float(version.tags.get("silhouette", "nan")), float(version.tags.get("stability_ari", "nan")), gates
    )
    features = [name for name in version.tags.get("features", "").split(",") if name]
    unknown = [name for name in features if name not in ALL_FEATURES]
    if not features or unknown:
        failures.append(_failure("contract", f"features {unknown or '(none recorded)'} are not in the data contract"))
    try:
        _load_pipeline(f"models:/{version.name}/{version.version}", features)
    except SegmentsError as error:
        failures.append(_failure("artifacts", str(error)))
    return failures


def metric_gate_failures(silhouette: float, stability: float, gates: Gates) -> list[GateFailure]:
    """The metric gates (overridable) that a silhouette and a stability ARI fail; NaN fails.

    ``train`` asks this of the version it has just registered, to say whether ``promote`` will take it.

    Parameters
    ----------
    silhouette, stability : float
        The version's silhouette and stability ARI (NaN when not recorded).
    gates : Gates
        The thresholds.

    Returns
    -------
    list of GateFailure
        The silhouette failure then the stability one, each overridable; empty when both pass.
    """
    failures = []
    if not silhouette >= gates.min_silhouette:
        failures.append(_failure("silhouette", below_threshold("silhouette", silhouette, gates.min_silhouette)))
    if not stability >= gates.min_stability:
        failures.append(_failure("stability", below_threshold("stability ARI", stability, gates.min_stability)))
    return failures


def below_threshold(metric: str, value: float, threshold: float) -> str:
    """ "silhouette 0.212 < 0.250": with the digits that tell the two apart, never "0.250 < 0.250".

    Parameters
    ----------
    metric : str
        The metric's name as people read it.
    value, threshold : float
        The version's value (NaN when the version does not record it) and the gate's threshold.

    Returns
    -------
    str
        Three decimals, more when three would show two equal numbers (0.24996 < 0.25000).
    """
    if math.isnan(value):
        return f"{metric} not recorded on the version (gate: {threshold:.3f})"
    digits = 3
    while f"{value:.{digits}f}" == f"{threshold:.{digits}f}" and digits < 17:
        digits += 1
    return f"{metric} {value:.{digits}f} < {threshold:.{digits}f}"


def _failure(gate: str, message: str) -> GateFailure:
    return GateFailure(gate, message, overridable=gate in METRIC_GATES)


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
    failed gate; ``force`` overrides the metric gates (``GateFailure.overridable``) but needs a
    reason, and never the data-contract and artifact gates.
    """
    configure(write=True)
    mv = _get_version(model_name, version)
    failures = check_gates(mv, gates or Gates())
    hard = [failure for failure in failures if not failure.overridable]
    if hard or (failures and not force):
        advice = "" if hard else "; use --force --reason TEXT to override"
        messages = "; ".join(failure.message for failure in failures)
        raise GateError(f"version {version} of '{model_name}' refused: {messages}{advice}")
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
