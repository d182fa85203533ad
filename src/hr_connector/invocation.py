"""What the engine hands the script, read as leniently as EPE sends it (PLATFORM.md §1).

Standard input holds one JSON object (the parameters, possibly pretty-printed over several
lines, with ``//`` and ``/* */`` comments as the vendor's page shows them), then optionally a
second JSON value (the task mappings: absent, empty, ``null``, ``[]`` or an object). A key given
twice with different values is kept for the run to refuse by name. Anything that cannot start a
run (not JSON, nested absurdly deep, a task id that cannot name a file, a working directory the
script cannot write or whose name breaks a line) is an
:class:`~hr_connector.errors.UnusableInvocation`: one line on stderr, exit 2.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hr_connector.errors import UnusableInvocation
from hr_connector.params import TASK_ID_KEYS

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


#: What ``_as_json`` looks at: a string (kept whole, even unclosed), a ``//`` or ``/* */`` comment
#: (an unclosed ``/*`` alone), or a space a web page or word processor puts where JSON allows only
#: plain white space (the vendor's example parameters, copied from its page, carry no-break ones).
_TOKENS = re.compile(
    r'"(?:[^"\\]|\\(?:.|\Z))*(?:"|\Z)|//[^\n]*|/\*.*?\*/|/\*|[\u00a0\u2007\u202f\ufeff]', re.S
)


def _plain(match: re.Match[str]) -> str:
    token = match.group()
    if token.startswith('"'):
        return token
    if token == "/*":
        line = match.string.count("\n", 0, match.start()) + 1
        raise UnusableInvocation(
            f"the parameters hold a comment '/*' that is never closed (line {line})."
        )
    return re.sub(r"[^\n]", " ", token)


def _as_json(text: str) -> str:
    """``text`` as strict JSON: odd spaces between tokens made plain, ``// …`` and ``/* … */``
    comments outside strings blanked (the vendor's page annotates its example parameters with
    ``//``). String values keep every character, so a URL's ``//`` stays. Blanking, not
    deleting, keeps a later error's line and column where the admin sees them."""
    return _TOKENS.sub(_plain, text)


class _Object(dict[str, Any]):
    """A JSON object whose text gave some key more than once (``repeated``: key -> values)."""

    repeated: dict[str, list[Any]]


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook``: the object, remembering every key given twice and its values."""
    found = dict(pairs)
    if len(found) == len(pairs):
        return found
    obj = _Object(found)
    obj.repeated = {}
    for key, value in pairs:
        obj.repeated.setdefault(key, []).append(value)
    # the same value twice is no ambiguity (a line pasted twice); two values are
    obj.repeated = {k: v for k, v in obj.repeated.items() if any(x != v[0] for x in v)}
    return obj


def _repeated(value: Any, path: str = "") -> dict[str, list[Any]]:
    """Every key given more than once at any depth, by its dotted path, with its values."""
    found: dict[str, list[Any]] = {}
    if isinstance(value, _Object):
        for key, values in value.repeated.items():
            found[f"{path}{key}"] = values
    if isinstance(value, dict):
        for key, child in value.items():
            found.update(_repeated(child, f"{path}{key}."))
    elif isinstance(value, list):
        for child in value:
            found.update(_repeated(child, path))
    return found


@dataclass(frozen=True)
class StdinInput:
    """What the engine wrote on standard input."""

    #: the connector parameters (the task's extra arguments)
    params: dict[str, Any]
    #: the task mappings (``{}`` when absent)
    mappings: dict[str, Any] = field(default_factory=dict)
    #: keys the parameters give more than once (dotted path -> every value, in order): the run
    #: refuses them rather than silently taking the last (an admin's "update_limit" 5 then 100000)
    repeated: dict[str, list[Any]] = field(default_factory=dict)


def split_input(text: str) -> StdinInput:
    """The parameters object and the task mappings (an object; ``{}`` when absent)."""
    decoder = json.JSONDecoder(object_pairs_hook=_object)
    text = _as_json(text)
    start = _skip_space(text, 0)
    params, end = _decode(decoder, text, start, "the parameters (line 1)")
    if not isinstance(params, dict):
        raise UnusableInvocation(
            f"the parameters (line 1) must be a JSON object, not {type(params).__name__}."
        )
    repeated = _repeated(params)
    start = _skip_space(text, end)
    mappings: dict[str, Any] = {}
    if start < len(text):
        value, end = _decode(decoder, text, start, "the task mappings (line 2)")
        if _skip_space(text, end) < len(text):
            log.warning("Ignored the text after the task mappings on standard input")
        mappings = _mappings_object(value)
        repeated_ids = [k for k in _repeated(value) if k.rsplit(".", 1)[-1] in TASK_ID_KEYS]
        if repeated_ids:
            raise UnusableInvocation(f"the task mappings (line 2) give {repeated_ids[0]} twice.")
    ids = [k for k in repeated if k in TASK_ID_KEYS]
    if ids:  # the log and output are named by it: no guess
        raise UnusableInvocation(
            f"the parameters (line 1) give {ids[0]} more than once "
            f"({', '.join(json.dumps(v) for v in repeated[ids[0]])}): keep one."
        )
    return StdinInput(dict(params), mappings, repeated)


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


def check_one_line(folder: Path) -> None:
    """The output's path is the last line on stdout: a folder whose name breaks a line would
    make the platform read a wrong path (or none), so it cannot be the working directory."""
    shown = str(folder)
    if len(f"x{shown}x".splitlines()) > 1:
        raise UnusableInvocation(
            f"The working directory {json.dumps(shown)} holds a line break: the last line of "
            "standard output could not name the output file. Rename the folder."
        )


def check_writable(folder: Path) -> None:
    """The run writes its log, output and archives here: refuse a folder it cannot write."""
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UnusableInvocation(
            f"The working directory {folder} is not writable for this user "
            f"(uid {os.getuid()}): the run cannot write its log, output or archives."
        )
