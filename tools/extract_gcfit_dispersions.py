"""Extract the line-of-sight velocity-dispersion profiles shipped by gcfit into a small CSV.

Run once, in any environment with h5py (the tutorial's environment does not need it):

    pip download --no-deps gcfit==3.3.0 -d /tmp/gcfit     # sha256 below
    python tools/extract_gcfit_dispersions.py /tmp/gcfit/gcfit-3.3.0-py3-none-any.whl data/dispersion_profiles.csv

gcfit (Dickson et al.) ships, per cluster, the observables it fits, in
``gcfit/resources/<cluster>.hdf``; ``velocity_dispersion/<key>`` holds a profile with
``r``, ``σ``, ``Δσ,up`` and ``Δσ,down`` and a ``source`` attribute (ADS bibcode):
``baumgardt`` (Baumgardt 2017, Baumgardt & Hilker 2018: from a compilation of radial
velocities much like ours) and ``kamann`` (Kamann et al. 2018: MUSE integral-field
spectroscopy of cluster cores, independent data).  The CSV keeps every bin; the
tutorial's reader (``xdtutorial.reference.load_dispersion_profiles``) checks the CSV's
SHA-256.  See data/README.md.
"""

from __future__ import annotations

import hashlib
import io
import re
import sys
import zipfile

import h5py
import numpy as np

WHEEL_SHA256 = "00d331d351e0bb26b15214794b518cb276f92882507705d694cc4bb36d2c447b"


def main(wheel: str, out: str) -> None:
    raw = open(wheel, "rb").read()
    if hashlib.sha256(raw).hexdigest() != WHEEL_SHA256:
        sys.exit(f"{wheel}: SHA-256 differs from gcfit 3.3.0's {WHEEL_SHA256}")
    lines = ["# Line-of-sight velocity-dispersion profiles from gcfit 3.3.0 (gcfit/resources/*.hdf);",
             "# written by tools/extract_gcfit_dispersions.py; columns: cluster (compilation name), "
             "profile (gcfit key),",
             "# source (ADS bibcode), r [arcsec], sigma [km/s], sigma_err_down [km/s], sigma_err_up [km/s]",
             "cluster,profile,source,r,sigma,sigma_err_down,sigma_err_up"]
    with zipfile.ZipFile(io.BytesIO(raw)) as wheel_zip:
        for name in sorted(wheel_zip.namelist()):
            match = re.fullmatch(r"gcfit/resources/NGC0*(\d+)\.hdf", name)
            if match is None:
                continue
            cluster = f"NGC {match.group(1)}"
            with h5py.File(io.BytesIO(wheel_zip.read(name)), "r") as f:
                for key, group in sorted(f.get("velocity_dispersion", {}).items()):
                    unit = group["r"].attrs.get("unit", "")
                    scale = {"arcsec": 1.0, "arcmin": 60.0}[unit]
                    source = str(group.attrs.get("source", "")).split(";")[0]
                    # symmetric errors are stored as one column ("Δσ")
                    down = group["Δσ,down"] if "Δσ,down" in group else group["Δσ"]
                    up = group["Δσ,up"] if "Δσ,up" in group else group["Δσ"]
                    for r, s, lo, hi in zip(np.asarray(group["r"]) * scale, group["σ"], down, up, strict=True):
                        lines.append(f"{cluster},{key},{source},{r:.1f},{s:.2f},{lo:.2f},{hi:.2f}")
    open(out, "w").write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
