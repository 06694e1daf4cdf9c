"""segments: customer segmentation workflow (data → features → K-means sweep → MLflow registry)."""

import os

# scikit-learn's K-means runs many short OpenMP regions; libgomp's default makes idle threads spin
# at every barrier, which on a shared 2-core machine burns the slice of the thread being waited for
# (1.5× slower, bench/threads.py). Passive waiting changes no result. It must be set before libgomp
# loads (at scikit-learn's import), hence here; an explicit setting in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = ["__version__"]
__version__ = "0.1.0"
