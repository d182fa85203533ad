"""The admin task's attachments: streamed from disk, zipped above a size, capped.

A run's archive, output and error archive are hundreds of megabytes on a large day, so nothing
here holds a whole file in memory. Files above :data:`ZIP_ABOVE_BYTES` are attached as deflate
zips (which Windows Explorer and every Linux desktop open); the total stays within
``report_attachment_max_mb``. A file that does not fit, or that the ESM refuses, is listed in the
admin task with its location on the connector host, size, row count, SHA-256 and why.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from hr_connector.door import FileRefused
from hr_connector.outcome import AdminTask, Attachment, NotAttached
from hr_connector.texts import Translations
from hr_connector.workdir import door_for

log = logging.getLogger(__name__)

#: Files above this are attached zipped.
ZIP_ABOVE_BYTES = 1 << 20
#: Bytes read (and hashed, compressed, sent) at a time.
CHUNK = 1 << 20
#: Deflate level of the zips: level 1 packs a JSON archive about 6 times at a sixth of the time
#: level 6 takes (7.8 times); the time is the run's, the few MB more are not.
ZIP_LEVEL = 1
#: How much of a file is compressed up front to estimate whether its zip can fit at all.
SAMPLE_BYTES = 4 << 20
#: A file whose estimated zip is this many times the room left is not even tried.
HOPELESS_FACTOR = 1.5
#: Files up to this size are counted by parsing them when they are not in the connector's layout.
PARSE_TO_COUNT_BYTES = 8 << 20
MB = 1024 * 1024


@dataclass(frozen=True)
class FileFacts:
    """What the admin needs to find and trust a file that was not attached."""

    size: int
    rows: int | None
    sha256: str


def file_facts(path: Path, rows: int | None = None) -> FileFacts:
    """Size, row count and SHA-256 of ``path`` in one streamed pass.

    ``rows`` when the caller knows it (the run that wrote the file); else rows are counted for
    the connector's own JSON layout (``[``, one row per line, ``]``) by counting line breaks;
    another small file is parsed; otherwise the count is unknown (None).
    """
    door = door_for(path)
    digest = hashlib.sha256()
    newlines = size = 0
    head = tail = b""
    with door.open_read(path) as fh:
        while chunk := fh.read(CHUNK):
            head = (head + chunk)[:2]
            digest.update(chunk)
            newlines += chunk.count(b"\n")
            size += len(chunk)
            tail = (tail + chunk)[-3:]
    if rows is None and head == b"[\n" and tail == b"\n]\n":
        rows = newlines - 2
    elif rows is None and head == b"[]" and size <= 3:
        rows = 0
    elif rows is None and size <= PARSE_TO_COUNT_BYTES:
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            data = json.loads(door.read_bytes(path))
            rows = len(data) if isinstance(data, list) else None
    return FileFacts(size=size, rows=rows, sha256=digest.hexdigest())


def zipped_name(name: str) -> str:
    return f"{name}.zip"


def zip_file(source: Path, target: Path, arcname: str, limit: int) -> int | None:
    """Zip ``source`` as ``arcname`` into ``target`` (streamed); return the zip's size.

    Compression stops as soon as the zip grows past ``limit``: nothing is left at ``target`` and
    None is returned. The zip appears at ``target`` only when complete.
    """
    door = door_for(target)
    with door_for(source).open_read(source) as src:
        size = os.fstat(src.fileno()).st_size
        try:
            with door.staging(target) as (tmp, raw):
                with (
                    zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED, compresslevel=ZIP_LEVEL) as zf,
                    # by name, so that the ZipFile's compresslevel applies (a ZipInfo has its own)
                    zf.open(arcname, "w", force_zip64=size >= zipfile.ZIP64_LIMIT) as dst,
                ):
                    while chunk := src.read(CHUNK):
                        dst.write(chunk)
                        if raw.tell() > limit:
                            raise _TooBig
                written = raw.tell()
                if written > limit:
                    raise _TooBig
        except _TooBig:
            return None
    door.replace(tmp, target)
    return written


class _TooBig(Exception):
    pass


def estimated_zip_size(path: Path, size: int) -> int:
    """The zip size of ``path`` guessed from compressing its first :data:`SAMPLE_BYTES`."""
    if size <= SAMPLE_BYTES:
        return 0  # small enough to just try
    with door_for(path).open_read(path) as fh:
        sample = fh.read(SAMPLE_BYTES)
    packed = zlib.compressobj(ZIP_LEVEL, zlib.DEFLATED, -15)
    compressed = len(packed.compress(sample)) + len(packed.flush())
    return int(size * compressed / max(1, len(sample)))


def not_attached(
    path: Path,
    name: str,
    reason: str,
    rows: int | None = None,
    sha256: str | None = None,
    **figures: object,
) -> NotAttached:
    """The entry that lists one file that is not attached (facts read from the file, or the
    row count and SHA-256 the run that wrote it knows)."""
    if sha256 and rows is not None:
        facts = FileFacts(size=path.stat().st_size, rows=rows, sha256=sha256)
    else:
        facts = file_facts(path, rows)
    return NotAttached(
        name=name,
        path=str(path),
        size=facts.size,
        rows=facts.rows,
        sha256=facts.sha256,
        reason=reason,
        figures={k: str(v) for k, v in figures.items()},
    )


def prepare_attachments(
    candidates: list[Attachment], folder: Path, task_id: str, max_mb: float
) -> tuple[list[Attachment], list[NotAttached]]:
    """Decide, per file, to attach it as it is, zipped, or not at all (listed instead).

    Smaller files go first, so the cap leaves out the fewest files. Zips of this task's earlier
    runs in ``folder`` are replaced. A file that does not exist is passed on as it is (the sink
    notes it as missing).
    """
    sized: list[tuple[int, int, Attachment]] = []
    for rank, item in enumerate(candidates):
        try:
            facts = door_for(Path(item.path)).stat(Path(item.path))
        except FileRefused as refused:  # not a file of ours: offered as it is, the sink refuses
            log.warning("Attachment %s: %s", item.name, refused.message)
            facts = None
        sized.append((facts.st_size if facts is not None else -1, rank, item))
    attached: dict[int, Attachment] = {}
    left_out: list[NotAttached] = []
    room = int(max_mb * MB)
    cap_mb = f"{max_mb:g}"

    def listed(item: Attachment, reason: str, rows: int | None, **figures: str) -> None:
        path, room_left = Path(item.path), human_size(room)
        left_out.append(
            not_attached(
                path, item.name, reason, rows, item.sha256, cap=cap_mb, room=room_left, **figures
            )
        )

    for size, rank, item in sorted(sized, key=lambda s: s[:2]):
        source = Path(item.path)
        if size < 0:
            attached[rank] = item
            continue
        if size <= ZIP_ABOVE_BYTES:
            if size <= room:
                room -= size
                attached[rank] = item
            else:
                listed(item, "cap", item.rows)
            continue
        target = folder / f"{task_id}_{zipped_name(item.name)}"
        estimate = estimated_zip_size(source, size)
        hopeless = estimate > room * HOPELESS_FACTOR
        packed = None if hopeless else zip_file(source, target, item.name, limit=room)
        if packed is None:
            door_for(target).remove(target)  # an earlier run's zip must not be taken for this one
            needed = f"~{human_size(estimate)}" if hopeless else f"> {human_size(room)}"
            listed(item, "cap_zipped", item.rows if item.sha256 else None, needed=needed)
            log.warning(
                "Attachment %s (%d bytes) does not fit the %s MB cap even zipped; listed in the "
                "admin task instead",
                item.name,
                size,
                cap_mb,
            )
            continue
        room -= packed
        log.info("Attachment %s zipped: %d -> %d bytes", item.name, size, packed)
        name = zipped_name(item.name)
        attached[rank] = Attachment(name=name, path=str(target), source=str(source), rows=item.rows)
    return [attached[rank] for rank in sorted(attached)], left_out


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < MB:
        return f"{size / 1024:.1f} KiB"
    return f"{size / MB:.1f} MiB"


def not_attached_lines(
    items: list[NotAttached], translations: Translations, language: str
) -> list[str]:
    """The description's list of files that are not attached, with where, what and why."""
    if not items:
        return []
    lines = [translations.text("attachments_not_attached_heading", language, count=len(items))]
    for item in items:
        lines.append(
            translations.text(
                "attachment_not_attached",
                language,
                name=item.name,
                path=item.path,
                size=f"{human_size(item.size)} ({item.size} bytes)",
                rows="?" if item.rows is None else item.rows,
                sha256=item.sha256,
                reason=translations.text(
                    f"attachment_reason_{item.reason}", language, **item.figures
                ),
            )
        )
    return lines


def with_not_attached(
    task: AdminTask, items: list[NotAttached], translations: Translations
) -> AdminTask:
    """``task`` with ``items`` listed in its description and kept in ``not_attached``."""
    if not items:
        return task
    lines = not_attached_lines(items, translations, task.language)
    return task.model_copy(
        update={
            "description": task.description + "\n\n" + "\n".join(lines),
            "not_attached": [*task.not_attached, *items],
        }
    )
