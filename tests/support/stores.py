"""Embedded MLflow stores for tests: empty ones copied from one created once per test process, and
the one place that points ``workflow.tracking`` at a store for a test or a block.

Creating an SQLite store runs MLflow's schema migrations: 1–4 s on a shared 2-core machine, paid by
every test that asks for a fresh store. An empty store is a schema and nothing else (experiments are
created on first use, with their artifact location), so a byte copy of one made earlier is the same
store, in 0.06 s.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_template: list[Path] = []


def _template_db() -> Path:
    """The empty store's database file, created on first use (this process only)."""
    if not _template:
        from workflow import tracking

        folder = Path(tempfile.mkdtemp(prefix="segments-empty-store-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
            tracking.reset()
            tracking.configure()
        tracking.reset()  # the next configure() points MLflow at the caller's store
        _template.append(folder / "mlflow.db")
    return _template[0]


def empty_store(folder: Path) -> str:
    """A new, empty embedded store at ``folder/mlruns/mlflow.db``; returns its URI (not configured yet)."""
    return copy_store(_template_db(), folder)


def copy_store(db: Path, folder: Path) -> str:
    """A copy of the store whose database is ``db``, at ``folder/mlruns/mlflow.db``; returns its URI.

    Only the database is copied: the runs' artifacts stay where the original store wrote them, so
    the copy is for tests that read them, or that must leave the original's registry as it was.
    """
    target = folder / "mlruns" / "mlflow.db"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(db, target)
    return f"sqlite:///{target}"


@contextlib.contextmanager
def using_store(uri: str) -> Iterator[str]:
    """Point ``workflow.tracking`` (and MLflow's globals) at ``uri`` for the block; yield ``uri``.

    Versions and audit tags are written by the user ``tester``. After the block, whatever store was
    configured before is configured again by the next ``tracking.configure()``.
    """
    from workflow import tracking

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.setenv("SEGMENTS_USER", "tester")
        tracking.reset()
        try:
            tracking.configure()
            yield uri
        finally:
            tracking.reset()
