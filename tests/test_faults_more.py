"""Nothing silent, nothing lost (issue 18), the remaining findings of the hostile review.

A fit that never left its start is not reported converged; a star array's lower-case cluster name
is canonicalised before the survey CSV is written; the writers write through a symlink and keep an
existing file's permission bits; and the messages that pointed at the wrong cause or the wrong fix.
(Warnings raised in survey worker processes: tests/test_survey.py.)
"""

from __future__ import annotations

import pathlib
import warnings

import numpy as np
import pytest

import helpers

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


# ------------------------------------------------ messages that named the wrong cause or the wrong fix
@pytest.fixture
def data_file(tmp_path):
    """A stand-in data file in tmp_path and its SHA-256 (never downloaded: the URL is unreachable)."""
    import hashlib

    content = b"a stand-in for the compilation\n"
    (tmp_path / helpers.DATA_FILENAME).write_bytes(content)
    return tmp_path, hashlib.sha256(content).hexdigest()


@pytest.mark.parametrize("spell", [lambda d: "sha256:" + d, lambda d: f" {d}\n", lambda d: "SHA256:" + d.upper()],
                         ids=["prefix", "blanks", "upper-prefix"])
def test_a_digest_in_another_spelling_is_accepted(data_file, spell):
    folder, digest = data_file
    found = helpers.fetch_data(folder, url="http://127.0.0.1:9/x", sha256=spell(digest))
    assert found == folder / helpers.DATA_FILENAME


@pytest.mark.parametrize("bad", ["abc", "z" * 64, "0" * 63, "sha256:", "md5:" + "0" * 64])
def test_a_malformed_digest_is_refused_without_blaming_the_file(data_file, bad):
    folder, _ = data_file
    with pytest.raises(ValueError, match=r"^sha256 must be a SHA-256 digest, 64 hexadecimal digits.*Fix: ") as caught:
        helpers.fetch_data(folder, url="http://127.0.0.1:9/x", sha256=bad)
    assert "corrupt" not in str(caught.value) and "Delete" not in str(caught.value)
    assert (folder / helpers.DATA_FILENAME).exists()  # the valid file is left alone


@pytest.mark.parametrize("scale", [1e160, 1e250, 1e-250, 1e-300])
def test_fisher_uncertainties_do_not_depend_on_the_unit(ngc288, ngc288_mle, scale):
    """The same data in another unit: the same uncertainties in that unit (no overflow, no 1 km/s step floor)."""
    v, e = ngc288.velocity, ngc288.velocity_error
    in_unit = np.array([scale] * 4 + [1.0])
    expected = helpers.fisher_uncertainties(ngc288_mle, v, e)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no overflow RuntimeWarning on the way
        got = helpers.fisher_uncertainties(ngc288_mle * in_unit, v * scale, e * scale)
    np.testing.assert_allclose(got / in_unit, expected, rtol=1e-3)


def test_fisher_uncertainties_name_overflow_as_the_cause(ngc288, ngc288_mle, monkeypatch):
    from xdtutorial import em

    monkeypatch.setattr(em, "central_hessian", lambda f, p, h: np.full((5, 5), np.inf))  # what an overflow gives
    with pytest.raises(ValueError, match=r"not finite: ln L or its curvature overflowed.*Fix: check the units"):
        helpers.fisher_uncertainties(ngc288_mle, ngc288.velocity, ngc288.velocity_error)


@pytest.mark.parametrize("fast", [1e300, -1e300, 1e250])
def test_an_em_failure_in_another_unit_quotes_km_s_and_the_cause(ngc288, fast):
    v = np.array(ngc288.velocity, dtype=float)
    v[-1] = fast
    start = np.round(helpers.initial_guess(ngc288.velocity, ngc288.distance), 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", helpers.ImplausibleVelocityWarning)
        with pytest.raises(helpers.EMFailure) as caught:
            helpers.em_fit(v, ngc288.velocity_error, start)
    err = caught.value
    np.testing.assert_allclose(err.params, start, rtol=1e-12)  # it never took a step: the user's start, in km/s
    assert "(" + ", ".join(f"{x:.4f}" for x in start) + ")" in str(err)
    assert "parameters in km/s" in str(err) and "Fix: remove the stars with impossible speeds" in str(err)


@pytest.mark.skipif(not pathlib.Path("/proc/self").is_dir(), reason="needs /proc, where no file can be created")
@pytest.mark.parametrize("which", ["survey", "catalogue"])
def test_a_folder_where_no_file_can_be_made_is_named_not_the_temporary_file(which, ngc288, table):
    with pytest.raises(OSError, match=r"^\[Errno \d+\] cannot write /proc/xd-test\.csv: no new file can be created "
                                      r"in /proc .*Fix: choose a folder") as caught:
        _write(which, pathlib.Path("/proc/xd-test.csv"), ngc288, table)
    assert ".tmp" not in str(caught.value)


def test_a_boolean_p_member_is_a_mask_not_probabilities(ngc288, tmp_path):
    n = len(ngc288)
    with pytest.raises(TypeError, match="p_member must be membership probabilities; got a boolean array"):
        helpers.write_member_catalogue(tmp_path / "c.csv", ngc288, np.ones(n, bool), np.zeros(n))


@pytest.mark.parametrize(("p", "std"), [(0.9, 0.45), (1.0, 0.01), (0.0, 0.2), (0.02, 0.3)])
def test_an_impossible_spread_of_a_probability_is_refused(ngc288, tmp_path, p, std):
    n = len(ngc288)
    with pytest.raises(ValueError, match=r"p_member_std\[0\] = .* impossible, since probabilities in \[0, 1\]"):
        helpers.write_member_catalogue(tmp_path / "c.csv", ngc288, np.full(n, p), np.full(n, std))


def test_the_spread_of_real_posterior_samples_is_accepted(ngc288, tmp_path):
    """Draws in [0, 1] (the extreme 0/1 ones too, and values 1e-16 from them) give a spread the writer accepts."""
    rng = np.random.default_rng(3)
    n = len(ngc288)
    samples = np.concatenate([rng.uniform(size=(40, n // 3)), rng.integers(0, 2, size=(40, n // 3)),
                              1 - rng.uniform(0, 1e-16, size=(40, n - 2 * (n // 3)))], axis=1)
    helpers.write_member_catalogue(tmp_path / "c.csv", ngc288, samples.mean(0), samples.std(0))


@pytest.mark.parametrize("v", [[1e300] * 50 + [1e300 * (1 + 1e-15)], [0.0] * 50 + [1e-300], [-1e300, 1e300] * 10],
                         ids=["1e300-nearly-equal", "1e-300-apart", "+-1e300"])
def test_random_starts_at_extreme_scales_are_valid_starts(v):
    """Not "starts[10, 3] must be finite" (an argument never passed), nor "all equal" for values that differ."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no overflow RuntimeWarning
        starts = helpers.random_starts(np.array(v), 6)
    assert np.isfinite(starts).all() and np.all(starts[:, 1] <= starts[:, 3]) and np.all(starts[:, 3] > 0)


def test_random_starts_beyond_the_float_range_name_v():
    with pytest.raises(ValueError, match=r"^v spans .* beyond floating-point arithmetic.*Fix: remove the impossible"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the message, not an overflow RuntimeWarning
            helpers.random_starts(np.array([-1e308, 1e308] * 10), 4)


@pytest.mark.parametrize("method", ["Nelder-Mead", "Powell"])
def test_minimize_fit_onto_stars_without_errors_is_a_singularity_not_a_fit(method):
    """Constant velocities without errors: ln L is unbounded as a width shrinks (em_fit raises EMFailure)."""
    v, e = np.full(50, 3.0), np.zeros(50)
    with pytest.warns(helpers.EMConvergenceWarning, match="collapsed onto stars without errors.*Fix: "):
        fit = helpers.minimize_fit(v, e, [3.0, 1.0, 4.0, 2.0, 0.5], method=method)
    assert fit.params[1] < 1e-8  # the optimiser chased the singularity (the start had sigma1 = 1 km/s)
    assert not fit.converged
