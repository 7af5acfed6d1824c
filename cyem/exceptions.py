"""Warnings and errors raised by cyem.

They are plain subclasses of the built-in categories so that code written for
scikit-learn keeps working: ``NotFittedError`` is both a ``ValueError`` and an
``AttributeError`` (as scikit-learn's is), and the warnings are ``UserWarning``s
that can be filtered by class.
"""

__all__ = ["ConvergenceWarning", "DegenerateComponentWarning", "NotFittedError"]


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


class ConvergenceWarning(UserWarning):
    """EM stopped at ``max_iter`` before the log-likelihood settled within ``tol``.

    Raised by :meth:`cyem.GaussianMixture.fit` when the best of its runs did
    not converge. Increase ``max_iter``, or check the data and the start.

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
