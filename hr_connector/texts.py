"""Report texts from translation.json (PLATFORM.md §8).

The working directory's ``misc-files/translation.json`` wins, as on the vendor's platform; else the
copy shipped with the package is used. A case or language that is missing stops the run with an
error that names it, before anything is imported.
"""

from __future__ import annotations

import functools
import json
import string
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path

from hr_connector.errors import RunInterrupted

SHIPPED_LANGUAGES = ("en", "fi", "sv", "de", "pl", "fr")


class TranslationMissing(RunInterrupted):
    case = "parameters_invalid"

    def __init__(self, source: str, language: str, cases: list[str]):
        shown = ", ".join(cases[:10]) + (" …" if len(cases) > 10 else "")
        super().__init__(
            f"translation.json ({source}) has no '{language}' text for the case(s): {shown}.",
            hint="Add the language to every case of translation.json, or choose another language.",
            figures={"problems": f"language {language} missing in {shown}"},
        )


class Translations:
    def __init__(self, cases: Mapping[str, Mapping[str, str]], source: str) -> None:
        self.cases = cases
        self.source = source

    @classmethod
    def load(cls, override: Path | None = None) -> Translations:
        if override is not None and override.is_file():
            raw = json.loads(override.read_text(encoding="utf-8"))
            source = str(override)
        else:
            shipped = resources.files("hr_connector.translations").joinpath("translation.json")
            raw = json.loads(shipped.read_text(encoding="utf-8"))
            source = "shipped translation.json"
        cases = {case: dict(entry.get("text", {})) for case, entry in raw.items()}
        return cls(cases, source)

    def languages(self) -> set[str]:
        langs: set[str] | None = None
        for texts in self.cases.values():
            langs = set(texts) if langs is None else langs & set(texts)
        return langs or set()

    def require(self, language: str, cases: Iterable[str]) -> None:
        missing = [c for c in cases if language not in self.cases.get(c, {})]
        if missing:
            raise TranslationMissing(self.source, language, missing)

    def text(self, case: str, language: str, **figures: object) -> str:
        try:
            template = self.cases[case][language]
        except KeyError:
            raise TranslationMissing(self.source, language, [case]) from None
        values = {name: figures.get(name, "") for name in placeholders(template)}
        return template.format(**values)


@functools.lru_cache(maxsize=1024)
def placeholders(template: str) -> frozenset[str]:
    """The names a template uses (cached: a report formats one text per blocked row)."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)
