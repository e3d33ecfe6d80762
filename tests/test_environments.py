"""The environment files agree with each other and with the README (they cannot run here)."""

from __future__ import annotations

import ast
import json
import pathlib
import re
import subprocess
import sys
import tomllib

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
XD_COMMIT = "3603fc7707c4d9d4785e21a24c3f54e3b65f435c"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_requirements(path: pathlib.Path, follow: bool = False) -> dict[str, str]:
    """Name to pinned version; ``-r other.txt`` lines are followed when ``follow``, else refused."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            assert follow, f"{path.name}: {line!r}"
            pins.update(pip_requirements(path.parent / line[3:].strip(), follow=True))
        elif line:
            name, _, version = line.partition("==")
            assert version, f"{path.name}: {line!r} is not pinned with =="
            pins[canonical(name)] = version
    return pins


STUDENT = pip_requirements(ROOT / "requirements.txt")
DEV = pip_requirements(ROOT / "requirements-dev.txt", follow=True)
BOOK = {k: v for k, v in pip_requirements(ROOT / "requirements-book.txt", follow=True).items() if k not in STUDENT}
TEST_TOOLS = {"pytest", "pytest-xdist", "nbval", "hypothesis", "ruff", "pre-commit", "pyyaml"}
# import name -> distribution, for what the notebooks, solutions and the library import
DISTRIBUTION = {"sklearn": "scikit-learn", "astroML": "astroml"}
STDLIB_OR_OURS = set(sys.stdlib_module_names) | {"helpers", "xdtutorial", "extreme_deconvolution"}
# Imported only to convert the caller's own astropy Quantity/Column (xdtutorial/_validation.py): whoever
# passes one has astropy, and astroML brings it anyway. Not a requirement of its own.
FOR_THE_CALLERS_OBJECTS = {"astropy"}


def conda_dependencies() -> tuple[dict[str, str], list[str]]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = {}, []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip.extend(dep["pip"])
        else:
            name, _, version = dep.partition("=")
            conda[canonical(name)] = version
    return conda, pip


def imported_modules(paths) -> set[str]:
    """Top-level modules imported anywhere in ``paths`` (Python files or notebooks' code cells)."""
    found = set()
    for path in paths:
        if path.suffix == ".ipynb":
            cells = json.loads(path.read_text())["cells"]
            code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
            code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))
        else:
            code = path.read_text()
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                found.add(node.module.split(".")[0])
    return found - STDLIB_OR_OURS


def test_binder_requirements_equal_requirements():
    assert pip_requirements(ROOT / "binder/requirements.txt") == STUDENT


def test_the_student_set_is_what_the_notebooks_need_and_no_more():
    lessons = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb"))
    needed = {canonical(DISTRIBUTION.get(m, m)) for m in imported_modules(lessons + [ROOT / "helpers.py"])}
    library = imported_modules((ROOT / "xdtutorial").glob("*.py")) - FOR_THE_CALLERS_OBJECTS
    needed |= {canonical(DISTRIBUTION.get(m, m)) for m in library}
    assert needed, "no import found"
    assert needed <= set(STUDENT), needed - set(STUDENT)
    jupyter = {"jupyterlab", "ipykernel", "nbclient", "nbformat"}  # make lab, make tutorial (tools/run_notebooks.py)
    assert set(STUDENT) - needed - jupyter <= {"requests"}  # pooch downloads through requests
    assert not TEST_TOOLS & set(STUDENT) and "galpy" not in STUDENT


def test_the_dev_set_adds_the_test_tools_to_the_student_set():
    text = (ROOT / "requirements-dev.txt").read_text()
    assert text.splitlines()[1] == "-r requirements.txt"  # after the comment line
    assert "-r requirements-book.txt" in text.splitlines()
    own = pip_requirements_without_include(ROOT / "requirements-dev.txt")
    assert not set(own) & (set(STUDENT) | set(BOOK)), "a package pinned twice"
    assert TEST_TOOLS <= set(own) and DEV == {**STUDENT, **BOOK, **own}
    assert {"sphinx", "myst-nb", "sphinx-book-theme"} <= set(BOOK) and not set(BOOK) & set(STUDENT)
    tools_in_tests = imported_modules((ROOT / "tests").glob("*.py")) | imported_modules((ROOT / "tools").glob("*.py"))
    # h5py: tools/extract_gcfit_dispersions.py runs once, elsewhere (its docstring says); jupyter_client comes
    # with ipykernel and nbclient; conftest is ours
    tools_in_tests -= {"h5py", "jupyter_client", "conftest"}
    tools_in_tests -= {p.stem for p in (ROOT / "tests").glob("*.py")}  # tests importing each other's helpers
    needed = {canonical({"yaml": "pyyaml", **DISTRIBUTION}.get(m, m)) for m in tools_in_tests}
    assert needed <= set(DEV), needed - set(DEV)


def pip_requirements_without_include(path: pathlib.Path) -> dict[str, str]:
    """The pins of ``path`` itself, its ``-r`` lines left out."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-r "):
            name, _, version = line.partition("==")
            pins[canonical(name)] = version
    return pins


def test_the_wheel_declares_what_the_library_imports():
    declared = {}
    for requirement in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        name, _, bound = requirement.partition(">=")
        declared[canonical(name)] = bound
    library = imported_modules([ROOT / "helpers.py", *(ROOT / "xdtutorial").glob("*.py")]) - FOR_THE_CALLERS_OBJECTS
    assert {canonical(DISTRIBUTION.get(m, m)) for m in library} == set(declared)
    for name, bound in declared.items():  # the pinned versions satisfy the declared lower bounds
        assert tuple(map(int, STUDENT[name].split(".")[:2])) >= tuple(map(int, bound.split("."))), name


def test_make_installs_the_student_set_for_students_and_the_dev_set_for_tests(tmp_path):
    def installs(goal):
        out = subprocess.run(["make", "-n", goal, f"VENV={tmp_path}/venv"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout
        return re.findall(r"pip install (?:--no-deps )?-[re] (\S+)", out)

    for goal in ("tutorial", "lab", "data"):
        assert installs(goal) == ["requirements.txt", "."], goal
    for goal in ("test", "test-fast", "test-portable", "env", "unit"):
        assert installs(goal) == ["requirements.txt", ".", "requirements-dev.txt"], goal


def test_environment_yml_has_the_same_packages_and_versions():
    conda, pip = conda_dependencies()
    extra = {"python", "pip", "gsl", "c-compiler", "setuptools"}  # what conda needs beyond requirements-dev.txt
    renamed = {"matplotlib-base": "matplotlib"}  # conda-forge's matplotlib without Qt
    assert {renamed.get(n, n) for n in set(conda) - extra} == set(DEV) - set(BOOK)
    for name, version in conda.items():
        if name not in extra:
            # exact pins on both sides (conda-forge has astroml 1.0.2.post1 under the same version string)
            assert DEV[renamed.get(name, name)] == version, (name, version)
    assert "matplotlib" not in conda
    assert conda["python"] == PYTHON_MIN
    assert pip == ["-e ."] + [f"{name}=={version}" for name, version in BOOK.items()]  # the book's, from PyPI


def python_range() -> tuple[str, str]:
    makefile = (ROOT / "Makefile").read_text()
    lo = re.search(r"^PYTHON_MIN := (\S+)$", makefile, re.M).group(1)
    hi = re.search(r"^PYTHON_MAX := (\S+)$", makefile, re.M).group(1)
    return lo, hi


PYTHON_MIN, PYTHON_MAX = python_range()


def test_the_python_range_is_stated_the_same_everywhere():
    lo, hi = PYTHON_MIN, PYTHON_MAX
    minor = int(hi.split(".")[1])
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == f">={lo},<3.{minor + 1}"
    assert f"Python {lo} to {hi}" in (ROOT / "README.md").read_text()
    assert f"Python {lo} to {hi}" in (ROOT / "requirements.txt").read_text()
    matrix = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())["jobs"]["test"]["strategy"]["matrix"]
    assert matrix["python-version"] == [f"3.{m}" for m in range(int(lo.split(".")[1]), minor + 1)]


@pytest.mark.parametrize("version", ["3.10", "3.15"])
def test_check_python_refuses_a_version_outside_the_range_in_one_line(tmp_path, version):
    fake = tmp_path / "python"
    major, minor = version.split(".")
    fake.write_text(f"#!{sys.executable}\nimport sys\nsys.version_info = ({major}, {minor}, 0)\n"
                    "exec(sys.argv[2]) if sys.argv[1] == '-c' else None\n")
    fake.chmod(0o755)
    result = subprocess.run(["make", "-s", "check-python", f"PYTHON={fake}"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode != 0
    message = [line for line in result.stderr.splitlines() if not line.startswith("make")]
    assert message == [f"This tutorial is tested on Python {PYTHON_MIN} to {PYTHON_MAX}, but {fake} is {version}: "
                       "install one of those and run e.g. make tutorial PYTHON=python3.12 (README.md, Prerequisites)"]


def test_check_python_accepts_this_python():
    lo, hi = (tuple(map(int, v.split("."))) for v in (PYTHON_MIN, PYTHON_MAX))
    if not lo <= sys.version_info[:2] <= hi:
        pytest.skip("this interpreter is outside the tested range")
    subprocess.run(["make", "-s", "check-python", f"PYTHON={sys.executable}"], cwd=ROOT, check=True)


def xd_conda_command(text: str) -> str:
    """The one-line conda build command of Bovy's XD quoted in ``text``."""
    lines = [line.strip(" #") for line in text.splitlines() if "CONDA_PREFIX/include" in line and "pip install" in line]
    assert len(lines) == 1, lines
    return lines[0]


def test_readme_and_environment_yml_build_bovy_xd_the_same_way():
    readme_cmd = xd_conda_command((ROOT / "README.md").read_text())
    assert readme_cmd == xd_conda_command((ROOT / "environment.yml").read_text())
    assert "-fcommon" in readme_cmd and XD_COMMIT in readme_cmd


def test_binder_installs_bovy_xd_with_gsl_and_fcommon():
    """Optional steps in postBuild: tests/test_rooms_badges.py runs it with failing stand-ins."""
    postbuild = (ROOT / "binder/postBuild").read_text()
    assert "set -euo pipefail" in postbuild
    assert re.search(rf'optional "Bovy.*CFLAGS=-fcommon \\\n\s*pip install [^\n]*\\\n\s*"git\+https://github\.com/'
                     rf'jobovy/extreme-deconvolution\.git@{XD_COMMIT}"', postbuild)
    assert re.search(r'optional "data prefetch.*\n.*helpers\.fetch_data\(\)', postbuild)  # data at build time
    assert "libgsl-dev" in (ROOT / "binder/apt.txt").read_text().split()
    assert (ROOT / "binder/postBuild").stat().st_mode & 0o111, "postBuild must be executable"


def test_ci_and_workflow_run_the_readme_test_commands():
    readme = (ROOT / "README.md").read_text()
    for command in ("make test ", "make test-portable ", "make tutorial ", "make lab "):
        assert command in readme, command
    ci_run = (ROOT / ".ci/run").read_text()
    assert re.search(r"^make test$", ci_run, re.M) and re.search(r"^make test-portable$", ci_run, re.M)
    workflow = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    jobs = workflow["jobs"]
    runs = {name: " ".join(s.get("run", "") for s in job["steps"]) for name, job in jobs.items()}
    assert "make test" in runs["test"] and "make test-portable" in runs["test"]
    matrix = jobs["test"]["strategy"]["matrix"]
    assert "macos-latest" in matrix["os"]  # arm64 runners
    assert "repo2docker" in runs["binder"] and "make nbval" in runs["binder"]
    assert "pip install --quiet -r requirements-dev.txt" in runs["binder"]  # the image has the student set only
    assert XD_COMMIT in runs["bovy-xd"] and "-fcommon" in runs["bovy-xd"]
    assert "make test VENV= PY=python" in runs["conda"]
    assert workflow[True]["schedule"]  # PyYAML reads the key `on` as True
    assert "actions/workflows/ci.yml/enable" in runs["keepalive"]  # the schedule keeps itself alive
    assert jobs["keepalive"]["if"] == "github.event_name == 'schedule'"
    # the plain-Windows route of the README is what the Windows job runs
    assert jobs["windows"]["runs-on"] == "windows-latest"
    assert r".venv\Scripts\pip install -r requirements.txt -e ." in runs["windows"]
    assert r"`.venv\Scripts\pip install -r requirements.txt -e .`" in readme


# current major versions (checked 2026-12: checkout v7, setup-python v7, cache v6, setup-miniconda v4
# on Node 24; the Pages actions configure-pages v6, upload-pages-artifact v5, deploy-pages v5)
CURRENT_ACTIONS = {"actions/checkout": "v7", "actions/setup-python": "v7", "actions/cache": "v6",
                   "conda-incubator/setup-miniconda": "v4", "actions/configure-pages": "v6",
                   "actions/upload-pages-artifact": "v5", "actions/deploy-pages": "v5"}


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / ".github/workflows").glob("*.yml")))
def test_workflows_are_bounded_and_use_current_actions(name):
    workflow = yaml.safe_load((ROOT / ".github/workflows" / name).read_text())
    assert workflow["permissions"] == {"contents": "read"}
    assert "group" in workflow["concurrency"]
    for job_name, job in workflow["jobs"].items():
        assert 0 < job["timeout-minutes"] <= 90, job_name
        for step in job["steps"]:
            action, _, version = step.get("uses", "").partition("@")
            if action:
                assert CURRENT_ACTIONS.get(action) == version, step["uses"]


@pytest.mark.parametrize("name", [".pre-commit-config.yaml", "CITATION.cff", ".github/workflows/ci.yml"])
def test_yaml_files_parse(name):
    assert yaml.safe_load((ROOT / name).read_text())


def test_pre_commit_runs_ruff_on_notebooks_without_stripping_outputs():
    cfg = (ROOT / ".pre-commit-config.yaml").read_text()
    assert "ruff" in cfg and "jupyter" in cfg and "nbstripout" not in cfg.replace("No nbstripout", "")


def test_downloaded_data_is_ignored_by_git():
    assert "data/*.txt" in (ROOT / ".gitignore").read_text()
