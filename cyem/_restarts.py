"""The restart loop: EM from each start of an estimator's strategy, best kept.

One function serves every batch fit (in memory, ``fit_chunks``, dask): it
takes a model (``cyem._model``, ``cyem.chunked`` or ``cyem._dask``), an
in-memory model in the same frame for the initialisation strategies, the
validated settings and the user's values, and returns the best ``EMRun``. It
never touches the estimator: the estimator prepares the inputs, and raises the
warnings and sets its attributes from the result (scikit-learn's
``BaseMixture.fit_predict`` likewise owns the loop and calls down).
"""

from ._em import run_em
from ._init import start_strategies, starting_parameters
from ._threads import single_threaded_blas


def fit_model(model, init_model, settings, rng, *, user, fixed=None, warm=None):
    """The best of the EM runs from the estimator's starts.

    Parameters
    ----------
    model
        The data's model: ``accumulate``, ``m_step``, ``hold_fixed``,
        ``from_data_units``.
    init_model
        An in-memory model in the same frame that the ``init_params``
        strategies run on (the initialisation sample; for an in-memory fit,
        ``model`` itself).
    settings : cyem._validation.Settings
    rng : numpy.random.Generator
    user : tuple
        The validated weights_init, means_init and precisions_init (as
        variances or covariances), in data units, each possibly None.
    fixed : dict, optional
        Keyword arguments of ``model.hold_fixed`` (data units).
    warm : tuple, optional
        Arguments of ``model.from_data_units`` to start from instead (a warm
        start: one run, no initialisation).

    Returns
    -------
    cyem._em.EMRun
        The run with the highest final lower bound (the first one on ties).
    """
    s = settings
    K, d = s.n_components, model.n_features
    strategies = [s.init_params] if warm is not None else start_strategies(
        s.init_params, s.n_init, all(u is not None for u in user))
    if fixed is not None:
        for m in {id(model): model, id(init_model): init_model}.values():
            m.hold_fixed(**fixed)
    best = None
    with single_threaded_blas(s.covariance_type, d):
        for init, strategy in enumerate(strategies):
            start = model.from_data_units(*warm) if warm is not None else \
                starting_parameters(init_model, K, strategy, rng, user)
            run = run_em(model, start, tol=s.tol, max_iter=s.max_iter,
                         verbose=s.verbose, verbose_interval=s.verbose_interval)
            if s.verbose:
                status = "converged" if run.converged else "did not converge"
                print(f"Initialization {init}: {status}, lower bound "
                      f"{run.lower_bound:.10g}")
            if best is None or run.lower_bound > best.lower_bound:
                best = run
    return best
