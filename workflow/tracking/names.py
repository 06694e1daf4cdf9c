"""The names and thresholds the MLflow contract fixes (docs/architecture.md): one home for each."""

from __future__ import annotations

EXPERIMENT_NAME = "customer-segments"
MODEL_NAME = "customer-segments"
CANDIDATE = "candidate"
PRODUCTION = "production"
#: Gates that ``promote`` applies unless forced (``--min-silhouette``, ``--min-stability``).
DEFAULT_MIN_SILHOUETTE = 0.25
DEFAULT_MIN_STABILITY = 0.8
#: Rows the logged dataset's schema is inferred from (one dtype per feature column).
SCHEMA_ROWS = 1000
#: Types inside our pipelines that skops must trust on load (numpy ufuncs in FunctionTransformer).
SKOPS_TRUSTED_TYPES = ["numpy.log1p", "numpy.expm1", "numpy.arcsinh", "numpy.sinh"]
#: The experiment tag the MLflow 3 UI reads to open an experiment on its training runs rather than
#: on the GenAI overview (values of the UI's ExperimentKind: ``custom_model_development`` is ours).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
#: The parent run's artifact holding the training customers' features (one row per customer,
#: index ``customer_id``): what the dashboard shows and measures drift against, without the file.
CUSTOMERS_ARTIFACT = "customers.parquet"
