"""The MLflow store: where it is, creating it once and safely, the client, the experiment, stale runs.

MLflow is imported lazily inside functions: ``import mlflow`` costs seconds and ``segments --help`` or
``segments generate`` need none of it.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import logging
import os
import re
import socket
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from workflow.errors import (
    StoreUnavailableError,
    first_line,
)
from workflow.tracking.names import (
    EXPERIMENT_KIND,
    EXPERIMENT_KIND_TAG,
    EXPERIMENT_NAME,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient


def project_root() -> Path:
    """Where the embedded store lives: ``$SEGMENTS_HOME`` or the directory holding this package."""
    home = os.environ.get("SEGMENTS_HOME")
    return Path(home).resolve() if home else Path(__file__).resolve().parents[2]


def embedded_uri(root: Path | None = None) -> str:
    """``sqlite:///<root>/mlruns/mlflow.db``: the embedded default store (docs/architecture.md)."""
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


@dataclass
class _StoreState:
    """What this process has checked about the store it talks to (set by ``configure``, cleared by ``reset``)."""

    #: The URI MLflow was pointed at and probed, None before the first ``configure``.
    configured: str | None = None
    #: The URI whose SQLite file was checked to accept writes.
    writable: str | None = None


_state = _StoreState()


def forget() -> None:
    """Forget the store checked by ``configure``: the next ``configure`` probes it again (``tracking.reset``)."""
    _state.configured = None
    _state.writable = None


def quiet_mlflow_logs() -> None:
    """Keep MLflow's INFO lines ("Creating initial MLflow database tables...") out of the CLI's output.

    MLflow gives its ``mlflow`` logger its own stderr handler at import, at INFO unless
    ``MLFLOW_LOGGING_LEVEL`` says otherwise; our commands print their own progress. A level the user
    set in ``MLFLOW_LOGGING_LEVEL`` is left alone (to debug MLflow itself).
    """
    if not os.environ.get("MLFLOW_LOGGING_LEVEL"):
        logging.getLogger("mlflow").setLevel(logging.WARNING)


def configure(*, write: bool = False) -> str:
    """Point MLflow at the store, creating an SQLite store once and safely; return the URI.

    Several processes creating a new SQLite store at once corrupt it (an alembic race; docs/architecture.md,
    "Measured facts"), so creation runs under an exclusive file lock beside the database. An unreachable store raises
    ``StoreUnavailableError`` with the URI, not a stack of retries. With ``write=True`` an SQLite store
    is also checked to accept writes, so that a read-only file is refused before any work is done.
    """
    uri = tracking_uri()
    if _state.configured == uri:
        if write and _state.writable != uri:
            _check_writable(uri)
            _state.writable = uri
        return uri
    import mlflow

    quiet_mlflow_logs()

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
    _state.configured = uri
    if write:
        _check_writable(uri)
        _state.writable = uri
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
    """The experiment's id, creating it (with artifacts under ``mlruns/artifacts`` for SQLite) if new.

    The experiment is tagged as model development (``EXPERIMENT_KIND_TAG``), also when it was created
    before the tag existed: without it the MLflow 3 UI opens it on the GenAI overview (traces, an
    assistant) instead of the training runs.
    """
    from mlflow.exceptions import MlflowException

    mlflow_client = client()
    existing = mlflow_client.get_experiment_by_name(name)
    if existing is None:
        location = artifact_root(tracking_uri())
        try:
            return mlflow_client.create_experiment(
                name, artifact_location=location, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND}
            )
        except MlflowException:
            # Another process created it between our lookup and our create.
            existing = mlflow_client.get_experiment_by_name(name)
    if existing.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
        mlflow_client.set_experiment_tag(existing.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    return existing.experiment_id


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


def _user() -> str:
    try:
        return os.environ.get("SEGMENTS_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
