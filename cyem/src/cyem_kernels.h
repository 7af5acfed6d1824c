/*
 * cyem_kernels.h -- the arithmetic core of cyem, in plain C.
 *
 * Everything here works on one *block* of contiguous points and trusts its
 * inputs: the Python layer has validated them, and the Cython layer splits
 * the data into blocks and reduces the per-block results in block order.
 *
 * Why C and not Cython for this part: the fused loop must be compiled for
 * several instruction-set levels and chosen at run time (gcc's target_clones),
 * which Cython cannot express, and it must inline a vectorisable exp and log
 * written in plain arithmetic (no libmvec, no -ffast-math: neither is portable
 * to every platform a wheel runs on).
 *
 * Coordinates: the kernels see every point as (x - origin) * inv_scale, in a
 * frame chosen by the caller (cyem: origin = the data's midrange, inv_scale a
 * power of two near 1 / half-range, so the scaling itself is exact), and all
 * parameters live in that frame. Data far from zero (1e8 + noise) then lose no
 * precision to the spacing of doubles near 1e8, shifting the data shifts
 * nothing else, and data near 1e300 or 1e-300 neither overflow nor underflow
 * when squared.
 *
 * Parametrisation of a univariate component k (all arrays have length K):
 *   mean[k]       (mu_k - origin) * inv_scale
 *   prec[k]       1 / sigma_k (the Cholesky factor of the precision)
 *   log_norm[k]   log w_k + log prec[k] - 0.5 log(2 pi)
 * so that log(w_k g(x; mu_k, sigma_k)) = log_norm[k] - 0.5 ((x - mu_k) prec[k])^2.
 *
 * Layout of the statistics written by cyem_accumulate_* (length 2 + 3K):
 *   [0]            L   = sum_i v_i log sum_k w_k g(x_i; k)    (log-likelihood)
 *   [1]            W   = sum_i v_i                            (total weight)
 *   [2 + k]        N_k = sum_i v_i r_ik
 *   [2 + K + k]    S_k = sum_i v_i r_ik (x'_i - mean[k]),  x' = (x - origin) inv_scale
 *   [2 + 2K + k]   Q_k = sum_i v_i r_ik (x'_i - mean[k])^2
 * The sums are shifted by the current means, so that the new variance
 * Q_k/N_k - (S_k/N_k)^2 does not cancel catastrophically for data far from 0.
 */
#ifndef CYEM_KERNELS_H
#define CYEM_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Log-densities are clamped here: a point so far from every component that
 * its log-density is -inf (or below -1e300) would otherwise give 0/0
 * memberships; clamped, it gets finite, equal ones and a finite log-likelihood. */
#define CYEM_LOG_DENSITY_FLOOR (-1e300)

/* Points processed together in the inner loops; the scratch buffer a caller
 * passes holds CYEM_SCRATCH_DOUBLES(K) doubles. */
#define CYEM_TILE 256
#define CYEM_SCRATCH_DOUBLES(K) ((size_t)((K) + 4) * CYEM_TILE)

/* Run-time selection of the widest SIMD level: gcc on glibc x86-64 compiles
 * the fused loops three times and an ifunc resolver picks one at load time.
 * Elsewhere (clang, MSVC, musl, arm64) the loops are built once for the
 * platform's baseline ISA, which the compiler still vectorises. */
#if defined(__GNUC__) && !defined(__clang__) && (__GNUC__ >= 12) && \
    defined(__x86_64__) && defined(__linux__) && defined(__GLIBC__) && \
    !defined(CYEM_NO_MULTIVERSION)
#define CYEM_MULTIVERSION \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define CYEM_HAVE_MULTIVERSION 1
#else
#define CYEM_MULTIVERSION
#define CYEM_HAVE_MULTIVERSION 0
#endif

#if defined(_MSC_VER)
#define CYEM_INLINE static __forceinline
#elif defined(__GNUC__)
#define CYEM_INLINE static inline __attribute__((always_inline))
#else
#define CYEM_INLINE static inline
#endif

/* `#pragma omp simd` lets the compiler vectorise the reductions below
 * (-fopenmp or -fopenmp-simd); without it they are scalar but identical in
 * meaning. The order of summation is fixed by the code and the chosen ISA. */
#if defined(_OPENMP) || defined(CYEM_OPENMP_SIMD)
#define CYEM_PRAGMA(x) _Pragma(#x)
#define CYEM_SIMD_REDUCE(...) CYEM_PRAGMA(omp simd reduction(+: __VA_ARGS__))
#define CYEM_SIMD CYEM_PRAGMA(omp simd)
#else
#define CYEM_SIMD_REDUCE(...)
#define CYEM_SIMD
#endif

static inline double cyem_bits_to_double(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }
static inline uint64_t cyem_double_to_bits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }

/* exp(x) for x <= 0 (including -inf), in arithmetic the compiler vectorises.
 * Range reduction x = n ln2 + r with |r| <= ln2/2 (Cody-Waite split of ln2),
 * then the degree-13 Taylor polynomial, whose truncation error (< 5e-18) is far
 * below one ulp. Results below 2^-1021 (x < -708) are returned as 0: every
 * caller adds them to a sum that is at least 1, where they cannot matter. */
CYEM_INLINE double cyem_exp_nonpos(double x)
{
    const double shifter = 6755399441055744.0; /* 1.5 * 2^52: rounds to integer */
    const double log2e = 1.4426950408889634074;
    const double ln2_hi = 6.93147180369123816490e-01;
    const double ln2_lo = 1.90821492927058770002e-10;
    double xc = x < -708.0 ? -708.0 : x;        /* also maps -inf and keeps 2^n normal */
    double t = xc * log2e + shifter;
    double n = t - shifter;                     /* nearest integer to x / ln 2 */
    double r = (xc - n * ln2_hi) - n * ln2_lo;
    /* Estrin's scheme: the same polynomial as Horner's, but its dependency
     * chain is 4 multiply-adds deep instead of 13, which is what limits the
     * throughput of this loop (measured: the Horner form was latency-bound). */
    double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
    double p23 = 1.0 / 2.0 + r * (1.0 / 6.0);
    double p45 = 1.0 / 24.0 + r * (1.0 / 120.0);
    double p67 = 1.0 / 720.0 + r * (1.0 / 5040.0);
    double p89 = 1.0 / 40320.0 + r * (1.0 / 362880.0);
    double p1011 = 1.0 / 3628800.0 + r * (1.0 / 39916800.0);
    double p1213 = 1.0 / 479001600.0 + r * (1.0 / 6227020800.0);
    /* h = sum_{j>=2} r^(j-2) / j!; the large terms 1 + r are added last so
     * that the rounding of the polynomial lands on a small correction. */
    double h = (p23 + r2 * p45) + r4 * (p67 + r2 * p89) + r8 * (p1011 + r2 * p1213);
    double p = 1.0 + (r + r2 * h);
    /* The low mantissa bits of t hold n; shift them into the exponent field. */
    uint64_t n_bits = cyem_double_to_bits(t) - cyem_double_to_bits(shifter);
    double scale = cyem_bits_to_double((n_bits + 1023u) << 52);
    return x < -708.0 ? 0.0 : p * scale;
}

/* log(s) for a finite, positive, normal s, vectorisable. s = 2^e m with
 * m in [sqrt(1/2), sqrt(2)); log m = 2 atanh(f), f = (m - 1)/(m + 1), |f| < 0.172,
 * summed to f^21 (truncation < 4e-18). */
CYEM_INLINE double cyem_log_pos(double s)
{
    const double ln2_hi = 6.93147180369123816490e-01;
    const double ln2_lo = 1.90821492927058770002e-10;
    const uint64_t sqrt2_mantissa = 0x6a09e667f3bcdULL; /* mantissa bits of sqrt(2) */
    uint64_t bits = cyem_double_to_bits(s);
    uint64_t mant = bits & 0x000fffffffffffffULL;
    /* Mantissas above sqrt(2) are halved (exponent field 1022 instead of 1023)
     * and the exponent is increased by one. */
    uint64_t big = (uint64_t)(mant > sqrt2_mantissa);
    double m = cyem_bits_to_double(mant | ((1023u - big) << 52));
    /* e as a double without an int64 -> double conversion (absent from AVX2):
     * place the biased exponent in the mantissa of 2^52 and subtract. */
    double e = cyem_bits_to_double(((bits >> 52) + big) | 0x4330000000000000ULL)
               - (4503599627370496.0 + 1023.0);
    double f = (m - 1.0) / (m + 1.0);
    double f2 = f * f;
    /* q = sum_{j=0..9} f2^j / (2j + 3), by Estrin's scheme (see cyem_exp_nonpos). */
    double f4 = f2 * f2, f8 = f4 * f4;
    double a01 = 1.0 / 3.0 + f2 * (1.0 / 5.0);
    double a23 = 1.0 / 7.0 + f2 * (1.0 / 9.0);
    double a45 = 1.0 / 11.0 + f2 * (1.0 / 13.0);
    double a67 = 1.0 / 15.0 + f2 * (1.0 / 17.0);
    double a89 = 1.0 / 19.0 + f2 * (1.0 / 21.0);
    double q = (a01 + f4 * a23) + f8 * ((a45 + f4 * a67) + f8 * a89);
    double log_m = 2.0 * f + 2.0 * f * f2 * q;
    return e * ln2_hi + (log_m + e * ln2_lo);
}

/* One tile (n <= CYEM_TILE points): the weighted log-densities of every
 * component, their maximum, the exponentials and their sum.
 * On return   z[k*CYEM_TILE + j] = w_k g(x_j; k) / max_l w_l g(x_j; l)
 *             max_z[j] = max_k log(w_k g(x_j; k))
 *             sum_z[j] = sum_k z[k*CYEM_TILE + j]   (1 <= sum_z[j] <= K)
 * so that log sum_k w_k g(x_j; k) = max_z[j] + log(sum_z[j]). This is the
 * single place where the mixture density is evaluated; the fit and the
 * predict kernels both start here. */
CYEM_INLINE void cyem_tile_exp_sum(double *z, ptrdiff_t n, ptrdiff_t K,
                                   const double *max_z, double *sum_z);

CYEM_INLINE void cyem_tile_densities(
    const double *x, ptrdiff_t n, ptrdiff_t K,
    const double *mean, const double *log_norm, const double *prec,
    double *z, double *max_z, double *sum_z)
{
    for (ptrdiff_t k = 0; k < K; ++k) {
        const double mu = mean[k], a = log_norm[k], p = prec[k];
        double *zk = z + k * CYEM_TILE;
        CYEM_SIMD
        for (ptrdiff_t j = 0; j < n; ++j) {
            double y = (x[j] - mu) * p;
            double v = a - 0.5 * y * y;
            v = v > CYEM_LOG_DENSITY_FLOOR ? v : CYEM_LOG_DENSITY_FLOOR;
            zk[j] = v;
            max_z[j] = (k == 0 || v > max_z[j]) ? v : max_z[j];
        }
    }
    cyem_tile_exp_sum(z, n, K, max_z, sum_z);
}

/* Shared by every model family once the log-densities z are known:
 * z[k*CYEM_TILE + j] <- exp(z - max_z[j]) and sum_z[j] = sum_k of those. */
CYEM_INLINE void cyem_tile_exp_sum(double *z, ptrdiff_t n, ptrdiff_t K,
                                   const double *max_z, double *sum_z)
{
    for (ptrdiff_t j = 0; j < n; ++j) sum_z[j] = 0.0;
    for (ptrdiff_t k = 0; k < K; ++k) {
        double *zk = z + k * CYEM_TILE;
        CYEM_SIMD
        for (ptrdiff_t j = 0; j < n; ++j) {
            double e = cyem_exp_nonpos(zk[j] - max_z[j]);
            zk[j] = e;
            sum_z[j] += e;
        }
    }
}

/* max_z[j] = max_k z[k*CYEM_TILE + j]. */
CYEM_INLINE void cyem_tile_max(const double *z, ptrdiff_t n, ptrdiff_t K, double *max_z)
{
    for (ptrdiff_t j = 0; j < n; ++j) max_z[j] = z[j];
    for (ptrdiff_t k = 1; k < K; ++k) {
        const double *zk = z + k * CYEM_TILE;
        CYEM_SIMD
        for (ptrdiff_t j = 0; j < n; ++j) max_z[j] = zk[j] > max_z[j] ? zk[j] : max_z[j];
    }
}

/* sum_j log(s[j]) for values 1 <= s[j] <= K, with one log per 16 points:
 * eight running products (one per SIMD lane) of at most 16 (+7) factors each
 * stay below K^23, far from overflow for any practical K (< 1e13). */
CYEM_INLINE double cyem_sum_log(const double *s, ptrdiff_t n)
{
    double total = 0.0;
    for (ptrdiff_t j0 = 0; j0 < n; j0 += 128) {
        ptrdiff_t stop = n - j0 < 128 ? n : j0 + 128;
        double prod[8] = {1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0};
        ptrdiff_t j = j0;
        for (; j + 8 <= stop; j += 8)
            for (int l = 0; l < 8; ++l) prod[l] *= s[j + l];
        for (; j < stop; ++j) prod[0] *= s[j];
        for (int l = 0; l < 8; ++l) total += cyem_log_pos(prod[l]);
    }
    return total;
}
/* From max_z and sum_z of a tile: add sum_j v_j log sum_k w_k g(x_j; k) and
 * sum_j v_j to stats[0] and stats[1], and turn sum_z[j] into v_j / sum_z[j],
 * the factor that makes z[k*CYEM_TILE + j] the weighted membership v_j r_jk. */
CYEM_INLINE void cyem_tile_normalise(const double *max_z, double *sum_z, ptrdiff_t n,
                                     const double *sample_weight, double *stats)
{
    double L = 0.0, W = 0.0;
    if (sample_weight) {
        CYEM_SIMD_REDUCE(L, W)
        for (ptrdiff_t j = 0; j < n; ++j) {
            double v = sample_weight[j];
            L += v * (max_z[j] + cyem_log_pos(sum_z[j]));
            W += v;
            sum_z[j] = v / sum_z[j];
        }
    } else {
        L = cyem_sum_log(sum_z, n);
        CYEM_SIMD_REDUCE(L)
        for (ptrdiff_t j = 0; j < n; ++j) {
            L += max_z[j];
            sum_z[j] = 1.0 / sum_z[j];
        }
        W = (double)n;
    }
    stats[0] += L;
    stats[1] += W;
}

/* Per-point outputs from z, max_z and sum_z of a tile (see cyem_tile_evaluate). */
CYEM_INLINE void cyem_tile_outputs(const double *z, const double *max_z, double *sum_z,
                                   ptrdiff_t n, ptrdiff_t K, double *out_log_lik,
                                   double *out_resp, int64_t *out_label)
{
    if (out_log_lik) {
        CYEM_SIMD
        for (ptrdiff_t j = 0; j < n; ++j)
            out_log_lik[j] = max_z[j] + cyem_log_pos(sum_z[j]);
    }
    if (out_resp) {
        CYEM_SIMD
        for (ptrdiff_t j = 0; j < n; ++j) sum_z[j] = 1.0 / sum_z[j];
        for (ptrdiff_t j = 0; j < n; ++j)
            for (ptrdiff_t k = 0; k < K; ++k)
                out_resp[j * K + k] = z[k * CYEM_TILE + j] * sum_z[j];
    }
    if (out_label) {
        /* The component holding the maximum has z == exp(0) == 1 exactly. */
        for (ptrdiff_t j = 0; j < n; ++j) {
            int64_t best = 0;
            for (ptrdiff_t k = 0; k < K; ++k)
                if (z[k * CYEM_TILE + j] == 1.0) { best = k; break; }
            out_label[j] = best;
        }
    }
}

/* Load a tile as doubles in the kernel's frame, so that one fused loop serves
 * float32 and float64 input without an up-cast copy of the whole array. */
#define CYEM_DEFINE_LOAD_TILE(SUFFIX, TYPE)                                         \
CYEM_INLINE const double *cyem_load_tile_##SUFFIX(const TYPE *src, double origin,  \
                                                  double inv_scale, ptrdiff_t n,   \
                                                  double *dst)                     \
{                                                                                  \
    CYEM_SIMD                                                                      \
    for (ptrdiff_t j = 0; j < n; ++j) dst[j] = ((double)src[j] - origin) * inv_scale; \
    return dst;                                                                    \
}
CYEM_DEFINE_LOAD_TILE(f64, double)
CYEM_DEFINE_LOAD_TILE(f32, float)

/* Add one tile's contribution to the sufficient statistics (layout above). */
CYEM_INLINE void cyem_tile_accumulate(
    const double *x, const double *sample_weight, ptrdiff_t n, ptrdiff_t K,
    const double *mean, const double *log_norm, const double *prec,
    double *scratch, double *stats)
{
    double *z = scratch;
    double *max_z = z + (size_t)K * CYEM_TILE;
    double *inv_sum = max_z + CYEM_TILE;
    cyem_tile_densities(x, n, K, mean, log_norm, prec, z, max_z, inv_sum);

    cyem_tile_normalise(max_z, inv_sum, n, sample_weight, stats);
    for (ptrdiff_t k = 0; k < K; ++k) {
        const double mu = mean[k];
        const double *zk = z + k * CYEM_TILE;
        double N = 0.0, S = 0.0, Q = 0.0;
        CYEM_SIMD_REDUCE(N, S, Q)
        for (ptrdiff_t j = 0; j < n; ++j) {
            double r = zk[j] * inv_sum[j];
            double d = x[j] - mu;
            double rd = r * d;
            N += r;
            S += rd;
            Q += rd * d;
        }
        stats[2 + k] += N;
        stats[2 + K + k] += S;
        stats[2 + 2 * K + k] += Q;
    }
}

/* Per-point outputs of one tile; each output pointer may be NULL.
 *   out_log_lik[j]         log sum_k w_k g(x_j; k)
 *   out_resp[j*K + k]      p(k | x_j)        (row-major, n x K)
 *   out_label[j]           argmax_k p(k | x_j)  (first maximum wins) */
CYEM_INLINE void cyem_tile_evaluate(
    const double *x, ptrdiff_t n, ptrdiff_t K,
    const double *mean, const double *log_norm, const double *prec,
    double *scratch, double *out_log_lik, double *out_resp, int64_t *out_label)
{
    double *z = scratch;
    double *max_z = z + (size_t)K * CYEM_TILE;
    double *sum_z = max_z + CYEM_TILE;
    cyem_tile_densities(x, n, K, mean, log_norm, prec, z, max_z, sum_z);
    cyem_tile_outputs(z, max_z, sum_z, n, K, out_log_lik, out_resp, out_label);
}

/* ---- Block entry points (called by the Cython layer, one block at a time) --- */

#define CYEM_DEFINE_BLOCK_KERNELS(SUFFIX, TYPE)                                   \
CYEM_MULTIVERSION void cyem_accumulate_##SUFFIX(                                  \
    const TYPE *x, double origin, double inv_scale, const double *sample_weight,   \
    ptrdiff_t n,                                                                  \
    ptrdiff_t K, const double *mean, const double *log_norm, const double *prec,  \
    double *scratch, double *stats)                                               \
{                                                                                 \
    double *tile_x = scratch + CYEM_SCRATCH_DOUBLES(K) - CYEM_TILE;               \
    for (ptrdiff_t start = 0; start < n; start += CYEM_TILE) {                    \
        ptrdiff_t m = n - start < CYEM_TILE ? n - start : CYEM_TILE;              \
        const double *xt = cyem_load_tile_##SUFFIX(x + start, origin, inv_scale, m,   \
                                                   tile_x);                        \
        cyem_tile_accumulate(xt, sample_weight ? sample_weight + start : NULL,    \
                             m, K, mean, log_norm, prec, scratch, stats);         \
    }                                                                             \
}                                                                                 \
CYEM_MULTIVERSION void cyem_evaluate_##SUFFIX(                                    \
    const TYPE *x, double origin, double inv_scale, ptrdiff_t n, ptrdiff_t K,     \
    const double *mean, const double *log_norm, const double *prec,               \
    double *scratch, double *out_log_lik, double *out_resp, int64_t *out_label)   \
{                                                                                 \
    double *tile_x = scratch + CYEM_SCRATCH_DOUBLES(K) - CYEM_TILE;               \
    for (ptrdiff_t start = 0; start < n; start += CYEM_TILE) {                    \
        ptrdiff_t m = n - start < CYEM_TILE ? n - start : CYEM_TILE;              \
        const double *xt = cyem_load_tile_##SUFFIX(x + start, origin, inv_scale, m,   \
                                                   tile_x);                        \
        cyem_tile_evaluate(xt, m, K, mean, log_norm, prec, scratch,               \
                           out_log_lik ? out_log_lik + start : NULL,              \
                           out_resp ? out_resp + start * K : NULL,                \
                           out_label ? out_label + start : NULL);                 \
    }                                                                             \
}

CYEM_DEFINE_BLOCK_KERNELS(f64, double)
CYEM_DEFINE_BLOCK_KERNELS(f32, float)

/* Element-wise exp and log through the same code as the fused loop, so that
 * their accuracy can be tested against the C library from Python. */
CYEM_MULTIVERSION void cyem_exp_nonpos_array(const double *x, ptrdiff_t n, double *out)
{
    CYEM_SIMD
    for (ptrdiff_t i = 0; i < n; ++i) out[i] = cyem_exp_nonpos(x[i]);
}

CYEM_MULTIVERSION void cyem_log_pos_array(const double *x, ptrdiff_t n, double *out)
{
    CYEM_SIMD
    for (ptrdiff_t i = 0; i < n; ++i) out[i] = cyem_log_pos(x[i]);
}

/* Which of the multiversioned paths the loader picks on this CPU. */
static const char *cyem_simd_path(void)
{
#if CYEM_HAVE_MULTIVERSION
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return "x86-64-v4 (AVX-512)";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        __builtin_cpu_supports("bmi2"))
        return "x86-64-v3 (AVX2+FMA)";
    return "x86-64 baseline (SSE2)";
#elif defined(__aarch64__) || defined(_M_ARM64)
    return "arm64 baseline (NEON)";
#elif defined(__x86_64__) || defined(_M_X64)
    return "x86-64 baseline (SSE2), no run-time dispatch in this build";
#else
    return "portable C, no run-time dispatch";
#endif
}

#endif /* CYEM_KERNELS_H */
