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
    v, member = helpers.sample_mock(truth, verr, rng, return_labels=True)
    return v, verr, member
