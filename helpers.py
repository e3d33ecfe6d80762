"""Gaussian mixtures with per-star measurement errors ("extreme deconvolution").

The one import of the tutorial notebooks: ``import helpers``.  This file holds
no code; it documents the conventions, says which module of the package
:mod:`xdtutorial` serves which notebook, and re-exports the public names (the
package's ``__all__``, listed once in ``xdtutorial/__init__.py`` with each name's
module), so ``helpers.em_fit`` and ``help(helpers.em_fit)`` work as they always did.

What the package implements, for *one-dimensional* data (line-of-sight
velocities) with known, Gaussian, uncorrelated per-star errors:

* the two-component model - a globular cluster and its field - with the
  error-convolved likelihood (Hogg, Bovy & Lang 2010; Bovy, Hogg & Roweis 2011),
  evaluated stably in log space, fitted by expectation-maximisation with
  deconvolution (Bovy, Hogg & Roweis 2011, eq. 16 in 1-D), by general
  optimisers, by the XD libraries, and sampled with emcee;
* a distance-aware model for any cluster: membership probability falling off
  with a Plummer profile, a field of one to three Gaussians chosen by BIC, and
  a verdict on whether the data pin the cluster down; run over every cluster
  of Baumgardt's 2019 compilation.

Limitations, stated up front: 1-D data; two components in the velocity-only
model; errors known, Gaussian and uncorrelated between stars.  For more
dimensions, components and correlated errors see ``xdtutorial.xd`` (notebook
09, ``helpers.xd_fit``), astroML's ``XDGMM`` or Bovy's ``extreme_deconvolution``.

Notebook -> module
------------------
=============================  ==========================================================
01 data inspection             ``xdtutorial.data``: pinned download, strict parser, loaders
02 likelihood, optimisation    ``xdtutorial.model``: parameters, likelihood, memberships,
                               initial guess, mock data, the E- and M-steps
03 expectation-maximisation    ``xdtutorial.em``: ``em_step``/``em_fit`` (the textbook EM,
                               SQUAREM-accelerated by default), multi-start, ``minimize_fit``,
                               Fisher errors; ``xdtutorial._em_fast``: the same step for the
                               machine, and SQUAREM
04 XD libraries                ``xdtutorial.xd_libraries``: Bovy's XD, astroML's XDGMM
05 posterior sampling          ``xdtutorial.posterior``: prior, posterior, emcee helpers
06 distance-aware membership   ``xdtutorial.membership``: the model;
                               ``xdtutorial.cluster_fit``: ``fit_cluster``, a pipeline of
                               stages; ``xdtutorial.verdict``: its rules, thresholds, limits
07 survey of all clusters      ``xdtutorial.all_clusters``: ``survey``;
                               ``xdtutorial.reference``: the independent catalogue
                               (galpy's copy of Baumgardt's)
05, 07 results on disk         ``xdtutorial.catalogues``: catalogues, survey CSV, summaries
09 proper motions (optional)   ``xdtutorial.xd``: extreme deconvolution in D dimensions
                               (K components, a full error covariance per star)
all                            ``xdtutorial.plots``: ``notebook_style`` and shared plots
=============================  ==========================================================

Conventions
-----------
Parameters
    The two-component parameter vector is everywhere
    ``(mean1, sigma1, mean2, sigma2, frac1)`` [km/s, km/s, km/s, km/s, -]:
    component 1 is the cluster (the *narrower* Gaussian), component 2 the field,
    ``frac1`` the fraction of stars in the cluster.  Star ``i`` with velocity
    ``v_i`` and uncertainty ``verr_i`` has under component ``k`` the density
    ``N(v_i | mean_k, sigma_k**2 + verr_i**2)``.  The distance-aware model's
    extended vector is documented in :class:`ClusterFit`.
Names
    ``v`` velocities [km/s]; ``verr`` their 1-sigma uncertainties [km/s];
    ``distance`` (``R`` inside formulas) projected distances from the cluster
    centre [arcsec]; ``params`` a parameter vector, ``init`` a starting one.
    Where a width and a variance meet, a variance is named ``_var``
    (``verr_var = verr**2`` [(km/s)^2]), a covariance matrix ``cov``
    (``Xcov``, the per-star error covariances of ``xd_fit``, astroML's ``Xerr``)
    and a width ``_sd`` or ``sigma``; a trailing digit is a component number,
    never a power (``sigma2`` is the field's *width*).
Argument order
    Positional arguments come in one order: (1) the model being evaluated
    (``params``; ``p_centre, r_scale``; in D dimensions ``amplitudes, means,
    covariances``), (2) the data, per-star arrays in the order ``v, verr,
    distance`` (``X, Xcov`` in D dimensions; a function skips those it does not
    need) and any other per-star array after them, (3) what a fit starts from or
    how much to make (``init``, ``starts``, ``n_starts``, ``n_walkers``, ``n``).
    So evaluations take the parameters first, ``log_likelihood(params, v, verr)``,
    ``em_step(params, v, verr)``, ``xd_step(amplitudes, means, covariances, X,
    Xcov)``, ``plot_model_vs_mock(params, v, verr)``; fits have no (1) and take
    the data first, then the start: ``em_fit(v, verr, init)``,
    ``xd_fit(X, Xcov, amplitudes, means, covariances)``, and so does
    ``make_sampler(v, verr, n_walkers)``.  Also ``initial_guess(v, distance)``,
    ``plot_membership(v, distance, prob)``.  ``rng`` and every option (an
    argument with a default, other than a start such as ``init`` or a source
    such as ``table``, ``path`` or ``data_dir``) are keyword-only.
    (``tests/test_conventions.py`` checks these rules over ``__all__``.)
Options
    Keyword-only, one spelling each: ``max_iter`` (iterations).  Three kinds of
    tolerance, three names: ``tol`` is always the rise of the *mean*
    log-likelihood *per star* below which EM stops (Bovy's criterion:
    ``em_fit``, ``em_multi_start``, ``fit_bovy_xd``, ``xd_fit``);
    ``total_tol`` the rise of the *total* log-likelihood (astroML's criterion,
    ``fit_astroml_xd``); ``n_tau`` a chain length in autocorrelation times
    (``burn_thin_from_autocorr``, emcee's ``tol``).  Only ``minimize_fit``
    passes SciPy's own option names (``maxiter``, ``xatol`` ...) through to
    :func:`scipy.optimize.minimize`.
Randomness
    Arrives under one keyword-only argument, ``rng``, with the default ``0``:
    an int seed or a ``numpy.random.Generator`` (an int ``s`` means
    ``np.random.default_rng(s)``; where a library wants a seed - emcee,
    scikit-learn, survey workers - an int is passed as is and a Generator gives
    one drawn seed).  Why 0 and not None: every result of the tutorial is
    reproducible by default (a re-run prints the same numbers), and a function
    whose randomness only picks starts does not make its caller choose a seed;
    ``rng=None`` (fresh entropy from the operating system) is refused, since it
    would make a re-run differ.  The price of a fixed default: two calls without
    ``rng`` draw the *same* numbers, so to draw many independent mocks create one
    ``g = np.random.default_rng(seed)`` and pass ``rng=g`` to every call.
    Nothing draws from numpy's global state.
Results
    Fits return a :class:`FitResult` (or a :class:`ClusterFit`) that reports
    what is known and ``None`` for what a library does not tell; a failed start
    carries its ``error``.  An unreliable :class:`ClusterFit` lists
    :class:`Problem` codes as well as the reason in words, and nuisance parameters at
    their clips as :class:`Flag` s; the thresholds are a :class:`ReliabilityCriteria`
    passed explicitly (default :data:`RELIABILITY`), which carries the model's
    :class:`ModelLimits`.  Results compare with ``==`` and hold read-only arrays.
Clusters and files
    Decided by type: a ``str`` is a cluster name, a ``pathlib.Path`` a file.
    Zero measurement errors are allowed (XD is then an ordinary mixture).
Errors
    Wrong input raises ``ValueError`` or ``TypeError`` naming the value and the
    fix ("v must be ...; got .... Fix: ..."); a call in the argument order a
    function had before these conventions is a ``TypeError`` giving the new
    one.  EM that cannot go on (a component that lost all its stars, a
    collapsed width, a step that is not finite) raises :class:`EMFailure` (a
    subclass of ``FloatingPointError``) carrying the ``params`` where it
    stopped; what runs many fits (``em_multi_start``, ``survey``) records
    such a failure and goes on, but never turns bad input into a failed fit.
    Non-convergence - also a saddle point or a fit that never left its start
    - warns (:class:`EMConvergenceWarning`) and returns the result with
    ``converged=False``; impossible velocities warn
    (:class:`ImplausibleVelocityWarning`).
"""

from __future__ import annotations

import xdtutorial
from xdtutorial import *  # noqa: F403  (the package's public API, listed once in xdtutorial/__init__.py)

__all__ = list(xdtutorial.__all__)
