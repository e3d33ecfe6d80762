"""Expectation-maximisation: monotonicity, fixed point, recovery of a known truth."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import synthetic
from hypothesis import given, settings
from hypothesis import strategies as st

import helpers
from xdtutorial._em_fast import FastEM

TRUTH = np.array([-44.5, 2.7, -10.4, 41.9, 0.8])


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(20, 300),
    start=st.tuples(
        st.floats(-80, 40), st.floats(0.1, 30), st.floats(-80, 40), st.floats(0.0, 60), st.floats(0.05, 0.95)
    ),
    deconvolve=st.booleans(),
    accelerate=st.booleans(),
)
def test_em_never_decreases_the_likelihood(seed, n, start, deconvolve, accelerate):
    """Plain EM and SQUAREM (which keeps an extrapolation only if ln L does not drop)."""
    v, verr, _ = synthetic(TRUTH, n, (0.3, 5.0), seed)
    m1, s1, m2, ds, f = start
    init = [m1, s1, m2, s1 + ds, f]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", helpers.EMConvergenceWarning)
            res = helpers.em_fit(v, verr, init, max_iter=300, deconvolve=deconvolve, accelerate=accelerate)
    except helpers.EMFailure as err:  # a component emptied or collapsed: reported loudly, with where
        assert "lost all its stars" in str(err) or "collapsed to zero width" in str(err)
        assert err.params is not None and not err.params.flags.writeable
        return
    h = res.history
    # rounding in a sum of n terms of size |ln L|/n
    assert np.all(np.diff(h) >= -1e-10 * np.abs(h[:-1]).max())
    # and the reported likelihood is the one of the reported parameters
    if deconvolve:
        assert res.log_likelihood == pytest.approx(helpers.log_likelihood(res.params, v, verr), rel=1e-12)


def test_fast_em_equals_textbook_em_step(ngc288):
    """The blocked kernel reproduces em_step (Bovy et al. eq. 16) step by step."""
    v, e = ngc288.velocity, ngc288.velocity_error
    p = helpers.initial_guess(v, ngc288.distance)
    fast = FastEM(v, e**2)
    for _ in range(10):
        reference = helpers.em_step(p, v, e)
        new, ll = fast.step(p)
        np.testing.assert_allclose(new, reference, rtol=1e-12, atol=1e-12)
        assert ll == pytest.approx(helpers.log_likelihood(p, v, e), rel=1e-13)
        p = reference


def test_em_fixed_point_matches_minimize_on_ngc288(ngc288, ngc288_mle):
    v, e = ngc288.velocity, ngc288.velocity_error
    res = helpers.em_fit(v, e, helpers.initial_guess(v, ngc288.distance))
    assert res.converged
    np.testing.assert_allclose(res.params, ngc288_mle, rtol=0, atol=1e-4)
    # the fixed point is a fixed point
    np.testing.assert_allclose(helpers.em_step(res.params, v, e), res.params, rtol=0, atol=1e-4)


def test_em_recovers_known_truth_within_uncertainties():
    """4-sigma per parameter: with 5 parameters a false failure has probability ~3e-4."""
    v, e, _ = synthetic(TRUTH, 3000, (0.5, 4.0), seed=7)
    res = helpers.em_fit(v, e, [-40.0, 5.0, 0.0, 30.0, 0.5])
    sigma = helpers.fisher_uncertainties(res.params, v, e)
    z = (res.params - TRUTH) / sigma
    assert np.all(np.abs(z) < 4), z


def test_fisher_uncertainties_match_the_scatter_of_fits():
    """Across repeated mock data sets the fits scatter as the curvature predicts (within 25%)."""
    fits, sig = [], []
    for seed in range(60):
        v, e, _ = synthetic(TRUTH, 1000, (0.5, 4.0), seed=1000 + seed)
        res = helpers.em_fit(v, e, TRUTH)
        fits.append(res.params)
        sig.append(helpers.fisher_uncertainties(res.params, v, e))
    ratio = np.std(fits, axis=0, ddof=1) / np.mean(sig, axis=0)
    # with 60 fits the sample std has a ~9% relative error: 25% is ~3 of those
    assert np.all(np.abs(ratio - 1) < 0.25), ratio


def test_naive_em_overestimates_cluster_dispersion():
    """Errors comparable to the dispersion: ignoring them inflates sigma1 to ~sqrt(s^2 + <e^2>)."""
    truth = np.array([0.0, 2.0, 20.0, 40.0, 0.7])
    v, e, _ = synthetic(truth, 4000, (1.5, 3.0), seed=3)
    xd = helpers.em_fit(v, e, truth)
    naive = helpers.em_fit(v, e, truth, deconvolve=False)
    expected = np.sqrt(truth[1] ** 2 + np.mean(e**2))  # 3.0 km/s for these errors
    assert xd.params[1] == pytest.approx(truth[1], abs=0.25)
    assert naive.params[1] == pytest.approx(expected, abs=0.25)
    assert naive.params[1] > xd.params[1] + 0.5


def test_em_step_keeps_labels_canonical():
    v, e, _ = synthetic(TRUTH, 500, (0.5, 2.0), seed=1)
    start = [-10.0, 40.0, -44.0, 41.0, 0.2]  # "cluster" start on the field and vice versa
    p = helpers.em_fit(v, e, start).params
    assert p[1] <= p[3]
    assert p[0] == pytest.approx(TRUTH[0], abs=0.5)


def test_em_warns_when_not_converged_and_returns_partial_result():
    v, e, _ = synthetic(TRUTH, 200, (0.5, 2.0), seed=2)
    with pytest.warns(helpers.EMConvergenceWarning, match="did not converge in 2 steps"):
        res = helpers.em_fit(v, e, [-40, 5, 0, 30, 0.5], max_iter=2)
    assert not res.converged and res.n_iter == 2 and len(res.history) == 3


@pytest.mark.parametrize(
    "start", [[0, 3, 0, 2, 0.5], [0, 1, 0, 2, 1.0], [0, 0, 0, 0, 0.5], [0, 1, 0, 2]]
)
def test_em_rejects_invalid_starts(start):
    with pytest.raises(ValueError):
        helpers.em_fit([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], start)


def test_naive_em_reports_a_collapsed_component():
    v = np.array([0.0, 10.0, 20.0, 30.0, 40.0])
    with pytest.raises(helpers.EMFailure, match="collapsed to zero width"):
        helpers.em_fit(v, np.ones(5), [0.0, 0.5, 20.0, 12.0, 0.2], deconvolve=False)
    # a start of zero width without errors is refused before EM: its likelihood is infinite
    with pytest.raises(ValueError, match=r"sigma1 = 0 and verr\[0\] = 0"):
        helpers.em_fit(v, np.ones(5), [0.0, 0.0, 20.0, 12.0, 0.2], deconvolve=False)


def test_em_reports_an_emptied_component():
    v = np.array([0.0, 0.1, -0.1, 0.05, 0.02])  # em_fit needs 5 stars, one per parameter
    with pytest.raises(helpers.EMFailure, match="lost all its stars"):
        helpers.em_fit(v, np.full(5, 0.1), [0.0, 0.1, 1e4, 0.2, 0.5])


def test_minimize_fit_reports_function_evaluations(ngc288, ngc288_mle):
    v, e = ngc288.velocity, ngc288.velocity_error
    res = helpers.minimize_fit(v, e, helpers.initial_guess(v, ngc288.distance), method="Powell")
    assert res.n_iter > 10
    assert res.log_likelihood <= helpers.log_likelihood(ngc288_mle, v, e) + 1e-9


def test_sample_mock_follows_the_model():
    rng = np.random.default_rng(11)
    verr = np.full(200_000, 2.0)
    v, member = helpers.sample_mock(TRUTH, verr, rng=rng, return_labels=True)
    n = verr.size
    # binomial member count within 5 standard deviations
    assert abs(member.sum() - TRUTH[4] * n) < 5 * np.sqrt(n * TRUTH[4] * (1 - TRUTH[4]))
    assert v[member].mean() == pytest.approx(TRUTH[0], abs=0.05)
    assert v[member].std() == pytest.approx(np.hypot(TRUTH[1], 2.0), rel=0.01)
    assert v[~member].std() == pytest.approx(np.hypot(TRUTH[3], 2.0), rel=0.01)


def test_multi_start_finds_the_global_maximum_and_reports_traps(ngc288, ngc288_mle):
    v, e = ngc288.velocity, ngc288.velocity_error
    starts = helpers.random_starts(v, 16, rng=np.random.default_rng(0))
    assert starts.shape == (16, 5) and np.all(np.isfinite(helpers.log_prior(starts)))
    results = helpers.em_multi_start(v, e, starts, max_iter=500)
    best = max(results, key=lambda r: r.log_likelihood)
    np.testing.assert_allclose(best.params, ngc288_mle, atol=1e-3)
    # broad starts all reach it; narrow starts on field stars can get trapped lower
    assert all(r.log_likelihood == pytest.approx(best.log_likelihood, abs=1e-4) for r in results[:8])
    assert all(r.log_likelihood <= best.log_likelihood + 1e-6 for r in results)
    assert any(r.log_likelihood < best.log_likelihood - 100 for r in results[8:])


def test_fisher_uncertainties_refuse_a_point_that_is_not_a_maximum(ngc288):
    v, e = ngc288.velocity, ngc288.velocity_error
    with pytest.raises(ValueError, match="not positive definite"):
        helpers.fisher_uncertainties(helpers.initial_guess(v, ngc288.distance), v, e)


def test_em_fit_gives_the_same_fit_with_the_textbook_step_and_the_fast_kernel(ngc288, monkeypatch):
    """Below FAST_EM_MIN_STARS em_fit iterates em_step's own update; above it the fast kernel."""
    import xdtutorial.em

    v, e = ngc288.velocity, ngc288.velocity_error
    start = helpers.initial_guess(v, ngc288.distance)
    results = []
    for threshold in (0, 10**9):  # always fast, never fast
        monkeypatch.setattr(xdtutorial.em, "FAST_EM_MIN_STARS", threshold)
        results.append(helpers.em_fit(v, e, start))
    fast, textbook = results
    assert fast.n_iter == textbook.n_iter
    np.testing.assert_allclose(fast.params, textbook.params, rtol=0, atol=1e-10)
    np.testing.assert_allclose(fast.history, textbook.history, rtol=1e-13)


def test_multi_start_reports_a_failed_start_in_error_not_in_method():
    v = np.array([0.0, 0.1, -0.1, 0.05, 0.02])
    good, hopeless = [0.0, 0.05, 0.0, 0.2, 0.5], [0.0, 0.1, 1e4, 0.2, 0.5]
    ok, failed = helpers.em_multi_start(v, np.full(5, 0.1), [good, hopeless], max_iter=50)
    assert ok.error is None
    assert failed.method == "EM (deconvolved)" and "lost all its stars" in failed.error
    assert failed.log_likelihood == -np.inf and failed.converged is False and failed.n_iter is None
    np.testing.assert_array_equal(failed.params, hopeless)


def test_em_step_reports_an_emptied_component():
    with pytest.raises(helpers.EMFailure, match="lost all its stars"):
        helpers.em_step([0.0, 0.1, 1e4, 0.2, 0.5], [0.0, 0.1, -0.1, 0.05], np.full(4, 0.1))


def test_fit_options_are_keyword_only(ngc288):
    v, e = ngc288.velocity, ngc288.velocity_error
    start = helpers.initial_guess(v, ngc288.distance)
    with pytest.raises(TypeError):
        helpers.em_fit(v, e, start, 1e-9)
    with pytest.raises(TypeError):
        helpers.minimize_fit(v, e, start, "Powell")
    with pytest.raises(TypeError):
        helpers.fisher_uncertainties(start, v, e, 1e-3)


def test_random_starts_take_a_seed_or_a_generator():
    v = np.linspace(-50.0, 50.0, 101)
    np.testing.assert_array_equal(
        helpers.random_starts(v, 6, rng=3), helpers.random_starts(v, 6, rng=np.random.default_rng(3))
    )


@pytest.mark.parametrize("method", ["Nelder-Mead", "Powell", "CG", "BFGS", "L-BFGS-B", "TNC", "COBYLA", "SLSQP"])
def test_minimize_fit_runs_every_method_without_options(ngc288, method):
    # the option check's dry run must not add options of its own (TNC knows no maxiter)
    v, e = ngc288.velocity, ngc288.velocity_error
    start = np.round(helpers.initial_guess(v, ngc288.distance), 3)
    with warnings.catch_warnings():  # L-BFGS-B and TNC never leave this start: tests/test_faults_more.py
        warnings.simplefilter("ignore", helpers.EMConvergenceWarning)
        res = helpers.minimize_fit(v, e, start, method=method)
    assert np.isfinite(res.log_likelihood) and method in res.method
