"""Gaussian mixtures with per-star measurement errors ("extreme deconvolution").

This module is the shared library of the tutorial notebooks.  It implements,
for *one-dimensional* data (line-of-sight velocities) and *two* Gaussian
components (a globular cluster and its field):

* access to the real data: Baumgardt's 2019 compilation of individual-star
  velocities (Baumgardt & Hilker 2018, MNRAS 478, 1520; Baumgardt et al. 2019,
  MNRAS 482, 5138), downloaded once with a pinned URL and SHA-256 checksum and
  read by a strict fixed-width parser;
* the error-convolved mixture likelihood (Hogg, Bovy & Lang 2010; Bovy, Hogg &
  Roweis 2011), evaluated stably in log space;
* expectation-maximisation with deconvolution of the per-star errors (Bovy,
  Hogg & Roweis 2011, eq. 16 reduced to 1-D), and the naive EM that ignores
  the errors, for comparison;
* thin wrappers around Bovy's ``extreme_deconvolution`` (optional) and
  astroML's ``XDGMM`` that return results in this module's parameter order;
* the pieces of a posterior analysis with ``emcee`` (Foreman-Mackey et al.
  2013): a proper prior, the posterior, walker initialisation, burn-in and
  thinning from the integrated autocorrelation time, percentile summaries;
* plotting helpers used by more than one notebook.

Conventions
-----------
The parameter vector is everywhere ``(mean1, sigma1, mean2, sigma2, frac1)``:
component 1 is the cluster (the *narrower* Gaussian), component 2 the field.
Means and intrinsic dispersions are in km/s, ``frac1`` is the fraction of stars
in the cluster.  A star ``i`` with measured velocity ``v_i`` and uncertainty
``e_i`` has, under component ``k``, the density
``N(v_i | mean_k, sigma_k**2 + e_i**2)``: the intrinsic Gaussian convolved with
the star's own error distribution.

Limitations, stated up front: 1-D data, exactly two components, Gaussian
errors that are known and uncorrelated between stars.  For more dimensions or
components use astroML's ``XDGMM`` or Bovy's ``extreme_deconvolution``.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import logging
import os
import pathlib
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import logsumexp

__all__ = [
    "DATA_FILENAME",
    "DATA_SHA256",
    "DATA_URL",
    "PARAM_NAMES",
    "PARAM_LABELS",
    "DataChecksumError",
    "DataFormatError",
    "DataUnavailableError",
    "ExtremeDeconvolutionNotInstalled",
    "EMConvergenceWarning",
    "FitResult",
    "BaumgardtTable",
    "data_directory",
    "results_dir",
    "fetch_data",
    "read_baumgardt_table",
    "load_table",
    "cluster_names",
    "load_cluster",
    "load_cluster_file",
    "validate_data",
    "log_likelihood",
    "component_log_densities",
    "membership_probability",
    "model_density",
    "initial_guess",
    "em_step",
    "em_fit",
    "random_starts",
    "em_multi_start",
    "minimize_fit",
    "fisher_uncertainties",
    "sample_mock",
    "bovy_xd_available",
    "fit_bovy_xd",
    "fit_astroml_xd",
    "ClusterFit",
    "fit_cluster",
    "membership_prior",
    "format_cluster_fit",
    "mock_cluster_field",
    "survey",
    "write_survey_csv",
    "pmem_weighted_mean",
    "log_prior",
    "log_posterior",
    "init_walkers",
    "make_sampler",
    "burn_thin_from_autocorr",
    "percentile_summary",
    "write_member_catalogue",
    "format_params",
    "notebook_style",
    "plot_velocity_vs_distance",
    "plot_membership",
    "plot_model_vs_mock",
]

log = logging.getLogger(__name__)

#: Names of the five model parameters, in order.
PARAM_NAMES: tuple[str, ...] = ("mean1", "sigma1", "mean2", "sigma2", "frac1")
#: LaTeX labels of the five model parameters, for plots.
PARAM_LABELS: tuple[str, ...] = (
    r"$\mu_1$ [km/s]",
    r"$\sigma_1$ [km/s]",
    r"$\mu_2$ [km/s]",
    r"$\sigma_2$ [km/s]",
    r"$f_1$",
)

# --------------------------------------------------------------------------
# Data access
# --------------------------------------------------------------------------

#: File name of the compilation, in the cache directory and in ``GMM_DATA_DIR``.
DATA_FILENAME = "baumgardt2019_appendix_combined_table.txt"
#: Pinned, immutable copy of the 2019-10-17 snapshot (see data/README.md).
DATA_URL = (
    "https://raw.githubusercontent.com/balbinot/supaharris/"
    "5c270d7657d16e18dd6df3d8cb051f21c9444864/data/MW_GCS_Hilker2019/"
    "appendix_combined_table.txt"
)
#: SHA-256 of that snapshot.
DATA_SHA256 = "4af8186b0eefc8761f8a7237735579fe9a6e02ca644cb496c53190fd00aeff43"
#: Environment variable that overrides the data directory.
DATA_DIR_ENV = "GMM_DATA_DIR"
#: Environment variable naming the folder the notebooks write their result tables to.
RESULTS_DIR_ENV = "XD_RESULTS_DIR"


class DataUnavailableError(OSError):
    """The data file is not on disk and could not be downloaded."""


class DataChecksumError(ValueError):
    """A data file on disk (or just downloaded) does not have the pinned SHA-256."""


class DataFormatError(ValueError):
    """A data file does not follow the documented format; the message names the line."""


def data_directory(data_dir: str | os.PathLike[str] | None = None) -> pathlib.Path:
    """Directory where the compilation is looked for and cached.

    Parameters
    ----------
    data_dir : str or path-like, default=None
        Explicit directory.  If None, the environment variable ``GMM_DATA_DIR``
        is used when set, otherwise the ``data/`` folder next to this module.

    Returns
    -------
    pathlib.Path
        The directory (it need not exist yet).
    """
    if data_dir is not None:
        return pathlib.Path(data_dir).expanduser()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return pathlib.Path(env).expanduser()
    return pathlib.Path(__file__).resolve().parent / "data"


def results_dir(results: str | os.PathLike[str] | None = None) -> pathlib.Path:
    """Folder the notebooks write their result tables (CSV files) to, created if needed.

    The committed tables live in ``notebooks/results/``; only the maintainers'
    ``make notebooks`` refreshes them.  The tests (``make test``) set
    ``XD_RESULTS_DIR`` to a scratch folder under ``build/``, so that running them
    changes no tracked file.

    Parameters
    ----------
    results : str or path-like, default=None
        Explicit folder.  If None, the environment variable ``XD_RESULTS_DIR`` is
        used when set, otherwise ``results/`` relative to the working directory
        (the notebooks run in ``notebooks/``).

    Returns
    -------
    pathlib.Path
        The folder, which exists on return.
    """
    if results is None:
        results = os.environ.get(RESULTS_DIR_ENV) or "results"
    path = pathlib.Path(results).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_data(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    url: str = DATA_URL,
    sha256: str = DATA_SHA256,
    filename: str = DATA_FILENAME,
) -> pathlib.Path:
    """Return the path of the verified data file, downloading it if needed.

    The file is looked for in :func:`data_directory`.  If present, its SHA-256
    is checked; if absent, it is downloaded with :mod:`pooch` from the pinned
    ``url`` and checked the same way.  Nothing is ever accepted unverified.

    Parameters
    ----------
    data_dir : str or path-like, default=None
        Directory to look in and cache to (see :func:`data_directory`).
    url : str, default=DATA_URL
        Where to download from.
    sha256 : str, default=DATA_SHA256
        Expected SHA-256 hex digest.
    filename : str, default=DATA_FILENAME
        File name inside the directory.

    Returns
    -------
    pathlib.Path
        Path of the verified file.

    Raises
    ------
    DataChecksumError
        The file on disk, or the downloaded one, has another checksum.
    DataUnavailableError
        The file is absent and the download failed (e.g. no network).
    """
    directory = data_directory(data_dir)
    path = directory / filename
    if path.is_file():
        found = _sha256(path)
        if found != sha256:
            raise DataChecksumError(
                f"{path} has SHA-256 {found}, expected {sha256}. The file is corrupt or a "
                f"different version (Baumgardt's live file has grown since the pinned 2019 "
                f"snapshot). Delete it to download the pinned copy again from {url}"
            )
        return path
    try:
        import pooch
    except ImportError as err:  # pragma: no cover - pooch is a hard requirement
        raise DataUnavailableError(
            f"{path} is missing and pooch is not installed to download it; "
            "`pip install -r requirements.txt`"
        ) from err
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fetched = pooch.retrieve(
            url, known_hash=f"sha256:{sha256}", fname=filename, path=directory, progressbar=False
        )
    except ValueError as err:
        # pooch raises ValueError when the downloaded file's hash does not match
        # (and deletes the bad download).
        raise DataChecksumError(
            f"the file downloaded from {url} does not have SHA-256 {sha256}: {err}"
        ) from err
    except Exception as err:  # network errors come from requests, OSError, ...
        raise DataUnavailableError(
            f"{filename} is not in {directory} and could not be downloaded from {url} "
            f"({type(err).__name__}: {err}).\n"
            f"Fix: download that URL on a machine with network access and save it as "
            f"{path}, or point the environment variable {DATA_DIR_ENV} at a directory "
            f"that holds {filename} (SHA-256 {sha256})."
        ) from err
    return pathlib.Path(fetched)


# Fixed-width layout of the compilation: (field, start, stop, kind).  Column
# positions measured on the 2019 snapshot (header line 1 names, line 2 units).
_COLUMNS: tuple[tuple[str, int, int, str], ...] = (
    ("cluster", 0, 9, "name"),
    ("twomass_id", 9, 27, "id"),
    ("ra", 27, 39, "required"),
    ("dec", 39, 52, "required"),
    ("velocity", 52, 62, "required"),
    ("velocity_error", 62, 71, "required"),
    ("distance", 71, 81, "required"),
    ("j_mag", 81, 88, "optional"),
    ("j_mag_error", 88, 94, "optional"),
    ("k_mag", 94, 102, "optional"),
    ("k_mag_error", 102, 108, "optional"),
    ("p_mem", 108, 116, "required"),
    ("n_rv", 116, 120, "required"),
    ("p_single", 120, 127, "optional"),
)
_MIN_LINE = 119  # the last required column (NRV) ends here; trailing blanks may be stripped
_MAX_LINE = 127

#: dtype of the star tables returned by the readers.
STAR_DTYPE = np.dtype(
    [
        ("cluster", "U9"),
        ("twomass_id", "U16"),
        ("ra", "f8"),
        ("dec", "f8"),
        ("velocity", "f8"),
        ("velocity_error", "f8"),
        ("distance", "f8"),
        ("j_mag", "f8"),
        ("j_mag_error", "f8"),
        ("k_mag", "f8"),
        ("k_mag_error", "f8"),
        ("p_mem", "f8"),
        ("n_rv", "i4"),
        ("p_single", "f8"),
        ("line", "i4"),
    ]
)

#: Rows with a projected distance beyond this [arcsec] (5 degrees) cannot belong
#: to a globular-cluster field and are skipped (the 2019 snapshot has one:
#: an NGC 6316 placeholder row at 546830 arcsec, with NRV = 0).
MAX_DISTANCE_ARCSEC = 18000.0


@dataclasses.dataclass(frozen=True)
class BaumgardtTable:
    """A parsed compilation: the stars kept and the rows skipped, with reasons.

    Attributes
    ----------
    stars : numpy.recarray of dtype STAR_DTYPE, shape (n_stars,)
        One record per star; ``line`` is the 1-based line number in the file.
    skipped : tuple of (int, str, str)
        ``(line number, reason, line text)`` for every row skipped by policy.
    path : str
        The file read (or ``"<lines>"``).
    """

    stars: np.recarray
    skipped: tuple[tuple[int, str, str], ...]
    path: str


def _parse_float(text: str, field: str, lineno: int, line: str, source: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataFormatError(
            f"{source}, line {lineno}: column {field!r} holds {text!r}, not a number "
            f"(row: {line!r})"
        ) from None
    if not np.isfinite(value):
        raise DataFormatError(
            f"{source}, line {lineno}: column {field!r} is {text!r}; finite values are "
            f"required (row: {line!r})"
        )
    return value


def _parse_row(line: str, lineno: int, source: str) -> tuple[Any, ...]:
    """Parse one data row of the fixed-width compilation (strictly)."""
    if "\t" in line:
        raise DataFormatError(
            f"{source}, line {lineno}: contains a tab; the format is fixed-width with "
            f"spaces (row: {line!r})"
        )
    if not (_MIN_LINE <= len(line) <= _MAX_LINE):
        raise DataFormatError(
            f"{source}, line {lineno}: {len(line)} characters, expected {_MIN_LINE} to "
            f"{_MAX_LINE} (rows are 123 or 127): truncated or shifted row {line!r}"
        )
    # A value straddling a column boundary means the columns have shifted.
    for _, start, _, _ in _COLUMNS[2:]:
        if start < len(line) and line[start - 1] != " " and line[start] != " ":
            raise DataFormatError(
                f"{source}, line {lineno}: a value crosses the column boundary at "
                f"character {start} - columns are shifted (row: {line!r})"
            )
    values: list[Any] = []
    for field, start, stop, kind in _COLUMNS:
        text = line[start:stop].strip()
        if kind == "name":
            if not text:
                raise DataFormatError(f"{source}, line {lineno}: empty cluster name ({line!r})")
            values.append(text)
            continue
        if " " in text:
            raise DataFormatError(
                f"{source}, line {lineno}: column {field!r} holds {text!r}, two values in "
                f"one column - columns are shifted (row: {line!r})"
            )
        if kind == "id":
            values.append(text)
        elif not text:
            if kind == "required":
                raise DataFormatError(
                    f"{source}, line {lineno}: required column {field!r} "
                    f"(characters {start}-{stop}) is empty (row: {line!r})"
                )
            values.append(np.nan)
        else:
            values.append(_parse_float(text, field, lineno, line, source))
    rec = dict(zip([c[0] for c in _COLUMNS], values, strict=True))
    problems = []
    if not 0.0 <= rec["ra"] <= 360.0:
        problems.append(f"RA = {rec['ra']} deg outside [0, 360]")
    if not -90.0 <= rec["dec"] <= 90.0:
        problems.append(f"DEC = {rec['dec']} deg outside [-90, 90]")
    if rec["velocity_error"] <= 0.0:
        problems.append(f"E_RV = {rec['velocity_error']} km/s is not positive")
    if rec["distance"] < 0.0:
        problems.append(f"DCEN = {rec['distance']} arcsec is negative")
    if not 0.0 <= rec["p_mem"] <= 1.0:
        problems.append(f"P_Mem = {rec['p_mem']} outside [0, 1]")
    if rec["n_rv"] != int(rec["n_rv"]) or rec["n_rv"] < 0:
        problems.append(f"NRV = {rec['n_rv']} is not a count")
    if problems:
        raise DataFormatError(f"{source}, line {lineno}: " + "; ".join(problems) + f" ({line!r})")
    rec["n_rv"] = int(rec["n_rv"])
    return (*rec.values(), lineno)


def read_baumgardt_table(
    source: str | os.PathLike[str] | Sequence[str],
) -> BaumgardtTable:
    """Read Baumgardt's fixed-width compilation of individual-star velocities.

    Columns are read by character position (see ``_COLUMNS``), so a blank 2MASS
    ID or missing magnitudes never shift the others.  Every row is validated;
    any malformed row raises :class:`DataFormatError` naming the line.  Rows
    that are well formed but physically impossible for a cluster field are
    *skipped by policy* and listed in ``BaumgardtTable.skipped``: rows with no
    velocity measurement (``NRV = 0``) or a projected distance beyond
    :data:`MAX_DISTANCE_ARCSEC`.

    Parameters
    ----------
    source : str, path-like, or sequence of str
        Path of the file, or its lines (without newline characters).

    Returns
    -------
    BaumgardtTable
        ``stars`` (numpy.recarray with fields ``cluster``, ``twomass_id``,
        ``ra``, ``dec`` [deg], ``velocity``, ``velocity_error`` [km/s],
        ``distance`` [arcsec from the cluster centre], ``j_mag``, ``k_mag`` and
        their errors [mag, NaN when absent], ``p_mem``, ``n_rv``, ``p_single``
        [NaN when absent] and ``line``) and ``skipped``.

    Raises
    ------
    DataFormatError
        Wrong header, or a malformed row (the message gives line and content).
    """
    if isinstance(source, (str, os.PathLike)):
        name = str(source)
        with open(source, encoding="ascii", errors="strict") as fh:
            try:
                lines = fh.read().splitlines()
            except UnicodeDecodeError as err:
                raise DataFormatError(f"{name}: not an ASCII text file ({err})") from None
    else:
        name = "<lines>"
        lines = list(source)
    if len(lines) < 2 or not lines[0].startswith("Cluster") or "E_RV" not in lines[0]:
        first = lines[0] if lines else ""
        raise DataFormatError(
            f"{name}, line 1: expected the compilation's header starting 'Cluster  2MASS ID  "
            f"RA  DEC  RV  E_RV ...', found {first!r}"
        )
    if "[km/sec]" not in lines[1]:
        raise DataFormatError(
            f"{name}, line 2: expected the units line with '[km/sec]', found {lines[1]!r}"
        )
    rows, skipped = [], []
    for lineno, line in enumerate(lines[2:], start=3):
        if not line.strip():
            if lineno == len(lines):
                continue
            raise DataFormatError(f"{name}, line {lineno}: blank line inside the table")
        rec = _parse_row(line.rstrip("\r"), lineno, name)
        n_rv, distance = rec[12], rec[6]
        if n_rv == 0:
            skipped.append((lineno, "NRV = 0: no velocity measurement behind this row", line))
        elif distance > MAX_DISTANCE_ARCSEC:
            skipped.append(
                (lineno, f"DCEN = {distance:.0f} arcsec is beyond {MAX_DISTANCE_ARCSEC:.0f}", line)
            )
        else:
            rows.append(rec)
    stars = np.array(rows, dtype=STAR_DTYPE).view(np.recarray)
    for lineno, reason, _ in skipped:
        log.info("%s, line %d skipped: %s", name, lineno, reason)
    return BaumgardtTable(stars=stars, skipped=tuple(skipped), path=name)


@functools.lru_cache(maxsize=4)
def _load_table_cached(path: str, mtime_ns: int, size: int) -> BaumgardtTable:
    return read_baumgardt_table(path)


def load_table(path: str | os.PathLike[str] | None = None) -> BaumgardtTable:
    """Read (and cache in memory) the whole compilation.

    Parameters
    ----------
    path : str or path-like, default=None
        File to read; by default the verified file from :func:`fetch_data`.

    Returns
    -------
    BaumgardtTable
        The parsed compilation (cached per path, size and modification time).
    """
    p = pathlib.Path(path) if path is not None else fetch_data()
    st = p.stat()
    return _load_table_cached(str(p.resolve()), st.st_mtime_ns, st.st_size)


def cluster_names(table: BaumgardtTable | None = None) -> list[str]:
    """Names of every cluster in the compilation, in file order.

    Parameters
    ----------
    table : BaumgardtTable, default=None
        A parsed table; by default :func:`load_table`.

    Returns
    -------
    list of str
    """
    table = load_table() if table is None else table
    _, first = np.unique(table.stars.cluster, return_index=True)
    return [str(n) for n in table.stars.cluster[np.sort(first)]]


def _normalise_name(name: str) -> str:
    return "".join(name.split()).upper()


def load_cluster(name: str = "NGC 288", table: BaumgardtTable | None = None) -> np.recarray:
    """Stars in the field of one cluster.

    Parameters
    ----------
    name : str, default="NGC 288"
        Cluster name as in the compilation; spaces and case are ignored
        (``"ngc288"`` finds ``"NGC 288"``).
    table : BaumgardtTable, default=None
        A parsed table; by default :func:`load_table`.

    Returns
    -------
    numpy.recarray, shape (n_stars,)
        Fields as in :func:`read_baumgardt_table`; the ones the tutorial uses are
        ``ra``, ``dec`` [deg], ``distance`` [arcsec], ``velocity``,
        ``velocity_error`` [km/s] and ``p_mem``.

    Raises
    ------
    KeyError
        Unknown name; the message lists the closest known names.
    """
    table = load_table() if table is None else table
    wanted = _normalise_name(name)
    names = cluster_names(table)
    by_key = {_normalise_name(n): n for n in names}
    if wanted not in by_key:
        close = difflib.get_close_matches(wanted, list(by_key), n=5, cutoff=0.5)
        hint = ", ".join(repr(by_key[c]) for c in close) or "none"
        raise KeyError(
            f"no cluster {name!r} in {table.path}; closest names: {hint}. "
            "helpers.cluster_names() lists all of them."
        )
    return table.stars[table.stars.cluster == by_key[wanted]]


def load_cluster_file(
    path: str | os.PathLike[str],
    *,
    usecols: tuple[int, int, int] = (4, 5, 6),
    skiprows: int = 2,
) -> np.recarray:
    """Read a per-cluster whitespace-separated velocity file.

    Baumgardt's site serves today one file per cluster with two header lines
    and, among others, the projected distance [arcsec], velocity and velocity
    error [km/s] at 0-based columns 4, 5 and 6.  Use this to "choose your own
    cluster" from a newer download.

    Parameters
    ----------
    path : str or path-like
        The file.
    usecols : tuple of int, default=(4, 5, 6)
        0-based columns of distance [arcsec], velocity and error [km/s].
    skiprows : int, default=2
        Number of header lines.

    Returns
    -------
    numpy.recarray, shape (n_stars,)
        Same dtype as :func:`load_cluster`; fields not in the file are NaN
        (numbers) or empty (text); ``cluster`` is the file's stem.

    Raises
    ------
    DataFormatError
        A row with too few columns, a non-number, or a non-positive error.
    """
    path = pathlib.Path(path)
    rows = []
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    need = max(usecols) + 1
    for lineno, line in enumerate(lines[skiprows:], start=skiprows + 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) < need:
            raise DataFormatError(
                f"{path}, line {lineno}: {len(parts)} columns, need at least {need} "
                f"(distance, velocity, error at columns {usecols}): {line!r}"
            )
        d, v, e = (_parse_float(parts[c], f"column {c}", lineno, line, str(path)) for c in usecols)
        if e <= 0:
            raise DataFormatError(f"{path}, line {lineno}: velocity error {e} km/s is not positive")
        if d < 0:
            raise DataFormatError(f"{path}, line {lineno}: distance {d} arcsec is negative")
        rows.append((path.stem[:9], "", np.nan, np.nan, v, e, d) + (np.nan,) * 5 + (0, np.nan, lineno))
    if not rows:
        raise DataFormatError(f"{path}: no data rows after {skiprows} header lines")
    return np.array(rows, dtype=STAR_DTYPE).view(np.recarray)


# --------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------


def validate_data(v: Any, verr: Any) -> tuple[np.ndarray, np.ndarray]:
    """Check and convert velocities and their uncertainties.

    Parameters
    ----------
    v : array_like, shape (n_stars,)
        Measured velocities [km/s].
    verr : array_like, shape (n_stars,)
        Their 1-sigma uncertainties [km/s], all positive.

    Returns
    -------
    v, verr : ndarray of float64, shape (n_stars,)

    Raises
    ------
    ValueError
        Shapes differ, no stars, a non-finite value, or a non-positive error
        (the message names the first offending index and value).
    """
    v = np.asarray(v, dtype=float)
    verr = np.asarray(verr, dtype=float)
    if v.ndim != 1 or v.shape != verr.shape:
        raise ValueError(
            f"v and verr must be 1-D arrays of the same length; got shapes {v.shape} and "
            f"{verr.shape}"
        )
    if v.size == 0:
        raise ValueError("no stars: v and verr are empty")
    for label, arr in (("v", v), ("verr", verr)):
        bad = ~np.isfinite(arr)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{label}[{i}] = {arr[i]}: every value must be finite")
    if (verr <= 0).any():
        i = int(np.flatnonzero(verr <= 0)[0])
        raise ValueError(f"verr[{i}] = {verr[i]} km/s: uncertainties must be positive")
    return v, verr


def _as_params(params: Any) -> np.ndarray:
    p = np.asarray(params, dtype=float)
    if p.shape[-1:] != (5,) or p.ndim > 2:
        raise ValueError(
            "params must have shape (5,) or (n_sets, 5) ordered (mean1, sigma1, mean2, sigma2, "
            f"frac1); got shape {p.shape}"
        )
    return p


def _valid(p: np.ndarray) -> np.ndarray:
    """Boolean mask of the valid region: 0 < frac1 < 1, 0 <= sigma1 <= sigma2."""
    _, s1, _, s2, f1 = np.moveaxis(p, -1, 0)
    finite = np.isfinite(p).all(axis=-1)
    with np.errstate(invalid="ignore"):
        return finite & (f1 > 0) & (f1 < 1) & (s1 >= 0) & (s1 <= s2)


def _log_normal(x: Any, mean: Any, var: Any) -> np.ndarray:
    """ln N(x | mean, var), broadcasting; ``var`` is the *total* (intrinsic + error) variance."""
    return -0.5 * ((x - mean) ** 2 / var + np.log(2.0 * np.pi * var))


def component_log_densities(params: Any, v: Any, verr: Any) -> np.ndarray:
    """Log of ``frac_k * N(v_i | mean_k, sigma_k**2 + e_i**2)`` for both components.

    No validity check on the parameters: use inside the valid region.

    Parameters
    ----------
    params : array_like, shape (5,) or (n_sets, 5)
        ``(mean1, sigma1, mean2, sigma2, frac1)`` [km/s, km/s, km/s, km/s, -].
    v, verr : ndarray, shape (n_stars,)
        Velocities and uncertainties [km/s].

    Returns
    -------
    ndarray, shape (2, n_stars) or (n_sets, 2, n_stars)
        Natural-log weighted densities [log (km/s)^-1].
    """
    p = _as_params(params)
    means = p[..., [0, 2], None]
    sig2 = p[..., [1, 3], None] ** 2
    with np.errstate(divide="ignore"):
        logw = np.log(np.stack([p[..., 4], 1.0 - p[..., 4]], axis=-1))[..., None]
    var = sig2 + np.asarray(verr) ** 2
    return logw + _log_normal(np.asarray(v), means, var)


def log_likelihood(params: Any, v: Any, verr: Any) -> float | np.ndarray:
    """Total log-likelihood of the error-convolved two-Gaussian mixture.

    .. math::
        \\ln L = \\sum_i \\ln \\sum_{k=1}^{2} f_k\\,
                 \\mathcal{N}(v_i \\mid \\mu_k, \\sigma_k^2 + e_i^2)

    evaluated with ``logsumexp`` so that a star thousands of km/s away from
    both components still gives a finite value.

    Parameters
    ----------
    params : array_like, shape (5,) or (n_sets, 5)
        ``(mean1, sigma1, mean2, sigma2, frac1)`` [km/s, km/s, km/s, km/s, -];
        a batch of parameter vectors is evaluated at once (for emcee's
        ``vectorize=True``).
    v : array_like, shape (n_stars,)
        Measured velocities [km/s].
    verr : array_like, shape (n_stars,)
        1-sigma velocity uncertainties [km/s].

    Returns
    -------
    float or ndarray of shape (n_sets,)
        ``-inf`` where the parameters are outside the valid region
        (0 < frac1 < 1 and 0 <= sigma1 <= sigma2), which also fixes the labels.
    """
    v, verr = validate_data(v, verr)
    p = _as_params(params)
    valid = _valid(p)
    out = np.full(p.shape[:-1], -np.inf)
    if np.any(valid):
        lp = component_log_densities(p[valid] if p.ndim == 2 else p, v, verr)
        out[valid] = logsumexp(lp, axis=-2).sum(axis=-1)
    return float(out) if p.ndim == 1 else out


def membership_probability(params: Any, v: Any, verr: Any) -> np.ndarray:
    """Probability that each star belongs to component 1 (the cluster).

    .. math:: q_i = \\frac{f_1 \\mathcal{N}(v_i\\mid\\mu_1,\\sigma_1^2+e_i^2)}
              {\\sum_k f_k \\mathcal{N}(v_i\\mid\\mu_k,\\sigma_k^2+e_i^2)}

    Parameters
    ----------
    params : array_like, shape (5,) or (n_sets, 5)
        Parameters inside the valid region.
    v, verr : array_like, shape (n_stars,)
        Velocities and uncertainties [km/s].

    Returns
    -------
    ndarray, shape (n_stars,) or (n_sets, n_stars)
        Values in [0, 1].

    Raises
    ------
    ValueError
        Parameters outside the valid region.
    """
    v, verr = validate_data(v, verr)
    p = _as_params(params)
    if not np.all(_valid(p)):
        raise ValueError(f"parameters outside the valid region: {p!r}")
    lp = component_log_densities(p, v, verr)
    return np.exp(lp[..., 0, :] - logsumexp(lp, axis=-2))


def model_density(grid: Any, params: Any, verr: Any) -> np.ndarray:
    """Density of *observed* velocities predicted for a sample with errors ``verr``.

    The average over stars of the error-convolved mixture,
    ``p(v) = (1/N) sum_i sum_k f_k N(v | mu_k, sigma_k^2 + e_i^2)``: what a
    histogram of the data should look like if the model is right.

    Parameters
    ----------
    grid : array_like, shape (n_grid,)
        Velocities at which to evaluate [km/s].
    params : array_like, shape (5,)
        Model parameters.
    verr : array_like, shape (n_stars,)
        The sample's uncertainties [km/s].

    Returns
    -------
    ndarray, shape (n_grid,)
        Density [1/(km/s)], integrating to one over velocity.
    """
    p = _check_start(params)
    grid = np.asarray(grid, dtype=float)[:, None]  # (n_grid, 1) against (n_stars,)
    verr = np.asarray(verr, dtype=float)
    terms = []
    for mean, sigma, frac in ((p[0], p[1], p[4]), (p[2], p[3], 1.0 - p[4])):
        var = sigma**2 + verr**2
        terms.append(np.log(frac) + _log_normal(grid, mean, var))
    return np.exp(logsumexp(terms, axis=(0, 2)) - np.log(verr.size))


def initial_guess(v: Any, distance: Any, inner_fraction: float = 0.25) -> np.ndarray:
    """Starting parameters from the spatial concentration of the cluster.

    Stars within the ``inner_fraction`` quantile of projected distance are
    mostly members: their mean and standard deviation start component 1.  All
    stars start component 2.  ``frac1`` starts at 0.5.

    Parameters
    ----------
    v : array_like, shape (n_stars,)
        Velocities [km/s].
    distance : array_like, shape (n_stars,)
        Projected distances from the cluster centre (any unit).
    inner_fraction : float, default=0.25
        Fraction of stars, by distance, used for component 1.

    Returns
    -------
    ndarray, shape (5,)
        ``(mean1, sigma1, mean2, sigma2, frac1)``, inside the valid region.
    """
    v = np.asarray(v, dtype=float)
    distance = np.asarray(distance, dtype=float)
    if v.shape != distance.shape or v.ndim != 1:
        raise ValueError(f"v and distance must be 1-D of equal length; got {v.shape}, {distance.shape}")
    if not 0 < inner_fraction <= 1:
        raise ValueError(f"inner_fraction must be in (0, 1]; got {inner_fraction}")
    inner = distance <= np.quantile(distance, inner_fraction)
    if inner.sum() < 2:
        raise ValueError(f"only {inner.sum()} star(s) in the inner {inner_fraction:.0%}: need 2")
    s2 = float(np.std(v))
    s1 = min(float(np.std(v[inner])), s2)
    return np.array([np.mean(v[inner]), s1, np.mean(v), s2, 0.5])


# --------------------------------------------------------------------------
# Expectation-maximisation
# --------------------------------------------------------------------------


class EMConvergenceWarning(UserWarning):
    """EM stopped at ``max_iter`` before meeting its tolerance."""


@dataclasses.dataclass(frozen=True)
class FitResult:
    """Result of a fit, in this module's parameter order.

    Attributes
    ----------
    params : ndarray, shape (5,)
        ``(mean1, sigma1, mean2, sigma2, frac1)``.
    log_likelihood : float
        Error-convolved log-likelihood at ``params`` (:func:`log_likelihood`;
        for a naive fit, the likelihood of the model that ignores errors).
    n_iter : int
        Iterations (EM steps or optimiser iterations).
    converged : bool
        Whether the method's stopping criterion was met.
    method : str
        What produced it.
    history : ndarray, shape (n_iter + 1,)
        Log-likelihood before each step and after the last (EM methods), or
        empty.
    """

    params: np.ndarray
    log_likelihood: float
    n_iter: int
    converged: bool
    method: str
    history: np.ndarray = dataclasses.field(default_factory=lambda: np.empty(0))


def _canonical(p: np.ndarray) -> np.ndarray:
    """Relabel so that component 1 is the narrower one (likelihood unchanged)."""
    if p[1] > p[3]:
        return np.array([p[2], p[3], p[0], p[1], 1.0 - p[4]])
    return p


def _xd_m_step(
    q: np.ndarray, v: np.ndarray, var_err: np.ndarray, mu: np.ndarray, sig: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """M-step of extreme deconvolution for 1-D Gaussians (Bovy, Hogg & Roweis 2011, eq. 16).

    ``q`` (n_components, n_stars) are the responsibilities, ``mu`` and ``sig``
    the current means and widths.  Each star's true velocity under component
    k has mean ``b_ik = mu_k + sigma_k^2 / T_ik (v_i - mu_k)`` and variance
    ``B_ik = sigma_k^2 - sigma_k^4 / T_ik``, with ``T_ik = sigma_k^2 + e_i^2``.
    Returns the new means and variances.
    """
    S = q.sum(axis=1)
    sig2 = sig[:, None] ** 2
    gain = sig2 / (sig2 + var_err)
    b = mu[:, None] + gain * (v - mu[:, None])
    new_mu = (q * b).sum(axis=1) / S
    new_var = (q * ((b - new_mu[:, None]) ** 2 + sig2 * (1.0 - gain))).sum(axis=1) / S
    return new_mu, new_var


def _check_variances(p: np.ndarray, min_var_err: float) -> None:
    """Refuse a zero total variance: the naive mixture's likelihood singularity."""
    if min(p[1], p[3]) ** 2 + min_var_err <= 0.0:
        raise FloatingPointError(
            f"a component collapsed to zero width at {_fmt(p)}: without measurement errors a "
            "Gaussian mixture's likelihood is unbounded when a component sits on one star; "
            "start elsewhere, or use the errors (deconvolve=True)"
        )


def _em_update(p: np.ndarray, v: np.ndarray, var_err: np.ndarray) -> tuple[np.ndarray, float]:
    """One EM step; returns (new params, log-likelihood at the *old* params).

    ``var_err`` are the squared errors (zeros for the naive model).
    """
    _check_variances(p, float(var_err.min()))
    logp = component_log_densities(p, v, np.sqrt(var_err))  # (2, N)
    norm = np.logaddexp(logp[0], logp[1])
    q = np.exp(logp - norm)  # E-step: responsibilities q_ik
    qk = q.sum(axis=1)
    if np.any(qk < 1e-12 * v.size) or not np.all(np.isfinite(qk)):
        raise FloatingPointError(
            f"a component lost all its stars (summed responsibilities {qk[0]:.3g}, "
            f"{qk[1]:.3g}) from parameters {_fmt(p)}: start elsewhere"
        )
    new_means, new_var = _xd_m_step(q, v, var_err, np.array([p[0], p[2]]), np.array([p[1], p[3]]))
    new = np.array([new_means[0], np.sqrt(new_var[0]), new_means[1], np.sqrt(new_var[1]), qk[0] / v.size])
    return _canonical(new), float(norm.sum())


class _FastEM:
    """The EM iteration of :func:`em_step`, rearranged for speed on large samples.

    Same mathematics (Bovy, Hogg & Roweis 2011, eq. 16 in 1-D), but with
    preallocated work arrays (no temporaries of n_stars elements), a single
    log-ratio per star for the E-step, and the M-step sums written as dot
    products.  With ``z_ik = r_ik^2 / T_ik`` and ``r_ik = v_i - mu_k``:

    * ``d_i = ln(f_2 / f_1) - (z_i2 - z_i1 + ln(T_i2 / T_i1)) / 2`` is the
      log-odds of the field, so ``q_i2 = 1 / (1 + exp(-d_i))``, ``q_i1 = 1 - q_i2``;
    * ``ln L = sum_i [ln(f_1 N_i1) + softplus(d_i)]``;
    * with ``g_ik = sigma_k^2 / T_ik`` and ``S_k = sum_i q_ik``,
      ``A_k = sum_i q_ik g_ik r_ik``: ``mu_k' = mu_k + A_k / S_k`` and
      ``sigma_k'^2 = [sigma_k^2 (sum_i q_ik g_ik z_ik + S_k - sum_i q_ik g_ik)
      - A_k^2 / S_k] / S_k``.

    tests/test_em.py checks it against :func:`em_step` step by step.
    """

    def __init__(self, v: np.ndarray, var_err: np.ndarray) -> None:
        self.v, self.var_err = v, var_err
        self.min_var_err = float(var_err.min())
        self.buf = np.empty((9, v.size))

    def step(self, p: np.ndarray) -> tuple[np.ndarray, float]:
        """Return (updated parameters, log-likelihood at ``p``)."""
        v, e2, n = self.v, self.var_err, self.v.size
        r1, r2, t1, t2, z1, z2, d, w, x = self.buf
        mu, s2 = (p[0], p[2]), (p[1] ** 2, p[3] ** 2)
        _check_variances(p, self.min_var_err)
        for r, t, z, m, sk in ((r1, t1, z1, mu[0], s2[0]), (r2, t2, z2, mu[1], s2[1])):
            np.subtract(v, m, out=r)
            np.add(e2, sk, out=t)
            np.multiply(r, r, out=z)
            np.divide(z, t, out=z)
        # E-step in log-odds form
        np.divide(t2, t1, out=d)
        np.log(d, out=d)
        d += z2
        d -= z1
        d *= -0.5
        d += np.log((1.0 - p[4]) / p[4])
        np.log(t1, out=w)
        sum_log_t1 = w.sum()
        # softplus(d) = ln(1 + e^d) = max(d, 0) + ln(1 + u) with u = exp(-|d|) <= 1
        np.abs(d, out=w)
        np.negative(w, out=w)
        np.exp(w, out=w)
        np.log1p(w, out=x)
        softplus = x.sum() + np.maximum(d, 0.0, out=x).sum()
        loglike = n * (np.log(p[4]) - 0.5 * np.log(2.0 * np.pi)) - 0.5 * (z1.sum() + sum_log_t1) + softplus
        # q_i2 = expit(d) = 1 / (1 + u) for d >= 0 and u / (1 + u) otherwise
        np.add(1.0, w, out=x)
        np.copyto(w, 1.0, where=d >= 0)
        q2 = np.divide(w, x, out=w)
        q1 = np.subtract(1.0, q2, out=x)
        new = np.empty(5)
        for k, (q, r, t, z) in enumerate(((q1, r1, t1, z1), (q2, r2, t2, z2))):
            S = q.sum()
            if not S > 1e-12 * n:
                raise FloatingPointError(
                    f"component {k + 1} lost all its stars (summed responsibility {S:.3g}) "
                    f"from parameters {_fmt(p)}: start elsewhere"
                )
            np.divide(s2[k], t, out=t)  # g_ik; T is not needed any more
            np.multiply(q, t, out=t)  # q_ik g_ik
            A = np.dot(t, r)
            var = (s2[k] * (np.dot(t, z) + S - t.sum()) - A * A / S) / S
            new[2 * k] = mu[k] + A / S
            new[2 * k + 1] = np.sqrt(max(var, 0.0))
            if k == 0:
                new[4] = S / n
        return _canonical(new), float(loglike)


def em_step(params: Any, v: Any, verr: Any, *, deconvolve: bool = True) -> np.ndarray:
    """One expectation-maximisation step.

    E-step: membership probabilities ``q_ik`` under the current parameters.
    M-step with ``deconvolve=True`` (Bovy, Hogg & Roweis 2011, eq. 16 in 1-D):
    each star's *true* velocity has, given component k, mean
    ``b_ik = mu_k + sigma_k^2 (v_i - mu_k) / T_ik`` and variance
    ``B_ik = sigma_k^2 - sigma_k^4 / T_ik`` with ``T_ik = sigma_k^2 + e_i^2``;
    then ``mu_k = sum_i q_ik b_ik / sum_i q_ik``,
    ``sigma_k^2 = sum_i q_ik [(b_ik - mu_k)^2 + B_ik] / sum_i q_ik``,
    ``f_1 = sum_i q_i1 / N``.  With ``deconvolve=False`` the errors are
    ignored everywhere (an ordinary Gaussian mixture): the M-step is the
    weighted mean and dispersion of the *observed* velocities.

    The labels are put back in canonical order (component 1 narrower) when a
    step swaps them; this does not change the likelihood.

    Parameters
    ----------
    params : array_like, shape (5,)
        Current ``(mean1, sigma1, mean2, sigma2, frac1)``, in the valid region.
    v, verr : array_like, shape (n_stars,)
        Velocities and uncertainties [km/s].
    deconvolve : bool, default=True
        Use the per-star errors (extreme deconvolution) or ignore them.

    Returns
    -------
    ndarray, shape (5,)
        Updated parameters.
    """
    v, verr = validate_data(v, verr)
    p = _check_start(params)
    return _em_update(p, v, verr**2 if deconvolve else np.zeros_like(verr))[0]


def _check_start(params: Any) -> np.ndarray:
    p = _as_params(params)
    if p.ndim != 1 or not _valid(p):
        raise ValueError(
            f"start {p!r} is not a valid (mean1, sigma1, mean2, sigma2, frac1): need "
            "0 < frac1 < 1 and 0 <= sigma1 <= sigma2"
        )
    if p[1] == 0 and p[3] == 0:
        raise ValueError("start has both sigmas zero: EM cannot move from there")
    return p


def em_fit(
    v: Any,
    verr: Any,
    init: Any,
    tol: float = 1e-12,
    max_iter: int = 10_000,
    *,
    deconvolve: bool = True,
) -> FitResult:
    """Fit the two-component mixture by expectation-maximisation.

    Iterates :func:`em_step` until the mean log-likelihood per star rises by
    less than ``tol`` (the criterion of Bovy's ``extreme_deconvolution``).  EM
    never decreases the likelihood, so the history is monotone up to rounding.

    Parameters
    ----------
    v, verr : array_like, shape (n_stars,)
        Velocities and uncertainties [km/s].
    init : array_like, shape (5,)
        Starting ``(mean1, sigma1, mean2, sigma2, frac1)``.
    tol : float, default=1e-12
        Convergence tolerance on the per-star mean log-likelihood (1e-12
        brings the NGC 288 parameters within 1e-4 km/s of the optimum).
    max_iter : int, default=10000
        Maximum number of EM steps; reaching it warns (EMConvergenceWarning)
        and returns the last parameters with ``converged=False``.
    deconvolve : bool, default=True
        Deconvolve the errors (True) or ignore them (naive Gaussian mixture).

    Returns
    -------
    FitResult
        With ``history`` the log-likelihood before every step and at the end.

    Raises
    ------
    FloatingPointError
        A component lost all its stars (the start was hopeless).
    """
    v, verr = validate_data(v, verr)
    p = _check_start(init)
    fast = _FastEM(v, verr**2 if deconvolve else np.zeros_like(verr))
    n = v.size
    history = []
    converged = False
    for _ in range(max_iter):
        new, ll_old = fast.step(p)
        history.append(ll_old)
        if len(history) > 1 and history[-1] - history[-2] < tol * n:
            converged = True
            break
        p = new
    # `p` is the parameter vector whose log-likelihood is history[-1].
    if not converged:
        history.append(fast.step(p)[1])
        warnings.warn(
            f"EM did not converge in {max_iter} steps (last gain "
            f"{history[-1] - history[-2]:.3g}); returning the last parameters",
            EMConvergenceWarning,
            stacklevel=2,
        )
    return FitResult(
        params=p,
        log_likelihood=history[-1],
        n_iter=len(history) - 1,
        converged=converged,
        method="EM (deconvolved)" if deconvolve else "EM (naive, errors ignored)",
        history=np.array(history),
    )


def random_starts(v: Any, n_starts: int, rng: np.random.Generator, narrow_fraction: float = 0.5) -> np.ndarray:
    """Random starting points for a multi-start fit.

    A ``1 - narrow_fraction`` share are *broad* starts: both means uniform
    within the 1st-99th percentile range of ``v``, dispersions uniform within
    [0.5, 60] km/s (sorted so that component 1 is narrower), ``frac1`` uniform
    in [0.05, 0.95].  The rest are *narrow* starts: component 1 with a 0.5 km/s
    dispersion and ``frac1 = 0.05`` centred on a randomly chosen star, the
    field on the median and standard deviation of all stars.  Narrow starts are
    how EM gets trapped in poor local maxima; a multi-start should include
    some.

    Parameters
    ----------
    v : array_like, shape (n_stars,)
        Velocities [km/s].
    n_starts : int
        Number of starts.
    rng : numpy.random.Generator
        Source of randomness.
    narrow_fraction : float, default=0.5
        Share of narrow starts.

    Returns
    -------
    ndarray, shape (n_starts, 5)
        Valid ``(mean1, sigma1, mean2, sigma2, frac1)`` rows.
    """
    v = np.asarray(v, dtype=float)
    lo, hi = np.percentile(v, [1, 99])
    n_narrow = round(narrow_fraction * n_starts)
    n_broad = n_starts - n_narrow
    means = rng.uniform(lo, hi, (n_broad, 2))
    sig = np.sort(rng.uniform(0.5, 60.0, (n_broad, 2)), axis=1)
    broad = np.column_stack([means[:, 0], sig[:, 0], means[:, 1], sig[:, 1], rng.uniform(0.05, 0.95, n_broad)])
    centre = rng.choice(v, n_narrow)
    narrow = np.column_stack(
        [centre, np.full(n_narrow, 0.5), np.full(n_narrow, np.median(v)), np.full(n_narrow, np.std(v)),
         np.full(n_narrow, 0.05)]
    )
    return np.vstack([broad, narrow])


def em_multi_start(v: Any, verr: Any, starts: Any, max_iter: int = 2000, **kwargs: Any) -> list[FitResult]:
    """Run :func:`em_fit` from many starts and keep every outcome.

    A start whose fit fails (a component empties) gives a result with
    ``log_likelihood = -inf`` and the reason in ``method``; a fit that hits
    ``max_iter`` is kept with ``converged = False`` (no warning is emitted:
    the flag carries it).

    Parameters
    ----------
    v, verr : array_like, shape (n_stars,)
        Velocities and uncertainties [km/s].
    starts : array_like, shape (n_starts, 5)
        Starting points, e.g. from :func:`random_starts`.
    max_iter : int, default=2000
        Passed to :func:`em_fit`.
    **kwargs
        Passed to :func:`em_fit` (``tol``, ``deconvolve``).

    Returns
    -------
    list of FitResult
        One per start, in order.  Compare their ``log_likelihood``: the best
        is the estimate, and how many starts reach it tells how hard the
        problem is.
    """
    v, verr = validate_data(v, verr)
    results = []
    for start in np.atleast_2d(starts):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", EMConvergenceWarning)
                results.append(em_fit(v, verr, start, max_iter=max_iter, **kwargs))
        except FloatingPointError as err:
            results.append(FitResult(np.asarray(start, dtype=float), -np.inf, 0, False, f"failed: {err}"))
    return results


def minimize_fit(v: Any, verr: Any, init: Any, method: str = "Nelder-Mead", **options: Any) -> FitResult:
    """Maximise the likelihood with :func:`scipy.optimize.minimize`.

    Minimises ``-log_likelihood``; outside the valid region the objective is
    ``+inf``, which derivative-free methods handle and gradient methods may not
    (that is part of the lesson of notebook 02).

    Parameters
    ----------
    v, verr : array_like, shape (n_stars,)
        Velocities and uncertainties [km/s].
    init : array_like, shape (5,)
        Starting parameters.
    method : str, default="Nelder-Mead"
        Any method of :func:`scipy.optimize.minimize`.
    **options
        Passed as ``options=`` to minimize (e.g. ``maxiter``, ``xatol``).

    Returns
    -------
    FitResult
        ``n_iter`` holds the number of *function evaluations*; ``converged``
        is the optimiser's own success flag.
    """
    from scipy.optimize import minimize

    v, verr = validate_data(v, verr)
    p0 = _check_start(init)

    def objective(p: np.ndarray) -> float:
        return -log_likelihood(p, v, verr)

    with np.errstate(invalid="ignore", over="ignore"), warnings.catch_warnings():
        # gradient methods warn when their finite differences step onto +inf
        warnings.simplefilter("ignore", RuntimeWarning)
        res = minimize(objective, p0, method=method, options=options or None)
    p = np.asarray(res.x, dtype=float)
    ll = log_likelihood(p, v, verr)
    return FitResult(
        params=_canonical(p) if np.isfinite(ll) else p,
        log_likelihood=ll,
        n_iter=int(res.nfev),
        converged=bool(res.success) and bool(np.isfinite(ll)),
        method=f"minimize ({method})",
    )


def fisher_uncertainties(params: Any, v: Any, verr: Any, rel_step: float = 1e-4) -> np.ndarray:
    """1-sigma uncertainties from the curvature of the log-likelihood at its maximum.

    The covariance is the inverse of the observed information matrix, the
    negative Hessian of :func:`log_likelihood`, here from central finite
    differences.  Valid when the maximum is well inside the valid region and
    the likelihood is close to Gaussian there (many stars per component).

    Parameters
    ----------
    params : array_like, shape (5,)
        A maximum-likelihood estimate.
    v, verr : array_like, shape (n_stars,)
        Velocities and uncertainties [km/s].
    rel_step : float, default=1e-4
        Finite-difference step, relative to ``max(|param|, 1)`` (to
        ``min(frac1, 1 - frac1)`` for the fraction).

    Returns
    -------
    ndarray, shape (5,)
        Standard deviations in the units of the parameters.

    Raises
    ------
    ValueError
        The information matrix is not positive definite (not a maximum, or a
        maximum on the edge of the valid region).
    """
    v, verr = validate_data(v, verr)
    p = _check_start(params)
    h = rel_step * np.maximum(np.abs(p), 1.0)
    h[4] = rel_step * min(p[4], 1.0 - p[4])
    eye = np.eye(5) * h
    # all points of the central-difference stencil, evaluated in one batch
    pp = p + eye[:, None, :] + eye[None, :, :]
    pm = p + eye[:, None, :] - eye[None, :, :]
    mp = p - eye[:, None, :] + eye[None, :, :]
    mm = p - eye[:, None, :] - eye[None, :, :]
    f = [log_likelihood(x.reshape(-1, 5), v, verr).reshape(5, 5) for x in (pp, pm, mp, mm)]
    hess = (f[0] - f[1] - f[2] + f[3]) / (4.0 * np.outer(h, h))
    info = -0.5 * (hess + hess.T)
    try:
        cov = np.linalg.inv(np.linalg.cholesky(info))
    except np.linalg.LinAlgError:
        raise ValueError(
            f"the information matrix at {_fmt(p)} is not positive definite: not a maximum, or "
            "one on the edge of the valid region; use MCMC for the uncertainties"
        ) from None
    return np.sqrt(np.sum(cov**2, axis=0))


def sample_mock(
    params: Any, verr: Any, rng: np.random.Generator, *, return_labels: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Draw a mock data set from the model, one mock star per real star.

    Each mock star is assigned to the cluster with probability ``frac1``, gets
    a true velocity from that component's intrinsic Gaussian, and then the
    measurement error of the corresponding real star is added.

    Parameters
    ----------
    params : array_like, shape (5,)
        ``(mean1, sigma1, mean2, sigma2, frac1)``.
    verr : array_like, shape (n_stars,)
        Per-star uncertainties [km/s].
    rng : numpy.random.Generator
        Source of randomness (e.g. ``np.random.default_rng(42)``).
    return_labels : bool, default=False
        Also return the boolean array "is a cluster member".

    Returns
    -------
    v : ndarray, shape (n_stars,)
        Mock observed velocities [km/s].
    member : ndarray of bool, shape (n_stars,)
        Only if ``return_labels``.
    """
    p = _check_start(params)
    verr = np.asarray(verr, dtype=float)
    member = rng.random(verr.size) < p[4]
    true = np.where(member, rng.normal(p[0], p[1], verr.size), rng.normal(p[2], p[3], verr.size))
    v = true + rng.normal(0.0, 1.0, verr.size) * verr
    return (v, member) if return_labels else v


# --------------------------------------------------------------------------
# Library wrappers
# --------------------------------------------------------------------------

BOVY_XD_INSTALL = (
    "Bovy's extreme_deconvolution is not installed (it is not on PyPI). To install it: "
    "install GSL (conda install -c conda-forge gsl, or apt-get install libgsl-dev), then "
    "CFLAGS=-fcommon pip install "
    "git+https://github.com/jobovy/extreme-deconvolution.git@3603fc7707c4d9d4785e21a24c3f54e3b65f435c "
    "(CFLAGS=-fcommon is needed with GCC >= 10). The conda environment.yml and Binder do this for you."
)


class ExtremeDeconvolutionNotInstalled(ImportError):
    """Bovy's ``extreme_deconvolution`` cannot be imported; the message says how to install it."""


def bovy_xd_available() -> bool:
    """Whether Bovy's ``extreme_deconvolution`` can be imported."""
    try:
        import extreme_deconvolution  # noqa: F401
    except ImportError:
        return False
    return True


def _xd_arrays(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    amp = np.array([p[4], 1.0 - p[4]])
    mean = np.array([[p[0]], [p[2]]])
    covar = np.array([[[p[1] ** 2]], [[p[3] ** 2]]])
    return amp, mean, covar


def _from_xd_arrays(amp: np.ndarray, mean: np.ndarray, covar: np.ndarray) -> np.ndarray:
    amp, mean, covar = np.ravel(amp), np.ravel(mean), np.ravel(covar)
    p = np.array([mean[0], np.sqrt(covar[0]), mean[1], np.sqrt(covar[1]), amp[0] / amp.sum()])
    return _canonical(p)


def fit_bovy_xd(v: Any, verr: Any, init: Any, tol: float = 1e-12, maxiter: int = 100_000) -> FitResult:
    """Fit with Bovy's ``extreme_deconvolution`` (C library) from a given start.

    Parameters
    ----------
    v, verr : array_like, shape (n_stars,)
        Velocities and uncertainties [km/s].
    init : array_like, shape (5,)
        Starting ``(mean1, sigma1, mean2, sigma2, frac1)``.
    tol : float, default=1e-12
        Tolerance on the mean log-likelihood per star (as :func:`em_fit`; the
        library's own default is 1e-6).
    maxiter : int, default=100000
        Maximum number of EM iterations.

    Returns
    -------
    FitResult
        Parameters in this module's order; ``log_likelihood`` recomputed with
        :func:`log_likelihood`; ``n_iter`` is not reported by the library (-1).

    Raises
    ------
    ExtremeDeconvolutionNotInstalled
        The library is absent; the message says how to install it.
    """
    try:
        from extreme_deconvolution import extreme_deconvolution
    except ImportError as err:
        raise ExtremeDeconvolutionNotInstalled(BOVY_XD_INSTALL) from err
    v, verr = validate_data(v, verr)
    amp, mean, covar = _xd_arrays(_check_start(init))
    extreme_deconvolution(v[:, None], verr[:, None] ** 2, amp, mean, covar, tol=tol, maxiter=maxiter)
    p = _from_xd_arrays(amp, mean, covar)
    return FitResult(p, log_likelihood(p, v, verr), -1, True, "Bovy extreme_deconvolution")


def fit_astroml_xd(
    v: Any,
    verr: Any,
    init: Any = None,
    *,
    max_iter: int = 100,
    tol: float = 1e-5,
    random_state: int | None = 0,
) -> FitResult:
    """Fit with astroML's ``XDGMM``, from its own initialisation or from ``init``.

    With ``init=None`` this is ``XDGMM(2).fit(X, Xerr)`` as the astroML
    documentation uses it: ten steps of scikit-learn's ``GaussianMixture``
    (which ignores the errors) pick the start.  Its ConvergenceWarning is
    silenced; it concerns only that short initialisation.  With ``init`` the
    same EM steps (``XDGMM._EMstep``, astroML's own implementation of Bovy et
    al. eq. 16) run from the given start, with astroML's stopping rule: stop
    when the total log-likelihood rises by less than ``tol``.

    Parameters
    ----------
    v, verr : array_like, shape (n_stars,)
        Velocities and uncertainties [km/s].
    init : array_like of shape (5,), default=None
        Start; None uses astroML's default initialisation.
    max_iter : int, default=100
        astroML's ``max_iter``.
    tol : float, default=1e-5
        astroML's ``tol`` on the total log-likelihood.
    random_state : int or None, default=0
        Passed to XDGMM (seeds the GaussianMixture initialisation).

    Returns
    -------
    FitResult
        Parameters reordered so that component 1 is the narrower one.
    """
    from astroML.density_estimation import XDGMM
    from sklearn.exceptions import ConvergenceWarning

    v, verr = validate_data(v, verr)
    X, Xerr = v[:, None], (verr**2)[:, None, None]
    xd = XDGMM(n_components=2, max_iter=max_iter, tol=tol, random_state=random_state)
    if init is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            xd.fit(X, Xerr)
        method = "astroML XDGMM (default init)"
        n_iter, converged = -1, True
    else:
        xd.alpha, xd.mu, xd.V = _xd_arrays(_check_start(init))
        logl = xd.logL(X, Xerr)
        converged = False
        for n_iter in range(1, max_iter + 1):  # noqa: B007 - same loop as XDGMM.fit
            xd._EMstep(X, Xerr)
            logl_next = xd.logL(X, Xerr)
            if logl_next < logl + tol:
                converged = True
                break
            logl = logl_next
        method = "astroML XDGMM (our start)"
    p = _from_xd_arrays(xd.alpha, xd.mu, xd.V)
    return FitResult(p, log_likelihood(p, v, verr), n_iter, converged, method)


# --------------------------------------------------------------------------
# Distance-aware membership: "choose any cluster"
# --------------------------------------------------------------------------
#
# The velocity-only model assumes that the cluster is the narrow, dominant
# Gaussian.  In bulge and disk fields that fails: the field can be cold, come in
# several populations, and outnumber the members.  What identifies a cluster is
# that its stars are *concentrated towards its centre*.  The model below makes
# the prior membership probability of star i a function of its projected
# distance R_i,
#
#     pi(R) = sigmoid(alpha - 2 ln(1 + R^2 / a^2)),
#
# i.e. the log of the ratio of a Plummer surface density, Sigma_c ∝ (1 + R²/a²)^-2,
# to a uniform field density, with alpha = logit(p0) the log-odds at the centre
# and a the Plummer scale radius.  It is a model of p(v_i | R_i): the spatial
# selection of the spectroscopic targets cancels as long as it is the same for
# members and field stars at a given R.  The field is a mixture of K_f Gaussians
# in velocity.  Every Gaussian is convolved with each star's error, as before.
#
# Extended parameter vector (the first four entries keep the foundation order):
#     (mean1, sigma1, mean2, sigma2, p0, r_scale, mean3, sigma3, w3, mean4, sigma4, w4, ...)
# mean1, sigma1: cluster [km/s]; mean2, sigma2: first field Gaussian [km/s];
# p0: membership probability at R = 0; r_scale: Plummer scale radius a [arcsec];
# then (mean, sigma, weight) of each further field Gaussian; the first field
# Gaussian's weight is 1 - w3 - w4 - ...

#: Field Gaussians are not allowed to shrink below this width [km/s]: a field
#: component collapsing onto one star is a likelihood spike, not a population.
FIELD_SIGMA_FLOOR = 2.0
#: The cluster component may not be wider than this [km/s]: no Milky Way globular
#: cluster is hotter (omega Cen's central dispersion is about 17 km/s), and
#: without the cap a hot field population can take the cluster's place.
CLUSTER_SIGMA_CAP = 25.0
_ALPHA_LIMIT = 20.0  # |log-odds at the centre| is clipped here (p0 within 2e-9 of 0 or 1)
_LOG_A_LIMITS = (np.log(1.0), np.log(1e5))  # scale radius between 1 arcsec and 28 degrees


@dataclasses.dataclass
class _DMState:
    """Parameters of the distance-aware model in working form."""

    mu: np.ndarray  # (1 + K_f,) cluster first, then field components [km/s]
    sig: np.ndarray  # (1 + K_f,) [km/s]
    fw: np.ndarray  # (K_f,) field weights, summing to 1
    alpha: float  # log-odds of membership at R = 0
    log_a: float  # ln(Plummer scale radius / arcsec)

    def copy(self) -> _DMState:
        return _DMState(self.mu.copy(), self.sig.copy(), self.fw.copy(), self.alpha, self.log_a)

    def vector(self) -> np.ndarray:
        """The documented extended parameter vector."""
        out = [self.mu[0], self.sig[0], self.mu[1], self.sig[1], _sigmoid(self.alpha), np.exp(self.log_a)]
        for k in range(2, self.mu.size):
            out += [self.mu[k], self.sig[k], self.fw[k - 1]]
        return np.array(out)


def _sigmoid(x: Any) -> Any:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x)))


def _log_prior_member(alpha: float, log_a: float, R: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ln pi(R_i), ln(1 - pi(R_i)) and z_i = logit pi(R_i)."""
    z = alpha - 2.0 * np.log1p((R * np.exp(-log_a)) ** 2)
    log_pi = -np.logaddexp(0.0, -z)
    return log_pi, log_pi - z, z  # ln(1 - sigmoid(z)) = ln sigmoid(z) - z


def _logsumexp_rows(logp: np.ndarray) -> np.ndarray:
    """logsumexp over axis 0 of a small (components, stars) array; lighter than scipy's."""
    m = logp.max(axis=0)
    return m + np.log(np.exp(logp - m).sum(axis=0))


def _dm_log_terms(st: _DMState, v: np.ndarray, e2: np.ndarray, R: np.ndarray) -> np.ndarray:
    """ln of each component's weighted, error-convolved density: shape (1 + K_f, n_stars)."""
    logpi, log1mpi, _ = _log_prior_member(st.alpha, st.log_a, R)
    logp = _log_normal(v, st.mu[:, None], st.sig[:, None] ** 2 + e2)
    logp[0] += logpi
    logp[1:] += log1mpi + np.log(st.fw)[:, None]
    return logp


def _spatial_step(st: _DMState, q: np.ndarray, R: np.ndarray, fit_radius: bool) -> None:
    """Increase sum_i q_i ln pi_i + (1 - q_i) ln(1 - pi_i) by Fisher scoring with step halving."""

    def objective(alpha: float, log_a: float) -> float:
        lp, l1p, _ = _log_prior_member(alpha, log_a, R)
        return float(np.dot(q, lp) + np.dot(1.0 - q, l1p))

    lp, l1p, _ = _log_prior_member(st.alpha, st.log_a, R)
    pi = np.exp(lp)
    resid = q - pi
    if abs(resid.sum()) < 1e-9 * R.size and not fit_radius:
        return
    w = pi * (1.0 - pi)
    if fit_radius:
        u = (R * np.exp(-st.log_a)) ** 2
        dz = 4.0 * u / (1.0 + u)
        g = np.array([resid.sum(), np.dot(resid, dz)])
        info = np.array([[w.sum(), np.dot(w, dz)], [np.dot(w, dz), np.dot(w, dz * dz)]])
        info += 1e-9 * np.eye(2) * max(np.trace(info), 1e-12)
        step = np.linalg.solve(info, g)
        if abs(g @ step) < 1e-12 * R.size:  # already at the maximum of the spatial term
            return
    else:
        step = np.array([resid.sum() / max(w.sum(), 1e-12), 0.0])
    old = float(np.dot(q, lp) + np.dot(1.0 - q, l1p))
    for _ in range(8):  # a generalised EM step only needs *an* increase
        alpha = float(np.clip(st.alpha + step[0], -_ALPHA_LIMIT, _ALPHA_LIMIT))
        log_a = float(np.clip(st.log_a + step[1], *_LOG_A_LIMITS))
        if objective(alpha, log_a) >= old:
            st.alpha, st.log_a = alpha, log_a
            return
        step = 0.5 * step


def _dm_em(
    st: _DMState,
    v: np.ndarray,
    e2: np.ndarray,
    R: np.ndarray,
    *,
    fit_radius: bool = True,
    tol: float = 1e-9,
    max_iter: int = 1000,
) -> tuple[_DMState, float, bool, int]:
    """Generalised EM for the distance-aware model; returns (state, ln L, converged, steps)."""
    st = st.copy()
    n = v.size
    ll_old = -np.inf
    for it in range(1, max_iter + 1):
        logp = _dm_log_terms(st, v, e2, R)
        norm = _logsumexp_rows(logp)
        ll = float(norm.sum())
        if ll - ll_old < tol * n and it > 1:
            return st, ll, True, it - 1
        ll_old = ll
        r = np.exp(logp - norm)
        S = r.sum(axis=1)
        if np.any(S < 1e-6):
            raise FloatingPointError(f"a component lost all its stars (responsibilities {np.round(S, 3)})")
        mu, var = _xd_m_step(r, v, e2, st.mu, st.sig)
        var[1:] = np.maximum(var[1:], FIELD_SIGMA_FLOOR**2)
        var[0] = min(var[0], CLUSTER_SIGMA_CAP**2)
        st.mu, st.sig = mu, np.sqrt(var)
        st.fw = S[1:] / S[1:].sum()
        _spatial_step(st, r[0], R, fit_radius)
    ll = float(_logsumexp_rows(_dm_log_terms(st, v, e2, R)).sum())
    return st, ll, False, max_iter


def _velocity_clumps(v: np.ndarray, bandwidth: float, n_max: int = 3) -> list[float]:
    """Positions of the highest peaks of a Gaussian kernel density estimate of ``v``."""
    grid = np.arange(v.min() - 3 * bandwidth, v.max() + 3 * bandwidth, bandwidth / 4)
    dens = np.exp(-0.5 * ((grid[:, None] - v) / bandwidth) ** 2).sum(axis=1)
    peaks = np.flatnonzero((dens[1:-1] > dens[:-2]) & (dens[1:-1] >= dens[2:])) + 1
    chosen: list[float] = []
    for i in peaks[np.argsort(dens[peaks])[::-1]]:
        if all(abs(grid[i] - c) > 2 * bandwidth for c in chosen):
            chosen.append(float(grid[i]))
        if len(chosen) == n_max:
            break
    return chosen


def _dm_starts(
    v: np.ndarray, verr: np.ndarray, R: np.ndarray, n_field: int, rng: np.random.Generator, n_random: int
) -> list[_DMState]:
    """Starting points: clumps among the innermost stars, plus random ones."""
    n_inner = max(10, int(0.2 * v.size))
    inner = np.argsort(R, kind="stable")[:n_inner]
    a0 = float(np.log(max(np.quantile(R, 0.25), 1.0)))
    q = (np.arange(n_field) + 0.5) / n_field
    field_mu = np.quantile(v, q)
    iqr = np.subtract(*np.percentile(v, [75, 25]))
    field_sig = np.full(n_field, max(iqr / 1.35 / np.sqrt(n_field), 3.0 * FIELD_SIGMA_FLOOR))
    fw = np.full(n_field, 1.0 / n_field)
    bandwidth = max(3.0, float(np.median(verr[inner])))
    starts = [
        _DMState(np.r_[m, field_mu], np.r_[3.0, field_sig], fw.copy(), 1.0, a0)
        for m in _velocity_clumps(v[inner], bandwidth)
    ]
    for _ in range(n_random):
        m = rng.choice(v[inner])
        mus = np.r_[m, rng.choice(v, n_field)]
        sig = np.r_[rng.uniform(1.0, 10.0), field_sig * rng.uniform(0.5, 2.0, n_field)]
        p0 = rng.uniform(0.1, 0.9)
        alpha = float(np.log(p0) - np.log1p(-p0))  # logit(p0)
        log_a = float(np.log(max(np.quantile(R, rng.uniform(0.05, 0.5)), 1.0)))
        starts.append(_DMState(mus, sig, fw.copy(), alpha, log_a))
    return starts


def _split_broadest(st: _DMState) -> _DMState:
    """A start with one more field Gaussian: the broadest field component split in two."""
    k = 1 + int(np.argmax(st.sig[1:]))
    mu = np.r_[st.mu, st.mu[k] + 0.5 * st.sig[k]]
    mu[k] -= 0.5 * st.sig[k]
    sig = np.r_[st.sig, st.sig[k] / np.sqrt(2.0)]
    sig[k] /= np.sqrt(2.0)
    fw = np.r_[st.fw, 0.5 * st.fw[k - 1]]
    fw[k - 1] *= 0.5
    return _DMState(mu, sig, fw, st.alpha, st.log_a)


def _dm_unconstrained(st: _DMState) -> np.ndarray:
    """(mu_c, sigma_c, alpha, ln a, mu_j, ln sigma_j ..., ln(w_j / w_1) for j >= 2)."""
    out = [st.mu[0], st.sig[0], st.alpha, st.log_a]
    for k in range(1, st.mu.size):
        out += [st.mu[k], np.log(st.sig[k])]
    out += list(np.log(st.fw[1:] / st.fw[0]))
    return np.array(out)


def _dm_from_unconstrained(u: np.ndarray, n_field: int) -> _DMState:
    mu = np.r_[u[0], u[4 : 4 + 2 * n_field : 2]]
    sig = np.r_[u[1], np.exp(u[5 : 5 + 2 * n_field : 2])]
    logits = np.r_[0.0, u[4 + 2 * n_field :]]
    fw = np.exp(logits - logsumexp(logits))
    return _DMState(mu, sig, fw, float(u[2]), float(u[3]))


def _dm_hessian(st: _DMState, v: np.ndarray, e2: np.ndarray, R: np.ndarray, fixed: Sequence[int] = ()) -> np.ndarray:
    """Numerical Hessian of ln L in the unconstrained parameters (fixed indices: zero rows)."""
    u0 = _dm_unconstrained(st)
    n_field = st.mu.size - 1
    free = [i for i in range(u0.size) if i not in fixed]
    h = 1e-4 * np.maximum(np.abs(u0), 1.0)

    def f(u: np.ndarray) -> float:
        return float(_logsumexp_rows(_dm_log_terms(_dm_from_unconstrained(u, n_field), v, e2, R)).sum())

    H = np.zeros((u0.size, u0.size))
    for a_i, i in enumerate(free):
        for j in free[a_i:]:
            ei, ej = np.zeros(u0.size), np.zeros(u0.size)
            ei[i], ej[j] = h[i], h[j]
            H[i, j] = H[j, i] = (f(u0 + ei + ej) - f(u0 + ei - ej) - f(u0 - ei + ej) + f(u0 - ei - ej)) / (
                4.0 * h[i] * h[j]
            )
    return H


def membership_prior(R: Any, p_centre: float, r_scale: float) -> np.ndarray:
    """Prior probability of membership at projected distance ``R`` in the distance-aware model.

    .. math:: \\pi(R) = \\left[1 + \\frac{1 - p_0}{p_0}\\left(1 + R^2/a^2\\right)^2\\right]^{-1},

    the Plummer surface density ``(1 + R^2/a^2)^-2`` relative to a uniform
    field, normalised so that ``pi(0) = p0``.

    Parameters
    ----------
    R : array_like
        Projected distances [arcsec].
    p_centre : float
        Membership probability at the centre, in (0, 1).
    r_scale : float
        Plummer scale radius [arcsec].

    Returns
    -------
    ndarray
        Same shape as ``R``, values in (0, 1).
    """
    alpha = np.log(p_centre) - np.log1p(-p_centre)
    return np.exp(_log_prior_member(alpha, np.log(r_scale), np.asarray(R, dtype=float))[0])


def format_cluster_fit(fit: ClusterFit) -> str:
    """A short, fixed-format text summary of a :class:`ClusterFit`."""
    disp_err = f"{fit.dispersion_err:.2f}" if np.isfinite(fit.dispersion_err) else "n/a"
    lines = [
        f"{fit.name}: {fit.n_stars} stars, {fit.expected_members:.1f} expected members",
        f"  mean velocity  {fit.mean:9.2f} +- {fit.mean_err:.2f} km/s",
        f"  dispersion     {fit.dispersion:9.2f} +- {disp_err} km/s",
        f"  membership     p0 = {fit.p_centre:.3f} at the centre, Plummer scale radius {fit.r_scale:.0f} arcsec",
    ]
    for i, (m, s, w) in enumerate(fit.field, start=1):
        lines.append(f"  field {i}        {m:9.2f} km/s, sigma {s:6.2f} km/s, weight {w:.3f}")
    lines += [
        f"  model          {fit.model}",
        f"  ln L = {fit.log_likelihood:.2f}, BIC = {fit.bic:.2f}; best solution reached by "
        f"{fit.n_reached} of {fit.n_starts} starts",
        f"  reliable: {fit.reliable} ({fit.reason})",
    ]
    return "\n".join(lines)


def mock_cluster_field(
    n_members: int,
    field: Sequence[tuple[int, float, float]],
    rng: np.random.Generator,
    *,
    mean: float = 0.0,
    dispersion: float = 5.0,
    r_scale: float = 100.0,
    r_max: float = 1000.0,
    err_range: tuple[float, float] = (0.5, 3.0),
    name: str = "mock",
) -> np.recarray:
    """A synthetic cluster field with known truth, for tests and exercises.

    Members follow a Plummer surface density with scale radius ``r_scale``
    (projected radius ``R = a sqrt(u / (1 - u))``, truncated at ``r_max``);
    field stars are uniform over the disc of radius ``r_max``.  Velocities are
    Gaussian, plus each star's error drawn uniformly from ``err_range``.

    Parameters
    ----------
    n_members : int
        Number of cluster members.
    field : sequence of (n_stars, mean, sigma)
        Field populations [-, km/s, km/s].
    rng : numpy.random.Generator
        Source of randomness.
    mean, dispersion : float, default=0.0, 5.0
        Cluster mean velocity and intrinsic dispersion [km/s].
    r_scale, r_max : float, default=100.0, 1000.0
        Plummer scale radius and field radius [arcsec].
    err_range : (float, float), default=(0.5, 3.0)
        Range of the velocity errors [km/s].
    name : str, default="mock"
        Value of the ``cluster`` field.

    Returns
    -------
    numpy.recarray
        Same dtype as :func:`load_cluster`, plus the truth in ``p_mem``
        (1 for members, 0 for field stars).
    """
    radii = [np.empty(0)]
    while sum(len(r) for r in radii) < n_members:
        u = rng.random(n_members)
        r = r_scale * np.sqrt(u / (1.0 - u))
        radii.append(r[r <= r_max])
    r_mem = np.concatenate(radii)[:n_members]
    v_true = [rng.normal(mean, dispersion, n_members)]
    r_all = [r_mem]
    member = [np.ones(n_members)]
    for n_f, m_f, s_f in field:
        v_true.append(rng.normal(m_f, s_f, n_f))
        r_all.append(r_max * np.sqrt(rng.random(n_f)))
        member.append(np.zeros(n_f))
    v_true, R, member = np.concatenate(v_true), np.concatenate(r_all), np.concatenate(member)
    verr = rng.uniform(*err_range, v_true.size)
    stars = np.zeros(v_true.size, dtype=STAR_DTYPE).view(np.recarray)
    stars.cluster, stars.velocity, stars.velocity_error = name, v_true + verr * rng.standard_normal(v_true.size), verr
    stars.distance, stars.p_mem, stars.n_rv, stars.line = R, member, 1, np.arange(v_true.size) + 1
    for f in ("ra", "dec", "j_mag", "j_mag_error", "k_mag", "k_mag_error", "p_single"):
        stars[f] = np.nan
    return stars


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
    params : ndarray
        Extended parameter vector (see the section comment in helpers.py).
    n_starts, n_reached : int
        Starting points tried for the chosen model, and how many reached its
        best solution (the same cluster velocity, ln L within 0.5).
    reliable : bool
        False when the data cannot pin the cluster down.
    reason : str
        Why not (or notes on a reliable fit); plain language.
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
    reason: str


#: Thresholds of the reliability assessment in :func:`fit_cluster`.
RELIABILITY = {
    "min_members": 6.0,  # expected number of members
    "max_mean_err": 3.0,  # km/s
    "concentration_2dlnl": 6.0,  # 2 ln(L_profile / L_flat): ~95% for 2 extra parameters
    "ambiguity_dlnl": 3.0,  # an alternative cluster within this much ln L is a rival
}


def fit_cluster(
    cluster: str | os.PathLike[str] | np.recarray,
    *,
    table: BaumgardtTable | None = None,
    max_field: int = 3,
    n_random: int = 6,
    seed: int = 0,
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

    The fit is flagged unreliable, with the reason, when: fewer than
    ``RELIABILITY["min_members"]`` expected members; a dispersion at the cap
    :data:`CLUSTER_SIGMA_CAP` (a field population in the cluster's place); a
    mean uncertain by more than ``RELIABILITY["max_mean_err"]`` km/s; the
    "cluster" is neither dominant
    nor significantly concentrated towards the centre (likelihood-ratio test
    against a flat profile); another start found a different cluster velocity
    almost as likely; or the likelihood is degenerate at the optimum.

    Parameters
    ----------
    cluster : str, path-like, or numpy.recarray
        A cluster name in the compilation, a per-cluster whitespace file
        (:func:`load_cluster_file`), or stars as returned by those loaders.
    table : BaumgardtTable, default=None
        Parsed compilation; by default :func:`load_table`.
    max_field : int, default=3
        Largest number of field Gaussians tried.
    n_random : int, default=6
        Random starts per model, besides the clump and split starts.
    seed : int, default=0
        Seed of the random starts (the result does not depend on anything else).

    Returns
    -------
    ClusterFit
    """
    if isinstance(cluster, np.recarray):
        stars, name = cluster, str(cluster.cluster[0]) if len(cluster) else "?"
    elif isinstance(cluster, os.PathLike) or (isinstance(cluster, str) and os.path.isfile(cluster)):
        stars = load_cluster_file(cluster)
        name = pathlib.Path(cluster).stem
    else:
        stars, name = load_cluster(cluster, table), str(cluster)
    v, verr = validate_data(stars.velocity, stars.velocity_error)
    R = np.asarray(stars.distance, dtype=float)
    if not np.all(np.isfinite(R)) or np.any(R < 0):
        raise ValueError(f"{name}: projected distances must be finite and non-negative")
    if v.size < 10:
        raise ValueError(f"{name}: {v.size} stars; at least 10 are needed to fit this model")
    e2 = verr**2
    n = v.size
    rng = np.random.default_rng(seed)

    best_by_k: dict[int, tuple[_DMState, float, list[tuple[_DMState, float]]]] = {}

    def bic(k: int) -> float:
        return -2.0 * best_by_k[k][1] + (3 * k + 3) * np.log(n)

    previous: _DMState | None = None
    for n_field in range(1, max_field + 1):
        starts = _dm_starts(v, verr, R, n_field, rng, n_random)
        if previous is not None:
            starts.append(_split_broadest(previous))
        # short runs from every start, then the three best continued to convergence
        outcomes = []
        for st in starts:
            try:
                fit, ll, _, _ = _dm_em(st, v, e2, R, max_iter=150)
            except FloatingPointError:
                continue
            outcomes.append((fit, ll))
        if not outcomes:
            break
        outcomes.sort(key=lambda o: -o[1])
        for i in range(min(3, len(outcomes))):
            try:
                fit, ll, _, _ = _dm_em(outcomes[i][0], v, e2, R, max_iter=3000)
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

    logp = _dm_log_terms(st, v, e2, R)
    q = np.exp(logp[0] - _logsumexp_rows(logp))

    # uncertainties from the curvature (sigma_c fixed if it sits at zero)
    at_zero = st.sig[0] < 1e-3
    H = _dm_hessian(st, v, e2, R, fixed=(1,) if at_zero else ())
    free = [i for i in range(H.shape[0]) if not (at_zero and i == 1)]
    reasons: list[str] = []
    mean_err = disp_err = np.nan
    try:
        cov = np.linalg.inv(-H[np.ix_(free, free)])
        if np.any(np.diag(cov) <= 0) or not np.all(np.isfinite(cov)):
            raise np.linalg.LinAlgError
        mean_err = float(np.sqrt(cov[0, 0]))
        if not at_zero:
            disp_err = float(np.sqrt(cov[1, 1]))
    except np.linalg.LinAlgError:
        reasons.append("degenerate fit: the likelihood is flat in some direction, so no uncertainties")

    # is the "cluster" concentrated towards the centre? (likelihood-ratio test vs a flat profile)
    flat = st.copy()
    flat.log_a = _LOG_A_LIMITS[1]
    try:
        _, ll_flat, _, _ = _dm_em(flat, v, e2, R, fit_radius=False, max_iter=300)
    except FloatingPointError:
        ll_flat = -np.inf
    concentrated = 2.0 * (ll - ll_flat) >= RELIABILITY["concentration_2dlnl"]

    members = float(q.sum())
    thr = RELIABILITY
    if members < thr["min_members"]:
        reasons.append(f"only {members:.1f} likely members (fewer than {thr['min_members']:.0f})")
    if st.sig[0] >= 0.999 * CLUSTER_SIGMA_CAP:
        reasons.append(
            f"the 'cluster' component is as wide as allowed ({CLUSTER_SIGMA_CAP:.0f} km/s), hotter than any "
            "globular cluster: probably a field population"
        )
    if np.isfinite(mean_err) and mean_err > thr["max_mean_err"]:
        reasons.append(f"mean velocity uncertain by {mean_err:.1f} km/s")
    if not concentrated and members < 0.5 * n:
        reasons.append(
            "the velocity peak is not concentrated towards the centre and does not dominate the sample: "
            "it cannot be told apart from a field population"
        )
    tol_mean = max(5.0, 5.0 * (mean_err if np.isfinite(mean_err) else 1.0))
    n_reached = sum(ll - o[1] < 0.5 and abs(o[0].mu[0] - st.mu[0]) <= tol_mean for o in outcomes)
    rivals = [
        o for o in outcomes
        if ll - o[1] < thr["ambiguity_dlnl"] and abs(o[0].mu[0] - st.mu[0]) > tol_mean
    ]
    if rivals:
        other = max(rivals, key=lambda o: o[1])[0].mu[0]
        reasons.append(
            f"ambiguous: a cluster at {other:.1f} km/s fits almost as well as one at {st.mu[0]:.1f} km/s"
        )
    notes = list(reasons)
    if at_zero and not reasons:
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
        p_centre=float(_sigmoid(st.alpha)),
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
        reliable=not reasons,
        reason="; ".join(notes) if notes else "ok",
    )


def _survey_one(job: tuple[str, np.recarray, int, int]) -> ClusterFit:
    name, stars, seed, max_field = job
    try:
        return fit_cluster(stars, seed=seed, max_field=max_field)
    except (FloatingPointError, ValueError) as err:
        nan = float("nan")
        return ClusterFit(name, len(stars), nan, nan, nan, nan, nan, nan, (), np.full(len(stars), nan), nan,
                          nan, nan, "none", np.empty(0), 0, 0, False, f"fit failed: {err}")


def survey(
    table: BaumgardtTable | None = None,
    *,
    min_stars: int = 20,
    processes: int = 2,
    seed: int = 0,
    max_field: int = 3,
) -> list[ClusterFit]:
    """Fit every cluster with at least ``min_stars`` stars with :func:`fit_cluster`.

    Clusters are fitted in parallel worker processes, largest first for load
    balance; each fit depends only on its own stars and ``seed``, so the
    result does not depend on ``processes``.

    Parameters
    ----------
    table : BaumgardtTable, default=None
        Parsed compilation; by default :func:`load_table`.
    min_stars : int, default=20
        Smallest sample fitted.
    processes : int, default=2
        Worker processes (1 runs in this process).
    seed : int, default=0
        Passed to every :func:`fit_cluster`.
    max_field : int, default=3
        Passed to every :func:`fit_cluster`.

    Returns
    -------
    list of ClusterFit
        In the order of the compilation; a cluster whose fit failed outright
        is included with NaN values, ``reliable=False`` and the error as reason.
    """
    table = load_table() if table is None else table
    names = [n for n in cluster_names(table) if np.sum(table.stars.cluster == n) >= min_stars]
    jobs = [(n, table.stars[table.stars.cluster == n], seed, max_field) for n in names]
    order = sorted(range(len(jobs)), key=lambda i: -len(jobs[i][1]))
    if processes <= 1:
        results = {i: _survey_one(jobs[i]) for i in order}
    else:
        import concurrent.futures
        import multiprocessing

        # fork is fast and safe on Linux; elsewhere use the platform default (spawn),
        # which works because the worker function lives in this importable module
        ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)
        with concurrent.futures.ProcessPoolExecutor(max_workers=processes, mp_context=ctx) as pool:
            results = dict(zip(order, pool.map(_survey_one, [jobs[i] for i in order]), strict=True))
    return [results[i] for i in range(len(jobs))]


def pmem_weighted_mean(stars: np.recarray) -> float:
    """Mean velocity weighted by Baumgardt's ``p_mem`` [km/s]; NaN if all weights are 0.

    An independent reference for the cluster velocity (not a fit).
    """
    w = np.asarray(stars.p_mem, dtype=float)
    return float(np.average(stars.velocity, weights=w)) if w.sum() > 0 else float("nan")


#: Columns of the survey table written by :func:`write_survey_csv`.
SURVEY_COLUMNS: dict[str, str] = {
    "name": "cluster name in the compilation",
    "n_stars": "stars fitted",
    "mean": "cluster mean line-of-sight velocity [km/s]",
    "mean_err": "its 1-sigma uncertainty [km/s]",
    "dispersion": "intrinsic velocity dispersion [km/s] (one value for the whole cluster)",
    "dispersion_err": "its 1-sigma uncertainty [km/s] (empty when unresolved)",
    "members": "expected number of members (sum of membership probabilities)",
    "n_field": "field Gaussians in the model chosen by BIC",
    "r_scale": "Plummer scale radius of the membership profile [arcsec]",
    "pmem_mean": "mean velocity weighted by Baumgardt's P_Mem, for comparison [km/s]",
    "reliable": "whether the data pin the cluster down (see reason)",
    "reason": "plain-language reason, or ok",
}


def write_survey_csv(path: str | os.PathLike[str], fits: Sequence[ClusterFit], table: BaumgardtTable) -> None:
    """Write the survey as CSV with a ``#`` header documenting the columns.

    Parameters
    ----------
    path : str or path-like
        Output file (its directory is created).
    fits : sequence of ClusterFit
        From :func:`survey`.
    table : BaumgardtTable
        The compilation, for the P_Mem-weighted comparison velocity.
    """

    def num(x: float, fmt: str) -> str:
        return format(x, fmt) if np.isfinite(x) else ""

    lines = ["# Survey of the Baumgardt (2019) compilation with helpers.fit_cluster; columns:"]
    lines += [f"#   {k}: {t}" for k, t in SURVEY_COLUMNS.items()]
    lines.append(",".join(SURVEY_COLUMNS))
    for f in fits:
        pm = pmem_weighted_mean(table.stars[table.stars.cluster == f.name])
        reason = f.reason.replace('"', "'")
        lines.append(
            f"{f.name},{f.n_stars},{num(f.mean, '.2f')},{num(f.mean_err, '.2f')},{num(f.dispersion, '.2f')},"
            f"{num(f.dispersion_err, '.2f')},{num(f.expected_members, '.1f')},{len(f.field)},"
            f"{num(f.r_scale, '.0f')},{num(pm, '.2f')},{f.reliable},\"{reason}\""
        )
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


# --------------------------------------------------------------------------
# Posterior sampling helpers (emcee)
# --------------------------------------------------------------------------

#: Default prior box: means within +-1000 km/s, dispersions within [0, 500] km/s.
DEFAULT_BOUNDS: dict[str, tuple[float, float]] = {"mean": (-1000.0, 1000.0), "sigma": (0.0, 500.0)}


def log_prior(params: Any, bounds: dict[str, tuple[float, float]] | None = None) -> float | np.ndarray:
    """Flat (uniform) prior on a finite box plus the ordering constraint.

    Uniform in ``mean_k`` within ``bounds["mean"]``, in ``sigma_k`` within
    ``bounds["sigma"]`` with ``sigma1 <= sigma2``, and in ``0 < frac1 < 1``.
    The box must be finite: with an improper flat prior the posterior of a
    mixture is improper (as ``frac1 -> 1`` the likelihood stops depending on
    ``mean2``, so its integral over an infinite range diverges).

    Parameters
    ----------
    params : array_like, shape (5,) or (n_sets, 5)
        Parameter vector(s).
    bounds : dict, default=None
        ``{"mean": (lo, hi), "sigma": (lo, hi)}`` in km/s; None uses
        :data:`DEFAULT_BOUNDS`.

    Returns
    -------
    float or ndarray of shape (n_sets,)
        The log-prior up to a constant: 0 inside, ``-inf`` outside.
    """
    b = DEFAULT_BOUNDS if bounds is None else bounds
    p = _as_params(params)
    (mlo, mhi), (slo, shi) = b["mean"], b["sigma"]
    with np.errstate(invalid="ignore"):
        inside = (
            _valid(p)
            & (p[..., 0] >= mlo) & (p[..., 0] <= mhi) & (p[..., 2] >= mlo) & (p[..., 2] <= mhi)
            & (p[..., 1] >= slo) & (p[..., 3] <= shi)
        )
    out = np.where(inside, 0.0, -np.inf)
    return float(out) if p.ndim == 1 else out


def log_posterior(
    params: Any, v: np.ndarray, verr: np.ndarray, bounds: dict[str, tuple[float, float]] | None = None
) -> float | np.ndarray:
    """Log-posterior (up to a constant) = :func:`log_prior` + :func:`log_likelihood`.

    Vectorised like :func:`log_likelihood`, for ``emcee.EnsembleSampler(...,
    vectorize=True)``.

    Parameters
    ----------
    params : array_like, shape (5,) or (n_sets, 5)
        Parameter vector(s).
    v, verr : ndarray, shape (n_stars,)
        Velocities and uncertainties [km/s].
    bounds : dict, default=None
        Prior box (see :func:`log_prior`).

    Returns
    -------
    float or ndarray of shape (n_sets,)
    """
    lp = log_prior(params, bounds)
    p = _as_params(params)
    if p.ndim == 1:
        return lp + log_likelihood(p, v, verr) if np.isfinite(lp) else -np.inf
    out = np.array(lp, dtype=float)
    ok = np.isfinite(out)
    if ok.any():
        out[ok] += log_likelihood(p[ok], v, verr)
    return out


def init_walkers(
    best: Any,
    n_walkers: int,
    rng: np.random.Generator,
    scale: float = 1e-3,
    bounds: dict[str, tuple[float, float]] | None = None,
) -> np.ndarray:
    """Starting positions for emcee: a small Gaussian ball around a best fit.

    Each parameter is perturbed by ``scale * max(|value|, 1)`` times a standard
    normal; positions outside the prior are redrawn, so every walker starts
    with a finite log-prior.

    Parameters
    ----------
    best : array_like, shape (5,)
        Best-fit parameters, inside the prior.
    n_walkers : int
        Number of walkers (emcee needs at least ``2 * 5``).
    rng : numpy.random.Generator
        Source of randomness.
    scale : float, default=1e-3
        Relative size of the ball.
    bounds : dict, default=None
        Prior box (see :func:`log_prior`).

    Returns
    -------
    ndarray, shape (n_walkers, 5)
    """
    best = _as_params(best)
    if not np.isfinite(log_prior(best, bounds)):
        raise ValueError(f"best fit {best!r} is outside the prior; cannot start walkers there")
    if n_walkers < 10:
        raise ValueError(f"n_walkers = {n_walkers}: emcee needs at least 2 * 5 = 10")
    width = scale * np.maximum(np.abs(best), 1.0)
    width[4] = scale * min(best[4], 1.0 - best[4])
    pos = best + width * rng.standard_normal((n_walkers, 5))
    for _ in range(1000):
        bad = ~np.isfinite(log_prior(pos, bounds))
        if not bad.any():
            return pos
        pos[bad] = best + width * rng.standard_normal((int(bad.sum()), 5))
    raise RuntimeError("could not place the walkers inside the prior; reduce `scale`")


def make_sampler(
    n_walkers: int,
    v: np.ndarray,
    verr: np.ndarray,
    seed: int,
    bounds: dict[str, tuple[float, float]] | None = None,
) -> Any:
    """An ``emcee.EnsembleSampler`` for :func:`log_posterior`, vectorised and seeded.

    emcee does not take a ``numpy.random.Generator``: it keeps a legacy
    ``RandomState`` copied from numpy's *global* state when the sampler is
    created.  Here that state is set explicitly from ``seed``, so the chain is
    reproducible without touching the global state.

    Parameters
    ----------
    n_walkers : int
        Number of walkers.
    v, verr : ndarray, shape (n_stars,)
        Velocities and uncertainties [km/s].
    seed : int
        Seed of the sampler's random stream (the proposals).
    bounds : dict, default=None
        Prior box (see :func:`log_prior`).

    Returns
    -------
    emcee.EnsembleSampler
        With ``vectorize=True``: each step evaluates all walkers of one half
        of the ensemble in one call of :func:`log_posterior`.
    """
    import emcee

    v, verr = validate_data(v, verr)
    sampler = emcee.EnsembleSampler(n_walkers, 5, log_posterior, args=(v, verr, bounds), vectorize=True)
    sampler.random_state = np.random.RandomState(seed).get_state()  # the legacy state emcee uses
    return sampler


def burn_thin_from_autocorr(chain: np.ndarray, tol: float = 50.0) -> tuple[int, int, np.ndarray]:
    """Burn-in and thinning from emcee's integrated autocorrelation time.

    Follows the emcee documentation: discard ``2 * max(tau)`` steps and keep
    every ``max(1, int(0.5 * min(tau)))``-th step.

    Parameters
    ----------
    chain : ndarray, shape (n_steps, n_walkers, n_dim)
        Full chain (``sampler.get_chain()``).
    tol : float, default=50
        The chain must be longer than ``tol * tau`` for the estimate to be
        trusted (emcee's criterion).

    Returns
    -------
    burn : int
        Steps to discard.
    thin : int
        Thinning factor.
    tau : ndarray, shape (n_dim,)
        Integrated autocorrelation time of each parameter [steps].

    Raises
    ------
    emcee.autocorr.AutocorrError
        The chain is too short; the error carries the tentative ``tau``.
    """
    from emcee.autocorr import integrated_time

    tau = integrated_time(chain, tol=tol)
    return int(np.ceil(2.0 * np.max(tau))), max(1, int(0.5 * np.min(tau))), tau


def percentile_summary(samples: Any, names: Sequence[str] = PARAM_NAMES) -> str:
    """Median and 68% interval (16th-84th percentiles) of each parameter, as a table.

    Parameters
    ----------
    samples : array_like, shape (n_samples, n_dim)
        Posterior samples.
    names : sequence of str, default=PARAM_NAMES
        Parameter names, length n_dim.

    Returns
    -------
    str
        A fixed-format text table (one row per parameter: median, -err, +err).
    """
    samples = np.asarray(samples, dtype=float)
    q16, q50, q84 = np.percentile(samples, [16, 50, 84], axis=0)
    rows = [f"{'parameter':<10}{'median':>10}{'-1sigma':>10}{'+1sigma':>10}"]
    for name, lo, mid, hi in zip(names, q16, q50, q84, strict=True):
        rows.append(f"{name:<10}{mid:>10.3f}{mid - lo:>10.3f}{hi - mid:>10.3f}")
    return "\n".join(rows)


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
    """
    p_member = np.asarray(p_member, dtype=float)
    p_member_std = np.asarray(p_member_std, dtype=float)
    if p_member.shape != stars.shape or p_member_std.shape != stars.shape:
        raise ValueError(
            f"p_member {p_member.shape} and p_member_std {p_member_std.shape} must match stars {stars.shape}"
        )
    keep = p_member > threshold
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# {title}"] if title else []
    lines.append(f"# stars with p_member > {threshold:g}; columns:")
    lines += [f"#   {name}: {text}" for name, text in CATALOGUE_COLUMNS.items()]
    lines.append(",".join(CATALOGUE_COLUMNS))
    for s, q, dq in zip(stars[keep], p_member[keep], p_member_std[keep], strict=True):
        lines.append(
            f"{s.line},{s.ra:.6f},{s.dec:.6f},{s.distance:.2f},{s.velocity:.2f},{s.velocity_error:.2f},"
            f"{q:.4f},{dq:.4f},{s.p_mem:.3f}"
        )
    path.write_text("\n".join(lines) + "\n")
    return int(keep.sum())


def _fmt(p: Any) -> str:
    return "(" + ", ".join(f"{x:.4f}" for x in np.ravel(p)) + ")"


def format_params(params: Any, names: Sequence[str] = PARAM_NAMES, fmt: str = "{:9.4f}") -> str:
    """Format a parameter vector as ``name = value`` pairs with a fixed format.

    Parameters
    ----------
    params : array_like, shape (5,)
        Parameter vector.
    names : sequence of str, default=PARAM_NAMES
    fmt : str, default="{:9.4f}"
        Format of each value (explicit, so outputs are reproducible).

    Returns
    -------
    str
    """
    return "  ".join(f"{n} = {fmt.format(x)}" for n, x in zip(names, np.ravel(params), strict=True))


# --------------------------------------------------------------------------
# Plotting helpers
# --------------------------------------------------------------------------


def notebook_style(dpi: int = 110) -> None:
    """Matplotlib settings shared by the notebooks: readable on a projector and on GitHub.

    A full-width figure is 9.5 in wide, i.e. about 1000 px at the default
    resolution, with 12-pt text.

    Parameters
    ----------
    dpi : int, default=110
        Resolution of inline figures [dots per inch].
    """
    import matplotlib as mpl

    mpl.rcParams.update(
        {"figure.dpi": dpi, "savefig.dpi": dpi, "figure.figsize": (9.5, 4.2), "font.size": 12,
         "axes.titlesize": 13, "axes.labelsize": 12, "legend.fontsize": 11, "xtick.labelsize": 11,
         "ytick.labelsize": 11, "legend.frameon": False}
    )


def _axes(ax: Any) -> Any:
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.0, 4.0))
    return ax


def _velocity_distance_axes(ax: Any, v: np.ndarray, percentiles: tuple[float, float]) -> None:
    """Labels, and a y-range from velocity percentiles with the stars left out counted."""
    lo, hi = np.percentile(v, percentiles)
    pad = 0.15 * (hi - lo)
    ax.set_ylim(lo - pad, hi + pad)
    outside = int(np.sum((v < lo - pad) | (v > hi + pad)))
    if outside:
        ax.text(0.98, 0.02, f"{outside} star(s) outside the y-range", transform=ax.transAxes,
                ha="right", va="bottom", fontsize=8)
    ax.set_xlabel("projected distance from centre [arcsec]")
    ax.set_ylabel("line-of-sight velocity [km/s]")


def plot_velocity_vs_distance(
    distance: Any,
    v: Any,
    verr: Any,
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
    distance : array_like, shape (n_stars,)
        Projected distance [arcsec].
    v, verr : array_like, shape (n_stars,)
        Velocities and uncertainties [km/s].
    ax : matplotlib Axes, default=None
        Axes to draw into; a new figure if None.
    percentiles : (float, float), default=(2, 98)
        Velocity percentiles defining the y-range.
    errorbar_kwargs : dict, default=None
        Passed to ``ax.errorbar``.

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    v = np.asarray(v, dtype=float)
    kw = {"fmt": "o", "ms": 2.5, "lw": 0.6, "color": "0.2", "ecolor": "0.6"}
    kw.update(errorbar_kwargs or {})
    ax.errorbar(distance, v, yerr=verr, **kw)
    _velocity_distance_axes(ax, v, percentiles)
    return ax


def plot_membership(
    distance: Any,
    v: Any,
    prob: Any,
    *,
    ax: Any = None,
    percentiles: tuple[float, float] = (2.0, 98.0),
    scatter_kwargs: dict[str, Any] | None = None,
) -> Any:
    """Velocity against distance, coloured by cluster-membership probability.

    Parameters
    ----------
    distance : array_like, shape (n_stars,)
        Projected distance [arcsec].
    v : array_like, shape (n_stars,)
        Velocities [km/s].
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
    """
    ax = _axes(ax)
    v = np.asarray(v, dtype=float)
    kw = {"s": 10, "cmap": "coolwarm_r", "vmin": 0.0, "vmax": 1.0}
    kw.update(scatter_kwargs or {})
    sc = ax.scatter(distance, v, c=prob, **kw)
    ax.figure.colorbar(sc, ax=ax, label="membership probability")
    _velocity_distance_axes(ax, v, percentiles)
    return ax


def plot_model_vs_mock(
    v: Any,
    verr: Any,
    params: Any,
    rng: np.random.Generator,
    *,
    ax: Any = None,
    bins: Any = None,
    hist_kwargs: dict[str, Any] | None = None,
) -> Any:
    """Posterior-predictive check: data vs a mock data set vs the model density.

    Draws one mock data set with :func:`sample_mock` (same per-star errors),
    histograms both, and overlays :func:`model_density` scaled to counts.

    Parameters
    ----------
    v, verr : array_like, shape (n_stars,)
        Velocities and uncertainties [km/s].
    params : array_like, shape (5,)
        Model parameters.
    rng : numpy.random.Generator
        For the mock data set.
    ax : matplotlib Axes, default=None
        Axes to draw into; a new figure if None.
    bins : int or array_like, default=None
        Histogram bins; default 2 km/s bins over the 1-99 percentile range.
    hist_kwargs : dict, default=None
        Passed to both ``ax.hist`` calls.

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    v = np.asarray(v, dtype=float)
    verr = np.asarray(verr, dtype=float)
    if bins is None:
        lo, hi = np.percentile(v, [1, 99])
        bins = np.arange(np.floor(lo) - 2.0, np.ceil(hi) + 2.0, 2.0)
    bins = np.asarray(bins, dtype=float)
    mock = sample_mock(params, verr, rng)
    kw = {"histtype": "step", "lw": 1.5}
    kw.update(hist_kwargs or {})
    ax.hist(v, bins=bins, label="data", color="k", **kw)
    ax.hist(mock, bins=bins, label="mock from model", color="C1", ls="--", **kw)
    grid = np.linspace(bins[0], bins[-1], 400)
    width = np.diff(bins).mean()
    ax.plot(grid, v.size * width * model_density(grid, params, verr), color="C0",
            label="model (error-convolved)")
    ax.set_xlabel("line-of-sight velocity [km/s]")
    ax.set_ylabel(f"stars per {width:g} km/s")
    ax.legend(fontsize=8)
    return ax
