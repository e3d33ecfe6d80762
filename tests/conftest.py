"""Shared fixtures: the real NGC 288 data and synthetic data sets with known truth."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import settings

import helpers

# In CI the property-based tests draw the same examples every run (a red CI must be
# reproducible); locally they explore new examples each time.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def table() -> helpers.BaumgardtTable:
    """The whole 2019 compilation (from GMM_DATA_DIR, the cache, or a download)."""
    return helpers.load_table()


@pytest.fixture(scope="session")
def ngc288(table: helpers.BaumgardtTable) -> np.recarray:
    return helpers.load_cluster("NGC 288", table)


@pytest.fixture(scope="session")
def ngc288_mle(ngc288: np.recarray) -> np.ndarray:
    """Maximum-likelihood parameters of NGC 288 from a tightly converged Nelder-Mead."""
    v, e = ngc288.velocity, ngc288.velocity_error
    start = helpers.initial_guess(v, ngc288.distance)
    res = helpers.minimize_fit(v, e, start, method="Nelder-Mead", xatol=1e-9, fatol=1e-12, maxiter=40_000,
                               maxfev=40_000)
    assert res.converged
    return res.params


def synthetic(truth, n: int, err_range: tuple[float, float], seed: int):
    """Velocities drawn from the model with known ``truth`` and uniform errors."""
    rng = np.random.default_rng(seed)
    verr = rng.uniform(*err_range, n)
    v, member = helpers.sample_mock(truth, verr, rng=rng, return_labels=True)
    return v, verr, member


def _slow_tests() -> list[str]:
    """``file::test`` of every test function marked ``slow`` (read from the source, nothing imported)."""
    import ast
    import pathlib

    found = []
    for path in sorted(pathlib.Path(__file__).parent.glob("test_*.py")):
        body = ast.parse(path.read_text()).body
        whole_module = any(  # pytestmark = pytest.mark.slow marks every test of the file
            isinstance(n, ast.Assign) and "pytestmark" in ast.unparse(n.targets[0]) and "slow" in ast.unparse(n.value)
            for n in body
        )
        for node in body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test") and (
                whole_module or any("slow" in ast.unparse(d) for d in node.decorator_list)
            ):
                found.append(f"{path.name}::{node.name}")
    return found


def pytest_terminal_summary(terminalreporter, config) -> None:
    """Say what a quick run (``-m "not slow"``, make test-fast) left out; pytest-xdist hides the count."""
    if "not slow" in (config.option.markexpr or "") and not hasattr(config, "workerinput"):
        slow = _slow_tests()
        terminalreporter.write_sep("-", f"skipped: the slow tier, {len(slow)} test functions (pytest -m slow tests)")
        for name in slow:
            terminalreporter.write_line(f"  {name}")
