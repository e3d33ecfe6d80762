"""The model: the error-convolved likelihood against direct computations, memberships, mock data."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import helpers

V = np.array([-45.1, -43.0, -47.9, -10.0, 30.5, -44.2])
E = np.array([0.5, 1.2, 2.0, 0.8, 3.0, 1.0])
P = np.array([-44.5, 2.7, -10.4, 41.9, 0.8])


def direct_loglike(p, v, e):
    """Textbook formula with scipy.stats, no log-sum-exp (fine for these mild values)."""
    dens = p[4] * stats.norm.pdf(v, p[0], np.hypot(p[1], e)) + (1 - p[4]) * stats.norm.pdf(
        v, p[2], np.hypot(p[3], e)
    )
    return np.sum(np.log(dens))


def test_matches_scipy_stats():
    assert helpers.log_likelihood(P, V, E) == pytest.approx(direct_loglike(P, V, E), rel=1e-13)


def test_batch_of_parameter_vectors_matches_loop():
    batch = np.array([P, P + [1.0, 0.5, 2.0, -3.0, 0.05], [0, 1, 0, 2, 0.3], [0, 3, 0, 2, 0.3]])
    out = helpers.log_likelihood(batch, V, E)
    assert out.shape == (4,)
    for row, value in zip(batch, out, strict=True):
        assert value == helpers.log_likelihood(row, V, E)
    assert out[3] == -np.inf  # sigma1 > sigma2: outside the valid region


@pytest.mark.parametrize(
    "bad",
    [
        [0, 1, 0, 2, 0.0],  # frac1 = 0
        [0, 1, 0, 2, 1.0],  # frac1 = 1
        [0, 3, 0, 2, 0.5],  # sigma1 > sigma2 (label order)
        [0, -1, 0, 2, 0.5],  # negative sigma
        [0, 1, np.nan, 2, 0.5],
    ],
)
def test_minus_infinity_outside_valid_region(bad):
    assert helpers.log_likelihood(bad, V, E) == -np.inf


def test_zero_intrinsic_dispersion_is_allowed():
    p = np.array([-44.5, 0.0, -10.4, 41.9, 0.8])
    assert helpers.log_likelihood(p, V, E) == pytest.approx(direct_loglike(p, V, E), rel=1e-13)


def test_far_outlier_stays_finite():
    v = np.append(V, 1e4)
    e = np.append(E, 0.5)
    ll = helpers.log_likelihood(P, v, e)
    assert np.isfinite(ll)
    # the naive log(sum(exp)) underflows to -inf for that star
    with np.errstate(divide="ignore"):
        assert not np.isfinite(direct_loglike(P, v, e))
    # and the star's own term is the broad component's Gaussian tail, to rounding
    tail = np.log(1 - P[4]) + stats.norm.logpdf(1e4, P[2], np.hypot(P[3], 0.5))
    assert ll - helpers.log_likelihood(P, V, E) == pytest.approx(tail, rel=1e-12)


def test_membership_probability_matches_direct_formula():
    q = helpers.membership_probability(P, V, E)
    c1 = P[4] * stats.norm.pdf(V, P[0], np.hypot(P[1], E))
    c2 = (1 - P[4]) * stats.norm.pdf(V, P[2], np.hypot(P[3], E))
    np.testing.assert_allclose(q, c1 / (c1 + c2), rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-2e4, 2e4), min_size=1, max_size=30),
    st.floats(0.05, 20), st.floats(0.0, 50), st.floats(0.0, 300), st.floats(0.001, 0.999),
    st.floats(-300, 300), st.floats(-300, 300),
)
def test_membership_in_unit_interval_and_loglike_finite(vs, e, s1, ds, f, m1, m2):
    v = np.array(vs)
    verr = np.full(v.size, e)
    p = [m1, s1, m2, s1 + ds, f]
    q = helpers.membership_probability(p, v, verr)
    assert np.all((q >= 0) & (q <= 1))
    assert np.isfinite(helpers.log_likelihood(p, v, verr))


def test_membership_batch_shape():
    q = helpers.membership_probability(np.array([P, P]), V, E)
    assert q.shape == (2, V.size)
    with pytest.raises(ValueError, match="valid region"):
        helpers.membership_probability([0, 3, 0, 2, 0.5], V, E)


@pytest.mark.parametrize(
    ("v", "e", "match"),
    [
        ([1.0, 2.0], [1.0], "one error per star"),
        ([1.0, np.nan], [1.0, 1.0], r"v\[1\] must be finite; got nan"),
        ([1.0, 2.0], [1.0, -2.0], r"verr\[1\] must be non-negative; got -2.0"),  # 0 is allowed: a plain mixture
        ([], [], "v must be non-empty"),
    ],
)
def test_bad_data_is_rejected_with_a_clear_message(v, e, match):
    with pytest.raises(ValueError, match=match):
        helpers.log_likelihood(P, v, e)


def test_bad_parameter_shape():
    with pytest.raises(ValueError, match="shape"):
        helpers.log_likelihood([1, 2, 3], V, E)


def test_model_density_integrates_to_one_and_matches_mixture():
    grid = np.linspace(-400, 400, 80001)
    dens = helpers.model_density(P, grid, E)
    assert np.trapezoid(dens, grid) == pytest.approx(1.0, abs=1e-6)
    # for a single star it is the star's own mixture density
    one = helpers.model_density(P, np.array([-44.0]), E[:1])
    assert one[0] == pytest.approx(np.exp(helpers.log_likelihood(P, [-44.0], E[:1])), rel=1e-12)


def test_initial_guess_uses_inner_quarter():
    v = np.array([1.0, 2.0, 3.0, 100.0, -100.0, 50.0, -50.0, 0.0])
    d = np.arange(8.0)
    p = helpers.initial_guess(v, d)
    inner = v[d <= np.quantile(d, 0.25)]
    np.testing.assert_allclose(p, [inner.mean(), inner.std(), v.mean(), v.std(), 0.5])
    assert np.isfinite(helpers.log_likelihood(p, v, np.ones(8)))


@pytest.mark.parametrize(
    ("v", "d", "kwargs", "match"),
    [
        ([1.0, 2.0, 3.0], [1.0, 2.0], {}, "one value per star"),
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], {"inner_fraction": 0.0}, r"inner_fraction must be in \(0, 1\]"),
        ([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], {"inner_fraction": 0.25}, "raise inner_fraction"),
    ],
)
def test_initial_guess_raises_with_the_value_and_the_fix(v, d, kwargs, match):
    with pytest.raises(ValueError, match=match):
        helpers.initial_guess(v, d, **kwargs)


def test_initial_guess_options_are_keyword_only():
    with pytest.raises(TypeError):
        helpers.initial_guess([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 0.5)


@pytest.mark.parametrize("bad", [[0, 3, 0, 2, 0.5], [0, 0, 0, 0, 0.5], [0, 1, 0, 2]])
def test_model_density_and_sample_mock_check_the_parameters(bad):
    with pytest.raises(ValueError, match=r"sigma|shape"):
        helpers.model_density(bad, [0.0], E)
    with pytest.raises(ValueError, match=r"sigma|shape"):
        helpers.sample_mock(bad, E, rng=0)


def test_sample_mock_takes_a_seed_or_a_generator():
    """rng=0 is the stream of np.random.default_rng(0); None and floats are refused, negative seeds too."""
    np.testing.assert_array_equal(helpers.sample_mock(P, E, rng=0),
                                  helpers.sample_mock(P, E, rng=np.random.default_rng(0)))
    for bad in (None, 1.5, "0"):
        with pytest.raises(TypeError, match="rng"):
            helpers.sample_mock(P, E, rng=bad)
    with pytest.raises(ValueError, match="rng"):
        helpers.sample_mock(P, E, rng=-1)
