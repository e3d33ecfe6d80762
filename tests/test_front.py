"""helpers.py is a thin, documented front over a package of focused modules without cycles."""

from __future__ import annotations

import ast
import inspect
import pathlib
import re

import pytest

import helpers

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "xdtutorial"


def test_every_public_name_is_documented_and_exported():
    assert len(set(helpers.__all__)) == len(helpers.__all__)
    for name in helpers.__all__:
        obj = getattr(helpers, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert inspect.getdoc(obj), name
            assert obj.__module__.startswith("xdtutorial."), name


def test_every_name_the_notebooks_use_exists():
    used = set()
    for nb in [*ROOT.glob("notebooks/[0-9][0-9]-*.ipynb"), *ROOT.glob("solutions/[0-9][0-9]-*.ipynb")]:
        used |= set(re.findall(r"helpers\.([A-Za-z_]\w*)", nb.read_text()))
    used.discard("py")  # the file name helpers.py, quoted in the text
    assert used - set(helpers.__all__) == set()


def _documented_layers() -> dict[str, set[str]]:
    """The import table of xdtutorial/__init__.py's docstring: module -> the modules it may import."""
    doc = (PACKAGE / "__init__.py").read_text()
    table = doc[doc.index("::\n") + 3:].split("\n\n")[0].strip("\n")
    layers = {}
    for line in table.splitlines():
        name, _, deps = line.strip().partition(" ")
        layers[name] = set() if deps.strip() == "-" else {d.strip() for d in deps.split(",")}
    return layers


def _relative_imports(module: pathlib.Path) -> set[str]:
    tree = ast.parse(module.read_text())
    return {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 1}


def test_modules_import_only_what_the_documented_layers_allow():
    """The package's import graph is the one documented in xdtutorial/__init__.py, layered top-down."""
    layers = _documented_layers()
    modules = {m.stem: m for m in PACKAGE.glob("*.py") if m.stem != "__init__"}
    assert set(layers) == set(modules), "every module has one line in the table, and every line a module"
    order = list(layers)
    for name, deps in layers.items():
        assert all(order.index(d) < order.index(name) for d in deps), f"{name} may import only modules above it"
        assert _relative_imports(modules[name]) <= deps, f"{name} imports more than its documented line allows"
    assert len([m for m in modules if not m.startswith("_")]) >= 6  # one public module per concern


def test_no_import_cycles():
    graph = {}
    for m in PACKAGE.glob("*.py"):
        tree = ast.parse(m.read_text())
        graph[m.stem] = {
            node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 1
        }

    def visit(name, path):
        if name in path:
            pytest.fail(f"import cycle: {' -> '.join([*path, name])}")
        for dep in graph.get(name, ()):
            visit(dep, [*path, name])

    for name in graph:
        visit(name, [])


@pytest.mark.parametrize("name", ["seed", "random_state", "maxiter"])
def test_one_spelling_for_randomness_and_iterations(name):
    """rng and max_iter everywhere (minimize_fit passes SciPy's own options through **options)."""
    for public in helpers.__all__:
        obj = getattr(helpers, public)
        if inspect.isfunction(obj):
            assert name not in inspect.signature(obj).parameters, public


def test_the_package_re_exports_the_public_api_lazily():
    """``xdtutorial.NAME`` is ``helpers.NAME`` for every public name; the modules load on first use."""
    import subprocess
    import sys

    import xdtutorial

    assert helpers.__all__ == xdtutorial.__all__ and set(xdtutorial.__all__) <= set(dir(xdtutorial))
    # a public name that were also a module's would be the function or the module depending on import order
    assert not set(xdtutorial.__all__) & {m.stem for m in PACKAGE.glob("*.py")}
    for name in xdtutorial.__all__:
        assert getattr(xdtutorial, name) is getattr(helpers, name), name
    assert xdtutorial.xd_fit is xdtutorial.xd.fit  # a name that differs from its module's
    with pytest.raises(AttributeError, match="no attribute 'fit_clusters'"):
        xdtutorial.fit_clusters  # noqa: B018
    code = ("import sys, xdtutorial.errors; assert 'xdtutorial.plots' not in sys.modules; "
            "xdtutorial.fit_cluster; assert 'xdtutorial.cluster_fit' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
