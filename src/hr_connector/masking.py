"""Masking of national IDs (social security numbers) in texts shown outside the ESM.

Prefect stores artifacts and logs in its own database; those copies show only the last
characters of a national ID. Patterns cover the Nordic formats (FI ``131052-308T``, SE
``19811228-9874``/``811228-9874``, NO/DK 11 or 10 digits with an optional dash).
"""

from __future__ import annotations

import re

_PATTERNS = [
    re.compile(r"\b\d{6}[-+A-FU-Y]\d{3}[0-9A-Y]\b"),  # Finland (HETU)
    re.compile(r"\b(?:\d{2})?\d{6}[-+]?\d{4}\b"),  # Sweden, Denmark, Norway (10-12 digits)
    re.compile(r"\b\d{11}\b"),  # Norway without separator
]


def mask_national_ids(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: "*" * (len(m.group()) - 2) + m.group()[-2:], text)
    return text


def mask_value(value: str) -> str:
    """One national ID as a person may see it: all but the last two characters starred."""
    value = value.strip()
    if len(value) <= 4:
        return "*" * len(value)
    return "*" * (len(value) - 2) + value[-2:]
