"""Which k each candidate selection rule recommends, on the real data set and on generated data.

Prints one table per data set (the metrics of every k) and the k each rule picks, in Markdown, as
kept in ``docs/k_selection.md``. The rules compared:

* **silhouette** — the best silhouette over every k (Rousseeuw 1987): wave 1's rule without its filters;
* **knee** — the knee of the inertia curve (Kneedle, Satopää et al. 2011, through ``kneed``);
* **gap** — the gap statistic's smallest k with gap(k) ≥ gap(k+1) − s(k+1) (Tibshirani, Walther &
  Hastie 2001), uniform reference boxes, on a 5k-customer sample;
* **prediction strength** — the largest k whose prediction strength is ≥ 0.8 (Tibshirani & Walther 2005),
  5 random halvings of a 5k-customer sample;
* **Calinski-Harabasz** — the best variance ratio (Caliński & Harabasz 1974);
* **ours** — ``recommend_k``: k from 3 to 8, every segment ≥ 2 %, stability ARI ≥ 0.9, best silhouette,
  ties within 0.01 to the larger k.

Every rule sees the same sweep: customers set aside first (``fit_set_aside``), k = 2..10, 10 restarts.
On generated data the adjusted Rand index of each k against the true archetypes is shown too.

Run: ``.venv/bin/python bench/k_rules.py [--real PATH] [--customers N]``.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
from kneed import KneeLocator
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from workflow.clustering import describe_set_aside, fit_sweep, recommend_k
from workflow.data import parse_column_mapping, read_shipments
from workflow.features import build_features
from workflow.set_aside import NO_SET_ASIDE, fit_set_aside
from workflow.synth import generate_shipments

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "online_retail_ii_2009_2010.csv.gz"
REAL_COLUMNS = (
    "customer_id=Customer ID,date=InvoiceDate,order_id=Invoice,amount=Quantity*Price,destination_country=Country"
)
KS = range(2, 11)
SAMPLE = 5_000


def prediction_strength(points: np.ndarray, k: int, rng: np.random.Generator, repeats: int = 5) -> float:
    """Tibshirani & Walther's prediction strength: the worst test cluster's share of co-assigned pairs."""
    values = []
    for _ in range(repeats):
        order = rng.permutation(len(points))
        train, test = points[order[: len(points) // 2]], points[order[len(points) // 2 :]]
        seeds = rng.integers(0, 2**31, size=2)
        predicted = KMeans(k, n_init=4, random_state=int(seeds[0])).fit(train).predict(test)
        test_labels = KMeans(k, n_init=4, random_state=int(seeds[1])).fit(test).labels_
        worst = 1.0
        for cluster in range(k):
            members = predicted[test_labels == cluster]
            if len(members) < 2:
                continue
            counts = np.bincount(members)
            worst = min(worst, float((counts * (counts - 1)).sum() / (len(members) * (len(members) - 1))))
        values.append(worst)
    return float(np.mean(values))


def gap_statistic(points: np.ndarray, k: int, rng: np.random.Generator, references: int = 5) -> tuple[float, float]:
    """Gap(k) and its standard error s(k) with uniform reference data over the points' bounding box."""
    observed = np.log(KMeans(k, n_init=4, random_state=0).fit(points).inertia_)
    low, high = points.min(axis=0), points.max(axis=0)
    reference = [
        np.log(KMeans(k, n_init=2, random_state=b).fit(rng.uniform(low, high, points.shape)).inertia_)
        for b in range(references)
    ]
    return float(np.mean(reference) - observed), float(np.std(reference) * np.sqrt(1 + 1 / references))


def compare(
    features: pd.DataFrame, truth: pd.Series | None = None, *, set_aside: bool = True
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The sweep's metrics plus each candidate's statistic per k, and the k each rule picks."""
    rule = fit_set_aside(features) if set_aside else NO_SET_ASIDE
    sweep = fit_sweep(features, KS, random_state=0, n_init=10, set_aside=rule)
    table = sweep.table()[["silhouette", "calinski_harabasz", "inertia", "stability_ari", "min_cluster_share"]]
    rng = np.random.default_rng(0)
    kept = sweep.scaled[sweep.set_aside_codes == 0]
    kept_labels = sweep.set_aside_codes == 0
    sample = kept[rng.choice(len(kept), size=min(SAMPLE, len(kept)), replace=False)]
    table["prediction_strength"] = [prediction_strength(sample, k, rng) for k in table.index]
    gaps = [gap_statistic(sample, k, rng) for k in table.index]
    table["gap"] = [gap for gap, _ in gaps]
    table["gap_se"] = [se for _, se in gaps]
    if truth is not None:
        truth = truth.loc[features.index]
        table["ari_vs_truth"] = [adjusted_rand_score(truth[kept_labels], t.labels[kept_labels]) for t in sweep.trials]
    ks = list(table.index)
    knee = KneeLocator(ks, table["inertia"].to_list(), curve="convex", direction="decreasing").knee
    # Tibshirani et al.'s rule: the smallest k whose gap is within one standard error of the next k's.
    gap_k = next(
        (
            k
            for k, nxt in itertools.pairwise(ks)
            if table.loc[k, "gap"] >= table.loc[nxt, "gap"] - table.loc[nxt, "gap_se"]
        ),
        None,
    )
    strong = [k for k in ks if table.loc[k, "prediction_strength"] >= 0.8]
    picks = {
        "silhouette (best overall)": int(table["silhouette"].idxmax()),
        "knee of inertia (kneed)": int(knee) if knee is not None else None,
        "gap statistic": gap_k,
        "prediction strength ≥ 0.8 (largest k)": max(strong) if strong else None,
        "Calinski-Harabasz (best)": int(table["calinski_harabasz"].idxmax()),
        "ours (recommend_k)": recommend_k(sweep.table(), set_aside=describe_set_aside(sweep)).k,
    }
    print(recommend_k(sweep.table(), set_aside=describe_set_aside(sweep)).reason)
    return table, picks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=REAL, help="the UCI Online Retail II file")
    parser.add_argument("--customers", type=int, default=20_000, help="generated customers")
    args = parser.parse_args()
    results = {}
    if args.real.exists():
        shipments, _ = read_shipments(args.real, columns=parse_column_mapping(REAL_COLUMNS))
        real = build_features(shipments, home_country="GB")
        results[f"real: {args.real.name} ({len(real):,} customers)"] = compare(real)
        # The same customers without the set-aside step (wave 1's path), and with recency, frequency and
        # revenue only (a shop's export with no country column): rules should hold on other shapes too.
        results["real, nobody set aside"] = compare(real, set_aside=False)
        results["real, RFM features only"] = compare(real[["recency_days", "frequency", "monetary"]])
    shipments, customers = generate_shipments(args.customers, 12, 0)
    generated = build_features(shipments)
    truth = customers.set_index("customer_id")["archetype"]
    results[f"generated: {args.customers:,} customers, 6 archetypes"] = compare(generated, truth)
    for title, (table, _picks) in results.items():
        print(f"\n### {title}\n")
        print(table.round(3).to_markdown())
    print("\n### k recommended by each rule\n")
    picks = pd.DataFrame({title: p for title, (_t, p) in results.items()})
    print(picks.to_markdown())


if __name__ == "__main__":
    main()
