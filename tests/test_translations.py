"""Checks of the shipped report texts (translations/translation.json, PLATFORM.md §8).

Each check goes over every case and language and reports every problem it finds at once (one
test per kind of problem, not one per text), so that the test count stays a count of behaviours.
"""

from __future__ import annotations

import json
import string
from collections import Counter
from pathlib import Path

TRANSLATION_FILE = Path(__file__).resolve().parents[1] / "translations" / "translation.json"
LANGUAGES = ["en", "fi", "sv", "de", "pl", "fr"]

with TRANSLATION_FILE.open(encoding="utf-8") as _fh:
    TRANSLATIONS: dict[str, dict] = json.load(_fh)

CASES = sorted(TRANSLATIONS)


def placeholders(text: str) -> Counter[str]:
    """Names of the ``{placeholders}`` in ``text``, with how often each is used."""
    return Counter(name for _, name, _, _ in string.Formatter().parse(text) if name is not None)


def _texts() -> list[tuple[str, str, object]]:
    """(case, language, text) for every shipped language of every case."""
    return [(c, lang, TRANSLATIONS[c]["text"].get(lang)) for c in CASES for lang in LANGUAGES]


def _report(problems: list[str]) -> str:
    return f"{len(problems)} problem(s):\n" + "\n".join(problems)


def test_every_case_has_exactly_the_shipped_languages_in_order() -> None:
    assert CASES
    problems = [
        f"{case}: {list(TRANSLATIONS[case]['text'])}"
        for case in CASES
        if list(TRANSLATIONS[case]["text"]) != LANGUAGES
    ]
    assert problems == [], _report(problems)


def test_every_text_is_a_non_empty_string() -> None:
    problems = [
        f"{case}/{lang}: {text!r}"
        for case, lang, text in _texts()
        if not isinstance(text, str) or not text.strip()
    ]
    assert problems == [], _report(problems)


def test_every_translation_has_the_placeholders_of_the_english_text() -> None:
    problems = []
    for case, lang, text in _texts():
        if lang == "en" or not isinstance(text, str):
            continue
        english = placeholders(TRANSLATIONS[case]["text"]["en"])
        if placeholders(text) != english:
            problems.append(f"{case}/{lang}: {dict(placeholders(text))} != en {dict(english)}")
    assert problems == [], _report(problems)


def test_every_text_formats_and_shows_each_value() -> None:
    problems = []
    for case, lang, text in _texts():
        if not isinstance(text, str):
            continue
        values = {name: f"<{name}>" for name in placeholders(text)}
        try:
            formatted = text.format(**values)
        except (KeyError, IndexError, ValueError) as exc:
            problems.append(f"{case}/{lang}: does not format ({type(exc).__name__}: {exc})")
            continue
        problems += [
            f"{case}/{lang}: {{{n}}} not shown" for n in values if values[n] not in formatted
        ]
    assert problems == [], _report(problems)
