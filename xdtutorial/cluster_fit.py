"""Fitting the distance-aware model to one cluster, with a verdict (notebooks 06 and 07).

:func:`fit_cluster` goes from a cluster's name (or file, or stars) to a
:class:`ClusterFit`: the cluster's mean velocity and intrinsic dispersion with
uncertainties, the field model chosen by BIC, every star's membership
probability, and an honest verdict - ``reliable``, machine-readable
:class:`~xdtutorial.verdict.Problem` codes and the reason in words.  The model's
limits and the verdict's thresholds are a
:class:`~xdtutorial.verdict.ReliabilityCriteria`, passed explicitly (``RELIABILITY``
is the default).

It is a pipeline of named stages, each taking and returning small frozen records::

    sample    = _read_sample(cluster, table)                   -> Sample
    models    = _fit_models(sample, ...)                       -> ModelTried, one per number of field Gaussians
    chosen    = _choose_model(sample, models, criteria)        -> ChosenModel (BIC; a collapse retried)
    curvature = _curvature(sample, chosen)                     -> Curvature (clips held fixed)
    evidence  = _gather_evidence(sample, models, chosen, ...)  -> verdict.Evidence
    intervals = _intervals(sample, chosen, curvature, ...)     -> Intervals (posterior only if worth it)
    verdict   = judge(evidence with the intervals' mean error) -> verdict.Verdict

The verdict is a pure function of the evidence and the criteria (:func:`~xdtutorial.verdict.judge`,
its rules and their order in :data:`~xdtutorial.verdict.RULES`).

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
  unresolved dispersion); both may be asymmetric.  ``mean`` and ``dispersion`` are then the posterior
  medians (the maximum-likelihood values are ``ml_mean`` and ``ml_dispersion``), and ``mean_err`` and
  ``dispersion_err`` half the 68 % intervals.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import warnings
from typing import NamedTuple

import numpy as np
from scipy.special import expit

from ._numerics import RNGLike, as_generator, invert_information, read_only, same_value
from ._validation import (
    check_distances,
    check_int,
    check_path_or_name,
    check_positive_int,
    check_speeds,
)
from .data import MAX_DISTANCE_ARCSEC, BaumgardtTable, load_cluster, load_cluster_file
from .errors import EMConvergenceWarning, EMFailure
from .intervals import _marginal_intervals
from .membership import (
    _ALPHA_LIMIT,
    _LOG_A_LIMITS,
    _batched_em,
    _generalised_em,
    _hessian,
    _log_likelihood,
    _memberships,
    _MembershipState,
    _split_broadest,
    _starting_states,
)
from .model import validate_data
from .verdict import (  # noqa: F401  (re-exported: the verdict's names were defined here before)
    FLAGS,
    MODEL_LIMITS,
    RELIABILITY,
    UNRESOLVED_DISPERSION,
    Collapse,
    Evidence,
    Flag,
    ModelLimits,
    Problem,
    ReliabilityCriteria,
    RivalModel,
    Verdict,
    _check_criteria,
    dispersion_verdict,
    judge,
)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class ClusterFit:
    """Result of :func:`fit_cluster`.

    Attributes
    ----------
    name : str
        Cluster name (or the file's stem).
    n_stars : int
        Stars used.
    mean, mean_err : float
        Cluster mean velocity and its 1-sigma uncertainty [km/s]. The point estimate goes with the
        intervals: when they are the marginal posteriors (``interval_method`` ``"posterior"``, sparse
        clusters), ``mean`` is the posterior median and ``mean_err`` half the 68 % interval (which may be
        asymmetric about the median: quote the interval); otherwise the maximum-likelihood value and its
        curvature error. Why not the maximum likelihood for sparse clusters: a handful of members can
        agree better than their errors say, and then the likelihood peaks at a dispersion near 0, where
        the mean is pinned by the most precise star; the posterior integrates over the widths the data
        allow and its median does not sit on that spike (on the wide mocks, 45 of 639 reliable fits had
        such a cold maximum for true dispersions of 1-7.6 km/s).
    dispersion, dispersion_err : float
        Intrinsic velocity dispersion and its 1-sigma uncertainty [km/s], by the same convention: the
        posterior median and half the 68 % interval for sparse clusters; ``dispersion_err`` is NaN and
        ``dispersion`` the maximum-likelihood 0 when the dispersion is unresolved (its intervals are then
        upper limits).
    ml_mean, ml_dispersion : float
        The maximum-likelihood mean and dispersion [km/s] (the same as ``mean`` and ``dispersion`` unless
        the intervals are the marginal posteriors). ``params``, ``membership``, ``expected_members`` and
        the verdict are those of the maximum-likelihood fit.
    mean_posterior : ndarray, shape (n, 3)
        The mean's approximate marginal posterior as a Gaussian mixture, one row (weight, centre [km/s],
        sd [km/s]) per grid point of the dispersion (:func:`~xdtutorial.intervals._marginal_intervals`;
        weights sum to 1); empty (shape (0, 3)) unless the intervals are the marginal posteriors.
    p_centre : float
        Membership probability at the centre (p0); not measured when
        ``Flag.P0_AT_BOUND`` is in ``flags``.
    r_scale : float
        Plummer scale radius of the membership profile [arcsec]; not measured
        when ``Flag.SCALE_AT_BOUND`` is in ``flags``.
    field : tuple of (mean, sigma, weight)
        The field Gaussians [km/s, km/s, -].
    membership : ndarray, shape (n_stars,)
        Per-star membership probabilities (read-only).
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
    flags : tuple of Flag
        Nuisance parameters at their clips: reported,
        but they do not make the fit unreliable.
    mean_interval, mean_interval95 : (float, float)
        68 % and 95 % intervals (lower, upper) of the mean velocity [km/s].
    dispersion_interval, dispersion_interval95 : (float, float)
        The same for the dispersion [km/s] (lower end 0 when unresolved).
    interval_method : str
        ``"posterior"`` (both from the approximate marginal posteriors built on the profile likelihood in the
        dispersion, see :mod:`xdtutorial.intervals`; possibly asymmetric; ``mean`` and ``dispersion`` are
        then the posterior medians, and ``ml_mean``, ``ml_dispersion`` may lie outside the intervals),
        ``"curvature"`` (mean +- 1 and 1.96 sigma) or ``"none"``.
    dispersion_reliable : bool
        Whether the dispersion is a measurement to cite, by the rule of :func:`dispersion_verdict`
        (reliable fit, at least 15 members, a resolved dispersion whose 95 % interval spans at most
        a factor 3 and stays below the width cap, from a calibrated interval construction).
    dispersion_reason : str
        "ok", or why the dispersion is not citable.

    Two results are equal (``==``) when every field is, arrays element by element and NaN equal to
    NaN; ``repr`` is one short line; the arrays are read-only copies.
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
    flags: tuple[Flag, ...] = ()
    mean_interval: tuple[float, float] = (np.nan, np.nan)
    mean_interval95: tuple[float, float] = (np.nan, np.nan)
    dispersion_interval: tuple[float, float] = (np.nan, np.nan)
    dispersion_interval95: tuple[float, float] = (np.nan, np.nan)
    interval_method: str = "none"
    dispersion_reliable: bool = False
    dispersion_reason: str = "not assessed"
    ml_mean: float = np.nan
    ml_dispersion: float = np.nan
    mean_posterior: np.ndarray = dataclasses.field(default_factory=lambda: np.empty((0, 3)))

    def __post_init__(self) -> None:
        for name in ("membership", "params", "mean_posterior"):
            object.__setattr__(self, name, read_only(getattr(self, name)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ClusterFit):
            return NotImplemented
        return all(same_value(getattr(self, f.name), getattr(other, f.name)) for f in dataclasses.fields(self))

    __hash__ = None  # type: ignore[assignment]  # equal results may hold different arrays

    def __repr__(self) -> str:
        problems = ", ".join(p.name for p in self.problems) or "none"
        return (
            f"ClusterFit(name={self.name!r}, n_stars={self.n_stars}, mean={self.mean:.2f}, "
            f"dispersion={self.dispersion:.2f}, expected_members={self.expected_members:.1f}, "
            f"reliable={self.reliable}, problems: {problems})"
        )

    @classmethod
    def failed(cls, name: str, n_stars: int, reason: str) -> ClusterFit:
        """The record of a fit that failed outright: NaN values, ``Problem.FIT_FAILED`` and the reason."""
        nan = float("nan")
        return cls(
            name=name, n_stars=n_stars, mean=nan, mean_err=nan, dispersion=nan, dispersion_err=nan,
            p_centre=nan, r_scale=nan, field=(), membership=np.full(n_stars, nan), expected_members=nan,
            log_likelihood=nan, bic=nan, model="none", params=np.empty(0), n_starts=0, n_reached=0,
            reliable=False, problems=(Problem.FIT_FAILED,), reason=reason, dispersion_reason="the fit failed",
        )


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

    The verdict (``reliable``, :class:`Problem` codes and the reason in words) is
    :func:`~xdtutorial.verdict.judge` on the fit's evidence: its rules, in order, are
    :data:`~xdtutorial.verdict.RULES` (not converged, collapsed, degenerate, too few members, at the width
    cap, not concentrated, ambiguous, mean uncertain), with the thresholds of ``criteria``.  One start
    whose EM run ends short of a maximum is just one start: only when the *chosen* solution did not
    converge is the fit unreliable (``Problem.NOT_CONVERGED``), with one
    :class:`~xdtutorial.errors.EMConvergenceWarning` naming the cluster.  A Plummer scale
    or p0 that is not measurably away from its clip is reported in ``flags`` (:class:`Flag`)
    without making the fit unreliable.
    The dispersion is judged separately (``dispersion_reliable``, :func:`dispersion_verdict`):
    a reliable fit's mean is citable, its dispersion only with enough members, a tight,
    resolved interval and a cluster concentrated within the footprint.

    A field population at the cluster's velocity can be fitted as members (issue 16, wide mock 587):
    BIC charges its own field Gaussian ``1.5 ln N`` and may prefer one "cluster" as wide as both. So the
    best solution of every other model tried is evidence too: one whose cluster is more than
    ``rival_dispersion_ratio`` (2) times narrower, with a BIC less than ``rival_dbic`` (10) above the
    chosen model's, makes the fit ``AMBIGUOUS``.

    Parameters
    ----------
    cluster : str, pathlib.Path, or numpy.recarray
        Decided by type: a ``str`` is always a cluster name in the compilation, spaces
        and case ignored (the result carries the compilation's spelling: ``"ngc288"``
        gives ``"NGC 288"``; never a file, even if one of that name exists); a path-like
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
        Thresholds of the verdict, and the model's limits (``criteria.limits``, a :class:`ModelLimits`).

    Returns
    -------
    ClusterFit

    Raises
    ------
    KeyError
        Unknown cluster name (the message lists the closest names, and says to
        pass ``pathlib.Path`` if a file of that name exists).
    ValueError
        Fewer than 10 stars, negative or non-finite distances, distances beyond
        ``MAX_DISTANCE_ARCSEC`` (18,000 arcsec: another unit?), invalid
        velocities, ``max_field < 1`` or ``n_random < 0`` (the message names the value).
    TypeError
        ``cluster`` not a str, path or record array; ``criteria`` not a
        ReliabilityCriteria; ``rng`` not a seed or Generator.
    EMFailure
        Every start failed (a ``FloatingPointError``).

    Warns
    -----
    EMConvergenceWarning
        The chosen solution did not converge (then ``Problem.NOT_CONVERGED`` is among the problems).
    """
    _check_criteria(criteria)
    max_field = check_positive_int("max_field", max_field)
    n_random = check_int("n_random", n_random, minimum=0)
    rng = as_generator(rng)
    sample = _read_sample(cluster, table)
    models = _fit_models(sample, max_field, n_random, rng, criteria.limits)
    chosen = _choose_model(sample, models, criteria)
    if chosen.not_converged is not None:  # one start failing is not the fit failing; the chosen one is
        warnings.warn(
            f"fit_cluster({sample.name!r}): EM's run to the chosen solution {chosen.not_converged}; the fit is "
            "reported unreliable (Problem.NOT_CONVERGED). Fix: refit with more random starts (n_random) or "
            "another rng",
            EMConvergenceWarning, stacklevel=2,
        )
    curvature = _curvature(sample, chosen)
    evidence = _gather_evidence(sample, models, chosen, curvature, criteria)
    # the posterior intervals cost many fits: computed only for a fit that passes every other rule
    worth_profiling = judge(evidence, criteria).reliable and (
        chosen.members < criteria.profile_below_members or curvature.unresolved
    )
    intervals = _intervals(sample, chosen, curvature, criteria.limits, posterior=worth_profiling)
    verdict = judge(dataclasses.replace(evidence, mean_err=intervals.mean_err), criteria)
    return _result(sample, models, chosen, evidence, intervals, verdict, criteria)


# ----------------------------------------------------------------------------- the stages' records


@dataclasses.dataclass(frozen=True, eq=False)
class Sample:
    """The stars fitted: name, velocities and errors [km/s], projected distances [arcsec] (read-only arrays)."""

    name: str
    v: np.ndarray
    verr: np.ndarray
    R: np.ndarray

    @property
    def n(self) -> int:
        return int(self.v.size)

    @property
    def verr_var(self) -> np.ndarray:
        """The squared errors [km^2/s^2]."""
        return self.verr**2


class Solution(NamedTuple):
    """Where one EM run ended: the state, its ln L, and why it did not converge (None when it did)."""

    state: _MembershipState
    log_likelihood: float
    not_converged: str | None


#: Why a short exploratory run (of :func:`_batched_em`) counts as not converged.
_SHORT_RUN = "was a short exploratory run (at most 100 steps), not continued to convergence"


@dataclasses.dataclass(frozen=True, eq=False)
class ModelTried:
    """The best solution with ``n_field`` field Gaussians, and every solution found on the way."""

    n_field: int
    best: Solution
    solutions: tuple[Solution, ...]
    bic: float

    @property
    def state(self) -> _MembershipState:
        return self.best.state


@dataclasses.dataclass(frozen=True, eq=False)
class ChosenModel:
    """The model BIC chose, its solution (after a collapse retry), its memberships, and what the retry found."""

    model: ModelTried
    best: Solution
    solutions: tuple[Solution, ...]
    membership: np.ndarray
    collapse: Collapse | None
    set_aside: tuple[float, float] | None

    @property
    def state(self) -> _MembershipState:
        return self.best.state

    @property
    def log_likelihood(self) -> float:
        return self.best.log_likelihood

    @property
    def not_converged(self) -> str | None:
        """Why EM did not converge to the chosen solution, or None."""
        return self.best.not_converged

    @property
    def members(self) -> float:
        return float(self.membership.sum())


@dataclasses.dataclass(frozen=True)
class Curvature:
    """Curvature errors [km/s] with the parameters at their clips held fixed (indices in ``fixed``).

    ``problem`` says why the information matrix could not be inverted (the errors are then NaN).
    """

    fixed: tuple[int, ...]
    mean_err: float
    dispersion_err: float
    scale_clip: int | None
    p0_at_clip: bool
    unresolved: bool
    problem: str | None = None


@dataclasses.dataclass(frozen=True)
class Intervals:
    """68 % and 95 % intervals of the mean and the dispersion [km/s], the method, the 1-sigma errors, and the
    point estimates that go with the intervals [km/s]: the posterior medians (the maximum-likelihood
    dispersion when it is unresolved) for the marginal posteriors, the maximum-likelihood values otherwise."""

    method: str
    mean68: tuple[float, float]
    mean95: tuple[float, float]
    dispersion68: tuple[float, float]
    dispersion95: tuple[float, float]
    mean_err: float
    dispersion_err: float
    note: str = ""  # why the marginal posterior fell back to the curvature, if it did
    mean: float = np.nan
    dispersion: float = np.nan
    mean_posterior: np.ndarray = dataclasses.field(default_factory=lambda: np.empty((0, 3)), compare=False)


# ----------------------------------------------------------------------------- the stages


def _read_sample(cluster: object, table: BaumgardtTable | None) -> Sample:
    """The stars of a name (canonical spelling of the compilation), a file (its stem) or a record array."""
    kind, cluster = check_path_or_name(cluster)
    if kind == "stars":
        stars = cluster
        name = str(cluster.cluster[0]) if len(cluster) else "?"
    elif kind == "path":
        stars, name = load_cluster_file(cluster), pathlib.Path(cluster).stem
    else:
        stars = load_cluster(cluster, table)
        name = str(stars.cluster[0])  # "ngc288" is "NGC 288"
    v, verr = validate_data(stars.velocity, stars.velocity_error)
    check_speeds("velocity", v)  # names and files too (record arrays were checked by check_path_or_name)
    check_speeds("velocity_error", verr)
    R = check_distances("distance", stars.distance)
    if v.size < 10:
        raise ValueError(f"{name}: {v.size} stars; at least 10 are needed to fit this model")
    far = int(np.argmax(R))
    if R[far] > MAX_DISTANCE_ARCSEC:
        raise ValueError(
            f"{name}: distance must be at most {MAX_DISTANCE_ARCSEC:g} arcsec ({MAX_DISTANCE_ARCSEC / 3600:g} deg, "
            f"farther than any star of a cluster's field); got {R[far]:.6g} arcsec for star {far}. Fix: pass "
            "projected distances from the centre in arcsec; values this large suggest another unit (milliarcsec "
            "are 1000 times larger) or a scaled column"
        )
    return Sample(name, read_only(v), read_only(verr), read_only(R))


def _fit_models(
    sample: Sample, max_field: int, n_random: int, rng: np.random.Generator, limits: ModelLimits
) -> tuple[ModelTried, ...]:
    """One model per number of field Gaussians, added while BIC improves; each fitted from many starts.

    Short runs from every start (all at once: ``_batched_em``), then the three best continued to
    convergence (accelerated by SQUAREM: the same maxima, reached in fewer steps), then, if the
    best profile is flat, the best fit with each field Gaussian in the cluster's place.
    """
    v, verr, R, kwargs = sample.v, sample.verr, sample.R, limits.as_kwargs()
    models: list[ModelTried] = []
    for n_field in range(1, max_field + 1):
        starts = _starting_states(v, verr, R, n_field, rng, n_random=n_random,
                                  field_sigma_floor=limits.field_sigma_floor)
        if models:
            starts.append(_split_broadest(models[-1].state))
        outcomes = [Solution(*o, _SHORT_RUN)
                    for o in _batched_em(starts, v, sample.verr_var, R, max_iter=100, **kwargs) if o is not None]
        if not outcomes:
            break
        outcomes.sort(key=lambda o: -o.log_likelihood)
        for i in range(min(3, len(outcomes))):
            try:
                outcomes[i] = _run_em(outcomes[i].state, sample, kwargs, max_iter=3000, accelerate=True)
            except FloatingPointError:
                continue
        outcomes += _label_swaps(_best(outcomes).state, sample, kwargs)
        best = _best(outcomes)
        bic = -2.0 * best.log_likelihood + (3 * n_field + 3) * np.log(sample.n)
        models.append(ModelTried(n_field, best, tuple(outcomes), bic))
        if len(models) > 1 and models[-1].bic > models[-2].bic:
            break  # one more field Gaussian did not pay for its parameters; more will not either
    if not models:
        raise EMFailure(f"{sample.name}: every start failed")
    return tuple(models)


def _choose_model(sample: Sample, models: tuple[ModelTried, ...], criteria: ReliabilityCriteria) -> ChosenModel:
    """The model of lowest BIC; a cluster collapsed onto a few stars is retried from the inner velocity peak.

    The retry's broader solution is adopted when its ln L is within ``ambiguity_dlnl`` of the collapsed
    one (which is then a note); otherwise the collapse stays, as evidence for the verdict.
    """
    model = min(models, key=lambda m: m.bic)
    v, verr, verr_var, R = sample.v, sample.verr, sample.verr_var, sample.R
    st, ll, solutions = model.state, model.best.log_likelihood, model.solutions
    q = _memberships(st, v, verr_var, R)
    if not _is_collapsed(st, q, verr, criteria):
        return ChosenModel(model, model.best, solutions, q, None, None)
    alt = _retry_collapse(st, sample, criteria)
    if alt is not None and alt.log_likelihood >= ll - criteria.ambiguity_dlnl:
        set_aside = (float(q.sum()), ll - alt.log_likelihood)
        return ChosenModel(model, alt, (*solutions, alt), _memberships(alt.state, v, verr_var, R), None, set_aside)
    _, window = _inner_peak(v, verr, R)
    n_peak = int(np.sum(np.abs(v - st.mu[0]) < window))
    collapse = Collapse(float(q.sum()), float(st.sig[0]), n_peak, window, retried=alt is not None)
    return ChosenModel(model, model.best, solutions, q, collapse, None)


def _curvature(sample: Sample, chosen: ChosenModel) -> Curvature:
    """Curvature errors of the mean and the dispersion, with clipped parameters and a zero dispersion held fixed.

    NaN errors when the information matrix of the free parameters is not positive definite (or not finite):
    :func:`~xdtutorial._numerics.invert_information` says which, in ``problem``, and the verdict names it.
    """
    st, ll, v, verr_var, R = chosen.state, chosen.log_likelihood, sample.v, sample.verr_var, sample.R
    unresolved = bool(st.sig[0] < UNRESOLVED_DISPERSION)
    scale_clip = _at_clip(st, ll, v, verr_var, R, "log_a", _LOG_A_LIMITS)
    p0_at_clip = _at_clip(st, ll, v, verr_var, R, "alpha", (-_ALPHA_LIMIT, _ALPHA_LIMIT)) is not None
    # indices in the unconstrained vector (mu_c, sigma_c, alpha, ln a, ...) held fixed
    fixed = tuple(i for i, held in [(1, unresolved), (2, p0_at_clip), (3, scale_clip is not None)] if held)
    H = _hessian(st, v, verr_var, R, fixed=fixed)
    free = [i for i in range(H.shape[0]) if i not in fixed]
    cov, problem = invert_information(-H[np.ix_(free, free)])
    mean_err = disp_err = np.nan
    if cov is not None:
        mean_err = float(np.sqrt(cov[0, 0]))
        disp_err = np.nan if unresolved else float(np.sqrt(cov[1, 1]))
    return Curvature(fixed, mean_err, disp_err, scale_clip, p0_at_clip, unresolved, problem)


def _gather_evidence(
    sample: Sample, models: tuple[ModelTried, ...], chosen: ChosenModel, curvature: Curvature,
    criteria: ReliabilityCriteria,
) -> Evidence:
    """The facts the verdict judges; the one fit here is the likelihood-ratio test against a flat profile."""
    st, ll, limits = chosen.state, chosen.log_likelihood, criteria.limits
    others = []
    for m in models:
        q = _memberships(m.state, sample.v, sample.verr_var, sample.R)
        if m is not chosen.model and not _is_collapsed(m.state, q, sample.verr, criteria):
            others.append(RivalModel(m.n_field, float(m.state.mu[0]), float(m.state.sig[0]), float(q.sum()),
                                     float(m.bic - chosen.model.bic)))
    flat = st.copy()
    flat.log_a = _LOG_A_LIMITS[1]
    try:
        ll_flat = _run_em(flat, sample, limits.as_kwargs(), fit_radius=False, max_iter=300).log_likelihood
    except FloatingPointError:
        ll_flat = -np.inf
    return Evidence(
        n_stars=sample.n, members=chosen.members, mean=float(st.mu[0]), dispersion=float(st.sig[0]),
        log_likelihood=ll, curvature_mean_err=curvature.mean_err, flat_2dlnl=2.0 * (ll - ll_flat),
        scale_clip=curvature.scale_clip, p0_at_clip=curvature.p0_at_clip,
        solutions=tuple((float(s.state.mu[0]), float(s.log_likelihood)) for s in chosen.solutions),
        collapse=chosen.collapse, set_aside=chosen.set_aside, not_converged=chosen.not_converged,
        curvature_problem=curvature.problem, other_models=tuple(others),
    )


def _intervals(
    sample: Sample, chosen: ChosenModel, curvature: Curvature, limits: ModelLimits, *, posterior: bool
) -> Intervals:
    """The marginal posteriors' intervals of the mean and the dispersion if ``posterior``, else the curvature's.

    A posterior that fails (:func:`~xdtutorial.intervals._marginal_intervals` raises, e.g. when no point has
    a usable Hessian for its Laplace correction) or whose intervals are not finite and nested falls back to
    the curvature, and says so in ``note`` (the fit's reason; such an interval is not calibrated for so few
    members, and the dispersion is not cited); without curvature errors (a degenerate fit) there are no
    intervals.

    The point estimates go with the intervals: with the marginal posteriors, their medians (an unresolved
    dispersion stays at its maximum-likelihood 0, with upper limits), and ``mean_err``, ``dispersion_err``
    half the 68 % intervals; with the curvature, the maximum-likelihood values and their curvature errors.
    """
    st, ll, v, verr_var, R = chosen.state, chosen.log_likelihood, sample.v, sample.verr_var, sample.R
    mu, sig, mean_err, disp_err = float(st.mu[0]), float(st.sig[0]), curvature.mean_err, curvature.dispersion_err
    note = ""
    if posterior:
        try:
            d_step = disp_err if np.isfinite(disp_err) else max(0.5, float(np.median(sample.verr)))
            iv = _marginal_intervals(st, ll, v, verr_var, R, d_step, limits.as_kwargs(), curvature.fixed)
            if not _sane(*iv[:4]) or not np.isfinite(iv.mean_median + iv.dispersion_median):
                raise FloatingPointError(f"the posterior's intervals are not nested ({iv[:6]})")
            return Intervals("posterior", *iv[:4], 0.5 * (iv.mean68[1] - iv.mean68[0]),
                             np.nan if curvature.unresolved else 0.5 * (iv.dispersion68[1] - iv.dispersion68[0]),
                             mean=iv.mean_median, dispersion=sig if curvature.unresolved else iv.dispersion_median,
                             mean_posterior=iv.mean_posterior)
        except FloatingPointError as err:  # flagged, not hidden (issues 16 and 17)
            note = f"curvature intervals (not calibrated for {chosen.members:.1f} members): {err}"
    if not np.isfinite(mean_err):
        return Intervals("none", *[(np.nan, np.nan)] * 4, mean_err, disp_err, note, mu, sig)
    return Intervals(
        "curvature", *_symmetric(mu, mean_err), *_symmetric(sig, disp_err, floor=0.0), mean_err, disp_err, note,
        mu, sig,
    )


def _result(
    sample: Sample, models: tuple[ModelTried, ...], chosen: ChosenModel, evidence: Evidence, intervals: Intervals,
    verdict: Verdict, criteria: ReliabilityCriteria,
) -> ClusterFit:
    """The :class:`ClusterFit` record, with the dispersion's own verdict."""
    st, n_field = chosen.state, chosen.model.n_field
    model = (
        f"cluster (Plummer-profile membership) + {n_field} field Gaussian{'s' if n_field > 1 else ''}, "
        f"errors deconvolved; {n_field} chosen by BIC among 1-{models[-1].n_field} tried"
    )
    citable, why = dispersion_verdict(verdict.reliable, chosen.members, float(st.sig[0]), intervals.dispersion95,
                                      criteria=criteria, calibrated=not intervals.note,
                                      scale_over_footprint=float(np.exp(st.log_a)) / float(sample.R.max()))
    reason = verdict.reason if not intervals.note else (
        intervals.note if verdict.reason == "ok" else f"{verdict.reason}; {intervals.note}"
    )
    return ClusterFit(
        name=sample.name,
        n_stars=sample.n,
        mean=intervals.mean,
        mean_err=intervals.mean_err,
        dispersion=intervals.dispersion,
        dispersion_err=intervals.dispersion_err,
        p_centre=float(expit(st.alpha)),
        r_scale=float(np.exp(st.log_a)),
        field=tuple((float(st.mu[k]), float(st.sig[k]), float(st.fw[k - 1])) for k in range(1, st.mu.size)),
        membership=chosen.membership,
        expected_members=chosen.members,
        log_likelihood=chosen.log_likelihood,
        bic=chosen.model.bic,
        model=model,
        params=st.vector(),
        n_starts=len(chosen.solutions),
        n_reached=evidence.n_reached,
        reliable=verdict.reliable,
        problems=verdict.problems,
        reason=reason,
        flags=verdict.flags,
        mean_interval=intervals.mean68,
        mean_interval95=intervals.mean95,
        dispersion_interval=intervals.dispersion68,
        dispersion_interval95=intervals.dispersion95,
        interval_method=intervals.method,
        dispersion_reliable=citable,
        dispersion_reason=why,
        ml_mean=float(st.mu[0]),
        ml_dispersion=float(st.sig[0]),
        mean_posterior=intervals.mean_posterior,
    )


# ----------------------------------------------------------------------------- small pieces of the stages


def _at_clip(
    st: _MembershipState, ll: float, v: np.ndarray, verr_var: np.ndarray, R: np.ndarray, name: str,
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
    return edge if _log_likelihood(moved, v, verr_var, R) > ll - 0.5 else None


def _sane(m68: tuple[float, float], m95: tuple[float, float], d68: tuple[float, float],
          d95: tuple[float, float]) -> bool:
    """Whether posterior intervals are usable: finite, each 68 % interval inside its 95 % one.  (The
    maximum-likelihood values need not lie inside: a cold best fit sits below its dispersion's posterior
    intervals, and then its mean may sit at one edge of the mean's.)"""
    def inside(inner: tuple[float, float], outer: tuple[float, float]) -> bool:
        return outer[0] <= inner[0] <= inner[1] <= outer[1]

    return bool(np.all(np.isfinite([*m68, *m95, *d68, *d95]))) and inside(m68, m95) and inside(d68, d95)


def _symmetric(x: float, err: float, floor: float = -np.inf) -> tuple[tuple[float, float], tuple[float, float]]:
    """Curvature intervals x +- err and x +- 1.96 err, lower ends not below ``floor``."""
    if not np.isfinite(err):
        return (np.nan, np.nan), (np.nan, np.nan)
    return (max(x - err, floor), x + err), (max(x - 1.96 * err, floor), x + 1.96 * err)


def _inner_peak(v: np.ndarray, verr: np.ndarray, R: np.ndarray) -> tuple[np.ndarray, float]:
    """The innermost 20 % of the stars (at least 10) and the half-width of a velocity window [km/s]."""
    inner = np.argsort(R, kind="stable")[: max(10, int(0.2 * v.size))]
    return inner, max(2.5 * float(np.median(verr[inner])), 5.0)


def _is_collapsed(st: _MembershipState, q: np.ndarray, verr: np.ndarray, criteria: ReliabilityCriteria) -> bool:
    """Fewer members than required, with a dispersion below a tenth of their typical error.

    Errors are deconvolved, so sigma_c = 0 is a finite likelihood maximum: a
    few stars that happen to agree better than their errors say.  With many
    members that is an unresolved dispersion; with a handful it is a collapse.
    """
    typical = float(np.sqrt(np.dot(q, verr**2) / max(q.sum(), 1e-12)))
    return round(float(q.sum()), 1) < criteria.min_members and st.sig[0] < 0.1 * typical


def _retry_collapse(st: _MembershipState, sample: Sample, criteria: ReliabilityCriteria) -> Solution | None:
    """Restart from the inner velocity peak with its robust width; the best solution that does not collapse."""
    limits, v, verr, verr_var, R = criteria.limits.as_kwargs(), sample.v, sample.verr, sample.verr_var, sample.R
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
            fit = _run_em(start, sample, limits, max_iter=200).state
            if _is_collapsed(fit, _memberships(fit, v, verr_var, R), verr, criteria):
                continue
            run = _run_em(fit, sample, limits, max_iter=3000, accelerate=True)
        except FloatingPointError:
            continue
        if _is_collapsed(run.state, _memberships(run.state, v, verr_var, R), verr, criteria):
            continue
        if best is None or run.log_likelihood > best.log_likelihood:
            best = run
    return best


def _best(solutions: list[Solution]) -> Solution:
    """The solution of highest ln L (the first of equals)."""
    return max(solutions, key=lambda s: s.log_likelihood)


def _run_em(start: _MembershipState, sample: Sample, limits: dict[str, float], **options: object) -> Solution:
    """One run of the generalised EM from ``start``, with its convergence recorded instead of warned about.

    :func:`~xdtutorial.membership._generalised_em` warns (:class:`~xdtutorial.errors.EMConvergenceWarning`)
    when a run ends at a fixed point of EM that is not a maximum.  Here that is one start's outcome, not the
    fit's: the warning is caught and its words kept in the :class:`Solution` (as is a run that reached
    ``max_iter``), and :func:`fit_cluster` warns once, naming the cluster, only if the solution it
    reports did not converge.  Other warnings pass through.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit, ll, converged, _ = _generalised_em(start, sample.v, sample.verr_var, sample.R, **limits, **options)
    why = None
    for w in caught:
        if issubclass(w.category, EMConvergenceWarning):
            text = str(w.message).removeprefix("distance-aware EM: ").split(". Fix:")[0]
            why = f"stopped at a fixed point of EM that is not a maximum ({text})"
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if not converged and why is None:
        why = f"reached its limit of {options.get('max_iter', 1000)} steps while ln L still rose"
    return Solution(fit, ll, why)


def _label_swaps(st: _MembershipState, sample: Sample, limits: dict[str, float]) -> list[Solution]:
    """Fits restarted with the cluster and one field Gaussian exchanged, each a :class:`Solution`.

    With a flat membership profile the model is a plain Gaussian mixture, in
    which any Gaussian narrower than the width cap could be the cluster: EM
    can end with a dominant field population in the cluster's place and the
    real cluster in a field Gaussian.  So when the best fit's profile is flat
    (the Plummer scale at its upper limit), each field Gaussian narrower than
    the cap is tried as the cluster, from a concentrated start.
    """
    out: list[Solution] = []
    if st.log_a < _LOG_A_LIMITS[1] - 1e-6:
        return out
    for k in range(1, st.mu.size):
        if st.sig[k] >= limits["cluster_sigma_cap"]:
            continue
        start = st.copy()
        start.mu[[0, k]], start.sig[[0, k]] = st.mu[[k, 0]], st.sig[[k, 0]]
        start.sig[k] = max(start.sig[k], limits["field_sigma_floor"])
        start.alpha, start.log_a = 0.0, float(np.log(max(np.quantile(sample.R, 0.25), 1.0)))
        try:
            out.append(_run_em(start, sample, limits, max_iter=3000, accelerate=True))
        except EMFailure:
            continue
    return out
