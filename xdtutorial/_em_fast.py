"""Private: em_fit's machinery for speed: the EM step for large samples, and SQUAREM.

Students: read :func:`xdtutorial.em.em_step` instead of :class:`FastEM`; it is
the same mathematics (the kernel of :mod:`xdtutorial.model` with K = 2) written
for the machine, which :func:`xdtutorial.em.em_fit` uses from
:data:`xdtutorial.em.FAST_EM_MIN_STARS` stars on (tested equal to the kernel).  :func:`squarem` is
the accelerated iteration em_fit runs by default (notebook 04 writes one cycle
of it in view).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .errors import EMFailure
from .model import _canonical, _check_occupied, _check_variances, _collapse_message, _fmt

#: Stars per block: the ~20 work arrays of a block (8 bytes a star) stay in the CPU's
#: L2 cache, so each of the step's ~40 passes reads its operands from cache, not memory.
BLOCK = 8192
#: Factors per partial product in :func:`_sum_log` (a power of two).  Partial
#: products of 32 factors stay far inside the double range for any factor in
#: [1e-9, 1e9] ((km/s)^2 for the variances); outside, the block falls back to logs.
PRODUCT_LEVELS = 5
_SAFE = (1e-290, 1e290)


def _sum_log(y: np.ndarray, levels: int = PRODUCT_LEVELS) -> float | None:
    """``sum(ln y)`` for positive ``y`` with one logarithm per ``2**levels`` elements, or None.

    The elements are multiplied pairwise in a tree (``levels`` halvings of the
    array, each a contiguous product), then the logs of the partial products are
    summed: ``ln(a b) = ln a + ln b``.  The rounding of a product of 32 factors
    is a few units in 1e-16, as for the sum of their logs.  None when a partial
    product leaves the safe range (factors far from 1): then sum the logs.
    ``y`` is overwritten.
    """
    k = y.size >> levels << levels
    a = y[:k]
    for _ in range(levels):
        half = a.size // 2
        np.multiply(a[:half], a[half:], out=a[:half])
        a = a[:half]
    if a.size and not (a.min() > _SAFE[0] and a.max() < _SAFE[1]):
        return None
    return float(np.log(a).sum() + np.log(y[k:]).sum())


class FastEM:
    """The EM iteration of :func:`em_step`, rearranged for speed on large samples.

    Same mathematics (Bovy, Hogg & Roweis 2011, eq. 16 in 1-D) in one pass over
    the stars, block by block (:data:`BLOCK` stars, whose work arrays stay in
    cache), with a single exponential per star and no other transcendental
    function.  With ``r_ik = v_i - mu_k``, ``T_ik = sigma_k^2 + verr_i^2``,
    ``z_ik = r_ik^2 / T_ik``:

    * the odds of the field are
      ``rho_i = (f_2/f_1) sqrt(T_i1/T_i2) exp((z_i1 - z_i2) / 2)``; with
      ``u_i = min(rho_i, 1/rho_i)`` and ``j_i`` the more probable component,
      ``q_i2 = rho_i / (1 + rho_i)`` (computed as ``u/(1+u)`` or ``1/(1+u)``),
      ``q_i1 = 1 - q_i2``;
    * ``ln L = sum_i [ln f_{j_i} - ln(2 pi) / 2 - z_{i j_i} / 2 - ln T_{i j_i} / 2 + ln(1 + u_i)]``,
      where the sums of logarithms are logarithms of products (:func:`_sum_log`);
    * with ``w_ik = q_ik / T_ik``, ``S_k = sum_i q_ik`` and
      ``A_k = sigma_k^2 sum_i w_ik r_ik``: ``mu_k' = mu_k + A_k / S_k`` and
      ``sigma_k'^2 = [sigma_k^2 (S_k + sigma_k^2 sum_i w_ik (z_ik - 1)) - A_k^2 / S_k] / S_k``.

    tests/test_em.py checks it against :func:`xdtutorial.em.em_step` step by step.

    Parameters
    ----------
    v : ndarray, shape (n_stars,)
        Velocities [km/s], validated.
    verr_var : ndarray, shape (n_stars,)
        Squared uncertainties [(km/s)^2] (zeros for the naive model).
    """

    def __init__(self, v: np.ndarray, verr_var: np.ndarray) -> None:
        self.v, self.verr_var = v, verr_var
        self.min_verr = float(np.sqrt(verr_var.min()))
        self.buf = np.empty((10, min(BLOCK, v.size)))
        self.dom = np.empty(self.buf.shape[1], dtype=bool)

    def step(self, p: np.ndarray) -> tuple[np.ndarray, float]:
        """Return (updated parameters in canonical order, log-likelihood at ``p``)."""
        new, loglike = self.update(p)
        return _canonical(new), loglike

    def update(self, p: np.ndarray) -> tuple[np.ndarray, float]:
        """Return (updated parameters with the labels of ``p``, log-likelihood at ``p``).

        ``p`` needs positive fractions and widths, in either order.
        """
        _check_variances(p, self.min_verr)
        mu, sig_var, f1 = (p[0], p[2]), (p[1] ** 2, p[3] ** 2), p[4]
        log_odds = np.log((1.0 - f1) / f1)
        n = self.v.size
        # sums over the stars: S_k, sum w_ik r_ik, sum w_ik (z_ik - 1) per component; then ln L parts
        sums = np.zeros(6)
        sum_z, sum_log_it, sum_log_x, n_field = 0.0, 0.0, 0.0, 0
        # 1 / rho for rho = 0 (then u = rho = 0); a product of _sum_log out of range (then plain logs)
        with np.errstate(divide="ignore", over="ignore"):
            for start in range(0, n, BLOCK):
                block = slice(start, min(start + BLOCK, n))
                s = self._block(self.v[block], self.verr_var[block], mu, sig_var, log_odds, sums)
                sum_z += s[0]
                sum_log_it += s[1]
                sum_log_x += s[2]
                n_field += s[3]
        loglike = (
            (n - n_field) * np.log(f1) + n_field * np.log1p(-f1) - 0.5 * n * np.log(2.0 * np.pi)
            - 0.5 * sum_z + 0.5 * sum_log_it + sum_log_x
        )
        _check_occupied(sums[0::3], n, lambda: f"from parameters {_fmt(p)}", p)
        new = np.empty(5)
        for k in range(2):
            S, wr, wz = sums[3 * k : 3 * k + 3]
            A = sig_var[k] * wr
            var = (sig_var[k] * (S + sig_var[k] * wz) - A * A / S) / S
            new[2 * k] = mu[k] + A / S
            # the sum of non-negative terms of the kernel's M-step, here a difference: rounding can
            # take a variance near 0 below it; that is a collapse, never clamped away (0 itself, from
            # sigma_k = 0, is EM's fixed point, which em_fit diagnoses)
            if not var >= 0.0:
                raise EMFailure(_collapse_message(f"from {_fmt(p)} (variance {var:.3g})"), p)
            new[2 * k + 1] = np.sqrt(var)
        if not np.all(np.isfinite(new)):
            raise EMFailure(f"the EM step from {_fmt(p)} is not finite", p)
        new[4] = sums[0] / n
        return new, float(loglike)

    def _block(
        self, v: np.ndarray, verr_var: np.ndarray, mu: tuple, sig_var: tuple, log_odds: float, sums: np.ndarray
    ) -> tuple[float, float, float, int]:
        """One block's E-step and M-step sums (added to ``sums``) and its ln L parts."""
        m = v.size
        r1, r2, it1, it2, z1, z2, e, u, x, q = (b[:m] for b in self.buf)
        dom = self.dom[:m]
        for r, it, z, mk, var_k in ((r1, it1, z1, mu[0], sig_var[0]), (r2, it2, z2, mu[1], sig_var[1])):
            np.subtract(v, mk, out=r)
            np.add(verr_var, var_k, out=it)
            np.divide(1.0, it, out=it)  # 1 / T_ik
            np.multiply(r, r, out=z)
            np.multiply(z, it, out=z)  # z_ik = r_ik^2 / T_ik
        # E-step: rho = (f2/f1) sqrt(T1/T2) exp((z1 - z2)/2), the odds of the field
        np.subtract(z1, z2, out=e)
        e *= 0.5
        e += log_odds
        np.minimum(e, 700.0, out=e)  # rho stays finite; q_i1 < 1e-300 is zero for the sums
        np.exp(e, out=e)
        np.divide(it2, it1, out=u)
        np.sqrt(u, out=u)
        np.multiply(e, u, out=e)  # rho_i
        np.greater(e, 1.0, out=dom)  # the field is the more probable component
        np.add(1.0, e, out=x)
        np.divide(1.0, x, out=q)  # q_i1 = 1 / (1 + rho_i)
        np.divide(1.0, e, out=u)  # (inf for rho = 0: ignored by the minimum)
        np.minimum(u, e, out=u)  # u = min(rho, 1/rho) <= 1
        np.add(1.0, u, out=x)
        np.multiply(e, q, out=e)  # q_i2 = rho_i q_i1
        n_field = int(np.count_nonzero(dom))
        # ln L parts: z and 1/T of the more probable component, and ln(1 + u)
        sum_z = float(np.where(dom, z2, z1).sum())
        y = np.where(dom, it2, it1)
        sum_log_it = _sum_log(y)
        if sum_log_it is None:  # variances far from 1 (km/s)^2: plain logarithms
            sum_log_it = float(np.log(np.where(dom, it2, it1)).sum())
        sum_log_x = _sum_log(x, levels=9)  # 1 <= x <= 2: 512 factors stay below 2**512
        # M-step sums
        for k, (qk, r, it, z) in enumerate(((q, r1, it1, z1), (e, r2, it2, z2))):
            np.multiply(qk, it, out=it)  # w_ik = q_ik / T_ik
            z -= 1.0
            sums[3 * k] += qk.sum()
            sums[3 * k + 1] += np.dot(it, r)
            sums[3 * k + 2] += np.dot(it, z)
        return sum_z, sum_log_it, sum_log_x, n_field


#: SQUAREM's step lengths start at 1 (two plain EM steps) and may grow by this factor
#: after every accepted cycle that used the largest one (Varadhan & Roland 2008, sec. 7).
STEP_GROWTH = 4.0


def _extrapolable(p: np.ndarray) -> bool:
    """Whether an extrapolated point is a valid start for an EM step (either label order)."""
    return bool(np.all(np.isfinite(p)) and p[1] > 0.0 and p[3] > 0.0 and 0.0 < p[4] < 1.0)


def squarem(
    update: Callable[[np.ndarray], tuple[np.ndarray, float]], p: np.ndarray, n: int, tol: float, max_iter: int
) -> tuple[np.ndarray, list[float], int, bool]:
    """EM accelerated by SQUAREM (Varadhan & Roland 2008, scheme S3), monotone.

    One cycle from ``p0``: two EM steps ``p1 = F(p0)``, ``p2 = F(p1)``; with
    ``r = p1 - p0``, ``w = p2 - 2 p1 + p0`` and the step length
    ``a = ||r|| / ||w||`` (S3's ``alpha = -a``, held in ``[1, a_max]``), the
    extrapolated point ``p' = p0 + 2 a r + a^2 w``; then one EM step from it,
    ``F(p')``, which starts the next cycle (the stabilising step).  ``a = 1``
    gives ``p' = p2``: plain EM.  Fallback: when ``p'`` is invalid (a width
    <= 0, a fraction outside (0, 1), a component left without stars) or its
    ln L is below ``ln L(p1)``, the last EM iterate whose ln L is known, the
    cycle ends at ``p2`` instead and ``a_max`` shrinks; after an accepted
    cycle at ``a = a_max`` it grows by :data:`STEP_GROWTH`.  So the sequence of
    points passed through has a non-decreasing ln L, as plain EM's.

    Stopping rule, as plain EM: an EM step that raises ln L by less than
    ``tol * n``, at most ``max_iter`` calls of ``update`` (then one more call
    measures the last point's ln L).

    Parameters
    ----------
    update : callable
        ``update(p) -> (F(p), ln L(p))``, the EM map (labels kept as in ``p``).
    p : ndarray, shape (5,)
        Valid start.
    n : int
        Number of stars (the tolerance is per star).
    tol : float
        Tolerance on ln L / n per EM step.
    max_iter : int
        Maximum number of EM steps (calls of ``update``).

    Returns
    -------
    p : ndarray, shape (5,)
        Last point, labels not yet canonical.
    history : list of float
        ln L of every point passed through (EM iterates and accepted
        extrapolations); the last is ln L(p).
    n_calls : int
        Calls of ``update`` (passes over the data), the last one included.
    converged : bool
        Whether the tolerance was met.
    """
    history: list[float] = []
    calls, a_max = 0, 1.0

    def em(q: np.ndarray) -> tuple[np.ndarray, bool]:
        nonlocal calls
        new, ll = update(q)
        calls += 1
        history.append(ll)
        return new, len(history) > 1 and history[-1] - history[-2] < tol * n

    converged = False
    while calls < max_iter:
        p1, converged = em(p)
        if converged:
            break
        if calls == max_iter:
            p = p1
            break
        p2, converged = em(p1)
        if converged:
            p = p1
            break
        r, w = p1 - p, p2 - 2.0 * p1 + p
        norm_w = float(np.sqrt(w @ w))
        a = min(max(float(np.sqrt(r @ r)) / norm_w, 1.0), a_max) if norm_w > 0 else 1.0
        accepted = False
        if a > 1.0 and calls < max_iter:  # (a = 1 gives p' = p2: plain EM)
            trial = p + 2.0 * a * r + a * a * w
            if _extrapolable(trial):
                calls += 1
                try:
                    p3, ll = update(trial)
                except EMFailure:  # the extrapolation emptied a component
                    ll = -np.inf
                if ll >= history[-1]:
                    history.append(ll)
                    p, accepted = p3, True
        if accepted or a == 1.0:
            if a == a_max:
                a_max *= STEP_GROWTH
        elif a == a_max:
            a_max = max(1.0, a_max / STEP_GROWTH)
        if not accepted:
            p = p2  # the next step, from p2, is the stabilising step
    if not converged:  # p is a new point: measure its ln L
        history.append(update(p)[1])
        calls += 1
    return p, history, calls, converged
