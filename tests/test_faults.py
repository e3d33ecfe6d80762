"""Nothing silent, nothing lost (issue 18): arrays that carry metadata, safe writers, data-directory
faults and files that are not regular files.  Each family is parametrised, so that inputs like the
named examples are covered too."""

from __future__ import annotations

import csv
import dataclasses
import errno
import os
import pathlib
import re
import signal

import numpy as np
import pytest
from test_data import ROW_BLANK, ROW_FULL, ROW_NO_EK, table_lines

import helpers

astropy_units = pytest.importorskip("astropy.units")
astropy_table = pytest.importorskip("astropy.table")

START = [-44.0, 3.0, -10.0, 40.0, 0.8]


# ------------------------------------------------------------ masks and units


def _fits(v, verr):
    """Every public entry point that takes per-star velocities, as (name, call)."""
    return [
        ("em_fit", lambda: helpers.em_fit(v, verr, START).params),
        ("log_likelihood", lambda: helpers.log_likelihood(START, v, verr)),
        ("minimize_fit", lambda: helpers.minimize_fit(v, verr, START).params),
    ]


@pytest.mark.parametrize("which", ["em_fit", "log_likelihood", "minimize_fit"])
@pytest.mark.parametrize("masked_array", ["v", "verr"])
def test_masked_entries_are_refused_not_fitted(ngc288, which, masked_array):
    v, verr = np.r_[ngc288.velocity, -999.0], np.r_[ngc288.velocity_error, 1.0]
    mask = np.zeros(v.size, bool)
    mask[-1] = True
    data = {"v": v, "verr": verr}
    data[masked_array] = np.ma.masked_array(data[masked_array], mask=mask)
    call = dict(_fits(data["v"], data["verr"]))[which]
    expected = rf"{masked_array} is a masked array with 1 masked entries .*index {v.size - 1}"
    with pytest.raises(ValueError, match=expected):
        call()


@pytest.mark.parametrize("wrap", [
    lambda x: np.ma.masked_array(x, mask=np.zeros(x.size, bool)),
    lambda x: astropy_table.MaskedColumn(x, mask=np.zeros(x.size, bool)),
    lambda x: astropy_table.Column(x),
])
def test_containers_without_masked_entries_or_units_give_the_plain_answer(ngc288, wrap):
    v, verr = ngc288.velocity, ngc288.velocity_error
    plain = helpers.log_likelihood(START, v, verr)
    assert helpers.log_likelihood(START, wrap(v), wrap(verr)) == plain


def test_astropy_masked_column_with_a_mask_is_refused(ngc288):
    v = astropy_table.MaskedColumn(np.r_[ngc288.velocity, -999.0], mask=[False] * len(ngc288) + [True])
    with pytest.raises(ValueError, match="masked array with 1 masked entries"):
        helpers.em_fit(v, np.r_[ngc288.velocity_error, 1.0], START)


@pytest.mark.parametrize(("unit", "factor"), [("m/s", 1e3), ("km/s", 1.0), ("cm/s", 1e5), ("km/h", 3600.0)])
def test_quantities_are_converted_to_km_per_s(ngc288, unit, factor):
    u = astropy_units
    v, verr = ngc288.velocity, ngc288.velocity_error
    expected = helpers.log_likelihood(START, v, verr)
    got = helpers.log_likelihood(START, v * factor * u.Unit(unit), verr * factor * u.Unit(unit))
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # a Column that carries a unit is converted the same way
    got = helpers.log_likelihood(START, astropy_table.Column(v * factor, unit=unit), verr)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("unit", ["kg", "arcsec", "deg", ""])
def test_quantities_of_the_wrong_kind_are_refused(ngc288, unit):
    u = astropy_units
    v = ngc288.velocity * (u.Unit(unit) if unit else u.dimensionless_unscaled)
    with pytest.raises(ValueError, match="cannot be converted to km/s"):
        helpers.em_fit(v, ngc288.velocity_error, START)


def test_a_unit_where_none_is_defined_is_refused():
    u = astropy_units
    with pytest.raises(ValueError, match="carries the unit km / s, but p_member is a pure number"):
        helpers.write_member_catalogue(pathlib.Path("unused.csv"), helpers.load_cluster("NGC 288"),
                                       np.full(386, 0.9) * u.km / u.s, np.zeros(386))


# ------------------------------------------------------------------ writers


@pytest.fixture(scope="module")
def ngc288_cluster_fit(ngc288):
    return helpers.fit_cluster(ngc288, n_random=0)


def _read_csv(path: pathlib.Path) -> list[list[str]]:
    with open(path, newline="") as fh:  # as a CSV reader reads it: a quoted field may hold a line break
        return [row for row in csv.reader(fh) if not row[0].startswith("#")]


@pytest.mark.parametrize("name", ["my,cluster", 'say "cheese"', "two\nlines", "NGC 288"])
def test_survey_rows_keep_their_fields_whatever_the_name(tmp_path, table, ngc288_cluster_fit, name):
    fit = dataclasses.replace(ngc288_cluster_fit, name=name, reason='a "quoted"\nreason, with a comma')
    path = tmp_path / "survey.csv"
    helpers.write_survey_csv(path, [fit, ngc288_cluster_fit], table)
    header, *rows = _read_csv(path)
    assert [len(r) for r in rows] == [len(header)] * 2
    assert rows[0][0] == name and rows[1][0] == "NGC 288"
    assert rows[0][-1] == "a 'quoted' reason, with a comma"


@pytest.mark.parametrize("title", ["NGC 288\nvelocity,error", "first\r\nsecond\rthird", "one line"])
def test_a_title_never_breaks_out_of_the_comment_lines(tmp_path, ngc288, title):
    path = tmp_path / "members.csv"
    n = helpers.write_member_catalogue(path, ngc288, np.full(len(ngc288), 0.9), np.zeros(len(ngc288)), title=title)
    lines = path.read_text().splitlines()
    first_data = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    assert lines[first_data] == ",".join(helpers.CATALOGUE_COLUMNS)
    assert len(lines) - first_data - 1 == n == len(ngc288)
    assert [line[2:] for line in lines[: len(title.splitlines())]] == title.splitlines()


@pytest.mark.parametrize("std", [0.5000001, 5.0, 1e300])
def test_a_spread_beyond_one_half_is_refused(tmp_path, ngc288, std):
    p_std = np.zeros(len(ngc288))
    p_std[3] = std
    with pytest.raises(ValueError, match=r"p_member_std\[3\].*cannot exceed 0.5"):
        helpers.write_member_catalogue(tmp_path / "m.csv", ngc288, np.full(len(ngc288), 0.9), p_std)


@pytest.mark.parametrize("writer", ["members", "survey"])
@pytest.mark.parametrize("fail_in", ["fsync", "file-size limit"])
def test_a_failed_write_leaves_the_previous_file_intact(tmp_path, monkeypatch, ngc288, table,
                                                        ngc288_cluster_fit, writer, fail_in):
    path = tmp_path / "out.csv"
    path.write_text("the previous version\n")

    def write():
        if writer == "members":
            helpers.write_member_catalogue(path, ngc288, np.full(len(ngc288), 0.9), np.zeros(len(ngc288)))
        else:
            helpers.write_survey_csv(path, [ngc288_cluster_fit], table)

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    if fail_in == "fsync":
        monkeypatch.setattr(os, "fsync", disk_full)
        with pytest.raises(OSError, match="No space left"):
            write()
        monkeypatch.undo()
    else:  # a real write that stops part-way: the kernel refuses bytes beyond 100 (EFBIG)
        resource = pytest.importorskip("resource")
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else SIGXFSZ ends the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (100, hard))
        try:
            with pytest.raises(OSError) as err:
                write()
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            signal.signal(signal.SIGXFSZ, old)
        assert err.value.errno == errno.EFBIG
    assert path.read_text() == "the previous version\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]  # no temporary file left behind
    write()  # and a write that succeeds replaces it, with ordinary permissions
    assert path.read_text().startswith("#") and path.stat().st_mode & 0o044


# ------------------------------------------------------------ the data directory


def test_a_misspelt_data_directory_is_not_created(tmp_path, monkeypatch):
    missing = tmp_path / "dta"
    monkeypatch.setenv(helpers.DATA_DIR_ENV, str(missing))
    with pytest.raises(helpers.DataUnavailableError, match=r"no such folder.*check its spelling"):
        helpers.fetch_data()
    assert not missing.exists()


def test_a_data_directory_that_names_the_file_says_to_use_its_folder(tmp_path, monkeypatch):
    file = tmp_path / helpers.DATA_FILENAME
    file.write_text("x")
    monkeypatch.setenv(helpers.DATA_DIR_ENV, str(file))
    with pytest.raises(helpers.DataUnavailableError, match=f"names a file.*export {helpers.DATA_DIR_ENV}={tmp_path}"):
        helpers.fetch_data()


def test_a_folder_in_place_of_the_data_file_is_named(tmp_path):
    (tmp_path / helpers.DATA_FILENAME).mkdir()
    with pytest.raises(helpers.DataUnavailableError, match="is a folder, where the data file should be"):
        helpers.fetch_data(tmp_path, url="http://127.0.0.1:9/x")


@pytest.mark.parametrize("case", [str.upper, str.lower])
def test_the_checksum_compares_without_regard_to_case(tmp_path, case):
    import hashlib

    content = "\n".join(table_lines(ROW_FULL)).encode()
    (tmp_path / helpers.DATA_FILENAME).write_bytes(content)
    digest = case(hashlib.sha256(content).hexdigest())
    assert helpers.fetch_data(tmp_path, url="http://127.0.0.1:9/x", sha256=digest) == tmp_path / helpers.DATA_FILENAME


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
@pytest.mark.parametrize("reader", ["read_baumgardt_table", "load_cluster_file", "load_table"])
def test_a_fifo_is_refused_without_blocking(tmp_path, reader):
    fifo = tmp_path / "stars.txt"
    os.mkfifo(fifo)

    def timeout(*_):
        raise TimeoutError("open() blocked on the FIFO")

    old = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(10)
    try:
        with pytest.raises(helpers.DataFormatError, match="not a regular file"):
            getattr(helpers, reader)(fifo)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_an_edit_of_the_same_size_with_the_old_mtime_is_read_again(tmp_path):
    path = tmp_path / "table.txt"
    path.write_text("\n".join(table_lines(ROW_FULL, ROW_BLANK, ROW_NO_EK)) + "\n")
    before = helpers.load_table(path).stars.velocity.copy()
    st = path.stat()
    path.write_text(path.read_text().replace("-45.54", "-45.55"))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # the same size and modification time as before
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    after = helpers.load_table(path).stars.velocity
    assert before[0] == -45.54 and after[0] == -45.55


# ------------------------------------------------------------ per-cluster files


def _cluster_file(tmp_path: pathlib.Path, rows: list[tuple[float, float, float]], stem: str = "mock") -> pathlib.Path:
    path = tmp_path / f"{stem}.txt"
    lines = ["# id ra dec x distance velocity error", "# - deg deg - arcsec km/s km/s"]
    lines += [f"{i} 0 0 0 {d} {v} {e}" for i, (d, v, e) in enumerate(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("distance", [18000.5, 3.6e4, 1e8 * 441.0])
def test_distances_beyond_the_field_are_refused_with_the_unit(tmp_path, distance):
    path = _cluster_file(tmp_path, [(100.0, -44.0, 1.0), (distance, -40.0, 1.0)])
    with pytest.raises(helpers.DataFormatError, match=r"line 4: distance .* beyond 18000 arcsec.*must be in arcsec"):
        helpers.load_cluster_file(path)


@pytest.mark.parametrize("velocity", [3000.5, -4.4e4, 1e8])
def test_velocities_beyond_any_star_are_refused_with_the_unit(tmp_path, velocity):
    path = _cluster_file(tmp_path, [(100.0, -44.0, 1.0), (200.0, velocity, 1.0)])
    with pytest.raises(helpers.DataFormatError, match=r"line 4: velocity .* m/s instead of km/s"):
        helpers.load_cluster_file(path)


@pytest.mark.parametrize("stem", ["NGC288", "my_long_cluster_file_name", "x" * 60])
def test_a_file_stem_is_kept_whole(tmp_path, stem):
    stars = helpers.load_cluster_file(_cluster_file(tmp_path, [(100.0, -44.0, 1.0)] * 3, stem=stem))
    assert set(stars.cluster) == {stem}


# ------------------------------------------------------------ options that were silently taken


@pytest.mark.parametrize("bounds", [
    {"mean": (-100, 100), "sigma": (0, 50), "frac": (0, 1)},
    {"mean": (-100, 100), "sigma": (0, 50), "sigmas": (0, 5)},
    {"mean": (-100, 100), "sigma": (0, 50), 1: (0, 1)},
])
def test_unknown_prior_keys_are_refused(bounds):
    with pytest.raises(ValueError, match=r"only the keys \"mean\" and \"sigma\".*remove"):
        helpers.log_prior(START, bounds=bounds)


@pytest.mark.parametrize(("v", "verr"), [([1.0, np.nan] * 5, [1.0] * 10), ([1.0] * 10, [-1.0] * 10), ("abc", [1.0])])
def test_log_posterior_checks_its_data_even_outside_the_prior(v, verr):
    outside = [-44.0, 3.0, -10.0, 40.0, 1.5]  # frac1 > 1: the prior is -inf before any likelihood
    with pytest.raises((ValueError, TypeError)):
        helpers.log_posterior(outside, v, verr)


@pytest.mark.parametrize("names", ["abcde", b"abcde", [1, 2, 3, 4, 5]])
def test_percentile_summary_wants_a_sequence_of_names(names):
    with pytest.raises(TypeError, match="sequence of str"):
        helpers.percentile_summary(np.zeros((10, 5)), names=names)


@pytest.mark.parametrize("flag", ["no", "yes", 1, None])
def test_sample_mock_wants_a_real_boolean(flag):
    with pytest.raises(TypeError, match="return_labels"):
        helpers.sample_mock(START, np.ones(10), rng=0, return_labels=flag)


@pytest.mark.parametrize("frozen", [[0], [1, 4], [0, 1, 2, 3, 4]])
def test_a_chain_that_never_moves_is_named_not_a_nan(frozen):
    chain = np.random.default_rng(1).normal(size=(400, 10, 5)).cumsum(axis=0)
    chain[:, :, frozen] = 3.0  # every proposal rejected in those coordinates
    with pytest.raises(ValueError, match=rf"never moves in parameter\(s\) {re.escape(str(frozen))}.*inside the prior"):
        helpers.burn_thin_from_autocorr(chain)


def test_a_sampler_whose_prior_excludes_every_walker_is_refused_before_sampling(ngc288):
    v, verr = ngc288.velocity, ngc288.velocity_error
    narrow = {"mean": (0.0, 10.0), "sigma": (0.0, 50.0)}  # excludes the cluster at -44 km/s
    walkers = helpers.init_walkers([-44.5, 2.7, -10.4, 41.9, 0.84], 12, rng=0)
    sampler = helpers.make_sampler(v, verr, 12, rng=0, bounds=narrow)
    with pytest.raises(ValueError, match=r"inside the prior box.*12 of 12 walkers outside.*no move can be accepted"):
        sampler.run_mcmc(walkers, 60)  # emcee itself would run 60 steps stuck at -inf and say nothing
    assert sampler.iteration == 0


@pytest.mark.parametrize("n_stars", [10**6])
def test_model_density_memory_does_not_grow_with_the_stars(n_stars):
    import tracemalloc

    verr = np.full(n_stars, 1.0)
    grid = np.linspace(-100.0, 100.0, 40)
    tracemalloc.start()
    dens = helpers.model_density(START, grid, verr)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # the blocks hold 2**21 terms of 8 bytes, a few at once (tens of MB): below the 40 x n_stars x 8
    # bytes (320 MB) of one array of every term, and independent of n_stars apart from the input
    assert peak < 150e6
    np.testing.assert_allclose(dens, helpers.model_density(START, grid, verr[:1000]), rtol=1e-10)


# ------------------------------------------------------------ plots: bounded, and errors in our words


@pytest.mark.parametrize(("plot", "option", "bad"), [
    ("plot_velocity_vs_distance", "errorbar_kwargs", {"colour": "k"}),
    ("plot_velocity_vs_distance", "errorbar_kwargs", {"ms": "big"}),
    ("plot_membership", "scatter_kwargs", {"cmap": "no-such-map"}),
    ("plot_model_vs_mock", "hist_kwargs", {"histtype": "bars!"}),
    ("plot_model_vs_mock", "hist_kwargs", ["color", "k"]),
])
def test_bad_matplotlib_options_are_named(ngc288, plot, option, bad):
    import matplotlib.pyplot as plt

    v, verr, d = ngc288.velocity, ngc288.velocity_error, ngc288.distance
    calls = {
        "plot_velocity_vs_distance": lambda: helpers.plot_velocity_vs_distance(v, verr, d, **{option: bad}),
        "plot_membership": lambda: helpers.plot_membership(v, d, np.full(v.size, 0.5), **{option: bad}),
        "plot_model_vs_mock": lambda: helpers.plot_model_vs_mock(START, v, verr, rng=0, **{option: bad}),
    }
    try:
        with pytest.raises((TypeError, ValueError), match=rf"^{option}"):
            calls[plot]()
    finally:
        plt.close("all")


@pytest.mark.parametrize("scale", [1e3, 1e8, 1e15])
def test_default_bins_stay_bounded_whatever_the_range(scale):
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    v = rng.normal(0.0, scale, 200)
    verr = np.full(200, scale / 100)
    ax = helpers.plot_model_vs_mock([0.0, scale, 0.0, 2 * scale, 0.5], v, verr, rng=rng)
    from xdtutorial.plots import MAX_DEFAULT_BINS

    try:  # a step histogram is one polygon with two vertices per bin edge
        assert [len(p.get_xy()) <= 2 * (MAX_DEFAULT_BINS + 1) + 2 for p in ax.patches] == [True, True]
    finally:
        plt.close("all")


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"dpi": 10**5}, ValueError), ({"dpi": 0}, ValueError), ({"dpi": 110.0}, TypeError),
    ({"width": 1e4}, ValueError), ({"width": 0.0}, ValueError),
])
def test_figure_resolution_and_size_are_bounded(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        helpers.notebook_style(**kwargs)


@pytest.mark.parametrize("bins", [10**6, np.linspace(0, 1, 10**5)])
def test_too_many_bins_are_refused(ngc288, bins):
    with pytest.raises(ValueError, match="bins"):
        helpers.plot_model_vs_mock(START, ngc288.velocity, ngc288.velocity_error, rng=0, bins=bins)


def test_an_installed_package_caches_the_data_in_the_user_cache(tmp_path, monkeypatch):
    """Outside a clone (a wheel in site-packages) the data go to the user's cache, not next to the package."""
    import xdtutorial.data as data

    fake = tmp_path / "site-packages" / "xdtutorial" / "data.py"
    fake.parent.mkdir(parents=True)
    monkeypatch.setattr(data, "__file__", str(fake))
    monkeypatch.delenv(helpers.DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert helpers.data_directory() == tmp_path / "cache" / "xd-cluster-tutorial"
    monkeypatch.setattr(data, "__file__", str(pathlib.Path(helpers.__file__).parent / "xdtutorial" / "data.py"))
    assert helpers.data_directory() == pathlib.Path(helpers.__file__).parent / "data"
