"""The distance-aware membership model: the Plummer-profile prior and the mock cluster fields."""

from __future__ import annotations

import numpy as np
import pytest

import helpers


def test_membership_prior_is_the_plummer_ratio():
    R = np.array([0.0, 50.0, 100.0, 1e4])
    pi = helpers.membership_prior(0.8, 100.0, R)
    odds = (0.8 / 0.2) * (1 + (R / 100.0) ** 2) ** -2  # cluster-to-field density ratio
    np.testing.assert_allclose(pi, odds / (1 + odds), rtol=1e-12)
    assert pi[0] == pytest.approx(0.8) and np.all(np.diff(pi) < 0)


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((np.array([0.0, 10.0]), 0.8, 100.0), TypeError, r"p_centre.*membership_prior\(p_centre, r_scale, R\)"),
        ((1.0, 100.0, [0.0]), ValueError, r"p_centre must be in \(0, 1\); got 1.0"),
        ((0.5, 0.0, [0.0]), ValueError, r"r_scale must be in \(0, inf\); got 0.0"),
        ((0.5, 100.0, [-1.0]), ValueError, r"R\[0\] must be non-negative"),
    ],
)
def test_membership_prior_refuses_bad_parameters(args, error, match):
    with pytest.raises(error, match=match):
        helpers.membership_prior(*args)


def test_mock_cluster_field_has_the_requested_populations():
    stars = helpers.mock_cluster_field(50, [(30, 10.0, 20.0)], rng=7, r_scale=50.0, r_max=500.0)
    assert len(stars) == 80 and stars.dtype == helpers.STAR_DTYPE
    assert stars.p_mem.sum() == 50
    assert np.all((stars.distance >= 0) & (stars.distance <= 500.0))
    assert np.all((stars.velocity_error >= 0.5) & (stars.velocity_error <= 3.0))
    # an int seed is the stream of default_rng(seed)
    again = helpers.mock_cluster_field(50, [(30, 10.0, 20.0)], rng=np.random.default_rng(7), r_scale=50.0, r_max=500.0)
    np.testing.assert_array_equal(stars.velocity, again.velocity)


@pytest.mark.parametrize("name", ["mock", "a mock cluster with a long name", "NGC 288 (mock, seed 12345)"])
def test_a_mock_keeps_its_whole_name(name):
    """Issue 18: mock names were cut to the compilation's 9 characters; the field is now as wide as the name."""
    stars = helpers.mock_cluster_field(5, [(5, 0.0, 30.0)], rng=0, name=name)
    assert set(stars.cluster) == {name}


@pytest.mark.parametrize("name", ["", "  ", 7, None])
def test_a_mock_name_must_be_a_non_empty_string(name):
    with pytest.raises(TypeError, match=r"^name must be a non-empty str"):
        helpers.mock_cluster_field(5, [(5, 0.0, 30.0)], rng=0, name=name)
