"""Private: intervals of the cluster's mean and dispersion for sparse clusters (notebook 06).

With few members the curvature of the log-likelihood is a poor guide to the
uncertainty of the cluster's parameters, and so are the likelihood-ratio levels
of Wilks' theorem, so :func:`~xdtutorial.cluster_fit.fit_cluster` uses, below
``profile_below_members`` expected members, the quantiles of the two parameters'
approximate *marginal posteriors* (:func:`_marginal_intervals`): every other
parameter integrated out (Laplace's method about the profile likelihood in the
dispersion), with a Jeffreys-like weight for the dispersion (:func:`_log_jeffreys_prior`: Jeffreys' rule,
but through the memberships it depends on the data, so strictly it is not a prior) and a flat prior for
the mean.  The point estimates reported with these intervals are the two marginals' medians.

Why not the profile likelihood?  On the 300 wide mocks with 8-14 members of
tools/calibrate_sparse.py (notebooks/results/calibration_wide_8_14_b8ae5e1.txt, the script as
at commit b8ae5e1) its intervals of the mean held the truth in 0.56 (68 %) and 0.87 (95 %) of
the reliable fits, and ten of them were confidently wrong.  Two reasons: Wilks' levels ignore that the dispersion is
estimated (the exact answer for N Gaussian stars is Student's t with N - 1
degrees of freedom), and the mean's profile at a dispersion near 0 stays there
(EM's update of a width is multiplicative), so that a few stars that agree by
chance pinned the mean.  The maximum-likelihood variance of N stars is biased
low by (N - 1) / N, and more so when the memberships are fitted too, so the
dispersion's profile interval is centred too low.  The marginal posterior fixes
both; its calibration is a slow test (tests/test_calibration_*.py) and a seeded
script (tools/calibrate_sparse.py).

The profile in the dispersion reuses the generalised EM of
:mod:`xdtutorial.membership` with the width held fixed (``fix_sigma``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy.optimize import brentq
from scipy.special import ndtr

from ._numerics import invert_information
from .membership import _ALPHA_LIMIT, _LOG_A_LIMITS, _generalised_em, _hessian, _memberships, _MembershipState


def _log_jeffreys_prior(s: float, q: np.ndarray, verr_var: np.ndarray) -> float:
    """ln of Jeffreys' prior for the cluster's dispersion ``s`` [km/s], up to a constant.

    Star i, a member with probability ``q_i``, has velocity variance
    ``s^2 + e_i^2``; the Fisher information on ``s`` is
    ``I(s) = sum_i q_i 2 s^2 / (s^2 + e_i^2)^2``, and the prior is
    ``sqrt(I(s)) ~ s [sum_i q_i / (s^2 + e_i^2)^2]^(1/2)``: ``1/s`` (the usual
    prior of a scale) well above the errors, falling to 0 at ``s = 0``, where
    the data cannot tell a width from none.
    """
    return float(np.log(max(s, 1e-300)) + 0.5 * np.log(np.dot(q, 1.0 / (s * s + verr_var) ** 2)))


#: Equal-tailed quantiles of the 68.27 % and 95 % intervals from a posterior.
POSTERIOR_QUANTILES = ((0.158655, 0.841345), (0.025, 0.975))


class MarginalIntervals(NamedTuple):
    """68 % and 95 % intervals (lower, upper) of the cluster's mean and dispersion [km/s], their posterior
    medians [km/s], and the mean's marginal posterior as a Gaussian mixture.

    ``unusable`` lists the points of the dispersion's profile whose Hessian could not serve the Laplace
    correction ("<s> km/s: why"); their log-determinant and ln V were interpolated from the others.
    """

    mean68: tuple[float, float]
    mean95: tuple[float, float]
    dispersion68: tuple[float, float]
    dispersion95: tuple[float, float]
    mean_median: float = np.nan
    dispersion_median: float = np.nan
    #: shape (n, 3): weight, centre [km/s] and standard deviation [km/s] of each component; weights sum to 1
    mean_posterior: np.ndarray = np.empty((0, 3))
    unusable: tuple[str, ...] = ()


def _mixture_quantile(p: float, weights: np.ndarray, centres: np.ndarray, sds: np.ndarray) -> float:
    """The ``p`` quantile of the Gaussian mixture ``sum_j weights_j N(centres_j, sds_j^2)`` (weights sum to 1)."""
    lo, hi = float(np.min(centres - 10.0 * sds)), float(np.max(centres + 10.0 * sds))
    return float(brentq(lambda x: float(np.dot(weights, ndtr((x - centres) / sds))) - p, lo, hi, xtol=1e-6))


def _marginal_intervals(
    st: _MembershipState,
    ll_max: float,
    v: np.ndarray,
    verr_var: np.ndarray,
    R: np.ndarray,
    step: float,
    limits: dict[str, float],
    fixed: Sequence[int] = (),
    n_grid: int = 20,
    n_hessian: int = 6,
) -> MarginalIntervals:
    """68 % and 95 % intervals of the cluster's mean and dispersion from their approximate marginal posteriors.

    **The dispersion.**  The marginal posterior of the dispersion s is the likelihood integrated
    over every other parameter lambda (with priors flat in the coordinates of
    :func:`~xdtutorial.membership._to_unconstrained`), times the prior of s,
    Jeffreys' (:func:`_log_jeffreys_prior`).  Laplace's method (Tierney &
    Kadane 1986) does the integral about the profile's maximum at each s::

        p(s | data)  ~  pi_J(s) L_p(s) |-H_ll(s)|^(-1/2),

    with ``L_p`` the profile likelihood (the generalised EM with ``fix_sigma``) and ``H_ll`` the
    Hessian of ln L in the other free parameters (``fixed``: indices of
    :func:`~xdtutorial.membership._to_unconstrained` held at clips, besides the dispersion
    itself; when p0 or a is at a clip, both stay at their fitted values along the whole profile
    and out of the Hessian, so the posterior is conditional on them).

    **The mean.**  Along the same profile, the posterior of the mean given s is, in the same
    Laplace approximation, Gaussian: centred on the profile's mean at s, ``mu_hat(s)``, with the
    variance ``V(s) = [(-H_ll(s))^-1]_(mu mu)``.  The marginal posterior of the mean is their
    mixture, weighted by p(s | data)::

        p(mu | data)  ~  integral  N(mu; mu_hat(s), V(s)) p(s | data) ds.

    For N stars of known membership with one error, this is exact: ``p(s | data)`` is then the
    scaled inverse chi distribution with N - 1 degrees of freedom and the mixture is Student's t
    with N - 1, whose intervals hold the truth at exactly their nominal rate (the prior 1/s of a
    scale, which Jeffreys' prior becomes well above the errors, is *probability matching*).  The
    profile likelihood's intervals with Wilks' levels are too short by t_(N-1) against the normal
    quantile (at 8 members, the 95 % interval covers 0.92), and worse, the mean's profile at a
    dispersion near 0 cannot leave it (EM's update of a width is multiplicative, so at s -> 0 it
    crawls): a mean held a few km/s off keeps the cold solution, and a handful of stars that
    happen to agree made the mean look precise, and confidently wrong.  Integrating over s, the
    warmer widths the data allow widen the mean's interval as they should.

    The density of s is evaluated on a grid from 0 (where the prior vanishes) in steps of
    ``step / 4`` (``step``: the curvature error; at most ``cap / (2 n_grid)``), extended until
    ``2 (ln L_max - ln L_p)`` exceeds 25 or the width cap is reached, and integrated by the
    trapezoid rule.  The log-determinant and ``ln V`` are computed at ``n_hessian`` points spread
    over the grid (at least ``n_grid`` points); in between, their departures from the
    known-membership values (``ln V = -ln sum_i q_i / (s^2 + e_i^2)``, the mean's part of the
    determinant minus that), which vary slowly, are interpolated linearly.  Where the Hessian is
    not safely negative definite, or a free p0 or a has reached its clip, they are interpolated
    from the other points (and listed in ``unusable``, with why: the information matrix is not positive
    definite or not finite, :func:`~xdtutorial._numerics.invert_information`, or it is nearly singular).
    When no point has a usable Hessian there is no Laplace correction and no variance of the mean: this
    raises ``FloatingPointError``, naming why, rather than dropping the term.

    The intervals are the equal-tailed quantiles :data:`POSTERIOR_QUANTILES` of the two
    marginals; for an unresolved dispersion (0 at the maximum, ``st.sig[0] < 1e-3``) the
    dispersion's are upper limits, (0, q_0.6827) and (0, q_0.95).  The point estimates that go
    with them are the two marginals' *medians* (inside every equal-tailed interval by
    construction; see :func:`~xdtutorial.cluster_fit.fit_cluster` for why the maximum-likelihood
    values are not reported with these intervals).

    Parameters
    ----------
    st : _MembershipState
        The maximum-likelihood fit.
    ll_max : float
        Its ln L.
    v, verr_var, R : ndarray, shape (n_stars,)
        Velocities [km/s], squared errors [km^2/s^2] and projected distances [arcsec].
    step : float
        Curvature error of the dispersion [km/s] (or a typical error when it has none).
    limits : dict
        ``field_sigma_floor`` and ``cluster_sigma_cap`` [km/s].
    fixed : sequence of int, default=()
        Indices held at clips (see above).
    n_grid, n_hessian : int, default=20, 6
        Fewest grid points; points with a Hessian.

    Returns
    -------
    MarginalIntervals
        The intervals, the medians ``mean_median`` and ``dispersion_median``, and ``mean_posterior``,
        the mixture above (weight, centre, sd of each grid point's conditional posterior).

    Raises
    ------
    FloatingPointError
        The profile's EM failed, or no grid point had a usable Hessian (the message says which).
    """
    cap = limits["cluster_sigma_cap"]
    x0 = float(st.sig[0])
    unresolved = x0 < 1e-3
    h = min(max(step, 0.4) / 4.0, cap / (2 * n_grid))  # at most 4 cap / 0.4 = 250 points
    # with p0 or a at a clip both are held (and left out of the Hessian): a profile that frees them at
    # some widths would jump to other solutions without paying for the freedom
    hold = bool({2, 3} & set(fixed))
    fixed_all = sorted({1, *fixed, *((2, 3) if hold else ())})
    grid: list[float] = []
    ll_p: list[float] = []
    log_prior: list[float] = []
    log_info: list[float] = []  # ln sum_i q_i / (s^2 + e_i^2): the mean's information with known memberships
    states: list[_MembershipState] = []

    def profile_at(x: float, near: _MembershipState) -> None:
        start = near.copy()
        start.sig[0] = x
        fit, ll, _, _ = _generalised_em(
            start, v, verr_var, R, tol=1e-8, max_iter=2000, fit_spatial=not hold, **limits, fix_sigma=x
        )
        q = _memberships(fit, v, verr_var, R)
        grid.append(x)
        ll_p.append(ll)
        log_prior.append(_log_jeffreys_prior(x, q, verr_var))
        log_info.append(float(np.log(np.dot(q, 1.0 / (x * x + verr_var)))))
        states.append(fit)

    # outwards from the best fit on both sides, each point warm-started from its neighbour; s = 0 itself,
    # where Jeffreys' prior vanishes, is added below without a fit (with tiny errors its EM would empty
    # the cluster component)
    below = np.arange(np.floor(x0 / h), 0, -1) * h
    for x in below:
        profile_at(float(x), states[-1] if states else st)
    x, near = (float(below[0]) + h if below.size else h), (states[0] if states else st)
    while x <= cap + 1e-9:
        profile_at(x, near)
        near = states[-1]
        if 2.0 * (max(ll_max, *ll_p) - ll_p[-1]) > 25.0 and len(grid) >= n_grid:
            break
        x += h
    order = np.argsort(grid)
    xs, lp = np.array(grid)[order], np.array(ll_p)[order]
    mu_hat = np.array([states[i].mu[0] for i in order])
    # the log-determinant and ln V: computed at n_hessian points, interpolated between them (see below)
    ld, log_var = np.full(xs.size, np.nan), np.full(xs.size, np.nan)
    unusable: list[str] = []
    for i in np.unique(np.linspace(0, xs.size - 1, min(n_hessian, xs.size)).round().astype(int)):
        fit = states[order[i]]
        if not hold and (abs(fit.alpha) >= _ALPHA_LIMIT - 1e-3 or not
                         _LOG_A_LIMITS[0] + 1e-3 < fit.log_a < _LOG_A_LIMITS[1] - 1e-3):
            unusable.append(f"{xs[i]:.2f} km/s: p0 or the Plummer scale at its clip")
            continue  # a spatial parameter on its clip here: no Gaussian approximation about it
        H = _hessian(fit, v, verr_var, R, fixed=fixed_all)
        free = [j for j in range(H.shape[0]) if j not in fixed_all]  # free[0] == 0: the mean
        info = -H[np.ix_(free, free)]
        cov, problem = invert_information(info)  # [(-H)^-1]_00 is the variance of the mean
        eig = np.linalg.eigvalsh(info) if cov is not None else None
        if eig is None or eig[0] <= 1e-8 * eig[-1]:  # a maximum, and not nearly singular
            unusable.append(f"{xs[i]:.2f} km/s: information matrix {problem or 'nearly singular'}")
            continue
        ld[i] = float(np.sum(np.log(eig)))
        log_var[i] = float(np.log(cov[0, 0]))
    ok = np.isfinite(ld)
    if not ok.any():
        raise FloatingPointError(
            f"no usable Hessian at any of the {min(n_hessian, xs.size)} points of the dispersion's profile "
            f"({xs[0]:.2f}-{xs[-1]:.2f} km/s; {'; '.join(unusable)}): the marginal posterior has no Laplace "
            "correction"
        )
    # what is interpolated is their departure from the known-membership case, ln V = -info: that part
    # (ln V ~ 2 ln s above the errors) is curved, and known at every point
    info = np.array(log_info)[order]
    ld = np.interp(xs, xs[ok], ld[ok] - info[ok]) + info
    sd = np.exp(0.5 * (np.interp(xs, xs[ok], log_var[ok] + info[ok]) - info))
    log_post = lp - 0.5 * ld + np.array(log_prior)[order]
    dens = np.exp(log_post - log_post.max())
    xs, dens, mu_hat, sd = np.r_[0.0, xs], np.r_[0.0, dens], np.r_[mu_hat[0], mu_hat], np.r_[sd[0], sd]
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(xs))])
    cdf /= cdf[-1]
    if unresolved:  # upper limits
        disp = tuple((0.0, float(np.interp(hi - lo, cdf, xs))) for lo, hi in POSTERIOR_QUANTILES)
    else:
        disp = tuple((float(np.interp(lo, cdf, xs)), float(np.interp(hi, cdf, xs))) for lo, hi in POSTERIOR_QUANTILES)
    disp_median = float(np.interp(0.5, cdf, xs))
    # trapezoid weights of the grid points: the mixture of the mean's conditional posteriors
    widths = np.diff(xs)
    weights = dens * 0.5 * (np.r_[widths, 0.0] + np.r_[0.0, widths])
    weights /= weights.sum()
    use = weights > 1e-12
    mixture = (weights[use] / weights[use].sum(), mu_hat[use], sd[use])
    mean = tuple(tuple(_mixture_quantile(p, *mixture) for p in pair) for pair in POSTERIOR_QUANTILES)
    return MarginalIntervals(mean[0], mean[1], disp[0], disp[1],  # type: ignore[arg-type]
                             _mixture_quantile(0.5, *mixture), disp_median, np.column_stack(mixture),
                             tuple(unusable))
