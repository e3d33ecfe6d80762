"""SQUAREM-accelerated EM (em_fit's default) and the blocked fast kernel.

The properties: the same fixed point as plain EM, a likelihood that never
decreases, fewer EM steps where EM is slow, a fallback that keeps both true
when the extrapolation overshoots, and a fast kernel equal to the textbook step.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import synthetic
from hypothesis import given, settings
from hypothesis import strategies as st

import helpers
import xdtutorial._em_fast as fast
import xdtutorial.em
from xdtutorial._em_fast import BLOCK, FastEM, _sum_log, squarem
from xdtutorial.em import _em_update
from xdtutorial.model import _canonical

TRUTH = np.array([-44.5, 2.7, -10.4, 41.9, 0.8])
# Two broad, overlapping components of similar width: EM's rate of convergence is close to 1.
SLOW = np.array([0.0, 8.0, 3.0, 10.0, 0.5])


def one_gaussian(n: int = 500, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Data from a single Gaussian: a two-component fit drives frac1 to the edge of (0, 1)."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 3.0, n), np.full(n, 1.0)


def monotone(history: np.ndarray) -> bool:
    # rounding in a sum of n terms of size |ln L| / n
    return bool(np.all(np.diff(history) >= -1e-10 * np.abs(history).max()))


def test_squarem_reaches_the_maximum_likelihood_of_ngc288(ngc288, ngc288_mle):
    """Known answer: the optimum found by a tightly converged Nelder-Mead (conftest)."""
    v, e = ngc288.velocity, ngc288.velocity_error
    start = helpers.initial_guess(v, ngc288.distance)
    fast_fit, plain = (helpers.em_fit(v, e, start, accelerate=a) for a in (True, False))
    assert fast_fit.converged and plain.converged
    # em_fit's documented accuracy at tol=1e-12: within 1e-4 of the optimum
    np.testing.assert_allclose(fast_fit.params, ngc288_mle, rtol=0, atol=1e-4)
    np.testing.assert_allclose(fast_fit.params, plain.params, rtol=0, atol=1e-4)
    np.testing.assert_allclose(helpers.em_step(fast_fit.params, v, e), fast_fit.params, rtol=0, atol=1e-4)
    assert fast_fit.log_likelihood == pytest.approx(helpers.log_likelihood(ngc288_mle, v, e), rel=1e-10)


@pytest.mark.parametrize("case", ["slow", "one Gaussian", "NGC 288-like"])
def test_squarem_and_plain_em_stop_at_the_same_fixed_point(case):
    """Both stop where an EM step gains < tol per star; with tol=1e-14 both are at the fixed point."""
    if case == "one Gaussian":
        (v, e), start = one_gaussian(), np.array([0.0, 2.0, 0.5, 4.0, 0.5])
    else:
        truth = SLOW if case == "slow" else TRUTH
        v, e, _ = synthetic(truth, 800 if case == "slow" else 2000, (0.3, 5.0), seed=1)
        start = truth
    fits = [helpers.em_fit(v, e, start, tol=1e-14, max_iter=100_000, accelerate=a) for a in (True, False)]
    assert all(f.converged for f in fits)
    # the same point to far within the statistical error: where EM crawls ("slow": linear rate near 1)
    # plain EM stops ~1e-4 km/s short of the fixed point, against Fisher errors of order 1 km/s
    sd = helpers.fisher_uncertainties(fits[0].params, v, e)
    assert np.all(np.abs(fits[0].params - fits[1].params) < 1e-3 * sd), (fits[0].params - fits[1].params) / sd
    assert fits[0].log_likelihood == pytest.approx(fits[1].log_likelihood, rel=1e-12)
    # and the point is a fixed point of the textbook step
    np.testing.assert_allclose(helpers.em_step(fits[0].params, v, e), fits[0].params, rtol=0, atol=1e-5)


def test_squarem_needs_far_fewer_em_steps_where_em_is_slow():
    """EM's error shrinks by a factor close to 1 per step on overlapping components; SQUAREM's
    extrapolation removes the slowest direction of that linear convergence, so it needs a
    fraction of the steps (here fewer than half) for the same stopping rule and the same maximum."""
    v, e, _ = synthetic(SLOW, 800, (0.3, 5.0), seed=1)
    plain = helpers.em_fit(v, e, SLOW, max_iter=100_000, accelerate=False)
    fast_fit = helpers.em_fit(v, e, SLOW, max_iter=100_000)
    assert plain.converged and fast_fit.converged
    assert plain.n_iter > 1000  # the case is slow for EM
    assert fast_fit.n_iter < plain.n_iter / 2
    assert fast_fit.log_likelihood >= plain.log_likelihood - 1e-6


def test_fallback_keeps_the_likelihood_monotone_when_the_extrapolation_overshoots(monkeypatch):
    """frac1 heads for the edge of (0, 1): extrapolations land outside it (invalid) or lower."""
    verdicts = []
    original = fast._extrapolable

    def recording(p):
        verdicts.append(original(p))
        return verdicts[-1]

    monkeypatch.setattr(fast, "_extrapolable", recording)
    v, e = one_gaussian()
    start = [0.0, 2.0, 0.5, 4.0, 0.5]
    res = helpers.em_fit(v, e, start, max_iter=20_000)
    plain = helpers.em_fit(v, e, start, max_iter=20_000, accelerate=False)
    assert verdicts.count(False) > 0  # an extrapolated point outside the valid region
    # every EM step appends its ln L to the history; a rejected extrapolation was evaluated but not kept
    rejected_lower = res.n_iter + 1 - len(res.history)
    assert rejected_lower > 0
    assert monotone(res.history)
    assert res.converged and res.log_likelihood == pytest.approx(plain.log_likelihood, abs=1e-6)


def test_squarem_on_a_linear_map_is_exact_in_one_cycle():
    """For F(p) = p* + lam (p - p*), S3's step length is 1 / (1 - lam): p' = p* exactly."""
    target, lam = np.array([1.0, 2.0, 3.0, 4.0, 0.5]), 0.99

    def update(p):
        return target + lam * (p - target), -float(np.sum((p - target) ** 2))

    # a_max grows 1 -> 4 -> 16 -> 64 -> 256 >= 1 / (1 - lam) = 100: exact within five cycles
    p, history, calls, converged = squarem(update, np.array([1.5, 2.5, 2.0, 5.0, 0.6]), 1, 1e-20, 10_000)
    assert converged
    np.testing.assert_allclose(p, target, rtol=0, atol=1e-9)  # rounding of (p1 - p0) / (1 - lam)
    assert calls < 20  # plain EM: ln(1e-10) / ln(0.99) ~ 2300 steps
    assert monotone(np.array(history))


def test_n_iter_counts_every_em_step_evaluated(monkeypatch):
    calls = []

    def counting(p, v, verr):
        calls.append(1)
        return _em_update(p, v, verr)

    monkeypatch.setattr(xdtutorial.em, "_em_update", counting)
    v, e = one_gaussian()
    for accelerate in (True, False):
        calls.clear()
        res = helpers.em_fit(v, e, [0.0, 2.0, 0.5, 4.0, 0.5], max_iter=20_000, accelerate=accelerate)
        assert res.n_iter + 1 == len(calls)  # the last E-step only measures the final ln L
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", helpers.EMConvergenceWarning)
            calls.clear()
            capped = helpers.em_fit(v, e, [0.0, 2.0, 0.5, 4.0, 0.5], max_iter=7, accelerate=accelerate)
        assert capped.n_iter == 7 and len(calls) == 8 and not capped.converged


def test_accelerate_must_be_a_bool():
    v, e = one_gaussian()
    with pytest.raises(TypeError, match="accelerate"):
        helpers.em_fit(v, e, [0.0, 2.0, 0.5, 4.0, 0.5], accelerate="yes")
    with pytest.raises(TypeError, match="accelerate"):
        helpers.em_multi_start(v, e, [[0.0, 2.0, 0.5, 4.0, 0.5]], accelerate=1)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), f=st.floats(0.05, 0.95), s1=st.floats(0.2, 20.0))
def test_squarem_through_the_fast_kernel_never_decreases_the_likelihood(seed, f, s1):
    v, e, _ = synthetic(TRUTH, 12_000, (0.3, 5.0), seed)  # above FAST_EM_MIN_STARS: the blocked kernel
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", helpers.EMConvergenceWarning)
            res = helpers.em_fit(v, e, [-40.0, s1, 0.0, s1 + 30.0, f], tol=1e-10, max_iter=200)
    except FloatingPointError:
        return  # a component emptied: reported loudly, nothing to check
    assert monotone(res.history)
    assert res.log_likelihood == pytest.approx(helpers.log_likelihood(res.params, v, e), rel=1e-12)


@pytest.mark.parametrize(
    "case", ["several blocks", "labels in either order", "naive (zero errors)", "errors in m/s"]
)
def test_blocked_kernel_equals_the_textbook_step(case):
    """FastEM.update is em_step's update (Bovy et al. eq. 16) over blocks and a partial last block."""
    n = 3 * BLOCK + 123
    v, e, _ = synthetic(TRUTH, n, (0.3, 5.0), seed=5)
    p = np.array([-40.0, 5.0, 0.0, 30.0, 0.5])
    if case == "labels in either order":
        p = p[[2, 3, 0, 1, 4]] * [1, 1, 1, 1, 0] + [0, 0, 0, 0, 0.5]  # sigma1 > sigma2
    elif case == "naive (zero errors)":
        e = np.zeros_like(e)
    elif case == "errors in m/s":  # variances ~1e6-1e9: the products of _sum_log leave the safe range
        v, e, p = v * 1000, e * 1000, p * [1000, 1000, 1000, 1000, 1]
    kernel = FastEM(v, e**2)
    for _ in range(5):
        reference, ll_ref = _em_update(p, v, e)
        new, ll = kernel.update(p)
        np.testing.assert_allclose(new, reference, rtol=1e-12, atol=0)
        assert ll == pytest.approx(ll_ref, rel=1e-13)
        assert ll == pytest.approx(helpers.log_likelihood(_canonical(p), v, e), rel=1e-13)
        p = reference


def test_sum_log_is_the_sum_of_logarithms_or_declines():
    rng = np.random.default_rng(2)
    y = rng.uniform(0.01, 100.0, 1000)
    assert _sum_log(y.copy()) == pytest.approx(np.log(y).sum(), rel=1e-13, abs=1e-10)
    x = 1.0 + rng.uniform(0.0, 1.0, 1000)
    assert _sum_log(x.copy(), levels=9) == pytest.approx(np.log(x).sum(), rel=1e-13)
    with np.errstate(over="ignore"):
        assert _sum_log(np.full(64, 1e12)) is None  # 32 factors of 1e12 overflow the safe range
