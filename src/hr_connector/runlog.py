"""The run's log file (``<taskid>_log.txt``), the redaction that keeps secrets out of every log,
and the inert text that keeps values from forging log lines.

Both are a log-record factory, so they cover every logger (ours, Prefect's, paramiko's,
urllib3's) and every handler: each record is rendered once, with secrets (in the forms they take
on the wire, :func:`encoded_forms`, and inside base64), JWTs and Basic/Bearer credentials masked,
and every value made inert (:func:`hr_connector.inert.shown`), so a first name holding a line
break never starts a line of its own.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import html
import io
import json
import logging
import re
import threading
import traceback
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from hr_connector.inert import LOG_VALUE_MAX, escape, needs_showing, shown
from hr_connector.workdir import door_for

MASK = "**********"
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_AUTH_HEADER = re.compile(r"(?i)\b(Bearer|Basic)\s+[A-Za-z0-9+/=._~-]{8,}")
#: A run of base64 (standard or URL-safe) long enough to hide a secret.
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{8,}={0,2}")
_PERCENT = re.compile(r"%[0-9A-F]{2}")
_lock = threading.Lock()
_secrets: set[str] = set()
_forms: re.Pattern[str] | None = None
_installed = False


def encoded_forms(value: str) -> set[str]:
    """``value`` as a server or proxy may quote it: as is, URL/form-encoded (upper- or lower-case
    escapes), JSON/Python-escaped, HTML-escaped, and each of those as UTF-8 read as Latin-1 (how
    HTTP libraries decode a status line or header). Base64 is found by decoding (see redact)."""
    forms = {
        value,
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        repr(value)[1:-1],
        html.escape(value),
        html.escape(value, quote=False),
    }
    forms |= {_PERCENT.sub(lambda m: m.group().lower(), f) for f in forms}  # %c3%a4 too
    forms |= {f.encode("utf-8").decode("latin-1") for f in forms}
    return {f for f in forms if len(f) >= 4}


def _hides_secret(token: str, secrets: Iterable[str]) -> bool:
    """True when ``token`` is base64 of text that contains a secret (e.g. ``user:password``)."""
    core = token.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        decoded = base64.b64decode(core + "=" * (-len(core) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    text = decoded.decode("utf-8", "replace")
    return any(secret in text for secret in secrets)


def _forms_pattern(secrets: Iterable[str]) -> re.Pattern[str] | None:
    forms = {form for secret in secrets for form in encoded_forms(secret)}
    if not forms:
        return None
    alternatives = sorted(forms, key=len, reverse=True)  # the longest form first
    return re.compile("|".join(map(re.escape, alternatives)))


def _mask(text: str, secrets: tuple[str, ...], forms: re.Pattern[str] | None) -> str:
    if forms is None or not text:
        return text
    text = forms.sub(MASK, text)
    return _BASE64.sub(lambda m: MASK if _hides_secret(m.group(), secrets) else m.group(), text)


def mask_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with ``secrets`` (not necessarily registered) masked in every written form."""
    values = tuple(v for v in secrets if v and len(v) >= 4)
    return _mask(text, values, _forms_pattern(values))


def register_secrets(values: Iterable[str | None]) -> None:
    """Add secret values to redact from now on (short values are ignored: too many false hits)."""
    global _forms
    with _lock:
        _secrets.update(v for v in values if v and len(v) >= 4)
        _forms = _forms_pattern(_secrets)
    install()


def register_credentials(user: str | None, password: str | None) -> None:
    """A user and password that may travel together, e.g. as HTTP Basic's ``user:password``."""
    if user and password:
        register_secrets([password, f"{user}:{password}"])


def redact(text: str) -> str:
    if not text:
        return text
    text = _mask(text, tuple(_secrets), _forms)
    text = _JWT.sub(MASK, text)
    return _AUTH_HEADER.sub(lambda m: f"{m.group(1)} {MASK}", text)


def install() -> None:
    """Wrap the log-record factory once per process."""
    global _installed
    with _lock:
        if _installed:
            return
        base = logging.getLogRecordFactory()

        def factory(*args: object, **kwargs: object) -> logging.LogRecord:
            record = base(*args, **kwargs)
            record.args = _inert_args(record.args)
            try:
                message = record.getMessage()
            except Exception:  # a bad format string: keep the raw message
                message = str(record.msg)
            record.msg = redact(message)
            record.args = None
            if record.exc_info and record.exc_info[0] is not None:
                record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)))
                record.exc_info = None
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


def _inert(value: object) -> object:
    if value is None or isinstance(value, int | float):
        return value
    text = value if isinstance(value, str) else str(value)
    return shown(text, LOG_VALUE_MAX) if needs_showing(text, LOG_VALUE_MAX) else value


def _inert_args(args: Any) -> Any:
    """A log call's values, each inert (numbers and short plain texts as they were)."""
    if isinstance(args, tuple):
        return tuple(_inert(a) for a in args)
    if isinstance(args, dict):  # ``log.info("%(name)s", {...})``
        return {k: _inert(v) for k, v in args.items()}
    return args


#: What follows a line break inside one record (a traceback, a multi-line message).
CONTINUATION = "\n    | "


class InertFormatter(logging.Formatter):
    """One record, and nothing a reader could take for another record."""

    def format(self, record: logging.LogRecord) -> str:
        text = escape(super().format(record), keep_line_breaks=True)
        return text.rstrip("\n").replace("\n", CONTINUATION)


_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
#: Loggers whose records go to the run's log file.
RUN_LOGGERS = ("hr_connector", "prefect.flow_runs", "prefect.task_runs", "paramiko")


@contextlib.contextmanager
def run_log_file(path: Path, *, debug: bool) -> Iterator[None]:
    """Append this run's log to ``path`` for the duration of the block.

    The file is opened through the working directory's door: private (0600, also when an older
    one was readable: it names people), and refused (:class:`~hr_connector.door.FileRefused`)
    when it is a symlink, a named pipe, a folder or a hard-linked file, never written through.
    """
    raw = door_for(path).open_kept(path, append=True)
    stream = io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8")
    try:
        with run_log_to(logging.StreamHandler(stream), debug=debug):
            yield
    finally:
        stream.close()


@contextlib.contextmanager
def run_log_to(handler: logging.Handler, *, debug: bool) -> Iterator[None]:
    """Send the run's log records to ``handler`` (a file, or stderr for a dry run)."""
    install()
    handler.setFormatter(InertFormatter(_FORMAT))
    handler.setLevel(logging.DEBUG if debug else logging.INFO)
    ours = logging.getLogger("hr_connector")
    previous = ours.level
    ours.setLevel(logging.DEBUG if debug else logging.INFO)
    for name in RUN_LOGGERS:
        logging.getLogger(name).addHandler(handler)
    try:
        yield
    finally:
        for name in RUN_LOGGERS:
            logging.getLogger(name).removeHandler(handler)
        ours.setLevel(previous)
        handler.close()
