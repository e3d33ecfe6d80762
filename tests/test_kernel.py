"""The one 1-D mixture kernel (issue 17): its E- and M-steps for K components against independent
computations, with fixed means and widths, floors and caps, per-star prior weights, and its blocked
large-N form (FastEM); and the one log-sum-exp and information-matrix inversion of _numerics."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats
from scipy.optimize import minimize_scalar

import helpers
from xdtutorial import xd
from xdtutorial._em_fast import FastEM
from xdtutorial._numerics import invert_information, logsumexp
from xdtutorial.em import _em_update
from xdtutorial.model import _mixture_e_step, _mixture_em_step, _mixture_m_step


def _data(n: int, seed: int, k: int = 3):
    """A K-component mock: means 0, 15, 40 ..., widths 2, 8, 20 ..., errors 0.5-4 km/s."""
    rng = np.random.default_rng(seed)
    mu = np.array([0.0, 15.0, 40.0, -30.0])[:k]
    sig = np.array([2.0, 8.0, 20.0, 5.0])[:k]
    w = np.array([0.4, 0.3, 0.2, 0.1])[:k]
    w = w / w.sum()
    label = rng.choice(k, n, p=w)
    verr = rng.uniform(0.5, 4.0, n)
    v = rng.normal(mu[label], sig[label]) + rng.normal(0.0, verr)
    return v, verr, mu + 1.0, sig * 1.3, w


def _reference_step(v, verr, mu, sig, log_w):
    """Bovy, Hogg & Roweis (2011) eq. 16 in 1-D, written the textbook way (variances, scipy's density)."""
    T = sig[:, None] ** 2 + verr**2
    logp = stats.norm.logpdf(v, mu[:, None], np.sqrt(T)) + log_w
    ll = special.logsumexp(logp, axis=0)
    q = np.exp(logp - ll)
    S = q.sum(axis=1)
    b = mu[:, None] + sig[:, None] ** 2 / T * (v - mu[:, None])
    B = sig[:, None] ** 2 - sig[:, None] ** 4 / T
    new_mu = (q * b).sum(axis=1) / S
    new_var = (q * ((b - new_mu[:, None]) ** 2 + B)).sum(axis=1) / S
    return q, ll.sum(), new_mu, new_var, S


@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("seed", [0, 1])
def test_kernel_steps_equal_the_textbook_equations(k, seed):
    v, verr, mu, sig, w = _data(300, seed, k)
    q, ll, aux = _mixture_e_step(v, verr, mu, sig, np.log(w)[:, None])
    new_mu, new_var, S = _mixture_m_step(q, aux, v, verr, mu, sig)
    q_ref, ll_ref, mu_ref, var_ref, S_ref = _reference_step(v, verr, mu, sig, np.log(w)[:, None])
    np.testing.assert_allclose(q, q_ref, rtol=1e-12, atol=1e-300)
    assert ll == pytest.approx(ll_ref, rel=1e-13)
    np.testing.assert_allclose(S, S_ref, rtol=1e-12)
    np.testing.assert_allclose(new_mu, mu_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(new_var, var_ref, rtol=1e-11)


@pytest.mark.parametrize("k", [2, 3])
def test_kernel_em_step_equals_the_d_dimensional_xd_at_d_1(k):
    """xdtutorial.xd (written for D dimensions, full covariances, its own code) at D = 1 is independent."""
    v, verr, mu, sig, w = _data(400, 7, k)
    new_mu, new_sig, new_w, ll = _mixture_em_step(v, verr, mu, sig, w)
    amp, means, cov, ll_xd = xd.step(w, mu[:, None], sig[:, None, None] ** 2, v[:, None], verr[:, None, None] ** 2)
    np.testing.assert_allclose(new_w, amp, rtol=1e-11)
    np.testing.assert_allclose(new_mu, means[:, 0], rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(new_sig**2, cov[:, 0, 0], rtol=1e-10)
    assert ll == pytest.approx(ll_xd, rel=1e-12)


def test_kernel_with_k_3_converges_to_the_maximum_of_the_likelihood():
    """Iterating the K = 3 step climbs monotonically to a point where ln L is stationary (finite differences)."""
    v, verr, mu, sig, w = _data(600, 3, 3)
    lls = []
    for _ in range(3000):
        mu, sig, w, ll = _mixture_em_step(v, verr, mu, sig, w)
        lls.append(ll)
        if len(lls) > 1 and lls[-1] - lls[-2] < 1e-11:
            break
    assert np.all(np.diff(lls) > -1e-9)

    def lnl(m, s, ww):
        return special.logsumexp(stats.norm.logpdf(v, m[:, None], np.hypot(s[:, None], verr)) + np.log(ww)[:, None],
                                 axis=0).sum()

    h = 1e-4
    for j in range(3):  # each mean and width: the central difference vanishes at the maximum
        for arr in (mu, sig):
            up, down = arr.copy(), arr.copy()
            up[j] += h
            down[j] -= h
            args_up = (up, sig, w) if arr is mu else (mu, up, w)
            args_down = (down, sig, w) if arr is mu else (mu, down, w)
            assert abs(lnl(*args_up) - lnl(*args_down)) / (2 * h) < 1e-2


def test_per_star_prior_weights_enter_as_bayes_rule():
    """The distance-aware model's per-star prior: q_ik proportional to w_ik N_ik, star by star."""
    v, verr, mu, sig, _ = _data(200, 4, 3)
    rng = np.random.default_rng(5)
    w = rng.dirichlet(np.ones(3), size=200).T  # (K, n), a different prior for every star
    q, ll, _ = _mixture_e_step(v, verr, mu, sig, np.log(w))
    dens = w * stats.norm.pdf(v, mu[:, None], np.hypot(sig[:, None], verr))
    np.testing.assert_allclose(q, dens / dens.sum(axis=0), rtol=1e-12)
    assert ll == pytest.approx(np.log(dens.sum(axis=0)).sum(), rel=1e-13)


def test_a_fixed_mean_gives_the_maximum_likelihood_width_about_it():
    """One Gaussian (K = 1) with its mean held: EM converges to the width that maximises ln L (scipy)."""
    v, verr, _, _, _ = _data(300, 8, 1)
    m = 1.7
    mu, sig = np.array([m]), np.array([5.0])
    for _ in range(2000):
        q, _, aux = _mixture_e_step(v, verr, mu, sig, np.zeros((1, 1)))
        mu, var, _ = _mixture_m_step(q, aux, v, verr, mu, sig, fix_mean={0: m})
        sig = np.sqrt(var)
    assert mu[0] == m
    best = minimize_scalar(lambda s: -stats.norm.logpdf(v, m, np.hypot(s, verr)).sum(), bounds=(0.01, 30),
                           method="bounded", options={"xatol": 1e-10})
    assert sig[0] == pytest.approx(best.x, rel=1e-6)


@pytest.mark.parametrize("width", [0.0, 0.5, 3.0])
def test_a_fixed_width_gives_the_error_weighted_mean_in_one_step(width):
    """With the width held, the mean's conditional maximum is the error-weighted mean (also at width 0)."""
    v, verr, _, _, _ = _data(300, 9, 1)
    mu, sig = np.array([10.0]), np.array([width])
    q, _, aux = _mixture_e_step(v, verr, mu, sig, np.zeros((1, 1)))
    new_mu, var, _ = _mixture_m_step(q, aux, v, verr, mu, sig, fix_sigma={0: width})
    wt = 1.0 / (width**2 + verr**2)
    assert new_mu[0] == pytest.approx(np.sum(wt * v) / wt.sum(), rel=1e-13)
    assert var[0] == width**2


def test_floors_and_caps_bound_the_variances():
    v, verr, mu, sig, w = _data(300, 10, 3)
    q, _, aux = _mixture_e_step(v, verr, mu, sig, np.log(w)[:, None])
    free_mu, free_var, _ = _mixture_m_step(q, aux, v, verr, mu, sig)
    floor, cap = np.array([0.0, 1.5 * free_var[1], 0.0]), np.array([0.5 * free_var[0], np.inf, np.inf])
    new_mu, var, _ = _mixture_m_step(q, aux, v, verr, mu, sig, var_floor=floor, var_cap=cap)
    np.testing.assert_array_equal(new_mu, free_mu)
    np.testing.assert_allclose(var, [cap[0], floor[1], free_var[2]])


def test_many_states_at_once_are_each_state():
    """Leading axes of mu and sig: a stack of states, as the distance-aware batched EM runs them."""
    v, verr, mu, sig, w = _data(250, 11, 3)
    mus = np.stack([mu, mu + 2.0, mu - 1.0])
    sigs = np.stack([sig, sig * 0.7, sig * 1.5])
    log_w = np.broadcast_to(np.log(w)[None, :, None], (3, 3, v.size))
    q, ll, aux = _mixture_e_step(v, verr, mus, sigs, log_w)
    new_mu, new_var, _ = _mixture_m_step(q, aux, v, verr, mus, sigs)
    for i in range(3):
        qi, lli, auxi = _mixture_e_step(v, verr, mus[i], sigs[i], np.log(w)[:, None])
        mi, vi, _ = _mixture_m_step(qi, auxi, v, verr, mus[i], sigs[i])
        np.testing.assert_allclose(q[i], qi, rtol=1e-14)
        assert ll[i] == pytest.approx(lli, rel=1e-14)
        np.testing.assert_allclose(new_mu[i], mi, rtol=1e-14)
        np.testing.assert_allclose(new_var[i], vi, rtol=1e-14)


@pytest.mark.parametrize("n", [1000, 8192 + 17, 20000])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_blocked_large_n_form_is_the_kernel(n, seed):
    """FastEM (em_fit's path from 10^4 stars) equals the kernel with K = 2, step by step."""
    v, verr, mu, sig, w = _data(n, seed, 2)
    p = np.array([mu[0], sig[0], mu[1], sig[1], w[0]])
    fast = FastEM(v, verr**2)
    for _ in range(5):
        reference, ll_ref = _em_update(p, v, verr)
        new, ll = fast.update(p)
        np.testing.assert_allclose(new, reference, rtol=1e-11, atol=1e-12)
        assert ll == pytest.approx(ll_ref, rel=1e-13)
        p = reference


# ----------------------------------------------------------------------------- _numerics


@settings(max_examples=60, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 5), st.integers(1, 40)),
    scale=st.floats(1e-3, 1e3),
    shift=st.floats(-700, 700),
    seed=st.integers(0, 2**31),
)
def test_logsumexp_with_weights_is_scipys_logsumexp_and_softmax(shape, scale, shift, seed):
    a = np.random.default_rng(seed).normal(shift, scale, shape)
    lse, weights = logsumexp(a.copy(), axis=0, return_weights=True)
    np.testing.assert_allclose(lse, special.logsumexp(a, axis=0), rtol=1e-14, atol=1e-13)
    np.testing.assert_allclose(weights, special.softmax(a, axis=0), rtol=1e-12, atol=1e-300)
    np.testing.assert_array_equal(logsumexp(a, axis=0), special.logsumexp(a, axis=0))


def test_logsumexp_with_weights_needs_one_axis():
    with pytest.raises(TypeError, match="one int axis"):
        logsumexp(np.zeros((2, 2)), axis=(0, 1), return_weights=True)


@pytest.mark.parametrize("seed", range(4))
def test_invert_information_inverts_a_positive_definite_matrix(seed):
    a = np.random.default_rng(seed).normal(size=(5, 5))
    info = a @ a.T + 0.1 * np.eye(5)
    cov, problem = invert_information(info)
    assert problem is None
    np.testing.assert_allclose(cov @ info, np.eye(5), atol=1e-9)


@pytest.mark.parametrize(
    ("info", "problem"),
    [
        (np.diag([1.0, -1.0]), "not positive definite"),
        (np.zeros((2, 2)), "not positive definite"),
        (np.array([[1.0, np.nan], [np.nan, 1.0]]), "not finite"),
        (np.array([[np.inf, 0.0], [0.0, 1.0]]), "not finite"),
    ],
)
def test_invert_information_reports_what_it_cannot_invert(info, problem):
    assert invert_information(info) == (None, problem)


def test_fisher_uncertainties_use_the_inverse_information(ngc288, ngc288_mle):
    """The 1-sigma errors are the square roots of the diagonal of the inverse information (independent inverse)."""
    from xdtutorial._numerics import central_hessian

    v, e = ngc288.velocity, ngc288.velocity_error
    p = ngc288_mle
    h = 1e-4 * np.maximum(np.abs(p), 1.0)
    h[4] = 1e-4 * min(p[4], 1.0 - p[4])
    info = -central_hessian(lambda pts: helpers.log_likelihood(pts, v, e), p, h)
    np.testing.assert_allclose(helpers.fisher_uncertainties(p, v, e), np.sqrt(np.diag(np.linalg.inv(info))),
                               rtol=1e-8)
