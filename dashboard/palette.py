"""The segments' colours, the same in every view and in the plots logged to MLflow."""

from __future__ import annotations

#: matplotlib's tab10, the palette of the silhouette plots logged with each run (``workflow.plots``):
#: a segment has the same colour in MLflow and here. Ten hues that stay apart on white.
SEGMENT_COLOURS: tuple[str, ...] = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


#: Unselected customers fade to this light grey, lighter than tab10's grey so both stay apart.
UNSELECTED_COLOUR = "#d9d9d9"


def segment_colour(segment: int) -> str:
    """Colour of a segment, the same in every view."""
    return SEGMENT_COLOURS[segment % len(SEGMENT_COLOURS)]
