"""The house's shape, read from the code's own imports (every `import` of a tale_cli module, at the top of a file or
inside a function; imports only for type checking aside): no circle, dependencies pointing down the layers, with at
most a few named exceptions, and no module over 700 lines.

`python tests/test_architecture.py` prints the layers, every import that runs back up and the biggest modules.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tale_cli"

# Bottom to top: a module may import its own layer and the layers below it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("errors", "record", "files", "version", "events", "literals", "config", "registry")),
    ("keys", ("keys",)),
    ("story", ("story",)),
    ("media", ("media", "pricing")),  # ffmpeg, pictures and WAV files; the price books
    ("providers", ("backends", "planners", "executors")),
    ("film", ("film",)),
    ("run", ("run",)),
    ("judge", ("judge",)),
    ("cost", ("cost",)),
    ("pipeline", ("pipeline",)),
    ("api", ("api", "")),
    ("cli", ("cli", "__main__")),
]
MAX_UPWARD = 3
MAX_LINES = 700


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int:
    inner = module.removeprefix("tale_cli").removeprefix(".")
    parts = inner.split(".")
    # The longest head that names the module or a package above it ("judge.scoring" before "judge").
    for length in range(len(parts), 0, -1):
        head = ".".join(parts[:length])
        for number, (_, heads) in enumerate(LAYERS):
            if head in heads:
                return number
    for number, (_, heads) in enumerate(LAYERS):
        if inner in heads:
            return number
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in {Path(__file__).name}")


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Line numbers of imports under `if TYPE_CHECKING:` (annotations only, never run)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING":
            for inner in node.body:
                for child in ast.walk(inner):
                    if isinstance(child, ast.Import | ast.ImportFrom):
                        lines.add(child.lineno)
    return lines


def import_graph() -> dict[str, set[str]]:
    """module -> the tale_cli modules it imports (a package's face counts as the package)."""
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_only(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom) or node.lineno in skip:
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                assert node.level == 0, f"{module}: a relative import"
                base = node.module or ""
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names
                ]
            for target in targets:
                found = resolve(target) if target.startswith("tale_cli") else None
                if found is not None and found != module:
                    graph[module].add(found)
        graph.setdefault(module, set())
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                other = stack.pop()
                on.discard(other)
                group.append(other)
                if other == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def upward(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((a, b) for a, targets in graph.items() for b in targets if layer_of(b) > layer_of(a))


def sizes() -> list[tuple[int, str]]:
    return sorted(
        ((len(path.read_text(encoding="utf-8").splitlines()), module_name(path)) for path in PACKAGE.rglob("*.py")),
        reverse=True,
    )


def test_no_module_imports_another_that_imports_it_back() -> None:
    assert circles(import_graph()) == []


def test_no_package_imports_another_that_imports_it_back() -> None:
    """Folder by folder too: run/ and film/, say, never need each other."""
    graph = import_graph()
    packages: dict[str, set[str]] = defaultdict(set)
    for module, targets in graph.items():
        here = ".".join(module.split(".")[:2])
        packages[here] |= {".".join(t.split(".")[:2]) for t in targets} - {here}
    assert circles(packages) == []


def test_dependencies_point_down_the_layers() -> None:
    graph = import_graph()
    for module in graph:
        layer_of(module)
    up = upward(graph)
    assert len(up) <= MAX_UPWARD, up


def test_the_commands_call_the_library_not_its_parts() -> None:
    """cli/ parses, calls one library entry point and prints: it never holds a run folder, reads a manifest or starts
    a stitch or a mix itself."""
    graph = import_graph()
    parts = (
        "tale_cli.run.lock",
        "tale_cli.run.folder",
        "tale_cli.run.cut",
        "tale_cli.film.stitch",
        "tale_cli.film.mix",
    )
    reaching = sorted(
        (a, b) for a, targets in graph.items() if a.startswith("tale_cli.cli") for b in targets if b in parts
    )
    assert reaching == []


def test_each_provider_is_declared_once() -> None:
    """One `Provider("name", …)` for each provider, with every role it plays (a planner by "module:attribute")."""
    declared: dict[str, list[str]] = defaultdict(list)
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Provider" and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    declared[first.value].append(module_name(path))
    assert declared and {name: where for name, where in declared.items() if len(where) > 1} == {}


def test_no_module_is_over_700_lines() -> None:
    assert [entry for entry in sizes() if entry[0] > MAX_LINES] == []


if __name__ == "__main__":
    graph = import_graph()
    for number, (name, heads) in enumerate(LAYERS):
        members = sorted(m for m in graph if layer_of(m) == number)
        print(f"{number:2} {name:9} {len(members):3} modules: {', '.join(heads)}")
    print(f"circles: {circles(graph)}")
    up = upward(graph)
    print(f"imports that run back up ({len(up)}):")
    for a, b in up:
        print(f"  {a} -> {b}")
    print("biggest modules:", ", ".join(f"{name} {lines}" for lines, name in sizes()[:5]))
