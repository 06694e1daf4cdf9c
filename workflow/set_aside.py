"""Customers set aside before K-means: net refunders and extreme outliers.

Pure computation. Real customer logs hold a few customers that no centroid describes well:

* **net refunders** — net revenue (``monetary``) ≤ 0: their refunds and credits exceed their
  purchases. On the asinh scale they sit far below everyone else, so K-means spends a whole
  segment on ~1 % of customers at every k ≥ 3, and a minimum-size rule then vetoes those k.
* **exceptional accounts** — far-out values of a heavy-tailed feature (orders, revenue, average
  order, weight) on the model's own log scale: beyond Tukey's "far out" fence ``Q3 + 3·IQR``
  (Tukey 1977, *Exploratory Data Analysis*). Quartiles are robust: the outliers do not move the
  fence they are measured against, unlike a mean ± n·σ rule.

Both groups get their own label after the K-means segments (``k``, ``k + 1``), their own name, and
a row of kind ``set_aside`` in the profile. The rule is a handful of thresholds in real units
(``SetAsideRule``), saved with the registered version, so that ``score``, the dashboard and the
runs in MLflow assign every customer the same way.

The groups stay small by construction: at most ``MAX_SET_ASIDE_SHARE`` of the customers in all.
When the plain rule would set aside more (a log where most customers are refunded, or a short
feature whose quartiles are close), only the most extreme are set aside: the refund threshold moves
below 0 and the fences move up, and the rest stay in K-means.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Set-aside groups in label order: the first present group gets label k, the next k + 1.
NET_REFUNDERS = "net_refunders"
OUTLIERS = "outliers"
GROUPS: tuple[str, ...] = (NET_REFUNDERS, OUTLIERS)
#: At most this share of customers is set aside, all groups together.
MAX_SET_ASIDE_SHARE = 0.05
#: Tukey's "far out" fence: Q3 + 3 × IQR on the model's log scale.
FENCE_IQR = 3.0
#: Heavy-tailed features the outlier fence applies to, with the model's transform and its inverse.
#: Recency and tenure are bounded by the data's window and shares by [0, 1]: they have no far tail.
FENCED_FEATURES: dict[str, tuple[np.ufunc, np.ufunc]] = {
    "frequency": (np.log1p, np.expm1),
    "monetary": (np.arcsinh, np.sinh),
    "avg_amount": (np.arcsinh, np.sinh),
    "avg_weight_kg": (np.log1p, np.expm1),
}


@dataclass(frozen=True)
class SetAsideRule:
    """Thresholds in real units that set customers aside before K-means.

    Attributes
    ----------
    refund_max : float or None
        Customers with ``monetary`` at or below this are net refunders (0, or lower when capped);
        None when the model has no ``monetary`` feature.
    fences : dict of str to float
        Feature → value above which a customer is an exceptional account (empty: no outlier group).
    """

    refund_max: float | None = None
    fences: dict[str, float] = field(default_factory=dict)

    @property
    def groups(self) -> tuple[str, ...]:
        """The groups this rule can assign, in label order."""
        present = {NET_REFUNDERS: self.refund_max is not None, OUTLIERS: bool(self.fences)}
        return tuple(group for group in GROUPS if present[group])

    def group_codes(self, features: pd.DataFrame) -> np.ndarray:
        """For each customer, 0 when kept for K-means, else 1 + the index of its group in ``groups``.

        A net refunder is a net refunder even with an extreme value elsewhere: refunds come first.
        """
        codes = np.zeros(len(features), dtype=np.int8)
        for code, group in enumerate(self.groups, start=1):
            hit = self._hits(group, features) & (codes == 0)
            codes[hit] = code
        return codes

    def _hits(self, group: str, features: pd.DataFrame) -> np.ndarray:
        if group == NET_REFUNDERS:
            return features["monetary"].to_numpy(dtype="float64") <= self.refund_max
        hit = np.zeros(len(features), dtype=bool)
        for name, fence in self.fences.items():
            hit |= features[name].to_numpy(dtype="float64") > fence
        return hit

    def labels(self, kmeans_labels: np.ndarray, codes: np.ndarray, n_clusters: int) -> np.ndarray:
        """Full labels: K-means segments 0..k-1 for kept customers, ``k + group`` for the set-aside.

        ``kmeans_labels`` holds one label per kept customer (``codes == 0``), in row order.
        """
        kmeans_labels = np.asarray(kmeans_labels)
        labels = np.zeros(len(codes), dtype=kmeans_labels.dtype)  # the engine's dtype (Spark's int32)
        labels[codes > 0] = n_clusters + codes[codes > 0].astype(labels.dtype) - 1
        labels[codes == 0] = kmeans_labels
        return labels

    def to_dict(self) -> dict:
        """JSON-ready form (saved with the registered version)."""
        return {"refund_max": self.refund_max, "fences": dict(self.fences)}

    @classmethod
    def from_dict(cls, data: dict | None) -> SetAsideRule:
        """Inverse of ``to_dict``; ``None`` or ``{}`` (versions trained before the rule) sets nobody aside."""
        data = data or {}
        refund = data.get("refund_max")
        return cls(
            refund_max=None if refund is None else float(refund),
            fences={str(name): float(value) for name, value in (data.get("fences") or {}).items()},
        )

    def describe(self) -> str:
        """The rule in words, for run descriptions and the docs."""
        parts = []
        if self.refund_max is not None:
            parts.append(f"net revenue ≤ {self.refund_max:g}")
        parts += [f"{name} > {value:,.4g}" for name, value in self.fences.items()]
        return "; ".join(parts) or "nobody"


NO_SET_ASIDE = SetAsideRule()


def fit_set_aside(
    features: pd.DataFrame, *, max_share: float = MAX_SET_ASIDE_SHARE, fence_iqr: float = FENCE_IQR
) -> SetAsideRule:
    """The set-aside rule of a customer table: refund threshold and far-out fences in real units.

    Parameters
    ----------
    features : DataFrame
        One row per customer (``build_features``); only the features present are used.
    max_share : float
        At most this share of customers is set aside in all (the most extreme first).
    fence_iqr : float
        Fence distance above the third quartile, in interquartile ranges, on the model's log scale.

    Returns
    -------
    SetAsideRule
    """
    n = len(features)
    budget = int(np.floor(max_share * n))
    refund_max = None
    refunders = np.zeros(n, dtype=bool)
    if "monetary" in features:
        monetary = features["monetary"].to_numpy(dtype="float64")
        refund_max = _capped_low_threshold(monetary, 0.0, budget)
        refunders = monetary <= refund_max
    budget -= int(refunders.sum())
    fences: dict[str, float] = {}
    rest = ~refunders
    for name, (forward, inverse) in FENCED_FEATURES.items():
        if name not in features or not rest.any():
            continue
        scaled = forward(features[name].to_numpy(dtype="float64"))
        q1, q3 = np.percentile(scaled[rest], [25, 75])
        if q3 > q1:  # a feature whose middle half is one value has no spread to measure a tail by
            fences[name] = float(inverse(q3 + fence_iqr * (q3 - q1)))
    if fences:
        fences = _capped_fences(features, fences, rest, max(budget, 0))
    return SetAsideRule(refund_max=refund_max, fences=fences)


def _capped_low_threshold(values: np.ndarray, threshold: float, budget: int) -> float:
    """``threshold``, or lower so that at most ``budget`` values fall at or below it."""
    if (values <= threshold).sum() <= budget:
        return threshold
    if budget == 0:
        return float(np.nextafter(values.min(), -np.inf))
    ordered = np.sort(values)
    # Everything strictly below the (budget + 1)-th smallest value: ties at the cut stay in K-means.
    return float(np.nextafter(ordered[budget], -np.inf))


def _capped_fences(features: pd.DataFrame, fences: dict[str, float], rest: np.ndarray, budget: int) -> dict[str, float]:
    """Move every fence up by the same distance on the log scale until at most ``budget`` customers pass one.

    A customer's far-out score is how far, on the log scale, its most extreme feature lies beyond
    that feature's fence; raising every fence by the (budget + 1)-th largest score leaves exactly the
    customers with a larger score beyond (ties at the cut stay in K-means).
    """
    score = np.full(len(features), -np.inf)
    for name, fence in fences.items():
        forward = FENCED_FEATURES[name][0]
        score = np.maximum(score, forward(features[name].to_numpy(dtype="float64")) - forward(fence))
    score[~rest] = -np.inf
    if (score > 0).sum() <= budget:
        return fences
    shift = float(np.sort(score)[::-1][budget])
    raised = {}
    for name, fence in fences.items():
        forward, inverse = FENCED_FEATURES[name]
        raised[name] = float(inverse(forward(fence) + shift))
    return raised
