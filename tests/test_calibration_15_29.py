"""Calibration of fit_cluster's intervals on the wide mocks of issue 16 with 15-29 members (the slow tier).

The mocks, the one-sided binomial bounds, their power and their reasoning are in tests/calibration_checks.py;
each member range has its own file, so that a parallel run fits the three ranges on different cores. The same fits, with
the other ranges and more mocks, are tools/calibrate_sparse.py's seeded run (its output is quoted in
notebook 06 and stored in notebooks/results/calibration_wide.txt).
"""

from __future__ import annotations

import pytest
from calibration_checks import check_coverages, wide_fits

RANGE_INDEX = 1  # RANGES[1]: 15-29 members


@pytest.fixture(scope="module")
def fits():
    return wide_fits(RANGE_INDEX)


@pytest.mark.slow
def test_intervals_are_not_too_short_and_confidently_wrong_fits_are_as_rare_as_the_posteriors_predict(fits):
    check_coverages(fits)
