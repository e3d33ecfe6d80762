"""Nothing silent, nothing lost (issue 18), the remaining findings of the hostile review.

A fit that never left its start is not reported converged; warnings raised in survey worker
processes reach the user as they do in one process; a star array's lower-case cluster name is
canonicalised before the survey writes it; the writers write through a symlink and keep an existing
file's permission bits; and the messages that pointed at the wrong cause or the wrong fix.
"""

from __future__ import annotations

import concurrent.futures
import warnings

import numpy as np
import pytest

import helpers
from xdtutorial import all_clusters

REVIEW_START = np.array([-44.0, 5.0, -10.0, 40.0, 0.5])  # the review's start (I04)


# ------------------------------------------------ minimize_fit: a fit that never left its start
@pytest.mark.parametrize("method", ["L-BFGS-B", "TNC", "trust-constr"])
@pytest.mark.parametrize("start", ["review", "initial_guess"])
def test_minimize_fit_that_never_left_its_start_is_not_converged(ngc288, method, start):
    v, e = ngc288.velocity, ngc288.velocity_error
    p0 = REVIEW_START if start == "review" else np.round(helpers.initial_guess(v, ngc288.distance), 3)
    with pytest.warns(helpers.EMConvergenceWarning, match=r"never left its start.*Fix: ") as caught:
        fit = helpers.minimize_fit(v, e, p0, method=method)
    np.testing.assert_array_equal(fit.params, p0)  # the property the warning is about
    assert not fit.converged
    message = str(caught[0].message)
    assert method in message and "Nelder-Mead" in message


@pytest.mark.parametrize("method", ["Nelder-Mead", "Powell", "SLSQP"])
def test_minimize_fit_that_rose_does_not_warn_of_its_start(ngc288, method):
    v, e = ngc288.velocity, ngc288.velocity_error
    with warnings.catch_warnings():
        warnings.simplefilter("error", helpers.EMConvergenceWarning)
        fit = helpers.minimize_fit(v, e, REVIEW_START, method=method)
    assert fit.log_likelihood > helpers.log_likelihood(REVIEW_START, v, e) + 100  # it climbed far


# ------------------------------------------------ survey: warnings raised in worker processes
def _two_cluster_table(fast: float) -> helpers.BaumgardtTable:
    """Two mock clusters; C1's innermost star moves at ``fast`` km/s (an ImplausibleVelocityWarning)."""
    rng = np.random.default_rng(8)
    parts = [helpers.mock_cluster_field(40, [(40, 0.0, 50.0)], rng=rng, mean=m, name=f"C{i}")
             for i, m in enumerate([-50.0, 20.0])]
    stars = np.concatenate(parts).view(np.recarray)
    c1 = np.flatnonzero(stars.cluster == "C1")
    stars.velocity[c1[np.argmin(stars.distance[c1])]] = fast
    return helpers.BaumgardtTable(stars=stars, skipped=(), path="<mock>")


@pytest.mark.parametrize("processes", [1, 2])
def test_survey_warnings_reach_the_user_whatever_the_processes(monkeypatch, processes):
    monkeypatch.delenv("XD_MAX_PROCESSES", raising=False)
    monkeypatch.setattr(all_clusters, "_usable_cores", lambda: 2)
    pools = []
    real = concurrent.futures.ProcessPoolExecutor

    def counting(*args, **kwargs):
        pools.append(kwargs.get("max_workers"))
        return real(*args, **kwargs)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", counting)
    with pytest.warns(helpers.ImplausibleVelocityWarning, match=r"^survey, cluster C1: ") as caught:
        fits = helpers.survey(_two_cluster_table(1e8), processes=processes, max_field=1, min_stars=50)
    assert pools == ([2] if processes == 2 else [])  # processes=2 really ran in worker processes
    assert [f.name for f in fits] == ["C0", "C1"]
    assert not any("cluster C0" in str(w.message) for w in caught)  # each warning names its own cluster


# ------------------------------------------------ survey CSV: a star array's lower-case cluster name
def _survey_rows(path) -> list[dict[str, str]]:
    import csv

    return list(csv.DictReader([r for r in path.read_text().splitlines() if not r.startswith("#")]))


@pytest.mark.parametrize("spelling", ["ngc288", "NGC288", " ngc  288 "])
def test_survey_csv_names_a_star_array_as_the_compilation_spells_it(table, ngc288, tmp_path, spelling):
    stars = ngc288.copy()
    stars.cluster[:] = spelling
    fit = helpers.fit_cluster(stars, max_field=1, rng=0)
    helpers.write_survey_csv(tmp_path / "s.csv", [fit], table)
    row = _survey_rows(tmp_path / "s.csv")[0]
    assert row["name"] == "NGC 288"
    # the comparison velocity is NGC 288's, not blank
    assert float(row["pmem_mean"]) == pytest.approx(helpers.pmem_weighted_mean(ngc288), abs=0.005)


# ------------------------------------------------ writers: through a symlink, keeping the permissions
def _write(which: str, path, ngc288, table) -> None:
    if which == "survey":
        fit = helpers.ClusterFit.failed("NGC 288", len(ngc288), "fit failed: a test")  # no fit needed to write
        helpers.write_survey_csv(path, [fit], table)
    else:
        n = len(ngc288)
        helpers.write_member_catalogue(path, ngc288, np.full(n, 0.9), np.full(n, 0.1))


@pytest.mark.parametrize("which", ["survey", "catalogue"])
def test_writers_write_through_a_symlink(which, ngc288, table, tmp_path):
    target = tmp_path / "real" / "out.csv"
    target.parent.mkdir()
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    _write(which, link, ngc288, table)
    assert link.is_symlink() and link.resolve() == target.resolve()  # the link is kept
    assert target.read_text() != "old\n" and target.read_text() == link.read_text()  # its target is written
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.csv"]  # no temporary file left


@pytest.mark.parametrize("which", ["survey", "catalogue"])
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o664], ids=oct)
def test_writers_keep_an_existing_files_permissions(which, mode, ngc288, table, tmp_path):
    import os
    import stat

    path = tmp_path / "out.csv"
    path.write_text("old\n")
    os.chmod(path, mode)
    _write(which, path, ngc288, table)
    assert stat.S_IMODE(os.stat(path).st_mode) == mode and path.read_text() != "old\n"
