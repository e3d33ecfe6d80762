"""Extract Baumgardt's catalogue mean velocities from galpy's named_objects.json into a small CSV.

Run once, in any environment (the tutorial's student environment does not need galpy):

    pip download --no-deps galpy==1.12.1 -d /tmp/galpy     # any platform's wheel: the JSON is the same
    python tools/extract_reference_velocities.py /tmp/galpy/galpy-1.12.1-*.whl data/reference_velocities.csv

(or pass ``galpy/orbit/named_objects.json`` of an installed galpy 1.12.1 instead of the wheel).
The file's SHA-256 is checked against galpy 1.12.1's.  Every Milky Way globular cluster of
``_collections["MWglobularclusters"]`` with ``vlos`` and ``vlos_e`` [km/s] becomes one row under
the compilation's spelling of its name (``NGC288`` -> ``NGC 288``), then each synonym
(``Lynga7`` for ``BH184``) one row more, so that either name finds the cluster.  The numbers are
written as Python writes the JSON's floats (shortest round-trip repr), so the CSV holds exactly
galpy's values.  ``xdtutorial.reference.load_reference_velocities`` reads it and checks its
SHA-256; tests/test_reference.py checks it against galpy's file when galpy is installed.
See data/README.md.
"""

from __future__ import annotations

import hashlib
import pathlib
import sys
import zipfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from xdtutorial.reference import (
    GALPY_VERSION,
    NAMED_OBJECTS_SHA256,
    reference_velocity_rows,
)

HEADER = [
    f"# Mean line-of-sight velocities of the Milky Way globular clusters from galpy {GALPY_VERSION}'s",
    f"# galpy/orbit/named_objects.json (SHA-256 {NAMED_OBJECTS_SHA256}), whose source is",
    "# Baumgardt et al. 2019 (arXiv:1811.01507), Vasiliev & Baumgardt 2021 (arXiv:2102.09568) and",
    "# Baumgardt & Vasiliev 2021 (arXiv:2105.09526); written by tools/extract_reference_velocities.py.",
    "# columns: cluster (compilation spelling), galpy_name (key in named_objects.json), vlos [km/s], vlos_e [km/s]",
    "cluster,galpy_name,vlos,vlos_e",
]


def read_named_objects(path: str) -> bytes:
    if path.endswith(".whl"):
        with zipfile.ZipFile(path) as wheel:
            raw = wheel.read("galpy/orbit/named_objects.json")
    else:
        raw = pathlib.Path(path).read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != NAMED_OBJECTS_SHA256:
        sys.exit(f"{path}: named_objects.json has SHA-256 {digest}, not galpy {GALPY_VERSION}'s {NAMED_OBJECTS_SHA256}")
    return raw


def csv_text(raw: bytes) -> str:
    rows = [f"{cluster},{key},{vlos!r},{vlos_e!r}" for cluster, key, vlos, vlos_e in reference_velocity_rows(raw)]
    return "\n".join(HEADER + rows) + "\n"


def main(source: str, out: str) -> None:
    pathlib.Path(out).write_text(csv_text(read_named_objects(source)))


if __name__ == "__main__":
    main(*sys.argv[1:])
