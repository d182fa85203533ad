"""Flat XML: one element per record under the root, one child element per field.

Namespaced exports (Workday's ``wd:`` prefix) work: fields are named by their local name. The
parser never loads a DTD, never resolves an entity and never touches the network; a document with
a DOCTYPE is refused outright, which also rules out entity-expansion ("billion laughs") and
external-entity attacks. Memory stays flat: each record is dropped once it is read.

:func:`read_xml` first tries the fast reader it is given (with the fast path on:
:mod:`hr_connector.fastpath.fast_xml`, which asks lxml for the record elements only); a document
that reader cannot follow is read by this module's reference reader (:func:`_read_reference`),
which also gives every error message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lxml import etree

from hr_connector.errors import FileUnreadable
from hr_connector.readers import FastRead, fast_or_reference
from hr_connector.readers.limits import MAX_PROLOG_BYTES
from hr_connector.records import Reason, Table

#: The parser settings of both readers: no DTD, no entities, no network, no comments or PIs.
PARSER_OPTIONS: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}


def _local(tag: object) -> str:
    text = tag if isinstance(tag, str) else str(tag)
    return text.rsplit("}", 1)[-1]


def _check_prolog(path: Path) -> None:
    """Refuse a DOCTYPE and any declared encoding other than UTF-8, before lxml sees the file.

    The whole prolog (everything before the root element) is read, however long its comments
    are, up to :data:`MAX_PROLOG_BYTES`; a longer prolog is refused too.
    """
    size = 64 * 1024
    with path.open("rb") as fh:
        while True:
            fh.seek(0)
            head = fh.read(size)
            if len(head) < size or _first_element(head) >= 0 or b"<!DOCTYPE" in head.upper():
                break
            if size >= MAX_PROLOG_BYTES:
                raise FileUnreadable(
                    path.name,
                    "the prolog",
                    f"more than {MAX_PROLOG_BYTES} bytes stand before the root element",
                )
            size *= 4
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileUnreadable(path.name, "byte 0", "the file is UTF-16, not UTF-8")
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    if head.startswith(b"<?xml"):
        decl = head[: head.find(b"?>") + 2]
        low = decl.lower()
        if b"encoding" in low and not any(
            e in low for e in (b"'utf-8'", b'"utf-8"', b"'utf8'", b'"utf8"')
        ):
            raise FileUnreadable(
                path.name,
                "line 1",
                f"the XML declaration names another encoding than UTF-8 "
                f"({decl.decode('ascii', 'replace')})",
            )
    # A DOCTYPE may only stand before the root element: look at the prolog.
    root_at = _first_element(head)
    prolog = head if root_at < 0 else head[:root_at]
    if b"<!DOCTYPE" in prolog.upper() or (root_at < 0 and b"<!DOCTYPE" in head.upper()):
        line = head[: head.upper().find(b"<!DOCTYPE")].count(b"\n") + 1
        raise FileUnreadable(
            path.name,
            f"line {line}",
            "the document has a DOCTYPE; DTDs and entities are not accepted",
        )


def _first_element(head: bytes) -> int:
    i = 0
    while True:
        i = head.find(b"<", i)
        if i < 0 or i + 1 >= len(head):
            return -1
        nxt = head[i + 1 : i + 2]
        if nxt not in (b"?", b"!"):
            return i
        if head.startswith(b"<!--", i):
            end = head.find(b"-->", i)
            i = end + 3 if end >= 0 else len(head)
        elif nxt == b"!":
            # a DOCTYPE (or CDATA): not an element; the caller checks for DOCTYPE
            return -1 if head.upper().startswith(b"<!DOCTYPE", i) else i
        else:
            end = head.find(b"?>", i)
            i = end + 2 if end >= 0 else len(head)


def _is_empty(path: Path) -> bool:
    if path.stat().st_size == 0:
        return True
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            if chunk.strip(b"\xef\xbb\xbf \t\r\n"):
                return False
    return True


def read_xml(path: Path, *, fast: FastRead | None = None) -> Table:
    if _is_empty(path):
        return Table(path.name, [], "line")
    _check_prolog(path)
    return fast_or_reference(fast, lambda: _read_reference(path))


def _read_reference(path: Path) -> Table:
    name = path.name
    table = Table(name, [], "line")
    columns: dict[str, int] = {}
    rows: list[list[str | None]] = []
    context = etree.iterparse(str(path), events=("start", "end"), **PARSER_OPTIONS)
    depth = 0
    row: list[str | None] = []
    problems: list[Reason] = []
    try:
        for event, elem in context:
            if event == "start":
                depth += 1
                if depth == 2:
                    row = [None] * len(columns)
                    problems = []
                continue
            # end
            if depth == 3:
                _field(elem, row, problems, columns)
            elif depth == 2:
                index = len(rows)
                # the record's line, read at its end: at the start event libxml2 sometimes
                # still reports 65535 for lines beyond 65535
                table.positions.append(elem.sourceline or 0)
                if problems:
                    table.row_problems[index] = problems
                rows.append(row)
                elem.clear(keep_tail=False)
                parent = elem.getparent()
                if parent is not None:
                    while elem.getprevious() is not None:
                        del parent[0]
            depth -= 1
    except etree.XMLSyntaxError as exc:
        line, col = exc.position if exc.position else (0, 0)
        msg = exc.msg or str(exc)
        mine = [e for e in exc.error_log if e.filename == str(path) and e.line]
        first = mine[0] if mine else None
        if first is not None:  # this document's first error, not the parser's last word
            line, col, msg = first.line, first.column, first.message.strip()
        raise FileUnreadable(name, f"line {line}, column {col}", f"malformed XML ({msg})") from None
    width = len(columns)
    table.columns = list(columns)
    table.rows = [
        tuple(r) if len(r) == width else tuple(r + [None] * (width - len(r))) for r in rows
    ]
    return table


def _field(
    elem: Any, row: list[str | None], problems: list[Reason], columns: dict[str, int]
) -> None:
    """One field element of a record into ``row`` (``columns`` grows as needed)."""
    key = _local(elem.tag)
    col = columns.get(key)
    if col is None:
        col = columns[key] = len(columns)
        row.append(None)
    if row[col] is not None:
        problems.append(Reason("duplicate_field", column=key))
    if len(elem):
        problems.append(Reason("nested_value", column=key))
        row[col] = "".join(elem.itertext())[:200]
    else:
        row[col] = elem.text or ""
