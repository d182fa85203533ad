"""The pages an admin reads: the list of admin tasks, and one page per admin task.

A page reads each task's **data**, never its text: the connector attaches the admin task as data
(``<taskid>_admin_task.json``: decision, case, language, data type, task id, counts, changeset, the
listed changes and blocked rows), so status, type, counts and numbers are right in every language,
and the page speaks the task's language (:mod:`esm_sandbox.words` for the page's own words, the
connector's report texts for data types and change kinds). Each row is shown once: the changes
table, the blocked rows table, and the text as filed folded away below them. Tables wrap inside
the page. A datacard without that attachment (filed through the XML API, or by another tool) is
shown with its title and text only. Times are shown in the sandbox host's local time zone.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from esm_sandbox.words import page_language, words
from hr_connector.texts import Translations

if TYPE_CHECKING:
    from esm_sandbox.server import EsmSandbox

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'"
COUNT_KEYS = ("rows_read", "valid", "blocked", "new", "changed", "unchanged", "removed", "output")
#: The largest admin-task data file a page reads.
MAX_DATA_BYTES = 16 * 1024 * 1024


@dataclass
class Attachment:
    name: str
    url: str
    size: int


@dataclass
class ChangeRow:
    kind: str  # new | changed | removed (the word shown is in the task's language)
    row_id: str
    where: str
    who: str
    what: str


@dataclass
class TaskView:
    card_id: str
    title: str
    text: str
    created: str
    template: str
    folder: str
    language: str = "en"
    status: str = "unknown"  # completed | completed_blocked | interrupted | unknown
    data_type: str = ""  # as the task's language names it
    data_type_key: str = ""  # workperiod, title, …
    task_id: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    changeset: str = ""
    changes: list[ChangeRow] = field(default_factory=list)
    changes_total: int = 0
    blocked: list[dict[str, str]] = field(default_factory=list)
    blocked_total: int = 0
    quality: list[dict[str, str]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    other: dict[str, str] = field(default_factory=dict)


def local_time(iso: str) -> str:
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return moment.astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()


def _value_text(card: dict[str, Any], code: str) -> str:
    values = card.get("data", {}).get(code, {}).get("values", [])
    return "\n".join(str(v.get("value", "")) for v in values if isinstance(v, dict))


def _task_data(path: Path) -> dict[str, Any] | None:
    """The attached admin task data, or ``None`` when it is not the connector's."""
    with contextlib.suppress(OSError, ValueError):
        if path.stat().st_size <= MAX_DATA_BYTES:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and {"decision", "counts", "language"} <= set(data):
                return data
    return None


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
    data = None
    for names in card.get("files", {}).values():
        for name in names:
            path = sandbox.file_path(card_id, name)
            size = path.stat().st_size if path.exists() else 0
            view.attachments.append(
                Attachment(name, f"/files/{quote(card_id)}/{quote(name)}", size)
            )
            if data is None and name.endswith("_admin_task.json"):
                data = _task_data(path)
    if data is not None:
        _read_data(view, data)
    return view


def _read_data(view: TaskView, data: dict[str, Any]) -> None:
    """Everything the page shows about the run, from the task's data."""
    translations = Translations.load()
    language = str(data.get("language") or "en")
    view.language = language
    counts = data.get("counts") or {}
    view.counts = {k: int(counts[k]) for k in COUNT_KEYS if isinstance(counts.get(k), int)}
    if data.get("decision") == "interrupted":
        view.status = "interrupted"
    else:
        view.status = "completed_blocked" if view.counts.get("blocked") else "completed"
    view.data_type_key = str(data.get("data_type") or "")
    view.data_type = type_name(view.data_type_key, language)
    view.task_id = str(data.get("task_id") or "")
    view.changeset = str(data.get("changeset") or "")
    changes = data.get("changes") or {}
    for kind in ("new", "changed", "removed"):
        view.changes_total += int(changes.get(f"{kind}_total") or 0)
        for row in changes.get(kind) or []:
            identity = row.get("identity") or {}
            view.changes.append(
                ChangeRow(
                    kind=kind,
                    row_id=str(row.get("row_id", "")),
                    where=_position(translations, language, str(row.get("position") or "")),
                    who=", ".join(f"{k} {v}" for k, v in identity.items()),
                    what="; ".join(
                        f"{c.get('column')}: {c.get('old') or '–'} → {c.get('new') or '–'}"
                        for c in row.get("columns") or []
                    ),
                )
            )
    view.blocked_total = int(counts.get("blocked") or 0)
    for row in data.get("blocked_rows") or []:
        view.blocked.append(
            {
                "where": _position(translations, language, str(row.get("position", ""))),
                "row_id": str(row.get("row_id", "")),
                "why": "; ".join(str(r.get("message", "")) for r in row.get("reasons") or []),
            }
        )
    for check in (data.get("data_quality") or {}).get("checks") or []:
        name = f"quality_name_{check.get('check')}"
        view.quality.append(
            {
                "check": translations.text(name, language)
                if name in translations.cases
                else str(check.get("check")),
                "count": str(check.get("count", 0)),
            }
        )


def type_name(data_type: str, language: str) -> str:
    """``work periods``, ``työsuhdejaksot``: a data type as ``language`` names it."""
    translations = Translations.load()
    case = f"data_type_{data_type}"
    return translations.text(case, language) if case in translations.cases else data_type


def _position(translations: Translations, language: str, text: str) -> str:
    from hr_connector.wording import position

    return position(translations, language, text)


_env = Environment(
    loader=PackageLoader("esm_sandbox", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_index(sandbox: EsmSandbox, language: str) -> str:
    views = [task_view(sandbox, card) for card in sandbox.datacards()]
    for view in views:  # the list speaks the page's language
        if view.data_type_key:
            view.data_type = type_name(view.data_type_key, language)
    return _env.get_template("index.html").render(
        tasks=views, w=words(language), lang=language, count_keys=COUNT_KEYS
    )


def render_task(sandbox: EsmSandbox, card: dict[str, Any]) -> str:
    view = task_view(sandbox, card)
    return _env.get_template("task.html").render(
        task=view, w=words(view.language), lang=view.language, count_keys=COUNT_KEYS
    )


def pages_router(sandbox: EsmSandbox) -> APIRouter:
    from esm_sandbox.api import ApiError

    router = APIRouter()

    @router.get("/", response_class=HTMLResponse)
    async def index(request: Request, lang: str | None = None) -> HTMLResponse:
        language = page_language(lang or request.headers.get("accept-language"))
        return HTMLResponse(
            render_index(sandbox, language), headers={"Content-Security-Policy": CSP}
        )

    @router.get("/tasks/{card_id}", response_class=HTMLResponse)
    async def task(card_id: str) -> HTMLResponse:
        card = sandbox.datacard(card_id)
        if card is None:
            raise ApiError(404, f"No admin task {card_id}")
        return HTMLResponse(render_task(sandbox, card), headers={"Content-Security-Policy": CSP})

    return router
