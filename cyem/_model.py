"""One fit's data, frame and working memory, for each model family.

The EM driver (``cyem._em.run_em``) only needs two operations, the fused pass
and the M step; a *model* supplies both, for univariate data
(:class:`UnivariateModel`, the fast path with one variance per component) or
multivariate data (:class:`MultivariateModel`, any covariance type). All
parameters inside a model are in its frame (``cyem._frame``); ``to_data_units``
and ``from_data_units`` convert at the boundary.
"""

import warnings

import numpy as np

from . import _kernels, _mdkernels
from . import _params as uni
from . import _params_md as md
from ._frame import Frame
from ._threads import threads_for
from .exceptions import DegenerateComponentWarning, external_stacklevel

_EPS = np.finfo(np.float64).eps


def weight_exponent(mean_weight):
    """The power of two e by which sample weights of mean ``mean_weight`` are
    divided (exactly) inside a model: 0 when the mean is within [2^-10, 2^10].
    The fit does not depend on the weights' scale, but the M step adds 10 eps
    to every count (as scikit-learn does), which would dominate counts made of
    weights near 1e-20. Data in pieces (chunks, dask blocks) must use ONE
    exponent, from the mean of all the weights, or the pieces would no longer
    be weighted against each other."""
    if 2.0 ** -10 <= mean_weight <= 2.0 ** 10:
        return 0
    return int(np.frexp(mean_weight)[1])


def _normalised_weights(sample_weight, exponent=None):
    """(sample_weight * 2^-exponent, exponent); exponent None: from the
    weights' own mean (see ``weight_exponent``)."""
    if sample_weight is None:
        return None, 0
    if exponent is None:
        exponent = weight_exponent(float(np.mean(sample_weight)))
    if exponent == 0:
        return sample_weight, 0
    return np.ldexp(sample_weight, -exponent), exponent


def _scaled(values, factor):
    """values * factor, where overflow to inf is expected and handled later."""
    with np.errstate(over="ignore", under="ignore"):
        return values * factor


def _representable(variances):
    """Variances clipped to the positive normal doubles, with a warning.

    Inside its frame a fit never under- or overflows; only data whose spread
    is beyond ~1e+-154 can have variances that double precision cannot hold
    once converted back to the data's units.
    """
    finfo = np.finfo(np.float64)
    clipped = np.clip(variances, finfo.tiny, finfo.max)   # inf -> max, 0 -> tiny
    if not np.array_equal(clipped, variances):
        warnings.warn(
            "Some fitted variances are outside the range of double precision (the "
            "data's spread is too small or too large); they were clipped to "
            f"[{finfo.tiny:.3g}, {finfo.max:.3g}]. Rescale X to fit such data.",
            DegenerateComponentWarning, stacklevel=external_stacklevel())
    return clipped


class UnivariateModel:
    """Univariate data x (n,) in a frame; parameters are ``_params.MixtureParams``."""

    n_features = 1

    def __init__(self, x, sample_weight, covariance_type, reg_covar, n_threads,
                 frame=None, start_means=None, weight_exponent=None,
                 names=("X", "means_init")):
        self.x = x
        # weights times 2^-weight_exponent: multiply sums of weights by
        # 2^weight_exponent to get them in the user's units
        self.sample_weight, self.weight_exponent = _normalised_weights(
            sample_weight, weight_exponent)
        self.frame = frame if frame is not None else Frame.from_data(
            x, reg_covar=reg_covar, start_means=start_means, names=names)
        self.covariance_type = covariance_type
        self.tied = covariance_type == "tied"
        self.reg_covar = reg_covar / self.frame.scale ** 2
        # In the frame the bulk of the data spans ~[-1, 1]: eps^2 is far below
        # any real variance and keeps every density finite (see _params.m_step).
        self.variance_floor = _EPS ** 2
        self.n_threads = n_threads
        self._workspace = {}

    def _buffers(self, K):
        if K not in self._workspace:
            self._workspace[K] = (
                np.empty((_kernels.n_blocks(self.x.shape[0]), 2 + 3 * K)),
                _kernels.make_scratch(K, self.n_threads))
        return self._workspace[K]

    def accumulate(self, params):
        """The fused pass: statistics vector of ``params`` (frame units)."""
        block_stats, scratch = self._buffers(params.means.shape[0])
        return _kernels.accumulate_stats(
            self.x, self.sample_weight, *params.kernel_arrays(),
            threads_for(self.x.shape[0], 1, params.means.shape[0], self.n_threads),
            self.frame.origin[0], self.frame.inv_scale, block_stats, scratch)

    #: Parameters held fixed (frame units), set with ``hold_fixed``; held
    #: means also in data units, reported as given.
    fixed = {}
    held_means = None

    def hold_fixed(self, weights=None, means=None, variances=None):
        """Hold any of weights (K,), means (K,) or variances (K,), given in
        data units, at those values; the others are still estimated."""
        f, fixed = self.frame, {}
        if weights is not None:
            fixed["weights"] = np.asarray(weights, dtype=np.float64)
        if means is not None:
            fixed["means"] = f.means_to_frame(np.ravel(means), "fixed['means']")
        if variances is not None:
            fixed["variances"] = f.variances_to_frame(variances, "fixed['covariances']")
        self.fixed = fixed
        # (x - origin) / scale * scale + origin need not give x back: report
        # held means exactly as the user gave them
        self.held_means = None if means is None else np.asarray(means, dtype=np.float64)

    def apply_fixed(self, params):
        for name, value in self.fixed.items():
            setattr(params, name, value.copy())
        return params

    def m_step(self, stats, params):
        if "means" in self.fixed:
            # Variances around the FIXED means, not around the free estimate.
            stats = uni.recentre(stats, params.means.shape[0], params.means,
                                 self.fixed["means"])
            params = uni.MixtureParams(params.weights, self.fixed["means"].copy(),
                                       params.variances)
        new, report = uni.m_step(stats, params, self.tied, self.reg_covar,
                                 self.variance_floor)
        return self.apply_fixed(new), report

    def log_lik_shift(self):
        """Add to a per-unit-weight log-likelihood in the frame to get it in data units."""
        return -self.frame.log_scale

    # -- conversions between the frame and the data's units -----------------
    def to_data_units(self, params):
        """(weights (K,), means (K, 1), variances (K,)) in data units."""
        f = self.frame
        means = f.means_from_frame(params.means) if self.held_means is None else \
            self.held_means
        return (params.weights.copy(), np.reshape(means, (-1, 1)).copy(),
                _representable(_scaled(params.variances, f.scale ** 2)))

    def from_data_units(self, weights, means, variances, names=("means", "stds")):
        """MixtureParams in the frame; ``names`` are the arguments the means
        and variances came from, for error messages."""
        f = self.frame
        return uni.MixtureParams(np.asarray(weights, dtype=np.float64).copy(),
                                 f.means_to_frame(np.ravel(means), names[0]),
                                 f.variances_to_frame(variances, names[1]))


class MultivariateModel:
    """Data X (n, d), d >= 2, in a frame; parameters are ``_params_md.MDParams``."""

    def __init__(self, X, sample_weight, covariance_type, reg_covar, n_threads,
                 frame=None, start_means=None, weight_exponent=None):
        self.x = X
        self.n_features = X.shape[1]
        self.sample_weight, self.weight_exponent = _normalised_weights(
            sample_weight, weight_exponent)
        self.frame = frame if frame is not None else Frame.from_data(
            X, reg_covar=reg_covar, start_means=start_means)
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar / self.frame.scale ** 2
        self.n_threads = n_threads
        self._origin = np.ascontiguousarray(self.frame.origin, dtype=np.float64)
        self._inv_scale = np.full(self.n_features, self.frame.inv_scale)
        self._workspace = {}

    def _buffers(self, K, kind):
        key = (K, kind)
        if key not in self._workspace:
            n, d = self.x.shape
            self._workspace[key] = (
                np.empty((_mdkernels.n_blocks(n), _mdkernels.n_stats(K, d, kind))),
                _mdkernels.make_scratch(K, d, kind, self.n_threads))
        return self._workspace[key]

    def accumulate(self, params):
        means, log_norm, prec, kind = params.kernel_arrays()
        block_stats, scratch = self._buffers(means.shape[0], kind)
        return _mdkernels.accumulate_stats(
            self.x, self.sample_weight, means, log_norm, prec, kind,
            threads_for(*self.x.shape, means.shape[0], self.n_threads, self.covariance_type),
            self._origin, self._inv_scale, block_stats, scratch)

    #: Parameters held fixed (frame units), set with ``hold_fixed``; held
    #: means also in data units, reported as given.
    fixed = {}
    held_means = None

    def hold_fixed(self, weights=None, means=None, covariances=None):
        """Hold any of weights (K,), means (K, d) or covariances (scikit-learn's
        shape for the covariance type), given in data units, at those values."""
        f, fixed = self.frame, {}
        if weights is not None:
            fixed["weights"] = np.asarray(weights, dtype=np.float64)
        if means is not None:
            fixed["means"] = f.means_to_frame(means, "fixed['means']")
        if covariances is not None:
            cov, prec_chol = md.precision_cholesky(
                f.variances_to_frame(covariances, "fixed['covariances']"),
                self.covariance_type)
            fixed["covariances"], fixed["precisions_cholesky"] = cov, prec_chol
        self.fixed = fixed
        # (x - origin) / scale * scale + origin need not give x back: report
        # held means exactly as the user gave them
        self.held_means = None if means is None else np.asarray(means, dtype=np.float64)

    def apply_fixed(self, params):
        for name, value in self.fixed.items():
            setattr(params, name, np.array(value, copy=True))
        return params

    def m_step(self, stats, params):
        if "means" in self.fixed:
            K, d = params.means.shape
            stats = md.recentre(stats, K, d, params.kind, params.means,
                                self.fixed["means"])
            params = md.MDParams(params.covariance_type, params.weights,
                                 self.fixed["means"].copy(), params.covariances,
                                 params.precisions_cholesky)
        new, report = md.m_step(stats, params, self.reg_covar)
        return self.apply_fixed(new), report

    def log_lik_shift(self):
        return -self.n_features * self.frame.log_scale

    def to_data_units(self, params):
        """(weights, means (K, d), covariances, precisions_cholesky) in data units."""
        s = self.frame.scale
        cov, prec_chol = _scaled(params.covariances, s ** 2), params.precisions_cholesky / s
        if self.covariance_type in ("diag", "spherical"):
            cov = _representable(cov)
            prec_chol = 1.0 / np.sqrt(cov)
        means = self.frame.means_from_frame(params.means) if self.held_means is None \
            else np.reshape(self.held_means, params.means.shape).copy()
        return params.weights.copy(), means, cov, prec_chol

    def from_data_units(self, weights, means, covariances, precisions_cholesky=None):
        """MDParams in the frame; the Cholesky factors are recomputed from the
        covariances unless given (scikit-learn's precisions_init path)."""
        s = self.frame.scale
        cov = self.frame.variances_to_frame(covariances, "covariances")
        if precisions_cholesky is None:
            cov, prec_chol = md.precision_cholesky(cov, self.covariance_type)
        else:
            prec_chol = np.asarray(precisions_cholesky, dtype=np.float64) * s
        return md.MDParams(self.covariance_type,
                           np.asarray(weights, dtype=np.float64).copy(),
                           self.frame.means_to_frame(means, "means"), cov, prec_chol)


def make_model(x, sample_weight, covariance_type, reg_covar, n_threads, frame=None,
               start_means=None, weight_exponent=None):
    """The model family for validated data (1-D x -> univariate). Without a
    ``frame``, the model's frame covers the data, ``reg_covar`` and the
    user's ``start_means`` (data units), see ``Frame.from_summary``."""
    cls = UnivariateModel if x.ndim == 1 else MultivariateModel
    return cls(x, sample_weight, covariance_type, reg_covar, n_threads, frame,
               start_means, weight_exponent)
