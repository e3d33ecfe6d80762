"""An independent catalogue of cluster mean velocities, pinned like the main data (notebook 07).

Baumgardt's globular-cluster catalogue gives each cluster's mean line-of-sight
velocity from his own analysis of all the spectra he compiled (Baumgardt et al.
2019, arXiv:1811.01507; updated by Vasiliev & Baumgardt 2021, arXiv:2102.09568,
and Baumgardt & Vasiliev 2021, arXiv:2105.09526).  Those numbers are shipped
by the Python package galpy, ``galpy/orbit/named_objects.json``, whose Milky
Way globular clusters carry ``vlos`` and ``vlos_e`` [km/s] with that source.
They were extracted once from galpy 1.12.1 (the file's SHA-256 checked) by
tools/extract_reference_velocities.py into ``data/reference_velocities.csv``,
which :func:`load_reference_velocities` reads after checking its own SHA-256:
the tutorial does not need galpy (tests/test_reference.py compares the CSV
with galpy's file where galpy is installed).

Limitation, stated up front: the catalogue's velocities come from largely the
*same* spectra (plus newer ones), so the comparison tests our model and
membership, not the measurements.  The catalogue has no central velocity
dispersions: :func:`load_dispersion_profiles` reads published dispersion
*profiles* of 40 clusters, extracted once from the package gcfit 3.3.0 into
``data/dispersion_profiles.csv`` (pinned by SHA-256, see data/README.md).
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import re

import numpy as np

#: The galpy release whose ``named_objects.json`` the catalogue velocities were extracted from.
GALPY_VERSION = "1.12.1"
#: SHA-256 of ``galpy/orbit/named_objects.json`` in galpy 1.12.1.
NAMED_OBJECTS_SHA256 = "1c66dad1054dbd2243d538f55a2dba471212a155a3ffd1e62fe32ee4932ed522"
#: SHA-256 of data/reference_velocities.csv, extracted from it by tools/extract_reference_velocities.py.
REFERENCE_VELOCITIES_SHA256 = "d6b25ce14b274d3c354c2f39422d78ebe549a82af5e0017e77cf7fc7f0d800f6"

# galpy spellings that the compilation writes differently (checked against its 122 names)
_PREFIXES = {"Terzan": "Ter", "Djorg": "Djorg", "Pal": "Pal", "BH": "BH", "Rup": "Rup", "Lynga": "Lyn", "Liller": "Lil"}


class ReferenceCatalogueError(RuntimeError):
    """A pinned reference file is missing or differs from the pinned version."""


def data_file(name: str) -> pathlib.Path:
    """A data file shipped with the tutorial: ``data/<name>`` of the repository, or of the installed package.

    In a checkout (or an editable install) the file is the repository's
    ``data/<name>``; an installed wheel carries the same file as package data
    in ``xdtutorial/_data/<name>``.  The repository's copy is returned when
    neither exists, so that the error names the file to restore.
    """
    checkout = pathlib.Path(__file__).resolve().parents[1] / "data" / name
    installed = pathlib.Path(__file__).resolve().parent / "_data" / name
    return installed if not checkout.is_file() and installed.is_file() else checkout


def _read_pinned(path: str | pathlib.Path | None, name: str, sha256: str) -> bytes:
    path = data_file(name) if path is None else pathlib.Path(path)
    fix = f"restore it from the repository (git checkout data/{name})"
    if not path.is_file():
        raise ReferenceCatalogueError(f"{path} was not found; {fix}")
    raw = path.read_bytes()
    if hashlib.sha256(raw).hexdigest() != sha256:
        raise ReferenceCatalogueError(f"{path} differs from the pinned version (SHA-256); {fix}")
    return raw


def compilation_name(galpy_name: str) -> str:
    """The compilation's spelling of a galpy cluster name.

    ``"NGC288"`` -> ``"NGC 288"``, ``"Terzan5"`` -> ``"Ter 5"``, ``"Pal3"`` ->
    ``"Pal 3"``, ``"BH261"`` -> ``"BH 261"``, ``"IC4499"`` -> ``"IC 4499"``,
    ``"Arp2"`` -> ``"Arp 2"``, ``"Liller1"`` -> ``"Lil 1"``; a name with no trailing number (``"Crater"``) is
    returned unchanged.

    Parameters
    ----------
    galpy_name : str
        A key of galpy's ``named_objects.json``.

    Returns
    -------
    str
    """
    match = re.fullmatch(r"([A-Za-z]+?)(\d+)", galpy_name)
    if match is None:
        return galpy_name
    prefix, number = match.groups()
    return f"{_PREFIXES.get(prefix, prefix)} {number}"


def reference_velocity_rows(named_objects: bytes) -> list[tuple[str, str, float, float]]:
    """The catalogue velocities in galpy's ``named_objects.json``, as rows of data/reference_velocities.csv.

    Parameters
    ----------
    named_objects : bytes
        The content of ``galpy/orbit/named_objects.json``.

    Returns
    -------
    list of (str, str, float, float)
        ``(cluster, galpy_name, vlos, vlos_e)``: compilation name (see
        :func:`compilation_name`), galpy's key, mean line-of-sight velocity and
        its 1-sigma uncertainty [km/s].  First every Milky Way globular cluster
        with a velocity, in the file's order; then each synonym
        (``"Lynga7"`` for ``"BH184"``, ``"HP1"`` for ``"BH229"`` ...) whose
        compilation spelling is not already a row, with its cluster's values.
    """
    objects = json.loads(named_objects)
    clusters = objects["_collections"]["MWglobularclusters"]
    rows: dict[str, tuple[str, str, float, float]] = {}
    for key in clusters:
        entry = objects[key]
        if "vlos" in entry and "vlos_e" in entry:
            rows[compilation_name(key)] = (compilation_name(key), key, float(entry["vlos"]), float(entry["vlos_e"]))
    for synonym, key in objects["_synonyms"].items():
        if key in clusters and compilation_name(key) in rows and compilation_name(synonym) not in rows:
            rows[compilation_name(synonym)] = (compilation_name(synonym), key, *rows[compilation_name(key)][2:])
    return list(rows.values())


def load_reference_velocities(path: str | pathlib.Path | None = None) -> dict[str, tuple[float, float]]:
    """Baumgardt's catalogue mean velocities of the Milky Way globular clusters (data/reference_velocities.csv).

    Parameters
    ----------
    path : str or path-like, default=None
        The CSV; by default ``data/reference_velocities.csv`` of the repository
        (or of the installed package, see :func:`data_file`).

    Returns
    -------
    dict of str to (float, float)
        Compilation name (see :func:`compilation_name`) to
        ``(vlos, vlos_e)`` [km/s]: mean line-of-sight velocity and its
        1-sigma uncertainty.  Clusters without a velocity are left out.  The
        synonyms of galpy's ``named_objects.json`` (``"Lynga7"`` for ``"BH184"``,
        ``"HP1"`` for ``"BH229"`` ...) are there under their compilation
        spelling too (``"Lyn 7"``, ``"HP 1"``), so either name finds the cluster.

    Raises
    ------
    ReferenceCatalogueError
        The file is missing or its SHA-256 differs from
        :data:`REFERENCE_VELOCITIES_SHA256` (the message names the fix).
    """
    raw = _read_pinned(path, "reference_velocities.csv", REFERENCE_VELOCITIES_SHA256)
    lines = [line for line in raw.decode().splitlines() if not line.startswith("#")][1:]
    out: dict[str, tuple[float, float]] = {}
    for line in lines:
        cluster, _, vlos, vlos_e = line.split(",")
        out[cluster] = (float(vlos), float(vlos_e))
    return out


#: SHA-256 of data/dispersion_profiles.csv, extracted from gcfit 3.3.0 by tools/extract_gcfit_dispersions.py.
DISPERSION_PROFILES_SHA256 = "d6a5d906d011aefa0f4fc3fc4474b529caa299fbe5989827d963e2c984835998"


def load_dispersion_profiles(path: str | pathlib.Path | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Published line-of-sight velocity-dispersion profiles of 40 clusters (from gcfit 3.3.0).

    Profiles ``baumgardt`` (Baumgardt 2017; Baumgardt & Hilker 2018: binned
    dispersions from a radial-velocity compilation like ours), ``kamann``
    (Kamann et al. 2018: MUSE integral-field spectroscopy of the cores,
    independent data), ``lutzgendorf`` and ``dalessandro``; see data/README.md.

    Parameters
    ----------
    path : str or path-like, default=None
        The CSV; by default ``data/dispersion_profiles.csv`` of the repository
        (or of the installed package, see :func:`data_file`).

    Returns
    -------
    dict of str to dict of str to ndarray
        Cluster name to profile key to a structured array with fields ``r``
        [arcsec], ``sigma``, ``sigma_err_down``, ``sigma_err_up`` [km/s], by
        increasing ``r``.

    Raises
    ------
    ReferenceCatalogueError
        The file is missing or its SHA-256 differs from :data:`DISPERSION_PROFILES_SHA256`.
    """
    raw = _read_pinned(path, "dispersion_profiles.csv", DISPERSION_PROFILES_SHA256)
    rows = [r.split(",") for r in raw.decode().splitlines()[4:]]
    dtype = [("r", float), ("sigma", float), ("sigma_err_down", float), ("sigma_err_up", float)]
    out: dict[str, dict[str, np.ndarray]] = {}
    for cluster, key, _, *numbers in rows:
        out.setdefault(cluster, {}).setdefault(key, []).append(tuple(float(x) for x in numbers))
    return {c: {k: np.sort(np.array(v, dtype=dtype), order="r") for k, v in p.items()} for c, p in out.items()}
