"""Country values to ISO 3166-1 alpha-2 codes, through pycountry (docs/architecture.md#data-contract).

Exports write countries as codes (``FR``, ``FRA``) or names, in English (``United Kingdom``, ``USA``)
or in the language of the system that wrote them (``Royaume-Uni``, ``EIRE``, ``Deutschland``). Names
come from pycountry's ISO 3166 data and its translations into the official languages of the European
Union, which cover French and the countries' own names in European exports; a name that two
countries share in those translations is left out rather than guessed. Nothing here is a hand-kept
table: a value pycountry does not know (``Unspecified``, ``European Community``, ``Channel Islands``)
maps to no country, and the caller reports it.

Values are mapped once per distinct text (a column of millions of rows has a few dozen countries).
"""

from __future__ import annotations

import functools
import gettext
import re
import unicodedata
from collections.abc import Iterable

import numpy as np
import pandas as pd

#: Languages whose country names are read besides English: the official languages of the EU.
NAME_LANGUAGES: tuple[str, ...] = (
    "bg", "cs", "da", "de", "el", "es", "et", "fi", "fr", "ga", "hr", "hu",
    "it", "lt", "lv", "mt", "nl", "pl", "pt", "ro", "sk", "sl", "sv",
)  # fmt: skip
_SPACES = re.compile(r"[\s\-_'’.,()]+")


def country_code(value: object) -> str | None:
    """The ISO alpha-2 code of a code (alpha-2 or alpha-3) or a name; None when it names no country.

    >>> country_code("Royaume-Uni"), country_code("usa"), country_code("EIRE"), country_code("Unspecified")
    ('GB', 'US', 'IE', None)
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    codes = _codes()
    upper = text.upper()
    if upper in codes:
        return codes[upper]
    return _names().get(_fold(text))


def country_codes(values: Iterable[object]) -> dict[object, str | None]:
    """``country_code`` of each distinct value."""
    return {value: country_code(value) for value in dict.fromkeys(values)}


def map_countries(values: pd.Series) -> tuple[pd.Series, dict[str, int]]:
    """A categorical column of alpha-2 codes (missing where unknown) and the rows of each unknown value.

    Parameters
    ----------
    values : Series
        Country codes or names, text or categorical; missing values stay missing and are counted
        under ``""``.

    Returns
    -------
    (Series, dict)
        The codes, categorical and indexed like ``values``; and ``{value: rows}`` for the values
        that name no country, most rows first.
    """
    as_category = values if isinstance(values.dtype, pd.CategoricalDtype) else values.astype("category")
    originals = list(as_category.cat.categories)
    mapped = [country_code(value) for value in originals]
    codes = as_category.cat.codes.to_numpy()
    rows = np.bincount(codes[codes >= 0], minlength=len(originals))
    unknown = {str(value): int(n) for value, code, n in zip(originals, mapped, rows, strict=True) if code is None and n}
    if (missing := int((codes < 0).sum())) > 0:
        unknown[""] = missing
    unknown = dict(sorted(unknown.items(), key=lambda item: (-item[1], item[0])))
    if isinstance(values.dtype, pd.CategoricalDtype) and mapped == [str(value) for value in originals]:
        return values, unknown  # already clean codes, the usual Parquet case: no pass over the rows
    categories = sorted({code for code in mapped if code is not None})
    position = {code: i for i, code in enumerate(categories)}
    new_code = np.array([position.get(code, -1) if code else -1 for code in mapped] + [-1], dtype="int64")
    result = pd.Categorical.from_codes(new_code[codes], categories=categories)
    return pd.Series(result, index=values.index), unknown


def _fold(text: str) -> str:
    """Case, accents, hyphens and punctuation folded: ``Royaume-Uni`` and ``royaume uni`` are one name."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return _SPACES.sub(" ", plain.casefold()).strip()


@functools.cache
def _codes() -> dict[str, str]:
    import pycountry

    codes = {country.alpha_2: country.alpha_2 for country in pycountry.countries}
    codes.update({country.alpha_3: country.alpha_2 for country in pycountry.countries})
    return codes


@functools.cache
def _names() -> dict[str, str]:
    """Folded name → alpha-2 from pycountry's English names and their translations; shared names left out."""
    import pycountry

    english: dict[str, set[str]] = {}
    translated: dict[str, set[str]] = {}
    languages = [gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang]) for lang in NAME_LANGUAGES]
    for country in pycountry.countries:
        for attribute in ("name", "official_name", "common_name"):
            name = getattr(country, attribute, None)
            if not name:
                continue
            english.setdefault(_fold(name), set()).add(country.alpha_2)
            for language in languages:
                translated.setdefault(_fold(language.gettext(name)), set()).add(country.alpha_2)
    # English names first: a translation never overrides one.
    names = {name: next(iter(codes)) for name, codes in translated.items() if len(codes) == 1}
    names.update({name: next(iter(codes)) for name, codes in english.items() if len(codes) == 1})
    return names
