"""Fresh environments: the wheel alone is a working library, and the Colab cell sets up notebook 01.

Both build a new virtual environment from the package index (about a minute each), so
they are in the slow tier.
"""

from __future__ import annotations

import importlib.util
import json
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
    subprocess.run([python, "-m", "pip", "install", "--quiet", str(src)], check=True, env=data_env())
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


def test_the_colab_cell_then_notebook_01_in_a_fresh_environment(tmp_path):
    """The Colab cell with a stand-in ``google.colab`` and a local clone in place of GitHub, then notebook 01."""
    tag = "v-colab-test"
    origin = tmp_path / "origin"  # the repository as GitHub would serve it, with the release tag
    subprocess.run(["git", "clone", "--quiet", "--no-local", str(ROOT), str(origin)], check=True)
    subprocess.run(["git", "-C", str(origin), "tag", tag], check=True)
    stubs = tmp_path / "stubs" / "google" / "colab"
    stubs.mkdir(parents=True)
    (stubs.parent / "__init__.py").write_text("")
    (stubs / "__init__.py").write_text('"""Stand-in for Colab\'s module: only its presence matters."""\n')
    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    # Colab's kernel has imported google.colab before the first cell runs
    (startup / "00-colab.py").write_text(f"import sys\nsys.path.insert(0, {str(stubs.parents[1])!r})\n"
                                         "import google.colab\n")
    python = new_venv(tmp_path / "venv")
    subprocess.run([python, "-m", "pip", "install", "--quiet", *pins("ipykernel", "nbclient", "nbformat")],
                   check=True, env=data_env())  # what Colab has before the cell runs: a kernel
    nb = json.loads((ROOT / badges.FIRST_NOTEBOOK).read_text())
    stored = [c for c in nb["cells"] if c["cell_type"] == "code"]
    nb = badges.update_notebook(nb, "astro-school/xd-cluster-tutorial", tag, badges.FIRST_NOTEBOOK,
                                clone_url=f"file://{origin}")
    nb["cells"].append({"cell_type": "code", "execution_count": None, "id": "where", "metadata": {}, "outputs": [],
                        "source": "import helpers, numpy, scipy\nprint(helpers.__file__, numpy.__version__, "
                                  "scipy.__version__)"})
    (tmp_path / "in.ipynb").write_text(json.dumps(nb))
    content = tmp_path / "content"  # Colab's working folder
    content.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    driver = textwrap.dedent(f"""
        import nbformat, nbclient
        nb = nbformat.read({str(tmp_path / 'in.ipynb')!r}, as_version=4)
        nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                                resources={{"metadata": {{"path": {str(content)!r}}}}}).execute()
        nbformat.write(nb, {str(tmp_path / 'out.ipynb')!r})
    """)
    env = {**data_env(), "HOME": str(home), "IPYTHONDIR": str(tmp_path / "ipython"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "jconfig"), "JUPYTER_DATA_DIR": str(tmp_path / "jdata"),
           "XD_RESULTS_DIR": str(tmp_path / "results")}
    env.pop("PYTHONPATH", None)
    run = subprocess.run([python, "-c", driver], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    cells = [c for c in json.loads((tmp_path / "out.ipynb").read_text())["cells"] if c["cell_type"] == "code"]
    colab, *lesson, where = cells

    def text(cell):
        return "".join("".join(o.get("text", "")) for o in cell["outputs"] if o["output_type"] == "stream")

    clone = home / "xd-cluster-tutorial"
    student = [p for p in pins("numpy", "scipy") if p]
    assert text(colab) == f"Colab: {clone} at {tag}, 11 packages as pinned in requirements.txt\n"
    assert text(where).split() == [str(clone / "helpers.py")] + [p.split("==")[1] for p in student]
    assert not any(o["output_type"] == "error" for c in cells for o in c["outputs"])
    # every printed line of notebook 01 as stored (same packages, same machine)
    assert [text(c) for c in lesson] == [text(c) for c in stored]
