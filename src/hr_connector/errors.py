"""Errors that end a run, each tied to a report case of translation.json.

Every error knows three things the operator needs: the report ``case`` (so the admin task is
written in the customer's language), the ``figures`` that fill the case's placeholders, and a
``hint`` that says what to fix before the rerun. ``str(error)`` is a complete English sentence
that is safe to log: no secret is ever put into an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from hr_connector import advice


class ConnectorError(Exception):
    """Base class of every error the connector reports on purpose.

    Most errors are stated declaratively: ``message_format`` and ``hint_format`` are
    :meth:`str.format` templates of the error's figures, filled by :meth:`_stated`.
    """

    case: str = "run_failed"  # an instance may set its own (ChangeLimitExceeded)
    message_format: ClassVar[str] = ""
    hint_format: ClassVar[str] = ""

    def __init__(
        self, message: str, *, hint: str = "", figures: Mapping[str, object] | None = None
    ):
        super().__init__(message)
        self.message = message
        self.hint = advice.in_origin_terms(hint)
        self.figures: dict[str, object] = dict(figures or {})

    def _stated(self, *, hint: str | None = None, **figures: object) -> None:
        """Initialise from the class's templates and ``figures`` (``hint`` replaces its own)."""
        ConnectorError.__init__(
            self,
            self.message_format.format(**figures),
            hint=self.hint_format.format(**figures) if hint is None else hint,
            figures=figures,
        )

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class RunInterrupted(ConnectorError):
    """One of the vendor's "interrupted" cases (PLATFORM.md §5): nothing is imported, exit 1."""


class UnusableInvocation(ConnectorError):
    """The script cannot even start a run (bad JSON on stdin, no task id): exit 2."""

    case = "unusable_invocation"


class ParametersInvalid(RunInterrupted):
    """Extra arguments missing or invalid; names every offending key at once."""

    case = "parameters_invalid"

    def __init__(self, missing: list[str], invalid: Mapping[str, str]):
        self.missing = sorted(missing)
        self.invalid = dict(sorted(invalid.items()))
        parts: list[str] = []
        if self.missing:
            parts.append("missing: " + ", ".join(self.missing))
        if self.invalid:
            parts.append("invalid: " + "; ".join(f"{k} ({v})" for k, v in self.invalid.items()))
        problems = " | ".join(parts)
        super().__init__(
            f"The connector's extra arguments are not usable ({problems}).",
            hint=advice.parameters_hint(self.invalid),
            figures={"problems": problems},
        )


class FileNotReceived(RunInterrupted):
    case = "file_not_received"
    message_format = "No HR file matches '{pattern}' in {where}."
    hint_format = "Check why the HR system did not deliver the file, deliver it and rerun the task."

    def __init__(self, pattern: str, where: str):
        self._stated(pattern=pattern, where=where)


class FileEmpty(RunInterrupted):
    case = "file_empty"
    message_format = "The HR file '{file}' is empty (no data rows)."
    hint_format = "Regenerate the file in the HR system and rerun the task."

    def __init__(self, file: str):
        self._stated(file=file)


class MultipleFiles(RunInterrupted):
    case = "multiple_files"
    message_format = "{count} files match '{pattern}': {files}."
    hint_format = "Remove the extra files so that exactly one remains, then rerun the task."

    def __init__(self, pattern: str, files: list[str]):
        shown = ", ".join(files[:20]) + (f" (+{len(files) - 20} more)" if len(files) > 20 else "")
        self._stated(pattern=pattern, count=len(files), files=shown)


class ArchiveMissing(RunInterrupted):
    case = "archive_missing"
    message_format = (
        "A partial run needs the archive of the previous run, but '{archive}' does not exist."
    )

    def __init__(self, archive: str):
        self._stated(hint=advice.full_load_hint(), archive=archive)


class FileUnreadable(RunInterrupted):
    """The file is not UTF-8 or not well-formed CSV/JSON/XML."""

    case = "file_unreadable"
    message_format = "The HR file '{file}' cannot be read at {position}: {reason}."
    hint_format = "Fix or regenerate the file (UTF-8, well-formed) and rerun the task."

    def __init__(self, file: str, position: str, reason: str):
        self._stated(file=file, position=position, reason=reason)


class MissingColumns(RunInterrupted):
    case = "missing_columns"
    message_format = "The header of '{file}' lacks the mapped column(s): {columns}."
    hint_format = "Add the columns to the HR export, or map them with 'field_names', and rerun."

    def __init__(self, file: str, columns: list[str]):
        self._stated(file=file, columns=", ".join(columns))


class KeyFieldMissing(RunInterrupted):
    """JSON/XML: no record has the row ID field, so no row can be compared or imported."""

    case = "missing_columns"
    message_format = "No record of '{file}' has the row ID field '{columns}'."
    hint_format = "Add the field to the HR export, or map it with 'field_names', and rerun."

    def __init__(self, file: str, column: str):
        self._stated(file=file, columns=column)


class DateOrderAmbiguous(RunInterrupted):
    """A slashed date reads as two dates and the column's other values do not say which."""

    case = "date_order_ambiguous"
    message_format = (
        "The dates of the column '{column}' can be read day first or month first: '{value}' is "
        "{day_first} (dd/mm/yyyy) or {month_first} (mm/dd/yyyy), and no other value decides."
    )
    hint_format = (
        'Set date_formats to ["%d/%m/%Y"] if the day comes first or to ["%m/%d/%Y"] if the '
        "month does, and rerun the task."
    )

    def __init__(self, value: str, day_first: str, month_first: str, column: str):
        self._stated(column=column, value=value, day_first=day_first, month_first=month_first)


class TooManyBlocked(RunInterrupted):
    """More of the file's rows are blocked than ``max_blocked_share`` allows."""

    case = "too_many_blocked"
    message_format = (
        "{blocked} of the file's {rows} rows are blocked, more than max_blocked_share {limit} "
        "allows (most frequent reasons, with their rows: {reasons})."
    )
    hint_format = (
        "Check the reasons: when the file is wrong, correct it in the HR system and rerun the "
        "task; when the file is right, adjust the extra arguments the reasons name (for example "
        "date_formats or field_names); to import the valid rows anyway, raise max_blocked_share "
        "(1 turns this check off)."
    )

    def __init__(self, blocked: int, rows: int, limit: float, reasons: str):
        self._stated(blocked=blocked, rows=rows, limit=f"{limit:g}", reasons=reasons)


class RunLocked(RunInterrupted):
    case = "run_locked"
    message_format = "Another {data_type} run is active in this working directory ({holder})."
    hint_format = "Wait until it ends; the lock '{lock}' frees itself when that process exits."

    def __init__(self, data_type: str, lock_path: str, holder: str):
        self._stated(data_type=data_type, lock=lock_path, holder=holder)


class UnsafePath(RunInterrupted):
    case = "unsafe_path"
    message_format = "'{key}' = '{value}' points outside the working directory."
    hint_format = "Use a path relative to the working directory, without '..'."

    def __init__(self, key: str, value: str):
        self._stated(key=key, value=value)


class TooFewRows(RunInterrupted):
    case = "minimum_row_count"
    message_format = "The file has {rows} data rows, fewer than minimum_row_count {minimum}."
    hint_format = "Check that the HR export is complete, regenerate it and rerun the task."

    def __init__(self, rows: int, minimum: int):
        self._stated(rows=rows, minimum=minimum)


class UpdateLimitExceeded(RunInterrupted):
    case = "update_limit_exceeded"
    message_format = (
        "The run would import {updates} updates ({new} new, {changed} changed), "
        "more than update_limit {limit}."
    )

    def __init__(self, updates: int, limit: int | str, new: int, changed: int, changeset: str):
        self._stated(
            hint=advice.approve_hint(changeset),
            updates=updates,
            limit=limit,
            new=new,
            changed=changed,
            changeset=changeset,
        )


class TransientError(RunInterrupted):
    """A network failure worth retrying (refused, reset, timed out, 5xx).

    The Prefect tasks that touch the network retry exactly these (after the run's
    ``retry_delays``); when the retries are used up the run is interrupted with the client's
    report case.
    """


class SftpError(RunInterrupted):
    """The SFTP server refused us for good (authentication, host key, permissions)."""

    case = "sftp_failed"
    message_format = "SFTP server {server}: {reason}."
    hint_format = "Check the SFTP parameters and the server, then rerun the task."

    def __init__(self, server: str, reason: str, hint: str = ""):
        self._stated(hint=hint or None, server=server, reason=reason)


class FileStillBeingWritten(RunInterrupted):
    """The remote file changed while it was looked at: the HR system is still writing it."""

    case = "file_still_being_written"
    message_format = (
        "The HR file '{file}' on {where} is still being written: {change}. Nothing was "
        "downloaded or moved."
    )
    hint_format = (
        "Rerun the task later, once the HR system has finished writing the file "
        "(sftp_settle_seconds: how long it must stay unchanged, now {settle} s)."
    )

    def __init__(self, file: str, where: str, change: str, settle: float):
        self._stated(file=file, where=where, change=change, settle=f"{settle:g}")


class SftpUnavailable(TransientError):
    """The SFTP server could not be reached or dropped the connection."""

    case = "sftp_failed"
    message_format = "SFTP server {server} is not reachable: {reason}."
    hint_format = (
        "Check the network path to {server} (firewall, VPN) and that the server is up, then "
        "rerun the task."
    )

    def __init__(self, server: str, reason: str, hint: str = ""):
        self._stated(hint=hint or None, server=server, reason=reason)
