"""cyem_downstream's numbers against cyem's own Python API.

Run against INSTALLED packages (pytest's importlib mode, or from outside the
source tree): the point is that a separately built package can cimport the
installed cyem and get the same results as cyem itself.
"""

import os
import warnings

import numpy as np
import pytest

import threadpoolctl

import cyem
from cyem import _kernels, _mdkernels
import cyem_downstream
from cyem_downstream import _legacy, _ops


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


# ---- the deprecated path: ``from cyem._kernels cimport ...`` (_legacy.pyx) ----

def test_old_cimport_path_still_builds_and_calls_the_same_kernel():
    # One block (n below cyem's block size): cyem's own entry point makes the
    # very same kernel call on a zeroed row, so the sums agree bit for bit.
    x = two_groups(4000, seed=6)
    assert x.shape[0] <= _kernels.BLOCK_SIZE
    means, log_norm, prec = _kernels.component_arrays(WEIGHTS, MEANS, VARIANCES)
    np.testing.assert_array_equal(_legacy.block_stats_old_path(x, means, log_norm, prec),
                                  cyem_stats(x))


# ---- multivariate: cyem's diag and full kernels in this package's prange ----

def mixture_data(n, d, seed, dtype=np.float64):
    """Three groups in d dimensions with correlated features."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 4.0, (3, d))
    mixing = np.eye(d) + 0.3 * rng.normal(size=(d, d))
    labels = rng.integers(0, 3, n)
    X = centres[labels] + rng.normal(size=(n, d)) @ mixing
    return np.ascontiguousarray(X.astype(dtype))


def fitted(X, covariance_type):
    """A model to evaluate; whether its EM converged does not matter here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cyem.exceptions.ConvergenceWarning)
        return cyem.GaussianMixture(n_components=3, covariance_type=covariance_type,
                                    random_state=0, max_iter=20).fit(X)


def stats_from_python_api(gm, X):
    """L, N, S, the size of S's terms, and Q of the fitted model at X, from its
    public Python methods (score_samples, predict_proba) and NumPy: an
    independent computation."""
    X = np.asarray(X, dtype=np.float64)
    resp = gm.predict_proba(X)
    dev = X[:, None, :] - gm.means_[None, :, :]               # (n, K, d)
    N = resp.sum(axis=0)
    S = np.einsum("nk,nkf->kf", resp, dev)
    Q = np.einsum("nk,nkf,nkg->kfg", resp, dev, dev)
    # At a fitted model S_k is a sum that cancels to ~0: compare it against
    # the size of its terms, not against itself.
    S_scale = np.einsum("nk,nkf->kf", resp, np.abs(dev))
    return gm.score_samples(X).sum(), N, S, S_scale, Q


def split(stats, K, d, covariance_type):
    S = stats[2 + K:2 + K + K * d].reshape(K, d)
    Q = stats[2 + K + K * d:]
    if covariance_type in ("full", "tied"):
        Q = Q.reshape(K, d, d)
    else:
        Q = Q.reshape(K, d)
    return stats[0], stats[1], stats[2:2 + K], S, Q


# d = 3 runs cyem's vectorised C path of the full kernel, d = 20 its BLAS path.
@pytest.mark.parametrize("d", [3, 20])
@pytest.mark.parametrize("covariance_type", _ops.COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_multivariate_stats_match_the_python_api(covariance_type, d, dtype):
    X = mixture_data(5000, d, seed=7, dtype=dtype)
    gm = fitted(X, covariance_type)
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        stats = _ops.gaussian_mixture_stats(X, gm.weights_, gm.means_,
                                            gm.precisions_cholesky_, covariance_type,
                                            n_threads=2, block_size=1000)
    L, W, N, S, Q = split(stats, 3, d, covariance_type)
    ref_L, ref_N, ref_S, S_scale, ref_Q = stats_from_python_api(gm, X)
    assert L == pytest.approx(ref_L, rel=1e-10)
    assert W == X.shape[0]
    np.testing.assert_allclose(N, ref_N, rtol=1e-9)
    assert np.all(np.abs(S - ref_S) <= 1e-12 * S_scale)
    if covariance_type in ("full", "tied"):
        # Only the upper triangle is accumulated (cyem/_mdkernels.pxd).
        upper = np.triu(np.ones((d, d), dtype=bool))
        np.testing.assert_allclose(Q[:, upper], ref_Q[:, upper], rtol=1e-9)
        assert not Q[:, ~upper].any()
    else:
        np.testing.assert_allclose(Q, np.diagonal(ref_Q, axis1=1, axis2=2), rtol=1e-9)


@pytest.mark.parametrize("covariance_type,d", [("full", 4), ("tied", 20), ("diag", 5),
                                                ("spherical", 2)])
def test_multivariate_stats_equal_cyem_kernels_bit_for_bit(covariance_type, d):
    # Same block size as cyem's own driver, same kernel form, same frame
    # (origin 0, inv_scale 1): the downstream loop must give cyem's exact bits,
    # whatever the thread count, with and without sample weights.
    X = mixture_data(20_000, d, seed=8)
    gm = fitted(X, covariance_type)
    log_norm, prec, kind = _ops.kernel_form(gm.weights_, gm.means_,
                                            gm.precisions_cholesky_, covariance_type)
    cyem_kind = _mdkernels.FULL if kind == "full" else _mdkernels.DIAG
    w = np.random.default_rng(9).uniform(0.0, 2.0, X.shape[0])
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        for sample_weight in (None, w):
            expected = _mdkernels.accumulate_stats(X, sample_weight, gm.means_, log_norm,
                                                   prec, cyem_kind, 1, np.zeros(d),
                                                   np.ones(d))
            for n_threads in (1, 2, 3):
                got = _ops.gaussian_mixture_stats(
                    X, gm.weights_, gm.means_, gm.precisions_cholesky_, covariance_type,
                    sample_weight=sample_weight, n_threads=n_threads,
                    block_size=_mdkernels.block_size(X.shape[0]))
                np.testing.assert_array_equal(got, expected)


def test_multivariate_bad_arguments():
    X = mixture_data(50, 2, seed=10)
    gm = fitted(X, "diag")
    args = (X, gm.weights_, gm.means_, gm.precisions_cholesky_)
    with pytest.raises(ValueError, match="covariance_type"):
        _ops.gaussian_mixture_stats(*args, "banana")
    with pytest.raises(ValueError, match="means"):
        _ops.gaussian_mixture_stats(X[:, :1].copy(), *args[1:], "diag")
    with pytest.raises(ValueError, match="sample_weight"):
        _ops.gaussian_mixture_stats(*args, "diag", sample_weight=np.ones(3))
