# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False, cpow=True
"""Compiled kernels of cyem: the fused E+M pass and the initialisation loops.

This module does arithmetic only and trusts its inputs; validation, defaults,
warnings and convergence live in the Python modules that call it.

Parallelism and determinism: the data are cut into blocks of ``BLOCK_SIZE``
points, a size that depends on nothing but a constant. ``prange`` hands blocks
to threads; each block writes its sums into its own row of ``block_stats``;
the rows are then added in block order. The result is therefore bitwise the
same for any number of threads, and rounding error grows with the number of
blocks, not with n.
"""

import numpy as np

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.math cimport log, sqrt, M_PI, INFINITY
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memset


cdef extern from "cyem_kernels.h" nogil:
    enum: CYEM_TILE
    enum: CYEM_HAVE_MULTIVERSION
    size_t CYEM_SCRATCH_DOUBLES(Py_ssize_t K)
    void cyem_accumulate_f64(const double *x, double origin, double inv_scale,
                             const double *sample_weight,
                             Py_ssize_t n, Py_ssize_t K, const double *mean,
                             const double *log_norm, const double *prec,
                             double *scratch, double *stats)
    void cyem_accumulate_f32(const float *x, double origin, double inv_scale,
                             const double *sample_weight,
                             Py_ssize_t n, Py_ssize_t K, const double *mean,
                             const double *log_norm, const double *prec,
                             double *scratch, double *stats)
    void cyem_evaluate_f64(const double *x, double origin, double inv_scale,
                           Py_ssize_t n, Py_ssize_t K,
                           const double *mean, const double *log_norm,
                           const double *prec, double *scratch,
                           double *out_log_lik, double *out_resp,
                           int64_t *out_label)
    void cyem_evaluate_f32(const float *x, double origin, double inv_scale,
                           Py_ssize_t n, Py_ssize_t K,
                           const double *mean, const double *log_norm,
                           const double *prec, double *scratch,
                           double *out_log_lik, double *out_resp,
                           int64_t *out_label)
    void cyem_exp_nonpos_array(const double *x, Py_ssize_t n, double *out)
    void cyem_log_pos_array(const double *x, Py_ssize_t n, double *out)
    const char *cyem_simd_path()


cdef extern from "cyem_openmp.h" nogil:
    int cyem_openmp_enabled()
    int cyem_omp_max_threads()
    int cyem_openmp_version()


#: Points per block. Block boundaries depend on n only, never on the number
#: of threads (see the module docstring). 16 tiles: large enough to amortise
#: the per-block bookkeeping, small enough to balance two to 64 threads.
BLOCK_SIZE = 16 * CYEM_TILE
cdef Py_ssize_t _BLOCK = 16 * CYEM_TILE

#: Length of the statistics vector for K components is 2 + 3K (see the .pxd).
N_HEADER_STATS = 2


# --------------------------------------------------------------------------
# Public C-level API (declared and documented in _kernels.pxd)
# --------------------------------------------------------------------------

cdef Py_ssize_t scratch_size(Py_ssize_t n_components) noexcept nogil:
    return <Py_ssize_t> CYEM_SCRATCH_DOUBLES(n_components)


cdef void accumulate_block_f64(
        const double* x, double origin, double inv_scale,
        const double* sample_weight, Py_ssize_t n_samples,
        Py_ssize_t n_components, const double* means, const double* log_norm,
        const double* prec, double* scratch, double* stats) noexcept nogil:
    cyem_accumulate_f64(x, origin, inv_scale, sample_weight, n_samples, n_components, means,
                        log_norm, prec, scratch, stats)


cdef void accumulate_block_f32(
        const float* x, double origin, double inv_scale,
        const double* sample_weight, Py_ssize_t n_samples,
        Py_ssize_t n_components, const double* means, const double* log_norm,
        const double* prec, double* scratch, double* stats) noexcept nogil:
    cyem_accumulate_f32(x, origin, inv_scale, sample_weight, n_samples, n_components, means,
                        log_norm, prec, scratch, stats)


cdef void evaluate_block_f64(
        const double* x, double origin, double inv_scale,
        Py_ssize_t n_samples, Py_ssize_t n_components,
        const double* means, const double* log_norm, const double* prec,
        double* scratch, double* out_log_lik, double* out_resp,
        int64_t* out_label) noexcept nogil:
    cyem_evaluate_f64(x, origin, inv_scale, n_samples, n_components, means, log_norm, prec,
                      scratch, out_log_lik, out_resp, out_label)


cdef void evaluate_block_f32(
        const float* x, double origin, double inv_scale,
        Py_ssize_t n_samples, Py_ssize_t n_components,
        const double* means, const double* log_norm, const double* prec,
        double* scratch, double* out_log_lik, double* out_resp,
        int64_t* out_label) noexcept nogil:
    cyem_evaluate_f32(x, origin, inv_scale, n_samples, n_components, means, log_norm, prec,
                      scratch, out_log_lik, out_resp, out_label)


# --------------------------------------------------------------------------
# Python-level entry points
# --------------------------------------------------------------------------

def n_blocks(Py_ssize_t n_samples):
    """Number of fixed-size blocks the kernels split ``n_samples`` points into."""
    return (n_samples + _BLOCK - 1) // _BLOCK


def component_arrays(const double[::1] weights, const double[::1] means,
                     const double[::1] variances):
    """Kernel parametrisation of a univariate mixture.

    Parameters
    ----------
    weights, means, variances : ndarray of shape (K,), float64
        Mixture weights (non-negative), means and variances (positive).

    Returns
    -------
    means : ndarray of shape (K,)
        A contiguous copy of ``means``.
    log_norm : ndarray of shape (K,)
        log w_k - 0.5 log(variance_k) - 0.5 log(2 pi); -inf where w_k = 0.
    prec : ndarray of shape (K,)
        1 / sqrt(variance_k).
    """
    cdef Py_ssize_t k, K = weights.shape[0]
    log_norm = np.empty(K)
    prec = np.empty(K)
    cdef double[::1] log_norm_v = log_norm, prec_v = prec
    cdef double half_log_2pi = 0.5 * log(2.0 * M_PI)
    for k in range(K):
        prec_v[k] = 1.0 / sqrt(variances[k])
        if weights[k] > 0:
            log_norm_v[k] = log(weights[k]) + log(prec_v[k]) - half_log_2pi
        else:
            log_norm_v[k] = -INFINITY
    return np.array(means, dtype=np.float64), log_norm, prec


def accumulate_stats(const floating[::1] x, const double[::1] sample_weight,
                     const double[::1] means, const double[::1] log_norm,
                     const double[::1] prec, int n_threads,
                     double origin=0.0, double inv_scale=1.0,
                     double[:, ::1] block_stats=None, double[:, ::1] scratch=None):
    """One fused E+M pass: log-likelihood and shifted sufficient statistics.

    Parameters
    ----------
    x : ndarray of shape (n,), float32 or float64, C-contiguous
        Data (IN). float32 data are widened tile by tile, never copied whole.
        The kernel sees (x - origin) * inv_scale, the frame of the parameters.
    sample_weight : ndarray of shape (n,), float64, or None
        Non-negative weights v_i (IN); None means all ones.
    means, log_norm, prec : ndarray of shape (K,), float64
        The current parameters in kernel form (IN); see ``component_arrays``.
    n_threads : int
        Number of OpenMP threads (>= 1). Does not change the result.
    origin, inv_scale : float
        The frame of the parameters (see ``cyem/src/cyem_kernels.h``).
    block_stats : ndarray of shape (n_blocks(n), 2 + 3K), float64, optional
        Working memory (OUT, overwritten), so that a caller iterating EM can
        allocate it once. Allocated here when None.
    scratch : ndarray of shape (n_threads, scratch_size(K)), float64, optional
        Per-thread working memory (OUT, overwritten); see ``make_scratch``.

    Returns
    -------
    stats : ndarray of shape (2 + 3K,)
        [L, W, N_0..N_{K-1}, S_0.., Q_0..] as laid out in ``_kernels.pxd``,
        summed over the blocks in block order.
    """
    cdef Py_ssize_t n = x.shape[0], K = means.shape[0]
    cdef Py_ssize_t n_stats = 2 + 3 * K
    cdef Py_ssize_t nb = (n + _BLOCK - 1) // _BLOCK
    cdef Py_ssize_t b, start, stop, j
    cdef double *buf
    cdef const double *w_ptr = NULL
    if block_stats is None:
        block_stats = np.empty((nb, n_stats))
    if scratch is None:
        scratch = make_scratch(K, n_threads)
    stats = np.zeros(n_stats)
    cdef double[::1] stats_v = stats
    if sample_weight is not None:
        w_ptr = &sample_weight[0]
    if n == 0:
        return stats

    for b in prange(nb, nogil=True, schedule='static',
                   num_threads=min(n_threads, nb)):
        start = b * _BLOCK
        stop = min(start + _BLOCK, n)
        buf = &scratch[threadid(), 0]
        memset(&block_stats[b, 0], 0, n_stats * sizeof(double))
        if floating is double:
            cyem_accumulate_f64(&x[start], origin, inv_scale,
                                (w_ptr + start) if w_ptr != NULL else NULL,
                                stop - start, K, &means[0], &log_norm[0],
                                &prec[0], buf, &block_stats[b, 0])
        else:
            cyem_accumulate_f32(&x[start], origin, inv_scale,
                                (w_ptr + start) if w_ptr != NULL else NULL,
                                stop - start, K, &means[0], &log_norm[0],
                                &prec[0], buf, &block_stats[b, 0])

    # Reduce in block order: the result does not depend on the thread count.
    with nogil:
        for b in range(nb):
            for j in range(n_stats):
                stats_v[j] += block_stats[b, j]
    return stats


def make_scratch(Py_ssize_t n_components, int n_threads):
    """Per-thread working memory for the kernels: (n_threads, scratch_size(K))."""
    return np.empty((max(n_threads, 1), scratch_size(n_components)))


def evaluate(const floating[::1] x, const double[::1] means,
             const double[::1] log_norm, const double[::1] prec, int n_threads,
             double origin=0.0, double inv_scale=1.0, double[::1] out_log_lik=None, double[:, ::1] out_resp=None,
             int64_t[::1] out_label=None):
    """Per-point log-likelihood, memberships and/or labels (the predict family).

    Parameters
    ----------
    x : ndarray of shape (n,), float32 or float64, C-contiguous (IN)
    means, log_norm, prec : ndarray of shape (K,), float64 (IN)
    n_threads : int
    out_log_lik : ndarray of shape (n,), float64, optional (OUT)
        log sum_k w_k g(x_i; k).
    out_resp : ndarray of shape (n, K), float64, C-contiguous, optional (OUT)
        Membership probabilities p(k | x_i).
    out_label : ndarray of shape (n,), int64, optional (OUT)
        Most probable component (the first one on ties).
    """
    cdef Py_ssize_t n = x.shape[0], K = means.shape[0]
    cdef Py_ssize_t nb = (n + _BLOCK - 1) // _BLOCK
    cdef Py_ssize_t b, start, stop
    cdef double *buf
    cdef double *ll_ptr = NULL
    cdef double *resp_ptr = NULL
    cdef int64_t *label_ptr = NULL
    if n == 0:
        return
    cdef double[:, ::1] scratch = make_scratch(K, n_threads)
    if out_log_lik is not None:
        ll_ptr = &out_log_lik[0]
    if out_resp is not None:
        resp_ptr = &out_resp[0, 0]
    if out_label is not None:
        label_ptr = &out_label[0]

    for b in prange(nb, nogil=True, schedule='static',
                   num_threads=min(n_threads, nb)):
        start = b * _BLOCK
        stop = min(start + _BLOCK, n)
        buf = &scratch[threadid(), 0]
        if floating is double:
            cyem_evaluate_f64(&x[start], origin, inv_scale, stop - start, K, &means[0],
                              &log_norm[0], &prec[0], buf,
                              (ll_ptr + start) if ll_ptr != NULL else NULL,
                              (resp_ptr + start * K) if resp_ptr != NULL else NULL,
                              (label_ptr + start) if label_ptr != NULL else NULL)
        else:
            cyem_evaluate_f32(&x[start], origin, inv_scale, stop - start, K, &means[0],
                              &log_norm[0], &prec[0], buf,
                              (ll_ptr + start) if ll_ptr != NULL else NULL,
                              (resp_ptr + start * K) if resp_ptr != NULL else NULL,
                              (label_ptr + start) if label_ptr != NULL else NULL)


# --------------------------------------------------------------------------
# Initialisation kernels
# --------------------------------------------------------------------------

def kmeans_plusplus_1d(const floating[::1] x, const double[::1] sample_weight,
                       Py_ssize_t n_clusters, const double[::1] uniforms,
                       Py_ssize_t n_local_trials, double origin=0.0,
                       double inv_scale=1.0):
    """Greedy k-means++ seeding on one-dimensional data.

    Each new centre is drawn with probability proportional to v_i D(x_i)^2
    (D: distance to the nearest chosen centre); of ``n_local_trials`` such draws
    the one that lowers the potential sum_i v_i D(x_i)^2 most is kept
    (Arthur & Vassilvitskii 2007, with scikit-learn's greedy variant).

    Parameters
    ----------
    x : ndarray of shape (n,) (IN)
    sample_weight : ndarray of shape (n,) or None (IN)
    n_clusters : int
    uniforms : ndarray of shape (1 + (n_clusters - 1) * n_local_trials,) (IN)
        Uniform [0, 1) draws that make the seeding reproducible.
    n_local_trials : int

    origin, inv_scale : float
        The frame (x - origin) * inv_scale in which the centres are returned.

    Returns
    -------
    centers : ndarray of shape (n_clusters,)
    """
    cdef Py_ssize_t n = x.shape[0], i, c, t, best_idx, u_pos = 0
    cdef double pot, cand_pot, best_pot, d, cand, v
    centers = np.empty(n_clusters)
    cdef double[::1] centers_v = centers
    closest = np.empty(n)
    cdef double[::1] closest_v = closest
    candidates = np.empty(n_local_trials, dtype=np.intp)
    cdef Py_ssize_t[::1] cand_idx = candidates
    cdef bint weighted = sample_weight is not None

    with nogil:
        # First centre: drawn with probability proportional to the weights
        # (a potential of 1 everywhere).
        pot = 0.0
        for i in range(n):
            closest_v[i] = 1.0
            pot += sample_weight[i] if weighted else 1.0
        best_idx = _draw_index(sample_weight, closest_v, uniforms[u_pos] * pot, weighted)
        u_pos += 1
        centers_v[0] = ((x[best_idx] - origin) * inv_scale)
        pot = 0.0
        for i in range(n):
            d = ((x[i] - origin) * inv_scale) - centers_v[0]
            closest_v[i] = d * d
            pot += (sample_weight[i] if weighted else 1.0) * d * d
        for c in range(1, n_clusters):
            for t in range(n_local_trials):
                cand_idx[t] = _draw_index(sample_weight, closest_v,
                                          uniforms[u_pos] * pot, weighted)
                u_pos += 1
            best_pot = INFINITY
            best_idx = cand_idx[0]
            for t in range(n_local_trials):
                cand = ((x[cand_idx[t]] - origin) * inv_scale)
                cand_pot = 0.0
                for i in range(n):
                    d = ((x[i] - origin) * inv_scale) - cand
                    v = sample_weight[i] if weighted else 1.0
                    cand_pot += v * min(d * d, closest_v[i])
                if cand_pot < best_pot:
                    best_pot = cand_pot
                    best_idx = cand_idx[t]
            centers_v[c] = ((x[best_idx] - origin) * inv_scale)
            pot = 0.0
            for i in range(n):
                d = ((x[i] - origin) * inv_scale) - centers_v[c]
                closest_v[i] = min(d * d, closest_v[i])
                pot += (sample_weight[i] if weighted else 1.0) * closest_v[i]
    return centers


cdef inline Py_ssize_t _draw_index(const double[::1] sample_weight,
                                   const double[::1] potential, double target,
                                   bint weighted) noexcept nogil:
    """Index i where the running sum of v_i * potential_i first exceeds target
    (a draw proportional to those masses); the last positive one if rounding
    leaves target beyond the total."""
    cdef Py_ssize_t i, n = potential.shape[0], last = 0
    cdef double acc = 0.0, mass
    for i in range(n):
        mass = potential[i] * sample_weight[i] if weighted else potential[i]
        if mass > 0:
            acc += mass
            last = i
            if acc > target:
                return i
    return last


def lloyd_1d(const floating[::1] x, const double[::1] sample_weight,
             double[::1] centers, int max_iter, double origin=0.0,
             double inv_scale=1.0):
    """A few Lloyd (k-means) iterations on one-dimensional data, in place.

    Points are assigned to the nearest centre by binary search over the
    midpoints of the sorted centres (O(n log K) per iteration).

    Parameters
    ----------
    x : ndarray of shape (n,) (IN)
    sample_weight : ndarray of shape (n,) or None (IN)
    centers : ndarray of shape (K,) (IN/OUT)
        Starting centres; on return sorted and updated. A centre that loses
        all its points keeps its position.
    max_iter : int
        Maximum number of iterations; stops early when no centre moves.
    origin, inv_scale : float
        The frame (x - origin) * inv_scale of the centres and statistics.

    Returns
    -------
    counts, sums_dev, sums_sq_dev : ndarray of shape (K,)
        Weighted count, sum of (x - centre) and sum of (x - centre)^2 of the
        points assigned to each final centre (shifted sums, as in the EM stats).
    n_iter : int
    """
    cdef Py_ssize_t n = x.shape[0], K = centers.shape[0], i, k, lo, hi, mid
    cdef int it, n_iter = 0
    cdef double v, d, moved
    cdef bint weighted = sample_weight is not None
    counts = np.zeros(K)
    sums = np.zeros(K)
    sq_sums = np.zeros(K)
    midpoints = np.empty(max(K - 1, 1))
    cdef double[::1] n_k = counts, s_k = sums, q_k = sq_sums, mids = midpoints
    np.asarray(centers).sort()
    with nogil:
        for it in range(max_iter + 1):
            for k in range(K - 1):
                mids[k] = 0.5 * (centers[k] + centers[k + 1])
            for k in range(K):
                n_k[k] = 0.0
                s_k[k] = 0.0
                q_k[k] = 0.0
            for i in range(n):
                # nearest centre: first midpoint above x (binary search)
                lo = 0
                hi = K - 1
                while lo < hi:
                    mid = (lo + hi) // 2
                    if ((x[i] - origin) * inv_scale) > mids[mid]:
                        lo = mid + 1
                    else:
                        hi = mid
                v = sample_weight[i] if weighted else 1.0
                d = ((x[i] - origin) * inv_scale) - centers[lo]
                n_k[lo] += v
                s_k[lo] += v * d
                q_k[lo] += v * d * d
            if it == max_iter:
                break        # the last pass only collects the statistics
            moved = 0.0
            for k in range(K):
                if n_k[k] > 0:
                    d = s_k[k] / n_k[k]
                    centers[k] += d
                    moved = max(moved, abs(d))
            n_iter = it + 1
            if moved == 0.0:
                break
    # The statistics come from the last assignment pass, which used the
    # returned centres (a pass that moves a centre is always followed by one).
    return counts, sums, sq_sums, n_iter


def random_resp_stats(const floating[::1] x, const double[::1] sample_weight,
                      Py_ssize_t n_components, uint64_t seed, double shift,
                      double origin=0.0, double inv_scale=1.0):
    """Statistics of random memberships (scikit-learn's 'random' init).

    Each point's memberships are K uniform draws normalised to sum to one,
    generated on the fly by a counter-based hash (splitmix64 of seed and the
    point index) so that no n x K array exists.

    Returns
    -------
    counts, sums_dev, sums_sq_dev : ndarray of shape (K,)
        sum v r_ik, sum v r_ik (x'_i - shift), sum v r_ik (x'_i - shift)^2 with
        x' = (x - origin) * inv_scale.
    """
    cdef Py_ssize_t n = x.shape[0], K = n_components, i, k
    cdef double v, d, total
    cdef uint64_t state
    cdef bint weighted = sample_weight is not None
    counts = np.zeros(K)
    sums = np.zeros(K)
    sq_sums = np.zeros(K)
    draws = np.empty(K)
    cdef double[::1] n_k = counts, s_k = sums, q_k = sq_sums, u = draws
    with nogil:
        for i in range(n):
            state = seed ^ (<uint64_t> i * <uint64_t> 0x9E3779B97F4A7C15)
            total = 0.0
            for k in range(K):
                u[k] = _uniform(&state)
                total += u[k]
            v = sample_weight[i] if weighted else 1.0
            d = ((x[i] - origin) * inv_scale) - shift
            for k in range(K):
                n_k[k] += v * u[k] / total
                s_k[k] += v * u[k] / total * d
                q_k[k] += v * u[k] / total * d * d
    return counts, sums, sq_sums


cdef inline double _uniform(uint64_t *state) noexcept nogil:
    """splitmix64 step, mapped to (0, 1]."""
    cdef uint64_t z
    state[0] += <uint64_t> 0x9E3779B97F4A7C15
    z = state[0]
    z = (z ^ (z >> 30)) * <uint64_t> 0xBF58476D1CE4E5B9
    z = (z ^ (z >> 27)) * <uint64_t> 0x94D049BB133111EB
    z = z ^ (z >> 31)
    return ((z >> 11) + 1) * (1.0 / 9007199254740992.0)


# --------------------------------------------------------------------------
# Validation kernels (no allocation proportional to n)
# --------------------------------------------------------------------------

def count_nonfinite(const floating[::1] x):
    """Number of NaN and of infinite values in ``x``: (n_nan, n_inf)."""
    cdef Py_ssize_t i, n_nan = 0, n_inf = 0
    cdef double v
    with nogil:
        for i in range(x.shape[0]):
            v = x[i]
            if v != v:
                n_nan += 1
            elif v - v != 0:      # only +-inf gives inf - inf = NaN
                n_inf += 1
    return n_nan, n_inf


def count_distinct_upto(const floating[::1] x, const double[::1] sample_weight,
                        Py_ssize_t limit):
    """Number of distinct values of ``x`` (among points of positive weight),
    counting no further than ``limit``: O(n * limit) at worst, but it stops as
    soon as ``limit`` distinct values are seen, typically within a few points."""
    cdef Py_ssize_t i, j, count = 0
    cdef bint seen, weighted = sample_weight is not None
    found = np.empty(max(limit, 1))
    cdef double[::1] found_v = found
    with nogil:
        for i in range(x.shape[0]):
            if count >= limit:
                break
            if weighted and not (sample_weight[i] > 0):
                continue
            seen = False
            for j in range(count):
                if found_v[j] == x[i]:
                    seen = True
                    break
            if not seen:
                found_v[count] = x[i]
                count += 1
    return count


# --------------------------------------------------------------------------
# Helpers for tests and build information
# --------------------------------------------------------------------------

def exp_nonpos(const double[::1] x):
    """The kernel's vectorised exp, for x <= 0 (results below 2^-1021 are 0)."""
    out = np.empty(x.shape[0])
    cdef double[::1] out_v = out
    if x.shape[0]:
        cyem_exp_nonpos_array(&x[0], x.shape[0], &out_v[0])
    return out


def log_pos(const double[::1] x):
    """The kernel's vectorised log, for finite, positive, normal x."""
    out = np.empty(x.shape[0])
    cdef double[::1] out_v = out
    if x.shape[0]:
        cyem_log_pos_array(&x[0], x.shape[0], &out_v[0])
    return out


def build_info():
    """Facts about how this extension was compiled and what it runs on."""
    return {
        "openmp": bool(cyem_openmp_enabled()),
        "openmp_version": int(cyem_openmp_version()),
        "omp_max_threads": int(cyem_omp_max_threads()),
        "multiversioned": bool(CYEM_HAVE_MULTIVERSION),
        "simd_path": cyem_simd_path().decode("ascii"),
        "block_size": BLOCK_SIZE,
        "tile_size": CYEM_TILE,
    }
