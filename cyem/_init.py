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
    needs no random state (mclust-like). For d >= 2 the data are sorted along
    their first principal axis. Up to ``QUANTILE_EXACT_SIZE`` points the data
    themselves are sorted; beyond, the cuts are the quantiles of an evenly
    strided subsample (no random draw) and one chunked pass assigns every
    point, so memory stays bounded in n.

The default set of starts (``n_init=None``, see :func:`start_strategies`)
is one 'quantile' start followed by ``DEFAULT_SEEDED_STARTS`` starts of the
chosen strategy ('kmeans' by default) drawn from the random state; each start
is run to convergence and the highest log-likelihood is kept. Measured on
galaxies/1000 and faithful$waiting (K = 1..9, mclust's "E" and "V"): the
quantile start alone reaches mclust's log-likelihood in all 36 cells (it is a
close cousin of mclust's default hierarchical start), while k-means seeds end
below it in some (galaxies K = 4 "V": all five k-means seeds 2.91 below, on
the optimum sklearn also finds); seeded starts add diversity where the quantile
start lands on a poor optimum (faithful K = 3 "E": a k-means seed 0.48
higher; galaxies K = 4 "V": a k-means++ seed 1.8 higher).

Everything is computed in the model's frame (``cyem._frame``) and returned as
parameters in that frame.
"""

import math

import numpy as np

from . import _kernels, _mdkernels
from . import _params_md as md
from ._frame import strided_sample
from ._params import MixtureParams
from ._validation import count_distinct

INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data", "quantile")

#: k-means++ seeds on a random subsample of at most this many points (fewer
#: for wide data, so the sample stays within ~256 kB), so that the seeding needs
#: O(1) memory in n; the Lloyd steps that follow use all points.
SEEDING_SAMPLE_SIZE = 20_000
SEEDING_SAMPLE_BYTES = 2 ** 18
LLOYD_MAX_ITER = 20

#: The quantile start sorts the data themselves up to this many points; for
#: more, it cuts at the quantiles of a strided subsample of at least
#: ``QUANTILE_SAMPLE_SIZE`` rows and assigns the points ``QUANTILE_CHUNK_ROWS``
#: at a time (together well under 1 MB of temporaries for one feature).
QUANTILE_EXACT_SIZE = SEEDING_SAMPLE_SIZE
QUANTILE_SAMPLE_SIZE = 4096
QUANTILE_CHUNK_ROWS = 4096

#: With ``n_init=None``: how many starts of the chosen (random) strategy
#: follow the deterministic quantile start.
DEFAULT_SEEDED_STARTS = 2


def start_strategies(init_params, n_init, start_given=False):
    """The strategy of each EM start, in the order they are run.

    Parameters
    ----------
    init_params : str
        One of ``INIT_PARAMS``.
    n_init : int or None
        An int keeps scikit-learn's meaning: ``n_init`` starts of
        ``init_params``. None is cyem's default set: one 'quantile' start (no
        random draws), then ``DEFAULT_SEEDED_STARTS`` starts of
        ``init_params`` seeded from the random state; with
        ``init_params='quantile'`` that start alone, since it is
        deterministic.
    start_given : bool, default=False
        The user gave every starting value (weights, means and precisions):
        then the default set is that one start, since all would be equal.

    Returns
    -------
    list of str
    """
    if n_init is not None:
        return [init_params] * n_init
    if init_params == "quantile" or start_given:
        return [init_params]
    # Quantile first: on equal log-likelihoods the first start wins, so the
    # default fit is mclust-like whenever no seeded start does better.
    return ["quantile"] + [init_params] * DEFAULT_SEEDED_STARTS


def starting_parameters(model, K, init_params, rng, user):
    """Starting parameters in ``model``'s frame: the ``init_params`` strategy,
    overridden by the user's values (scikit-learn's semantics), with the
    model's fixed parameters applied.

    ``user`` is (weights (K,), means, variances (K,) for d = 1 or covariances
    in scikit-learn's shape), each in data units or None.
    """
    user_w, user_m, user_p = user
    if user_w is not None and user_m is not None and user_p is not None:
        start = None            # everything given: no initialisation pass
    else:
        start = initial_parameters(model, K, init_params, rng)
    f = model.frame
    w = user_w if user_w is not None else start.weights
    m = f.means_to_frame(user_m) if user_m is not None else start.means
    if model.n_features == 1:
        var = f.variances_to_frame(user_p) if user_p is not None else start.variances
        if model.tied:
            var = np.full(K, np.dot(w, var))
        return model.apply_fixed(MixtureParams(w.copy(), np.ravel(m).copy(), var.copy()))
    if user_p is not None:
        # The kernels take the upper-triangular factor U (precision = U U^T)
        # that every M step produces; scikit-learn starts from the lower
        # Cholesky factor of precisions_init instead. Same quadratic form.
        cov, prec_chol = md.precision_cholesky(f.variances_to_frame(user_p),
                                               model.covariance_type)
    else:
        cov, prec_chol = start.covariances, start.precisions_cholesky
    return model.apply_fixed(md.MDParams(model.covariance_type, w.copy(), m.copy(),
                                         cov, prec_chol))


def initial_parameters(model, n_components, init_params, rng):
    """Starting parameters (in the model's frame) for the chosen strategy.

    Parameters
    ----------
    model : cyem._model.UnivariateModel or MultivariateModel
        Data, sample weights, frame, covariance type and reg_covar.
    n_components : int
        At most the number of distinct values/rows (checked by the caller).
    init_params : str
        One of ``INIT_PARAMS``.
    rng : numpy.random.Generator
    """
    if model.x.ndim == 1:
        return _univariate(model, n_components, init_params, rng)
    return _multivariate(model, n_components, init_params, rng)


# ---- univariate -------------------------------------------------------------

def _univariate(model, K, init_params, rng):
    x, w, f = model.x, model.sample_weight, model.frame
    frame = (float(f.origin[0]), f.inv_scale)
    if init_params in ("kmeans", "k-means++", "random_from_data"):
        if init_params == "random_from_data":
            centers = _distinct_random_rows(x, w, K, rng)
            centers = (centers.ravel() - frame[0]) * frame[1]
        else:
            centers = _seed_sample(x, w, K, rng, lambda xs, ws, u, t:
                                   _kernels.kmeans_plusplus_1d(xs, ws, K, u, t, *frame))
        n_lloyd = LLOYD_MAX_ITER if init_params == "kmeans" else 0
        counts, sums, sq_sums, _ = _kernels.lloyd_1d(x, w, centers, n_lloyd, *frame)
    elif init_params == "random":
        seed = int(rng.integers(0, 2**63))
        centers = np.zeros(K)            # the frame's origin is the midrange
        counts, sums, sq_sums = _kernels.random_resp_stats(x, w, K, seed, 0.0, *frame)
    elif x.shape[0] <= QUANTILE_EXACT_SIZE:  # quantile
        xs = (np.asarray(x, dtype=np.float64) - frame[0]) * frame[1]
        centers, counts, sums, sq_sums = _quantile_groups_1d(xs, w, K)
    else:
        centers, counts, sums, sq_sums = _quantile_groups_md(
            x[:, None], w, K, np.array([frame[0]]), frame[1])
        centers, sums, sq_sums = centers[:, 0], sums[:, 0], sq_sums[:, 0, 0]
    counts = np.asarray(counts, dtype=np.float64)
    empty = counts <= 0
    counts, means, variances = _group_moments(
        counts, np.asarray(centers, dtype=np.float64)[:, None],
        np.asarray(sums)[:, None], np.asarray(sq_sums)[:, None])
    variances = variances[:, 0]
    if empty.any():
        # k-means left a centre alone: start it with the spread of all the data.
        # bias=True here and below: np.cov's unbiased weighted factor
        # sum(w) - sum(w^2) / sum(w) is <= 0 in float64 once one weight is
        # ~1e16 times the others; the population covariance is what we need.
        xs = (np.asarray(x, dtype=np.float64) - frame[0]) * frame[1]
        variances[empty] = np.cov(xs, aweights=w, bias=True) if xs.size > 1 else 0.0
    variances = np.maximum(variances + model.reg_covar, model.variance_floor)
    if model.tied:
        variances = np.full(K, np.dot(counts, variances) / counts.sum())
    return MixtureParams(counts / counts.sum(), means[:, 0], variances)


def _quantile_groups_1d(xs, sample_weight, K):
    """Cut the sorted data into K groups of equal total weight."""
    order = np.argsort(xs, kind="stable")
    xs = xs[order]
    ws = np.ones_like(xs) if sample_weight is None else sample_weight[order]
    group = _equal_weight_groups(ws, K)
    counts = np.bincount(group, weights=ws, minlength=K)
    centers = np.array([np.average(xs[group == k], weights=ws[group == k])
                        if counts[k] > 0 else 0.0 for k in range(K)])
    dev = xs - centers[group]
    sums = np.bincount(group, weights=ws * dev, minlength=K)
    sq_sums = np.bincount(group, weights=ws * dev * dev, minlength=K)
    return centers, counts, sums, sq_sums


# ---- multivariate -----------------------------------------------------------

def _multivariate(model, K, init_params, rng):
    X, w, f = model.x, model.sample_weight, model.frame
    d = X.shape[1]
    origin = np.ascontiguousarray(f.origin, dtype=np.float64)
    inv_scale = np.full(d, f.inv_scale)
    if init_params in ("kmeans", "k-means++", "random_from_data"):
        if init_params == "random_from_data":
            centers = (_distinct_random_rows(X, w, K, rng) - origin) * inv_scale
        else:
            centers = _seed_sample(X, w, K, rng, lambda xs, ws, u, t:
                                   _mdkernels.kmeans_plusplus(xs, ws, K, u, t, origin,
                                                              inv_scale))
        centers = np.ascontiguousarray(centers)
        n_lloyd = LLOYD_MAX_ITER if init_params == "kmeans" else 0
        counts, sums, outer, _ = _mdkernels.lloyd(X, w, centers, n_lloyd,
                                                  model.n_threads, origin, inv_scale)
    elif init_params == "random":
        seed = int(rng.integers(0, 2**63))
        centers = np.zeros((K, d))
        counts, sums, outer = _mdkernels.random_resp_stats(X, w, K, seed, np.zeros(d),
                                                           origin, inv_scale)
    else:  # quantile along the first principal axis
        centers, counts, sums, outer = _quantile_groups_md(X, w, K, origin, f.inv_scale)
    counts = np.asarray(counts, dtype=np.float64)
    counts, means, _ = _group_moments(counts, centers, sums, np.diagonal(outer, 0, 1, 2))
    safe = np.where(counts > 0, counts, 1.0)
    shift, cov = md.covariances_from_moments(safe, sums * (counts > 0)[:, None],
                                             outer, model.covariance_type,
                                             model.reg_covar)
    cov = _fill_empty_covariances(cov, counts, X, model)
    cov, prec_chol = md.precision_cholesky(cov, model.covariance_type)
    return md.MDParams(model.covariance_type, counts / counts.sum(), means, cov, prec_chol)


def _fill_empty_covariances(cov, counts, X, model):
    """Give components whose group was empty the covariance of all the data."""
    empty = counts <= 0
    if not empty.any() or model.covariance_type == "tied":
        return cov
    # An empty group can only come from k-means leaving a centre alone; the
    # total scatter is a sensible, positive definite stand-in.
    Xf = (np.asarray(X, dtype=np.float64) - model.frame.origin) * model.frame.inv_scale
    full = np.atleast_2d(np.cov(Xf, rowvar=False, aweights=model.sample_weight, bias=True))
    full[np.diag_indices_from(full)] += model.reg_covar + np.finfo(float).eps
    stand_in = {"full": full, "diag": np.diag(full).copy(),
                "spherical": np.diag(full).mean()}[model.covariance_type]
    cov = cov.copy()
    cov[empty] = stand_in
    return cov


def _quantile_groups_md(X, sample_weight, K, origin, inv_scale):
    """Equal-weight groups along the first principal axis of X, as (centers,
    counts, sums, outer) in frame units; large inputs through
    :func:`_strided_quantile_groups`."""
    if X.shape[0] > QUANTILE_EXACT_SIZE:
        return _strided_quantile_groups(X, sample_weight, K, origin, inv_scale)
    Xf = (np.asarray(X, dtype=np.float64) - origin) * inv_scale
    n, d = Xf.shape
    ws = np.ones(n) if sample_weight is None else sample_weight
    mean = np.average(Xf, axis=0, weights=ws)
    if np.count_nonzero(ws > 0) < 2:
        axis = np.eye(d)[0]          # one effective row: any axis will do
    else:
        cov = np.atleast_2d(np.cov(Xf, rowvar=False, aweights=ws, bias=True))
        axis = np.linalg.eigh(cov)[1][:, -1]
    order = np.argsort((Xf - mean) @ axis, kind="stable")
    group = np.empty(n, dtype=np.intp)
    group[order] = _equal_weight_groups(ws[order], K)
    counts = np.bincount(group, weights=ws, minlength=K)
    centers = np.zeros((K, d))
    sums = np.zeros((K, d))
    outer = np.zeros((K, d, d))
    for k in range(K):
        members = group == k
        if counts[k] > 0:
            centers[k] = np.average(Xf[members], axis=0, weights=ws[members])
            dev = Xf[members] - centers[k]
            sums[k] = ws[members] @ dev
            outer[k] = (dev * ws[members, None]).T @ dev
    return centers, counts, sums, outer


def _strided_quantile_groups(X, sample_weight, K, origin, inv_scale):
    """The quantile start for large n in O(chunk) memory: axis and cuts from
    every step-th row (deterministic, spread over the whole input), then one
    pass over the data in chunks accumulates each group's moments around the
    subsample's group means."""
    n, d = X.shape
    Xs = (np.asarray(strided_sample(X, QUANTILE_SAMPLE_SIZE), dtype=np.float64)
          - origin) * inv_scale
    ws = np.ones(Xs.shape[0]) if sample_weight is None else np.asarray(
        strided_sample(sample_weight, QUANTILE_SAMPLE_SIZE), dtype=np.float64)
    if np.count_nonzero(ws) == 0:          # every sampled weight is zero
        ws = np.ones_like(ws)
    mean = np.average(Xs, axis=0, weights=ws)
    axis = np.eye(d)[0] if d == 1 else \
        np.linalg.eigh(np.atleast_2d(np.cov(Xs, rowvar=False, aweights=ws, bias=True)))[1][:, -1]
    proj = (Xs - mean) @ axis
    order = np.argsort(proj, kind="stable")
    sorted_group = _equal_weight_groups(ws[order], K)
    # A row joins group k when its projection is at least cut k-1.
    cuts = np.array([proj[order][np.argmax(sorted_group >= k)] for k in range(1, K)])
    sample_group = np.searchsorted(cuts, proj, side="right")
    centers = np.array([np.average(Xs[sample_group == k], axis=0,
                                   weights=ws[sample_group == k])
                        if ws[sample_group == k].sum() > 0 else mean for k in range(K)])
    counts, sums, outer = np.zeros(K), np.zeros((K, d)), np.zeros((K, d, d))
    for start in range(0, n, QUANTILE_CHUNK_ROWS):
        chunk = (np.asarray(X[start:start + QUANTILE_CHUNK_ROWS], dtype=np.float64)
                 - origin) * inv_scale
        wc = np.ones(chunk.shape[0]) if sample_weight is None else \
            np.asarray(sample_weight[start:start + QUANTILE_CHUNK_ROWS], dtype=np.float64)
        group = np.searchsorted(cuts, (chunk - mean) @ axis, side="right")
        counts += np.bincount(group, weights=wc, minlength=K)
        dev = chunk - centers[group]
        for j in range(d):
            sums[:, j] += np.bincount(group, weights=wc * dev[:, j], minlength=K)
        if d == 1:
            outer[:, 0, 0] += np.bincount(group, weights=wc * dev[:, 0] ** 2, minlength=K)
            continue
        for k in np.unique(group):
            members = group == k
            outer[k] += (dev[members] * wc[members, None]).T @ dev[members]
    return centers, counts, sums, outer


# ---- shared -----------------------------------------------------------------

def _group_moments(counts, centers, sums, sq_sums):
    """Group means and per-feature variances from sums shifted by ``centers``
    (all (K, d)). Empty groups keep their centre, variance 0 (the caller
    regularises), and get one point's share of weight so every component
    starts alive."""
    empty = counts <= 0
    safe = np.where(empty, 1.0, counts)[:, None]
    shift = np.where(empty[:, None], 0.0, sums / safe)
    means = centers + shift
    variances = np.maximum(sq_sums - sums * shift, 0.0) / safe
    if empty.any():
        counts = np.where(empty, counts.sum() / max(10 * len(counts), 1), counts)
    return counts, means, variances


def _equal_weight_groups(sorted_weights, K):
    """Group of each point (in sorted order) so the K groups carry equal weight:
    point i joins group floor(K * (weight before it + half its own) / total)."""
    cum = np.cumsum(sorted_weights)
    return np.minimum((K * (cum - 0.5 * sorted_weights) / cum[-1]).astype(np.intp), K - 1)


def _seed_sample(X, sample_weight, K, rng, seeder):
    """Run ``seeder`` (k-means++) on a random subsample when n is large."""
    n = X.shape[0]
    width = 1 if X.ndim == 1 else X.shape[1]
    sample_size = max(2_000, min(SEEDING_SAMPLE_SIZE, SEEDING_SAMPLE_BYTES // (8 * width)))
    if n > sample_size:
        # Uniform subsample (with replacement: drawing without it makes NumPy
        # build an array of all n indices); its weights go with it, so the
        # draw stays proportional to the sample weights.
        idx = np.sort(rng.integers(0, n, sample_size))
        xs = np.ascontiguousarray(X[idx])
        ws = None if sample_weight is None else np.ascontiguousarray(sample_weight[idx])
        if _count_distinct_rows(xs, ws, K) < K:
            xs, ws = X, sample_weight        # too few distinct values: use all
    else:
        xs, ws = X, sample_weight
    n_local_trials = 2 + int(math.log(K))
    uniforms = rng.random(1 + (K - 1) * n_local_trials)
    return seeder(xs, ws, uniforms, n_local_trials)


def _count_distinct_rows(X, sample_weight, limit):

    return count_distinct(X, sample_weight, limit)


def _distinct_random_rows(X, sample_weight, K, rng):
    """K data points (rows) with distinct values, each drawn with probability
    proportional to its weight; shape (K,) or (K, d) in data units."""
    n = X.shape[0]
    chosen, seen = [], set()
    p = None if sample_weight is None else sample_weight / sample_weight.sum()
    # Draw in rounds: almost always one round, more only with heavy duplication.
    while len(chosen) < K:
        for i in rng.choice(n, size=min(n, 4 * K), replace=True, p=p):
            key = np.asarray(X[i], dtype=np.float64).tobytes()
            if key not in seen:
                seen.add(key)
                chosen.append(np.asarray(X[i], dtype=np.float64))
                if len(chosen) == K:
                    break
    return np.array(chosen)
