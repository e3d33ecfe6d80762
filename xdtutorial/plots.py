"""Plots shared by the notebooks, and their matplotlib style.

Data positional (per-star arrays in the order ``v, verr, distance``), options
keyword-only, ``ax=None`` to draw into an existing axes, ``*_kwargs`` passed
through to matplotlib; each returns the axes and never calls ``plt.show()``.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ._numerics import RNGLike
from ._validation import (
    as_float_array,
    as_velocity_arrays,
    check_float,
    check_int,
    check_pair,
    check_unit_interval_array,
    old_order_error,
)
from .model import model_density, sample_mock

#: The most histogram bins a plot draws by default; data spread over a huge range get this many.
MAX_DEFAULT_BINS = 200
#: The most bins a plot accepts (more than pixels on any screen).
MAX_BINS = 10_000


def notebook_style(*, dpi: int = 110, width: float = 9.5) -> None:
    """Matplotlib settings shared by the notebooks: figures readable on a projector.

    A full-width figure is ``width`` inches wide, so at the default ``dpi`` a
    stored PNG is about 1000 pixels wide, with 12-13 pt text.

    Parameters
    ----------
    dpi : int, default=110
        Resolution of inline and saved figures [dots per inch].
    width : float, default=9.5
        Width of a default (full-width) figure [inches]; the height is 0.55 of it.
    """
    import matplotlib as mpl

    dpi = check_int("dpi", dpi, minimum=20, maximum=600)  # beyond 600 dpi a figure is hundreds of MB
    width = check_float("width", width, low=1.0, high=40.0)
    mpl.rcParams.update(
        {"figure.dpi": dpi, "savefig.dpi": dpi, "figure.figsize": (width, 0.55 * width), "font.size": 12,
         "axes.titlesize": 13, "axes.labelsize": 12, "legend.fontsize": 11, "xtick.labelsize": 11,
         "ytick.labelsize": 11, "legend.frameon": False}
    )


def _axes(ax: Any) -> Any:
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    if ax is not None and not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None; got {ax!r:.80}. Fix: fig, ax = plt.subplots(), "
                        "then ax=ax (or leave it out for a new figure)")
    if ax is None:
        _, ax = plt.subplots()
    return ax


def _draw(method: Any, name: str, defaults: dict[str, Any], user: Any, *args: Any) -> Any:
    """Call a matplotlib drawing ``method`` with ``defaults`` updated by the user's ``name`` dict.

    A bad option is reported naming ``name`` and the option, not as matplotlib's own error.
    """
    if user is not None and not isinstance(user, dict):
        raise TypeError(f"{name} must be a dict of matplotlib options or None; got {user!r:.80}. "
                        f"Fix: e.g. {name}={{'color': 'k'}}")
    kw = {**defaults, **(user or {})}
    try:
        return method(*args, **kw)
    except (TypeError, ValueError, AttributeError) as err:
        if not user:
            raise
        kind = ValueError if isinstance(err, ValueError) else TypeError  # an unknown option is a TypeError
        raise kind(
            f"{name} = {user!r:.120}: matplotlib's {method.__name__} refused it ({err}). Fix: use options that "
            f"{method.__name__} knows (see its documentation), with values of the right type"
        ) from None


def _prepare(v: Any, distance: Any, ax: Any) -> tuple[np.ndarray, np.ndarray, Any]:
    """Velocities and distances as arrays, and the axes to draw into (a new figure if None).

    Refuses negative distances: velocities passed in their place.
    """
    v = as_float_array("v", v, unit="km/s")
    distance = as_float_array("distance", distance, nonnegative=True,
                              fix="velocities in its place? The per-star arrays come in the order v, verr, distance")
    if distance.shape != v.shape:
        raise ValueError(f"distance must have one value per star, shape {v.shape} like v; got shape "
                         f"{distance.shape}. Fix: the per-star arrays come in the order v, verr, distance")
    return v, distance, _axes(ax)


def _percentiles(value: Any) -> tuple[float, float]:
    lo, hi = check_pair("percentiles", value, low=0.0)
    if hi > 100:
        raise ValueError(f"percentiles must be within [0, 100]; got {value!r}. Fix: e.g. percentiles=(2, 98)")
    return lo, hi


def _velocity_distance_axes(ax: Any, v: np.ndarray, percentiles: tuple[float, float]) -> None:
    """Labels, and a y-range from velocity percentiles with the stars left out counted."""
    lo, hi = np.percentile(v, percentiles)
    pad = 0.15 * (hi - lo)
    ax.set_ylim(lo - pad, hi + pad)
    outside = int(np.sum((v < lo - pad) | (v > hi + pad)))
    if outside:
        ax.text(0.98, 0.02, f"{outside} star(s) outside the y-range", transform=ax.transAxes,
                ha="right", va="bottom", fontsize="small")
    ax.set_xlabel("projected distance from centre [arcsec]")
    ax.set_ylabel("line-of-sight velocity [km/s]")


def plot_velocity_vs_distance(
    v: Any,
    verr: Any,
    distance: Any,
    *,
    ax: Any = None,
    percentiles: tuple[float, float] = (2.0, 98.0),
    errorbar_kwargs: dict[str, Any] | None = None,
) -> Any:
    """Velocity against projected distance, with error bars.

    The y-range spans the given percentiles of the velocities (plus a margin)
    so a few far outliers do not flatten the plot; the number of stars outside
    it is written in the corner.

    Parameters
    ----------
    v, verr : array_like, shape (n_stars,)
        Velocities and their 1-sigma uncertainties [km/s].
    distance : array_like, shape (n_stars,)
        Projected distance [arcsec].
    ax : matplotlib Axes, default=None
        Axes to draw into; a new figure if None.
    percentiles : (float, float), default=(2, 98)
        Velocity percentiles defining the y-range.
    errorbar_kwargs : dict, default=None
        Passed to ``ax.errorbar``.

    Returns
    -------
    matplotlib Axes

    Raises
    ------
    ValueError
        ``distance`` has another shape than ``v``, or negative values.
    """
    v, verr = as_velocity_arrays(v, verr)
    percentiles = _percentiles(percentiles)
    v, distance, ax = _prepare(v, distance, ax)
    _draw(ax.errorbar, "errorbar_kwargs", {"fmt": "o", "ms": 2.5, "lw": 0.6, "color": "0.2", "ecolor": "0.6"},
          errorbar_kwargs, distance, v, verr)
    _velocity_distance_axes(ax, v, percentiles)
    return ax


def plot_membership(
    v: Any,
    distance: Any,
    prob: Any,
    *,
    ax: Any = None,
    percentiles: tuple[float, float] = (2.0, 98.0),
    scatter_kwargs: dict[str, Any] | None = None,
) -> Any:
    """Velocity against distance, coloured by cluster-membership probability.

    Parameters
    ----------
    v : array_like, shape (n_stars,)
        Velocities [km/s].
    distance : array_like, shape (n_stars,)
        Projected distance [arcsec].
    prob : array_like, shape (n_stars,)
        Membership probabilities in [0, 1].
    ax : matplotlib Axes, default=None
        Axes to draw into; a new figure if None.
    percentiles : (float, float), default=(2, 98)
        Velocity percentiles defining the y-range.
    scatter_kwargs : dict, default=None
        Passed to ``ax.scatter``.

    Returns
    -------
    matplotlib Axes

    Raises
    ------
    ValueError
        ``distance`` has another shape than ``v``, or negative values.
    """
    percentiles = _percentiles(percentiles)
    v, distance, ax = _prepare(v, distance, ax)
    prob = check_unit_interval_array("prob", prob, n=v.size)
    sc = _draw(ax.scatter, "scatter_kwargs", {"s": 10, "cmap": "coolwarm_r", "vmin": 0.0, "vmax": 1.0, "c": prob},
               scatter_kwargs, distance, v)
    ax.figure.colorbar(sc, ax=ax, label="membership probability")
    _velocity_distance_axes(ax, v, percentiles)
    return ax


def plot_model_vs_mock(
    params: Any,
    v: Any,
    verr: Any,
    *,
    rng: RNGLike = 0,
    ax: Any = None,
    bins: Any = None,
    hist_kwargs: dict[str, Any] | None = None,
) -> Any:
    """Plug-in predictive check: data vs one mock data set at fixed parameters.

    Draws one mock data set with :func:`sample_mock` (same per-star errors) from
    ``params`` alone, histograms both, and overlays :func:`model_density`
    scaled to counts.  It ignores the parameters' uncertainty; a
    posterior-predictive check draws each replicate from its own posterior
    sample (notebook 05).

    The model is evaluated at ``params``, so they come first, then the data
    (the package's argument order, as ``log_likelihood(params, v, verr)``).

    Parameters
    ----------
    params : array_like, shape (5,)
        ``(mean1, sigma1, mean2, sigma2, frac1)`` [km/s, km/s, km/s, km/s, -].
    v, verr : array_like, shape (n_stars,)
        Velocities and their 1-sigma uncertainties [km/s].
    rng : int or numpy.random.Generator, default=0
        Seed or source of randomness for the mock data set (keyword-only).
    ax : matplotlib Axes, default=None
        Axes to draw into; a new figure if None.
    bins : int or array_like, default=None
        Number of bins over the data's range (at most :data:`MAX_BINS`), or their edges [km/s];
        default 2 km/s bins over the 1-99 percentile range (at most
        :data:`MAX_DEFAULT_BINS` of them: wider bins for a wider range).
    hist_kwargs : dict, default=None
        Passed to both ``ax.hist`` calls.

    Returns
    -------
    matplotlib Axes

    Raises
    ------
    ValueError
        Invalid parameters or data, or ``bins`` not a number of bins or increasing edges.
    TypeError
        ``rng`` not an int seed or a Generator; the arguments in the old order
        ``(v, verr, params)``, told the new one.
    """
    if np.size(params) != 5 and np.size(verr) == 5:
        raise old_order_error("plot_model_vs_mock", "(params, v, verr, rng=...)", "(v, verr, params, rng)")
    v, verr = as_velocity_arrays(v, verr)
    ax = _axes(ax)
    if isinstance(bins, numbers.Integral) and not isinstance(bins, bool):
        bins = np.histogram_bin_edges(v, check_int("bins", bins, minimum=1, maximum=MAX_BINS))
    elif bins is not None:
        bins = as_float_array("bins", bins)
        if bins.size < 2 or bins.size > MAX_BINS + 1 or np.any(np.diff(bins) <= 0):
            raise ValueError(f"bins must be a number of bins or at least two increasing edges; got {bins!r:.80}. "
                             f"Fix: e.g. bins=40 or bins=np.arange(-100, 100, 2) (at most {MAX_BINS} bins)")
    if bins is None:
        lo, hi = np.floor(np.percentile(v, 1)) - 2.0, np.ceil(np.percentile(v, 99)) + 2.0
        bins = (np.arange(lo, hi, 2.0) if (hi - lo) / 2.0 <= MAX_DEFAULT_BINS
                else np.linspace(lo, hi, MAX_DEFAULT_BINS + 1))
    bins = np.asarray(bins, dtype=float)
    mock = sample_mock(params, verr, rng=rng)
    style = {"histtype": "step", "lw": 1.5, "bins": bins}
    _draw(ax.hist, "hist_kwargs", {**style, "label": "data", "color": "k"}, hist_kwargs, v)
    _draw(ax.hist, "hist_kwargs", {**style, "label": "mock from model", "color": "C1", "ls": "--"}, hist_kwargs, mock)
    grid = np.linspace(bins[0], bins[-1], 400)
    width = np.diff(bins).mean()
    ax.plot(grid, v.size * width * model_density(params, grid, verr), color="C0",
            label="model (error-convolved)")
    ax.set_xlabel("line-of-sight velocity [km/s]")
    ax.set_ylabel(f"stars per {width:g} km/s")
    ax.legend()
    return ax
