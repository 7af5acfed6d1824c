"""Parameters of a multivariate mixture (d >= 2): the M step from the
kernels' sufficient statistics, Cholesky factors of the precisions, and
scikit-learn's shapes. Everything here is O(K d^3) at most; the data are only
ever touched by the kernels in ``cyem._mdkernels``.

Shapes follow scikit-learn for every ``covariance_type``:

=============  ==================  ==========================
type           covariances         precisions_cholesky
=============  ==================  ==========================
'full'         (K, d, d)           (K, d, d)
'tied'         (d, d)              (d, d)
'diag'         (K, d)              (K, d)
'spherical'    (K,)                (K,)
=============  ==================  ==========================
"""

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from . import _mdkernels
from ._params import _COUNT_EPS, MStepReport

_LOG_2PI = np.log(2 * np.pi)
#: Smallest variance in the frame, where the data span about [-1, 1].
_FLOOR = np.finfo(np.float64).eps ** 2


@dataclass
class MDParams:
    """Weights (K,), means (K, d), covariances and their precision Cholesky
    factors in scikit-learn's shapes for ``covariance_type``."""

    covariance_type: str
    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray

    @property
    def kind(self):
        return _mdkernels.FULL if self.covariance_type in ("full", "tied") \
            else _mdkernels.DIAG

    def kernel_arrays(self):
        """(means, log_norm, prec, kind) as ``cyem._mdkernels`` takes them."""
        K, d = self.means.shape
        pc = self.precisions_cholesky
        if self.covariance_type == "full":
            log_det = np.log(np.diagonal(pc, axis1=1, axis2=2)).sum(axis=1)
            prec = pc
        elif self.covariance_type == "tied":
            log_det = np.full(K, np.log(np.diag(pc)).sum())
            prec = pc[np.newaxis]
        elif self.covariance_type == "diag":
            log_det = np.log(pc).sum(axis=1)
            prec = pc
        else:
            log_det = d * np.log(pc)
            prec = np.repeat(pc[:, np.newaxis], d, axis=1)
        with np.errstate(divide="ignore"):
            log_norm = np.log(self.weights) - 0.5 * d * _LOG_2PI + log_det
        return (np.ascontiguousarray(self.means, dtype=np.float64),
                np.ascontiguousarray(log_norm, dtype=np.float64),
                np.ascontiguousarray(prec, dtype=np.float64), self.kind)



def split_stats(stats, K, d, kind):
    """(L, W, N (K,), S (K, d), Q (K, d) or (K, d, d)) views of a stats vector."""
    S = stats[2 + K:2 + K + K * d].reshape(K, d)
    Q = stats[2 + K + K * d:]
    if kind == _mdkernels.FULL:
        # The kernel fills the upper triangle only (dsyrk): mirror it.
        upper = np.triu(Q.reshape(K, d, d))
        Q = upper + np.transpose(np.triu(upper, 1), (0, 2, 1))
    else:
        Q = Q.reshape(K, d)
    return stats[0], stats[1], stats[2:2 + K], S, Q


def covariances_from_moments(counts, sums, moments, covariance_type, reg_covar):
    """Means shifts and covariances from shifted moments around centres c_k.

    Parameters
    ----------
    counts : (K,)  sum v r
    sums : (K, d)  sum v r (x - c_k)
    moments : (K, d, d) sum v r (x - c_k)(x - c_k)^T, or (K, d) its diagonal
    covariance_type : str
    reg_covar : float

    Returns
    -------
    shift : (K, d)
        New mean minus c_k.
    covariances : scikit-learn's shape for ``covariance_type``
    """
    K, d = sums.shape
    shift = sums / counts[:, np.newaxis]
    if moments.ndim == 3:
        scatter = moments - sums[:, :, np.newaxis] * shift[:, np.newaxis, :]
        scatter = 0.5 * (scatter + np.transpose(scatter, (0, 2, 1)))
        diag_scatter = np.diagonal(scatter, axis1=1, axis2=2)
    else:
        scatter = None
        diag_scatter = moments - sums * shift
    diag_scatter = np.maximum(diag_scatter, 0.0)
    if covariance_type == "full":
        cov = scatter / counts[:, np.newaxis, np.newaxis]
        cov[:, np.arange(d), np.arange(d)] += reg_covar
    elif covariance_type == "tied":
        cov = scatter.sum(axis=0) / counts.sum()
        cov[np.arange(d), np.arange(d)] += reg_covar
    elif covariance_type == "diag":
        cov = diag_scatter / counts[:, np.newaxis] + reg_covar
    else:
        cov = (diag_scatter / counts[:, np.newaxis] + reg_covar).mean(axis=1)
    return shift, cov


def precision_cholesky(covariances, covariance_type, report=None):
    """Upper-triangular U with precision = U U^T (scikit-learn's
    ``precisions_cholesky_``), for every covariance.

    A covariance that is not numerically positive definite even after
    ``reg_covar`` (collinear features, a component on a subspace) gets the
    smallest diagonal jitter, a power of ten times eps * trace/d, that makes
    it so; the component is recorded in ``report.singular`` and the caller
    warns. The returned covariances include that jitter.
    """
    if covariance_type in ("diag", "spherical"):
        # In the frame the data span about [-1, 1]: eps^2 is invisible next to
        # any real variance and keeps every density finite (as univariate).
        floor = _FLOOR
        bad = ~(covariances >= floor)
        if bad.any():
            if report is not None:
                rows = np.flatnonzero(bad.reshape(bad.shape[0], -1).any(axis=1))
                report.collapsed.update(rows.tolist())
            covariances = np.where(bad, floor, covariances)
        return covariances, 1.0 / np.sqrt(covariances)
    single = covariance_type == "tied"
    covs = covariances[np.newaxis] if single else covariances
    covs = covs.copy()
    out = np.empty_like(covs)
    d = covs.shape[1]
    for k, cov in enumerate(covs):
        chol, jittered = _cholesky_with_jitter(cov)
        if jittered is not None:
            covs[k] = jittered
            if report is not None:
                report.singular.add(k)
        out[k] = linalg.solve_triangular(chol, np.eye(d), lower=True).T
    if single:
        return covs[0], out[0]
    return covs, out


def _cholesky_with_jitter(cov):
    """Lower Cholesky factor of cov; if cov is not positive definite, of
    cov + t I for the smallest t = 10^j eps trace/d that works."""
    try:
        return linalg.cholesky(cov, lower=True), None
    except linalg.LinAlgError:
        pass
    d = cov.shape[0]
    # Relative to the covariance's own size, but never below the frame's floor
    # eps^2: a component collapsed onto one point has a zero trace.
    base = max(np.finfo(np.float64).eps * np.trace(cov) / d, _FLOOR)
    for power in range(0, 40):
        trial = cov + np.eye(d) * base * 10.0 ** power
        try:
            return linalg.cholesky(trial, lower=True), trial
        except linalg.LinAlgError:
            continue
    raise ValueError("a covariance matrix could not be made positive definite; "
                     "check the data for NaN or extreme values")


def precisions_from_cholesky(prec_chol, covariance_type):
    """``precisions_`` from ``precisions_cholesky_`` (scikit-learn's shapes)."""
    if covariance_type == "full":
        return prec_chol @ np.transpose(prec_chol, (0, 2, 1))
    if covariance_type == "tied":
        return prec_chol @ prec_chol.T
    return prec_chol ** 2


def recentre(stats, K, d, kind, centres, new_centres):
    """Multivariate counterpart of ``cyem._params.recentre``: statistics
    around ``new_centres`` (K, d) with S = 0, so that the M step holds the
    means there and estimates the covariances around them."""
    _, _, counts, sums, moments = split_stats(stats, K, d, kind)
    delta = new_centres - centres
    if kind == _mdkernels.FULL:
        outer = sums[:, :, None] * delta[:, None, :]
        moments = (moments - outer - np.transpose(outer, (0, 2, 1))
                   + counts[:, None, None] * delta[:, :, None] * delta[:, None, :])
    else:
        moments = np.maximum(moments - 2 * sums * delta + counts[:, None] * delta ** 2, 0.0)
    out = stats.copy()
    out[2 + K:2 + K + K * d] = 0.0
    out[2 + K + K * d:] = moments.ravel()
    return out


def m_step(stats, previous, reg_covar):
    """New parameters from statistics accumulated around ``previous.means``.

    Mirrors scikit-learn's M step (10 eps added to every count; covariances
    regularised by ``reg_covar`` on the diagonal); a component whose count is
    exactly zero keeps its previous mean and covariance.
    """
    K, d = previous.means.shape
    ctype = previous.covariance_type
    _, _, raw_counts, sums, moments = split_stats(stats, K, d, previous.kind)
    report = MStepReport()
    counts = raw_counts + _COUNT_EPS
    empty = raw_counts <= 0
    shift, cov = covariances_from_moments(counts, sums, moments, ctype, reg_covar)
    means = previous.means + shift
    if empty.any():
        report.empty.update(np.flatnonzero(empty).tolist())
        means[empty] = previous.means[empty]
        if ctype != "tied":
            cov[empty] = previous.covariances[empty]
    cov, prec_chol = precision_cholesky(cov, ctype, report)
    return MDParams(ctype, counts / counts.sum(), means, cov, prec_chol), report


def n_parameters(n_components, n_features, covariance_type):
    """Free parameters (scikit-learn's ``_n_parameters``)."""
    K, d = n_components, n_features
    cov = {"full": K * d * (d + 1) / 2, "tied": d * (d + 1) / 2,
           "diag": K * d, "spherical": K}[covariance_type]
    return int(cov + K * d + K - 1)
