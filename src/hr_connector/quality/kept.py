"""What a completed run keeps for the next runs' checks: ``data/archive/.<data_type>_quality.json``.

Its file's SHA-256 and name and when it completed (the same-file check), and which columns
hold its row ID and its person ID (a customer may have renamed them with ``field_names``: the
other data types' reference checks read those columns of its archive). Nothing else: every
check runs on every row of every file. Read and written through the door.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

from hr_connector.door import Door


def path(folder: Path, data_type: str) -> Path:
    return folder / f".{data_type}_quality.json"


def door_for(folder: Path, door: Door | None = None) -> Door:
    """The working directory's door for a folder inside it, else a door rooted at the folder
    (``reference_archives_dir`` may name another working directory's archives)."""
    if door is not None and Path(os.path.abspath(folder)).is_relative_to(door.root):
        return door
    return Door(folder)


def read(folder: Path, data_type: str, door: Door | None = None) -> dict[str, Any]:
    """The state the last completed ``data_type`` run kept in ``folder`` ({} if none, or
    unreadable: the checks then use the canonical column names and compare no hash)."""
    try:
        state = orjson.loads(door_for(folder, door).read_bytes(path(folder, data_type)))
    except (FileNotFoundError, NotADirectoryError, orjson.JSONDecodeError):
        return {}
    return state if isinstance(state, dict) else {}


def write(door: Door, folder: Path, data_type: str, state: dict[str, Any]) -> None:
    door.write_bytes(path(folder, data_type), orjson.dumps(state) + b"\n")
