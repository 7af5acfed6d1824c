"""The M steps of cyem/_params.py and cyem/_params_md.py, from statistics built
here: tests that kill mutants ``tools/mutation.py`` found surviving.

The kernels' statistics are sums over the data of v r, v r (x - c) and
v r (x - c)^2 (or the outer products), with c the previous means. Here they
are computed in NumPy from data and responsibilities chosen by the test, and
the M step's output is compared with the weighted means and (co)variances
computed directly from the same data: an independent implementation of the
formulas in the docstrings.
"""

import numpy as np
import pytest

from cyem import _mdkernels
from cyem import _params as uni
from cyem import _params_md as md

EPS = np.finfo(np.float64).eps
COUNT_EPS = 10 * EPS         # scikit-learn's (and cyem's) 10 eps added to each count


def _uni_problem(seed=0, n=40, K=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n) * 3 + 1
    resp = rng.dirichlet(np.ones(K), size=n)
    v = rng.uniform(0.5, 2.0, size=n)
    centres = rng.normal(size=K)
    return x, resp, v, centres


def _uni_stats(x, resp, v, centres):
    """(L, W, N, S, Q) around ``centres``, as ``_kernels.accumulate_stats`` lays them out."""
    vr = v[:, None] * resp
    dev = x[:, None] - centres[None, :]
    return np.r_[-1.0, v.sum(), vr.sum(0), (vr * dev).sum(0), (vr * dev ** 2).sum(0)]


def _direct_uni(x, resp, v, reg_covar, tied=False):
    vr = v[:, None] * resp
    counts = vr.sum(0) + COUNT_EPS
    means = (vr * x[:, None]).sum(0) / counts
    scatter = (vr * (x[:, None] - means) ** 2).sum(0)
    variances = (np.full(len(counts), scatter.sum() / counts.sum()) if tied
                 else scatter / counts) + reg_covar
    return counts / counts.sum(), means, variances


@pytest.mark.parametrize("tied", [False, True])
def test_univariate_m_step_is_the_weighted_mean_and_variance(tied):
    x, resp, v, centres = _uni_problem()
    previous = uni.MixtureParams(np.full(3, 1 / 3), centres, np.ones(3))
    new, report = uni.m_step(_uni_stats(x, resp, v, centres), previous, tied, 0.01, 1e-30)
    weights, means, variances = _direct_uni(x, resp, v, 0.01, tied)
    np.testing.assert_allclose(new.weights, weights, rtol=1e-13)
    np.testing.assert_allclose(new.means, means, rtol=1e-12)
    np.testing.assert_allclose(new.variances, variances, rtol=1e-12)
    assert not (report.empty or report.collapsed or report.singular)


def test_univariate_m_step_keeps_an_empty_component_and_floors_a_collapsed_one():
    x, resp, v, centres = _uni_problem(1)
    resp[:, 0] = 0.0                              # component 0 gets no mass at all
    resp[:, 1] = np.where(np.arange(len(x)) == 3, 1.0, 0.0)   # component 1: one point
    resp[:, 2] = 1.0 - resp[:, 1]
    centres[1] = x[3]               # so that its scatter is exactly 0, not rounding
    previous = uni.MixtureParams(np.full(3, 1 / 3), centres, np.array([2.0, 3.0, 4.0]))
    floor = 1e-20
    new, report = uni.m_step(_uni_stats(x, resp, v, centres), previous, False, 0.0, floor)
    assert new.means[0] == centres[0] and new.variances[0] == 2.0
    total = v.sum() + 3 * COUNT_EPS
    assert new.weights[0] == pytest.approx(COUNT_EPS / total, rel=1e-12)
    assert new.means[1] == pytest.approx(x[3], rel=1e-12)
    assert new.variances[1] == floor                  # one point: scatter 0 -> floor
    assert report.empty == {0} and report.collapsed == {1}


def test_univariate_m_step_counts_a_variance_at_the_floor_as_fine():
    # "smaller ones are raised to it": a variance equal to the floor is kept
    x = np.array([0.0, 2.0])
    resp = np.ones((2, 1))
    centres = np.array([1.0])
    previous = uni.MixtureParams(np.ones(1), centres, np.ones(1))
    stats = _uni_stats(x, resp, np.ones(2), centres)
    variance = stats[4] / (stats[2] + COUNT_EPS)      # scatter / N: just below 1
    new, report = uni.m_step(stats, previous, False, 0.0, variance)
    assert new.variances[0] == variance and not report.collapsed


def test_univariate_recentre_gives_the_variances_around_the_new_centres():
    x, resp, v, centres = _uni_problem(2)
    fixed = np.array([-1.0, 0.5, 4.0])
    stats = uni.recentre(_uni_stats(x, resp, v, centres), 3, centres, fixed)
    around_fixed = _uni_stats(x, resp, v, fixed)
    around_fixed[5:8] = 0.0                                  # S = 0 holds the means
    np.testing.assert_allclose(stats, around_fixed, rtol=1e-12, atol=1e-12)
    new, _ = uni.m_step(stats, uni.MixtureParams(np.ones(3) / 3, fixed, np.ones(3)),
                        False, 0.0, 1e-30)
    np.testing.assert_array_equal(new.means, fixed)
    vr = v[:, None] * resp
    expected = (vr * (x[:, None] - fixed) ** 2).sum(0) / (vr.sum(0) + COUNT_EPS)
    np.testing.assert_allclose(new.variances, expected, rtol=1e-12)


def test_univariate_recentre_keeps_small_scatters():
    # x = +-0.1 around a held mean of 0: sum (x - 0)^2 = 0.02, far below 1
    x = np.array([-0.1, 0.1])
    stats = uni.recentre(_uni_stats(x, np.ones((2, 1)), np.ones(2), np.array([0.05])), 1,
                         np.array([0.05]), np.array([0.0]))
    assert stats[4] == pytest.approx(0.02, rel=1e-14)


@pytest.mark.parametrize("covariance_type, shape", [
    ("full", (3, 1, 1)), ("tied", (1, 1)), ("diag", (3, 1)), ("spherical", (3,))])
def test_covariances_for_has_scikit_learns_shapes(covariance_type, shape):
    variances = np.array([1.0, 2.0, 3.0])
    out = uni.covariances_for(variances, covariance_type)
    assert out.shape == shape
    np.testing.assert_array_equal(out.ravel(), variances[:out.size])
    out.ravel()[0] = 99.0
    assert variances[0] == 1.0                  # a copy, not a view


def test_variances_from_precisions_inverts_them():
    np.testing.assert_array_equal(
        uni.variances_from_precisions(np.array([4.0, 0.5]), 2, "diag"), [0.25, 2.0])
    np.testing.assert_array_equal(
        uni.variances_from_precisions(np.array([[4.0]]), 3, "tied"), [0.25] * 3)


def test_mstep_report_merge_is_a_union():
    a, b = uni.MStepReport({0}, {1}, set()), uni.MStepReport({2}, set(), {3})
    a.merge(b)
    assert (a.empty, a.collapsed, a.singular) == ({0, 2}, {1}, {3})


# ---- multivariate ------------------------------------------------------------

def _md_problem(seed=0, n=60, K=3, d=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + rng.normal(size=d)
    resp = rng.dirichlet(np.ones(K), size=n)
    v = rng.uniform(0.5, 2.0, size=n)
    centres = rng.normal(size=(K, d))
    return X, resp, v, centres


def _md_stats(X, resp, v, centres, kind):
    vr = v[:, None] * resp                                     # (n, K)
    dev = X[:, None, :] - centres[None]                        # (n, K, d)
    S = np.einsum("nk,nkd->kd", vr, dev)
    if kind == _mdkernels.FULL:
        Q = np.einsum("nk,nkd,nke->kde", vr, dev, dev)
    else:
        Q = np.einsum("nk,nkd->kd", vr, dev ** 2)
    return np.r_[-1.0, v.sum(), vr.sum(0), S.ravel(), Q.ravel()]


def _direct_md(X, resp, v, reg_covar, covariance_type, fixed_means=None):
    vr = v[:, None] * resp
    counts = vr.sum(0) + COUNT_EPS
    means = vr.T @ X / counts[:, None] if fixed_means is None else fixed_means
    d = X.shape[1]
    covs = np.array([(vr[:, k, None] * (X - means[k])).T @ (X - means[k]) / counts[k]
                     for k in range(len(counts))])
    if covariance_type == "full":
        cov = covs + reg_covar * np.eye(d)
    elif covariance_type == "tied":
        cov = (covs * counts[:, None, None]).sum(0) / counts.sum() + reg_covar * np.eye(d)
    elif covariance_type == "diag":
        cov = np.diagonal(covs, axis1=1, axis2=2) + reg_covar
    else:
        cov = np.diagonal(covs, axis1=1, axis2=2).mean(1) + reg_covar
    return counts / counts.sum(), means, cov


def _md_previous(covariance_type, centres):
    K, d = centres.shape
    cov = {"full": np.tile(np.eye(d), (K, 1, 1)), "tied": np.eye(d),
           "diag": np.ones((K, d)), "spherical": np.ones(K)}[covariance_type]
    cov, prec_chol = md.precision_cholesky(cov, covariance_type)
    return md.MDParams(covariance_type, np.full(K, 1 / K), centres, cov, prec_chol)


COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_multivariate_m_step_is_the_weighted_mean_and_covariance(covariance_type):
    X, resp, v, centres = _md_problem()
    previous = _md_previous(covariance_type, centres)
    stats = _md_stats(X, resp, v, centres, previous.kind)
    new, report = md.m_step(stats, previous, 0.01)
    weights, means, cov = _direct_md(X, resp, v, 0.01, covariance_type)
    np.testing.assert_allclose(new.weights, weights, rtol=1e-13)
    np.testing.assert_allclose(new.means, means, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(new.covariances, cov, rtol=1e-11, atol=1e-12)
    # precisions_cholesky: U with U U^T = cov^-1 (upper triangular for full/tied)
    precisions = md.precisions_from_cholesky(new.precisions_cholesky, covariance_type)
    if covariance_type in ("full", "tied"):
        np.testing.assert_allclose(precisions, np.linalg.inv(cov), rtol=1e-10)
        assert np.allclose(new.precisions_cholesky, np.triu(new.precisions_cholesky))
    else:
        np.testing.assert_allclose(precisions, 1 / cov, rtol=1e-12)
    assert not (report.empty or report.collapsed or report.singular)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_multivariate_recentre_holds_the_means_and_uses_them_for_the_covariances(
        covariance_type):
    X, resp, v, centres = _md_problem(1)
    fixed = centres + np.array([0.5, -1.0, 2.0])
    previous = _md_previous(covariance_type, centres)
    K, d = centres.shape
    stats = md.recentre(_md_stats(X, resp, v, centres, previous.kind), K, d,
                        previous.kind, centres, fixed)
    held = md.MDParams(covariance_type, previous.weights, fixed, previous.covariances,
                       previous.precisions_cholesky)
    new, _ = md.m_step(stats, held, 0.0)
    np.testing.assert_array_equal(new.means, fixed)
    _, _, cov = _direct_md(X, resp, v, 0.0, covariance_type, fixed_means=fixed)
    np.testing.assert_allclose(new.covariances, cov, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_multivariate_recentre_keeps_small_scatters(covariance_type):
    # two points at +-0.1 (feature 0) and +-0.2 (feature 1) around a held mean
    # of 0: sums of squares 0.02 and 0.08, far below 1
    X = np.array([[-0.1, 0.2], [0.1, -0.2]])
    centres, fixed = np.array([[0.05, 0.05]]), np.zeros((1, 2))
    kind = _md_previous(covariance_type, centres).kind
    stats = md.recentre(_md_stats(X, np.ones((2, 1)), np.ones(2), centres, kind), 1, 2,
                        kind, centres, fixed)
    _, _, _, sums, moments = md.split_stats(stats, 1, 2, kind)
    np.testing.assert_array_equal(sums, 0.0)
    expected = np.array([[0.02, -0.04], [-0.04, 0.08]])       # sum x x^T
    if kind != _mdkernels.FULL:
        expected = np.diag(expected)
    np.testing.assert_allclose(moments[0], expected, rtol=1e-13, atol=1e-17)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_multivariate_m_step_keeps_an_empty_component(covariance_type):
    X, resp, v, centres = _md_problem(2)
    resp[:, 0] = 0.0
    resp /= resp.sum(1, keepdims=True)
    previous = _md_previous(covariance_type, centres)
    previous.covariances = previous.covariances * 2.5
    new, report = md.m_step(_md_stats(X, resp, v, centres, previous.kind), previous, 0.0)
    np.testing.assert_array_equal(new.means[0], centres[0])
    np.testing.assert_array_equal(new.covariances[0], previous.covariances[0])
    assert new.weights[0] == pytest.approx(COUNT_EPS / (v.sum() + 3 * COUNT_EPS), rel=1e-12)
    assert report.empty == {0}


@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
def test_diagonal_variances_below_eps_squared_are_floored_and_reported(covariance_type):
    floor = EPS ** 2
    cov = np.array([[floor, 1.0], [0.5 * floor, 2.0]]) if covariance_type == "diag" \
        else np.array([floor, 0.5 * floor])
    report = uni.MStepReport()
    out, prec_chol = md.precision_cholesky(cov, covariance_type, report)
    expected = np.where(cov < floor, floor, cov)         # at the floor is fine
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_allclose(prec_chol, 1 / np.sqrt(expected), rtol=1e-15)
    assert report.collapsed == {1}


def test_singular_covariance_gets_the_smallest_power_of_ten_jitter():
    # rank one: [[1, 1], [1, 1]]; jitter t = 10^j * eps * trace / d, smallest j
    # for which Cholesky succeeds
    cov = np.ones((2, 2))
    report = uni.MStepReport()
    out, prec_chol = md.precision_cholesky(cov[None], "full", report)
    base = EPS * 2.0 / 2
    for j in range(40):
        try:
            np.linalg.cholesky(cov + np.eye(2) * base * 10.0 ** j)
        except np.linalg.LinAlgError:
            continue
        break
    np.testing.assert_array_equal(out[0], cov + np.eye(2) * base * 10.0 ** j)
    assert report.singular == {0}


def test_zero_covariance_is_jittered_by_at_least_eps_squared():
    out, _ = md.precision_cholesky(np.zeros((2, 2)), "tied", uni.MStepReport())
    floor = EPS ** 2
    expected = next(floor * 10.0 ** j for j in range(40)
                    if np.all(np.linalg.eigvalsh(np.eye(2) * floor * 10.0 ** j) > 0))
    np.testing.assert_array_equal(out, np.eye(2) * expected)


@pytest.mark.parametrize("covariance_type, expected", [
    # scikit-learn's _n_parameters for K=3, d=4: covariance + means + weights
    ("full", 3 * 10 + 12 + 2), ("tied", 10 + 12 + 2), ("diag", 12 + 12 + 2),
    ("spherical", 3 + 12 + 2)])
def test_n_parameters(covariance_type, expected):
    assert md.n_parameters(3, 4, covariance_type) == expected


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_kernel_arrays_log_norm_is_log_weight_minus_half_d_log_2pi_plus_log_det(
        covariance_type):
    _, _, _, centres = _md_problem(3)
    K, d = centres.shape
    cov = {"full": np.array([np.diag([1.0, 2.0, 4.0]) * (k + 1) for k in range(K)]),
           "tied": np.diag([1.0, 2.0, 4.0]),
           "diag": np.array([[1.0, 2.0, 4.0]] * K) * np.arange(1, K + 1)[:, None],
           "spherical": np.array([1.0, 2.0, 3.0])}[covariance_type]
    cov, prec_chol = md.precision_cholesky(cov, covariance_type)
    weights = np.array([0.2, 0.3, 0.5])
    params = md.MDParams(covariance_type, weights, centres, cov, prec_chol)
    _, log_norm, _, kind = params.kernel_arrays()
    full_cov = {"full": lambda: cov, "tied": lambda: np.array([cov] * K),
                "diag": lambda: np.array([np.diag(c) for c in cov]),
                "spherical": lambda: np.array([np.eye(d) * c for c in cov])}[covariance_type]()
    expected = (np.log(weights) - 0.5 * d * np.log(2 * np.pi)
                - 0.5 * np.linalg.slogdet(full_cov)[1])
    np.testing.assert_allclose(log_norm, expected, rtol=1e-13)
    assert kind == (_mdkernels.FULL if covariance_type in ("full", "tied") else _mdkernels.DIAG)
