"""Starting parameters for EM.

Each strategy partitions the data (hard or soft), and the partition's
weighted count, mean and variance per component become the initial weights,
means and variances -- as scikit-learn does from its initial responsibilities.
The passes over the data run in the compiled kernels; none allocates memory
proportional to n_samples (k-means++ seeds on a bounded subsample).

Strategies (``init_params``):

'kmeans' (default)
    k-means++ seeding, then up to ``LLOYD_MAX_ITER`` Lloyd iterations on all
    the data; the final clusters give the parameters.
'k-means++'
    k-means++ seeding only; every point joins its nearest seed.
'random'
    Random memberships (uniform draws normalised per point), as scikit-learn.
'random_from_data'
    K distinct data points drawn at random as seeds; every point joins its
    nearest seed. (scikit-learn starts such a component from its single seed
    point with variance ``reg_covar``; the nearest-seed partition starts it
    with the spread of its neighbourhood instead, which EM escapes from far
    more reliably.)
'quantile'
    The sorted data cut into K groups of equal total weight; deterministic,
    needs no random state (mclust-like). Sorts a copy of the data.
"""

import math

import numpy as np

from . import _kernels
from ._params import MixtureParams

INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data", "quantile")

#: k-means++ seeds on at most this many points, drawn at random, so that the
#: seeding needs O(1) memory in n; the Lloyd steps that follow use all points.
SEEDING_SAMPLE_SIZE = 20_000
LLOYD_MAX_ITER = 20


def initial_parameters(x, sample_weight, n_components, init_params, rng, reg_covar,
                       variance_floor):
    """Starting ``MixtureParams`` for the chosen strategy.

    Parameters
    ----------
    x : ndarray of shape (n,), float32 or float64, contiguous
    sample_weight : ndarray of shape (n,) or None
    n_components : int
        At most the number of distinct values of x (checked by the caller).
    init_params : str
        One of ``INIT_PARAMS``.
    rng : numpy.random.Generator
    reg_covar, variance_floor : float
        As in the M step.
    """
    K = n_components
    if init_params == "kmeans":
        centers = _kmeans_plusplus(x, sample_weight, K, rng)
        counts, sums, sq_sums, _ = _kernels.lloyd_1d(x, sample_weight, centers,
                                                     LLOYD_MAX_ITER)
    elif init_params == "k-means++":
        centers = _kmeans_plusplus(x, sample_weight, K, rng)
        counts, sums, sq_sums, _ = _kernels.lloyd_1d(x, sample_weight, centers, 0)
    elif init_params == "random_from_data":
        centers = _distinct_random_points(x, sample_weight, K, rng)
        counts, sums, sq_sums, _ = _kernels.lloyd_1d(x, sample_weight, centers, 0)
    elif init_params == "random":
        centers = np.full(K, _weighted_mean(x, sample_weight))
        seed = int(rng.integers(0, 2**63))
        counts, sums, sq_sums = _kernels.random_resp_stats(
            x, sample_weight, K, seed, float(centers[0]))
    elif init_params == "quantile":
        centers, counts, sums, sq_sums = _quantile_groups(x, sample_weight, K)
    else:  # pragma: no cover - validated by the caller
        raise ValueError(f"unknown init_params {init_params!r}")
    return _params_from_groups(x, sample_weight, centers, counts, sums, sq_sums,
                               reg_covar, variance_floor)


def _params_from_groups(x, sample_weight, centers, counts, sums, sq_sums, reg_covar,
                        variance_floor):
    """Weights, means and variances of groups given their shifted sums.

    An empty group (possible when k-means leaves a centre without points)
    starts at its centre with the data's variance and a weight of one
    point's share, so that every component is alive at the start.
    """
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    empty = counts <= 0
    safe = np.where(empty, 1.0, counts)
    shift = np.asarray(sums) / safe
    means = np.asarray(centers, dtype=np.float64) + np.where(empty, 0.0, shift)
    variances = np.maximum(np.asarray(sq_sums) - np.asarray(sums) * shift, 0.0) / safe
    if empty.any():
        mean = _weighted_mean(x, sample_weight)
        variances[empty] = _weighted_variance(x, sample_weight, mean)
        counts = np.where(empty, total / max(x.shape[0], 1), counts)
    variances = np.maximum(variances + reg_covar, variance_floor)
    return MixtureParams(counts / counts.sum(), means, variances)


def _kmeans_plusplus(x, sample_weight, K, rng):
    """k-means++ centres, seeded on a random subsample when n is large."""
    n = x.shape[0]
    if n > SEEDING_SAMPLE_SIZE:
        # Uniform subsample; its weights go with it, so the draw stays
        # proportional to the sample weights.
        idx = np.sort(rng.choice(n, SEEDING_SAMPLE_SIZE, replace=False))
        xs = np.ascontiguousarray(x[idx])
        ws = None if sample_weight is None else np.ascontiguousarray(sample_weight[idx])
        if _kernels.count_distinct_upto(xs, ws, K) < K:
            xs, ws = x, sample_weight        # too few distinct values: use all
    else:
        xs, ws = x, sample_weight
    n_local_trials = 2 + int(math.log(K))
    uniforms = rng.random(1 + (K - 1) * n_local_trials)
    return _kernels.kmeans_plusplus_1d(xs, ws, K, uniforms, n_local_trials)


def _distinct_random_points(x, sample_weight, K, rng):
    """K data points with distinct values, each drawn with probability
    proportional to its weight."""
    n = x.shape[0]
    chosen = []
    seen = set()
    p = None if sample_weight is None else sample_weight / sample_weight.sum()
    # Draw in rounds: almost always one round, more only with heavy duplication.
    while len(chosen) < K:
        for i in rng.choice(n, size=min(n, 4 * K), replace=True, p=p):
            value = float(x[i])
            if value not in seen:
                seen.add(value)
                chosen.append(value)
                if len(chosen) == K:
                    break
    return np.array(chosen)


def _quantile_groups(x, sample_weight, K):
    """Cut the sorted data into K groups of equal total weight."""
    order = np.argsort(x, kind="stable")
    xs = x[order].astype(np.float64)
    ws = np.ones_like(xs) if sample_weight is None else sample_weight[order]
    cum = np.cumsum(ws)
    # Point i joins group floor(K * (weight before it + half its own) / W).
    group = np.minimum((K * (cum - 0.5 * ws) / cum[-1]).astype(np.intp), K - 1)
    counts = np.bincount(group, weights=ws, minlength=K)
    centers = np.array([xs[group == k].mean() if counts[k] > 0 else xs.mean()
                        for k in range(K)])
    dev = xs - centers[group]
    sums = np.bincount(group, weights=ws * dev, minlength=K)
    sq_sums = np.bincount(group, weights=ws * dev * dev, minlength=K)
    return centers, counts, sums, sq_sums


def _weighted_mean(x, sample_weight):
    if sample_weight is None:
        return float(np.mean(x, dtype=np.float64))
    return float(np.dot(sample_weight, x) / sample_weight.sum())


def _weighted_variance(x, sample_weight, mean):
    dev = x - mean
    if sample_weight is None:
        return float(np.dot(dev, dev) / x.shape[0])
    return float(np.dot(sample_weight, dev * dev) / sample_weight.sum())
