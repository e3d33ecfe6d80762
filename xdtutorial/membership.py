"""The distance-aware membership model (notebook 06): "choose any cluster".

The velocity-only model assumes that the cluster is the narrow, dominant
Gaussian.  In bulge and disk fields that fails: the field can be cold, come in
several populations, and outnumber the members.  What identifies a cluster is
that its stars are *concentrated towards its centre*.  The model makes the
prior membership probability of star i a function of its projected distance
R_i,

    pi(R) = expit(alpha - 2 ln(1 + R^2 / a^2)),

i.e. the log of the ratio of a Plummer surface density, Sigma_c ∝ (1 + R²/a²)^-2,
to a uniform field density, with alpha = logit(p0) the log-odds at the centre
and a the Plummer scale radius.  It is a model of p(v_i | R_i): the spatial
selection of the spectroscopic targets cancels as long as it is the same for
members and field stars at a given R.  The field is a mixture of K_f Gaussians
in velocity.  Every Gaussian is convolved with each star's error, as before.

Extended parameter vector (the first four entries keep the two-component order)::

    (mean1, sigma1, mean2, sigma2, p0, r_scale, mean3, sigma3, w3, mean4, sigma4, w4, ...)

mean1, sigma1: cluster [km/s]; mean2, sigma2: first field Gaussian [km/s];
p0: membership probability at R = 0; r_scale: Plummer scale radius a [arcsec];
then (mean, sigma, weight) of each further field Gaussian; the first field
Gaussian's weight is 1 - w3 - w4 - ...

Fitting the model to a cluster, with a verdict, is :mod:`xdtutorial.cluster_fit`; the generalised EM
itself (re-exported here) is :mod:`xdtutorial._membership_em`.
Private names here carry no prefix: the module is the context.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import log_expit, logit

from ._membership_em import (  # noqa: F401  (the engine's names are part of this module's private API)
    _ALPHA_LIMIT,
    _LOG_A_LIMITS,
    _batched_em,
    _e_step,
    _extrapolate,
    _generalised_em,
    _log_likelihood,
    _log_likelihoods,
    _log_prior_member,
    _log_terms,
    _m_step,
    _memberships,
    _MembershipState,
    _options,
    _spatial_step,
)
from ._numerics import RNGLike, as_generator, central_hessian, logsumexp, rng_keyword_only
from ._validation import (
    as_float_array,
    check_float,
    check_int,
    check_pair,
    check_populations,
    check_positive_float,
    check_probability,
)
from .data import star_dtype


def _velocity_clumps(v: np.ndarray, bandwidth: float, n_max: int = 3) -> list[float]:
    """Positions of the highest peaks of a Gaussian kernel density estimate of ``v``.

    The density is evaluated on the grid ``v.min() - 3 bandwidth + j bandwidth / 4`` (spaced as
    ``np.arange`` spaces it), but only at the grid points within :data:`_KDE_REACH` bandwidths of
    a star: farther out every kernel underflows to exactly 0, so no peak can be there.  Those
    points are visited in pieces of :data:`_KDE_PIECE`, so memory is bounded and time is
    proportional to the number of stars, whatever the range of the data (one star at 1e8 km/s
    adds one small patch, not 1e8 grid points).
    """
    v = np.sort(np.asarray(v, dtype=float))
    lo = v[0] - 3 * bandwidth
    n_grid = int(np.ceil((v[-1] + 3 * bandwidth - lo) / (bandwidth / 4)))  # np.arange's length
    delta = (lo + bandwidth / 4) - lo  # np.arange's spacing, to the last bit
    reach = int(np.ceil(4 * _KDE_REACH)) + 1  # in grid steps
    # the grid points near a star: runs of consecutive indices, the union of [c - reach, c + reach]
    centre = np.unique(np.floor((v - lo) / delta).astype(np.int64))
    new_run = np.r_[True, np.diff(centre) > 2 * reach + 1]
    run_lo = np.maximum(centre[new_run] - reach, 0)
    run_hi = np.minimum(centre[np.r_[new_run[1:], True]] + reach, n_grid - 1)
    cum = np.r_[0, np.cumsum(run_hi - run_lo + 1)]  # positions of the runs' points, one after another
    peak_j, peak_dens = [], []
    for start in range(0, int(cum[-1]), _KDE_PIECE):
        pos = np.arange(max(start - 1, 0), min(start + _KDE_PIECE + 1, int(cum[-1])))  # one neighbour each side
        run = np.searchsorted(cum, pos, side="right") - 1
        j = run_lo[run] + (pos - cum[run])
        dens = _kernel_density(v, lo + j * delta, bandwidth)
        # a grid point's neighbours; absent ones (beyond reach of every star) have density 0
        left = np.where(np.r_[False, j[1:] == j[:-1] + 1], np.r_[0.0, dens[:-1]], 0.0)
        right = np.where(np.r_[j[:-1] + 1 == j[1:], False], np.r_[dens[1:], 0.0], 0.0)
        mine = (pos >= start) & (pos < start + _KDE_PIECE)
        peak = mine & (j > 0) & (j < n_grid - 1) & (dens > left) & (dens >= right)  # the grid's ends are no peaks
        peak_j.append(j[peak])
        peak_dens.append(dens[peak])
    grid, dens = lo + np.concatenate(peak_j) * delta, np.concatenate(peak_dens)
    chosen: list[float] = []
    for i in np.argsort(dens)[::-1]:
        if all(abs(grid[i] - c) > 2 * bandwidth for c in chosen):
            chosen.append(float(grid[i]))
        if len(chosen) == n_max:
            break
    return chosen


def _kernel_density(v_sorted: np.ndarray, grid: np.ndarray, bandwidth: float) -> np.ndarray:
    """sum_i exp(-(g - v_i)^2 / 2 bandwidth^2) at each g of ``grid`` (ascending), over the stars within reach.

    The stars beyond :data:`_KDE_REACH` bandwidths contribute exact zeros, so each block of grid
    points sums only its window of the sorted stars; a block holds at most :data:`_KDE_BLOCK`
    numbers (or one window).
    """
    first = np.searchsorted(v_sorted, grid - _KDE_REACH * bandwidth, side="left")
    last = np.searchsorted(v_sorted, grid + _KDE_REACH * bandwidth, side="right")
    dens = np.empty(grid.size)
    i = 0
    while i < grid.size:
        width = max(1, int(last[min(i + 4096, grid.size) - 1] - first[i]))
        end = min(grid.size, i + max(1, min(4096, _KDE_BLOCK // width)))
        window = v_sorted[first[i] : last[end - 1]]
        dens[i:end] = np.exp(-0.5 * ((grid[i:end, None] - window) / bandwidth) ** 2).sum(axis=1)
        i = end
    return dens


#: Beyond this many bandwidths a Gaussian kernel exp(-x^2 / 2) underflows to exactly 0.0 in float64.
_KDE_REACH = 39.0
#: Most numbers in one block of the kernel density estimate (8 MiB of float64).
_KDE_BLOCK = 1 << 20
#: Grid points evaluated at a time by _velocity_clumps.
_KDE_PIECE = 1 << 16


def _starting_states(
    v: np.ndarray,
    verr: np.ndarray,
    R: np.ndarray,
    n_field: int,
    rng: np.random.Generator,
    *,
    n_random: int,
    field_sigma_floor: float,
) -> list[_MembershipState]:
    """Starting points: clumps among the innermost stars, plus random ones."""
    n_inner = max(10, int(0.2 * v.size))
    inner = np.argsort(R, kind="stable")[:n_inner]
    a0 = float(np.log(max(np.quantile(R, 0.25), 1.0)))
    q = (np.arange(n_field) + 0.5) / n_field
    field_mu = np.quantile(v, q)
    iqr = np.subtract(*np.percentile(v, [75, 25]))
    field_sig = np.full(n_field, max(iqr / 1.35 / np.sqrt(n_field), 3.0 * field_sigma_floor))
    fw = np.full(n_field, 1.0 / n_field)
    bandwidth = max(3.0, float(np.median(verr[inner])))
    starts = [
        _MembershipState(np.r_[m, field_mu], np.r_[3.0, field_sig], fw.copy(), 1.0, a0)
        for m in _velocity_clumps(v[inner], bandwidth)
    ]
    for _ in range(n_random):
        m = rng.choice(v[inner])
        mus = np.r_[m, rng.choice(v, n_field)]
        sig = np.r_[rng.uniform(1.0, 10.0), field_sig * rng.uniform(0.5, 2.0, n_field)]
        p0 = rng.uniform(0.1, 0.9)
        alpha = float(logit(p0))
        log_a = float(np.log(max(np.quantile(R, rng.uniform(0.05, 0.5)), 1.0)))
        starts.append(_MembershipState(mus, sig, fw.copy(), alpha, log_a))
    return starts


def _split_broadest(st: _MembershipState) -> _MembershipState:
    """A start with one more field Gaussian: the broadest field component split in two."""
    k = 1 + int(np.argmax(st.sig[1:]))
    mu = np.r_[st.mu, st.mu[k] + 0.5 * st.sig[k]]
    mu[k] -= 0.5 * st.sig[k]
    sig = np.r_[st.sig, st.sig[k] / np.sqrt(2.0)]
    sig[k] /= np.sqrt(2.0)
    fw = np.r_[st.fw, 0.5 * st.fw[k - 1]]
    fw[k - 1] *= 0.5
    return _MembershipState(mu, sig, fw, st.alpha, st.log_a)


def _to_unconstrained(st: _MembershipState) -> np.ndarray:
    """(mu_c, sigma_c, alpha, ln a, mu_j, ln sigma_j ..., ln(w_j / w_1) for j >= 2)."""
    out = [st.mu[0], st.sig[0], st.alpha, st.log_a]
    for k in range(1, st.mu.size):
        out += [st.mu[k], np.log(st.sig[k])]
    out += list(np.log(st.fw[1:] / st.fw[0]))
    return np.array(out)


def _from_unconstrained(u: np.ndarray, n_field: int) -> _MembershipState:
    mu = np.r_[u[0], u[4 : 4 + 2 * n_field : 2]]
    sig = np.r_[u[1], np.exp(u[5 : 5 + 2 * n_field : 2])]
    logits = np.r_[0.0, u[4 + 2 * n_field :]]
    fw = np.exp(logits - logsumexp(logits))
    return _MembershipState(mu, sig, fw, float(u[2]), float(u[3]))


def _hessian(
    st: _MembershipState, v: np.ndarray, verr_var: np.ndarray, R: np.ndarray, fixed: Sequence[int] = ()
) -> np.ndarray:
    """Numerical Hessian of ln L in the unconstrained parameters (fixed indices: zero rows)."""
    u0 = _to_unconstrained(st)
    n_field = st.mu.size - 1

    def f(points: np.ndarray) -> np.ndarray:  # _from_unconstrained of every point at once
        mu = np.concatenate([points[:, :1], points[:, 4 : 4 + 2 * n_field : 2]], axis=1)
        sig = np.concatenate([points[:, 1:2], np.exp(points[:, 5 : 5 + 2 * n_field : 2])], axis=1)
        logits = np.concatenate([np.zeros((len(points), 1)), points[:, 4 + 2 * n_field :]], axis=1)
        fw = np.exp(logits - logsumexp(logits, axis=1)[:, None])
        return _log_likelihoods(mu, sig, fw, points[:, 2], points[:, 3], v, verr_var, R)

    return central_hessian(f, u0, 1e-4 * np.maximum(np.abs(u0), 1.0), fixed)


def membership_prior(p_centre: float, r_scale: float, R: Any) -> np.ndarray:
    """Prior probability of membership at projected distance ``R`` in the distance-aware model.

    .. math:: \\pi(R) = \\left[1 + \\frac{1 - p_0}{p_0}\\left(1 + R^2/a^2\\right)^2\\right]^{-1},

    the Plummer surface density ``(1 + R^2/a^2)^-2`` relative to a uniform
    field, normalised so that ``pi(0) = p0``.

    Parameters
    ----------
    p_centre : float
        Membership probability at the centre, in (0, 1).
    r_scale : float
        Plummer scale radius [arcsec], positive.
    R : array_like, any shape
        Projected distances [arcsec].

    Returns
    -------
    ndarray
        Probabilities, same shape as ``R``, values in [0, 1): computed as
        ``expit(logit(p0) - 2 ln(1 + (R/a)^2))``, with ``R/a`` formed before
        squaring, so any ``a`` in the float range works (``a = 1e-300``: 0
        beyond the centre; ``a = 1e200``: ``p0`` everywhere); a value below
        the smallest float is 0.

    Raises
    ------
    TypeError
        ``p_centre`` or ``r_scale`` not one number (e.g. the distances passed
        first: the parameters come first).
    ValueError
        ``p_centre`` not in (0, 1), ``r_scale`` not positive, or a negative
        or non-finite distance.
    """
    order = "the order is membership_prior(p_centre, r_scale, R)"
    if np.ndim(p_centre) != 0 or isinstance(p_centre, np.ndarray):
        raise TypeError(f"p_centre must be one probability in (0, 1); got an array. Fix: {order}")
    p_centre = check_probability("p_centre", p_centre, open_interval=True)
    r_scale = check_positive_float("r_scale", r_scale, fix=f"pass one Plummer scale radius in arcsec; {order}")
    R = as_float_array("R", R, ndim=None, allow_empty=True, nonnegative=True)
    # (R / a)^2, not R^2 / a^2: no overflow or underflow to 0/0 for any a in the float range
    # (a = 1e-300 puts every R > 0 far outside: pi = 0; a = 1e200 every R inside: pi = p0)
    with np.errstate(over="ignore"):
        u = np.square(R / r_scale)
    return np.exp(log_expit(logit(p_centre) - 2.0 * np.log1p(u)))



def _plummer_radii(n: int, a: float, r_max: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` projected radii from a Plummer profile of scale ``a`` truncated at ``r_max``.

    ``u = R^2 / (a^2 + R^2)`` is uniform for the untruncated profile.  While at least half of
    the profile lies inside ``r_max`` the draws beyond it are redrawn (the tutorial's mocks, and
    their random streams, since the start), in at most 64 rounds; otherwise, and for any draws
    still missing, ``u`` is drawn uniform below ``u_max = r_max^2 / (a^2 + r_max^2)`` directly;
    where ``u_max`` underflows (``a`` beyond ~1e6 ``r_max``, up to 1e308) the same radii are drawn as
    ``R^2 = t r_max^2 / (1 + (1 - t) (r_max / a)^2)``, ``t`` uniform, which squares no large width.
    """
    if max(a, r_max) < 1e150:
        u_max = r_max**2 / (a**2 + r_max**2)
    else:  # the same, without squaring a width beyond the float range (a = 1e200: u_max = 0)
        with np.errstate(over="ignore", under="ignore"):
            u_max = float(1.0 / (1.0 + np.square(a / r_max)) if a > r_max else 1.0 - 1.0 / (1.0 + np.square(r_max / a)))
    radii = [np.empty(0)]
    for _ in range(64 if u_max >= 0.5 else 0):
        if sum(len(r) for r in radii) >= n:
            break
        u = rng.random(n)
        r = a * np.sqrt(u / (1.0 - u))
        radii.append(r[r <= r_max])
    missing = n - sum(len(r) for r in radii)
    if missing > 0 and u_max > 1e-12:
        u = u_max * rng.random(missing)
        radii.append(np.minimum(a * np.sqrt(u / (1.0 - u)), r_max))
    elif missing > 0:  # a >> r_max: R^2 = t r_max^2 / (1 + (1 - t) (r_max/a)^2), t uniform (u_max underflows)
        t = rng.random(missing)
        radii.append(r_max * np.sqrt(t / (1.0 + (1.0 - t) * np.square(r_max / a))))
    return np.concatenate(radii)[:n]


@rng_keyword_only("(n_members, field, *, rng=..., mean=..., dispersion=..., ...)", "(n_members, field, rng)")
def mock_cluster_field(
    n_members: int,
    field: Sequence[tuple[int, float, float]],
    *,
    rng: RNGLike = 0,
    mean: float = 0.0,
    dispersion: float = 5.0,
    r_scale: float = 100.0,
    r_max: float = 1000.0,
    err_range: tuple[float, float] = (0.5, 3.0),
    name: str = "mock",
) -> np.recarray:
    """A synthetic cluster field with known truth, for tests and exercises.

    Members follow a Plummer surface density with scale radius ``r_scale``
    (projected radius ``R = a sqrt(u / (1 - u))``, truncated at ``r_max``:
    redrawn beyond it while at least half the profile lies inside, otherwise
    drawn from the truncated profile directly, ``u`` uniform below
    ``r_max^2 / (a^2 + r_max^2)``; no loop is unbounded);
    field stars are uniform over the disc of radius ``r_max``.  Velocities are
    Gaussian, plus each star's error drawn uniformly from ``err_range``.

    Parameters
    ----------
    n_members : int
        Number of cluster members.
    field : sequence of (n_stars, mean, sigma)
        Field populations [-, km/s, km/s].
    rng : int or numpy.random.Generator, default=0
        Seed or source of randomness (keyword-only).  Two calls with the same
        int draw the same stars: for independent mocks pass one Generator to
        every call.
    mean, dispersion : float, default=0.0, 5.0
        Cluster mean velocity and intrinsic dispersion [km/s].
    r_scale, r_max : float, default=100.0, 1000.0
        Plummer scale radius and field radius [arcsec].
    err_range : (float, float), default=(0.5, 3.0)
        Range of the velocity errors [km/s].
    name : str, default="mock"
        Value of the ``cluster`` field, kept whole (the field is as wide as the name).

    Returns
    -------
    numpy.recarray, shape (n_members + sum of the field's n_stars,)
        Members first, then each field population.  Same dtype as
        :func:`load_cluster` (``distance`` [arcsec], ``velocity``,
        ``velocity_error`` [km/s]), with the truth in ``p_mem`` (1 for members,
        0 for field stars).

    Raises
    ------
    TypeError, ValueError
        An argument of the wrong kind or value (``r_max <= 0``, ``field`` not
        a list of triples, ``rng=None`` ...); the message names it.  ``rng``
        given by position, the old form ``mock_cluster_field(n_members, field,
        rng)``, is a TypeError saying the new one.
    """
    n_members = check_int("n_members", n_members, minimum=0)
    field = check_populations("field", field)
    mean = check_float("mean", mean)
    dispersion = check_float("dispersion", dispersion, low=0.0)
    r_scale = check_positive_float("r_scale", r_scale)
    r_max = check_positive_float("r_max", r_max)
    err_range = check_pair("err_range", err_range, low=0.0, allow_equal=True)
    if not isinstance(name, str) or not name.strip():
        raise TypeError(f"name must be a non-empty str (the cluster field of every star); got {name!r}. "
                        'Fix: e.g. name="mock 1"')
    rng = as_generator(rng)
    r_mem = _plummer_radii(n_members, r_scale, r_max, rng)
    v_true = [rng.normal(mean, dispersion, n_members)]
    r_all = [r_mem]
    member = [np.ones(n_members)]
    for n_f, m_f, s_f in field:
        v_true.append(rng.normal(m_f, s_f, n_f))
        r_all.append(r_max * np.sqrt(rng.random(n_f)))
        member.append(np.zeros(n_f))
    v_true, R, member = np.concatenate(v_true), np.concatenate(r_all), np.concatenate(member)
    verr = rng.uniform(*err_range, v_true.size)
    stars = np.zeros(v_true.size, dtype=star_dtype(name)).view(np.recarray)
    stars.cluster, stars.velocity, stars.velocity_error = name, v_true + verr * rng.standard_normal(v_true.size), verr
    stars.distance, stars.p_mem, stars.n_rv, stars.line = R, member, 1, np.arange(v_true.size) + 1
    for f in ("ra", "dec", "j_mag", "j_mag_error", "k_mag", "k_mag_error", "p_single"):
        stars[f] = np.nan
    return stars
