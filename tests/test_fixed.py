"""Parameters held fixed (``GaussianMixture(fixed=...)``) against a small
NumPy EM written here, from the same start and for the same iterations."""

import numpy as np
import pytest
from scipy.stats import multivariate_normal

import cyem

REG = 1e-6
N_ITER = 30


def numpy_em(X, weights, means, covs, fixed, n_iter, covariance_type="full"):
    """Plain EM on X (n, d) with full (K, d, d) covariances, holding the keys of
    ``fixed`` ('weights', 'means', 'covariances') at the starting values.
    Covariances are estimated around the current (possibly fixed) means."""
    weights, means, covs = (np.array(a, dtype=float) for a in (weights, means, covs))
    K, d = means.shape
    for _ in range(n_iter):
        dens = np.column_stack([weights[k] * multivariate_normal(means[k], covs[k]).pdf(X)
                                for k in range(K)])
        resp = dens / dens.sum(axis=1, keepdims=True)
        counts = resp.sum(axis=0)
        if "weights" not in fixed:
            weights = counts / counts.sum()
        if "means" not in fixed:
            means = resp.T @ X / counts[:, None]
        if "covariances" not in fixed:
            dev = X[:, None, :] - means[None]
            covs = np.einsum("nk,nki,nkj->kij", resp, dev, dev) / counts[:, None, None]
            if covariance_type == "diag":
                covs = np.array([np.diag(np.diag(c)) for c in covs])
            covs += REG * np.eye(d)
    return weights, means, covs


@pytest.fixture(scope="module")
def data_1d():
    rng = np.random.default_rng(0)
    return np.concatenate([rng.normal(-2, 1, 1500), rng.normal(3, 0.5, 1000)])


START_1D = dict(weights=[0.4, 0.6], means=[-1.0, 3.5], variances=[2.0, 1.0])


@pytest.mark.parametrize("held", [("means",), ("weights",), ("covariances",),
                                  ("weights", "means")])
def test_univariate_fixed_parameters_match_numpy_em(data_1d, held):
    w0, m0, v0 = (np.array(START_1D[k]) for k in ("weights", "means", "variances"))
    values = {"weights": w0, "means": m0, "covariances": v0}
    fixed = {key: values[key] for key in held}
    model = cyem.GaussianMixture(2, weights_init=w0, means_init=m0, precisions_init=1 / v0,
                                 tol=0, max_iter=N_ITER, reg_covar=REG, fixed=fixed)
    with pytest.warns(cyem.ConvergenceWarning):
        model.fit(data_1d)
    w, m, c = numpy_em(data_1d[:, None], w0, m0[:, None], v0[:, None, None], fixed, N_ITER)
    np.testing.assert_allclose(model.weights_, w, rtol=1e-10)
    np.testing.assert_allclose(model.means_.ravel(), m.ravel(), rtol=1e-10)
    np.testing.assert_allclose(model.covariances_.ravel(), c.ravel(), rtol=1e-10)
    for key in held:   # held exactly, not just approximately
        got = {"weights": model.weights_, "means": model.means_.ravel(),
               "covariances": model.covariances_.ravel()}[key]
        np.testing.assert_array_equal(got, values[key])


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_multivariate_fixed_means_match_numpy_em(covariance_type):
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal([0, 0], 1, (800, 2)), rng.normal([4, 3], [1, 2], (800, 2))])
    w0, m0 = np.array([0.5, 0.5]), np.array([[0.5, 0.0], [3.5, 3.5]])
    c0 = np.array([np.eye(2), np.eye(2) * 2])
    prec0 = np.linalg.inv(c0) if covariance_type == "full" else 1 / np.diagonal(c0, 0, 1, 2)
    model = cyem.GaussianMixture(2, covariance_type=covariance_type, weights_init=w0,
                                 means_init=m0, precisions_init=prec0, tol=0,
                                 max_iter=N_ITER, reg_covar=REG, fixed={"means": m0})
    with pytest.warns(cyem.ConvergenceWarning):
        model.fit(X)
    w, _, c = numpy_em(X, w0, m0, c0, {"means"}, N_ITER, covariance_type)
    np.testing.assert_array_equal(model.means_, m0)
    np.testing.assert_allclose(model.weights_, w, rtol=1e-9)
    got = model.covariances_ if covariance_type == "full" else \
        np.array([np.diag(v) for v in model.covariances_])
    np.testing.assert_allclose(got, c, rtol=1e-9, atol=1e-12)


def test_fixed_means_lower_the_likelihood_and_free_fit_does_not():
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.normal(0, 1, 1000), rng.normal(5, 1, 1000)])
    free = cyem.GaussianMixture(2, random_state=0, tol=1e-10, max_iter=500).fit(x)
    held = cyem.GaussianMixture(2, random_state=0, tol=1e-10, max_iter=500,
                                fixed={"means": [0.5, 4.5]}).fit(x)
    assert held.score(x) < free.score(x)      # a constrained maximum is lower
    assert np.all(np.isfinite(held.covariances_))


@pytest.mark.parametrize("fixed, match", [
    ({"bogus": 1}, "fixed has unknown key"),
    ({"means": [1.0, 2.0, 3.0]}, r"fixed\['means'\]"),
    ({"weights": [0.9, 0.2]}, r"fixed\['weights'\]"),
    ({"covariances": [1.0, -1.0]}, r"fixed\['covariances'\]"),
])
def test_bad_fixed_values_name_the_problem(data_1d, fixed, match):
    with pytest.raises(ValueError, match=match):
        cyem.GaussianMixture(2, fixed=fixed).fit(data_1d)


def test_fixed_must_be_a_dict(data_1d):
    with pytest.raises(TypeError, match="fixed must be None or a dict"):
        cyem.GaussianMixture(2, fixed=[1.0, 2.0]).fit(data_1d)


def test_non_positive_definite_fixed_covariance_is_rejected():
    X = np.random.default_rng(3).normal(size=(200, 2))
    bad = np.array([[[1.0, 2.0], [2.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]])
    with pytest.raises(ValueError, match=r"fixed\['covariances'\].*positive definite"):
        cyem.GaussianMixture(2, fixed={"covariances": bad}).fit(X)


def test_chunked_fit_holds_the_same_parameters_as_fit(data_1d):
    # fit_chunks runs the same EM driver: with the same start, the same fit.
    w0, m0, v0 = (np.array(START_1D[k]) for k in ("weights", "means", "variances"))
    kwargs = dict(weights_init=w0, means_init=m0, precisions_init=1 / v0, tol=0,
                  max_iter=N_ITER, fixed={"means": m0})
    with pytest.warns(cyem.ConvergenceWarning):
        chunks = cyem.GaussianMixture(2, **kwargs).fit_chunks(
            lambda: iter(np.array_split(data_1d, 5)))
    with pytest.warns(cyem.ConvergenceWarning):
        whole = cyem.GaussianMixture(2, **kwargs).fit(data_1d)
    np.testing.assert_array_equal(chunks.means_.ravel(), m0)
    np.testing.assert_allclose(chunks.covariances_, whole.covariances_, rtol=1e-10)
    np.testing.assert_allclose(chunks.weights_, whole.weights_, rtol=1e-10)


def test_fixed_is_refused_by_online_em(data_1d):
    model = cyem.GaussianMixture(2, fixed={"means": [-2.0, 3.0]})
    with pytest.raises(ValueError, match="fixed parameters are not supported by partial_fit"):
        model.partial_fit(data_1d)


def test_fixed_is_a_constructor_parameter():
    sklearn_base = pytest.importorskip("sklearn.base")
    model = cyem.GaussianMixture(2, fixed={"means": [0.0, 1.0]})
    assert sklearn_base.clone(model).get_params()["fixed"] == {"means": [0.0, 1.0]}


# ---- parameter counts: what is held fixed is not a free parameter -----------

HELD_SUBSETS = [(), ("weights",), ("means",), ("covariances",), ("weights", "means"),
                ("weights", "covariances"), ("means", "covariances"),
                ("weights", "means", "covariances")]


def free_parameters(K, d, covariance_type, held):
    """scikit-learn's count -- K - 1 weights, K d means, and the covariance
    entries of the type -- less the groups that are held fixed."""
    counts = {"weights": K - 1, "means": K * d,
              "covariances": {"full": K * d * (d + 1) // 2, "tied": d * (d + 1) // 2,
                              "diag": K * d, "spherical": K}[covariance_type]}
    return sum(count for name, count in counts.items() if name not in held)


def fixed_values(covariance_type, d, held):
    """Values for ``fixed``, K = 2, covariances in the shape of ``covariances_``."""
    means = np.array([[-2.0] * d, [3.0] * d])
    variances = np.array([1.0, 0.25])
    covariances = {"full": variances[:, None, None] * np.eye(d),
                   "tied": 0.5 * np.eye(d),
                   "diag": np.repeat(variances[:, None], d, axis=1),
                   "spherical": variances}[covariance_type]
    values = {"weights": np.array([0.6, 0.4]), "means": means,
              "covariances": covariances}
    return {name: values[name] for name in held}


def two_groups(d, seed=4):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(-2, 1, (240, d)), rng.normal(3, 0.5, (160, d))])
    return X[:, 0] if d == 1 else X


@pytest.mark.filterwarnings("ignore::cyem.ConvergenceWarning")
@pytest.mark.parametrize("held", HELD_SUBSETS, ids="+".join)
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_held_parameters_are_not_counted(covariance_type, d, held):
    X = two_groups(d)
    model = cyem.GaussianMixture(2, covariance_type=covariance_type, random_state=0,
                                 max_iter=50,
                                 fixed=fixed_values(covariance_type, d, held) or None)
    model.fit(X)
    p = free_parameters(2, d, covariance_type, held)
    assert model._n_parameters() == p
    log_lik = model.score_samples(X).sum()
    n = X.shape[0]
    assert model.bic(X) == pytest.approx(-2 * log_lik + p * np.log(n), rel=1e-12)
    assert model.aic(X) == pytest.approx(-2 * log_lik + 2 * p, rel=1e-12)
    w = np.random.default_rng(5).uniform(0.5, 2.0, n)
    weighted = w @ model.score_samples(X)
    assert model.bic(X, sample_weight=w) == pytest.approx(
        -2 * weighted + p * np.log(w.sum()), rel=1e-12)


def test_the_issue_example_counts():
    x = np.concatenate([np.random.default_rng(6).normal(164, 6, 300),
                        np.random.default_rng(7).normal(178, 7, 300)])
    means_held = cyem.GaussianMixture(2, fixed={"means": [164, 178]}).fit(x)
    assert means_held._n_parameters() == 3            # one weight, two variances
    all_held = cyem.GaussianMixture(2, fixed={"weights": [0.5, 0.5],
                                              "means": [164, 178],
                                              "covariances": [36.0, 49.0]}).fit(x)
    assert all_held._n_parameters() == 0
    assert all_held.bic(x) == pytest.approx(-2 * all_held.score(x) * x.size, rel=1e-12)


def test_count_survives_save_and_load(tmp_path):
    x = two_groups(1)
    model = cyem.GaussianMixture(2, fixed={"means": [-2.0, 3.0]}).fit(x)
    cyem.save(model, tmp_path / "m.json")
    assert cyem.load(tmp_path / "m.json")._n_parameters() == model._n_parameters() == 3


@pytest.mark.parametrize("d", [1, 2])
def test_select_table_counts_only_free_parameters(d):
    X = two_groups(d)
    types = ("full", "tied", "diag", "spherical")
    held = ("means",)
    result = cyem.select(X, n_components=[2], covariance_types=types, n_init=1,
                         init_params="kmeans", random_state=0,
                         fixed=fixed_values("full", d, held))
    n = X.shape[0]
    for row in result.records:
        p = free_parameters(2, d, row["covariance_type"], held)
        assert row["n_parameters"] == p
        assert row["bic"] == pytest.approx(-2 * row["log_likelihood"] + p * np.log(n),
                                           rel=1e-12)
        assert row["aic"] == pytest.approx(-2 * row["log_likelihood"] + 2 * p, rel=1e-12)
