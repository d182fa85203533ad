"""Report texts from translation.json (PLATFORM.md §8).

The working directory's ``misc-files/translation.json`` overrides the shipped texts case by case
and language by language (:mod:`hr_connector.translation_merge`). A case without a text in the
chosen language uses its English text; only a language no case has a text for stops the run,
with an error that names it, before anything is imported.

A text a person reads never shows the host's absolute working directory: a figure that holds a
path below it is shown relative to it (``data/archive``, ``in/title.csv``), wherever the figure
came from.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from hr_connector import plurals
from hr_connector.errors import RunInterrupted
from hr_connector.inert import FIGURE_MAX, shown
from hr_connector.translation_merge import merge, placeholders

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


@dataclass
class Translations:
    cases: Mapping[str, Mapping[str, str]]
    source: str
    #: problems with the customer's file, repeated in the admin task
    notes: list[dict[str, str]] = field(default_factory=list)
    #: the working directory: paths below it are shown relative to it
    root: str | None = None

    @classmethod
    def load(cls, override: Path | None = None) -> Translations:
        """The shipped texts, with ``override`` (the working directory's
        ``misc-files/translation.json``, whose folder's parent is the working directory)."""
        shipped = resources.files("hr_connector.translations").joinpath("translation.json")
        merged = merge(json.loads(shipped.read_text(encoding="utf-8")), override)
        root = None if override is None else str(override.absolute().parent.parent)
        return cls(merged.cases, merged.source, merged.notes, root)

    def languages(self) -> set[str]:
        """Every language some case has a text in."""
        return {lang for texts in self.cases.values() for lang in texts}

    def require(self, language: str, cases: Iterable[str]) -> None:
        """Stop when no text at all exists in ``language`` (other cases fall back to English,
        which every shipped case has: a customer's file only adds texts, and a test checks)."""
        wanted = list(cases)
        if not any(language in self.cases.get(c, {}) for c in wanted):
            raise TranslationMissing(self.source, language, wanted)

    def note_lines(self, language: str) -> list[str]:
        """What the admin task says about the customer's translation.json (nothing when all of
        it was used): the file ignored, unknown case names, texts that were not used."""
        return [self.text(language=language, **note) for note in self.notes]

    def text(self, case: str, language: str, **figures: object) -> str:
        case = plurals.variant(self.cases, case, language, figures)  # "1 file", "2 files"
        texts = self.cases.get(case, {})
        template = texts.get(language, texts.get("en"))
        if template is None:
            raise TranslationMissing(self.source, language, [case])
        values = {name: self._shown(figures.get(name, "")) for name in placeholders(template)}
        return template.format(**values)

    def _shown(self, value: object) -> object:
        """A figure as the admin reads it: a text without the working directory's absolute path,
        escaped and capped (:mod:`hr_connector.inert`)."""
        if not isinstance(value, str):
            return value
        if self.root is not None and self.root in value:
            value = "." if value == self.root else value.replace(self.root + "/", "")
        return shown(value, FIGURE_MAX)
