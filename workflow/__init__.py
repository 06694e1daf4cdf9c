"""segments: customer segmentation workflow (data → features → K-means sweep → MLflow registry)."""

__all__ = ["__version__"]
__version__ = "0.1.0"
