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


def test_front_and_modules_stay_small():
    assert len((ROOT / "helpers.py").read_text().splitlines()) <= 250
    modules = sorted(PACKAGE.glob("*.py"))
    assert len([m for m in modules if not m.name.startswith("_")]) >= 6
    for m in modules:
        assert len(m.read_text().splitlines()) <= 600, m.name


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
