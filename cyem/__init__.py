"""cyem: Gaussian mixture models fitted by EM, with compiled one-pass kernels.

>>> import cyem
>>> model = cyem.GaussianMixture(n_components=2)

Public API
----------
GaussianMixture
    scikit-learn-compatible estimator (univariate and multivariate data, four
    covariance types).
em
    The EM loop from given starting parameters, without the estimator.
select
    Fit a grid of models (number of components x covariance types) and pick
    the best by BIC, AIC or ICL, like mclust.
save, load
    Store a fitted model in a versioned JSON file and read it back exactly.
show_config
    Print how the compiled kernels were built and what they run with.
get_include
    Directory of cyem's Cython ``.pxd`` files, for builds that ``cimport`` it.
"""

import os as _os

# Before the first import of the kernels, which loads the OpenMP runtime:
# libgomp reads its wait policy only then. Passive threads sleep while they
# wait, instead of spinning against other processes (see cyem._threads).
if not _os.environ.keys() & {"OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME"}:
    _os.environ["OMP_WAIT_POLICY"] = "passive"
del _os

try:
    from . import _kernels, _mdkernels  # noqa: F401  (the compiled extensions)
except ImportError:
    # An unbuilt source tree (the repository's cyem/) shadows the installed
    # package when Python runs from the repository root; without this, the
    # first import of a kernel reports a "circular import".
    import importlib.machinery as _machinery
    import os as _os
    _here = _os.path.dirname(_os.path.abspath(__file__))
    if all(any(_os.path.exists(_os.path.join(_here, _name + _suffix))
               for _suffix in _machinery.EXTENSION_SUFFIXES)
           for _name in ("_kernels", "_mdkernels")):
        raise                            # built, but failed to load: the real error
    raise ImportError(
        f"cyem's compiled extensions are missing from {_here}: this is cyem's "
        "source tree, not built, and Python imported it instead of the installed "
        "cyem because it looks in the current directory first. Run from another "
        "directory, or build the extensions in place: pip install -e .",
        name=__name__) from None         # named: `python -m cyem` prints one line

from ._config import get_include, show_config
from ._em import EMResult, em
from ._version import __version__
from .exceptions import ConvergenceWarning, DegenerateComponentWarning, NotFittedError
from .io import load, save
from .mixture import GaussianMixture
from .selection import select

__all__ = [
    "ConvergenceWarning",
    "DegenerateComponentWarning",
    "EMResult",
    "GaussianMixture",
    "NotFittedError",
    "__version__",
    "em",
    "get_include",
    "load",
    "save",
    "select",
    "show_config",
]
