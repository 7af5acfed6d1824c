"""Sample weights that span many orders of magnitude, from every data source.

Issue 19: each chunk of a chunked or dask fit used to divide its weights by its
own power of two, so chunks were no longer weighted against each other, and
``cyem.em`` reported its log-likelihoods in those divided units. Here weights
from 1e-6 to 1e6 vary across chunks, across dask blocks and across the
kernels' 4096-point blocks (runs of one magnitude do not line up with any of
them), and every source must give the in-memory fit from the same start; the
in-memory fit is itself checked against a small NumPy implementation of
scikit-learn's EM with sample weights (scikit-learn has no ``sample_weight``;
that implementation is checked against scikit-learn on repeated rows).
"""

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import norm

import cyem
from cyem import GaussianMixture, _kernels

pytestmark = pytest.mark.filterwarnings("ignore::cyem.ConvergenceWarning")

N_ITER = 25
# Agreement of every source with the in-memory fit. The sums are the same
# kernel blocks added in another grouping (chunk by chunk, block by block),
# so each EM iterate differs by a few ulps; measured on these data after 25
# iterations: at most 8e-15 relative (any parameter, lower bounds). The bound
# leaves 125x headroom.
RTOL_SOURCE = 1e-12
# Agreement of the in-memory fit with the NumPy reference after 25
# iterations: measured at most 3e-13 relative on the weights, 8e-13 on the
# covariances, 1e-14 on the lower bounds and 6e-13 absolute on the means (the
# data span 16) -- the same figures as with unit weights, so weights from
# 1e-6 to 1e6 cost no accuracy. The bounds leave >= 100x headroom; means
# are compared with an absolute tolerance of RTOL_REFERENCE times the span.
RTOL_REFERENCE = 1e-10


# ---- the reference: scikit-learn's EM with sample weights, in NumPy ---------

def log_gaussians(X, means, covariances):
    """(n, K) log-densities of X (n, d) under N(means[k], covariances[k])."""
    d = X.shape[1]
    out = np.empty((X.shape[0], means.shape[0]))
    for k, (mu, cov) in enumerate(zip(means, covariances)):
        chol = np.linalg.cholesky(cov)
        z = np.linalg.solve(chol, (X - mu).T)
        out[:, k] = (-0.5 * (d * np.log(2 * np.pi) + np.sum(z * z, axis=0))
                     - np.sum(np.log(np.diag(chol))))
    return out


def weighted_em(X, v, weights, means, covariances, n_iter, covariance_type="full",
                reg_covar=1e-6):
    """``n_iter`` iterations of scikit-learn's GaussianMixture EM (full or diag
    covariances, reg_covar on the diagonal) where every sum over the samples
    is weighted by ``v``. Returns the final (weights, means, covariances (K, d,
    d)) and the mean log-likelihood per unit weight of the parameters entering
    each iteration (scikit-learn's ``lower_bounds_``)."""
    X = X.reshape(len(X), -1)
    d = X.shape[1]
    weights, means = np.asarray(weights, float), np.asarray(means, float).reshape(-1, d)
    covariances = np.asarray(covariances, float).reshape(-1, d, d)
    bounds = []
    for _ in range(n_iter):
        log_joint = log_gaussians(X, means, covariances) + np.log(weights)
        log_lik = logsumexp(log_joint, axis=1)
        bounds.append(np.dot(v, log_lik) / v.sum())
        resp = v[:, None] * np.exp(log_joint - log_lik[:, None])
        counts = resp.sum(axis=0)
        weights = counts / counts.sum()
        means = resp.T @ X / counts[:, None]
        covariances = np.empty((len(counts), d, d))
        for k in range(len(counts)):
            dev = X - means[k]
            cov = (resp[:, k, None] * dev).T @ dev / counts[k]
            if covariance_type == "diag":
                cov = np.diag(np.diag(cov))
            covariances[k] = cov + reg_covar * np.eye(d)
    return weights, means, covariances, np.array(bounds)


def test_reference_is_scikit_learn_on_repeated_rows():
    """The NumPy reference with integer weights is scikit-learn's EM on the
    rows repeated that many times (so it is scikit-learn's weighted EM)."""
    sklearn_mixture = pytest.importorskip("sklearn.mixture")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(800, 2)) @ [[1.0, 0.5], [0.0, 0.7]]
    X[::3] += [3.0, -1.0]
    counts = rng.integers(0, 5, X.shape[0])
    start = dict(weights_init=[0.5, 0.5], means_init=[[0.0, 0.0], [2.0, -1.0]],
                 precisions_init=np.stack([np.eye(2)] * 2))
    sk = sklearn_mixture.GaussianMixture(2, tol=0, max_iter=N_ITER, **start)
    with pytest.warns(Warning):                      # scikit-learn's ConvergenceWarning
        sk.fit(np.repeat(X, counts, axis=0))
    w, mu, cov, bounds = weighted_em(X, counts.astype(float), start["weights_init"],
                                     start["means_init"], np.stack([np.eye(2)] * 2), N_ITER)
    np.testing.assert_allclose(w, sk.weights_, rtol=1e-12)
    np.testing.assert_allclose(mu, sk.means_, rtol=1e-12)
    np.testing.assert_allclose(cov, sk.covariances_, rtol=1e-12)
    np.testing.assert_allclose(bounds[-1], sk.lower_bound_, rtol=1e-12)


# ---- data whose weights span 1e-6 .. 1e6 -------------------------------------

def runs_of_magnitudes(n, rng):
    """(run starts, exponents): runs of 700 to 9,000 rows (random lengths, so
    run boundaries fall inside kernel blocks, chunks and dask blocks), each
    with one order of magnitude 10^e, e in -6..6 (+-6 first, then the rest)."""
    starts, exponents, start = [], [], 0
    order = np.r_[-6, 6, rng.permutation(np.arange(-5, 6))]    # the extremes first
    while start < n:
        starts.append(start)
        exponents.append(order[len(exponents) % order.size])
        start += int(rng.integers(700, 9_000))
    return np.array(starts), np.array(exponents)


def spread_data(n, d, seed):
    """n rows of a 3-component mixture in d dimensions whose proportions
    change from run to run, and weights 10^e * U(0.5, 2) per row with e fixed
    per run: a fit that weighs the runs wrongly gets other parameters."""
    rng = np.random.default_rng(seed)
    centres = np.array([[-4.0, 1.0], [0.0, -1.0], [5.0, 2.0]])[:, :d]
    scales = np.array([1.0, 1.6, 0.8])
    starts, exponents = runs_of_magnitudes(n, rng)
    stops = np.append(starts[1:], n)
    X = np.empty((n, d))
    v = np.empty(n)
    for start, stop, e in zip(starts, stops, exponents):
        m = stop - start
        labels = rng.choice(3, size=m, p=rng.dirichlet([1.5, 1.5, 1.5]))
        X[start:stop] = centres[labels] + scales[labels, None] * rng.normal(size=(m, d))
        v[start:stop] = 10.0 ** e * rng.uniform(0.5, 2.0, m)
    assert v.min() < 1e-6 and v.max() > 1e6           # the span the test claims
    return (X[:, 0].copy() if d == 1 else X), v


def start_for(d, covariance_type):
    """A rough common start: means off by about one standard deviation."""
    means = np.array([[-3.0, 0.0], [1.0, 0.0], [4.0, 1.0]])[:, :d]
    covariances = np.stack([2.0 * np.eye(d)] * 3)
    if covariance_type == "diag" and d > 1:
        precisions = np.full((3, d), 0.5)
    else:
        precisions = np.linalg.inv(covariances) if d > 1 else np.full(3, 0.5)
    settings = dict(weights_init=[0.3, 0.4, 0.3], means_init=means,
                    precisions_init=precisions)
    return settings, covariances


CASES = [
    pytest.param((1, "full"), id="univariate"),
    pytest.param((2, "full"), id="2-D full"),
    pytest.param((2, "diag"), id="2-D diag"),
]


@pytest.fixture(scope="module", params=CASES)
def case(request):
    """Data, weights, settings, the in-memory fit, checked once against the
    NumPy reference (a fixture, so every source below compares to it)."""
    d, covariance_type = request.param
    X, v = spread_data(70_000, d, seed=d)
    settings, covariances = start_for(d, covariance_type)
    settings = dict(n_components=3, covariance_type=covariance_type, tol=0.0,
                    max_iter=N_ITER, **settings)
    in_memory = GaussianMixture(**settings).fit(X, sample_weight=v)
    w, mu, cov, bounds = weighted_em(X, v, settings["weights_init"], settings["means_init"],
                                     covariances, N_ITER, covariance_type)
    np.testing.assert_allclose(in_memory.weights_, w, rtol=RTOL_REFERENCE)
    np.testing.assert_allclose(in_memory.means_.reshape(mu.shape), mu, rtol=0,
                               atol=RTOL_REFERENCE * np.ptp(X))
    got_cov = in_memory.covariances_
    if covariance_type == "diag" and d > 1:
        got_cov = np.stack([np.diag(c) for c in got_cov])
    np.testing.assert_allclose(got_cov.reshape(cov.shape), cov, rtol=RTOL_REFERENCE)
    np.testing.assert_allclose(in_memory.lower_bounds_, bounds, rtol=RTOL_REFERENCE)
    # the weights matter: the unweighted fit from the same start is far away
    unweighted = GaussianMixture(**settings).fit(X)
    assert np.max(np.abs(unweighted.weights_ - in_memory.weights_)) > 0.02
    return X, v, settings, in_memory


def assert_same_fit(got, want, rtol=RTOL_SOURCE):
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=rtol,
                                   atol=0, err_msg=name)
    np.testing.assert_allclose(got.lower_bounds_, want.lower_bounds_, rtol=rtol, atol=0)
    assert got.n_iter_ == want.n_iter_


def uneven(a, sizes):
    """a cut into consecutive pieces of the given sizes (cycled)."""
    pieces, start, i = [], 0, 0
    while start < len(a):
        pieces.append(a[start:start + sizes[i % len(sizes)]])
        start += sizes[i % len(sizes)]
        i += 1
    return pieces


def test_fit_chunks_ndarray(case):
    X, v, settings, want = case
    got = GaussianMixture(**settings).fit_chunks(X, v, chunk_size=2 * _kernels.BLOCK_SIZE)
    assert_same_fit(got, want)


def test_fit_chunks_memmap(case, tmp_path):
    X, v, settings, want = case
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "w.npy", v)
    X_map = np.load(tmp_path / "x.npy", mmap_mode="r")
    v_map = np.load(tmp_path / "w.npy", mmap_mode="r")
    got = GaussianMixture(**settings).fit_chunks(X_map, v_map,
                                                 chunk_size=3 * _kernels.BLOCK_SIZE)
    assert_same_fit(got, want)


def test_fit_chunks_callables(case):
    X, v, settings, want = case
    sizes = [9_001, 2_500, 17_777]                  # no multiple of the block size
    x_parts, v_parts = uneven(X, sizes), uneven(v, sizes)
    got = GaussianMixture(**settings).fit_chunks(lambda: (p for p in x_parts),
                                                 lambda: iter(v_parts))
    assert_same_fit(got, want)
    # a list of chunks with the weights as one array
    got = GaussianMixture(**settings).fit_chunks(x_parts, v)
    assert_same_fit(got, want)


def test_dask_array(case):
    dask = pytest.importorskip("dask")
    import dask.array as da

    X, v, settings, want = case
    blocks = (11_111, 30_000, 5_000, X.shape[0] - 46_111)
    Xd = da.from_array(X, chunks=(blocks,) if X.ndim == 1 else (blocks, X.shape[1]))
    with dask.config.set(scheduler="synchronous"):
        got = GaussianMixture(**settings).fit(Xd,
                                              sample_weight=da.from_array(v, chunks=7_000))
    assert_same_fit(got, want)


# ---- the issue's repro ----------------------------------------------------

def issue_data():
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(0, 1, 5000), rng.normal(5, 1, 5000)]
    w = np.r_[np.ones(5000), np.full(5000, 2000.0)]
    start = dict(weights_init=[.5, .5], means_init=[[0.], [5.]],
                 precisions_init=[[[1.]]] * 2, tol=1e-10, max_iter=500)
    return x, w, start


def test_issue_repro_every_source_gives_the_weighted_fit():
    dask = pytest.importorskip("dask")
    import dask.array as da

    x, w, start = issue_data()
    reference_w, reference_mu, reference_cov, _ = weighted_em(
        x, w, [.5, .5], [[0.], [5.]], np.ones((2, 1, 1)), 500)
    # the issue's figures
    np.testing.assert_allclose(reference_w, [0.009, 0.991], atol=5e-4)
    fits = {"in memory": GaussianMixture(2, **start).fit(x, sample_weight=w),
            "fit_chunks": GaussianMixture(2, **start).fit_chunks(x, sample_weight=w,
                                                                 chunk_size=5000)}
    with dask.config.set(scheduler="synchronous"):
        fits["dask"] = GaussianMixture(2, **start).fit(
            da.from_array(x, chunks=3000), sample_weight=da.from_array(w, chunks=3000))
    # measured: 2e-13 relative after 500 iterations, for every source
    for name, fit in fits.items():
        assert fit.n_iter_ == 500, name          # same iterates as the reference
        np.testing.assert_allclose(fit.weights_, reference_w, rtol=1e-10, err_msg=name)
        np.testing.assert_allclose(fit.means_, reference_mu, rtol=1e-10, err_msg=name)
        np.testing.assert_allclose(fit.covariances_, reference_cov, rtol=1e-10,
                                   err_msg=name)


# ---- partial_fit: weights in one unit across calls ------------------------------

STREAM_EXPONENTS = (0, 6, -6, 3, -3, 5, 1)


def separated_stream(d, seed):
    """Chunks of two components 1000 standard deviations apart, so that every
    membership is exactly 0 or 1 whatever the parameters: the stream's
    statistics are then those of fixed groups, and online EM has an exact
    answer. Chunk proportions differ; weights span 1e-6 .. 1e6 across calls."""
    rng = np.random.default_rng(seed)
    chunks, weights = [], []
    for e in STREAM_EXPONENTS:
        n = int(rng.integers(3_000, 9_000))
        labels = rng.random(n) < rng.uniform(0.2, 0.8)
        X = rng.normal(size=(n, d)) + np.where(labels[:, None], 1000.0, 0.0)
        chunks.append(X[:, 0].copy() if d == 1 else X)
        weights.append(10.0 ** e * rng.uniform(0.5, 2.0, n))
    return chunks, weights


def group_moments(chunks, weights, reg_covar):
    """Weighted proportions, means and covariances of the two groups of all
    chunks together: batch EM's M step with certain memberships."""
    X = np.concatenate([c.reshape(len(c), -1) for c in chunks])
    v = np.concatenate(weights)
    labels = X[:, 0] > 500
    props, means, covs = [], [], []
    for group in (~labels, labels):
        vg, Xg = v[group], X[group]
        mean = vg @ Xg / vg.sum()
        dev = Xg - mean
        props.append(vg.sum() / v.sum())
        means.append(mean)
        covs.append((vg[:, None] * dev).T @ dev / vg.sum() + reg_covar * np.eye(X.shape[1]))
    return np.array(props), np.array(means), np.array(covs)


@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.parametrize("scalar_weights", [False, True])
def test_partial_fit_weighs_each_chunk_by_its_total_weight(d, scalar_weights):
    """With alpha = 1 and t0 = 1 the stream's statistics are the running
    average of the chunks' statistics weighted by the chunks' total weights:
    the fit equals the batch M step of all chunks, whatever the magnitudes,
    and multiplying every weight of every call by 1e6 changes nothing."""
    chunks, weights = separated_stream(d, seed=d)
    if scalar_weights:                       # a scalar weighs every row of its chunk
        weights = [np.full(len(w), 10.0 ** e) for w, e in zip(weights, STREAM_EXPONENTS)]
    props, means, covs = group_moments(chunks, weights, reg_covar=1e-6)
    for scale in (1.0, 1e6):
        gm = GaussianMixture(2, covariance_type="full", weights_init=[0.5, 0.5],
                             means_init=np.array([[0.0] * d, [1000.0] * d]),
                             precisions_init=np.stack([np.eye(d)] * 2))
        for X, w in zip(chunks, weights):
            gm.partial_fit(X, sample_weight=scale * (w[0] if scalar_weights else w),
                           alpha=1.0, t0=1.0)
        # rounding of the blends: ~1e-16 of the data's span (1000) per chunk
        np.testing.assert_allclose(gm.weights_, props, rtol=1e-11)
        np.testing.assert_allclose(gm.means_, means, rtol=1e-11, atol=1e-11)
        np.testing.assert_allclose(gm.covariances_.reshape(covs.shape), covs, rtol=1e-9)


# ---- cyem.em: totals in the user's weight units -------------------------------

def total_log_lik(x, v, weights, means, stds):
    dens = np.stack([np.log(wk) + norm.logpdf(x, mk, sk)
                     for wk, mk, sk in zip(weights, means, stds)])
    return float(np.dot(v, logsumexp(dens, axis=0)))


@pytest.mark.parametrize("weights", ["1e4", "1e-6..1e6"])
def test_em_log_likelihood_is_the_weighted_total(weights):
    if weights == "1e4":                     # the issue's data and figure
        x, _, _ = issue_data()
        v = np.full(x.size, 1e4)
        start = ([0.5, 0.5], [0.0, 5.0], [1.0, 1.0])
    else:
        x, v = spread_data(30_000, 1, seed=5)
        start = ([0.3, 0.4, 0.3], [-3.0, 1.0, 4.0], [1.5, 1.5, 1.5])
    res = cyem.em(x, *start, sample_weight=v, tol=1e-10, max_iter=500)
    # measured: <= 3e-16 relative (the sums' rounding); 300x headroom
    want = total_log_lik(x, v, res.weights, res.means, res.stds)
    assert res.log_likelihood == pytest.approx(want, rel=1e-13, abs=0)
    if weights == "1e4":
        assert res.log_likelihood == pytest.approx(-2.09e8, rel=0.01)   # the issue's figure
    # history[0] is the total at the start; history[k] the total of the
    # parameters after k iterations (those em(max_iter=k) returns)
    assert res.history[0] == pytest.approx(total_log_lik(x, v, *start), rel=1e-13, abs=0)
    for k in (1, 2, 5):
        after_k = cyem.em(x, *start, sample_weight=v, tol=0, max_iter=k)
        want = total_log_lik(x, v, after_k.weights, after_k.means, after_k.stds)
        assert res.history[k] == pytest.approx(want, rel=1e-13, abs=0)


def test_em_result_repr_is_compact():
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(0, 1, 500), rng.normal(5, 1, 500)]
    res = cyem.em(x, [0.5, 0.5], [0.0, 4.0], [1.0, 1.0], tol=0, max_iter=300)
    text = repr(res)
    assert "<300 values" in text and f"{res.history[-1]:.10g}" in text
    assert "array(" not in text and f"{res.history[1]:.10g}" not in text
    assert len(text) < 400 and "n_components=2" in text and "converged=False" in text
