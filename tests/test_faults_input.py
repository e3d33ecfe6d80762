"""Nothing silent, nothing raw (issue 18), the input families of the fitting wrappers, the sampler and
the validation layer.  Each family is parametrised, so that inputs like the named examples are covered
too: starts that must be valid whatever the data's spread, scipy's and astroML's own errors turned
into messages naming the argument, table-like objects without the fields, "Fix:" lines that are right
for the case they are printed in, and a sampler start outside the prior."""

from __future__ import annotations

import re
import types

import numpy as np
import pytest

import helpers

START = [-44.0, 3.0, -10.0, 40.0, 0.8]


@pytest.fixture(scope="module")
def data(ngc288):
    return ngc288.velocity, ngc288.velocity_error


# ------------------------------------------------------------ random_starts keeps its promise


@pytest.mark.parametrize("spread", [1e-6, 1e-3, 0.1, 0.49, 0.5, 1.0, 30.0, 1e4])
@pytest.mark.parametrize("narrow_fraction", [0.0, 0.5, 1.0])
def test_random_starts_are_valid_rows_whatever_the_spread(spread, narrow_fraction):
    v = np.random.default_rng(1).normal(-40.0, spread, 60)
    starts = helpers.random_starts(v, 12, rng=2, narrow_fraction=narrow_fraction)
    assert starts.shape == (12, 5) and np.all(np.isfinite(starts))
    assert np.all((starts[:, 1] > 0) & (starts[:, 1] <= starts[:, 3]))  # component 1 the narrower, both > 0
    assert np.all((starts[:, 4] > 0) & (starts[:, 4] < 1))
    for row in starts:  # the library's own check of a start agrees
        helpers.log_likelihood(row, v, np.ones_like(v))


def test_random_starts_narrow_rows_are_unchanged_for_ordinary_data(ngc288):
    """The fix only narrows component 1 below half the data's spread; NGC 288 (spread ~30 km/s) keeps 0.5."""
    starts = helpers.random_starts(ngc288.velocity, 10, rng=0, narrow_fraction=1.0)
    np.testing.assert_array_equal(starts[:, 1], 0.5)
    np.testing.assert_array_equal(starts[:, 3], np.std(ngc288.velocity))


@pytest.mark.parametrize("value", [0.0, -44.0, 1e3])
def test_random_starts_refuses_data_without_a_spread(value):
    with pytest.raises(ValueError, match=r"^v must have a spread.*all equal to"):
        helpers.random_starts(np.full(30, value), 5, rng=0)


# ------------------------------------------------------------ minimize_fit: scipy never speaks raw


@pytest.mark.parametrize("method", ["Newton-CG", "trust-exact", "dogleg", "trust-ncg", "trust-krylov", "newton-cg"])
def test_methods_that_need_derivatives_are_refused_with_the_alternatives(data, method):
    with pytest.raises(ValueError, match=rf"^method must be .*no analytic derivatives; got '{method}'.*Fix: .*BFGS"):
        helpers.minimize_fit(*data, START, method=method)


@pytest.mark.parametrize("key", ["bounds", "callback", "jac", "hess", "constraints", "tol", "args"])
def test_minimize_arguments_are_not_taken_for_options(data, key):
    with pytest.raises(TypeError, match=rf"^{key} is an argument of scipy.optimize.minimize, not an option"):
        helpers.minimize_fit(*data, START, **{key: print if key == "callback" else [(0, 1)] * 5})


@pytest.mark.parametrize(("options", "error", "name"), [
    ({"maxiter": "10"}, TypeError, "maxiter"),
    ({"maxiter": 2.5}, TypeError, "maxiter"),
    ({"maxiter": 0}, ValueError, "maxiter"),
    ({"maxfev": "100"}, TypeError, "maxfev"),
    ({"max_iter": "10"}, TypeError, "max_iter"),
    ({"xatol": "1e-3"}, TypeError, "xatol"),
    ({"fatol": None}, TypeError, "fatol"),
    ({"max_iter": 5, "maxiter": 100000}, TypeError, "max_iter and maxiter"),
    ({"maxiter": 5, "max_iter": 5}, TypeError, "max_iter and maxiter"),
])
def test_bad_or_duplicate_options_are_named(data, options, error, name):
    with pytest.raises(error, match=rf"^{name} "):
        helpers.minimize_fit(*data, START, **options)


def test_option_values_scipy_refuses_come_back_named(data):
    with pytest.raises(TypeError, match=r"options \['initial_simplex'\] of method 'Nelder-Mead' were refused"):
        helpers.minimize_fit(*data, START, initial_simplex=np.zeros((3, 2)))


def test_shaped_options_for_five_parameters_still_pass(data):
    """The dry run is in five parameters, so an initial simplex for the real problem is accepted."""
    simplex = np.asarray(START) + np.vstack([np.zeros(5), 0.05 * np.eye(5)])
    fit = helpers.minimize_fit(*data, START, initial_simplex=simplex, max_iter=50)
    default = helpers.minimize_fit(*data, START, max_iter=50)
    assert np.isfinite(fit.log_likelihood) and not np.array_equal(fit.params, default.params)  # it was used


def test_max_iter_is_maxiter(data):
    a = helpers.minimize_fit(*data, START, max_iter=30)
    b = helpers.minimize_fit(*data, START, maxiter=30)
    np.testing.assert_array_equal(a.params, b.params)


# ------------------------------------------------------------ astroML: no raw LinAlgError


@pytest.mark.parametrize("init", [None, START])
@pytest.mark.parametrize("err", [0.0, 1.0])
def test_astroml_refuses_data_without_a_spread(init, err):
    with pytest.raises(ValueError, match=r"^v must have a spread.*all equal to 3 km/s"):
        helpers.fit_astroml_xd(np.full(50, 3.0), np.full(50, err), init)


@pytest.mark.parametrize("init", [None, [0.0, 1.0, 5.0, 2.0, 0.5]])
def test_astroml_collapse_onto_stars_without_errors_is_an_em_failure(init):
    v = np.r_[np.zeros(20), np.full(20, 5.0)]  # two exact values, no errors: the likelihood is unbounded
    with pytest.raises(helpers.EMFailure, match=r"astroML's XDGMM .*Fix: ") as info:
        helpers.fit_astroml_xd(v, np.zeros(40), init)
    assert isinstance(info.value, FloatingPointError)  # what callers of many fits catch, not bad input


# ------------------------------------------------------------ table-like objects without the fields

_BAD_TABLES = {
    "stars without fields": types.SimpleNamespace(stars=np.zeros(3), path="x"),
    "stars with only a name": types.SimpleNamespace(stars=np.zeros(3, dtype=[("cluster", "U9")]), path="x"),
    "stars None": types.SimpleNamespace(stars=None, path=None),
    "stars a list": types.SimpleNamespace(stars=[1, 2], path="x"),
}
_TABLE_CALLS = {
    "cluster_names": lambda t: helpers.cluster_names(t),
    "load_cluster": lambda t: helpers.load_cluster("NGC 288", t),
    "fit_cluster": lambda t: helpers.fit_cluster("NGC 288", table=t),
    "survey": lambda t: helpers.survey(t),
    "write_survey_csv": lambda t: helpers.write_survey_csv("unused.csv", [], t),
}


@pytest.mark.parametrize("table", list(_BAD_TABLES))
@pytest.mark.parametrize("call", list(_TABLE_CALLS))
def test_table_likes_without_the_fields_are_named(table, call):
    with pytest.raises(TypeError, match=r"^table\.stars must be a record array with the fields .*Fix: "):
        _TABLE_CALLS[call](_BAD_TABLES[table])


@pytest.mark.parametrize(("call", "name"), [
    (lambda: helpers.load_cluster_file(None), "path"),
    (lambda: helpers.read_baumgardt_table(None), "source"),
    (lambda: helpers.write_survey_csv(None, [], helpers.load_table()), "path"),
])
def test_none_paths_are_named_not_raw(call, name):
    with pytest.raises(TypeError, match=rf"^{name} must be"):
        call()


# ------------------------------------------------------------ every Fix: line right for its case


def _fix(err: pytest.ExceptionInfo) -> str:
    return str(err.value).split("Fix: ", 1)[1]


@pytest.mark.parametrize(("call", "name"), [
    (lambda m: helpers.em_fit(m, np.ones(m.size), START), "v"),
    (lambda m: helpers.log_likelihood(START, np.ones(m.size), m), "verr"),
    (lambda m: helpers.initial_guess(np.ones(m.size), m), "distance"),
])
def test_a_mask_passed_as_per_star_data_is_told_to_select(call, name):
    with pytest.raises(TypeError, match=rf"^{name} must be an array of numbers, not booleans") as err:
        call(np.arange(20) % 3 == 0)
    assert "selects" in _fix(err) and "astype" not in _fix(err)


@pytest.mark.parametrize(("call", "name"), [
    (lambda b: helpers.log_likelihood(b, np.ones(6), np.ones(6)), "params"),
    (lambda b: helpers.model_density(START, b, np.ones(6)), "grid"),
    (lambda b: helpers.percentile_summary(np.ones((4, 5), dtype=bool) & b[:5]), "samples"),
])
def test_booleans_that_are_not_per_star_data_are_not_told_about_masks(call, name):
    with pytest.raises(TypeError, match=rf"^{name} must be an array of numbers, not booleans") as err:
        call(np.array([True, False, True, True, False, True]))
    assert "mask" not in _fix(err) and f"{name}.astype(float)" in _fix(err)


def test_certain_memberships_are_probabilities(data, ngc288):
    """True/False as a membership is a probability of 1/0: plotted like the floats, not refused."""
    member = ngc288.velocity < -30
    ax_bool = helpers.plot_membership(ngc288.velocity, ngc288.distance, member)
    ax_float = helpers.plot_membership(ngc288.velocity, ngc288.distance, member.astype(float))
    np.testing.assert_array_equal(ax_bool.collections[0].get_array(), ax_float.collections[0].get_array())


@pytest.mark.parametrize(("call", "name", "per_star"), [
    (lambda x: helpers.em_fit(x, np.ones(10), START), "v", False),  # a velocity per star: no np.full
    (lambda x: helpers.log_likelihood(START, np.ones(10), x), "verr", True),
    (lambda x: helpers.model_density(START, x, np.ones(10)), "grid", False),
    (lambda x: helpers.percentile_summary(x), "samples", False),
])
def test_a_zero_d_array_gets_np_full_only_where_one_value_per_star_is_meant(call, name, per_star):
    with pytest.raises(ValueError, match=rf"^{name} must be a [12]-D array; got shape \(\)") as err:
        call(np.array(3.0))
    assert ("np.full(n_stars, 3.0)" in _fix(err)) is per_star


@pytest.mark.parametrize(("pair", "fix"), [((1.0, 1.0), "widen"), ((0.0, 0.0), "widen"), ((5.0, 1.0), "swap")])
@pytest.mark.parametrize("call", [
    lambda b: helpers.log_prior(START, bounds={"mean": b, "sigma": (0.0, 50.0)}),
    lambda b: helpers.log_prior(START, bounds={"mean": (-100.0, 100.0), "sigma": b}),
    lambda b: helpers.plot_velocity_vs_distance(np.ones(6), np.ones(6), np.ones(6), percentiles=b),
])
def test_an_equal_pair_is_told_to_widen_a_reversed_one_to_swap(call, pair, fix):
    with pytest.raises(ValueError, match=r"must be \(lo, hi\) with lo < hi") as err:
        call(pair)
    assert _fix(err).startswith(fix)
    if fix == "widen":  # the suggested pair is itself valid
        lo, hi = (float(x) for x in re.findall(r"e\.g\. \(([-\d.e+]+), ([-\d.e+]+)\)", _fix(err))[0])
        assert lo < hi


@pytest.mark.parametrize("err", [1e-300, 1e-200, 1e-160])
def test_errors_whose_squares_underflow_are_named_by_the_libraries_wrappers(data, err):
    """astroML and Bovy square the errors themselves: an error whose square underflows is refused, naming units.

    em_fit and em_step work in a rescaled unit instead and fit such data (tests/test_faults_em.py)."""
    v, _ = data
    with pytest.raises(ValueError, match=r"^verr\[0\] = .* underflows in float64") as info:
        helpers.fit_astroml_xd(v, np.full(v.size, err), [-44.0, 0.0, -10.0, 40.0, 0.8])
    assert "deconvolve" not in str(info.value) and "units of verr" in _fix(info)


def test_a_zero_error_with_a_zero_width_keeps_its_message(data):
    v, _ = data
    with pytest.raises(ValueError, match=r"^sigma1 = 0 and verr\[0\] = 0: that component has zero total variance"):
        helpers.em_fit(v, np.zeros(v.size), [-44.0, 0.0, -10.0, 40.0, 0.8])


# ------------------------------------------------------------ the sampler's start, checked before sampling


@pytest.mark.parametrize(("bounds", "n_outside"), [
    ({"mean": (0.0, 10.0), "sigma": (0.0, 50.0)}, 12),  # the box excludes the cluster at -44 km/s
    ({"mean": (-100.0, 100.0), "sigma": (0.0, 30.0)}, 12),  # and the field's 42 km/s width
    (None, 3),  # the default box, three walkers moved outside it
])
def test_walkers_outside_the_prior_are_refused_before_the_first_step(data, bounds, n_outside):
    walkers = helpers.init_walkers([-44.5, 2.7, -10.4, 41.9, 0.84], 12, rng=0)
    if bounds is None:
        walkers[:3, 3] = 600.0  # sigma2 beyond the default box's 500 km/s
    sampler = helpers.make_sampler(*data, 12, rng=0, bounds=bounds)
    with pytest.raises(ValueError, match=rf"^initial_state must lie inside the prior box.*{n_outside} of 12 walkers"):
        sampler.run_mcmc(walkers, 5, progress=False)
    assert sampler.iteration == 0


@pytest.mark.parametrize("shape", [(11, 5), (12, 4), (5,)])
def test_a_start_of_the_wrong_shape_is_named(data, shape):
    sampler = helpers.make_sampler(*data, 12, rng=0)
    with pytest.raises(ValueError, match=r"^initial_state must (have shape \(12, 5\)|be a 2-D array)"):
        sampler.run_mcmc(np.ones(shape), 5, progress=False)


def test_a_start_inside_runs_and_continues(data):
    walkers = helpers.init_walkers([-44.5, 2.7, -10.4, 41.9, 0.84], 12, rng=0)
    sampler = helpers.make_sampler(*data, 12, rng=0)
    sampler.run_mcmc(walkers, 5, progress=False)
    sampler.run_mcmc(None, 5, progress=False)  # from where it stopped: not checked again, not refused
    assert sampler.iteration == 10 and np.all(np.isfinite(sampler.get_log_prob()))


@pytest.mark.parametrize("scale", [1e152, 1e160, 1e300])
def test_data_whose_squares_overflow_are_named_by_the_libraries_wrappers(data, scale):
    """The XD libraries square velocities and errors themselves (astroML gave numpy's raw 'must not contain infs')."""
    v, e = data
    start = np.array([-44.0, 3.0, -10.0, 40.0, 0.8]) * [scale, scale, scale, scale, 1.0]
    with pytest.raises(ValueError, match=r"^v and verr must stay below about 1e150 km/s") as info, \
            pytest.warns(helpers.ImplausibleVelocityWarning):
        helpers.fit_astroml_xd(v * scale, e * scale, start)
    assert "units" in _fix(info)
