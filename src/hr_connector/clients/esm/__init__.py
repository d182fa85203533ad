"""File the "IGA admin task" in the customer's ESM as one datacard (PLATFORM.md §7).

:class:`RestSink` uses the REST API (:mod:`.rest`), :class:`XmlSink` the legacy XML Web API
(:mod:`.xml`); both share the transport and error policy of :mod:`.http`. An attachment the ESM
will not take is listed in the description instead (where it is kept, its size and SHA-256, why).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Generic, TypeVar

from hr_connector.attachments import not_attached, not_attached_lines, zipped_name
from hr_connector.clients.esm.http import MAX_BODY_IN_ERROR, EsmError, EsmUnavailable
from hr_connector.clients.esm.rest import EsmRestClient
from hr_connector.clients.esm.xml import EsmXmlClient
from hr_connector.door import FileRefused
from hr_connector.ending import terminated
from hr_connector.errors import ConnectorError
from hr_connector.inert import shown
from hr_connector.outcome import AdminTask, Attachment, NotAttached
from hr_connector.params import DEFAULT_RETRY_DELAYS, WebApiSettings
from hr_connector.report import ReportSink
from hr_connector.texts import Translations
from hr_connector.workdir import WorkDir, door_for

__all__ = ["EsmError", "EsmRestClient", "EsmUnavailable", "EsmXmlClient", "RestSink", "XmlSink"]

log = logging.getLogger(__name__)


_T = TypeVar("_T")


def _retried(call: Callable[[], _T], delays: Sequence[float], what: str) -> _T:
    """``call()``, tried again after each of ``delays`` while the ESM fails for now (a run
    being stopped does not wait)."""
    for wait in [*delays, None]:
        try:
            return call()
        except EsmUnavailable as exc:
            if wait is None or terminated():
                raise
            log.warning("%s failed (%s); again in %g s", what, exc, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


_Client = TypeVar("_Client", EsmRestClient, EsmXmlClient)


class _Sink(Generic[_Client]):
    """What both sinks hold: the settings, their Web API client, the texts of the notes."""

    client_class: type[_Client]

    def __init__(
        self,
        settings: WebApiSettings,
        translations: Translations | None = None,
        upload_delays: Sequence[float] | None = None,
    ) -> None:
        self.settings = settings
        self.client: _Client = self.client_class(settings)
        #: the run's texts of the notes; a sink made without them uses the shipped ones
        self.texts = translations or Translations.load()
        #: seconds between the attempts at an upload that failed for now (5xx, timeout)
        self.upload_delays = list(DEFAULT_RETRY_DELAYS if upload_delays is None else upload_delays)
        #: the attachments the ESM refused in the last :meth:`file` (the task lists them)
        self.refused: list[str] = []

    def _create(self, task: AdminTask, description: str) -> str:
        settings = self.settings
        codes = settings.report_attribute_codes
        return self.client.create_datacard(
            settings.report_template_code,
            settings.report_folder_code,
            {codes.title: task.title, codes.description: description},
        )


class RestSink(_Sink[EsmRestClient]):
    """Files the admin task through the REST API: datacard first, then the attachments.

    Only the login and the datacard itself raise, so a retry of the whole filing never meets a
    card it made before. (A create whose answer is lost cannot be told apart from one that never
    arrived; the retry then creates a second card: the REST API has no idempotency key.)
    """

    client_class = EsmRestClient

    def file(self, task: AdminTask) -> str:
        settings = self.settings
        self.refused = []
        card_id = self._create(task, task.description)
        log.info(
            "Created the admin task datacard %s (template %s, folder %s)",
            card_id,
            settings.report_template_code,
            settings.report_folder_code,
        )
        notes: list[str] = []
        left_out: list[NotAttached] = []
        for attachment in task.attachments:
            note = self._attach(card_id, attachment, task.language, left_out)
            if note:
                notes.append(note)
        if notes or left_out:
            lines = notes + not_attached_lines(left_out, self.texts, task.language)
            description = task.description + "\n\n" + "\n".join(lines)
            codes = settings.report_attribute_codes
            try:
                self.client.update_datacard(
                    settings.report_template_code, card_id, {codes.description: description}
                )
            except ConnectorError as exc:  # the task and its files are in; the note is a detail
                log.error("Could not add the attachment notes to the description: %s", exc)
        return card_id

    def _attach(
        self, card_id: str, attachment: Attachment, language: str, left_out: list[NotAttached]
    ) -> str | None:
        """Upload one attachment; return the note for the description, if any. A file the ESM
        did not take goes to ``left_out`` (and its name to :attr:`refused`)."""
        name, path, settings = attachment.name, Path(attachment.path), self.settings
        source = Path(attachment.source) if attachment.source else None
        original = source or path
        listed = original.name if source is not None else name
        if not path.is_file():
            log.warning("Attachment %s not found at %s; not attached", name, path)
            return self.texts.text("attachment_missing", language, name=name, path=str(path))
        try:
            result = _retried(
                lambda: self.client.upload_attachment(
                    settings.report_template_code,
                    card_id,
                    settings.report_attribute_codes.attachments,
                    name,
                    path,
                    source=source,
                ),
                self.upload_delays,
                f"Upload of {name}",
            )
        except (OSError, FileRefused) as exc:  # gone, unreadable, or not a file of ours
            log.warning("Attachment %s cannot be read (%s); not attached", name, exc)
            reason = f"{name}: {type(exc).__name__}"
            return self.texts.text("attachments_omitted", language, reason=reason)
        except ConnectorError as exc:  # the ESM would not take it: the task is in, say so
            log.error("The ESM refused the attachment %s: %s", name, exc)
            why = exc.message[:MAX_BODY_IN_ERROR]
            note = not_attached(original, listed, "esm_refused", attachment.rows, why=why)
        else:
            log.debug("Attachment %s: %s %s", name, result.how, result.files)
            if result.how == "compressed":
                files = ", ".join(result.files)
                return self.texts.text("attachment_compressed", language, name=name, files=files)
            if result.how != "too_large":
                return None
            log.warning("Attachment %s is too large for the ESM; kept at %s", name, original)
            note = not_attached(
                original, listed, "esm_too_large", attachment.rows, sent=result.sent
            )
        left_out.append(note)
        self.refused.append(listed)
        return None


class XmlSink(_Sink[EsmXmlClient]):
    """Files the admin task through the legacy XML Web API; attachments are left out."""

    client_class = EsmXmlClient

    def file(self, task: AdminTask) -> str:
        settings = self.settings
        description = task.description
        if task.attachments:
            files = ", ".join(a.name for a in task.attachments)
            log.warning(
                "The legacy XML Web API cannot upload files; attachments omitted: %s", files
            )
            listed: list[NotAttached] = []
            missing: list[str] = []
            for item in task.attachments:
                original = Path(item.source or item.path)
                name = original.name if item.source else item.name
                with contextlib.suppress(OSError, FileRefused):  # else listed as missing
                    listed.append(not_attached(original, name, "xml", item.rows))
                    continue
                missing.append(
                    self.texts.text(
                        "attachment_missing", task.language, name=name, path=str(original)
                    )
                )
            lines = missing + not_attached_lines(listed, self.texts, task.language)
            description = f"{description}\n\n" + "\n".join(lines)
        reference = self._create(task, description)
        log.info(
            "Imported the admin task through the XML Web API (%s, template %s, folder %s)",
            reference,
            settings.report_template_code,
            settings.report_folder_code,
        )
        return reference


def sink_for(
    settings: WebApiSettings,
    translations: Translations | None = None,
    upload_delays: Sequence[float] | None = None,
) -> ReportSink:
    """The sink for ``settings.webapi_kind``: ``rest`` (default) or ``xml``."""
    sink = XmlSink if settings.webapi_kind == "xml" else RestSink
    return sink(settings, translations, upload_delays)


def load_admin_task(task_json: Path) -> AdminTask:
    """Read a kept ``<taskid>_admin_task.json`` for a re-send.

    Its attachments are the files its run wrote, found by their known names in its working
    directory (the file's folder) through the door: a path in the file is never followed (an
    edited one could send any file on the host to the ESM), and a name the run does not write
    is not sent (the log says so).
    """
    task = AdminTask.model_validate_json(door_for(task_json).read_bytes(task_json))
    wd = WorkDir(task_json.parent, task.task_id, task.data_type)
    own: dict[str, tuple[Path, Path | None]] = {p.name: (p, None) for p in wd.attached}
    own |= {zipped_name(p.name): (wd.zipped(p.name), p) for p in wd.attached}
    attachments = []
    for item in task.attachments:
        if item.name not in own:
            log.warning("Not sent: %s is not a file the run writes", shown(item.name))
            continue
        path, source = own[item.name]
        update = {"path": str(path), "source": str(source) if source else None}
        attachments.append(item.model_copy(update=update))
    return task.model_copy(update={"attachments": attachments})


def resend_admin_task(
    task_json: Path, settings: WebApiSettings, delays: Sequence[float] = ()
) -> str:
    """File a kept admin task again (``hr-connector resend-report``); return the datacard id.
    Tried again after each of ``delays`` while the ESM fails for now (outside Prefect). Each
    attempt that got as far as creating a datacard leaves it in the ESM."""
    task = load_admin_task(task_json)
    return _retried(lambda: sink_for(settings).file(task), delays, "Filing the admin task")
