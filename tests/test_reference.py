"""The independent catalogue: the CSV extracted from pinned galpy, its checksum, and the mapping of galpy's names."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import pathlib

import numpy as np
import pytest

from xdtutorial import reference

ROOT = pathlib.Path(__file__).resolve().parents[1]


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


def galpy_named_objects() -> bytes:
    spec = importlib.util.find_spec("galpy")
    if spec is None:
        pytest.skip("galpy is not installed (requirements-dev.txt has it): the CSV cannot be compared with its source")
    raw = (pathlib.Path(spec.submodule_search_locations[0]) / "orbit" / "named_objects.json").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == reference.NAMED_OBJECTS_SHA256, "not galpy 1.12.1"
    return raw


def test_the_csv_holds_exactly_galpys_numbers():
    """data/reference_velocities.csv against its source, galpy 1.12.1's named_objects.json."""
    raw = galpy_named_objects()
    rows = reference.reference_velocity_rows(raw)
    assert reference.load_reference_velocities() == {c: (v, e) for c, _, v, e in rows}
    # and independently of our row builder: every catalogue cluster's vlos, vlos_e as galpy has them
    objects = json.loads(raw)
    ref = reference.load_reference_velocities()
    for key in objects["_collections"]["MWglobularclusters"]:
        entry = objects[key]
        if "vlos" in entry:
            assert ref[reference.compilation_name(key)] == (entry["vlos"], entry["vlos_e"]), key
    spec = importlib.util.spec_from_file_location("extract", ROOT / "tools" / "extract_reference_velocities.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.csv_text(raw) == (ROOT / "data" / "reference_velocities.csv").read_text()  # the tool reproduces it


def test_an_edited_csv_is_refused_with_the_fix(tmp_path):
    edited = tmp_path / "reference_velocities.csv"
    edited.write_text((ROOT / "data" / "reference_velocities.csv").read_text().replace("-44.45", "-44.46"))
    with pytest.raises(reference.ReferenceCatalogueError, match=r"git checkout data/reference_velocities\.csv"):
        reference.load_reference_velocities(edited)
    with pytest.raises(reference.ReferenceCatalogueError, match="was not found"):
        reference.load_reference_velocities(tmp_path / "missing.csv")


def test_no_galpy_needed():
    """The catalogue loads with galpy hidden from the import system."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['galpy'] = None; from xdtutorial import reference; "
            "print(reference.load_reference_velocities()['NGC 288'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip() == "(-44.45, 0.13)"


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
