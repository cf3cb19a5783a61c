"""The layout's rules, read from the source with ``ast`` (docs/architecture.md):

- arrows point one way: only ``cli/`` imports ``cli/``; only ``cli/``, ``app/`` and
  ``simulate/`` (the two drivers of the alert shell) import ``app/``;
- no import cycle between modules, and no import inside a function except the few
  listed below with their reason;
- every module under ``sentinel/`` is named in docs/architecture.md.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "sentinel"
ARCHITECTURE = ROOT / "docs" / "architecture.md"

# Imports inside a function that stay, each with its reason.
LAZY = {
    # rules/expr <-> config: the config validates rule expressions with rules/expr,
    # and expr reads durations with config/units. Importing config/units at the top
    # would run config/__init__ (which imports config/rule -> rules/expr) first.
    ("sentinel.rules.expr", "sentinel.config.units"),
    ("sentinel.rules.expr", "sentinel.config.quote"),
    # The store backends load only the driver the storage URL names (sqlite or asyncpg).
    ("sentinel.store", "sentinel.store.sqlite"),
    ("sentinel.store", "sentinel.store.postgres"),
    # `sentinel healthcheck` (the container's HEALTHCHECK, 5 s timeout) must not load the
    # whole daemon: the console script imports cli/main only for the other commands.
    ("sentinel.cli.entry", "sentinel.cli.main"),
}
# May import sentinel.app: the command line, the app itself, and simulate (which
# drives the same alert shell as the daemon, on a fake clock).
APP_USERS = ("sentinel.__main__", "sentinel.cli", "sentinel.app", "sentinel.simulate")
CLI_USERS = ("sentinel.__main__", "sentinel.cli")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path, known: set[str]) -> Iterator[tuple[str, bool]]:
    """(imported sentinel module, at module level?) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = set(map(id, tree.body))
    nested_in_if = {id(n) for stmt in tree.body if isinstance(stmt, ast.If) for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        at_top = id(node) in top or id(node) in nested_in_if
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("sentinel"):
                    yield alias.name, at_top
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not node.module.startswith("sentinel"):
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                yield (sub if sub in known else node.module), at_top


def graph() -> tuple[dict[str, set[str]], list[tuple[str, str]]]:
    """Module-level import edges, and the imports made inside functions."""
    found = modules()
    known = set(found)
    edges: dict[str, set[str]] = {name: set() for name in found}
    lazy = []
    for name, path in found.items():
        for target, at_top in imports(path, known):
            if at_top:
                edges[name].add(target)
            else:
                lazy.append((name, target))
    return edges, lazy


def below(importer: str, allowed: tuple[str, ...]) -> bool:
    return not any(importer == p or importer.startswith(p + ".") for p in allowed)


def test_nothing_below_imports_the_app_or_the_command_line() -> None:
    edges, lazy = graph()
    wrong = []
    for importer, targets in edges.items():
        for target in targets | {t for i, t in lazy if i == importer}:
            if target.startswith("sentinel.cli") and below(importer, CLI_USERS):
                wrong.append(f"{importer} imports {target}")
            if target.startswith("sentinel.app") and below(importer, APP_USERS):
                wrong.append(f"{importer} imports {target}")
    assert wrong == []


def test_no_import_inside_a_function_except_the_listed_ones() -> None:
    _, lazy = graph()
    assert sorted(set(lazy) - LAZY) == []


def test_no_import_cycle() -> None:
    edges, _ = graph()
    cycles = [c for c in strongly_connected(edges) if len(c) > 1]
    assert cycles == []


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (the graph has a few hundred nodes)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in edges:
                    continue
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                out.append(sorted(component))
    return out


def documented() -> set[str]:
    """The modules the tree in docs/architecture.md names, as paths under sentinel/:
    a folder line (``  probes/ ...``) opens a folder, and each ``name.py`` on the
    lines under it is a module of that folder (``__init__.py`` of a listed folder is
    the folder itself)."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    tree = text[text.index("```\nsentinel/") :]
    tree = tree[: tree.index("\n```", 4)]
    found: set[str] = set()
    folder = ""
    for line in tree.splitlines()[1:]:
        stripped = line.strip()
        if not stripped:
            continue
        indent = len(line) - len(line.lstrip())
        head = stripped.split()[0]
        if indent == 2 and head.endswith("/"):
            folder = head
            found.add(folder + "__init__.py")
            continue
        if indent == 2:
            folder = ""
        words = stripped.split("  ")[0].split()  # the names, before the description
        found.update(folder + w for w in words if w.endswith(".py"))
    return found


def test_every_module_is_in_docs_architecture() -> None:
    names = documented()
    missing = [
        p.relative_to(PACKAGE).as_posix()
        for p in sorted(PACKAGE.rglob("*.py"))
        if p.relative_to(PACKAGE).as_posix() not in names
    ]
    assert missing == []


def test_the_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    """The parser sees module-level and function-level imports, and the cycle finder
    finds a cycle: the tests above cannot pass by seeing nothing."""
    source = tmp_path / "m.py"
    source.write_text(
        "import sentinel.clock\nfrom sentinel.app import daemon\n"
        "def f():\n    from sentinel.cli.main import main\n",
        encoding="utf-8",
    )
    found = list(imports(source, {"sentinel.app.daemon"}))
    assert found == [
        ("sentinel.clock", True),
        ("sentinel.app.daemon", True),
        ("sentinel.cli.main", False),
    ]
    assert strongly_connected({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"], ["c"]]
    assert {"app/__init__.py", "app/daemon.py", "clock.py", "probes/http.py"} <= documented()
    assert "probes/daemon.py" not in documented()
