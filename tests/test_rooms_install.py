"""A fresh environment: the wheel alone is a working library, used from another folder.

It builds a new virtual environment from the package index (about a minute), so it is in the
slow tier and in the routes tier (make test-routes).  The Colab route is tests/test_rooms_colab.py,
a file of its own so that the two installs run on two pytest workers at once.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import pytest

import helpers

ROOT = pathlib.Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("badges", ROOT / "tools" / "badges.py")
badges = importlib.util.module_from_spec(spec)
spec.loader.exec_module(badges)

pytestmark = [pytest.mark.slow, pytest.mark.routes]


def pins(*names: str) -> list[str]:
    found = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
             if line.split("==")[0] in names]
    assert len(found) == len(names), names
    return found


def new_venv(path: pathlib.Path) -> pathlib.Path:
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    return path / "bin" / "python"


def data_env() -> dict[str, str]:
    """The environment with GMM_DATA_DIR naming the folder of the verified data file (no network)."""
    return {**os.environ, "GMM_DATA_DIR": str(helpers.fetch_data().parent), "MPLBACKEND": "Agg",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def test_pip_install_dot_gives_a_working_library_anywhere(tmp_path):
    """A non-editable install of a copy of the project, used from another folder."""
    src = tmp_path / "src"
    src.mkdir()
    for path in [ROOT / "pyproject.toml", ROOT / "README.md", ROOT / "helpers.py", *ROOT.glob("LICENSE*")]:
        shutil.copy(path, src / path.name)
    shutil.copytree(ROOT / "xdtutorial", src / "xdtutorial", ignore=shutil.ignore_patterns("__pycache__"))
    (src / "data").mkdir()
    for path in (ROOT / "data").glob("*.csv"):
        shutil.copy(path, src / "data" / path.name)
    python = new_venv(tmp_path / "venv")
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-compile", str(src)], check=True, env=data_env())
    shutil.rmtree(src)  # nothing may be read from the source tree any more
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = textwrap.dedent("""
        import importlib.metadata, pathlib, helpers
        assert "site-packages" in helpers.__file__, helpers.__file__
        licences = [f.name for f in importlib.metadata.files("xd-cluster-tutorial") if "licenses" in str(f)]
        assert sorted(licences) == ["LICENSE", "LICENSE-data"], licences
        requires = sorted(r.split(">=")[0] for r in importlib.metadata.requires("xd-cluster-tutorial"))
        print(requires)
        print(helpers.load_reference_velocities()["NGC 288"])
        print(len(helpers.load_dispersion_profiles()))
        stars = helpers.load_cluster("NGC 288")
        start = helpers.initial_guess(stars.velocity, stars.distance)
        fit = helpers.em_fit(stars.velocity, stars.velocity_error, start)
        print(len(stars), round(float(fit.params[1]), 0))
    """)
    out = subprocess.run([python, "-c", code], cwd=elsewhere, capture_output=True, text=True, env=data_env())
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == str(sorted(["numpy", "scipy", "matplotlib", "emcee", "astroML", "scikit-learn", "pooch"]))
    assert lines[1:3] == ["(-44.45, 0.13)", "40"]
    assert lines[3].startswith("386 ")  # NGC 288's stars, fitted
