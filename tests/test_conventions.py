"""The conventions of helpers.py's docstring, checked by introspection over every public function.

Each rule is one test over ``helpers.__all__``.  Violations that live in modules owned elsewhere are
listed in ``KNOWN_VIOLATIONS`` - explicitly, not skipped: a test fails both on a new violation and on
a listed one that has been fixed (then delete its line), so the list can only shrink.
"""

from __future__ import annotations

import inspect
import pathlib
import re
import sys

import numpy as np
import pytest

import helpers

ROOT = pathlib.Path(__file__).resolve().parent.parent

#: (function, rule) pairs known to break a rule, each in a module another change owns.
KNOWN_VIOLATIONS: set[tuple[str, str]] = set()

#: Source files that still name a variance with a trailing 2 (verr2, s2, sig2, e2): rename to *_var.
KNOWN_SQUARE_NAMES: set[str] = set()


def _public_functions() -> list[tuple[str, inspect.Signature, str]]:
    out = []
    for name in helpers.__all__:
        obj = getattr(helpers, name)
        if inspect.isfunction(obj):
            out.append((name, inspect.signature(obj), inspect.getdoc(obj) or ""))
            MODULES[name] = obj.__module__
    return out


MODULES: dict[str, str] = {}  # public name -> the module that defines it


FUNCTIONS = _public_functions()
POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _check(rule: str, broken: set[str]) -> None:
    """Compare the functions that break ``rule`` with those listed for it."""
    known = {f for f, r in KNOWN_VIOLATIONS if r == rule}
    assert broken - known == set(), f"new violations of the {rule!r} convention (helpers.py): {sorted(broken - known)}"
    assert known - broken == set(), f"fixed, so delete from KNOWN_VIOLATIONS: {sorted(known - broken)}"


def test_the_introspection_sees_the_api():
    names = {n for n, _, _ in FUNCTIONS}
    assert {"em_fit", "make_sampler", "xd_step", "plot_model_vs_mock", "burn_thin_from_autocorr"} <= names
    assert len(FUNCTIONS) > 40


def test_randomness_is_one_keyword_only_rng_with_default_zero():
    broken = set()
    for name, sig, _ in FUNCTIONS:
        for p in sig.parameters.values():
            if p.name in ("seed", "random_state", "random", "generator"):
                broken.add(name)  # randomness under another name
        p = sig.parameters.get("rng")
        if p is not None and not (p.kind is inspect.Parameter.KEYWORD_ONLY and p.default == 0
                                  and type(p.default) is int):
            broken.add(name)
    _check("rng", broken)


def test_none_is_refused_as_a_seed_by_the_one_conversion():
    """The rule's other half: rng=None (fresh entropy, not reproducible) is refused, naming rng."""
    v = [1.0, 2.0, 3.0, 10.0, 11.0, 12.0]
    calls = (
        lambda: helpers.random_starts(v, 4, rng=None),
        lambda: helpers.init_walkers([0.0, 1.0, 0.0, 2.0, 0.5], 10, rng=None),
        lambda: helpers.xd_sample([1.0], [[0.0]], [[[1.0]]], 3, rng=None),
        lambda: helpers.make_sampler(v, [1.0] * 6, 10, rng=None),
        lambda: helpers.sample_mock([0.0, 1.0, 0.0, 2.0, 0.5], [1.0] * 6, rng=None),
        lambda: helpers.mock_cluster_field(5, [(5, 0.0, 30.0)], rng=None),
    )
    for call in calls:
        with pytest.raises(TypeError, match=r"rng must be .*Fix: pass rng=0"):
            call()


#: Rank of each argument name in the one order: (1) the model evaluated, (2) the data, per-star arrays in
#: the order v, verr, distance, then others, (3) the start or the amount to make.
RANK = {
    "params": 1.0, "best": 1.0, "p_centre": 1.0, "r_scale": 1.1, "amplitudes": 1.0, "means": 1.1, "covariances": 1.2,
    "v": 2.0, "grid": 2.0, "X": 2.0, "samples": 2.0, "chain": 2.0, "verr": 2.1, "Xcov": 2.1, "distance": 2.2,
    "R": 2.2, "prob": 2.3,
    "init": 3.0, "starts": 3.0, "n_starts": 3.1, "n_walkers": 3.1, "n": 3.1, "n_members": 3.1,
}
#: In a fit the mixture's arguments are its start, so they come after the data.
START_IN_A_FIT = {"amplitudes", "means", "covariances", "params"}


def _is_fit(name: str) -> bool:
    return name.endswith("_fit") or name.startswith("fit_")


def test_one_argument_order_model_then_data_then_start():
    broken = set()
    for name, sig, _ in FUNCTIONS:
        ranks = []
        for p in sig.parameters.values():
            if p.kind in POSITIONAL and p.name in RANK:
                ranks.append(3.0 if _is_fit(name) and p.name in START_IN_A_FIT else RANK[p.name])
        if ranks != sorted(ranks):
            broken.add(name)
    _check("order", broken)


def test_the_order_rule_is_not_vacuous():
    """The functions the rule was written for are ranked, and the old orders would be caught."""
    old = {"make_sampler": ["n_walkers", "v", "verr"], "plot_model_vs_mock": ["v", "verr", "params"],
           "xd_step": ["X", "Xcov", "amplitudes", "means", "covariances"]}
    for names in old.values():
        ranks = [RANK[n] for n in names]
        assert ranks != sorted(ranks)
    assert [RANK[n] for n in ("X", "Xcov")] + [3.0] * 3 == sorted([2.0, 2.1, 3.0, 3.0, 3.0])  # xd_fit as a fit


#: Arguments with a default that may stay positional: a start, or where the data come from.
POSITIONAL_DEFAULTS = {"init", "table", "path", "data_dir", "results", "name", "source"}


def test_options_and_rng_are_keyword_only():
    broken = set()
    for name, sig, _ in FUNCTIONS:
        for p in sig.parameters.values():
            if p.kind in POSITIONAL and p.default is not inspect.Parameter.empty and p.name not in POSITIONAL_DEFAULTS:
                broken.add(name)
    _check("options", broken)


def _param_doc(doc: str, param: str, module: str = "") -> str:
    """The numpy-style description of ``param`` (its ``name : type`` line and the indented lines below).

    A docstring that says its parameters are those of another function (":func:`log_likelihood`") is
    followed to that function of the same module.
    """
    match = re.search(rf"^(?:\w+, )*{param}(?:, \w+)* : .*\n((?:[ \t]+.*\n?)*)", doc, flags=re.MULTILINE)
    if match:
        return match.group(0)
    for ref in re.findall(r":func:`(\w+)`", doc):
        other = getattr(sys.modules.get(module), ref, None)
        if other is not None:
            found = re.search(rf"^(?:\w+, )*{param}(?:, \w+)* : .*\n((?:[ \t]+.*\n?)*)", inspect.getdoc(other) or "",
                              flags=re.MULTILINE)
            if found:
                return found.group(0)
    raise AssertionError(f"no description of {param} in the docstring")


def test_three_kinds_of_tolerance_three_names():
    """tol: per-star rise of the mean ln L; total_tol: rise of the total ln L; n_tau: autocorrelation times."""
    seen = set()
    for name, sig, doc in FUNCTIONS:
        for p in sig.parameters.values():
            if "tol" in p.name or "tau" in p.name:
                assert p.name in ("tol", "total_tol", "n_tau"), f"{name}({p.name}=...): a fourth tolerance name"
                seen.add(p.name)
                text = " ".join(_param_doc(doc, p.name, MODULES[name]).split())
                want = {"tol": r"per[ -]star", "total_tol": r"\btotal\b", "n_tau": r"autocorrelation time"}[p.name]
                assert re.search(want, text), f"{name}: {p.name} must be documented as {want!r}; got {text!r}"
    assert seen == {"tol", "total_tol", "n_tau"}


def test_no_public_argument_names_a_variance_with_a_trailing_2():
    """sigma2 is a width (component 2); a variance is *_var.  Public names: verr, never verr2."""
    for name, sig, _ in FUNCTIONS:
        for p in sig.parameters.values():
            assert not re.fullmatch(r"(verr|err|e|s|sig|var|sd)2", p.name), f"{name}({p.name})"


def test_no_module_names_a_variance_with_a_trailing_2():
    """Inside the package too (the rule of the front): listed files still do, and only they."""
    pattern = re.compile(r"\b(verr2|s2|sig2|e2|min_verr2)\b")
    found = {path.name for path in (ROOT / "xdtutorial").glob("*.py") if pattern.search(path.read_text())}
    assert found - KNOWN_SQUARE_NAMES == set(), f"new *2 variance names in {sorted(found - KNOWN_SQUARE_NAMES)}"
    fixed = KNOWN_SQUARE_NAMES - found
    assert fixed == set(), f"renamed, so delete from KNOWN_SQUARE_NAMES: {sorted(fixed)}"


def test_an_err_is_a_width_and_a_cov_or_var_holds_squares():
    """Where widths and variances meet, the name says which: *err are 1-sigma widths, *cov / *var squares."""
    checked = 0
    for name, sig, doc in FUNCTIONS:
        for p in sig.parameters.values():
            if re.search(r"err$", p.name):
                text = " ".join(_param_doc(doc, p.name, MODULES[name]).split())
                assert re.search(r"1-sigma|uncertaint", text), f"{name}({p.name}): an *err is a 1-sigma width; {text!r}"
                checked += 1
            elif re.search(r"(cov|var)$", p.name):
                text = " ".join(_param_doc(doc, p.name, MODULES[name]).split())
                assert re.search(r"covariance|variance", text), f"{name}({p.name}): must hold squares; {text!r}"
                checked += 1
    assert checked > 20  # verr throughout, Xcov in D dimensions


def _old_order_calls():
    v, verr = np.linspace(-60.0, 20.0, 40), np.ones(40)
    x, s = np.random.default_rng(0).normal(size=(50, 2)), np.tile(0.1 * np.eye(2), (50, 1, 1))
    mix = (np.array([0.5, 0.5]), np.array([[0.0, 0.0], [1.0, 1.0]]), np.tile(np.eye(2), (2, 1, 1)))
    return {
        "make_sampler": lambda: helpers.make_sampler(12, v, verr, rng=0),
        "plot_model_vs_mock": lambda: helpers.plot_model_vs_mock(v, verr, [-44.0, 3.0, -10.0, 40.0, 0.8], rng=0),
        "xd.step": lambda: helpers.xd_step(x, s, *mix),
        "xd.log_likelihood": lambda: helpers.xd_log_likelihood(x, s, *mix),
        "xd.responsibilities": lambda: helpers.xd_responsibilities(x, s, *mix),
        "sample_mock": lambda: helpers.sample_mock([-44.0, 3.0, -10.0, 40.0, 0.8], verr, 0),
        "mock_cluster_field": lambda: helpers.mock_cluster_field(5, [(5, 0.0, 30.0)], 0, mean=-20.0),
    }


@pytest.mark.parametrize("function", list(_old_order_calls()))
def test_a_call_in_an_old_order_is_told_the_new_one(function):
    """A notebook written before the order was kept gets the new order, not a shape error about the wrong argument."""
    with pytest.raises(TypeError, match=rf"^{re.escape(function)} takes {re.escape(function)}\(.*old order"):
        _old_order_calls()[function]()
