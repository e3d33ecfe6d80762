"""fit_cluster: known truths, honest verdicts with problem codes, calibrated errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from calibration_checks import cold_field_mock
from test_pipeline import check_verdict_consistent

import helpers

TWO_FIELDS = [(200, 20.0, 40.0), (100, -60.0, 90.0)]
Problem = helpers.Problem


@pytest.mark.slow
def test_sparse_cluster_is_recovered_and_reliable():
    """10 members among 300 field stars from two populations, members concentrated at small radius."""
    stars = helpers.mock_cluster_field(
        10, TWO_FIELDS, rng=np.random.default_rng(4), mean=-30.0, dispersion=3.0, r_scale=30.0, r_max=1000.0
    )
    fit = helpers.fit_cluster(stars)
    assert fit.reliable, fit.reason
    assert abs(fit.mean - -30.0) < 3 * fit.mean_err
    assert fit.expected_members == pytest.approx(10, abs=4)
    # the true members are the likely ones (a member far out, where field stars with similar
    # velocities are common, legitimately gets a low probability: allow two such cases)
    truth = stars.p_mem == 1
    assert np.sum(fit.membership[truth] > 0.5) >= 8
    assert np.sum(fit.membership[~truth] > 0.5) <= 2


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_field_without_a_cluster_is_unreliable_and_says_why(seed):
    """Two field populations and no cluster: whatever the fit settles on (a handful of stars that clump in
    velocity near the centre, or a field population in the cluster's place), it is not a reliable cluster,
    and every problem reported is the one its rule derives from the fit's own numbers."""
    stars = helpers.mock_cluster_field(0, TWO_FIELDS, rng=np.random.default_rng(seed))
    fit = helpers.fit_cluster(stars)
    assert not fit.reliable and fit.problems
    check_verdict_consistent(fit)


def test_stricter_criteria_are_applied_and_name_the_problem():
    """ReliabilityCriteria travel as an argument: a stricter minimum flags a good fit."""
    stars = helpers.mock_cluster_field(
        20, [(100, 30.0, 40.0)], rng=np.random.default_rng(3), mean=-20.0, dispersion=3.0, r_scale=50.0
    )
    default = helpers.fit_cluster(stars, max_field=1, n_random=2)
    strict = helpers.fit_cluster(
        stars, max_field=1, n_random=2, criteria=helpers.ReliabilityCriteria(min_members=100)
    )
    assert default.reliable, default.reason
    assert strict.problems == (Problem.TOO_FEW_MEMBERS,) and "fewer than 100" in strict.reason
    # the criteria judge the fit; they do not change it (the reported mean goes with the intervals, and an
    # unreliable fit gets the curvature's, so it is the maximum-likelihood fit that must not change)
    assert (strict.ml_mean, strict.ml_dispersion) == (default.ml_mean, default.ml_dispersion)


def test_reliability_criteria_default_and_validation():
    assert helpers.RELIABILITY == helpers.ReliabilityCriteria()
    assert helpers.RELIABILITY.min_members == 6.0 and helpers.RELIABILITY.cluster_sigma_cap == 25.0
    with pytest.raises(ValueError, match="min_members = -1"):
        helpers.ReliabilityCriteria(min_members=-1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        helpers.RELIABILITY.min_members = 15
    with pytest.raises(ValueError, match=r"dispersion_max_ratio = 0\.5"):
        helpers.ReliabilityCriteria(dispersion_max_ratio=0.5)


# the dispersion's verdict, condition by condition, on constructed evidence (no fitting):
# (reliable, members, dispersion, 95 % interval) -> citable, and a word the reason must contain
@pytest.mark.parametrize(
    ("evidence", "citable", "word"),
    [
        ((True, 30.0, 3.0, (2.0, 4.5)), True, "ok"),  # every condition holds
        ((False, 30.0, 3.0, (2.0, 4.5)), False, "unreliable"),  # the fit's own verdict comes first
        ((True, 6.0, 0.99, (0.21, 5.41)), False, "members"),  # NGC 6101 (issue #16): too few members ...
        ((True, 30.0, 0.99, (0.21, 5.41)), False, "factor 25.8"),  # ... and, with more, still too wide
        ((True, 14.96, 3.0, (2.0, 4.5)), True, "ok"),  # 14.96 prints as 15.0: compared as printed ...
        ((True, 14.94, 3.0, (2.0, 4.5)), False, "14.9 members"),  # ... 14.94 as 14.9
        ((True, 30.0, 0.0, (0.0, 1.2)), False, "unresolved"),  # a dispersion at 0
        ((True, 30.0, 1.0, (0.0, 1.2)), False, "unresolved"),  # an interval reaching 0
        ((True, 30.0, 3.0, (np.nan, np.nan)), False, "unresolved"),  # no interval
        ((True, 30.0, 3.0, (2.0, 6.0)), True, "ok"),  # a factor 3 exactly is allowed ...
        ((True, 30.0, 3.0, (2.0, 6.02)), False, "factor 3.0"),  # ... a little more is not
        ((True, 30.0, 20.0, (9.0, 25.0)), False, "width cap"),  # the model's cap, not the data, ends it
    ],
)
def test_dispersion_verdict_condition_by_condition(evidence, citable, word):
    got, reason = helpers.dispersion_verdict(*evidence)
    assert got is citable and word in reason, reason


def test_a_dispersion_needs_a_cluster_concentrated_within_the_footprint():
    evidence = (True, 30.0, 3.0, (2.0, 4.5))
    assert helpers.dispersion_verdict(*evidence, scale_over_footprint=0.5) == (True, "ok")
    citable, reason = helpers.dispersion_verdict(*evidence, scale_over_footprint=0.51)
    assert not citable and "Plummer scale is 0.51 of the footprint's radius" in reason
    assert not helpers.dispersion_verdict(*evidence, scale_over_footprint=np.nan)[0]
    loose = helpers.ReliabilityCriteria(dispersion_max_scale=1.0)
    assert helpers.dispersion_verdict(*evidence, scale_over_footprint=0.9, criteria=loose)[0]


def test_a_cold_field_population_at_the_clusters_velocity_does_not_widen_a_cited_dispersion():
    """Issue 16 (wide mock 587): a field population 8-25 km/s wide within 10 km/s of the cluster's velocity.

    The first 12 of tests/calibration_checks.py's ``cold_field_mock`` s; before the rival-model and footprint
    rules, mock 7 (34 members of 4.04 km/s) was fitted as 95 members of 8.08 km/s (2.002 times the truth), reliable
    and citable.  A
    citable dispersion has a 95 % interval within a factor 3, i.e. ln sigma known to about +-0.28 (1 sigma);
    twice the truth is then 2.5 sigma off (ln 2 / 0.28), which a calibrated interval allows in about 0.6 % of
    the fits (one-sided): in 12 fits, with a probability of about 0.07, so the check is not a coin toss.
    """
    citable = 0
    for seed in range(12):
        stars, _, dispersion, _ = cold_field_mock(seed)
        fit = helpers.fit_cluster(stars, rng=seed)
        check_verdict_consistent(fit)
        if fit.dispersion_reliable:
            citable += 1
            assert 0.5 * dispersion < fit.dispersion < 2.0 * dispersion, (seed, fit.dispersion, dispersion)
    assert citable >= 4  # a third still measured: a rule that refuses them all proves nothing


def test_dispersion_verdict_follows_its_criteria():
    evidence = (True, 12.0, 3.0, (2.0, 7.0))  # 12 members, a factor 3.5
    assert not helpers.dispersion_verdict(*evidence)[0]
    loose = helpers.ReliabilityCriteria(dispersion_min_members=10, dispersion_max_ratio=4)
    assert helpers.dispersion_verdict(*evidence, criteria=loose) == (True, "ok")
    with pytest.raises(TypeError, match="positional"):  # criteria is keyword-only
        helpers.dispersion_verdict(*evidence, loose)
    with pytest.raises(TypeError, match="pass a ReliabilityCriteria"):
        helpers.dispersion_verdict(*evidence, criteria=15)


@pytest.mark.slow
def test_cold_field_does_not_pass_for_the_cluster():
    """A *narrower* but spatially uniform field population must not be taken for the cluster."""
    stars = helpers.mock_cluster_field(
        60, [(150, 40.0, 3.0), (150, 0.0, 60.0)], rng=np.random.default_rng(8), mean=-20.0, dispersion=6.0,
        r_scale=50.0,
    )
    fit = helpers.fit_cluster(stars)
    assert fit.reliable, fit.reason
    assert abs(fit.mean - -20.0) < 3 * fit.mean_err
    assert fit.dispersion == pytest.approx(6.0, abs=3 * fit.dispersion_err)


@pytest.mark.slow
def test_reported_uncertainties_are_calibrated():
    """Over many mock clusters the truth lies within 1 (2) reported sigma about 68% (95%) of the time.

    40 fits: the binomial standard deviation of a 68% rate is 7%, so 0.5-0.85 is about +-2.5 of it.
    """
    z_mean, z_disp = [], []
    for seed in range(40):
        stars = helpers.mock_cluster_field(
            120, [(150, 10.0, 50.0)], rng=np.random.default_rng(100 + seed), mean=-5.0, dispersion=4.0, r_scale=80.0
        )
        fit = helpers.fit_cluster(stars, max_field=1, n_random=2)
        assert fit.reliable, fit.reason
        z_mean.append((fit.mean - -5.0) / fit.mean_err)
        z_disp.append((fit.dispersion - 4.0) / fit.dispersion_err)
    for z in (np.abs(z_mean), np.abs(z_disp)):
        assert 0.5 <= np.mean(z < 1) <= 0.85, np.mean(z < 1)
        assert np.mean(z < 2) >= 0.85


def test_ngc288_agrees_with_the_velocity_only_fit(ngc288, ngc288_mle):
    fit = helpers.fit_cluster("NGC 288")
    err = helpers.fisher_uncertainties(ngc288_mle, ngc288.velocity, ngc288.velocity_error)
    assert fit.reliable and fit.reason == "ok" and fit.problems == ()
    assert abs(fit.mean - ngc288_mle[0]) < np.hypot(fit.mean_err, err[0])
    assert abs(fit.dispersion - ngc288_mle[1]) < np.hypot(fit.dispersion_err, err[1])
    assert fit.p_centre > 0.9 and 50 < fit.r_scale < 1000
    # about 330 members and a tight interval: the dispersion is citable, and the flag is the rule's verdict
    assert fit.dispersion_reliable and fit.dispersion_reason == "ok"
    assert (fit.dispersion_reliable, fit.dispersion_reason) == helpers.dispersion_verdict(
        fit.reliable, fit.expected_members, fit.dispersion, fit.dispersion_interval95)
    np.testing.assert_allclose(fit.params[:6], [fit.mean, fit.dispersion, *fit.field[0][:2], fit.p_centre,
                                                fit.r_scale])


@pytest.mark.slow
def test_names_files_and_records_give_the_same_fit(tmp_path, table):
    stars = helpers.load_cluster("Pal 5", table)
    f = tmp_path / "Pal5.txt"
    rows = [f"x x x x {s.distance:.2f} {s.velocity:.2f} {s.velocity_error:.2f}" for s in stars]
    f.write_text("h1\nh2\n" + "\n".join(rows) + "\n")
    by_name = helpers.fit_cluster("pal5", table=table)
    by_file = helpers.fit_cluster(f)
    assert by_file.name == "Pal5" and by_name.name == "Pal 5"  # a name in the compilation's spelling
    assert by_file.mean == pytest.approx(by_name.mean, abs=1e-6)
    # name or file is decided by type: a str is always a name, and the error says how to read the file
    with pytest.raises(KeyError, match=r"pass pathlib\.Path"):
        helpers.fit_cluster(str(f), table=table)


def test_cluster_names_lists_the_compilation(table):
    names = helpers.cluster_names(table)
    assert len(names) == len(set(names)) == 122 and "NGC 288" in names


def test_too_few_stars_is_an_error():
    stars = helpers.mock_cluster_field(5, [], rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="at least 10"):
        helpers.fit_cluster(stars)


def test_negative_distances_are_an_error():
    stars = helpers.mock_cluster_field(20, [], rng=np.random.default_rng(0))
    stars.distance[3] = -1.0
    with pytest.raises(ValueError, match="non-negative"):
        helpers.fit_cluster(stars)


def test_unknown_cluster_is_a_key_error(table):
    with pytest.raises(KeyError, match="closest names"):
        helpers.fit_cluster("NGC 99999", table=table)


def test_fit_cluster_checks_its_options():
    stars = helpers.mock_cluster_field(20, [], rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="ReliabilityCriteria"):
        helpers.fit_cluster(stars, criteria={"min_members": 15})
    with pytest.raises(ValueError, match="max_field must be >= 1; got 0"):
        helpers.fit_cluster(stars, max_field=0)
    with pytest.raises(TypeError, match="rng"):
        helpers.fit_cluster(stars, rng=None)


def test_a_scale_at_its_floor_is_flagged_not_measured(table):
    """NGC 4147 (21 stars): the Plummer scale ends at its 1 arcsec floor - a flag, not a measurement."""
    fit = helpers.fit_cluster("NGC 4147", table=table)
    assert fit.reliable and fit.problems == ()
    assert helpers.Flag.SCALE_AT_BOUND in fit.flags and all(isinstance(f, helpers.Flag) for f in fit.flags)
    assert fit.r_scale == pytest.approx(1.0) and "not measured" in fit.reason
    assert fit.interval_method == "posterior" and np.isfinite(fit.mean_err)
    assert "p0 at its clip, Plummer scale radius at its bound (not measured)" in helpers.format_cluster_fit(fit)


def test_the_member_threshold_compares_the_printed_value(table):
    """The minimum of members is compared with the expected number rounded to 0.1, as printed: a minimum equal
    to the printed value passes, one 0.05 above it does not; and the criteria judge the fit without changing it."""
    fit = helpers.fit_cluster("NGC 2298", table=table)  # a sparse cluster: about 6 members
    printed = round(fit.expected_members, 1)
    at = helpers.fit_cluster("NGC 2298", table=table, criteria=helpers.ReliabilityCriteria(min_members=printed))
    above = helpers.ReliabilityCriteria(min_members=printed + 0.05)
    strict = helpers.fit_cluster("NGC 2298", table=table, criteria=above)
    assert Problem.TOO_FEW_MEMBERS not in at.problems
    assert Problem.TOO_FEW_MEMBERS in strict.problems
    assert f"only {printed:.1f} likely members (fewer than {printed + 0.05:g})" in strict.reason
    assert (strict.ml_mean, strict.membership.tolist()) == (at.ml_mean, at.membership.tolist())
    assert not fit.dispersion_reliable  # fewer than 15 members never make a citable dispersion
    check_verdict_consistent(strict, above)


@pytest.mark.slow
def test_a_collapse_is_told_apart_from_a_sparse_cluster(table):
    """NGC 6380: the cluster component shrinks onto 2 stars with sigma ~ 0 while 25 stars share its velocity."""
    fit = helpers.fit_cluster("NGC 6380", table=table)
    assert Problem.COLLAPSED in fit.problems and Problem.TOO_FEW_MEMBERS not in fit.problems
    assert fit.reason.startswith("collapsed:") and not fit.reliable
    sparse = helpers.fit_cluster("NGC 6540", table=table)  # a few members with a resolved dispersion
    assert Problem.TOO_FEW_MEMBERS in sparse.problems and Problem.COLLAPSED not in sparse.problems


def test_sparse_cluster_intervals_become_the_curvature_ones_for_a_rich_cluster(table):
    """Bernstein-von Mises: with about 330 members (NGC 288) the marginal posterior of the dispersion and the
    profile likelihood of the mean are close to Gaussian, so forcing the sparse-cluster intervals must give
    nearly the curvature intervals (the posterior's slight upward skew is a fraction of a standard error)."""
    rich = helpers.fit_cluster("NGC 288", table=table)
    forced = helpers.fit_cluster(
        "NGC 288", table=table, criteria=helpers.ReliabilityCriteria(profile_below_members=1e6)
    )
    assert (rich.interval_method, forced.interval_method) == ("curvature", "posterior")
    np.testing.assert_allclose(forced.dispersion_interval, rich.dispersion_interval, atol=0.3 * rich.dispersion_err)
    np.testing.assert_allclose(forced.dispersion_interval95, rich.dispersion_interval95, atol=0.5 * rich.dispersion_err)
    np.testing.assert_allclose(forced.mean_interval, rich.mean_interval, atol=0.1 * rich.mean_err)
    assert forced.dispersion_interval[1] > rich.dispersion_interval[1]  # skewed upwards, as a width is
    # the posterior medians reported with the posterior's intervals are near the maximum likelihood here, and
    # the maximum-likelihood values are kept apart, the same in both
    np.testing.assert_allclose(forced.mean, rich.mean, atol=0.1 * rich.mean_err)
    np.testing.assert_allclose(forced.dispersion, rich.dispersion, atol=0.3 * rich.dispersion_err)
    assert (forced.ml_mean, forced.ml_dispersion) == (rich.mean, rich.dispersion) == tuple(rich.params[:2])
    assert forced.mean_interval[0] < forced.mean < forced.mean_interval[1] and rich.mean_posterior.shape == (0, 3)
    np.testing.assert_allclose(forced.mean_posterior[:, 0].sum(), 1.0)


# The old, narrow calibration mocks (one field Gaussian, errors of 0.5-3 km/s, compact clusters): refitted by
# tools/calibrate_sparse.py narrow. The calibration tests themselves fit the wider mocks of issue 16
# (tests/calibration_checks.py, tests/test_calibration_*.py).


def calibration_mock(lo: int, hi: int, k: int) -> tuple[np.recarray, float, float, int]:
    """Mock ``k`` of the calibration set with lo..hi-1 members: (stars, true mean, true dispersion, members).

    Seeded by ``[lo, k]``; tools/calibrate_sparse.py (``narrow``) imports this generator.
    """
    rng = np.random.default_rng([lo, k])
    n_members, n_field = int(rng.integers(lo, hi)), int(rng.integers(100, 401))
    mean, dispersion = rng.uniform(-100, 100), rng.uniform(2, 8)
    stars = helpers.mock_cluster_field(
        n_members, [(n_field, rng.uniform(-50, 50), rng.uniform(20, 60))], rng=rng,
        mean=mean, dispersion=dispersion, r_scale=rng.uniform(30, 150),
    )
    return stars, mean, dispersion, n_members
