"""Static charts logged with each run (matplotlib, Agg backend): pure functions returning figures."""

from __future__ import annotations

import io

import matplotlib as mpl

mpl.use("Agg")  # no display on servers and in CI; must precede pyplot's import
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

#: Categorical palette with distinguishable hues for up to 10 segments (matplotlib's tab10).
SEGMENT_COLOURS = [mpl.colormaps["tab10"](i) for i in range(10)]
#: Vertices per segment band of the silhouette plot (a 7-inch figure is ~700 pixels wide).
BAND_POINTS = 400
#: Width of one character of a fontsize-8 label, in inches (DejaVu Sans, measured on the longest generated names).
LABEL_CHAR_INCHES = 0.048


def silhouette_figure(values: np.ndarray, labels: np.ndarray, names: list[str], k: int) -> Figure:
    """The classic silhouette plot: one horizontal band per segment, sorted values, mean as a line.

    Parameters
    ----------
    values : ndarray
        Silhouette value of each sampled customer.
    labels : ndarray
        Segment of each sampled customer (same length as ``values``).
    names : list of str
        Segment names, indexed by segment number.
    k : int
        Number of segments.
    """
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.6 * k + 2))
    y_low = 10
    for segment in range(k):
        band = np.sort(values[labels == segment])
        rows = band_outline(len(band))
        colour = SEGMENT_COLOURS[segment % len(SEGMENT_COLOURS)]
        ax.fill_betweenx(y_low + rows, 0, band[rows], facecolor=colour, edgecolor=colour, alpha=0.8)
        ax.text(-0.02, y_low + len(band) / 2, f"{segment}: {names[segment]}", ha="right", va="center", fontsize=8)
        y_low += len(band) + 10
    mean = float(values.mean()) if len(values) else float("nan")
    ax.axvline(mean, color="black", linestyle="--", linewidth=1, label=f"mean {mean:.3f}")
    ax.set_xlim(min(-0.1, float(values.min(initial=0)) - 0.05), 1)
    ax.set_yticks([])
    ax.set_xlabel("silhouette value (sampled customers)")
    ax.set_title(f"Silhouette by segment, k={k}")
    ax.legend(loc="lower right")
    # Margins from the longest label instead of tight_layout, which draws the whole figure once more
    # only to measure its text (half the figure's time).
    longest = max((len(f"{i}: {name}") for i, name in enumerate(names[:k])), default=0)
    width, height = fig.get_size_inches()
    left = min(0.6, (longest * LABEL_CHAR_INCHES + 0.25) / width)
    fig.subplots_adjust(left=left, right=0.97, top=1 - 0.45 / height, bottom=0.7 / height)
    return fig


def band_outline(n: int, points: int = BAND_POINTS) -> np.ndarray:
    """Indices of a sorted band of ``n`` values that draw its outline: all of them, or ``points`` evenly
    spaced ones including both ends. A band is monotonic, so a few hundred points trace it to the pixel
    while drawing thousands of vertices per band costs most of the figure's time."""
    if n <= points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, points).round().astype(np.int64))


def sweep_figure(table: pd.DataFrame, recommended_k: int) -> Figure:
    """Elbow (inertia) and silhouette/stability against k, with the recommended k marked."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    ks = table.index.to_numpy()
    left.plot(ks, table["inertia"], marker="o")
    left.set_xlabel("k (number of segments)")
    left.set_ylabel("inertia (within-segment sum of squares)")
    left.set_title("Elbow")
    right.plot(ks, table["silhouette"], marker="o", label="silhouette")
    right.plot(ks, table["stability_ari"], marker="s", label="stability (ARI)")
    right.set_xlabel("k (number of segments)")
    right.set_ylabel("score")
    right.set_ylim(min(0, float(table["silhouette"].min())), 1.05)
    right.set_title("Quality and stability")
    right.legend(loc="lower left")
    for axis in (left, right):
        axis.axvline(recommended_k, color="grey", linestyle="--", linewidth=1)
        axis.set_xticks(ks)
    fig.suptitle(f"Sweep over k — recommended k={recommended_k}")
    fig.tight_layout()
    return fig


def png_bytes(fig: Figure) -> bytes:
    """Render ``fig`` as a PNG file (matplotlib's defaults, as ``mlflow.log_figure`` saves it) and close it."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png")
    finally:
        close(fig)
    return buffer.getvalue()


def close(fig: Figure) -> None:
    """Release a figure's memory (pyplot keeps every figure alive until closed)."""
    plt.close(fig)
