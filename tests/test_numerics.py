"""The package's one log-sum-exp, one finite-difference Hessian and one rng normaliser."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp as scipy_logsumexp

from xdtutorial._numerics import as_generator, central_hessian, logsumexp, seed_of


@pytest.mark.parametrize(("shape", "axis"), [((2, 500), 0), ((3, 7, 50), -2), ((2, 40, 30), (0, 2)), ((5,), 0)])
def test_logsumexp_is_bit_for_bit_scipys(shape, axis):
    a = np.random.default_rng(1).normal(0.0, 30.0, shape)
    a[..., :3] = np.round(a[..., :3])  # ties for the maximum
    if a.ndim > 1:
        a[0, ..., 5] = -np.inf
    np.testing.assert_array_equal(logsumexp(a, axis), scipy_logsumexp(a, axis=axis))


def test_logsumexp_survives_huge_differences():
    assert logsumexp(np.array([[-1e4], [0.0]]))[0] == 0.0


def test_central_hessian_of_a_quadratic_form():
    A = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, -0.3], [0.0, -0.3, 3.0]])

    def f(points):
        return -0.5 * np.einsum("ni,ij,nj->n", points, A, points)

    H = central_hessian(f, np.array([0.3, -1.0, 2.0]), np.full(3, 1e-3))
    np.testing.assert_allclose(H, -A, atol=1e-8)
    H_fixed = central_hessian(f, np.zeros(3), np.full(3, 1e-3), fixed=(1,))
    assert np.all(H_fixed[1] == 0) and np.all(H_fixed[:, 1] == 0)
    np.testing.assert_allclose(H_fixed[np.ix_([0, 2], [0, 2])], -A[np.ix_([0, 2], [0, 2])], atol=1e-8)


def test_rng_is_a_seed_or_a_generator():
    g = np.random.default_rng(3)
    assert as_generator(g) is g
    assert as_generator(3).random() == np.random.default_rng(3).random()
    assert seed_of(7) == 7 and seed_of(np.int64(7)) == 7
    # a Generator gives the seed it draws next (so the caller's stream moves on, as after any draw)
    g, expected = np.random.default_rng(0), np.random.default_rng(0).integers(2**32)
    assert seed_of(g) == expected and seed_of(g) != expected
    for edge in (0, 2**32 - 1):
        assert seed_of(edge) == edge
    with pytest.raises(ValueError, match="2\\*\\*32"):
        seed_of(2**32)
    for bad in (None, True, 2.0, "1"):
        with pytest.raises(TypeError, match="non-negative int seed"):
            as_generator(bad)
    with pytest.raises(ValueError, match="non-negative int seed"):  # the right type, a wrong value
        as_generator(-1)
