"""The EM driver, and ``cyem.em``: the loop without the estimator.

One iteration is one kernel pass (the E step fused with the accumulation of
the M step's sufficient statistics) followed by an O(K) M step in NumPy. The
pass also yields the log-likelihood of the parameters it was given, which is
what convergence tests -- exactly as scikit-learn's ``lower_bound_``.
"""

import warnings
from dataclasses import dataclass, field

import numpy as np

from . import _validation as v
from ._accel import GAP_TOL, AcceleratedEM, aitken_gap
from ._model import UnivariateModel
from ._params import MStepReport
from ._threads import effective_n_threads
from .exceptions import DegenerateComponentWarning, external_stacklevel


@dataclass
class EMRun:
    """Outcome of one EM run (internal).

    ``n_iter`` counts kernel passes (EM steps); ``lower_bounds`` holds the
    mean log-likelihood of every parameter set the run kept, in order: one
    per pass for plain EM, fewer with acceleration (rejected extrapolations
    and the EM steps spent on Newton's Jacobian-vector products are not
    kept). It never decreases (up to rounding).
    """

    params: object          # MixtureParams or MDParams, in the model's frame
    lower_bounds: list = field(default_factory=list)   # mean log-lik per kept set
    n_iter: int = 0
    converged: bool = False
    report: MStepReport = field(default_factory=MStepReport)

    @property
    def lower_bound(self):
        return self.lower_bounds[-1] if self.lower_bounds else -np.inf


def run_em(model, params, *, tol, max_iter, verbose=0, verbose_interval=10,
           accelerate=None):
    """Run EM on ``model`` (``cyem._model``, ``chunked`` or ``_dask``) from
    ``params`` (in its frame); at most ``max_iter`` kernel passes.

    Parameters
    ----------
    tol : float or None
        None, cyem's rule: stop once the gain in mean log-likelihood (per
        unit of sample weight) still available from the current parameters
        is estimated to be at most ``_accel.GAP_TOL`` = 1e-10 -- by a full
        Newton step that gains less than that when acceleration is on, by
        Aitken's estimate of the limit for plain EM. A number,
        scikit-learn's rule: stop when the mean log-likelihood changes by
        less than ``tol`` between two iterations.
    accelerate : bool or None
        SQUAREM then Newton steps (``cyem._accel``); None: on with cyem's
        rule, off with scikit-learn's, so that a numeric ``tol`` reproduces
        scikit-learn's iterations exactly.

    The lower bound recorded for a kept parameter set is its log-likelihood
    (per unit of sample weight, in the data's units), and the parameters
    returned are the EM image of the last kept set: so the last lower bound
    belongs to the parameters before the final M step, scikit-learn's
    convention.
    """
    if accelerate is None:
        accelerate = tol is None
    run = EMRun(params=params)
    if accelerate:
        fit = AcceleratedEM(model, params, max_iter, run.report, tol=tol,
                            verbose=verbose, verbose_interval=verbose_interval).run()
        run.params, run.lower_bounds = fit.image, fit.lower_bounds
        run.n_iter, run.converged = fit.n_passes, fit.converged
        return run
    shift = model.log_lik_shift()
    lower_bound = -np.inf
    for n_iter in range(1, max_iter + 1):
        prev_lower_bound = lower_bound
        stats = model.accumulate(run.params)
        log_lik, total_weight = stats[0], stats[1]
        run.params, report = model.m_step(stats, run.params)
        run.report.merge(report)
        lower_bound = log_lik / total_weight + shift
        run.lower_bounds.append(float(lower_bound))
        run.n_iter = n_iter
        change = lower_bound - prev_lower_bound
        if verbose >= 2 and n_iter % verbose_interval == 0:
            print(f"  Iteration {n_iter}\t lower bound {lower_bound:.10g}\t change {change:.3g}")
        if abs(change) < tol if tol is not None else \
                aitken_gap(run.lower_bounds) <= GAP_TOL:
            run.converged = True
            break
    return run


def warn_degenerate(report):
    """One warning per kind of repair made during a fit."""
    if report.empty:
        warnings.warn(
            f"Component(s) {sorted(report.empty)} lost all their mass (every "
            "membership underflowed to 0); they keep their last mean and variance "
            "with a weight of ~1e-15. Consider fewer components.",
            DegenerateComponentWarning,
            stacklevel=external_stacklevel(),
        )
    if report.singular:
        warnings.warn(
            f"Covariance of component(s) {sorted(report.singular)} was not positive "
            "definite even with reg_covar; the smallest diagonal term that makes it "
            "so was added. Increase reg_covar, or check for collinear features or a "
            "component sitting on a subspace.",
            DegenerateComponentWarning,
            stacklevel=external_stacklevel(),
        )
    if report.collapsed:
        warnings.warn(
            f"Component(s) {sorted(report.collapsed)} collapsed onto (almost) a "
            "single value; their variance was held at the floor (eps * data "
            "scale)^2. Increase reg_covar or use fewer components.",
            DegenerateComponentWarning,
            stacklevel=external_stacklevel(),
        )


@dataclass(frozen=True, repr=False)
class EMResult:
    """Result of :func:`cyem.em`.

    Both log-likelihoods are TOTALS in the units of the sample weights given
    to :func:`em` (v_i = 1 without them): sum_i v_i log p(x_i), which grows
    with the number of samples and with the scale of the weights. The
    estimator's ``lower_bound_`` and ``lower_bounds_`` are instead the MEAN
    per unit weight, sum_i v_i log p(x_i) / sum_i v_i (scikit-learn's
    convention): ``history / sum_i v_i`` is the estimator's ``lower_bounds_``
    from the same start.

    Attributes
    ----------
    weights, means, stds : ndarray of shape (K,)
        Fitted mixture weights, means and standard deviations.
    log_likelihood : float
        Total log-likelihood sum_i v_i log sum_k w_k g(x_i; k) of the fitted
        (returned) parameters.
    history : ndarray of shape (n_iter,)
        Total log-likelihood (same units) of the parameters entering each
        iteration, so ``history[-1]`` belongs to the parameters before the
        last M step and ``log_likelihood`` to those after it; it never
        decreases (up to rounding). ``repr`` shows only its length and its
        first and last values. Totals beyond float64 (below -1.8e308, from
        huge weights and a hopeless start) are reported as -1.8e308.
    n_iter : int
        Kernel passes over the data (with a numeric ``tol``: EM iterations).
    converged : bool
        Whether the stopping rule of ``tol`` was met.

    See Also
    --------
    em : The function that returns it.

    Examples
    --------
    >>> import numpy as np, cyem
    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(-2, 1, 500), rng.normal(3, 1, 500)])
    >>> res = cyem.em(x, [0.5, 0.5], [-1.0, 1.0], [1.0, 1.0], tol=0, max_iter=20)
    >>> res.n_iter, res.history.shape, res.converged
    (20, (20,), False)
    >>> bool(np.all(np.diff(res.history) > -1e-9))     # EM never goes down
    True
    >>> bool(res.log_likelihood >= res.history[-1])
    True
    """

    weights: np.ndarray
    means: np.ndarray
    stds: np.ndarray
    log_likelihood: float
    history: np.ndarray
    n_iter: int
    converged: bool

    def __repr__(self):
        def short(values):
            return np.array2string(np.asarray(values), precision=6, threshold=8,
                                   edgeitems=3, separator=", ")

        h = np.asarray(self.history)
        history = f"<{h.size} values" + (f", {h[0]:.10g} .. {h[-1]:.10g}>" if h.size
                                         else ">")
        return (f"EMResult(n_components={np.size(self.weights)}, n_iter={self.n_iter}, "
                f"converged={self.converged}, log_likelihood={self.log_likelihood:.10g}, "
                f"weights={short(self.weights)}, means={short(self.means)}, "
                f"stds={short(self.stds)}, history={history})")


def _clipped_total(base, total_weight, per_unit_weight):
    """base + total_weight * per_unit_weight, computed without overflow
    warnings and clipped to the doubles: a total log-likelihood below
    -1.8e308 (huge weights times a hopeless start) is reported as -1.8e308."""
    big = np.finfo(np.float64).max
    with np.errstate(over="ignore", invalid="ignore"):
        return np.clip(base + total_weight * per_unit_weight, -big, big)


def em(x, weights, means, stds, *, sample_weight=None, tied=False, tol="auto",
       reg_covar=1e-6, max_iter=1000, n_threads=None):
    """Fit a univariate Gaussian mixture by EM from given starting parameters.

    The functional counterpart of :class:`cyem.GaussianMixture`: no
    initialisation strategy, no restarts, just the EM iterations (the same
    compiled loop the estimator uses).

    Parameters
    ----------
    x : array-like of shape (n_samples,) or (n_samples, 1)
        Data. float32 data are processed without an up-cast copy.
    weights : array-like of shape (K,)
        Starting mixture weights: non-negative, summing to 1.
    means : array-like of shape (K,)
        Starting means.
    stds : array-like of shape (K,)
        Starting standard deviations (positive).
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative weight of each observation (an integer weight is the same
        as repeating the row).
    tied : bool, default=False
        Estimate one standard deviation shared by all components.
    tol : 'auto' or float, default='auto'
        'auto': accelerated EM (SQUAREM, then Newton steps on the EM map) run
        until the gain still available in the mean (per-unit-weight)
        log-likelihood is at most 1e-10, i.e. to the optimum from this start,
        as :class:`GaussianMixture` does. A number: plain EM iterations, each
        one E and one M step, stopped when the mean log-likelihood changes by
        less (scikit-learn's rule).
    reg_covar : float, default=1e-6
        Non-negative value added to every variance.
    max_iter : int, default=1000
        Maximum number of kernel passes over the data (>= 1).
    n_threads : int or None, default=None
        Threads for the kernels; None uses every usable core. The result does
        not depend on it.

    Returns
    -------
    EMResult
        The fitted weights, means and standard deviations, the total
        log-likelihood sum_i v_i log p(x_i) of those parameters and the
        history of totals (in the units of ``sample_weight``, not per unit
        weight; see :class:`EMResult`), the number of iterations and whether
        EM converged.

    Warns
    -----
    DegenerateComponentWarning
        When a component collapsed onto (almost) a single value or lost all
        its mass; the result stays finite.

    See Also
    --------
    GaussianMixture : The estimator, with initialisation and restarts.

    Notes
    -----
    With ``tol=0`` exactly ``max_iter`` plain EM iterations are run;
    ``converged`` is then False. Each iteration is one E step and one M step:
    ``w_k = N_k / sum_i v_i``, ``mu_k = sum_i v_i r_ik x_i / N_k`` and
    ``sigma_k^2 = sum_i v_i r_ik (x_i - mu_k)^2 / N_k + reg_covar``, with
    ``r_ik = p(k | x_i)`` and ``N_k = sum_i v_i r_ik`` (see the tutorial for
    the derivation).

    Examples
    --------
    >>> import numpy as np, cyem
    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(-2, 1, 500), rng.normal(3, 1, 500)])
    >>> res = cyem.em(x, [0.5, 0.5], [-1.0, 1.0], [1.0, 1.0], tol=1e-8)
    >>> bool(res.converged), np.round(res.means).tolist()
    (True, [-2.0, 3.0])
    >>> np.round(res.weights, 2).tolist(), np.round(res.stds, 1).tolist()
    ([0.5, 0.5], [1.0, 0.9])
    """
    x = v.check_univariate_data(x, "x")
    sample_weight = v.check_sample_weight(sample_weight, x.shape[0])
    weights = v._as_numeric_array(weights, "weights")
    if weights.ndim != 1 or weights.shape[0] < 1:
        raise ValueError(f"weights must be a 1-D array with at least one component, "
                         f"got shape {weights.shape}")
    K = weights.shape[0]
    w0 = v.check_initial_weights(weights, K, "weights")
    v.check_n_components(K, x, sample_weight, name="weights", data_name="x")
    v.warn_if_single_value(x, sample_weight, K)
    m0 = v.check_initial_means(means, K, "means")
    s0 = v.check_positive_vector(stds, K, "stds", [(K,)], limit=v.STD_LIMIT)
    if not isinstance(tied, (bool, np.bool_)):
        raise TypeError(f"tied must be a bool, got {tied!r}")
    tol = v.check_tol(tol)
    reg_covar = v.check_real(reg_covar, "reg_covar", 0.0)
    v.warn_if_reg_covar_dominates(x, reg_covar)
    max_iter = v.check_int(max_iter, "max_iter", 1)
    n_threads = effective_n_threads(n_threads)
    variances = s0 ** 2
    if tied:
        variances = np.full(K, np.dot(w0, variances))
    model = UnivariateModel(x, sample_weight, "tied" if tied else "full", reg_covar,
                            n_threads, start_means=m0, names=("x", "means"))
    run = run_em(model, model.from_data_units(w0, m0, variances), tol=tol,
                 max_iter=max_iter)
    warn_degenerate(run.report)
    final = model.accumulate(run.params)
    # The model divided the weights by 2^weight_exponent (exact): back to the
    # user's units, so that the totals are sum_i v_i log p(x_i) with their v_i.
    with np.errstate(over="ignore"):
        log_lik, total_weight = np.ldexp(final[:2], model.weight_exponent)
    weights, means, variances = model.to_data_units(run.params)
    return EMResult(
        weights=weights,
        means=means.ravel(),
        stds=np.sqrt(variances),
        log_likelihood=float(_clipped_total(log_lik, total_weight, model.log_lik_shift())),
        history=_clipped_total(0.0, total_weight, np.asarray(run.lower_bounds)),
        n_iter=run.n_iter,
        converged=run.converged,
    )
