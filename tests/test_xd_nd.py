"""The D-dimensional extreme deconvolution (xdtutorial.xd): the textbook equations, the 1-D case,
known truths, honest flags, bounded memory and the validation of every argument."""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest

import helpers
from xdtutorial import xd
from xdtutorial.errors import EMConvergenceWarning


def correlated_errors(rng: np.random.Generator, n: int, sig_range=(0.2, 1.0), rho_max=0.6) -> np.ndarray:
    """(n, 3, 3) error covariances: independent sigmas, a correlation between the first two axes."""
    sig = rng.uniform(*sig_range, (n, 3))
    rho = rng.uniform(-rho_max, rho_max, n)
    s = np.zeros((n, 3, 3))
    s[:, np.arange(3), np.arange(3)] = sig**2
    s[:, 0, 1] = s[:, 1, 0] = rho * sig[:, 0] * sig[:, 1]
    return s


def add_errors(rng: np.random.Generator, values: np.ndarray, s: np.ndarray) -> np.ndarray:
    return values + np.einsum("nij,nj->ni", np.linalg.cholesky(s), rng.standard_normal(values.shape))


TRUTH_AMP = np.array([0.35, 0.65])
TRUTH_MEAN = np.array([[2.0, -1.0, -45.0], [-3.0, 4.0, 10.0]])
TRUTH_COV = np.array([np.diag([0.3, 0.3, 4.0]), [[9.0, 3.0, 0.0], [3.0, 16.0, 20.0], [0.0, 20.0, 900.0]]])


def mock(n: int, seed: int):
    rng = np.random.default_rng(seed)
    values, labels = xd.sample(TRUTH_AMP, TRUTH_MEAN, TRUTH_COV, n, rng=rng)
    s = correlated_errors(rng, n)
    return add_errors(rng, values, s), s, labels


START = (
    np.array([0.5, 0.5]),
    np.array([[1.0, 0.0, -40.0], [0.0, 0.0, 0.0]]),
    np.array([np.eye(3), np.diag([10, 10, 500.0])]),
)


# ----------------------------------------------------------------------------- the equations
def textbook_step(x, s, amp, mean, cov):
    """BHR11 section 3.1 written star by star with explicit inverses (slow, obviously right)."""
    n, _ = x.shape
    k = amp.size
    logp = np.empty((n, k))
    b = np.empty((n, k, x.shape[1]))
    big_b = np.empty((n, k, x.shape[1], x.shape[1]))
    for i in range(n):
        for j in range(k):
            t = cov[j] + s[i]
            tinv = np.linalg.inv(t)
            r = x[i] - mean[j]
            logp[i, j] = np.log(amp[j]) - 0.5 * (np.log(np.linalg.det(2 * np.pi * t)) + r @ tinv @ r)
            b[i, j] = mean[j] + cov[j] @ tinv @ r
            big_b[i, j] = cov[j] - cov[j] @ tinv @ cov[j]
    lse = np.log(np.exp(logp).sum(axis=1))
    q = np.exp(logp - lse[:, None])
    qj = q.sum(axis=0)
    new_amp = qj / n
    new_mean = np.einsum("nk,nkd->kd", q, b) / qj[:, None]
    diff = new_mean[None] - b
    new_cov = np.einsum("nk,nkde->kde", q, diff[..., :, None] * diff[..., None, :] + big_b) / qj[:, None, None]
    return new_amp, new_mean, new_cov, lse.sum()


def test_step_is_the_textbook_em_step():
    x, s, _ = mock(60, 1)
    state = START
    for _ in range(5):
        new = xd.step(*state, x, s)
        ref = textbook_step(x, s, *state)
        for got, want in zip(new, ref, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
        assert xd.log_likelihood(*state, x, s) == pytest.approx(ref[3], rel=1e-13)
        state = new[:3]


def test_responsibilities_are_bayes_rule():
    x, s, _ = mock(40, 2)
    q = xd.responsibilities(*START, x, s)
    amp, mean, cov = START
    dens = np.array(
        [[amp[j] * np.exp(-0.5 * (x[i] - mean[j]) @ np.linalg.solve(cov[j] + s[i], x[i] - mean[j]))
          / np.sqrt(np.linalg.det(2 * np.pi * (cov[j] + s[i]))) for j in range(2)] for i in range(40)]
    )
    np.testing.assert_allclose(q, dens / dens.sum(axis=1, keepdims=True), rtol=1e-10, atol=1e-300)


def test_fit_is_monotone_and_independent_of_the_block_size():
    x, s, _ = mock(500, 3)
    a = xd.fit(x, s, *START, tol=1e-11)
    b = xd.fit(x, s, *START, tol=1e-11, block_size=37)
    assert a.converged and b.converged
    h = a.history
    assert np.all(np.diff(h) >= -1e-13 * np.abs(h).max())  # EM never lowers ln L (up to rounding)
    np.testing.assert_allclose(b.means, a.means, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(b.covariances, a.covariances, rtol=1e-9, atol=1e-9)
    assert a.log_likelihood == pytest.approx(xd.log_likelihood(a.amplitudes, a.means, a.covariances, x, s), rel=1e-13)
    assert a.mean_log_likelihood * 500 == pytest.approx(a.log_likelihood, rel=1e-15)


def test_fixed_components_stay_fixed():
    x, s, _ = mock(400, 4)
    amp, mean, cov = START
    r = xd.fit(x, s, amp, mean, cov, fixmean=[True, False], fixcovar=[False, True], tol=1e-9)
    np.testing.assert_array_equal(r.means[0], mean[0])
    np.testing.assert_array_equal(r.covariances[1], cov[1])
    assert not np.allclose(r.means[1], mean[1]) and not np.allclose(r.covariances[0], cov[0])
    r = xd.fit(x, s, np.array([0.2, 0.8]), mean, cov, fixamp=[True, False], tol=1e-9)
    assert r.amplitudes[0] == 0.2 and r.amplitudes.sum() == pytest.approx(1.0, abs=1e-15)


# ----------------------------------------------------------------------------- the 1-D case
def test_one_dimension_two_components_is_em_fit_on_ngc288(ngc288):
    """D = 1, K = 2 reaches em_fit's optimum on NGC 288 (the optima, not the iteration paths)."""
    v, e = ngc288.velocity, ngc288.velocity_error
    m1, s1, m2, s2, f = helpers.initial_guess(v, ngc288.distance)
    r = xd.fit(v[:, None], (e**2)[:, None, None], [f, 1 - f], [[m1], [m2]], [[[s1**2]], [[s2**2]]], tol=1e-13,
               max_iter=100_000)
    ref = helpers.em_fit(v, e, [m1, s1, m2, s2, f], tol=1e-13, max_iter=100_000)
    assert r.converged and ref.converged
    got = [r.means[0, 0], np.sqrt(r.covariances[0, 0, 0]), r.means[1, 0], np.sqrt(r.covariances[1, 0, 0]),
           r.amplitudes[0]]
    np.testing.assert_allclose(got, ref.params, rtol=0, atol=1e-5)
    assert r.log_likelihood == pytest.approx(ref.log_likelihood, rel=1e-9)
    # and the two codes' densities are the same function (an independent evaluation)
    assert r.log_likelihood == pytest.approx(helpers.log_likelihood(np.array(got), v, e), rel=1e-12)


# ----------------------------------------------------------------------------- known truth
def test_mock_with_known_truth_is_recovered():
    """Means, intrinsic covariances and amplitudes within 4 standard errors of the truth.

    Standard errors (well-separated components, so the mixture's overlap adds little):
    a component mean averages N_k = alpha_k N stars of total covariance V_k + S_i, so
    SE(m_k) ~ sqrt(diag(V_k + <S>) / N_k); a variance estimated from N_k Gaussian values of total
    variance sigma^2 + <s^2> has SE ~ sqrt(2 / N_k) (sigma^2 + <s^2>) (the deconvolution subtracts
    the known errors, the scatter of the total remains), and a covariance element
    SE(V_ab) ~ sqrt((T_aa T_bb + T_ab^2) / N_k) (Wishart) with T = V + <S>; an amplitude is a
    binomial fraction, SE(alpha) = sqrt(alpha (1 - alpha) / N).
    """
    n = 6000
    x, s, _ = mock(n, 5)
    r = xd.fit(x, s, *START, tol=1e-9)
    assert r.converged
    order = np.argsort(r.means[:, 2])  # component 0 is the one at v = -45
    s_mean = s.mean(axis=0)
    for j, jj in enumerate(order):
        nk = TRUTH_AMP[j] * n
        t = TRUTH_COV[j] + s_mean
        se_mean = np.sqrt(np.diag(t) / nk)
        assert np.all(np.abs(r.means[jj] - TRUTH_MEAN[j]) < 4 * se_mean), (j, r.means[jj], se_mean)
        se_cov = np.sqrt((np.outer(np.diag(t), np.diag(t)) + t**2) / nk)
        assert np.all(np.abs(r.covariances[jj] - TRUTH_COV[j]) < 4 * se_cov), (j, r.covariances[jj], se_cov)
        se_amp = np.sqrt(TRUTH_AMP[j] * (1 - TRUTH_AMP[j]) / n)
        assert abs(r.amplitudes[jj] - TRUTH_AMP[j]) < 4 * se_amp
    # and ignoring the errors inflates the covariance of the narrow component by about <S>
    naive = xd.fit(x, np.zeros_like(s), *START, tol=1e-9)
    j0 = np.argsort(naive.means[:, 2])[0]
    inflation = np.diag(naive.covariances[j0] - TRUTH_COV[0])
    se = np.sqrt(2 / (TRUTH_AMP[0] * n)) * np.diag(TRUTH_COV[0] + s_mean)
    assert np.all(np.abs(inflation - np.diag(s_mean)) < 4 * se)


# ----------------------------------------------------------------------------- honest flags
def test_max_iter_warns_with_the_partial_result():
    x, s, _ = mock(200, 6)
    with pytest.warns(EMConvergenceWarning, match="max_iter=3"):
        r = xd.fit(x, s, *START, max_iter=3)
    assert not r.converged and r.n_iter == 3 and r.history.shape == (4,)
    assert r.log_likelihood == pytest.approx(xd.log_likelihood(r.amplitudes, r.means, r.covariances, x, s), rel=1e-13)


def test_a_fit_that_never_leaves_its_start_is_not_converged():
    x, s, _ = mock(300, 7)
    best = xd.fit(x, s, *START, tol=1e-12)
    assert best.converged
    with pytest.warns(EMConvergenceWarning, match="never left its start"):
        again = xd.fit(x, s, best.amplitudes, best.means, best.covariances, tol=1e-6)
    assert not again.converged


def test_identical_components_are_a_saddle_not_an_optimum():
    x, s, _ = mock(300, 8)
    mean = np.tile(x.mean(axis=0), (2, 1))
    cov = np.tile(np.cov(x.T), (2, 1, 1))
    with pytest.warns(EMConvergenceWarning, match="saddle|never left"):
        r = xd.fit(x, s, [0.5, 0.5], mean, cov, tol=1e-10)
    assert not r.converged


def test_a_collapsing_component_is_named():
    rng = np.random.default_rng(9)
    x = np.vstack([rng.normal(size=(50, 2)), np.tile([5.0, 5.0], (3, 1))])  # 3 identical stars, no errors
    s = np.zeros((53, 2, 2))
    with pytest.warns(EMConvergenceWarning, match="component 1 collapsed"):
        r = xd.fit(x, s, [0.9, 0.1], [[0.0, 0.0], [5.0, 5.0]], [np.eye(2), 0.1 * np.eye(2)], max_iter=5000)
    assert not r.converged and np.isfinite(r.log_likelihood)


# ----------------------------------------------------------------------------- the result record
def test_result_is_read_only_comparable_and_printable():
    x, s, _ = mock(100, 10)
    r = xd.fit(x, s, *START, tol=1e-8)
    with pytest.raises(ValueError, match="read-only"):
        r.means[0, 0] = 1.0
    with pytest.raises(AttributeError):
        r.converged = False
    assert r == xd.fit(x, s, *START, tol=1e-8) and r != xd.fit(x, s, *START, tol=1e-4)
    with pytest.raises(TypeError):
        hash(r)
    assert repr(r).startswith("XDResult(K=2, D=3, ") and "array" not in repr(r)


# ----------------------------------------------------------------------------- memory
def test_memory_is_linear_in_the_stars_with_a_bounded_working_set():
    """Peak memory of a fit: the checked copies of the inputs plus blocks of at most BLOCK_BYTES."""
    rng = np.random.default_rng(11)
    n = 200_000
    x = rng.normal(size=(n, 3))
    s = np.tile(0.1 * np.eye(3), (n, 1, 1))
    start = (np.array([0.5, 0.5]), np.array([[0.5, 0, 0], [-0.5, 0, 0]]), np.tile(np.eye(3), (2, 1, 1)))
    tracemalloc.start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EMConvergenceWarning)
        xd.fit(x, s, *start, max_iter=2)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    inputs = x.nbytes + s.nbytes
    # the copies of X and Xcov, the symmetry check's temporaries (2 x Xcov), eigenvalues, and blocks
    assert peak < 4 * inputs + 3 * xd.BLOCK_BYTES, (peak / 2**20, inputs / 2**20)


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda a: a.update(X=a["X"][:, :2]), ValueError, r"Xcov must be of shape \(N, D, D\) = \(50, 2, 2\)"),
        (lambda a: a.update(X=a["X"][:, 0]), ValueError, "X must be an array of 2 dimensions"),
        (lambda a: a["X"].__setitem__((7, 1), np.nan), ValueError, r"X must be finite.*element \(7, 1\)"),
        (lambda a: a["Xcov"].__setitem__((4, 0, 1), 0.3), ValueError, r"Xcov\[4\] must be a symmetric matrix.*star 4"),
        (lambda a: a["Xcov"].__setitem__(12, -np.eye(3)), ValueError, r"Xcov\[12\] must be a positive semi-definite"),
        (lambda a: a.update(amplitudes=[0.5, 0.6]), ValueError, "amplitudes must be weights summing to 1.*divide"),
        (lambda a: a.update(amplitudes=[1.0, 0.0]), ValueError, "amplitudes must be positive"),
        (lambda a: a.update(amplitudes=[0.2, 0.3, 0.5]), ValueError, r"means must be of shape \(K, D\) = \(3, 3\)"),
        (lambda a: a.update(means=a["means"][:, :2]), ValueError, r"means must be of shape \(K, D\) = \(2, 3\)"),
        (lambda a: a.update(covariances=a["covariances"][:1]), ValueError, r"covariances must be of shape"),
        (lambda a: a.update(covariances=np.array([np.eye(3), np.diag([1, 0, 1.0])])), ValueError,
         r"covariances\[1\] must be a positive definite matrix.*component 1"),
        (lambda a: a.update(fixamp="yes"), TypeError, "fixamp must be None, True/False, or a sequence of K = 2"),
        (lambda a: a.update(fixmean=[True]), TypeError, "fixmean must be"),
        (lambda a: a.update(tol=-1.0), ValueError, "tol must be"),
        (lambda a: a.update(max_iter=2.5), TypeError, "max_iter must be an integer"),
        (lambda a: a.update(X=np.ma.masked_invalid(a["X"])), TypeError, "masked arrays are refused"),
        (lambda a: a.update(Xcov=None), TypeError, "Xcov must be an array"),
    ],
)
def test_bad_input_is_named_with_a_fix(change, error, match):
    x, s, _ = mock(50, 12)
    args = {"X": x, "Xcov": s, "amplitudes": START[0], "means": START[1], "covariances": START[2]}
    change(args)
    with pytest.raises(error, match=match) as info:
        xd.fit(**args)
    assert "Fix:" in str(info.value)


def test_zero_errors_are_an_ordinary_gaussian_mixture():
    """With S = 0 the M-step is the textbook Gaussian-mixture EM (weighted mean and covariance)."""
    x, _, _ = mock(80, 13)
    amp, mean, cov = START
    new = xd.step(amp, mean, cov, x, np.zeros((80, 3, 3)))
    q = xd.responsibilities(amp, mean, cov, x, np.zeros((80, 3, 3)))
    for j in range(2):
        w = q[:, j]
        m = w @ x / w.sum()
        np.testing.assert_allclose(new[1][j], m, rtol=1e-10)
        np.testing.assert_allclose(new[2][j], ((x - m).T * w) @ (x - m) / w.sum(), rtol=1e-9, atol=1e-12)
