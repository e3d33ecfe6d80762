"""The model (notebook 02): parameters, the error-convolved mixture, its E- and M-steps.

Two Gaussian components in one dimension, component 1 the cluster (the
*narrower*), component 2 the field, with parameter vector
``(mean1, sigma1, mean2, sigma2, frac1)`` [km/s, km/s, km/s, km/s, -].  A star
with measured velocity ``v_i`` and uncertainty ``verr_i`` has, under component
``k``, the density ``N(v_i | mean_k, sigma_k**2 + verr_i**2)`` (Hogg, Bovy & Lang
2010; Bovy, Hogg & Roweis 2011): the intrinsic Gaussian convolved with the
star's own error distribution.

The one 1-D mixture kernel of the package is here too: the E-step
(:func:`_mixture_e_step`, responsibilities from one :func:`~xdtutorial._numerics.logsumexp`)
and the extreme-deconvolution M-step (:func:`_mixture_m_step`, Bovy, Hogg &
Roweis 2011, eq. 16 in 1-D) for K components, with optional per-star prior
weights, a fixed mean or width, floors and caps.  The two-component model
(:mod:`xdtutorial.em`, K = 2) and the distance-aware model
(:mod:`xdtutorial._membership_em`, 1 + K_f components with a prior per star)
both run it; :class:`xdtutorial._em_fast.FastEM` is its blocked large-N form for
K = 2 (tested equal).  Both steps work with widths, not variances
(``sqrt(sigma^2 + verr^2)`` as ``hypot``, residuals divided by it), so that
neither underflows nor overflows for any scale of the data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._numerics import RNGLike, as_generator, logsumexp, rng_keyword_only
from ._validation import (
    as_float_array,
    as_velocity_arrays,
    check_bool,
    check_float,
    check_params,
    check_total_variance,
)
from .errors import EMFailure

#: Names of the five model parameters, in order.
PARAM_NAMES: tuple[str, ...] = ("mean1", "sigma1", "mean2", "sigma2", "frac1")
#: LaTeX labels of the five model parameters, for plots.
PARAM_LABELS: tuple[str, ...] = (
    r"$\mu_1$ [km/s]",
    r"$\sigma_1$ [km/s]",
    r"$\mu_2$ [km/s]",
    r"$\sigma_2$ [km/s]",
    r"$f_1$",
)


def validate_data(v: Any, verr: Any) -> tuple[np.ndarray, np.ndarray]:
    """Check and convert velocities and their uncertainties.

    Parameters
    ----------
    v : array_like, shape (n_stars,)
        Measured velocities [km/s].
    verr : array_like, shape (n_stars,)
        Their 1-sigma uncertainties [km/s], all >= 0.  Zero errors are allowed:
        then extreme deconvolution is an ordinary Gaussian mixture (only a
        component of zero width *and* a zero error is refused, where used).

    Returns
    -------
    v, verr : ndarray of float64, shape (n_stars,)

    Raises
    ------
    TypeError
        Not arrays of real numbers (None, strings, dicts, booleans, complex).
    ValueError
        Shapes differ, no stars, a non-finite value, or a negative error
        (the message names the first offending index and value).

    Warns
    -----
    ImplausibleVelocityWarning
        A speed beyond 3000 km/s, faster than any Galactic object (m/s given for km/s?).
    """
    return as_velocity_arrays(v, verr, check_plausible=True)


def _as_params(params: Any, name: str = "params") -> np.ndarray:
    """One parameter vector or a batch, shape (5,) or (n_sets, 5), in or outside the valid region."""
    return check_params(params, name=name, batch=True, valid=False)


def _check_params(params: Any, name: str = "params") -> np.ndarray:
    """The general parameter check: one valid ``(mean1, sigma1, mean2, sigma2, frac1)``.

    Raises
    ------
    TypeError, ValueError
        Not five numbers, outside the valid region, or both widths zero
        (the message names the entry at fault).
    """
    return check_params(params, name=name)


def _fmt(p: Any) -> str:
    """A parameter vector in compact fixed format, for error messages."""
    return "(" + ", ".join(f"{x:.4f}" for x in np.ravel(p)) + ")"


def _valid(p: np.ndarray) -> np.ndarray:
    """Boolean mask of the valid region: 0 < frac1 < 1, 0 <= sigma1 <= sigma2."""
    _, sigma1, _, sigma2, f1 = np.moveaxis(p, -1, 0)
    finite = np.isfinite(p).all(axis=-1)
    with np.errstate(invalid="ignore"):
        return finite & (f1 > 0) & (f1 < 1) & (sigma1 >= 0) & (sigma1 <= sigma2)


def _log_normal(x: Any, mean: Any, sd: Any) -> np.ndarray:
    """ln N(x | mean, sd^2), broadcasting; ``sd`` is the *total* width ``sqrt(sigma_k^2 + verr_i^2)``.

    The one error-convolved Gaussian of the package: the likelihood, the model
    density and the distance-aware model all call it with
    ``sd = hypot(sigma_k, verr_i)``.  Written with the standardised residual
    ``(x - mean) / sd`` and ``ln sd``, so that it neither underflows nor
    overflows for widths anywhere in the float range (1e-300 or 1e160 km/s):
    a residual of many widths gives ``-inf``, never NaN.
    """
    z = np.subtract(x, mean) / sd
    return -0.5 * z * z - np.log(sd) - _HALF_LOG_2PI


_HALF_LOG_2PI = 0.5 * float(np.log(2.0 * np.pi))
#: Below this a variance has left the float range's full precision (subnormals start at 2.2e-308):
#: the kernel and the likelihood then work with widths (hypot) instead.
_TINY_VAR = 1e-290


def _log_normal_convolved(x: Any, mean: Any, sig: Any, verr: Any, *, check: bool = True) -> np.ndarray:
    """ln N(x | mean, sig^2 + verr^2), broadcasting: the error-convolved Gaussian of every ln L.

    Computed with the total variance ``var = sig^2 + verr^2`` as
    ``-((x - mean)^2 / var + ln(2 pi var)) / 2`` (fast); where a square leaves
    the float range (a variance below 1e-290, near the subnormals, or a NaN or
    infinite result) it is redone by :func:`_log_normal` with ``hypot(sig, verr)``,
    which forms no square.  ``check=False`` skips that test (one pass over
    the result), for a caller that tests its own, smaller, result instead.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        var = np.multiply(sig, sig) + np.multiply(verr, verr)
        out = -0.5 * (np.subtract(x, mean) ** 2 / var + np.log(2.0 * np.pi * var))
        if check and not (np.isfinite(np.add.reduce(out, axis=None)) and np.min(var) > _TINY_VAR):
            out = _log_normal(x, mean, np.hypot(sig, verr))
    return out


def component_log_densities(params: Any, v: Any, verr: Any) -> np.ndarray:
    """Log of ``frac_k * N(v_i | mean_k, sigma_k**2 + verr_i**2)`` for both components.

    No validity check on the parameters: use inside the valid region.

    Parameters
    ----------
    params : array_like, shape (5,) or (n_sets, 5)
        ``(mean1, sigma1, mean2, sigma2, frac1)`` [km/s, km/s, km/s, km/s, -].
    v, verr : array_like, shape (n_stars,)
        Velocities and their 1-sigma uncertainties [km/s].

    Returns
    -------
    ndarray, shape (2, n_stars) or (n_sets, 2, n_stars)
        Natural-log weighted densities [log (km/s)^-1].
    """
    p = _as_params(params)
    v, verr = as_velocity_arrays(v, verr)
    return _component_log_densities(p, v, verr)


def _component_log_densities(p: np.ndarray, v: np.ndarray, verr: np.ndarray) -> np.ndarray:
    """:func:`component_log_densities` on checked arrays (the EM step calls it every iteration)."""
    with np.errstate(divide="ignore"):
        logw = np.log(np.stack([p[..., 4], 1.0 - p[..., 4]], axis=-1))[..., None]
    return logw + _log_normal_convolved(v, p[..., [0, 2], None], p[..., [1, 3], None], verr)


def log_likelihood(params: Any, v: Any, verr: Any) -> float | np.ndarray:
    """Total log-likelihood of the error-convolved two-Gaussian mixture.

    .. math::
        \\ln L = \\sum_i \\ln \\sum_{k=1}^{2} f_k\\,
                 \\mathcal{N}(v_i \\mid \\mu_k, \\sigma_k^2 + \\epsilon_i^2)

    evaluated with ``logsumexp`` so that a star thousands of km/s away from
    both components still gives a finite value.

    Parameters
    ----------
    params : array_like, shape (5,) or (n_sets, 5)
        ``(mean1, sigma1, mean2, sigma2, frac1)`` [km/s, km/s, km/s, km/s, -];
        a batch of parameter vectors is evaluated at once (for emcee's
        ``vectorize=True``).
    v : array_like, shape (n_stars,)
        Measured velocities [km/s].
    verr : array_like, shape (n_stars,)
        1-sigma velocity uncertainties [km/s].

    Returns
    -------
    float or ndarray of shape (n_sets,)
        ``-inf`` where the parameters are outside the valid region
        (0 < frac1 < 1 and 0 <= sigma1 <= sigma2), which also fixes the labels.

    Raises
    ------
    ValueError
        Invalid data, or a component of zero total variance (``sigma_k = 0``
        for a star with ``verr_i = 0``).
    """
    p = _as_params(params)
    v, verr = as_velocity_arrays(v, verr)
    valid = _valid(p)
    out = np.full(p.shape[:-1], -np.inf)
    if np.any(valid):
        check_total_variance(p[valid], verr)
        lp = _component_log_densities(p[valid] if p.ndim == 2 else p, v, verr)
        out[valid] = logsumexp(lp, axis=-2).sum(axis=-1)
    return float(out) if p.ndim == 1 else out


def membership_probability(params: Any, v: Any, verr: Any) -> np.ndarray:
    """Probability that each star belongs to component 1 (the cluster).

    .. math:: q_i = \\frac{f_1 \\mathcal{N}(v_i\\mid\\mu_1,\\sigma_1^2+\\epsilon_i^2)}
              {\\sum_k f_k \\mathcal{N}(v_i\\mid\\mu_k,\\sigma_k^2+\\epsilon_i^2)}

    Parameters
    ----------
    params : array_like, shape (5,) or (n_sets, 5)
        ``(mean1, sigma1, mean2, sigma2, frac1)`` [km/s, km/s, km/s, km/s, -], inside the valid region.
    v, verr : array_like, shape (n_stars,)
        Velocities and their 1-sigma uncertainties [km/s].

    Returns
    -------
    ndarray, shape (n_stars,) or (n_sets, n_stars)
        Values in [0, 1].

    Raises
    ------
    ValueError
        Parameters outside the valid region (the message names the entry), or
        a component of zero total variance.
    """
    p = check_params(params, batch=True, zero_widths=True)
    v, verr = as_velocity_arrays(v, verr)
    check_total_variance(p, verr)
    return _responsibilities(_component_log_densities(p, v, verr), axis=-2)[0][..., 0, :]


def model_density(params: Any, grid: Any, verr: Any) -> np.ndarray:
    """Density of *observed* velocities predicted for a sample with errors ``verr``.

    The average over stars of the error-convolved mixture,
    ``p(v) = (1/N) sum_i sum_k f_k N(v | mu_k, sigma_k^2 + verr_i^2)``: what a
    histogram of the data should look like if the model is right.

    Parameters
    ----------
    params : array_like, shape (5,)
        ``(mean1, sigma1, mean2, sigma2, frac1)`` [km/s, km/s, km/s, km/s, -].
    grid : array_like, shape (n_grid,)
        Velocities at which to evaluate [km/s].
    verr : array_like, shape (n_stars,)
        The sample's 1-sigma uncertainties [km/s].

    Returns
    -------
    ndarray, shape (n_grid,)
        Density [1/(km/s)], integrating to one over velocity.

    Raises
    ------
    ValueError
        Invalid parameters, a non-finite grid value, a negative error, or a
        component of zero total variance (the message names it).
    """
    p = _check_params(params)
    grid = as_float_array("grid", grid, unit="km/s")[:, None]  # (n_grid, 1) against (n_stars,)
    verr = as_float_array("verr", verr, nonnegative=True, unit="km/s")
    check_total_variance(p, verr)
    # Memory stays bounded for any number of stars: the (n_grid, n_stars) terms are summed in
    # blocks of stars of at most _DENSITY_BLOCK elements (one block for the notebooks' samples).
    block = max(1, _DENSITY_BLOCK // grid.shape[0])
    log_sum = np.full(grid.shape[0], -np.inf)
    for start in range(0, verr.size, block):
        e = verr[start:start + block]
        terms = [np.log(frac) + _log_normal_convolved(grid, mean, sigma, e)
                 for mean, sigma, frac in ((p[0], p[1], p[4]), (p[2], p[3], 1.0 - p[4]))]
        log_sum = np.logaddexp(log_sum, logsumexp(terms, axis=(0, 2)))
    return np.exp(log_sum - np.log(verr.size))


#: Largest number of (grid point, star) terms that model_density holds in memory at once.
_DENSITY_BLOCK = 1 << 21


def initial_guess(v: Any, distance: Any, *, inner_fraction: float = 0.25) -> np.ndarray:
    """Starting parameters from the spatial concentration of the cluster.

    Stars within the ``inner_fraction`` quantile of projected distance are
    mostly members: their mean and standard deviation start component 1.  All
    stars start component 2.  ``frac1`` starts at 0.5.

    Parameters
    ----------
    v : array_like, shape (n_stars,)
        Velocities [km/s].
    distance : array_like, shape (n_stars,)
        Projected distances from the cluster centre [arcsec; any unit works,
        only their order is used].
    inner_fraction : float, default=0.25
        Fraction of stars, by distance, used for component 1 (keyword-only).

    Returns
    -------
    ndarray, shape (5,)
        ``(mean1, sigma1, mean2, sigma2, frac1)`` [km/s, km/s, km/s, km/s, -], inside the valid region.

    Raises
    ------
    ValueError
        ``v`` and ``distance`` differ in shape, ``inner_fraction`` is not in
        (0, 1], or fewer than 2 stars fall in the inner fraction.
    """
    v = as_float_array("v", v, unit="km/s")
    distance = as_float_array("distance", distance, nonnegative=True)
    if v.shape != distance.shape:
        raise ValueError(f"distance must have one value per star, shape {v.shape} like v; got shape "
                         f"{distance.shape}. Fix: pass the distances of the same stars as v")
    inner_fraction = check_float("inner_fraction", inner_fraction, low=0.0, low_open=True, high=1.0)
    inner = distance <= np.quantile(distance, inner_fraction)
    if inner.sum() < 2:
        raise ValueError(
            f"inner_fraction must leave at least 2 stars nearest the centre to start the cluster from; got "
            f"inner_fraction={inner_fraction:g}: {inner.sum()} of {v.size} star(s). Fix: raise inner_fraction"
        )
    sigma2 = float(np.std(v))
    sigma1 = min(float(np.std(v[inner])), sigma2)
    return np.array([np.mean(v[inner]), sigma1, np.mean(v), sigma2, 0.5])


def _canonical(p: np.ndarray) -> np.ndarray:
    """Relabel so that component 1 is the narrower one (likelihood unchanged)."""
    if p[1] > p[3]:
        return np.array([p[2], p[3], p[0], p[1], 1.0 - p[4]])
    return p


#: A component whose summed responsibility, in units of 1e-12 times the number of
#: stars, falls below this has "lost all its stars": EM cannot continue from there.
#: (The same rule, S_k < 1e-12 N, in the kernel, its blocked form and the
#: distance-aware EM.)
EMPTY_COMPONENT_FRACTION = 1e-12


# ----------------------------------------------------------------------------- the 1-D mixture kernel
def _responsibilities(logp: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The E-step: responsibilities ``q_ik`` from the log weighted densities.

    ``q_ik = f_k N_ik / sum_j f_j N_ij``, computed in log space by the one
    :func:`~xdtutorial._numerics.logsumexp` (``logp`` is not changed).

    Parameters
    ----------
    logp : ndarray, shape (n_components, n_stars) (or with the components on ``axis``)
        ``ln(f_k N(v_i | mu_k, sigma_k^2 + verr_i^2))``.
    axis : int, default=0
        The components' axis.

    Returns
    -------
    q : ndarray, same shape as ``logp``
        Responsibilities; they sum to one over the components.
    log_norm : ndarray, shape of ``logp`` without ``axis``
        ``ln sum_k f_k N_ik``, each star's log-likelihood.
    """
    with np.errstate(invalid="ignore"):  # a star whose every density underflows: NaN, not a warning
        log_norm, q = logsumexp(np.array(logp, dtype=float), axis=axis, return_weights=True)
    return q, log_norm


def _mixture_e_step(
    v: np.ndarray, verr: np.ndarray, mu: np.ndarray, sig: np.ndarray, log_w: Any, verr_var: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """E-step of the 1-D mixture kernel: responsibilities and ln L of K error-convolved Gaussians.

    ``ln(w_ik N(v_i | mu_k, T_ik))`` with ``T_ik = sigma_k^2 + verr_i^2``,
    normalised over the components by one :func:`~xdtutorial._numerics.logsumexp`.
    When a square leaves the float range (a variance below 1e-290 (km/s)^2,
    near the subnormals, or ln L NaN or infinite), the step is redone with the
    total width ``s_ik = hypot(sigma_k, verr_i)`` and ``(v_i - mu_k) / s_ik``,
    which forms no square (ten times slower, so only then).  Call it under
    ``np.errstate(all="ignore")`` (the loops do, once per run): the first try
    at such a scale divides by 0 or overflows before it is redone.

    Parameters
    ----------
    v, verr : ndarray, shape (n_stars,)
        Velocities and their 1-sigma uncertainties [km/s].
    mu, sig : ndarray, shape (..., K)
        Means and intrinsic widths [km/s] (leading axes: many states at once).
    log_w : array_like, broadcastable to shape (..., K, n_stars)
        Log prior weights: ``ln f_k`` as shape (K, 1), or per star (the
        distance-aware model's ``ln pi(R_i)`` and ``ln(1 - pi(R_i)) + ln w_k``).
    verr_var : ndarray, shape (n_stars,), optional
        ``verr**2``, when the caller keeps it (saves a multiplication a step).

    Returns
    -------
    q : ndarray, shape (..., K, n_stars)
        Responsibilities.
    log_like : ndarray, shape (...)
        Total ln L.
    aux : (g, d)
        For the M-step, shape (..., K, n_stars): the gains ``g_ik = sigma_k^2 / T_ik``
        (in [0, 1]) and the residuals ``d_ik = v_i - mu_k``.
    """
    sig_var = sig * sig
    T = sig_var[..., None] + (verr * verr if verr_var is None else verr_var)
    d = v - mu[..., None]
    logp = d * d
    logp /= T
    logp += np.log(T)
    logp *= -0.5
    logp += log_w
    log_norm, q = logsumexp(logp, axis=-2, return_weights=True)
    ll = np.add.reduce(log_norm, axis=-1) - _HALF_LOG_2PI * v.size
    if not (np.isfinite(ll).all() and T.min() > _TINY_VAR):  # a square left the float range: no squares
        s = np.hypot(sig[..., None], verr)
        logp = _log_normal(v, mu[..., None], s)
        logp += log_w
        log_norm, q = logsumexp(logp, axis=-2, return_weights=True)
        ll = np.add.reduce(log_norm, axis=-1)
        T = np.square(sig[..., None] / s)  # the gain, here
        return q, ll, (T, d)
    T = np.divide(sig_var[..., None], T, out=T)  # the gain
    return q, ll, (T, d)


def _occupied(S: np.ndarray, n_stars: int) -> np.ndarray:
    """Whether every component keeps some stars: ``S_k >= 1e-12 N`` for all k (False for NaN), shape (...)."""
    return S.min(axis=-1) >= EMPTY_COMPONENT_FRACTION * n_stars


def _check_occupied(S: np.ndarray, n_stars: int, where: Any, params: Any = None) -> None:
    """Raise EMFailure if a component lost all its stars (summed responsibilities ``S``, shape (K,)).

    ``where`` (for the message) and ``params`` (for the exception) may be callables giving them,
    called only then.
    """
    if not _occupied(S, n_stars):
        where = where() if callable(where) else where
        params = params() if callable(params) else params
        raise EMFailure(
            f"a component lost all its stars (summed responsibilities {', '.join(f'{x:.3g}' for x in S)}) "
            f"{where}: EM cannot continue. Fix: start elsewhere (e.g. from initial_guess)",
            params,
        )


def _mixture_m_step(
    q: np.ndarray,
    aux: tuple[np.ndarray, np.ndarray],
    v: np.ndarray,
    verr: np.ndarray,
    mu: np.ndarray,
    sig: np.ndarray,
    *,
    S: np.ndarray | None = None,
    verr_var: np.ndarray | None = None,
    fix_mean: dict[int, float] | None = None,
    fix_sigma: dict[int, float] | None = None,
    var_floor: Any = None,
    var_cap: Any = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The deconvolving M-step of the kernel (Bovy, Hogg & Roweis 2011, eq. 16 in 1-D), K components.

    Each star's true velocity under component k has mean
    ``b_ik = mu_k + g_ik (v_i - mu_k)`` and variance ``B_ik = sigma_k^2 (1 - g_ik)``,
    with the gain ``g_ik = sigma_k^2 / T_ik`` and ``T_ik = sigma_k^2 + verr_i^2``;
    then ``mu_k' = sum_i q_ik b_ik / S_k`` and
    ``sigma_k'^2 = sum_i q_ik [(b_ik - mu_k')^2 + B_ik] / S_k`` with
    ``S_k = sum_i q_ik``, written with the E-step's gains and residuals:
    ``b_ik - mu_k = g_ik d_ik`` and ``B_ik = g_ik verr_i^2``.  Zero errors give
    the ordinary Gaussian-mixture M-step.  The weights are the caller's (``S``
    is returned).

    Parameters
    ----------
    q : ndarray, shape (..., K, n_stars)
        Responsibilities.
    aux : (g, d)
        From :func:`_mixture_e_step` at ``(mu, sig)``.
    v, verr : ndarray, shape (n_stars,)
        Velocities and uncertainties [km/s].
    mu, sig : ndarray, shape (..., K)
        The means and widths of the E-step [km/s].
    S : ndarray, shape (..., K), optional
        ``q.sum(-1)`` when already computed.
    verr_var : ndarray, shape (n_stars,), optional
        ``verr**2``, when the caller keeps it.
    fix_mean : dict {k: mean}, optional
        Components whose mean is held (one state only): their variance is the
        XD update about that mean, ``sum_i q_ik [(b_ik - m)^2 + B_ik] / S_k``.
    fix_sigma : dict {k: width}, optional
        Components whose width is held: their mean is the exact conditional
        maximiser, the error-weighted mean ``sum_i w_i v_i / sum_i w_i`` with
        ``w_i = q_ik / (sigma^2 + verr_i^2)`` (also right at width 0).
    var_floor, var_cap : float or ndarray of shape (K,), optional
        Limits on the new variances [(km/s)^2] (model limits, documented by the caller).

    Returns
    -------
    mu, var, S : ndarray, shape (..., K)
        New means [km/s] and variances [(km/s)^2], and the summed responsibilities.
    """
    g, d = aux
    if S is None:
        S = np.add.reduce(q, axis=-1)
    shift = g * d  # b_ik - mu_k
    dmu = np.add.reduce(q * shift, axis=-1) / S
    if fix_mean:
        for k, m in fix_mean.items():
            dmu[k] = m - mu[k]
    new_mu = mu + dmu
    shift -= dmu[..., None]  # b_ik - mu_k'
    shift *= shift
    shift += g * verr_var if verr_var is not None else g * (verr * verr)  # + B_ik
    shift *= q
    var = np.add.reduce(shift, axis=-1) / S
    if fix_mean:
        for k, m in fix_mean.items():
            new_mu[k] = m
    if fix_sigma:
        for k, width in fix_sigma.items():
            w = q[k] / np.hypot(width, verr) ** 2
            new_mu[k], var[k] = np.dot(w, v) / w.sum(), width * width
    if var_floor is not None:
        np.maximum(var, var_floor, out=var)
    if var_cap is not None:
        np.minimum(var, var_cap, out=var)
    return new_mu, var, S


def _mixture_em_step(
    v: np.ndarray, verr: np.ndarray, mu: np.ndarray, sig: np.ndarray, w: np.ndarray, *, params: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """One EM step of the velocity-only mixture with K components: the kernel's two steps and ``w_k' = S_k / N``.

    Parameters
    ----------
    v, verr : ndarray, shape (n_stars,)
        Velocities and uncertainties [km/s], validated.
    mu, sig, w : ndarray, shape (K,)
        Means, widths [km/s] and weights (positive, summing to 1).
    params : ndarray, optional
        The caller's parameter vector, for the messages and the exception
        (default: the three vectors).

    Returns
    -------
    mu, sig, w : ndarray, shape (K,)
        The updated parameters (labels as given).
    log_like : float
        ln L at the parameters given.

    Raises
    ------
    EMFailure
        A component of zero total width, one that lost all its stars, or a non-finite update.
    """
    if params is None:
        params = np.concatenate([mu, sig, w])
    if not np.all(np.hypot(sig, verr.min()) > 0.0):
        raise EMFailure(_collapse_message(f"from {_fmt(params)}"), params)
    with np.errstate(all="ignore"):  # (the E-step's first try at an extreme scale: redone, see there)
        q, ll, aux = _mixture_e_step(v, verr, mu, sig, np.log(w)[:, None])
    S = np.add.reduce(q, axis=-1)
    _check_occupied(S, v.size, lambda: f"from parameters {_fmt(params)}", params)
    new_mu, var, S = _mixture_m_step(q, aux, v, verr, mu, sig, S=S)
    new_sig = np.sqrt(var)
    if not (np.isfinite(new_mu).all() and np.isfinite(new_sig).all()):
        raise EMFailure(f"the EM step from {_fmt(params)} is not finite", params)
    return new_mu, new_sig, S / v.size, float(ll)


def _score_gains(
    q: np.ndarray, v: np.ndarray, verr: np.ndarray, mu: np.ndarray, sig: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """How much ln L would still rise along each component's mean, and along its width: the score test.

    At a maximum the score (the gradient of ln L) vanishes, or points out of
    the valid region on its edge; EM also stops where it cannot move (a width
    at 0, two identical components) although the score does not vanish.  For
    each component, with the total width ``s_ik = hypot(sigma_k, verr_i)``,
    ``z_ik = (v_i - mu_k) / s_ik`` and ``y_ik = 1 / s_ik`` (each row divided
    by its largest value, so that nothing overflows: the gains are scale-free),
    ``d lnL / d mu_k = sum_i q_ik z_ik y_ik`` against the information
    ``sum_i q_ik y_ik^2``, and ``d lnL / d sigma_k^2 = 1/2 sum_i q_ik (z_ik^2 - 1) y_ik^2``
    against ``1/2 sum_i q_ik y_ik^4``; each gives the rise of one Newton step,
    ``g^2 / (2 I)``.  A width whose score points to 0 counts nothing: EM
    approaches a maximum on the edge (an unresolved dispersion) slowly but in
    the right direction; the fixed point that is no maximum is a width held
    near 0 while the likelihood rises away from it.

    Returns
    -------
    gain_mean, gain_width : ndarray, shape (K,)
        The rises [ln L units]; near 0 at a maximum.
    """
    s = np.hypot(sig[:, None], verr)
    z = (v - mu[:, None]) / s
    y = np.min(s, axis=-1, keepdims=True) / s  # s_min / s_ik, in (0, 1]
    qy = q * y
    g_mu = np.add.reduce(qy * z, axis=-1)
    qy *= y  # q y^2
    i_mu = np.add.reduce(qy, axis=-1)
    g_var = 0.5 * np.add.reduce(qy * (z * z - 1.0), axis=-1)
    qy *= y
    qy *= y  # q y^4
    i_var = 0.5 * np.add.reduce(qy, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        gain_mean = np.where(i_mu > 0, g_mu * g_mu / (2.0 * i_mu), 0.0)
        gain_width = np.where((i_var > 0) & (g_var > 0), g_var * g_var / (2.0 * i_var), 0.0)
    return gain_mean, gain_width


def _collapse_message(where: str) -> str:
    return (
        f"a component collapsed to zero width {where}: without measurement errors a "
        "Gaussian mixture's likelihood is unbounded when a component sits on one star. Fix: start "
        "elsewhere; if the errors were ignored (deconvolve=False), fit with them"
    )


def _check_variances(p: np.ndarray, min_verr: float) -> None:
    """Refuse a zero total width ``hypot(sigma_k, min verr)``: the naive mixture's likelihood singularity.

    Compared as widths, not squares (a square underflows to 0 below about 1e-154).
    """
    if not min(p[1], p[3]) > 0.0 and not min_verr > 0.0:
        raise EMFailure(_collapse_message(f"at {_fmt(p)}"), p)


@rng_keyword_only("(params, verr, *, rng=..., return_labels=...)", "(params, verr, rng)")
def sample_mock(
    params: Any, verr: Any, *, rng: RNGLike = 0, return_labels: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Draw a mock data set from the model, one mock star per real star.

    Each mock star is assigned to the cluster with probability ``frac1``, gets
    a true velocity from that component's intrinsic Gaussian, and then the
    measurement error of the corresponding real star is added.

    Parameters
    ----------
    params : array_like, shape (5,)
        ``(mean1, sigma1, mean2, sigma2, frac1)`` [km/s, km/s, km/s, km/s, -].
    verr : array_like, shape (n_stars,)
        The real stars' 1-sigma uncertainties [km/s], >= 0.
    rng : int or numpy.random.Generator, default=0
        Seed or source of randomness (keyword-only; e.g. ``rng=42`` or
        ``rng=np.random.default_rng(42)``).  Two calls with the same int draw the
        same mock: for independent mocks pass one Generator to every call.
    return_labels : bool, default=False
        Also return the boolean array "is a cluster member".

    Returns
    -------
    v : ndarray, shape (n_stars,)
        Mock observed velocities [km/s].
    member : ndarray of bool, shape (n_stars,)
        Only if ``return_labels``.

    Raises
    ------
    TypeError
        ``rng`` given by position (the old form ``sample_mock(params, verr, rng)``), ``rng=None``
        or another kind of value; ``return_labels`` not a bool.
    ValueError
        Invalid ``params`` or a negative or non-finite ``verr`` (the message names it).
    """
    p = _check_params(params)
    verr = as_float_array("verr", verr, nonnegative=True, unit="km/s")
    rng = as_generator(rng)
    return_labels = check_bool("return_labels", return_labels)
    member = rng.random(verr.size) < p[4]
    true = np.where(member, rng.normal(p[0], p[1], verr.size), rng.normal(p[2], p[3], verr.size))
    v = true + rng.normal(0.0, 1.0, verr.size) * verr
    return (v, member) if return_labels else v
