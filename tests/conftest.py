"""Shared fixtures: a temporary SQLite MLflow store per test, small generated shipments, CLI runner."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from segments.cli import run
from tests.support.stores import empty_store, using_store

#: The params and metrics of every child run (docs/architecture.md, "MLflow contract"), written out here rather
#: than taken from the code.
CHILD_PARAMS = {"k", "features", "transform", "scaler", "n_init", "random_state", "n_customers", "data_digest", "as_of"}
CHILD_METRICS = {
    "silhouette",
    "calinski_harabasz",
    "davies_bouldin",
    "inertia",
    "stability_ari",
    "min_cluster_share",
    "n_clusters",
}


@pytest.fixture
def mlflow_store(tmp_path: Path) -> Iterator[str]:
    """A fresh embedded store under ``tmp_path``: ``MLFLOW_TRACKING_URI`` points at it for the test.

    A copy of an empty store made once per test process: creating one runs MLflow's migrations (seconds).
    """
    with using_store(empty_store(tmp_path)) as uri:
        yield uri


@pytest.fixture(autouse=True)
def _live_bokeh_document() -> None:
    """Give Bokeh's ``curdoc()`` back a live document when an in-process server's session took it.

    Browser tests serve the dashboard in this process (``serve(threaded=True)``). Panel 1.9's
    ``run_app`` can leave a session's document as Bokeh's process-wide document (when ``curdoc()``
    raised as it started) or on Bokeh's stack of patched documents (``patch_curdoc`` pops it only when
    the session's code does not raise). Once that session ends its document is destroyed, and a later
    ``hv.render`` in a unit test fails with "'Document' object has no attribute '_theme'". A served
    dashboard never renders outside a session: only a server sharing the test process sees this.
    """
    import sys

    if "bokeh.io.doc" not in sys.modules:
        return
    from bokeh.document import Document
    from bokeh.io import doc as bokeh_doc
    from bokeh.io.state import curstate

    def live(document: object) -> bool:
        return document is not None and hasattr(document, "_roots")  # Document.destroy deletes it

    bokeh_doc._PATCHED_CURDOCS[:] = [ref for ref in bokeh_doc._PATCHED_CURDOCS if live(ref())]
    if not live(curstate().document):
        curstate().document = Document()


@pytest.fixture(autouse=True)
def _end_stray_runs() -> Iterator[None]:
    """A failing test must not leave an active run that leaks into the next one."""
    yield
    import sys

    if "mlflow" in sys.modules:
        import mlflow

        while mlflow.active_run() is not None:
            mlflow.end_run(status="FAILED")


@dataclass
class CliResult:
    """Exit code and captured output of one ``segments`` invocation."""

    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Run ``segments ARGS…`` in-process and return its exit code and output."""

    def invoke(*args: str) -> CliResult:
        capsys.readouterr()
        code = run([str(arg) for arg in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke


@pytest.fixture(scope="session")
def generated_shipments(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Write generated shipments with their ground truth beside them, once per session for each size.

    Call it as ``generated_shipments(customers, months, seed)`` (Parquet) or with ``suffix=".csv"``;
    the same arguments give the same file. Tests must not modify it.
    """
    from workflow.synth import generate_shipments, write_dataset

    made: dict[tuple[int, int, int, str], Path] = {}

    def make(customers: int, months: int, seed: int, *, suffix: str = ".parquet") -> Path:
        key = (customers, months, seed, suffix)
        if key not in made:
            shipments, truth = generate_shipments(customers, months, seed=seed)
            path = tmp_path_factory.mktemp("shipments") / f"shipments{suffix}"
            write_dataset(shipments, truth, path)
            made[key] = path
        return made[key]

    return make


@pytest.fixture(scope="session")
def small_shipments(generated_shipments: Callable[..., Path]) -> Path:
    """A generated shipments CSV (600 customers, 6 months) with its ground-truth file beside it."""
    return generated_shipments(600, 6, 3, suffix=".csv")


def write_csv(path: Path, text: str) -> Path:
    """Write a small CSV from a dedented string (helper for hand-made files)."""
    import textwrap

    path.write_text(textwrap.dedent(text).lstrip())
    return path


def read_frame(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet output file."""
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its categorical columns as plain text, the way a CSV file reads.

    ``read_shipments`` keeps Parquet's dictionary-encoded columns categorical (cheap at 10M rows);
    the values and the digest are those of the same data read from CSV.
    """
    categorical = [name for name, dtype in frame.dtypes.items() if isinstance(dtype, pd.CategoricalDtype)]
    return frame.astype(dict.fromkeys(categorical, "str"))
