"""P4: loading the production model (cold in a fresh process, warm in-process) and scoring 1M customers.

P4·cold   a fresh Python process: ``from workflow import tracking`` + ``load_segment_model("production")``
          (imports included, interpreter start-up excluded), vs a fresh process that imports skops and
          loads the same ``model.skops`` file from disk (the least any loader must do). No target in the
          issue; docs/architecture.md#measured-facts says ≈ 4 s for a cold ``mlflow.sklearn.load_model``.
P4·warm   the same call again in a process that has loaded it once, vs ``skops.io.load`` of the file in
          the same process. Target ≤ 0.1 s.
P4·score  ``SegmentModel.score`` on 1M customers' features (segment, name, features), vs the bare
          ``pipeline.predict`` on the same frame. Target ≤ 1 s.

The model is a k=6 sweep fitted on a 20k sample of the customers, logged with ``log_sweep`` into a
temporary store and promoted to ``production``; scoring cost depends on k and the number of features,
not on how many customers the model was fitted on.

    python bench/p4_model.py            # score 1M customers, 5 rounds
    python bench/p4_model.py --quick    # score 20k customers, 5 rounds
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

K = 6
FIT_SAMPLE = 20_000

_COLD_LOAD = """
import json, time
started = time.perf_counter()
from workflow import tracking
model = tracking.load_segment_model("production")
print(json.dumps({"seconds": time.perf_counter() - started, "k": model.k}))
"""

_COLD_SKOPS = """
import json, sys, time
started = time.perf_counter()
import skops.io
path = sys.argv[1]
pipeline = skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
print(json.dumps({"seconds": time.perf_counter() - started, "k": int(pipeline[-1].n_clusters)}))
"""


def register_production(features: pd.DataFrame, workdir: Path) -> Path:
    """Fit, log and promote a k=K model into the current store; return its downloaded ``model.skops``."""
    import mlflow.artifacts

    from workflow import pipeline, tracking
    from workflow.clustering import fit_sweep, recommend_k

    sample = features.sample(n=min(FIT_SAMPLE, len(features)), random_state=0)
    sweep = fit_sweep(sample, [K], random_state=0, n_init=10)
    customers = pipeline.Customers.from_table(sample, data_path="bench", as_of="bench", digest="bench")
    settings = pipeline.TrainSettings(data=Path("bench"), k=str(K))
    result = pipeline.log(pipeline.Training(settings, customers, sweep, recommend_k(sweep.table()))).result
    tracking.promote(result.version, reason="benchmark", force=True)
    folder = mlflow.artifacts.download_artifacts(f"models:/{tracking.MODEL_NAME}/{result.version}", dst_path=workdir)
    return next(Path(folder).rglob("*.skops"))


def child_seconds(script: str, *args: object) -> tuple[float, float]:
    """Run a fresh interpreter on ``script``: the seconds it reports (imports + load) and its CPU time."""
    child = c.run_child([c.PYTHON, "-c", script, *args], cwd=c.ROOT).check()
    return float(json.loads(child.stdout.strip().splitlines()[-1])["seconds"]), child.cpu


def main(argv: list[str] | None = None) -> None:
    args, repeats = c.arguments(__doc__.splitlines()[0], argv, quick_repeats=5, full_repeats=5)
    features = pd.read_parquet(c.ensure_features(c.customers_of(args)))
    c.log(f"P4: model k={K} fitted on {FIT_SAMPLE:,} customers; scoring {len(features):,} customers")

    with c.mlflow_store(), tempfile.TemporaryDirectory(dir=c.data_dir()) as workdir:
        import skops.io

        from workflow import tracking

        skops_file = register_production(features, Path(workdir))
        trusted = skops.io.get_untrusted_types(file=skops_file)
        cold = c.Timed({"ours": [], "skops": []}, {"ours": [], "skops": []})
        for round_ in range(repeats):
            order = ["ours", "skops"] if round_ % 2 == 0 else ["skops", "ours"]
            for name in order:
                script = _COLD_LOAD if name == "ours" else _COLD_SKOPS
                wall, cpu = child_seconds(script, skops_file)
                cold.wall[name].append(wall)
                cold.cpu[name].append(cpu)
                c.log(f"P4 round {round_ + 1}/{repeats} cold {name}: {wall:.3f} s (process cpu {cpu:.3f} s)")

        model = tracking.load_segment_model("production")
        warm = c.paired(
            {
                "warm load_segment_model": lambda: tracking.load_segment_model("production"),
                "warm skops.io.load": lambda: skops.io.load(skops_file, trusted=trusted),
            },
            repeats,
            label="P4 ",
        )
        scoring = c.paired(
            {
                "score": lambda: model.score(features),
                "pipeline.predict": lambda: model.pipeline.predict(features[model.features]),
            },
            repeats,
            label="P4 ",
        )

    rows = [
        cold.row(
            "P4·cold",
            "production model load, fresh process (imports + load_segment_model)",
            "ours",
            "skops",
            baseline_what="fresh process: import skops + skops.io.load of the file",
        ),
        warm.row(
            "P4·warm",
            "production model load, warm (load_segment_model again in-process)",
            "warm load_segment_model",
            "warm skops.io.load",
            baseline_what="skops.io.load of the file, in-process",
            max_value=0.1,
        ),
        scoring.row(
            "P4·score",
            f"SegmentModel.score on {len(features):,} customers",
            "score",
            "pipeline.predict",
            baseline_what="pipeline.predict on the same frame",
            max_value=1.0,
        ),
    ]
    c.report(f"P4: production model load and scoring {len(features):,} customers", rows, args)


if __name__ == "__main__":
    main()
