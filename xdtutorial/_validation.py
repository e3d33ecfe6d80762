"""Input validation for every public function of the package (issue 10).

A private module of small, pure checks.  Each takes the value and the *name of the argument* as
the user wrote it, and either returns the value converted to the form the library computes with
(float arrays, a ``numpy.random.Generator``, a ``pathlib.Path``) or raises:

* ``TypeError`` when the value is of the wrong kind (``None``, a string, a dict, booleans...);
* ``ValueError`` when it is of the right kind but not allowed (shape, NaN, sign, range);

always with one message style::

    {name} must be {what is allowed}; got {what was received}. Fix: {what to do}

It imports nothing from the package but :mod:`xdtutorial.errors`, so every module may use it.
"""

from __future__ import annotations

import numbers
import os
import pathlib
import sys
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import DataFormatError, ImplausibleVelocityWarning

__all__ = [
    "MAX_PLAUSIBLE_SPEED",
    "MIN_STARS_FIT",
    "MAX_ABSURD_SPEED",
    "MAX_COUNTS",
    "check_distances",
    "check_speeds",
    "as_float_array",
    "as_velocity_arrays",
    "check_total_variance",
    "check_params",
    "check_int",
    "check_positive_int",
    "check_float",
    "check_positive_float",
    "check_probability",
    "check_bool",
    "check_pair",
    "check_bounds",
    "check_unit_interval_array",
    "check_chain",
    "check_populations",
    "as_rng",
    "as_legacy_seed",
    "check_path",
    "check_cluster_name",
    "check_path_or_name",
    "name_not_found_hint",
    "read_text",
    "as_lines",
    "check_columns",
    "is_number",
    "check_table",
    "check_stars",
    "check_minimize_options",
    "old_order_error",
]

#: No Galactic object moves faster than this along the line of sight [km/s] (hypervelocity stars
#: reach ~1800 km/s); beyond it a velocity is a unit mistake (m/s) or a placeholder value.
MAX_PLAUSIBLE_SPEED = 3000.0
#: A two-Gaussian fit has five parameters; with fewer stars its maximum is degenerate.
MIN_STARS_FIT = 5
#: Beyond this speed [km/s] a value is no measurement in any unit (3000 km/s in mm/s is 3e9; this is
#: over 3e9 times the speed of light): a corrupt or placeholder value.  Fits that work in absolute
#: km/s (``fit_cluster``: kernel bandwidths of >= 3 km/s on an integer grid) cannot represent it; the
#: grid index of a star overflows int64 from about 7e18 km/s.  Refused by :func:`check_speeds`: for the
#: stars of a cluster fit (``check_stars(..., fitted=True)``) and where ``as_velocity_arrays(max_speed=)`` asks.
MAX_ABSURD_SPEED = 1e15
#: The smallest Plummer scale radius a cluster fit allows [arcsec] (``ModelLimits.SCALE_CLIP[0]``):
#: a sample whose stars all lie closer to the centre than this cannot be a cluster field in arcsec.
MIN_FIELD_RADIUS_ARCSEC = 1.0
#: Only samples of at least this many stars are judged by the range of their distances.
MIN_STARS_DISTANCE_CHECK = 10
#: Upper bounds of counts that size an allocation or a run, by argument name, applied by
#: :func:`check_int` when the caller gives no ``maximum``: a larger value is a typo (10**9 walkers is
#: 37 GiB before the first step), which numpy would report as a raw ``MemoryError``.
MAX_COUNTS = {
    "n_walkers": 100_000,  # emcee: a few times the dimension (5) is usual; 1e5 walkers is 4 MB per step
    "n_starts": 1_000_000,  # random starting points: (n_starts, 5) floats, 40 MB
    "n_random": 1_000,  # fit_cluster's random starts: about 30 ms each, so 1000 take ~30 s
    "n_members": 10_000_000,  # a mock sample's members: several float arrays of this length
    "n": 10_000_000,  # samples drawn (xd_sample)
}


# ----------------------------------------------------------------------------- messages
def _describe(value: Any) -> str:
    """A short description of a received value for the message (never a 300-element repr)."""
    if isinstance(value, _Raw):
        return str(value)
    if isinstance(value, np.generic):
        value = value.item()  # 2.0, not np.float64(2.0)
    if isinstance(value, np.ndarray):
        if value.size <= 6:
            return f"{value!r}"
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, (list, tuple)) and len(value) > 6:
        return f"a {type(value).__name__} of {len(value)} items"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class _Raw(str):
    """Text shown as is in a message (a description, not a value: no quotes)."""

    def __repr__(self) -> str:
        return str(self)


def _message(name: str, expected: str, value: Any, fix: str) -> str:
    return f"{name} must be {expected}; got {_describe(value)}. Fix: {fix}"


def _type_error(name: str, expected: str, value: Any, fix: str) -> TypeError:
    return TypeError(_message(name, expected, value, fix))


def _value_error(name: str, expected: str, value: Any, fix: str) -> ValueError:
    return ValueError(_message(name, expected, value, fix))


# ----------------------------------------------------------------------------- arrays
_NOT_ARRAYS = (str, bytes, dict, set, Mapping)


def _strip_metadata(name: str, value: Any, unit: str) -> Any:
    """Plain numbers from an array that carries a mask or a unit, never by silently dropping either.

    * A numpy masked array (also astropy's ``MaskedColumn``) with masked entries is refused: its
      masked values (often -999) would be fitted as data.  Without masked entries it is its data.
    * An astropy ``Quantity`` (or ``Column`` with a unit) is converted to ``unit`` (e.g. m/s to km/s);
      one whose unit cannot be converted, or given where no unit is defined, is refused.
    """
    target = getattr(value, "unit", None)  # read before the mask goes: a MaskedColumn can carry both
    if np.ma.isMaskedArray(value):
        _refuse_masked(name, np.ma.getmaskarray(value), f"keep = ~np.ma.getmaskarray({name})")
        value = np.ma.getdata(value)
    elif _is_astropy_masked(value):  # astropy.utils.masked.Masked: np.asarray would drop its mask silently
        _refuse_masked(name, np.asarray(value.mask, dtype=bool), f"keep = ~{name}.mask")
        value = value.unmasked  # a Quantity stays a Quantity: its unit is converted below
    if target is None:
        return value
    if not unit:
        raise ValueError(
            f"{name} carries the unit {target!s}, but {name} is a pure number here. Fix: pass "
            f"{name}.value after checking that it is what the docstring asks for"
        )
    try:
        import astropy.units as u  # only for data that carry astropy units

        return u.Quantity(np.asarray(value), target).to_value(unit)
    except Exception as err:  # astropy's UnitConversionError, or a unit astropy does not know
        raise ValueError(
            f"{name} has the unit {target!s}, which cannot be converted to {unit}. Fix: pass {name} in {unit} "
            f"(or as an astropy Quantity in a unit of the same kind); the conversion said: {err}"
        ) from None


def _is_astropy_masked(value: Any) -> bool:
    """Whether ``value`` is an ``astropy.utils.masked.Masked`` array (or Quantity), without importing astropy."""
    module = sys.modules.get("astropy.utils.masked")  # not imported: no such object can exist
    return module is not None and isinstance(value, module.Masked)


def _refuse_masked(name: str, mask: np.ndarray, keep: str) -> None:
    """Refuse an array with masked entries: their stored values (often -999) would be fitted as data."""
    if mask.any():
        first = ", ".join(map(str, np.argwhere(np.atleast_1d(mask))[0]))
        raise ValueError(
            f"{name} is a masked array with {int(mask.sum())} masked entries (the first at index {first}): "
            f"their stored values would be fitted as data. Fix: keep only the unmasked stars, e.g. "
            f"{keep}, and pass {name}[keep] with the same selection of every other per-star array"
        )


#: Arguments that hold one value per star: only for these is a mask or ``np.full(n_stars, x)`` the fix.
PER_STAR_NAMES = frozenset({"v", "verr", "distance", "R", "prob", "p_member", "p_member_std"})
#: Per-star arguments for which one value shared by every star is meaningful (the same error for all).
SHARED_VALUE_NAMES = frozenset({"verr"})
#: The field of a star record that a per-star argument usually comes from, for the messages.
_STAR_FIELD_OF = {"v": "velocity", "R": "distance", "distance": "distance"}


def _bool_fix(name: str) -> str:
    """The fix for True/False values where numbers are wanted, right for what ``name`` holds."""
    if name in PER_STAR_NAMES:
        return (f"{name} holds True/False, which looks like a selection mask: pass the stars' values it "
                f"selects (e.g. data.velocity[mask]), not the mask itself")
    return f"pass numbers; if True/False stand for 1/0, pass {name}.astype(float)"


def _ndim_fix(name: str, arr: np.ndarray, ndim: int) -> str:
    """The fix for an array of the wrong number of dimensions, right for its shape and ``name``."""
    if arr.ndim == 0 and ndim == 1:
        if name in SHARED_VALUE_NAMES:  # one error for every star is a real case
            return f"use np.full(n_stars, {arr.item()}) for the same value for every star"
        if name in PER_STAR_NAMES:  # a measurement of each star: one number cannot stand for them all
            field = _STAR_FIELD_OF.get(name)
            return (f"{name} holds one measured value per star: pass the array of every star's values"
                    f"{f' (e.g. stars.{field})' if field else ''}, not a single number")
        return f"pass {name} as a 1-D array, e.g. [{arr.item()}] (np.atleast_1d({name}))"
    if ndim == 1 and arr.size == max(arr.shape, default=0):
        return f"flatten it with np.ravel({name})"
    if ndim == 2 and arr.ndim == 1:
        return f"pass a 2-D array of shape (n_rows, n_columns); for one column use {name}[:, None]"
    return f"pass an array with {ndim} dimension(s)"


def as_float_array(
    name: str,
    value: Any,
    *,
    ndim: int | None = 1,
    allow_empty: bool = False,
    finite: bool = True,
    nonnegative: bool = False,
    positive: bool = False,
    unit: str = "",
    fix: str = "",
    allow_bool: bool = False,
) -> np.ndarray:
    """``value`` as a float64 array, refusing what is not an array of real numbers.

    Refused with ``TypeError``: None, strings (also numeric ones: "1" is not a velocity), dicts,
    booleans (unless ``allow_bool``: True/False read as 1/0, e.g. certain memberships), complex
    numbers, objects.  With ``ValueError``: ragged lists, the wrong number of dimensions, no
    elements, NaN/inf (when ``finite``), negative or zero values.
    """
    fix_type = f"pass {name} as a list or numpy array of numbers{f' in {unit}' if unit else ''}"
    if value is None or isinstance(value, _NOT_ARRAYS):
        raise _type_error(name, "an array of numbers", value, fix_type)
    value = _strip_metadata(name, value, unit)
    try:
        arr = np.asarray(value)
    except ValueError:  # numpy refuses ragged nested lists
        raise _value_error(name, "a rectangular array", value, "give every row the same length") from None
    if arr.dtype.kind == "b" and not allow_bool:
        raise _type_error(name, "an array of numbers, not booleans", value, _bool_fix(name))
    if arr.dtype.kind not in "iufb":
        raise _type_error(name, "an array of real numbers", value, fix_type)
    arr = arr.astype(float, copy=False)  # like np.asarray(value, dtype=float): no copy of float input
    if ndim is not None and arr.ndim != ndim:
        raise _value_error(name, f"a {ndim}-D array", _Raw(f"shape {arr.shape}"), _ndim_fix(name, arr, ndim))
    if not allow_empty and arr.size == 0:
        raise _value_error(name, "non-empty", value, "check the selection that produced it")
    if finite:
        bad = ~np.isfinite(arr)
        if bad.any():
            i = np.argwhere(bad)[0]
            where = f"{name}[{', '.join(map(str, i))}]"
            raise _value_error(where, "finite", arr[tuple(i)],
                               f"remove the stars with missing values, e.g. keep = np.isfinite({name})"
                               if name in PER_STAR_NAMES else f"give {where} a finite value")
    if positive and (arr <= 0).any():
        i = int(np.flatnonzero(arr.ravel() <= 0)[0])
        raise _value_error(f"{name}[{i}]", "positive", arr.ravel()[i], fix or f"check the sign and units of {name}")
    if nonnegative and (arr < 0).any():
        i = int(np.flatnonzero(arr.ravel() < 0)[0])
        raise _value_error(f"{name}[{i}]", "non-negative", arr.ravel()[i],
                           fix or f"check the sign and units of {name}")
    return arr


def as_velocity_arrays(
    v: Any,
    verr: Any,
    *,
    name_v: str = "v",
    name_verr: str = "verr",
    min_stars: int = 1,
    check_plausible: bool = False,
    max_speed: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Velocities and their 1-sigma errors [km/s] as two 1-D float arrays of equal length.

    ``verr >= 0`` is accepted: zero errors make extreme deconvolution an ordinary Gaussian
    mixture (a zero *total* variance is refused by :func:`check_total_variance`).  Fits pass
    ``min_stars=MIN_STARS_FIT`` and ``check_plausible=True`` (one warning per call, naming the
    first impossible star); likelihood evaluations inside samplers do not, to stay quiet.

    Always refused: velocities whose range ``max(v) - min(v)`` overflows float64 (no spread, mean or
    histogram of them is a number).  With ``max_speed`` (e.g. :data:`MAX_ABSURD_SPEED`, for fits
    that work in absolute km/s), also any ``|v|`` or ``verr`` beyond it (:func:`check_speeds`).
    The EM fits rescale their units and stay exact up to the float range, so they set no bound.
    """
    v = as_float_array(name_v, v, unit="km/s")
    verr = as_float_array(name_verr, verr, nonnegative=True, unit="km/s")
    if verr.shape != v.shape:
        raise _value_error(name_verr, f"one error per star, shape {v.shape} like {name_v}", _Raw(f"shape {verr.shape}"),
                           f"pass the errors of the same stars as {name_v}")
    if max_speed is not None:
        check_speeds(name_v, v, max_speed)
        check_speeds(name_verr, verr, max_speed)
    with np.errstate(over="ignore"):
        spread = v.max() - v.min() if v.size else 0.0
    if not np.isfinite(spread):
        lo, hi = int(np.argmin(v)), int(np.argmax(v))
        raise ValueError(
            f"{name_v} must have a range max - min that is a float64 number; got {name_v}[{lo}] = {v[lo]:.6g} and "
            f"{name_v}[{hi}] = {v[hi]:.6g} km/s, whose difference overflows. Fix: these are no velocities in "
            f"km/s (a placeholder or corrupt value, or another unit): remove them, e.g. "
            f"keep = np.abs({name_v}) < {MAX_PLAUSIBLE_SPEED:g}"
        )
    if v.size < min_stars:
        raise _value_error(name_v, f"at least {min_stars} stars for a two-component fit (five parameters)",
                           v, "fit a larger sample, or use the stars' weighted mean")
    if check_plausible:
        fast = np.abs(v) > MAX_PLAUSIBLE_SPEED
        if fast.any():
            i = int(np.flatnonzero(fast)[0])
            warnings.warn(
                f"{name_v}[{i}] = {v[i]:.6g} km/s: {int(fast.sum())} star(s) faster than any Galactic object "
                f"(|{name_v}| > {MAX_PLAUSIBLE_SPEED:g} km/s) will dominate the fit. Check the units (km/s, "
                f"not m/s) or remove them: keep = np.abs({name_v}) < {MAX_PLAUSIBLE_SPEED:g}",
                ImplausibleVelocityWarning,
                stacklevel=3,
            )
    return v, verr


def check_speeds(name: str, values: np.ndarray, limit: float = MAX_ABSURD_SPEED) -> None:
    """Refuse a velocity (or velocity error) ``|x| > limit`` [km/s], naming the first such value and the unit fix.

    Beyond :data:`MAX_ABSURD_SPEED` a value is no velocity in any unit (a placeholder or corrupt
    value): fits that work in absolute km/s cannot represent it, and their arithmetic overflows.
    """
    bad = np.abs(values) > limit
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name}[{i}] must be at most {limit:g} km/s in size; got {values[i]:.6g} km/s ({int(bad.sum())} "
            f"value(s) beyond {limit:g}: over 3e9 times the speed of light, which no unit slip (m/s, cm/s, mm/s) "
            f"of a real velocity reaches). Fix: that is a placeholder or corrupt value: remove those stars, e.g. "
            f"keep = np.abs({name}) < {MAX_PLAUSIBLE_SPEED:g}, and check the rest are in km/s"
        )


def check_total_variance(p: np.ndarray, verr: np.ndarray, *, name_verr: str = "verr") -> None:
    """Refuse a component whose total variance sigma_k^2 + verr_i^2 is zero for some star.

    Its density is a delta function: the likelihood is infinite on that star and meaningless
    elsewhere.  ``p`` has shape (..., 5).
    """
    if verr.size == 0 or verr.min() > 0:
        return
    i = int(np.argmin(verr))
    for k, label in ((1, "sigma1"), (3, "sigma2")):
        if np.any(np.asarray(p)[..., k] == 0):
            raise ValueError(
                f"{label} = 0 and {name_verr}[{i}] = 0: that component has zero total variance "
                f"({label}^2 + {name_verr}^2) for star {i}, so its likelihood is infinite there. "
                f"Fix: start from {label} > 0, or give that star its (non-zero) measurement error"
            )


def old_order_error(function: str, new: str, old: str) -> TypeError:
    """Arguments that fit an order a function had before the conventions were kept: say so, not a shape error."""
    return TypeError(f"{function} takes {function}{new}; the arguments given look like its old order "
                     f"{function}{old}. Fix: pass them in the new order (helpers.py, Conventions: argument order)")


# ----------------------------------------------------------------------------- parameters
def check_params(
    params: Any, *, name: str = "params", batch: bool = False, valid: bool = True, zero_widths: bool = False
) -> np.ndarray:
    """A parameter vector ``(mean1, sigma1, mean2, sigma2, frac1)`` (or a batch of them).

    With ``valid`` the vector must lie in the valid region, and the message names the entry at
    fault: 0 < frac1 < 1, 0 <= sigma1 <= sigma2 (component 1 is the narrower); not both sigmas 0
    unless ``zero_widths`` (an evaluation with errors is fine there, a fit cannot move).
    """
    shape = "of shape (5,) or (n_sets, 5)" if batch else "of shape (5,)"
    p = as_float_array(name, params, ndim=None, finite=valid)
    if p.shape[-1:] != (5,) or p.ndim > (2 if batch else 1) or p.ndim == 0:
        raise _value_error(name, f"{shape} ordered (mean1, sigma1, mean2, sigma2, frac1)", _Raw(f"shape {p.shape}"),
                           "pass the five parameters in that order")
    if not valid:
        return p
    region = " (the valid region is 0 < frac1 < 1, 0 <= sigma1 <= sigma2)"
    for j, row in enumerate(np.atleast_2d(p)):
        m1, sd1, m2, sd2, f1 = row
        where = name if p.ndim == 1 else f"{name}[{j}]"
        if not 0.0 < f1 < 1.0:
            raise _value_error(f"frac1 in {where}", "strictly between 0 and 1" + region, f1,
                               "a fraction of 0 or 1 leaves a component without stars; use e.g. 0.5")
        if sd1 < 0 or sd2 < 0:
            raise _value_error(f"sigma1 and sigma2 in {where}", "non-negative" + region, (sd1, sd2),
                               "use their absolute values")
        if sd1 > sd2:
            raise _value_error(f"sigma1 in {where}", f"<= sigma2 = {sd2:g}, component 1 being the narrower" + region,
                               sd1, f"swap the components: [{m2:g}, {sd2:g}, {m1:g}, {sd1:g}, {1 - f1:g}]")
        if sd1 == 0 and sd2 == 0 and not zero_widths:
            raise _value_error(f"sigma1 and sigma2 in {where}", "not both zero (a fit cannot move from there)",
                               (sd1, sd2), "start the field component wide, e.g. sigma2 = np.std(v)")
    return p


# ----------------------------------------------------------------------------- scalars
def check_int(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer (bools and floats such as 2.0 are refused), within [minimum, maximum].

    Without ``maximum``, a count named in :data:`MAX_COUNTS` (``n_walkers``, ``n_starts`` ...) is
    bounded there: a typo such as 10**9 must not become a raw ``MemoryError`` or an endless run.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise _type_error(name, "an integer", value, f"pass {name} as an int, e.g. {minimum or 0}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise _value_error(name, f">= {minimum}", value, f"use {name}={minimum} or more")
    if maximum is None and name in MAX_COUNTS and value > MAX_COUNTS[name]:
        bound = MAX_COUNTS[name]
        raise _value_error(name, f"<= {bound:_} (it sizes the arrays or the run time)", value,
                           f"use {name}={bound:_} or less; the defaults are far smaller (extra zeros?)")
    if maximum is not None and value > maximum:
        raise _value_error(name, f"<= {maximum}", value, f"use {name}={maximum} or less")
    return value


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    return check_int(name, value, minimum=minimum)


def check_float(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    fix: str = "",
) -> float:
    """A finite real number within the given bounds (open or closed)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise _type_error(name, "a real number", value, fix or f"pass {name} as a number, not {type(value).__name__}")
    value = float(value)
    lo = "" if low is None else ("(" if low_open else "[") + f"{low:g}"
    hi = "" if high is None else f"{high:g}" + (")" if high_open else "]")
    interval = f"in {lo or '(-inf'}, {hi or 'inf)'}"
    if not np.isfinite(value):
        raise _value_error(name, f"a finite number {interval}", value, fix or f"choose a value {interval}")
    if low is not None and (value < low or (low_open and value == low)):
        raise _value_error(name, interval, value, fix or f"choose a value {interval}")
    if high is not None and (value > high or (high_open and value == high)):
        raise _value_error(name, interval, value, fix or f"choose a value {interval}")
    return value


def check_positive_float(name: str, value: Any, *, fix: str = "") -> float:
    return check_float(name, value, low=0.0, low_open=True, fix=fix)


def check_probability(name: str, value: Any, *, open_interval: bool = False) -> float:
    """A probability in [0, 1], or in (0, 1) with ``open_interval``."""
    return check_float(name, value, low=0.0, high=1.0, low_open=open_interval, high_open=open_interval)


def check_bool(name: str, value: Any) -> bool:
    """True or False only: ``"no"`` is truthy, so strings are refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise _type_error(name, "True or False", value, f"pass {name}=True or {name}=False")
    return bool(value)


def check_pair(name: str, value: Any, *, low: float | None = None, allow_equal: bool = False) -> tuple[float, float]:
    """A (lo, hi) pair of finite numbers with lo < hi, or lo <= hi with ``allow_equal``."""
    if isinstance(value, _NOT_ARRAYS) or not hasattr(value, "__len__") or len(value) != 2:
        raise _type_error(name, "a pair (lo, hi)", value, f"pass {name}=(lo, hi)")
    lo, hi = (check_float(f"{name}[{i}]", x, low=low) for i, x in enumerate(value))
    if lo > hi:
        raise _value_error(name, f"(lo, hi) with lo {'<=' if allow_equal else '<'} hi", value,
                           f"swap them: {name}=({hi:g}, {lo:g})")
    if lo == hi and not allow_equal:
        raise _value_error(name, "(lo, hi) with lo < hi: an interval of positive width", value,
                           f"widen it: {name}=(lo, hi) with hi > lo, e.g. ({lo:g}, {lo + max(1.0, abs(lo)):g})")
    return lo, hi


def check_bounds(bounds: Any, *, name: str = "bounds") -> dict[str, tuple[float, float]]:
    """A finite prior box ``{"mean": (lo, hi), "sigma": (lo, hi)}`` in km/s, sigma lo >= 0."""
    if not isinstance(bounds, Mapping):
        raise _type_error(name, 'a dict {"mean": (lo, hi), "sigma": (lo, hi)}', bounds, "see DEFAULT_BOUNDS")
    missing = {"mean", "sigma"} - set(bounds)
    if missing:
        raise _value_error(name, 'a dict with keys "mean" and "sigma"', bounds, f"add {sorted(missing)}")
    unknown = set(bounds) - {"mean", "sigma"}
    if unknown:  # a misspelt key ("frac", "sigmas") would otherwise be ignored silently
        raise _value_error(name, 'a dict with only the keys "mean" and "sigma"', bounds,
                           f"remove {sorted(unknown, key=str)} (frac1 is always bounded by 0 and 1)")
    out = {k: check_pair(f'{name}["{k}"]', bounds[k], low=0.0 if k == "sigma" else None) for k in ("mean", "sigma")}
    return out


def check_unit_interval_array(name: str, value: Any, n: int | None = None) -> np.ndarray:
    """Probabilities: a 1-D array of finite values in [0, 1] (of length ``n`` if given)."""
    arr = as_float_array(name, value, allow_bool=True)  # certain memberships (True/False) are probabilities 1/0
    if n is not None and arr.size != n:
        raise _value_error(name, f"one value per star ({n})", _Raw(f"{arr.size} values"), "pass one value per star")
    if ((arr < 0) | (arr > 1)).any():
        i = int(np.flatnonzero((arr < 0) | (arr > 1))[0])
        raise _value_error(f"{name}[{i}]", "a probability in [0, 1]", arr[i], "pass probabilities, not log-odds")
    return arr


def check_chain(chain: Any, *, name: str = "chain") -> np.ndarray:
    """An emcee chain of shape (n_steps, n_walkers, n_dim), finite."""
    arr = as_float_array(name, chain, ndim=None)
    if arr.ndim == 2:
        raise _value_error(name, "3-D (n_steps, n_walkers, n_dim)", _Raw(
                           f"a 2-D array of shape {arr.shape}: it looks flattened, which mixes the walkers and "
                           "hides the autocorrelation"),
                           "pass sampler.get_chain(), not get_chain(flat=True)")
    if arr.ndim != 3:
        raise _value_error(name, "3-D (n_steps, n_walkers, n_dim)", _Raw(f"shape {arr.shape}"),
                           "pass sampler.get_chain(); for one series x use x[:, None, None]")
    return arr


def check_populations(name: str, value: Any) -> list[tuple[int, float, float]]:
    """Mock populations: a list of ``(n_stars, mean, sigma)`` with n_stars >= 0 and sigma >= 0 [km/s]."""
    fix = f"pass {name}=[(n_stars, mean, sigma), ...], e.g. [(200, 0.0, 40.0)]"
    if isinstance(value, _NOT_ARRAYS) or not hasattr(value, "__iter__"):
        raise _type_error(name, "a list of (n_stars, mean, sigma) tuples", value, fix)
    items = list(value)
    if items and all(isinstance(x, numbers.Number) for x in items):
        raise _type_error(name, "a list of (n_stars, mean, sigma) tuples", value,
                          f"wrap it in a list: {name}=[{value!r}]")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, _NOT_ARRAYS) or not hasattr(item, "__len__") or len(item) != 3:
            raise _value_error(f"{name}[{i}]", "a tuple (n_stars, mean, sigma)", item, fix)
        n, mean, sigma = item
        n = check_int(f"{name}[{i}][0] (n_stars)", n, minimum=0, maximum=MAX_COUNTS["n_members"])
        out.append((n, check_float(f"{name}[{i}][1] (mean)", mean),
                    check_float(f"{name}[{i}][2] (sigma)", sigma, low=0.0)))
    return out


# ----------------------------------------------------------------------------- randomness
def as_rng(rng: Any, *, name: str = "rng") -> np.random.Generator:
    """An int seed (>= 0) or a ``numpy.random.Generator`` as a Generator (the same object)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, (bool, np.bool_)):
        if rng < 0:
            raise _value_error(name, "a non-negative int seed or a numpy.random.Generator", rng, f"use {name}={-rng}")
        return np.random.default_rng(int(rng))
    fix = ("np.random.RandomState is the legacy generator: pass np.random.default_rng(seed)"
           if isinstance(rng, np.random.RandomState) else f"pass {name}=0 (any int seed) or np.random.default_rng(0)")
    raise _type_error(name, "a non-negative int seed or a numpy.random.Generator", rng, fix)


def as_legacy_seed(rng: Any, *, name: str = "rng") -> int:
    """A 32-bit seed for libraries that only take the legacy RandomState (emcee)."""
    if isinstance(rng, numbers.Integral) and not isinstance(rng, (bool, np.bool_)):
        if not 0 <= rng < 2**32:
            raise _value_error(name, "an int seed in [0, 2**32) or a numpy.random.Generator", rng,
                               f"use e.g. {name}=0")
        return int(rng)
    return int(as_rng(rng, name=name).integers(2**32))


# ----------------------------------------------------------------------------- files and names
#: The longest file or folder name most file systems allow [bytes] (NAME_MAX of Linux, macOS and Windows).
_NAME_MAX = 255


def check_path(name: str, value: Any, *, file: bool = False) -> pathlib.Path:
    """A file path (str or path-like).  A string holding file *contents* is refused.

    Always refused: an empty path (``Path("")`` is the working directory), a NUL character (no
    operating system allows one) and a name longer than 255 bytes (text passed as a path?).
    With ``file=True`` (a file to read or to write), also an existing folder, and a path under an
    existing *file* (a writer could not create the folder).
    """
    if not isinstance(value, (str, os.PathLike)):
        fix = ("decode it or write it to a file" if isinstance(value, bytes)
               else f"pass {name} as a str or pathlib.Path")
        raise _type_error(name, "a file path (str or pathlib.Path)", value, fix)
    if isinstance(value, str) and "\n" in value:
        raise _value_error(name, "a file path", value, "that is the file's contents: pass its lines, text.splitlines()")
    text = os.fspath(value)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if text.strip() == "":
        raise _value_error(name, "a non-empty path", value,
                           'pass the file (or folder) by name; "." is the working directory, if that is meant')
    if "\0" in text:
        raise _value_error(name, "a file path without NUL characters", value,
                           f"remove the NUL (\\0) from {name}: no file system allows it")
    path = pathlib.Path(text).expanduser()
    longest = max(path.parts, key=lambda part: len(os.fsencode(part)))
    if len(os.fsencode(longest)) > _NAME_MAX:  # the OS would say "File name too long" (errno 36)
        raise _value_error(name, f"a file path whose names are at most {_NAME_MAX} bytes long", value,
                           f"a name of {len(os.fsencode(longest))} bytes is no file: if {name} holds text, pass its "
                           "lines (text.splitlines()); otherwise shorten the name")
    if file:
        if path.is_dir():
            raise IsADirectoryError(f"{name} must be a file; got {str(path)!r}, which is a folder. Fix: pass the "
                                    f"path of a file (inside it, e.g. {str(path / 'NAME.csv')!r})")
        parent = next((p for p in path.parents if p.exists()), None)
        if parent is not None and not parent.is_dir():
            raise NotADirectoryError(f"{name} must be a file in a folder; got {str(path)!r}, but {str(parent)!r} is "
                                     "a file, not a folder. Fix: choose another folder for the file")
    return path


def check_cluster_name(name: str, value: Any) -> str:
    """A cluster name (str).  Paths, lists and numbers are refused with the function to use."""
    if isinstance(value, str):
        return value
    if isinstance(value, os.PathLike):
        fix = "that is a file: read it with load_cluster_file(path)"
    elif isinstance(value, (list, tuple)):
        fix = "one name at a time: [load_cluster(n) for n in names]"
    else:
        fix = f'pass the name as a string, e.g. "NGC {value}"' if isinstance(value, numbers.Integral) else \
            'pass the name as a string, e.g. "NGC 288"; helpers.cluster_names() lists them'
    raise _type_error(name, "a cluster name (str)", value, fix)


def check_path_or_name(value: Any, *, name: str = "cluster") -> tuple[str, Any]:
    """Decide by *type* what ``value`` is: ("stars", recarray), ("path", Path) or ("name", str).

    A string is always a name, never a file in the working directory: a file called "NGC 288"
    must not replace the cluster.  Files are passed as ``pathlib.Path``.
    """
    if isinstance(value, np.ndarray) and value.dtype.names:
        return "stars", check_stars(value, name=name, one_cluster=True, fitted=True)
    if isinstance(value, os.PathLike):
        return "path", pathlib.Path(value)
    if isinstance(value, str):
        return "name", value
    raise _type_error(name, "a cluster name (str), a file (pathlib.Path) or stars (a recarray from load_cluster)",
                      value, 'e.g. fit_cluster("NGC 288") or fit_cluster(pathlib.Path("my_cluster.txt"))')


def name_not_found_hint(value: str) -> str:
    """Extra sentence for the KeyError of an unknown name that happens to be an existing file."""
    if os.path.isfile(value):
        return f" A file {value!r} exists: to read it, pass pathlib.Path({value!r})."
    return ""


def read_text(path: pathlib.Path, *, encoding: str, error: type[Exception] = DataFormatError) -> str:
    """The file's text; every failure names the file (and the encoding).

    Only regular files are opened: ``open()`` on a FIFO waits for a writer forever, and a
    device can be endless, so both are refused after a ``stat`` that cannot block.
    """
    if path.exists() and not path.is_dir() and not path.is_file():
        raise error(
            f"{path} is not a regular file (a FIFO, socket or device), so it is not read: it could block or "
            "never end. Fix: save the data to an ordinary file and pass that"
        )
    try:
        with open(path, encoding=encoding, errors="strict") as fh:
            return fh.read()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path}: no such file (working directory {os.getcwd()}). Fix: check the name, or pass an absolute path"
        ) from None
    except IsADirectoryError:
        raise IsADirectoryError(f"{path} is a directory. Fix: pass the file inside it") from None
    except UnicodeDecodeError as err:
        enc = encoding.upper()
        raise error(
            f"{path}: not {'an' if enc == 'ASCII' else 'a'} {enc} text file (byte {err.object[err.start]:#04x} "
            f"at offset {err.start} cannot be decoded). Fix: re-save the file as {enc} "
            f"(e.g. iconv -f latin1 -t {encoding} in > out)"
        ) from None


def as_lines(name: str, value: Any) -> list[str]:
    """The lines of a text held in memory (a sequence of str), without their newline characters."""
    if isinstance(value, (bytes, bytearray)) or not hasattr(value, "__iter__"):
        raise _type_error(name, "a file path or a sequence of str (the file's lines)", value,
                          "pass pathlib.Path(file), or text.splitlines() for text in memory (decode bytes first)")
    lines = list(value)
    for i, line in enumerate(lines):
        if not isinstance(line, str):
            raise _type_error(f"{name}[{i}]", "a str (one line of the file)", line, "decode it")
    return [line.rstrip("\r\n") for line in lines]


def check_columns(name: str, value: Any, *, what: tuple[str, ...]) -> tuple[int, ...]:
    """Distinct 0-based column numbers, one for each quantity in ``what``."""
    example = ", ".join(str(4 + i) for i in range(len(what)))
    if not isinstance(value, (tuple, list)) or len(value) != len(what):
        raise _value_error(name, f"{len(what)} column numbers ({', '.join(what)})", value, f"e.g. {name}=({example})")
    cols = tuple(check_int(f"{name}[{i}]", c, minimum=0) for i, c in enumerate(value))
    if len(set(cols)) != len(cols):
        raise _value_error(name, "different columns", value, f"e.g. {name}=({example})")
    return cols


def is_number(text: str) -> bool:
    """Whether ``float(text)`` succeeds (a header line is not made of numbers)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_table(value: Any, *, name: str = "table", allow_none: bool = True) -> Any:
    """A parsed compilation (duck-typed: ``.stars`` and ``.path``), or None when allowed."""
    if value is None and allow_none:
        return None
    if not (hasattr(value, "stars") and hasattr(value, "path")):
        fix = ("a str is a cluster name; read a compilation file with load_table(pathlib.Path(file)), or leave "
               f"{name} out to use the pinned compilation") if isinstance(value, str) else \
            "pass helpers.load_table() (or leave it out to use the default compilation)"
        raise _type_error(name, "a BaumgardtTable from load_table()", value, fix)
    names = getattr(getattr(value.stars, "dtype", None), "names", None) or ()
    missing = [f for f in _TABLE_FIELDS if f not in names]
    if not isinstance(value.stars, np.ndarray) or missing:
        got = (f"a table whose stars lack the field(s) {', '.join(missing)}" if isinstance(value.stars, np.ndarray)
               else f"a table whose stars are {_describe(value.stars)}")
        raise _type_error(f"{name}.stars", f"a record array with the fields {', '.join(_TABLE_FIELDS)}", _Raw(got),
                          "pass helpers.load_table() (or leave it out to use the default compilation)")
    return value


#: The fields of a compilation's stars that the survey and the loaders read.
_TABLE_FIELDS = ("cluster", "velocity", "velocity_error", "distance", "p_mem")


_STAR_FIELDS = ("velocity", "velocity_error", "distance")


def check_stars(
    value: Any,
    *,
    name: str = "stars",
    fields: tuple[str, ...] = _STAR_FIELDS,
    one_cluster: bool = False,
    fitted: bool = False,
) -> np.recarray:
    """Stars as returned by the loaders: a record array with the fields used.

    A masked record array (``numpy.ma``, or astropy's ``Masked``) with masked entries in any
    field is refused, naming the field and the first star: the stored values (often -999) would
    be used as data.  Without masked entries it is its data.

    Options for the callers that need them:

    * ``one_cluster``: the stars of several clusters (distinct ``cluster`` values, compared without
      case or spaces) are refused, with the selection that keeps one.  For functions that describe
      *one* cluster: ``fit_cluster`` (through :func:`check_path_or_name`), ``write_member_catalogue``,
      ``pmem_weighted_mean``.
    * ``fitted``: the values must be fit for a cluster fit: velocities and errors within
      :data:`MAX_ABSURD_SPEED` (:func:`check_speeds`) and distances in arcsec (:func:`check_distances`).
    """
    names = getattr(getattr(value, "dtype", None), "names", None) or ()
    if not isinstance(value, np.ndarray) or not set(fields) <= set(names):
        raise _type_error(name, f"a record array of stars with fields {', '.join(fields)}", value,
                          "pass the result of load_cluster(), load_cluster_file() or mock_cluster_field()")
    numpy_masked = np.ma.isMaskedArray(value)
    if numpy_masked or _is_astropy_masked(value):  # np.asarray and .view would drop the mask silently
        mask = np.ma.getmaskarray(value) if numpy_masked else np.asarray(value.mask)
        for field in names:
            if mask[field].any():
                i = int(np.flatnonzero(np.atleast_1d(mask[field]))[0])
                keep = (f"np.ma.getmaskarray({name}[{field!r}])" if numpy_masked else f"{name}[{field!r}].mask")
                data = f"np.ma.getdata({name})" if numpy_masked else f"{name}.unmasked"
                raise ValueError(
                    f"{name} is a masked record array with {int(mask[field].sum())} masked {field} value(s) (the "
                    f"first for star {i}): their stored values would be used as data. Fix: keep the stars whose "
                    f"values are present, e.g. {name} = {name}[~{keep}], or use the stored values on purpose "
                    f"({data}) after checking them"
                )
        value = np.ma.getdata(value) if numpy_masked else value.unmasked
    stars = value.view(np.recarray)
    if one_cluster and "cluster" in names:
        _check_one_cluster(name, stars)
    if fitted:
        for field in ("velocity", "velocity_error"):  # named as the fields: fit_cluster's arguments are the stars
            if field in names:
                check_speeds(field, as_float_array(field, stars[field]))
        if "distance" in names:
            check_distances("distance", stars.distance)
    return stars


def _check_one_cluster(name: str, stars: np.recarray) -> None:
    """Refuse the stars of several clusters where one cluster is described (its name taken from the first star)."""
    if len(stars) < 2:  # none or one star: one cluster at most (and np.char.replace fails on empty arrays)
        return
    labels = np.asarray(stars.cluster).astype(str)
    keys = np.char.upper(np.char.replace(labels, " ", ""))  # "NGC 288", "ngc288" and "NGC  288" are one cluster
    unique, first, counts = np.unique(keys, return_index=True, return_counts=True)
    if unique.size > 1:
        order = np.argsort(first)  # in the order the stars come
        listed = ", ".join(f"{str(labels[first[k]])!r} ({counts[k]} stars)" for k in order[:5])
        more = f" and {unique.size - 5} more" if unique.size > 5 else ""
        raise ValueError(
            f"{name} must be the stars of one cluster; got {unique.size} clusters: {listed}{more}. A fit of them "
            f"together would be reported under the first name. Fix: select one cluster, e.g. "
            f'stars[stars.cluster == "{labels[first[order[0]]]}"], or fit each with survey()'
        )


def check_distances(name: str, value: Any) -> np.ndarray:
    """Projected distances from the cluster centre [arcsec] (>= 0, finite) that can be arcsec.

    A sample of at least :data:`MIN_STARS_DISTANCE_CHECK` stars that all lie within
    :data:`MIN_FIELD_RADIUS_ARCSEC` of the centre (the smallest Plummer scale a fit allows) is
    refused: such distances are degrees or arcmin, or missing (all zero).  Returns the float array.
    """
    R = as_float_array(name, value, nonnegative=True)
    if R.size < MIN_STARS_DISTANCE_CHECK or R.max() >= MIN_FIELD_RADIUS_ARCSEC:
        return R
    if R.max() == 0:
        raise ValueError(
            f"{name} must be projected distances from the cluster centre in arcsec; got all {R.size} equal to 0, "
            "so the stars' positions are missing. Fix: pass each star's distance in arcsec; to fit the velocities "
            "alone (no membership profile), use em_fit(v, verr, random_starts(v, 1)[0])"
        )
    raise ValueError(
        f"{name} must be projected distances from the cluster centre in arcsec; got all {R.size} within "
        f"{MIN_FIELD_RADIUS_ARCSEC:g} arcsec (the largest {R.max():.4g}), inside the smallest Plummer scale a fit "
        f"allows. Fix: these look like degrees: multiply by 3600 ({name} * 3600; arcmin: * 60)"
    )


#: Methods of scipy.optimize.minimize that need an analytic Jacobian (and the trust-region ones a
#: Hessian), which minimize_fit does not supply: scipy would stop with "Jacobian is required".
NEEDS_DERIVATIVES = ("newton-cg", "dogleg", "trust-ncg", "trust-exact", "trust-krylov")
#: Arguments of scipy.optimize.minimize itself, not options of a method: minimize_fit passes only ``options=``.
MINIMIZE_ARGUMENTS = ("fun", "x0", "args", "method", "jac", "hess", "hessp", "bounds", "constraints", "tol",
                      "callback", "options")


def check_minimize_options(method: Any, options: dict[str, Any]) -> dict[str, Any]:
    """Refuse a bad scipy method or option *before* the optimisation runs; return the options.

    * ``method`` must be a name that scipy knows and that needs no derivatives we do not supply
      (Newton-CG and the trust-region methods need an analytic Jacobian).
    * ``max_iter`` (this package's spelling) is accepted for ``maxiter``; both at once is refused.
    * minimize's own arguments (``bounds``, ``callback``, ``jac`` ...) are not options: refused
      with the way to pass them, instead of scipy's "got multiple values" TypeError.
    * ``maxiter``, ``maxfev`` and ``maxfun`` are positive ints; other options are not str or None.
    * scipy only warns about unknown options and then ignores them: a run with ``xtol_typo``
      silently uses the defaults.  A dry run on a trivial quadratic in five parameters (so that
      shaped options such as ``initial_simplex`` fit) turns that warning, and any error scipy
      raises for an option's value, into an error naming the options.
    """
    from scipy.optimize import OptimizeWarning, minimize

    if not isinstance(method, str):
        raise _type_error("method", "the name of a scipy.optimize.minimize method", method, 'e.g. "Nelder-Mead"')
    if method.lower() in NEEDS_DERIVATIVES:
        raise _value_error("method", "a method that needs no analytic derivatives", method,
                           f"{method} needs the Jacobian{'' if method.lower() == 'newton-cg' else ' and Hessian'}, "
                           "which minimize_fit does not supply: use 'BFGS' or 'L-BFGS-B' (finite-difference "
                           "gradients), 'Nelder-Mead' or 'Powell'; for analytic derivatives call "
                           "scipy.optimize.minimize yourself (notebook 02)")
    options = dict(options)
    if "max_iter" in options:
        if "maxiter" in options:
            raise TypeError(f"max_iter and maxiter are the same option (max_iter is this package's spelling of "
                            f"scipy's maxiter); got both: max_iter={options['max_iter']!r}, "
                            f"maxiter={options['maxiter']!r}. Fix: pass only one of them")
        options["maxiter"] = check_positive_int("max_iter", options.pop("max_iter"))
    for key, value in options.items():
        if key in MINIMIZE_ARGUMENTS:
            raise TypeError(f"{key} is an argument of scipy.optimize.minimize, not an option of its method; "
                            f"minimize_fit passes only options=. Fix: leave {key} out, or call "
                            f"scipy.optimize.minimize(lambda p: -helpers.log_likelihood(p, v, verr), init, "
                            f"method={method!r}, {key}=...) yourself (notebook 02 does so)")
        if key in ("maxiter", "maxfev", "maxfun"):
            check_positive_int(key, value)
        elif isinstance(value, (str, bytes)) or value is None:
            raise _type_error(key, "a number, a boolean or an array (an option of scipy's minimize)", value,
                              f"e.g. {key}=1e-8 as a number, not a string")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        try:
            # no options of our own: not every method knows maxiter (TNC says maxfun)
            minimize(lambda x: float(x @ x), np.ones(5), method=method, options=dict(options))
        except ValueError as err:
            if "Unknown solver" in str(err):
                raise _value_error("method", "a method of scipy.optimize.minimize", method,
                                   'e.g. method="Nelder-Mead" or "Powell"') from None
            raise _options_error(method, options, err) from None
        except TypeError as err:
            raise _options_error(method, options, err) from None
    unknown = [str(w.message) for w in rec if issubclass(w.category, OptimizeWarning) and "Unknown" in str(w.message)]
    if unknown:
        raise TypeError(f"{unknown[0]} for method {method!r}. Fix: see scipy.optimize.show_options('minimize', "
                        f"{method!r}) for the names this method knows")
    return options


def _options_error(method: str, options: dict[str, Any], err: Exception) -> TypeError:
    """scipy's own complaint about an option's value, as this package's message naming the options."""
    return TypeError(f"the options {sorted(options)} of method {method!r} were refused by scipy.optimize.minimize "
                     f"({type(err).__name__}: {err}). Fix: check their types and values with "
                     f"scipy.optimize.show_options('minimize', {method!r})")
