"""Results on disk and in text: member catalogues, the survey CSV, parameter and fit summaries."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import helpers


def a_cluster_fit(**changes) -> helpers.ClusterFit:
    """A ClusterFit with round numbers (no fitting needed to test the writers)."""
    fit = helpers.ClusterFit(
        name="NGC 288", n_stars=4, mean=-44.8312, mean_err=0.2345, dispersion=2.6789, dispersion_err=0.1987,
        p_centre=0.95, r_scale=321.4, field=((-10.0, 40.0, 1.0),), membership=np.array([0.9, 0.8, 0.1, 0.0]),
        expected_members=1.8, log_likelihood=-1000.0, bic=2030.0, model="cluster + 1 field Gaussian",
        params=np.array([-44.8312, 2.6789, -10.0, 40.0, 0.95, 321.4]), n_starts=9, n_reached=9,
        reliable=True, problems=(), reason="ok",
    )
    return dataclasses.replace(fit, **changes)


def test_member_catalogue_round_trip(tmp_path, ngc288):
    q = np.linspace(0, 1, len(ngc288))
    dq = 0.1 * np.sqrt(q * (1 - q))  # a spread that probabilities with these means can have
    path = tmp_path / "sub" / "members.csv"
    n = helpers.write_member_catalogue(path, ngc288, q, dq, threshold=0.5, title="NGC 288 test")
    with open(path) as fh:
        cat = np.genfromtxt([r for r in fh if r[0] != "#"], delimiter=",", names=True)
    assert n == len(cat) == np.sum(q > 0.5)
    np.testing.assert_allclose(cat["velocity"], ngc288.velocity[q > 0.5], atol=0.005)
    np.testing.assert_array_equal(cat["line"], ngc288.line[q > 0.5])
    assert path.read_text().startswith("# NGC 288 test\n")
    with pytest.raises(ValueError, match="p_member must be one value per star"):
        helpers.write_member_catalogue(path, ngc288, q[:5], dq)


def test_survey_csv_documents_its_columns_and_writes_fixed_formats(tmp_path, table):
    failed = a_cluster_fit(
        name="Pal 5", mean=np.nan, mean_err=np.nan, dispersion=np.nan, dispersion_err=np.nan, field=(),
        expected_members=np.nan, r_scale=np.nan, reliable=False, problems=(helpers.Problem.FIT_FAILED,),
        reason='fit failed: a "quoted" word',
    )
    unresolved = a_cluster_fit(dispersion=0.0, dispersion_err=np.nan)
    # a sparse cluster: asymmetric posterior interval of the dispersion, scale radius at its floor
    sparse = a_cluster_fit(
        mean_interval=(-45.1, -44.6), mean_interval95=(-45.3, -44.4), dispersion_interval=(2.2, 3.4),
        dispersion_interval95=(1.9, 4.4), interval_method="posterior", r_scale=1.0,
        flags=(helpers.Flag.SCALE_AT_BOUND,),
    )
    path = tmp_path / "out" / "survey.csv"
    helpers.write_survey_csv(path, [a_cluster_fit(), unresolved, failed, sparse], table)
    lines = path.read_text().splitlines()
    n_doc = len(helpers.SURVEY_COLUMNS) + 1
    assert lines[0].startswith("# Survey") and all(line.startswith("#") for line in lines[:n_doc])
    assert lines[n_doc] == ",".join(helpers.SURVEY_COLUMNS)
    pm = helpers.pmem_weighted_mean(helpers.load_cluster("NGC 288", table))
    assert lines[n_doc + 1] == (
        f"NGC 288,4,-44.83,0.23,,,,,2.68,0.20,,,,,none,1.8,1,0.950,False,321,False,{pm:.2f},True,,"
        "False,\"not assessed\",\"ok\""
    )
    row = dict(zip(helpers.SURVEY_COLUMNS, lines[n_doc + 2].split(","), strict=True))
    assert row["dispersion_err"] == ""  # unresolved dispersion: empty, not nan
    assert lines[n_doc + 3].startswith("Pal 5,4,,,,,,,,,,,,,none,,0,0.950,False,,False,")
    assert lines[n_doc + 3].endswith("False,FIT_FAILED,False,\"not assessed\",\"fit failed: a 'quoted' word\"")
    row = dict(zip(helpers.SURVEY_COLUMNS, lines[n_doc + 4].split(","), strict=True))
    # the mean's interval is symmetric (0.23 either side): its symmetric error is kept; the dispersion's is not
    assert (row["mean_err"], row["mean_lo"], row["mean_hi"]) == ("0.23", "-45.10", "-44.60")
    assert (row["dispersion_err"], row["dispersion_lo"], row["dispersion_hi95"]) == ("", "2.20", "4.40")
    # a scale radius at its floor is not a measurement: empty, with the flag
    assert (row["r_scale"], row["r_scale_at_bound"], row["interval"]) == ("", "True", "posterior")
    assert len(lines) == n_doc + 5
    citable = a_cluster_fit(dispersion_reliable=True, dispersion_reason="ok")
    helpers.write_survey_csv(path, [citable], table)
    row = dict(zip(helpers.SURVEY_COLUMNS, path.read_text().splitlines()[n_doc + 1].split(","), strict=True))
    assert (row["reliable"], row["dispersion_reliable"], row["dispersion_reason"]) == ("True", "True", '"ok"')


def test_pmem_weighted_mean():
    stars = helpers.mock_cluster_field(3, [(2, 0.0, 10.0)], rng=0)
    stars.velocity[:] = [1.0, 2.0, 3.0, 100.0, 200.0]
    stars.p_mem[:] = [1.0, 1.0, 0.5, 0.0, 0.0]
    assert helpers.pmem_weighted_mean(stars) == pytest.approx((1 + 2 + 1.5) / 2.5)
    stars.p_mem[:] = 0.0
    assert np.isnan(helpers.pmem_weighted_mean(stars))


def test_format_params():
    assert helpers.format_params([1.0, 2.5, -3.0, 4.0, 0.25]) == (
        "mean1 =    1.0000  sigma1 =    2.5000  mean2 =   -3.0000  sigma2 =    4.0000  frac1 =    0.2500"
    )
    assert helpers.format_params([1.0, 2.0], names=["a", "b"], fmt="{:.1f}") == "a = 1.0  b = 2.0"
    with pytest.raises(ValueError, match=r"params must have one value per name \(5: mean1, .*\); got 2"):
        helpers.format_params([1.0, 2.0])
    with pytest.raises(TypeError):
        helpers.format_params([1.0, 2.0], ["a", "b"])  # options are keyword-only


def test_format_cluster_fit_mentions_the_verdict():
    text = helpers.format_cluster_fit(a_cluster_fit(reliable=False, reason="only 1.8 likely members"))
    assert "reliable: False (only 1.8 likely members)" in text and "field 1" in text
    assert "mean velocity     -44.83 +- 0.23 km/s" in text
    assert "+- n/a km/s" in helpers.format_cluster_fit(a_cluster_fit(dispersion_err=np.nan))
