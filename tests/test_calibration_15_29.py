"""Calibration of fit_cluster's sparse-cluster intervals on 56 seeded mocks with 15-29 members.

The mocks, the bounds and their reasoning are in tests/test_cluster_fit.py (``calibration_fits``,
``check_sparse_mean_intervals``, ``check_sparse_dispersion_intervals``); each member range has its own
file, so that a parallel run fits the three ranges on different cores.
"""

from __future__ import annotations

import pytest
from test_cluster_fit import calibration_fits, check_sparse_dispersion_intervals, check_sparse_mean_intervals

MEMBER_RANGE = (15, 30)


@pytest.fixture(scope="module")
def fits():
    return calibration_fits(*MEMBER_RANGE)


@pytest.mark.slow
def test_sparse_mean_intervals_are_calibrated_and_never_confidently_wrong(fits):
    check_sparse_mean_intervals(fits)


@pytest.mark.slow
def test_sparse_dispersion_intervals(fits):
    check_sparse_dispersion_intervals(fits)
