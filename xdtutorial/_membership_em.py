"""Private: the generalised EM of the distance-aware model of :mod:`xdtutorial.membership` (notebook 06).

The model, its parameters and their working form (:class:`_MembershipState`)
are described in :mod:`xdtutorial.membership`, which re-exports every name
here.  This module holds the numerical engine:

* the E-step (:func:`_e_step`) and the XD M-step with the width clips and holds
  (:func:`_m_step`): the 1-D mixture kernel of :mod:`xdtutorial.model`
  (:func:`~xdtutorial.model._mixture_e_step`, :func:`~xdtutorial.model._mixture_m_step`)
  with the membership prior as per-star weights; and the spatial step, Fisher
  scoring with step halving (:func:`_spatial_step`);
* :func:`_generalised_em`, optionally accelerated by SQUAREM (:func:`_squarem`,
  :func:`_extrapolate`; Varadhan & Roland 2008) with a monotone fallback;
* :func:`_batched_em` - the same plain EM from many starts at once, and
  :func:`_log_likelihoods` - ln L of many states at once: with 20-2000 stars
  the arrays are small, so sharing the numpy calls is what makes them fast.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import expit, log_expit

from ._numerics import logsumexp
from .errors import EMConvergenceWarning, EMFailure
from .model import (
    _check_occupied,
    _log_normal_convolved,
    _mixture_e_step,
    _mixture_m_step,
    _occupied,
    _responsibilities,
    _score_gains,
)

_ALPHA_LIMIT = 20.0  # |log-odds at the centre| is clipped here (p0 within 2e-9 of 0 or 1)
_LOG_A_LIMITS = (np.log(1.0), np.log(1e5))  # scale radius between 1 arcsec and 28 degrees



@dataclasses.dataclass
class _MembershipState:
    """Parameters of the distance-aware model in working form."""

    mu: np.ndarray  # (1 + K_f,) cluster first, then field components [km/s]
    sig: np.ndarray  # (1 + K_f,) [km/s]
    fw: np.ndarray  # (K_f,) field weights, summing to 1
    alpha: float  # log-odds of membership at R = 0
    log_a: float  # ln(Plummer scale radius / arcsec)

    def copy(self) -> _MembershipState:
        return _MembershipState(self.mu.copy(), self.sig.copy(), self.fw.copy(), self.alpha, self.log_a)

    def vector(self) -> np.ndarray:
        """The extended parameter vector (see the module docstring)."""
        out = [self.mu[0], self.sig[0], self.mu[1], self.sig[1], expit(self.alpha), np.exp(self.log_a)]
        for k in range(2, self.mu.size):
            out += [self.mu[k], self.sig[k], self.fw[k - 1]]
        return np.array(out)


def _log_prior_member(alpha: float, log_a: float, R_sq: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ln pi(R_i), ln(1 - pi(R_i)) and u_i = R_i^2 / a^2, from the squared distances ``R_sq``.

    With z_i = logit pi(R_i) = alpha - 2 ln(1 + u_i): ln(1 - pi) = ln expit(z) - z.
    """
    u = R_sq * np.exp(-2.0 * log_a)
    z = alpha - 2.0 * np.log1p(u)
    log_pi = log_expit(z)
    return log_pi, log_pi - z, u


def _log_weights(st: _MembershipState, prior: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """Per-star log prior weights, shape (1 + K_f, n_stars): ln pi_i, then ln(1 - pi_i) + ln w_k."""
    out = np.empty((st.mu.size, prior[0].size))
    out[0] = prior[0]
    np.add(prior[1], np.log(st.fw)[:, None], out=out[1:])
    return out


def _weighted_log_densities(
    st: _MembershipState, v: np.ndarray, verr: np.ndarray, prior: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> np.ndarray:
    """ln of each component's weighted, error-convolved density, given the prior terms of :func:`_log_prior_member`."""
    return _log_normal_convolved(v, st.mu[:, None], st.sig[:, None], verr) + _log_weights(st, prior)


def _e_step(
    st: _MembershipState,
    v: np.ndarray,
    verr: np.ndarray,
    prior: tuple[np.ndarray, np.ndarray, np.ndarray],
    verr_var: np.ndarray | None = None,
) -> tuple[np.ndarray, float, tuple[np.ndarray, np.ndarray]]:
    """The kernel's E-step with the membership prior: (responsibilities (1 + K_f, n_stars), ln L, aux for the M-step).

    ``verr`` are the errors [km/s] (not squared); ``verr_var`` their squares, when kept.
    """
    q, ll, aux = _mixture_e_step(v, verr, st.mu, st.sig, _log_weights(st, prior), verr_var)
    return q, float(ll), aux


def _log_terms(st: _MembershipState, v: np.ndarray, verr_var: np.ndarray, R: np.ndarray) -> np.ndarray:
    """ln of each component's weighted, error-convolved density: shape (1 + K_f, n_stars)."""
    return _weighted_log_densities(st, v, np.sqrt(verr_var), _log_prior_member(st.alpha, st.log_a, R * R))


def _memberships(st: _MembershipState, v: np.ndarray, verr_var: np.ndarray, R: np.ndarray) -> np.ndarray:
    """Each star's probability of belonging to the cluster, shape (n_stars,): the E-step's first row."""
    return _responsibilities(_log_terms(st, v, verr_var, R))[0][0]


def _room(x: float, step: float, limits: tuple[float, float]) -> float:
    """The largest fraction (at most 1) of ``step`` that keeps ``x + fraction * step`` within ``limits``."""
    if step > 0.0:
        return max(0.0, min(1.0, (limits[1] - x) / step))
    if step < 0.0:
        return max(0.0, min(1.0, (limits[0] - x) / step))
    return 1.0


def _pushes_out(x: float, step: float, limits: tuple[float, float]) -> bool:
    """Whether ``x`` sits on one of its ``limits`` and ``step`` points beyond it."""
    return (x <= limits[0] and step < 0.0) or (x >= limits[1] and step > 0.0)


def _spatial_step(
    st: _MembershipState,
    q: np.ndarray,
    R_sq: np.ndarray,
    prior: tuple[np.ndarray, np.ndarray, np.ndarray],
    fit_radius: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Increase sum_i q_i ln pi_i + (1 - q_i) ln(1 - pi_i) by Fisher scoring with step halving.

    ``prior`` holds the terms of :func:`_log_prior_member` at the current
    (alpha, ln a); returns them at the new values (the next E-step needs them).
    The objective is written ``sum_i q_i z_i + sum_i ln(1 - pi_i)``, since
    ln pi - ln(1 - pi) = z; the 2 x 2 Fisher system is solved in closed form.
    """
    lp, l1p, u = prior
    pi = np.exp(lp)
    resid = q - pi
    g0 = float(resid.sum())
    if abs(g0) < 1e-9 * R_sq.size and not fit_radius:
        return prior
    w = pi * (1.0 - pi)
    a11 = float(w.sum())
    if fit_radius:
        dz = 4.0 * u / (1.0 + u)  # dz/d(ln a)
        wdz = w * dz
        a12, a22, g1 = float(wdz.sum()), float(np.dot(wdz, dz)), float(np.dot(resid, dz))
        ridge = 1e-9 * max(a11 + a22, 1e-12)
        a11, a22 = a11 + ridge, a22 + ridge
        det = a11 * a22 - a12 * a12
        s0, s1 = (a22 * g0 - a12 * g1) / det, (a11 * g1 - a12 * g0) / det
        # a parameter at its clip that the step would push further out is held there, and the
        # other takes its own scoring step (a clipped joint step need not go uphill)
        if _pushes_out(st.log_a, s1, _LOG_A_LIMITS):
            s0, s1 = g0 / a11, 0.0
        if _pushes_out(st.alpha, s0, (-_ALPHA_LIMIT, _ALPHA_LIMIT)):
            s0, s1 = 0.0, (0.0 if _pushes_out(st.log_a, g1, _LOG_A_LIMITS) else g1 / a22)
        if abs(g0 * s0 + g1 * s1) < 1e-12 * R_sq.size:  # already at the maximum of the spatial term
            return prior
    else:
        s0, s1 = g0 / max(a11, 1e-12), 0.0
    # shorten the step (keeping its direction, which goes uphill) to end on the clips at the farthest
    t = min(_room(st.alpha, s0, (-_ALPHA_LIMIT, _ALPHA_LIMIT)), _room(st.log_a, s1, _LOG_A_LIMITS))
    s0, s1 = t * s0, t * s1
    old = float(np.dot(q, lp - l1p) + l1p.sum())
    for _ in range(8):  # a generalised EM step only needs *an* increase
        alpha = min(max(st.alpha + s0, -_ALPHA_LIMIT), _ALPHA_LIMIT)  # guards against rounding only
        log_a = min(max(st.log_a + s1, _LOG_A_LIMITS[0]), _LOG_A_LIMITS[1])
        trial = _log_prior_member(alpha, log_a, R_sq)
        if float(np.dot(q, trial[0] - trial[1]) + trial[1].sum()) >= old:
            st.alpha, st.log_a = alpha, log_a
            return trial
        s0, s1 = 0.5 * s0, 0.5 * s1
    return prior


def _log_likelihood(st: _MembershipState, v: np.ndarray, verr_var: np.ndarray, R: np.ndarray) -> float:
    """ln L of the distance-aware model."""
    return float(logsumexp(_log_terms(st, v, verr_var, R)).sum())


def _m_step(
    st: _MembershipState,
    r: np.ndarray,
    aux: tuple[np.ndarray, np.ndarray],
    v: np.ndarray,
    verr: np.ndarray,
    R_sq: np.ndarray,
    prior: tuple[np.ndarray, np.ndarray, np.ndarray],
    opts: dict[str, Any],
    verr_var: np.ndarray | None = None,
) -> tuple[_MembershipState, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The M-step of :func:`_generalised_em` from the responsibilities ``r``: (new state, its prior terms).

    The kernel's XD update (:func:`~xdtutorial.model._mixture_m_step`) with the
    field widths floored, the cluster's width capped and its mean or width
    held when asked, the field weights ``S_k / sum S``, then :func:`_spatial_step`.
    Raises EMFailure when a component lost all its stars.
    """
    S = np.add.reduce(r, axis=1)
    _check_occupied(S, v.size, "in the distance-aware EM", st.vector)
    mu, var, S = _mixture_m_step(
        r, aux, v, verr, st.mu, st.sig, S=S, verr_var=verr_var, fix_mean=opts["fix_mean"], fix_sigma=opts["fix_sigma"],
        var_floor=opts["var_floor"], var_cap=opts["var_cap"],
    )
    new = _MembershipState(mu, np.sqrt(var), S[1:] / S[1:].sum(), st.alpha, st.log_a)
    if opts["fit_spatial"]:
        prior = _spatial_step(new, r[0], R_sq, prior, opts["fit_radius"])
    return new, prior


@functools.lru_cache(maxsize=64)
def _options(
    n_components: int, field_sigma_floor: float, cluster_sigma_cap: float, fix_mean: float | None,
    fix_sigma: float | None, fit_spatial: bool, fit_radius: bool,
) -> dict[str, Any]:
    """The model limits and holds of one run, in the form :func:`_m_step` and :func:`_extrapolate` use.

    Cached (the survey runs thousands of EM runs with the same few): read it, never change it.
    """
    floor_var, cap_var = field_sigma_floor**2, cluster_sigma_cap**2
    return {
        "floor": field_sigma_floor, "cap": cluster_sigma_cap,
        "var_floor": np.r_[0.0, np.full(n_components - 1, floor_var)],
        "var_cap": np.r_[cap_var, np.full(n_components - 1, np.inf)],
        "fix_mean": None if fix_mean is None else {0: fix_mean},
        "fix_sigma": None if fix_sigma is None else {0: fix_sigma},
        "fit_spatial": fit_spatial, "fit_radius": fit_radius,
    }


def _extrapolate(
    x0: _MembershipState, x1: _MembershipState, x2: _MembershipState, opts: dict[str, Any], step_max: float
) -> tuple[_MembershipState | None, bool]:
    """The SQUAREM point (Varadhan & Roland 2008, scheme S3) from three successive EM states, or None.

    With r = x1 - x0 and w = x2 - 2 x1 + x0 (over every parameter), the step
    length a = -min(|r| / |w|, step_max) gives x0 - 2 a r + a^2 w (for a = -1
    that is x2, and then None is returned).  Widths and spatial parameters are
    put back within their clips; a point with a field weight <= 0 is refused
    (None).  Also returns whether the length was capped at ``step_max``.
    """
    p0, p1, p2 = (np.concatenate([x.mu, x.sig, x.fw, [x.alpha, x.log_a]]) for x in (x0, x1, x2))
    r = p1 - p0
    w = p2 - 2.0 * p1 + p0
    rr, ww = float(np.dot(r, r)), float(np.dot(w, w))
    if not (ww > 0.0 and np.isfinite(rr)) or rr <= ww:
        return None, False  # a = -1 (or undefined): the plain EM point
    length = float(np.sqrt(rr / ww))
    a = -min(length, step_max)
    p = p0 - 2.0 * a * r + a * a * w
    k = x0.mu.size
    mu, sig, fw = p[:k], p[k : 2 * k], p[2 * k : 3 * k - 1]
    if not np.all(np.isfinite(p)) or np.any(fw <= 0.0):
        return None, False
    sig[0] = min(max(sig[0], 0.0), opts["cap"])
    sig[1:] = np.maximum(sig[1:], opts["floor"])
    alpha = min(max(float(p[-2]), -_ALPHA_LIMIT), _ALPHA_LIMIT)
    log_a = min(max(float(p[-1]), _LOG_A_LIMITS[0]), _LOG_A_LIMITS[1])
    return _MembershipState(mu, sig, fw / fw.sum(), alpha, log_a), length >= step_max


def _generalised_em(
    st: _MembershipState,
    v: np.ndarray,
    verr_var: np.ndarray,
    R: np.ndarray,
    *,
    field_sigma_floor: float,
    cluster_sigma_cap: float,
    fit_radius: bool = True,
    fit_spatial: bool = True,
    tol: float = 1e-9,
    max_iter: int = 1000,
    fix_mean: float | None = None,
    fix_sigma: float | None = None,
    accelerate: bool = False,
) -> tuple[_MembershipState, float, bool, int]:
    """Generalised EM for the distance-aware model; returns (state, ln L, converged, steps).

    The E-step and the velocity M-step are the kernel's, as in the two-component
    model (:func:`xdtutorial.model._mixture_e_step` with the prior as per-star
    weights, here :func:`_e_step`, and :func:`xdtutorial.model._mixture_m_step`,
    Bovy, Hogg & Roweis 2011 eq. 16, here :func:`_m_step`), with the field
    widths floored and the cluster width capped; the spatial parameters then
    take one step that increases the expected log-likelihood
    (:func:`_spatial_step`).  The prior terms ln pi_i are computed once per
    step: the spatial step returns them for the next E-step.  EM stops when one
    step raises ln L by less than ``tol`` per star; ``steps`` counts E-steps.

    A stop at a fixed point of EM that is not a maximum (the cluster's width
    near 0 where ln L still rises along it, the score test; two identical
    components: :func:`_stop_problem`) is followed by one more run from a
    point beside it (the starts are the model's own, not the user's); if
    that one does not end higher at a maximum, the result is
    ``converged=False`` with an :class:`~xdtutorial.errors.EMConvergenceWarning`
    saying why.

    ``fit_radius=False`` holds the Plummer scale, ``fit_spatial=False`` both
    spatial parameters.  ``fix_mean`` or ``fix_sigma`` hold the cluster's mean or width at that
    value (a conditional-maximisation step for the other one): the profile
    likelihood in the dispersion of :func:`xdtutorial.intervals._marginal_intervals`.

    ``accelerate=True`` extrapolates after every two EM steps by SQUAREM
    (:func:`_extrapolate`) and keeps the extrapolated point only when its
    ln L is at least that after the first of the two steps (and EM can go on
    from it: no component emptied), otherwise it continues from the second:
    ln L still never decreases, the stopping rule
    is the same test on a plain EM step, and the fixed points are those of
    EM, reached in far fewer steps where EM crawls (a width heading for 0, a
    parameter for its clip).
    """
    opts = _options(st.mu.size, field_sigma_floor, cluster_sigma_cap, fix_mean, fix_sigma, fit_spatial, fit_radius)
    verr = np.sqrt(verr_var)
    # numpy's warnings off for the run: every non-finite value is tested (the kernel's E-step redoes
    # an extreme scale without squares, a component without stars raises EMFailure)
    with np.errstate(all="ignore"):
        x, ll, converged, steps = _run(st, v, verr, R, opts, tol, max_iter, accelerate)
        problem, escape = _stop_problem(x, converged, v, verr, R, opts)
        if escape is not None:  # one more run from a point beside the fixed point
            try:
                x2, ll2, converged2, steps2 = _run(escape, v, verr, R, opts, tol, max_iter, accelerate)
            except EMFailure:
                pass
            else:
                steps += steps2
                if ll2 > ll:
                    x, ll, converged = x2, ll2, converged2
                    problem, _ = _stop_problem(x, converged, v, verr, R, opts)
    if problem is None:
        return x, ll, converged, steps
    warnings.warn(f"distance-aware EM: {problem}", EMConvergenceWarning, stacklevel=2)
    return x, ll, False, steps


def _run(
    st: _MembershipState, v: np.ndarray, verr: np.ndarray, R: np.ndarray, opts: dict[str, Any], tol: float,
    max_iter: int, accelerate: bool,
) -> tuple[_MembershipState, float, bool, int]:
    """One run of :func:`_generalised_em`: SQUAREM, falling back to plain EM from the start, or plain EM."""
    if accelerate:
        try:
            return _squarem(st, v, verr, R, opts, tol, max_iter)
        except EMFailure:
            pass  # extrapolation led where EM cannot go on (a component emptied): plain EM from the start
    return _plain_em(st, v, verr, R, opts, tol, max_iter)


def _plain_em(
    st: _MembershipState, v: np.ndarray, verr: np.ndarray, R: np.ndarray, opts: dict[str, Any], tol: float,
    max_iter: int,
) -> tuple[_MembershipState, float, bool, int]:
    """The plain loop of :func:`_generalised_em`."""
    n = v.size
    R_sq = R * R
    verr_var = verr * verr
    x = st.copy()
    prior = _log_prior_member(x.alpha, x.log_a, R_sq)
    ll_old = -np.inf
    for it in range(1, max_iter + 1):
        r, ll, aux = _e_step(x, v, verr, prior, verr_var)
        if ll - ll_old < tol * n and it > 1:
            return x, ll, True, it - 1
        ll_old = ll
        x, prior = _m_step(x, r, aux, v, verr, R_sq, prior, opts, verr_var)
    return x, _log_likelihood(x, v, verr_var, R), False, max_iter


#: As em_fit's rule (xdtutorial.em.STUCK_GAIN, STUCK_WIDTH_RATIO): a cluster width below 1 %
#: of the median error, where ln L would still rise by more than 1e-3, is not a maximum.
_STUCK_GAIN, _STUCK_WIDTH_RATIO = 1e-3, 1e-2


def _stop_problem(
    x: _MembershipState, converged: bool, v: np.ndarray, verr: np.ndarray, R: np.ndarray, opts: dict[str, Any]
) -> tuple[str | None, _MembershipState | None]:
    """Whether a run that met its tolerance stopped at a fixed point of EM that is no maximum.

    Returns (why, a start beside it) or (None, None).  Two fixed points of EM
    that are not maxima: two identical components (EM keeps them identical;
    the start beside it moves them half a width apart), and the cluster's width
    near 0 (EM's steps in its mean and width shrink like ``sigma^2``; SQUAREM's
    extrapolation can land on 0) while the score test
    (:func:`xdtutorial.model._score_gains`) says ln L still rises (the start
    beside it has the width of the median error).
    """
    if not converged:
        return None, None
    for j in range(x.mu.size):
        for k in range(j + 1, x.mu.size):
            scale = 1.0 + abs(x.mu[j]) + x.sig[k]
            if abs(x.mu[j] - x.mu[k]) <= 1e-9 * scale and abs(x.sig[j] - x.sig[k]) <= 1e-9 * scale:
                beside = x.copy()
                beside.mu[j] -= 0.5 * x.sig[j]
                beside.mu[k] += 0.5 * x.sig[k]
                if j == 0 and opts["fix_mean"]:
                    beside.mu[j] = x.mu[j]
                return (
                    f"components {j + 1} and {k + 1} are identical (mean {x.mu[j]:.4f}, width {x.sig[j]:.4f} "
                    "km/s): a saddle point, not a maximum. Fix: start them apart"
                ), beside
    if (opts["fix_sigma"] is None and x.sig[0] < _STUCK_WIDTH_RATIO * verr.max()
            and x.sig[0] < _STUCK_WIDTH_RATIO * np.median(verr)):
        q, _, _ = _e_step(x, v, verr, _log_prior_member(x.alpha, x.log_a, R * R))
        gain_mean, gain_width = _score_gains(q[:1], v, verr, x.mu[:1], x.sig[:1])
        gain = float(gain_width[0] + (0.0 if opts["fix_mean"] else gain_mean[0]))
        if gain > _STUCK_GAIN:
            beside = x.copy()
            beside.sig[0] = min(float(np.median(verr)), opts["cap"])
            return (
                f"the cluster's width {x.sig[0]:.3g} km/s is far below the errors, where EM's steps shrink like "
                f"sigma^2 (sigma = 0 is a fixed point of EM), but ln L would still rise by about {gain:.3g} along "
                "its mean and width: not a maximum. Fix: start with a cluster width comparable to the errors"
            ), beside
    return None, None


def _squarem(
    st: _MembershipState, v: np.ndarray, verr: np.ndarray, R: np.ndarray, opts: dict[str, Any], tol: float,
    max_iter: int,
) -> tuple[_MembershipState, float, bool, int]:
    """The accelerated loop of :func:`_generalised_em` (``accelerate=True``).

    Raises EMFailure where EM cannot go on (the caller then runs plain EM).

    The extrapolation length starts capped at 4 EM steps' worth and the cap
    grows fourfold each time it is reached and the point kept (the step-length
    control of Varadhan & Roland's SQUAREM), so a first, poorly informed
    extrapolation cannot throw EM far into another basin.
    """
    n = v.size
    R_sq = R * R
    verr_var = verr * verr
    x = st.copy()
    prior = _log_prior_member(x.alpha, x.log_a, R_sq)
    step_max = 4.0
    r, ll, aux = _e_step(x, v, verr, prior, verr_var)
    steps = 1
    ahead = None  # the M-step from x, when already taken
    while steps < max_iter:
        x1, prior1 = ahead if ahead is not None else _m_step(x, r, aux, v, verr, R_sq, prior, opts, verr_var)
        ahead = None
        r1, ll1, aux1 = _e_step(x1, v, verr, prior1, verr_var)
        steps += 1
        if ll1 - ll < tol * n:
            return x1, ll1, True, steps - 1
        x2, prior2 = _m_step(x1, r1, aux1, v, verr, R_sq, prior1, opts, verr_var)
        xp, capped = _extrapolate(x, x1, x2, opts, step_max)
        if xp is not None:
            prior_p = _log_prior_member(xp.alpha, xp.log_a, R_sq)
            r_p, ll_p, aux_p = _e_step(xp, v, verr, prior_p, verr_var)
            steps += 1
            if ll_p >= ll1:  # monotone: continue from the extrapolated point, unless EM cannot go on from it
                try:
                    ahead = _m_step(xp, r_p, aux_p, v, verr, R_sq, prior_p, opts, verr_var)
                except EMFailure:
                    ahead = None
                else:
                    x, prior, r, ll, aux = xp, prior_p, r_p, ll_p, aux_p
                    step_max *= 4.0 if capped else 1.0
                    continue
        r2, ll2, aux2 = _e_step(x2, v, verr, prior2, verr_var)
        steps += 1
        if ll2 - ll1 < tol * n:
            return x2, ll2, True, steps - 1
        x, prior, r, ll, aux = x2, prior2, r2, ll2, aux2
    return x, ll, False, steps


def _room_many(x: np.ndarray, step: np.ndarray, limits: tuple[float, float]) -> np.ndarray:
    """:func:`_room` elementwise."""
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.clip((limits[1] - x) / step, 0.0, 1.0)
        down = np.clip((limits[0] - x) / step, 0.0, 1.0)
    return np.where(step > 0.0, up, np.where(step < 0.0, down, 1.0))


def _pushes_out_many(x: np.ndarray, step: np.ndarray, limits: tuple[float, float]) -> np.ndarray:
    """:func:`_pushes_out` elementwise."""
    return ((x <= limits[0]) & (step < 0.0)) | ((x >= limits[1]) & (step > 0.0))


def _log_prior_many(
    alpha: np.ndarray, log_a: np.ndarray, R_sq: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_log_prior_member` of many (alpha, ln a), shape (n_states,) each: arrays (n_states, n_stars)."""
    u = R_sq * np.exp(-2.0 * log_a)[:, None]
    z = alpha[:, None] - 2.0 * np.log1p(u)
    log_pi = log_expit(z)
    return log_pi, log_pi - z, u


def _batched_em(
    starts: Sequence[_MembershipState],
    v: np.ndarray,
    verr_var: np.ndarray,
    R: np.ndarray,
    *,
    field_sigma_floor: float,
    cluster_sigma_cap: float,
    tol: float = 1e-9,
    max_iter: int = 100,
) -> list[tuple[_MembershipState, float] | None]:
    """:func:`_generalised_em` (plain, every parameter free) from many starts at once: (state, ln L) of each.

    The exploratory short runs of :func:`~xdtutorial.cluster_fit.fit_cluster` run ten or so starts
    with the same number of field Gaussians for ``max_iter`` steps each.  Here they share every
    numpy call: the state is a stack of arrays (n_starts, 1 + K_f, n_stars), and the spatial step
    (:func:`_spatial_step`, the same Fisher scoring with the same clips and step halving) is written
    for all starts at once.  A start stops where :func:`_generalised_em` would (its own
    convergence test, or ``max_iter``), so each result equals that of its own run to rounding
    (tested); a start whose component lost all its stars gives None (where the single run raises).
    """
    n = v.size
    R_sq = R * R
    verr = np.sqrt(verr_var)
    opts = _options(starts[0].mu.size, field_sigma_floor, cluster_sigma_cap, None, None, True, True)
    var_floor, var_cap = opts["var_floor"], opts["var_cap"]
    lo_a, hi_a = _LOG_A_LIMITS
    alpha_lim = (-_ALPHA_LIMIT, _ALPHA_LIMIT)
    mu = np.array([s.mu for s in starts], dtype=float)
    sig = np.array([s.sig for s in starts], dtype=float)
    fw = np.array([s.fw for s in starts], dtype=float)
    alpha = np.array([s.alpha for s in starts], dtype=float)
    log_a = np.array([s.log_a for s in starts], dtype=float)
    lp, l1p, u = _log_prior_many(alpha, log_a, R_sq)
    ll_old = np.full(len(starts), -np.inf)
    index = np.arange(len(starts))  # which start each row is
    out: list[tuple[_MembershipState, float] | None] = [None] * len(starts)

    def state(i: int) -> _MembershipState:
        return _MembershipState(mu[i].copy(), sig[i].copy(), fw[i].copy(), float(alpha[i]), float(log_a[i]))

    with np.errstate(all="ignore"):  # as in _generalised_em: every non-finite value is tested
        for it in range(1, max_iter + 1):
            # E-step: the kernel's, on the stack, with the prior weights of each start
            log_w = np.empty((mu.shape[0], mu.shape[1], n))
            log_w[:, 0] = lp
            np.add(l1p[:, None, :], np.log(fw)[:, :, None], out=log_w[:, 1:])
            r, ll, aux = _mixture_e_step(v, verr, mu, sig, log_w, verr_var)
            S = np.add.reduce(r, axis=2)
            done = (ll - ll_old < tol * n) if it > 1 else np.zeros(ll.size, dtype=bool)
            failed = ~done & ~_occupied(S, n)
            for i in np.flatnonzero(done):
                out[index[i]] = (state(i), float(ll[i]))
            keep = ~(done | failed)
            if not keep.all():
                if not keep.any():
                    return out
                mu, sig, fw, alpha, log_a = mu[keep], sig[keep], fw[keep], alpha[keep], log_a[keep]
                lp, l1p, u, r, S, ll = lp[keep], l1p[keep], u[keep], r[keep], S[keep], ll[keep]
                aux = (aux[0][keep], aux[1][keep])
                index = index[keep]
            ll_old = ll
            # M-step: the kernel's, as _m_step
            mu, var, S = _mixture_m_step(r, aux, v, verr, mu, sig, S=S, verr_var=verr_var, var_floor=var_floor,
                                     var_cap=var_cap)
            sig = np.sqrt(var)
            fw = S[:, 1:] / S[:, 1:].sum(axis=1, keepdims=True)
            # spatial step (as _spatial_step with fit_radius=True)
            q = r[:, 0]
            pi = np.exp(lp)
            resid = q - pi
            g0 = resid.sum(axis=1)
            w = pi * (1.0 - pi)
            a11 = w.sum(axis=1)
            dz = 4.0 * u / (1.0 + u)
            wdz = w * dz
            a12, a22, g1 = wdz.sum(axis=1), np.einsum("ij,ij->i", wdz, dz), np.einsum("ij,ij->i", resid, dz)
            ridge = 1e-9 * np.maximum(a11 + a22, 1e-12)
            a11, a22 = a11 + ridge, a22 + ridge
            det = a11 * a22 - a12 * a12
            s0, s1 = (a22 * g0 - a12 * g1) / det, (a11 * g1 - a12 * g0) / det
            held = _pushes_out_many(log_a, s1, _LOG_A_LIMITS)
            s0, s1 = np.where(held, g0 / a11, s0), np.where(held, 0.0, s1)
            held = _pushes_out_many(alpha, s0, alpha_lim)
            s1 = np.where(held, np.where(_pushes_out_many(log_a, g1, _LOG_A_LIMITS), 0.0, g1 / a22), s1)
            s0 = np.where(held, 0.0, s0)
            pending = ~(np.abs(g0 * s0 + g1 * s1) < 1e-12 * n)
            t = np.minimum(_room_many(alpha, s0, alpha_lim), _room_many(log_a, s1, _LOG_A_LIMITS))
            s0, s1 = t * s0, t * s1
            old = np.einsum("ij,ij->i", q, lp - l1p) + l1p.sum(axis=1)
            for _ in range(8):  # a generalised EM step only needs *an* increase
                rows = np.flatnonzero(pending)
                if rows.size == 0:
                    break
                a_t = np.clip(alpha[rows] + s0[rows], -_ALPHA_LIMIT, _ALPHA_LIMIT)
                la_t = np.clip(log_a[rows] + s1[rows], lo_a, hi_a)
                t_lp, t_l1p, t_u = _log_prior_many(a_t, la_t, R_sq)
                up = np.einsum("ij,ij->i", q[rows], t_lp - t_l1p) + t_l1p.sum(axis=1) >= old[rows]
                ok = rows[up]
                alpha[ok], log_a[ok] = a_t[up], la_t[up]
                lp[ok], l1p[ok], u[ok] = t_lp[up], t_l1p[up], t_u[up]
                pending[ok] = False
                s0, s1 = 0.5 * s0, 0.5 * s1
    lls = _log_likelihoods(mu, sig, fw, alpha, log_a, v, verr_var, R)
    for i in range(index.size):
        out[index[i]] = (state(i), float(lls[i]))
    return out


def _log_likelihoods(
    mu: np.ndarray,
    sig: np.ndarray,
    fw: np.ndarray,
    alpha: np.ndarray,
    log_a: np.ndarray,
    v: np.ndarray,
    verr_var: np.ndarray,
    R: np.ndarray,
    chunk: int = 2_000_000,
) -> np.ndarray:
    """:func:`_log_likelihood` of many states at once, shape (n_states,).

    The fields of n_states :class:`_MembershipState` stacked: ``mu`` and ``sig`` of shape
    (n_states, 1 + K_f), ``fw`` (n_states, K_f), ``alpha`` and ``log_a`` (n_states,).  They are
    evaluated together, as arrays of shape (n_states, 1 + K_f, n_stars), in chunks of at most
    ``chunk`` entries, so the numpy calls are shared (the finite-difference Hessian needs a few
    hundred evaluations).  The operations of :func:`_log_terms`, so its values (tested).
    """
    log_fw = np.log(fw)
    R_sq = R * R
    verr = np.sqrt(verr_var)
    step = max(1, chunk // max(mu.shape[1] * v.size, 1))
    out = np.empty(mu.shape[0])
    for i in range(0, mu.shape[0], step):
        sl = slice(i, i + step)
        u = R_sq * np.exp(-2.0 * log_a[sl])[:, None]
        z = alpha[sl, None] - 2.0 * np.log1p(u)
        log_pi = log_expit(z)
        for check in (False, True):  # the fast form; tested on the totals, redone safely if one is not finite
            logp = _log_normal_convolved(v, mu[sl, :, None], sig[sl, :, None], verr, check=check)
            logp[:, 0] += log_pi
            logp[:, 1:] += (log_pi - z)[:, None, :] + log_fw[sl, :, None]
            out[sl] = logsumexp(logp, axis=1).sum(axis=-1)
            if np.isfinite(out[sl]).all():
                break
    return out
