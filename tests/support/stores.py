"""Empty embedded MLflow stores for tests, copied from one created once per test process.

Creating an SQLite store runs MLflow's schema migrations: 1–4 s on a shared 2-core machine, paid by
every test that asks for a fresh store. An empty store is a schema and nothing else (experiments are
created on first use, with their artifact location), so a byte copy of one made earlier is the same
store, in 0.06 s.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
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
    target = folder / "mlruns" / "mlflow.db"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_template_db(), target)
    return f"sqlite:///{target}"
