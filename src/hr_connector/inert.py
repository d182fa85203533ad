"""Inert text: a value from the HR file (or any other outside source) shown to a person.

A value may hold line breaks, control characters or bidirectional overrides; written as it is
into the admin task or the log it forges lines there (a fake ``"override_update_limit": true``
under a real heading) or hides what follows. A value may also be huge (a 400 KB row ID). So
every place that shows a value to a person shows :func:`shown` of it: escaped as Python escapes
a string literal (``\\n``, ``\\x1b``, ``\\u202e``) and cut at a cap with the number of characters
left out. The full value stays in the files attached to the admin task.
"""

from __future__ import annotations

import re

#: Characters shown at most per value in the admin task (a row ID, a name, a reason's detail).
VALUE_MAX = 200
#: Characters shown at most per placeholder of a report text (a list of row IDs, a change).
FIGURE_MAX = 2_000
#: Characters shown at most per value in a log line (our own messages included).
LOG_VALUE_MAX = 4_000

#: C0 and C1 controls, line and paragraph separators, bidirectional embeddings and overrides.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    return repr(match.group())[1:-1]  # as a Python string literal writes it: \n, \x1b, \u202e


def escape(text: str, *, keep_line_breaks: bool = False) -> str:
    """``text`` with every unsafe character escaped (line breaks kept when asked: our own
    multi-line texts)."""
    if keep_line_breaks:
        return "\n".join(_UNSAFE.sub(_escaped, line) for line in text.split("\n"))
    return _UNSAFE.sub(_escaped, text)


def shown(value: object, limit: int = VALUE_MAX) -> str:
    """``value`` as a person may read it: one line, escaped, at most ``limit`` characters of
    it (then ``… (N more characters)``)."""
    text = value if isinstance(value, str) else str(value)
    cut = text[:limit]
    rest = len(text) - len(cut)
    out = escape(cut)
    return f"{out}… ({rest} more characters)" if rest else out


def needs_showing(text: str, limit: int) -> bool:
    """Whether :func:`shown` would change ``text``."""
    return len(text) > limit or _UNSAFE.search(text) is not None
