"""The independent catalogue: pinned galpy file, checksum, and the mapping of its names to the compilation's."""

from __future__ import annotations

import hashlib
import importlib.util
import pathlib

import numpy as np
import pytest

from xdtutorial import reference


@pytest.mark.parametrize(
    ("galpy_name", "ours"),
    [("NGC288", "NGC 288"), ("Terzan5", "Ter 5"), ("Pal3", "Pal 3"), ("BH261", "BH 261"), ("IC4499", "IC 4499"),
     ("Arp2", "Arp 2"), ("Lynga7", "Lyn 7"), ("Liller1", "Lil 1"), ("Ton2", "Ton 2"), ("Crater", "Crater")],
)
def test_galpy_names_map_to_the_compilation(galpy_name, ours):
    assert reference.compilation_name(galpy_name) == ours


def test_reference_velocities_cover_the_compilation(table):
    import helpers

    ref = reference.load_reference_velocities()
    missing = [n for n in helpers.cluster_names(table) if n not in ref]
    assert missing == []  # every cluster of the compilation is in the catalogue (synonyms included)
    assert ref["NGC 288"] == (-44.45, 0.13)
    assert ref["Lyn 7"] == ref["BH 184"]  # a synonym finds the same cluster
    assert ref["HP 1"] == ref["BH 229"]


def test_a_different_file_is_refused_with_the_fix(monkeypatch):
    spec = importlib.util.find_spec("galpy")
    real = (pathlib.Path(spec.submodule_search_locations[0]) / "orbit" / "named_objects.json").read_bytes()
    assert hashlib.sha256(real).hexdigest() == reference.NAMED_OBJECTS_SHA256
    monkeypatch.setattr(reference, "NAMED_OBJECTS_SHA256", "0" * 64)
    with pytest.raises(reference.ReferenceCatalogueError, match=r"pip install galpy==1\.12\.1"):
        reference.load_reference_velocities()


def test_galpy_is_not_imported():
    import subprocess
    import sys

    code = "import sys; from xdtutorial import reference; reference.load_reference_velocities(); " \
           "print('galpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_dispersion_profiles_are_pinned_and_parsed(tmp_path):
    profiles = reference.load_dispersion_profiles()
    assert len(profiles) == 40 and sum("kamann" in p for p in profiles.values()) == 14
    ngc104 = profiles["NGC 104"]["kamann"]
    assert ngc104.dtype.names == ("r", "sigma", "sigma_err_down", "sigma_err_up")
    assert np.all(np.diff(ngc104["r"]) >= 0) and ngc104["sigma"][0] == 12.37
    edited = tmp_path / "dispersion_profiles.csv"
    text = (pathlib.Path(reference.__file__).parents[1] / "data" / "dispersion_profiles.csv").read_text()
    edited.write_text(text.replace("12.37", "12.38"))
    with pytest.raises(reference.ReferenceCatalogueError, match=r"git checkout data/dispersion_profiles\.csv"):
        reference.load_dispersion_profiles(edited)
