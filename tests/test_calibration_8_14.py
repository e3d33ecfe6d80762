"""Calibration of fit_cluster's intervals on the wide mocks of issue 16 with 8-14 members (the slow tier).

The mocks, the one-sided binomial bounds, their power and their reasoning are in tests/calibration_checks.py;
each member range has its own file, so that a parallel run fits the three ranges on different cores. The same fits, with
the other ranges and more mocks, are tools/calibrate_sparse.py's seeded run (its output is quoted in
notebook 06 and stored in notebooks/results/calibration_wide.txt).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from calibration_checks import check_coverages, lower_bound, power, predicted_wrong_probability, wide_fits
from scipy import stats

import helpers
from xdtutorial import intervals

RANGE_INDEX = 0  # RANGES[0]: 8-14 members


@pytest.fixture(scope="module")
def fits():
    return wide_fits(RANGE_INDEX)


@pytest.mark.slow
def test_intervals_are_not_too_short_and_confidently_wrong_fits_are_as_rare_as_the_posteriors_predict(fits):
    check_coverages(fits)


@pytest.mark.parametrize(("seed", "n_members"), [(4, 8), (5, 12)])
def test_intervals_are_students_t_and_the_scaled_inverse_chi_for_known_members(seed, n_members):
    """A known answer. With every member certain (the field 300 km/s away) and errors negligible, the marginal
    posterior of the mean with a flat prior and the Jeffreys-like weight of the dispersion (1/s above the errors) is
    Student's t with N - 1 degrees of freedom about the sample mean, scale s / sqrt(N), and that of the
    dispersion is S / chi^2_(N-1), S the sum of squared deviations: the frequentist intervals, exactly. Wilks'
    levels on the profile likelihood would give the mean's 95 % interval 12 % (N = 8) too short. The ends
    agree within 3 % of the 95 % interval's width (the grid's trapezoid rule). The reported values are the
    posteriors' medians: the sample mean (t is symmetric) and S / chi^2_(N-1)'s median, sqrt(S / chi2.ppf(0.5));
    the maximum-likelihood ones (the sample mean and S / N, the members being certain) are kept apart."""
    rng = np.random.default_rng(seed)
    stars = helpers.mock_cluster_field(
        n_members, [(60, 300.0, 20.0)], rng=rng, mean=0.0, dispersion=5.0, r_scale=50.0, err_range=(1e-3, 1e-3)
    )
    fit = helpers.fit_cluster(stars, rng=0)
    v = stars.velocity[stars.p_mem == 1]
    n, centre, s = v.size, v.mean(), v.std(ddof=1)
    for level, mean_iv, disp_iv in [(0.6827, fit.mean_interval, fit.dispersion_interval),
                                    (0.95, fit.mean_interval95, fit.dispersion_interval95)]:
        t = stats.t.ppf(0.5 + level / 2, n - 1) * s / np.sqrt(n)
        chi2 = stats.chi2.ppf([0.5 + level / 2, 0.5 - level / 2], n - 1)
        np.testing.assert_allclose(mean_iv, (centre - t, centre + t), atol=0.03 * 2 * 1.96 * s / np.sqrt(n))
        np.testing.assert_allclose(disp_iv, s * np.sqrt((n - 1) / chi2), atol=0.03 * 2 * 1.96 * s / np.sqrt(2 * n))
    assert fit.interval_method == "posterior"
    np.testing.assert_allclose(fit.mean, centre, atol=0.03 * 2 * 1.96 * s / np.sqrt(n))
    np.testing.assert_allclose(fit.dispersion, s * np.sqrt((n - 1) / stats.chi2.ppf(0.5, n - 1)),
                               atol=0.03 * 2 * 1.96 * s / np.sqrt(2 * n))
    np.testing.assert_allclose([fit.ml_mean, fit.ml_dispersion], [centre, s * np.sqrt((n - 1) / n)], rtol=1e-3)
    np.testing.assert_allclose([fit.mean_err], [0.5 * (fit.mean_interval[1] - fit.mean_interval[0])])


def test_a_failed_laplace_correction_is_flagged_and_its_dispersion_not_cited(monkeypatch):
    """Issue 17: when no point of the dispersion's profile has a usable Hessian, the marginal posterior has no
    Laplace correction. That is raised, not hidden behind a zero log-determinant: the fit falls back to the
    curvature's intervals, says so in its reason, and its dispersion is not citable (rule 6 of
    dispersion_verdict); with the Hessian intact the same fit's dispersion is citable."""
    stars = helpers.mock_cluster_field(25, [(200, 0.0, 40.0)], rng=np.random.default_rng(1), mean=60.0, dispersion=5.0)
    intact = helpers.fit_cluster(stars, rng=0)
    assert (intact.reliable, intact.interval_method, intact.dispersion_reliable) == (True, "posterior", True)
    monkeypatch.setattr(intervals, "_hessian", lambda fit, *args, **kwargs: np.zeros((fit.vector().size,) * 2))
    broken = helpers.fit_cluster(stars, rng=0)
    assert broken.reliable and broken.interval_method == "curvature"
    assert "curvature intervals (not calibrated for" in broken.reason and "no usable Hessian" in broken.reason
    assert not broken.dispersion_reliable and "not calibrated" in broken.dispersion_reason
    assert helpers.dispersion_verdict(True, 25.0, 5.0, (4.0, 6.5), calibrated=False)[0] is False


def test_the_checks_bounds_and_predicted_misses_are_the_binomials_and_the_posteriors_tails():
    """Known answers for tests/calibration_checks.py. The one-sided bound k is the largest count with
    P(X < k) <= 0.01 (checked against the binomial's cdf by brute force), and the power is P(X < k) at the
    true coverage. A Gaussian posterior N(mean, err^2) with err >= 1 km/s misses its band of 3 err with
    probability 2 Phi(-3) = 0.0027; a mixture of a narrow and a broad Gaussian about the same centre, with the
    same band, misses with the weighted sum of their tails."""
    for n, p in [(57, 0.6827), (57, 0.95), (146, 0.6827), (20, 0.95)]:
        k = lower_bound(n, p)
        assert stats.binom.cdf(k - 1, n, p) <= 0.01 < stats.binom.cdf(k, n, p)
        assert power(n, p, 0.55) == pytest.approx(stats.binom.cdf(k - 1, n, 0.55))
    fit = dataclasses.replace(helpers.ClusterFit.failed("mock", 10, "x"), reliable=True, mean=5.0, mean_err=2.0)
    assert predicted_wrong_probability(fit) == pytest.approx(2 * stats.norm.sf(3.0))
    mixture = np.array([[0.25, 5.0, 0.5], [0.75, 5.0, 3.0]])  # band max(3, 3 * 2) = 6 km/s
    fit = dataclasses.replace(fit, mean_posterior=mixture)
    expected = 0.25 * 2 * stats.norm.sf(6.0 / 0.5) + 0.75 * 2 * stats.norm.sf(6.0 / 3.0)
    assert predicted_wrong_probability(fit) == pytest.approx(expected)
