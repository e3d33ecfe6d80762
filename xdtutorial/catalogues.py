"""Writing results (notebooks 05 and 07): member catalogues, the survey table, text summaries.

Every writer starts its file with ``#`` lines documenting the columns and uses
fixed number formats, so the files are reproducible byte for byte.  Every file is
written whole or not at all (a temporary file in the same folder, then an atomic
rename), so a write that fails part-way (a full disk) leaves the previous file intact.
Text fields are quoted as CSV requires, and comment lines cannot be broken by a newline.
"""

from __future__ import annotations

import os
import pathlib
import stat
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._validation import (
    as_float_array,
    check_path,
    check_probability,
    check_stars,
    check_table,
    check_unit_interval_array,
)
from .cluster_fit import ClusterFit, Flag
from .data import BaumgardtTable, _normalise_name, cluster_names, pmem_weighted_mean
from .model import PARAM_NAMES


def _write_atomically(path: pathlib.Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all: a temporary file beside it, then ``os.replace``.

    A symbolic link is written through, as ``open(path, "w")`` would: its target gets the text and the
    link stays.  An existing file keeps its permission bits; a new one gets those ``open()`` would give.
    """
    path = pathlib.Path(os.path.realpath(path))  # the file a link (or a chain of links) points to
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:  # e.g. /proc, a read-only mount: name the user's file, not the temporary one
        raise type(err)(
            err.errno, f"cannot write {path}: no new file can be created in {path.parent} ({err.strerror}), "
            "and the file is written whole (a temporary file beside it, then renamed). Fix: choose a folder "
            "you can write to"
        ) from err
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            os.chmod(tmp, mode)  # mkstemp's are private (0600)
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def _csv_field(text: str) -> str:
    """A text field as CSV needs it: quoted (inner quotes doubled) when it holds a comma, quote or line break."""
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\r\n') else text


def _comment_lines(text: str) -> list[str]:
    """``# `` lines for a free text: a line break in it starts another comment line, never a data line."""
    return [f"# {line}".rstrip() for line in text.splitlines()] if text else []


def _check_fit(name: str, fit: object) -> None:
    if not isinstance(fit, ClusterFit):
        raise TypeError(f"{name} must be a ClusterFit from fit_cluster() or survey(); got {fit!r:.80}. "
                        "Fix: pass the result of fit_cluster(...)")


def format_cluster_fit(fit: ClusterFit) -> str:
    """A short, fixed-format text summary of a :class:`~xdtutorial.cluster_fit.ClusterFit`.

    Parameters
    ----------
    fit : ClusterFit
        From :func:`~xdtutorial.cluster_fit.fit_cluster`.

    Returns
    -------
    str
        Several lines: sample, mean, dispersion, membership profile, field
        Gaussians, model, likelihood, and the verdict with its reason.
    """
    _check_fit("fit", fit)
    disp_err = f"{fit.dispersion_err:.2f}" if np.isfinite(fit.dispersion_err) else "n/a"
    p0 = "p0 at its clip" if Flag.P0_AT_BOUND in fit.flags else f"p0 = {fit.p_centre:.3f} at the centre"
    a = "at its bound" if Flag.SCALE_AT_BOUND in fit.flags else f"{fit.r_scale:.0f} arcsec"
    unmeasured = " (not measured)" if fit.flags else ""
    lines = [f"{fit.name}: {fit.n_stars} stars, {fit.expected_members:.1f} expected members"]
    if fit.interval_method == "posterior":  # asymmetric intervals: printed as intervals, about the posterior medians
        (m_lo, m_hi), (d_lo, d_hi) = fit.mean_interval, fit.dispersion_interval
        median = " (marginal posterior: median)"
        lines += [
            f"  mean velocity  {fit.mean:9.2f} km/s, 68% interval {m_lo:.2f} to {m_hi:.2f}{median}",
            f"  dispersion     {fit.dispersion:9.2f} km/s, 68% interval {d_lo:.2f} to {d_hi:.2f}"
            + (" (unresolved: an upper limit)" if np.isnan(fit.dispersion_err) else median),
            f"  best fit (ML)  mean {fit.ml_mean:.2f}, dispersion {fit.ml_dispersion:.2f} km/s",
        ]
    else:
        lines += [
            f"  mean velocity  {fit.mean:9.2f} +- {fit.mean_err:.2f} km/s",
            f"  dispersion     {fit.dispersion:9.2f} +- {disp_err} km/s",
        ]
    lines += [
        f"  membership     {p0}, Plummer scale radius {a}{unmeasured}",
    ]
    for i, (m, s, w) in enumerate(fit.field, start=1):
        lines.append(f"  field {i}        {m:9.2f} km/s, sigma {s:6.2f} km/s, weight {w:.3f}")
    lines += [
        f"  model          {fit.model}",
        f"  ln L = {fit.log_likelihood:.2f}, BIC = {fit.bic:.2f}; best solution reached by "
        f"{fit.n_reached} of {fit.n_starts} starts",
        f"  reliable: {fit.reliable} ({fit.reason})",
        f"  dispersion citable: {fit.dispersion_reliable} ({fit.dispersion_reason})",
    ]
    return "\n".join(lines)


#: Columns of the survey table written by :func:`write_survey_csv`.
SURVEY_COLUMNS: dict[str, str] = {
    "name": "cluster name in the compilation",
    "n_stars": "stars fitted",
    "mean": "cluster mean line-of-sight velocity [km/s]",
    "mean_err": "its symmetric 1-sigma uncertainty [km/s] (empty when the interval is asymmetric)",
    "mean_lo": "lower end of the 68 % interval of the mean [km/s]",
    "mean_hi": "upper end of the 68 % interval of the mean [km/s]",
    "mean_lo95": "lower end of the 95 % interval of the mean [km/s]",
    "mean_hi95": "upper end of the 95 % interval of the mean [km/s]",
    "dispersion": "intrinsic velocity dispersion [km/s] (one value for the whole cluster)",
    "dispersion_err": "its symmetric 1-sigma uncertainty [km/s] (empty when unresolved or asymmetric)",
    "dispersion_lo": "lower end of the 68 % interval of the dispersion [km/s]",
    "dispersion_hi": "upper end of the 68 % interval of the dispersion [km/s]",
    "dispersion_lo95": "lower end of the 95 % interval of the dispersion [km/s]",
    "dispersion_hi95": "upper end of the 95 % interval of the dispersion [km/s]",
    "interval": (
        "how the intervals were computed: posterior (the marginal posteriors of mean and dispersion), "
        "curvature, or none"
    ),
    "members": "expected number of members (sum of membership probabilities)",
    "n_field": "field Gaussians in the model chosen by BIC",
    "p_centre": "membership probability at the centre (empty when at its clip: not measured)",
    "p_centre_at_bound": "True when p_centre sits at its clip",
    "r_scale": "Plummer scale radius of the membership profile [arcsec] (empty when at its bound: not measured)",
    "r_scale_at_bound": "True when the scale radius sits at its 1 arcsec floor or upper limit",
    "pmem_mean": (
        "mean velocity weighted by Baumgardt's P_Mem (a p-value of each velocity under the cluster's Gaussian, "
        "not a membership probability), a consistency check on the same velocities [km/s]"
    ),
    "reliable": "whether the data pin the cluster down, so that its mean is citable (see problems and reason)",
    "problems": "Problem codes that make the fit unreliable, separated by |",
    "dispersion_reliable": (
        "whether the dispersion is a measurement to cite: a reliable fit with at least 15 members and a resolved "
        "dispersion whose 95 % interval spans at most a factor 3 below the width cap (helpers.dispersion_verdict); "
        "reliable alone certifies the mean"
    ),
    "dispersion_reason": "why the dispersion is not citable, or ok",
    "reason": "plain-language reason and notes, or ok",
}


def _symmetric_err(err: float, interval: tuple[float, float], centre: float) -> float:
    """``err`` when the 68 % interval is symmetric about ``centre`` within 20 %, else NaN."""
    lo, hi = interval
    if not (np.isfinite(err) and np.isfinite(lo) and np.isfinite(hi)):
        return err
    return err if abs((hi - centre) - (centre - lo)) <= 0.2 * err else float("nan")


def write_survey_csv(path: str | os.PathLike[str], fits: Sequence[ClusterFit], table: BaumgardtTable) -> None:
    """Write the survey as CSV with a ``#`` header documenting the columns.

    The columns are :data:`SURVEY_COLUMNS`; numbers have fixed formats and
    unknown values are empty, so the file is reproducible byte for byte.

    Parameters
    ----------
    path : str or path-like
        Output file (its directory is created).
    fits : sequence of ClusterFit
        From :func:`~xdtutorial.all_clusters.survey`.
    table : BaumgardtTable
        The compilation, for the P_Mem-weighted comparison velocity.  A fit's
        name is written as the compilation spells it where it names one of its
        clusters up to spaces and case (``"ngc288"`` is written ``NGC 288``).
    """

    path = check_path("path", path, file=True)
    if isinstance(fits, (str, bytes, ClusterFit)) or not hasattr(fits, "__iter__"):
        raise TypeError(f"fits must be a list of ClusterFit (from survey()); got {fits!r:.80}. Fix: fits=[fit, ...]")
    fits = list(fits)
    for i, f in enumerate(fits):
        _check_fit(f"fits[{i}]", f)
    table = check_table(table, allow_none=False)

    def num(x: float, fmt: str) -> str:
        return format(x, fmt) if np.isfinite(x) else ""

    lines = ["# Survey of the Baumgardt (2019) compilation with helpers.fit_cluster; columns:"]
    lines += [f"#   {k}: {t}" for k, t in SURVEY_COLUMNS.items()]
    lines.append(",".join(SURVEY_COLUMNS))
    spelling = {_normalise_name(n): n for n in cluster_names(table)}
    for f in fits:
        # a fit of stars whose cluster field reads 'ngc288' is NGC 288's: written, and compared, as the table spells it
        name = spelling.get(_normalise_name(f.name), f.name)
        pm = pmem_weighted_mean(table.stars[table.stars.cluster == name])
        reason = f.reason.replace('"', "'").replace("\r", " ").replace("\n", " ")  # one line, no quote to escape
        d_reason = f.dispersion_reason.replace('"', "'").replace("\r", " ").replace("\n", " ")
        p0_bound, a_bound = Flag.P0_AT_BOUND in f.flags, Flag.SCALE_AT_BOUND in f.flags
        mean_err = _symmetric_err(f.mean_err, f.mean_interval, f.mean)
        disp_err = _symmetric_err(f.dispersion_err, f.dispersion_interval, f.dispersion)
        ends = [*f.mean_interval, *f.mean_interval95]
        d_ends = [*f.dispersion_interval, *f.dispersion_interval95]
        lines.append(
            f"{_csv_field(name)},{f.n_stars},{num(f.mean, '.2f')},{num(mean_err, '.2f')},"
            + ",".join(num(x, ".2f") for x in ends)
            + f",{num(f.dispersion, '.2f')},{num(disp_err, '.2f')},"
            + ",".join(num(x, ".2f") for x in d_ends)
            + f",{f.interval_method},{num(f.expected_members, '.1f')},{len(f.field)},"
            f"{'' if p0_bound else num(f.p_centre, '.3f')},{p0_bound},"
            f"{'' if a_bound else num(f.r_scale, '.0f')},{a_bound},{num(pm, '.2f')},{f.reliable},"
            f"{'|'.join(p.name for p in f.problems)},{f.dispersion_reliable},\"{d_reason}\",\"{reason}\""
        )
    _write_atomically(path, "\n".join(lines) + "\n")


#: Column descriptions written at the top of member catalogues.
CATALOGUE_COLUMNS: dict[str, str] = {
    "line": "line number of the star in the compilation file",
    "ra": "right ascension (J2000) [deg]",
    "dec": "declination (J2000) [deg]",
    "distance": "projected distance from the cluster centre [arcsec]",
    "velocity": "line-of-sight velocity [km/s]",
    "velocity_error": "1-sigma velocity uncertainty [km/s]",
    "p_member": "membership probability, mean over the posterior samples",
    "p_member_std": "standard deviation of the membership probability over the posterior samples",
    "p_mem_baumgardt": "Baumgardt's P_Mem from the compilation, for comparison",
}


def write_member_catalogue(
    path: str | os.PathLike[str],
    stars: np.recarray,
    p_member: Any,
    p_member_std: Any,
    *,
    threshold: float = 0.5,
    title: str = "",
) -> int:
    """Write the stars with mean membership probability above ``threshold`` as CSV.

    The file starts with ``#`` comment lines describing every column (read it
    with ``pandas.read_csv(path, comment="#")``, or with numpy as
    ``np.genfromtxt([r for r in open(path) if r[0] != "#"], delimiter=",", names=True)``);
    rows are in file order and
    numbers have fixed formats, so the file is reproducible byte for byte.

    Parameters
    ----------
    path : str or path-like
        Output file; its directory is created if needed.
    stars : numpy.recarray, shape (n_stars,)
        From :func:`load_cluster`.
    p_member, p_member_std : array_like, shape (n_stars,)
        Posterior mean and standard deviation of each star's membership probability.
    threshold : float, default=0.5
        Minimum ``p_member`` to be listed.
    title : str, default=""
        First comment line (e.g. the cluster and the model).

    Returns
    -------
    int
        Number of stars written.

    Raises
    ------
    TypeError
        ``stars`` not a record array of stars, ``threshold`` not a number.
    ValueError
        ``p_member`` or ``p_member_std`` does not have one finite value per
        star, a probability outside [0, 1], or ``threshold`` outside [0, 1].
    """
    path = check_path("path", path, file=True)
    stars = check_stars(stars, one_cluster=True)
    if np.asarray(p_member).dtype == bool:
        raise TypeError(
            "p_member must be membership probabilities; got a boolean array, which looks like a selection "
            "mask. Fix: pass the probabilities (e.g. the posterior mean of each star's membership)"
        )
    p_member = check_unit_interval_array("p_member", p_member, n=len(stars))
    p_member_std = as_float_array("p_member_std", p_member_std, nonnegative=True)
    if p_member_std.size and p_member_std.max() > 0.5:  # the spread of a number in [0, 1] is at most 1/2
        i = int(np.argmax(p_member_std))
        raise ValueError(
            f"p_member_std[{i}] = {p_member_std[i]:g}: the standard deviation of a probability cannot exceed 0.5. "
            "Fix: pass the standard deviation over the posterior samples, not a variance or a count"
        )
    if p_member_std.shape != p_member.shape:
        raise ValueError(f"p_member_std must have one value per star ({len(stars)}); got shape "
                         f"{p_member_std.shape}. Fix: pass the spread of the same stars' probabilities")
    # a number in [0, 1] with mean p has a standard deviation of at most sqrt(p (1 - p)) (Bhatia & Davis
    # 2000); the factor 2 leaves room for the ddof=1 estimate from a few samples
    over = p_member_std > np.sqrt(2.0 * p_member * (1.0 - p_member)) + 1e-12
    if over.any():
        i = int(np.flatnonzero(over)[0])
        raise ValueError(
            f"p_member_std[{i}] = {p_member_std[i]:g} with p_member[{i}] = {p_member[i]:g}: impossible, since "
            f"probabilities in [0, 1] with mean p spread by at most sqrt(p (1 - p)) = "
            f"{np.sqrt(p_member[i] * (1 - p_member[i])):.3g}. Fix: pass the mean and the standard deviation "
            "of the same stars' posterior samples, in the same order"
        )
    threshold = check_probability("threshold", threshold)
    keep = p_member > threshold
    if not isinstance(title, str):
        raise TypeError(f"title must be a str; got {title!r:.80}. Fix: title=\"NGC 288, two-Gaussian model\"")
    lines = _comment_lines(title)
    lines.append(f"# stars with p_member > {threshold:g}; columns:")
    lines += [f"#   {name}: {text}" for name, text in CATALOGUE_COLUMNS.items()]
    lines.append(",".join(CATALOGUE_COLUMNS))
    for s, q, dq in zip(stars[keep], p_member[keep], p_member_std[keep], strict=True):
        lines.append(
            f"{s.line},{s.ra:.6f},{s.dec:.6f},{s.distance:.2f},{s.velocity:.2f},{s.velocity_error:.2f},"
            f"{q:.4f},{dq:.4f},{s.p_mem:.3f}"
        )
    _write_atomically(path, "\n".join(lines) + "\n")
    return int(keep.sum())



def format_params(params: Any, *, names: Sequence[str] = PARAM_NAMES, fmt: str = "{:9.4f}") -> str:
    """Format a parameter vector as ``name = value`` pairs with a fixed format.

    Parameters
    ----------
    params : array_like, shape (n_params,)
        Parameter vector.
    names : sequence of str, default=PARAM_NAMES
        One name per parameter.
    fmt : str, default="{:9.4f}"
        Format of each value (explicit, so outputs are reproducible).

    Returns
    -------
    str
        ``"mean1 =  -44.8000  sigma1 = ..."``, pairs separated by two spaces.

    Raises
    ------
    ValueError
        ``params`` and ``names`` differ in length, or ``fmt`` is not a format
        for one number.
    """
    if isinstance(names, str) or not isinstance(names, Sequence) or not all(isinstance(n, str) for n in names):
        raise TypeError(f"names must be a sequence of str, one per parameter; got {names!r:.80}. Fix: e.g. "
                        "names=('mean1', 'sigma1')")
    values = np.ravel(as_float_array("params", params, ndim=None, finite=False))
    if values.size != len(names):
        raise ValueError(f"params must have one value per name ({len(names)}: {', '.join(names)}); got "
                         f"{values.size}. Fix: pass names= of that length")
    try:
        fmt.format(0.0)
    except (ValueError, IndexError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"fmt must format one number, e.g. '{{:9.4f}}'; got {fmt!r} ({err}). Fix: "
                         "check the braces") from None
    return "  ".join(f"{n} = {fmt.format(x)}" for n, x in zip(names, values, strict=True))
