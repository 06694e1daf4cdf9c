"""The Apache Spark engine: features in Spark SQL and the K-means sweep in Spark ML (README: "Beyond one machine").

``segments train --engine spark`` and ``segments score --engine spark`` go through this package. It
produces the same objects as the pandas/scikit-learn path, so the rest of the product does not know
which engine ran:

* :func:`spark_features` computes the features of docs/architecture.md#customer-features with the definitions of
  ``workflow.features.build_features``, from a Parquet file (or folder) that may not fit on one machine.
* :func:`fit_sweep_spark` fits ``pyspark.ml.clustering.KMeans`` (k-means|| starts) per k on the
  log1p/asinh-transformed, standardised features, and returns a ``workflow.clustering.Sweep`` whose
  trials hold ordinary scikit-learn pipelines (``make_pipeline``) with the transform, the scaler's
  constants and the centres copied from the Spark fit. ``workflow.tracking.log_sweep`` logs it
  unchanged, and promote, score and the dashboard load it like any other version.
* :func:`score_with_spark` applies a registered model in Spark (nearest centre in SQL) and writes
  the scored customers as a Parquet or CSV dataset.

What runs where: validation, features, scaling, every K-means fit, the Calinski-Harabasz and
Davies-Bouldin aggregates and the stability contingency tables run in Spark. The driver receives
what the sweep's contract holds anyway: the sorted customer ids (to draw ``fit_sweep``'s silhouette
sample and stability subsamples), one label per customer and k, the scaled points (the silhouette
sample is taken from them), and k×k tables. ``train_with_spark`` also collects the features, which
MLflow logging and the profiles need. So shipments may exceed one machine; customers must fit on
the driver (1M customers × 11 features ≈ 90 MB).

The modules mirror the pandas engine's: ``session`` (the SparkSession), ``data`` (reading and
validating, like ``workflow.data``), ``features`` (like ``workflow.features``), ``space`` (the model's
transform and scaler as SQL), ``sweep`` (like ``workflow.clustering.fit_sweep``) and ``run`` (what
the pipeline and the CLI call).

pyspark is an optional dependency (the ``[spark]`` extra): it is imported inside functions, so that
this package imports without it.
"""

from workflow.spark_engine.data import SparkShipments, read_shipments_spark
from workflow.spark_engine.features import collect_features, features_from_shipments, spark_features
from workflow.spark_engine.run import SparkTraining, score_with_spark, set_aside_condition, train_with_spark
from workflow.spark_engine.session import DEFAULT_DRIVER_MEMORY, spark_session
from workflow.spark_engine.sweep import SPARK_N_INIT, fit_sweep_spark

__all__ = [
    "DEFAULT_DRIVER_MEMORY",
    "SPARK_N_INIT",
    "SparkShipments",
    "SparkTraining",
    "collect_features",
    "features_from_shipments",
    "fit_sweep_spark",
    "read_shipments_spark",
    "score_with_spark",
    "set_aside_condition",
    "spark_features",
    "spark_session",
    "train_with_spark",
]
