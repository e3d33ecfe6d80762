"""Data access (notebook 01): the pinned compilation, its strict parser, the cluster loaders.

Baumgardt's 2019 compilation of individual-star line-of-sight velocities
(Baumgardt & Hilker 2018, MNRAS 478, 1520; Baumgardt et al. 2019, MNRAS 482,
5138) is downloaded once from a pinned URL and checked against a pinned
SHA-256; nothing is ever read unverified.  The fixed-width file is read by
character position and every row is validated: a malformed row raises
:class:`DataFormatError` naming the line, rows that cannot belong to a cluster
field are skipped by policy and listed.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import logging
import os
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._validation import (
    MAX_PLAUSIBLE_SPEED,
    as_lines,
    check_cluster_name,
    check_columns,
    check_int,
    check_path,
    check_stars,
    check_table,
    is_number,
    name_not_found_hint,
    read_text,
)
from .errors import DataChecksumError, DataFormatError, DataUnavailableError

log = logging.getLogger(__name__)

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


def data_directory(data_dir: str | os.PathLike[str] | None = None) -> pathlib.Path:
    """Directory where the compilation is looked for and cached.

    Parameters
    ----------
    data_dir : str or path-like, default=None
        Explicit directory.  If None, the environment variable ``GMM_DATA_DIR``
        is used when set, otherwise the repository's ``data/`` folder (next to
        ``helpers.py``) in a clone or an editable install, or the user's cache
        folder (``pooch.os_cache("xd-cluster-tutorial")``, e.g.
        ``~/.cache/xd-cluster-tutorial``) when the package is installed from a wheel.

    Returns
    -------
    pathlib.Path
        The directory (it need not exist yet).
    """
    if data_dir is not None:
        return check_path("data_dir", data_dir)
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        path = pathlib.Path(env).expanduser()
        if path.is_file():
            raise DataUnavailableError(
                f"{DATA_DIR_ENV}={env} names a file; it must name the folder that holds {DATA_FILENAME}. "
                f"Fix: export {DATA_DIR_ENV}={path.parent}"
            )
        if not path.is_dir():  # a misspelt folder is not created silently
            raise DataUnavailableError(
                f"{DATA_DIR_ENV}={env}: no such folder (working directory {os.getcwd()}). Fix: check its "
                f"spelling, create it (mkdir -p {env}) if the data should be downloaded there, or unset "
                f"{DATA_DIR_ENV} to use the repository's data/ folder"
            )
        return path
    checkout = pathlib.Path(__file__).resolve().parent.parent
    if (checkout / "helpers.py").is_file():  # a clone (or an editable install of one)
        return checkout / "data"
    import pooch  # installed from a wheel: site-packages is no place for a download

    return pathlib.Path(pooch.os_cache("xd-cluster-tutorial"))


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
    path = check_path("results", results)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_sha256(sha256: object) -> str:
    """A SHA-256 hex digest in lower case; ``sha256:`` (pooch's prefix), case and surrounding blanks are allowed."""
    if not isinstance(sha256, str):
        raise TypeError(f"sha256 must be a str of 64 hexadecimal digits; got {sha256!r:.80}. "
                        "Fix: leave the default (DATA_SHA256), or pass the digest `sha256sum FILE` prints")
    digest = sha256.strip().lower()  # hex digests compare without regard to case
    digest = digest.removeprefix("sha256:").strip()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(
            f"sha256 must be a SHA-256 digest, 64 hexadecimal digits; got {sha256!r:.100} "
            f"({len(digest)} characters). The data file was not checked against it. Fix: leave the default "
            "(DATA_SHA256), or pass the whole digest `sha256sum FILE` prints"
        )
    return digest


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
        Expected SHA-256 hex digest (any case; blanks around it and a
        ``sha256:`` prefix are ignored).
    filename : str, default=DATA_FILENAME
        File name inside the directory.

    Returns
    -------
    pathlib.Path
        Path of the verified file.

    Raises
    ------
    TypeError, ValueError
        ``sha256`` is not a SHA-256 hex digest (64 hexadecimal digits).
    DataChecksumError
        The file on disk, or the downloaded one, has another checksum.
    DataUnavailableError
        The file is absent and the download failed (e.g. no network).
    """
    sha256 = _check_sha256(sha256)
    directory = data_directory(data_dir)
    path = directory / filename
    if path.is_dir():
        raise DataUnavailableError(
            f"{path} is a folder, where the data file should be. Fix: move that folder away (it is not the "
            f"data), then run again to download the verified file; or point {DATA_DIR_ENV} at another folder"
        )
    if path.exists() and not path.is_file():
        raise DataUnavailableError(
            f"{path} is not a regular file (a FIFO, socket or device). Fix: remove it, then run again to "
            "download the verified file"
        )
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
    [("cluster", "U9"), ("twomass_id", "U16"), ("ra", "f8"), ("dec", "f8"), ("velocity", "f8"),
     ("velocity_error", "f8"), ("distance", "f8"), ("j_mag", "f8"), ("j_mag_error", "f8"), ("k_mag", "f8"),
     ("k_mag_error", "f8"), ("p_mem", "f8"), ("n_rv", "i4"), ("p_single", "f8"), ("line", "i4")]
)

def star_dtype(name: str) -> np.dtype:
    """:data:`STAR_DTYPE` with a ``cluster`` field wide enough for ``name`` (the compilation's names fit in 9
    characters; a file's stem or a mock's name keeps every character)."""
    return np.dtype([(n, f"U{max(9, len(name))}" if n == "cluster" else t) for n, t in STAR_DTYPE.descr])


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
        Path of the file, or its lines (trailing newlines are removed, so
        ``fh.readlines()`` works; a string holding the whole text is refused:
        pass ``text.splitlines()``).

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
        Wrong header, a malformed row (the message gives line and content), a
        file that is not ASCII, or two spellings of one cluster name that differ
        only in spaces or case (``load_cluster`` could not tell them apart).
    TypeError
        ``source`` is neither a path nor a sequence of str.
    """
    if isinstance(source, (str, os.PathLike)):
        path = check_path("source", source, file=True)
        name = str(path)
        lines = read_text(path, encoding="ascii").splitlines()
    else:
        name = "<lines>"
        lines = as_lines("source", source)
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
        if abs(rec[4]) > MAX_PLAUSIBLE_SPEED:  # refused here, before any fit: a survey never dies half-way on it
            raise DataFormatError(
                f"{name}, line {lineno}: velocity {rec[4]:g} km/s is beyond {MAX_PLAUSIBLE_SPEED:g} km/s, faster "
                f"than any star in the Galaxy: a corrupt or edited row ({line.strip()!r}). Fix: restore the file "
                "(delete it and let fetch_data download it again) or correct that row"
            )
        if n_rv == 0:
            skipped.append((lineno, "NRV = 0: no velocity measurement behind this row", line))
        elif distance > MAX_DISTANCE_ARCSEC:
            skipped.append(
                (lineno, f"DCEN = {distance:.0f} arcsec is beyond {MAX_DISTANCE_ARCSEC:.0f}", line)
            )
        else:
            rows.append(rec)
    stars = np.array(rows, dtype=STAR_DTYPE).view(np.recarray)
    _check_unique_names(stars, name)
    for lineno, reason, _ in skipped:
        log.info("%s, line %d skipped: %s", name, lineno, reason)
    return BaumgardtTable(stars=stars, skipped=tuple(skipped), path=name)


def _check_unique_names(stars: np.recarray, source: str) -> None:
    """Refuse two spellings of a name that load_cluster's matching (spaces, case ignored) merges."""
    first: dict[str, tuple[str, int]] = {}
    for spelling, lineno in zip(stars.cluster, stars.line, strict=True):
        seen = first.setdefault(_normalise_name(spelling), (str(spelling), int(lineno)))
        if seen[0] != spelling:
            raise DataFormatError(
                f"{source}, line {lineno}: cluster {str(spelling)!r} and {seen[0]!r} (line {seen[1]}) differ only "
                "in spaces or case, so load_cluster cannot tell them apart. Fix: spell one name one way in the file"
            )


@functools.lru_cache(maxsize=4)
def _load_table_cached(path: str, inode: int, size: int, mtime_ns: int, ctime_ns: int) -> BaumgardtTable:
    # Keyed on the file's identity and change time too: an edit that keeps the size and
    # restores the modification time (os.utime) still changes st_ctime, which nothing can set.
    table = read_baumgardt_table(pathlib.Path(path))
    table.stars.flags.writeable = False  # shared by every later call: hand it out read-only
    return table


def load_table(path: str | os.PathLike[str] | None = None) -> BaumgardtTable:
    """Read (and cache in memory) the whole compilation.

    Parameters
    ----------
    path : str or path-like, default=None
        File to read; by default the verified file from :func:`fetch_data`.

    Returns
    -------
    BaumgardtTable
        The parsed compilation (cached per path, size, modification and change time).
        Its ``stars`` are read-only (every call shares them); :func:`load_cluster`
        returns writable copies.

    Raises
    ------
    FileNotFoundError
        No file at ``path`` (the message names it and the working directory).
    """
    p = check_path("path", path, file=True) if path is not None else fetch_data()
    if p.exists() and not p.is_file() and not p.is_dir():
        raise DataFormatError(
            f"{p} is not a regular file (a FIFO, socket or device), so it is not read: it could block or never "
            "end. Fix: save the data to an ordinary file and pass that"
        )
    if not p.is_file():
        raise (IsADirectoryError if p.is_dir() else FileNotFoundError)(
            f"{p}: no such file (working directory {os.getcwd()}). Fix: check the name, or leave path out to "
            f"use the verified compilation (fetch_data(); {DATA_DIR_ENV} points at a folder holding it)"
        )
    st = p.stat()
    return _load_table_cached(str(p.resolve()), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


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
    table = load_table() if check_table(table) is None else table
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
    TypeError
        ``name`` is not a str (a file is read by :func:`load_cluster_file`).
    """
    name = check_cluster_name("name", name)
    table = load_table() if check_table(table) is None else table
    wanted = _normalise_name(name)
    names = cluster_names(table)
    by_key = {_normalise_name(n): n for n in names}
    if wanted not in by_key:
        close = difflib.get_close_matches(wanted, list(by_key), n=5, cutoff=0.5)
        hint = ", ".join(repr(by_key[c]) for c in close) or "none"
        raise KeyError(
            f"no cluster {name!r} in {table.path}; closest names: {hint}. "
            "helpers.cluster_names() lists all of them." + name_not_found_hint(name)
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
        The file (UTF-8 text).
    usecols : tuple of int, default=(4, 5, 6)
        0-based columns of distance [arcsec], velocity and error [km/s].
    skiprows : int, default=2
        Number of header lines (0 for a file without them).

    Returns
    -------
    numpy.recarray, shape (n_stars,)
        Same dtype as :func:`load_cluster`; fields not in the file are NaN
        (numbers) or empty (text); ``cluster`` is the file's stem.

    Raises
    ------
    DataFormatError
        A row with too few columns, a non-number, or a non-positive error (in a
        catalogue a 0 is a missing value); a file that is not UTF-8; or a skipped
        "header" line that reads as a data row (the file has no header: pass
        ``skiprows=0``).  Every message names the file.
    """
    path = check_path("path", path, file=True)
    skiprows = check_int("skiprows", skiprows, minimum=0)
    usecols = check_columns("usecols", usecols, what=("distance", "velocity", "error"))
    rows = []
    lines = read_text(path, encoding="utf-8").splitlines()
    need = max(usecols) + 1
    for lineno, line in enumerate(lines[:skiprows], start=1):
        parts = line.split()
        if len(parts) >= need and all(is_number(parts[c]) for c in usecols):
            raise DataFormatError(
                f"{path}, line {lineno}: skipped as a header line (skiprows={skiprows}) but it reads as a data "
                f"row: {line!r}. Fix: pass skiprows=0 for a file without header lines"
            )
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
        if d > MAX_DISTANCE_ARCSEC:
            raise DataFormatError(
                f"{path}, line {lineno}: distance {d:g} arcsec is beyond {MAX_DISTANCE_ARCSEC:g} arcsec "
                f"({MAX_DISTANCE_ARCSEC / 3600:g} deg), farther than any star of a cluster's field. Fix: check the "
                f"column (usecols={usecols}) and the unit: distances must be in arcsec"
            )
        if abs(v) > MAX_PLAUSIBLE_SPEED:
            raise DataFormatError(
                f"{path}, line {lineno}: velocity {v:g} km/s is beyond {MAX_PLAUSIBLE_SPEED:g} km/s, faster than "
                f"any star in the Galaxy. Fix: check the column (usecols={usecols}) and the unit: m/s instead of km/s?"
            )
        rows.append((path.stem, "", np.nan, np.nan, v, e, d) + (np.nan,) * 5 + (0, np.nan, lineno))
    if not rows:
        raise DataFormatError(f"{path}: no data rows after {skiprows} header lines")
    # the compilation's names fit in 9 characters; a file's stem keeps every character
    dtype = star_dtype(path.stem)
    return np.array(rows, dtype=dtype).view(np.recarray)


def pmem_weighted_mean(stars: np.recarray) -> float:
    """Mean velocity weighted by Baumgardt's ``p_mem`` column.

    ``p_mem`` is labelled a membership probability, but measured it is the two-sided p-value of
    each star's velocity offset from the cluster mean (notebook 01), and it ignores distance. This
    mean is therefore a consistency check on the *same* velocities, not an independent measurement.

    Parameters
    ----------
    stars : numpy.recarray, shape (n_stars,)
        From :func:`load_cluster`; the fields ``velocity`` [km/s] and ``p_mem`` are used.

    Returns
    -------
    float
        The weighted mean [km/s]; NaN when every ``p_mem`` is 0.
    """
    stars = check_stars(stars, fields=("velocity", "p_mem"), one_cluster=True)
    w = np.asarray(stars.p_mem, dtype=float)
    return float(np.average(stars.velocity, weights=w)) if w.sum() > 0 else float("nan")

