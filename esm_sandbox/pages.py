"""The pages an admin reads: the list of admin tasks, and one page per admin task.

An admin task is a datacard whose title and text the connector wrote from the shipped
``translation.json``; the page reads them back with the same texts: its language (from the title),
status and data type, the task id, the counts, the blocked rows. The frame follows the task's
language where the shipped translations have the words (the count labels, "Blocked rows", the
status, "Changeset"); the rest is English. The changes table is the ``<taskid>_changes.csv``
attachment when there is one (UTF-8 with BOM, ``;``, a header row), shown by its own header.
Times are shown in the sandbox host's local time zone.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from hr_connector.texts import Translations

if TYPE_CHECKING:
    from esm_sandbox.server import EsmSandbox

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'"
#: Rows of a changes table shown on the page (the attachment has them all).
MAX_CHANGE_ROWS = 1000
STATUS_CASES = {
    "title_completed": "completed",
    "title_completed_blocked": "blocked",
    "title_interrupted": "interrupted",
}
COUNT_KEYS = ("rows_read", "valid", "blocked", "new", "changed", "unchanged", "removed", "output")


def template_pattern(template: str) -> re.Pattern[str]:
    """A regular expression that reads back the figures a translation template was filled with."""
    out, seen = [], set()
    for literal, name, _, _ in __import__("string").Formatter().parse(template):
        out.append(re.escape(literal))
        if name:
            out.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
            seen.add(name)
    return re.compile("".join(out) + r"\Z", re.DOTALL)


@dataclass(frozen=True)
class Words:
    """The frame's words in one language: from the shipped texts where they have them."""

    language: str
    status: dict[str, str]
    counts: dict[str, str]
    blocked_rows: str
    changeset: str
    task: str


class ShippedTexts:
    """The shipped translation.json, as patterns to read tasks and words to show them."""

    def __init__(self) -> None:
        self.cases = Translations.load().cases
        self.languages = sorted(Translations.load().languages(), key=lambda x: (x != "en", x))
        self.patterns = {
            (case, lang): template_pattern(text)
            for case, texts in self.cases.items()
            for lang, text in texts.items()
        }

    def match(self, case: str, language: str, text: str) -> dict[str, str] | None:
        pattern = self.patterns.get((case, language))
        found = pattern.match(text) if pattern else None
        return found.groupdict() if found else None

    @functools.cache  # noqa: B019 (one instance per process)
    def words(self, language: str) -> Words:
        def text(case: str) -> str:
            return self.cases.get(case, {}).get(language) or self.cases[case]["en"]

        counts = dict(re.findall(r"([^.{}:]+?):\s*\{(\w+)\}", text("counts")))
        status = {}
        for case, key in STATUS_CASES.items():
            if key == "blocked":  # "completed, N rows blocked": the badge's colour says "blocked"
                case = "title_completed"
            tail = text(case).split("{data_type}", 1)[-1]
            status[key] = re.sub(r"\{\w+\}", "", tail).strip(" :,()").strip() or key
        task = re.search(r"(\w+)\s*\{task_id\}", text("summary_completed"))
        return Words(
            language=language,
            status=status,
            counts={v: k.strip() for k, v in counts.items()},
            blocked_rows=re.split(r"\s*[(:.]", text("blocked_rows_heading"), maxsplit=1)[0],
            changeset=text("changeset").split("{changeset}")[0].strip(" :"),
            task=task.group(1) if task else "task",
        )


@functools.cache
def shipped() -> ShippedTexts:
    return ShippedTexts()


@dataclass
class Attachment:
    name: str
    url: str
    size: int


@dataclass
class Changes:
    header: list[str]
    rows: list[list[str]]
    total: int
    source: str


@dataclass
class TaskView:
    card_id: str
    title: str
    text: str
    created: str
    template: str
    folder: str
    language: str = "en"
    status: str = "other"
    data_type: str = ""
    task_id: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    changeset: str = ""
    blocked: list[dict[str, str]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    changes: Changes | None = None
    other: dict[str, str] = field(default_factory=dict)

    @property
    def words(self) -> Words:
        return shipped().words(self.language)


def local_time(iso: str) -> str:
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return moment.astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()


def read_changes(path: Path, name: str) -> Changes | None:
    """A ``;``-separated UTF-8 (BOM) table with a header row; ``None`` when unreadable."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    if not rows:
        return None
    header, body = rows[0], [r for r in rows[1:] if any(cell.strip() for cell in r)]
    return Changes(header=header, rows=body[:MAX_CHANGE_ROWS], total=len(body), source=name)


def _value_text(card: dict[str, Any], code: str) -> str:
    values = card.get("data", {}).get(code, {}).get("values", [])
    return "\n".join(str(v.get("value", "")) for v in values if isinstance(v, dict))


def task_view(sandbox: EsmSandbox, card: dict[str, Any]) -> TaskView:
    card_id = str(card["dataCardId"])
    view = TaskView(
        card_id=card_id,
        title=_value_text(card, sandbox.title_attribute) or f"Datacard {card_id}",
        text=_value_text(card, sandbox.description_attribute),
        created=local_time(str(card.get("created", ""))),
        template=str(card.get("templateCode", "")),
        folder=str(card.get("folderCode", "")),
    )
    for code in sorted(card.get("data", {})):
        if code not in (sandbox.title_attribute, sandbox.description_attribute):
            view.other[code] = _value_text(card, code)
    for names in card.get("files", {}).values():
        for name in names:
            path = sandbox.file_path(card_id, name)
            size = path.stat().st_size if path.exists() else 0
            view.attachments.append(
                Attachment(name, f"/files/{quote(card_id)}/{quote(name)}", size)
            )
            if name.endswith("_changes.csv") and view.changes is None:
                view.changes = read_changes(path, name)
    _read_connector_texts(view)
    return view


def _read_connector_texts(view: TaskView) -> None:
    """Language, status, data type, task id, counts, changeset and blocked rows from the text."""
    texts = shipped()
    for language in texts.languages:
        for case, status in STATUS_CASES.items():
            found = texts.match(case, language, view.title)
            if found:
                view.language, view.status = language, status
                view.data_type = found.get("data_type", "")
                break
        if view.status != "other":
            break
    else:
        return
    language = view.language
    for line in view.text.splitlines():
        line = line.strip()
        for case in ("summary_completed", "summary_interrupted"):
            found = texts.match(case, language, line)
            if found and found.get("task_id"):
                view.task_id = found["task_id"]
        found = texts.match("counts", language, line)
        if found:
            view.counts = {k: int(v) for k, v in found.items() if v.isdigit()}
        found = texts.match("changeset", language, line)
        if found:
            view.changeset = found["changeset"]
        if line.startswith("- "):
            found = texts.match("blocked_row", language, line[2:])
            if found:
                view.blocked.append(found)


_env = Environment(
    loader=PackageLoader("esm_sandbox", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_index(sandbox: EsmSandbox) -> str:
    views = [task_view(sandbox, card) for card in sandbox.datacards()]
    return _env.get_template("index.html").render(tasks=views, count_keys=COUNT_KEYS)


def render_task(sandbox: EsmSandbox, card: dict[str, Any]) -> str:
    view = task_view(sandbox, card)
    return _env.get_template("task.html").render(task=view, words=view.words, count_keys=COUNT_KEYS)


def pages_router(sandbox: EsmSandbox) -> APIRouter:
    from esm_sandbox.api import ApiError

    router = APIRouter()

    @router.get("/", response_class=HTMLResponse)
    async def index() -> HTMLResponse:
        return HTMLResponse(render_index(sandbox), headers={"Content-Security-Policy": CSP})

    @router.get("/tasks/{card_id}", response_class=HTMLResponse)
    async def task(card_id: str) -> HTMLResponse:
        card = sandbox.datacard(card_id)
        if card is None:
            raise ApiError(404, f"No admin task {card_id}")
        return HTMLResponse(render_task(sandbox, card), headers={"Content-Security-Policy": CSP})

    return router
