"""Where the sandbox keeps datacards and uploaded files, so they survive a restart.

Datacards are ``<root>/datacards/<id>.json``; files are ``<root>/files/<id>/<name>``. Every write
is atomic (a temporary file, then ``os.replace``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def safe_file_name(name: str) -> str | None:
    """A stored file name: no folders, no control characters, not hidden; ``None`` if empty."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME.sub("_", name).strip().lstrip(".")
    return name[:200] or None


class DatacardStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.lock = threading.RLock()
        self._next_id = 1

    @property
    def datacards_dir(self) -> Path:
        return self.root / "datacards"

    @property
    def files_dir(self) -> Path:
        return self.root / "files"

    def open(self) -> None:
        self.datacards_dir.mkdir(parents=True, exist_ok=True)
        self.files_dir.mkdir(parents=True, exist_ok=True)
        ids = [int(p.stem) for p in self.datacards_dir.glob("*.json") if p.stem.isdigit()]
        self._next_id = max(ids, default=0) + 1

    def get(self, card_id: str) -> dict[str, Any] | None:
        if not card_id.isdigit():
            return None
        try:
            card: dict[str, Any] = json.loads(
                (self.datacards_dir / f"{card_id}.json").read_text(encoding="utf-8")
            )
        except FileNotFoundError:
            return None
        return card

    def all(self) -> list[dict[str, Any]]:
        """Every datacard, newest first."""
        cards = []
        for path in self.datacards_dir.glob("*.json"):
            if path.stem.isdigit():
                with contextlib.suppress(ValueError, OSError):
                    cards.append(json.loads(path.read_text(encoding="utf-8")))
        return sorted(cards, key=lambda c: int(c["dataCardId"]), reverse=True)

    def save(self, card: dict[str, Any]) -> None:
        path = self.datacards_dir / f"{card['dataCardId']}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(card, ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(tmp, path)

    def create(
        self, template: str, folder: str, data: dict[str, Any], user: str, via: str
    ) -> dict[str, Any]:
        with self.lock:
            card_id = str(self._next_id)
            self._next_id += 1
            now = now_iso()
            card = {
                "dataCardId": card_id,
                "templateCode": template,
                "folderCode": folder,
                "created": now,
                "updated": now,
                "createdBy": user,
                "via": via,
                "data": data,
                "files": {},
            }
            self.save(card)
        return card

    def file_path(self, card_id: str, name: str) -> Path:
        return self.files_dir / card_id / name

    def add_file(self, card: dict[str, Any], attribute: str, name: str, content: bytes) -> None:
        with self.lock:
            folder = self.files_dir / card["dataCardId"]
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{name}.tmp"
            tmp.write_bytes(content)
            os.replace(tmp, folder / name)
            names = card["files"].setdefault(attribute, [])
            if name not in names:
                names.append(name)
            card["updated"] = now_iso()
            self.save(card)

    def stored_names(self, card: dict[str, Any] | None) -> set[str]:
        return {n for names in (card or {}).get("files", {}).values() for n in names}
