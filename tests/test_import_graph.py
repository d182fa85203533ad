"""Imports run one way: no cycle between the product's modules, and the model at the bottom.

Every import statement counts, wherever it stands: at the top of a module, inside a function
(an import placed there to dodge a cycle is still a cycle), and inside ``if TYPE_CHECKING:``
blocks (a type that must be imported from above is a layer inverted, even if it costs nothing at
run time). ``from package import name`` counts as an import of the package and, when ``name`` is a
module of it, of that module too.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: the product's folders and the package each installs as (pyproject.toml's package-dir)
PACKAGES = {
    "src/hr_connector": "hr_connector",
    "flows": "hr_connector.flows",
    "tasks": "hr_connector.tasks",
}
#: The data model: what a run reads, decides and reports. It imports only itself.
MODEL = {
    "hr_connector",  # the package's __init__, which imports nothing
    "hr_connector.records",
    "hr_connector.outcome",
    "hr_connector.schemas",
    "hr_connector.errors",
    "hr_connector.advice",
    "hr_connector.limits",
    "hr_connector.quality.findings",
}


def product_modules() -> dict[str, Path]:
    modules = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([package, *parts])] = path
    return modules


def _imported(module: str, node: ast.Import | ast.ImportFrom, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    target = node.module or ""
    if node.level:  # relative: from the module's package, one level up per extra dot
        base = module.split(".")[: None if is_package else -1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join([*base, *([node.module] if node.module else [])])
    return [target, *(f"{target}.{alias.name}" for alias in node.names)]


def import_graph() -> dict[str, set[str]]:
    """Each product module and the product modules it imports (anywhere in its text)."""
    modules = product_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for target in _imported(name, node, path.name == "__init__.py"):
                while target and target not in modules:  # a name in a module: the module
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_walk_sees_function_level_and_type_checking_imports() -> None:
    graph = import_graph()
    assert len(graph) > 60
    # an import inside a function body (runner's entry) and one under TYPE_CHECKING (settings)
    assert "hr_connector.clients.sftp" in graph["hr_connector.pipeline"]
    assert "hr_connector.schemas" in graph["hr_connector.quality.settings"]


def test_no_import_cycle_between_product_modules() -> None:
    found = cycles(import_graph())
    assert found == [], "\n".join(" <-> ".join(c) for c in found)


def test_a_planted_cycle_is_found() -> None:
    graph = import_graph()
    graph["hr_connector.records"] = {*graph["hr_connector.records"], "hr_connector.pipeline"}
    assert any("hr_connector.records" in c for c in cycles(graph))


def test_the_model_imports_nothing_above_it() -> None:
    graph = import_graph()
    above = {m: sorted(graph[m] - MODEL) for m in sorted(MODEL) if graph[m] - MODEL}
    assert above == {}


#: Where the environment may be read: the entries (the EPE script, the command line, the flows'
#: working directory), the parameters when they are parsed (the retry delays), the ``env:``
#: secret references, and the one-file bundle's start-up.
READS_ENVIRONMENT = {
    "hr_connector.epe",
    "hr_connector.cli",
    "hr_connector.params",
    "hr_connector.secret_refs",
    "hr_connector.onefile_main",
    "hr_connector.flows.run_view",
}


def _environment_reads(tree: ast.Module) -> list[tuple[int, bool]]:
    """(line, at import time) of each ``os.environ`` / ``os.getenv`` in a module."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            inside.update(id(n) for n in ast.walk(node))
    return [
        (node.lineno, id(node) not in inside)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in ("environ", "getenv")
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    ]


def test_the_environment_is_read_at_the_entries_only_and_never_at_import() -> None:
    found = {}
    for name, path in product_modules().items():
        reads = _environment_reads(ast.parse(path.read_text(encoding="utf-8")))
        wrong = [line for line, at_import in reads if at_import or name not in READS_ENVIRONMENT]
        if wrong:
            found[name] = wrong
    assert found == {}


def test_no_fault_injection_hook_in_the_product() -> None:
    """The kill tests freeze the process from outside (tests/freeze_plugin), not by a hook."""
    hooked = [
        name
        for name, path in product_modules().items()
        if any(word in path.read_text(encoding="utf-8") for word in ("STOP_AT", "SIGSTOP"))
    ]
    assert hooked == []
