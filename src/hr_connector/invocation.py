"""What the engine hands the script, read as leniently as EPE sends it (PLATFORM.md §1).

Standard input holds one JSON object (the parameters, possibly pretty-printed over several
lines), then optionally a second JSON value (the task mappings: absent, empty, ``null``, ``[]`` or
an object). Anything that cannot start a run (not JSON, nested absurdly deep, a task id that
cannot name a file, a working directory the script cannot write) is an
:class:`~hr_connector.errors.UnusableInvocation`: one line on stderr, exit 2.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from hr_connector.errors import UnusableInvocation

log = logging.getLogger("hr_connector.epe")

#: Parameters are a flat object with a few small nested values (field_names, ...).
MAX_DEPTH = 32
#: ``<taskid>_admin_task.json`` must stay a valid file name (255 bytes on common file systems).
MAX_TASK_ID = 100


def _depth_exceeded(value: Any, limit: int = MAX_DEPTH) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def _decode(decoder: json.JSONDecoder, text: str, start: int, what: str) -> tuple[Any, int]:
    try:
        value, end = decoder.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        raise UnusableInvocation(
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None
    except RecursionError:
        raise UnusableInvocation(f"{what} is nested too deeply to be parameters.") from None
    if _depth_exceeded(value):
        raise UnusableInvocation(
            f"{what} is nested more than {MAX_DEPTH} levels deep: not connector parameters."
        )
    return value, end


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at


#: Spaces a web page or word processor puts where JSON allows only plain white space: the vendor's
#: own example parameters, copied from its page, carry no-break spaces between the keys.
_ODD_SPACES = "\u00a0\u2007\u202f\ufeff"


def _plain_spaces(text: str) -> str:
    """``text`` with odd spaces *between* JSON tokens made plain; string values keep theirs."""
    if not any(c in text for c in _ODD_SPACES):
        return text
    out: list[str] = []
    in_string = escaped = False
    for c in text:
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in _ODD_SPACES:
            c = " "
        out.append(c)
    return "".join(out)


def split_input(text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parameters object and the task mappings (an object; ``{}`` when absent)."""
    decoder = json.JSONDecoder()
    text = _plain_spaces(text)
    start = _skip_space(text, 0)
    params, end = _decode(decoder, text, start, "the parameters (line 1)")
    if not isinstance(params, dict):
        raise UnusableInvocation(
            f"the parameters (line 1) must be a JSON object, not {type(params).__name__}."
        )
    start = _skip_space(text, end)
    if start >= len(text):
        return params, {}
    mappings, end = _decode(decoder, text, start, "the task mappings (line 2)")
    if _skip_space(text, end) < len(text):
        log.warning("Ignored the text after the task mappings on standard input")
    return params, _mappings_object(mappings)


def _mappings_object(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, list):  # a list of mapping objects: their keys together
        merged: dict[str, Any] = {}
        for item in value:
            if isinstance(item, dict):
                merged.update(item)
        return merged
    if value not in (None, ""):
        log.warning("Ignored the task mappings: a %s, not an object", type(value).__name__)
    return {}


def safe_task_id(value: str) -> str:
    value = value.strip()
    if not value or not all(c.isalnum() or c in "-_." for c in value) or value.startswith("."):
        shown = value if len(value) <= 40 else value[:40] + "…"
        raise UnusableInvocation(
            f"The task id {shown!r} is not a plain name (letters, digits, -_.)."
        )
    if len(value.encode("utf-8")) > MAX_TASK_ID:
        raise UnusableInvocation(
            f"The task id is {len(value)} characters long; at most {MAX_TASK_ID} fit in the "
            f"file names <taskid>_log.txt and <taskid>_output.json."
        )
    return value


def check_writable(folder: Path) -> None:
    """The run writes its log, output and archives here: refuse a folder it cannot write."""
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UnusableInvocation(
            f"The working directory {folder} is not writable for this user "
            f"(uid {os.getuid()}): the run cannot write its log, output or archives."
        )
