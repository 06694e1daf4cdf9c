"""The model's ``transform → scale`` steps as Spark SQL expressions, and their fit from Spark moments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from workflow.clustering import make_pipeline, transformed_feature_order
from workflow.errors import DataError, SegmentsError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame


#: The column of the assembled scaled vector (K-means' input).
_VECTOR = "_vector"


# --------------------------------------------------------------------------------------------------
# The model space: transform and scaler as Spark SQL expressions
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Space:
    """The ``transform → scale`` steps of a pipeline as constants, in the scaler's column order."""

    columns: tuple[str, ...]
    functions: tuple[str, ...]  # "log1p", "asinh" or "identity", per column
    mean: np.ndarray
    scale: np.ndarray


_UFUNC_NAMES = {np.log1p: "log1p", np.arcsinh: "asinh"}


def _space_from_pipeline(pipeline: Pipeline) -> _Space:
    """Read a fitted ``make_pipeline`` pipeline's transform and scaler; refuse anything else.

    Raises
    ------
    SegmentsError
        The pipeline has steps the Spark engine cannot translate to SQL.
    """
    transform = pipeline.named_steps.get("transform")
    scale = pipeline.named_steps.get("scale")
    if transform is None or scale is None or not hasattr(scale, "mean_"):
        raise SegmentsError("the model is not a fitted transform → scale → kmeans pipeline; score it without Spark")
    # Fitted, a passthrough remainder is stored as an identity FunctionTransformer: check the parameter.
    if transform.remainder != "passthrough":
        raise SegmentsError(f"the model's remainder is {transform.remainder!r}; the Spark engine needs passthrough")
    function_of: dict[str, str] = {}
    for step, transformer, columns in transform.transformers_:
        if step == "remainder" or not len(columns):
            continue
        name = _UFUNC_NAMES.get(getattr(transformer, "func", None))
        if name is None:
            raise SegmentsError(f"the model's transform step {step!r} has no Spark SQL equivalent")
        function_of.update(dict.fromkeys(columns, name))
    order = tuple(transformed_feature_order(pipeline))
    mean = scale.mean_ if scale.with_mean else np.zeros(len(order))
    factor = scale.scale_ if scale.with_std else np.ones(len(order))
    return _Space(
        order, tuple(function_of.get(name, "identity") for name in order), np.asarray(mean), np.asarray(factor)
    )


def _transformed(name: str, function: str) -> Column:
    from pyspark.sql import functions as sf

    x = sf.col(name).cast("double")
    if function == "log1p":
        return sf.log1p(x)
    if function == "asinh":
        # Spark's asinh is log(x + sqrt(x² + 1)), which cancels catastrophically for negative x (net
        # refunds); the odd form with log1p is accurate to an ulp of numpy's arcsinh everywhere.
        magnitude = sf.abs(x)
        return sf.signum(x) * sf.log1p(magnitude + magnitude * magnitude / (sf.sqrt(magnitude * magnitude + 1.0) + 1.0))
    return x


def _with_z(frame: DataFrame, space: _Space, keep: Sequence[str] = ()) -> DataFrame:
    """``customer_id``, the ``keep`` columns and the customers in the model's scaled space, ``_z0…``."""
    z = [
        ((_transformed(name, function) - float(mean)) / float(scale)).alias(f"_z{j}")
        for j, (name, function, mean, scale) in enumerate(
            zip(space.columns, space.functions, space.mean, space.scale, strict=True)
        )
    ]
    return frame.select("customer_id", *keep, *z)


def _scaled(frame: DataFrame, space: _Space) -> DataFrame:
    """``customer_id``, the scaled columns ``_z0…`` and their vector ``_vector`` (K-means' input)."""
    from pyspark.ml.feature import VectorAssembler

    assembler = VectorAssembler(inputCols=[f"_z{j}" for j in range(len(space.columns))], outputCol=_VECTOR)
    return assembler.transform(_with_z(frame, space))


def _fit_prep(features: list[str], frame: DataFrame) -> tuple[Pipeline, int]:
    """The fitted ``transform → scale`` steps of ``make_pipeline``, with the scaler's moments from Spark.

    The same pass checks ``fit_sweep``'s input rules: finite values, not every feature constant.
    (Too few distinct customers for k shows as Spark returning fewer than k centres.)

    The ColumnTransformer is stateless (numpy ufuncs): fitting it on two rows gives it its structure.
    The scaler gets the mean and the population variance computed in Spark, which is what
    ``StandardScaler.fit`` computes; Spark ML's own ``StandardScaler`` divides by the sample (n − 1)
    standard deviation, and the registered model would then differ from a scikit-learn fit.
    """
    from pyspark.sql import functions as sf

    prep = make_pipeline(features, 2)[:-1]
    prep.fit(pd.DataFrame(np.ones((2, len(features))), columns=features))
    layout = _space_from_pipeline(prep)  # column order and functions; its moments are the dummy fit's
    columns = [_transformed(name, fn) for name, fn in zip(layout.columns, layout.functions, strict=True)]
    moments = frame.agg(
        sf.count(sf.lit(1)).alias("n"),
        *[sf.sum(_non_finite(name)).alias(f"bad{i}") for i, name in enumerate(features)],
        *[sf.avg(column).alias(f"m{j}") for j, column in enumerate(columns)],
        *[sf.var_pop(column).alias(f"v{j}") for j, column in enumerate(columns)],
    ).first()
    bad = [name for i, name in enumerate(features) if moments[f"bad{i}"]]
    if bad:
        raise DataError(f"features {', '.join(bad)} have non-finite values")
    n = int(moments["n"])
    mean = np.array([moments[f"m{j}"] for j in range(len(columns))], dtype="float64")
    var = np.array([moments[f"v{j}"] for j in range(len(columns))], dtype="float64")
    if not (var > 0).any():
        raise DataError("every feature is constant across customers: nothing to segment")
    scaler = prep.named_steps["scale"]
    scaler.mean_, scaler.var_, scaler.scale_ = mean, var, _scale_from_var(var, mean, n)
    scaler.n_samples_seen_ = type(scaler.n_samples_seen_)(n)
    return prep, n


def _scale_from_var(var: np.ndarray, mean: np.ndarray, n: int) -> np.ndarray:
    """``StandardScaler``'s ``scale_``: the standard deviation, 1 for features that are constant.

    A feature counts as constant when its variance is below the rounding error of computing it
    (scikit-learn's test, after Chan, Golub and LeVeque 1983), not only when it is exactly zero.
    """
    eps = np.finfo(np.float64).eps
    constant = var <= n * eps * var + (n * mean * eps) ** 2
    return np.where(constant, 1.0, np.sqrt(var))


def _non_finite(name: str) -> Column:
    from pyspark.sql import functions as sf

    value = sf.col(name)
    return sf.when(value.isNull() | sf.isnan(value) | value.isin(np.inf, -np.inf), 1).otherwise(0)
