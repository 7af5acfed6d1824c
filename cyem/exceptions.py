"""Warnings and errors raised by cyem.

They are plain subclasses of the built-in categories so that code written for
scikit-learn keeps working: ``NotFittedError`` is both a ``ValueError`` and an
``AttributeError`` (as scikit-learn's is), and the warnings are ``UserWarning``s
that can be filtered by class. ``ConvergenceWarning`` also joins scikit-learn's
class when scikit-learn is in use (see its docstring).

Every warning cyem raises points at the caller's line: ``external_stacklevel``
gives ``warnings.warn`` the number of frames up to the first one outside the
package.
"""

import os
import sys

__all__ = ["ConvergenceWarning", "DegenerateComponentWarning", "NotFittedError"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def external_stacklevel():
    """The ``stacklevel`` for ``warnings.warn`` that blames the first frame
    outside the cyem package, counted from the function that calls this one.

    A computed level rather than a fixed number per call site: one warning
    is reached from several public entry points at different depths (``fit``,
    ``fit_predict``, ``fit_chunks``, a dask fit, ``select``, ``em``), so a
    fixed number is wrong for some of them, and silently becomes wrong for
    more at the next refactoring. Python 3.12's ``skip_file_prefixes`` does
    the same walk; this works on every supported Python. (Code running in a
    worker thread has no user frame above it: ``select`` re-raises its
    workers' warnings from the calling thread.)

    Returns
    -------
    stacklevel : int
        1 if the calling function is itself outside the package.
    """
    frame = sys._getframe(1)          # the function about to call warnings.warn
    level = 1
    while frame.f_back is not None and \
            os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level


def not_fitted_error(estimator):
    """The ``NotFittedError`` for a method of ``estimator`` called before ``fit``,
    in scikit-learn's wording."""
    return NotFittedError(
        f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' "
        "with appropriate arguments before using this estimator.")


class NotFittedError(ValueError, AttributeError):
    """A method that needs a fitted model was called before ``fit``.

    A subclass of both ``ValueError`` and ``AttributeError``, as
    scikit-learn's ``NotFittedError`` is, so code that catches either keeps
    working.

    Examples
    --------
    >>> import cyem
    >>> try:
    ...     cyem.GaussianMixture(n_components=2).predict([1.0, 2.0])
    ... except cyem.NotFittedError as exc:
    ...     print(isinstance(exc, ValueError), isinstance(exc, AttributeError))
    True True
    """


class _CyemUserWarning(UserWarning):
    """A Python-level ``UserWarning`` subclass: it has the memory layout of
    scikit-learn's ``ConvergenceWarning``, so that class can be swapped in as
    a base of ours (``__bases__`` assignment requires equal layouts)."""


def _sklearn_convergence_warning():
    """scikit-learn's ``ConvergenceWarning`` if its module is imported, else None.
    Never imports scikit-learn."""
    module = sys.modules.get("sklearn.exceptions")
    base = getattr(module, "ConvergenceWarning", None)
    return base if isinstance(base, type) and issubclass(base, UserWarning) else None


class ConvergenceWarning(_CyemUserWarning):
    """EM stopped at ``max_iter`` before the log-likelihood settled within ``tol``.

    Raised by :meth:`cyem.GaussianMixture.fit` when the best of its runs did
    not converge. Increase ``max_iter``, or check the data and the start.

    When scikit-learn is in use, this class is also a subclass of
    ``sklearn.exceptions.ConvergenceWarning``, so that filters and ``except``
    clauses written for scikit-learn's warning catch cyem's too::

        warnings.filterwarnings("ignore", category=sklearn.exceptions.ConvergenceWarning)

    cyem never imports scikit-learn for this (it is not a dependency, and
    importing it costs hundreds of milliseconds). A filter on scikit-learn's
    class can only exist once ``sklearn.exceptions`` is imported, so cyem
    looks for that module when it creates a warning -- before Python matches
    the filters -- and then adds scikit-learn's class as a base of this one
    (once; also at ``import cyem`` if scikit-learn came first). Hence
    ``issubclass(cyem.ConvergenceWarning, sklearn.exceptions.ConvergenceWarning)``
    is False until scikit-learn is imported and a cyem warning is raised (or
    cyem imported after it). Filtering on ``cyem.ConvergenceWarning`` (or on
    ``UserWarning``) works in every case.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np, cyem
    >>> x = np.random.default_rng(0).normal(size=1000)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     gm = cyem.GaussianMixture(n_components=2, max_iter=1, random_state=0).fit(x)
    >>> [w.category.__name__ for w in caught], gm.converged_
    (['ConvergenceWarning'], False)
    """

    def __new__(cls, *args, **kwargs):
        # warnings.warn creates the instance before it matches the filters.
        _join_sklearn_convergence_warning()
        return super().__new__(cls, *args, **kwargs)


def _join_sklearn_convergence_warning():
    """Make scikit-learn's ConvergenceWarning a base of ours, if it is imported."""
    base = _sklearn_convergence_warning()
    if base is None or issubclass(ConvergenceWarning, base):
        return
    try:
        ConvergenceWarning.__bases__ = (base, _CyemUserWarning)
    except TypeError:
        # A future scikit-learn class with another layout: keep ours as it
        # is; filtering on cyem.ConvergenceWarning still works.
        pass


class DegenerateComponentWarning(UserWarning):
    """A component lost its mass or collapsed onto (almost) a single value.

    The fit goes on with documented, finite values for that component (see
    ``cyem.GaussianMixture``); the warning says which component and why.
    A positive ``reg_covar`` keeps a component from collapsing.

    Examples
    --------
    Twenty identical values, and a component started on them with
    ``reg_covar=0``: its standard deviation shrinks to a tiny floor instead
    of reaching 0.

    >>> import warnings
    >>> import numpy as np, cyem
    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(0, 1, 500), np.full(20, 3.0)])
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     res = cyem.em(x, [0.9, 0.1], [0.0, 3.0], [1.0, 0.01], reg_covar=0,
    ...                   tol=1e-8, max_iter=500)
    >>> [w.category.__name__ for w in caught]
    ['DegenerateComponentWarning']
    >>> bool(0 < res.stds[1] < 1e-10), bool(np.all(np.isfinite(res.means)))
    (True, True)
    """


_join_sklearn_convergence_warning()
