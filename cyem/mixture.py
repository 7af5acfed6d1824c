"""``cyem.GaussianMixture``: a drop-in for scikit-learn's estimator, univariate."""

import inspect
import warnings
from numbers import Integral

import numpy as np

from . import _kernels
from . import _validation as v
from ._em import run_em, warn_degenerate
from ._init import INIT_PARAMS, initial_parameters
from ._params import (COVARIANCE_TYPES, MixtureParams, covariances_for, n_parameters,
                      variance_floor, variances_from_precisions)
from ._threads import effective_n_threads
from .exceptions import ConvergenceWarning, NotFittedError


def _check_random_state(random_state):
    """A numpy Generator from None, an int, a Generator or a RandomState."""
    if random_state is None or isinstance(random_state, (Integral, np.integer)) \
            and not isinstance(random_state, bool):
        if random_state is not None and random_state < 0:
            raise ValueError(f"random_state must be non-negative, got {random_state}")
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        # Derive a Generator deterministically from the legacy state.
        return np.random.default_rng(random_state.randint(0, 2**31 - 1, size=4))
    raise TypeError(
        "random_state must be None, an int, a numpy Generator or RandomState; "
        f"got {type(random_state).__name__}"
    )


class GaussianMixture:
    """Gaussian mixture model fitted by EM, with compiled one-pass kernels.

    Follows :class:`sklearn.mixture.GaussianMixture`: same constructor
    parameters, fitted attributes and methods, so it can replace it in existing
    code. Currently for univariate data (a 1-D array or shape (n_samples, 1)).

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components K.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        With one feature 'full', 'diag' and 'spherical' are the same model (one
        variance per component) and differ only in the shapes of
        ``covariances_`` and ``precisions_``; 'tied' shares one variance among
        all components (mclust's "E" model, "V" being the others).
    tol : float, default=1e-3
        Convergence threshold on the change of the mean log-likelihood.
    reg_covar : float, default=1e-6
        Non-negative value added to every variance.
    max_iter : int, default=100
        EM iterations per initialisation (>= 1).
    n_init : int, default=1
        Number of initialisations; the one with the highest log-likelihood is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data', 'quantile'}, \
default='kmeans'
        How starting parameters are computed (see Notes).
    weights_init : array-like of shape (n_components,), optional
        Starting weights (override those of ``init_params``).
    means_init : array-like of shape (n_components, 1) or (n_components,), optional
        Starting means.
    precisions_init : array-like, optional
        Starting precisions (inverse variances) in scikit-learn's shape for the
        ``covariance_type``: (K, 1, 1) 'full', (1, 1) 'tied', (K, 1) 'diag',
        (K,) 'spherical'; a flat (K,) array is accepted too.
    random_state : int, numpy Generator or RandomState, optional
        Seed of the initialisation and of ``sample``.
    warm_start : bool, default=False
        Start ``fit`` from the previous solution (then ``n_init`` is 1).
    verbose : int, default=0
        1 prints each initialisation's outcome, 2 also the lower bound every
        ``verbose_interval`` iterations.
    verbose_interval : int, default=10
    n_threads : int or None, default=None
        Threads for the kernels; None uses every usable core (honouring
        OMP_NUM_THREADS, CPU affinity and container quotas). Results are
        bitwise identical for any value.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, 1)
    covariances_ : ndarray
        Variances, in scikit-learn's shape for ``covariance_type``.
    precisions_ : ndarray
        Inverse variances, same shape.
    precisions_cholesky_ : ndarray
        1 / standard deviation, same shape.
    stds_ : ndarray of shape (n_components,)
        Standard deviations sigma_k of the components.
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean log-likelihood (per unit of sample weight) of the best run,
        computed with the parameters before its last M step (as scikit-learn).
    lower_bounds_ : list of float
        The same quantity at every iteration of the best run: the
        log-likelihood history, which never decreases.
    n_features_in_ : int
        Always 1 for now.

    Notes
    -----
    Initialisation: 'kmeans' runs k-means++ seeding (on a random subsample of
    at most 20,000 points) and up to 20 Lloyd iterations on all the data;
    'k-means++' and 'random_from_data' assign every point to the nearest seed;
    'random' draws random memberships as scikit-learn does; 'quantile' cuts the
    sorted data into K groups of equal weight (deterministic).

    Degenerate components: a component whose variance would fall below
    (eps * data scale)^2 (possible only with ``reg_covar=0``) is held there, and
    one whose memberships all underflow keeps its last mean and variance with a
    weight of ~1e-15; both raise :class:`cyem.DegenerateComponentWarning` and
    the model stays finite.

    Examples
    --------
    >>> import numpy as np, cyem
    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(163, 7, 4000), rng.normal(177, 7, 6000)])
    >>> gm = cyem.GaussianMixture(n_components=2, random_state=0).fit(x)
    >>> np.round(np.sort(gm.means_.ravel()))
    array([163., 177.])
    """

    def __init__(self, n_components=1, *, covariance_type="full", tol=1e-3,
                 reg_covar=1e-6, max_iter=100, n_init=1, init_params="kmeans",
                 weights_init=None, means_init=None, precisions_init=None,
                 random_state=None, warm_start=False, verbose=0, verbose_interval=10,
                 n_threads=None):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_threads = n_threads

    # ---- scikit-learn's parameter protocol (get_params / set_params / clone) ----

    @classmethod
    def _get_param_names(cls):
        sig = inspect.signature(cls.__init__)
        return sorted(p for p in sig.parameters if p != "self")

    def get_params(self, deep=True):
        """Constructor parameters as a dict (scikit-learn protocol)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        """Set constructor parameters (scikit-learn protocol); returns self."""
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"Invalid parameter {name!r} for estimator {type(self).__name__}; "
                    f"valid parameters are {valid}"
                )
            setattr(self, name, value)
        return self

    def __repr__(self):
        defaults = {p.name: p.default for p in
                    inspect.signature(type(self).__init__).parameters.values()}
        changed = []
        for name in self._get_param_names():
            value = getattr(self, name)
            default = defaults[name]
            if isinstance(value, np.ndarray) or value is not default and value != default:
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    # ---- validation of the constructor parameters (at fit time) ----

    def _validated_settings(self):
        return dict(
            n_components=v.check_int(self.n_components, "n_components", 1),
            covariance_type=v.check_choice(self.covariance_type, "covariance_type",
                                           COVARIANCE_TYPES),
            tol=v.check_real(self.tol, "tol", 0.0),
            reg_covar=v.check_real(self.reg_covar, "reg_covar", 0.0),
            max_iter=v.check_int(self.max_iter, "max_iter", 1),
            n_init=v.check_int(self.n_init, "n_init", 1),
            init_params=v.check_choice(self.init_params, "init_params", INIT_PARAMS),
            verbose=v.check_int(self.verbose, "verbose", 0),
            verbose_interval=v.check_int(self.verbose_interval, "verbose_interval", 1),
            n_threads=effective_n_threads(self.n_threads),
            warm_start=self._check_bool(self.warm_start, "warm_start"),
        )

    @staticmethod
    def _check_bool(value, name):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be a bool, got {value!r}")
        return bool(value)

    def _user_initial_values(self, K, covariance_type):
        """The validated weights_init / means_init / precisions_init (or None)."""
        weights = None if self.weights_init is None else \
            v.check_initial_weights(self.weights_init, K)
        means = None if self.means_init is None else v.check_initial_means(self.means_init, K)
        variances = None if self.precisions_init is None else \
            variances_from_precisions(self.precisions_init, K, covariance_type)
        return weights, means, variances

    # ---- fitting ----

    def fit(self, X, y=None, sample_weight=None):
        """Estimate the model parameters with EM.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, 1)
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights; an integer weight is equivalent to repeating
            the row that many times.

        Returns
        -------
        self
        """
        self._fit(X, sample_weight)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then return the most probable component of each sample.

        Returns
        -------
        labels : ndarray of shape (n_samples,), int64
        """
        x = self._fit(X, sample_weight)
        return self._evaluate(x, labels=True)["labels"]

    def _fit(self, X, sample_weight):
        s = self._validated_settings()
        x = v.check_univariate_data(X, "X")
        weight = v.check_sample_weight(sample_weight, x.shape[0])
        K = v.check_n_components(s["n_components"], x, weight)
        tied = s["covariance_type"] == "tied"
        user_w, user_m, user_var = self._user_initial_values(K, s["covariance_type"])
        floor = variance_floor(x, s["reg_covar"])
        if K == 1 and v._kernels.count_distinct_upto(x, weight, 2) < 2:
            warnings.warn("X has a single distinct value: the fitted variance is "
                          "reg_covar (or the floor if reg_covar is 0)",
                          UserWarning, stacklevel=3)

        warm = s["warm_start"] and hasattr(self, "converged_")
        if warm and self.means_.shape[0] != K:
            raise ValueError(
                f"warm_start: n_components={K} differs from the fitted model's "
                f"{self.means_.shape[0]}")
        n_init = 1 if warm else s["n_init"]
        rng = _check_random_state(self.random_state)

        best = None
        for init in range(n_init):
            if warm:
                start = MixtureParams(self.weights_.copy(), self.means_.ravel().copy(),
                                      self.stds_ ** 2)
            else:
                start = self._start(x, weight, K, s, rng, user_w, user_m, user_var, floor)
            if tied:
                start.variances = np.full(K, np.dot(start.weights, start.variances))
            run = run_em(x, weight, start, tied=tied, tol=s["tol"],
                         reg_covar=s["reg_covar"], max_iter=s["max_iter"],
                         n_threads=s["n_threads"], floor=floor, verbose=s["verbose"],
                         verbose_interval=s["verbose_interval"])
            if s["verbose"]:
                status = "converged" if run.converged else "did not converge"
                print(f"Initialization {init}: {status}, lower bound {run.lower_bound:.10g}")
            if best is None or run.lower_bound > best.lower_bound:
                best = run

        warn_degenerate(best.report)
        if not best.converged:
            warnings.warn(
                "Best performing initialization did not converge. Try different "
                "init parameters, or increase max_iter, tol, or check for "
                "degenerate data.", ConvergenceWarning, stacklevel=3)
        self._set_fitted(best, s)
        return x

    def _start(self, x, weight, K, s, rng, user_w, user_m, user_var, floor):
        """Starting parameters: the init strategy, overridden by user values."""
        if user_w is not None and user_m is not None and user_var is not None:
            return MixtureParams(user_w.copy(), user_m.copy(), user_var.copy())
        start = initial_parameters(x, weight, K, s["init_params"], rng,
                                   s["reg_covar"], floor)
        if user_w is not None:
            start.weights = user_w.copy()
        if user_m is not None:
            start.means = user_m.copy()
        if user_var is not None:
            start.variances = user_var.copy()
        return start

    def _set_fitted(self, run, s):
        p = run.params
        ctype = s["covariance_type"]
        self.weights_ = p.weights.copy()
        self.means_ = p.means.reshape(-1, 1).copy()
        self.covariances_ = covariances_for(p.variances, ctype)
        self.precisions_ = 1.0 / self.covariances_
        self.precisions_cholesky_ = np.sqrt(self.precisions_)
        self.stds_ = np.sqrt(p.variances)
        self.converged_ = bool(run.converged)
        self.n_iter_ = run.n_iter
        self.lower_bound_ = run.lower_bound
        self.lower_bounds_ = list(run.lower_bounds)
        self.n_features_in_ = 1

    # ---- using a fitted model ----

    def _check_fitted(self):
        if not hasattr(self, "means_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' "
                "with appropriate arguments before using this estimator.")

    def _kernel_arrays(self):
        variances = self.stds_ ** 2
        return _kernels.component_arrays(np.ascontiguousarray(self.weights_, dtype=float),
                                         np.ascontiguousarray(self.means_.ravel(), dtype=float),
                                         np.ascontiguousarray(variances, dtype=float))

    def _evaluate(self, x, log_lik=False, resp=False, labels=False):
        n, K = x.shape[0], self.weights_.shape[0]
        out = {}
        if log_lik:
            out["log_lik"] = np.empty(n)
        if resp:
            out["resp"] = np.empty((n, K))
        if labels:
            out["labels"] = np.empty(n, dtype=np.int64)
        means, log_norm, prec = self._kernel_arrays()
        _kernels.evaluate(x, means, log_norm, prec, effective_n_threads(self.n_threads),
                          out.get("log_lik"), out.get("resp"), out.get("labels"))
        return out

    def _validated_input(self, X):
        self._check_fitted()
        return v.check_univariate_data(X, "X", n_features_expected=self.n_features_in_)

    def score_samples(self, X):
        """Log-likelihood log sum_k w_k g(x_i; k) of each sample.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
        """
        return self._evaluate(self._validated_input(X), log_lik=True)["log_lik"]

    def score(self, X, y=None, sample_weight=None):
        """Mean log-likelihood of the samples (weighted by ``sample_weight``)."""
        log_lik = self.score_samples(X)
        weight = v.check_sample_weight(sample_weight, log_lik.shape[0])
        if weight is None:
            return float(np.mean(log_lik))
        return float(np.dot(weight, log_lik) / weight.sum())

    def predict(self, X):
        """Most probable component of each sample.

        Returns
        -------
        labels : ndarray of shape (n_samples,), int64
        """
        return self._evaluate(self._validated_input(X), labels=True)["labels"]

    def predict_proba(self, X):
        """Membership probabilities p(k | x_i).

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
        """
        return self._evaluate(self._validated_input(X), resp=True)["resp"]

    def sample(self, n_samples=1):
        """Draw samples from the fitted mixture.

        Returns
        -------
        X : ndarray of shape (n_samples, 1)
        y : ndarray of shape (n_samples,)
            The component each sample was drawn from (grouped by component, as
            in scikit-learn).
        """
        self._check_fitted()
        n_samples = v.check_int(n_samples, "n_samples", 1)
        rng = _check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_ / self.weights_.sum())
        labels = np.repeat(np.arange(self.weights_.shape[0]), counts)
        X = self.means_.ravel()[labels] + rng.standard_normal(n_samples) * self.stds_[labels]
        return X.reshape(-1, 1), labels

    def _n_parameters(self):
        """Number of free parameters (scikit-learn's count for one feature)."""
        self._check_fitted()
        return n_parameters(self.weights_.shape[0], self.covariance_type == "tied")

    def bic(self, X, sample_weight=None):
        """Bayesian information criterion, lower is better (scikit-learn's sign):
        -2 log L + p log n, with n the total sample weight."""
        log_lik, n = self._total_log_lik(X, sample_weight)
        return -2 * log_lik + self._n_parameters() * np.log(n)

    def aic(self, X, sample_weight=None):
        """Akaike information criterion, lower is better: -2 log L + 2 p."""
        log_lik, _ = self._total_log_lik(X, sample_weight)
        return -2 * log_lik + 2 * self._n_parameters()

    def _total_log_lik(self, X, sample_weight):
        log_lik = self.score_samples(X)
        weight = v.check_sample_weight(sample_weight, log_lik.shape[0])
        if weight is None:
            return float(log_lik.sum()), log_lik.shape[0]
        return float(np.dot(weight, log_lik)), float(weight.sum())
