"""An independent catalogue of cluster mean velocities, pinned like the main data (notebook 07).

Baumgardt's globular-cluster catalogue gives each cluster's mean line-of-sight
velocity from his own analysis of all the spectra he compiled (Baumgardt et al.
2019, arXiv:1811.01507; updated by Vasiliev & Baumgardt 2021, arXiv:2102.09568,
and Baumgardt & Vasiliev 2021, arXiv:2105.09526).  Those numbers are shipped,
offline, by the Python package galpy: ``galpy/orbit/named_objects.json``, whose
Milky Way globular clusters carry ``vlos`` and ``vlos_e`` [km/s] with that
source.  We pin galpy 1.12.1 (requirements.txt) and check the file's SHA-256,
so a different galpy cannot silently change the comparison.  The file is
located with :func:`importlib.util.find_spec`, which finds the installed
package without running it: galpy itself is never imported (it would pull in
its C extensions and configuration for nothing; ``importlib.resources.files``
would import it).

Limitation, stated up front: the catalogue's velocities come from largely the
*same* spectra (plus newer ones), so the comparison tests our model and
membership, not the measurements.  The catalogue has no central velocity
dispersions: :func:`load_dispersion_profiles` reads published dispersion
*profiles* of 40 clusters, extracted once from the package gcfit 3.3.0 into
``data/dispersion_profiles.csv`` (pinned by SHA-256, see data/README.md).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import pathlib
import re

import numpy as np

#: The galpy release whose ``named_objects.json`` is pinned.
GALPY_VERSION = "1.12.1"
#: SHA-256 of ``galpy/orbit/named_objects.json`` in galpy 1.12.1.
NAMED_OBJECTS_SHA256 = "1c66dad1054dbd2243d538f55a2dba471212a155a3ffd1e62fe32ee4932ed522"

# galpy spellings that the compilation writes differently (checked against its 122 names)
_PREFIXES = {"Terzan": "Ter", "Djorg": "Djorg", "Pal": "Pal", "BH": "BH", "Rup": "Rup", "Lynga": "Lyn", "Liller": "Lil"}


class ReferenceCatalogueError(RuntimeError):
    """The pinned reference catalogue is missing or differs from the pinned version."""


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


def load_reference_velocities() -> dict[str, tuple[float, float]]:
    """Baumgardt's catalogue mean velocities of the Milky Way globular clusters, from pinned galpy.

    Returns
    -------
    dict of str to (float, float)
        Compilation name (see :func:`compilation_name`) to
        ``(vlos, vlos_e)`` [km/s]: mean line-of-sight velocity and its
        1-sigma uncertainty.  Clusters without a velocity are left out.  The
        synonyms of ``named_objects.json`` (``"Lynga7"`` for ``"BH184"``,
        ``"HP1"`` for ``"BH229"`` ...) are added under their compilation
        spelling too (``"Lyn 7"``, ``"HP 1"``), so either name finds the cluster.

    Raises
    ------
    ReferenceCatalogueError
        galpy is not installed, or its file's SHA-256 differs from
        :data:`NAMED_OBJECTS_SHA256` (the message names the fix).
    """
    fix = f"install the pinned version: pip install galpy=={GALPY_VERSION} (it is in requirements.txt)"
    spec = importlib.util.find_spec("galpy")
    if spec is None or not spec.submodule_search_locations:
        raise ReferenceCatalogueError(f"galpy is not installed; {fix}")
    path = pathlib.Path(next(iter(spec.submodule_search_locations))) / "orbit" / "named_objects.json"
    try:
        raw = path.read_bytes()
    except FileNotFoundError as err:
        raise ReferenceCatalogueError(f"{path} was not found; {fix}") from err
    digest = hashlib.sha256(raw).hexdigest()
    if digest != NAMED_OBJECTS_SHA256:
        raise ReferenceCatalogueError(
            f"galpy's named_objects.json has SHA-256 {digest}, not the pinned {NAMED_OBJECTS_SHA256} "
            f"of galpy {GALPY_VERSION}: another galpy version is installed; {fix}"
        )
    objects = json.loads(raw)
    clusters = objects["_collections"]["MWglobularclusters"]
    out: dict[str, tuple[float, float]] = {}
    for key in clusters:
        entry = objects[key]
        if "vlos" in entry and "vlos_e" in entry:
            out[compilation_name(key)] = (float(entry["vlos"]), float(entry["vlos_e"]))
    for synonym, key in objects["_synonyms"].items():
        if key in clusters and compilation_name(key) in out:
            out.setdefault(compilation_name(synonym), out[compilation_name(key)])
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
        The CSV; by default ``data/dispersion_profiles.csv`` of the repository.

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
    path = pathlib.Path(__file__).resolve().parents[1] / "data" / "dispersion_profiles.csv" if path is None else path
    path = pathlib.Path(path)
    fix = "restore it from the repository (git checkout data/dispersion_profiles.csv)"
    if not path.is_file():
        raise ReferenceCatalogueError(f"{path} was not found; {fix}")
    raw = path.read_bytes()
    if hashlib.sha256(raw).hexdigest() != DISPERSION_PROFILES_SHA256:
        raise ReferenceCatalogueError(f"{path} differs from the pinned version (SHA-256); {fix}")
    rows = [r.split(",") for r in raw.decode().splitlines()[4:]]
    dtype = [("r", float), ("sigma", float), ("sigma_err_down", float), ("sigma_err_up", float)]
    out: dict[str, dict[str, np.ndarray]] = {}
    for cluster, key, _, *numbers in rows:
        out.setdefault(cluster, {}).setdefault(key, []).append(tuple(float(x) for x in numbers))
    return {c: {k: np.sort(np.array(v, dtype=dtype), order="r") for k, v in p.items()} for c, p in out.items()}
