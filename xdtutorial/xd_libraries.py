"""The extreme-deconvolution libraries (notebook 04): Bovy's C library and astroML's XDGMM.

Thin wrappers that take and return this package's parameter order
``(mean1, sigma1, mean2, sigma2, frac1)`` and a :class:`~xdtutorial.em.FitResult`,
so that the libraries can be compared with :func:`xdtutorial.em.em_fit` from
the same start.  Bovy's ``extreme_deconvolution`` is optional (not on PyPI).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ._numerics import RNGLike, seed_of
from ._validation import (
    MIN_STARS_FIT,
    as_velocity_arrays,
    check_positive_float,
    check_positive_int,
    check_total_variance,
)
from .em import EMConvergenceWarning, FitResult, _diagnose
from .errors import EMFailure
from .model import _canonical, _check_params, log_likelihood

#: How to install Bovy's library (printed when it is missing).
BOVY_XD_INSTALL = (
    "Bovy's extreme_deconvolution is not installed (it is not on PyPI). To install it: "
    "install GSL (conda install -c conda-forge gsl, or apt-get install libgsl-dev), then "
    "CFLAGS=-fcommon pip install "
    "git+https://github.com/jobovy/extreme-deconvolution.git@3603fc7707c4d9d4785e21a24c3f54e3b65f435c "
    "(CFLAGS=-fcommon is needed with GCC >= 10). Binder builds it for you; in the conda environment of "
    "environment.yml, use the command in the comment at its top (README.md, Installing Bovy's extreme_deconvolution)."
)


class ExtremeDeconvolutionNotInstalled(ImportError):
    """Bovy's ``extreme_deconvolution`` cannot be imported; the message says how to install it."""


def bovy_xd_available() -> bool:
    """Whether Bovy's ``extreme_deconvolution`` can be imported."""
    try:
        import extreme_deconvolution  # noqa: F401
    except ImportError:
        return False
    return True


def _xd_arrays(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    amp = np.array([p[4], 1.0 - p[4]])
    mean = np.array([[p[0]], [p[2]]])
    covar = np.array([[[p[1] ** 2]], [[p[3] ** 2]]])
    return amp, mean, covar


def _checked(
    v: Any, verr: Any, init: Any, tol: Any, max_iter: Any, *, tol_name: str = "tol"
) -> tuple[np.ndarray, np.ndarray, Any]:
    """The wrappers' common checks, before any library is imported or run.

    Velocities that are all equal are refused: both libraries then invert a singular matrix
    (astroML raises numpy's raw ``LinAlgError``) or return a component with all the weight.
    """
    v, verr = as_velocity_arrays(v, verr, min_stars=MIN_STARS_FIT, check_plausible=True)
    if np.ptp(v) == 0:
        raise ValueError(
            f"v must have a spread for a two-component fit; got {v.size} velocities all equal to {v[0]:.6g} km/s "
            "(the libraries then invert a singular matrix). Fix: pass the stars' measured velocities"
        )
    with np.errstate(under="ignore", over="ignore"):  # an overflowing square is refused just below
        lost = np.flatnonzero((verr > 0) & (verr**2 < np.finfo(float).tiny))
    if lost.size:  # the libraries square the errors themselves, without em_fit's change of unit
        i = int(lost[0])
        raise ValueError(
            f"verr[{i}] = {verr[i]:.3g} km/s: both libraries square the errors, and this square underflows in "
            f"float64 (below 2.2e-308, i.e. errors below about 1.5e-154 km/s): to 0 or a number without precision "
            f"({lost.size} stars). Fix: check the units of verr (km/s), or use em_fit, which rescales its units"
        )
    big = float(max(np.ptp(v), np.max(np.abs(v)), np.max(verr)))
    if big > 1e150:  # the libraries square velocities and errors themselves: beyond ~1.3e154 km/s a square is inf
        raise ValueError(
            f"v and verr must stay below about 1e150 km/s for the XD libraries, which square them; got values up to "
            f"{big:.3g} km/s, where squares overflow float64. Fix: check the units (km/s), or use em_fit, which "
            "rescales its units"
        )
    p = None if init is None else _check_params(init, "init")
    if p is not None:
        check_total_variance(p, verr)
    check_positive_float(tol_name, tol)
    check_positive_int("max_iter", max_iter)
    return v, verr, p


def _library_params(amp: np.ndarray, mean: np.ndarray, covar: np.ndarray, library: str) -> np.ndarray:
    """A library's mixture in this package's order, or :class:`EMFailure` if EM left the valid region."""
    p = _from_xd_arrays(amp, mean, covar)
    if not (np.all(np.isfinite(p)) and 0.0 < p[4] < 1.0 and p[1] > 0.0):
        raise EMFailure(
            f"{library}'s EM ended outside the valid region at {p!r} (a component emptied or collapsed onto "
            "stars without errors). Fix: start elsewhere, e.g. from initial_guess(v, distance), or use em_fit",
            params=p,
        )
    return p


def _verdict(p: np.ndarray, v: np.ndarray, verr: np.ndarray, converged: bool | None) -> bool | None:
    """``converged`` unless the fit stopped at a saddle or never left its start (then warn, False)."""
    problem = _diagnose(p, v, verr)
    if problem is None:
        return converged
    warnings.warn(problem, EMConvergenceWarning, stacklevel=3)
    return False


def _from_xd_arrays(amp: np.ndarray, mean: np.ndarray, covar: np.ndarray) -> np.ndarray:
    amp, mean, covar = np.ravel(amp), np.ravel(mean), np.ravel(covar)
    p = np.array([mean[0], np.sqrt(covar[0]), mean[1], np.sqrt(covar[1]), amp[0] / amp.sum()])
    return _canonical(p)


def fit_bovy_xd(v: Any, verr: Any, init: Any, *, tol: float = 1e-12, max_iter: int = 100_000) -> FitResult:
    """Fit with Bovy's ``extreme_deconvolution`` (C library) from a given start.

    Parameters
    ----------
    v, verr : array_like, shape (n_stars,)
        Velocities and their 1-sigma uncertainties [km/s].
    init : array_like, shape (5,)
        Starting ``(mean1, sigma1, mean2, sigma2, frac1)`` [km/s, km/s, km/s, km/s, -].
    tol : float, default=1e-12
        Tolerance on the rise of the mean log-likelihood per star [nats] (as :func:`em_fit`; the
        library's own default is 1e-6).
    max_iter : int, default=100000
        Maximum number of EM iterations (the library's ``maxiter``).

    Returns
    -------
    FitResult
        Parameters in this package's order; ``log_likelihood`` recomputed with
        :func:`log_likelihood`.  The library reports neither the number of
        iterations nor whether it stopped on ``tol`` or ``max_iter``:
        ``n_iter`` and ``converged`` are None (False, with an
        :class:`EMConvergenceWarning`, at a saddle or when the errors swamp the data).

    Raises
    ------
    ExtremeDeconvolutionNotInstalled
        The library is absent; the message says how to install it.
    ValueError
        Invalid data, start or options (the message names them); checked
        before the library is imported.
    """
    v, verr, p0 = _checked(v, verr, init, tol, max_iter)
    if p0 is None:
        raise TypeError("init must be a start (mean1, sigma1, mean2, sigma2, frac1); got None. Fix: e.g. "
                        "initial_guess(v, distance)")
    try:
        from extreme_deconvolution import extreme_deconvolution
    except ImportError as err:
        raise ExtremeDeconvolutionNotInstalled(BOVY_XD_INSTALL) from err
    amp, mean, covar = _xd_arrays(p0)
    extreme_deconvolution(v[:, None], verr[:, None] ** 2, amp, mean, covar, tol=tol, maxiter=max_iter)
    p = _library_params(amp, mean, covar, "Bovy's extreme_deconvolution")
    return FitResult(p, log_likelihood(p, v, verr), None, _verdict(p, v, verr, None), "Bovy extreme_deconvolution")


def fit_astroml_xd(
    v: Any,
    verr: Any,
    init: Any = None,
    *,
    max_iter: int = 100,
    total_tol: float = 1e-5,
    rng: RNGLike = 0,
) -> FitResult:
    """Fit with astroML's ``XDGMM``, from its own initialisation or from ``init``.

    With ``init=None`` this is ``XDGMM(2).fit(X, Xerr)`` as the astroML
    documentation uses it: ten steps of scikit-learn's ``GaussianMixture``
    (which ignores the errors) pick the start.  Its ConvergenceWarning is
    silenced; it concerns only that short initialisation.  With ``init`` the
    same EM steps (``XDGMM._EMstep``, astroML's own implementation of Bovy et
    al. eq. 16) run from the given start, with astroML's stopping rule: stop
    when the total log-likelihood rises by less than ``total_tol``.

    Parameters
    ----------
    v, verr : array_like, shape (n_stars,)
        Velocities and their 1-sigma uncertainties [km/s].
    init : array_like of shape (5,), default=None
        Starting ``(mean1, sigma1, mean2, sigma2, frac1)`` [km/s, km/s, km/s, km/s, -];
        None uses astroML's default initialisation.
    max_iter : int, default=100
        astroML's ``max_iter``.
    total_tol : float, default=1e-5
        astroML's ``tol``: on the rise of the *total* log-likelihood per step [nats]
        (not per star, unlike ``tol`` of :func:`em_fit` and :func:`fit_bovy_xd`).
    rng : int or numpy.random.Generator, default=0
        Seeds the GaussianMixture initialisation (XDGMM's ``random_state``): an
        int is passed as is, a Generator gives one drawn seed.  Keyword-only.

    Returns
    -------
    FitResult
        Parameters reordered so that component 1 is the narrower one.  From
        astroML's default initialisation, ``XDGMM.fit`` reports neither the
        number of EM steps nor whether it stopped on ``tol``: ``n_iter`` and
        ``converged`` are None.  From ``init``, both are known.

    Raises
    ------
    ValueError
        Invalid data, start or options (the message names them); velocities all equal.
    EMFailure
        astroML's EM met a singular matrix or left the valid region (a component
        emptied); the exception carries the parameters.
    """
    v, verr, p0 = _checked(v, verr, init, total_tol, max_iter, tol_name="total_tol")
    seed = seed_of(rng)
    from astroML.density_estimation import XDGMM
    from sklearn.exceptions import ConvergenceWarning

    X, Xerr = v[:, None], (verr**2)[:, None, None]
    xd = XDGMM(n_components=2, max_iter=max_iter, tol=total_tol, random_state=seed)
    try:
        if p0 is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                xd.fit(X, Xerr)
            method = "astroML XDGMM (default init)"
            n_iter, converged = None, None
        else:
            xd.alpha, xd.mu, xd.V = _xd_arrays(p0)
            logl = xd.logL(X, Xerr)
            converged = False
            for n_iter in range(1, max_iter + 1):  # noqa: B007 - same loop as XDGMM.fit
                xd._EMstep(X, Xerr)
                logl_next = xd.logL(X, Xerr)
                if logl_next < logl + total_tol:
                    converged = True
                    break
                logl = logl_next
            method = "astroML XDGMM (our start)"
    except np.linalg.LinAlgError as err:
        raise EMFailure(
            f"astroML's XDGMM met a singular covariance ({err}): a component collapsed onto stars without errors. "
            "Fix: start elsewhere, e.g. from initial_guess(v, distance), or give the stars their errors",
            params=_from_xd_arrays(xd.alpha, xd.mu, xd.V) if p0 is not None else None,
        ) from None
    p = _library_params(xd.alpha, xd.mu, xd.V, "astroML's XDGMM")
    return FitResult(p, log_likelihood(p, v, verr), n_iter, _verdict(p, v, verr, converged), method)
