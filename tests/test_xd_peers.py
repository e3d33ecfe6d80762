"""xdtutorial.xd against the two peer codes, from the same start on the same data.

astroML's ``XDGMM`` always starts from a scikit-learn fit, so its EM step (``_EMstep``, the
BHR11 update) is driven here from our start with astroML's own stopping rule.  Bovy's
``extreme_deconvolution`` (C, not on PyPI) is used when installed and skipped otherwise.
"""

from __future__ import annotations

import numpy as np
import pytest

from xdtutorial import xd


def data(n: int, seed: int):
    """Three 2-D components with correlated, heteroscedastic errors (astroML loops over stars: small n)."""
    rng = np.random.default_rng(seed)
    amp = np.array([0.2, 0.5, 0.3])
    mean = np.array([[0.0, 0.0], [4.0, 1.0], [-3.0, 5.0]])
    cov = np.array([[[0.5, 0.2], [0.2, 0.4]], [[2.0, -0.8], [-0.8, 1.5]], [[3.0, 0.0], [0.0, 0.6]]])
    values, _ = xd.sample(amp, mean, cov, n, rng=rng)
    sig = rng.uniform(0.2, 1.2, (n, 2))
    rho = rng.uniform(-0.7, 0.7, n)
    s = np.einsum("ni,nj->nij", sig, sig) * np.where(np.eye(2, dtype=bool), 1.0, rho[:, None, None])
    x = values + np.einsum("nij,nj->ni", np.linalg.cholesky(s), rng.standard_normal((n, 2)))
    return x, s


START = (np.full(3, 1 / 3), np.array([[1.0, 0.0], [3.0, 0.0], [-2.0, 4.0]]), np.tile(np.eye(2), (3, 1, 1)))


def _astroml(start):
    g = pytest.importorskip("astroML.density_estimation").XDGMM(3)
    g.alpha, g.mu, g.V = (a.copy() for a in start)
    return g


def test_each_step_is_astroml_xdgmm_step():
    """The same map, not only the same fixed point: five EM steps of ours and of astroML."""
    x, s = data(150, 1)
    g = _astroml(START)
    state = START
    for _ in range(5):
        amp, mean, cov, ll = xd.step(*state, x, s)
        assert ll == pytest.approx(g.logL(x, s), rel=1e-12)
        g._EMstep(x, s)
        np.testing.assert_allclose(amp, g.alpha, rtol=1e-12)
        np.testing.assert_allclose(mean, g.mu, rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(cov, g.V, rtol=1e-11, atol=1e-13)
        state = (amp, mean, cov)


@pytest.mark.slow
def test_same_optimum_as_astroml_xdgmm():
    x, s = data(150, 1)
    ours = xd.fit(x, s, *START, tol=1e-12)
    assert ours.converged
    g = _astroml(START)
    ll = g.logL(x, s)
    for _ in range(20_000):  # astroML's fit loop, from our start, tol on the total ln L
        g._EMstep(x, s)
        new = g.logL(x, s)
        if new < ll + 1e-12 * len(x):
            break
        ll = new
    assert ours.log_likelihood == pytest.approx(new, rel=1e-9)
    np.testing.assert_allclose(ours.amplitudes, g.alpha, atol=1e-6)
    np.testing.assert_allclose(ours.means, g.mu, atol=1e-6)
    np.testing.assert_allclose(ours.covariances, g.V, atol=1e-6)


def test_same_optimum_as_bovys_extreme_deconvolution():
    ed = pytest.importorskip(
        "extreme_deconvolution", reason="Bovy's extreme_deconvolution is not installed (not on PyPI; see README)"
    ).extreme_deconvolution
    x, s = data(1000, 2)
    ours = xd.fit(x, s, *START, tol=1e-12)
    assert ours.converged
    # the same number of steps from the same start: the same map, to rounding
    amp, mean, cov = (a.copy() for a in START)  # Bovy's code overwrites its start with the answer
    avg = ed(x, s, amp, mean, cov, tol=1e-12, maxiter=ours.n_iter)
    np.testing.assert_allclose(mean, ours.means, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(cov, ours.covariances, rtol=1e-9, atol=1e-11)
    # and his own stopping rule lands on the same optimum
    amp, mean, cov = (a.copy() for a in START)
    avg = ed(x, s, amp, mean, cov, tol=1e-12)
    # his returned value is the mean ln L per star, with the same normalisation as ours
    assert ours.mean_log_likelihood == pytest.approx(avg, rel=1e-6)
    assert xd.log_likelihood(amp, mean, cov, x, s) / len(x) == pytest.approx(avg, rel=1e-10)
    np.testing.assert_allclose(ours.amplitudes, amp, atol=1e-5)
    np.testing.assert_allclose(ours.means, mean, atol=1e-5)
    np.testing.assert_allclose(ours.covariances, cov, atol=1e-5)


def test_fixed_components_as_bovy_fixes_them():
    ed = pytest.importorskip(
        "extreme_deconvolution", reason="Bovy's extreme_deconvolution is not installed (not on PyPI; see README)"
    ).extreme_deconvolution
    x, s = data(1000, 3)
    fix = {"fixamp": [True, False, False], "fixmean": [False, True, False], "fixcovar": [False, False, True]}
    ours = xd.fit(x, s, *START, tol=1e-12, **fix)
    amp, mean, cov = (a.copy() for a in START)
    ed(x, s, amp, mean, cov, tol=1e-12, **fix)  # lists of Python bools (his wrapper refuses np.bool_)
    np.testing.assert_allclose(ours.amplitudes, amp, atol=1e-5)
    np.testing.assert_allclose(ours.means, mean, atol=1e-5)
    np.testing.assert_allclose(ours.covariances, cov, atol=1e-5)
