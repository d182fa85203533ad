"""Flat XML: one element per record under the root, one child element per field.

Namespaced exports (Workday's ``wd:`` prefix) work: fields are named by their local name. The
parser never loads a DTD, never resolves an entity and never touches the network; a document with
a DOCTYPE is refused outright, which also rules out entity-expansion ("billion laughs") and
external-entity attacks. Memory stays flat: each record is dropped once it is read, and the
records are gathered into columns a batch at a time (:class:`~.columns.RecordColumns`).
"""

from __future__ import annotations

from typing import Any, BinaryIO

from lxml import etree

from hr_connector.errors import FileUnreadable
from hr_connector.readers.columns import RecordColumns
from hr_connector.readers.limits import MAX_PROLOG_BYTES
from hr_connector.records import Table, Value

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


def _check_prolog(fh: BinaryIO, name: str) -> None:
    """Refuse a DOCTYPE and any declared encoding other than UTF-8, before lxml sees the file.

    The whole prolog (everything before the root element) is read, however long its comments
    are, up to :data:`MAX_PROLOG_BYTES`; a longer prolog is refused too.
    """
    size = 64 * 1024
    while True:
        fh.seek(0)
        head = fh.read(size)
        if len(head) < size or _first_element(head) >= 0 or b"<!DOCTYPE" in head.upper():
            break
        if size >= MAX_PROLOG_BYTES:
            raise FileUnreadable(
                name,
                "the prolog",
                f"more than {MAX_PROLOG_BYTES} bytes stand before the root element",
            )
        size *= 4
    fh.seek(0)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileUnreadable(name, "byte 0", "the file is UTF-16, not UTF-8")
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    if head.startswith(b"<?xml"):
        decl = head[: head.find(b"?>") + 2]
        low = decl.lower()
        if b"encoding" in low and not any(
            e in low for e in (b"'utf-8'", b'"utf-8"', b"'utf8'", b'"utf8"')
        ):
            raise FileUnreadable(
                name,
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
            name, f"line {line}", "the document has a DOCTYPE; DTDs and entities are not accepted"
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


def _is_empty(fh: BinaryIO) -> bool:
    fh.seek(0)
    while chunk := fh.read(1 << 20):
        if chunk.strip(b"\xef\xbb\xbf \t\r\n"):
            fh.seek(0)
            return False
    return True


def read_xml(source: BinaryIO, name: str) -> Table:
    table = RecordColumns(name, "line")
    if _is_empty(source):
        return table.table()
    _check_prolog(source, name)
    etree.clear_error_log()  # the errors of this document only
    context = etree.iterparse(source, events=("start", "end"), **PARSER_OPTIONS)
    depth = 0
    row: dict[str, Value] = {}
    try:
        for event, elem in context:
            if event == "start":
                depth += 1
                if depth == 2:
                    row = {}
                continue
            if depth == 3:
                _field(elem, row, table)
            elif depth == 2:
                # the record's line, read at its end: at the start event libxml2 sometimes
                # still reports 65535 for lines beyond 65535
                table.add(row, elem.sourceline or 0)
                elem.clear(keep_tail=False)
                parent = elem.getparent()
                if parent is not None:
                    while elem.getprevious() is not None:
                        del parent[0]
            depth -= 1
    except etree.XMLSyntaxError as exc:
        line, col = exc.position if exc.position else (0, 0)
        msg = exc.msg or str(exc)
        mine = [e for e in exc.error_log if e.line]
        first = mine[0] if mine else None
        if first is not None:  # this document's first error, not the parser's last word
            line, col, msg = first.line, first.column, first.message.strip()
        raise FileUnreadable(name, f"line {line}, column {col}", f"malformed XML ({msg})") from None
    return table.table()


def _field(elem: Any, row: dict[str, Value], table: RecordColumns) -> None:
    """One field element of a record into ``row``; a repeated or nested field is a problem."""
    key = _local(elem.tag)
    if key in row:
        table.problem("duplicate_field", column=key)
    if len(elem):
        table.problem("nested_value", column=key)
        row[key] = "".join(elem.itertext())[:200]
    else:
        row[key] = elem.text or ""
