"""Model selection: fit a grid of mixtures concurrently and rank them by BIC,
AIC or ICL, flagging spurious (degenerate) maxima.

>>> import cyem
>>> from cyem.datasets import load_galaxies
>>> result = cyem.select(load_galaxies(), n_components=range(1, 10),
...                      covariance_types=("tied", "full"), random_state=0)
>>> result.best_params                                     # doctest: +SKIP
{'n_components': 3, 'covariance_type': 'full'}

Sign conventions
----------------
Every criterion in the table is on scikit-learn's scale, where **lower is
better** (the same numbers as ``GaussianMixture.bic`` / ``.aic``)::

    bic = -2 log L + p log n
    aic = -2 log L + 2 p
    icl = bic + 2 E,      E = -sum_i v_i sum_k z_ik log z_ik

with log L the total (sample-weighted) log-likelihood, p the number of free
parameters, n the number of samples (the total sample weight when
``sample_weight`` is given), z_ik = p(k | x_i) the memberships and v_i the
sample weights. R's mclust reports the same quantities with the opposite sign,
**higher is better**: ``BIC_mclust = 2 log L - p log n = -bic``, and likewise
its ICL. mclust's ICL uses the hard (MAP) memberships, sum_i log max_k z_ik,
instead of the entropy E; E is never smaller, so cyem's ICL penalises
overlapping components slightly more.

In one dimension ``covariance_type='tied'`` is mclust's model "E" (one
variance for all components) and ``'full'`` (as ``'diag'`` and
``'spherical'``) is mclust's "V" (one variance per component).

Spurious maxima
---------------
The likelihood of a Gaussian mixture is unbounded: a component squeezed onto
one or a few points has a vanishing variance and an arbitrarily high density
there. Careful optimisation (many restarts) finds such maxima. A fit is flagged
``degenerate`` when some component k has

* an expected count n_k = w_k n below ``min_component_size`` (default 2), or
* a standard deviation below ``min_std_ratio`` (default 1e-3) times the
  data's: sqrt of the smallest eigenvalue of D^-1/2 Sigma_k D^-1/2, where D is
  the diagonal of the data's (weighted) variances; in one dimension simply
  sigma_k / sd(X).

Copies of smaller fits
----------------------
EM cannot separate two components that start (or fall) onto the same mean
and covariance, nor revive one whose weight has underflowed: such a K-component
fit is a smaller model with its weight split, and its likelihood is that
model's. The table's ``n_distinct`` counts the components left after dropping
those with an expected count below ``EMPTY_COUNT`` and merging pairs whose
Bhattacharyya distance is below ``DUPLICATE_DISTANCE``; ``copy`` is True when
it is below K (the text table says "copy of K=n_distinct").

With ``exclude_degenerate=True`` (default) each candidate keeps its best
*non-degenerate* restart, and a degenerate candidate never wins the
selection. A second, stronger guard is ``reg_covar_relative``: it fits every
candidate with ``reg_covar = reg_covar_relative * var(X)`` (the mean of the
feature variances when d > 1), which bounds the likelihood.
"""

import math
import warnings
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np

from ._init import INIT_PARAMS
from ._params import COVARIANCE_TYPES
from ._threads import effective_n_threads
from ._validation import check_sample_weight
from .exceptions import ConvergenceWarning, DegenerateComponentWarning, external_stacklevel
from .mixture import GaussianMixture

__all__ = ["SelectionResult", "full_covariances", "select"]

CRITERIA = ("bic", "aic", "icl")

#: Initialisation strategies tried for every candidate by default: the
#: deterministic quantile start (mclust-like) plus two random ones.
DEFAULT_INIT_PARAMS = ("quantile", "kmeans", "random_from_data")

#: Strategies that ignore the random state: run once, whatever ``n_init``.
DETERMINISTIC_INIT_PARAMS = frozenset({"quantile"})

#: Rows per ``predict_proba`` call when summing the membership entropy, so
#: that no n x K array is built for large n (64K rows x K x 8 bytes).
ENTROPY_CHUNK_ROWS = 65536

#: Parameters ``select`` sets itself for every fit.
_RESERVED = frozenset({"n_components", "covariance_type", "n_init", "init_params",
                       "random_state", "n_threads"})

TABLE_COLUMNS = ("n_components", "covariance_type", "log_likelihood", "n_parameters",
                 "bic", "aic", "icl", "converged", "n_iter", "init_params",
                 "min_count", "min_std_ratio", "degenerate", "degenerate_runs",
                 "n_distinct", "copy", "best")

#: A component with a smaller expected count (in points, or units of sample
#: weight) holds no data: it is empty.
EMPTY_COUNT = 1e-3

#: Two components closer than this (Bhattacharyya distance) are one component
#: split in two: a mean difference of ~0.03 standard deviations, or standard
#: deviations ~3% apart, when the other agrees.
DUPLICATE_DISTANCE = 1e-4


def full_covariances(model):
    """A fitted mixture's covariances as full matrices, whatever its type.

    Parameters
    ----------
    model : fitted mixture with ``means_`` of shape (K, d) (or (K,)),
        ``covariances_`` in scikit-learn's shape for ``covariance_type``
        ('full' (K, d, d), 'tied' (d, d), 'diag' (K, d), 'spherical' (K,)).

    Returns
    -------
    covariances : ndarray of shape (K, d, d), float64

    Examples
    --------
    >>> import numpy as np, cyem
    >>> from cyem.selection import full_covariances
    >>> X = np.random.default_rng(0).normal(size=(300, 3))
    >>> gm = cyem.GaussianMixture(2, covariance_type="spherical", random_state=0).fit(X)
    >>> gm.covariances_.shape, full_covariances(gm).shape
    ((2,), (2, 3, 3))
    """
    means = np.asarray(model.means_, dtype=float)
    K = means.shape[0]
    d = 1 if means.ndim == 1 else means.shape[1]
    cov = np.asarray(model.covariances_, dtype=float)
    ctype = model.covariance_type
    if ctype == "full":
        return cov.reshape(K, d, d).copy()
    if ctype == "tied":
        return np.broadcast_to(cov.reshape(d, d), (K, d, d)).copy()
    if ctype == "diag":
        return np.einsum("kj,ij->kij", cov.reshape(K, d), np.eye(d))
    if ctype == "spherical":
        return cov.reshape(K, 1, 1) * np.eye(d)
    raise ValueError(f"unknown covariance_type {ctype!r}")


@dataclass
class SelectionResult:
    """What :func:`select` returns.

    Attributes
    ----------
    criterion : str
        'bic', 'aic' or 'icl': the column that chose ``best_model``.
    records : list of dict
        One dict per candidate, in sweep order (``n_components`` outer,
        ``covariance_types`` inner), with the keys of ``TABLE_COLUMNS``.
    models : dict
        ``(n_components, covariance_type) -> fitted GaussianMixture``, the fit
        each row reports.
    best_index : int
        Row of the chosen candidate in ``records``.

    Examples
    --------
    >>> import cyem
    >>> from cyem.datasets import load_galaxies
    >>> result = cyem.select(load_galaxies(), n_components=range(1, 4),
    ...                      covariance_types="tied", random_state=0)
    >>> result.criterion, len(result.records), sorted(result.models)[0]
    ('bic', 3, (1, 'tied'))
    """

    criterion: str
    records: list
    models: dict
    best_index: int
    settings: dict = field(default_factory=dict)

    @property
    def table(self):
        """The candidates as a pandas DataFrame (a list of dicts, ``records``,
        when pandas is not installed). Columns:

        n_components, covariance_type
        log_likelihood : total (sample-weighted) log-likelihood log L
        n_parameters : free parameters p
        bic, aic, icl : criteria, lower is better (see the module notes)
        converged, n_iter : of the reported fit
        init_params : the initialisation strategy of the reported fit
        min_count : smallest expected count w_k n of a component
        min_std_ratio : smallest component standard deviation / data's
        degenerate : the reported fit has a spurious component
        degenerate_runs : restarts of this candidate that ended degenerate
        n_distinct : components that are neither empty nor a near-duplicate of
        another (see the module notes)
        copy : n_distinct < n_components: the fit is a copy of a smaller one
        best : the chosen candidate

        Examples
        --------
        >>> import cyem
        >>> from cyem.datasets import load_galaxies
        >>> result = cyem.select(load_galaxies(), n_components=[1, 2],
        ...                      covariance_types="full", random_state=0)
        >>> rows = result.records if isinstance(result.table, list) else result.table.to_dict("records")
        >>> [row["n_components"] for row in rows]
        [1, 2]
        """
        try:
            import pandas as pd
        except ImportError:
            return [dict(r) for r in self.records]
        return pd.DataFrame.from_records(self.records, columns=list(TABLE_COLUMNS))

    @property
    def best_model(self):
        """The fitted estimator of the chosen candidate.

        Examples
        --------
        >>> import cyem
        >>> from cyem.datasets import load_galaxies
        >>> result = cyem.select(load_galaxies(), n_components=range(1, 4),
        ...                      covariance_types="full", random_state=0)
        >>> type(result.best_model).__name__, result.best_model.converged_
        ('GaussianMixture', True)
        """
        row = self.records[self.best_index]
        return self.models[(row["n_components"], row["covariance_type"])]

    @property
    def best_params(self):
        """``{'n_components': K, 'covariance_type': ...}`` of the chosen candidate.

        Examples
        --------
        >>> import cyem
        >>> from cyem.datasets import load_galaxies
        >>> result = cyem.select(load_galaxies(), n_components=[1], covariance_types="full")
        >>> result.best_params
        {'n_components': 1, 'covariance_type': 'full'}
        """
        row = self.records[self.best_index]
        return {"n_components": row["n_components"],
                "covariance_type": row["covariance_type"]}

    def format_table(self):
        """The table as aligned text, the chosen row marked ``<- best``.

        Examples
        --------
        >>> import cyem
        >>> from cyem.datasets import load_galaxies
        >>> result = cyem.select(load_galaxies(), n_components=[1, 2],
        ...                      covariance_types="full", random_state=0)
        >>> text = result.format_table()
        >>> text.count("<- best")
        1
        """
        header = ["K", "covariance", "log-lik", "params", "BIC", "AIC", "ICL", "conv",
                  "iter", "min n_k", "min sd", "flags"]
        rows = []
        for r in self.records:
            flags = []
            if r["degenerate"]:
                flags.append("degenerate")
            if r["copy"]:
                flags.append(f"copy of K={r['n_distinct']}")
            if r["best"]:
                flags.append("<- best")
            rows.append([
                f"{r['n_components']}", r["covariance_type"],
                f"{r['log_likelihood']:.3f}", f"{r['n_parameters']}", f"{r['bic']:.3f}",
                f"{r['aic']:.3f}", f"{r['icl']:.3f}", "yes" if r["converged"] else "NO",
                f"{r['n_iter']}", f"{r['min_count']:.2f}", f"{r['min_std_ratio']:.2g}",
                " ".join(flags)])
        return _aligned_table(header, rows, "><>>>>>>>>><")

    def __str__(self):
        return self.format_table()


def _aligned_table(header, rows, align):
    """Text table: each column as wide as its widest cell, two spaces apart,
    so no number, however long, runs into its neighbour (1,000,000 rows once
    merged 'iter' with 'min n_k'). ``align`` has one '>' (right) or '<' (left)
    per column; a rule of dashes follows the header.

    >>> print(_aligned_table(["K", "n"], [["1", "1000000.00"], ["2", "3.00"]], ">>"))
    K           n
    -------------
    1  1000000.00
    2        3.00
    """
    widths = [max(len(cells[j]) for cells in [header, *rows]) for j in range(len(header))]

    def line(cells):
        return "  ".join(f"{cell:{a}{w}}" for cell, a, w in zip(cells, align, widths)) \
            .rstrip()

    head = line(header)
    return "\n".join([head, "-" * len(head), *map(line, rows)])


def _as_tuple(value, name, choices=None):
    items = (value,) if isinstance(value, str) else tuple(value)
    if not items:
        raise ValueError(f"{name} is empty")
    if choices is not None:
        for item in items:
            if not isinstance(item, str) or item not in choices:
                options = ", ".join(repr(c) for c in choices)
                raise ValueError(f"{name} must contain only {options}; got {item!r}")
    return tuple(dict.fromkeys(items))            # drop repeats, keep order


def _is_int(value):
    return isinstance(value, (Integral, np.integer)) and not isinstance(value, bool)


def _check_n_components(n_components):
    values = (n_components,) if _is_int(n_components) else tuple(n_components)
    if not values:
        raise ValueError("n_components is empty")
    for k in values:
        if not _is_int(k) or k < 1:
            raise ValueError(f"n_components must contain only integers >= 1; got {k!r}")
    return tuple(dict.fromkeys(int(k) for k in values))


def _check_positive_real(value, name, allow_zero=True):
    if isinstance(value, bool) or not isinstance(value, Real) \
            or not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}; got {value!r}")
    return float(value)


def _entropy_seed(random_state):
    """Entropy for the SeedSequence that seeds every restart."""
    if random_state is None:
        return None
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**63))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if _is_int(random_state) and random_state >= 0:
        return int(random_state)
    raise ValueError("random_state must be None, a non-negative int, a numpy Generator "
                     f"or RandomState; got {random_state!r}")


def _as_data_array(X):
    """X as an array (converted once, not by every fit), with basic checks;
    the estimator validates the rest (finiteness, n_features)."""
    arr = np.asarray(X)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"X must contain numbers, got dtype {arr.dtype}")
    if arr.ndim not in (1, 2) or arr.shape[0] == 0:
        raise ValueError(f"X must be a non-empty 1-D or 2-D array, got shape {arr.shape}")
    return arr


def _data_moments(arr, weight):
    """(n, total weight, per-feature variances) of the data, float64."""
    data = arr.reshape(arr.shape[0], -1)
    n = data.shape[0]
    total = float(n) if weight is None else float(weight.sum())
    w = np.ones(n) if weight is None else weight
    mean = (w @ data) / total
    variances = np.empty(data.shape[1])
    for j in range(data.shape[1]):            # one column at a time: O(n) memory
        variances[j] = w @ (data[:, j] - mean[j]) ** 2 / total
    return n, total, variances


def _component_diagnostics(model, total_weight, data_variances):
    """(smallest expected count, smallest relative standard deviation)."""
    counts = np.asarray(model.weights_, dtype=float) * total_weight
    scale = 1.0 / np.sqrt(np.maximum(data_variances, np.finfo(float).tiny))
    standardized = full_covariances(model) * np.outer(scale, scale)
    smallest_eig = np.linalg.eigvalsh(standardized).min(axis=1)
    return float(counts.min()), float(np.sqrt(max(smallest_eig.min(), 0.0)))


def _n_distinct_components(model, total_weight):
    """Components that are not empty and not near-duplicates of another."""
    counts = np.asarray(model.weights_, dtype=float) * total_weight
    covs = full_covariances(model)
    means = np.asarray(model.means_, dtype=float).reshape(covs.shape[0], -1)
    alive = [k for k in range(len(counts)) if counts[k] >= EMPTY_COUNT]
    # Merge near-duplicates transitively (union-find over the pairs).
    root = {k: k for k in alive}

    def find(k):
        while root[k] != k:
            k = root[k]
        return k

    for i, j in ((i, j) for a, i in enumerate(alive) for j in alive[a + 1:]):
        if _bhattacharyya(means[i], covs[i], means[j], covs[j]) < DUPLICATE_DISTANCE:
            root[find(j)] = find(i)
    return len({find(k) for k in alive})


def _bhattacharyya(mean_a, cov_a, mean_b, cov_b):
    """Bhattacharyya distance between two Gaussians (0 when they are equal)."""
    cov = 0.5 * (cov_a + cov_b)
    diff = mean_a - mean_b
    logdet = np.linalg.slogdet(cov)[1]
    logdet_a, logdet_b = np.linalg.slogdet(cov_a)[1], np.linalg.slogdet(cov_b)[1]
    return float(0.125 * diff @ np.linalg.solve(cov, diff)
                 + 0.5 * (logdet - 0.5 * (logdet_a + logdet_b)))


def _total_log_likelihood(model, X, weight):
    log_lik = model.score_samples(X)
    return float(log_lik.sum() if weight is None else weight @ log_lik)


def _membership_entropy(model, X, weight, chunk_rows=ENTROPY_CHUNK_ROWS):
    """E = -sum_i v_i sum_k z_ik log z_ik, in slices of ``chunk_rows`` rows."""
    n = np.shape(X)[0]
    entropy = 0.0
    for start in range(0, n, chunk_rows):
        stop = min(start + chunk_rows, n)
        resp = model.predict_proba(X[start:stop])
        log_resp = np.log(resp, out=np.zeros_like(resp), where=resp > 0)
        per_sample = -(resp * log_resp).sum(axis=1)
        entropy += float(per_sample.sum() if weight is None
                         else weight[start:stop] @ per_sample)
    return entropy


def _fit_one(X, sample_weight, weight, params, total_weight, data_variances, limits):
    """One restart: fit, then what the reduction needs (runs in a worker thread)."""
    model = GaussianMixture(**params).fit(X, sample_weight=sample_weight)
    min_count, min_std_ratio = _component_diagnostics(model, total_weight, data_variances)
    return {
        "model": model,
        "log_likelihood": _total_log_likelihood(model, X, weight),
        "min_count": min_count,
        "min_std_ratio": min_std_ratio,
        "degenerate": min_count < limits[0] or min_std_ratio < limits[1],
        "n_distinct": _n_distinct_components(model, total_weight),
    }


def _run_all(executor, function, tasks, progress):
    """Submit every task, report progress, fail fast on the first error."""
    futures = [executor.submit(function, *task) for task in tasks]
    done_count = 0
    pending = set(futures)
    while pending:
        done, pending = wait(pending, return_when=FIRST_EXCEPTION)
        for future in done:
            if future.exception() is not None:
                for other in pending:
                    other.cancel()
                raise future.exception()
        done_count += len(done)
        if progress is not None:
            progress(done_count, len(futures))
    return [f.result() for f in futures]


def select(X, n_components=range(1, 10), covariance_types=("full", "tied"),
           criterion="bic", *, init_params=DEFAULT_INIT_PARAMS, n_init=5,
           random_state=None, n_jobs=None, n_threads=None, sample_weight=None,
           tol="auto", max_iter=1000, min_component_size=2.0, min_std_ratio=1e-3,
           reg_covar_relative=None, exclude_degenerate=True, progress=None,
           **estimator_kwargs):
    """Fit a mixture for every (n_components, covariance_type) and choose one.

    Every restart of every candidate is an independent task on a thread pool:
    the kernels release the GIL, so the fits run in parallel. Each candidate
    keeps its restart with the highest log-likelihood (the highest
    non-degenerate one if ``exclude_degenerate``); the candidate with the
    lowest criterion wins. Results do not depend on ``n_jobs`` or
    ``n_threads``: restarts are seeded from ``random_state`` in a fixed order.

    Parameters
    ----------
    X : array-like of shape (n_samples,) or (n_samples, n_features)
    n_components : int or iterable of int, default=range(1, 10)
    covariance_types : str or iterable of str, default=('full', 'tied')
        Among 'full', 'tied', 'diag', 'spherical'. In one dimension 'tied' is
        mclust's "E" model and 'full' its "V".
    criterion : {'bic', 'aic', 'icl'}, default='bic'
        The column to minimise; all three are always computed (lower is
        better, scikit-learn's sign; mclust's is the opposite, see the module
        notes).
    init_params : str or iterable of str, default=('quantile', 'kmeans', 'random_from_data')
        Initialisation strategies tried for every candidate, each ``n_init``
        times (the deterministic 'quantile' once).
    n_init : int, default=5
        Restarts per random strategy.
    random_state : None, int, numpy Generator or RandomState
        Seeds every restart (reproducible with an int).
    n_jobs : int or None, default=None
        Fits run concurrently; None (or -1) uses every usable core.
    n_threads : int or None, default=None
        Kernel threads per fit; None means 1 when ``n_jobs`` > 1 (the
        parallelism is across fits) and every usable core otherwise. The
        returned models are set to use ``n_threads`` (None: all cores).
    sample_weight : array-like of shape (n_samples,), optional
        Then n in the BIC is the total weight.
    tol : 'auto' or float, default='auto'
        Stopping rule of each fit, as in :class:`GaussianMixture`: 'auto' runs
        accelerated EM to the optimum of each start, so that log-likelihoods
        are comparable across candidates; a number is scikit-learn's rule.
    max_iter : int, default=1000
    min_component_size : float, default=2.0
        A fit with an expected component count w_k n below this is degenerate.
    min_std_ratio : float, default=1e-3
        A fit with a component standard deviation below this times the data's
        is degenerate (see the module notes for d > 1).
    reg_covar_relative : float, optional
        If given, every fit uses ``reg_covar = reg_covar_relative * var(X)``
        (mean feature variance for d > 1): a variance floor on the data's
        scale that keeps the likelihood bounded. Exclusive with ``reg_covar``.
    exclude_degenerate : bool, default=True
        Prefer non-degenerate restarts, and never choose a degenerate
        candidate (unless all are: then a DegenerateComponentWarning).
    progress : callable, optional
        Called as ``progress(n_done, n_total)`` from the calling thread after
        each batch of finished fits (the CLI's progress bar uses it).
    **estimator_kwargs
        Other :class:`cyem.GaussianMixture` parameters (``reg_covar``,
        ``weights_init``, ...), passed to every fit.

    Returns
    -------
    SelectionResult
        ``.table`` (pandas DataFrame, or list of dicts without pandas),
        ``.best_model``, ``.best_params``, ``.records``, ``.models``.

    Examples
    --------
    The galaxies data (82 velocities), as in mclust's vignette:

    >>> import cyem
    >>> from cyem.datasets import load_galaxies
    >>> result = cyem.select(load_galaxies(), n_components=range(1, 6),
    ...                      covariance_types=("tied", "full"), random_state=0)
    >>> len(result.records), sorted(result.best_params)
    (10, ['covariance_type', 'n_components'])
    >>> result.best_model.n_components == result.best_params["n_components"]
    True
    """
    Ks = _check_n_components(n_components)
    ctypes = _as_tuple(covariance_types, "covariance_types", COVARIANCE_TYPES)
    if criterion not in CRITERIA:
        raise ValueError(
            f"criterion must be one of 'bic', 'aic', 'icl'; got {criterion!r}")
    inits = _as_tuple(init_params, "init_params", INIT_PARAMS)
    if not _is_int(n_init) or n_init < 1:
        raise ValueError(f"n_init must be an int >= 1; got {n_init!r}")
    reserved = _RESERVED.intersection(estimator_kwargs)
    if reserved:
        raise TypeError(f"select sets {sorted(reserved)} itself; use its own arguments "
                        "(n_components, covariance_types, init_params, n_init, "
                        "random_state, n_threads)")
    limits = (_check_positive_real(min_component_size, "min_component_size"),
              _check_positive_real(min_std_ratio, "min_std_ratio"))
    n_jobs = effective_n_threads(n_jobs)
    fit_threads = n_threads if n_threads is not None else (1 if n_jobs > 1 else None)
    effective_n_threads(fit_threads)                     # validate early

    X = _as_data_array(X)
    weight = check_sample_weight(sample_weight, X.shape[0])
    n_samples, total_weight, data_variances = _data_moments(X, weight)
    if reg_covar_relative is not None:
        if "reg_covar" in estimator_kwargs:
            raise TypeError("give either reg_covar or reg_covar_relative, not both")
        relative = _check_positive_real(reg_covar_relative, "reg_covar_relative")
        estimator_kwargs["reg_covar"] = relative * float(np.mean(data_variances))

    cells = [(K, ct) for K in Ks for ct in ctypes]
    starts = [(init, r) for init in inits
              for r in range(1 if init in DETERMINISTIC_INIT_PARAMS else n_init)]
    seeds = np.random.SeedSequence(_entropy_seed(random_state)).generate_state(
        len(cells) * len(starts), dtype=np.uint32)
    tasks = []
    for i, (K, ct) in enumerate(cells):
        for j, (init, _) in enumerate(starts):
            params = dict(estimator_kwargs, n_components=K, covariance_type=ct,
                          init_params=init, n_init=1, tol=tol, max_iter=max_iter,
                          random_state=int(seeds[i * len(starts) + j]),
                          n_threads=fit_threads)
            tasks.append((X, sample_weight, weight, params, total_weight,
                          data_variances, limits))

    with warnings.catch_warnings(record=True) as from_workers:
        # The table reports convergence and degeneracy of every candidate;
        # one warning per restart would bury it.
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", DegenerateComponentWarning)
        with ThreadPoolExecutor(max_workers=n_jobs) as executor:
            runs = _run_all(executor, _fit_one, tasks, progress)
            chosen = [_choose_run(runs[i * len(starts):(i + 1) * len(starts)],
                                  exclude_degenerate) for i in range(len(cells))]
            entropies = _run_all(
                executor, _membership_entropy,
                [(c["model"], X, weight) for c, _ in chosen], None)
    _warn_once_each(from_workers)

    records, models = [], {}
    log_n = math.log(total_weight)
    for (K, ct), (run, n_degenerate), entropy in zip(cells, chosen, entropies):
        model = run["model"]
        model.set_params(n_threads=n_threads)
        p = int(model._n_parameters())
        log_lik = run["log_likelihood"]
        bic = -2.0 * log_lik + p * log_n
        records.append({
            "n_components": K, "covariance_type": ct, "log_likelihood": log_lik,
            "n_parameters": p, "bic": bic, "aic": -2.0 * log_lik + 2.0 * p,
            "icl": bic + 2.0 * entropy, "converged": bool(model.converged_),
            "n_iter": int(model.n_iter_), "init_params": model.init_params,
            "min_count": run["min_count"], "min_std_ratio": run["min_std_ratio"],
            "degenerate": bool(run["degenerate"]), "degenerate_runs": n_degenerate,
            "n_distinct": run["n_distinct"], "copy": run["n_distinct"] < K,
            "best": False,
        })
        models[(K, ct)] = model

    best_index = _best_row(records, criterion, exclude_degenerate)
    records[best_index]["best"] = True
    if not records[best_index]["converged"]:
        warnings.warn("the selected model did not converge within max_iter; increase "
                      "max_iter or tol", ConvergenceWarning, stacklevel=external_stacklevel())
    settings = dict(n_samples=n_samples, total_weight=total_weight, n_runs=len(tasks),
                    min_component_size=limits[0], min_std_ratio=limits[1],
                    exclude_degenerate=exclude_degenerate,
                    reg_covar=estimator_kwargs.get("reg_covar"))
    return SelectionResult(criterion, records, models, best_index, settings)


def _warn_once_each(caught):
    """Warnings the fits raised (about the data, say), once each, pointing at
    the caller of ``select``: in the worker threads they pointed at the
    thread pool, and every restart repeated them."""
    seen = set()
    for record in caught:
        key = (record.category, str(record.message))
        if key not in seen:
            seen.add(key)
            warnings.warn(record.message, stacklevel=external_stacklevel())


def _choose_run(runs, exclude_degenerate):
    """(the run a candidate reports, how many of its runs were degenerate)."""
    n_degenerate = sum(r["degenerate"] for r in runs)
    pool = [r for r in runs if not r["degenerate"]] if exclude_degenerate else []
    pool = pool or runs
    # max() keeps the first of equal log-likelihoods: the order of the starts.
    return max(pool, key=lambda r: r["log_likelihood"]), n_degenerate


def _best_row(records, criterion, exclude_degenerate):
    eligible = [i for i, r in enumerate(records)
                if not (exclude_degenerate and r["degenerate"])]
    if not eligible:
        warnings.warn("every candidate has a degenerate component; the selected model "
                      "is degenerate too (try fewer components, or reg_covar_relative)",
                      DegenerateComponentWarning, stacklevel=external_stacklevel())
        eligible = list(range(len(records)))
    return min(eligible, key=lambda i: records[i][criterion])
