"""Fitting the distance-aware model to one cluster, with a verdict (notebooks 06 and 07).

:func:`fit_cluster` goes from a cluster's name (or file, or stars) to a
:class:`ClusterFit`: the cluster's mean velocity and intrinsic dispersion with
uncertainties, the field model chosen by BIC, every star's membership
probability, and an honest verdict - ``reliable``, machine-readable
:class:`Problem` codes and the reason in words.  The width limits of the model
and the thresholds of the verdict are a :class:`ReliabilityCriteria`, passed
explicitly (``RELIABILITY`` is the default).

Three refinements make the numbers citable (issue #11):

* **Parameters at their clips are not measurements.**  The Plummer scale is
  clipped to [1 arcsec, 1e5 arcsec] and the log-odds at the centre to
  +-20.  A fit that ends at a clip has its maximum on the boundary of the
  allowed region: that nuisance parameter is *not measured* (flag
  ``SCALE_AT_BOUND`` / ``P0_AT_BOUND``; :attr:`ClusterFit.flags`) and the
  curvature errors of the other parameters are computed with it held fixed,
  as for any parameter on a boundary.  This *flags* the fit but does not make
  it unreliable: the cluster's mean and dispersion are still measured, with
  uncertainties conditional on the clipped value.
* **Collapse is not sparseness.**  A cluster component with fewer than
  ``min_members`` stars and a dispersion below a tenth of their typical error
  has collapsed onto a few stars.  It is retried from the inner velocity peak
  with its robust width (at least 2 km/s); the broader solution is adopted
  when its ln L is within ``ambiguity_dlnl``, otherwise the fit is flagged
  ``COLLAPSED`` (not ``TOO_FEW_MEMBERS``).
* **Sparse clusters get intervals beyond the curvature** (:mod:`xdtutorial.intervals`).
  Below ``profile_below_members`` expected members (or with an unresolved
  dispersion) the 68 % and 95 % intervals of the mean and of the dispersion are
  the quantiles of their approximate marginal posteriors (upper limits for an
  unresolved dispersion); both may be asymmetric.  ``mean_err`` and ``dispersion_err`` are then half the 68 % interval.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import pathlib

import numpy as np
from scipy.special import expit

from ._numerics import RNGLike, as_generator
from ._validation import as_float_array, check_int, check_path_or_name, check_positive_int
from .data import BaumgardtTable, load_cluster, load_cluster_file
from .intervals import _marginal_intervals
from .membership import (
    _ALPHA_LIMIT,
    _LOG_A_LIMITS,
    _batched_em,
    _generalised_em,
    _hessian,
    _label_swaps,
    _log_likelihood,
    _memberships,
    _MembershipState,
    _split_broadest,
    _starting_states,
)
from .model import validate_data


class Problem(enum.Enum):
    """Why a :class:`ClusterFit` is unreliable; the value is a short label."""

    TOO_FEW_MEMBERS = "few members"
    COLLAPSED = "collapsed"
    NOT_CONCENTRATED = "not concentrated"
    MEAN_UNCERTAIN = "mean uncertain"
    AMBIGUOUS = "ambiguous"
    DEGENERATE = "degenerate"
    AT_WIDTH_CAP = "at the width cap"
    FIT_FAILED = "failed"
    # flags: reported in ClusterFit.flags, they do not make a fit unreliable
    SCALE_AT_BOUND = "scale at its bound"
    P0_AT_BOUND = "p0 at its bound"


#: Problem codes that flag an unmeasured nuisance parameter without making the fit unreliable.
FLAGS = frozenset({Problem.SCALE_AT_BOUND, Problem.P0_AT_BOUND})


@dataclasses.dataclass(frozen=True)
class ReliabilityCriteria:
    """Width limits of the distance-aware model and thresholds of :func:`fit_cluster`'s verdict.

    Pass a modified copy to :func:`fit_cluster` or :func:`~xdtutorial.survey.survey`,
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
    cluster_sigma_cap : float, default=25.0
        The cluster component may not be wider than this [km/s]: no Milky Way
        globular cluster is hotter (omega Cen's central dispersion is about 17
        km/s), and without the cap a hot field population can take the
        cluster's place.  A dispersion at the cap makes the fit unreliable.
    field_sigma_floor : float, default=2.0
        Field Gaussians may not be narrower than this [km/s]: a field component
        collapsing onto one star is a likelihood spike, not a population.
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
    """

    min_members: float = 6.0
    max_mean_err: float = 3.0
    concentration_2dlnl: float = 6.0
    ambiguity_dlnl: float = 3.0
    cluster_sigma_cap: float = 25.0
    field_sigma_floor: float = 2.0
    profile_below_members: float = 100.0
    dispersion_min_members: float = 15.0
    dispersion_max_ratio: float = 3.0

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
                raise ValueError(
                    f"ReliabilityCriteria.{field.name} = {value!r}: every threshold must be a positive number"
                )
        if self.dispersion_max_ratio <= 1:
            raise ValueError(
                f"ReliabilityCriteria.dispersion_max_ratio = {self.dispersion_max_ratio!r}: the upper end of an "
                "interval is never below its lower end, so the ratio must be larger than 1 (default 3)"
            )


#: The default criteria (the values of the tutorial's text).
RELIABILITY = ReliabilityCriteria()


def dispersion_verdict(
    reliable: bool,
    expected_members: float,
    dispersion: float,
    interval95: tuple[float, float],
    criteria: ReliabilityCriteria = RELIABILITY,
    *,
    calibrated: bool = True,
) -> tuple[bool, str]:
    """Whether a fit's dispersion is a measurement to cite, separately from its mean.

    ``reliable`` judges the whole fit, and a reliable fit's *mean* is citable; its *dispersion*
    needs more, because a width is much harder to pin down than a location. The rule, written
    down once here (thresholds from ``criteria``), is that the dispersion is citable when

    1. the fit is reliable;
    2. it has at least ``dispersion_min_members`` (15) expected members, rounded to 0.1 as printed.
       Below 15 the dispersion's intervals hold the truth at their nominal rates *on average* (on
       the wide mocks of tools/calibrate_sparse.py, in the regime of the real data, the reliable
       fits with 8-14 members cover at 68 % and 95 % within their binomial errors), but the rules
       below would pick out the few whose interval came out narrow, and with a dozen members an
       interval within a factor 3 is mostly luck: the sample's spread fluctuated low (the 95 %
       interval of the width of 10 stars without errors already spans a factor 2.65). Such
       selected intervals are not calibrated: of the 300 wide mocks with 8-14 members in
       ``tools/calibrate_sparse.py wide 900``, 5 fits pass rules 1 and 3-5, and 2 of them miss the truth
       with their 95 % interval (3 with their 68 %; 2 of 5 misses at 95 % has a probability of 0.02).
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
       posterior failed and it fell back to the curvature's intervals (the fit's reason says why).

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
    return True, "ok"


def _check_criteria(criteria: object) -> None:
    if not isinstance(criteria, ReliabilityCriteria):
        raise TypeError(
            f"criteria = {criteria!r}: pass a ReliabilityCriteria, e.g. ReliabilityCriteria(min_members=15)"
        )


@dataclasses.dataclass(frozen=True)
class ClusterFit:
    """Result of :func:`fit_cluster`.

    Attributes
    ----------
    name : str
        Cluster name (or the file's stem).
    n_stars : int
        Stars used.
    mean, mean_err : float
        Cluster mean velocity and its 1-sigma uncertainty [km/s] (half the
        68 % interval when that comes from the marginal posterior).
    dispersion, dispersion_err : float
        Intrinsic velocity dispersion and its 1-sigma uncertainty [km/s] (half the 68 % interval for
        sparse clusters; ``dispersion_err`` is NaN when the dispersion is unresolved, i.e. at 0).
    p_centre : float
        Membership probability at the centre (p0); not measured when
        ``Problem.P0_AT_BOUND`` is in ``flags``.
    r_scale : float
        Plummer scale radius of the membership profile [arcsec]; not measured
        when ``Problem.SCALE_AT_BOUND`` is in ``flags``.
    field : tuple of (mean, sigma, weight)
        The field Gaussians [km/s, km/s, -].
    membership : ndarray, shape (n_stars,)
        Per-star membership probabilities.
    expected_members : float
        Sum of the membership probabilities.
    log_likelihood : float
        Maximum log-likelihood of the chosen model.
    bic : float
        Its Bayesian information criterion, ``-2 ln L + k ln N``.
    model : str
        Plain-language description of the chosen model.
    params : ndarray, shape (6 + 3 * (K_f - 1),)
        Extended parameter vector, for K_f field Gaussians::

            (mean1, sigma1, mean2, sigma2, p0, r_scale, mean3, sigma3, w3, ...)

        mean1, sigma1: the cluster [km/s]; mean2, sigma2: the first field
        Gaussian [km/s]; p0 = ``p_centre``; r_scale [arcsec]; then
        (mean [km/s], sigma [km/s], weight) of each further field Gaussian, the
        first field Gaussian's weight being 1 - w3 - w4 - ...  (The same
        numbers, named, are in ``mean``, ``dispersion``, ``p_centre``,
        ``r_scale`` and ``field``.)  Empty when the fit failed.
    n_starts, n_reached : int
        Starting points tried for the chosen model, and how many reached its
        best solution (the same cluster velocity, ln L within 0.5).
    reliable : bool
        False when the data cannot pin the cluster down: ``problems`` is not empty. A reliable
        fit's *mean* is citable; its dispersion is judged separately (``dispersion_reliable``).
    problems : tuple of Problem
        What is wrong, machine-readable (empty for a reliable fit).
    reason : str
        The same in plain language, one clause per problem joined with "; ",
        followed by notes (a collapse set aside, an unresolved dispersion, the
        flags); "ok" when there is nothing to say.
    flags : tuple of Problem
        Nuisance parameters at their clips (codes in :data:`FLAGS`): reported,
        but they do not make the fit unreliable.
    mean_interval, mean_interval95 : (float, float)
        68 % and 95 % intervals (lower, upper) of the mean velocity [km/s].
    dispersion_interval, dispersion_interval95 : (float, float)
        The same for the dispersion [km/s] (lower end 0 when unresolved).
    interval_method : str
        ``"profile"`` (both from the approximate marginal posteriors built on the profile likelihood in the
        dispersion, see :mod:`xdtutorial.intervals`; possibly asymmetric, and the maximum-likelihood
        estimate may lie outside its 68 % interval),
        ``"curvature"`` (mean +- 1 and 1.96 sigma) or ``"none"``.
    dispersion_reliable : bool
        Whether the dispersion is a measurement to cite, by the rule of :func:`dispersion_verdict`
        (reliable fit, at least 15 members, a resolved dispersion whose 95 % interval spans at most
        a factor 3 and stays below the width cap, from a calibrated interval construction).
    dispersion_reason : str
        "ok", or why the dispersion is not citable.
    """

    name: str
    n_stars: int
    mean: float
    mean_err: float
    dispersion: float
    dispersion_err: float
    p_centre: float
    r_scale: float
    field: tuple[tuple[float, float, float], ...]
    membership: np.ndarray
    expected_members: float
    log_likelihood: float
    bic: float
    model: str
    params: np.ndarray
    n_starts: int
    n_reached: int
    reliable: bool
    problems: tuple[Problem, ...]
    reason: str
    flags: tuple[Problem, ...] = ()
    mean_interval: tuple[float, float] = (np.nan, np.nan)
    mean_interval95: tuple[float, float] = (np.nan, np.nan)
    dispersion_interval: tuple[float, float] = (np.nan, np.nan)
    dispersion_interval95: tuple[float, float] = (np.nan, np.nan)
    interval_method: str = "none"
    dispersion_reliable: bool = False
    dispersion_reason: str = "not assessed"


def fit_cluster(
    cluster: str | os.PathLike[str] | np.recarray,
    *,
    table: BaumgardtTable | None = None,
    max_field: int = 3,
    n_random: int = 6,
    rng: RNGLike = 0,
    criteria: ReliabilityCriteria = RELIABILITY,
) -> ClusterFit:
    """Fit the distance-aware mixture to one cluster, from its name to a verdict.

    The cluster is the component whose membership probability follows a centrally concentrated
    (Plummer-to-uniform) profile in projected distance; the field is a mixture of 1 to ``max_field``
    Gaussians, their number chosen by the Bayesian information criterion (added one at a time while
    the BIC improves). Every model is fitted by generalised EM from several starts: velocity clumps
    among the innermost 20 % of the stars, a split of the previous model's broadest field component,
    ``n_random`` random starts, and, if its profile is flat, the best fit with each field Gaussian in
    the cluster's place. Uncertainties come from the curvature of the log-likelihood, with parameters at their
    clips (and an unresolved dispersion) held fixed; below ``profile_below_members`` expected
    members, the intervals of the mean and the dispersion come from their marginal posteriors.
    A fit that collapsed onto a few stars is retried from the inner velocity peak before it is
    reported as such.

    The fit is flagged unreliable, with a :class:`Problem` code and the reason
    in words, when (thresholds from ``criteria``): the cluster component
    collapsed onto fewer than ``min_members`` stars with a dispersion below a
    tenth of their errors (``COLLAPSED``); otherwise fewer than
    ``min_members`` expected members, rounded to 0.1 as printed (``TOO_FEW_MEMBERS``); a dispersion at the
    cap ``cluster_sigma_cap``, a field population in the cluster's place
    (``AT_WIDTH_CAP``); a mean uncertain by more than ``max_mean_err`` km/s
    (``MEAN_UNCERTAIN``); the "cluster" is not significantly concentrated towards the centre, by a
    likelihood-ratio test against a flat profile, and either not dominant or with its scale at the
    upper limit, a flat profile (``NOT_CONCENTRATED``); another start found a different cluster
    velocity almost as likely (``AMBIGUOUS``); or the likelihood is degenerate
    at the optimum (``DEGENERATE``).  A Plummer scale or p0 that is not
    measurably away from its clip is reported in ``flags``
    (``SCALE_AT_BOUND``, ``P0_AT_BOUND``) without making the fit unreliable.
    The dispersion is judged separately (``dispersion_reliable``, :func:`dispersion_verdict`):
    a reliable fit's mean is citable, its dispersion only with enough members and a tight,
    resolved interval.

    Parameters
    ----------
    cluster : str, pathlib.Path, or numpy.recarray
        Decided by type: a ``str`` is always a cluster name in the compilation
        (never a file, even if one of that name exists); a path-like
        (``pathlib.Path("my_cluster.txt")``) is a per-cluster whitespace file
        (:func:`load_cluster_file`); a record array is stars as returned by
        the loaders.
    table : BaumgardtTable, default=None
        Parsed compilation; by default :func:`load_table`.
    max_field : int, default=3
        Largest number of field Gaussians tried.
    n_random : int, default=6
        Random starts per model, besides the clump and split starts.
    rng : int or numpy.random.Generator, default=0
        Seed or source of the random starts (the result depends on nothing else).
    criteria : ReliabilityCriteria, default=RELIABILITY
        Width limits of the model and thresholds of the verdict.

    Returns
    -------
    ClusterFit

    Raises
    ------
    KeyError
        Unknown cluster name (the message lists the closest names, and says to
        pass ``pathlib.Path`` if a file of that name exists).
    ValueError
        Fewer than 10 stars, negative or non-finite distances, invalid
        velocities, ``max_field < 1`` or ``n_random < 0`` (the message names the value).
    TypeError
        ``cluster`` not a str, path or record array; ``criteria`` not a
        ReliabilityCriteria; ``rng`` not a seed or Generator.
    FloatingPointError
        Every start failed.
    """
    _check_criteria(criteria)
    kind, cluster = check_path_or_name(cluster)
    max_field = check_positive_int("max_field", max_field)
    n_random = check_int("n_random", n_random, minimum=0)
    rng = as_generator(rng)
    if kind == "stars":
        stars, name = cluster, str(cluster.cluster[0]) if len(cluster) else "?"
    elif kind == "path":
        stars = load_cluster_file(cluster)
        name = pathlib.Path(cluster).stem
    else:
        stars, name = load_cluster(cluster, table), str(cluster)
    v, verr = validate_data(stars.velocity, stars.velocity_error)
    R = as_float_array("distance", stars.distance, nonnegative=True)
    if v.size < 10:
        raise ValueError(f"{name}: {v.size} stars; at least 10 are needed to fit this model")
    verr2 = verr**2
    n = v.size
    limits = {"field_sigma_floor": criteria.field_sigma_floor, "cluster_sigma_cap": criteria.cluster_sigma_cap}

    best_by_k: dict[int, tuple[_MembershipState, float, list[tuple[_MembershipState, float]]]] = {}

    def bic(k: int) -> float:
        return -2.0 * best_by_k[k][1] + (3 * k + 3) * np.log(n)

    previous: _MembershipState | None = None
    for n_field in range(1, max_field + 1):
        starts = _starting_states(
            v, verr, R, n_field, rng, n_random=n_random, field_sigma_floor=criteria.field_sigma_floor
        )
        if previous is not None:
            starts.append(_split_broadest(previous))
        # short runs from every start (all at once: _batched_em), then the three best continued to
        # convergence (accelerated by SQUAREM: the same maxima, reached in fewer steps)
        outcomes = [o for o in _batched_em(starts, v, verr2, R, max_iter=100, **limits) if o is not None]
        if not outcomes:
            break
        outcomes.sort(key=lambda o: -o[1])
        for i in range(min(3, len(outcomes))):
            try:
                fit, ll, _, _ = _generalised_em(outcomes[i][0], v, verr2, R, max_iter=3000, accelerate=True, **limits)
            except FloatingPointError:
                continue
            outcomes[i] = (fit, ll)
        outcomes += _label_swaps(max(outcomes, key=lambda o: o[1])[0], v, verr2, R, limits)
        fit, ll = max(outcomes, key=lambda o: o[1])
        best_by_k[n_field] = (fit, ll, outcomes)
        previous = fit
        if n_field > 1 and bic(n_field) > bic(n_field - 1):
            break  # one more field Gaussian did not pay for its parameters; more will not either
    if not best_by_k:
        raise FloatingPointError(f"{name}: every start failed")

    n_field = min(best_by_k, key=bic)
    st, ll, outcomes = best_by_k[n_field]
    problems: dict[Problem, str] = {}
    notes: list[str] = []

    # collapse: a handful of "members" whose velocities agree better than their errors allow
    q = _memberships(st, v, verr2, R)
    if _collapsed(st, q, verr, criteria):
        alt = _retry_collapse(st, v, verr, verr2, R, limits, criteria)
        if alt is not None and alt[1] >= ll - criteria.ambiguity_dlnl:
            notes.append(
                f"a collapsed solution on {q.sum():.1f} stars (ln L higher by {max(ll - alt[1], 0.0):.1f}) "
                "was set aside for the velocity peak's broader solution"
            )
            st, ll = alt
            q = _memberships(st, v, verr2, R)
            outcomes = [*outcomes, alt]
        else:
            _, w = _inner_peak(v, verr, R)
            n_peak = int(np.sum(np.abs(v - st.mu[0]) < w))
            problems[Problem.COLLAPSED] = (
                f"collapsed: the cluster component shrank to {q.sum():.1f} stars with a dispersion of "
                f"{st.sig[0]:.1f} km/s, while {n_peak} stars lie within {w:.0f} km/s of its velocity, and restarts "
                "from the peak's robust width " + ("collapsed too" if alt is None else "fit worse")
            )
    members = float(q.sum())

    # parameters at their clips are not measured: hold them fixed for the curvature
    at_zero = st.sig[0] < 1e-3
    flags: dict[Problem, str] = {}
    edge = _at_clip(st, ll, v, verr2, R, "log_a", _LOG_A_LIMITS)
    if edge is not None:
        flags[Problem.SCALE_AT_BOUND] = (
            f"Plummer scale at its {'1 arcsec floor' if edge == 0 else 'upper limit'} (not measured)"
        )
    if _at_clip(st, ll, v, verr2, R, "alpha", (-_ALPHA_LIMIT, _ALPHA_LIMIT)) is not None:
        flags[Problem.P0_AT_BOUND] = "p0 at its clip (not measured)"
    fixed = tuple(i for i, f in [(1, at_zero), (2, Problem.P0_AT_BOUND in flags),
                                 (3, Problem.SCALE_AT_BOUND in flags)] if f)
    H = _hessian(st, v, verr2, R, fixed=fixed)
    free = [i for i in range(H.shape[0]) if i not in fixed]
    mean_err = disp_err = np.nan
    try:
        cov = np.linalg.inv(-H[np.ix_(free, free)])
        if np.any(np.diag(cov) <= 0) or not np.all(np.isfinite(cov)):
            raise np.linalg.LinAlgError
        mean_err = float(np.sqrt(cov[0, 0]))
        if not at_zero:
            disp_err = float(np.sqrt(cov[1, 1]))
    except np.linalg.LinAlgError:
        problems[Problem.DEGENERATE] = "degenerate fit: the likelihood is flat in some direction, so no uncertainties"

    # is the "cluster" concentrated towards the centre? (likelihood-ratio test vs a flat profile)
    flat = st.copy()
    flat.log_a = _LOG_A_LIMITS[1]
    try:
        _, ll_flat, _, _ = _generalised_em(flat, v, verr2, R, fit_radius=False, max_iter=300, **limits)
    except FloatingPointError:
        ll_flat = -np.inf
    concentrated = 2.0 * (ll - ll_flat) >= criteria.concentration_2dlnl

    # compare what is printed: the expected number of members rounded to 0.1
    if round(members, 1) < criteria.min_members and Problem.COLLAPSED not in problems:
        problems[Problem.TOO_FEW_MEMBERS] = (
            f"only {members:.1f} likely members (fewer than {criteria.min_members:g})"
        )
    if st.sig[0] >= 0.999 * criteria.cluster_sigma_cap:
        problems[Problem.AT_WIDTH_CAP] = (
            f"the 'cluster' component is as wide as allowed ({criteria.cluster_sigma_cap:.0f} km/s), hotter "
            "than any globular cluster: probably a field population"
        )
    if not concentrated and (members < 0.5 * n or edge == 1):  # a flat profile: dominance alone is no proof
        problems[Problem.NOT_CONCENTRATED] = (
            "the velocity peak is not concentrated towards the centre and "
            + ("its profile is flat" if edge == 1 else "does not dominate the sample")
            + ": it cannot be told apart from a field population"
        )
    tol_mean = max(5.0, 5.0 * (mean_err if np.isfinite(mean_err) else 1.0))
    n_reached = sum(ll - o[1] < 0.5 and abs(o[0].mu[0] - st.mu[0]) <= tol_mean for o in outcomes)
    rivals = [
        o for o in outcomes
        if ll - o[1] < criteria.ambiguity_dlnl and abs(o[0].mu[0] - st.mu[0]) > tol_mean
    ]
    if rivals:
        other = max(rivals, key=lambda o: o[1])[0].mu[0]
        problems[Problem.AMBIGUOUS] = (
            f"ambiguous: a cluster at {other:.1f} km/s fits almost as well as one at {st.mu[0]:.1f} km/s"
        )
    # intervals: marginal posteriors for sparse clusters, curvature otherwise
    method, m68, m95, d68, d95 = "none", (np.nan,) * 2, (np.nan,) * 2, (np.nan,) * 2, (np.nan,) * 2
    # (only for fits that pass the other checks: an unreliable fit's intervals are not worth the time)
    if np.isfinite(mean_err) and not problems and (members < criteria.profile_below_members or at_zero):
        # --- sparse-cluster intervals (xdtutorial.intervals; issue 16): the marginal posteriors ---
        try:
            d_step = disp_err if np.isfinite(disp_err) else max(0.5, float(np.median(verr)))
            iv = _marginal_intervals(st, ll, v, verr2, R, d_step, limits, fixed)
            if not (_nested(np.mean(iv.mean68), iv.mean68, iv.mean95)
                    and _nested(np.mean(iv.dispersion68), iv.dispersion68, iv.dispersion95)):
                raise FloatingPointError(f"the posterior's intervals are not nested ({iv})")
            method, (m68, m95, d68, d95) = "profile", iv
            mean_err = 0.5 * (m68[1] - m68[0])
            disp_err = np.nan if at_zero else 0.5 * (d68[1] - d68[0])
        except FloatingPointError as err:  # flagged, not hidden: the fall-back intervals are not calibrated here
            notes.append(f"curvature intervals (not calibrated for {members:.1f} members): {err}")
        # --- end of the sparse-cluster intervals ---
    if method == "none" and np.isfinite(mean_err):
        method = "curvature"
        m68, m95 = _symmetric(st.mu[0], mean_err)
        d68, d95 = _symmetric(st.sig[0], disp_err, floor=0.0)

    if np.isfinite(mean_err) and mean_err > criteria.max_mean_err:
        problems[Problem.MEAN_UNCERTAIN] = f"mean velocity uncertain by {mean_err:.1f} km/s"
    if at_zero and not problems:
        notes.append("dispersion unresolved (smaller than the measurement errors)")
    notes = list(problems.values()) + notes + list(flags.values())
    model = (
        f"cluster (Plummer-profile membership) + {n_field} field Gaussian{'s' if n_field > 1 else ''}, "
        f"errors deconvolved; {n_field} chosen by BIC among 1-{max(best_by_k)} tried"
    )
    field = tuple(
        (float(st.mu[k]), float(st.sig[k]), float(st.fw[k - 1])) for k in range(1, st.mu.size)
    )
    calibrated = method == "profile" or members >= criteria.profile_below_members or bool(problems)  # issue 16
    d_citable, d_reason = dispersion_verdict(
        not problems, members, float(st.sig[0]), d95, criteria, calibrated=calibrated
    )
    return ClusterFit(
        name=name,
        n_stars=int(n),
        mean=float(st.mu[0]),
        mean_err=mean_err,
        dispersion=float(st.sig[0]),
        dispersion_err=disp_err,
        p_centre=float(expit(st.alpha)),
        r_scale=float(np.exp(st.log_a)),
        field=field,
        membership=q,
        expected_members=members,
        log_likelihood=ll,
        bic=bic(n_field),
        model=model,
        params=st.vector(),
        n_starts=len(outcomes),
        n_reached=int(n_reached),
        reliable=not problems,
        problems=tuple(problems),
        reason="; ".join(notes) if notes else "ok",
        flags=tuple(flags),
        mean_interval=m68,
        mean_interval95=m95,
        dispersion_interval=d68,
        dispersion_interval95=d95,
        interval_method=method,
        dispersion_reliable=d_citable,
        dispersion_reason=d_reason,
    )


def _at_clip(
    st: _MembershipState, ll: float, v: np.ndarray, verr2: np.ndarray, R: np.ndarray, name: str,
    limits: tuple[float, float],
) -> int | None:
    """Which clip (0 lower, 1 upper) a spatial parameter is not measurably away from, or None.

    EM approaches a boundary maximum only slowly, so "at the clip" means: moving
    the parameter onto its nearer clip, all else fixed, lowers ln L by less than
    0.5 - the 68 % interval reaches the clip, and the value is a limit, not a
    measurement.  (With the others re-optimised the drop could only be smaller.)
    """
    value = getattr(st, name)
    edge = 0 if value - limits[0] <= limits[1] - value else 1
    moved = st.copy()
    setattr(moved, name, limits[edge])
    return edge if _log_likelihood(moved, v, verr2, R) > ll - 0.5 else None


def _nested(x: float, i68: tuple[float, float], i95: tuple[float, float]) -> bool:
    """Whether the 68 % interval holds ``x`` and lies within the 95 % one (a sane profile result)."""
    return bool(np.all(np.isfinite([*i68, *i95])) and i95[0] <= i68[0] <= x <= i68[1] <= i95[1])


def _symmetric(x: float, err: float, floor: float = -np.inf) -> tuple[tuple[float, float], tuple[float, float]]:
    """Curvature intervals x +- err and x +- 1.96 err, lower ends not below ``floor``."""
    if not np.isfinite(err):
        return (np.nan, np.nan), (np.nan, np.nan)
    return (max(x - err, floor), x + err), (max(x - 1.96 * err, floor), x + 1.96 * err)


def _inner_peak(v: np.ndarray, verr: np.ndarray, R: np.ndarray) -> tuple[np.ndarray, float]:
    """The innermost 20 % of the stars (at least 10) and the half-width of a velocity window [km/s]."""
    inner = np.argsort(R, kind="stable")[: max(10, int(0.2 * v.size))]
    return inner, max(2.5 * float(np.median(verr[inner])), 5.0)


def _collapsed(st: _MembershipState, q: np.ndarray, verr: np.ndarray, criteria: ReliabilityCriteria) -> bool:
    """Fewer members than required, with a dispersion below a tenth of their typical error.

    Errors are deconvolved, so sigma_c = 0 is a finite likelihood maximum: a
    few stars that happen to agree better than their errors say.  With many
    members that is an unresolved dispersion; with a handful it is a collapse.
    """
    typical = float(np.sqrt(np.dot(q, verr**2) / max(q.sum(), 1e-12)))
    return round(float(q.sum()), 1) < criteria.min_members and st.sig[0] < 0.1 * typical


def _retry_collapse(
    st: _MembershipState, v: np.ndarray, verr: np.ndarray, verr2: np.ndarray, R: np.ndarray,
    limits: dict[str, float], criteria: ReliabilityCriteria,
) -> tuple[_MembershipState, float] | None:
    """Restart from the inner velocity peak with its robust width; the best solution that does not collapse."""
    inner, w = _inner_peak(v, verr, R)
    sel = inner[np.abs(v[inner] - st.mu[0]) < w]
    if sel.size < 3:
        return None
    centre = float(np.median(v[sel]))
    mad = 1.4826 * float(np.median(np.abs(v[sel] - centre)))
    width = float(np.sqrt(max(mad**2 - np.median(verr[sel]) ** 2, 4.0)))  # at least 2 km/s at the start
    best = None
    for quantile in (0.1, 0.5, 0.9):
        start = st.copy()
        start.mu[0], start.sig[0], start.alpha = centre, width, 0.0
        start.log_a = float(np.clip(np.log(max(np.quantile(R, quantile), 1.0)), *_LOG_A_LIMITS))
        try:  # a short run first: a start that heads for the collapse again is dropped early
            fit, ll, _, _ = _generalised_em(start, v, verr2, R, max_iter=200, **limits)
            q = _memberships(fit, v, verr2, R)
            if _collapsed(fit, q, verr, criteria):
                continue
            fit, ll, _, _ = _generalised_em(fit, v, verr2, R, max_iter=3000, accelerate=True, **limits)
        except FloatingPointError:
            continue
        q = _memberships(fit, v, verr2, R)
        if _collapsed(fit, q, verr, criteria):
            continue
        if best is None or ll > best[1]:
            best = (fit, ll)
    return best
