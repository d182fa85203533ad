"""The customer's ``misc-files/translation.json`` laid over the shipped texts (PLATFORM.md §2, §8).

A customer moving from the vendor's script often has a file with only some cases, or with the
vendor's case names. Their texts override the shipped ones case by case and language by language;
a case or language the file lacks keeps the shipped text; case names we do not know are ignored
with a log warning. A file that is not valid JSON, or not shaped
``{"<case>": {"text": {"<lang>": "..."}}}``, is ignored as a whole with a warning that the admin
task repeats (:attr:`MergedTexts.notes`): the run goes on with the shipped texts.
"""

from __future__ import annotations

import json
import logging
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hr_connector.door import FileRefused
from hr_connector.workdir import door_for

log = logging.getLogger("hr_connector.texts")

#: The report case that tells the admin the customer's file was not (fully) used.
IGNORED_CASE = "translation_file_ignored"


@dataclass
class MergedTexts:
    #: case -> language -> text
    cases: dict[str, dict[str, str]]
    source: str
    #: figures of :data:`IGNORED_CASE` notes for the admin task (``file``, ``reason``)
    notes: list[dict[str, str]] = field(default_factory=list)


def _shape_problem(raw: Any) -> str | None:
    if not isinstance(raw, dict):
        return f"the file holds a JSON {type(raw).__name__}, not an object of cases"
    for case, entry in raw.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("text"), dict):
            return f'the case "{case}" has no "text" object of languages'
        for lang, text in entry["text"].items():
            if not isinstance(text, str):
                return f'the case "{case}" has a non-text value for the language "{lang}"'
    return None


def _formattable(text: str) -> bool:
    """A template ``str.format`` can fill with named figures (no ``{0}``, ``{a.b}``, lone ``{``)."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
        text.format(**dict.fromkeys(names, ""))
    except (ValueError, IndexError, KeyError, AttributeError, TypeError):
        return False
    return True


def _read(path: Path) -> tuple[Any, str | None]:
    try:
        return json.loads(door_for(path).read_bytes(path).decode("utf-8-sig")), None
    except FileRefused as exc:
        return None, f"not a regular file ({exc.figures['kind']})"
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 ({exc.reason} at byte {exc.start})"
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
    except RecursionError:
        return None, "not valid JSON (nested too deeply)"
    except OSError as exc:
        return None, f"not readable ({exc.strerror})"


def _override(cases: dict[str, dict[str, str]], raw: dict[str, Any], shown: str) -> int:
    """Lay the customer's valid templates of known cases over ``cases``; return how many."""
    overridden = 0
    for case, entry in raw.items():
        if case not in cases:
            continue
        for lang, text in entry["text"].items():
            if _formattable(text):
                cases[case][lang] = text
                overridden += 1
            else:
                log.warning(
                    "Ignored the %s text of the case %s in %s: not a valid text template",
                    lang,
                    case,
                    shown,
                )
    return overridden


def _keep_singular_forms(cases: dict[str, dict[str, str]], raw: dict[str, Any]) -> None:
    """Your wording wins over our singular form of it (unless you wrote the singular too)."""
    for case, entry in raw.items():
        singular = cases.get(f"{case}_one")
        if case in cases and singular is not None:
            own = raw.get(f"{case}_one", {}).get("text", {})
            for lang in entry["text"]:
                if lang not in own and lang in cases[case]:
                    singular[lang] = cases[case][lang]


def merge(shipped: Mapping[str, Any], custom: Path | None) -> MergedTexts:
    """The shipped texts with the customer's file (when there is one) laid over them."""
    cases = {case: dict(entry.get("text", {})) for case, entry in shipped.items()}
    if custom is None or not (custom.is_file() or custom.is_symlink()):
        return MergedTexts(cases, "shipped translation.json")
    shown = f"misc-files/{custom.name}"
    raw, problem = _read(custom)
    if problem is None:
        problem = _shape_problem(raw)
    if problem is not None:
        log.warning("Ignored the custom texts %s: %s; the shipped texts are used", shown, problem)
        return MergedTexts(cases, "shipped translation.json", [{"file": shown, "reason": problem}])
    unknown = sorted(case for case in raw if case not in cases)
    if unknown:
        log.warning("Ignored the unknown case(s) of %s: %s", shown, ", ".join(unknown[:20]))
    overridden = _override(cases, raw, shown)
    _keep_singular_forms(cases, raw)
    log.info("Custom texts: %d text(s) of %s override the shipped ones", overridden, shown)
    return MergedTexts(cases, f"{shown} over the shipped translation.json")
