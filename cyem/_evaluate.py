"""Using fitted parameters: per-point log-likelihoods, memberships, labels.

The kernel frame is derived from the fitted parameters alone (the weighted
median of the means and a scale covering their spread and the largest
standard deviation, ``Frame.from_params``), so a model rebuilt from its
attributes -- after save/load, pickling, or shipped to a dask worker --
predicts exactly like the original.
"""

from dataclasses import dataclass

import numpy as np

from . import _kernels, _mdkernels
from . import _params_md as md
from ._frame import Frame
from ._threads import single_threaded_blas


@dataclass(frozen=True)
class FittedParams:
    """A fitted mixture in data units and scikit-learn's attribute shapes."""

    covariance_type: str
    weights: np.ndarray
    means: np.ndarray                 # (K, d)
    covariances: np.ndarray
    precisions_cholesky: np.ndarray

    @property
    def n_features(self):
        return self.means.shape[1]


def _max_variance(covariances, covariance_type):
    """Largest variance of any feature of any component."""
    if covariance_type == "full":
        return float(np.max(np.diagonal(covariances, axis1=1, axis2=2)))
    if covariance_type == "tied":
        return float(np.max(np.diag(covariances)))
    return float(np.max(covariances))


def evaluate(fitted, x, n_threads, log_lik=False, resp=False, labels=False):
    """The evaluation kernel of ``fitted`` on validated data ``x`` (n,) or (n, d).

    Returns
    -------
    dict
        ``log_lik`` (n,): log sum_k w_k g(x_i; k) in data units; ``resp``
        (n, K): memberships; ``labels`` (n,) int64: argmax, first wins. Only
        the keys asked for.
    """
    n, K = x.shape[0], fitted.weights.shape[0]
    out = {}
    if log_lik:
        out["log_lik"] = np.empty(n)
    if resp:
        out["resp"] = np.empty((n, K))
    if labels:
        out["labels"] = np.empty(n, dtype=np.int64)
    weights = np.ascontiguousarray(fitted.weights, dtype=np.float64)
    means = np.asarray(fitted.means, dtype=np.float64)
    d = fitted.n_features
    if d == 1:
        variances = np.asarray(fitted.covariances, dtype=np.float64).ravel()
        if variances.shape[0] == 1:
            variances = np.full(K, variances[0])
        frame = Frame.from_params(weights, means, np.sqrt(variances.max()))
        arrays = _kernels.component_arrays(
            weights, np.ascontiguousarray(frame.means_to_frame(means).ravel()),
            np.ascontiguousarray(variances / frame.scale ** 2))
        _kernels.evaluate(x, *arrays, n_threads, float(frame.origin[0]),
                          frame.inv_scale, out.get("log_lik"), out.get("resp"),
                          out.get("labels"))
    else:
        ctype = fitted.covariance_type
        cov = np.asarray(fitted.covariances, dtype=np.float64)
        frame = Frame.from_params(weights, means, np.sqrt(_max_variance(cov, ctype)))
        params = md.MDParams(ctype, weights, frame.means_to_frame(means),
                             cov / frame.scale ** 2,
                             np.asarray(fitted.precisions_cholesky) * frame.scale)
        means_f, log_norm, prec, kind = params.kernel_arrays()
        with single_threaded_blas(ctype, d):
            _mdkernels.evaluate(x, means_f, log_norm, prec, kind, n_threads,
                                np.ascontiguousarray(frame.origin),
                                np.full(d, frame.inv_scale), out.get("log_lik"),
                                out.get("resp"), out.get("labels"))
    if log_lik:
        out["log_lik"] -= d * frame.log_scale
    return out
