"""The model (notebook 02): parameters, the error-convolved mixture, its E- and M-steps.

Two Gaussian components in one dimension, component 1 the cluster (the
*narrower*), component 2 the field, with parameter vector
``(mean1, sigma1, mean2, sigma2, frac1)`` [km/s, km/s, km/s, km/s, -].  A star
with measured velocity ``v_i`` and uncertainty ``verr_i`` has, under component
``k``, the density ``N(v_i | mean_k, sigma_k**2 + verr_i**2)`` (Hogg, Bovy & Lang
2010; Bovy, Hogg & Roweis 2011): the intrinsic Gaussian convolved with the
star's own error distribution.

The E-step (:func:`_responsibilities`) and the extreme-deconvolution M-step
(:func:`_xd_m_step`, Bovy, Hogg & Roweis 2011, eq. 16 in 1-D) are written once,
here; :mod:`xdtutorial.em` and :mod:`xdtutorial.membership` use them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._numerics import RNGLike, as_generator, logsumexp
from ._validation import (
    as_float_array,
    as_velocity_arrays,
    check_bool,
    check_float,
    check_params,
    check_total_variance,
)

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
    _, s1, _, s2, f1 = np.moveaxis(p, -1, 0)
    finite = np.isfinite(p).all(axis=-1)
    with np.errstate(invalid="ignore"):
        return finite & (f1 > 0) & (f1 < 1) & (s1 >= 0) & (s1 <= s2)


def _log_normal(x: Any, mean: Any, var: Any) -> np.ndarray:
    """ln N(x | mean, var), broadcasting; ``var`` is the *total* (intrinsic + error) variance.

    The one error-convolved Gaussian of the package: the likelihood, the model
    density and the distance-aware model all call it with
    ``var = sigma_k**2 + verr_i**2``.
    """
    return -0.5 * ((x - mean) ** 2 / var + np.log(2.0 * np.pi * var))


def component_log_densities(params: Any, v: Any, verr: Any) -> np.ndarray:
    """Log of ``frac_k * N(v_i | mean_k, sigma_k**2 + verr_i**2)`` for both components.

    No validity check on the parameters: use inside the valid region.

    Parameters
    ----------
    params : array_like, shape (5,) or (n_sets, 5)
        ``(mean1, sigma1, mean2, sigma2, frac1)`` [km/s, km/s, km/s, km/s, -].
    v, verr : ndarray, shape (n_stars,)
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
    means = p[..., [0, 2], None]
    sig2 = p[..., [1, 3], None] ** 2
    with np.errstate(divide="ignore"):
        logw = np.log(np.stack([p[..., 4], 1.0 - p[..., 4]], axis=-1))[..., None]
    var = sig2 + verr**2
    return logw + _log_normal(v, means, var)


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
        Parameters inside the valid region.
    v, verr : array_like, shape (n_stars,)
        Velocities and uncertainties [km/s].

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
        Model parameters.
    grid : array_like, shape (n_grid,)
        Velocities at which to evaluate [km/s].
    verr : array_like, shape (n_stars,)
        The sample's uncertainties [km/s].

    Returns
    -------
    ndarray, shape (n_grid,)
        Density [1/(km/s)], integrating to one over velocity.
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
        e2 = verr[start:start + block] ** 2
        terms = [np.log(frac) + _log_normal(grid, mean, sigma**2 + e2)
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
        Projected distances from the cluster centre (any unit).
    inner_fraction : float, default=0.25
        Fraction of stars, by distance, used for component 1.

    Returns
    -------
    ndarray, shape (5,)
        ``(mean1, sigma1, mean2, sigma2, frac1)``, inside the valid region.

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
            f"only {inner.sum()} star(s) in the inner {inner_fraction:.0%}: need 2; raise inner_fraction"
        )
    s2 = float(np.std(v))
    s1 = min(float(np.std(v[inner])), s2)
    return np.array([np.mean(v[inner]), s1, np.mean(v), s2, 0.5])


def _canonical(p: np.ndarray) -> np.ndarray:
    """Relabel so that component 1 is the narrower one (likelihood unchanged)."""
    if p[1] > p[3]:
        return np.array([p[2], p[3], p[0], p[1], 1.0 - p[4]])
    return p


#: A component whose summed responsibility, in units of 1e-12 times the number of
#: stars, falls below this has "lost all its stars": EM cannot continue from there.
#: (The same rule, S_k < 1e-12 N, in the textbook EM, the fast kernel and the
#: distance-aware EM.)
EMPTY_COMPONENT_FRACTION = 1e-12


def _responsibilities(logp: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The E-step: responsibilities ``q_ik`` from the log weighted densities.

    ``q_ik = f_k N_ik / sum_j f_j N_ij``, computed in log space.

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
    log_norm = logsumexp(logp, axis=axis)
    return np.exp(logp - np.expand_dims(log_norm, axis)), log_norm


def _check_occupied(S: np.ndarray, n_stars: int, where: str) -> None:
    """Raise if a component lost all its stars (summed responsibilities ``S``, shape (n_components,))."""
    if not S.min() >= EMPTY_COMPONENT_FRACTION * n_stars:  # also true for NaN
        raise FloatingPointError(
            f"a component lost all its stars (summed responsibilities {', '.join(f'{x:.3g}' for x in S)}) "
            f"{where}: start elsewhere"
        )


def _xd_m_step(
    q: np.ndarray, v: np.ndarray, verr2: np.ndarray, mu: np.ndarray, sig: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """M-step of extreme deconvolution for 1-D Gaussians (Bovy, Hogg & Roweis 2011, eq. 16).

    Each star's true velocity under component k has mean
    ``b_ik = mu_k + sigma_k^2 / T_ik (v_i - mu_k)`` and variance
    ``B_ik = sigma_k^2 - sigma_k^4 / T_ik``, with ``T_ik = sigma_k^2 + verr_i^2``;
    then ``mu_k' = sum_i q_ik b_ik / S_k`` and
    ``sigma_k'^2 = sum_i q_ik [(b_ik - mu_k')^2 + B_ik] / S_k`` with
    ``S_k = sum_i q_ik``.

    Parameters
    ----------
    q : ndarray, shape (n_components, n_stars)
        Responsibilities.
    v : ndarray, shape (n_stars,)
        Velocities [km/s].
    verr2 : ndarray, shape (n_stars,)
        Squared uncertainties [(km/s)^2]; zeros give the ordinary Gaussian-mixture M-step.
    mu, sig : ndarray, shape (n_components,)
        Current means and widths [km/s].

    Returns
    -------
    new_mu, new_var : ndarray, shape (n_components,)
        Updated means [km/s] and variances [(km/s)^2].
    """
    S = q.sum(axis=1)
    sig2 = sig[:, None] ** 2
    gain = sig2 / (sig2 + verr2)
    b = mu[:, None] + gain * (v - mu[:, None])
    new_mu = (q * b).sum(axis=1) / S
    new_var = (q * ((b - new_mu[:, None]) ** 2 + sig2 * (1.0 - gain))).sum(axis=1) / S
    return new_mu, new_var


def _check_variances(p: np.ndarray, min_verr2: float) -> None:
    """Refuse a zero total variance: the naive mixture's likelihood singularity."""
    if min(p[1], p[3]) ** 2 + min_verr2 <= 0.0:
        raise FloatingPointError(
            f"a component collapsed to zero width at {_fmt(p)}: without measurement errors a "
            "Gaussian mixture's likelihood is unbounded when a component sits on one star; "
            "start elsewhere, or use the errors (deconvolve=True)"
        )




def sample_mock(
    params: Any, verr: Any, rng: RNGLike, *, return_labels: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Draw a mock data set from the model, one mock star per real star.

    Each mock star is assigned to the cluster with probability ``frac1``, gets
    a true velocity from that component's intrinsic Gaussian, and then the
    measurement error of the corresponding real star is added.

    Parameters
    ----------
    params : array_like, shape (5,)
        ``(mean1, sigma1, mean2, sigma2, frac1)``.
    verr : array_like, shape (n_stars,)
        Per-star uncertainties [km/s], >= 0.
    rng : int or numpy.random.Generator
        Seed or source of randomness (e.g. ``42`` or ``np.random.default_rng(42)``).
    return_labels : bool, default=False
        Also return the boolean array "is a cluster member".

    Returns
    -------
    v : ndarray, shape (n_stars,)
        Mock observed velocities [km/s].
    member : ndarray of bool, shape (n_stars,)
        Only if ``return_labels``.
    """
    p = _check_params(params)
    verr = as_float_array("verr", verr, nonnegative=True, unit="km/s")
    rng = as_generator(rng)
    return_labels = check_bool("return_labels", return_labels)
    member = rng.random(verr.size) < p[4]
    true = np.where(member, rng.normal(p[0], p[1], verr.size), rng.normal(p[2], p[3], verr.size))
    v = true + rng.normal(0.0, 1.0, verr.size) * verr
    return (v, member) if return_labels else v
