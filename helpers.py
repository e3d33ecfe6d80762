"""Gaussian mixtures with per-star measurement errors ("extreme deconvolution").

The one import of the tutorial notebooks: ``import helpers``.  This file holds
no code; it documents the conventions, says which module of the package
:mod:`xdtutorial` serves which notebook, and re-exports the public names, so
``helpers.em_fit`` and ``help(helpers.em_fit)`` work as they always did.

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
07 survey of all clusters      ``xdtutorial.survey``; ``xdtutorial.reference``: the
                               independent catalogue (galpy's copy of Baumgardt's)
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
    ``v`` velocities [km/s]; ``verr`` their 1-sigma uncertainties [km/s] and
    ``verr2`` their squares [(km/s)^2]; ``distance`` (``R`` inside formulas)
    projected distances from the cluster centre [arcsec]; ``params`` a
    parameter vector, ``init`` a starting one.
Argument order
    Fits take the data first, then the start: ``em_fit(v, verr, init)``.
    Evaluations take the parameters first, then the data:
    ``log_likelihood(params, v, verr)``, ``model_density(params, grid, verr)``,
    ``membership_prior(p_centre, r_scale, R)``.  Per-star arrays always come
    in the order ``v, verr, distance`` (a function skips those it does not
    need), and any other per-star array after them:
    ``initial_guess(v, distance)``, ``plot_velocity_vs_distance(v, verr, distance)``,
    ``plot_membership(v, distance, prob)``.
Options
    Keyword-only, one spelling each: ``max_iter`` (iterations), ``tol``
    (tolerance).  Only ``minimize_fit`` passes SciPy's own option names
    (``maxiter``, ``xatol`` ...) through to :func:`scipy.optimize.minimize`.
Randomness
    Arrives under one argument name, ``rng``: an int seed or a
    ``numpy.random.Generator`` (an int ``s`` means ``np.random.default_rng(s)``;
    where a library wants a seed - emcee, scikit-learn, survey workers - an int
    is passed as is and a Generator gives one drawn seed).  Nothing draws from
    numpy's global state.
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
    fix ("v must be ...; got .... Fix: ..."); non-convergence - also a saddle
    point or a fit that never left its start - warns
    (:class:`EMConvergenceWarning`) and returns the result with
    ``converged=False``; impossible velocities warn
    (:class:`ImplausibleVelocityWarning`).
"""

from __future__ import annotations

from xdtutorial.catalogues import (
    CATALOGUE_COLUMNS,
    SURVEY_COLUMNS,
    format_cluster_fit,
    format_params,
    write_member_catalogue,
    write_survey_csv,
)
from xdtutorial.cluster_fit import ClusterFit, fit_cluster
from xdtutorial.data import (
    DATA_DIR_ENV,
    DATA_FILENAME,
    DATA_SHA256,
    DATA_URL,
    MAX_DISTANCE_ARCSEC,
    STAR_DTYPE,
    BaumgardtTable,
    DataChecksumError,
    DataFormatError,
    DataUnavailableError,
    cluster_names,
    data_directory,
    fetch_data,
    load_cluster,
    load_cluster_file,
    load_table,
    pmem_weighted_mean,
    read_baumgardt_table,
    results_dir,
)
from xdtutorial.em import (
    FitResult,
    em_fit,
    em_multi_start,
    em_step,
    fisher_uncertainties,
    minimize_fit,
    random_starts,
)
from xdtutorial.errors import EMConvergenceWarning, EMFailure, ImplausibleVelocityWarning
from xdtutorial.membership import membership_prior, mock_cluster_field
from xdtutorial.model import (
    PARAM_LABELS,
    PARAM_NAMES,
    component_log_densities,
    initial_guess,
    log_likelihood,
    membership_probability,
    model_density,
    sample_mock,
    validate_data,
)
from xdtutorial.plots import notebook_style, plot_membership, plot_model_vs_mock, plot_velocity_vs_distance
from xdtutorial.posterior import (
    DEFAULT_BOUNDS,
    burn_thin_from_autocorr,
    init_walkers,
    log_posterior,
    log_prior,
    make_sampler,
    percentile_summary,
)
from xdtutorial.reference import load_dispersion_profiles, load_reference_velocities
from xdtutorial.survey import survey
from xdtutorial.verdict import (
    MODEL_LIMITS,
    RELIABILITY,
    Flag,
    ModelLimits,
    Problem,
    ReliabilityCriteria,
    dispersion_verdict,
)
from xdtutorial.xd import XDResult
from xdtutorial.xd import fit as xd_fit
from xdtutorial.xd import log_likelihood as xd_log_likelihood
from xdtutorial.xd import responsibilities as xd_responsibilities
from xdtutorial.xd import sample as xd_sample
from xdtutorial.xd import step as xd_step
from xdtutorial.xd_libraries import (
    BOVY_XD_INSTALL,
    ExtremeDeconvolutionNotInstalled,
    bovy_xd_available,
    fit_astroml_xd,
    fit_bovy_xd,
)

__all__ = [
    # 01 data
    "DATA_DIR_ENV",
    "DATA_FILENAME",
    "DATA_SHA256",
    "DATA_URL",
    "MAX_DISTANCE_ARCSEC",
    "STAR_DTYPE",
    "BaumgardtTable",
    "DataChecksumError",
    "DataFormatError",
    "DataUnavailableError",
    "data_directory",
    "results_dir",
    "fetch_data",
    "read_baumgardt_table",
    "load_table",
    "cluster_names",
    "load_cluster",
    "load_cluster_file",
    "pmem_weighted_mean",
    # 02 model
    "PARAM_NAMES",
    "PARAM_LABELS",
    "validate_data",
    "component_log_densities",
    "log_likelihood",
    "membership_probability",
    "model_density",
    "initial_guess",
    "sample_mock",
    # 03 fitting
    "EMConvergenceWarning",
    "EMFailure",
    "ImplausibleVelocityWarning",
    "FitResult",
    "em_step",
    "em_fit",
    "random_starts",
    "em_multi_start",
    "minimize_fit",
    "fisher_uncertainties",
    # 04 XD libraries
    "BOVY_XD_INSTALL",
    "ExtremeDeconvolutionNotInstalled",
    "bovy_xd_available",
    "fit_bovy_xd",
    "fit_astroml_xd",
    # 09 extreme deconvolution in D dimensions
    "XDResult",
    "xd_fit",
    "xd_step",
    "xd_log_likelihood",
    "xd_responsibilities",
    "xd_sample",
    # 05 posterior
    "DEFAULT_BOUNDS",
    "log_prior",
    "log_posterior",
    "init_walkers",
    "make_sampler",
    "burn_thin_from_autocorr",
    "percentile_summary",
    # 06 distance-aware membership
    "membership_prior",
    "mock_cluster_field",
    "Problem",
    "Flag",
    "ReliabilityCriteria",
    "RELIABILITY",
    "ModelLimits",
    "MODEL_LIMITS",
    "ClusterFit",
    "fit_cluster",
    "dispersion_verdict",
    # 07 survey
    "survey",
    "load_reference_velocities",
    "load_dispersion_profiles",
    # results on disk and in text
    "CATALOGUE_COLUMNS",
    "SURVEY_COLUMNS",
    "write_member_catalogue",
    "write_survey_csv",
    "format_params",
    "format_cluster_fit",
    # plots
    "notebook_style",
    "plot_velocity_vs_distance",
    "plot_membership",
    "plot_model_vs_mock",
]
