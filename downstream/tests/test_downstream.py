"""cyem_downstream's numbers against cyem's own Python API.

Run against INSTALLED packages (pytest's importlib mode, or from outside the
source tree): the point is that a separately built package can cimport the
installed cyem and get the same results as cyem itself.
"""

import os

import numpy as np
import pytest

import cyem
from cyem import _kernels
import cyem_downstream
from cyem_downstream import _ops


def two_groups(n, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(164.0, 6.5, n // 2), rng.normal(178.0, 7.0, n - n // 2)])
    return rng.permutation(x).astype(dtype)


WEIGHTS = np.array([0.3, 0.5, 0.2])
MEANS = np.array([160.0, 170.0, 181.0])
VARIANCES = np.array([30.0, 45.0, 50.0])


def cyem_stats(x, sample_weight=None):
    """The same statistics from cyem's Python-level kernel entry point."""
    means, log_norm, prec = _kernels.component_arrays(WEIGHTS, MEANS, VARIANCES)
    return _kernels.accumulate_stats(x, sample_weight, means, log_norm, prec, 1)


@pytest.mark.skipif(os.environ.get("CYEM_EXPECT_INSTALLED") != "1",
                    reason="set CYEM_EXPECT_INSTALLED=1 when testing installed packages")
def test_both_packages_are_installed():
    assert "site-packages" in cyem.__file__
    assert "site-packages" in cyem_downstream.__file__


@pytest.mark.skipif(os.environ.get("CYEM_EXPECT_OPENMP") != "1",
                    reason="set CYEM_EXPECT_OPENMP=1 when the build must have OpenMP")
def test_built_with_openmp():
    assert _ops.OPENMP


@pytest.mark.parametrize("n", [1, 2047, 2048, 2049, 50_001])
def test_stats_match_cyem(n):
    x = two_groups(n)
    got = _ops.mixture_stats(x, WEIGHTS, MEANS, VARIANCES, n_threads=2)
    # Different block sizes: the sums agree to rounding, not bit for bit.
    np.testing.assert_allclose(got, cyem_stats(x), rtol=1e-12, atol=1e-9)


def test_weighted_stats_match_cyem():
    x = two_groups(30_000, seed=1)
    w = np.random.default_rng(2).uniform(0.0, 3.0, x.shape[0])
    got = _ops.mixture_stats(x, WEIGHTS, MEANS, VARIANCES, sample_weight=w, n_threads=2)
    np.testing.assert_allclose(got, cyem_stats(x, w), rtol=1e-12, atol=1e-9)


def test_float32_path_matches_cyem():
    x = two_groups(20_000, seed=3, dtype=np.float32)
    got = _ops.mixture_stats(x, WEIGHTS, MEANS, VARIANCES, n_threads=2)
    np.testing.assert_allclose(got, cyem_stats(x), rtol=1e-12, atol=1e-9)


def test_log_likelihood_of_fitted_model_matches_score_samples():
    x = two_groups(40_000, seed=4)
    gm = cyem.GaussianMixture(n_components=2, random_state=0).fit(x)
    got = cyem_downstream.log_likelihood(x, gm.weights_, gm.means_, gm.covariances_,
                                         n_threads=2)
    assert got == pytest.approx(gm.score_samples(x).sum(), rel=1e-12)


def test_thread_count_does_not_change_a_bit():
    x = two_groups(100_000, seed=5)
    results = [_ops.mixture_stats(x, WEIGHTS, MEANS, VARIANCES, n_threads=t) for t in (1, 2, 3)]
    for other in results[1:]:
        np.testing.assert_array_equal(results[0], other)


def test_empty_input_and_bad_arguments():
    empty = np.empty(0)
    np.testing.assert_array_equal(_ops.mixture_stats(empty, WEIGHTS, MEANS, VARIANCES),
                                  np.zeros(2 + 3 * 3))
    with pytest.raises(ValueError):
        _ops.mixture_stats(two_groups(10), WEIGHTS, MEANS[:2], VARIANCES)
    with pytest.raises(ValueError):
        _ops.mixture_stats(two_groups(10), WEIGHTS, MEANS, VARIANCES, n_threads=0)
