"""The package's shape, checked: the dependency rule, no import cycles, small functions,
few files at the top of ``skae/``.

The rule (README, "Layout"): the torch-free side (``skae._schema``, ``skae._tables``,
``skae.scoring``, the ONNX runtime modules, ``skae.distributed`` and the ``score`` and
``info`` commands) never imports the networks (``skae._nn``), the engine
(``skae._train``), the detector's internals (``skae._detection``) or the estimators, nor
torch or skl2onnx, not even inside a function. The contracts are import-linter's, in
``pyproject.toml``; imports inside functions count.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "skae"
ROOT = PACKAGE.parent

# Functions longer than this many lines, or with more lines of code (no docstring, blank
# lines or comments), are too long to read at once.
MAX_LINES, MAX_CODE_LINES = 100, 60
MAX_TOP_LEVEL_FILES = 15


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py"))


def _module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _code_lines(node, source_lines):
    """Lines of ``node`` holding code: not blank, not only a comment, not its docstring."""
    doc = set()
    body = getattr(node, "body", [])
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        if isinstance(body[0].value.value, str):
            doc = set(range(body[0].lineno, body[0].end_lineno + 1))
    lines = range(node.lineno, node.end_lineno + 1)
    return sum(
        1
        for i in lines
        if i not in doc
        and source_lines[i - 1].strip()
        and not source_lines[i - 1].strip().startswith("#")
    )


def _only_stores_parameters(node):
    """An estimator's ``__init__`` that stores its parameters untouched (and calls its
    base's): as long as its signature, which scikit-learn's conventions fix."""
    if node.name != "__init__":
        return False
    for statement in node.body:
        if isinstance(statement, ast.Assign):
            target, value = statement.targets[0], statement.value
            if not (
                len(statement.targets) == 1
                and isinstance(target, ast.Attribute)
                and isinstance(target.value, ast.Name)
                and target.value.id == "self"
                and isinstance(value, ast.Name)
                and value.id == target.attr
            ):
                return False
        elif isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
            func = statement.value.func
            if not (isinstance(func, ast.Attribute) and func.attr == "__init__"):
                return False
        elif not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)):
            return False
    return True


def _functions():
    for path in _modules():
        source = path.read_text()
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if _only_stores_parameters(node):
                    continue
                length = node.end_lineno - node.lineno + 1
                yield (
                    f"{path.relative_to(ROOT)}:{node.lineno} {node.name}",
                    length,
                    _code_lines(node, lines),
                )


def test_no_function_is_too_long_to_read():
    long = [
        f"{where}: {n} lines, {code} of code"
        for where, n, code in _functions()
        if n > MAX_LINES or code > MAX_CODE_LINES
    ]
    assert not long, long


def test_few_files_at_the_top_of_the_package():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_FILES, top


def _imports(path):
    """The skae modules ``path`` imports, anywhere in it (functions included)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("skae"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if not module.startswith("skae"):
                continue
            # "from . import x" may import the submodule x
            for alias in node.names:
                candidate = f"{module}.{alias.name}"
                found.add(candidate if _exists(candidate) else module)
    return found


def _exists(module):
    path = ROOT.joinpath(*module.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _graph():
    return {_module_name(p): {m for m in _imports(p) if _exists(m)} for p in _modules()}


def test_no_import_cycles_between_modules():
    """Tarjan's strongly connected components of the module graph: all of size one."""
    graph = _graph()
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

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
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, cycles


def test_the_import_contracts_hold():
    """import-linter's contracts in pyproject.toml (the dependency rule)."""
    pytest.importorskip("importlinter")
    from importlinter.cli import lint_imports

    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True) == 0
