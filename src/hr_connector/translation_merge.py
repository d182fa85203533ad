"""The customer's ``misc-files/translation.json`` laid over the shipped texts (PLATFORM.md §2, §8).

A customer moving from the vendor's script often has a file with only some cases, or with the
vendor's case names. Their texts override the shipped ones case by case and language by language;
a case or language the file lacks keeps the shipped text. What is not used is said in the admin
task, not only in the log (:attr:`MergedTexts.notes`): a file that is not JSON shaped
``{"<case>": {"text": {"<lang>": "..."}}}`` (ignored whole), unknown case names, and a text that
uses anything but its case's placeholders (those its shipped texts use, in any language) plainly:
a ``{placeholder}`` the case does not give would print empty, and a width, precision or
conversion (``{task_id:>30000000}``) could write a 30 MB task.
"""

from __future__ import annotations

import functools
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

#: The report case that tells the admin the customer's file was not used at all.
IGNORED_CASE = "translation_file_ignored"
#: The report case that names the customer's case names we do not know.
UNKNOWN_CASES_CASE = "translation_cases_unknown"
#: The report case that names a customer text that was not used, and why.
TEXT_REFUSED_CASE = "translation_text_refused"


@dataclass
class MergedTexts:
    #: case -> language -> text
    cases: dict[str, dict[str, str]]
    source: str
    #: what the admin task says about the customer's file: ``{"case": <report case>, figures}``
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


@functools.lru_cache(maxsize=1024)
def placeholders(template: str) -> frozenset[str]:
    """The names a template uses (cached: a report formats one text per blocked row)."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)


def _misused(text: str, allowed: set[str]) -> list[str]:
    """The fields of ``text`` that are not one of ``allowed`` written plainly (``{name}``);
    ``["{"]`` when the text is no template at all (a lone brace)."""
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError:
        return ["{" if "{" in text else "}"]
    bad: list[str] = []
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        plain = name in allowed and not spec and conversion is None
        if not plain:
            shown = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            bad.append("{" + shown[:40] + ("…" if len(shown) > 40 else "") + "}")
    return bad


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


def _override(
    cases: dict[str, dict[str, str]], raw: dict[str, Any], shown: str
) -> tuple[set[tuple[str, str]], list[dict[str, str]]]:
    """Lay the customer's usable texts of known cases over ``cases``: (what was laid, notes)."""
    laid: set[tuple[str, str]] = set()
    notes: list[dict[str, str]] = []
    for case, entry in raw.items():
        if case not in cases:
            continue
        allowed = set().union(*(placeholders(text) for text in cases[case].values()))
        for lang, text in entry["text"].items():
            bad = _misused(text, allowed)
            if not bad:
                cases[case][lang] = text
                laid.add((case, lang))
                continue
            log.warning(
                "Ignored the %s text of the case %s in %s: it uses %s", lang, case, shown, bad
            )
            notes.append(
                {
                    "case": TEXT_REFUSED_CASE,
                    "file": shown,
                    "text_case": case,
                    "text_language": lang,
                    "found": ", ".join(bad),
                    "allowed": ", ".join("{" + n + "}" for n in sorted(allowed)) or "-",
                }
            )
    return laid, notes


def _keep_singular_forms(cases: dict[str, dict[str, str]], laid: set[tuple[str, str]]) -> None:
    """Your wording wins over our singular form of it (unless you wrote the singular too)."""
    for case, lang in laid:
        singular = cases.get(f"{case}_one")
        if singular is not None and (f"{case}_one", lang) not in laid:
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
        note = {"case": IGNORED_CASE, "file": shown, "reason": problem}
        return MergedTexts(cases, "shipped translation.json", [note])
    notes: list[dict[str, str]] = []
    unknown = sorted(case for case in raw if case not in cases)
    if unknown:
        log.warning("Ignored the unknown case(s) of %s: %s", shown, ", ".join(unknown[:20]))
        listed = ", ".join(f'"{c[:60]}"' for c in unknown[:20]) + (
            " …" if len(unknown) > 20 else ""
        )
        notes.append({"case": UNKNOWN_CASES_CASE, "file": shown, "cases": listed})
    laid, refused = _override(cases, raw, shown)
    _keep_singular_forms(cases, laid)
    log.info("Custom texts: %d text(s) of %s override the shipped ones", len(laid), shown)
    return MergedTexts(cases, f"{shown} over the shipped translation.json", notes + refused)
