"""cyem against scikit-learn's GaussianMixture and SciPy's densities.

Both libraries run the same EM iteration (same M step, same ``reg_covar``,
same 10-epsilon guard on the component counts), so from identical starting
parameters their iterates may differ only by rounding. scikit-learn has no
``sample_weight``; a weighted cyem fit is compared with scikit-learn on the
data with every row repeated as many times as its (integer) weight.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.special import logsumexp
from scipy.stats import norm

sklearn_mixture = pytest.importorskip("sklearn.mixture")
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning  # noqa: E402

import cyem  # noqa: E402
from cyem import _kernels  # noqa: E402

# The README: "the same answer as scikit-learn's GaussianMixture -- to about
# 1e-12 after 100 iterations from the same start". Measured worst relative
# differences over every case below (NumPy 2.4 / scikit-learn 1.9, x86-64):
# parameters 8.1e-13 (tied, K = 10, weighted; 2.3e-14 for K <= 3),
# probabilities 2.9e-13 (absolute), log-likelihoods 3.6e-14. The tolerances
# keep a margin of at least 10 over those figures (rounding, not design, sets
# them, and it differs with the BLAS and the CPU's SIMD paths).
RTOL = 1e-11          # parameters (weights, means, covariances, factors), probabilities
LL_RTOL = 1e-12       # log-likelihoods: lower_bounds_, score, bic, aic
N_ITER = 100
REG_COVAR = 1e-6
TRUE_WEIGHTS = np.array([0.3, 0.45, 0.25])
TRUE_MEANS = np.array([-4.0, 0.5, 5.0])
TRUE_STDS = np.array([1.0, 1.5, 0.8])


# ---- problems and fits ---------------------------------------------------------

def mixture_data(seed, n=1500):
    """Three overlapping groups (so every K up to 10 has work to do)."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(3, size=n, p=TRUE_WEIGHTS)
    return rng.normal(TRUE_MEANS[labels], TRUE_STDS[labels])


def starting_parameters(x, n_components, seed):
    """Weights, means and variances (shape (K,)) spread over the data."""
    rng = np.random.default_rng(seed)
    K = n_components
    weights = rng.dirichlet(np.full(K, 5.0))
    means = np.quantile(x, (np.arange(K) + 0.5) / K) + rng.normal(0, 0.1, K)
    variances = (x.std() / K) ** 2 * rng.uniform(0.5, 2.0, K)
    return weights, means, variances


def precisions_init(weights, variances, covariance_type):
    """Starting precisions in scikit-learn's shape for ``covariance_type``.

    For 'tied' both libraries start from the single variance sum_k w_k var_k.
    """
    K = weights.shape[0]
    if covariance_type == "tied":
        return np.array([[1.0 / np.dot(weights, variances)]])
    prec = 1.0 / variances
    return {"full": prec.reshape(K, 1, 1), "diag": prec.reshape(K, 1),
            "spherical": prec}[covariance_type]


def integer_weights(n, seed):
    """Counts 0..3: zero-weight rows must vanish, as they do when repeated."""
    return np.random.default_rng(seed).integers(0, 4, n)


def fit_pair(x, counts, n_components, covariance_type, seed=0, max_iter=N_ITER):
    """(cyem model, scikit-learn model, data as scikit-learn saw it) from the
    same starting parameters, ``tol=0`` so both run exactly ``max_iter`` steps."""
    K = n_components
    weights, means, variances = starting_parameters(x, K, seed)
    start = dict(weights_init=weights, means_init=means.reshape(K, 1),
                 precisions_init=precisions_init(weights, variances, covariance_type))
    common = dict(covariance_type=covariance_type, tol=0.0, reg_covar=REG_COVAR,
                  max_iter=max_iter, **start)
    X_sk = (x if counts is None else np.repeat(x, counts)).reshape(-1, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkConvergenceWarning)
        warnings.simplefilter("ignore", cyem.ConvergenceWarning)
        # All three starting values are given, so init_params only decides
        # what scikit-learn computes and then discards; pick the cheapest.
        sk = sklearn_mixture.GaussianMixture(K, init_params="random_from_data",
                                             random_state=0, **common).fit(X_sk)
        cy = cyem.GaussianMixture(K, n_threads=1, **common)
        cy.fit(x, sample_weight=None if counts is None else counts.astype(np.float64))
    return cy, sk, X_sk


def mean_atol(x):
    # A mean near zero makes a pure relative check ill-posed: its rounding
    # error is set by the magnitude of the data it averages, not by its own
    # value. So allow RTOL of the data's scale in absolute terms as well.
    return RTOL * np.max(np.abs(x))


# ---- 100 EM iterations agree ---------------------------------------------------

@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("covariance_type", ["full", "tied"])
@pytest.mark.parametrize("n_components", [1, 2, 3, 10])
def test_hundred_iterations_agree_with_sklearn(n_components, covariance_type, weighted):
    x = mixture_data(seed=n_components)
    counts = integer_weights(x.size, seed=n_components + 50) if weighted else None
    cy, sk, X_sk = fit_pair(x, counts, n_components, covariance_type, seed=n_components)

    assert cy.n_iter_ == N_ITER and sk.n_iter_ == N_ITER
    assert not cy.converged_ and not sk.converged_
    assert_allclose(cy.weights_, sk.weights_, rtol=RTOL)
    assert_allclose(cy.means_, sk.means_, rtol=RTOL, atol=mean_atol(x))
    assert cy.covariances_.shape == sk.covariances_.shape
    assert_allclose(cy.covariances_, sk.covariances_, rtol=RTOL)
    assert_allclose(cy.precisions_cholesky_, sk.precisions_cholesky_, rtol=RTOL)
    # lower_bound_: the mean log-likelihood of the parameters entering the
    # last iteration, in both libraries; the whole history must agree too.
    assert cy.lower_bound_ == pytest.approx(sk.lower_bound_, rel=LL_RTOL, abs=0)
    assert len(cy.lower_bounds_) == len(sk.lower_bounds_) == N_ITER
    assert_allclose(cy.lower_bounds_, sk.lower_bounds_, rtol=LL_RTOL)
    # The final log-likelihood, of the parameters after the last M step (per
    # unit of weight for cyem, per repeated row for scikit-learn).
    sw = None if counts is None else counts.astype(np.float64)
    assert cy.score(x, sample_weight=sw) == pytest.approx(sk.score(X_sk), rel=LL_RTOL, abs=0)
    assert cy.bic(x, sample_weight=sw) == pytest.approx(sk.bic(X_sk), rel=LL_RTOL, abs=0)
    assert cy.aic(x, sample_weight=sw) == pytest.approx(sk.aic(X_sk), rel=LL_RTOL, abs=0)


# ---- attribute shapes for all four covariance types ------------------------------

@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_attribute_shapes_and_values_match_sklearn(covariance_type):
    x = mixture_data(seed=11, n=800)
    K = 3
    cy, sk, _ = fit_pair(x, None, K, covariance_type, seed=5, max_iter=30)
    assert cy.weights_.shape == sk.weights_.shape == (K,)
    assert cy.means_.shape == sk.means_.shape == (K, 1)
    for name in ("covariances_", "precisions_", "precisions_cholesky_"):
        ours, theirs = getattr(cy, name), getattr(sk, name)
        assert ours.shape == theirs.shape, name
        assert_allclose(ours, theirs, rtol=RTOL, err_msg=name)
    assert_allclose(cy.weights_, sk.weights_, rtol=RTOL)
    assert_allclose(cy.means_, sk.means_, rtol=RTOL, atol=mean_atol(x))
    assert cy._n_parameters() == sk._n_parameters()


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("n_components", [1, 4])
def test_parameter_count_matches_sklearn(n_components, covariance_type):
    x = mixture_data(seed=2, n=300)
    cy, sk, _ = fit_pair(x, None, n_components, covariance_type, max_iter=2)
    assert cy._n_parameters() == sk._n_parameters()


# ---- the predict family on the fitted parameters ---------------------------------

@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_predict_family_agrees_with_sklearn(covariance_type):
    x = mixture_data(seed=21, n=1200)
    cy, sk, X_sk = fit_pair(x, None, 3, covariance_type, seed=4)
    # New points, including far tails where log-sum-exp must not underflow.
    rng = np.random.default_rng(22)
    x_new = np.concatenate([rng.uniform(-12, 12, 3000), [-80.0, 60.0, 0.0]])
    X_new = x_new.reshape(-1, 1)

    ll_cy, ll_sk = cy.score_samples(x_new), sk.score_samples(X_new)
    # Log-densities cross zero where the density crosses 1, so relative
    # agreement alone is ill-posed there; LL_RTOL absolute is the same
    # accuracy for a log-likelihood of order one. Measured: 3.6e-14.
    assert_allclose(ll_cy, ll_sk, rtol=LL_RTOL, atol=LL_RTOL)

    proba_cy, proba_sk = cy.predict_proba(x_new), sk.predict_proba(X_new)
    assert proba_cy.shape == proba_sk.shape == (x_new.size, 3)
    # Probabilities in [0, 1]: an absolute tolerance is the meaningful one
    # (a relative one on probabilities of 1e-300 would only test underflow).
    assert_allclose(proba_cy, proba_sk, rtol=0, atol=RTOL)

    # Labels agree wherever the decision is not a near-tie between the two
    # most probable components (the fits differ by rounding, not by design).
    top2 = np.sort(proba_sk, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-6
    assert clear.mean() > 0.99
    np.testing.assert_array_equal(cy.predict(x_new)[clear], sk.predict(X_new)[clear])

    assert cy.score(x_new) == pytest.approx(sk.score(X_new), rel=LL_RTOL, abs=0)
    assert cy.bic(x) == pytest.approx(sk.bic(X_sk), rel=LL_RTOL, abs=0)
    assert cy.aic(x) == pytest.approx(sk.aic(X_sk), rel=LL_RTOL, abs=0)
    assert cy.bic(x_new) == pytest.approx(sk.bic(X_new), rel=LL_RTOL, abs=0)


# ---- the kernel's log-likelihood against SciPy -----------------------------------

def scipy_log_lik(x, weights, means, variances):
    """log sum_k w_k N(x_i; mu_k, var_k) per point, from SciPy alone."""
    log_joint = np.log(weights) + norm.logpdf(x[:, None], means, np.sqrt(variances))
    return logsumexp(log_joint, axis=1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_components", [1, 2, 3, 10])
def test_kernel_log_likelihood_matches_scipy(n_components, dtype):
    rng = np.random.default_rng(100 + n_components)
    K = n_components
    weights = rng.dirichlet(np.ones(K))
    means = rng.uniform(-20, 20, K)
    variances = np.exp(rng.uniform(np.log(0.01), np.log(100.0), K))
    n = 2 * _kernels.BLOCK_SIZE + 321
    # Mostly near the components, a few hundred standard deviations out.
    x = np.concatenate([rng.normal(means[rng.integers(0, K, n - 40)], 3.0),
                        rng.uniform(-3000, 3000, 40)]).astype(dtype)
    sample_weight = rng.uniform(0.1, 2.0, n)
    x64 = x.astype(np.float64)
    ref = scipy_log_lik(x64, weights, means, variances)
    arrays = _kernels.component_arrays(weights, means, variances)

    for sw in (None, sample_weight):
        stats = _kernels.accumulate_stats(x, sw, *arrays, 2)
        v = np.ones(n) if sw is None else sw
        # Near the narrowest components densities exceed 1, so per-point
        # log-likelihoods of both signs partly cancel in the sum: bound its
        # rounding by the sum of magnitudes as well as by its value.
        assert stats[0] == pytest.approx(np.dot(v, ref), rel=1e-13,
                                         abs=1e-13 * np.dot(v, np.abs(ref)))
        assert stats[1] == pytest.approx(v.sum(), rel=1e-14)

    per_point = np.empty(n)
    _kernels.evaluate(x, *arrays, 2, out_log_lik=per_point)
    # atol: a log-likelihood near 0 (density near 1) has no relative scale.
    assert_allclose(per_point, ref, rtol=1e-13, atol=1e-13)
