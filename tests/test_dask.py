"""cyem._dask: EM on dask arrays, on a real two-process LocalCluster.

The fits go through ``GaussianMixture.fit`` on dask arrays (``cyem._dask``
builds the models, ``cyem._restarts`` runs EM); the lazy evaluation functions
of ``cyem._dask`` are also called directly, with the fitted parameters. Every test needing dask skips
when ``dask.array`` or ``distributed`` is not installed.
"""

import sys

import numpy as np
import pytest

from cyem import GaussianMixture

pytestmark = pytest.mark.filterwarnings("ignore::cyem.ConvergenceWarning")


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=None)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def da(client):
    import dask.array
    return dask.array


def assert_same_fit(got, want, rtol=1e-10):
    """Same fit to ``rtol``: the two differ only in the order in which the
    per-block statistics are added."""
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=rtol,
                                   atol=0, err_msg=name)
    np.testing.assert_allclose(got.lower_bounds_, want.lower_bounds_, rtol=rtol, atol=0)
    assert got.n_iter_ == want.n_iter_


def univariate_data(n=300_000, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.choice(3, size=n, p=[0.3, 0.5, 0.2])
    return 1e4 + rng.normal(np.array([-6.0, 0.0, 7.0])[labels],
                            np.array([1.0, 1.5, 0.7])[labels])


def test_univariate_fit_equals_in_memory(client, da):
    x = univariate_data()
    w = np.random.default_rng(1).uniform(0.0, 2.0, x.shape[0])
    settings = dict(n_components=3, tol=0.0, max_iter=25, weights_init=[0.2, 0.4, 0.4],
                    means_init=1e4 + np.array([-3.0, 1.0, 4.0]),
                    precisions_init=[0.5, 0.5, 0.5])
    want = GaussianMixture(**settings).fit(x, sample_weight=w)
    # uneven blocks, none a multiple of the kernels' block size
    X = da.from_array(x, chunks=((37_001, 80_000, 100_000, 82_999),))
    got = GaussianMixture(**settings).fit(X, sample_weight=da.from_array(w, chunks=50_000))
    assert_same_fit(got, want)
    # float32 data stay float32 on the workers, as in memory
    x32 = x.astype(np.float32) - np.float32(1e4)
    settings["means_init"] = [-3.0, 1.0, 4.0]
    want = GaussianMixture(**settings).fit(x32)
    got = GaussianMixture(**settings).fit(da.from_array(x32, chunks=60_000))
    assert_same_fit(got, want)


def test_blocks_keep_their_weights_relative_to_each_other(client, da):
    """Issue 19: every block divided its weights by its own power of two, so
    a block of weights 2000 counted as much as a block of weights 1."""
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(0, 1, 5000), rng.normal(5, 1, 5000)]
    w = np.r_[np.ones(5000), np.full(5000, 2000.0)]
    settings = dict(n_components=2, weights_init=[.5, .5], means_init=[[0.], [5.]],
                    precisions_init=[[[1.]]] * 2, tol=0.0, max_iter=100)
    want = GaussianMixture(**settings).fit(x, sample_weight=w)
    assert want.weights_[0] < 0.05                   # the heavy group dominates
    got = GaussianMixture(**settings).fit(
        da.from_array(x, chunks=3000), sample_weight=da.from_array(w, chunks=(5000, 2000, 3000)))
    assert_same_fit(got, want, rtol=1e-12)


def test_multivariate_full_fit_equals_in_memory(client, da):
    rng = np.random.default_rng(2)
    n, d = 120_000, 3
    X = rng.normal(size=(n, d)) @ np.array([[1.0, 0.4, 0.0], [0.0, 1.0, 0.3],
                                            [0.0, 0.0, 0.5]])
    X[: n // 3] += [4.0, -2.0, 1.0]
    X += 1e3
    prec = np.stack([np.linalg.inv(np.cov(X.T))] * 2)
    settings = dict(n_components=2, covariance_type="full", tol=0.0, max_iter=15,
                    weights_init=[0.5, 0.5], means_init=X[[0, -1]], precisions_init=prec)
    want = GaussianMixture(**settings).fit(X)
    got = GaussianMixture(**settings).fit(da.from_array(X, chunks=(25_000, 2)))
    assert_same_fit(got, want)


def test_default_initialisation_on_the_cluster(client, da):
    x = univariate_data(seed=3)
    got = GaussianMixture(3, tol=1e-8, max_iter=300, random_state=0).fit(
        da.from_array(x, chunks=40_000))
    want = GaussianMixture(3, tol=1e-8, max_iter=300, random_state=0).fit(x)
    np.testing.assert_allclose(np.sort(got.means_.ravel()), np.sort(want.means_.ravel()),
                               atol=1e-4)
    np.testing.assert_allclose(got.lower_bound_, want.lower_bound_, rtol=1e-8)


def test_predict_and_score_return_dask_arrays(client, da):
    from cyem import _dask

    rng = np.random.default_rng(4)
    X = rng.normal(size=(50_000, 2))
    X[::2] += 4.0
    gm = GaussianMixture(2, covariance_type="diag", random_state=0).fit(X)
    Xd = da.from_array(X, chunks=(12_000, 1))
    for func, method in [(_dask.predict, gm.predict), (_dask.predict_proba, gm.predict_proba),
                         (_dask.score_samples, gm.score_samples)]:
        lazy = func(gm._fitted(), gm.n_threads, Xd)
        assert isinstance(lazy, da.Array)
        result = lazy.compute()
        expected = method(X)
        assert result.shape == expected.shape and result.dtype == expected.dtype
        np.testing.assert_allclose(result, expected, rtol=1e-13)
    w = rng.uniform(size=X.shape[0])
    score = _dask.score(gm._fitted(), gm.n_threads, Xd, sample_weight=w)
    assert isinstance(score, da.Array) and score.ndim == 0
    assert float(score) == pytest.approx(gm.score(X, sample_weight=w), rel=1e-12)
    x = X[:, 0]
    gm1 = GaussianMixture(2, random_state=0).fit(x)
    proba = _dask.predict_proba(gm1._fitted(), gm1.n_threads,
                                da.from_array(x, chunks=9_999)).compute()
    np.testing.assert_allclose(proba, gm1.predict_proba(x), rtol=1e-13)


def test_bad_values_in_a_block_are_reported(client, da):
    x = np.arange(1000.0)
    x[700] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        GaussianMixture(2).fit(da.from_array(x, chunks=300))


def test_missing_dask_gives_a_clear_import_error(monkeypatch):
    from cyem import _dask

    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.array", None)
    with pytest.raises(ImportError, match=r"cyem\[dask\]"):
        _dask.require_dask()
    assert not _dask.is_dask_array(np.zeros(3))
