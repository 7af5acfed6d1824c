"""Example consumer of cyem's Cython API (see ``_ops.pyx``)."""

from ._ops import gaussian_mixture_stats, kernel_form, log_likelihood, mixture_stats

__all__ = ["gaussian_mixture_stats", "kernel_form", "log_likelihood", "mixture_stats"]
