"""Fitting the distance-aware model to one cluster, with a verdict (notebooks 06 and 07).

:func:`fit_cluster` goes from a cluster's name (or file, or stars) to a
:class:`ClusterFit`: the cluster's mean velocity and intrinsic dispersion with
uncertainties, the field model chosen by BIC, every star's membership
probability, and an honest verdict - ``reliable``, machine-readable
:class:`Problem` codes and the reason in words.  The width limits of the model
and the thresholds of the verdict are a :class:`ReliabilityCriteria`, passed
explicitly (``RELIABILITY`` is the default).
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
from .membership import (
    _LOG_A_LIMITS,
    _generalised_em,
    _hessian,
    _log_terms,
    _MembershipState,
    _split_broadest,
    _starting_states,
)
from .model import _responsibilities, validate_data


class Problem(enum.Enum):
    """Why a :class:`ClusterFit` is unreliable; the value is a short label."""

    TOO_FEW_MEMBERS = "few members"
    NOT_CONCENTRATED = "not concentrated"
    MEAN_UNCERTAIN = "mean uncertain"
    AMBIGUOUS = "ambiguous"
    DEGENERATE = "degenerate"
    AT_WIDTH_CAP = "at the width cap"
    FIT_FAILED = "failed"


@dataclasses.dataclass(frozen=True)
class ReliabilityCriteria:
    """Width limits of the distance-aware model and thresholds of :func:`fit_cluster`'s verdict.

    Pass a modified copy to :func:`fit_cluster` or :func:`~xdtutorial.survey.survey`,
    e.g. ``ReliabilityCriteria(min_members=15)``; every survey worker receives it.

    Attributes
    ----------
    min_members : float, default=6.0
        Fewest expected members for a reliable fit.
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
    """

    min_members: float = 6.0
    max_mean_err: float = 3.0
    concentration_2dlnl: float = 6.0
    ambiguity_dlnl: float = 3.0
    cluster_sigma_cap: float = 25.0
    field_sigma_floor: float = 2.0

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
                raise ValueError(
                    f"ReliabilityCriteria.{field.name} = {value!r}: every threshold must be a positive number"
                )


#: The default criteria (the values of the tutorial's text).
RELIABILITY = ReliabilityCriteria()


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
        Cluster mean velocity and its 1-sigma uncertainty [km/s].
    dispersion, dispersion_err : float
        Intrinsic velocity dispersion and its 1-sigma uncertainty [km/s]
        (``dispersion_err`` is NaN when the dispersion is unresolved, i.e. at 0).
    p_centre : float
        Membership probability at the centre (p0).
    r_scale : float
        Plummer scale radius of the membership profile [arcsec].
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
        False when the data cannot pin the cluster down: ``problems`` is not empty.
    problems : tuple of Problem
        What is wrong, machine-readable (empty for a reliable fit).
    reason : str
        The same in plain language, one clause per problem joined with "; "
        (or notes on a reliable fit, or "ok").
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

    The cluster is the component whose membership probability follows a
    centrally concentrated (Plummer-to-uniform) profile in projected distance;
    the field is a mixture of 1 to ``max_field`` Gaussians, their number chosen
    by the Bayesian information criterion (field Gaussians are added one at a
    time while the BIC improves).  Every model is fitted by
    generalised EM from several starts: velocity clumps among the innermost
    20 % of the stars, a split of the previous model's broadest field
    component, and ``n_random`` random starts.  Uncertainties come from the
    curvature of the log-likelihood (all parameters free).

    The fit is flagged unreliable, with a :class:`Problem` code and the reason
    in words, when (thresholds from ``criteria``): fewer than
    ``min_members`` expected members (``TOO_FEW_MEMBERS``); a dispersion at the
    cap ``cluster_sigma_cap``, a field population in the cluster's place
    (``AT_WIDTH_CAP``); a mean uncertain by more than ``max_mean_err`` km/s
    (``MEAN_UNCERTAIN``); the "cluster" is neither dominant nor significantly
    concentrated towards the centre, by a likelihood-ratio test against a flat
    profile (``NOT_CONCENTRATED``); another start found a different cluster
    velocity almost as likely (``AMBIGUOUS``); or the likelihood is degenerate
    at the optimum (``DEGENERATE``).

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
        # short runs from every start, then the three best continued to convergence
        outcomes = []
        for st in starts:
            try:
                fit, ll, _, _ = _generalised_em(st, v, verr2, R, max_iter=150, **limits)
            except FloatingPointError:
                continue
            outcomes.append((fit, ll))
        if not outcomes:
            break
        outcomes.sort(key=lambda o: -o[1])
        for i in range(min(3, len(outcomes))):
            try:
                fit, ll, _, _ = _generalised_em(outcomes[i][0], v, verr2, R, max_iter=3000, **limits)
            except FloatingPointError:
                continue
            outcomes[i] = (fit, ll)
        fit, ll = max(outcomes, key=lambda o: o[1])
        best_by_k[n_field] = (fit, ll, outcomes)
        previous = fit
        if n_field > 1 and bic(n_field) > bic(n_field - 1):
            break  # one more field Gaussian did not pay for its parameters; more will not either
    if not best_by_k:
        raise FloatingPointError(f"{name}: every start failed")

    n_field = min(best_by_k, key=bic)
    st, ll, outcomes = best_by_k[n_field]

    q = _responsibilities(_log_terms(st, v, verr2, R))[0][0]

    # uncertainties from the curvature (sigma_c fixed if it sits at zero)
    at_zero = st.sig[0] < 1e-3
    H = _hessian(st, v, verr2, R, fixed=(1,) if at_zero else ())
    free = [i for i in range(H.shape[0]) if not (at_zero and i == 1)]
    problems: dict[Problem, str] = {}
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

    members = float(q.sum())
    if members < criteria.min_members:
        problems[Problem.TOO_FEW_MEMBERS] = (
            f"only {members:.1f} likely members (fewer than {criteria.min_members:.0f})"
        )
    if st.sig[0] >= 0.999 * criteria.cluster_sigma_cap:
        problems[Problem.AT_WIDTH_CAP] = (
            f"the 'cluster' component is as wide as allowed ({criteria.cluster_sigma_cap:.0f} km/s), hotter "
            "than any globular cluster: probably a field population"
        )
    if np.isfinite(mean_err) and mean_err > criteria.max_mean_err:
        problems[Problem.MEAN_UNCERTAIN] = f"mean velocity uncertain by {mean_err:.1f} km/s"
    if not concentrated and members < 0.5 * n:
        problems[Problem.NOT_CONCENTRATED] = (
            "the velocity peak is not concentrated towards the centre and does not dominate the sample: "
            "it cannot be told apart from a field population"
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
    notes = list(problems.values())
    if at_zero and not problems:
        notes.append("dispersion unresolved (smaller than the measurement errors)")
    model = (
        f"cluster (Plummer-profile membership) + {n_field} field Gaussian{'s' if n_field > 1 else ''}, "
        f"errors deconvolved; {n_field} chosen by BIC among 1-{max(best_by_k)} tried"
    )
    field = tuple(
        (float(st.mu[k]), float(st.sig[k]), float(st.fw[k - 1])) for k in range(1, st.mu.size)
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
    )
