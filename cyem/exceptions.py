"""Warnings and errors raised by cyem.

They are plain subclasses of the built-in categories so that code written for
scikit-learn keeps working: ``NotFittedError`` is both a ``ValueError`` and an
``AttributeError`` (as scikit-learn's is), and the warnings are ``UserWarning``s
that can be filtered by class.
"""

__all__ = ["ConvergenceWarning", "DegenerateComponentWarning", "NotFittedError"]


class NotFittedError(ValueError, AttributeError):
    """A method that needs a fitted model was called before ``fit``."""


class ConvergenceWarning(UserWarning):
    """EM stopped at ``max_iter`` before the log-likelihood settled within ``tol``."""


class DegenerateComponentWarning(UserWarning):
    """A component lost its mass or collapsed onto (almost) a single value.

    The fit goes on with documented, finite values for that component (see
    ``cyem.GaussianMixture``); the warning says which component and why.
    """
