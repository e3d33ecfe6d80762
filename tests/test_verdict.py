"""The verdict on a cluster fit, rule by rule, on hand-made evidence (no fitting): xdtutorial.verdict."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import helpers
from xdtutorial.verdict import RULES, Collapse, Evidence, RivalModel, judge

Problem, Flag = helpers.Problem, helpers.Flag

# a rich, concentrated, unambiguous cluster: every rule passes
GOOD = Evidence(
    n_stars=400, members=300.0, mean=-44.5, dispersion=2.8, log_likelihood=-1300.0, curvature_mean_err=0.2,
    flat_2dlnl=500.0, scale_clip=None, p0_at_clip=False, solutions=((-44.5, -1300.0), (-44.6, -1300.2)),
    mean_err=0.2,
)
COLLAPSE = Collapse(members=2.1, dispersion=0.01, n_peak=25, window=7.5, retried=False)


def problems(evidence: Evidence, criteria=helpers.RELIABILITY) -> tuple[Problem, ...]:
    return judge(evidence, criteria).problems


def test_a_good_fit_is_reliable_and_says_ok():
    verdict = judge(GOOD)
    assert verdict.reliable and verdict.problems == () and verdict.reason == "ok"
    assert GOOD.n_reached == 2  # both solutions have the same cluster velocity, within 0.5 in ln L


# one rule at a time: (change to the good evidence, the problem, a word its clause must contain)
@pytest.mark.parametrize(
    ("change", "problem", "word"),
    [
        ({"not_converged": "reached its limit of 3000 steps while ln L still rose"}, Problem.NOT_CONVERGED,
         "EM's run to the chosen solution reached its limit of 3000 steps"),
        ({"collapse": COLLAPSE, "members": 2.1, "dispersion": 0.01}, Problem.COLLAPSED, "collapsed too"),
        ({"collapse": dataclasses.replace(COLLAPSE, retried=True)}, Problem.COLLAPSED, "fit worse"),
        ({"curvature_mean_err": np.nan, "mean_err": np.nan}, Problem.DEGENERATE, "no uncertainties"),
        ({"curvature_mean_err": np.nan, "mean_err": np.nan, "curvature_problem": "not positive definite"},
         Problem.DEGENERATE, "(its information matrix is not positive definite)"),
        ({"members": 5.94}, Problem.TOO_FEW_MEMBERS, "only 5.9 likely members (fewer than 6)"),
        ({"dispersion": 24.99}, Problem.AT_WIDTH_CAP, "25 km/s"),
        ({"flat_2dlnl": 5.9, "members": 199.0}, Problem.NOT_CONCENTRATED, "does not dominate"),
        ({"flat_2dlnl": 5.9, "scale_clip": 1}, Problem.NOT_CONCENTRATED, "its profile is flat"),
        ({"solutions": ((-44.5, -1300.0), (30.0, -1302.9))}, Problem.AMBIGUOUS, "a cluster at 30.0 km/s"),
        ({"other_models": (RivalModel(2, -44.0, 1.39, 80.0, 9.99),)}, Problem.AMBIGUOUS,
         "with 2 field Gaussians (BIC higher by only 10.0) the cluster is 1.4 km/s wide with 80.0 members"),
        ({"mean_err": 3.01}, Problem.MEAN_UNCERTAIN, "uncertain by 3.0 km/s"),
    ],
)
def test_each_rule_on_its_own(change, problem, word):
    verdict = judge(dataclasses.replace(GOOD, **change))
    assert verdict.problems == (problem,) and not verdict.reliable
    assert word in verdict.clauses[0] and verdict.reason.startswith(verdict.clauses[0])


# just inside every threshold: no problem
@pytest.mark.parametrize(
    "change",
    [
        {"members": 5.95},  # prints as 6.0: the minimum is compared as printed
        {"dispersion": 24.97},  # below 0.999 of the cap
        {"flat_2dlnl": 5.9, "members": 201.0},  # not concentrated, but it dominates the sample
        {"flat_2dlnl": 6.0, "scale_clip": 1},  # concentrated at the threshold
        {"solutions": ((-44.5, -1300.0), (30.0, -1303.0))},  # a rival exactly ambiguity_dlnl worse
        {"solutions": ((-44.5, -1300.0), (-40.0, -1300.1))},  # within 5 km/s: the same cluster
        {"other_models": (RivalModel(2, -44.0, 1.4, 80.0, 9.9),)},  # narrower by exactly rival_dispersion_ratio
        {"other_models": (RivalModel(2, -44.0, 1.0, 80.0, 10.0),)},  # a BIC exactly rival_dbic worse
        {"other_models": (RivalModel(2, -44.0, 1.0, 5.94, 1.0),)},  # a rival needs min_members (as printed)
        {"other_models": (RivalModel(0, -44.0, 9.0, 80.0, 1.0),)},  # a wider rival is not one
        {"mean_err": 3.0},
        {"mean_err": None, "curvature_mean_err": 9.0},  # before the interval stage the mean is not judged
    ],
)
def test_at_the_thresholds_nothing_is_wrong(change):
    assert problems(dataclasses.replace(GOOD, **change)) == ()


def test_the_rules_apply_in_their_written_order():
    """Every rule that fires is reported, in the order of RULES, one clause each."""
    everything = dataclasses.replace(
        GOOD, members=150.0, dispersion=25.0, flat_2dlnl=0.0, curvature_mean_err=0.5, mean_err=4.0,
        solutions=((-44.5, -1300.0), (60.0, -1301.0)),
    )
    verdict = judge(everything)
    order = [p for p, _ in RULES]
    assert verdict.problems == (Problem.AT_WIDTH_CAP, Problem.NOT_CONCENTRATED, Problem.AMBIGUOUS,
                                Problem.MEAN_UNCERTAIN)
    assert list(verdict.problems) == sorted(verdict.problems, key=order.index)
    assert verdict.reason.split("; ") == list(verdict.clauses)
    assert set(order) == set(Problem) - {Problem.FIT_FAILED}  # every problem a fit can have has one rule


def test_an_unconverged_solution_is_unreliable_says_why_and_what_to_do():
    """EM's own words (why the run is not at a maximum), that the numbers are not the fit's, and a Fix."""
    why = ("stopped at a fixed point of EM that is not a maximum (the cluster's width 0 km/s is far below the "
           "errors: not a maximum)")
    verdict = judge(dataclasses.replace(GOOD, not_converged=why))
    assert verdict.problems == (Problem.NOT_CONVERGED,) and not verdict.reliable
    clause = verdict.clauses[0]
    assert why in clause and "not a maximum of the likelihood" in clause and "Fix: refit" in clause
    # it is judged first: whatever else the unconverged numbers say comes after it
    both = judge(dataclasses.replace(GOOD, not_converged=why, members=3.0))
    assert both.problems == (Problem.NOT_CONVERGED, Problem.TOO_FEW_MEMBERS)
    assert judge(dataclasses.replace(GOOD, not_converged=None)).reliable  # None: converged


def test_a_collapse_is_reported_instead_of_too_few_members():
    few = dataclasses.replace(GOOD, members=2.1, dispersion=0.01)
    assert problems(few) == (Problem.TOO_FEW_MEMBERS,)
    assert problems(dataclasses.replace(few, collapse=COLLAPSE)) == (Problem.COLLAPSED,)


def test_the_mean_is_judged_on_its_final_error_not_the_curvature():
    """A sparse cluster's profile interval may be narrower (or wider) than the curvature says."""
    assert problems(dataclasses.replace(GOOD, curvature_mean_err=3.5, mean_err=2.5)) == ()
    assert problems(dataclasses.replace(GOOD, curvature_mean_err=2.5, mean_err=3.5)) == (Problem.MEAN_UNCERTAIN,)


def test_the_same_cluster_tolerance_grows_with_the_error_of_the_mean():
    """Solutions within max(5 km/s, 5 sigma) are the same cluster: counted as reached, never rivals."""
    sols = ((-44.5, -1300.0), (-36.0, -1300.1))  # 8.5 km/s apart
    sharp = dataclasses.replace(GOOD, solutions=sols, curvature_mean_err=1.0)
    broad = dataclasses.replace(GOOD, solutions=sols, curvature_mean_err=2.0)
    assert problems(sharp) == (Problem.AMBIGUOUS,) and sharp.n_reached == 1
    assert problems(broad) == () and broad.n_reached == 2


def test_notes_and_flags_do_not_make_a_fit_unreliable():
    unresolved = judge(dataclasses.replace(GOOD, dispersion=0.0))
    assert unresolved.reliable and unresolved.reason == "dispersion unresolved (smaller than the measurement errors)"
    # ... but an unreliable fit does not get the note: its dispersion is not worth a comment
    assert "unresolved" not in judge(dataclasses.replace(GOOD, dispersion=0.0, members=3.0)).reason
    set_aside = judge(dataclasses.replace(GOOD, set_aside=(2.04, 1.26)))
    assert set_aside.reliable and set_aside.reason.startswith("a collapsed solution on 2.0 stars (ln L higher by 1.3)")
    clipped = judge(dataclasses.replace(GOOD, scale_clip=0, p0_at_clip=True))
    assert clipped.reliable and clipped.flags == (Flag.SCALE_AT_BOUND, Flag.P0_AT_BOUND)
    assert clipped.reason == "Plummer scale at its 1 arcsec floor (not measured); p0 at its clip (not measured)"
    both = judge(dataclasses.replace(GOOD, scale_clip=1, members=3.0))
    assert both.reason.split("; ")[0].startswith("only 3.0") and both.reason.endswith("upper limit (not measured)")


def test_the_verdict_follows_its_criteria_and_limits():
    strict = helpers.ReliabilityCriteria(min_members=400, max_mean_err=0.1)
    assert problems(GOOD, strict) == (Problem.TOO_FEW_MEMBERS, Problem.MEAN_UNCERTAIN)
    narrow = helpers.ReliabilityCriteria(limits=helpers.ModelLimits(cluster_sigma_cap=2.5))
    assert problems(GOOD, narrow) == (Problem.AT_WIDTH_CAP,) and "(2.5 km/s)" in judge(GOOD, narrow).reason
    assert narrow.cluster_sigma_cap == 2.5 and narrow.field_sigma_floor == helpers.MODEL_LIMITS.field_sigma_floor
    with pytest.raises(TypeError, match="pass a ReliabilityCriteria"):
        judge(GOOD, {"min_members": 6})


def test_the_verdict_is_a_pure_function():
    before = dataclasses.replace(GOOD)
    assert judge(GOOD) == judge(GOOD) and GOOD == before


def test_flags_are_not_problems():
    assert set(Flag).isdisjoint(set(Problem))
    assert [f.name for f in Flag] == ["SCALE_AT_BOUND", "P0_AT_BOUND"]
    # the old spellings still name the flags
    assert Problem.SCALE_AT_BOUND is Flag.SCALE_AT_BOUND and Problem.P0_AT_BOUND is Flag.P0_AT_BOUND


@pytest.mark.parametrize("cls", [helpers.ReliabilityCriteria, helpers.ModelLimits])
@pytest.mark.parametrize("bad", [True, False, -1.0, 0, np.nan, np.inf, "6", None])
def test_settings_must_be_positive_numbers(cls, bad):
    """Every threshold and limit is a positive, finite number; True is not 1 here."""
    for field in dataclasses.fields(cls):
        if field.name == "limits":
            continue
        with pytest.raises(ValueError, match=rf"{cls.__name__}\.{field.name} = "):
            cls(**{field.name: bad})


def test_settings_are_checked_together():
    with pytest.raises(ValueError, match=r"field_sigma_floor = 30\.0 is not below cluster_sigma_cap = 25\.0"):
        helpers.ModelLimits(field_sigma_floor=30.0)
    with pytest.raises(TypeError, match="pass a ModelLimits"):
        helpers.ReliabilityCriteria(limits={"cluster_sigma_cap": 30})
    with pytest.raises(ValueError, match="True/False is not a number"):
        helpers.ReliabilityCriteria(min_members=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        helpers.MODEL_LIMITS.cluster_sigma_cap = 30
