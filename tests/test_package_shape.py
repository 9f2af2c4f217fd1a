"""The package's shape, checked from its source: no import cycles, no function over 100 lines,
at most 12 modules at the top level, and the public functions never shadowed by a submodule.

Cheap: it parses every module's AST (nothing is executed) except the shadowing check, which
imports every submodule and then looks at ``ckptdiff.read/compare/drift/remap``.
"""

from __future__ import annotations

import ast
import importlib
import os
import pkgutil

import tensorboard_plugin_ckptdiff as ckptdiff

PACKAGE = ckptdiff.__name__
ROOT = os.path.dirname(ckptdiff.__file__)
MAX_FUNCTION_LINES = 100
MAX_TOP_LEVEL_MODULES = 12


def _modules():
    """{dotted name: path} of every module of the package."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in ("static", "__pycache__")]
        for filename in filenames:
            if not filename.endswith(".py"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, filename), ROOT)[:-3].split(os.sep)
            if rel[-1] == "__init__":
                rel = rel[:-1]
            out[".".join([PACKAGE] + rel)] = os.path.join(dirpath, filename)
    return out


def _imports(name, path, modules):
    """Modules of the package that ``name`` imports, at any depth of its code."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.startswith(PACKAGE):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
    found.discard(name)
    return found


def _cycles(graph):
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert len(graph) > 40  # the walk found the package
    assert _cycles(graph) == []


def test_no_function_over_100_lines():
    too_long = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read(), path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}.{node.name}: {lines} lines")
    assert too_long == []


def test_few_modules_at_the_top_level():
    top = sorted(f for f in os.listdir(ROOT) if f.endswith(".py"))  # __init__ and __main__ count
    assert "__init__.py" in top and len(top) <= MAX_TOP_LEVEL_MODULES, top


def test_only_the_edges_pause_the_garbage_collector():
    # The core runs inside TensorBoard's process and users' programs: turning their collector
    # off is not its call. The command and the reader processes are processes of their own.
    edges = {f"{PACKAGE}.cli", f"{PACKAGE}.isolation"}
    pausing = set()
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read(), path)):
            if isinstance(node, ast.Attribute) and node.attr in ("disable", "freeze") and \
                    isinstance(node.value, ast.Name) and node.value.id == "gc":
                pausing.add(name)
    assert pausing and pausing <= edges, sorted(pausing - edges)


def test_no_test_file_imports_another():
    # Shared test code lives in tests/makers or conftest.py: a test module imported by another
    # runs its tests' module-level code twice and ties two files' fixtures together.
    tests = os.path.dirname(os.path.abspath(__file__))
    siblings = {f[:-3] for f in os.listdir(tests) if f.endswith(".py")}
    files = [os.path.join(tests, f) for f in os.listdir(tests) if f.endswith(".py")]
    files += [os.path.join(tests, "makers", f) for f in os.listdir(os.path.join(tests, "makers")) if f.endswith(".py")]
    imports = []
    for path in files:
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read(), path)):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imports.append((os.path.basename(path), node.module.split(".")[0]))
            elif isinstance(node, ast.Import):
                imports += [(os.path.basename(path), a.name.split(".")[0]) for a in node.names]
    assert len(files) > 50 and any(module == "makers" for _, module in imports)
    assert [(f, module) for f, module in imports if module in siblings] == []


def test_cycle_finder_sees_a_cycle():
    # The check above must be able to fail.
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_public_functions_survive_every_submodule_import():
    # A subpackage named like a public function (drift/, remap/) would replace it on the
    # package the moment it is imported.
    for info in pkgutil.walk_packages(ckptdiff.__path__, PACKAGE + "."):
        if info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
    for name in ("read", "compare", "drift", "remap"):
        function = getattr(ckptdiff, name)
        assert callable(function) and not isinstance(function, type(ckptdiff)), name
        assert function.__module__ == PACKAGE, name
