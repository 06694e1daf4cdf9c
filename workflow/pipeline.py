"""The training pipeline as plain functions: read → validate → features → set aside → sweep → recommend →
report → log → register.

``segments train``, ``segments demo``, the tests and the benchmarks all train through this module, with
either engine, and get the same :class:`Training` back. The command line only parses options, shows
progress and prints; nothing here prints or knows about Rich.

Each step is a function of its own, so that a caller can put its own progress display around it (the
CLI shows spinners while reading and a bar while fitting) or stop early (a benchmark times the sweep
apart from the logging); :func:`train` runs them all. The flow and the contracts it follows are
described in ``docs/architecture.md``.

MLflow is reached through ``workflow.tracking`` only (which imports mlflow inside its functions): the
computation steps never touch it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from workflow.clustering import (
    Recommendation,
    Sweep,
    check_sweep_input,
    describe_set_aside,
    fit_sweep,
    parse_k_range,
    recommend_k,
)
from workflow.data import DEFAULT_MAX_BAD_SHARE, KNOWN_COLUMNS, ReadOptions, ValidationReport, data_digest
from workflow.errors import DataError
from workflow.features import DEFAULT_HOME_COUNTRY, build_features, default_as_of, select_features
from workflow.report import SweepReport, build_sweep_report
from workflow.set_aside import fit_set_aside
from workflow.tracking import EXPERIMENT_NAME, MODEL_NAME, SweepContext, TrainResult

__all__ = [
    "ENGINES",
    "Customers",
    "TrainSettings",
    "Training",
    "about",
    "customer_features",
    "feature_list",
    "fit",
    "log",
    "prepare",
    "read",
    "report",
    "sweep_context",
    "train",
]

ProgressCallback = Callable[[str], None]

#: ``--engine`` values: scikit-learn on one machine, or Spark (features and K-means in Spark).
ENGINES = ("pandas", "spark")


@dataclass(frozen=True)
class TrainSettings:
    """What one training run is asked to do: ``segments train``'s options, parsed.

    Attributes
    ----------
    data : Path
        The shipments file (a Parquet file or folder for the Spark engine).
    k : str
        The k to sweep as the user wrote them (``2-10``, ``4``, ``3,5,8``); recorded with the runs.
    choose : int, optional
        Register this k instead of the recommended one; it must be among ``k``.
    read_options : ReadOptions
        Column mapping and reading options given for the file.
    as_of : Timestamp, optional
        Reference date of the features (default: the day after the last shipment).
    features : tuple of str, optional
        Features to build (default: every feature the data's columns allow).
    home_country, currency : str
        ISO alpha-2 home country (international = elsewhere) and ISO 4217 code of the amounts (None
        when unknown: descriptions then show plain numbers).
    seed, n_init : int
        K-means seed (also of the silhouette sample and stability subsamples) and restarts per k.
    max_bad_share : float
        Above this share of faulty rows, reading stops instead of dropping them.
    max_file_mb : float, optional
        Refuse data files above this size.
    engine, spark_master : str
        ``pandas`` or ``spark``, and the Spark master URL for the latter.
    experiment, model_name : str
        MLflow experiment and registered model.

    Raises
    ------
    DataError
        ``k`` does not parse, ``choose`` is not among it, or a feature name is unknown or repeated
        (all before any data is read).
    """

    data: Path
    k: str = "2-10"
    choose: int | None = None
    read_options: ReadOptions = field(default_factory=ReadOptions)
    as_of: pd.Timestamp | None = None
    features: tuple[str, ...] | None = None
    home_country: str = DEFAULT_HOME_COUNTRY
    currency: str | None = None
    seed: int = 0
    n_init: int = 10
    max_bad_share: float = DEFAULT_MAX_BAD_SHARE
    max_file_mb: float | None = None
    engine: str = "pandas"
    spark_master: str = "local[2]"
    experiment: str = EXPERIMENT_NAME
    model_name: str = MODEL_NAME

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise DataError(f"--engine {self.engine}: expected pandas or spark")
        if self.choose is not None and self.choose not in self.ks:
            raise DataError(f"--choose {self.choose} is not in --k {self.k}")
        if self.features is not None:
            select_features(self.features, KNOWN_COLUMNS)  # unknown or repeated names fail before reading

    @property
    def ks(self) -> list[int]:
        """The values of k, parsed from :attr:`k`."""
        return parse_k_range(self.k)


@dataclass
class Customers:
    """The customer table a sweep is fitted on, and what it was built from.

    Attributes
    ----------
    features : DataFrame
        One row per customer (index ``customer_id``, sorted), one column per feature, real units.
    as_of : str
        The reference date, ``YYYY-MM-DD``.
    n_rows : int
        Valid shipment rows the features come from.
    digest : str
        Digest of those rows (``data_digest``; the Spark engine computes its own, order-free one).
    report : ValidationReport
        What reading and validation found.
    data_path : str
        The data file, as an absolute path.
    """

    features: pd.DataFrame
    as_of: str
    n_rows: int
    digest: str
    report: ValidationReport
    data_path: str

    @classmethod
    def from_table(
        cls, features: pd.DataFrame, *, data_path: str | Path, as_of: str = "", digest: str = "", n_rows: int = 0
    ) -> Customers:
        """A customer table built elsewhere (a benchmark's cached features, a test's hand-made table)."""
        report = ValidationReport(
            file=str(data_path), rows_read=n_rows, rows_kept=n_rows, max_bad_share=DEFAULT_MAX_BAD_SHARE
        )
        return cls(features, as_of, n_rows, digest, report, str(data_path))


@dataclass
class Training:
    """A training run, whichever engine fitted it; each step of the pipeline fills in more of it.

    Attributes
    ----------
    settings : TrainSettings
        What was asked.
    customers : Customers
        The customers and where they come from.
    sweep : Sweep
        One fitted trial per k.
    recommendation : Recommendation
        The recommended k and the sentence that explains it.
    report : SweepReport, optional
        Profiles, centroids and charts of every k (after :func:`report`).
    result : TrainResult, optional
        The runs and the registered version (after :func:`log`).
    """

    settings: TrainSettings
    customers: Customers
    sweep: Sweep
    recommendation: Recommendation
    report: SweepReport | None = None
    result: TrainResult | None = None

    @property
    def registered_k(self) -> int:
        """The k registered (or to register): ``--choose`` if given, else the recommended one."""
        if self.result is not None:
            return self.result.k
        return self.settings.choose if self.settings.choose is not None else self.recommendation.k


# --------------------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------------------


def read(settings: TrainSettings) -> tuple[pd.DataFrame, ValidationReport]:
    """Read and validate the shipments on one machine (``workflow.data.read_shipments``).

    Raises
    ------
    DataError
        Unreadable file, missing required column, too many faulty rows or none left.
    """
    from workflow.data import read_shipments

    return read_shipments(
        settings.data,
        options=settings.read_options,
        max_bad_share=settings.max_bad_share,
        max_file_mb=settings.max_file_mb,
    )


def customer_features(settings: TrainSettings, shipments: pd.DataFrame, report: ValidationReport) -> Customers:
    """Build the customer table of validated shipments and check that it can be split into ``max(k)`` segments.

    Raises
    ------
    DataError
        No shipment before ``as_of``, non-finite features, or fewer distinct customers than k; the
        message names the data file.
    """
    with about(settings.data):
        table = build_features(
            shipments, as_of=settings.as_of, features=settings.features, home_country=settings.home_country
        )
        # Here rather than inside the sweep: a refusal comes before any progress bar or Spark session.
        check_sweep_input(table, settings.ks)
        as_of = settings.as_of if settings.as_of is not None else default_as_of(shipments["date"])
        digest = data_digest(shipments)
    return Customers(
        features=table,
        as_of=str(as_of.date()),
        n_rows=len(shipments),
        digest=digest,
        report=report,
        data_path=str(Path(settings.data).resolve()),
    )


def prepare(settings: TrainSettings) -> Customers:
    """:func:`read` then :func:`customer_features` (pandas engine)."""
    shipments, report = read(settings)
    return customer_features(settings, shipments, report)


def fit(
    settings: TrainSettings, customers: Customers | None = None, *, on_step: ProgressCallback | None = None
) -> Training:
    """Set aside, sweep k and recommend one, with the settings' engine.

    Parameters
    ----------
    settings : TrainSettings
        What to train.
    customers : Customers, optional
        The pandas engine's customer table (:func:`prepare`); read from ``settings.data`` when None.
        The Spark engine reads, validates and builds the features itself and takes none.
    on_step : callable, optional
        Called with a short description before each k (progress bars).

    Returns
    -------
    Training
        Without ``report`` and ``result`` yet.
    """
    if settings.engine == "spark":
        if customers is not None:
            raise ValueError("the Spark engine builds its own customer table: pass customers=None")
        customers, sweep = _fit_spark(settings, on_step)
    else:
        customers = customers if customers is not None else prepare(settings)
        sweep = fit_sweep(
            customers.features,
            settings.ks,
            random_state=settings.seed,
            n_init=settings.n_init,
            set_aside=fit_set_aside(customers.features),
            on_step=on_step,
        )
    recommendation = recommend_k(sweep.table(), set_aside=describe_set_aside(sweep))
    return Training(settings=settings, customers=customers, sweep=sweep, recommendation=recommendation)


def _fit_spark(settings: TrainSettings, on_step: ProgressCallback | None) -> tuple[Customers, Sweep]:
    from workflow.spark_engine import train_with_spark

    with about(settings.data):
        trained = train_with_spark(
            settings.data,
            settings.ks,
            columns=settings.read_options.mapping,
            as_of=settings.as_of,
            features=settings.features,
            home_country=settings.home_country,
            random_state=settings.seed,
            n_init=settings.n_init,
            max_bad_share=settings.max_bad_share,
            on_step=on_step,
            master=settings.spark_master,
        )
    customers = Customers(
        features=trained.features,
        as_of=trained.as_of,
        n_rows=trained.n_rows,
        digest=trained.digest,
        report=trained.report,
        data_path=str(Path(settings.data).resolve()),
    )
    return customers, trained.sweep


def report(training: Training, *, on_step: ProgressCallback | None = None) -> Training:
    """Profile every k and draw the charts (``workflow.report.build_sweep_report``), before anything is logged.

    A failure here leaves the MLflow store untouched.
    """
    training.report = build_sweep_report(
        training.sweep,
        training.customers.features,
        training.recommendation.k,
        currency=training.settings.currency,
        on_step=on_step,
    )
    return training


def sweep_context(settings: TrainSettings, customers: Customers) -> SweepContext:
    """What the runs record about the data (``tracking.SweepContext``): built here and nowhere else."""
    return SweepContext(
        data_path=customers.data_path,
        data_digest=customers.digest,
        as_of=customers.as_of,
        n_rows=customers.n_rows,
        home_country=settings.home_country.upper(),
        report=customers.report,
        features=customers.features,
        k_spec=settings.k,
        read_options=customers.report.read_options,
        currency=settings.currency,
    )


def log(training: Training, *, on_step: ProgressCallback | None = None) -> Training:
    """Log the sweep to MLflow (parent and child runs) and register the chosen k as ``candidate``.

    The store must be configured for writing (``tracking.configure(write=True)``); :func:`report`
    runs first when it has not.
    """
    from workflow import tracking

    if training.report is None:
        report(training)
    settings = training.settings
    training.result = tracking.log_sweep(
        training.sweep,
        training.recommendation,
        sweep_context(settings, training.customers),
        report=training.report,
        chosen_k=settings.choose,
        experiment=settings.experiment,
        model_name=settings.model_name,
        on_step=on_step,
    )
    return training


def train(settings: TrainSettings, *, on_step: ProgressCallback | None = None) -> Training:
    """Every step: read, validate, build features, set aside, sweep, recommend, report, log, register.

    Parameters
    ----------
    settings : TrainSettings
        What to train.
    on_step : callable, optional
        Called with a short description before each k of the sweep, the report and the logging.

    Returns
    -------
    Training
        Complete, with ``result`` naming the runs and the registered version.
    """
    from workflow import tracking

    tracking.configure(write=True)
    with tracking.store_errors(f"log runs to the experiment '{settings.experiment}'"):
        tracking.reap_stale_runs(settings.experiment)
    training = fit(settings, on_step=on_step)
    return log(report(training, on_step=on_step), on_step=on_step)


@contextlib.contextmanager
def about(data: str | Path) -> Iterator[None]:
    """Name the data file in a ``DataError`` raised past reading (features, sweep input)."""
    try:
        yield
    except DataError as error:
        raise DataError(f"{data}: {error}") from None


def feature_list(text: str | None) -> tuple[str, ...] | None:
    """``--features a,b`` as a tuple of names (None: every feature the data allows)."""
    return None if text is None else tuple(name.strip() for name in text.split(",") if name.strip())
