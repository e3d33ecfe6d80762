"""Fitting the two-component model (notebook 03): EM, a general optimiser, Fisher errors.

:func:`em_step` is one step of expectation-maximisation with deconvolution of
the per-star errors, written as the equations read: the E-step
(responsibilities), then the M-step of Bovy, Hogg & Roweis (2011), eq. 16 in
1-D.  :func:`em_fit` iterates it, by default accelerated by SQUAREM (Varadhan &
Roland 2008; ``accelerate=False`` gives the textbook loop of notebook 03).  On
large samples it runs the same step rearranged in cache-sized blocks
(:mod:`xdtutorial._em_fast`, tested equal to :func:`em_step` step by step).
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np

from ._em_fast import FastEM, squarem
from ._numerics import RNGLike, as_generator, central_hessian, invert_information, read_only, same_value
from ._validation import (
    MIN_STARS_FIT,
    as_float_array,
    as_velocity_arrays,
    check_bool,
    check_float,
    check_minimize_options,
    check_params,
    check_positive_float,
    check_positive_int,
    check_probability,
    check_total_variance,
)
from .errors import EMConvergenceWarning, EMFailure, ImplausibleVelocityWarning
from .model import (
    _canonical,
    _check_params,
    _check_variances,
    _fmt,
    _mixture_e_step,
    _mixture_em_step,
    _score_gains,
    log_likelihood,
)

#: em_fit runs the textbook step below this many stars and the blocked kernel
#: (xdtutorial._em_fast) from it on.  Measured on the 2-core reference machine (AMD EPYC,
#: AVX2 without AVX-512, numpy 2.4; CPU time per EM step, best of 7, textbook / fast):
#: 300 stars 0.16 / 0.11 ms, 3000 stars 0.37 / 0.19 ms, 10^4 stars 1.5 / 0.43 ms,
#: 10^5 stars 17 / 3.5 ms, 10^6 stars 115 / 33 ms.  Below 10^4 stars a fit takes well
#: under a second either way; the notebooks' clusters (at most ~2000 stars) all run the
#: textbook step, with the same fits to the printed digits.
FAST_EM_MIN_STARS = 10_000


@dataclasses.dataclass(frozen=True, eq=False)
class FitResult:
    """Result of a fit, in this package's parameter order.

    Attributes
    ----------
    params : ndarray, shape (5,)
        ``(mean1, sigma1, mean2, sigma2, frac1)`` [km/s, km/s, km/s, km/s, -].
    log_likelihood : float
        Error-convolved log-likelihood at ``params`` (:func:`log_likelihood`;
        for a naive fit, the likelihood of the model that ignores errors);
        ``-inf`` for a failed fit.
    n_iter : int or None
        Iterations: EM steps evaluated (:func:`em_fit`), or the optimiser's
        function evaluations; None when the method does not report it.
    converged : bool or None
        Whether the method's stopping criterion was met; None when the method
        does not report it.
    method : str
        What produced it.
    history : ndarray, shape (n_points,)
        EM methods: the log-likelihood of every point the iteration passed
        through, the start first, ``params`` last (plain EM: before each step
        and after the last, ``n_iter + 1`` values); otherwise empty.
    error : str or None, default=None
        Why the fit failed (then ``params`` is the start), or None.

    Notes
    -----
    The arrays are read-only copies (a result cannot be changed in place).
    Two results are equal when every field is: arrays element by element
    (NaN equal to NaN), so ``==`` gives one bool.  The printed form shows the
    parameters and the length of the history, not every value.
    """

    params: np.ndarray
    log_likelihood: float
    n_iter: int | None
    converged: bool | None
    method: str
    history: np.ndarray = dataclasses.field(default_factory=lambda: np.empty(0))
    error: str | None = None

    def __post_init__(self) -> None:
        for name in ("params", "history"):
            object.__setattr__(self, name, read_only(getattr(self, name)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FitResult):
            return NotImplemented
        return all(same_value(getattr(self, f.name), getattr(other, f.name)) for f in dataclasses.fields(self))

    __hash__ = None  # type: ignore[assignment]  (holds arrays)

    def __repr__(self) -> str:
        params = ", ".join(f"{x:.6g}" for x in self.params)
        return (
            f"FitResult(method={self.method!r}, params=[{params}], log_likelihood={self.log_likelihood:.10g}, "
            f"n_iter={self.n_iter}, converged={self.converged}, history=<{self.history.size} values>, "
            f"error={self.error!r})"
        )


def _em_update(p: np.ndarray, v: np.ndarray, verr: np.ndarray) -> tuple[np.ndarray, float]:
    """One EM step from ``p``; returns (new parameters, log-likelihood at ``p``).

    The kernel's E- and M-step (:func:`xdtutorial.model._mixture_em_step`) with
    K = 2.  ``verr`` are the uncertainties [km/s] (zeros for the naive model).
    ``p`` needs positive fractions and total widths, in either order; the labels of
    the new parameters are those of ``p`` (not yet canonical).
    """
    _check_variances(p, float(verr.min()))
    mu, sig, w, ll = _mixture_em_step(v, verr, p[[0, 2]], p[[1, 3]], np.array([p[4], 1.0 - p[4]]), params=p)
    return np.array([mu[0], sig[0], mu[1], sig[1], w[0]]), ll


#: A fit whose ln L would still rise by more than this along one mean or width (the score
#: test of :func:`xdtutorial.model._score_gains`) has not reached a maximum.
STUCK_GAIN = 1e-3
#: The score test runs when a width is below this share of the median error: there EM's steps
#: in that component's mean and width shrink like (sigma / verr)^2, and EM can stop anywhere.
STUCK_WIDTH_RATIO = 1e-2


def _stuck(p: np.ndarray, v: np.ndarray, verr: np.ndarray, gain_tol: float, median_err: float) -> str | None:
    """Why EM stopped short of a maximum at a width near 0 (EM cannot move a width at 0), or None."""
    sig = p[[1, 3]]
    if not np.any(sig < STUCK_WIDTH_RATIO * median_err):
        return None
    with np.errstate(all="ignore"):
        q, _, _ = _mixture_e_step(v, verr, p[[0, 2]], sig, np.log([[p[4]], [1.0 - p[4]]]))
    narrow = sig < STUCK_WIDTH_RATIO * np.median(verr)
    empty = narrow & (q.sum(axis=1) < 1.0)
    if np.any(empty):  # its stars' q ~ 0: the score says nothing, and EM cannot move it either
        k = int(np.argmax(empty))
        return (
            f"EM stopped at {_fmt(p)}, where component {k + 1} has width {sig[k]:.3g} km/s, far below the errors, "
            f"and holds {q[k].sum():.2g} stars: sigma = 0 is a fixed point of EM, and a spike that holds no star is "
            "the one-component model, not a maximum of two. Fix: start with widths comparable to the spread of the "
            "velocities, e.g. initial_guess(v, distance)"
        )
    gains = np.add(*_score_gains(q, v, verr, p[[0, 2]], sig))
    if not gains.sum() > gain_tol:
        return None
    k = int(np.argmax(gains))
    return (
        f"EM stopped at {_fmt(p)}, where component {k + 1}'s width {sig[k]:.3g} km/s is far below the errors: "
        f"sigma = 0 is a fixed point of EM (its steps shrink like sigma^2), but not a maximum here: ln L would "
        f"still rise by about {gains.sum():.3g} along the means and widths. Fix: start with widths comparable "
        "to the spread of the velocities, e.g. initial_guess(v, distance)"
    )


def _diagnose(p: np.ndarray, v: np.ndarray, verr: np.ndarray, gain_tol: float = STUCK_GAIN) -> str | None:
    """Why a fit that stopped on its tolerance has not found a maximum, or None.

    * Identical components: EM keeps a symmetric start symmetric exactly, so it stops at the
      saddle point where both components are one Gaussian (NGC 288: ln L -1729 against -1289).
    * A width near 0 where ln L still rises (the score test, :func:`_stuck`): sigma = 0 is a
      fixed point of EM (NGC 288 from sigma1 = 0: ln L -1546.6 against -1288.8).  A width at 0
      that *is* the maximum (an unresolved dispersion) passes.
    * Errors that swamp the data (median error > 10 times the spread of the velocities): the
      likelihood is flat and EM cannot move from its start.  A rule on the data, so a fit
      started at its own optimum stays converged.
    """
    scale = 1.0 + abs(p[0]) + p[3]
    if abs(p[0] - p[2]) <= 1e-9 * scale and abs(p[1] - p[3]) <= 1e-9 * scale:
        return (
            f"the two components are identical at {_fmt(p)}: a saddle point, not a maximum (EM keeps a "
            "symmetric start symmetric). Fix: start from two different components, e.g. initial_guess(v, distance)"
        )
    median_err = float(np.median(verr))
    stuck = _stuck(p, v, verr, gain_tol, median_err)
    if stuck:
        return stuck
    if median_err > 10.0 * np.std(v):
        return (
            f"the errors (median {median_err:.3g} km/s) are larger than the spread of the velocities "
            f"({np.std(v):.3g} km/s): the likelihood is flat and EM cannot move from its start. Check the "
            "units of verr"
        )
    return None


#: Data whose largest magnitude lies outside [2^-SAFE_EXPONENT, 2^SAFE_EXPONENT] km/s are fitted in
#: units of a power of two (exact), so that the squares in the M-step neither underflow nor overflow.
SAFE_EXPONENT = 200


def _unit_of(v: np.ndarray, verr: np.ndarray, p: np.ndarray) -> float:
    """1, or a power of two near the data's magnitude when it is far from 1 km/s (then fit in that unit)."""
    top = max(float(v.max()), -float(v.min()), float(verr.max()), abs(p[0]), abs(p[2]), p[1], p[3])
    exponent = np.frexp(top)[1] if top > 0 else 0
    return float(np.ldexp(1.0, exponent)) if abs(exponent) > SAFE_EXPONENT else 1.0


def _in_unit(p: np.ndarray, unit: float) -> np.ndarray:
    """Parameters with velocities in ``unit`` (a power of two: exact)."""
    return p * np.array([1.0 / unit] * 4 + [1.0])


def _in_km_s(err: EMFailure, unit: float) -> EMFailure:
    """An EMFailure raised while fitting in ``unit`` km/s, with its parameters (and their quote) in km/s."""
    if err.params is None:
        back, message = None, str(err)
    else:
        back = _in_unit(np.asarray(err.params, dtype=float), 1.0 / unit)
        message = str(err).replace(_fmt(err.params), _fmt(back))
    message = message.split(" Fix: ")[0].rstrip(".")
    return EMFailure(
        f"{message} (parameters in km/s; EM ran in units of {unit:.3g} km/s, the magnitude of the largest "
        "velocity, error or start value). If one extreme star set that unit, the other stars' spread is below "
        "its precision. Fix: remove the stars with impossible speeds (keep = np.abs(v) < 3000) and fit again; "
        "if there are none, start elsewhere (e.g. from initial_guess)",
        back,
    )


def em_step(params: Any, v: Any, verr: Any, *, deconvolve: bool = True) -> np.ndarray:
    """One expectation-maximisation step.

    E-step: membership probabilities ``q_ik`` under the current parameters.
    M-step with ``deconvolve=True`` (Bovy, Hogg & Roweis 2011, eq. 16 in 1-D):
    each star's *true* velocity has, given component k, mean
    ``b_ik = mu_k + sigma_k^2 (v_i - mu_k) / T_ik`` and variance
    ``B_ik = sigma_k^2 - sigma_k^4 / T_ik`` with ``T_ik = sigma_k^2 + verr_i^2``;
    then ``mu_k = sum_i q_ik b_ik / sum_i q_ik``,
    ``sigma_k^2 = sum_i q_ik [(b_ik - mu_k)^2 + B_ik] / sum_i q_ik``,
    ``f_1 = sum_i q_i1 / N``.  With ``deconvolve=False`` the errors are
    ignored everywhere (an ordinary Gaussian mixture): the M-step is the
    weighted mean and dispersion of the *observed* velocities.

    The labels are put back in canonical order (component 1 narrower) when a
    step swaps them; this does not change the likelihood.

    Parameters
    ----------
    params : array_like, shape (5,)
        Current ``(mean1, sigma1, mean2, sigma2, frac1)``, in the valid region.
    v, verr : array_like, shape (n_stars,)
        Velocities and their 1-sigma uncertainties [km/s].
    deconvolve : bool, default=True
        Use the per-star errors (extreme deconvolution) or ignore them.

    Returns
    -------
    ndarray, shape (5,)
        Updated ``(mean1, sigma1, mean2, sigma2, frac1)`` [km/s, km/s, km/s, km/s, -].

    Raises
    ------
    ValueError
        Invalid data or parameters (the message names them), or a component of
        zero total variance (``sigma_k = 0`` for a star with ``verr_i = 0``).
    TypeError
        ``deconvolve`` is not a bool.
    EMFailure
        (A subclass of FloatingPointError.)  A component lost all its stars, or collapsed to
        zero width without errors; ``params`` of the exception is the start.
    """
    v, verr = as_velocity_arrays(v, verr)
    p = _check_params(params)
    if not check_bool("deconvolve", deconvolve):
        verr = np.zeros_like(verr)
    check_total_variance(p, verr)
    unit = _unit_of(v, verr, p)
    new = _em_update(_in_unit(p, unit), v / unit, verr / unit)[0]
    return _canonical(_in_unit(new, 1.0 / unit))


def em_fit(
    v: Any,
    verr: Any,
    init: Any,
    *,
    tol: float = 1e-12,
    max_iter: int = 10_000,
    deconvolve: bool = True,
    accelerate: bool = True,
) -> FitResult:
    """Fit the two-component mixture by expectation-maximisation.

    Iterates :func:`em_step` until an EM step raises the mean log-likelihood
    per star by less than ``tol`` (the criterion of Bovy's
    ``extreme_deconvolution``).  By default the iteration is accelerated by
    SQUAREM (Varadhan & Roland 2008; :func:`xdtutorial._em_fast.squarem`):
    every two EM steps give a direction to extrapolate along, the
    extrapolated point is kept only if its likelihood is no lower, and one
    EM step from it follows.  Plain EM and SQUAREM never decrease the
    likelihood, so the history is monotone up to rounding, and they stop at
    the same fixed point of the EM step (to within the tolerance).  From
    :data:`FAST_EM_MIN_STARS` stars on, the EM step runs in a blocked,
    allocation-free form (same mathematics, tested equal step by step).

    Parameters
    ----------
    v, verr : array_like, shape (n_stars,)
        Velocities and their 1-sigma uncertainties [km/s].
    init : array_like, shape (5,)
        Starting ``(mean1, sigma1, mean2, sigma2, frac1)`` [km/s, km/s, km/s, km/s, -].
    tol : float, default=1e-12
        Convergence tolerance on the per-star mean log-likelihood [nats] (1e-12
        brings the NGC 288 parameters within 1e-4 km/s of the optimum).
    max_iter : int, default=10000
        Maximum number of EM steps (evaluations of the EM step, those of the
        extrapolated points included); reaching it warns
        (EMConvergenceWarning) and returns the last parameters with
        ``converged=False``.
    deconvolve : bool, default=True
        Deconvolve the errors (True) or ignore them (naive Gaussian mixture).
    accelerate : bool, default=True
        SQUAREM (True) or the textbook iteration ``p <- em_step(p)`` (False,
        as notebook 03 writes it).

    Returns
    -------
    FitResult
        ``n_iter`` is the number of EM steps evaluated (the data are read
        ``n_iter + 1`` times: the last E-step only measures the final ln L);
        ``history`` the log-likelihood of every point passed through, the
        start first and ``params`` last (for plain EM, before every step and
        at the end: ``n_iter + 1`` values).
        ``converged`` is False, with an :class:`EMConvergenceWarning`, also
        when EM stopped at a fixed point that is not a maximum (two identical
        components; a width at or near 0 where the likelihood still rises, the
        score test) or could not move because the errors swamp the data.
        Data far from 1 km/s (1e-300 or 1e160) are fitted in a power-of-two
        unit, exactly, and the results given in km/s.

    Raises
    ------
    ValueError
        Invalid data or start (the message names them), fewer than 5 stars,
        or a component of zero total variance.  Zero errors are fine: then
        this is an ordinary Gaussian mixture.
    TypeError
        An option of the wrong type (``max_iter=2.5``, ``deconvolve="no"``).
    EMFailure
        (A subclass of FloatingPointError.)  A component lost all its stars (the start was
        hopeless); its ``params`` are where EM stopped.

    Warns
    -----
    ImplausibleVelocityWarning
        A speed beyond 3000 km/s (a unit mistake?) will dominate the fit.
    """
    v, verr = as_velocity_arrays(v, verr, min_stars=MIN_STARS_FIT, check_plausible=True)
    p = _check_params(init, "init")
    tol = check_positive_float("tol", tol)
    max_iter = check_positive_int("max_iter", max_iter)
    accelerate = check_bool("accelerate", accelerate)
    if not check_bool("deconvolve", deconvolve):
        verr = np.zeros_like(verr)
    check_total_variance(p, verr)
    n = v.size
    # far from 1 km/s (1e-300 or 1e160), fit in a power-of-two unit (exact); ln L shifts by -n ln(unit)
    unit = _unit_of(v, verr, p)
    if unit != 1.0:
        v, verr, p = v / unit, verr / unit, _in_unit(p, unit)
    verr_min = float(verr.min())
    if n >= FAST_EM_MIN_STARS and (verr_min == 0.0 or verr_min > 1e-150):  # FastEM takes the squared errors
        update = FastEM(v, verr**2).update
    else:

        def update(p: np.ndarray) -> tuple[np.ndarray, float]:
            return _em_update(p, v, verr)

    try:
        if accelerate:
            p, history, n_calls, converged = squarem(update, p, n, tol, max_iter)
            p = _canonical(p)
        else:
            history, converged = [], False
            for _ in range(max_iter):
                new, ll_old = update(p)
                history.append(ll_old)
                if len(history) > 1 and history[-1] - history[-2] < tol * n:
                    converged = True
                    break
                p = _canonical(new)
            # `p` is the parameter vector whose log-likelihood is history[-1].
            if not converged:
                history.append(update(p)[1])
            n_calls = len(history)
    except EMFailure as err:
        if unit == 1.0:
            raise
        raise _in_km_s(err, unit) from err
    if not converged:
        problem = (
            f"EM did not converge in {max_iter} steps (last gain {history[-1] - history[-2]:.3g}); "
            "returning the last parameters. Fix: raise max_iter, or start nearer the maximum"
        )
    else:
        problem = _diagnose(p, v, verr, max(STUCK_GAIN, 1e3 * tol * n))
        converged = problem is None
    if unit != 1.0:
        p, history = _in_unit(p, 1.0 / unit), list(np.array(history) - n * np.log(unit))
    if problem:
        warnings.warn(problem, EMConvergenceWarning, stacklevel=2)
    return FitResult(
        params=p,
        log_likelihood=float(history[-1]),
        n_iter=n_calls - 1,
        converged=converged,
        method="EM (deconvolved)" if deconvolve else "EM (naive, errors ignored)",
        history=np.array(history),
    )


def random_starts(v: Any, n_starts: int, *, rng: RNGLike = 0, narrow_fraction: float = 0.5) -> np.ndarray:
    """Random starting points for a multi-start fit.

    A ``1 - narrow_fraction`` share are *broad* starts: both means uniform
    within the 1st-99th percentile range of ``v``, dispersions uniform within
    [0.5, 60] km/s (sorted so that component 1 is narrower), ``frac1`` uniform
    in [0.05, 0.95].  The rest are *narrow* starts: component 1 with a 0.5 km/s
    dispersion (half the spread of ``v`` if that is narrower, so that component 1
    stays the narrower) and ``frac1 = 0.05`` centred on a randomly chosen star,
    the field on the median and standard deviation of all stars.  Narrow starts
    are how EM gets trapped in poor local maxima; a multi-start should include
    some.

    Parameters
    ----------
    v : array_like, shape (n_stars,)
        Velocities [km/s], not all equal.
    n_starts : int
        Number of starts.
    rng : int or numpy.random.Generator, default=0
        Seed or source of randomness (keyword-only; see the conventions in ``helpers``).
    narrow_fraction : float, default=0.5
        Share of narrow starts.

    Returns
    -------
    ndarray, shape (n_starts, 5)
        Valid ``(mean1, sigma1, mean2, sigma2, frac1)`` rows (``0 < sigma1 <= sigma2``,
        ``0 < frac1 < 1``), whatever the spread of ``v``.

    Raises
    ------
    ValueError
        ``v`` empty, not finite or all equal (no spread to start a mixture from);
        ``n_starts`` < 1; ``narrow_fraction`` outside [0, 1].
    TypeError
        ``rng`` not an int seed or a Generator, ``n_starts`` not an int.
    """
    v = as_float_array("v", v, unit="km/s")
    n_starts = check_positive_int("n_starts", n_starts)
    narrow_fraction = check_probability("narrow_fraction", narrow_fraction)
    rng = as_generator(rng)
    if np.all(v == v[0]):
        raise ValueError(
            f"v must have a spread for a two-component start; got {v.size} velocities all equal to {v[0]:.6g} km/s. "
            "Fix: pass the stars' measured velocities (a mixture of identical values has no components to find)"
        )
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        spread_sd = float(np.std(v))
        if not 0.0 < spread_sd < np.inf:  # its squares under- or overflowed (1e-300, 1e300 km/s): in units of max |v|
            top = float(np.max(np.abs(v)))
            spread_sd = float(np.std(v / top)) * top
    lo, hi = np.percentile(v, [1, 99])
    with np.errstate(over="ignore"):
        span = hi - lo  # what the uniform draws below need finite
    if not np.isfinite(span):
        raise ValueError(
            f"v spans {lo:.3g} to {hi:.3g} km/s (1st to 99th percentile), a range beyond floating-point "
            "arithmetic: no velocity in any unit. Fix: remove the impossible speeds, e.g. keep = np.abs(v) < 3000, "
            "and check the rest are in km/s"
        )
    n_narrow = round(narrow_fraction * n_starts)
    n_broad = n_starts - n_narrow
    means = rng.uniform(lo, hi, (n_broad, 2))
    sig = np.sort(rng.uniform(0.5, 60.0, (n_broad, 2)), axis=1)
    broad = np.column_stack([means[:, 0], sig[:, 0], means[:, 1], sig[:, 1], rng.uniform(0.05, 0.95, n_broad)])
    centre = rng.choice(v, n_narrow)
    narrow = np.column_stack(
        [centre, np.full(n_narrow, min(0.5, 0.5 * spread_sd)), np.full(n_narrow, np.median(v)),
         np.full(n_narrow, spread_sd), np.full(n_narrow, 0.05)]
    )
    return check_params(np.vstack([broad, narrow]), name="starts", batch=True)  # the promise, kept


def em_multi_start(
    v: Any,
    verr: Any,
    starts: Any,
    *,
    tol: float = 1e-12,
    max_iter: int = 2000,
    deconvolve: bool = True,
    accelerate: bool = True,
) -> list[FitResult]:
    """Run :func:`em_fit` from many starts and keep every outcome.

    A start whose fit fails (a component empties) gives a result with
    ``log_likelihood = -inf``, ``converged = False``, ``n_iter = None`` and
    the reason in ``error``; a fit that hits
    ``max_iter`` is kept with ``converged = False`` (no warning is emitted:
    the flag carries it).

    Parameters
    ----------
    v, verr : array_like, shape (n_stars,)
        Velocities and their 1-sigma uncertainties [km/s].
    starts : array_like, shape (n_starts, 5)
        Starting ``(mean1, sigma1, mean2, sigma2, frac1)`` [km/s, km/s, km/s, km/s, -], one per
        row, e.g. from :func:`random_starts`.
    tol : float, default=1e-12
        Passed to :func:`em_fit`: the rise of the mean log-likelihood per star
        below which a fit stops.
    max_iter : int, default=2000
        Passed to :func:`em_fit`.
    deconvolve : bool, default=True
        Passed to :func:`em_fit`.
    accelerate : bool, default=True
        Passed to :func:`em_fit`.

    Returns
    -------
    list of FitResult
        One per start, in order.  Compare their ``log_likelihood``: the best
        is the estimate, and how many starts reach it tells how hard the
        problem is.  A fit ending at a saddle point is kept with
        ``converged = False``, like one that hits ``max_iter``.

    Raises
    ------
    ValueError, TypeError
        Invalid data, starts or options, as :func:`em_fit` (bad input is never
        turned into a failed start: only an :class:`EMFailure` is).
    """
    v, verr = as_velocity_arrays(v, verr, min_stars=MIN_STARS_FIT, check_plausible=True)
    starts = check_params(starts, name="starts", batch=True)
    check_positive_float("tol", tol)
    check_positive_int("max_iter", max_iter)
    check_bool("deconvolve", deconvolve)
    check_bool("accelerate", accelerate)
    results = []
    for start in np.atleast_2d(starts):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", EMConvergenceWarning)
                warnings.simplefilter("ignore", ImplausibleVelocityWarning)  # warned once, above
                results.append(
                    em_fit(v, verr, start, tol=tol, max_iter=max_iter, deconvolve=deconvolve, accelerate=accelerate)
                )
        except EMFailure as err:
            method = "EM (deconvolved)" if deconvolve else "EM (naive, errors ignored)"
            results.append(
                FitResult(np.asarray(start, dtype=float), -np.inf, None, False, method, error=str(err))
            )
    return results


def minimize_fit(v: Any, verr: Any, init: Any, *, method: str = "Nelder-Mead", **options: Any) -> FitResult:
    """Maximise the likelihood with :func:`scipy.optimize.minimize`.

    Minimises ``-log_likelihood`` in the raw parameters, with finite-difference
    gradients for the gradient methods.  Outside the valid region the objective
    is ``+inf``.  This is the naive use that notebook 02 examines: unscaled,
    unbounded parameters send L-BFGS-B's and TNC's first step out of the valid
    region, and BFGS and CG end with "precision loss" because finite-difference
    gradients are noisy near the optimum.  The remedies (``bounds=``,
    reparametrisation with ``log sigma`` and ``logit f``, an analytic gradient)
    are written out in that notebook.

    Parameters
    ----------
    v, verr : array_like, shape (n_stars,)
        Velocities and their 1-sigma uncertainties [km/s].
    init : array_like, shape (5,)
        Starting ``(mean1, sigma1, mean2, sigma2, frac1)`` [km/s, km/s, km/s, km/s, -].
    method : str, default="Nelder-Mead"
        Any method of :func:`scipy.optimize.minimize`.
    **options
        Passed as ``options=`` to minimize, in SciPy's own spelling (e.g.
        ``maxiter``, ``maxfev``, ``xatol``); ``max_iter`` is accepted for
        ``maxiter`` (not both).  An option the method does not know, or of the
        wrong type, is a ``TypeError`` (SciPy itself would only warn and ignore
        an unknown one); so are minimize's own arguments (``bounds``,
        ``callback``, ``jac`` ...), which this wrapper does not pass.

    Returns
    -------
    FitResult
        ``n_iter`` holds the number of *function evaluations*; ``converged``
        is the optimiser's own success flag, except that a run that ended no
        higher in ``ln L`` than its start (L-BFGS-B, TNC and trust-constr from
        an unscaled start never leave it), or whose narrow component collapsed
        onto stars without errors (an unbounded likelihood), is
        ``converged=False`` with an :class:`EMConvergenceWarning` saying why.  Neither is reproducible across
        machines (they follow the last digits of the arithmetic): compare the
        log-likelihoods reached, not these.

    Raises
    ------
    ValueError
        Invalid data or start; an unknown ``method``, or one that needs an
        analytic Jacobian (Newton-CG, dogleg, trust-ncg, trust-exact,
        trust-krylov).
    TypeError
        A bad option (see ``**options``).
    """
    from scipy.optimize import minimize

    v, verr = as_velocity_arrays(v, verr, min_stars=MIN_STARS_FIT, check_plausible=True)
    p0 = _check_params(init, "init")
    options = check_minimize_options(method, options)

    def objective(p: np.ndarray) -> float:
        return -log_likelihood(p, v, verr)

    with np.errstate(invalid="ignore", over="ignore"), warnings.catch_warnings():
        # gradient methods warn when their finite differences step onto +inf
        warnings.simplefilter("ignore", RuntimeWarning)
        res = minimize(objective, p0, method=method, options=options or None)
    p = np.asarray(res.x, dtype=float)
    ll = log_likelihood(p, v, verr)
    stuck = _never_left_start(method, p0, p, ll, log_likelihood(p0, v, verr), bool(res.success))
    stuck = stuck or (_collapsed(method, _canonical(p), float(verr.min()), p0[3]) if np.isfinite(ll) else "")
    if stuck:
        warnings.warn(stuck, EMConvergenceWarning, stacklevel=2)
    return FitResult(
        params=_canonical(p) if np.isfinite(ll) else p,
        log_likelihood=ll,
        n_iter=int(res.nfev),
        converged=bool(res.success) and bool(np.isfinite(ll)) and not stuck,
        method=f"minimize ({method})",
    )


def _never_left_start(method: str, p0: np.ndarray, p: np.ndarray, ll: float, ll0: float, success: bool) -> str:
    """Why a :func:`minimize_fit` run that ended no higher than its start is not a fit ('' if it rose).

    The test is exact (no tolerance), so on data where an optimiser does not move at all
    the warning is the same on every machine.
    """
    if ll > ll0:
        return ""
    where = "never left its start" if np.array_equal(p, p0) else "ended no higher than its start"
    return (
        f"minimize_fit(method={method!r}) {where} {_fmt(p0)} (ln L = {ll0:.2f} there), although SciPy's "
        f"success flag says {success}: this is not a maximum, so converged=False. Gradient methods without a "
        "gradient estimate it by finite differences, and their first steps from an unscaled, unbounded start "
        "leave the valid region (sigma <= 0 or frac1 outside (0, 1), where ln L = -inf), so they give up. "
        "Fix: use method='Nelder-Mead' or 'Powell', or em_fit; or bound/reparametrise the parameters "
        "(log sigma, logit frac1) as notebook 02 shows"
    )


def _collapsed(method: str, p: np.ndarray, verr_min: float, start_width: float) -> str:
    """Why a :func:`minimize_fit` result whose narrow component sits on single stars is no fit ('' if not).

    Collapsed: component 1's total width (with the smallest error) is below 1e-8 of the wider of
    component 2's total width and the start's ``sigma2`` (both components may have shrunk).
    """
    narrow, wide = np.hypot(p[1], verr_min), max(np.hypot(p[3], verr_min), start_width)
    if narrow >= 1e-8 * wide:
        return ""
    return (
        f"minimize_fit(method={method!r}) ended at {_fmt(p)}, where component 1's total width, {narrow:.3g} km/s, "
        f"is {narrow / wide:.1g} of the wider width: it collapsed onto stars without errors, where the likelihood is "
        "unbounded (ln L grows without limit as the width shrinks), so this is a singularity, not a maximum; "
        "converged=False. Fix: give the stars their measurement errors; or start elsewhere (em_fit raises "
        "EMFailure here)"
    )


def fisher_uncertainties(params: Any, v: Any, verr: Any, *, rel_step: float = 1e-4) -> np.ndarray:
    """1-sigma uncertainties from the curvature of the log-likelihood at its maximum.

    The covariance is the inverse of the observed information matrix, the
    negative Hessian of :func:`log_likelihood`, here from central finite
    differences.  Valid when the maximum is well inside the valid region and
    the likelihood is close to Gaussian there (many stars per component).

    Parameters
    ----------
    params : array_like, shape (5,)
        A maximum-likelihood estimate ``(mean1, sigma1, mean2, sigma2, frac1)``
        [km/s, km/s, km/s, km/s, -].
    v, verr : array_like, shape (n_stars,)
        Velocities and their 1-sigma uncertainties [km/s].
    rel_step : float, default=1e-4
        Finite-difference step, relative to ``max(|param|, 1)`` (to
        ``min(frac1, 1 - frac1)`` for the fraction).  Data far from 1 km/s
        (beyond ``2**±SAFE_EXPONENT``) are worked on in a power-of-two unit
        near their magnitude (exact), as in :func:`em_fit`, so the 1 km/s floor
        becomes one such unit.

    Returns
    -------
    ndarray, shape (5,)
        Standard deviations [km/s, km/s, km/s, km/s, -], in the order of ``params``.

    Raises
    ------
    ValueError
        ``rel_step`` not in (0, 0.1]; a parameter within one step of the edge
        of the valid region (``sigma1`` near 0 or near ``sigma2``: the maximum
        is on the edge); or the information matrix is not positive definite
        (not a maximum).
    """
    v, verr = as_velocity_arrays(v, verr)
    p = _check_params(params)
    rel_step = check_float("rel_step", rel_step, low=0.0, low_open=True, high=0.1)
    # far from 1 km/s (1e-300 or 1e160) work in a power-of-two unit (exact), as em_fit does: there the
    # curvature neither overflows nor is the step's 1 km/s floor wider than the data
    unit = _unit_of(v, verr, p)
    if unit != 1.0:
        sd = fisher_uncertainties(_in_unit(p, unit), v / unit, verr / unit, rel_step=rel_step)
        return _in_unit(sd, 1.0 / unit)
    h = rel_step * np.maximum(np.abs(p), 1.0)
    h[4] = rel_step * min(p[4], 1.0 - p[4])
    for edge, room in ((0.0, p[1] - 2 * h[1]), (p[3], p[3] - p[1] - 2 * max(h[1], h[3]))):
        if room < 0:  # the stencil reaches x +- 2 h: outside the valid region, ln L = -inf there
            raise ValueError(
                f"sigma1 = {p[1]:.6g} is within the finite-difference step {h[1]:.2g} of its edge {edge:.6g}: the "
                "maximum is on the edge of the valid region (an unresolved dispersion), where the curvature "
                "does not give errors. Fix: use MCMC (notebook 05) for the uncertainties"
            )
    # all points of the central-difference stencil are evaluated in one batch
    info = -central_hessian(lambda points: log_likelihood(points, v, verr), p, h)
    cov, problem = invert_information(info)
    if problem == "not finite":
        raise ValueError(
            f"the information matrix at {_fmt(p)} is not finite: ln L or its curvature overflowed at this "
            "scale, which says nothing about the maximum. Fix: check the units of v and verr (km/s); or divide "
            "v, verr and params by a constant, and multiply the uncertainties of the four velocities back"
        )
    if cov is None:
        raise ValueError(
            f"the information matrix at {_fmt(p)} is {problem}: not a maximum, or "
            "one on the edge of the valid region. Fix: use MCMC (notebook 05) for the uncertainties"
        )
    return np.sqrt(np.diag(cov))

