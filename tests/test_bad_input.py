"""Bad input: every public function answers a hurried user's mistake (issue 10).

One table, one row per mistake.  A row states the behaviour we want, as one of

* ``Raises(exception type, pattern, ...)``: the error is of that type, its message matches every
  pattern (each names the argument at fault, as a whole word), and it is raised by the library
  itself, not from deep inside numpy, scipy, pathlib or sklearn;
* ``Returns(check)``: the call succeeds, leaks no numpy/scipy warning, and ``check`` confirms the
  result is right (e.g. zero measurement errors give the ordinary Gaussian mixture);
* ``Warns(category, pattern, check)``: the call succeeds, warns, and ``check`` confirms the result
  says so (``converged=False``).

Rows that hang in a broken implementation run in a child process with a time limit, so a
regression fails instead of stalling CI (pytest-timeout is not a dependency).

The calls use the package's conventions: randomness arrives as ``rng`` (an int seed or a
``numpy.random.Generator``), options are keyword-only, iteration limits are ``max_iter``.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import multiprocessing
import os
import pathlib
import pickle
import re
import sys
import threading
import traceback
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from scipy.stats import norm

import helpers

ROOT = pathlib.Path(helpers.__file__).resolve().parent

# ------------------------------------------------------------------ data every row may use
# A synthetic cluster + field with known truth (numpy only, so the rows do not depend on the
# functions under test).  Order (mean1, sigma1, mean2, sigma2, frac1), km/s.
TRUTH = np.array([-44.5, 2.7, -10.4, 41.9, 0.8])
_rng = np.random.default_rng(20261125)
N = 300
VERR = _rng.uniform(0.5, 3.0, N)
MEMBER = _rng.random(N) < TRUTH[4]
V = np.where(MEMBER, _rng.normal(TRUTH[0], TRUTH[1], N), _rng.normal(TRUTH[2], TRUTH[3], N)) + VERR * _rng.normal(
    size=N
)
_u = _rng.uniform(0.0, 0.99, N)
DIST = np.where(MEMBER, 100.0 * np.sqrt(_u / (1.0 - _u)), 1000.0 * np.sqrt(_rng.random(N)))  # arcsec
START = np.array([-40.0, 5.0, 0.0, 30.0, 0.5])
ZERO = np.zeros(N)
V_OUTLIER = V.copy()
V_OUTLIER[7] = 1e8  # km/s: faster than light

# An AR(1) chain of known autocorrelation time tau = (1 + phi) / (1 - phi) = 19 steps
# (emcee's own test of integrated_time uses the same process).
_PHI = 0.9
CHAIN = np.zeros((2000, 10, 5))
for _t in range(1, CHAIN.shape[0]):
    CHAIN[_t] = _PHI * CHAIN[_t - 1] + _rng.normal(size=CHAIN.shape[1:])
CHAIN_NAN = CHAIN.copy()
CHAIN_NAN[100, 3, 2] = np.nan

# Two small clusters of the real compilation (21 and 25 stars) keep the fits quick.
SMALL_CLUSTERS = ("NGC 4147", "Pal 3")


@pytest.fixture(scope="module")
def small_lines() -> list[str]:
    lines = pathlib.Path(helpers.fetch_data()).read_text(encoding="ascii").splitlines()
    rows = [line for line in lines[2:] if line[:9].strip() in SMALL_CLUSTERS]
    assert len(rows) == 46
    return lines[:2] + rows


class Ctx:
    """What a row's call may use: the synthetic data above plus files and tables made on demand."""

    v, verr, d, start = V, VERR, DIST, START

    def __init__(self, request: pytest.FixtureRequest, tmp: pathlib.Path, monkeypatch: pytest.MonkeyPatch):
        self.request, self.tmp, self.monkeypatch = request, tmp, monkeypatch

    @functools.cached_property
    def lines(self) -> list[str]:
        return self.request.getfixturevalue("small_lines")

    @functools.cached_property
    def small_path(self) -> pathlib.Path:
        path = self.tmp / "small_table.txt"
        path.write_text("\n".join(self.lines) + "\n", encoding="ascii")
        return path

    @functools.cached_property
    def table(self) -> helpers.BaumgardtTable:
        return helpers.read_baumgardt_table(self.lines)

    @functools.cached_property
    def ngc288(self) -> np.recarray:
        return self.request.getfixturevalue("ngc288")

    def text_file(self, name: str, text: str) -> pathlib.Path:
        path = self.tmp / name
        path.write_text(text, encoding="utf-8")
        return path

    def cluster_file(
        self, name: str = "cluster.txt", *, n: int = 25, mean: float = 100.0, header: bool = True,
        encoding: str = "utf-8", first_line: str = "# star ra dec flag distance[arcsec] RV[km/s] e_RV[km/s]",
    ) -> pathlib.Path:
        """A per-cluster whitespace file as Baumgardt serves them (distance, v, error in columns 4-6)."""
        rng = np.random.default_rng(1)
        rows = [
            f"{i} 10.0 -20.0 1 {d:.2f} {v:.2f} {e:.2f}"
            for i, (d, v, e) in enumerate(
                zip(rng.uniform(0, 300, n), rng.normal(mean, 3.0, n), rng.uniform(0.5, 2.0, n), strict=True)
            )
        ]
        text = "\n".join(([first_line, "# second header line"] if header else []) + rows) + "\n"
        path = self.tmp / name
        path.write_bytes(text.encode(encoding))
        return path


@pytest.fixture
def ctx(request, tmp_path, monkeypatch):
    yield Ctx(request, tmp_path, monkeypatch)
    if "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        plt.close("all")


# ------------------------------------------------------------------ running a call
Rec = collections.namedtuple("Rec", "category message")
Outcome = collections.namedtuple("Outcome", "result error origin warnings")


def _run(call: Callable[[Ctx], Any], c: Ctx) -> Outcome:
    """Call, recording warnings, the exception and the file of the frame that raised it."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        try:
            result, error, origin = call(c), None, None
        except Exception as exc:
            result, error = None, exc
            origin = traceback.extract_tb(exc.__traceback__)[-1].filename
    return Outcome(result, error, origin, [Rec(w.category, str(w.message)) for w in rec])


def _run_with_timeout(call: Callable[[Ctx], Any], c: Ctx, seconds: float) -> Outcome:
    """`_run` in a forked child killed after ``seconds`` (a thread where fork is unavailable)."""
    if "fork" not in multiprocessing.get_all_start_methods():  # pragma: no cover - Windows
        box: list[Outcome] = []
        worker = threading.Thread(target=lambda: box.append(_run(call, c)), daemon=True)
        worker.start()
        worker.join(seconds)
        if not box:
            pytest.fail(f"no answer within {seconds} s: the call hangs")
        return box[0]
    mp = multiprocessing.get_context("fork")
    receive, send = mp.Pipe(duplex=False)

    def child() -> None:
        try:
            out = _run(call, c)
            try:
                payload = pickle.dumps(out)
            except Exception:  # an unpicklable result or exception: send its description
                err = out.error and RuntimeError(f"{type(out.error).__name__}: {out.error}")
                payload = pickle.dumps(Outcome(repr(out.result)[:2000], err, out.origin, out.warnings))
            send.send_bytes(payload)
        finally:
            os._exit(0)

    proc = mp.Process(target=child, daemon=True)
    proc.start()
    send.close()
    try:
        if not receive.poll(seconds):
            pytest.fail(f"no answer within {seconds} s: the call hangs")
        return pickle.loads(receive.recv_bytes())
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()


def _ours(filename: str | None) -> bool:
    try:
        rel = pathlib.Path(filename).resolve().relative_to(ROOT)
    except (TypeError, ValueError):
        return False
    return not {".venv", "site-packages"} & set(rel.parts)


_LIBRARY_NOISE = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


def _leaked(out: Outcome, expected: type[Warning] | None = None) -> list[Rec]:
    return [
        w for w in out.warnings
        if not issubclass(w.category, _LIBRARY_NOISE) and not (expected and issubclass(w.category, expected))
    ]


# ------------------------------------------------------------------ expectations
@dataclasses.dataclass(frozen=True)
class Raises:
    exc: type[BaseException] | tuple[type[BaseException], ...]
    patterns: tuple[str, ...]
    ours: bool = True  # raised by the library, not from inside numpy/scipy/pathlib/sklearn

    def verify(self, out: Outcome) -> None:
        assert out.error is not None, f"no error; returned {out.result!r:.300}"
        assert isinstance(out.error, self.exc), f"{type(out.error).__name__}: {out.error}"
        for pattern in self.patterns:
            assert re.search(pattern, str(out.error)), (
                f"message does not match {pattern!r}: {out.error}"
            )
        if self.ours:
            assert _ours(out.origin), f"raised from inside {out.origin}, not by the library: {out.error}"


def raises(exc, *patterns: str, ours: bool = True) -> Raises:
    return Raises(exc, patterns, ours)


def arg(name: str) -> str:
    """Pattern: the argument's name as a whole word (``v`` must not match inside ``verr``)."""
    return rf"(?<![\w.]){name}(?!\w)"


@dataclasses.dataclass(frozen=True)
class Returns:
    check: Callable[[Any, Ctx], None] | None = None

    def verify(self, out: Outcome, c: Ctx) -> None:
        if out.error is not None:
            raise out.error
        assert not _leaked(out), f"warnings leaked: {_leaked(out)}"
        if self.check is not None:
            self.check(out.result, c)


@dataclasses.dataclass(frozen=True)
class Warns:
    category: type[Warning]
    pattern: str
    check: Callable[[Any, Ctx], None] | None = None

    def verify(self, out: Outcome, c: Ctx) -> None:
        if out.error is not None:
            raise out.error
        hits = [w for w in out.warnings if issubclass(w.category, self.category) and re.search(self.pattern, w.message)]
        assert hits, f"no {self.category.__name__} matching {self.pattern!r}; got {out.warnings}"
        assert not _leaked(out, self.category), f"warnings leaked: {_leaked(out, self.category)}"
        if self.check is not None:
            self.check(out.result, c)


def not_converged(res: Any, c: Ctx) -> None:
    assert res.converged is False


# ------------------------------------------------------------------ reference answers
def plain_mixture(v: np.ndarray, start: np.ndarray) -> np.ndarray:
    """The ordinary (error-free) two-Gaussian maximum-likelihood fit, by scikit-learn."""
    from sklearn.mixture import GaussianMixture

    m1, s1, m2, s2, f = start
    gm = GaussianMixture(
        2, tol=1e-13, max_iter=100_000, reg_covar=0.0, weights_init=[f, 1 - f], means_init=[[m1], [m2]],
        precisions_init=[[[s1**-2]], [[s2**-2]]],
    ).fit(np.asarray(v)[:, None])
    mu, sig, w = gm.means_.ravel(), np.sqrt(gm.covariances_.ravel()), gm.weights_
    k = np.argsort(sig)
    return np.array([mu[k[0]], sig[k[0]], mu[k[1]], sig[k[1]], w[k[0]]])


def plain_log_likelihood(p: np.ndarray, v: np.ndarray) -> float:
    return float(np.sum(np.log(p[4] * norm.pdf(v, p[0], p[1]) + (1 - p[4]) * norm.pdf(v, p[2], p[3]))))


def is_plain_mixture_fit(res: Any, c: Ctx) -> None:
    # sklearn stops when the mean log-likelihood per star gains < 1e-13, em_fit at 1e-12: with EM's
    # linear rate both are then within ~1e-4 of the fixed point (test_em's NGC 288 figure); 1e-3 leaves room.
    np.testing.assert_allclose(res.params, plain_mixture(V, START), rtol=0, atol=1e-3)
    assert res.log_likelihood == pytest.approx(plain_log_likelihood(res.params, V), rel=1e-10)


def same_as_naive_em_step(res: Any, c: Ctx) -> None:
    np.testing.assert_allclose(res, helpers.em_step(START, V, VERR, deconvolve=False), rtol=1e-12, atol=1e-12)


def is_plain_log_likelihood(res: Any, c: Ctx) -> None:
    assert res == pytest.approx(plain_log_likelihood(START, V), rel=1e-12)


def is_plain_membership(res: Any, c: Ctx) -> None:
    a = START[4] * norm.pdf(V, START[0], START[1])
    b = (1 - START[4]) * norm.pdf(V, START[2], START[3])
    np.testing.assert_allclose(res, a / (a + b), rtol=1e-10)


def arrays_with_zero_errors(res: Any, c: Ctx) -> None:
    v, verr = res
    assert v.dtype == verr.dtype == np.float64 and np.all(verr == 0)


def floats_equal_to_ints(res: Any, c: Ctx) -> None:
    v, verr = res
    assert v.dtype == np.float64 and list(v) == [1.0, 2.0, 3.0] and list(verr) == [1.0, 1.0, 1.0]


def has_length(n: int) -> Callable[[Any, Ctx], None]:
    def check(res: Any, c: Ctx) -> None:
        assert len(res) == n

    return check


def fit_of_n_stars(n: int) -> Callable[[Any, Ctx], None]:
    def check(res: Any, c: Ctx) -> None:
        assert res.n_stars == n

    return check


def all_within(r_max: float, *, n: int) -> Callable[[Any, Ctx], None]:
    def check(res: Any, c: Ctx) -> None:
        assert len(res) == n and res.distance.max() <= r_max, (len(res), res.distance.max())

    return check


def finite_converged_fit(res: Any, c: Ctx) -> None:
    assert res.converged and np.isfinite(res.log_likelihood)


def same_as_generator(draw: Callable[[Any], Any]) -> Callable[[Any, Ctx], None]:
    """An int seed gives what ``np.random.default_rng(seed)`` gives."""

    def check(res: Any, c: Ctx) -> None:
        ref = draw(np.random.default_rng(0))
        for a, b in zip(np.atleast_1d(res) if not isinstance(res, tuple) else res,
                        np.atleast_1d(ref) if not isinstance(ref, tuple) else ref, strict=True):
            np.testing.assert_array_equal(a, b)

    return check


def tau_near_19(res: Any, c: Ctx) -> None:
    burn, thin, tau = res
    assert tau.shape == (5,) and np.all((tau > 14) & (tau < 25)), tau  # 50 tau << 2000 steps: ~10 % error
    assert burn >= 2 * 14 and thin >= 7


# ------------------------------------------------------------------ multi-step calls
def mutate_table_then_reload(c: Ctx) -> tuple[float, float, float]:
    """Change ``load_table().stars`` in place; a later load must not see it."""
    t = helpers.load_table(c.small_path)
    original = float(t.stars.velocity[0])
    with contextlib.suppress(ValueError):  # read-only arrays refusing the write is the other good answer
        t.stars.velocity[0] = 1e4
    again = helpers.load_table(c.small_path)
    return original, float(again.stars.velocity[0]), float(helpers.load_cluster("NGC 4147", again).velocity[0])


def _with(stars: np.recarray, **first: Any) -> np.recarray:
    """A copy of ``stars`` whose first record has the given field values."""
    stars = stars.copy()
    for field, value in first.items():
        stars[field][0] = value
    return stars


def all_equal(res: Any, c: Ctx) -> None:
    assert len(set(res)) == 1, res


def name_shadowed_by_a_file(c: Ctx) -> Any:
    """A file called like the cluster in the working directory must not replace the cluster."""
    c.monkeypatch.chdir(c.tmp)
    c.cluster_file("NGC 4147", n=15, mean=500.0)
    return helpers.fit_cluster("NGC 4147", table=c.table)


def is_the_real_ngc4147(res: Any, c: Ctx) -> None:
    assert res.n_stars == 21 and abs(res.mean - 180.0) < 10.0, (res.n_stars, res.mean)


def lines_with_newlines(c: Ctx) -> Any:
    return helpers.read_baumgardt_table([line + "\n" for line in c.lines]).stars


def same_stars_as_without_newlines(res: Any, c: Ctx) -> None:
    # field by field: numpy compares structured records with NaN fields (missing magnitudes) as
    # unequal, but assert_array_equal on a float array treats NaN == NaN
    assert res.dtype == c.table.stars.dtype
    for field in res.dtype.names:
        np.testing.assert_array_equal(res[field], c.table.stars[field], err_msg=field)


def duplicate_spelling(c: Ctx) -> Any:
    lines = list(c.lines)
    i = next(i for i, line in enumerate(lines) if line.startswith("NGC 4147 "))
    lines[i] = "NGC  4147" + lines[i][9:]  # same 9 characters, a second space
    return helpers.read_baumgardt_table(lines)


def latin1_table(c: Ctx) -> Any:
    path = c.tmp / "latin1_table.txt"
    path.write_bytes(("\n".join([c.lines[0] + "  Étoiles", *c.lines[1:]]) + "\n").encode("latin-1"))
    return helpers.read_baumgardt_table(path)


def in_rc_context(call: Callable[[], Any]) -> Any:
    import matplotlib as mpl

    with mpl.rc_context():
        return call()


def edge_maximum_params(c: Ctx) -> np.ndarray:
    """A maximum with an unresolved cluster dispersion: sigma1 = 0 sits on the edge."""
    rng = np.random.default_rng(3)
    verr = rng.uniform(2.0, 4.0, 400)
    v = np.where(rng.random(400) < 0.7, -40.0, rng.normal(0.0, 40.0, 400)) + verr * rng.normal(size=400)
    p = helpers.minimize_fit(v, verr, [-40.0, 1.0, 0.0, 40.0, 0.7], xatol=1e-10, fatol=1e-12).params.copy()
    p[1] = 1e-7  # on (numerically at) the edge sigma1 = 0
    return helpers.fisher_uncertainties(p, v, verr)


def mle(c: Ctx) -> np.ndarray:
    return helpers.em_fit(V, VERR, START).params


def identical_components(c: Ctx) -> np.ndarray:
    v = c.ngc288.velocity
    m, s = float(np.mean(v)), float(np.std(v))
    return np.array([m, s, m, s, 0.5])


# ------------------------------------------------------------------ the table
def case(id: str, call: Callable[[Ctx], Any], expect: Raises | Returns | Warns, *, timeout: float | None = None,
         marks: Any = ()) -> Any:
    return pytest.param(call, expect, timeout, id=id, marks=marks)


H = helpers

# The rows follow the package's argument order (helpers.py, "Argument order"): evaluations take the
# parameters first (model_density(params, grid, verr), membership_prior(p_centre, r_scale, R)),
# per-star arrays come as v, verr, distance, and options such as log_prior's bounds are keyword-only.
# Rows written before that convention was merged were reordered, their expectations unchanged.
CASES = [
    # ---------------------------------------------------------------- data access
    case("data_directory int", lambda c: H.data_directory(123), raises(TypeError, arg("data_dir"))),
    case("read_baumgardt_table None", lambda c: H.read_baumgardt_table(None), raises(TypeError, arg("source"))),
    case("read_baumgardt_table bytes", lambda c: H.read_baumgardt_table(b"Cluster E_RV"),
         raises(TypeError, arg("source"))),
    case("read_baumgardt_table file contents as str",
         lambda c: H.read_baumgardt_table("\n".join(c.lines)), raises(ValueError, arg("source"), "splitlines")),
    case("read_baumgardt_table missing file", lambda c: H.read_baumgardt_table(c.tmp / "nope.txt"),
         raises(FileNotFoundError, "nope.txt")),
    case("read_baumgardt_table Latin-1 file", latin1_table,
         raises(H.DataFormatError, "latin1_table.txt", "(?i)ascii")),
    case("read_baumgardt_table lines from readlines()", lines_with_newlines, Returns(same_stars_as_without_newlines)),
    case("read_baumgardt_table names equal up to spaces", duplicate_spelling,
         raises(H.DataFormatError, "'NGC  4147'", "'NGC 4147'")),
    case("load_table int", lambda c: H.load_table(123), raises(TypeError, arg("path"))),
    case("load_table missing file", lambda c: H.load_table(c.tmp / "nope.txt"),
         raises(FileNotFoundError, "nope.txt")),
    case("load_table().stars changed in place", mutate_table_then_reload, Returns(all_equal)),
    case("load_table a directory", lambda c: H.load_table(c.tmp), raises(IsADirectoryError, "test_bad_input")),
    case("cluster_names given a name", lambda c: H.cluster_names("NGC 288"), raises(TypeError, arg("table"))),
    case("load_cluster None", lambda c: H.load_cluster(None, c.table), raises(TypeError, arg("name"))),
    case("load_cluster int", lambda c: H.load_cluster(288, c.table), raises(TypeError, arg("name"))),
    case("load_cluster list of str", lambda c: H.load_cluster(["NGC 4147"], c.table), raises(TypeError, arg("name"))),
    case("load_cluster table as path", lambda c: H.load_cluster("NGC 4147", str(c.small_path)),
         raises(TypeError, arg("table"))),
    case("load_cluster unknown name", lambda c: H.load_cluster("NGC 9999", c.table),
         raises(KeyError, "NGC 9999", "cluster_names")),
    case("load_cluster case and spaces ignored", lambda c: H.load_cluster("ngc4147", c.table),
         Returns(has_length(21))),
    case("load_cluster_file skiprows=-1", lambda c: H.load_cluster_file(c.cluster_file(), skiprows=-1),
         raises(ValueError, arg("skiprows"))),
    case("load_cluster_file skiprows float", lambda c: H.load_cluster_file(c.cluster_file(), skiprows=2.0),
         raises(TypeError, arg("skiprows"))),
    case("load_cluster_file usecols of two", lambda c: H.load_cluster_file(c.cluster_file(), usecols=(4, 5)),
         raises(ValueError, arg("usecols"))),
    case("load_cluster_file without header lines", lambda c: H.load_cluster_file(c.cluster_file(header=False)),
         raises(H.DataFormatError, "cluster.txt", arg("skiprows"))),
    case("load_cluster_file header-less with skiprows=0",
         lambda c: H.load_cluster_file(c.cluster_file(header=False), skiprows=0),
         Returns(has_length(25))),
    case("load_cluster_file Latin-1 file",
         lambda c: H.load_cluster_file(c.cluster_file("latin1_cluster.txt", encoding="latin-1",
                                                      first_line="# Étoiles: vitesse ± erreur [km/s]")),
         raises(H.DataFormatError, "latin1_cluster.txt", "(?i)utf-?8")),
    case("load_cluster_file missing file", lambda c: H.load_cluster_file(c.tmp / "nope.txt"),
         raises(FileNotFoundError, "nope.txt")),
    case("load_cluster_file zero error in the file",
         lambda c: H.load_cluster_file(c.text_file("z.txt", "h\nh\n1 0 0 1 10.0 5.0 0.0\n")),
         raises(H.DataFormatError, "z.txt", "line 3")),
    case("load_cluster_file None", lambda c: H.load_cluster_file(None), raises(TypeError, arg("path"))),
    case("load_cluster_file empty file", lambda c: H.load_cluster_file(c.cluster_file(n=0)),
         raises(H.DataFormatError, "cluster.txt")),
    # ---------------------------------------------------------------- validate_data
    case("validate_data verr=0 accepted", lambda c: H.validate_data(V, ZERO), Returns(arrays_with_zero_errors)),
    case("validate_data ints accepted", lambda c: H.validate_data([1, 2, 3], [1, 1, 1]), Returns(floats_equal_to_ints)),
    case("validate_data negative verr", lambda c: H.validate_data(V, -VERR), raises(ValueError, arg("verr"))),
    case("validate_data empty", lambda c: H.validate_data([], []), raises(ValueError, arg("v"))),
    case("validate_data length mismatch", lambda c: H.validate_data(V, VERR[:-1]), raises(ValueError, arg("verr"))),
    case("validate_data scalar verr", lambda c: H.validate_data(V, 2.0), raises(ValueError, arg("verr"))),
    case("validate_data column vector", lambda c: H.validate_data(V[:, None], VERR), raises(ValueError, arg("v"))),
    case("validate_data NaN", lambda c: H.validate_data(np.r_[V[:3], np.nan], VERR[:4]), raises(ValueError, arg("v"))),
    case("validate_data inf verr", lambda c: H.validate_data(V[:3], [1.0, np.inf, 1.0]),
         raises(ValueError, arg("verr"))),
    case("validate_data None", lambda c: H.validate_data(None, VERR), raises(TypeError, arg("v"))),
    case("validate_data numeric strings", lambda c: H.validate_data(["1", "2"], [1.0, 1.0]),
         raises(TypeError, arg("v"))),
    case("validate_data words", lambda c: H.validate_data(["a", "b"], [1.0, 1.0]), raises(TypeError, arg("v"))),
    case("validate_data dict", lambda c: H.validate_data({"v": V}, VERR), raises(TypeError, arg("v"))),
    case("validate_data complex", lambda c: H.validate_data(V + 1j, VERR), raises(TypeError, arg("v"))),
    case("validate_data booleans", lambda c: H.validate_data(V > 0, VERR), raises(TypeError, arg("v"))),
    case("validate_data ragged", lambda c: H.validate_data([[1.0, 2.0], [3.0]], [1.0, 1.0]),
         raises(ValueError, arg("v"))),
    case("validate_data star at 1e8 km/s", lambda c: H.validate_data(V_OUTLIER, VERR),
         Warns(UserWarning, r"v\[7\]")),
    # ---------------------------------------------------------------- likelihood and densities
    case("log_likelihood verr=0 is the plain mixture", lambda c: H.log_likelihood(START, V, ZERO),
         Returns(is_plain_log_likelihood)),
    case("log_likelihood zero total variance", lambda c: H.log_likelihood([-40.0, 0.0, 0.0, 30.0, 0.5], V, ZERO),
         raises(ValueError, arg("verr"), arg("sigma1"))),
    case("log_likelihood params None", lambda c: H.log_likelihood(None, V, VERR), raises(TypeError, arg("params"))),
    case("log_likelihood params dict", lambda c: H.log_likelihood({"mean1": 0}, V, VERR),
         raises(TypeError, arg("params"))),
    case("log_likelihood four params", lambda c: H.log_likelihood(START[:4], V, VERR),
         raises(ValueError, arg("params"))),
    case("component_log_densities length mismatch", lambda c: H.component_log_densities(START, V, VERR[:-1]),
         raises(ValueError, arg("verr"))),
    case("membership_probability verr=0 is the plain mixture", lambda c: H.membership_probability(START, V, ZERO),
         Returns(is_plain_membership)),
    case("membership_probability frac1 > 1", lambda c: H.membership_probability([-40, 5, 0, 30, 1.5], V, VERR),
         raises(ValueError, arg("params"), arg("frac1"))),
    case("model_density empty verr", lambda c: H.model_density(START, [0.0, 1.0], []),
         raises(ValueError, arg("verr"))),
    case("model_density negative verr", lambda c: H.model_density(START, [0.0, 1.0], -VERR),
         raises(ValueError, arg("verr"))),
    case("model_density scalar grid", lambda c: H.model_density(START, 3.0, VERR), raises(ValueError, arg("grid"))),
    case("model_density NaN in grid", lambda c: H.model_density(START, [0.0, np.nan], VERR),
         raises(ValueError, arg("grid"))),
    case("model_density invalid params", lambda c: H.model_density([-40, 30, 0, 5, 0.5], [0.0], VERR),
         raises(ValueError, arg("params"))),
    # ---------------------------------------------------------------- initial guess
    case("initial_guess empty", lambda c: H.initial_guess([], distance=[]), raises(ValueError, arg("v"))),
    case("initial_guess NaN velocity", lambda c: H.initial_guess(np.r_[np.nan, V[1:]], distance=DIST),
         raises(ValueError, arg("v"))),
    case("initial_guess NaN distances", lambda c: H.initial_guess(V, distance=np.where(DIST < 300, np.nan, DIST)),
         raises(ValueError, arg("distance"))),
    case("initial_guess negative distances", lambda c: H.initial_guess(V, distance=-DIST),
         raises(ValueError, arg("distance"))),
    case("initial_guess length mismatch", lambda c: H.initial_guess(V, distance=DIST[:-1]),
         raises(ValueError, arg("distance"))),
    case("initial_guess inner_fraction str", lambda c: H.initial_guess(V, distance=DIST, inner_fraction="0.25"),
         raises(TypeError, arg("inner_fraction"))),
    case("initial_guess inner_fraction 0", lambda c: H.initial_guess(V, distance=DIST, inner_fraction=0),
         raises(ValueError, arg("inner_fraction"))),
    # ---------------------------------------------------------------- EM
    case("em_step verr=0 is the naive step", lambda c: H.em_step(START, V, ZERO), Returns(same_as_naive_em_step)),
    case("em_step deconvolve str", lambda c: H.em_step(START, V, VERR, deconvolve="no"),
         raises(TypeError, arg("deconvolve"))),
    case("em_step params 2-D", lambda c: H.em_step(START[None, :], V, VERR), raises(ValueError, arg("params"))),
    case("em_fit verr=0 is the plain mixture", lambda c: H.em_fit(V, ZERO, START), Returns(is_plain_mixture_fit)),
    case("em_fit verr=0 equals deconvolve=False",
         lambda c: (H.em_fit(V, ZERO, START).params, H.em_fit(V, VERR, START, deconvolve=False).params),
         Returns(lambda r, c: np.testing.assert_allclose(r[0], r[1], rtol=1e-10, atol=1e-10))),
    case("em_fit some verr=0", lambda c: H.em_fit(V, np.where(np.arange(N) % 3 == 0, 0.0, VERR), START),
         Returns(finite_converged_fit)),
    case("em_fit zero total variance", lambda c: H.em_fit(V, ZERO, [-40.0, 0.0, 0.0, 30.0, 0.5]),
         raises(ValueError, arg("verr"), arg("sigma1"))),
    case("em_fit max_iter=0", lambda c: H.em_fit(V, VERR, START, max_iter=0), raises(ValueError, arg("max_iter"))),
    case("em_fit max_iter=-1", lambda c: H.em_fit(V, VERR, START, max_iter=-1), raises(ValueError, arg("max_iter"))),
    case("em_fit max_iter float", lambda c: H.em_fit(V, VERR, START, max_iter=2.5),
         raises(TypeError, arg("max_iter"))),
    case("em_fit tol=0", lambda c: H.em_fit(V, VERR, START, tol=0.0), raises(ValueError, arg("tol"))),
    case("em_fit tol<0", lambda c: H.em_fit(V, VERR, START, tol=-1.0), raises(ValueError, arg("tol"))),
    case("em_fit tol NaN", lambda c: H.em_fit(V, VERR, START, tol=np.nan), raises(ValueError, arg("tol"))),
    case("em_fit tol str", lambda c: H.em_fit(V, VERR, START, tol="1e-6"), raises(TypeError, arg("tol"))),
    case("em_fit max_iter passed positionally as tol", lambda c: H.em_fit(V, VERR, START, 500),
         raises(TypeError, "positional")),
    case("em_fit init None", lambda c: H.em_fit(V, VERR, None), raises(TypeError, arg("init"))),
    case("em_fit init four values", lambda c: H.em_fit(V, VERR, START[:4]), raises(ValueError, arg("init"))),
    case("em_fit init sigma1 > sigma2", lambda c: H.em_fit(V, VERR, [-40.0, 30.0, 0.0, 5.0, 0.5]),
         raises(ValueError, arg("init"), arg("sigma1"))),
    case("em_fit one star", lambda c: H.em_fit([1.0], [1.0], [1.0, 1.0, 2.0, 3.0, 0.5]),
         raises(ValueError, arg("v"))),
    case("em_fit identical components (saddle)",
         lambda c: H.em_fit(c.ngc288.velocity, c.ngc288.velocity_error, identical_components(c)),
         Warns(H.EMConvergenceWarning, "(?i)identical|saddle", not_converged)),
    case("em_fit all errors 1e6", lambda c: H.em_fit(V, np.full(N, 1e6), START),
         Warns(H.EMConvergenceWarning, "(?i)errors|start", not_converged)),
    case("em_fit star at 1e8 km/s", lambda c: H.em_fit(V_OUTLIER, VERR, START), Warns(UserWarning, r"v\[7\]")),
    case("em_fit from its own optimum is converged", lambda c: H.em_fit(V, VERR, mle(c)),
         Returns(finite_converged_fit)),
    case("em_fit ordinary data: no warning", lambda c: H.em_fit(V, VERR, START), Returns(finite_converged_fit)),
    case("em_fit deconvolve str", lambda c: H.em_fit(V, VERR, START, deconvolve="False"),
         raises(TypeError, arg("deconvolve"))),
    case("random_starts int seed", lambda c: H.random_starts(V, 10, rng=0),
         Returns(same_as_generator(lambda g: H.random_starts(V, 10, rng=g)))),
    case("random_starts n_starts=-3", lambda c: H.random_starts(V, -3, rng=0), raises(ValueError, arg("n_starts"))),
    case("random_starts n_starts=0", lambda c: H.random_starts(V, 0, rng=0), raises(ValueError, arg("n_starts"))),
    case("random_starts n_starts float", lambda c: H.random_starts(V, 2.5, rng=0),
         raises(TypeError, arg("n_starts"))),
    case("random_starts narrow_fraction 1.5", lambda c: H.random_starts(V, 10, rng=0, narrow_fraction=1.5),
         raises(ValueError, arg("narrow_fraction"))),
    case("random_starts rng None", lambda c: H.random_starts(V, 10, rng=None),
         raises(TypeError, arg("rng"), "Generator")),
    case("random_starts rng RandomState", lambda c: H.random_starts(V, 10, rng=np.random.RandomState(0)),
         raises(TypeError, arg("rng"), "Generator")),
    case("random_starts empty v", lambda c: H.random_starts([], 10, rng=0), raises(ValueError, arg("v"))),
    case("random_starts NaN in v", lambda c: H.random_starts(np.r_[np.nan, V], 10, rng=0),
         raises(ValueError, arg("v"))),
    case("em_multi_start no starts", lambda c: H.em_multi_start(V, VERR, []), raises(ValueError, arg("starts"))),
    case("em_multi_start rows of four", lambda c: H.em_multi_start(V, VERR, np.ones((3, 4))),
         raises(ValueError, arg("starts"))),
    case("em_multi_start invalid row", lambda c: H.em_multi_start(V, VERR, [START, [0, 1, 0, 2, 2.0]]),
         raises(ValueError, r"starts\[1\]")),
    case("em_multi_start max_iter=0", lambda c: H.em_multi_start(V, VERR, [START], max_iter=0),
         raises(ValueError, arg("max_iter"))),
    case("em_multi_start old spelling maxiter", lambda c: H.em_multi_start(V, VERR, [START], maxiter=10),
         raises(TypeError, "maxiter")),
    # ---------------------------------------------------------------- other fitters
    case("minimize_fit one star", lambda c: H.minimize_fit([1.0], [1.0], [1.0, 1.0, 2.0, 3.0, 0.5]),
         raises(ValueError, arg("v"))),
    case("minimize_fit unknown method", lambda c: H.minimize_fit(V, VERR, START, method="foo"),
         raises(ValueError, arg("method"), "foo")),
    case("minimize_fit misspelt option", lambda c: H.minimize_fit(V, VERR, START, xtol_typo=1e-6),
         raises(TypeError, "xtol_typo")),
    case("minimize_fit max_iter honoured", lambda c: H.minimize_fit(V, VERR, START, max_iter=3),
         Returns(not_converged)),
    case("minimize_fit init None", lambda c: H.minimize_fit(V, VERR, None), raises(TypeError, arg("init"))),
    case("fisher_uncertainties rel_step=0", lambda c: H.fisher_uncertainties(mle(c), V, VERR, rel_step=0.0),
         raises(ValueError, arg("rel_step"))),
    case("fisher_uncertainties rel_step=1", lambda c: H.fisher_uncertainties(mle(c), V, VERR, rel_step=1.0),
         raises(ValueError, arg("rel_step"))),
    case("fisher_uncertainties rel_step NaN", lambda c: H.fisher_uncertainties(mle(c), V, VERR, rel_step=np.nan),
         raises(ValueError, arg("rel_step"))),
    case("fisher_uncertainties rel_step<0", lambda c: H.fisher_uncertainties(mle(c), V, VERR, rel_step=-1e-4),
         raises(ValueError, arg("rel_step"))),
    case("fisher_uncertainties rel_step str", lambda c: H.fisher_uncertainties(mle(c), V, VERR, rel_step="1e-4"),
         raises(TypeError, arg("rel_step"))),
    case("fisher_uncertainties at an edge maximum", edge_maximum_params, raises(ValueError, arg("sigma1"))),
    case("sample_mock int seed", lambda c: H.sample_mock(START, VERR, rng=0),
         Returns(same_as_generator(lambda g: H.sample_mock(START, VERR, rng=g)))),
    case("sample_mock verr=0", lambda c: H.sample_mock(START, ZERO, rng=0), Returns()),
    case("sample_mock negative verr", lambda c: H.sample_mock(START, -VERR, rng=0), raises(ValueError, arg("verr"))),
    case("sample_mock NaN verr", lambda c: H.sample_mock(START, np.r_[np.nan, VERR], rng=0),
         raises(ValueError, arg("verr"))),
    case("sample_mock invalid params", lambda c: H.sample_mock([-40, 30, 0, 5, 0.5], VERR, rng=0),
         raises(ValueError, arg("params"))),
    case("sample_mock rng None", lambda c: H.sample_mock(START, VERR, rng=None), raises(TypeError, arg("rng"))),
    case("fit_bovy_xd max_iter=0", lambda c: H.fit_bovy_xd(V, VERR, START, max_iter=0),
         raises(ValueError, arg("max_iter"))),
    case("fit_bovy_xd init None", lambda c: H.fit_bovy_xd(V, VERR, None), raises(TypeError, arg("init"))),
    case("fit_bovy_xd negative verr", lambda c: H.fit_bovy_xd(V, -VERR, START), raises(ValueError, arg("verr"))),
    case("fit_astroml_xd max_iter=0 from a start", lambda c: H.fit_astroml_xd(V, VERR, START, max_iter=0),
         raises(ValueError, arg("max_iter"))),
    case("fit_astroml_xd max_iter=0 default start", lambda c: H.fit_astroml_xd(V, VERR, max_iter=0),
         raises(ValueError, arg("max_iter"))),
    case("fit_astroml_xd total_tol<0", lambda c: H.fit_astroml_xd(V, VERR, START, total_tol=-1.0),
         raises(ValueError, arg("total_tol"))),
    case("fit_astroml_xd rng str", lambda c: H.fit_astroml_xd(V, VERR, rng="zero"),
         raises(TypeError, arg("rng"), "Generator")),
    case("fit_astroml_xd verr=0 is the plain mixture",
         lambda c: H.fit_astroml_xd(V, ZERO, START, total_tol=1e-10, max_iter=10_000), Returns(is_plain_mixture_fit)),
    case("fit_astroml_xd identical components (saddle)",
         lambda c: H.fit_astroml_xd(c.ngc288.velocity, c.ngc288.velocity_error, identical_components(c)),
         Warns(H.EMConvergenceWarning, "(?i)identical|saddle", not_converged)),
    case("fit_astroml_xd star at 1e8 km/s", lambda c: H.fit_astroml_xd(V_OUTLIER, VERR, max_iter=20),
         Warns(UserWarning, r"v\[7\]")),
    # ---------------------------------------------------------------- distance-aware model
    case("fit_cluster None", lambda c: H.fit_cluster(None, table=c.table), raises(TypeError, arg("cluster"))),
    case("fit_cluster list", lambda c: H.fit_cluster([1.0, 2.0], table=c.table), raises(TypeError, arg("cluster"))),
    case("fit_cluster plain ndarray", lambda c: H.fit_cluster(V, table=c.table), raises(TypeError, arg("cluster"))),
    case("fit_cluster name shadowed by a file in cwd", name_shadowed_by_a_file, Returns(is_the_real_ngc4147)),
    case("fit_cluster str path is a name", lambda c: H.fit_cluster(str(c.cluster_file()), table=c.table),
         raises(KeyError, r"pathlib\.Path")),
    case("fit_cluster pathlib.Path is a file", lambda c: H.fit_cluster(c.cluster_file()),
         Returns(fit_of_n_stars(25))),
    case("fit_cluster max_field=0", lambda c: H.fit_cluster("NGC 4147", table=c.table, max_field=0),
         raises(ValueError, arg("max_field"))),
    case("fit_cluster n_random=-1", lambda c: H.fit_cluster("NGC 4147", table=c.table, n_random=-1),
         raises(ValueError, arg("n_random"))),
    case("fit_cluster rng str", lambda c: H.fit_cluster("NGC 4147", table=c.table, rng="zero"),
         raises(TypeError, arg("rng"), "Generator")),
    case("fit_cluster NaN distance",
         lambda c: H.fit_cluster(_with(H.load_cluster("NGC 4147", c.table), distance=np.nan), table=c.table),
         raises(ValueError, arg("distance"))),
    case("fit_cluster too few stars", lambda c: H.fit_cluster(H.load_cluster("NGC 4147", c.table)[:5]),
         raises(ValueError, "at least 10")),
    case("membership_prior p_centre=0", lambda c: H.membership_prior(0.0, 100.0, DIST),
         raises(ValueError, arg("p_centre"))),
    case("membership_prior p_centre=1", lambda c: H.membership_prior(1.0, 100.0, DIST),
         raises(ValueError, arg("p_centre"))),
    case("membership_prior p_centre=1.5", lambda c: H.membership_prior(1.5, 100.0, DIST),
         raises(ValueError, arg("p_centre"))),
    case("membership_prior r_scale=0", lambda c: H.membership_prior(0.5, 0.0, DIST),
         raises(ValueError, arg("r_scale"))),
    case("membership_prior negative R", lambda c: H.membership_prior(0.5, 100.0, -DIST), raises(ValueError, arg("R"))),
    case("format_cluster_fit None", lambda c: H.format_cluster_fit(None), raises(TypeError, arg("fit"))),
    case("mock_cluster_field r_max=0", lambda c: H.mock_cluster_field(50, [(50, 0, 30)], rng=0, r_max=0.0),
         raises(ValueError, arg("r_max")), timeout=10),
    case("mock_cluster_field r_max<0", lambda c: H.mock_cluster_field(50, [(50, 0, 30)], rng=0, r_max=-1.0),
         raises(ValueError, arg("r_max")), timeout=10),
    case("mock_cluster_field r_max << r_scale",
         lambda c: H.mock_cluster_field(50, [(50, 0, 30)], rng=0, r_max=1e-3, r_scale=100.0),
         Returns(all_within(1e-3, n=100)),
         timeout=10),
    case("mock_cluster_field r_scale=0", lambda c: H.mock_cluster_field(50, [], rng=0, r_scale=0.0),
         raises(ValueError, arg("r_scale")), timeout=10),
    case("mock_cluster_field r_scale<0", lambda c: H.mock_cluster_field(50, [], rng=0, r_scale=-100.0),
         raises(ValueError, arg("r_scale")), timeout=10),
    case("mock_cluster_field n_members<0", lambda c: H.mock_cluster_field(-5, [], rng=0),
         raises(ValueError, arg("n_members")), timeout=10),
    case("mock_cluster_field n_members float", lambda c: H.mock_cluster_field(2.5, [], rng=0),
         raises(TypeError, arg("n_members")), timeout=10),
    case("mock_cluster_field field of pairs", lambda c: H.mock_cluster_field(50, [(10, 0.0)], rng=0),
         raises(ValueError, arg("field")), timeout=10),
    case("mock_cluster_field one field tuple not in a list", lambda c: H.mock_cluster_field(50, (10, 0.0, 30.0), rng=0),
         raises(TypeError, arg("field")), timeout=10),
    case("mock_cluster_field negative dispersion", lambda c: H.mock_cluster_field(50, [], rng=0, dispersion=-5.0),
         raises(ValueError, arg("dispersion")), timeout=10),
    case("mock_cluster_field negative err_range", lambda c: H.mock_cluster_field(50, [], rng=0, err_range=(-1, 1)),
         raises(ValueError, arg("err_range")), timeout=10),
    case("mock_cluster_field reversed err_range", lambda c: H.mock_cluster_field(50, [], rng=0, err_range=(3, 0.5)),
         raises(ValueError, arg("err_range"), "swap"), timeout=10),
    case("mock_cluster_field negative field sigma", lambda c: H.mock_cluster_field(50, [(10, 0.0, -5.0)], rng=0),
         raises(ValueError, arg("field")), timeout=10),
    case("mock_cluster_field rng None", lambda c: H.mock_cluster_field(50, [], rng=None),
         raises(TypeError, arg("rng")), timeout=10),
    case("mock_cluster_field int seed", lambda c: H.mock_cluster_field(50, [(20, 0, 30)], rng=0).velocity,
         Returns(same_as_generator(lambda g: H.mock_cluster_field(50, [(20, 0, 30)], rng=g).velocity)), timeout=10),
    case("survey given a name", lambda c: H.survey("NGC 288"), raises(TypeError, arg("table"))),
    case("survey processes=0", lambda c: H.survey(c.table, processes=0), raises(ValueError, arg("processes"))),
    case("survey min_stars below what fit_cluster needs", lambda c: H.survey(c.table, min_stars=5, processes=1),
         raises(ValueError, arg("min_stars"))),
    case("survey max_field=0", lambda c: H.survey(c.table, max_field=0, processes=1),
         raises(ValueError, arg("max_field"))),
    case("survey rng str", lambda c: H.survey(c.table, rng="zero", processes=1),
         raises(TypeError, arg("rng"), "Generator")),
    case("write_survey_csv fits None", lambda c: H.write_survey_csv(c.tmp / "s.csv", None, c.table),
         raises(TypeError, arg("fits"))),
    case("write_survey_csv table None", lambda c: H.write_survey_csv(c.tmp / "s.csv", [], None),
         raises(TypeError, arg("table"))),
    case("pmem_weighted_mean given an array", lambda c: H.pmem_weighted_mean(V), raises(TypeError, arg("stars"))),
    # ---------------------------------------------------------------- posterior sampling
    case("log_prior reversed box", lambda c: H.log_prior(START, bounds={"mean": (1000, -1000), "sigma": (0, 500)}),
         raises(ValueError, arg("bounds"))),
    case("log_prior missing key", lambda c: H.log_prior(START, bounds={"mean": (-1000, 1000)}),
         raises(ValueError, arg("bounds"), "sigma")),
    case("log_prior infinite box", lambda c: H.log_prior(
        START, bounds={"mean": (-np.inf, np.inf), "sigma": (0, np.inf)}),
         raises(ValueError, arg("bounds"))),
    case("log_posterior reversed box", lambda c: H.log_posterior(
        START, V, VERR, bounds={"mean": (1, -1), "sigma": (0, 5)}),
         raises(ValueError, arg("bounds"))),
    case("log_posterior verr=0", lambda c: H.log_posterior(START, V, ZERO), Returns(is_plain_log_likelihood)),
    case("init_walkers too few", lambda c: H.init_walkers(START, 5, rng=0), raises(ValueError, arg("n_walkers"))),
    case("init_walkers n_walkers float", lambda c: H.init_walkers(START, 10.5, rng=0),
         raises(TypeError, arg("n_walkers"))),
    case("init_walkers scale=0", lambda c: H.init_walkers(START, 32, rng=0, scale=0.0),
         raises(ValueError, arg("scale"))),
    case("init_walkers scale too large", lambda c: H.init_walkers(START, 32, rng=0, scale=1e3),
         raises(ValueError, arg("scale")), timeout=20),
    case("init_walkers outside the prior", lambda c: H.init_walkers([0, 1, 0, 2, 1.0], 32, rng=0),
         raises(ValueError, arg("best"))),
    case("init_walkers int seed", lambda c: H.init_walkers(START, 32, rng=0),
         Returns(same_as_generator(lambda g: H.init_walkers(START, 32, rng=g)))),
    case("make_sampler too few walkers", lambda c: H.make_sampler(V, VERR, 5, rng=0),
         raises(ValueError, arg("n_walkers"))),
    case("make_sampler negative seed", lambda c: H.make_sampler(V, VERR, 32, rng=-1), raises(ValueError, arg("rng"))),
    case("make_sampler Generator", lambda c: H.make_sampler(V, VERR, 32, rng=np.random.default_rng(0)),
         Returns(lambda r, c: np.testing.assert_equal(r.nwalkers, 32))),
    case("make_sampler verr=0", lambda c: H.make_sampler(V, ZERO, 32, rng=0), Returns()),
    case("burn_thin_from_autocorr full chain", lambda c: H.burn_thin_from_autocorr(CHAIN), Returns(tau_near_19)),
    case("burn_thin_from_autocorr flattened chain", lambda c: H.burn_thin_from_autocorr(CHAIN.reshape(-1, 5)),
         raises(ValueError, arg("chain"), "flat")),
    case("burn_thin_from_autocorr 1-D chain", lambda c: H.burn_thin_from_autocorr(CHAIN[:, 0, 0]),
         raises(ValueError, arg("chain"))),
    case("burn_thin_from_autocorr NaN in chain", lambda c: H.burn_thin_from_autocorr(CHAIN_NAN),
         raises(ValueError, arg("chain"))),
    case("burn_thin_from_autocorr n_tau<0", lambda c: H.burn_thin_from_autocorr(CHAIN, n_tau=-1.0),
         raises(ValueError, arg("n_tau"))),
    case("burn_thin_from_autocorr short chain", lambda c: H.burn_thin_from_autocorr(CHAIN[:200]),
         raises(__import__("emcee").autocorr.AutocorrError, "chain", ours=False)),
    case("percentile_summary 3-D chain", lambda c: H.percentile_summary(CHAIN), raises(ValueError, arg("samples"))),
    case("percentile_summary names too short", lambda c: H.percentile_summary(CHAIN[0], names=["a"]),
         raises(ValueError, arg("names"))),
    case("percentile_summary empty", lambda c: H.percentile_summary(np.empty((0, 5))),
         raises(ValueError, arg("samples"))),
    case("write_member_catalogue threshold 1.5",
         lambda c: H.write_member_catalogue(c.tmp / "m.csv", H.load_cluster("Pal 3", c.table),
                                            np.full(25, 0.9), np.zeros(25),
                                            threshold=1.5),
         raises(ValueError, arg("threshold"))),
    case("write_member_catalogue threshold str",
         lambda c: H.write_member_catalogue(c.tmp / "m.csv", H.load_cluster("Pal 3", c.table),
                                            np.full(25, 0.9), np.zeros(25),
                                            threshold="0.5"),
         raises(TypeError, arg("threshold"))),
    case("write_member_catalogue stars None",
         lambda c: H.write_member_catalogue(c.tmp / "m.csv", None, np.full(46, 0.9), np.zeros(46)),
         raises(TypeError, arg("stars"))),
    case("write_member_catalogue NaN probability",
         lambda c: H.write_member_catalogue(c.tmp / "m.csv", H.load_cluster("Pal 3", c.table),
                                            np.r_[np.nan, np.full(24, 0.9)],
                                            np.zeros(46)),
         raises(ValueError, arg("p_member"))),
    case("write_member_catalogue length mismatch",
         lambda c: H.write_member_catalogue(c.tmp / "m.csv", H.load_cluster("Pal 3", c.table),
                                            np.full(24, 0.9), np.zeros(24)),
         raises(ValueError, arg("p_member"))),
    case("format_params three values", lambda c: H.format_params([1.0, 2.0, 3.0]), raises(ValueError, arg("params"))),
    case("format_params broken fmt", lambda c: H.format_params(START, fmt="{:9.4"), raises(ValueError, arg("fmt"))),
    case("format_params names None", lambda c: H.format_params(START, names=None), raises(TypeError, arg("names"))),
    # ---------------------------------------------------------------- plots
    case("notebook_style dpi=0", lambda c: in_rc_context(lambda: H.notebook_style(dpi=0)),
         raises(ValueError, arg("dpi"))),
    case("plot_velocity_vs_distance length mismatch", lambda c: H.plot_velocity_vs_distance(V, VERR[:-1], DIST),
         raises(ValueError, arg("verr"))),
    case("plot_velocity_vs_distance empty", lambda c: H.plot_velocity_vs_distance([], [], []),
         raises(ValueError, arg("v"))),
    case("plot_velocity_vs_distance percentiles reversed",
         lambda c: H.plot_velocity_vs_distance(V, VERR, DIST, percentiles=(98, 2)),
         raises(ValueError, arg("percentiles"))),
    case("plot_velocity_vs_distance ax str", lambda c: H.plot_velocity_vs_distance(V, VERR, DIST, ax="left"),
         raises(TypeError, arg("ax"))),
    case("plot_membership probability 1.5", lambda c: H.plot_membership(V, DIST, np.full(N, 1.5)),
         raises(ValueError, arg("prob"))),
    case("plot_membership length mismatch", lambda c: H.plot_membership(V, DIST, np.full(N - 1, 0.5)),
         raises(ValueError, arg("prob"))),
    case("plot_model_vs_mock int seed", lambda c: H.plot_model_vs_mock(START, V, VERR, rng=0), Returns()),
    case("plot_model_vs_mock rng None", lambda c: H.plot_model_vs_mock(START, V, VERR, rng=None),
         raises(TypeError, arg("rng"))),
    case("plot_model_vs_mock bins str", lambda c: H.plot_model_vs_mock(START, V, VERR, rng=0, bins="auto"),
         raises(TypeError, arg("bins"))),
    case("plot_model_vs_mock bins int", lambda c: H.plot_model_vs_mock(START, V, VERR, rng=0, bins=30),
         Returns(lambda ax, c: np.testing.assert_equal(len(ax.patches), 2))),
]


@pytest.mark.parametrize(("call", "expect", "timeout"), CASES)
def test_bad_input(call, expect, timeout, ctx):
    out = _run_with_timeout(call, ctx, timeout) if timeout else _run(call, ctx)
    if isinstance(expect, Raises):
        expect.verify(out)
    else:
        expect.verify(out, ctx)


def test_case_ids_are_unique():
    ids = [p.id for p in CASES]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]
