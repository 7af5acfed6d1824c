"""Parameters of a univariate mixture: the M step from sufficient statistics,
and conversions to scikit-learn's attribute shapes.

A univariate mixture is held as three float64 arrays of length K: ``weights``,
``means`` and ``variances`` (all equal for the tied model). Everything here is
O(K): the data are only ever touched by the kernels.
"""

from dataclasses import dataclass, field

import numpy as np

from . import _kernels
from ._validation import check_positive_vector

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

# scikit-learn adds 10 machine epsilons to every component's count so that an
# empty component gives 0 / tiny instead of 0 / 0; we do the same, so that the
# two libraries agree to rounding from the same start.
_COUNT_EPS = 10 * np.finfo(np.float64).eps


@dataclass
class MixtureParams:
    """Weights, means and variances of a univariate mixture (float64, shape (K,))."""

    weights: np.ndarray
    means: np.ndarray
    variances: np.ndarray

    def kernel_arrays(self):
        """(means, log_norm, prec) as the kernels take them."""
        return _kernels.component_arrays(self.weights, self.means, self.variances)

    def copy(self):
        return MixtureParams(self.weights.copy(), self.means.copy(), self.variances.copy())


@dataclass
class MStepReport:
    """What the M step had to repair, for warnings after the fit."""

    empty: set = field(default_factory=set)       # components that lost all mass
    collapsed: set = field(default_factory=set)   # variances floored
    singular: set = field(default_factory=set)    # covariances needing jitter

    def merge(self, other):
        self.empty |= other.empty
        self.collapsed |= other.collapsed
        self.singular |= other.singular


def split_stats(stats, n_components):
    """Views (L, W, N, S, Q) of the kernel's statistics vector."""
    K = n_components
    return stats[0], stats[1], stats[2:2 + K], stats[2 + K:2 + 2 * K], stats[2 + 2 * K:]


def recentre(stats, K, centres, new_centres):
    """Statistics shifted by ``centres`` re-expressed around ``new_centres``,
    with S = 0: the M step then keeps the means at ``new_centres`` and
    estimates the variances around them (sum r (x - m)^2 = Q - 2 (m - c) S +
    N (m - c)^2). Used to hold the means fixed."""
    out = stats.copy()
    _, _, counts, sums, sq_sums = split_stats(stats, K)
    delta = new_centres - centres
    out[2 + 2 * K:] = np.maximum(sq_sums - 2 * delta * sums + counts * delta * delta, 0.0)
    out[2 + K:2 + 2 * K] = 0.0
    return out


def m_step(stats, previous, tied, reg_covar, variance_floor):
    """New parameters from the statistics accumulated around ``previous.means``.

    Parameters
    ----------
    stats : ndarray of shape (2 + 3K,)
        Output of ``_kernels.accumulate_stats`` for ``previous``.
    previous : MixtureParams
        The parameters the statistics were computed with (their means are the
        shifts of the sums).
    tied : bool
        One variance shared by all components (mclust's "E" model).
    reg_covar : float
        Added to every variance, as in scikit-learn.
    variance_floor : float
        Smallest variance allowed after regularisation; smaller ones (a
        component collapsed onto one value with ``reg_covar=0``) are raised to
        it and reported. The model layer works in a frame where the data span
        [-1, 1] and uses eps^2: invisible next to any real variance, large
        enough that every density stays finite.

    Returns
    -------
    params : MixtureParams
    report : MStepReport

    Notes
    -----
    mu_k = c_k + S_k / N_k and sigma_k^2 = (Q_k - S_k^2 / N_k) / N_k: the shifted
    form avoids the cancellation of sum(r x^2)/N - mean^2 for data far from 0.
    A component whose count is exactly zero (every membership underflowed)
    keeps its previous mean and variance, with weight 10 eps / sum(N).
    """
    K = previous.means.shape[0]
    _, _, raw_counts, sums, sq_sums = split_stats(stats, K)
    report = MStepReport()
    counts = raw_counts + _COUNT_EPS
    empty = raw_counts <= 0
    if empty.any():
        report.empty.update(np.flatnonzero(empty).tolist())

    shift = sums / counts
    means = previous.means + shift
    scatter = np.maximum(sq_sums - sums * shift, 0.0)   # sum_i r (x_i - mu_new)^2
    if tied:
        variances = np.full(K, scatter.sum() / counts.sum() + reg_covar)
    else:
        variances = scatter / counts + reg_covar
        variances[empty] = previous.variances[empty]
    means[empty] = previous.means[empty]
    weights = counts / counts.sum()

    collapsed = ~(variances >= variance_floor)
    if collapsed.any():
        report.collapsed.update(np.flatnonzero(collapsed).tolist())
        variances = np.where(collapsed, variance_floor, variances)
    return MixtureParams(weights, means, variances), report


# ---- scikit-learn's attribute shapes ------------------------------------------

def covariances_for(variances, covariance_type):
    """``covariances_`` in scikit-learn's shape for one feature."""
    K = variances.shape[0]
    if covariance_type == "full":
        return variances.reshape(K, 1, 1).copy()
    if covariance_type == "tied":
        return variances[:1].reshape(1, 1).copy()
    if covariance_type == "diag":
        return variances.reshape(K, 1).copy()
    return variances.copy()                      # spherical


def variances_from_precisions(precisions_init, n_components, covariance_type):
    """Validate ``precisions_init`` (scikit-learn's shapes, or flat) and return
    per-component variances of shape (K,)."""
    K = n_components
    if covariance_type == "tied":
        shapes = [(1, 1), (1,), ()]
        prec = check_positive_vector(precisions_init, 1, "precisions_init", shapes)
        return np.full(K, 1.0 / prec[0])
    shapes = {"full": [(K, 1, 1), (K,)], "diag": [(K, 1), (K,)],
              "spherical": [(K,)]}[covariance_type]
    prec = check_positive_vector(precisions_init, K, "precisions_init", shapes)
    return 1.0 / prec
