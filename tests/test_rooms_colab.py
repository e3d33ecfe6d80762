"""The Colab route in a fresh environment: the first cell with a stand-in ``google.colab`` and a local
clone in place of GitHub, then notebook 01, whose every printed line must be as stored.

It builds a new virtual environment from the package index (about a minute): slow tier and routes
tier (make test-routes).
"""

from __future__ import annotations

import json
import subprocess
import textwrap

import pytest
from test_rooms_install import ROOT, badges, data_env, new_venv, pins

pytestmark = [pytest.mark.slow, pytest.mark.routes]


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
    kernel = pins("ipykernel", "nbclient", "nbformat")  # what Colab has before the cell runs: a kernel
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-compile", *kernel], check=True, env=data_env())
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
