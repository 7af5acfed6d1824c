"""cyem.GaussianMixture and cyem.em: behaviour a user relies on."""

import pickle
import subprocess
import sys
import tracemalloc
import warnings

import numpy as np
import pytest

import cyem
from cyem import ConvergenceWarning, DegenerateComponentWarning, GaussianMixture

TRUE_WEIGHTS = np.array([0.3, 0.5, 0.2])
TRUE_MEANS = np.array([-6.0, 0.0, 7.0])
TRUE_STDS = np.array([1.0, 1.5, 0.7])


def three_groups(n=30_000, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.choice(3, size=n, p=TRUE_WEIGHTS)
    return rng.normal(TRUE_MEANS[labels], TRUE_STDS[labels]), labels


def sorted_params(model):
    order = np.argsort(model.means_.ravel())
    return model.weights_[order], model.means_.ravel()[order], model.stds_[order]


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random",
                                         "random_from_data", "quantile"])
def test_recovers_true_parameters(init_params):
    x, _ = three_groups()
    model = GaussianMixture(3, init_params=init_params, n_init=2, tol=1e-8,
                            max_iter=1000, random_state=0).fit(x)
    w, mu, sd = sorted_params(model)
    # Standard errors at n = 30,000 are below 0.01 for the means and about
    # 0.003 for the weights; 5-6 standard errors still fail on a wrong fit.
    np.testing.assert_allclose(w, TRUE_WEIGHTS, atol=0.015)
    np.testing.assert_allclose(mu, TRUE_MEANS, atol=0.06)
    np.testing.assert_allclose(sd, TRUE_STDS, atol=0.05)
    assert model.converged_
    assert model.weights_.sum() == pytest.approx(1.0, abs=1e-14)


def test_quantile_init_is_deterministic_without_random_state():
    x, _ = three_groups(5000)
    a = GaussianMixture(3, init_params="quantile", random_state=1).fit(x)
    b = GaussianMixture(3, init_params="quantile", random_state=2).fit(x)
    np.testing.assert_array_equal(a.means_, b.means_)


def test_same_random_state_same_fit_and_different_states_differ_in_start():
    x, _ = three_groups(5000)
    # n_init=1: the default set would also run the quantile start, which
    # ignores random_state and may win for both states.
    a = GaussianMixture(3, init_params="random", n_init=1, max_iter=3, random_state=7).fit(x)
    b = GaussianMixture(3, init_params="random", n_init=1, max_iter=3, random_state=7).fit(x)
    c = GaussianMixture(3, init_params="random", n_init=1, max_iter=3, random_state=8).fit(x)
    np.testing.assert_array_equal(a.means_, b.means_)
    assert not np.array_equal(a.means_, c.means_)


def test_more_initialisations_never_end_lower():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(m, 1, 300) for m in (0, 3, 6, 9, 12, 15)])
    one = GaussianMixture(6, init_params="random", n_init=1, random_state=0).fit(x)
    many = GaussianMixture(6, init_params="random", n_init=6, random_state=0).fit(x)
    # The first initialisation is shared, and the best of six is kept.
    assert many.lower_bound_ >= one.lower_bound_


def test_lower_bound_is_the_last_history_entry_and_history_rises():
    x, _ = three_groups(5000)
    model = GaussianMixture(3, random_state=0, tol=1e-10, max_iter=500).fit(x)
    assert model.lower_bound_ == model.lower_bounds_[-1]
    assert len(model.lower_bounds_) == model.n_iter_
    assert np.all(np.diff(model.lower_bounds_) >= -1e-12)


def test_warm_start_continues_from_the_previous_solution():
    x, _ = three_groups(5000)
    model = GaussianMixture(3, warm_start=True, max_iter=2, tol=0, random_state=0)
    with pytest.warns(ConvergenceWarning):
        model.fit(x)
    first = model.lower_bound_
    with pytest.warns(ConvergenceWarning):
        model.fit(x)
    assert model.lower_bounds_[0] >= first - 1e-12   # did not restart
    cold = GaussianMixture(3, max_iter=4, tol=0, random_state=0)
    with pytest.warns(ConvergenceWarning):
        cold.fit(x)
    # Two warm fits of 2 iterations = one cold fit of 4 (same first start).
    np.testing.assert_allclose(model.means_, cold.means_, rtol=1e-13)


def test_convergence_warning_when_max_iter_is_reached():
    x, _ = three_groups(3000)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        model = GaussianMixture(3, max_iter=1, tol=0, random_state=0).fit(x)
    assert not model.converged_ and model.n_iter_ == 1


def test_predict_family_is_consistent():
    x, _ = three_groups(4000)
    model = GaussianMixture(3, random_state=0)
    labels = model.fit_predict(x)
    np.testing.assert_array_equal(labels, model.predict(x))
    proba = model.predict_proba(x)
    assert proba.shape == (4000, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-14)
    np.testing.assert_array_equal(labels, proba.argmax(axis=1))
    # score_samples = log sum_k w_k N(x; mu_k, sd_k), computed here by hand
    dens = model.weights_ * np.exp(-0.5 * ((x[:, None] - model.means_.ravel()) / model.stds_)
                                   ** 2) / (model.stds_ * np.sqrt(2 * np.pi))
    np.testing.assert_allclose(model.score_samples(x), np.log(dens.sum(1)), rtol=1e-12)
    assert model.score(x) == pytest.approx(np.log(dens.sum(1)).mean(), rel=1e-12)


def test_information_criteria_follow_their_definitions():
    x, _ = three_groups(2000)
    for ctype, n_params in (("full", 8), ("tied", 6)):
        model = GaussianMixture(3, covariance_type=ctype, random_state=0).fit(x)
        log_lik = model.score_samples(x).sum()
        assert model.bic(x) == pytest.approx(-2 * log_lik + n_params * np.log(2000), rel=1e-12)
        assert model.aic(x) == pytest.approx(-2 * log_lik + 2 * n_params, rel=1e-12)


def test_tied_model_has_one_variance():
    x, _ = three_groups(3000)
    model = GaussianMixture(3, covariance_type="tied", random_state=0).fit(x)
    assert model.covariances_.shape == (1, 1)
    np.testing.assert_array_equal(model.stds_, np.full(3, model.stds_[0]))


def test_sample_draws_from_the_fitted_mixture():
    x, _ = three_groups(20_000)
    model = GaussianMixture(3, random_state=0).fit(x)
    X, y = model.sample(50_000)
    assert X.shape == (50_000, 1) and y.shape == (50_000,)
    np.testing.assert_allclose(np.bincount(y, minlength=3) / 50_000, model.weights_, atol=0.01)
    for k in range(3):
        assert X[y == k, 0].mean() == pytest.approx(model.means_[k, 0], abs=0.05)
        assert X[y == k, 0].std() == pytest.approx(model.stds_[k], rel=0.03)


@pytest.mark.filterwarnings("ignore::cyem.ConvergenceWarning")
def test_sample_weight_equals_repeated_rows():
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.normal(0, 1, 200), rng.normal(5, 1, 200)])
    counts = rng.integers(0, 4, x.size)
    start = dict(weights_init=[0.5, 0.5], means_init=[[-1.0], [4.0]],
                 precisions_init=[[[1.0]], [[1.0]]], tol=0, max_iter=50)
    weighted = GaussianMixture(2, **start).fit(x, sample_weight=counts.astype(float))
    repeated = GaussianMixture(2, **start).fit(np.repeat(x, counts))
    np.testing.assert_allclose(weighted.means_, repeated.means_, rtol=1e-11)
    np.testing.assert_allclose(weighted.covariances_, repeated.covariances_, rtol=1e-11)
    np.testing.assert_allclose(weighted.weights_, repeated.weights_, rtol=1e-11)
    assert weighted.lower_bound_ == pytest.approx(repeated.lower_bound_, rel=1e-12)


def test_em_function_matches_the_estimator_from_the_same_start():
    x, _ = three_groups(5000)
    w0, m0, s0 = [0.3, 0.4, 0.3], [-5.0, 1.0, 6.0], [1.0, 1.0, 1.0]
    res = cyem.em(x, w0, m0, s0, tol=0, max_iter=30)
    est = GaussianMixture(3, weights_init=w0, means_init=m0,
                          precisions_init=1 / np.square(s0), tol=0, max_iter=30)
    with pytest.warns(ConvergenceWarning):
        est.fit(x)
    np.testing.assert_array_equal(res.means, est.means_.ravel())
    np.testing.assert_array_equal(res.stds, est.stds_)
    np.testing.assert_allclose(res.history / x.size, est.lower_bounds_, rtol=1e-15)
    # log_likelihood is that of the returned parameters: one step past history
    assert res.log_likelihood == pytest.approx(est.score_samples(x).sum(), rel=1e-13)
    assert res.log_likelihood >= res.history[-1] - 1e-12 * abs(res.history[-1])
    assert res.n_iter == 30 and not res.converged


def test_constant_data_gives_a_warning_and_a_finite_model():
    with pytest.warns(UserWarning, match="single distinct value"):
        model = GaussianMixture(1).fit(np.full(100, 3.5))
    assert model.means_[0, 0] == 3.5
    assert model.covariances_[0, 0, 0] == pytest.approx(1e-6)
    assert np.isfinite(model.score(np.full(10, 3.5)))


def test_collapsing_component_is_floored_and_reported():
    # Five copies of one value far from a broad group: with reg_covar=0 the
    # second component takes exactly the copies and its variance reaches 0.
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.normal(0, 1, 500), np.full(5, 30.0)])
    with pytest.warns(DegenerateComponentWarning, match="collapsed"):
        model = GaussianMixture(2, reg_covar=0.0, means_init=[[0.0], [30.0]],
                                weights_init=[0.9, 0.1], precisions_init=[1.0, 1.0],
                                max_iter=20).fit(x)
    assert model.covariances_[1, 0, 0] < 1e-20
    assert np.all(np.isfinite(model.covariances_)) and np.all(model.covariances_ > 0)
    assert np.isfinite(model.lower_bound_)
    assert np.all(np.isfinite(model.score_samples(x)))


def test_component_losing_all_mass_stays_finite():
    x = np.linspace(0.0, 1.0, 100)
    with pytest.warns(DegenerateComponentWarning, match="lost all their mass"):
        model = GaussianMixture(3, means_init=[[0.0], [1.0], [1e6]],
                                weights_init=[0.45, 0.45, 0.1],
                                precisions_init=[100.0, 100.0, 100.0], tol=0,
                                max_iter=5).fit(x)
    assert model.means_[2, 0] == 1e6            # kept, not NaN
    assert model.weights_[2] < 1e-12
    assert np.all(np.isfinite(model.weights_)) and np.isfinite(model.lower_bound_)


def test_not_fitted_error_before_fit():
    model = GaussianMixture(2)
    for method in (model.predict, model.predict_proba, model.score_samples):
        with pytest.raises(cyem.NotFittedError, match="not fitted"):
            method([1.0, 2.0])
    with pytest.raises(AttributeError):          # scikit-learn's contract too
        model.sample(3)


def test_scikit_learn_parameter_protocol_and_clone():
    sklearn_base = pytest.importorskip("sklearn.base")
    model = GaussianMixture(3, tol=1e-5, n_threads=1)
    assert model.get_params()["tol"] == 1e-5
    twin = sklearn_base.clone(model)
    assert twin is not model and twin.get_params() == model.get_params()
    assert model.set_params(n_components=4) is model and model.n_components == 4
    with pytest.raises(ValueError, match="bogus"):
        model.set_params(bogus=1)
    assert "n_components=4" in repr(model)


def test_pickle_round_trip_predicts_the_same():
    x, _ = three_groups(2000)
    model = GaussianMixture(3, random_state=0).fit(x)
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.predict_proba(x), model.predict_proba(x))


def test_fit_allocates_no_n_by_k_array():
    """n = 1e6, K = 10: less than 1 MB allocated beyond the input (the n x K
    responsibilities alone would take 80 MB)."""
    rng = np.random.default_rng(0)
    x = rng.normal(np.repeat(np.arange(10.0) * 4, 100_000), 1.0)
    model = GaussianMixture(10, max_iter=5, tol=0, random_state=0)
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert model.n_iter_ == 5
    assert peak < 1_000_000, f"peak traced allocation {peak} bytes"


def test_cli_demo_recovers_the_simulated_heights(tmp_path):
    # Run from outside the source tree, so the installed package is used.
    out = subprocess.run([sys.executable, "-m", "cyem", "demo"], capture_output=True,
                         text=True, timeout=120, check=True, cwd=tmp_path).stdout
    rows = {line.split()[0]: [float(v) for v in line.split()[1:]]
            for line in out.splitlines() if line.startswith(("women", "men"))}
    for name in ("women", "men"):
        w_true, w_fit, m_true, m_fit, s_true, s_fit = rows[name]
        assert abs(w_fit - w_true) < 0.03 and abs(m_fit - m_true) < 0.5
        assert abs(s_fit - s_true) < 0.3
    assert "converged=True" in out


def test_cli_info_reports_the_build(tmp_path):
    out = subprocess.run([sys.executable, "-m", "cyem", "info"], capture_output=True,
                         text=True, timeout=60, check=True, cwd=tmp_path).stdout
    assert "OpenMP" in out and "SIMD path" in out and cyem.__version__ in out
