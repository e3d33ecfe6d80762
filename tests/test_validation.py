"""The validation layer on its own (xdtutorial._validation): each check, its message and its fix.

Every message reads "{name} must be ...; got .... Fix: ...".  The bad-input table
(tests/test_bad_input.py) checks the same rules through the public functions.
"""

from __future__ import annotations

import pathlib
import re
import tempfile
import warnings
from typing import Any

import numpy as np

from xdtutorial._validation import (
    MIN_STARS_FIT,
    as_legacy_seed,
    as_rng,
    as_velocity_arrays,
    check_bool,
    check_bounds,
    check_chain,
    check_cluster_name,
    check_float,
    check_int,
    check_minimize_options,
    check_pair,
    check_params,
    check_path,
    check_path_or_name,
    check_positive_float,
    check_positive_int,
    check_probability,
    check_stars,
    check_table,
    check_total_variance,
    check_unit_interval_array,
    name_not_found_hint,
    read_text,
)
from xdtutorial.errors import DataFormatError, ImplausibleVelocityWarning


def test_every_check_names_the_value_and_the_fix():
    def raises(exc: type[Exception], pattern: str, f: Any, *a: Any, **k: Any) -> None:
        try:
            f(*a, **k)
        except exc as err:
            assert re.search(pattern, str(err)), (pattern, str(err))
            assert "Fix:" in str(err) or exc is ImplausibleVelocityWarning, str(err)
            return
        raise AssertionError(f"{f.__name__}{a} did not raise {exc.__name__}")

    v, e = np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.0, 1.0])
    out_v, out_e = as_velocity_arrays([1, 2, 3], e)
    assert out_v.dtype == float and np.array_equal(out_e, e)  # ints and zero errors accepted
    for bad, exc, pat in [(None, TypeError, r"^v must"), ("123", TypeError, r"^v must"),
                          (["1", "2", "3"], TypeError, "v"),
                          ({"v": 1}, TypeError, "v"), (v > 1, TypeError, "booleans"), (v + 1j, TypeError, "real"),
                          ([[1.0, 2.0], [3.0]], ValueError, "rectangular"), (v[:, None], ValueError, "np.ravel"),
                          ([], ValueError, "non-empty"), ([1.0, np.nan, 2.0], ValueError, r"v\[1\] must be finite")]:
        raises(exc, pat, as_velocity_arrays, bad, e)  # v is checked before verr
    raises(ValueError, r"verr\[0\] must be non-negative", as_velocity_arrays, v, -e - 1)
    raises(ValueError, r"verr must be one error per star", as_velocity_arrays, v, e[:2])
    raises(ValueError, r"np.full", as_velocity_arrays, v, 2.0)
    raises(ValueError, r"at least 5 stars", as_velocity_arrays, [1.0], [1.0], min_stars=MIN_STARS_FIT)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        as_velocity_arrays([1.0, 1e8], [1.0, 1.0], check_plausible=True)
        as_velocity_arrays([1.0, 1e8], [1.0, 1.0])  # quiet without check_plausible
    assert len(rec) == 1 and issubclass(rec[0].category, ImplausibleVelocityWarning) and "v[1]" in str(rec[0].message)

    check_total_variance(np.array([0, 1.0, 0, 2.0, 0.5]), np.array([1.0]))  # sigma1 = 0 with errors: fine
    check_total_variance(np.array([0, 1.0, 0, 2.0, 0.5]), np.array([0.0]))  # zero errors, sigmas > 0: fine
    raises(ValueError, r"sigma1 = 0 and verr\[1\] = 0", check_total_variance, np.array([0, 0.0, 0, 2.0, 0.5]), e)

    good = [-40.0, 5.0, 0.0, 30.0, 0.5]
    assert check_params(good).shape == (5,) and check_params([good, good], batch=True).shape == (2, 5)
    raises(TypeError, r"^init must", check_params, None, name="init")
    raises(TypeError, r"params must", check_params, {"mean1": 0})
    raises(ValueError, r"params must be of shape \(5,\)", check_params, good[:4])
    raises(ValueError, r"params must be of shape \(5,\)", check_params, [good])
    raises(ValueError, r"frac1 in init must be strictly between", check_params, good[:4] + [1.5], name="init")
    raises(ValueError, r"sigma1 in init must be <= sigma2.*swap", check_params, [-40, 30, 0, 5, 0.5], name="init")
    raises(ValueError, r"not both zero", check_params, [-40, 0, 0, 0, 0.5])
    raises(ValueError, r"frac1 in starts\[1\] must be", check_params, [good, good[:4] + [2.0]],
           name="starts", batch=True)
    assert np.isnan(check_params([np.nan] * 5, valid=False)).all()  # likelihoods return -inf there

    assert check_int("max_iter", np.int64(5), minimum=1) == 5
    raises(ValueError, r"max_iter must be >= 1; got 0", check_int, "max_iter", 0, minimum=1)
    raises(TypeError, r"max_iter must be an integer; got 2.5", check_int, "max_iter", 2.5)
    raises(TypeError, r"skiprows must be an integer", check_int, "skiprows", 2.0)
    raises(TypeError, r"n_starts must be an integer", check_positive_int, "n_starts", True)
    raises(ValueError, r"tol must be in \(0, inf\)", check_positive_float, "tol", 0.0)
    raises(ValueError, r"tol must be a finite number", check_positive_float, "tol", np.nan)
    raises(TypeError, r"tol must be a real number; got '1e-6'", check_positive_float, "tol", "1e-6")
    raises(ValueError, r"rel_step must be in \(0, 0.1\]", check_float, "rel_step", 1.0, low=0, low_open=True, high=0.1)
    assert check_probability("narrow_fraction", 1) == 1.0
    raises(ValueError, r"p_centre must be in \(0, 1\)", check_probability, "p_centre", 1.0, open_interval=True)
    raises(TypeError, r"deconvolve must be True or False; got 'no'", check_bool, "deconvolve", "no")
    assert check_pair("err_range", (0, 3), low=0.0) == (0.0, 3.0)
    raises(ValueError, r"err_range\[0\] must be in \[0", check_pair, "err_range", (-1, 1), low=0.0)
    raises(ValueError, r"percentiles must be \(lo, hi\) with lo < hi.*swap", check_pair, "percentiles", (98, 2))
    assert check_bounds({"mean": (-1, 1), "sigma": (0, 5)})["sigma"] == (0.0, 5.0)
    raises(ValueError, r'bounds must be a dict with keys.*sigma', check_bounds, {"mean": (-1, 1)})
    raises(ValueError, r'bounds\["mean"\]\[0\] must be a finite', check_bounds, {"mean": (-np.inf, 1), "sigma": (0, 1)})
    raises(ValueError, r'bounds\["mean"\] must be', check_bounds, {"mean": (1, -1), "sigma": (0, 1)})
    raises(ValueError, r"prob\[0\] must be a probability", check_unit_interval_array, "prob", [1.5, 0.5])
    chain = np.zeros((100, 10, 5))
    assert check_chain(chain).shape == (100, 10, 5)
    holed = chain.copy()
    holed[1, 2, 3] = np.nan
    raises(ValueError, r"chain must be 3-D.*flattened.*get_chain\(\)", check_chain, chain.reshape(-1, 5))
    raises(ValueError, r"chain must be 3-D", check_chain, chain[:, 0, 0])
    raises(ValueError, r"chain\[1, 2, 3\] must be finite", check_chain, holed)

    g = np.random.default_rng(1)
    assert as_rng(g) is g and as_rng(7).integers(10**9) == np.random.default_rng(7).integers(10**9)
    raises(TypeError, r"rng must be a non-negative int seed or a numpy.random.Generator; got None", as_rng, None)
    raises(TypeError, r"legacy", as_rng, np.random.RandomState(0))
    raises(TypeError, r"rng must be", as_rng, "zero")
    raises(TypeError, r"rng must be", as_rng, True)
    assert as_legacy_seed(5) == 5 and 0 <= as_legacy_seed(np.random.default_rng(0)) < 2**32
    raises(ValueError, r"rng must be an int seed in \[0, 2\*\*32\)", as_legacy_seed, -1)

    raises(TypeError, r"path must be a file path", check_path, "path", None)
    raises(TypeError, r"decode", check_path, "source", b"abc")
    raises(ValueError, r"splitlines", check_path, "source", "Cluster\nNGC 288")
    raises(TypeError, r"name must be a cluster name.*load_cluster_file", check_cluster_name, "name",
           pathlib.Path("x.txt"))
    raises(TypeError, r"one name at a time", check_cluster_name, "name", ["NGC 288"])
    raises(TypeError, r'"NGC 288"', check_cluster_name, "name", 288)
    assert check_path_or_name("NGC 288") == ("name", "NGC 288")
    assert check_path_or_name(pathlib.Path("NGC 288"))[0] == "path"
    raises(TypeError, r"cluster must be a cluster name \(str\), a file", check_path_or_name, None)
    raises(TypeError, r"cluster must be", check_path_or_name, np.arange(3.0))
    with tempfile.TemporaryDirectory() as tmp:
        latin = pathlib.Path(tmp) / "latin1.txt"
        latin.write_bytes("# Étoiles ± erreurs\n".encode("latin-1"))
        raises(DataFormatError, r"latin1\.txt: not a UTF-8 text file.*Fix: re-save", read_text, latin, encoding="utf-8")
        raises(FileNotFoundError, r"nope\.txt: no such file", read_text, pathlib.Path(tmp) / "nope.txt",
               encoding="utf-8")
        assert name_not_found_hint(str(latin)).startswith(" A file") and name_not_found_hint("NGC 288") == ""

    raises(TypeError, r"table must be a BaumgardtTable.*a str is a cluster name", check_table, "NGC 288")
    rec_stars = np.zeros(3, dtype=[("velocity", "f8"), ("velocity_error", "f8"), ("distance", "f8")]).view(np.recarray)
    assert check_stars(rec_stars) is not None
    raises(TypeError, r"stars must be a record array", check_stars, np.arange(3.0))

    check_minimize_options("Nelder-Mead", {"xatol": 1e-8, "maxiter": 10})
    raises(ValueError, r"method must be a method of scipy", check_minimize_options, "foo", {})
    raises(TypeError, r"xtol_typo", check_minimize_options, "Nelder-Mead", {"xtol_typo": 1})
