"""xdtutorial: the code behind the extreme-deconvolution tutorial, one module per concern.

The notebooks import it through the front ``helpers.py``, which documents the
conventions and maps each notebook to its module.  Imports run one way: each
module imports at most the modules listed on its line, all of them above it
(tests/test_front.py checks the code against this table, so it is the import
graph)::

    errors         -
    _validation    errors
    data           _validation, errors
    _numerics      _validation
    model          _numerics, _validation, errors
    _em_fast       errors, model
    em             _numerics, _validation, errors, model, _em_fast
    xd_libraries   _numerics, _validation, errors, model, em
    posterior      _numerics, _validation, model
    plots          _numerics, _validation, model
    _membership_em _numerics, errors, model
    membership     _numerics, _validation, data, errors, _membership_em
    intervals      _numerics, membership
    verdict        -
    cluster_fit    _numerics, _validation, data, errors, model, membership, intervals, verdict
    all_clusters   _numerics, _validation, data, cluster_fit
    catalogues     _validation, data, model, cluster_fit
    reference      -
    xd             _numerics, _validation, errors

``errors`` holds the exception and warning classes; ``_validation`` the checks
every public function runs on its arguments (messages "NAME must be ...; got
.... Fix: ...").

The public API (the names of ``helpers``) is re-exported here: ``xdtutorial.fit_cluster``
is ``xdtutorial.cluster_fit.fit_cluster``.  The modules are imported on first use of one
of their names, so ``import xdtutorial.errors`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

#: The public API, grouped by notebook: name -> its module (or (module, name there)).
_API: dict[str, str | tuple[str, str]] = {
    # 01 data
    "DATA_DIR_ENV": "data",
    "DATA_FILENAME": "data",
    "DATA_SHA256": "data",
    "DATA_URL": "data",
    "MAX_DISTANCE_ARCSEC": "data",
    "STAR_DTYPE": "data",
    "BaumgardtTable": "data",
    "DataChecksumError": "data",
    "DataFormatError": "data",
    "DataUnavailableError": "data",
    "data_directory": "data",
    "results_dir": "data",
    "fetch_data": "data",
    "read_baumgardt_table": "data",
    "load_table": "data",
    "cluster_names": "data",
    "load_cluster": "data",
    "load_cluster_file": "data",
    "pmem_weighted_mean": "data",
    # 02 model
    "PARAM_NAMES": "model",
    "PARAM_LABELS": "model",
    "validate_data": "model",
    "component_log_densities": "model",
    "log_likelihood": "model",
    "membership_probability": "model",
    "model_density": "model",
    "initial_guess": "model",
    "sample_mock": "model",
    # 03 fitting
    "EMConvergenceWarning": "errors",
    "EMFailure": "errors",
    "ImplausibleVelocityWarning": "errors",
    "FitResult": "em",
    "em_step": "em",
    "em_fit": "em",
    "random_starts": "em",
    "em_multi_start": "em",
    "minimize_fit": "em",
    "fisher_uncertainties": "em",
    # 04 XD libraries
    "BOVY_XD_INSTALL": "xd_libraries",
    "ExtremeDeconvolutionNotInstalled": "xd_libraries",
    "bovy_xd_available": "xd_libraries",
    "fit_bovy_xd": "xd_libraries",
    "fit_astroml_xd": "xd_libraries",
    # 09 extreme deconvolution in D dimensions
    "XDResult": "xd",
    "xd_fit": ("xd", "fit"),
    "xd_step": ("xd", "step"),
    "xd_log_likelihood": ("xd", "log_likelihood"),
    "xd_responsibilities": ("xd", "responsibilities"),
    "xd_sample": ("xd", "sample"),
    # 05 posterior
    "DEFAULT_BOUNDS": "posterior",
    "log_prior": "posterior",
    "log_posterior": "posterior",
    "init_walkers": "posterior",
    "make_sampler": "posterior",
    "burn_thin_from_autocorr": "posterior",
    "percentile_summary": "posterior",
    # 06 distance-aware membership
    "membership_prior": "membership",
    "mock_cluster_field": "membership",
    "Problem": "verdict",
    "Flag": "verdict",
    "ReliabilityCriteria": "verdict",
    "RELIABILITY": "verdict",
    "ModelLimits": "verdict",
    "MODEL_LIMITS": "verdict",
    "ClusterFit": "cluster_fit",
    "fit_cluster": "cluster_fit",
    "dispersion_verdict": "verdict",
    # 07 survey
    "survey": "all_clusters",
    "load_reference_velocities": "reference",
    "load_dispersion_profiles": "reference",
    # results on disk and in text
    "CATALOGUE_COLUMNS": "catalogues",
    "SURVEY_COLUMNS": "catalogues",
    "write_member_catalogue": "catalogues",
    "write_survey_csv": "catalogues",
    "format_params": "catalogues",
    "format_cluster_fit": "catalogues",
    # plots
    "notebook_style": "plots",
    "plot_velocity_vs_distance": "plots",
    "plot_membership": "plots",
    "plot_model_vs_mock": "plots",
}

__all__ = list(_API)


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    if name not in _API:
        raise AttributeError(f"module 'xdtutorial' has no attribute {name!r}")
    module, attribute = _API[name] if isinstance(_API[name], tuple) else (_API[name], name)
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
