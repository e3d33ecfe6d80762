"""Posterior sampling with emcee (notebook 05): prior, posterior, walkers, burn-in, summaries.

The pieces of a Bayesian analysis of the two-component model with ``emcee``
(Foreman-Mackey et al. 2013): a proper (finite-box) prior, the posterior,
walker initialisation, burn-in and thinning from the integrated autocorrelation
time, and percentile summaries.  Everything is vectorised over parameter sets
for ``emcee.EnsembleSampler(..., vectorize=True)``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._numerics import RNGLike, as_generator, seed_of
from ._validation import (
    as_float_array,
    as_velocity_arrays,
    check_bounds,
    check_chain,
    check_int,
    check_params,
    check_positive_float,
    old_order_error,
)
from .model import PARAM_NAMES, _as_params, _valid, log_likelihood

#: Default prior box: means within +-1000 km/s, dispersions within [0, 500] km/s.
DEFAULT_BOUNDS: dict[str, tuple[float, float]] = {"mean": (-1000.0, 1000.0), "sigma": (0.0, 500.0)}


def log_prior(params: Any, *, bounds: dict[str, tuple[float, float]] | None = None) -> float | np.ndarray:
    """Flat (uniform) prior on a finite box plus the ordering constraint.

    Uniform in ``mean_k`` within ``bounds["mean"]``, in ``sigma_k`` within
    ``bounds["sigma"]`` with ``sigma1 <= sigma2``, and in ``0 < frac1 < 1``.
    The box must be finite: with an improper flat prior the posterior of a
    mixture is improper (as ``frac1 -> 1`` the likelihood stops depending on
    ``mean2``, so its integral over an infinite range diverges).

    Parameters
    ----------
    params : array_like, shape (5,) or (n_sets, 5)
        One or many ``(mean1, sigma1, mean2, sigma2, frac1)`` [km/s, km/s, km/s, km/s, -].
    bounds : dict, default=None
        ``{"mean": (lo, hi), "sigma": (lo, hi)}`` in km/s; None uses
        :data:`DEFAULT_BOUNDS`.

    Returns
    -------
    float or ndarray of shape (n_sets,)
        The log-prior up to a constant: 0 inside, ``-inf`` outside.

    Raises
    ------
    ValueError
        ``bounds`` without both keys, not finite, or with ``lo >= hi``.
    """
    b = DEFAULT_BOUNDS if bounds is None else check_bounds(bounds)
    p = _as_params(params)
    (mlo, mhi), (slo, shi) = b["mean"], b["sigma"]
    with np.errstate(invalid="ignore"):
        inside = (
            _valid(p)
            & (p[..., 0] >= mlo) & (p[..., 0] <= mhi) & (p[..., 2] >= mlo) & (p[..., 2] <= mhi)
            & (p[..., 1] >= slo) & (p[..., 3] <= shi)
        )
    out = np.where(inside, 0.0, -np.inf)
    return float(out) if p.ndim == 1 else out


def log_posterior(
    params: Any, v: Any, verr: Any, *, bounds: dict[str, tuple[float, float]] | None = None
) -> float | np.ndarray:
    """Log-posterior (up to a constant) = :func:`log_prior` + :func:`log_likelihood`.

    Vectorised like :func:`log_likelihood`, for ``emcee.EnsembleSampler(...,
    vectorize=True)``.

    Parameters
    ----------
    params : array_like, shape (5,) or (n_sets, 5)
        One or many ``(mean1, sigma1, mean2, sigma2, frac1)`` [km/s, km/s, km/s, km/s, -].
    v, verr : array_like, shape (n_stars,)
        Velocities and their 1-sigma uncertainties [km/s].
    bounds : dict, default=None
        Prior box (see :func:`log_prior`; keyword-only).

    Returns
    -------
    float or ndarray of shape (n_sets,)
        ln prior + ln L [nats], up to a constant; ``-inf`` outside the prior box.

    Raises
    ------
    ValueError
        Invalid data or ``bounds`` (the message names them).
    """
    v, verr = as_velocity_arrays(v, verr)  # checked also when every parameter set is outside the prior
    lp = log_prior(params, bounds=bounds)
    p = _as_params(params)
    if p.ndim == 1:
        return lp + log_likelihood(p, v, verr) if np.isfinite(lp) else -np.inf
    out = np.array(lp, dtype=float)
    ok = np.isfinite(out)
    if ok.any():
        out[ok] += log_likelihood(p[ok], v, verr)
    return out


def init_walkers(
    best: Any,
    n_walkers: int,
    *,
    rng: RNGLike = 0,
    scale: float = 1e-3,
    bounds: dict[str, tuple[float, float]] | None = None,
) -> np.ndarray:
    """Starting positions for emcee: a small Gaussian ball around a best fit.

    Each parameter is perturbed by ``scale * max(|value|, 1)`` times a standard
    normal; positions outside the prior are redrawn, so every walker starts
    with a finite log-prior.

    Parameters
    ----------
    best : array_like, shape (5,)
        Best-fit ``(mean1, sigma1, mean2, sigma2, frac1)`` [km/s, km/s, km/s, km/s, -], inside the prior.
    n_walkers : int
        Number of walkers (emcee needs at least ``2 * 5``).
    rng : int or numpy.random.Generator, default=0
        Seed or source of randomness (keyword-only; see the conventions in ``helpers``).
    scale : float, default=1e-3
        Relative size of the ball, > 0.
    bounds : dict, default=None
        Prior box (see :func:`log_prior`).

    Returns
    -------
    ndarray, shape (n_walkers, 5)
        The walkers' starting parameter vectors, in the order of ``best``.

    Raises
    ------
    ValueError
        ``best`` is outside the prior, fewer than 10 walkers, ``scale`` not
        positive, or no positions inside the prior after 1000 redraws
        (``scale`` too large).
    """
    best = check_params(best, name="best", zero_widths=True)
    n_walkers = check_int("n_walkers", n_walkers, minimum=10)
    scale = check_positive_float("scale", scale)
    rng = as_generator(rng)
    if not np.isfinite(log_prior(best, bounds=bounds)):
        box = DEFAULT_BOUNDS if bounds is None else bounds
        raise ValueError(f"best must be inside the prior box {box} (and 0 <= sigma1 <= sigma2, 0 < frac1 < 1); got "
                         f"{best!r}. Fix: start the walkers at a best fit inside that box, or widen bounds")
    width = scale * np.maximum(np.abs(best), 1.0)
    width[4] = scale * min(best[4], 1.0 - best[4])
    pos = best + width * rng.standard_normal((n_walkers, 5))
    for _ in range(1000):
        bad = ~np.isfinite(log_prior(pos, bounds=bounds))
        if not bad.any():
            return pos
        pos[bad] = best + width * rng.standard_normal((int(bad.sum()), 5))
    raise ValueError(
        f"scale must be small enough to place the walkers inside the prior; got {scale!r} (1000 redraws "
        "failed). Fix: reduce scale, e.g. scale=1e-3"
    )


def make_sampler(
    v: Any,
    verr: Any,
    n_walkers: int,
    *,
    rng: RNGLike = 0,
    bounds: dict[str, tuple[float, float]] | None = None,
) -> Any:
    """An ``emcee.EnsembleSampler`` for :func:`log_posterior`, vectorised and seeded.

    emcee does not take a ``numpy.random.Generator``: it keeps a legacy
    ``RandomState`` copied from numpy's *global* state when the sampler is
    created.  Here that state is set explicitly from ``rng``, so the chain is
    reproducible without touching the global state.

    Parameters
    ----------
    v, verr : array_like, shape (n_stars,)
        Velocities and their 1-sigma uncertainties [km/s].
    n_walkers : int
        Number of walkers, at least 10 (twice the 5 parameters).
    rng : int or numpy.random.Generator, default=0
        Seed of the sampler's random stream (the proposals): an int seeds
        emcee's legacy ``RandomState`` directly, a Generator gives one drawn seed.
        Keyword-only.
    bounds : dict, default=None
        Prior box (see :func:`log_prior`).

    Returns
    -------
    emcee.EnsembleSampler
        With ``vectorize=True``: each step evaluates all walkers of one half
        of the ensemble in one call of :func:`log_posterior`.  Its ``sample``
        (and so ``run_mcmc``) first checks the walkers' start: an array of shape
        ``(n_walkers, 5)`` with every walker inside the prior box.  A walker
        outside has ``log_prob = -inf``; when all are, emcee accepts no move and
        says nothing, so this is a ``ValueError`` before the first step.

    Raises
    ------
    ValueError
        Invalid data or ``bounds``, fewer than 10 walkers.
    TypeError
        ``rng`` not an int seed or a Generator (``rng=None`` included); the
        arguments in the old order ``(n_walkers, v, verr)``, told the new one.
    """
    if np.ndim(v) == 0 and np.ndim(n_walkers) == 1:
        raise old_order_error("make_sampler", "(v, verr, n_walkers, rng=..., bounds=...)", "(n_walkers, v, verr)")
    n_walkers = check_int("n_walkers", n_walkers, minimum=10)
    v, verr = as_velocity_arrays(v, verr, check_plausible=True)
    seed = seed_of(rng)
    if bounds is not None:
        check_bounds(bounds)
    sampler = _checked_sampler_class()(
        n_walkers, 5, log_posterior, args=(v, verr), kwargs={"bounds": bounds}, vectorize=True
    )
    sampler.prior_bounds = bounds  # what the start is checked against
    sampler.random_state = np.random.RandomState(seed).get_state()  # the legacy state emcee uses
    return sampler


@functools.cache
def _checked_sampler_class() -> type:
    """``emcee.EnsembleSampler`` whose ``sample`` refuses a start outside the prior (built on first use)."""
    import emcee

    class CheckedEnsembleSampler(emcee.EnsembleSampler):
        """emcee's sampler, unchanged, except that the walkers' start is checked before the first step."""

        prior_bounds: dict[str, tuple[float, float]] | None = None

        def sample(self, initial_state: Any, *args: Any, **kwargs: Any) -> Any:
            if initial_state is not None:  # None: go on from the previous state, already checked
                coords = initial_state.coords if isinstance(initial_state, emcee.State) else initial_state
                _check_walkers(coords, self.nwalkers, self.prior_bounds)
            return super().sample(initial_state, *args, **kwargs)

    CheckedEnsembleSampler.__module__ = __name__
    return CheckedEnsembleSampler


def _check_walkers(coords: Any, n_walkers: int, bounds: dict[str, tuple[float, float]] | None) -> None:
    """The walkers' start: shape (n_walkers, 5), every walker inside the prior box ``bounds``."""
    pos = as_float_array("initial_state", coords, ndim=2)
    if pos.shape != (n_walkers, 5):
        raise ValueError(f"initial_state must have shape ({n_walkers}, 5), one row per walker; got shape "
                         f"{pos.shape}. Fix: init_walkers(best, {n_walkers}, bounds=...)")
    outside = ~np.isfinite(log_prior(pos, bounds=bounds))
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        box = DEFAULT_BOUNDS if bounds is None else bounds
        raise ValueError(
            f"initial_state must lie inside the prior box {box} (and 0 <= sigma1 <= sigma2, 0 < frac1 < 1); got "
            f"{int(outside.sum())} of {n_walkers} walkers outside, the first (walker {i}) at "
            f"{np.array2string(pos[i], precision=4)}: those walkers have log_prob = -inf"
            f"{', so no move can be accepted' if outside.all() else ''}. Fix: start them with "
            "init_walkers(best, n_walkers, bounds=<the sampler's bounds>) from a best fit inside the box, or "
            "widen bounds"
        )


def burn_thin_from_autocorr(chain: np.ndarray, *, n_tau: float = 50.0) -> tuple[int, int, np.ndarray]:
    """Burn-in and thinning from emcee's integrated autocorrelation time.

    Follows the emcee documentation: discard ``2 * max(tau)`` steps and keep
    every ``max(1, int(0.5 * min(tau)))``-th step.

    Parameters
    ----------
    chain : ndarray, shape (n_steps, n_walkers, n_dim)
        Full chain (``sampler.get_chain()``).
    n_tau : float, default=50
        The chain must be longer than ``n_tau * tau`` steps for the estimate
        to be trusted (emcee's criterion, its ``tol``: a multiple of the
        autocorrelation time, not a likelihood tolerance).

    Returns
    -------
    burn : int
        Steps to discard.
    thin : int
        Thinning factor.
    tau : ndarray, shape (n_dim,)
        Integrated autocorrelation time of each parameter [steps].

    Raises
    ------
    emcee.autocorr.AutocorrError
        The chain is too short; the error carries the tentative ``tau`` and says how many steps are needed.
    ValueError
        ``chain`` not 3-D (a flattened chain hides the autocorrelation) or
        not finite, or ``n_tau`` not positive.
    """
    from emcee.autocorr import AutocorrError, integrated_time

    chain = check_chain(chain)
    n_tau = check_positive_float("n_tau", n_tau)
    still = np.all(chain == chain[:1], axis=0)  # (n_walkers, n_dim): a walker that never moved there
    frozen = [k for k in range(chain.shape[2]) if still[:, k].any()]
    if frozen:  # every proposal of those walkers was rejected: tau is undefined (0/0), not merely long
        raise ValueError(
            f"chain never moves in parameter(s) {frozen} for {int(still.any(axis=1).sum())} of {chain.shape[1]} "
            "walkers: every proposal was rejected, so there is no autocorrelation time. Fix: start every walker "
            "inside the prior the sampler uses (log_prior(p0, bounds=...) finite for each row of p0, e.g. "
            "init_walkers(..., bounds=the sampler's bounds))"
        )
    try:
        tau = integrated_time(chain, tol=n_tau)
    except AutocorrError as err:  # emcee's own class (students may catch it), with the numbers and a Fix
        need = int(np.ceil(n_tau * np.max(err.tau)))
        raise AutocorrError(
            err.tau,
            f"chain of {chain.shape[0]} steps is shorter than n_tau = {n_tau:g} times the autocorrelation time "
            f"(tentative tau = {np.array2string(np.asarray(err.tau), precision=1)} steps), so tau is not yet "
            f"trustworthy. Fix: run the sampler for at least {need} steps in all (sampler.run_mcmc(None, "
            f"{max(need - chain.shape[0], 1)}) continues this one), or, for a first look only, lower n_tau",
        ) from None
    return int(np.ceil(2.0 * np.max(tau))), max(1, int(0.5 * np.min(tau))), tau


def percentile_summary(samples: Any, *, names: Sequence[str] = PARAM_NAMES) -> str:
    """Median and 68% interval (16th-84th percentiles) of each parameter, as a table.

    Parameters
    ----------
    samples : array_like, shape (n_samples, n_dim)
        Posterior samples.
    names : sequence of str, default=PARAM_NAMES
        Parameter names, length n_dim.

    Returns
    -------
    str
        A fixed-format text table (one row per parameter: median, -err, +err).
    """
    samples = as_float_array("samples", samples, ndim=2)
    if isinstance(names, (str, bytes)) or not all(isinstance(n, str) for n in names):
        raise TypeError(f"names must be a sequence of str, one per column; got {names!r:.80}. "
                        "Fix: names=('mean1', 'sigma1', ...), not one string")
    if samples.shape[1] != len(names):
        raise ValueError(f"names must have one name per column of samples ({samples.shape[1]}); got "
                         f"{len(names)}: {tuple(names)}. Fix: pass names= of that length")
    q16, q50, q84 = np.percentile(samples, [16, 50, 84], axis=0)
    rows = [f"{'parameter':<10}{'median':>10}{'-1sigma':>10}{'+1sigma':>10}"]
    for name, lo, mid, hi in zip(names, q16, q50, q84, strict=True):
        rows.append(f"{name:<10}{mid:>10.3f}{mid - lo:>10.3f}{hi - mid:>10.3f}")
    return "\n".join(rows)
