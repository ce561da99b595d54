"""Finds import cycles among the Rust modules of src/ and the Python modules of python/fastmask.

A Rust module uses another when its code names an item of it (`crate::a::b::Item`, `super::x`,
`child::Item`); names re-exported by a `mod.rs`/`lib.rs` (`pub use child::Item`) count as uses of
the module that defines them, so a facade is not a cycle. `#[cfg(test)] mod tests` blocks are
left out: they are test code of the module, not part of its dependencies. A Python module
imports another with any `import`/`from ... import` statement, function-level ones included.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def rust_modules(src: Path) -> dict[tuple[str, ...], Path]:
    modules = {}
    for path in src.rglob("*.rs"):
        parts = path.relative_to(src).with_suffix("").parts
        if parts[-1] in ("mod", "lib"):
            parts = parts[:-1]
        modules[tuple(parts)] = path
    return modules


def without_tests(text: str) -> str:
    cut = re.search(r"#\[cfg\(test\)\]\s*mod tests\s*\{", text)
    if cut:
        depth, index = 0, cut.end() - 1
        for index in range(cut.end() - 1, len(text)):
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            if depth == 0:
                break
        text = text[: cut.start()] + text[index + 1 :]
    return re.sub(r"//[^\n]*", "", text)


def expand(path: str) -> list[str]:
    """`a::{b, c::{d, e}}` -> `a::b`, `a::c::d`, `a::c::e` (one path per used name)."""
    match = re.match(r"^(.*?)::\{(.*)\}$", path, re.S)
    if not match:
        return [path]
    head, body = match.groups()
    items, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            items.append(body[start:i])
            start = i + 1
    items.append(body[start:])
    out = []
    for item in items:
        item = item.strip().split(" as ")[0].strip()
        if item:
            out.extend(expand(f"{head}::{item}") if item != "self" else [head])
    return out


PATH = re.compile(r"\b(?:crate|super|self|[a-z_][a-z0-9_]*)(?:::(?:[A-Za-z_][A-Za-z0-9_]*|\{[^;]*?\}))+")


def rust_graph(src: Path) -> dict[tuple[str, ...], set[tuple[str, ...]]]:
    modules = rust_modules(src)
    reexports: dict[tuple[str, ...], dict[str, list[str]]] = {}
    texts = {module: without_tests(path.read_text()) for module, path in modules.items()}
    for module, text in texts.items():
        for statement in re.findall(r"pub use ([^;]+);", text):
            for path in expand(re.sub(r"\s+", "", statement).replace("as", " as ")):
                segments = path.split("::")
                reexports.setdefault(module, {})[segments[-1]] = segments[:-1]

    def resolve(module: tuple[str, ...], segments: list[str], seen: int = 0) -> tuple[str, ...] | None:
        if segments[0] == "crate":
            base, rest = (), segments[1:]
        elif segments[0] == "super":
            base, rest = module, segments
            while rest and rest[0] == "super":
                base, rest = base[:-1], rest[1:]
        elif segments[0] == "self":
            base, rest = module, segments[1:]
        elif module + (segments[0],) in modules:
            base, rest = module, segments
        else:
            return None
        while rest and base + (rest[0],) in modules:
            base, rest = base + (rest[0],), rest[1:]
        if rest and seen < 8 and rest[0] in reexports.get(base, {}):
            return resolve(base, reexports[base][rest[0]] + [rest[0]], seen + 1)
        return base

    graph: dict[tuple[str, ...], set[tuple[str, ...]]] = {module: set() for module in modules}
    for module, text in texts.items():
        text = re.sub(r"pub use [^;]+;", "", text)
        for match in PATH.finditer(text):
            for path in expand(re.sub(r"\s+", "", match.group(0))):
                target = resolve(module, path.split("::"))
                if target is not None and target != module:
                    graph[module].add(target)
    return graph


def python_graph(package: Path) -> dict[str, set[str]]:
    names = {}
    for path in package.rglob("*.py"):
        parts = ("fastmask",) + path.relative_to(package).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    graph: dict[str, set[str]] = {name: set() for name in names}
    for name, path in names.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                targets = [f"{module}.{alias.name}" for alias in node.names] + [module]
            for target in targets:
                while target and target not in names:
                    target = target.rpartition(".")[0]
                # A package importing its own submodules is how it exposes them, not a use.
                if target and target != name and not target.startswith(name + "."):
                    graph[name].add(target)
    return graph


def cycles(graph: dict) -> list[list]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in graph:
        if node not in index:
            visit(node)
    return found


def main() -> int:
    rust = cycles(rust_graph(ROOT / "src"))
    python = cycles(python_graph(ROOT / "python" / "fastmask"))
    for component in rust:
        print("Rust modules that use each other:", ", ".join("::".join(m) or "crate" for m in component))
    for component in python:
        print("Python modules that import each other:", ", ".join(component))
    return 1 if rust or python else 0


if __name__ == "__main__":
    sys.exit(main())
