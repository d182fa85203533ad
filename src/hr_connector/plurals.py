"""Plural forms: which variant of a counted text a language reads (CLDR cardinal categories).

A report case whose text counts something may have variants ``<case>_one``, ``<case>_few`` and
``<case>_many`` beside ``<case>`` (the "other" form). :func:`variant` picks the one the language
uses for the first whole number among the text's figures: English "1 file" but "0 files", French
"0 fichier", Polish "1 plik", "2 pliki", "5 plików". The rules are CLDR's for the shipped languages
and the usual European ones; any other language reads "one" for 1 and "other" for the rest. A
variant the language has no text for falls back to ``<case>`` (the shipped Polish texts are written
so that their "other" form reads right for every number: "plików: 5").
"""

from __future__ import annotations

import string
from collections.abc import Mapping

#: Languages whose "one" covers 0 and 1 (CLDR: fr, pt-PT differs; pt uses i = 0,1).
_ZERO_IS_ONE = frozenset({"fr", "pt", "hy", "kab"})
#: Languages with one / few (2-4, not 12-14) / many (CLDR: pl; uk and ru use the same shape).
_SLAVIC_EAST_WEST = frozenset({"pl", "ru", "uk", "be"})
#: Languages with one / few (2-4) / other.
_CZECH_SLOVAK = frozenset({"cs", "sk"})
#: Languages without plural forms.
_NO_PLURAL = frozenset({"ja", "zh", "ko", "vi", "th", "id", "ms", "tr"})


def category(language: str, n: int) -> str:
    """``one``, ``few``, ``many`` or ``other`` for the whole number ``n`` in ``language``."""
    base = language.split("-")[0].split("_")[0].lower()
    n = abs(n)
    if base in _NO_PLURAL:
        return "other"
    if base in _ZERO_IS_ONE:
        return "one" if n in (0, 1) else "other"
    if base in _SLAVIC_EAST_WEST:
        if n == 1 or (base != "pl" and n % 10 == 1 and n % 100 != 11):
            return "one"
        if n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14):
            return "few"
        return "many"
    if base in _CZECH_SLOVAK:
        return "one" if n == 1 else "few" if n in (2, 3, 4) else "other"
    return "one" if n == 1 else "other"


def _first_number(template: str, figures: Mapping[str, object]) -> int | None:
    for _, name, _, _ in string.Formatter().parse(template):
        value = figures.get(name) if name else None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def variant(
    cases: Mapping[str, Mapping[str, str]], case: str, language: str, figures: Mapping[str, object]
) -> str:
    """The case to render: ``case`` or its plural variant for the counted figure."""
    texts = cases.get(case, {})
    shown = language if language in texts else "en"  # a missing language reads English
    template = texts.get(shown)
    if template is None:
        return case
    number = _first_number(template, figures)
    if number is None:
        return case
    form = category(shown, number)
    if form == "other" or shown not in cases.get(f"{case}_{form}", {}):
        return case
    return f"{case}_{form}"
