"""Plural forms: when a counted text reads its singular variant (CLDR's "one" category).

A report case whose text counts something may have a variant ``<case>_one`` beside ``<case>``.
:func:`variant` picks it when the language reads the first whole number among the text's figures
as "one": English "1 file" but "0 files", French "0 fichier", Russian "21 файл". A variant the
language has no text for falls back to ``<case>``. CLDR's "few" and "many" never have a text (the
shipped texts have none and a customer's file cannot add cases): the shipped Polish texts are
written so that their plain form reads right for every number ("plików: 5").
"""

from __future__ import annotations

import string
from collections.abc import Mapping

#: Languages whose "one" covers 0 and 1 (CLDR: fr; pt uses i = 0,1).
_ZERO_IS_ONE = frozenset({"fr", "pt", "hy", "kab"})
#: Languages whose "one" is every number ending in 1 but 11 (CLDR: ru, uk, be).
_ENDS_IN_ONE = frozenset({"ru", "uk", "be"})
#: Languages without plural forms.
_NO_PLURAL = frozenset({"ja", "zh", "ko", "vi", "th", "id", "ms", "tr"})


def reads_one(language: str, n: int) -> bool:
    """Whether ``language`` reads the whole number ``n`` in CLDR's "one" form."""
    base = language.split("-")[0].split("_")[0].lower()
    n = abs(n)
    if base in _ZERO_IS_ONE:
        return n in (0, 1)
    if base in _ENDS_IN_ONE:
        return n % 10 == 1 and n % 100 != 11
    return n == 1 and base not in _NO_PLURAL


def variant(
    cases: Mapping[str, Mapping[str, str]], case: str, language: str, figures: Mapping[str, object]
) -> str:
    """The case to render: ``case`` or its singular variant for the counted figure."""
    texts = cases.get(case, {})
    shown = language if language in texts else "en"  # a missing language reads English
    for _, name, _, _ in string.Formatter().parse(texts.get(shown, "")):
        number = figures.get(name) if name else None
        if isinstance(number, int) and not isinstance(number, bool):
            one = reads_one(shown, number) and shown in cases.get(f"{case}_one", {})
            return f"{case}_one" if one else case
    return case
