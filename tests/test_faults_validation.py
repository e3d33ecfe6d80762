"""Nothing silent, nothing lost (issue 18): the families the validation layer catches for every public function.

Each family is parametrised over the public functions (or the values) it reaches: astropy ``Masked``
arrays and masked record arrays (never fitted as data), star arrays that mix clusters where one is
described, distances that cannot be arcsec, velocities whose arithmetic would overflow, counts that
would be a raw ``MemoryError``, and the "Fix:" lines and path messages that were wrong for their case.
"""

from __future__ import annotations

import pathlib
import re
import time
import types

import numpy as np
import pytest

import helpers
from xdtutorial import _validation
from xdtutorial.verdict import ModelLimits

START = np.array([-44.0, 3.0, -10.0, 40.0, 0.8])
BAD = 3  # the star that is masked (its stored value a placeholder) in these tests


@pytest.fixture(scope="module")
def ap():
    """astropy, which the library never requires: these inputs are only possible where it is installed."""
    return types.SimpleNamespace(u=pytest.importorskip("astropy.units"),
                                 Masked=pytest.importorskip("astropy.utils.masked").Masked,
                                 MaskedColumn=pytest.importorskip("astropy.table").MaskedColumn)


@pytest.fixture(scope="module")
def arrays(ngc288):
    return (np.asarray(ngc288.velocity, float), np.asarray(ngc288.velocity_error, float),
            np.asarray(ngc288.distance, float))


def _placeholder(values: np.ndarray) -> np.ndarray:
    out = values.copy()
    out[BAD] = -999.0
    return out


def _mask(n: int) -> np.ndarray:
    mask = np.zeros(n, bool)
    mask[BAD] = True
    return mask


# ------------------------------------------------------------ astropy Masked arrays (and Quantities)
#: (function of (v, verr, distance, prob), the argument that is masked); every call validates that argument.
CALLS = {
    "em_fit v": (lambda v, e, d, p: helpers.em_fit(v, e, START), "v"),
    "em_fit verr": (lambda v, e, d, p: helpers.em_fit(v, e, START), "verr"),
    "log_likelihood v": (lambda v, e, d, p: helpers.log_likelihood(START, v, e), "v"),
    "membership_probability v": (lambda v, e, d, p: helpers.membership_probability(START, v, e), "v"),
    "minimize_fit v": (lambda v, e, d, p: helpers.minimize_fit(v, e, START, maxiter=5), "v"),
    "initial_guess distance": (lambda v, e, d, p: helpers.initial_guess(v, d), "distance"),
    "random_starts v": (lambda v, e, d, p: helpers.random_starts(v, 4), "v"),
    "membership_prior R": (lambda v, e, d, p: helpers.membership_prior(0.5, 100.0, d), "R"),
    "plot_membership prob": (lambda v, e, d, p: helpers.plot_membership(v, d, p), "prob"),
}
KINDS = {
    "Masked": lambda ap, x, mask: ap.Masked(x, mask=mask),
    "Masked Quantity": lambda ap, x, mask: ap.Masked(x * (ap.u.km / ap.u.s), mask=mask),
}


def _args(ap, arrays, which: str, wrap):
    v, e, d = arrays
    p = np.linspace(0.0, 1.0, v.size)
    values = {"v": v, "verr": e, "distance": d, "R": d, "prob": p}
    if which == "prob":  # a unit on a probability is refused for its own reason: a plain mask here
        values[which] = ap.Masked(_placeholder(values[which]).clip(0, 1), mask=_mask(v.size))
    else:
        values[which] = wrap(ap, np.abs(_placeholder(values[which])) if which != "v" else _placeholder(values[which]),
                             _mask(v.size))
    if which == "R":
        values["distance"] = values["R"]
    return values["v"], values["verr"], values["distance"], values["prob"]


@pytest.mark.parametrize(("call", "kind"), [(c, k) for c in sorted(CALLS) for k in sorted(KINDS)
                                             if k == "Masked" or CALLS[c][1] in ("v", "verr")])  # km/s only there
def test_an_astropy_masked_array_with_masked_entries_is_refused_never_fitted(ap, arrays, call, kind):
    import matplotlib.pyplot as plt

    function, which = CALLS[call]
    try:
        with pytest.raises(ValueError, match=rf"^{which} is a masked array with 1 masked entries \(the first at "
                                             rf"index {BAD}\).*Fix: .*keep = ~{which}\.mask"):
            function(*_args(ap, arrays, which, KINDS[kind]))
    finally:
        plt.close("all")


@pytest.mark.parametrize("wrap", [
    lambda ap, v: ap.Masked(v, mask=np.zeros(v.size, bool)),  # nothing masked: the data themselves
    lambda ap, v: ap.Masked(v * 1000.0 * (ap.u.m / ap.u.s), mask=np.zeros(v.size, bool)),  # converted like a Quantity
    lambda ap, v: v * 1000.0 * (ap.u.m / ap.u.s),  # a Quantity, as before
    lambda ap, v: np.ma.masked_array(v, mask=np.zeros(v.size, bool)),  # numpy.ma, nothing masked, as before
    lambda ap, v: ap.MaskedColumn(v, mask=np.zeros(v.size, bool), unit="km/s"),  # astropy Table column, as before
], ids=["Masked", "Masked m/s", "Quantity m/s", "np.ma", "MaskedColumn"])
def test_unmasked_masked_arrays_and_quantities_fit_as_the_plain_numbers(ap, arrays, wrap):
    v, e, _ = arrays
    ref = helpers.em_fit(v, e, START)
    fit = helpers.em_fit(wrap(ap, v), e, START)
    np.testing.assert_allclose(fit.params, ref.params, rtol=1e-9)
    assert fit.log_likelihood == pytest.approx(ref.log_likelihood, rel=1e-12)


@pytest.mark.parametrize("wrap", [
    lambda ap, v, m: np.ma.masked_array(v, mask=m),
    lambda ap, v, m: ap.MaskedColumn(v, mask=m),
    lambda ap, v, m: ap.MaskedColumn(v, mask=m, unit="km/s"),
], ids=["np.ma", "MaskedColumn", "MaskedColumn km/s"])
def test_numpy_masked_arrays_and_masked_columns_are_still_refused(ap, arrays, wrap):
    v, e, _ = arrays
    with pytest.raises(ValueError, match=rf"^v is a masked array with 1 masked entries \(the first at index {BAD}\)"):
        helpers.em_fit(wrap(ap, _placeholder(v), _mask(v.size)), e, START)


# ------------------------------------------------------------ masked record arrays of stars
def _masked_stars(ap, stars: np.recarray, field: str, astropy: bool):
    data = stars.copy()
    data[field][BAD] = -999.0
    mask = np.zeros(len(data), dtype=[(n, bool) for n in data.dtype.names])
    mask[field][BAD] = True
    return ap.Masked(data, mask=mask) if astropy else np.ma.masked_array(data, mask=mask)


STAR_CALLS = {
    "fit_cluster": (lambda s, tmp: helpers.fit_cluster(s, max_field=1, n_random=0), "cluster"),
    "write_member_catalogue": (lambda s, tmp: helpers.write_member_catalogue(
        tmp / "members.csv", s, np.full(len(s), 0.9), np.full(len(s), 0.01)), "stars"),
    "pmem_weighted_mean": (lambda s, tmp: helpers.pmem_weighted_mean(s), "stars"),
}


@pytest.mark.parametrize("astropy", [False, True], ids=["numpy.ma", "astropy Masked"])
@pytest.mark.parametrize("field", ["velocity", "velocity_error", "distance", "p_mem"])
@pytest.mark.parametrize("call", sorted(STAR_CALLS))
def test_masked_star_records_are_refused_naming_the_field_and_star(ap, ngc288, tmp_path, call, field, astropy):
    function, name = STAR_CALLS[call]
    stars = _masked_stars(ap, ngc288, field, astropy)
    with pytest.raises(ValueError, match=rf"^{name} is a masked record array with 1 masked {field} value\(s\) "
                                         rf"\(the first for star {BAD}\).*Fix: keep the stars"):
        function(stars, tmp_path)
    assert not (tmp_path / "members.csv").exists()


@pytest.mark.parametrize("astropy", [False, True], ids=["numpy.ma", "astropy Masked"])
def test_masked_star_records_without_masked_entries_are_their_data(ap, ngc288, astropy):
    mask = np.zeros(len(ngc288), dtype=[(n, bool) for n in ngc288.dtype.names])
    stars = ap.Masked(ngc288, mask=mask) if astropy else np.ma.masked_array(ngc288, mask=mask)
    assert helpers.pmem_weighted_mean(stars) == helpers.pmem_weighted_mean(ngc288)


# ------------------------------------------------------------ stars of several clusters
@pytest.fixture(scope="module")
def two_clusters(table):
    return np.concatenate([helpers.load_cluster("NGC 288", table), helpers.load_cluster("NGC 362", table)]
                          ).view(np.recarray)


@pytest.mark.parametrize("order", [1, -1], ids=["NGC 288 first", "NGC 362 first"])
@pytest.mark.parametrize("kind", ["recarray", "structured ndarray"])
def test_fit_cluster_refuses_stars_of_several_clusters(two_clusters, order, kind):
    stars = two_clusters[::order]
    stars = stars if kind == "recarray" else stars.view(np.ndarray)
    first = str(stars["cluster"][0])
    start = time.process_time()
    with pytest.raises(ValueError, match=rf"^cluster must be the stars of one cluster; got 2 clusters: '{first}'"
                                         rf".*Fix: select one cluster, e.g. stars\[stars.cluster == \"{first}\"\]"):
        helpers.fit_cluster(stars)
    assert time.process_time() - start < 5  # refused before any fit


@pytest.mark.parametrize("spelling", ["ngc288", "NGC  288", " NGC 288", "Ngc 288"])
def test_spellings_of_one_cluster_are_one_cluster(ngc288, spelling):
    stars = ngc288.copy()
    stars.cluster[::2] = spelling
    assert _validation.check_stars(stars, one_cluster=True) is not None


@pytest.mark.parametrize("n", [0, 1])
def test_no_star_or_one_star_is_one_cluster(ngc288, n):
    """pmem_weighted_mean of a name with no stars (a fit's name not in the table) stays NaN, not a numpy error."""
    assert len(_validation.check_stars(ngc288[:n], one_cluster=True)) == n


def test_check_stars_accepts_several_clusters_unless_asked(two_clusters):
    """Callers describing one cluster opt in (fit_cluster does): a whole table stays a valid star array."""
    assert len(_validation.check_stars(two_clusters)) == len(two_clusters)
    with pytest.raises(ValueError, match="one cluster"):
        _validation.check_stars(two_clusters, one_cluster=True)


# ------------------------------------------------------------ distances that cannot be arcsec
@pytest.mark.parametrize(("factor", "pattern"), [
    (1 / 3600, r"got all 386 within 1 arcsec.*Fix: these look like degrees: multiply by 3600"),
    (1 / 36000, r"got all 386 within 1 arcsec"),
    (0.0, r"got all 386 equal to 0, so the stars' positions are missing"),
], ids=["degrees", "tenth of degrees", "all zero"])
def test_fit_cluster_refuses_distances_that_cannot_be_arcsec(ngc288, factor, pattern):
    stars = ngc288.copy()
    stars.distance *= factor
    with pytest.raises(ValueError, match=rf"^distance must be projected distances from the cluster centre in "
                                         rf"arcsec; {pattern}"):
        helpers.fit_cluster(stars)


def test_the_distance_floor_is_the_smallest_plummer_scale_a_fit_allows():
    assert ModelLimits.SCALE_CLIP[0] == _validation.MIN_FIELD_RADIUS_ARCSEC


@pytest.mark.parametrize(("R", "refused"), [
    (np.full(10, 0.5), True),
    (np.r_[np.full(9, 0.01), 1.0], False),  # one star at the smallest scale: arcsec are possible
    (np.full(9, 0.5), False),  # too few stars to judge
    (np.zeros(10), True),
    (np.linspace(0, 1200, 50), False),
])
def test_check_distances_judges_only_the_largest_of_enough_stars(R, refused):
    if refused:
        with pytest.raises(ValueError, match=r"^distance must be projected distances"):
            _validation.check_distances("distance", R)
    else:
        np.testing.assert_array_equal(_validation.check_distances("distance", R), R)


# ------------------------------------------------------------ velocities whose arithmetic overflows
@pytest.mark.parametrize("field", ["velocity", "velocity_error"])
@pytest.mark.parametrize("value", [1e19, -1e19, 1e300, 2e15])
def test_fit_cluster_refuses_absurd_velocities_before_its_arithmetic_overflows(ngc288, field, value):
    stars = ngc288.copy()
    inner = int(np.argmin(stars.distance))  # among the stars of the velocity clumps
    stars[field][inner] = abs(value) if field == "velocity_error" else value
    got = re.escape(f"{stars[field][inner]:.6g}")
    with pytest.raises(ValueError, match=rf"^{field}\[{inner}\] must be at most 1e\+15 km/s in size; got {got} km/s"):
        helpers.fit_cluster(stars, max_field=1, n_random=0)


def test_a_survey_with_an_absurd_velocity_names_it_not_a_raw_overflow(table):
    # the header lines of the compilation, and NGC 288's rows with one corrupt velocity
    raw = pathlib.Path(table.path).read_text(encoding="ascii").splitlines()
    rows = [line for line in raw if line.startswith("NGC 288 ")]
    k = next(i for i, line in enumerate(rows) if "    -48.30 " in line)
    j = rows[k].index("    -48.30")
    rows[k] = rows[k][:j] + "     1e+19" + rows[k][j + 10:]
    lines = raw[:2] + rows
    # refused while the table is read, before any cluster is fitted: no survey can die half-way on it
    with pytest.raises(helpers.DataFormatError, match=rf"line {k + 3}: velocity 1e\+19 km/s is beyond"):
        helpers.read_baumgardt_table(lines)


@pytest.mark.parametrize("extreme", [(1.7e308, -1.7e308), (1e308, -1e308)])
@pytest.mark.parametrize("call", [
    lambda v, e: helpers.em_fit(v, e, START),
    lambda v, e: helpers.log_likelihood(START, v, e),
    lambda v, e: helpers.plot_model_vs_mock(START, v, e),
], ids=["em_fit", "log_likelihood", "plot_model_vs_mock"])
def test_velocities_whose_range_overflows_are_refused(arrays, call, extreme):
    import matplotlib.pyplot as plt

    v, e, _ = arrays
    try:
        with pytest.raises(ValueError, match=r"^v must have a range max - min that is a float64 number; got "
                                             r"v\[\d+\] = -1.*e\+308 and v\[\d+\] = 1.*e\+308 km/s.*Fix: "):
            call(np.r_[v, extreme], np.r_[e, 1.0, 1.0])
    finally:
        plt.close("all")


def test_the_absurd_bound_leaves_the_em_fits_exact_at_any_scale(arrays):
    """EM rescales its units: 1e200 km/s data fit as well as km/s ones; only fit_cluster's grid needs the bound."""
    v, e, _ = arrays
    with pytest.warns(helpers.ImplausibleVelocityWarning):
        fit = helpers.em_fit(v * 1e200, e * 1e200, START * np.r_[np.full(4, 1e200), 1.0])
    assert fit.converged


# ------------------------------------------------------------ counts that would be a raw MemoryError
@pytest.mark.parametrize(("call", "name"), [
    (lambda v, e: helpers.random_starts(v, 10**9), "n_starts"),
    (lambda v, e: helpers.init_walkers(START, 10**9), "n_walkers"),
    (lambda v, e: helpers.make_sampler(v, e, 10**9), "n_walkers"),
    (lambda v, e: helpers.mock_cluster_field(10**10, [(10, 0.0, 40.0)], rng=0), "n_members"),
    (lambda v, e: helpers.mock_cluster_field(10, [(10**10, 0.0, 40.0)], rng=0), r"field\[0\]\[0\] \(n_stars\)"),
    (lambda v, e: helpers.xd_sample([1.0], [[0.0]], [[[1.0]]], 10**10), "n"),
    (lambda v, e: helpers.fit_cluster("NGC 288", n_random=10**6), "n_random"),
])
def test_huge_counts_are_refused_with_the_bound_not_a_memory_error(arrays, call, name):
    v, e, _ = arrays
    start = time.process_time()
    with pytest.raises(ValueError, match=rf"^{name} must be <= [\d_]+.*; got 10+\. Fix: use "):
        call(v, e)
    assert time.process_time() - start < 5


@pytest.mark.parametrize("name", ["n", "n_members", "n_random", "n_starts", "n_walkers"])
def test_count_bounds_leave_room_above_every_usual_value(name):
    assert name in _validation.MAX_COUNTS
    assert _validation.MAX_COUNTS[name] >= 1000
    assert _validation.check_int(name, _validation.MAX_COUNTS[name]) == _validation.MAX_COUNTS[name]
    assert _validation.check_int(name, 10**12, maximum=10**12) == 10**12  # a caller's own bound wins


# ------------------------------------------------------------ Fix lines and path messages
@pytest.mark.parametrize(("call", "name"), [
    (lambda x: helpers.em_fit(x, np.ones(10), START), "v"),
    (lambda x: helpers.log_likelihood(START, x, np.ones(10)), "v"),
    (lambda x: helpers.initial_guess(np.ones(10), x), "distance"),
])
def test_a_single_number_for_a_measured_value_per_star_is_not_told_to_use_np_full(call, name):
    with pytest.raises(ValueError, match=rf"^{name} must be a 1-D array; got shape \(\)") as err:
        call(np.array(3.0))
    fix = str(err.value).split("Fix: ", 1)[1]
    assert "np.full" not in fix and "one measured value per star" in fix


@pytest.mark.parametrize("path", ["", " ", "a\0b.csv"], ids=["empty", "blank", "NUL"])
@pytest.mark.parametrize("writer", ["write_survey_csv", "write_member_catalogue"])
def test_writer_paths_that_are_no_file_name_are_refused_by_name(ngc288, path, writer):
    calls = {
        "write_survey_csv": lambda: helpers.write_survey_csv(path, [], helpers.load_table()),
        "write_member_catalogue": lambda: helpers.write_member_catalogue(
            path, ngc288, np.full(len(ngc288), 0.9), np.full(len(ngc288), 0.01)),
    }
    with pytest.raises(ValueError, match=r"^path must be a (non-empty path|file path without NUL).*Fix: "):
        calls[writer]()


@pytest.mark.parametrize("text", ["x" * 5000, "NGC 288 " * 40, "a/" + "b" * 256 + "/c.txt"])
def test_a_name_too_long_for_any_file_system_is_refused_by_name(text):
    with pytest.raises(ValueError, match=r"^source must be a file path whose names are at most 255 bytes long.*Fix: "):
        helpers.read_baumgardt_table(text)


def test_check_path_for_a_file_refuses_a_folder_and_a_file_as_folder(tmp_path):
    with pytest.raises(IsADirectoryError, match=r"^path must be a file; got .*, which is a folder\. Fix: pass "):
        _validation.check_path("path", tmp_path, file=True)
    (tmp_path / "plain").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"is a file, not a folder\. Fix: "):
        _validation.check_path("path", tmp_path / "plain" / "out.csv", file=True)
    assert _validation.check_path("path", tmp_path / "new" / "out.csv", file=True) == tmp_path / "new" / "out.csv"
    assert _validation.check_path("results", tmp_path) == tmp_path  # folders stay valid where a folder is meant


# ------------------------------------------------------------ the call sites (applied at merge)
def _write_cluster_file(path: pathlib.Path, stars: np.recarray, distance: np.ndarray) -> pathlib.Path:
    rows = [f"{i} 0 0 0 {d:.9g} {v:.4f} {e:.4f}" for i, (d, v, e) in
            enumerate(zip(distance, stars.velocity, stars.velocity_error, strict=True))]
    path.write_text("header\nheader\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("factor", [1 / 3600, 0.0], ids=["degrees", "all zero"])
def test_fit_cluster_of_a_file_refuses_distances_that_cannot_be_arcsec(ngc288, tmp_path, factor):
    path = _write_cluster_file(tmp_path / "mine.txt", ngc288, ngc288.distance * factor)
    with pytest.raises(ValueError, match=r"^distance must be projected distances from the cluster centre in arcsec"):
        helpers.fit_cluster(path)


@pytest.mark.parametrize("call", [
    lambda s, tmp: helpers.write_member_catalogue(tmp / "m.csv", s, np.full(len(s), 0.9), np.full(len(s), 0.01)),
    lambda s, tmp: helpers.pmem_weighted_mean(s),
], ids=["write_member_catalogue", "pmem_weighted_mean"])
def test_one_cluster_functions_refuse_stars_of_several_clusters(two_clusters, tmp_path, call):
    with pytest.raises(ValueError, match=r'^stars must be the stars of one cluster.*stars\[stars.cluster == "NGC 288"'):
        call(two_clusters, tmp_path)
    assert not (tmp_path / "m.csv").exists()


@pytest.mark.parametrize("call", [
    lambda d, s: helpers.write_survey_csv(d, [], helpers.load_table()),
    lambda d, s: helpers.write_member_catalogue(d, s, np.full(len(s), 0.9), np.full(len(s), 0.01)),
    lambda d, s: helpers.load_table(d),
    lambda d, s: helpers.load_cluster_file(d),
], ids=["write_survey_csv", "write_member_catalogue", "load_table", "load_cluster_file"])
def test_a_folder_given_as_a_file_is_called_a_folder(ngc288, tmp_path, call):
    with pytest.raises(IsADirectoryError, match=r"^path must be a file; got .*, which is a folder\. Fix: pass "):
        call(tmp_path, ngc288)
    assert list(tmp_path.iterdir()) == []  # nothing written beside it
