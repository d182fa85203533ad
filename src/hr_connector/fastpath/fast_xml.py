"""The fast flat-XML reader: lxml asked for the record elements only.

``iterparse(tag=...)`` gives one event per record instead of a start and an end event for every
field, and a record whose fields have exactly the expected names, in the expected order, without
children, is taken in a few C-level calls. Any other record goes through the reference logic; a
document this reader cannot follow (records of several tags, other elements between them, a
parse error) it declines (:class:`Unsupported`): the reference reader
(:mod:`hr_connector.readers.xml_reader`) reads it and gives every error message.
"""

from __future__ import annotations

from array import array
from operator import attrgetter
from pathlib import Path
from typing import Any

from lxml import etree

from hr_connector.fastpath.rowstore import JoinedRows
from hr_connector.readers.limits import Unsupported
from hr_connector.readers.xml_reader import PARSER_OPTIONS, _field, _local
from hr_connector.records import SEP, Reason, Table

_tag = attrgetter("tag")
_text = attrgetter("text")


def _record_tag(path: Path) -> Any:
    """The tag of the root's first child, read from the start of the document only."""
    try:
        context = etree.iterparse(str(path), events=("start",), **PARSER_OPTIONS)
        for number, (_event, elem) in enumerate(context):
            if number == 1:
                return elem.tag
    except etree.XMLSyntaxError:
        raise Unsupported("the reference reader reports this") from None
    raise Unsupported("no records")


class _FastXml:
    """The rows read so far, and the field tags a record must have to take the fast route."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.columns: dict[str, int] = {}
        self.rows = JoinedRows()
        self.positions = array("q")
        self.problems: dict[int, list[Reason]] = {}
        self.expected: tuple[Any, ...] | None = None

    def record(self, elem: Any) -> None:
        self.positions.append(elem.sourceline or 0)
        children = list(elem)
        tags = tuple(map(_tag, children))
        if tags == self.expected and not any(map(len, children)):
            texts = list(map(_text, children))
            if None in texts:
                texts = [t or "" for t in texts]
            self.rows.extend_joined((SEP.join(texts),), len(texts))
            return
        row: list[str | None] = [None] * len(self.columns)
        problems: list[Reason] = []
        for child in children:
            _field(child, row, problems, self.columns)
        if problems:
            self.problems[len(self.rows)] = problems
        elif len(tags) == len(self.columns) and [_local(t) for t in tags] == list(self.columns):
            self.expected = tags  # a clean record in column order: the fast route's pattern
        self.rows.append_row(tuple(row))

    def table(self) -> Table:
        self.rows.pad_to(len(self.columns))
        table = Table(self.name, list(self.columns), "line")
        table.rows = self.rows
        table.positions = self.positions
        table.row_problems = self.problems
        table.digests = self.rows.digests()
        table.digest_kind = ("rows", tuple(self.columns))
        return table


def read_fast(path: Path) -> Table:
    """Records as the root's children of one tag; raises :class:`Unsupported` otherwise.

    lxml builds the tree a little ahead of the events, so the checks look backwards: each
    record's previous sibling must be the record before it (nothing else in between), which is
    then deleted, as in the reference reader.
    """
    state = _FastXml(path.name)
    root: Any = None
    last: Any = None
    context = etree.iterparse(str(path), events=("end",), tag=_record_tag(path), **PARSER_OPTIONS)
    try:
        for _event, elem in context:
            parent = elem.getparent()
            if root is None:
                if parent is None or parent.getparent() is not None:
                    raise Unsupported("the first record is not a child of the root")
                root = parent
            elif parent is not root:
                raise Unsupported("a record inside a record")
            if elem.getprevious() is not last:
                raise Unsupported("other elements between the records")
            state.record(elem)
            elem.clear(keep_tail=False)
            if last is not None:
                del root[0]
            last = elem
    except etree.XMLSyntaxError:
        raise Unsupported("the reference reader reports this") from None
    if last is None or last.getnext() is not None:
        raise Unsupported("other elements after the records")
    return state.table()
