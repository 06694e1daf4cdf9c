"""What the CLI calls: ``train_with_spark`` (validate, features, set aside, sweep) and ``score_with_spark``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from workflow.clustering import SILHOUETTE_SAMPLE_SIZE, STABILITY_RESAMPLES, Sweep
from workflow.data import DEFAULT_MAX_BAD_SHARE, ValidationReport
from workflow.errors import DataError
from workflow.features import DEFAULT_HOME_COUNTRY
from workflow.set_aside import NET_REFUNDERS, SetAsideRule, fit_set_aside
from workflow.spark_engine.data import _any, read_shipments_spark
from workflow.spark_engine.features import _to_pandas, collect_features, features_from_shipments, spark_features
from workflow.spark_engine.session import _session
from workflow.spark_engine.space import _space_from_pipeline, _with_z
from workflow.spark_engine.sweep import SPARK_N_INIT, ProgressCallback, fit_sweep_spark

if TYPE_CHECKING:
    from pyspark.sql import Column

    from workflow.model import SegmentModel


# --------------------------------------------------------------------------------------------------
# Entry points for the CLI
# --------------------------------------------------------------------------------------------------


class SparkTraining(NamedTuple):
    """What :func:`train_with_spark` returns: the sweep and what ``tracking.SweepContext`` needs."""

    sweep: Sweep
    #: One row per customer, sorted by ``customer_id`` (the labels' order), like ``build_features``.
    features: pd.DataFrame
    #: The as-of date, ``YYYY-MM-DD``.
    as_of: str
    #: Valid shipment rows.
    n_rows: int
    #: Digest of the valid rows (Spark's own, order-free; not the pandas engine's).
    digest: str
    report: ValidationReport


def train_with_spark(
    parquet_path: str | Path,
    ks: Sequence[int],
    *,
    columns: dict[str, str] | None = None,
    as_of: pd.Timestamp | str | None = None,
    features: Sequence[str] | None = None,
    home_country: str = DEFAULT_HOME_COUNTRY,
    random_state: int = 0,
    n_init: int = SPARK_N_INIT,
    max_bad_share: float = DEFAULT_MAX_BAD_SHARE,
    silhouette_sample_size: int = SILHOUETTE_SAMPLE_SIZE,
    stability_resamples: int = STABILITY_RESAMPLES,
    on_step: ProgressCallback | None = None,
    master: str = "local[2]",
) -> SparkTraining:
    """Validate, build features and sweep k in Spark: ``segments train --engine spark`` up to logging.

    Parameters
    ----------
    parquet_path : str or Path
        Parquet shipments (file or folder), on storage the driver and executors share.
    ks : sequence of int
        Values of k.
    columns, as_of, features, home_country, max_bad_share
        As for ``segments train`` (see :func:`read_shipments_spark` and :func:`spark_features`).
    random_state, n_init, silhouette_sample_size, stability_resamples, on_step
        As for :func:`fit_sweep_spark`.
    master : str
        Spark master; an already active SparkSession is used instead (and left running).

    Returns
    -------
    SparkTraining
        ``(sweep, features, as_of, n_rows, digest, report)``: give them to ``tracking.SweepContext``
        and ``tracking.log_sweep`` as for the pandas engine.
    """
    with _session(master) as spark:
        shipments = read_shipments_spark(spark, parquet_path, columns=columns, max_bad_share=max_bad_share)
        frame, as_of_ts = features_from_shipments(shipments, as_of=as_of, features=features, home_country=home_country)
        # The features are an aggregation over every shipment: compute them once for all passes below.
        frame = frame.persist()
        try:
            table = collect_features(frame)
            # The rule comes from the collected features (one row per customer, as the pandas engine
            # computes it); Spark then fits on the customers it keeps.
            rule = fit_set_aside(table)
            condition = set_aside_condition(rule)
            kept = frame if condition is None else frame.filter(~condition)
            sweep = fit_sweep_spark(
                kept,
                ks,
                random_state=random_state,
                n_init=n_init,
                silhouette_sample_size=silhouette_sample_size,
                stability_resamples=stability_resamples,
                on_step=on_step,
            )
        finally:
            frame.unpersist()
    return SparkTraining(
        _with_set_aside(sweep, rule, table),
        table,
        str(as_of_ts.date()),
        shipments.n_rows,
        shipments.digest,
        shipments.report,
    )


def set_aside_condition(rule: SetAsideRule) -> Column | None:
    """A Spark condition that holds for the customers ``rule`` sets aside (None: nobody)."""
    from pyspark.sql import functions as sf

    terms = []
    if rule.refund_max is not None:
        terms.append(sf.col("monetary") <= float(rule.refund_max))
    terms += [sf.col(name) > float(fence) for name, fence in rule.fences.items()]
    return _any(terms) if terms else None


def _set_aside_label(rule: SetAsideRule, k: int, nearest: Column) -> Column:
    """``nearest`` for kept customers, ``k + group`` for the set-aside (refunders first, as in pandas)."""
    from pyspark.sql import functions as sf

    label = nearest
    # Built from the last group to the first, so the first matching group wins.
    for code in range(len(rule.groups), 0, -1):
        group = rule.groups[code - 1]
        if group == NET_REFUNDERS:
            hit = sf.col("monetary") <= float(rule.refund_max)
        else:
            hit = _any([sf.col(name) > float(fence) for name, fence in rule.fences.items()])
        label = sf.when(hit, sf.lit(k + code - 1).cast("long")).otherwise(label)
    return label


def _with_set_aside(sweep: Sweep, rule: SetAsideRule, table: pd.DataFrame) -> Sweep:
    """The Spark sweep (fitted on the kept customers) with labels for every customer of ``table``."""
    codes = rule.group_codes(table)
    kept = np.flatnonzero(codes == 0)
    trials = [replace(trial, labels=rule.labels(trial.labels, codes, trial.k)) for trial in sweep.trials]
    return replace(
        sweep,
        trials=trials,
        n_customers=len(table),
        silhouette_labels_index=kept[sweep.silhouette_labels_index],
        set_aside=rule,
        set_aside_codes=codes,
    )


def score_with_spark(
    parquet_path: str | Path,
    out_path: str | Path,
    model: SegmentModel,
    *,
    master: str = "local[2]",
    as_of: pd.Timestamp | str | None = None,
    columns: dict[str, str] | None = None,
    lang: str = "en",
) -> pd.Series:
    """Score customers in Spark with a registered model: ``segments score --engine spark``.

    The model's transform, scaler constants and centres become SQL expressions; each customer gets
    the nearest centre (the lowest segment number on a tie, like ``KMeans.predict``).

    Parameters
    ----------
    parquet_path : str or Path
        Parquet shipments (file or folder).
    out_path : str or Path
        Output dataset: a folder of Parquet part files (``.parquet``) or of CSV part files with a
        header (``.csv``), replaced if it exists. Rows are sorted by ``customer_id`` across the parts.
    model : SegmentModel
        From ``tracking.load_segment_model``.
    master : str
        Spark master; an already active SparkSession is used instead (and left running).
    as_of, columns
        As for :func:`spark_features`; the home country is the model's.
    lang : str
        Language of ``segment_name``.

    Returns
    -------
    pandas.Series
        Customers per segment name, largest first (what the CLI prints).

    Raises
    ------
    DataError
        Bad input, or the data cannot provide a feature the model needs.
    SegmentsError
        The model's pipeline has steps with no Spark SQL equivalent.
    """

    out = Path(out_path)
    if out.suffix.lower() not in {".csv", ".parquet"}:
        raise DataError(f"{out}: unsupported output type '{out.suffix}'; use .csv or .parquet")
    space = _space_from_pipeline(model.pipeline)
    centres = model.pipeline.named_steps["kmeans"].cluster_centers_
    names = model.names(lang)
    with _session(master) as spark:
        features = spark_features(
            spark, parquet_path, as_of=as_of, features=model.features, home_country=model.home_country, columns=columns
        )
        nearest = _nearest_centre(len(space.columns), centres)
        segments = _with_z(features, space, keep=model.features).select(
            "customer_id", _set_aside_label(model.set_aside, model.k, nearest).alias("segment"), *model.features
        )
        scored = segments.select("customer_id", "segment", _segment_name(names).alias("segment_name"), *model.features)
        # Sorted like the pandas output; the part files hold consecutive ranges of customer_id.
        writer = scored.orderBy("customer_id").write.mode("overwrite")
        if out.suffix.lower() == ".csv":
            writer.option("header", "true").csv(str(out))
            written = spark.read.option("header", "true").csv(str(out))
        else:
            writer.parquet(str(out))
            written = spark.read.parquet(str(out))
        # Counted from the written files: counting ``scored`` would compute the features again.
        summary = _to_pandas(written.groupBy("segment_name").count())
    ordered = summary.sort_values(["count", "segment_name"], ascending=[False, True], kind="stable")
    return pd.Series(ordered["count"].to_numpy(), index=ordered["segment_name"].to_numpy(), name="count")


def _segment_name(names: dict[int, str]) -> Column:
    """The name of the row's ``segment`` (null when the model has no name for it, as pandas' ``map``)."""
    from pyspark.sql import functions as sf

    if not names:
        return sf.lit(None).cast("string")
    pairs = [value for segment, name in sorted(names.items()) for value in (sf.lit(segment).cast("long"), sf.lit(name))]
    return sf.create_map(*pairs)[sf.col("segment")]


def _nearest_centre(m: int, centres: np.ndarray) -> Column:
    """The index of the nearest centre to ``_z0…`` (first one on a tie), as a long."""
    from pyspark.sql import functions as sf

    distances = []
    for centre in centres:
        terms = [sf.pow(sf.col(f"_z{j}") - float(centre[j]), 2) for j in range(m)]
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        distances.append(total)
    array = sf.array(*distances)
    return (sf.array_position(array, sf.array_min(array)) - 1).cast("long")
