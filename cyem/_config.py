"""Build and run-time configuration of the compiled kernels."""

import os
import platform
import sys

from . import _kernels
from ._threads import usable_cpu_count
from ._version import __version__


def get_include():
    """Directory to add to a Cython build's include path to ``cimport cyem``.

    The ``.pxd`` files live inside the installed package, so this is the
    directory that *contains* the ``cyem`` package.

    Returns
    -------
    path : str
        Absolute path of the directory holding the ``cyem`` package, in which
        ``cyem/__init__.pxd`` is the public C-level API (it re-exports the
        kernels declared in ``cyem/_kernels.pxd`` and ``cyem/_mdkernels.pxd``).

    See Also
    --------
    show_config : How the kernels were built.

    Examples
    --------
    In a ``setup.py`` that builds Cython code with
    ``from cyem cimport ...``::

        cythonize(extensions, include_path=[cyem.get_include()])

    The directory holds the public ``.pxd``:

    >>> import os, cyem
    >>> os.path.isfile(os.path.join(cyem.get_include(), "cyem", "__init__.pxd"))
    True
    """
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def config():
    """The build configuration as a dict (what ``show_config`` prints)."""
    info = dict(_kernels.build_info())
    info.update(
        version=__version__,
        python=sys.version.split()[0],
        platform=platform.platform(),
        machine=platform.machine(),
        compiler=platform.python_compiler(),
        usable_cpus=usable_cpu_count(),
        omp_num_threads=os.environ.get("OMP_NUM_THREADS"),
        extension=_kernels.__file__,
    )
    return info


def show_config(file=None):
    """Print cyem's build configuration: version, OpenMP, SIMD path, threads.

    The same as ``cyem info`` on the command line: the version, the compiler,
    whether the kernels were built with OpenMP, the SIMD code path selected
    for this CPU, the number of usable threads and the block and tile sizes.
    Worth including in bug reports.

    Parameters
    ----------
    file : writable text stream, optional
        Where to print; default ``sys.stdout``.

    Returns
    -------
    None

    Examples
    --------
    >>> import cyem
    >>> cyem.show_config()  # doctest: +ELLIPSIS
    cyem ...
    """
    c = config()
    lines = [
        f"cyem {c['version']} (Python {c['python']}, {c['platform']})",
        f"  extension      : {c['extension']}",
        f"  python compiler: {c['compiler']}",
        f"  OpenMP         : {'yes (version ' + str(c['openmp_version']) + ')' if c['openmp'] else 'no (kernels run on one thread)'}",
        f"  SIMD path      : {c['simd_path']}"
        + (" [chosen at run time]" if c["multiversioned"] else ""),
        f"  threads        : {c['usable_cpus']} usable (OMP_NUM_THREADS={c['omp_num_threads']})",
        f"  block / tile   : {c['block_size']} / {c['tile_size']} points",
    ]
    print("\n".join(lines), file=file or sys.stdout)
