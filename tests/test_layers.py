"""The package's layers (DESIGN.md, section 2), read from the source with ``ast``.

Every import of a cyem module -- at module level or inside a function -- must
go to the same layer or a lower one, and the import graph must have no cycle.
So no import inside a function can be there to dodge a cycle: the lazy
imports that remain (the CLI's, for a fast ``--help``) point downwards.
"""

import ast
import pathlib

import pytest

import cyem

PACKAGE = pathlib.Path(cyem.__file__).parent

#: Layer of every module of the package (compiled modules included): a module
#: may import modules of its own layer or below. The facade ``cyem``
#: (__init__) is above everything and nothing inside imports it.
LAYERS = {
    0: ["_kernels", "_mdkernels", "_version", "exceptions", "_frame", "_threads",
        "_datafile"],
    1: ["_validation", "_config", "_params", "_params_md"],
    2: ["_model", "_init", "_accel", "_evaluate", "_persist"],
    3: ["_em", "_sources", "_scan", "chunked", "_restarts", "_online", "_dask"],
    4: ["mixture"],
    5: ["selection", "io", "plotting", "cli", "__main__", "datasets"],
}
LAYER_OF = {name: layer for layer, names in LAYERS.items() for name in names}
TOP = "__init__"


def _module_name(path):
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = rel.parts
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _python_modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path):
    """(imported cyem module, line, inside a function) for every import."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path).split(".")
    is_package = path.name == "__init__.py"
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef,
                                                       ast.AsyncFunctionDef))
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package if is_package else package[:-1]
                    base = base[:len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                    if child.module is None:      # from . import a, b
                        for alias in child.names:
                            found.append((".".join(filter(None, [target, alias.name])),
                                          child.lineno, in_function))
                        continue
                    found.append((target, child.lineno, in_function))
                elif child.module and child.module.split(".")[0] == "cyem":
                    found.append((child.module[len("cyem."):] or TOP, child.lineno,
                                  in_function))
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.split(".")[0] == "cyem":
                        found.append((alias.name[len("cyem."):] or TOP, child.lineno,
                                      in_function))
            visit(child, nested)

    visit(tree, False)
    return [(name.split(".")[0] or TOP, line, fn) for name, line, fn in found]


def _graph():
    graph = {}
    for path in _python_modules():
        name = _module_name(path).split(".")[0] or TOP
        if path.name == "__init__.py" and path.parent == PACKAGE:
            name = TOP
        graph.setdefault(name, set()).update(
            target for target, _, _ in _imports(path) if target != name)
    return graph


def test_every_module_has_a_layer():
    modules = {(_module_name(p).split(".")[0]) for p in _python_modules()}
    modules.discard("__init__")
    compiled = {p.name.split(".")[0] for p in PACKAGE.glob("*.so")} | \
        {p.name.split(".")[0] for p in PACKAGE.glob("*.pyd")}
    missing = (modules | compiled) - set(LAYER_OF) - {TOP}
    assert not missing, f"modules without a layer in LAYERS: {sorted(missing)}"


@pytest.mark.parametrize("path", _python_modules(), ids=lambda p: _module_name(p) or TOP)
def test_imports_go_to_the_same_layer_or_below(path):
    name = _module_name(path).split(".")[0]
    if path.name == "__init__.py" and path.parent == PACKAGE:
        return                                    # the facade may import anything
    layer = LAYER_OF[name]
    upward = [(target, line, "in a function" if fn else "at module level")
              for target, line, fn in _imports(path)
              if target != name and (target == TOP or LAYER_OF[target] > layer)]
    assert not upward, (f"{name} (layer {layer}) imports upwards: "
                        + "; ".join(f"{t} (layer {'top' if t == TOP else LAYER_OF[t]}) "
                                    f"at line {line}, {where}"
                                    for t, line, where in upward))


def test_import_graph_has_no_cycle():
    graph = _graph()
    state, stack, cycles = {}, [], []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_checks_catch_a_violation(tmp_path, monkeypatch):
    """The reader of imports sees function-level and relative imports."""
    source = tmp_path / "mod.py"
    source.write_text("from . import a\n\ndef f():\n    from .mixture import X\n"
                      "    import cyem.selection\n", encoding="utf-8")
    monkeypatch.setattr(f"{__name__}.PACKAGE", tmp_path)
    assert _imports(source) == [("a", 1, False), ("mixture", 4, True),
                                ("selection", 5, True)]
