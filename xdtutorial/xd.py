"""Extreme deconvolution in D dimensions: K Gaussians, a full error covariance for every star.

The model of Bovy, Hogg & Roweis (2011, Annals of Applied Statistics 5, 1657; "BHR11"): the true
values :math:`v_i` of star :math:`i` are drawn from :math:`\\sum_j \\alpha_j\\,
\\mathcal N(m_j, V_j)`, and we observe :math:`x_i = v_i + \\epsilon_i` with
:math:`\\epsilon_i \\sim \\mathcal N(0, S_i)`, :math:`S_i` known.  Then

.. math:: p(x_i) = \\sum_j \\alpha_j\\, \\mathcal N(x_i \\mid m_j, T_{ij}), \\qquad T_{ij} = V_j + S_i,

and the EM algorithm of BHR11 section 3.1 (their projection matrices :math:`R_i` = identity) is

* E-step: :math:`q_{ij} = \\alpha_j \\mathcal N(x_i \\mid m_j, T_{ij}) / \\sum_k \\alpha_k
  \\mathcal N(x_i \\mid m_k, T_{ik})`, :math:`b_{ij} = m_j + V_j T_{ij}^{-1} (x_i - m_j)`,
  :math:`B_{ij} = V_j - V_j T_{ij}^{-1} V_j`;
* M-step: :math:`q_j = \\sum_i q_{ij}`, :math:`\\alpha_j' = q_j / N`,
  :math:`m_j' = \\sum_i q_{ij} b_{ij} / q_j`,
  :math:`V_j' = \\sum_i q_{ij} [(m_j' - b_{ij})(m_j' - b_{ij})^T + B_{ij}] / q_j`

(the form of astroML's ``XDGMM._EMstep`` and Bovy's ``proj_EM_step.c``: the covariance is taken
about the *new* mean).  Shapes follow Bovy's ``extreme_deconvolution``: data ``(N, D)``, error
covariances ``(N, D, D)``, amplitudes ``(K,)``, means ``(K, D)``, covariances ``(K, D, D)``.

How it is computed.  Per component the stars' :math:`T_{ij}` are factorised :math:`T = L L^T`
(Cholesky) with the stars in the *last* axis (``(D, D, n)`` "structure of arrays"): the loops run
over the D x D matrix elements, each a numpy operation over all the stars of a block, never over the
stars.  For D = 3 this is about 7x faster than ``np.linalg.cholesky`` on an ``(N, 3, 3)`` stack
(3 ms against 21 ms of CPU for 10^5 stars, numpy 2, one core), which loops over the stars in C
with one LAPACK call each.  The M-step needs of each star only sufficient statistics, so
:math:`b_{ij}` and :math:`B_{ij}` are never stored: with :math:`w_{ij} = T_{ij}^{-1}(x_i - m_j)`,

.. math:: q_j (m_j' - m_j) = V_j \\textstyle\\sum_i q_{ij} w_{ij}, \\qquad
   V_j' = V_j + V_j \\Big[\\textstyle\\sum_i q_{ij} (w_{ij} w_{ij}^T - T_{ij}^{-1})\\Big] V_j / q_j
   - (m_j' - m_j)(m_j' - m_j)^T,

which is the M-step above rewritten about the old mean (no cancellation between large numbers when
the data sit far from the origin).  Stars are processed in blocks of bounded size, so memory is
linear in N with a fixed ceiling per block (:data:`BLOCK_BYTES`).

The 1-D, two-component fit of the tutorial (:func:`xdtutorial.em.em_fit`) is the case D = 1, K = 2
(tests/test_xd_nd.py checks that they reach the same optimum on NGC 288).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any

import numpy as np

from ._numerics import RNGLike, logsumexp
from ._validation import (
    _type_error,
    _value_error,
    as_rng,
    check_positive_float,
    check_positive_int,
    old_order_error,
)
from .errors import EMConvergenceWarning

__all__ = [
    "BLOCK_BYTES",
    "XDResult",
    "fit",
    "log_likelihood",
    "responsibilities",
    "sample",
    "step",
]

#: Ceiling on the working memory of one block of stars [bytes]: a block holds about
#: ``K * (D * (D + 2) + 1) + 3 * D * D`` floats per star (600 bytes for K = D = 3), so
#: N = 10^5, K = D = 3 runs in 2 blocks of at most 55,924 stars.
BLOCK_BYTES = 32 * 2**20

_LOG_2PI = math.log(2.0 * math.pi)
#: Relative tolerance of the symmetry check on the covariances (rounding of a product A A^T is
#: ~1e-16 relative; 1e-8 leaves room for matrices written out with 9 digits).
_SYMMETRY_RTOL = 1e-8
#: A component whose covariance has an eigenvalue below this fraction of its largest has collapsed
#: (onto a point or a subspace): the likelihood is unbounded there and EM stops.
_COLLAPSE_RTOL = 1e-12


# ----------------------------------------------------------------------------- the result
@dataclasses.dataclass(frozen=True, eq=False)
class XDResult:
    """The result of :func:`fit` (read-only arrays; compare with ``==``).

    Attributes
    ----------
    amplitudes : ndarray, shape (K,)
        Mixture weights :math:`\\alpha_j` (sum to 1) [-].
    means : ndarray, shape (K, D)
        Component means :math:`m_j` [data units].
    covariances : ndarray, shape (K, D, D)
        Intrinsic (deconvolved) component covariances :math:`V_j` [data units squared].
    log_likelihood : float
        Total error-convolved log-likelihood :math:`\\sum_i \\ln p(x_i)` at the returned
        parameters [nats], with the :math:`-\\tfrac D2 \\ln 2\\pi` terms.
    mean_log_likelihood : float
        ``log_likelihood / N``, the quantity Bovy's code returns and ``tol`` is applied to.
    n_iter : int
        EM steps taken.
    converged : bool
        True only when the rise of the mean log-likelihood per star fell below ``tol`` after the fit
        had moved.  False, with an :class:`~xdtutorial.errors.EMConvergenceWarning`, when
        ``max_iter`` was reached, when the fit never left its start, when two free components are
        identical (a saddle point) or when a component collapsed.
    message : str
        What happened, in words.
    history : ndarray, shape (n_iter + 1,)
        Mean log-likelihood per star before each step and at the returned parameters [nats].
    """

    amplitudes: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    log_likelihood: float
    mean_log_likelihood: float
    n_iter: int
    converged: bool
    message: str
    history: np.ndarray

    _ARRAYS = ("amplitudes", "means", "covariances", "history")

    def __post_init__(self) -> None:
        for name in self._ARRAYS:
            a = np.array(getattr(self, name), dtype=float)  # a private copy
            a.flags.writeable = False
            object.__setattr__(self, name, a)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, XDResult):
            return NotImplemented
        return all(
            np.array_equal(getattr(self, f.name), getattr(other, f.name))
            if f.name in self._ARRAYS
            else getattr(self, f.name) == getattr(other, f.name)
            for f in dataclasses.fields(self)
        )

    __hash__ = None  # type: ignore[assignment]  # equal by value, mutable-array semantics

    def __repr__(self) -> str:
        k, d = self.means.shape
        return (
            f"XDResult(K={k}, D={d}, mean_log_likelihood={self.mean_log_likelihood:.6f}, "
            f"converged={self.converged}, n_iter={self.n_iter}, message={self.message!r})"
        )


# ----------------------------------------------------------------------------- validation
def _as_array(name: str, value: Any, ndim: int, fix: str) -> np.ndarray:
    if value is None or isinstance(value, (str, bytes, dict, set)):
        raise _type_error(name, f"an array of {ndim} dimensions", value, fix)
    if isinstance(value, np.ma.MaskedArray):
        raise _type_error(name, "a plain array (masked arrays are refused)", value, "drop the masked stars first")
    try:
        a = np.array(value, dtype=float)
    except (TypeError, ValueError):
        raise _type_error(name, f"an array of real numbers with {ndim} dimensions", value, fix) from None
    if a.ndim != ndim:
        raise _value_error(name, f"an array of {ndim} dimensions", a, fix)
    bad = ~np.isfinite(a)
    if bad.any():
        where = np.argwhere(bad)[0]
        index = tuple(int(i) for i in where)
        raise _value_error(name, "finite everywhere", a, f"element {index} is {a[index]}; {fix}")
    return a


def _check_covariances(name: str, c: np.ndarray, *, what: str, strict: bool) -> None:
    """Symmetric and positive definite (``strict``) or semi-definite; name the first bad ``what``."""
    scale = np.abs(c).max(axis=(1, 2), initial=0.0)
    asym = np.abs(c - c.transpose(0, 2, 1)).max(axis=(1, 2), initial=0.0)
    bad = np.flatnonzero(asym > _SYMMETRY_RTOL * scale)
    if bad.size:
        i = int(bad[0])
        raise _value_error(
            f"{name}[{i}]",
            "a symmetric matrix",
            c[i],
            f"{what} {i} is not symmetric (|C - C^T| = {asym[i]:.3g}); build it as C = (C + C.T) / 2, "
            "or with the correlation in both off-diagonal places",
        )
    eig = np.linalg.eigvalsh(0.5 * (c + c.transpose(0, 2, 1)))
    floor = _COLLAPSE_RTOL * scale if strict else -1e-12 * scale
    bad = np.flatnonzero(eig[:, 0] <= floor if strict else eig[:, 0] < floor)
    if bad.size:
        i = int(bad[0])
        kind = "positive definite" if strict else "positive semi-definite (errors may be zero, not negative)"
        raise _value_error(
            f"{name}[{i}]",
            f"a {kind} matrix",
            c[i],
            f"{what} {i} has eigenvalue {eig[i, 0]:.3g}; check its variances and that every "
            "correlation coefficient is within (-1, 1)",
        )


def _check_mixture_first(function: str, amplitudes: Any, covariances: Any) -> None:
    """Refuse the order these evaluations had before the conventions: (X, Xcov, amplitudes, means, covariances)."""
    if np.ndim(amplitudes) == 2 and np.ndim(covariances) == 1:  # X (N, D) and amplitudes (K,) in each other's place
        raise old_order_error(function, "(amplitudes, means, covariances, X, Xcov)",
                              "(X, Xcov, amplitudes, means, covariances)")


def _check_data(X: Any, Xcov: Any) -> tuple[np.ndarray, np.ndarray]:
    X = _as_array("X", X, 2, "pass the data as an array of shape (N, D), one row per star")
    n, d = X.shape
    if n < 1 or d < 1:
        raise _value_error("X", "an array with at least one star and one dimension", X, "pass shape (N, D), N, D >= 1")
    Xcov = _as_array(
        "Xcov", Xcov, 3, f"pass one error covariance matrix per star, shape (N, D, D) = ({n}, {d}, {d}); "
        "for independent errors use Xcov = sigma[:, :, None] ** 2 * np.eye(D)"
    )
    if Xcov.shape != (n, d, d):
        raise _value_error(
            "Xcov", f"of shape (N, D, D) = ({n}, {d}, {d}) to match X", Xcov, "one D x D error covariance per row of X"
        )
    _check_covariances("Xcov", Xcov, what="star", strict=False)
    return X, Xcov


def _check_start(amplitudes: Any, means: Any, covariances: Any, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    amp = _as_array("amplitudes", amplitudes, 1, "pass K mixture weights, e.g. np.full(K, 1 / K)")
    k = amp.size
    if k < 1:
        raise _value_error("amplitudes", "at least one weight", amp, "pass K >= 1 weights")
    if (amp <= 0).any():
        raise _value_error("amplitudes", "positive (every component needs weight)", amp, "start every weight above 0")
    if abs(amp.sum() - 1.0) > 1e-6:
        fix = f"they sum to {amp.sum():.8g}: divide them by their sum"
        raise _value_error("amplitudes", "weights summing to 1", amp, fix)
    mean = _as_array("means", means, 2, f"pass the K = {k} component means as an array of shape (K, D)")
    if mean.shape != (k, d):
        raise _value_error(
            "means", f"of shape (K, D) = ({k}, {d}) (K from amplitudes, D from X)", mean, "one row of D per component"
        )
    cov = _as_array("covariances", covariances, 3, f"pass the K = {k} component covariances, shape (K, D, D)")
    if cov.shape != (k, d, d):
        raise _value_error(
            "covariances", f"of shape (K, D, D) = ({k}, {d}, {d}) (K from amplitudes, D from X)", cov,
            "one D x D covariance per component",
        )
    _check_covariances("covariances", cov, what="component", strict=True)
    return amp / amp.sum(), mean, 0.5 * (cov + cov.transpose(0, 2, 1))


def _check_fix(name: str, value: Any, k: int) -> np.ndarray:
    if value is None:
        return np.zeros(k, dtype=bool)
    if isinstance(value, (bool, np.bool_)):
        return np.full(k, bool(value))
    a = np.asarray(value)
    if a.dtype != bool or a.shape != (k,):
        raise _type_error(
            name, f"None, True/False, or a sequence of K = {k} booleans", value, f"e.g. {name}=[True]+[False]*{k - 1}"
        )
    return a.copy()


def _check_fixes(fixamp: Any, fixmean: Any, fixcovar: Any, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _check_fix("fixamp", fixamp, k), _check_fix("fixmean", fixmean, k), _check_fix("fixcovar", fixcovar, k)


def _block_size(n: int, k: int, d: int, block_size: int | None) -> int:
    if block_size is not None:
        return check_positive_int("block_size", block_size)
    per_star = 8 * (k * (d * (d + 2) + 1) + 3 * d * d)
    return max(1, min(n, BLOCK_BYTES // per_star))


# ----------------------------------------------------------------------------- the kernel
def _cholesky_soa(t: np.ndarray) -> np.ndarray | None:
    """Lower Cholesky factor of every ``t[:, :, n]`` (shape (D, D, n)); None if one is not PD.

    Only the lower triangle of the result is written (and read by the callers).
    """
    d = t.shape[0]
    L = np.empty_like(t)
    for j in range(d):
        s = t[j, j].copy()
        for k in range(j):
            s -= L[j, k] * L[j, k]
        if not (s > 0).all():
            return None
        np.sqrt(s, out=L[j, j])
        inv = 1.0 / L[j, j]
        for i in range(j + 1, d):
            s = t[i, j].copy()
            for k in range(j):
                s -= L[i, k] * L[j, k]
            np.multiply(s, inv, out=L[i, j])
    return L


def _component(
    x: np.ndarray, s: np.ndarray, m: np.ndarray, V: np.ndarray, need_stats: bool
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None] | None:
    """ln N(x | m, V + s) per star, and w = T^-1 (x - m) and L^-1 (T = L L^T) for the M-step.

    ``x`` (D, n), ``s`` (D, D, n) the error covariances, ``m`` (D,), ``V`` (D, D) the component's
    intrinsic covariance; structure of arrays, stars last.  None if a ``T`` is not positive definite.
    """
    d = x.shape[0]
    L = _cholesky_soa(s + V[:, :, None])
    if L is None:
        return None
    r = x - m[:, None]
    z = np.empty_like(r)  # z = L^-1 r, forward substitution
    for i in range(d):
        acc = r[i]
        for k in range(i):
            acc -= L[i, k] * z[k]
        np.divide(acc, L[i, i], out=z[i])
    logdet = np.log(L[0, 0])
    for i in range(1, d):
        logdet += np.log(L[i, i])
    logn = -0.5 * (d * _LOG_2PI + 2.0 * logdet + np.einsum("in,in->n", z, z))
    if not need_stats:
        return logn, None, None
    w = np.empty_like(z)  # w = L^-T z = T^-1 (x - m), back substitution
    for i in range(d - 1, -1, -1):
        acc = z[i].copy()
        for k in range(i + 1, d):
            acc -= L[k, i] * w[k]
        np.divide(acc, L[i, i], out=w[i])
    linv = np.empty_like(L)  # L^-1, lower triangular (lower part only), column by column
    for j in range(d):
        np.divide(1.0, L[j, j], out=linv[j, j])
        for i in range(j + 1, d):
            acc = L[i, j] * linv[j, j]
            for k in range(j + 1, i):
                acc += L[i, k] * linv[k, j]
            np.divide(acc, L[i, i], out=linv[i, j])
            np.negative(linv[i, j], out=linv[i, j])
    return logn, w, linv


class _Collapse(Exception):
    """A component's T (or V) stopped being positive definite."""

    def __init__(self, j: int) -> None:
        super().__init__(j)
        self.j = j


def _blocks(X: np.ndarray, Xcov: np.ndarray, block: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The stars in blocks, each as contiguous ``(D, n)`` values and ``(D, D, n)`` covariances."""
    return [
        (np.ascontiguousarray(X[i : i + block].T), np.ascontiguousarray(Xcov[i : i + block].transpose(1, 2, 0)))
        for i in range(0, X.shape[0], block)
    ]


def _e_pass(
    blocks: list[tuple[np.ndarray, np.ndarray]], amp: np.ndarray, mean: np.ndarray, cov: np.ndarray, need_stats: bool
) -> tuple[float, Any]:
    """One pass over the stars: total ln L and (need_stats) the M-step's sums, block by block."""
    k, d = mean.shape
    log_amp = np.log(amp)
    total = 0.0
    qj = np.zeros(k)
    sw = np.zeros((k, d))
    sww = np.zeros((k, d, d))
    stt = np.zeros((k, d, d))
    resp = []
    for x, s in blocks:
        logp = np.empty((k, x.shape[1]))
        ws, linvs = [], []
        for j in range(k):
            out = _component(x, s, mean[j], cov[j], need_stats)
            if out is None:
                raise _Collapse(j)
            np.add(out[0], log_amp[j], out=logp[j])
            ws.append(out[1])
            linvs.append(out[2])
        lse = logsumexp(logp, axis=0)
        total += float(lse.sum())
        q = np.exp(logp - lse)
        if not need_stats:
            resp.append(q)
            continue
        for j in range(k):
            qw = ws[j] * q[j]
            qj[j] += q[j].sum()
            sw[j] += qw.sum(axis=1)
            sww[j] += np.einsum("in,jn->ij", qw, ws[j])  # einsum, not BLAS: no thread spin-up for D x D
            # sum_n q_n T_n^-1 = sum_n q_n L_n^-T L_n^-1: row r of L^-1 is nonzero in columns 0..r
            for r in range(d):
                row = linvs[j][r, : r + 1]
                stt[j, : r + 1, : r + 1] += np.einsum("in,jn->ij", row * q[j], row)
    if not need_stats:
        return total, np.concatenate(resp, axis=1).T
    return total, (qj, sw, sww, stt)


def _m_step(
    amp: np.ndarray, mean: np.ndarray, cov: np.ndarray, stats: tuple[np.ndarray, ...], n: int,
    fixamp: np.ndarray, fixmean: np.ndarray, fixcovar: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The M-step (BHR11 section 3.1) from the sums of :func:`_e_pass`; held parameters kept."""
    qj, sw, sww, stt = stats
    new_amp = amp.copy()
    new_mean = mean.copy()
    new_cov = cov.copy()
    for j in range(amp.size):
        if qj[j] <= 0 or not np.isfinite(qj[j]):
            raise _Collapse(j)
        V = cov[j]
        delta = np.zeros_like(mean[j]) if fixmean[j] else V @ sw[j] / qj[j]
        new_mean[j] = mean[j] + delta
        if not fixcovar[j]:
            c = V + V @ ((sww[j] - stt[j]) / qj[j]) @ V - np.outer(delta, delta)
            new_cov[j] = 0.5 * (c + c.T)
        if not fixamp[j]:
            new_amp[j] = qj[j] / n
    free = ~fixamp
    if free.any():  # as Bovy's code: the free weights share what the fixed ones leave
        new_amp[free] *= (1.0 - amp[fixamp].sum()) / new_amp[free].sum()
    return new_amp, new_mean, new_cov


def _collapsed(cov: np.ndarray, fixcovar: np.ndarray) -> int | None:
    eig = np.linalg.eigvalsh(cov)
    for j in range(cov.shape[0]):
        if not fixcovar[j] and not eig[j, 0] > _COLLAPSE_RTOL * abs(eig[j, -1]):
            return j
    return None


# ----------------------------------------------------------------------------- public functions
def log_likelihood(amplitudes: Any, means: Any, covariances: Any, X: Any, Xcov: Any) -> float:
    """Total error-convolved log-likelihood :math:`\\sum_i \\ln \\sum_j \\alpha_j \\mathcal N(x_i | m_j, V_j + S_i)`.

    An evaluation, so the mixture comes first and the data after it (the package's argument order,
    as ``helpers.log_likelihood(params, v, verr)``); :func:`fit` takes the data first.

    Parameters
    ----------
    amplitudes : array_like, shape (K,)
        Mixture weights, positive, summing to 1.
    means : array_like, shape (K, D)
        Component means [data units].
    covariances : array_like, shape (K, D, D)
        Intrinsic component covariances [data units squared]; symmetric positive definite.
    X : array_like, shape (N, D)
        Measured values [data units, e.g. mas/yr and km/s].
    Xcov : array_like, shape (N, D, D)
        Error covariance of each star [data units squared]; symmetric positive semi-definite.

    Returns
    -------
    float
        The log-likelihood [nats] (divide by N for Bovy's ``avgloglikedata``).
    """
    _check_mixture_first("xd.log_likelihood", amplitudes, covariances)
    X, Xcov = _check_data(X, Xcov)
    amp, mean, cov = _check_start(amplitudes, means, covariances, X.shape[1])
    blocks = _blocks(X, Xcov, _block_size(X.shape[0], amp.size, X.shape[1], None))
    return _e_pass(blocks, amp, mean, cov, need_stats=False)[0]


def responsibilities(amplitudes: Any, means: Any, covariances: Any, X: Any, Xcov: Any) -> np.ndarray:
    """Membership probabilities :math:`q_{ij}` of every star in every component (the E-step).

    Parameters
    ----------
    amplitudes, means, covariances, X, Xcov : array_like
        The mixture, shapes (K,), (K, D), (K, D, D), and the data with their error covariances,
        shapes (N, D), (N, D, D), as in :func:`log_likelihood` [data units; the covariances in
        data units squared].

    Returns
    -------
    ndarray, shape (N, K)
        :math:`q_{ij}`, star ``i`` in component ``j``; rows sum to 1.

    Raises
    ------
    ValueError, TypeError
        As :func:`log_likelihood`; arguments in the old order ``(X, Xcov, amplitudes, means,
        covariances)`` are a TypeError saying the new one.
    """
    _check_mixture_first("xd.responsibilities", amplitudes, covariances)
    X, Xcov = _check_data(X, Xcov)
    amp, mean, cov = _check_start(amplitudes, means, covariances, X.shape[1])
    blocks = _blocks(X, Xcov, _block_size(X.shape[0], amp.size, X.shape[1], None))
    return _e_pass(blocks, amp, mean, cov, need_stats=False)[1]


def step(
    amplitudes: Any,
    means: Any,
    covariances: Any,
    X: Any,
    Xcov: Any,
    *,
    fixamp: Any = None,
    fixmean: Any = None,
    fixcovar: Any = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """One EM step of BHR11 (E-step and M-step) from the mixture given, on the data ``X, Xcov``.

    The mixture first, as in :func:`log_likelihood` and ``helpers.em_step(params, v, verr)``.

    Parameters
    ----------
    amplitudes, means, covariances, X, Xcov : array_like
        The mixture and the data, as in :func:`log_likelihood`: shapes (K,), (K, D), (K, D, D),
        (N, D), (N, D, D) [data units; intrinsic and error covariances in data units squared].
    fixamp, fixmean, fixcovar : None, bool or sequence of K bools, optional
        Hold the amplitude, mean or covariance of a component (keyword-only; as in :func:`fit`).

    Returns
    -------
    amplitudes : ndarray, shape (K,)
        Updated weights.
    means : ndarray, shape (K, D)
        Updated means [data units].
    covariances : ndarray, shape (K, D, D)
        Updated intrinsic covariances [data units squared].
    log_likelihood : float
        The total log-likelihood at the *input* parameters [nats].

    Raises
    ------
    ValueError, TypeError
        As :func:`fit`; arguments in the old order ``(X, Xcov, amplitudes, means, covariances)``
        are a TypeError saying the new one.
    """
    _check_mixture_first("xd.step", amplitudes, covariances)
    X, Xcov = _check_data(X, Xcov)
    amp, mean, cov = _check_start(amplitudes, means, covariances, X.shape[1])
    fixes = _check_fixes(fixamp, fixmean, fixcovar, amp.size)
    blocks = _blocks(X, Xcov, _block_size(X.shape[0], amp.size, X.shape[1], None))
    total, stats = _e_pass(blocks, amp, mean, cov, need_stats=True)
    return (*_m_step(amp, mean, cov, stats, X.shape[0], *fixes), total)


def fit(
    X: Any,
    Xcov: Any,
    amplitudes: Any,
    means: Any,
    covariances: Any,
    *,
    fixamp: Any = None,
    fixmean: Any = None,
    fixcovar: Any = None,
    tol: float = 1e-6,
    max_iter: int = 10_000,
    block_size: int | None = None,
) -> XDResult:
    """Fit K Gaussians in D dimensions to data with per-star error covariances (extreme deconvolution).

    EM steps (BHR11 section 3.1, see the module docstring) until the mean log-likelihood per star
    rises by less than ``tol`` -- the stopping rule and default of Bovy's ``extreme_deconvolution``.
    EM never lowers the likelihood, so the history rises monotonically up to rounding.

    Parameters
    ----------
    X : array_like, shape (N, D)
        Measured values, one row per star [data units, e.g. (mas/yr, mas/yr, km/s)].
    Xcov : array_like, shape (N, D, D)
        Error covariance of each star [data units squared]: symmetric positive semi-definite
        (zero errors are allowed: then this is an ordinary Gaussian mixture).  astroML calls it
        ``Xerr``, Bovy ``ycovar``; here ``cov``, as it holds variances, not the 1-sigma widths
        that ``verr`` holds in one dimension.
    amplitudes : array_like, shape (K,)
        Starting mixture weights: positive, summing to 1 (within 1e-6).
    means : array_like, shape (K, D)
        Starting component means [data units].
    covariances : array_like, shape (K, D, D)
        Starting intrinsic covariances [data units squared]: symmetric positive definite.
    fixamp, fixmean, fixcovar : None, bool or sequence of K bools, optional
        Hold the amplitude, mean or covariance of a component at its start (as in Bovy's code;
        the free amplitudes are rescaled to share what the fixed ones leave).
    tol : float, default=1e-6
        Stop when the mean log-likelihood per star rises by less than this [nats].  Bovy's
        default; use 1e-10 or less to compare optima between codes to many digits.
    max_iter : int, default=10000
        Maximum number of EM steps; reaching it warns and returns the last parameters.
    block_size : int, optional
        Stars per block (default: as many as fit in :data:`BLOCK_BYTES`).  The result does not
        depend on it beyond rounding.

    Returns
    -------
    XDResult
        The fitted parameters, log-likelihood, history and an honest ``converged`` flag.

    Raises
    ------
    ValueError
        Data or start of the wrong shape, not finite, a covariance that is not symmetric or not
        positive (semi-)definite (the message names the star or component), amplitudes that do not
        sum to 1, K or D that do not match.
    TypeError
        An argument of the wrong kind (``fixamp="yes"``, ``max_iter=2.5``).

    Warns
    -----
    EMConvergenceWarning
        ``max_iter`` reached, the fit never left its start, a saddle point (two identical free
        components) or a collapsed component; the result carries ``converged=False`` and says which.
    """
    X, Xcov = _check_data(X, Xcov)
    n, d = X.shape
    amp, mean, cov = _check_start(amplitudes, means, covariances, d)
    k = amp.size
    fixamp, fixmean, fixcovar = _check_fixes(fixamp, fixmean, fixcovar, k)
    tol = check_positive_float("tol", tol)
    max_iter = check_positive_int("max_iter", max_iter)
    blocks = _blocks(X, Xcov, _block_size(n, k, d, block_size))
    del X, Xcov  # the blocks hold the only copy the fit needs

    history: list[float] = []
    converged = False
    message = ""
    state = (amp, mean, cov)
    n_iter = 0
    try:
        for _ in range(max_iter):
            total, stats = _e_pass(blocks, *state, need_stats=True)
            history.append(total / n)
            if len(history) >= 2 and history[-1] - history[-2] < tol:
                converged = True
                break
            new = _m_step(*state, stats, n, fixamp, fixmean, fixcovar)
            j = _collapsed(new[2], fixcovar)
            if j is not None:
                message = (
                    f"component {j} collapsed (its covariance became singular) after {n_iter} steps; "
                    "the likelihood is unbounded there. Fix: start it elsewhere, use fewer components, "
                    "or fix its covariance"
                )
                break
            state = new
            n_iter += 1
        else:
            message = (
                f"not converged: max_iter={max_iter} steps reached; returned the last parameters. "
                "Fix: raise max_iter or tol"
            )
    except _Collapse as exc:
        message = (
            f"component {exc.j} collapsed (no stars or a singular covariance) after {n_iter} steps; "
            "returned the last valid parameters. Fix: start it elsewhere or use fewer components"
        )
    amp, mean, cov = state
    if converged:
        # the last E-pass was at ``state``: history[-1] is its likelihood, no extra pass needed
        final = history[-1]
        history_arr = np.array(history)
        n_iter = len(history) - 1
        if n_iter <= 1 and not (fixamp.all() and fixmean.all() and fixcovar.all()):
            converged = False
            message = (
                "the fit never left its start (the first step raised ln L by less than tol): the start is already "
                "a fixed point of EM (an earlier optimum, a saddle, or errors that swamp the data). "
                "Fix: check with another start"
            )
        else:
            pair = _identical_pair(mean, cov, ~(fixmean & fixcovar))
            if pair is not None:
                converged = False
                message = f"saddle point: components {pair[0]} and {pair[1]} are identical. Fix: start them apart"
            else:
                message = f"converged: the mean ln L per star rose by less than tol={tol:g}"
    else:
        try:
            final = _e_pass(blocks, amp, mean, cov, need_stats=False)[0] / n
        except _Collapse:
            final = -np.inf
        history_arr = np.array(history[: n_iter] + [final])
    if not converged:
        warnings.warn(EMConvergenceWarning(message), stacklevel=2)
    return XDResult(
        amplitudes=amp,
        means=mean,
        covariances=cov,
        log_likelihood=final * n,
        mean_log_likelihood=final,
        n_iter=n_iter,
        converged=converged,
        message=message,
        history=history_arr,
    )


def _identical_pair(mean: np.ndarray, cov: np.ndarray, free: np.ndarray) -> tuple[int, int] | None:
    k = mean.shape[0]
    for a in range(k):
        for b in range(a + 1, k):
            if not (free[a] or free[b]):
                continue
            scale = np.sqrt(np.abs(np.diag(cov[a])).max())
            same_mean = np.allclose(mean[a], mean[b], rtol=0, atol=1e-7 * scale)
            if same_mean and np.allclose(cov[a], cov[b], rtol=1e-7, atol=0):
                return a, b
    return None


def sample(
    amplitudes: Any, means: Any, covariances: Any, n: int, *, rng: RNGLike = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` true values from the mixture (no errors added).

    Parameters
    ----------
    amplitudes, means, covariances : array_like
        The mixture, shapes (K,), (K, D), (K, D, D), as in :func:`log_likelihood` [data units;
        the covariances in data units squared].
    n : int
        Number of draws.
    rng : int or numpy.random.Generator, default=0
        Seed or source of randomness (keyword-only; see the conventions in ``helpers``).

    Returns
    -------
    values : ndarray, shape (n, D)
        The draws [data units].
    labels : ndarray of int, shape (n,)
        The component of each draw.

    Raises
    ------
    ValueError, TypeError
        A mixture of the wrong shape or not positive definite, ``n`` not a positive int, ``rng``
        not an int seed or a Generator (``rng=None`` included); the message names it.
    """
    means_arr = _as_array("means", means, 2, "pass the component means, shape (K, D)")
    amp, mean, cov = _check_start(amplitudes, means_arr, covariances, means_arr.shape[1])
    n = check_positive_int("n", n)
    rng = as_rng(rng)
    labels = rng.choice(amp.size, size=n, p=amp)
    L = np.linalg.cholesky(cov)
    z = rng.standard_normal((n, mean.shape[1]))
    values = mean[labels] + np.einsum("nij,nj->ni", L[labels], z)
    return values, labels
