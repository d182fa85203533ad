"""The run's log file (``<taskid>_log.txt``) and the redaction that keeps secrets out of every log.

Redaction is installed as a log-record factory, so it covers every logger in the process (ours,
Prefect's, paramiko's, urllib3's) and every handler (console, file, Prefect API): each record's
message and traceback are rendered once and the registered secret values, JWTs and Basic/Bearer
credentials are replaced by ``**********`` before any handler sees them.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import logging
import os
import re
import threading
import traceback
import urllib.parse
from collections.abc import Iterable, Iterator
from pathlib import Path

MASK = "**********"
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_AUTH_HEADER = re.compile(r"(?i)\b(Bearer|Basic)\s+[A-Za-z0-9+/=._~-]{8,}")
_lock = threading.Lock()
_secrets: set[str] = set()
_installed = False


def register_secrets(values: Iterable[str | None]) -> None:
    """Add secret values to redact from now on (short values are ignored: too many false hits).

    Each value is also redacted in the forms a server or proxy may quote it in (issue 17):
    URL/form encoded, JSON/Python escaped, HTML escaped, base64.
    """
    with _lock:
        for value in values:
            if value and len(value) >= 4:
                _secrets.update(f for f in encoded_forms(value) if len(f) >= 4)
    install()


def register_credentials(user: str | None, password: str | None) -> None:
    """A user and password that may travel as ``base64(user:password)`` (HTTP Basic)."""
    if user and password:
        register_secrets([password, f"{user}:{password}"])


def encoded_forms(value: str) -> set[str]:
    """``value`` as it may appear quoted in a request body, a URL, JSON, HTML or base64."""
    forms = {
        value,
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value),
        urllib.parse.quote(value),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        repr(value)[1:-1],
        html.escape(value),
        html.escape(value, quote=False),
    }
    forms |= {f.lower() for f in forms if "%" in f}  # %c3%a4 as well as %C3%A4
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(value.encode()).decode()
        forms |= {encoded, encoded.rstrip("=")}
    return forms


def redact(text: str) -> str:
    if not text:
        return text
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
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


_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
#: Loggers whose records go to the run's log file.
RUN_LOGGERS = ("hr_connector", "prefect.flow_runs", "prefect.task_runs", "paramiko")


@contextlib.contextmanager
def run_log_file(path: Path, *, debug: bool) -> Iterator[None]:
    """Append this run's log to ``path`` for the duration of the block.

    The file is private (0600, also when an older one was readable: it names people) and is
    never reached through a symlink planted at its path.
    """
    install()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():  # planted: replace it, never write through it
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)
    stream = os.fdopen(fd, "a", encoding="utf-8")
    try:
        with run_log_to(logging.StreamHandler(stream), debug=debug):
            yield
    finally:
        stream.close()


@contextlib.contextmanager
def run_log_to(handler: logging.Handler, *, debug: bool) -> Iterator[None]:
    """Send the run's log records to ``handler`` (a file, or stderr for a dry run)."""
    install()
    handler.setFormatter(logging.Formatter(_FORMAT))
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
