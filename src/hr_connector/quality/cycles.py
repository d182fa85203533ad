"""Cycles: organization parent chains and manager chains that loop back on themselves.

An edge goes from a node (org unit, person) to the node it points at (parent, manager); a node
that points nowhere cannot be on a cycle. First the rows that may lie on a cycle are found with
column operations over integer node numbers: when every node points at one node (the usual
hierarchy: a person's periods name one manager), by pointer doubling, ``p ← p∘p`` until the set
of nodes ``p`` reaches stops shrinking, which leaves exactly the nodes on cycles (a few gathers,
whatever the depth); otherwise by trimming the edges whose source nothing points at or whose
target points nowhere, until none is left to trim. Those few rows then get their strongly
connected components. Each cycle is reported once with its path from its smallest member
(``A → B → C → A``; a person who is their own manager ``A → A``; members of the same knot off
that path follow in brackets); every row on it is flagged.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from hr_connector.masking import mask_value
from hr_connector.quality.findings import CheckRun, no_findings
from hr_connector.quality.settings import CheckContext
from hr_connector.schemas import SCHEMAS, Cycle

ARROW = " → "
#: Members of one knot named beside its path; the others are counted.
MAX_EXTRA = 10
CODES = tuple(s.cycle.code for s in SCHEMAS.values() if s.cycle)

Graph = dict[str, list[str]]


def _cycle(ctx: CheckContext) -> Cycle:
    cycle = SCHEMAS[ctx.schema.data_type].cycle
    assert cycle is not None  # the check applies to the data types that declare one
    return cycle


def reads(ctx: CheckContext) -> list[str]:
    cycle = _cycle(ctx)
    return [cycle.source or ctx.unique_id, cycle.parent]


def find_cycles(
    sources: pl.Series, targets: pl.Series, show: Callable[[str], str] = str
) -> list[tuple[str, list[int]]]:
    """Every cycle of the edges ``sources[i] → targets[i]``: (its text, the rows on it), by text."""
    edges = pl.DataFrame({"s": sources, "d": targets}).with_row_index("row")
    edges = edges.filter(
        (pl.col("s").str.strip_chars() != "") & (pl.col("d").str.strip_chars() != "")
    )
    edges = edges.filter(pl.col("s").is_in(edges["d"].unique().implode()))  # nobody points at s
    # one number per name, whether it stands as a source or as a target
    numbers = pl.concat([edges["s"], edges["d"]]).rank("dense").cast(pl.UInt32) - 1
    edges = edges.with_columns(cs=numbers.head(edges.height), cd=numbers.tail(edges.height))
    edges = edges.filter(pl.col("cd").is_in(pl.col("cs").implode()))  # d points nowhere
    if edges.is_empty():
        return []
    rows = _doubled(edges, numbers.n_unique())  # the numbers are 0…n-1
    if rows is None:
        rows = _trimmed(edges)
    graph: Graph = {}
    for s, d in rows.select("s", "d").unique().sort("s", "d").iter_rows():
        graph.setdefault(s, []).append(d)
    knots = [set(c) for c in _components(graph) if len(c) > 1 or c[0] in graph.get(c[0], ())]
    knot_of = {node: k for k, knot in enumerate(knots) for node in knot}
    on: list[list[int]] = [[] for _ in knots]
    for row, s, d in rows.sort("row").select("row", "s", "d").iter_rows():
        if (k := knot_of.get(s)) is not None and knot_of.get(d) == k:
            on[k].append(row)
    paths = [_path(min(knot), graph, knot) for knot in knots]
    found = sorted(zip(paths, knots, on, strict=True), key=lambda f: ARROW.join(f[0]))
    return [(_text(path, knot, show), rows_on) for path, knot, rows_on in found]


def _doubled(edges: pl.DataFrame, n: int) -> pl.DataFrame | None:
    """The rows on cycles of the nodes 0…n-1 by pointer doubling; None when a node points at
    two nodes."""
    pointer = pl.repeat(n, n + 1, dtype=pl.UInt32, eager=True).scatter(edges["cs"], edges["cd"])
    if not (pointer.gather(edges["cs"]) == edges["cd"]).all():
        return None
    reached, size = pointer, -1
    while True:  # the nodes reached after 2^k steps: they shrink to the cycles (and the sink n)
        if (now := reached.filter(reached != n).n_unique()) == size:
            break
        reached, size = reached.gather(reached), now
    return edges.filter(pl.col("cs").is_in(reached.unique().implode()))


def _trimmed(edges: pl.DataFrame) -> pl.DataFrame:
    """The rows that may lie on a cycle: without the edges from a node nothing points at or to
    a node that points nowhere, again and again."""
    pairs = edges.select("cs", "cd").unique()
    while True:
        size = pairs.height
        pairs = pairs.filter(
            pl.col("cs").is_in(pairs["cd"].implode()) & pl.col("cd").is_in(pairs["cs"].implode())
        )
        if pairs.height == size:
            return edges.join(pairs, on=["cs", "cd"], how="semi")


def _components(graph: Graph) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(graph.get(root, ())))]
        while work:
            node, pending = work[-1]
            nxt = next(pending, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(graph.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                members: list[str] = []
                while not members or members[-1] != node:
                    members.append(stack.pop())
                    on_stack.discard(members[-1])
                out.append(members)
    return out


def _path(start: str, graph: Graph, members: set[str]) -> list[str]:
    """The shortest loop from ``start`` back to it inside one knot (breadth first)."""
    came: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for target in graph.get(node, ()):
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came[path[-1]])
                    return [*reversed(path), start]
                if target in members and target not in came:
                    came[target] = node
                    following.append(target)
        frontier = following
    return [start, start]  # pragma: no cover - a knot always holds a loop through its members


def _text(path: list[str], knot: set[str], show: Callable[[str], str]) -> str:
    text = ARROW.join(map(show, path))
    extra = [show(v) for v in sorted(knot.difference(path))]
    if extra:
        more = f", … {len(extra) - MAX_EXTRA} more" if len(extra) > MAX_EXTRA else ""
        text += f" (+ {', '.join(extra[:MAX_EXTRA])}{more})"
    return text


def find(frame: pl.DataFrame, ctx: CheckContext, run: CheckRun) -> pl.DataFrame:
    """(finding, row, code, column, detail): one finding per cycle, over every row on it."""
    cycle = _cycle(ctx)
    source, target, code = cycle.source, cycle.parent, cycle.code
    source_column, target_column = ctx.name(source or ctx.unique_id), ctx.name(target)
    if source_column not in frame.columns or target_column not in frame.columns:
        return no_findings()
    masked = source is None and ctx.masked
    found = find_cycles(frame[source_column], frame[target_column], mask_value if masked else str)
    cycles = pl.DataFrame(
        {"detail": [text for text, _rows in found], "row": [rows for _text, rows in found]},
        schema={"detail": pl.String, "row": pl.List(pl.UInt32)},
    )
    return (
        cycles.with_row_index("finding")
        .explode("row")
        .with_columns(code=pl.lit(code), column=pl.lit(target_column))
    )
