"""The compiled kernels against independent references (SciPy, NumPy, mpmath)."""

import math

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import norm

from cyem import _kernels

EPS = np.finfo(np.float64).eps


def reference_log_joint(x, weights, means, variances):
    """log(w_k N(x_i; mu_k, var_k)) as an (n, K) array, from SciPy."""
    return np.log(weights) + norm.logpdf(x[:, None], means, np.sqrt(variances))


def reference_stats(x, sample_weight, weights, means, variances):
    """The kernel's statistics vector computed naively with NumPy/SciPy."""
    v = np.ones_like(x) if sample_weight is None else sample_weight
    log_joint = reference_log_joint(x, weights, means, variances)
    log_lik = logsumexp(log_joint, axis=1)
    resp = np.exp(log_joint - log_lik[:, None]) * v[:, None]
    dev = x[:, None] - means
    return np.concatenate([[np.dot(v, log_lik), v.sum()], resp.sum(0),
                           (resp * dev).sum(0), (resp * dev * dev).sum(0)])


# ---- exp and log against correctly rounded values ------------------------------------
#
# The reference is the exact value (mpmath at 113 bits), and the error is
# counted in ulps of the correctly rounded result, so that a bound means the
# same on every platform (libm's own error differs between them).
#
# Measured on the x86-64-v4 build (dense grids below, plus 2e8 random
# arguments for exp and 3e7 for log): exp at most 1.065 ulp off
# (x = -628.3351702220873), log at most 1.97 ulp (s = 0.6972776568052043).
# Builds without FMA round differently (a plain -O2 build of the same C:
# exp 1.0+ ulp too, log 1.91). The bounds tested are those of an error
# analysis, not of one build:
# * exp: 1/2 ulp for the final rounding of p = 1 + (r + r^2 h), plus up to
#   1/4 ulp of p each for the rounding of the reduced argument r and of
#   r + r^2 h (when p < 1), plus ~0.15 for r^2 h: EXP_MAX_ULP = 1.2.
# * log, near s = 1 (exponent e = 0): f = (m - 1)/(m + 1) carries two
#   roundings, doubled in 2 f, and the final sum one more: LOG_MAX_ULP = 3
#   in ulps of a result that can be small (it is 0 at s = 1).

EXP_MAX_ULP = 1.2
LOG_MAX_ULP = 3.0
LN2 = math.log(2.0)
WORST_EXP_ARGUMENTS = [-628.3351702220873, -316.3663517548207]     # 1.065, 1.005 ulp
WORST_LOG_ARGUMENT = 0.6972776568052043                            # 1.97 ulp


def ulp_errors(got, args, function):
    """|got - f(arg)| / ulp(f(arg)) for f = 'exp' or 'log', from f(arg) computed
    by mpmath to 113 bits. (mpmath's low-level functions on (sign, mantissa,
    exponent) tuples: several times faster than its mpf objects.)"""
    libmp = pytest.importorskip("mpmath.libmp")
    exact_f = {"exp": libmp.mpf_exp, "log": libmp.mpf_log}[function]
    to_mpf, to_float = libmp.from_float, libmp.to_float
    errors = np.empty(len(args))
    for i, (value, arg) in enumerate(zip(np.asarray(got).tolist(),
                                         np.asarray(args).tolist())):
        exact = exact_f(to_mpf(arg), 113, "n")
        ulp = math.ulp(to_float(exact, rnd="n"))
        # Divide before converting: the difference alone may be subnormal.
        error = libmp.mpf_div(libmp.mpf_sub(to_mpf(value), exact, 113, "n"),
                              to_mpf(ulp), 53, "n")
        errors[i] = abs(to_float(error, rnd="n"))
    return errors


def exp_grid(n_random, seed):
    """Arguments in [-708, 0]: a uniform grid; both ends of the reduction
    interval |r| <= ln2 / 2 for every exponent n (x = n ln2 + r), where the
    rounding is worst; arguments near 0; ``n_random`` uniform ones."""
    rng = np.random.default_rng(seed)
    n = np.arange(-1021, 1)
    edges = np.concatenate([n * LN2 + r for r in (-0.3465, -0.25, 0.25, 0.3465)])
    x = np.concatenate([np.linspace(-708.0, 0.0, 30_001), edges,
                        -np.geomspace(1e-300, 1.0, 2000), -rng.uniform(0, 708, n_random),
                        WORST_EXP_ARGUMENTS])
    return x[(x <= 0) & (x >= -708.0)]


def log_grid(n_random, seed):
    """Positive normal arguments: dense in [1/2, 4] (where log is small and its
    ulp too), around every power of two and its sqrt(2) multiple (where the
    mantissa switches), over the whole exponent range, and ``n_random`` ones."""
    rng = np.random.default_rng(seed)
    powers = 2.0 ** np.arange(-1021, 1024)
    x = np.concatenate([np.geomspace(0.5, 4.0, 20_001), powers, powers * math.sqrt(2.0),
                        np.nextafter(powers * math.sqrt(2.0), np.inf),
                        np.exp(rng.uniform(-700, 700, 5000)),
                        np.exp(rng.uniform(math.log(0.5), math.log(4.0), n_random)),
                        [WORST_LOG_ARGUMENT]])
    return x[np.isfinite(x) & (x >= 2.0 ** -1021)]


def assert_within(errors, args, bound, name):
    worst = int(np.argmax(errors))
    assert errors[worst] <= bound, f"{name}({args[worst]!r}) is {errors[worst]:.3f} ulp off"


@pytest.mark.parametrize("n_random, seed", [
    (5_000, 0), pytest.param(300_000, 1, marks=pytest.mark.slow)])
def test_exp_within_its_ulp_bound(n_random, seed):
    x = exp_grid(n_random, seed)
    assert_within(ulp_errors(_kernels.exp_nonpos(x), x, "exp"), x, EXP_MAX_ULP, "exp")
    assert _kernels.exp_nonpos(np.array([0.0]))[0] == 1.0   # exactly 1: labels rely on it


@pytest.mark.parametrize("n_random, seed", [
    (5_000, 0), pytest.param(300_000, 1, marks=pytest.mark.slow)])
def test_log_within_its_ulp_bound(n_random, seed):
    s = log_grid(n_random, seed)
    assert_within(ulp_errors(_kernels.log_pos(s), s, "log"), s, LOG_MAX_ULP, "log")
    assert _kernels.log_pos(np.array([1.0]))[0] == 0.0


def test_exp_flushes_tiny_and_infinite_arguments_to_zero():
    got = _kernels.exp_nonpos(np.array([-709.0, -745.2, -1e300, -np.inf]))
    assert np.array_equal(got, np.zeros(4))


def test_log_accurate_over_the_range_the_kernel_uses():
    rng = np.random.default_rng(1)
    s = np.concatenate([rng.uniform(1.0, 1000.0, 200_000), [1.0, 2.0, math.sqrt(2.0),
                        np.nextafter(math.sqrt(2.0), 2), 1e-300, 1e300]])
    got = _kernels.log_pos(s)
    ref = np.array([math.log(v) for v in s])
    # Absolute error relative to max(1, |log s|): what matters when the log is
    # added to the maximum log-density.
    err = np.abs(got - ref) / np.maximum(1.0, np.abs(ref))
    assert err.max() <= 2 * EPS
    assert got[s == 1.0][0] == 0.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("K", [1, 3, 12])
def test_accumulate_matches_scipy(dtype, weighted, K):
    rng = np.random.default_rng(K)
    n = 3 * _kernels.BLOCK_SIZE + 123          # several blocks and a partial one
    x = rng.normal(0, 3, n).astype(dtype)
    sample_weight = rng.uniform(0, 2, n) if weighted else None
    weights = rng.dirichlet(np.ones(K))
    means = rng.normal(0, 3, K)
    variances = rng.uniform(0.3, 4, K)
    stats = _kernels.accumulate_stats(x, sample_weight,
                                      *_kernels.component_arrays(weights, means, variances), 2)
    ref = reference_stats(x.astype(np.float64), sample_weight, weights, means, variances)
    np.testing.assert_allclose(stats[:2 + K], ref[:2 + K], rtol=1e-12)
    # S_k is a signed sum with cancellation: compare against its scale.
    scale = np.abs(ref[2 + K:]).max()
    np.testing.assert_allclose(stats[2 + K:], ref[2 + K:], rtol=1e-11, atol=1e-12 * scale)


def test_accumulate_bitwise_identical_for_any_thread_count():
    rng = np.random.default_rng(3)
    x = rng.normal(size=10 * _kernels.BLOCK_SIZE + 7)
    arrays = _kernels.component_arrays(np.array([0.2, 0.5, 0.3]), np.array([-1.0, 0, 2]),
                                       np.array([0.5, 1.0, 2.0]))
    results = [_kernels.accumulate_stats(x, None, *arrays, t) for t in (1, 2, 3, 8)]
    for other in results[1:]:
        assert np.array_equal(results[0], other)


@pytest.mark.parametrize("weighted", [False, True])
def test_float32_data_give_bitwise_the_stats_of_the_same_values_in_float64(weighted):
    """The float32 kernels convert each value to float64 as they read it, and
    then run the float64 arithmetic: equal values, equal bits."""
    rng = np.random.default_rng(6)
    n, K = 3 * _kernels.BLOCK_SIZE + 77, 4
    x32 = (rng.normal(0, 3, n) + 1e3).astype(np.float32)
    x64 = x32.astype(np.float64)
    sample_weight = rng.uniform(0, 2, n) if weighted else None
    arrays = _kernels.component_arrays(rng.dirichlet(np.ones(K)), rng.normal(1e3, 3, K),
                                       rng.uniform(0.3, 4, K))
    assert np.array_equal(_kernels.accumulate_stats(x32, sample_weight, *arrays, 2),
                          _kernels.accumulate_stats(x64, sample_weight, *arrays, 2))
    outputs = []
    for x in (x32, x64):
        out = (np.empty(n), np.empty((n, K)), np.empty(n, np.int64))
        _kernels.evaluate(x, *arrays, 2, out_log_lik=out[0], out_resp=out[1],
                          out_label=out[2])
        outputs.append(out)
    for got32, got64 in zip(*outputs):
        assert np.array_equal(got32, got64)


def test_accumulate_handles_zero_weight_components():
    x = np.linspace(-3, 3, 1000)
    weights = np.array([0.0, 1.0])
    stats = _kernels.accumulate_stats(
        x, None, *_kernels.component_arrays(weights, np.array([0.0, 0.0]), np.ones(2)), 1)
    assert np.all(np.isfinite(stats))
    assert stats[2] == 0.0 and stats[3] == pytest.approx(1000.0, rel=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_evaluate_matches_scipy(dtype):
    rng = np.random.default_rng(4)
    n, K = 2 * _kernels.BLOCK_SIZE + 50, 4
    x = rng.normal(0, 4, n).astype(dtype)
    weights, means, variances = rng.dirichlet(np.ones(K)), rng.normal(0, 3, K), \
        rng.uniform(0.5, 3, K)
    log_lik, resp, labels = np.empty(n), np.empty((n, K)), np.empty(n, np.int64)
    _kernels.evaluate(x, *_kernels.component_arrays(weights, means, variances), 2,
                      out_log_lik=log_lik, out_resp=resp, out_label=labels)
    log_joint = reference_log_joint(x.astype(np.float64), weights, means, variances)
    ref_ll = logsumexp(log_joint, axis=1)
    np.testing.assert_allclose(log_lik, ref_ll, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(resp, np.exp(log_joint - ref_ll[:, None]), atol=1e-14)
    np.testing.assert_array_equal(labels, np.argmax(log_joint, axis=1))


def test_evaluate_outputs_are_optional():
    x = np.linspace(-1, 1, 100)
    arrays = _kernels.component_arrays(np.array([0.5, 0.5]), np.array([-1.0, 1.0]), np.ones(2))
    labels = np.full(100, -1, np.int64)
    _kernels.evaluate(x, *arrays, 1, out_label=labels)
    assert set(labels.tolist()) == {0, 1}
    assert np.all(labels[x < 0] == 0) and np.all(labels[x > 0] == 1)


def test_lloyd_1d_converges_to_cluster_means():
    x = np.concatenate([np.full(10, 0.0), np.full(10, 1.0), np.full(5, 10.0)])
    centers = np.array([9.0, 0.2, 0.9])
    counts, sums, sq_sums, n_iter = _kernels.lloyd_1d(x, None, centers, 20)
    np.testing.assert_allclose(centers, [0.0, 1.0, 10.0])   # sorted in place
    np.testing.assert_array_equal(counts, [10, 10, 5])
    np.testing.assert_allclose(sums, 0.0, atol=1e-15)       # centred on the centres
    np.testing.assert_allclose(sq_sums, 0.0, atol=1e-15)
    assert 1 <= n_iter <= 20


def test_lloyd_1d_keeps_an_empty_centre_in_place():
    x = np.concatenate([np.full(10, 0.0), np.full(10, 1.0), np.full(5, 10.0)])
    centers = np.array([0.4, 5.0, 9.0])      # 5.0 wins no point: a local optimum
    counts, sums, sq_sums, _ = _kernels.lloyd_1d(x, None, centers, 20)
    np.testing.assert_allclose(centers, [0.5, 5.0, 10.0])
    np.testing.assert_array_equal(counts, [20, 0, 5])
    assert sq_sums[0] == pytest.approx(20 * 0.25, rel=1e-15, abs=0)


def test_kmeans_plusplus_picks_distinct_data_points():
    rng = np.random.default_rng(5)
    x = np.repeat(np.array([1.0, 2.0, 3.0, 50.0]), 25)
    centers = _kernels.kmeans_plusplus_1d(x, None, 4, rng.random(1 + 3 * 3), 3)
    assert sorted(centers.tolist()) == [1.0, 2.0, 3.0, 50.0]


def test_random_resp_stats_are_a_soft_partition():
    x = np.arange(1000.0)
    sample_weight = np.full(1000, 2.0)
    counts, sums, sq_sums = _kernels.random_resp_stats(x, sample_weight, 3, 42, 0.0)
    assert counts.sum() == pytest.approx(2000.0, rel=1e-13)
    assert sums.sum() == pytest.approx(2 * x.sum(), rel=1e-13)
    assert sq_sums.sum() == pytest.approx(2 * (x ** 2).sum(), rel=1e-13)
    assert np.all(counts > 500)               # roughly a third each


def test_count_helpers():
    x = np.array([1.0, np.nan, np.inf, -np.inf, 2.0])
    assert _kernels.count_nonfinite(x) == (1, 2)
    assert _kernels.count_nonfinite(x.astype(np.float32)) == (1, 2)
    y = np.array([3.0, 3.0, 1.0, 3.0, 2.0])
    assert _kernels.count_distinct_upto(y, None, 10) == 3
    assert _kernels.count_distinct_upto(y, None, 2) == 2
    assert _kernels.count_distinct_upto(y, np.array([1.0, 1, 0, 1, 0]), 10) == 1
