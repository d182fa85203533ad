"""Cycles: organization parent chains and manager chains that loop back on themselves.

An edge goes from a node (org unit, person) to the node it points at (parent, manager). Nodes
that nothing points at, or that point at nothing, cannot be on a cycle; they are pruned a
whole column at a time (set look-ups, ``compress``) until only cycles and the chains between
them are left, usually a handful of nodes even in a million rows. The rest is split into
strongly connected components; each component with a loop is one cycle, reported once with
its whole path (``A → B → C → A``), a person who is their own manager as ``A → A``.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import compress, count

from hr_connector.records import Value

ARROW = " → "


def _prune(idx: list[int], src: list[Value], dst: list[Value]) -> list[int]:
    """The edges (row positions) that may lie on a cycle."""
    while True:
        size = len(idx)
        has_out = set(src)
        keep = list(map(has_out.__contains__, dst))
        idx, src, dst = (list(compress(x, keep)) for x in (idx, src, dst))
        has_in = set(dst)
        keep = list(map(has_in.__contains__, src))
        idx, src, dst = (list(compress(x, keep)) for x in (idx, src, dst))
        if len(idx) == size:
            return idx


def _components(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, pending = work[-1]
            if pending:
                nxt = pending.pop(0)
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                members: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.append(member)
                    if member == node:
                        break
                out.append(members)
    return out


def _path(start: str, graph: dict[str, set[str]], members: set[str]) -> list[str]:
    """The shortest loop from ``start`` back to it inside one component (breadth first)."""
    came: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt_frontier: list[str] = []
        for node in frontier:
            for target in sorted(graph.get(node, ())):
                if target not in members:
                    continue
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came[path[-1]])
                    return [*reversed(path), start]
                if target not in came:
                    came[target] = node
                    nxt_frontier.append(target)
        frontier = nxt_frontier
    return [start, start]  # pragma: no cover - a component with a loop always has one


def find_cycles(sources: Sequence[Value], targets: Sequence[Value]) -> list[tuple[str, list[int]]]:
    """Every cycle of the edges ``sources[i] → targets[i]``: (its text, the rows on it).

    The text is the loop from the cycle's smallest member back to it (``A → B → A``); when
    more members loop together than that one loop shows, the others follow in brackets.
    """
    # an edge can only lie on a cycle if its source is some edge's target (someone's manager,
    # some unit's parent): one set and one pass keep those, usually a small part of the rows
    # (an edge to a blank target may stay: it is on no cycle, and the graph below skips it)
    pointed = set(targets)
    pointed.discard(None)
    pointed.discard("")
    keep = list(map(pointed.__contains__, sources))
    idx = list(compress(count(), keep))
    src = list(compress(sources, keep))
    dst = list(compress(targets, keep))
    idx = _prune(idx, src, dst)
    graph: dict[str, set[str]] = {}
    for i in idx:
        s, t = sources[i], targets[i]
        if s and t and not s.isspace() and not t.isspace():
            graph.setdefault(s, set()).add(t)
    loops: list[tuple[str, set[str]]] = []
    for component in _components(graph):
        members = set(component)
        if len(members) == 1:
            (only,) = members
            if only not in graph.get(only, ()):
                continue
        start = min(members)
        path = _path(start, graph, members)
        text = ARROW.join(path)
        extra = sorted(members.difference(path))
        if extra:
            text += f" (+ {', '.join(extra)})"
        loops.append((text, members))
    # the rows on each cycle, in one pass over the edges (a file may have thousands of cycles)
    loop_of = {node: k for k, (_text, members) in enumerate(loops) for node in members}
    rows: list[list[int]] = [[] for _ in loops]
    for i in idx:
        k = loop_of.get(sources[i])  # type: ignore[arg-type]
        if k is not None and loop_of.get(targets[i]) == k:  # type: ignore[arg-type]
            rows[k].append(i)
    found = [(text, on) for (text, _members), on in zip(loops, rows, strict=True)]
    found.sort()
    return found
