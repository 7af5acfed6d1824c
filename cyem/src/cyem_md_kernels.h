/*
 * cyem_md_kernels.h -- multivariate (d >= 2) pieces of the fused EM pass.
 *
 * Data X are row-major (n x d) and seen in a per-feature frame
 * (x_f - origin[f]) * inv_scale[f], as the parameters (see cyem_kernels.h).
 * Statistics are shifted by the current means,
 * as in the univariate kernel (cyem_kernels.h), and laid out as
 *   [0] L, [1] W, [2 + k] N_k,
 *   [2 + K + k*d + f]          S_kf = sum_i v_i r_ik (x_if - mu_kf)
 *   [2 + K + K*d + ...]        Q: diagonal model  Q_kf   = sum v r (x_if - mu_kf)^2     (K x d)
 *                                 full model      Q_kfg  = sum v r (x_if - mu_kf)(x_ig - mu_kg) (K x d x d)
 *
 * The diagonal model (and the spherical one, passed as a diagonal model with
 * equal precisions) is computed here, vectorised across the points of a tile
 * held transposed (d rows of CYEM_TILE). The full and tied models compute
 * their log-densities and second moments with BLAS in the Cython layer and use
 * cyem_md_memberships / cyem_md_outputs from here for the rest.
 */
#ifndef CYEM_MD_KERNELS_H
#define CYEM_MD_KERNELS_H

#include "cyem_kernels.h"

/* Doubles of scratch for the diagonal kernels: the transposed tile, z, and
 * two per-point rows. */
#define CYEM_MD_DIAG_SCRATCH_DOUBLES(K, d) ((size_t)((K) + (d) + 2) * CYEM_TILE)

/* z[k*CYEM_TILE + j] = log_norm[k] - 0.5 sum_f ((x_jf - mu_kf) prec_kf)^2 */
CYEM_INLINE void cyem_md_diag_log_densities(
    const double *xt, ptrdiff_t n, ptrdiff_t d, ptrdiff_t K, const double *mean,
    const double *log_norm, const double *prec, double *z)
{
    for (ptrdiff_t k = 0; k < K; ++k) {
        double *zk = z + k * CYEM_TILE;
        const double a = log_norm[k];
        for (ptrdiff_t j = 0; j < n; ++j) zk[j] = a;
        for (ptrdiff_t f = 0; f < d; ++f) {
            const double mu = mean[k * d + f], p = prec[k * d + f];
            const double *xf = xt + f * CYEM_TILE;
            CYEM_SIMD
            for (ptrdiff_t j = 0; j < n; ++j) {
                double y = (xf[j] - mu) * p;
                zk[j] -= 0.5 * y * y;
            }
        }
        CYEM_SIMD
        for (ptrdiff_t j = 0; j < n; ++j)
            zk[j] = zk[j] > CYEM_LOG_DENSITY_FLOOR ? zk[j] : CYEM_LOG_DENSITY_FLOOR;
    }
}

#define CYEM_DEFINE_MD_DIAG_KERNELS(SUFFIX, TYPE)                                   \
CYEM_INLINE void cyem_md_transpose_##SUFFIX(const TYPE *x, const double *origin,   \
                                            const double *inv_scale, ptrdiff_t n,   \
                                            ptrdiff_t d, double *xt)                \
{                                                                                   \
    for (ptrdiff_t j = 0; j < n; ++j)                                               \
        for (ptrdiff_t f = 0; f < d; ++f)                                           \
            xt[f * CYEM_TILE + j] = ((double)x[j * d + f] - origin[f]) * inv_scale[f]; \
}                                                                                   \
CYEM_MULTIVERSION void cyem_md_diag_accumulate_##SUFFIX(                            \
    const TYPE *x, const double *origin, const double *inv_scale,                  \
    const double *sample_weight, ptrdiff_t n, ptrdiff_t d,                          \
    ptrdiff_t K, const double *mean, const double *log_norm, const double *prec,    \
    double *scratch, double *stats)                                                 \
{                                                                                   \
    double *xt = scratch, *z = xt + (size_t)d * CYEM_TILE;                          \
    double *max_z = z + (size_t)K * CYEM_TILE, *inv = max_z + CYEM_TILE;            \
    double *S = stats + 2 + K, *Q = S + K * d;                                      \
    for (ptrdiff_t start = 0; start < n; start += CYEM_TILE) {                      \
        ptrdiff_t m = n - start < CYEM_TILE ? n - start : CYEM_TILE;                \
        cyem_md_transpose_##SUFFIX(x + start * d, origin, inv_scale, m, d, xt);                        \
        cyem_md_diag_log_densities(xt, m, d, K, mean, log_norm, prec, z);           \
        cyem_tile_max(z, m, K, max_z);                                              \
        cyem_tile_exp_sum(z, m, K, max_z, inv);                                     \
        cyem_tile_normalise(max_z, inv, m, sample_weight ? sample_weight + start    \
                            : NULL, stats);                                         \
        for (ptrdiff_t k = 0; k < K; ++k) {                                         \
            double *zk = z + k * CYEM_TILE, N = 0.0;                                \
            CYEM_SIMD_REDUCE(N)                                                     \
            for (ptrdiff_t j = 0; j < m; ++j) { zk[j] *= inv[j]; N += zk[j]; }      \
            stats[2 + k] += N;                                                      \
            for (ptrdiff_t f = 0; f < d; ++f) {                                     \
                const double mu = mean[k * d + f], *xf = xt + f * CYEM_TILE;        \
                double s1 = 0.0, s2 = 0.0;                                          \
                CYEM_SIMD_REDUCE(s1, s2)                                            \
                for (ptrdiff_t j = 0; j < m; ++j) {                                 \
                    double dev = xf[j] - mu, rd = zk[j] * dev;                      \
                    s1 += rd;                                                       \
                    s2 += rd * dev;                                                 \
                }                                                                   \
                S[k * d + f] += s1;                                                 \
                Q[k * d + f] += s2;                                                 \
            }                                                                       \
        }                                                                           \
    }                                                                               \
}                                                                                   \
CYEM_MULTIVERSION void cyem_md_diag_evaluate_##SUFFIX(                              \
    const TYPE *x, const double *origin, const double *inv_scale, ptrdiff_t n,     \
    ptrdiff_t d, ptrdiff_t K, const double *mean,                                   \
    const double *log_norm, const double *prec, double *scratch,                    \
    double *out_log_lik, double *out_resp, int64_t *out_label)                      \
{                                                                                   \
    double *xt = scratch, *z = xt + (size_t)d * CYEM_TILE;                          \
    double *max_z = z + (size_t)K * CYEM_TILE, *sum_z = max_z + CYEM_TILE;          \
    for (ptrdiff_t start = 0; start < n; start += CYEM_TILE) {                      \
        ptrdiff_t m = n - start < CYEM_TILE ? n - start : CYEM_TILE;                \
        cyem_md_transpose_##SUFFIX(x + start * d, origin, inv_scale, m, d, xt);                        \
        cyem_md_diag_log_densities(xt, m, d, K, mean, log_norm, prec, z);           \
        cyem_tile_max(z, m, K, max_z);                                              \
        cyem_tile_exp_sum(z, m, K, max_z, sum_z);                                   \
        cyem_tile_outputs(z, max_z, sum_z, m, K,                                    \
                          out_log_lik ? out_log_lik + start : NULL,                 \
                          out_resp ? out_resp + start * K : NULL,                   \
                          out_label ? out_label + start : NULL);                    \
    }                                                                               \
}

CYEM_DEFINE_MD_DIAG_KERNELS(f64, double)
CYEM_DEFINE_MD_DIAG_KERNELS(f32, float)

/* For models whose log-densities were computed elsewhere (the BLAS path):
 * z (K rows of CYEM_TILE, n used) holds log(w_k g(x_j; k)). On return z holds
 * the weighted memberships v_j p(k | x_j), and stats[0], stats[1] have L and W
 * of these points added. work: 2 * CYEM_TILE doubles. */
CYEM_MULTIVERSION void cyem_md_memberships(double *z, ptrdiff_t n, ptrdiff_t K,
                                           const double *sample_weight, double *work,
                                           double *stats)
{
    double *max_z = work, *inv = work + CYEM_TILE;
    cyem_tile_max(z, n, K, max_z);
    cyem_tile_exp_sum(z, n, K, max_z, inv);
    cyem_tile_normalise(max_z, inv, n, sample_weight, stats);
    for (ptrdiff_t k = 0; k < K; ++k) {
        double *zk = z + k * CYEM_TILE;
        CYEM_SIMD
        for (ptrdiff_t j = 0; j < n; ++j) zk[j] *= inv[j];
    }
}

/* zk[j] = log_norm - 0.5 ||y_j||^2 for the rows of y (m x d, row-major): the
 * tail of the full model's log-density after the BLAS product. A plain loop
 * would be a scalar chain of d dependent additions per point; the simd
 * reduction splits it across lanes. */
CYEM_MULTIVERSION void cyem_md_sq_norms_to_log_density(const double *y, ptrdiff_t m,
                                                      ptrdiff_t d, double log_norm,
                                                      double *zk)
{
    for (ptrdiff_t j = 0; j < m; ++j) {
        const double *row = y + j * d;
        double q = 0.0;
        CYEM_SIMD_REDUCE(q)
        for (ptrdiff_t f = 0; f < d; ++f) q += row[f] * row[f];
        q = log_norm - 0.5 * q;
        zk[j] = q > CYEM_LOG_DENSITY_FLOOR ? q : CYEM_LOG_DENSITY_FLOOR;
    }
}

/* Per-point outputs from log-densities computed elsewhere (see above). */
CYEM_MULTIVERSION void cyem_md_outputs(double *z, ptrdiff_t n, ptrdiff_t K, double *work,
                                       double *out_log_lik, double *out_resp,
                                       int64_t *out_label)
{
    double *max_z = work, *sum_z = work + CYEM_TILE;
    cyem_tile_max(z, n, K, max_z);
    cyem_tile_exp_sum(z, n, K, max_z, sum_z);
    cyem_tile_outputs(z, max_z, sum_z, n, K, out_log_lik, out_resp, out_label);
}

/* ---- Full / tied covariances for small d, vectorised across points ---------
 * For d up to CYEM_MD_SMALL_D the O(d^2) work per point is done here on the
 * transposed tile (d rows of CYEM_TILE) instead of through BLAS: with d this
 * small, packing operands for BLAS costs more than the arithmetic. U is the
 * row-major upper-triangular factor (precision = U U^T); ``tied`` means one U
 * for all components. Q is accumulated as its upper triangle (row-major), as
 * the BLAS path does. Scratch: CYEM_MD_FULL_SMALL_SCRATCH_DOUBLES(K, d). */
#define CYEM_MD_SMALL_D 16
#define CYEM_MD_FULL_SMALL_SCRATCH_DOUBLES(K, d) ((size_t)(2 * (d) + (K) + 3) * CYEM_TILE)

/* z_k[j] = log_norm_k - 0.5 ||(x_j - mu_k) U_k||^2; dev (d x TILE) is work. */
CYEM_INLINE void cyem_md_full_small_log_density(
    const double *xt, ptrdiff_t n, ptrdiff_t d, const double *mu, const double *U,
    double log_norm, double *dev, double *y, double *zk)
{
    for (ptrdiff_t f = 0; f < d; ++f) {
        const double m = mu[f], *xf = xt + f * CYEM_TILE;
        double *df = dev + f * CYEM_TILE;
        CYEM_SIMD
        for (ptrdiff_t j = 0; j < n; ++j) df[j] = xf[j] - m;
    }
    for (ptrdiff_t j = 0; j < n; ++j) zk[j] = 0.0;
    for (ptrdiff_t g = 0; g < d; ++g) {
        /* y = column g of dev @ U: only rows f <= g of U are non-zero. */
        const double u0 = U[g];
        CYEM_SIMD
        for (ptrdiff_t j = 0; j < n; ++j) y[j] = dev[j] * u0;
        for (ptrdiff_t f = 1; f <= g; ++f) {
            const double u = U[f * d + g], *df = dev + f * CYEM_TILE;
            CYEM_SIMD
            for (ptrdiff_t j = 0; j < n; ++j) y[j] += df[j] * u;
        }
        CYEM_SIMD
        for (ptrdiff_t j = 0; j < n; ++j) zk[j] += y[j] * y[j];
    }
    CYEM_SIMD
    for (ptrdiff_t j = 0; j < n; ++j) {
        double v = log_norm - 0.5 * zk[j];
        zk[j] = v > CYEM_LOG_DENSITY_FLOOR ? v : CYEM_LOG_DENSITY_FLOOR;
    }
}

#define CYEM_DEFINE_MD_FULL_SMALL_KERNELS(SUFFIX, TYPE)                             \
CYEM_MULTIVERSION void cyem_md_full_small_accumulate_##SUFFIX(                      \
    const TYPE *x, const double *origin, const double *inv_scale,                  \
    const double *sample_weight, ptrdiff_t n, ptrdiff_t d, ptrdiff_t K,             \
    const double *mean, const double *log_norm, const double *prec, int tied,       \
    double *scratch, double *stats)                                                 \
{                                                                                   \
    double *xt = scratch, *dev = xt + (size_t)d * CYEM_TILE;                        \
    double *z = dev + (size_t)d * CYEM_TILE, *work = z + (size_t)K * CYEM_TILE;     \
    double *y = work + 2 * CYEM_TILE;                                               \
    double *S = stats + 2 + K, *Q = S + K * d;                                      \
    for (ptrdiff_t start = 0; start < n; start += CYEM_TILE) {                      \
        ptrdiff_t m = n - start < CYEM_TILE ? n - start : CYEM_TILE;                \
        cyem_md_transpose_##SUFFIX(x + start * d, origin, inv_scale, m, d, xt);     \
        for (ptrdiff_t k = 0; k < K; ++k)                                           \
            cyem_md_full_small_log_density(xt, m, d, mean + k * d,                  \
                                           prec + (tied ? 0 : k * d * d),           \
                                           log_norm[k], dev, y, z + k * CYEM_TILE); \
        cyem_md_memberships(z, m, K, sample_weight ? sample_weight + start : NULL,  \
                            work, stats);                                           \
        for (ptrdiff_t k = 0; k < K; ++k) {                                         \
            const double *r = z + k * CYEM_TILE, *mu = mean + k * d;                \
            double N = 0.0;                                                         \
            CYEM_SIMD_REDUCE(N)                                                     \
            for (ptrdiff_t j = 0; j < m; ++j) N += r[j];                            \
            stats[2 + k] += N;                                                      \
            for (ptrdiff_t f = 0; f < d; ++f) {                                     \
                const double mf = mu[f], *xf = xt + f * CYEM_TILE;                  \
                double *df = dev + f * CYEM_TILE, s1 = 0.0;                         \
                CYEM_SIMD_REDUCE(s1)                                                \
                for (ptrdiff_t j = 0; j < m; ++j) {                                 \
                    df[j] = xf[j] - mf;                                             \
                    s1 += r[j] * df[j];                                             \
                }                                                                   \
                S[k * d + f] += s1;                                                 \
            }                                                                       \
            for (ptrdiff_t f = 0; f < d; ++f) {                                     \
                const double *df = dev + f * CYEM_TILE;                             \
                CYEM_SIMD                                                           \
                for (ptrdiff_t j = 0; j < m; ++j) y[j] = r[j] * df[j];              \
                for (ptrdiff_t g = f; g < d; ++g) {                                 \
                    const double *dg = dev + g * CYEM_TILE;                         \
                    double q = 0.0;                                                 \
                    CYEM_SIMD_REDUCE(q)                                             \
                    for (ptrdiff_t j = 0; j < m; ++j) q += y[j] * dg[j];            \
                    Q[k * d * d + f * d + g] += q;                                  \
                }                                                                   \
            }                                                                       \
        }                                                                           \
    }                                                                               \
}                                                                                   \
CYEM_MULTIVERSION void cyem_md_full_small_evaluate_##SUFFIX(                        \
    const TYPE *x, const double *origin, const double *inv_scale, ptrdiff_t n,      \
    ptrdiff_t d, ptrdiff_t K, const double *mean, const double *log_norm,           \
    const double *prec, int tied, double *scratch, double *out_log_lik,             \
    double *out_resp, int64_t *out_label)                                           \
{                                                                                   \
    double *xt = scratch, *dev = xt + (size_t)d * CYEM_TILE;                        \
    double *z = dev + (size_t)d * CYEM_TILE, *work = z + (size_t)K * CYEM_TILE;     \
    double *y = work + 2 * CYEM_TILE;                                               \
    for (ptrdiff_t start = 0; start < n; start += CYEM_TILE) {                      \
        ptrdiff_t m = n - start < CYEM_TILE ? n - start : CYEM_TILE;                \
        cyem_md_transpose_##SUFFIX(x + start * d, origin, inv_scale, m, d, xt);     \
        for (ptrdiff_t k = 0; k < K; ++k)                                           \
            cyem_md_full_small_log_density(xt, m, d, mean + k * d,                  \
                                           prec + (tied ? 0 : k * d * d),           \
                                           log_norm[k], dev, y, z + k * CYEM_TILE); \
        cyem_md_outputs(z, m, K, work,                                              \
                        out_log_lik ? out_log_lik + start : NULL,                   \
                        out_resp ? out_resp + start * K : NULL,                     \
                        out_label ? out_label + start : NULL);                      \
    }                                                                               \
}

CYEM_DEFINE_MD_FULL_SMALL_KERNELS(f64, double)
CYEM_DEFINE_MD_FULL_SMALL_KERNELS(f32, float)

#endif /* CYEM_MD_KERNELS_H */
