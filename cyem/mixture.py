"""``cyem.GaussianMixture``: a drop-in for scikit-learn's estimator."""

import inspect
import warnings

import numpy as np
from scipy.linalg import solve_triangular

from . import _dask, _online, _persist, chunked
from . import _params_md as md
from . import _validation as v
from ._em import warn_degenerate
from ._evaluate import FittedParams, evaluate
from ._init import INIT_PARAMS, starting_parameters
from ._model import make_model
from ._params import COVARIANCE_TYPES, covariances_for, variances_from_precisions
from ._restarts import fit_model
from ._threads import effective_n_threads, single_threaded_blas, threads_for
from .exceptions import ConvergenceWarning, external_stacklevel, not_fitted_error

def _feature_names(X, name="X"):
    """The column names of a dataframe ``X`` as an object array, when all are
    strings; None for arrays, for unnamed (e.g. integer) columns and for
    anything else, as scikit-learn reads them (pandas ``columns``, or the
    dataframe interchange protocol of polars, pyarrow, ...)."""
    if hasattr(X, "columns"):
        names = np.asarray(list(X.columns), dtype=object)
    elif hasattr(X, "__dataframe__"):
        names = np.asarray(list(X.__dataframe__().column_names()), dtype=object)
    else:
        return None
    types = sorted({type(column).__qualname__ for column in names})
    if len(types) > 1 and "str" in types:
        raise TypeError(
            f"{name} has column names of types {types}: feature names are stored and "
            "checked only when every column name is a string. Convert them all to "
            f"strings ({name}.columns = {name}.columns.astype(str)), or all to another "
            "type to go without names.")
    return names if types == ["str"] else None


def _names_mismatch(fitted, given):
    """scikit-learn's ValueError text for column names unlike those of fit."""
    def listed(names):
        shown = [f"- {n}\n" for n in names[:5]]
        return "".join(shown) + ("- ...\n" if len(names) > 5 else "")

    unseen = sorted(set(given) - set(fitted))
    missing = sorted(set(fitted) - set(given))
    message = "The feature names should match those that were passed during fit.\n"
    if unseen:
        message += "Feature names unseen at fit time:\n" + listed(unseen)
    if missing:
        message += "Feature names seen at fit time, yet now missing:\n" + listed(missing)
    if not unseen and not missing:
        message += "Feature names must be in the same order as they were in fit.\n"
    return message


class GaussianMixture:
    """Gaussian mixture model fitted by EM, with compiled one-pass kernels.

    Follows :class:`sklearn.mixture.GaussianMixture`: same constructor
    parameters, fitted attributes and methods, so it can replace it in existing
    code. Data may be univariate (a 1-D array, or shape (n_samples, 1)) or
    multivariate (n_samples, n_features), with any of the four covariance types.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components K.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        'full': each component has its own covariance matrix; 'tied': all
        components share one; 'diag': each has its own diagonal matrix;
        'spherical': each has a single variance. With one feature 'full', 'diag'
        and 'spherical' are the same model (one variance per component, mclust's
        "V") and differ only in the shapes of ``covariances_`` and
        ``precisions_``; 'tied' shares one variance among all components
        (mclust's "E").
    tol : 'auto' or float, default='auto'
        Stopping rule. 'auto' (cyem's rule) runs accelerated EM to the optimum
        from each start: SQUAREM extrapolation (Varadhan and Roland, 2008),
        then Newton steps on the EM fixed point, every kept step finished by
        a plain EM step and never lowering the log-likelihood; it stops once
        the gain still available is estimated to be at most 1e-10 in mean
        log-likelihood per unit of sample weight (by a full Newton step that
        gains less, or by the gain and rate of two EM steps when EM converges
        fast). That is 1e-8 relative or better whenever the mean
        log-likelihood exceeds 0.01 in size, and does not depend on the
        data's units. A number selects scikit-learn's rule, exactly: plain EM,
        stopped when the mean log-likelihood changes by less than ``tol``
        between two iterations -- ``tol=1e-3`` reproduces scikit-learn's
        iterates from the same start, and its tendency to stop early on a
        slow stretch (its issue #10122).
    reg_covar : float, default=1e-6
        Non-negative value added to every variance (the diagonal of every
        covariance matrix), in the data's units squared.
    max_iter : int, default=1000
        Kernel passes over the data (EM steps) per initialisation (>= 1);
        scikit-learn's default is 100.
    n_init : int or None, default=None
        Number of initialisations of ``init_params``; the one with the highest
        log-likelihood is kept (scikit-learn's meaning). None (cyem's default)
        runs a small fixed set: one deterministic 'quantile' start, then two
        starts of ``init_params`` seeded from ``random_state`` (only the
        quantile start when ``init_params='quantile'``, or the user's start
        when weights, means and precisions are all given). scikit-learn's
        default is ``n_init=1``.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data', 'quantile'}, \\
    default='kmeans'
        How starting parameters are computed (see Notes).
    weights_init : array-like of shape (n_components,), optional
        Starting weights (override those of ``init_params``).
    means_init : array-like of shape (n_components, n_features), optional
        Starting means; (n_components,) is accepted for one feature.
    precisions_init : array-like, optional
        Starting precisions (inverse covariances) in scikit-learn's shape for the
        ``covariance_type``: (K, d, d) 'full', (d, d) 'tied', (K, d) 'diag',
        (K,) 'spherical'; for one feature a flat (K,) array is accepted too.
    random_state : int, numpy Generator or RandomState, optional
        Seed of the initialisation and of ``sample``.
    warm_start : bool, default=False
        Start ``fit`` from the previous solution (then ``n_init`` is 1).
    verbose : int, default=0
        1 prints each initialisation's outcome, 2 also the lower bound every
        ``verbose_interval`` iterations.
    verbose_interval : int, default=10
        Iterations between two lines of ``verbose=2`` output.
    n_threads : int or None, default=None
        Threads for the kernels; None uses every usable core (honouring
        OMP_NUM_THREADS, CPU affinity and container quotas). Results are
        bitwise identical for any value.

    fixed : dict, optional
        Parameters held at given values while the others are estimated (in the
        data's units): any of ``'weights'`` (n_components,), ``'means'`` (shape of
        ``means_init``) and ``'covariances'`` (the shape of ``covariances_``;
        flat (n_components,) for one feature). With the means held, variances
        are estimated around them. Honoured by ``fit``, ``fit_predict``,
        ``fit_chunks`` and dask fits; ``partial_fit`` (online EM) refuses it.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Mixture weights w_k.
    means_ : ndarray of shape (n_components, n_features)
        Component means.
    covariances_ : ndarray
        In scikit-learn's shape for ``covariance_type``: (K, d, d) 'full',
        (d, d) 'tied', (K, d) 'diag', (K,) 'spherical'.
    precisions_ : ndarray
        Inverses of the covariances, same shape.
    precisions_cholesky_ : ndarray
        Cholesky factors of the precisions, in scikit-learn's convention and
        shape (for one feature, 1 / standard deviation).
    stds_ : ndarray of shape (n_components,)
        Standard deviations sigma_k; univariate models only.
    converged_ : bool
        Whether the best run met the stopping rule (see ``tol``).
    n_iter_ : int
        Kernel passes over the data (EM steps) of the best run: with
        ``tol='auto'`` these include the steps of rejected extrapolations and
        those spent on Newton steps, so ``n_iter_`` measures the work done.
    lower_bound_ : float
        Mean log-likelihood (per unit of sample weight) of the best run,
        computed with the parameters before its last M step (as scikit-learn).
    lower_bounds_ : list of float
        The same quantity for every parameter set the best run kept: the
        log-likelihood history, which never decreases. One per pass with a
        numeric ``tol`` (``len(lower_bounds_) == n_iter_``, as scikit-learn);
        fewer than ``n_iter_`` with ``tol='auto'``.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features,), dtype object
        Column names of X seen during ``fit``; set only when X has string
        column names (a pandas DataFrame, say). Later calls check X's names
        against them as scikit-learn does: ValueError if they differ or are
        in another order, a warning if only one of the two has names.

    See Also
    --------
    cyem.em : The EM loop from given starting values, for univariate data.
    cyem.select : Choose the number of components and the covariance type.

    Notes
    -----
    Initialisation: 'kmeans' runs k-means++ seeding (on a random subsample of
    at most 20,000 points, fewer for wide data) and up to 20 Lloyd iterations on all the data;
    'k-means++' and 'random_from_data' assign every point to the nearest seed;
    'random' draws random memberships as scikit-learn does; 'quantile' cuts the
    sorted data into K groups of equal weight (deterministic).
    The default ``n_init=None`` combines the quantile start (close to mclust's
    default start in one dimension) with seeded ``init_params`` starts, each
    run to convergence; on galaxies and Old Faithful's waiting times it
    reaches mclust's log-likelihood for K = 1..9, where k-means starts alone
    (scikit-learn's default) can end on a lower optimum.

    Degenerate components: a component whose variance would fall below
    (eps * data scale)^2 (possible only with ``reg_covar=0``) is held there, and
    one whose memberships all underflow keeps its last mean and variance with a
    weight of ~1e-15; both raise :class:`cyem.DegenerateComponentWarning` and
    the model stays finite.

    Examples
    --------
    >>> import numpy as np, cyem
    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(160, 6, 4000), rng.normal(180, 6, 6000)])
    >>> gm = cyem.GaussianMixture(n_components=2, random_state=0).fit(x)
    >>> order = np.argsort(gm.means_.ravel())
    >>> np.round(gm.means_.ravel()[order]), np.round(gm.weights_[order], 1)
    (array([160., 180.]), array([0.4, 0.6]))

    Two features, one diagonal covariance matrix per component:

    >>> X = np.vstack([rng.normal([0, 0], 1, (500, 2)), rng.normal([6, 3], 1, (500, 2))])
    >>> gm2 = cyem.GaussianMixture(2, covariance_type="diag", random_state=0).fit(X)
    >>> gm2.means_.shape, gm2.covariances_.shape
    ((2, 2), (2, 2))
    """

    def __init__(self, n_components=1, *, covariance_type="full", tol="auto",
                 reg_covar=1e-6, max_iter=1000, n_init=None, init_params="kmeans",
                 weights_init=None, means_init=None, precisions_init=None,
                 random_state=None, warm_start=False, verbose=0, verbose_interval=10,
                 n_threads=None, fixed=None):
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
        self.fixed = fixed

    # ---- scikit-learn's parameter protocol (get_params / set_params / clone) ----

    def __sklearn_tags__(self):
        """scikit-learn's estimator tags (a density estimator; y is ignored).
        Imported here so that scikit-learn stays an optional dependency."""
        from sklearn.utils import Tags, TargetTags

        return Tags(estimator_type="density_estimator",
                    target_tags=TargetTags(required=False))

    @classmethod
    def _get_param_names(cls):
        sig = inspect.signature(cls.__init__)
        return sorted(p for p in sig.parameters if p != "self")

    def get_params(self, deep=True):
        """Constructor parameters as a dict (scikit-learn protocol).

        Parameters
        ----------
        deep : bool, default=True
            Ignored (the estimator has no sub-estimators); kept for scikit-learn.

        Returns
        -------
        params : dict
            Parameter name -> value, for every constructor parameter.

        Examples
        --------
        >>> import cyem
        >>> params = cyem.GaussianMixture(n_components=3).get_params()
        >>> params["n_components"], params["covariance_type"]
        (3, 'full')
        """
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        """Set constructor parameters (scikit-learn protocol).

        Values are checked at the next ``fit``, not here.

        Parameters
        ----------
        **params
            Constructor parameters by name.

        Returns
        -------
        self : GaussianMixture

        Raises
        ------
        ValueError
            A name is not a constructor parameter.

        Examples
        --------
        >>> import cyem
        >>> cyem.GaussianMixture().set_params(n_components=4, tol=1e-6)
        GaussianMixture(n_components=4, tol=1e-06)
        """
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
        return v.Settings(
            n_components=v.check_int(self.n_components, "n_components", 1),
            covariance_type=v.check_choice(self.covariance_type, "covariance_type",
                                           COVARIANCE_TYPES),
            tol=v.check_tol(self.tol),
            reg_covar=v.check_real(self.reg_covar, "reg_covar", 0.0),
            max_iter=v.check_int(self.max_iter, "max_iter", 1),
            n_init=None if self.n_init is None else v.check_int(self.n_init, "n_init", 1),
            init_params=v.check_choice(self.init_params, "init_params", INIT_PARAMS),
            # scikit-learn accepts verbose=True; so do we (True == 1).
            verbose=v.check_int(int(self.verbose) if isinstance(self.verbose, bool)
                                else self.verbose, "verbose", 0),
            verbose_interval=v.check_int(self.verbose_interval, "verbose_interval", 1),
            n_threads=effective_n_threads(self.n_threads),
            warm_start=self._check_bool(self.warm_start, "warm_start"),
        )

    @staticmethod
    def _check_bool(value, name):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be a bool, got {value!r}")
        return bool(value)

    def _user_initial_values(self, K, d, covariance_type):
        """Validated weights_init / means_init / precisions_init (or None), in
        data units: weights (K,), means (K, d), and for the precisions the
        matching variances (K,) when d == 1, else covariances in
        scikit-learn's shapes."""
        weights = None if self.weights_init is None else \
            v.check_initial_weights(self.weights_init, K)
        means = None
        if self.means_init is not None:
            means = v.check_initial_means(self.means_init, K) if d == 1 else \
                v.check_initial_means_md(self.means_init, K, d)
        precisions = None
        if self.precisions_init is not None:
            if d == 1:
                precisions = variances_from_precisions(self.precisions_init, K,
                                                       covariance_type)
            else:
                precisions = v.check_initial_precisions_md(self.precisions_init, K, d,
                                                           covariance_type)
        return weights, means, precisions

    # ---- fitting ----

    def fit(self, X, y=None, sample_weight=None):
        """Estimate the model parameters with EM.

        Runs ``n_init`` initialisations, each followed by EM until the stopping
        rule ``tol`` is met or ``max_iter`` passes are done, and keeps the run
        with the highest log-likelihood.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_features)
            Training data; a 1-D array is one feature. float32 data are used
            without an up-cast copy.
        y : ignored
            Present for scikit-learn compatibility.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights; an integer weight is equivalent to repeating
            the row that many times.

        Returns
        -------
        self : GaussianMixture
            The fitted estimator.

        Warns
        -----
        ConvergenceWarning
            The best run stopped at ``max_iter``.
        DegenerateComponentWarning
            A component collapsed or lost its mass (the model stays finite).

        Examples
        --------
        >>> import numpy as np, cyem
        >>> rng = np.random.default_rng(0)
        >>> x = np.concatenate([rng.normal(-3, 1, 300), rng.normal(3, 1, 700)])
        >>> gm = cyem.GaussianMixture(n_components=2, random_state=0).fit(x)
        >>> gm.converged_, np.round(np.sort(gm.means_.ravel())).tolist()
        (True, [-3.0, 3.0])

        With weights: the rows -3 and 3, counted 300 and 700 times.

        >>> gm = cyem.GaussianMixture(n_components=1).fit([-3.0, 3.0], sample_weight=[300, 700])
        >>> round(float(gm.means_[0, 0]), 6)
        1.2
        """
        names = _feature_names(X)
        if _dask.is_dask_array(X):
            s = self._validated_settings()
            rng = v.check_random_state(self.random_state)
            model, init_model = _dask.dask_models(X, sample_weight, s, rng,
                                                  worker_threads=self.n_threads)
            self._fit_models(model, init_model, s, rng)
        else:
            self._fit(X, sample_weight)
        self._reset_feature_names(names)
        return self

    def fit_chunks(self, source, sample_weight=None, *, chunk_size=None,
                   init_sample_size=None):
        """Estimate the model parameters with EM over data read chunk by chunk.

        Every EM iteration is one pass over ``source``, adding the kernels'
        statistics of its chunks, so the result equals the in-memory fit from
        the same start while memory stays near one chunk plus the
        initialisation sample. A first pass validates the chunks, computes
        the frame and draws a uniform random sample of the rows, on which
        ``init_params`` runs (see ``cyem.chunked``).

        Parameters
        ----------
        source : array-like, callable or list of arrays
            An array, ``np.memmap`` (e.g. ``np.load(path, mmap_mode='r')``) or
            h5py/zarr dataset, read in slices of ``chunk_size`` rows; or a
            callable returning a NEW iterator over arrays of shape (n_i,) or
            (n_i, n_features) at every call (e.g. ``lambda: read_chunks(path)``);
            or a list of such arrays. A generator object is refused: EM
            reads the data once per iteration.
        sample_weight : optional
            One array of n_samples non-negative weights, or weights given
            chunk by chunk like ``source``.
        chunk_size : int, optional
            Rows per chunk of an array source, rounded down to a multiple of
            4096; by default about 16 MiB of data.
        init_sample_size : int, optional
            Rows of the uniform sample the initialisation runs on (default
            100,000, fewer for wide data).

        Returns
        -------
        self : GaussianMixture
            The fitted estimator (the attributes ``fit`` sets).

        Examples
        --------
        From the same start, reading the data in chunks gives the in-memory fit:

        >>> import numpy as np, cyem
        >>> rng = np.random.default_rng(0)
        >>> x = np.concatenate([rng.normal(-2, 1, 30_000), rng.normal(3, 1, 30_000)])
        >>> start = dict(weights_init=[0.5, 0.5], means_init=[-1.0, 1.0],
        ...              precisions_init=[1.0, 1.0], tol=1e-8)
        >>> chunks = lambda: iter(np.array_split(x, 7))
        >>> a = cyem.GaussianMixture(2, **start).fit_chunks(chunks)
        >>> b = cyem.GaussianMixture(2, **start).fit(x)
        >>> bool(np.allclose(a.means_, b.means_, rtol=1e-10))
        True
        """
        names = _feature_names(source, "source")
        s = self._validated_settings()
        rng = v.check_random_state(self.random_state)
        model, init_model = chunked.chunked_models(
            source, sample_weight, s, rng, chunk_size=chunk_size,
            init_sample_size=init_sample_size)
        self._fit_models(model, init_model, s, rng)
        self._reset_feature_names(names)
        return self

    def partial_fit(self, X, y=None, sample_weight=None, *, alpha=_online.DEFAULT_ALPHA,
                    t0=_online.DEFAULT_T0):
        """One step of online (stepwise) EM on one chunk of a stream.

        Keeps running sufficient statistics
        s_t = (1 - gamma_t) s_{t-1} + gamma_t stats(chunk_t) / W_t with
        gamma_t = (t + t0)^-alpha for chunks of equal total weight W_t (a
        chunk r times heavier than the earlier ones' mean steps as far as
        about r such chunks: sample weights are in one unit across calls),
        and sets the parameters to their M step
        after every chunk (Cappe and Moulines, 2009). The first call fixes
        the frame and starts from its chunk (``init_params``, the ``*_init``
        values, or the current fit if the estimator is fitted); a later
        ``fit`` starts a new stream. See ``cyem._online`` for the weighting
        of chunks and the choice of step sizes.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_features)
            One chunk; the first must hold at least ``n_components`` distinct rows.
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
        alpha : float in (0.5, 1], default=0.6
            Decay of the step sizes.
        t0 : float >= 0, default=2.0
            Offset of the step sizes.

        Returns
        -------
        self : GaussianMixture
            ``n_iter_`` counts the chunks seen; ``converged_`` is False;
            ``lower_bounds_`` holds the mean log-likelihood of each recent
            chunk under the parameters before its step.

        Examples
        --------
        >>> import numpy as np, cyem
        >>> rng = np.random.default_rng(0)
        >>> gm = cyem.GaussianMixture(2, random_state=0)
        >>> for _ in range(100):
        ...     labels = rng.random(2000) < 0.4
        ...     gm = gm.partial_fit(np.where(labels, rng.normal(-3, 1, 2000),
        ...                                  rng.normal(2, 1, 2000)))
        >>> np.round(np.sort(gm.means_.ravel()), 1).tolist(), gm.n_iter_
        ([-3.0, 2.0], 100)
        """
        if hasattr(self, "means_"):
            # scikit-learn's rule: the first call sets the names, later ones check them.
            self._check_feature_names(X)
            return self._stream_step(X, sample_weight, alpha, t0)
        names = _feature_names(X)
        self._stream_step(X, sample_weight, alpha, t0)
        self._reset_feature_names(names)
        return self

    def _stream_step(self, X, sample_weight, alpha, t0):
        """One online EM step (``cyem._online``) on chunk X."""
        if self.fixed is not None:
            # Online EM has its own M step on running moments.
            raise ValueError("fixed parameters are not supported by partial_fit; use "
                             "fit, fit_chunks or a dask array, or set fixed=None")
        alpha, t0 = _online.check_step_parameters(alpha, t0)
        s = self._validated_settings()
        ctype = s.covariance_type
        state = getattr(self, "_online", None)
        if state is not None and not state.owns(s, getattr(self, "means_", None)):
            state = None
        if state is None:
            x = v.check_data(X, "X")
            w = _online.stream_weights(sample_weight, x.shape[0])
            K = v.check_n_components(s.n_components, x, w)
            d = 1 if x.ndim == 1 else x.shape[1]
            state, chunk_model = _online.open_stream(x, w, s)
            fitted = hasattr(self, "means_") and self.means_.shape == (K, d)
            with single_threaded_blas(ctype, d):
                state.params = self._fitted_params(chunk_model) if fitted else \
                    starting_parameters(chunk_model, K, s.init_params,
                                        v.check_random_state(self.random_state),
                                        self._user_initial_values(K, d, ctype))
        else:
            x = v.check_data(X, "X", n_features_expected=state.model.n_features)
            w = _online.stream_weights(sample_weight, x.shape[0])
            chunk_model = state.model.chunk_model(x, w, s.n_threads)
        run = state.step(chunk_model, alpha, t0)
        warn_degenerate(run.report)
        self._set_fitted(state.model, run, ctype)
        state.fitted_means = self.means_
        self._online = state
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then return the most probable component of each sample.

        Equivalent to ``fit(X, sample_weight=sample_weight).predict(X)``.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            As in :meth:`fit`.

        Returns
        -------
        labels : ndarray of shape (n_samples,), int64
            Index of the component with the highest membership probability.

        Examples
        --------
        >>> import numpy as np, cyem
        >>> x = np.array([-5.2, -4.9, -5.1, 5.0, 4.8, 5.3])
        >>> labels = cyem.GaussianMixture(n_components=2, random_state=0).fit_predict(x)
        >>> labels.shape, bool(labels[0] == labels[1] == labels[2] != labels[3])
        ((6,), True)
        """
        if _dask.is_dask_array(X):
            return self.fit(X, sample_weight=sample_weight).predict(X)
        names = _feature_names(X)
        x = self._fit(X, sample_weight)
        self._reset_feature_names(names)
        return self._evaluate(x, labels=True)["labels"]

    def _fit(self, X, sample_weight):
        s = self._validated_settings()
        x = v.check_data(X, "X")
        weight = v.check_sample_weight(sample_weight, x.shape[0])
        K = v.check_n_components(s.n_components, x, weight)
        ctype = s.covariance_type
        v.warn_if_single_value(x, weight, K)
        v.warn_if_reg_covar_dominates(x, s.reg_covar)
        rng = v.check_random_state(self.random_state)
        # The frame must also cover the user's starting means (see cyem._frame).
        start_means = self._user_initial_values(K, 1 if x.ndim == 1 else x.shape[1],
                                                ctype)[1]
        model = make_model(x, weight, ctype, s.reg_covar, s.n_threads,
                           start_means=start_means)
        self._fit_models(model, model, s, rng)
        return x

    def _fit_models(self, model, init_model, s, rng):
        """The EM runs of every batch fit (in memory, fit_chunks, dask): the
        restart loop (``cyem._restarts``) on what this estimator asks for,
        then its warnings and fitted attributes."""
        K, ctype, d = s.n_components, s.covariance_type, model.n_features
        warm = None
        if s.warm_start and hasattr(self, "converged_"):
            if self.means_.shape[0] != K or self.n_features_in_ != d:
                raise ValueError(
                    f"warm_start: the data ({d} features) and n_components={K} must "
                    f"match the fitted model ({self.n_features_in_} features, "
                    f"{self.means_.shape[0]} components)")
            warm = self._fitted_data_units()
        fixed = None if self.fixed is None else self._validated_fixed(K, d, ctype)
        best = fit_model(model, init_model, s, rng, user=self._user_initial_values(K, d, ctype),
                         fixed=fixed, warm=warm)
        warn_degenerate(best.report)
        if not best.converged:
            warnings.warn(
                "Best performing initialization did not converge. Try different "
                "init parameters, or increase max_iter, tol, or check for "
                "degenerate data.", ConvergenceWarning, stacklevel=external_stacklevel())
        self._set_fitted(model, best, ctype)
        self.__dict__.pop("_online", None)       # a new fit ends any stream
        return self

    def _validated_fixed(self, K, d, covariance_type):
        """The ``fixed`` argument, validated, as keyword arguments of the
        model's ``hold_fixed`` (data units)."""
        fixed = self.fixed
        if not isinstance(fixed, dict):
            raise TypeError(f"fixed must be None or a dict, got {type(fixed).__name__}")
        unknown = set(fixed) - {"weights", "means", "covariances"}
        if unknown:
            raise ValueError(f"fixed has unknown key(s) {sorted(unknown)}; allowed: "
                             "'weights', 'means', 'covariances'")
        out = {}
        if "weights" in fixed:
            out["weights"] = v.check_initial_weights(fixed["weights"], K, "fixed['weights']")
        if "means" in fixed:
            out["means"] = (v.check_initial_means(fixed["means"], K, "fixed['means']")
                            if d == 1 else
                            v.check_initial_means_md(fixed["means"], K, d, "fixed['means']"))
        if "covariances" in fixed:
            name = "fixed['covariances']"
            if d == 1:
                # Covariances in scikit-learn's shape, or flat: as precisions_init.
                inverse = 1.0 / v.check_positive_vector(
                    fixed["covariances"], 1 if covariance_type == "tied" else K, name,
                    {"full": [(K, 1, 1), (K,)], "diag": [(K, 1), (K,)],
                     "spherical": [(K,)], "tied": [(1, 1), (1,), ()]}[covariance_type])
                variances = variances_from_precisions(inverse, K, covariance_type)
                out["variances"] = variances
            else:
                # Same shapes and checks (symmetric, positive definite) as precisions.
                v.check_initial_precisions_md(fixed["covariances"], K, d, covariance_type,
                                              name)
                out["covariances"] = np.asarray(fixed["covariances"], dtype=np.float64)
        return out

    def _fitted_data_units(self):
        """The fitted parameters as the arguments of a model's
        ``from_data_units`` (a warm start)."""
        if self.n_features_in_ == 1:
            return self.weights_, self.means_, self.stds_ ** 2
        return self.weights_, self.means_, self.covariances_, self.precisions_cholesky_

    def _fitted_params(self, model):
        """The fitted attributes, in ``model``'s frame."""
        return model.from_data_units(*self._fitted_data_units())

    def _fitted(self):
        """The fitted parameters for ``cyem._evaluate``."""
        return FittedParams(self.covariance_type, self.weights_,
                            np.asarray(self.means_, dtype=np.float64),
                            self.covariances_, self.precisions_cholesky_)

    def _set_fitted(self, model, run, ctype):
        if model.n_features == 1:
            weights, means, variances = model.to_data_units(run.params)
            self.covariances_ = covariances_for(variances, ctype)
            self.precisions_ = 1.0 / self.covariances_
            self.precisions_cholesky_ = np.sqrt(self.precisions_)
            self.stds_ = np.sqrt(variances)
        else:
            weights, means, cov, prec_chol = model.to_data_units(run.params)
            self.covariances_ = cov
            self.precisions_cholesky_ = prec_chol
            self.precisions_ = md.precisions_from_cholesky(prec_chol, ctype)
            if hasattr(self, "stds_"):
                del self.stds_
        self.weights_ = weights
        self.means_ = means
        self.converged_ = bool(run.converged)
        self.n_iter_ = run.n_iter
        self.lower_bound_ = run.lower_bound
        self.lower_bounds_ = list(run.lower_bounds)
        self.n_features_in_ = model.n_features

    # ---- using a fitted model ----

    def _check_fitted(self):
        if not hasattr(self, "means_"):
            raise not_fitted_error(self)

    # ---- column names (scikit-learn's feature_names_in_) ----

    def _reset_feature_names(self, names):
        """After a fit: keep the data's column names, or forget earlier ones."""
        if names is None:
            self.__dict__.pop("feature_names_in_", None)
        else:
            self.feature_names_in_ = names

    def _check_feature_names(self, X):
        """X's column names against those seen in fit, as scikit-learn checks
        them: ValueError when both have names and they differ (order
        included), a warning when only one of them has names."""
        fitted = getattr(self, "feature_names_in_", None)
        given = _feature_names(X)
        if fitted is None and given is None:
            return
        if fitted is None or given is None:
            cls = type(self).__name__
            warnings.warn(
                f"X has feature names, but {cls} was fitted without feature names"
                if fitted is None else
                f"X does not have valid feature names, but {cls} was fitted with "
                "feature names", UserWarning, stacklevel=external_stacklevel())
        elif len(fitted) != len(given) or np.any(fitted != given):
            raise ValueError(_names_mismatch(list(fitted), list(given)))

    def _check_input(self, X):
        """Before the fitted model is used on X: fitted, then X's column names
        (before its shape, so that a renamed column is reported as such)."""
        self._check_fitted()
        self._check_feature_names(X)

    def _evaluate(self, x, log_lik=False, resp=False, labels=False):
        """The evaluation kernel of the fitted model on validated data
        (``cyem._evaluate.evaluate``)."""
        # small inputs on one thread, as in fit (cyem._threads.threads_for)
        n_threads = threads_for(x.shape[0], self.n_features_in_, self.weights_.shape[0],
                                effective_n_threads(self.n_threads), self.covariance_type)
        return evaluate(self._fitted(), x, n_threads, log_lik=log_lik, resp=resp,
                        labels=labels)

    def _validated_input(self, X):
        self._check_input(X)
        return v.check_data(X, "X", n_features_expected=self.n_features_in_)

    def score_samples(self, X):
        """Log-likelihood log sum_k w_k g(x_i; k) of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            The log of the mixture density at each sample.

        Examples
        --------
        The same number by hand, from the fitted weights, means and standard
        deviations:

        >>> import numpy as np, cyem
        >>> rng = np.random.default_rng(0)
        >>> x = np.concatenate([rng.normal(-4, 1, 500), rng.normal(4, 1, 500)])
        >>> gm = cyem.GaussianMixture(n_components=2, random_state=0).fit(x)
        >>> w, mu, sd = gm.weights_, gm.means_.ravel(), gm.stds_
        >>> density = np.sum(w * np.exp(-0.5 * ((0.5 - mu) / sd) ** 2) / (sd * np.sqrt(2 * np.pi)))
        >>> bool(np.isclose(gm.score_samples([0.5])[0], np.log(density)))
        True
        """
        if _dask.is_dask_array(X):
            self._check_input(X)
            return _dask.score_samples(self._fitted(), self.n_threads, X)
        return self._evaluate(self._validated_input(X), log_lik=True)["log_lik"]

    def score(self, X, y=None, sample_weight=None):
        """Mean log-likelihood of the samples (weighted by ``sample_weight``).

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        score : float
            ``score_samples(X)`` averaged, with weights if given.

        Examples
        --------
        >>> import numpy as np, cyem
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=1000)
        >>> gm = cyem.GaussianMixture(n_components=1).fit(x)
        >>> bool(np.isclose(gm.score(x), gm.score_samples(x).mean()))
        True
        """
        if _dask.is_dask_array(X):
            # One number, as for NumPy input: computed here (dask's own
            # reductions stay lazy, so f"{score:.3f}" would fail).
            self._check_input(X)
            return float(_dask.score(self._fitted(), self.n_threads, X, sample_weight))
        log_lik = self.score_samples(X)
        weight = v.check_sample_weight(sample_weight, log_lik.shape[0])
        if weight is None:
            return float(np.mean(log_lik))
        return float(np.dot(weight, log_lik) / weight.sum())

    def predict(self, X):
        """Most probable component of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,), int64
            Index of the component with the highest membership probability (the
            first one in case of a tie).

        Examples
        --------
        >>> import numpy as np, cyem
        >>> rng = np.random.default_rng(0)
        >>> x = np.concatenate([rng.normal(-4, 1, 500), rng.normal(4, 1, 500)])
        >>> gm = cyem.GaussianMixture(n_components=2, random_state=0).fit(x)
        >>> low = int(np.argmin(gm.means_.ravel()))
        >>> (gm.predict([-4.0, 4.0]) == low).tolist()
        [True, False]
        """
        if _dask.is_dask_array(X):
            self._check_input(X)
            return _dask.predict(self._fitted(), self.n_threads, X)
        return self._evaluate(self._validated_input(X), labels=True)["labels"]

    def predict_proba(self, X):
        """Membership probabilities p(k | x_i).

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_features)

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Each row sums to 1.

        Examples
        --------
        >>> import numpy as np, cyem
        >>> rng = np.random.default_rng(0)
        >>> x = np.concatenate([rng.normal(-4, 1, 500), rng.normal(4, 1, 500)])
        >>> gm = cyem.GaussianMixture(n_components=2, random_state=0).fit(x)
        >>> proba = gm.predict_proba([-4.0, 0.0, 4.0])
        >>> proba.shape, np.allclose(proba.sum(axis=1), 1.0)
        ((3, 2), True)
        """
        if _dask.is_dask_array(X):
            self._check_input(X)
            return _dask.predict_proba(self._fitted(), self.n_threads, X)
        return self._evaluate(self._validated_input(X), resp=True)["resp"]

    def sample(self, n_samples=1):
        """Draw samples from the fitted mixture.

        Uses ``random_state``: a model with an integer seed draws the same
        samples at every call.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to draw.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            The component each sample was drawn from (grouped by component, as
            in scikit-learn).

        Examples
        --------
        >>> import numpy as np, cyem
        >>> rng = np.random.default_rng(0)
        >>> gm = cyem.GaussianMixture(n_components=2, random_state=0).fit(
        ...     np.concatenate([rng.normal(-4, 1, 500), rng.normal(4, 1, 500)]))
        >>> X, y = gm.sample(5)
        >>> X.shape, y.shape
        ((5, 1), (5,))
        """
        self._check_fitted()
        n_samples = v.check_int(n_samples, "n_samples", 1)
        rng = v.check_random_state(self.random_state)
        K, d = self.means_.shape
        counts = rng.multinomial(n_samples, self.weights_ / self.weights_.sum())
        labels = np.repeat(np.arange(K), counts)
        noise = rng.standard_normal((n_samples, d))
        cov = np.asarray(self.covariances_)
        ctype = self.covariance_type
        if d == 1:
            return self.means_[labels] + noise * self.stds_[labels, np.newaxis], labels
        if ctype in ("full", "tied"):
            # precision = U U^T with U = precisions_cholesky_ (upper), so
            # U^{-T} z has covariance U^{-T} U^{-1} = covariances_. Solving with
            # the fit's own factor also works where np.linalg.cholesky of a
            # covariance repaired to barely positive definite would fail.
            factors = np.asarray(self.precisions_cholesky_)
            factors = factors if ctype == "full" else factors[np.newaxis]
            idx = labels if ctype == "full" else np.zeros_like(labels)
            X = self.means_[labels].astype(np.float64, copy=True)
            for k in range(factors.shape[0]):
                rows = idx == k
                X[rows] += solve_triangular(factors[k], noise[rows].T, trans="T",
                                            lower=False).T
        else:
            scale = np.sqrt(cov if ctype == "diag" else cov[:, np.newaxis])
            X = self.means_[labels] + noise * scale[labels]
        return X, labels

    def save(self, path):
        """Write the fitted model to ``path`` in cyem's versioned JSON format.

        The same as ``cyem.save(self, path)``; :func:`cyem.load` reads it back
        exactly (every float round-trips to the same bits).

        Parameters
        ----------
        path : str or os.PathLike

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np, cyem
        >>> gm = cyem.GaussianMixture(n_components=2, random_state=0).fit(
        ...     np.random.default_rng(0).normal(size=500))
        >>> path = os.path.join(tempfile.mkdtemp(), "model.json")
        >>> gm.save(path)
        >>> np.array_equal(cyem.load(path).means_, gm.means_)
        True
        """
        _persist.save(self, path)

    def _n_parameters(self):
        """Number of free parameters: scikit-learn's ``_n_parameters``, less
        the weights (K - 1), means (K d) or covariances held by ``fixed``,
        which the fit did not estimate."""
        self._check_fitted()
        K, d = self.weights_.shape[0], self.n_features_in_
        free = {"weights": K - 1, "means": K * d}
        free["covariances"] = md.n_parameters(K, d, self.covariance_type) - sum(free.values())
        held = self.fixed or {}
        return sum(count for name, count in free.items() if name not in held)

    def bic(self, X, sample_weight=None):
        """Bayesian information criterion, lower is better (scikit-learn's sign).

        ``-2 log L + p log n``, with log L the total log-likelihood of ``X``, p
        the number of free parameters (those held by ``fixed`` do not count)
        and n the number of samples (the total sample weight when
        ``sample_weight`` is given).

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_features)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        bic : float

        Examples
        --------
        Two well-separated groups: the two-component model has the lower BIC.

        >>> import numpy as np, cyem
        >>> rng = np.random.default_rng(0)
        >>> x = np.concatenate([rng.normal(-4, 1, 500), rng.normal(4, 1, 500)])
        >>> bic = [cyem.GaussianMixture(k, random_state=0).fit(x).bic(x) for k in (1, 2)]
        >>> bool(bic[1] < bic[0])
        True
        """
        log_lik, n = self._total_log_lik(X, sample_weight)
        return -2 * log_lik + self._n_parameters() * np.log(n)

    def aic(self, X, sample_weight=None):
        """Akaike information criterion, lower is better: ``-2 log L + 2 p``.

        p counts the free parameters, as in :meth:`bic`.

        Parameters
        ----------
        X : array-like of shape (n_samples,) or (n_samples, n_features)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        aic : float

        Examples
        --------
        >>> import numpy as np, cyem
        >>> x = np.random.default_rng(0).normal(size=1000)
        >>> gm = cyem.GaussianMixture(n_components=1).fit(x)
        >>> p = 2                                     # one mean, one variance
        >>> bool(np.isclose(gm.aic(x), -2 * gm.score(x) * x.size + 2 * p))
        True
        """
        log_lik, _ = self._total_log_lik(X, sample_weight)
        return -2 * log_lik + 2 * self._n_parameters()

    def _total_log_lik(self, X, sample_weight):
        log_lik = self.score_samples(X)
        weight = v.check_sample_weight(sample_weight, log_lik.shape[0])
        if weight is None:
            return float(log_lik.sum()), log_lik.shape[0]
        return float(np.dot(weight, log_lik)), float(weight.sum())
