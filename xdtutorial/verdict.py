"""The verdict on a fit of the distance-aware model: pure rules on recorded evidence (notebooks 06, 07).

:func:`~xdtutorial.cluster_fit.fit_cluster` gathers the facts about its chosen model in an
:class:`Evidence` record; :func:`judge` turns them into a :class:`Verdict` (``reliable``, the
:class:`Problem` codes, the reason in words, the :class:`Flag` s) by the rules of :data:`RULES`,
in that order, with the thresholds of a :class:`ReliabilityCriteria`.  Nothing here fits: every
rule can be checked on a hand-made record.  :func:`dispersion_verdict` then judges whether the
dispersion of a reliable fit is citable.

Two kinds of settings, two classes:

* :class:`ModelLimits` (the cluster's width cap, the field's width floor) change the *model*,
  and so the fit;
* :class:`ReliabilityCriteria` (minimum members, largest error of the mean, ...) only *judge*
  a fit; it carries the limits the fit was made with (``criteria.limits``), so that one object
  travels to every survey worker.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import NamedTuple

import numpy as np


class Flag(enum.Enum):
    """A nuisance parameter at its clip: reported in :attr:`ClusterFit.flags`, not a reason to distrust the fit."""

    SCALE_AT_BOUND = "scale at its bound"
    P0_AT_BOUND = "p0 at its bound"


class Problem(enum.Enum):
    """Why a :class:`ClusterFit` is unreliable; the value is a short label.

    (``Problem.SCALE_AT_BOUND`` and ``Problem.P0_AT_BOUND`` are kept as aliases of the
    :class:`Flag` members, which they used to be, so older code keeps working; they are not
    problems, and iterating over ``Problem`` does not give them.)
    """

    NOT_CONVERGED = "not converged"
    TOO_FEW_MEMBERS = "few members"
    COLLAPSED = "collapsed"
    NOT_CONCENTRATED = "not concentrated"
    MEAN_UNCERTAIN = "mean uncertain"
    AMBIGUOUS = "ambiguous"
    DEGENERATE = "degenerate"
    AT_WIDTH_CAP = "at the width cap"
    FIT_FAILED = "failed"
    SCALE_AT_BOUND = enum.nonmember(Flag.SCALE_AT_BOUND)
    P0_AT_BOUND = enum.nonmember(Flag.P0_AT_BOUND)


#: The flags (all :class:`Flag` members), for code that asked ``code in FLAGS``.
FLAGS = frozenset(Flag)


def _check_numbers(owner: object) -> None:
    """Every float field of a settings record is a positive, finite number (a bool is not a number here)."""
    for field in dataclasses.fields(owner):  # type: ignore[arg-type]
        value = getattr(owner, field.name)
        if field.type != "float":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
            raise ValueError(
                f"{type(owner).__name__}.{field.name} = {value!r}: every threshold must be a positive number"
                + (" (True/False is not a number here)" if isinstance(value, bool) else "")
                + f". Fix: pass a number, e.g. {type(owner).__name__}({field.name}={field.default!r})"
            )


@dataclasses.dataclass(frozen=True)
class ModelLimits:
    """Limits of the distance-aware model: they change the fit, not only its verdict.

    Besides these two settings the model has fixed clips for its spatial nuisance parameters:
    the Plummer scale radius stays within [:attr:`SCALE_CLIP`] arcsec and the log-odds of
    membership at the centre within +-:attr:`ALPHA_CLIP` (p0 within about [2e-9, 1 - 2e-9]).

    Attributes
    ----------
    cluster_sigma_cap : float, default=25.0
        The cluster component may not be wider than this [km/s]: no Milky Way
        globular cluster is hotter (omega Cen's central dispersion is about 17
        km/s), and without the cap a hot field population can take the
        cluster's place.  A dispersion at the cap makes the fit unreliable.
    field_sigma_floor : float, default=2.0
        Field Gaussians may not be narrower than this [km/s]: a field component
        collapsing onto one star is a likelihood spike, not a population.
    """

    cluster_sigma_cap: float = 25.0
    field_sigma_floor: float = 2.0

    #: Clip of the Plummer scale radius [arcsec] (the model's ``exp(_LOG_A_LIMITS)``).
    SCALE_CLIP = (1.0, 1e5)
    #: Clip of the log-odds of membership at the centre.
    ALPHA_CLIP = 20.0

    def __post_init__(self) -> None:
        _check_numbers(self)
        if self.field_sigma_floor >= self.cluster_sigma_cap:
            raise ValueError(
                f"ModelLimits: field_sigma_floor = {self.field_sigma_floor!r} is not below cluster_sigma_cap = "
                f"{self.cluster_sigma_cap!r}. Fix: a floor below the cap, e.g. the defaults 2 and 25 km/s"
            )

    def as_kwargs(self) -> dict[str, float]:
        """The limits as the keyword arguments of the generalised EM."""
        return {"field_sigma_floor": self.field_sigma_floor, "cluster_sigma_cap": self.cluster_sigma_cap}


#: The default limits (the values of the tutorial's text).
MODEL_LIMITS = ModelLimits()


@dataclasses.dataclass(frozen=True)
class ReliabilityCriteria:
    """Thresholds of :func:`fit_cluster`'s verdict, with the model limits the fit uses.

    Pass a modified copy to :func:`fit_cluster` or :func:`~xdtutorial.all_clusters.survey`,
    e.g. ``ReliabilityCriteria(min_members=15)``; every survey worker receives it.

    Attributes
    ----------
    min_members : float, default=6.0
        Fewest expected members for a reliable fit (compared with the
        expected number of members rounded to 0.1, as printed).
    max_mean_err : float, default=3.0
        Largest uncertainty of the mean velocity for a reliable fit [km/s].
    concentration_2dlnl : float, default=6.0
        Smallest ``2 ln(L_profile / L_flat)`` for the cluster to count as
        concentrated towards the centre (about 95 % for 2 extra parameters).
    ambiguity_dlnl : float, default=3.0
        A different cluster velocity within this much ln L is a rival.
    rival_dbic : float, default=10.0
        A model with another number of field Gaussians whose BIC is less than this above the chosen
        one's, and whose cluster is narrower by more than ``rival_dispersion_ratio``, is a rival: a
        BIC difference below 10 is not decisive (Kass & Raftery 1995, J. Am. Stat. Assoc. 90, 773:
        "very strong" evidence starts at 10), and BIC, which charges every field Gaussian
        ``1.5 ln N``, is slow to split off a narrow cluster from a field population at its velocity.
    rival_dispersion_ratio : float, default=2.0
        How much narrower (a factor) a rival model's cluster must be to make the fit ambiguous.
    profile_below_members : float, default=100.0
        Below this many expected members, the intervals of the mean and the dispersion are the
        quantiles of their marginal posteriors (:mod:`xdtutorial.intervals`) instead of the
        curvature's (which assumes many members). The calibration mocks reach 80 members; at 50-80
        with heavy-tailed errors the curvature's 95 % dispersion intervals held the truth in only
        0.81 of 77 reliable fits (tools/calibrate_sparse.py, 900 mocks), so the switch sits above them.
    dispersion_min_members : float, default=15.0
        Fewest expected members (rounded to 0.1) for a citable dispersion; see
        :func:`dispersion_verdict` for why.
    dispersion_max_ratio : float, default=3.0
        Largest ratio of the upper to the lower end of the dispersion's 95 % interval for a
        citable dispersion; see :func:`dispersion_verdict`.
    dispersion_max_scale : float, default=0.5
        Largest ratio of the Plummer scale to the footprint's radius (the largest projected distance
        fitted) for a citable dispersion; see :func:`dispersion_verdict`.
    limits : ModelLimits, default=MODEL_LIMITS
        The model's width cap and floor (they change the fit);
        ``criteria.cluster_sigma_cap`` and ``criteria.field_sigma_floor`` read them.
    """

    min_members: float = 6.0
    max_mean_err: float = 3.0
    concentration_2dlnl: float = 6.0
    ambiguity_dlnl: float = 3.0
    rival_dbic: float = 10.0
    rival_dispersion_ratio: float = 2.0
    profile_below_members: float = 100.0
    dispersion_min_members: float = 15.0
    dispersion_max_ratio: float = 3.0
    dispersion_max_scale: float = 0.5
    limits: ModelLimits = MODEL_LIMITS

    def __post_init__(self) -> None:
        _check_numbers(self)
        if not isinstance(self.limits, ModelLimits):
            raise TypeError(
                f"ReliabilityCriteria.limits = {self.limits!r}: pass a ModelLimits, "
                "e.g. ReliabilityCriteria(limits=ModelLimits(cluster_sigma_cap=30))"
            )
        if self.rival_dispersion_ratio <= 1:
            raise ValueError(
                f"ReliabilityCriteria.rival_dispersion_ratio = {self.rival_dispersion_ratio!r}: a factor by which "
                "a rival's cluster is narrower must be larger than 1 (default 2)"
            )
        if self.dispersion_max_ratio <= 1:
            raise ValueError(
                f"ReliabilityCriteria.dispersion_max_ratio = {self.dispersion_max_ratio!r}: the upper end of an "
                "interval is never below its lower end, so the ratio must be larger than 1 (default 3)"
            )

    @property
    def cluster_sigma_cap(self) -> float:
        """The model's width cap [km/s] (``limits.cluster_sigma_cap``)."""
        return self.limits.cluster_sigma_cap

    @property
    def field_sigma_floor(self) -> float:
        """The model's field width floor [km/s] (``limits.field_sigma_floor``)."""
        return self.limits.field_sigma_floor


#: The default criteria (the values of the tutorial's text).
RELIABILITY = ReliabilityCriteria()


def dispersion_verdict(
    reliable: bool,
    expected_members: float,
    dispersion: float,
    interval95: tuple[float, float],
    *,
    criteria: ReliabilityCriteria = RELIABILITY,
    calibrated: bool = True,
    scale_over_footprint: float = 0.0,
) -> tuple[bool, str]:
    """Whether a fit's dispersion is a measurement to cite, separately from its mean.

    ``reliable`` judges the whole fit, and a reliable fit's *mean* is citable; its *dispersion*
    needs more, because a width is much harder to pin down than a location. The rule, written
    down once here (thresholds from ``criteria``), is that the dispersion is citable when

    1. the fit is reliable;
    2. it has at least ``dispersion_min_members`` (15) expected members, rounded to 0.1 as printed.
       Below 15 the dispersion's intervals hold the truth at least at their nominal rates *on
       average* (on the wide mocks of tools/calibrate_sparse.py, in the regime of the real data, the
       reliable fits with 8-14 members cover at or above 68 % and 95 %: conservative), but the rules
       below would pick out the few whose interval came out narrow, and with a dozen members an
       interval within a factor 3 is mostly luck: the sample's spread fluctuated low (the 95 %
       interval of the width of 10 stars without errors already spans a factor 2.65). Such
       selected intervals are not calibrated: of the 300 wide mocks with 8-14 members in
       ``tools/calibrate_sparse.py wide 900``, 5 fits pass rules 1 and 3-5, and 2 of them miss the truth
       with their 95 % interval (3 with their 68 %; 2 of 5 misses at 95 % has a probability of 0.02).
       On the narrower mocks (``tools/calibrate_sparse.py narrow``) none of 25 such fits misses, so the
       rule is a precaution on the evidence of few fits, not a proven failure.
       So a dispersion needs 15 members;
    3. the dispersion is resolved: finite, above 0, with a 95 % interval whose lower end is above
       0 (an interval reaching 0 says only "smaller than the upper end");
    4. the 95 % interval spans at most a factor ``dispersion_max_ratio`` (3): upper end / lower
       end <= 3, i.e. the width is known to about +-30 % (1 sigma in ln sigma is about
       ln(3) / 3.92 = 0.28). A wider interval (NGC 6101: 0.25-4.91 km/s, a factor of about 19) says the
       data allow anything from a cold to a hot cluster;
    5. the 95 % interval stays below the width cap ``cluster_sigma_cap``: an interval that reaches
       the cap is cut by the model, not by the data;
    6. the interval comes from the construction that the mocks calibrate (``calibrated``): below
       ``profile_below_members`` members, :func:`fit_cluster` passes False when the marginal
       posterior failed and it fell back to the curvature's intervals (the fit's reason says why);
    7. the cluster is concentrated within the footprint: its Plummer scale is at most
       ``dispersion_max_scale`` (0.5) of the largest projected distance fitted, so the footprint
       reaches two scales and holds 80 % of a Plummer cluster's members (R^2 / (R^2 + a^2)), and its
       surface density falls 25-fold from the centre to the edge. Then the distances, not only the
       velocities, tell members from field stars. With a flatter profile a field population at the
       cluster's velocity and some 10-20 km/s wide is taken for members, and the dispersion comes out
       too large. On the first 40 of tests/calibration_checks.py's ``cold_field_mock`` s (a field
       population 8-25 km/s wide within 10 km/s of the cluster's velocity; ``tools/calibrate_sparse.py
       cold 40``, notebooks/results/calibration_cold.txt), 8 fits would cite a dispersion more than
       1.4 times the truth without this rule: 6 of them with a scale of 0.47-1.38 footprints (up to
       2.35 times the truth), 2 with 0.10-0.13 (1.40 and 1.51 times); of the 17 within 1.4 times the
       truth, all but one (0.74) have a scale of at most 0.20 footprints. The rule refuses 5 of the 8
       (the one left, at 0.47, is 1.83 times the truth), and both above twice the truth. Among the
       real clusters whose dispersion was citable, only Lil 1 (0.59) has a scale above half its
       footprint.

    Parameters
    ----------
    reliable : bool
        The fit's verdict (:attr:`ClusterFit.reliable`).
    expected_members : float
        Sum of the membership probabilities.
    dispersion : float
        Fitted intrinsic dispersion [km/s].
    interval95 : (float, float)
        95 % interval (lower, upper) of the dispersion [km/s].
    criteria : ReliabilityCriteria, default=RELIABILITY
        The thresholds.
    calibrated : bool, default=True
        Whether the interval is one whose coverage the calibration mocks check.
    scale_over_footprint : float, default=0.0
        The Plummer scale over the largest projected distance fitted (:attr:`ClusterFit.r_scale` /
        ``R.max()``); the default passes rule 7.

    Returns
    -------
    citable : bool
        True when every condition holds.
    reason : str
        "ok", or the first condition that fails, in words.
    """
    _check_criteria(criteria)
    lo, hi = (float(x) for x in interval95)
    if not reliable:
        return False, "the fit is unreliable"
    if not round(float(expected_members), 1) >= criteria.dispersion_min_members:
        return False, (
            f"only {expected_members:.1f} members (a dispersion needs {criteria.dispersion_min_members:g})"
        )
    if not (np.isfinite(dispersion) and dispersion > 0 and np.isfinite(lo) and np.isfinite(hi) and lo > 0):
        return False, "dispersion unresolved (its 95 % interval reaches 0 or is unknown)"
    if hi > criteria.dispersion_max_ratio * lo:
        return False, (
            f"dispersion poorly constrained (95 % interval {lo:.2f}-{hi:.2f} km/s spans a factor {hi / lo:.1f}, "
            f"more than {criteria.dispersion_max_ratio:g})"
        )
    if hi >= 0.999 * criteria.cluster_sigma_cap:
        return False, f"the dispersion's 95 % interval reaches the width cap ({criteria.cluster_sigma_cap:g} km/s)"
    if not calibrated:
        return False, "the dispersion's interval is the curvature's fall-back, not calibrated for so few members"
    if not scale_over_footprint <= criteria.dispersion_max_scale:
        return False, (
            f"the cluster's Plummer scale is {scale_over_footprint:.2f} of the footprint's radius (more than "
            f"{criteria.dispersion_max_scale:g}): the distances barely tell members from a field population at "
            "the cluster's velocity, which would widen the dispersion"
        )
    return True, "ok"


def _check_criteria(criteria: object) -> None:
    if not isinstance(criteria, ReliabilityCriteria):
        raise TypeError(
            f"criteria = {criteria!r}: pass a ReliabilityCriteria, e.g. ReliabilityCriteria(min_members=15)"
        )


#: A cluster dispersion below this [km/s] is unresolved: 0 within the errors (held fixed at 0).
UNRESOLVED_DISPERSION = 1e-3


@dataclasses.dataclass(frozen=True)
class Collapse:
    """A cluster component that collapsed onto a few stars, and was not rescued by a restart.

    Attributes
    ----------
    members : float
        Its expected number of members.
    dispersion : float
        Its dispersion [km/s] (below a tenth of the members' typical error).
    n_peak : int
        Stars within ``window`` of its velocity.
    window : float
        Half-width of the inner velocity peak [km/s].
    retried : bool
        Whether restarts from the peak's robust width converged without collapsing (but fit worse).
    """

    members: float
    dispersion: float
    n_peak: int
    window: float
    retried: bool


class RivalModel(NamedTuple):
    """The best solution of a model with another number of field Gaussians than the chosen one."""

    n_field: int
    mean: float
    dispersion: float
    members: float
    delta_bic: float  # its BIC minus the chosen model's


@dataclasses.dataclass(frozen=True)
class Evidence:
    """The facts about a chosen model that its verdict judges (a record of fit_cluster's stages).

    Attributes
    ----------
    n_stars : int
        Stars fitted.
    members : float
        Expected number of members (sum of the membership probabilities).
    mean, dispersion : float
        The cluster's mean velocity and dispersion [km/s].
    log_likelihood : float
        ln L of the chosen solution.
    curvature_mean_err : float
        Error of the mean from the curvature [km/s]; NaN when the information matrix is singular.
    flat_2dlnl : float
        ``2 [ln L - ln L_flat]``, the likelihood ratio against a flat membership profile
        (``inf`` when the flat fit failed).
    scale_clip : int or None
        The clip the Plummer scale is not measurably away from (0 lower, 1 upper), or None.
    p0_at_clip : bool
        Whether p0 is not measurably away from its clip.
    solutions : tuple of (float, float)
        (cluster mean [km/s], ln L) of every solution found for the chosen model, the chosen one included.
    collapse : Collapse or None
        The unresolved collapse, if any.
    set_aside : (float, float) or None
        (members, ln L difference) of a collapsed solution set aside for a broader one.
    not_converged : str or None
        Why EM did not converge to the chosen solution (in words), or None when it did.
    curvature_problem : str or None
        Why the information matrix of the free parameters could not be inverted ("not positive
        definite", "not finite"), or None when it was.
    mean_err : float or None
        The final error of the mean (from the interval stage) [km/s]; None before that stage.
    other_models : tuple of RivalModel
        The best solution of every other model tried (another number of field Gaussians), not collapsed.
    """

    n_stars: int
    members: float
    mean: float
    dispersion: float
    log_likelihood: float
    curvature_mean_err: float
    flat_2dlnl: float
    scale_clip: int | None
    p0_at_clip: bool
    solutions: tuple[tuple[float, float], ...]
    collapse: Collapse | None = None
    set_aside: tuple[float, float] | None = None
    not_converged: str | None = None
    curvature_problem: str | None = None
    mean_err: float | None = None
    other_models: tuple[RivalModel, ...] = ()

    @property
    def unresolved(self) -> bool:
        """The dispersion is 0 within the errors."""
        return self.dispersion < UNRESOLVED_DISPERSION

    @property
    def same_mean_tolerance(self) -> float:
        """Two solutions with cluster means closer than this [km/s] are the same cluster (5 km/s or 5 sigma)."""
        err = self.curvature_mean_err
        return max(5.0, 5.0 * (err if np.isfinite(err) else 1.0))

    @property
    def n_reached(self) -> int:
        """Solutions that reached the chosen one: the same cluster velocity, ln L within 0.5."""
        tol = self.same_mean_tolerance
        return sum(self.log_likelihood - ll < 0.5 and abs(mu - self.mean) <= tol for mu, ll in self.solutions)


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What :func:`judge` says: the problems (in the order of :data:`RULES`) with their clauses, notes and flags.

    Attributes
    ----------
    problems : tuple of Problem
        Empty for a reliable fit.
    clauses : tuple of str
        One clause in words per problem.
    notes : tuple of str
        Things worth saying that are not problems (a collapse set aside, an unresolved dispersion).
    flags : tuple of Flag
        Nuisance parameters at their clips.
    flag_clauses : tuple of str
        One clause per flag.
    """

    problems: tuple[Problem, ...]
    clauses: tuple[str, ...]
    notes: tuple[str, ...]
    flags: tuple[Flag, ...]
    flag_clauses: tuple[str, ...]

    @property
    def reliable(self) -> bool:
        """No problem."""
        return not self.problems

    @property
    def reason(self) -> str:
        """Problems, notes and flags in words, joined by "; " ("ok" when there is nothing to say)."""
        return "; ".join((*self.clauses, *self.notes, *self.flag_clauses)) or "ok"


def _not_converged(e: Evidence, c: ReliabilityCriteria) -> str | None:
    if e.not_converged is None:
        return None
    return (
        f"not converged: EM's run to the chosen solution {e.not_converged}, so its numbers are not a maximum of "
        "the likelihood. Fix: refit with more random starts (n_random) or another rng, and compare"
    )


def _collapsed(e: Evidence, c: ReliabilityCriteria) -> str | None:
    if e.collapse is None:
        return None
    k = e.collapse
    return (
        f"collapsed: the cluster component shrank to {k.members:.1f} stars with a dispersion of "
        f"{k.dispersion:.1f} km/s, while {k.n_peak} stars lie within {k.window:.0f} km/s of its velocity, and "
        "restarts from the peak's robust width " + ("fit worse" if k.retried else "collapsed too")
    )


def _degenerate(e: Evidence, c: ReliabilityCriteria) -> str | None:
    if np.isfinite(e.curvature_mean_err):
        return None
    why = f" (its information matrix is {e.curvature_problem})" if e.curvature_problem else ""
    return f"degenerate fit: the likelihood is flat in some direction{why}, so no uncertainties"


def _too_few_members(e: Evidence, c: ReliabilityCriteria) -> str | None:
    # compared as printed (rounded to 0.1); a collapse already says why the members are few
    if e.collapse is not None or round(e.members, 1) >= c.min_members:
        return None
    return f"only {e.members:.1f} likely members (fewer than {c.min_members:g})"


def _at_width_cap(e: Evidence, c: ReliabilityCriteria) -> str | None:
    if e.dispersion < 0.999 * c.limits.cluster_sigma_cap:
        return None
    return (
        f"the 'cluster' component is as wide as allowed ({c.limits.cluster_sigma_cap:g} km/s), hotter "
        "than any globular cluster: probably a field population"
    )


def _not_concentrated(e: Evidence, c: ReliabilityCriteria) -> str | None:
    # a flat profile (scale at its upper clip) or a minority peak: dominance alone is no proof
    flat = e.scale_clip == 1
    if e.flat_2dlnl >= c.concentration_2dlnl or not (e.members < 0.5 * e.n_stars or flat):
        return None
    return (
        "the velocity peak is not concentrated towards the centre and "
        + ("its profile is flat" if flat else "does not dominate the sample")
        + ": it cannot be told apart from a field population"
    )


def _ambiguous(e: Evidence, c: ReliabilityCriteria) -> str | None:
    # a rival velocity in the chosen model, or a much narrower cluster in a model with another field
    tol = e.same_mean_tolerance
    rivals = [(ll, mu) for mu, ll in e.solutions
              if e.log_likelihood - ll < c.ambiguity_dlnl and abs(mu - e.mean) > tol]
    if rivals:
        other = max(rivals, key=lambda r: r[0])[1]
        return f"ambiguous: a cluster at {other:.1f} km/s fits almost as well as one at {e.mean:.1f} km/s"
    narrower = [m for m in e.other_models if m.delta_bic < c.rival_dbic and round(m.members, 1) >= c.min_members
                and m.dispersion * c.rival_dispersion_ratio < e.dispersion]
    if not narrower:
        return None
    m = min(narrower, key=lambda r: r.delta_bic)
    return (
        f"ambiguous: with {m.n_field} field Gaussian{'s' * (m.n_field > 1)} (BIC higher by only "
        f"{m.delta_bic:.1f}) the cluster is {m.dispersion:.1f} km/s wide with {m.members:.1f} members, not "
        f"{e.dispersion:.1f} km/s with {e.members:.1f}: a field population at the cluster's velocity may be "
        "counted as members"
    )


def _mean_uncertain(e: Evidence, c: ReliabilityCriteria) -> str | None:
    # judged on the final error of the mean (profile or curvature), so only after the interval stage
    if e.mean_err is None or not (np.isfinite(e.mean_err) and e.mean_err > c.max_mean_err):
        return None
    return f"mean velocity uncertain by {e.mean_err:.1f} km/s"


#: The verdict's rules, in the order their problems are reported: (problem, rule); a rule returns its
#: clause in words, or None.  Every rule but MEAN_UNCERTAIN can be judged before the interval stage,
#: which computes the profile intervals only for fits that pass them all.
RULES = (
    (Problem.NOT_CONVERGED, _not_converged),      # EM stopped short of a maximum: the numbers are not the fit's
    (Problem.COLLAPSED, _collapsed),              # the cluster shrank onto a few stars (not rescued)
    (Problem.DEGENERATE, _degenerate),            # no curvature errors: the likelihood is flat somewhere
    (Problem.TOO_FEW_MEMBERS, _too_few_members),  # fewer than min_members, unless collapsed
    (Problem.AT_WIDTH_CAP, _at_width_cap),        # as wide as the model allows: a field population
    (Problem.NOT_CONCENTRATED, _not_concentrated),  # not concentrated, and a minority or flat profile
    (Problem.AMBIGUOUS, _ambiguous),              # a rival velocity, or another model (BIC) a >2x narrower cluster
    (Problem.MEAN_UNCERTAIN, _mean_uncertain),    # the final error of the mean is above max_mean_err
)


def judge(evidence: Evidence, criteria: ReliabilityCriteria = RELIABILITY) -> Verdict:
    """The verdict on a fit: a pure function of its evidence and the criteria (no fitting).

    The rules are :data:`RULES`, applied in that order; the fit is reliable when none applies.
    Notes follow the problems: a collapsed solution set aside, and (for a reliable fit) a dispersion
    too small to resolve.  Flags name nuisance parameters at their clips without making the fit
    unreliable.

    Parameters
    ----------
    evidence : Evidence
        The facts, from :func:`~xdtutorial.cluster_fit.fit_cluster`'s stages.
    criteria : ReliabilityCriteria, default=RELIABILITY
        The thresholds (and the model's width cap).

    Returns
    -------
    Verdict
    """
    _check_criteria(criteria)
    found = [(problem, clause) for problem, rule in RULES if (clause := rule(evidence, criteria)) is not None]
    notes = []
    if evidence.set_aside is not None:
        members, dlnl = evidence.set_aside
        notes.append(
            f"a collapsed solution on {members:.1f} stars (ln L higher by {max(dlnl, 0.0):.1f}) "
            "was set aside for the velocity peak's broader solution"
        )
    if evidence.unresolved and not found:
        notes.append("dispersion unresolved (smaller than the measurement errors)")
    flags = []
    if evidence.scale_clip is not None:
        where = "1 arcsec floor" if evidence.scale_clip == 0 else "upper limit"
        flags.append((Flag.SCALE_AT_BOUND, f"Plummer scale at its {where} (not measured)"))
    if evidence.p0_at_clip:
        flags.append((Flag.P0_AT_BOUND, "p0 at its clip (not measured)"))
    return Verdict(
        problems=tuple(p for p, _ in found), clauses=tuple(c for _, c in found), notes=tuple(notes),
        flags=tuple(f for f, _ in flags), flag_clauses=tuple(c for _, c in flags),
    )
