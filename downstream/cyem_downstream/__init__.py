"""Example consumer of cyem's Cython API (see ``_ops.pyx``)."""

from ._ops import log_likelihood, mixture_stats

__all__ = ["log_likelihood", "mixture_stats"]
