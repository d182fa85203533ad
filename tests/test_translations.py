"""Checks of the shipped report texts (translations/translation.json, PLATFORM.md §8)."""

from __future__ import annotations

import json
import string
from collections import Counter
from pathlib import Path

import pytest

TRANSLATION_FILE = Path(__file__).resolve().parents[1] / "translations" / "translation.json"
LANGUAGES = ["en", "fi", "sv", "de", "pl", "fr"]

with TRANSLATION_FILE.open(encoding="utf-8") as _fh:
    TRANSLATIONS: dict[str, dict] = json.load(_fh)

CASES = sorted(TRANSLATIONS)
CASE_LANGUAGES = [(case, lang) for case in CASES for lang in LANGUAGES]


def placeholders(text: str) -> Counter[str]:
    """Names of the ``{placeholders}`` in ``text``, with how often each is used."""
    return Counter(name for _, name, _, _ in string.Formatter().parse(text) if name is not None)


def test_file_has_cases() -> None:
    assert CASES


@pytest.mark.parametrize("case", CASES)
def test_case_has_exactly_the_shipped_languages(case: str) -> None:
    texts = TRANSLATIONS[case]["text"]
    assert list(texts) == LANGUAGES


@pytest.mark.parametrize(("case", "lang"), CASE_LANGUAGES)
def test_text_is_non_empty(case: str, lang: str) -> None:
    text = TRANSLATIONS[case]["text"].get(lang)
    assert isinstance(text, str)
    assert text.strip()


@pytest.mark.parametrize(("case", "lang"), CASE_LANGUAGES)
def test_placeholders_match_english(case: str, lang: str) -> None:
    texts = TRANSLATIONS[case]["text"]
    english = placeholders(texts["en"])
    assert set(placeholders(texts[lang])) == set(english)
    assert placeholders(texts[lang]) == english


@pytest.mark.parametrize(("case", "lang"), CASE_LANGUAGES)
def test_text_formats_with_dummy_values(case: str, lang: str) -> None:
    text = TRANSLATIONS[case]["text"][lang]
    values = {name: f"<{name}>" for name in placeholders(text)}
    formatted = text.format(**values)
    for name in values:
        assert f"<{name}>" in formatted
