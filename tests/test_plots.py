"""Plot helpers: they draw what they say (checked on the returned Axes, not on pixels)."""

from __future__ import annotations

import matplotlib.pyplot as plt  # headless: matplotlib falls back to Agg without a display
import numpy as np
import pytest

import helpers

P = np.array([-44.5, 2.7, -10.4, 41.9, 0.8])


@pytest.fixture
def sample():
    rng = np.random.default_rng(0)
    verr = rng.uniform(0.5, 3, 400)
    v = helpers.sample_mock(P, verr, rng=rng)
    v[:3] = [900.0, -800.0, 1200.0]  # far outliers
    return rng.uniform(0, 1000, 400), v, verr


def test_velocity_plot_clips_outliers_and_says_how_many(sample):
    dist, v, verr = sample
    ax = helpers.plot_velocity_vs_distance(v, verr, dist)
    lo, hi = ax.get_ylim()
    assert lo > -800 and hi < 900
    outside = np.sum((v < lo) | (v > hi))
    assert outside >= 3
    assert [t.get_text() for t in ax.texts] == [f"{outside} star(s) outside the y-range"]
    assert "arcsec" in ax.get_xlabel() and "km/s" in ax.get_ylabel()
    plt.close("all")


def test_membership_plot_draws_into_given_axes(sample):
    dist, v, verr = sample
    _, ax = plt.subplots()
    q = helpers.membership_probability(P, v, verr)
    out = helpers.plot_membership(v, dist, q, ax=ax, scatter_kwargs={"s": 3})
    assert out is ax
    np.testing.assert_allclose(ax.collections[0].get_array(), q)
    plt.close("all")


def test_model_vs_mock_histograms_and_density(sample):
    _, v, verr = sample
    bins = np.arange(-80.0, 40.0, 2.0)
    ax = helpers.plot_model_vs_mock(P, v, verr, rng=np.random.default_rng(1), bins=bins)
    data_hist = ax.patches[0]
    assert data_hist.get_label() == "data"
    # the model curve is N * bin width * density: its area over the bins is the expected count
    x, y = ax.lines[0].get_data()
    expected = v.size * np.trapezoid(helpers.model_density(P, x, verr), x)
    assert np.trapezoid(y, x) / 2.0 == pytest.approx(expected, rel=1e-6)
    plt.close("all")


def test_plots_refuse_velocities_in_the_place_of_distances(sample):
    """Per-star arrays come as v, verr, distance; negative 'distances' are velocities in the wrong place."""
    dist, v, verr = sample
    with pytest.raises(ValueError, match="order v, verr, distance"):
        helpers.plot_velocity_vs_distance(dist, verr, v)
    with pytest.raises(ValueError, match="distance must have one value per star"):
        helpers.plot_membership(v, dist[:10], np.zeros(400))
    plt.close("all")


def test_notebook_style_gives_readable_full_width_figures():
    import matplotlib as mpl

    with mpl.rc_context():
        helpers.notebook_style()
        width_px = mpl.rcParams["figure.figsize"][0] * mpl.rcParams["figure.dpi"]
        assert 950 <= width_px <= 1100 and mpl.rcParams["font.size"] >= 12
