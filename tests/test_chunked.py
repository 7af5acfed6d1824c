"""cyem.chunked: exact EM over chunk sources and memory-mapped files, and
online (stepwise) EM for streams.

The tests call the estimator's methods (``fit_chunks``, ``partial_fit``) and
the modules behind them (``cyem._sources``, ``cyem._scan``, ``cyem._online``),
so that they do not depend
on the ``GaussianMixture`` methods that wrap them.
"""

import tracemalloc

import numpy as np
import pytest

from cyem import ConvergenceWarning, GaussianMixture, _online, _scan, _sources
from cyem._frame import Frame
from cyem._model import make_model

pytestmark = pytest.mark.filterwarnings("ignore::cyem.ConvergenceWarning")

TRUE_WEIGHTS = np.array([0.3, 0.5, 0.2])
TRUE_MEANS = np.array([-6.0, 0.0, 7.0])
TRUE_STDS = np.array([1.0, 1.5, 0.7])


def mixture_sample(n, rng, offset=0.0):
    labels = rng.choice(3, size=n, p=TRUE_WEIGHTS)
    return offset + rng.normal(TRUE_MEANS[labels], TRUE_STDS[labels])


def start_1d(offset=0.0):
    """A deliberately rough fixed start (weights, means, precisions)."""
    return dict(weights_init=[0.2, 0.4, 0.4], means_init=offset + np.array([-3.0, 1.0, 4.0]),
                precisions_init=[0.5, 0.5, 0.5])


def assert_same_fit(got, want, rtol=1e-10):
    """Same fitted parameters to ``rtol`` (the two fits differ only in the order
    in which the kernels' block sums are added: ~1e-15 per iteration)."""
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=rtol,
                                   atol=0, err_msg=name)
    np.testing.assert_allclose(got.lower_bounds_, want.lower_bounds_, rtol=rtol, atol=0)
    assert got.n_iter_ == want.n_iter_
    assert got.converged_ == want.converged_


# ---- memory-mapped files -------------------------------------------------------

def test_memmap_file_equals_in_memory_fit_and_stays_small(tmp_path):
    rng = np.random.default_rng(1)
    n, chunk = 6_000_000, 64 * 4096                   # 48 MB of float64, 23 chunks
    path = tmp_path / "x.npy"
    np.save(path, mixture_sample(n, rng, offset=1e6))
    settings = dict(n_components=3, tol=0.0, max_iter=10, **start_1d(offset=1e6))

    X = np.load(path, mmap_mode="r")
    assert X.nbytes > 20 * chunk * X.itemsize        # "several times larger"
    tracemalloc.start()
    try:
        got = GaussianMixture(**settings).fit_chunks(X, chunk_size=chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    data_bytes = X.nbytes
    del X
    want = GaussianMixture(**settings).fit(np.load(path))
    assert_same_fit(got, want)

    # tracemalloc counts NumPy's allocations but not the mapped file, so its
    # peak is what the fit allocated. The chunks themselves are views of the
    # file (float64, contiguous: no conversion). The frame pass draws the
    # initialisation sample of m = INIT_SAMPLE_SIZE rows in O(m) memory: about
    # ten arrays of m 8-byte values (keys, row indices and values of the
    # reservoir and of the chunk's draw, and their merge) are alive at once;
    # bound them by 12. EM then holds O(K) numbers per kernel block; 2 MiB
    # covers those and the interpreter's small objects. Nothing scales with
    # n or with the chunk size, and the bound is far below a copy of X.
    bound = 12 * 8 * _scan.INIT_SAMPLE_SIZE + (2 << 20)
    assert bound < data_bytes / 4
    assert peak < bound, (peak, bound)


def test_memmap_2d_float32_equals_in_memory(tmp_path):
    rng = np.random.default_rng(2)
    n, d = 300_000, 3
    data = (rng.normal(size=(n, d)) * [1.0, 2.0, 0.5]).astype(np.float32)
    data[: n // 3] += np.float32(4.0)
    path = tmp_path / "x.f32"
    data.tofile(path)
    X = np.memmap(path, dtype=np.float32, mode="r", shape=(n, d))
    for ctype in ("diag", "full"):
        settings = dict(n_components=2, covariance_type=ctype, tol=0.0, max_iter=10,
                        weights_init=[0.5, 0.5], means_init=[[0, 0, 0], [3, 1, 0]],
                        precisions_init=(np.ones((2, d)) if ctype == "diag"
                                         else np.stack([np.eye(d)] * 2)))
        got = GaussianMixture(**settings).fit_chunks(X, chunk_size=5 * 4096)
        want = GaussianMixture(**settings).fit(data)
        assert_same_fit(got, want)


def test_memmap_chunks_are_read_through_fresh_mappings(tmp_path):
    """A whole np.memmap is re-mapped chunk by chunk (so resident memory does
    not grow with the file); a slice of one is sliced, with the same result."""
    x = np.arange(10 * 4096, dtype=np.float64)
    path = tmp_path / "x.npy"
    np.save(path, x)
    X = np.load(path, mmap_mode="r")
    source = _sources.as_source(X, chunk_size=3 * 4096)
    assert source._mapping is not None
    parts = [c for c, _ in source]
    assert [len(c) for c in parts] == [3 * 4096] * 3 + [4096]
    assert all(isinstance(c, np.memmap) and c.base is not X.base for c in parts)
    np.testing.assert_array_equal(np.concatenate(parts), x)
    sliced = _sources.as_source(X[5:], chunk_size=3 * 4096)
    assert sliced._mapping is None
    np.testing.assert_array_equal(np.concatenate([c for c, _ in sliced]), x[5:])


def test_default_init_on_a_memmap_finds_the_in_memory_optimum(tmp_path):
    rng = np.random.default_rng(3)
    x = np.sort(mixture_sample(200_000, rng))   # sorted: the first chunk sees one group
    path = tmp_path / "x.npy"
    np.save(path, x)
    got = GaussianMixture(3, tol=1e-8, max_iter=500, random_state=0).fit_chunks(
        np.load(path, mmap_mode="r"), chunk_size=4096 * 4)
    want = GaussianMixture(3, tol=1e-8, max_iter=500, random_state=0).fit(x)
    order_got, order_want = np.argsort(got.means_.ravel()), np.argsort(want.means_.ravel())
    np.testing.assert_allclose(got.means_.ravel()[order_got],
                               want.means_.ravel()[order_want], atol=1e-4)
    np.testing.assert_allclose(got.lower_bound_, want.lower_bound_, rtol=1e-7)


# ---- callable and list sources -------------------------------------------------

def uneven_chunks(a, sizes):
    """a cut into consecutive pieces of the given sizes (cycled)."""
    pieces, start, i = [], 0, 0
    while start < len(a):
        stop = min(len(a), start + sizes[i % len(sizes)])
        pieces.append(a[start:stop])
        start, i = stop, i + 1
    return pieces


def test_generator_callable_with_weights_equals_in_memory():
    rng = np.random.default_rng(4)
    x = mixture_sample(150_000, rng)
    w = rng.uniform(0.0, 3.0, x.shape[0])
    sizes = [10_007, 1, 33_333, 5_000]              # not multiples of the block size
    x_parts, w_parts = uneven_chunks(x, sizes), uneven_chunks(w, sizes)
    settings = dict(n_components=3, tol=0.0, max_iter=12, **start_1d())

    def read_x():
        return (part for part in x_parts)          # a fresh generator per pass

    got = GaussianMixture(**settings).fit_chunks(read_x,
                             lambda: iter(w_parts))
    want = GaussianMixture(**settings).fit(x, sample_weight=w)
    assert_same_fit(got, want)
    # weights as one array sliced along the chunks, and chunks as a list
    got = GaussianMixture(**settings).fit_chunks(x_parts, w)
    assert_same_fit(got, want)


def test_list_of_multivariate_chunks_equals_in_memory():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(60_000, 2)) @ [[1.0, 0.3], [0.0, 0.5]]
    X[::3] += [5.0, -2.0]
    for ctype in ("spherical", "tied"):
        settings = dict(n_components=2, covariance_type=ctype, tol=0.0, max_iter=10,
                        random_state=0)
        reference = GaussianMixture(**settings).fit(X)   # any start will do
        settings.update(weights_init=reference.weights_, means_init=reference.means_ + 0.5,
                        precisions_init=reference.precisions_)
        got = GaussianMixture(**settings).fit_chunks(uneven_chunks(X, [7_000, 12_345]))
        assert_same_fit(got, GaussianMixture(**settings).fit(X))


def test_chunks_keep_their_weights_relative_to_each_other():
    """Issue 19: each chunk divided its weights by its own power of two, so a
    chunk of weights 2000 counted as much as a chunk of weights 1. Every
    chunk source must give the in-memory fit (about [0.009, 0.991])."""
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(0, 1, 5000), rng.normal(5, 1, 5000)]
    w = np.r_[np.ones(5000), np.full(5000, 2000.0)]
    settings = dict(n_components=2, weights_init=[.5, .5], means_init=[[0.], [5.]],
                    precisions_init=[[[1.]]] * 2, tol=0.0, max_iter=100)
    want = GaussianMixture(**settings).fit(x, sample_weight=w)
    assert want.weights_[0] < 0.05                   # the heavy group dominates
    got = GaussianMixture(**settings).fit_chunks(x, w, chunk_size=5000)
    assert_same_fit(got, want, rtol=1e-12)
    # one chunk per group, weights as chunks too (callables)
    got = GaussianMixture(**settings).fit_chunks(lambda: iter([x[:5000], x[5000:]]),
                             lambda: iter([w[:5000], w[5000:]]))
    assert_same_fit(got, want, rtol=1e-12)


def test_one_shot_generator_is_refused():
    gen = (np.zeros(10) for _ in range(3))
    with pytest.raises(TypeError, match="callable that returns a fresh iterator"):
        GaussianMixture(2).fit_chunks(gen)


def test_bad_chunk_is_named():
    parts = [np.arange(100.0), np.array([1.0, np.nan]), np.arange(5.0)]
    with pytest.raises(ValueError, match="chunk 1 of X contains NaN"):
        GaussianMixture(2).fit_chunks(parts)
    with pytest.raises(ValueError, match="features"):
        GaussianMixture(2).fit_chunks([np.zeros((10, 2)), np.zeros((10, 3))])
    with pytest.raises(ValueError, match="negative"):
        GaussianMixture(2).fit_chunks([np.arange(10.0)], [-np.ones(10)])


def test_fit_chunks_warns_like_fit():
    parts = [np.arange(50.0), np.arange(50.0) + 1]
    with pytest.warns(ConvergenceWarning):
        GaussianMixture(2, max_iter=1, tol=0.0).fit_chunks(parts)


# ---- online (stepwise) EM ---------------------------------------------------

def test_blended_moments_equal_the_moments_of_the_union():
    """The stream's common reference: blending the per-unit-weight moments of
    two chunks with gamma = W_b / (W_a + W_b) gives the moments of their union,
    even for data 1e6 away from the frame's origin units (no cancellation)."""
    rng = np.random.default_rng(6)
    X = 1e6 + rng.normal(size=(40_000, 3)) @ [[1, 0.2, 0], [0, 1, 0.3], [0, 0, 1e-3]]
    X[::2] += [3.0, 0.0, 0.01]
    w = rng.uniform(0.5, 1.5, X.shape[0])
    model = make_model(X, w, "full", 1e-6, 1)
    params = model.from_data_units([0.4, 0.6], 1e6 + np.array([[0.5, 0, 0], [2, 0, 0.01]]),
                                   np.stack([np.cov(X.T)] * 2))
    a, b = slice(0, 15_000), slice(15_000, None)
    part = [make_model(np.ascontiguousarray(X[s]), w[s], "full", 1e-6, 1, model.frame)
            for s in (a, b)]
    ma, mb = (_online.moments_from_stats(p.accumulate(params), params) for p in part)
    gamma = w[b].sum() / w.sum()
    blended = _online.blend(ma, mb, gamma)
    whole = _online.moments_from_stats(model.accumulate(params), params)
    for name in ("counts", "means", "scatter"):
        np.testing.assert_allclose(getattr(blended, name), getattr(whole, name),
                                   rtol=1e-9, atol=1e-12 * np.abs(getattr(whole, name)).max())
    # and the M step of blended moments is the batch M step
    got, _ = model.m_step(*_online.stats_from_moments(blended, params))
    want, _ = model.m_step(model.accumulate(params), params)
    np.testing.assert_allclose(got.means, want.means, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got.covariances, want.covariances, rtol=1e-7)


def test_online_em_recovers_a_known_mixture():
    """200 chunks of 5,000 draws from the known mixture.

    With gamma_t = (t + 2)^-0.6 the statistics after the last chunk are an
    exponentially weighted average whose effective size is about
    m (2 - gamma) / gamma = 5,000 * 1.96 / 0.0416 ~ 235,000 draws. Standard
    errors at that size: weights sqrt(w(1 - w)/n) <= 0.001, means
    sigma_k / sqrt(w_k n) <= 0.0045, standard deviations
    sigma_k / sqrt(2 w_k n) <= 0.0032. The components are well separated, so
    EM's missing information inflates these little; the tolerances are about
    6 standard errors. Batch EM on the same 10^6 draws has errors ~2x
    smaller, so the two must agree to the same tolerances.
    """
    rng = np.random.default_rng(7)
    gm = GaussianMixture(3, random_state=0)
    stream = [mixture_sample(5_000, rng) for _ in range(200)]
    for chunk in stream:
        gm.partial_fit(chunk)
    assert gm.n_iter_ == 200 and not gm.converged_
    order = np.argsort(gm.means_.ravel())
    weights, means, stds = gm.weights_[order], gm.means_.ravel()[order], gm.stds_[order]
    np.testing.assert_allclose(weights, TRUE_WEIGHTS, atol=0.006)
    np.testing.assert_allclose(means, TRUE_MEANS, atol=0.027)
    np.testing.assert_allclose(stds, TRUE_STDS, atol=0.02)

    batch = GaussianMixture(3, random_state=0, tol=1e-10).fit(np.concatenate(stream))
    b = np.argsort(batch.means_.ravel())
    np.testing.assert_allclose(weights, batch.weights_[b], atol=0.006)
    np.testing.assert_allclose(means, batch.means_.ravel()[b], atol=0.027)
    np.testing.assert_allclose(stds, batch.stds_[b], atol=0.02)
    # the prequential log-likelihood of the last chunks is that of the batch fit
    assert abs(np.mean(gm.lower_bounds_[-50:]) - batch.lower_bound_) < 0.01


def test_online_em_multivariate_full():
    rng = np.random.default_rng(8)
    means = np.array([[0.0, 0.0], [6.0, 3.0]])
    chol = np.array([[[1.0, 0.0], [0.5, 0.6]], [[0.7, 0.0], [-0.3, 1.2]]])
    gm = GaussianMixture(2, covariance_type="full", random_state=0)
    for _ in range(150):
        labels = rng.choice(2, size=4_000, p=[0.4, 0.6])
        X = means[labels] + np.einsum("nij,nj->ni", chol[labels],
                                      rng.normal(size=(4_000, 2)))
        gm.partial_fit(X)
    order = np.argsort(gm.means_[:, 0])
    # Effective size ~ 4,000 * (2 - gamma) / gamma with gamma = 151^-0.6 = 0.049:
    # ~158,000 draws. Standard errors: weights 0.0012, means <= 0.004,
    # covariance entries <= 1.53 * sqrt(2 / 95,000) = 0.007; the tolerances
    # are 6-7 of them.
    np.testing.assert_allclose(gm.weights_[order], [0.4, 0.6], atol=0.008)
    np.testing.assert_allclose(gm.means_[order], means, atol=0.03)
    np.testing.assert_allclose(gm.covariances_[order], chol @ np.transpose(chol, (0, 2, 1)),
                               atol=0.04)


def test_partial_fit_continues_a_stream_and_fit_starts_a_new_one():
    rng = np.random.default_rng(9)
    gm = GaussianMixture(3, random_state=0)
    gm.partial_fit(mixture_sample(3_000, rng))
    state = gm._online
    frame = state.model.frame
    gm.partial_fit(mixture_sample(3_000, rng) + 50.0)   # outside the first frame
    assert gm._online is state and gm.n_iter_ == 2
    assert gm._online.model.frame is frame
    gm.fit_chunks([mixture_sample(3_000, rng)])
    assert not hasattr(gm, "_online")
    gm.partial_fit(mixture_sample(3_000, rng))           # starts from the fit
    assert gm.n_iter_ == 1 and gm._online is not state
    with pytest.raises(ValueError, match="features"):
        gm.partial_fit(np.zeros((10, 2)))
    with pytest.raises(ValueError, match="alpha"):
        gm.partial_fit(mixture_sample(100, rng), alpha=0.5)


def test_step_sizes():
    assert _online.step_size(1) == pytest.approx(3 ** -0.6)
    assert _online.step_size(198) == pytest.approx(200 ** -0.6)
    assert _online.step_size(5, alpha=1.0, t0=0.0) == pytest.approx(0.2)


def test_weighted_step_sizes():
    """A chunk of r times the earlier chunks' mean weight: the plain step for
    r = 1 (bitwise, so equal-weight streams are unchanged); with
    gamma_t = 1/(t + 1) the exact share W_t / (W_0 + ... + W_t) of a
    weighted running average; about r gamma for small steps; 0 and 1 at the
    limits."""
    gamma = _online.step_size(7)
    assert _online.weighted_step(gamma, 1.0) == gamma
    rng = np.random.default_rng(11)
    W = 10.0 ** rng.uniform(-6, 6, 12)
    for t in range(1, W.size):
        share = _online.weighted_step(_online.step_size(t, alpha=1.0, t0=1.0),
                                      W[t] / W[:t].mean())
        assert share == pytest.approx(W[t] / W[:t + 1].sum(), rel=1e-13)
    assert _online.weighted_step(1e-6, 3.0) == pytest.approx(3e-6, rel=1e-5)
    assert _online.weighted_step(0.3, 1e300) == 1.0
    assert _online.weighted_step(0.3, 0.0) == 0.0


def test_chunked_model_frame_is_the_in_memory_frame():
    rng = np.random.default_rng(10)
    # up to the frame's sample size (16384 rows) the two frames are identical
    X = rng.normal(size=(16_000, 3)) * [1, 1e-3, 1e3] + [0, 1e9, -5]
    scan = _scan.scan_source(_sources.as_source(X, chunk_size=4096), seed=0)
    frame = scan.frame()
    want = Frame.from_data(X)
    np.testing.assert_array_equal(frame.origin, want.origin)
    assert frame.scale == want.scale
    assert scan.n_samples == X.shape[0] and scan.sample_x.shape == (16_000, 3)


def test_initialisation_sample_is_uniform_over_the_source():
    """The reservoir sample drawn during the frame pass: m distinct rows, spread
    uniformly over the chunks and over positions within a chunk (a binned
    count of m/B has standard deviation ~sqrt(m/B); allow 5 of them)."""
    n, m, chunk = 1_000_000, 20_000, 10 * 4096
    x = np.arange(n, dtype=np.float64)
    scan = _scan.scan_source(_sources.as_source(x, chunk_size=chunk), seed=1,
                               init_sample_size=m)
    sample = scan.sample_x
    assert sample.shape == (m,) and np.unique(sample).size == m
    for counts in (np.histogram(sample, bins=10, range=(0, n))[0],
                   np.histogram(sample % chunk, bins=8, range=(0, chunk))[0]):
        expected = m / counts.size
        assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected)), counts
