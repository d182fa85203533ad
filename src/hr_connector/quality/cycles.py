"""Cycles: organization parent chains and manager chains that loop back on themselves.

An edge goes from a node (org unit, person) to the node it points at (parent, manager); a node
only the target of edges cannot be on a cycle. Nodes are numbered in their text order. When
every node points at one node (the usual hierarchy: a person's periods name one manager), the
cycles are found by pointer doubling: ``p ← p∘p`` until the set of nodes ``p`` reaches stops
shrinking, which leaves exactly the nodes on cycles (a few gathers over integer arrays, whatever
the depth). Otherwise the edges are trimmed (an edge whose source nothing points at, or whose
target points nowhere, cannot be on a cycle) and the strongly connected components of what is
left are found. Each cycle is reported once with its path from its smallest member
(``A → B → C → A``; a person who is their own manager ``A → A``; members of the same knot off
that path follow in brackets); every row on it is flagged.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from hr_connector.masking import mask_value
from hr_connector.quality.findings import CheckRun, no_findings
from hr_connector.quality.settings import CheckContext

ARROW = " → "
#: Members of one knot named beside its path; the others are counted.
MAX_EXTRA = 10
#: (source, target) columns and reason code per data type
EDGES = {
    "workperiod": (None, "manager_id", "manager_cycle"),
    "organization": ("org_unit_id", "parent_org_unit_id", "org_cycle"),
}
CODES = tuple(code for _s, _t, code in EDGES.values())

Graph = dict[int, list[int]]


def reads(ctx: CheckContext) -> list[str]:
    source, target, _code = EDGES[ctx.schema.data_type]
    return [source or ctx.unique_id, target]


def find_cycles(
    sources: pl.Series, targets: pl.Series, show: Callable[[str], str] = str
) -> list[tuple[str, list[int]]]:
    """Every cycle of the edges ``sources[i] → targets[i]``: (its text, the rows on it), by text."""
    edges = pl.DataFrame({"s": sources, "d": targets}).with_row_index("row")
    edges = edges.filter(
        (pl.col("s").str.strip_chars() != "") & (pl.col("d").str.strip_chars() != "")
    )
    edges = edges.with_columns(cs=pl.col("s").rank("dense").cast(pl.UInt32) - 1)
    names = edges.select("s", "cs").unique("cs").sort("cs")["s"]
    edges = edges.join(
        edges.select(d="s", cd="cs").unique("d"), on="d", how="inner", maintain_order="left"
    )
    if edges.is_empty():
        return []
    graph, knots = _doubled(edges, len(names)) or _trimmed(edges)
    if not knots:
        return []
    knot_of = pl.DataFrame(
        {
            "node": [v for knot in knots for v in knot],
            "k": [k for k, c in enumerate(knots) for _ in c],
        },
        schema={"node": pl.UInt32, "k": pl.Int64},
    )
    on = (
        edges.join(knot_of.rename({"node": "cs"}), on="cs")
        .join(knot_of.rename({"node": "cd", "k": "kd"}), on="cd")
        .filter(pl.col("k") == pl.col("kd"))
        .group_by("k")
        .agg(pl.col("row").sort())
    )
    rows = dict(zip(on["k"].to_list(), on["row"].to_list(), strict=True))
    order = sorted(range(len(knots)), key=lambda k: _text(knots[k], graph, names, str))
    return [(_text(knots[k], graph, names, show), rows[k]) for k in order]


def _doubled(edges: pl.DataFrame, n: int) -> tuple[Graph, list[list[int]]] | None:
    """(successors, cycles) by pointer doubling, or None when a node points at two nodes."""
    pointer = pl.repeat(n, n + 1, dtype=pl.UInt32, eager=True).scatter(edges["cs"], edges["cd"])
    if not (pointer.gather(edges["cs"]) == edges["cd"]).all():
        return None
    reached, size = pointer, pointer.n_unique()
    while True:  # the nodes reached after 2^k steps: they shrink to the cycles and the sink
        reached = reached.gather(reached)
        if (now := reached.n_unique()) == size:
            break
        size = now
    on = reached.unique().filter(reached.unique() != n)
    successor = dict(zip(on.to_list(), pointer.gather(on).to_list(), strict=True))
    knots: list[list[int]] = []
    seen: set[int] = set()
    for start in sorted(successor):
        if start in seen:
            continue
        knot, node = [start], successor[start]
        while node != start:
            knot.append(node)
            node = successor[node]
        seen.update(knot)
        knots.append(knot)
    return {v: [w] for v, w in successor.items()}, knots


def _trimmed(edges: pl.DataFrame) -> tuple[Graph, list[list[int]]]:
    """(successors, knots): the edges that may lie on a cycle, and their strongly connected
    components that hold a loop."""
    pairs = edges.select("cs", "cd").unique()
    while True:
        size = pairs.height
        pairs = pairs.filter(
            pl.col("cs").is_in(pairs["cd"].implode()) & pl.col("cd").is_in(pairs["cs"].implode())
        )
        if pairs.height == size:
            break
    graph: Graph = {}
    for s, d in sorted(pairs.iter_rows()):
        graph.setdefault(s, []).append(d)
    knots = [c for c in _components(graph) if len(c) > 1 or c[0] in graph.get(c[0], ())]
    return graph, [sorted(c) for c in knots]


def _components(graph: Graph) -> list[list[int]]:
    """Tarjan's strongly connected components, iteratively (no recursion limit)."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    out: list[list[int]] = []
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
                members: list[int] = []
                while not members or members[-1] != node:
                    members.append(stack.pop())
                    on_stack.discard(members[-1])
                out.append(members)
    return out


def _path(start: int, graph: Graph, members: set[int]) -> list[int]:
    """The shortest loop from ``start`` back to it inside one knot (breadth first)."""
    came: dict[int, int] = {}
    frontier = [start]
    while frontier:
        following: list[int] = []
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


def _text(knot: list[int], graph: Graph, names: pl.Series, show: Callable[[str], str]) -> str:
    members = set(knot)
    path = _path(min(knot), graph, members)
    text = ARROW.join(show(names[v]) for v in path)
    extra = [show(names[v]) for v in sorted(members.difference(path))]
    if extra:
        more = f", … {len(extra) - MAX_EXTRA} more" if len(extra) > MAX_EXTRA else ""
        text += f" (+ {', '.join(extra[:MAX_EXTRA])}{more})"
    return text


def find(frame: pl.DataFrame, ctx: CheckContext, run: CheckRun) -> pl.DataFrame:
    """(finding, row, code, column, detail): one finding per cycle, over every row on it."""
    source, target, code = EDGES[ctx.schema.data_type]
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
