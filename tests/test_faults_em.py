"""Nothing silent in EM (issue 18): fits that stop at fixed points of EM that are no maxima, numerics
that neither underflow nor overflow across the float range, and result records that compare, print
and cannot be changed in place (issue 17).  Each family is parametrised or a property test."""

from __future__ import annotations

import dataclasses
import warnings
from decimal import Decimal, getcontext

import numpy as np
import pytest
from conftest import synthetic
from hypothesis import example, given, settings
from hypothesis import strategies as st

import helpers
from xdtutorial import _membership_em as engine
from xdtutorial import membership as M
from xdtutorial.em import FitResult

TRUTH = np.array([-44.5, 2.7, -10.4, 41.9, 0.8])
LIMITS = {"field_sigma_floor": 2.0, "cluster_sigma_cap": 25.0}


def _fit(v, e, start, **options):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = helpers.em_fit(v, e, start, **options)
    return fit, [str(w.message) for w in caught if issubclass(w.category, helpers.EMConvergenceWarning)]


# ----------------------------------------------------------------------------- fixed points of EM


@pytest.mark.parametrize("accelerate", [True, False])
@pytest.mark.parametrize(
    ("start", "why"),
    [
        ([-44.0, 0.0, -10.0, 40.0, 0.8], "fixed point of EM"),  # sigma1 = 0 (the issue's example)
        ([-44.0, 1e-12, -10.0, 1e-12, 0.8], "fixed point of EM"),  # both widths at 1e-12
        ([-10.0, 1e-9, -10.0, 30.0, 0.5], "fixed point of EM"),  # one width far below the errors
        ([-10.0, 30.0, -10.0, 30.0, 0.5], "identical"),  # the symmetric saddle
    ],
)
def test_em_at_a_fixed_point_that_is_no_maximum_says_so(ngc288, ngc288_mle, start, why, accelerate):
    v, e = ngc288.velocity, ngc288.velocity_error
    fit, messages = _fit(v, e, start, accelerate=accelerate)
    assert fit.converged is False
    assert len(messages) == 1 and why in messages[0] and "Fix:" in messages[0]
    # and it really is below the maximum
    assert fit.log_likelihood < helpers.log_likelihood(ngc288_mle, v, e) - 1.0


@pytest.mark.parametrize("seed", range(3))
def test_em_from_a_good_start_or_at_the_optimum_stays_converged_without_warning(ngc288, ngc288_mle, seed):
    v, e = ngc288.velocity, ngc288.velocity_error
    start = helpers.initial_guess(v, ngc288.distance) if seed == 0 else ngc288_mle * (1 + 0.01 * seed)
    fit, messages = _fit(v, e, start)
    assert fit.converged and not messages
    fit, messages = _fit(v, e, fit.params)  # started at its own optimum: one step, still converged
    assert fit.converged and not messages


@pytest.mark.parametrize("seed", range(3))
def test_a_width_whose_maximum_is_zero_is_a_converged_fit(seed):
    """An unresolved dispersion: cluster stars exactly at the mean with errors of 2 km/s.  The score in
    sigma1^2 at 0 is negative, so sigma1 -> 0 is the maximum, not a stuck point: no warning."""
    rng = np.random.default_rng(seed)
    n1, n2 = 60, 140
    v = np.r_[np.full(n1, 5.0), rng.normal(0.0, 40.0, n2)]
    e = np.r_[np.full(n1, 2.0), rng.uniform(0.5, 3.0, n2)]
    fit, messages = _fit(v, e, [5.0, 0.5, 0.0, 40.0, 0.3])
    assert not messages and fit.converged
    assert fit.params[1] < 0.1


@pytest.mark.parametrize("n_stars", [2_000, 20_000])  # the textbook step, and the blocked one (FastEM)
def test_both_em_paths_flag_a_zero_width_start(n_stars):
    v, e, _ = synthetic(TRUTH, n_stars, (0.3, 5.0), seed=4)
    fit, messages = _fit(v, e, [-44.0, 0.0, -10.0, 40.0, 0.8])
    assert fit.converged is False and messages and "fixed point of EM" in messages[0]


def _state(v, verr, R, sig0):
    st = M._starting_states(v, verr, R, 1, np.random.default_rng(0), n_random=0, field_sigma_floor=2.0)[0]
    st.sig[0] = sig0
    return st


@pytest.fixture(scope="module")
def ngc6752(table):
    s = helpers.load_cluster("NGC 6752", table)
    return s.velocity, s.velocity_error, s.distance


@pytest.mark.parametrize("accelerate", [True, False])
def test_the_distance_aware_em_leaves_a_zero_width_fixed_point(ngc6752, accelerate):
    """The cluster width at 0 is a fixed point of its EM too: detected by the score test, left by one
    more run beside it, to a higher maximum that is a converged fit."""
    v, verr, R = ngc6752
    stuck = _state(v, verr, R, 0.0)
    opts = engine._options(2, 2.0, 25.0, None, None, True, True)
    problem, beside = engine._stop_problem(stuck, True, v, verr, R, opts)
    assert "fixed point of EM" in problem and beside.sig[0] > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", helpers.EMConvergenceWarning)
        fit, ll, converged, _ = M._generalised_em(stuck, v, verr**2, R, max_iter=3000, accelerate=accelerate, **LIMITS)
    assert converged and fit.sig[0] > 1.0
    assert ll > M._log_likelihood(stuck, v, verr**2, R) + 1.0


def test_the_distance_aware_em_warns_when_it_cannot_leave(ngc6752, monkeypatch):
    v, verr, R = ngc6752
    stuck = _state(v, verr, R, 0.0)
    ll0 = M._log_likelihood(stuck, v, verr**2, R)
    monkeypatch.setattr(engine, "_run", lambda st, *a, **k: (st.copy(), ll0, True, 1))
    with pytest.warns(helpers.EMConvergenceWarning, match="fixed point of EM.*Fix:"):
        _, _, converged, _ = M._generalised_em(stuck, v, verr**2, R, **LIMITS)
    assert converged is False


def test_identical_components_of_the_distance_aware_model_are_a_saddle(ngc6752):
    v, verr, R = ngc6752
    st = _state(v, verr, R, 5.0)
    st = M._split_broadest(st)
    st.mu[2], st.sig[2] = st.mu[1], st.sig[1]
    problem, beside = engine._stop_problem(st, True, v, verr, R, engine._options(3, 2.0, 25.0, None, None, True, True))
    assert "identical" in problem and beside.mu[1] != beside.mu[2]


# ----------------------------------------------------------------------------- scale-safe numerics


def _prior_exact(p0: float, a: float, r: float) -> float:
    """pi(R) in decimal arithmetic (exponents to 1e+-999999: nothing under- or overflows)."""
    getcontext().prec = 50
    x = (Decimal(r) / Decimal(a)) ** 2
    return float(1 / (1 + (1 - Decimal(p0)) / Decimal(p0) * (1 + x) ** 2))


@pytest.mark.parametrize("r_scale", [1e-300, 1e-200, 1e-150, 1.0, 1e100, 1e160, 1e200, 1e300])
@pytest.mark.parametrize("p0", [1e-300, 0.5, 1 - 1e-12])
def test_membership_prior_across_the_float_range(r_scale, p0):
    R = np.array([0.0, 1e-300, 1e-160, 1.0, 1e3, 1e160, 1e300])
    got = helpers.membership_prior(p0, r_scale, R)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, [_prior_exact(p0, r_scale, r) for r in R], rtol=1e-12, atol=1e-300)


def test_the_issues_prior_example():
    np.testing.assert_array_equal(helpers.membership_prior(0.5, 1e-300, [0.0, 1.0]), [0.5, 0.0])


@settings(max_examples=25, deadline=None)
@given(exponent=st.integers(-1000, 1000), seed=st.integers(0, 2**31))
@example(exponent=-515, seed=0)  # variances just above the subnormals: found by hypothesis
@example(exponent=-518, seed=141)
@example(exponent=-540, seed=3)  # variances subnormal
@example(exponent=510, seed=5)  # squares just below overflow
def test_the_likelihood_scales_exactly_with_the_units(exponent, seed):
    """Velocities in units 2^k smaller: the same memberships, and ln L lower by n k ln 2 (no NaN)."""
    v, e, _ = synthetic(TRUTH, 200, (0.3, 5.0), seed=seed % 1000)
    c = 2.0**exponent
    p = TRUTH * [c, c, c, c, 1.0]
    ll = helpers.log_likelihood(p, v * c, e * c)
    assert ll == pytest.approx(helpers.log_likelihood(TRUTH, v, e) - v.size * np.log(c), rel=1e-12, abs=1e-9)
    # a probability q carries the rounding of ln q (|ln q| up to ~500 here, times a few 1e-16) relatively
    np.testing.assert_allclose(helpers.membership_probability(p, v * c, e * c),
                               helpers.membership_probability(TRUTH, v, e), rtol=1e-10, atol=1e-300)


@pytest.mark.parametrize("scale", [1e-300, 1e-200, 2.0**-700, 1e160, 1e200, 2.0**900])
@pytest.mark.parametrize("accelerate", [True, False])
def test_em_fit_is_equivariant_under_a_change_of_units(ngc288, scale, accelerate):
    v, e = ngc288.velocity, ngc288.velocity_error
    start = helpers.initial_guess(v, ngc288.distance)
    units = np.array([scale] * 4 + [1.0])
    ref = helpers.em_fit(v, e, start, accelerate=accelerate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", helpers.ImplausibleVelocityWarning)  # 1e160 km/s is implausible indeed
        fit = helpers.em_fit(v * scale, e * scale, start * units, accelerate=accelerate)
    assert fit.converged
    np.testing.assert_allclose(fit.params / units, ref.params, rtol=1e-6, atol=1e-6)
    assert fit.log_likelihood == pytest.approx(ref.log_likelihood - v.size * np.log(scale), rel=1e-9)


@pytest.mark.parametrize("tiny", [1e-300, 1e-200, 1e-160, 5e-324])
def test_tiny_errors_with_a_zero_width_give_numbers_not_nan(ngc288, tiny):
    v, e = ngc288.velocity, np.full(ngc288.velocity.size, tiny)
    p = [-44.0, 0.0, -10.0, 40.0, 0.8]
    ll = helpers.log_likelihood(p, v, e)
    q = helpers.membership_probability(p, v, e)
    assert np.isfinite(ll) and np.all(np.isfinite(q))
    # component 1 is a spike at -44 narrower than any distance between it and a star: no star is in it
    assert np.all(q[v != -44.0] == 0.0)
    assert ll == pytest.approx(helpers.log_likelihood([-10.0, 40.0, -10.0, 40.0, 0.5], v, e) + v.size * np.log(0.2))
    with pytest.raises(helpers.EMFailure, match="lost all its stars"):
        helpers.em_fit(v, e, p)


@pytest.mark.parametrize("n_stars", [500, 20_000])  # the textbook step, and em_fit's large-N range
def test_errors_whose_squares_underflow_are_errors_not_zeros(n_stars):
    """Errors of 1e-200 with a start at sigma1 = 0: a component of width 1e-200, not a collapse without errors."""
    v, _, _ = synthetic(TRUTH, n_stars, (0.3, 5.0), seed=6)
    with pytest.raises(helpers.EMFailure, match="lost all its stars"):
        helpers.em_fit(v, np.full(n_stars, 1e-200), [-44.0, 0.0, -10.0, 40.0, 0.8])


@pytest.mark.parametrize("r_scale", [1e150, 1e200, 1e300])
def test_mock_radii_for_a_scale_far_beyond_the_field(r_scale):
    """a >> r_max: the Plummer profile is flat over the disc, so R^2 / r_max^2 is uniform (mean 1/2)."""
    stars = helpers.mock_cluster_field(4000, [], rng=0, r_scale=r_scale, r_max=1000.0)
    R = stars.distance
    assert np.all((R >= 0) & (R <= 1000.0))
    assert np.mean((R / 1000.0) ** 2) == pytest.approx(0.5, abs=4 * np.sqrt(1 / 12 / R.size))


# ----------------------------------------------------------------------------- FitResult


def test_fit_results_compare_print_and_cannot_be_changed(ngc288):
    v, e = ngc288.velocity, ngc288.velocity_error
    start = helpers.initial_guess(v, ngc288.distance)
    a, b = helpers.em_fit(v, e, start), helpers.em_fit(v, e, start)
    assert a == b and isinstance(a == b, bool)
    assert a != helpers.em_fit(v, e, start, accelerate=False)
    assert a != dataclasses.replace(a, params=a.params + 1e-9)
    assert dataclasses.replace(a, log_likelihood=np.nan) == dataclasses.replace(b, log_likelihood=np.nan)
    for name in ("params", "history"):
        with pytest.raises(ValueError, match="read-only"):
            getattr(a, name)[0] = 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.params = np.zeros(5)
    text = repr(a)
    assert text.startswith("FitResult(method='EM (deconvolved)'") and f"<{a.history.size} values>" in text
    assert len(text) < 400
    with pytest.raises(TypeError):
        hash(a)


def test_a_fit_result_does_not_share_the_callers_array():
    p = np.array([0.0, 1.0, 0.0, 2.0, 0.5])
    res = FitResult(p, -1.0, 1, True, "test")
    p[0] = 99.0
    assert res.params[0] == 0.0
