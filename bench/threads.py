"""OMP: what OpenMP's spin-waiting costs K-means on a shared machine (the evidence behind workflow's default).

scikit-learn's ``KMeans`` runs Lloyd iterations in OpenMP (its vendored libgomp) with many short
parallel regions. libgomp's default wait policy spins at every barrier; when other processes hold
the cores, a spinning thread burns its slice while the thread it waits for is descheduled. This
bench fits the same ``KMeans(n_clusters=6, n_init=10, random_state=0)`` on the same scaled features in
fresh processes that differ only by their environment:

OMP·default   libgomp's default (``OMP_WAIT_POLICY`` unset), vs ``OMP_WAIT_POLICY=PASSIVE`` (what
              ``workflow`` sets since this bench showed the cost).
OMP·1thread   ``OMP_NUM_THREADS=1``, vs ``OMP_WAIT_POLICY=PASSIVE``.

The labels of every variant are compared (a wait policy must not change results). No target: this
row tells how loaded the machine was and what the fix buys.

    python bench/threads.py            # 200k customers of the 1M features, 5 rounds
    python bench/threads.py --quick    # the 20k customers, 5 rounds
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

N_FULL = 200_000

# scikit-learn (and with it libgomp, which reads OMP_* once, when it loads) is imported before
# workflow, whose package sets OMP_WAIT_POLICY=PASSIVE when the variable is unset: the "default"
# variant keeps libgomp's own default.
_FIT = """
import hashlib, json, sys, time
import numpy as np, pandas as pd
from sklearn.cluster import KMeans
from workflow.clustering import make_pipeline
features = pd.read_parquet(sys.argv[1]).iloc[: int(sys.argv[2])]
scaled = make_pipeline(list(features.columns), 6)[:-1].fit_transform(features)
started = time.perf_counter()
labels = KMeans(n_clusters=6, n_init=10, random_state=0).fit_predict(scaled)
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "labels": hashlib.sha256(labels.astype(np.int64).tobytes()).hexdigest()[:12]}))
"""

VARIANTS = {
    "default": {},
    "passive": {"OMP_WAIT_POLICY": "PASSIVE"},
    "1 thread": {"OMP_NUM_THREADS": "1"},
}


def main(argv: list[str] | None = None) -> None:
    args, repeats = c.arguments(__doc__.splitlines()[0], argv, quick_repeats=5, full_repeats=5)
    path = c.ensure_features(c.customers_of(args))
    n = c.QUICK_CUSTOMERS if args.quick else N_FULL
    base_env = {key: value for key, value in os.environ.items() if key not in {"OMP_WAIT_POLICY", "OMP_NUM_THREADS"}}
    seconds: dict[str, list[float]] = {name: [] for name in VARIANTS}
    labels: dict[str, set[str]] = {name: set() for name in VARIANTS}
    names = list(VARIANTS)
    for round_ in range(repeats):
        for name in names if round_ % 2 == 0 else names[::-1]:
            env = {**base_env, **VARIANTS[name]}
            child = c.run_child([c.PYTHON, "-c", _FIT, path, n], cwd=c.ROOT, replace_env=env).check()
            result = json.loads(child.stdout.strip().splitlines()[-1])
            seconds[name].append(result["seconds"])
            labels[name].add(result["labels"])
            c.log(f"OMP round {round_ + 1}/{repeats} {name}: {result['seconds']:.2f} s")
    rows = [
        c.seconds_row(
            "OMP·default",
            f"KMeans k=6 n_init=10 on {n:,} customers, default OpenMP wait policy",
            seconds["default"],
            seconds["passive"],
            baseline_what="OMP_WAIT_POLICY=PASSIVE",
        ),
        c.seconds_row(
            "OMP·1thread",
            f"KMeans k=6 n_init=10 on {n:,} customers, OMP_NUM_THREADS=1",
            seconds["1 thread"],
            seconds["passive"],
            baseline_what="OMP_WAIT_POLICY=PASSIVE",
        ),
    ]
    digests = set().union(*labels.values())
    extra = {
        "inherited OMP settings": {k: os.environ[k] for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS") if k in os.environ}
        or "none",
        "labels identical across variants and rounds": "yes" if len(digests) == 1 else f"NO: {labels}",
    }
    c.report(f"OMP: K-means under each OpenMP setting ({n:,} customers)", rows, args, extra)


if __name__ == "__main__":
    main()
