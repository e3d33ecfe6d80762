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
from .em import FitResult
from .model import _canonical, _check_params, log_likelihood, validate_data

#: How to install Bovy's library (printed when it is missing).
BOVY_XD_INSTALL = (
    "Bovy's extreme_deconvolution is not installed (it is not on PyPI). To install it: "
    "install GSL (conda install -c conda-forge gsl, or apt-get install libgsl-dev), then "
    "CFLAGS=-fcommon pip install "
    "git+https://github.com/jobovy/extreme-deconvolution.git@3603fc7707c4d9d4785e21a24c3f54e3b65f435c "
    "(CFLAGS=-fcommon is needed with GCC >= 10). The conda environment.yml and Binder do this for you."
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
        Starting ``(mean1, sigma1, mean2, sigma2, frac1)``.
    tol : float, default=1e-12
        Tolerance on the mean log-likelihood per star (as :func:`em_fit`; the
        library's own default is 1e-6).
    max_iter : int, default=100000
        Maximum number of EM iterations (the library's ``maxiter``).

    Returns
    -------
    FitResult
        Parameters in this package's order; ``log_likelihood`` recomputed with
        :func:`log_likelihood`.  The library reports neither the number of
        iterations nor whether it stopped on ``tol`` or ``max_iter``:
        ``n_iter`` and ``converged`` are None.

    Raises
    ------
    ExtremeDeconvolutionNotInstalled
        The library is absent; the message says how to install it.
    ValueError
        Invalid data or start (the message names them).
    """
    try:
        from extreme_deconvolution import extreme_deconvolution
    except ImportError as err:
        raise ExtremeDeconvolutionNotInstalled(BOVY_XD_INSTALL) from err
    v, verr = validate_data(v, verr)
    amp, mean, covar = _xd_arrays(_check_params(init))
    extreme_deconvolution(v[:, None], verr[:, None] ** 2, amp, mean, covar, tol=tol, maxiter=max_iter)
    p = _from_xd_arrays(amp, mean, covar)
    return FitResult(p, log_likelihood(p, v, verr), None, None, "Bovy extreme_deconvolution")


def fit_astroml_xd(
    v: Any,
    verr: Any,
    init: Any = None,
    *,
    max_iter: int = 100,
    tol: float = 1e-5,
    rng: RNGLike = 0,
) -> FitResult:
    """Fit with astroML's ``XDGMM``, from its own initialisation or from ``init``.

    With ``init=None`` this is ``XDGMM(2).fit(X, Xerr)`` as the astroML
    documentation uses it: ten steps of scikit-learn's ``GaussianMixture``
    (which ignores the errors) pick the start.  Its ConvergenceWarning is
    silenced; it concerns only that short initialisation.  With ``init`` the
    same EM steps (``XDGMM._EMstep``, astroML's own implementation of Bovy et
    al. eq. 16) run from the given start, with astroML's stopping rule: stop
    when the total log-likelihood rises by less than ``tol``.

    Parameters
    ----------
    v, verr : array_like, shape (n_stars,)
        Velocities and their 1-sigma uncertainties [km/s].
    init : array_like of shape (5,), default=None
        Start; None uses astroML's default initialisation.
    max_iter : int, default=100
        astroML's ``max_iter``.
    tol : float, default=1e-5
        astroML's ``tol`` on the total log-likelihood.
    rng : int or numpy.random.Generator, default=0
        Seeds the GaussianMixture initialisation (XDGMM's ``random_state``): an
        int is passed as is, a Generator gives one drawn seed.

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
        Invalid data or start (the message names them).
    """
    from astroML.density_estimation import XDGMM
    from sklearn.exceptions import ConvergenceWarning

    v, verr = validate_data(v, verr)
    X, Xerr = v[:, None], (verr**2)[:, None, None]
    xd = XDGMM(n_components=2, max_iter=max_iter, tol=tol, random_state=seed_of(rng))
    if init is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            xd.fit(X, Xerr)
        method = "astroML XDGMM (default init)"
        n_iter, converged = None, None
    else:
        xd.alpha, xd.mu, xd.V = _xd_arrays(_check_params(init))
        logl = xd.logL(X, Xerr)
        converged = False
        for n_iter in range(1, max_iter + 1):  # noqa: B007 - same loop as XDGMM.fit
            xd._EMstep(X, Xerr)
            logl_next = xd.logL(X, Xerr)
            if logl_next < logl + tol:
                converged = True
                break
            logl = logl_next
        method = "astroML XDGMM (our start)"
    p = _from_xd_arrays(xd.alpha, xd.mu, xd.V)
    return FitResult(p, log_likelihood(p, v, verr), n_iter, converged, method)
