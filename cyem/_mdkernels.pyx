# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""Compiled kernels for multivariate data (n_samples x d, d >= 2).

Same contract as ``cyem._kernels``: arithmetic only, inputs trusted, one fused
pass per EM iteration over fixed blocks reduced in block order (bitwise the
same result for any number of threads), no n x K array.

Models and their kernel parametrisation (K components, d features):

* ``DIAG`` -- diagonal and spherical covariances. ``prec`` is (K, d): the
  inverse standard deviation of every feature (all equal for spherical).
  Second moments Q are per feature: (K, d).
* ``FULL`` -- full and tied covariances. ``prec`` is (K, d, d) or, tied,
  (1, d, d): UPPER-triangular U_k with precision = U_k U_k^T (scikit-learn's
  ``precisions_cholesky_`` after an M step). Second moments Q are (K, d, d), of
  which only the upper triangle (row-major) is accumulated; the caller mirrors
  it. The O(d^2) work per point runs as BLAS-3 calls from SciPy's cython_blas
  on tiles of 256 points -- a triangular product (dtrmm) for the densities and a
  symmetric rank-k update (dsyrk) for Q, half the flops of general products;
  call it with BLAS limited to one thread (threadpoolctl), since the
  parallelism is ours. For d <= 16 (CYEM_MD_SMALL_D) the same arithmetic runs
  in C vectorised across the points of a tile instead: at such sizes BLAS
  spends more time packing its operands than multiplying them.

``log_norm[k] = log w_k - d/2 log(2 pi) + log det U_k``, so that
log(w_k g(x; k)) = log_norm[k] - 0.5 ||(x - mu_k) U_k||^2.

Statistics vector: [L, W, N (K), S (K*d), Q (K*d or K*d*d)] with
S_k = sum_i v_i r_ik (x_i - mu_k) and Q the matching second moments, both
shifted by the current means.

The per-block kernels of both kinds are a public C-level API, declared in
``_mdkernels.pxd`` and re-exported by ``cyem/__init__.pxd``; ``accumulate_stats``
and ``evaluate`` below call the same functions from their ``prange``.
"""

import numpy as np

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.math cimport INFINITY, sqrt
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memset
from scipy.linalg.cython_blas cimport dsyrk, dtrmm


cdef extern from "cyem_md_kernels.h" nogil:
    enum: CYEM_TILE
    size_t CYEM_MD_DIAG_SCRATCH_DOUBLES(Py_ssize_t K, Py_ssize_t d)
    void cyem_md_diag_accumulate_f64(const double *x, const double *origin,
                                     const double *inv_scale, const double *sample_weight,
                                     Py_ssize_t n, Py_ssize_t d, Py_ssize_t K,
                                     const double *mean, const double *log_norm,
                                     const double *prec, double *scratch, double *stats)
    void cyem_md_diag_accumulate_f32(const float *x, const double *origin,
                                     const double *inv_scale, const double *sample_weight,
                                     Py_ssize_t n, Py_ssize_t d, Py_ssize_t K,
                                     const double *mean, const double *log_norm,
                                     const double *prec, double *scratch, double *stats)
    void cyem_md_diag_evaluate_f64(const double *x, const double *origin,
                                   const double *inv_scale, Py_ssize_t n, Py_ssize_t d,
                                   Py_ssize_t K, const double *mean,
                                   const double *log_norm, const double *prec,
                                   double *scratch, double *out_log_lik,
                                   double *out_resp, int64_t *out_label)
    void cyem_md_diag_evaluate_f32(const float *x, const double *origin,
                                   const double *inv_scale, Py_ssize_t n, Py_ssize_t d,
                                   Py_ssize_t K, const double *mean,
                                   const double *log_norm, const double *prec,
                                   double *scratch, double *out_log_lik,
                                   double *out_resp, int64_t *out_label)
    enum: CYEM_MD_SMALL_D
    size_t CYEM_MD_FULL_SMALL_SCRATCH_DOUBLES(Py_ssize_t K, Py_ssize_t d)
    void cyem_md_full_small_accumulate_f64(const double *x, const double *origin,
                                           const double *inv_scale,
                                           const double *sample_weight, Py_ssize_t n,
                                           Py_ssize_t d, Py_ssize_t K, const double *mean,
                                           const double *log_norm, const double *prec,
                                           int tied, double *scratch, double *stats)
    void cyem_md_full_small_accumulate_f32(const float *x, const double *origin,
                                           const double *inv_scale,
                                           const double *sample_weight, Py_ssize_t n,
                                           Py_ssize_t d, Py_ssize_t K, const double *mean,
                                           const double *log_norm, const double *prec,
                                           int tied, double *scratch, double *stats)
    void cyem_md_full_small_evaluate_f64(const double *x, const double *origin,
                                         const double *inv_scale, Py_ssize_t n,
                                         Py_ssize_t d, Py_ssize_t K, const double *mean,
                                         const double *log_norm, const double *prec,
                                         int tied, double *scratch, double *out_log_lik,
                                         double *out_resp, int64_t *out_label)
    void cyem_md_full_small_evaluate_f32(const float *x, const double *origin,
                                         const double *inv_scale, Py_ssize_t n,
                                         Py_ssize_t d, Py_ssize_t K, const double *mean,
                                         const double *log_norm, const double *prec,
                                         int tied, double *scratch, double *out_log_lik,
                                         double *out_resp, int64_t *out_label)
    void cyem_md_memberships(double *z, Py_ssize_t n, Py_ssize_t K,
                             const double *sample_weight, double *work, double *stats)
    void cyem_md_sq_norms_to_log_density(const double *y, Py_ssize_t m, Py_ssize_t d,
                                         double log_norm, double *zk)
    void cyem_md_outputs(double *z, Py_ssize_t n, Py_ssize_t K, double *work,
                         double *out_log_lik, double *out_resp, int64_t *out_label)


cdef enum:
    KIND_DIAG = 0
    KIND_FULL = 1

DIAG = KIND_DIAG
FULL = KIND_FULL
TILE = CYEM_TILE

#: At most this many blocks: the statistics of a full model are K d^2 numbers
#: per block, so blocks grow with n instead of multiplying.
MAX_BLOCKS = 64
cdef Py_ssize_t _MIN_BLOCK = 16 * CYEM_TILE


def block_size(Py_ssize_t n_samples):
    """Points per block for n_samples points: a function of n only (so the
    result never depends on the thread count), a multiple of the tile, at
    least 4096 and giving at most MAX_BLOCKS blocks."""
    cdef Py_ssize_t per_block = (n_samples + MAX_BLOCKS - 1) // MAX_BLOCKS
    per_block = ((per_block + CYEM_TILE - 1) // CYEM_TILE) * CYEM_TILE
    return max(per_block, _MIN_BLOCK)


def n_blocks(Py_ssize_t n_samples):
    cdef Py_ssize_t bs = block_size(n_samples)
    return (n_samples + bs - 1) // bs


def n_stats(Py_ssize_t K, Py_ssize_t d, int kind):
    """Length of the statistics vector."""
    return 2 + K + K * d + (K * d * d if kind == FULL else K * d)


def scratch_size(Py_ssize_t K, Py_ssize_t d, int kind):
    """Doubles of per-thread scratch memory."""
    if kind == FULL:
        return full_scratch_size(K, d)
    return diag_scratch_size(K, d)


def make_scratch(Py_ssize_t K, Py_ssize_t d, int kind, int n_threads):
    return np.empty((max(n_threads, 1), scratch_size(K, d, kind)))


# ---- full / tied: BLAS on tiles ---------------------------------------------

cdef inline void _center(const floating *x, Py_ssize_t m, Py_ssize_t d,
                         const double *origin, const double *inv_scale,
                         const double *mu, double *dev) noexcept nogil:
    """dev (m x d) = x' - mu with x' = (x - origin) * inv_scale, in double."""
    cdef Py_ssize_t j, f
    for j in range(m):
        for f in range(d):
            dev[j * d + f] = (<double> x[j * d + f] - origin[f]) * inv_scale[f] - mu[f]


cdef void _full_log_densities(const floating *x, const double *origin,
                              const double *inv_scale, Py_ssize_t m, Py_ssize_t d,
                              Py_ssize_t K, const double *means,
                              const double *log_norm, const double *prec_chol,
                              bint tied, double *dev, double *z) noexcept nogil:
    """z[k*TILE + j] = log_norm[k] - 0.5 ||(x_j - mu_k) U_k||^2 for a tile."""
    cdef Py_ssize_t k
    cdef int di = <int> d, mi = <int> m
    cdef double one = 1.0
    cdef char left = b'L', lower = b'L', no_trans = b'N', non_unit = b'N'
    cdef double *U
    for k in range(K):
        U = <double *> (prec_chol if tied else prec_chol + k * d * d)
        _center(x, m, d, origin, inv_scale, means + k * d, dev)
        # Row-major dev @ U is column-major U^T dev^T; BLAS sees the row-major
        # upper-triangular U as a lower-triangular column-major matrix, and
        # dev as dev^T, so one in-place dtrmm does it with no copy.
        dtrmm(&left, &lower, &no_trans, &non_unit, &di, &mi, &one, U, &di, dev, &di)
        cyem_md_sq_norms_to_log_density(dev, m, d, log_norm[k], z + k * CYEM_TILE)


cdef void _full_accumulate_block(const floating *x, const double *origin,
                                 const double *inv_scale, const double *sample_weight,
                                 Py_ssize_t n, Py_ssize_t d, Py_ssize_t K,
                                 const double *means, const double *log_norm,
                                 const double *prec_chol, bint tied,
                                 double *scratch, double *stats) noexcept nogil:
    cdef double *dev = scratch
    cdef double *s_k = dev + d * CYEM_TILE
    cdef double *z = dev + 2 * d * CYEM_TILE
    cdef double *work = z + K * CYEM_TILE
    cdef double *S = stats + 2 + K
    cdef double *Q = S + K * d
    cdef Py_ssize_t start, m, k, j, f
    cdef int di = <int> d, mi
    cdef double one = 1.0, r, root, n_k, dv
    cdef char lower = b'L', no_trans = b'N'
    cdef double *zk
    cdef double *row
    start = 0
    while start < n:
        m = min(<Py_ssize_t> CYEM_TILE, n - start)
        mi = <int> m
        _full_log_densities(x + start * d, origin, inv_scale, m, d, K, means,
                            log_norm, prec_chol, tied, dev, z)
        cyem_md_memberships(z, m, K, (sample_weight + start) if sample_weight != NULL
                            else NULL, work, stats)
        for k in range(K):
            zk = z + k * CYEM_TILE
            _center(x + start * d, m, d, origin, inv_scale, means + k * d, dev)
            n_k = 0.0
            for f in range(d):
                s_k[f] = 0.0
            for j in range(m):
                r = zk[j]
                root = sqrt(r)
                n_k = n_k + r
                row = dev + j * d
                for f in range(d):
                    dv = row[f]
                    s_k[f] += r * dv
                    row[f] = root * dv
            stats[2 + k] += n_k
            for f in range(d):
                S[k * d + f] += s_k[f]
            # Q_k += sum_j r_j dev_j dev_j^T as a rank-m update with the rows
            # sqrt(r_j) dev_j: column-major (d x m)(m x d), lower triangle,
            # which is the upper triangle of the row-major Q_k.
            dsyrk(&lower, &no_trans, &di, &mi, &one, dev, &di, &one,
                  Q + k * d * d, &di)
        start += m


cdef void _full_evaluate_block(const floating *x, const double *origin,
                               const double *inv_scale, Py_ssize_t n, Py_ssize_t d,
                               Py_ssize_t K, const double *means,
                               const double *log_norm, const double *prec_chol,
                               bint tied, double *scratch, double *out_log_lik,
                               double *out_resp, int64_t *out_label) noexcept nogil:
    cdef double *dev = scratch
    cdef double *z = dev + 2 * d * CYEM_TILE
    cdef double *work = z + K * CYEM_TILE
    cdef Py_ssize_t start = 0, m
    while start < n:
        m = min(<Py_ssize_t> CYEM_TILE, n - start)
        _full_log_densities(x + start * d, origin, inv_scale, m, d, K, means,
                            log_norm, prec_chol, tied, dev, z)
        cyem_md_outputs(z, m, K, work,
                        (out_log_lik + start) if out_log_lik != NULL else NULL,
                        (out_resp + start * K) if out_resp != NULL else NULL,
                        (out_label + start) if out_label != NULL else NULL)
        start += m


# ---- one block of one kernel kind ------------------------------------------

cdef inline void _accumulate_block(int kind, const floating *X, const double *origin,
                                   const double *inv_scale, const double *sample_weight,
                                   Py_ssize_t n, Py_ssize_t d, Py_ssize_t K,
                                   const double *means, const double *log_norm,
                                   const double *prec, bint tied, double *scratch,
                                   double *stats) noexcept nogil:
    """Add the statistics of X[0:n] to stats with the kernel of ``kind`` (the
    small-d C path or the BLAS path for FULL; see the module docstring)."""
    if kind == KIND_FULL and d <= CYEM_MD_SMALL_D:
        if floating is double:
            cyem_md_full_small_accumulate_f64(X, origin, inv_scale, sample_weight, n, d, K,
                                              means, log_norm, prec, tied, scratch, stats)
        else:
            cyem_md_full_small_accumulate_f32(X, origin, inv_scale, sample_weight, n, d, K,
                                              means, log_norm, prec, tied, scratch, stats)
    elif kind == KIND_FULL:
        _full_accumulate_block(X, origin, inv_scale, sample_weight, n, d, K, means,
                               log_norm, prec, tied, scratch, stats)
    elif floating is double:
        cyem_md_diag_accumulate_f64(X, origin, inv_scale, sample_weight, n, d, K, means,
                                    log_norm, prec, scratch, stats)
    else:
        cyem_md_diag_accumulate_f32(X, origin, inv_scale, sample_weight, n, d, K, means,
                                    log_norm, prec, scratch, stats)


cdef inline void _evaluate_block(int kind, const floating *X, const double *origin,
                                 const double *inv_scale, Py_ssize_t n, Py_ssize_t d,
                                 Py_ssize_t K, const double *means, const double *log_norm,
                                 const double *prec, bint tied, double *scratch,
                                 double *out_log_lik, double *out_resp,
                                 int64_t *out_label) noexcept nogil:
    """Per-point outputs of X[0:n] with the kernel of ``kind``."""
    if kind == KIND_FULL and d <= CYEM_MD_SMALL_D:
        if floating is double:
            cyem_md_full_small_evaluate_f64(X, origin, inv_scale, n, d, K, means, log_norm,
                                            prec, tied, scratch, out_log_lik, out_resp,
                                            out_label)
        else:
            cyem_md_full_small_evaluate_f32(X, origin, inv_scale, n, d, K, means, log_norm,
                                            prec, tied, scratch, out_log_lik, out_resp,
                                            out_label)
    elif kind == KIND_FULL:
        _full_evaluate_block(X, origin, inv_scale, n, d, K, means, log_norm, prec, tied,
                             scratch, out_log_lik, out_resp, out_label)
    elif floating is double:
        cyem_md_diag_evaluate_f64(X, origin, inv_scale, n, d, K, means, log_norm, prec,
                                  scratch, out_log_lik, out_resp, out_label)
    else:
        cyem_md_diag_evaluate_f32(X, origin, inv_scale, n, d, K, means, log_norm, prec,
                                  scratch, out_log_lik, out_resp, out_label)


# ---- public C-level API (declared and documented in _mdkernels.pxd) ----------

cdef Py_ssize_t diag_scratch_size(Py_ssize_t n_components,
                                  Py_ssize_t n_features) noexcept nogil:
    return <Py_ssize_t> CYEM_MD_DIAG_SCRATCH_DOUBLES(n_components, n_features)


cdef Py_ssize_t full_scratch_size(Py_ssize_t n_components,
                                  Py_ssize_t n_features) noexcept nogil:
    # The small-d C path needs one tile row more than the BLAS path.
    return <Py_ssize_t> CYEM_MD_FULL_SMALL_SCRATCH_DOUBLES(n_components, n_features)


cdef void accumulate_diag_block_f64(
        const double* X, const double* origin, const double* inv_scale,
        const double* sample_weight, Py_ssize_t n_samples, Py_ssize_t n_features,
        Py_ssize_t n_components, const double* means, const double* log_norm,
        const double* prec, double* scratch, double* stats) noexcept nogil:
    _accumulate_block(KIND_DIAG, X, origin, inv_scale, sample_weight, n_samples, n_features,
                      n_components, means, log_norm, prec, False, scratch, stats)


cdef void accumulate_diag_block_f32(
        const float* X, const double* origin, const double* inv_scale,
        const double* sample_weight, Py_ssize_t n_samples, Py_ssize_t n_features,
        Py_ssize_t n_components, const double* means, const double* log_norm,
        const double* prec, double* scratch, double* stats) noexcept nogil:
    _accumulate_block(KIND_DIAG, X, origin, inv_scale, sample_weight, n_samples, n_features,
                      n_components, means, log_norm, prec, False, scratch, stats)


cdef void evaluate_diag_block_f64(
        const double* X, const double* origin, const double* inv_scale,
        Py_ssize_t n_samples, Py_ssize_t n_features, Py_ssize_t n_components,
        const double* means, const double* log_norm, const double* prec,
        double* scratch, double* out_log_lik, double* out_resp,
        int64_t* out_label) noexcept nogil:
    _evaluate_block(KIND_DIAG, X, origin, inv_scale, n_samples, n_features, n_components,
                    means, log_norm, prec, False, scratch, out_log_lik, out_resp, out_label)


cdef void evaluate_diag_block_f32(
        const float* X, const double* origin, const double* inv_scale,
        Py_ssize_t n_samples, Py_ssize_t n_features, Py_ssize_t n_components,
        const double* means, const double* log_norm, const double* prec,
        double* scratch, double* out_log_lik, double* out_resp,
        int64_t* out_label) noexcept nogil:
    _evaluate_block(KIND_DIAG, X, origin, inv_scale, n_samples, n_features, n_components,
                    means, log_norm, prec, False, scratch, out_log_lik, out_resp, out_label)


cdef void accumulate_full_block_f64(
        const double* X, const double* origin, const double* inv_scale,
        const double* sample_weight, Py_ssize_t n_samples, Py_ssize_t n_features,
        Py_ssize_t n_components, const double* means, const double* log_norm,
        const double* prec_chol, int tied, double* scratch, double* stats) noexcept nogil:
    _accumulate_block(KIND_FULL, X, origin, inv_scale, sample_weight, n_samples, n_features,
                      n_components, means, log_norm, prec_chol, tied != 0, scratch, stats)


cdef void accumulate_full_block_f32(
        const float* X, const double* origin, const double* inv_scale,
        const double* sample_weight, Py_ssize_t n_samples, Py_ssize_t n_features,
        Py_ssize_t n_components, const double* means, const double* log_norm,
        const double* prec_chol, int tied, double* scratch, double* stats) noexcept nogil:
    _accumulate_block(KIND_FULL, X, origin, inv_scale, sample_weight, n_samples, n_features,
                      n_components, means, log_norm, prec_chol, tied != 0, scratch, stats)


cdef void evaluate_full_block_f64(
        const double* X, const double* origin, const double* inv_scale,
        Py_ssize_t n_samples, Py_ssize_t n_features, Py_ssize_t n_components,
        const double* means, const double* log_norm, const double* prec_chol, int tied,
        double* scratch, double* out_log_lik, double* out_resp,
        int64_t* out_label) noexcept nogil:
    _evaluate_block(KIND_FULL, X, origin, inv_scale, n_samples, n_features, n_components,
                    means, log_norm, prec_chol, tied != 0, scratch, out_log_lik, out_resp,
                    out_label)


cdef void evaluate_full_block_f32(
        const float* X, const double* origin, const double* inv_scale,
        Py_ssize_t n_samples, Py_ssize_t n_features, Py_ssize_t n_components,
        const double* means, const double* log_norm, const double* prec_chol, int tied,
        double* scratch, double* out_log_lik, double* out_resp,
        int64_t* out_label) noexcept nogil:
    _evaluate_block(KIND_FULL, X, origin, inv_scale, n_samples, n_features, n_components,
                    means, log_norm, prec_chol, tied != 0, scratch, out_log_lik, out_resp,
                    out_label)


# ---- Python-level entry points ---------------------------------------------

def accumulate_stats(const floating[:, ::1] X, const double[::1] sample_weight,
                     const double[:, ::1] means, const double[::1] log_norm,
                     prec, int kind, int n_threads, const double[::1] origin,
                     const double[::1] inv_scale, double[:, ::1] block_stats=None,
                     double[:, ::1] scratch=None):
    """One fused E+M pass over X (n x d): log-likelihood and shifted statistics.

    Parameters
    ----------
    X : ndarray of shape (n, d), float32 or float64, C-contiguous (IN)
    sample_weight : ndarray of shape (n,) or None (IN)
    means : ndarray of shape (K, d) (IN)
    log_norm : ndarray of shape (K,) (IN)
    prec : ndarray (IN)
        (K, d) for DIAG; (K, d, d), or (1, d, d) when tied, for FULL.
    kind : DIAG or FULL
    n_threads : int
    origin, inv_scale : ndarray of shape (d,) (IN)
        The frame x' = (x - origin) * inv_scale of the parameters.
    block_stats, scratch : ndarray, optional (OUT, overwritten)
        Working memory of shapes (n_blocks(n), n_stats) and
        (n_threads, scratch_size), so an EM loop can allocate them once.

    Returns
    -------
    stats : ndarray of shape (n_stats(K, d, kind),)
    """
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], K = means.shape[0]
    cdef Py_ssize_t ns = n_stats(K, d, kind)
    cdef Py_ssize_t bs = block_size(n), nb = (n + bs - 1) // bs
    cdef Py_ssize_t b, start, stop, j
    cdef double *buf
    cdef const double *w_ptr = NULL
    cdef const double[::1] prec_flat = np.ascontiguousarray(prec, dtype=np.float64).ravel()
    cdef bint tied = kind == FULL and np.shape(prec)[0] == 1 and K > 1
    if block_stats is None:
        block_stats = np.empty((nb, ns))
    if scratch is None:
        scratch = make_scratch(K, d, kind, n_threads)
    stats = np.zeros(ns)
    cdef double[::1] stats_v = stats
    if sample_weight is not None:
        w_ptr = &sample_weight[0]
    if n == 0:
        return stats

    for b in prange(nb, nogil=True, schedule='static',
                   num_threads=min(n_threads, nb)):
        start = b * bs
        stop = min(start + bs, n)
        buf = &scratch[threadid(), 0]
        memset(&block_stats[b, 0], 0, ns * sizeof(double))
        _accumulate_block(kind, &X[start, 0], &origin[0], &inv_scale[0],
                          (w_ptr + start) if w_ptr != NULL else NULL, stop - start, d, K,
                          &means[0, 0], &log_norm[0], &prec_flat[0], tied, buf,
                          &block_stats[b, 0])
    with nogil:
        for b in range(nb):
            for j in range(ns):
                stats_v[j] += block_stats[b, j]
    return stats


def evaluate(const floating[:, ::1] X, const double[:, ::1] means,
             const double[::1] log_norm, prec, int kind, int n_threads,
             const double[::1] origin, const double[::1] inv_scale,
             double[::1] out_log_lik=None, double[:, ::1] out_resp=None,
             int64_t[::1] out_label=None):
    """Per-point log-likelihood, memberships and/or labels (OUT arrays may be None)."""
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], K = means.shape[0]
    cdef Py_ssize_t bs = block_size(n), nb = (n + bs - 1) // bs
    cdef Py_ssize_t b, start, stop
    cdef double *buf
    cdef double *ll_ptr = NULL
    cdef double *resp_ptr = NULL
    cdef int64_t *label_ptr = NULL
    cdef const double[::1] prec_flat = np.ascontiguousarray(prec, dtype=np.float64).ravel()
    cdef bint tied = kind == FULL and np.shape(prec)[0] == 1 and K > 1
    if n == 0:
        return
    cdef double[:, ::1] scratch = make_scratch(K, d, kind, n_threads)
    if out_log_lik is not None:
        ll_ptr = &out_log_lik[0]
    if out_resp is not None:
        resp_ptr = &out_resp[0, 0]
    if out_label is not None:
        label_ptr = &out_label[0]
    for b in prange(nb, nogil=True, schedule='static',
                   num_threads=min(n_threads, nb)):
        start = b * bs
        stop = min(start + bs, n)
        buf = &scratch[threadid(), 0]
        _evaluate_block(kind, &X[start, 0], &origin[0], &inv_scale[0], stop - start, d, K,
                        &means[0, 0], &log_norm[0], &prec_flat[0], tied, buf,
                        (ll_ptr + start) if ll_ptr != NULL else NULL,
                        (resp_ptr + start * K) if resp_ptr != NULL else NULL,
                        (label_ptr + start) if label_ptr != NULL else NULL)


# ---- initialisation: k-means in d dimensions ---------------------------------

cdef inline double _sq_dist(const floating *x, const double *origin,
                           const double *inv_scale, const double *c,
                           Py_ssize_t d) noexcept nogil:
    """Squared distance between the point x (in data units) and c (in the frame)."""
    cdef Py_ssize_t f
    cdef double s = 0.0, t
    for f in range(d):
        t = (<double> x[f] - origin[f]) * inv_scale[f] - c[f]
        s = s + t * t
    return s


def kmeans_plusplus(const floating[:, ::1] X, const double[::1] sample_weight,
                    Py_ssize_t n_clusters, const double[::1] uniforms,
                    Py_ssize_t n_local_trials, const double[::1] origin,
                    const double[::1] inv_scale):
    """Greedy k-means++ seeding (see ``cyem._kernels.kmeans_plusplus_1d``) in d
    dimensions. Returns centres of shape (n_clusters, d), in the frame
    (x - origin) * inv_scale."""
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], i, c, t, best_idx, u_pos = 0
    cdef double pot, cand_pot, best_pot, v, dist, acc, target
    centers = np.empty((n_clusters, d))
    cdef double[:, ::1] cv = centers
    closest = np.empty(n)
    cdef double[::1] cl = closest
    cand = np.empty(n_local_trials, dtype=np.intp)
    cdef Py_ssize_t[::1] cand_idx = cand
    cdef bint weighted = sample_weight is not None
    cdef Py_ssize_t f
    with nogil:
        for i in range(n):
            cl[i] = 1.0
        for c in range(n_clusters):
            pot = 0.0
            for i in range(n):
                pot += cl[i] * (sample_weight[i] if weighted else 1.0)
            for t in range(n_local_trials if c > 0 else 1):
                target = uniforms[u_pos] * pot
                u_pos += 1
                acc = 0.0
                cand_idx[t] = 0
                for i in range(n):
                    v = cl[i] * (sample_weight[i] if weighted else 1.0)
                    if v > 0:
                        acc += v
                        cand_idx[t] = i
                        if acc > target:
                            break
            best_idx = cand_idx[0]
            if c > 0:
                best_pot = INFINITY
                for t in range(n_local_trials):
                    cand_pot = 0.0
                    for i in range(n):
                        dist = 0.0
                        for f in range(d):
                            dist = dist + (((<double> X[i, f] - origin[f]) * inv_scale[f]) - ((<double> X[cand_idx[t], f] - origin[f]) * inv_scale[f])) ** 2
                        cand_pot += (sample_weight[i] if weighted else 1.0) * min(dist, cl[i])
                    if cand_pot < best_pot:
                        best_pot = cand_pot
                        best_idx = cand_idx[t]
            for f in range(d):
                cv[c, f] = (<double> X[best_idx, f] - origin[f]) * inv_scale[f]
            for i in range(n):
                dist = _sq_dist(&X[i, 0], &origin[0], &inv_scale[0], &cv[c, 0], d)
                cl[i] = dist if c == 0 else min(dist, cl[i])
    return centers


cdef void _assign_pass(const floating[:, ::1] X, const double[::1] sample_weight,
                       const double[::1] origin, const double[::1] inv_scale,
                       const double[:, ::1] centers, double[:, ::1] part,
                       double[::1] totals, bint with_outer, int n_threads) noexcept:
    """Assign every point to its nearest centre and sum, per block then in
    block order into ``totals``: counts (K), deviations (K*d) and, if asked,
    the lower triangles of the outer products of the deviations (K*d*d)."""
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], K = centers.shape[0]
    cdef Py_ssize_t nb = part.shape[0], bs = block_size(n), per_block = part.shape[1]
    cdef Py_ssize_t b, i, k, f, g, best, start, stop, j
    cdef double best_d, dist, v
    cdef bint weighted = sample_weight is not None
    cdef double *p
    for b in prange(nb, nogil=True, schedule='static',
                   num_threads=min(n_threads, nb)):
        p = &part[b, 0]
        memset(p, 0, per_block * sizeof(double))
        start = b * bs
        stop = min(start + bs, n)
        for i in range(start, stop):
            best = 0
            best_d = INFINITY
            for k in range(K):
                dist = _sq_dist(&X[i, 0], &origin[0], &inv_scale[0], &centers[k, 0], d)
                if dist < best_d:
                    best_d = dist
                    best = k
            v = sample_weight[i] if weighted else 1.0
            p[best] += v
            for f in range(d):
                p[K + best * d + f] += v * (((<double> X[i, f] - origin[f]) * inv_scale[f]) - centers[best, f])
            if with_outer:
                for f in range(d):
                    for g in range(f + 1):
                        p[K + K * d + best * d * d + f * d + g] += (
                            v * (((<double> X[i, f] - origin[f]) * inv_scale[f]) - centers[best, f])
                            * (((<double> X[i, g] - origin[g]) * inv_scale[g]) - centers[best, g]))
    with nogil:
        for j in range(per_block):
            totals[j] = 0.0
        for b in range(nb):
            for j in range(per_block):
                totals[j] += part[b, j]


def lloyd(const floating[:, ::1] X, const double[::1] sample_weight,
          double[:, ::1] centers, int max_iter, int n_threads,
          const double[::1] origin, const double[::1] inv_scale):
    """Lloyd iterations in d dimensions, in place, then the statistics of the
    final partition, all in the frame (x - origin) * inv_scale.

    Each pass assigns every point to its nearest centre; blocks of points keep
    their own partial sums, added in block order, so the result does not
    depend on the thread count. A centre left without points stays in place.

    Returns
    -------
    counts : ndarray (K,)
    sums_dev : ndarray (K, d)      sum v (x - centre)
    sums_outer : ndarray (K, d, d) sum v (x - centre)(x - centre)^T
    n_iter : int
    """
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], K = centers.shape[0]
    cdef Py_ssize_t per_block = K + K * d + K * d * d, k, f
    cdef double moved, delta
    cdef int it, n_iter = 0
    cdef double[:, ::1] part = np.zeros((n_blocks(n), per_block))
    totals = np.zeros(per_block)
    cdef double[::1] tot = totals
    for it in range(max_iter):
        _assign_pass(X, sample_weight, origin, inv_scale, centers, part, tot, False, n_threads)
        moved = 0.0
        for k in range(K):
            if tot[k] > 0:
                for f in range(d):
                    delta = tot[K + k * d + f] / tot[k]
                    centers[k, f] += delta
                    moved = max(moved, abs(delta))
        n_iter = it + 1
        if moved == 0.0:
            break
    # A last pass collects the statistics around the final centres.
    _assign_pass(X, sample_weight, origin, inv_scale, centers, part, tot, True, n_threads)
    counts = totals[:K].copy()
    sums = totals[K:K + K * d].reshape(K, d).copy()
    lower = np.tril(totals[K + K * d:].reshape(K, d, d))
    outer = lower + np.transpose(np.tril(lower, -1), (0, 2, 1))
    return counts, sums, outer, n_iter


def random_resp_stats(const floating[:, ::1] X, const double[::1] sample_weight,
                      Py_ssize_t n_components, uint64_t seed, const double[::1] shift,
                      const double[::1] origin, const double[::1] inv_scale):
    """Statistics of random memberships in d dimensions (see the univariate
    ``cyem._kernels.random_resp_stats``): counts (K,), sums (K, d) and outer
    products (K, d, d) of the deviations from ``shift`` (in the frame
    (x - origin) * inv_scale)."""
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], K = n_components, i, k, f, g
    cdef double v, total, r
    cdef uint64_t state, zz
    cdef bint weighted = sample_weight is not None
    counts = np.zeros(K)
    sums = np.zeros((K, d))
    outer = np.zeros((K, d, d))
    u_arr = np.empty(K)
    dev_arr = np.empty(d)
    cdef double[::1] n_k = counts, u = u_arr, dev = dev_arr
    cdef double[:, ::1] s_k = sums
    cdef double[:, :, ::1] q_k = outer
    with nogil:
        for i in range(n):
            state = seed ^ (<uint64_t> i * <uint64_t> 0x9E3779B97F4A7C15)
            total = 0.0
            for k in range(K):
                state = state + <uint64_t> 0x9E3779B97F4A7C15
                zz = state
                zz = (zz ^ (zz >> 30)) * <uint64_t> 0xBF58476D1CE4E5B9
                zz = (zz ^ (zz >> 27)) * <uint64_t> 0x94D049BB133111EB
                zz = zz ^ (zz >> 31)
                u[k] = ((zz >> 11) + 1) * (1.0 / 9007199254740992.0)
                total += u[k]
            v = sample_weight[i] if weighted else 1.0
            for f in range(d):
                dev[f] = ((<double> X[i, f] - origin[f]) * inv_scale[f]) - shift[f]
            for k in range(K):
                r = v * u[k] / total
                n_k[k] += r
                for f in range(d):
                    s_k[k, f] += r * dev[f]
                    for g in range(d):
                        q_k[k, f, g] += r * dev[f] * dev[g]
    return counts, sums, outer
