"""What leaves the dashboard as a file: CSV exports safe to open in a spreadsheet, and their names."""

from __future__ import annotations

import io
import re
import unicodedata
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:  # the store imports this module for its exports
    from dashboard.store import DataStore

#: First characters that make a spreadsheet read a cell as a formula (OWASP's "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell that a spreadsheet would run as a formula prefixed by ``'``.

    Customer ids and names come from the data: an id such as ``=HYPERLINK("http://…")`` would be a live
    formula in the analyst's Excel. The apostrophe makes spreadsheets show the cell as text (OWASP's
    advice); numbers are left alone, so negative amounts stay numbers.
    """
    out = frame.copy(deep=False)  # new columns only where a cell changes; the customers are not copied
    for column in frame.columns:
        values = frame[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            # A categorical column: its few categories, not its rows.
            categories = _formulas_as_text(pd.Series(values.cat.categories))
            if categories is not None:
                out[column] = values.cat.rename_categories(categories.tolist())
        else:
            text = _formulas_as_text(values)
            if text is not None:
                out[column] = text
    return out


def _formulas_as_text(values: pd.Series) -> pd.Series | None:
    """``values`` with its formula-like text prefixed by ``'``; None when nothing changes (or not text)."""
    if not (pd.api.types.is_string_dtype(values.dtype) or values.dtype == object):
        return None
    risky = values.str.startswith(FORMULA_TRIGGERS, na=False).to_numpy(dtype=bool)
    if not risky.any():
        return None
    return values.where(~risky, "'" + values.astype("string"))


def to_csv(frame: pd.DataFrame) -> io.StringIO:
    buffer = io.StringIO()
    # Six decimals: enough for shares and cents, without float noise (167.14999999999998).
    neutralise_formulas(frame.round(6)).to_csv(buffer, index=False)
    buffer.seek(0)
    return buffer


def export_filename(store: DataStore, what: str) -> str:
    """``v3-lapsed-heavy-parcel-shippers-2026-12-01.csv``: the model version, what is exported, the day.

    Analysts keep exports side by side: the name says which model cut them, which customers and when.
    """
    slug = re.sub(r"[^0-9a-z]+", "-", unicodedata.normalize("NFKD", what).encode("ascii", "ignore").decode().lower())
    version = f"v{store.model.version}-" if store.model is not None else ""
    return f"{version}{slug.strip('-') or 'customers'}-{pd.Timestamp.now().date().isoformat()}.csv"
