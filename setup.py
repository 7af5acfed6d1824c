"""Build script for cyem's compiled extension.

Project metadata lives in pyproject.toml; this file only defines the Cython
extension and chooses compiler flags:

* OpenMP where the compiler supports it (``-fopenmp`` for gcc/clang, ``/openmp``
  for MSVC), detected by compiling a test program. Without it the build still
  succeeds, ``#pragma omp simd`` stays available through ``-fopenmp-simd``, and
  the kernels run on one thread; the build says so.
* ``-O3`` so that the hot loops are vectorised. Never ``-march=native`` (a wheel
  must run on every CPU of its platform; the kernels choose a SIMD path at run
  time instead) and never ``-ffast-math`` (it breaks NaN checks and, at link
  time, changes the floating-point mode of the whole process).

Platform notes for OpenMP:

* macOS (Apple clang): ``-Xpreprocessor -fopenmp`` and ``-lomp``. libomp is
  looked for under ``$CYEM_LIBOMP_PREFIX``, then ``$CONDA_PREFIX``, then
  Homebrew's prefixes. Release wheels use conda-forge's ``llvm-openmp``, built
  for an old macOS, and delocate copies it into the wheel (see
  ``.github/workflows/wheels.yml``); Homebrew's libomp targets the build
  machine's macOS version and would raise the wheel's minimum macOS.
* Windows (MSVC): the kernels put ``omp simd`` pragmas in macros (C99
  ``_Pragma``), which needs ``/std:c11``, and ``omp simd`` itself needs
  ``/openmp:experimental``. Both keep MSVC's OpenMP runtime, ``vcomp140.dll``,
  which delvewheel copies into the wheel. Older MSVC falls back to ``/openmp``.

Set ``CYEM_DISABLE_OPENMP=1`` to build without OpenMP on purpose, and
``CYEM_REQUIRE_OPENMP=1`` to make a build without OpenMP an error (release
wheels are built that way, so a missing runtime cannot ship silently).
"""

import os
import sys
import tempfile
import textwrap

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

OPENMP_TEST = textwrap.dedent(
    """
    #include <omp.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+: n)
        n += 1;
        return omp_get_max_threads() > 0 && n > 0 ? 0 : 1;
    }
    """
)

# What the kernels' headers need from MSVC on top of OPENMP_TEST: an
# ``omp simd`` reduction written through the C99 ``_Pragma`` operator.
MSVC_OPENMP_TEST = OPENMP_TEST + textwrap.dedent(
    """
    #define CYEM_TEST_PRAGMA(x) _Pragma(#x)
    double cyem_test_sum(const double *x, int n) {
        double s = 0.0;
        int i;
        CYEM_TEST_PRAGMA(omp simd reduction(+: s))
        for (i = 0; i < n; i++) s += x[i];
        return s;
    }
    """
)


def _compiler_accepts(compiler, compile_args, link_args, source):
    """Whether ``compiler`` compiles and links ``source`` with these flags."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "cyem_flag_test.c")
        with open(path, "w") as f:
            f.write(source)
        try:
            objects = compiler.compile([path], output_dir=tmp, extra_postargs=compile_args)
            compiler.link_executable(
                objects, "cyem_flag_test", output_dir=tmp, extra_postargs=link_args
            )
        except Exception:
            return False
    return True


def _libomp_prefix():
    """Prefix holding ``include/omp.h`` and ``lib/libomp.dylib`` on macOS, or None."""
    candidates = [
        os.environ.get("CYEM_LIBOMP_PREFIX"),
        os.environ.get("CONDA_PREFIX"),
        "/opt/homebrew/opt/libomp",
        "/usr/local/opt/libomp",
    ]
    for prefix in candidates:
        if prefix and os.path.isfile(os.path.join(prefix, "include", "omp.h")):
            return prefix
    return None


def _openmp_candidates(ctype):
    """(compile_args, link_args, test_source) to try in order for this compiler."""
    if ctype == "msvc":
        return [
            (["/std:c11", "/openmp:experimental"], [], MSVC_OPENMP_TEST),
            (["/std:c11", "/openmp"], [], MSVC_OPENMP_TEST),
            (["/openmp"], [], OPENMP_TEST),
        ]
    if sys.platform == "darwin":
        # Apple clang has no OpenMP runtime of its own: use libomp.
        omp_compile, omp_link = ["-Xpreprocessor", "-fopenmp"], ["-lomp"]
        prefix = _libomp_prefix()
        if prefix:
            lib = os.path.join(prefix, "lib")
            omp_compile = omp_compile + ["-I" + os.path.join(prefix, "include")]
            # The rpath lets the build and delocate find libomp.dylib; delocate
            # then rewrites it to the copy inside the wheel.
            omp_link = ["-L" + lib, "-Wl,-rpath," + lib] + omp_link
        return [(omp_compile, omp_link, OPENMP_TEST)]
    return [(["-fopenmp"], ["-fopenmp"], OPENMP_TEST)]


class BuildExt(build_ext):
    """build_ext that detects OpenMP and sets optimisation flags per compiler."""

    def build_extensions(self):
        ctype = self.compiler.compiler_type
        want_openmp = os.environ.get("CYEM_DISABLE_OPENMP", "0") in ("", "0")
        require_openmp = os.environ.get("CYEM_REQUIRE_OPENMP", "0") not in ("", "0")
        if ctype == "msvc":
            base = ["/O2"]
        else:
            base = ["-O3", "-fno-strict-aliasing", "-Wno-unused-function"]
        has_openmp = False
        omp_compile, omp_link = [], []
        if want_openmp:
            for omp_compile, omp_link, source in _openmp_candidates(ctype):
                if _compiler_accepts(self.compiler, omp_compile, omp_link, source):
                    has_openmp = True
                    break
        if require_openmp and not has_openmp:
            raise RuntimeError(
                "cyem: CYEM_REQUIRE_OPENMP is set but OpenMP is disabled or the "
                "compiler cannot build OpenMP code (on macOS, set CYEM_LIBOMP_PREFIX "
                "to the prefix of a libomp)"
            )
        compile_args, link_args = list(base), []
        if has_openmp:
            compile_args += omp_compile
            link_args += omp_link
        elif ctype != "msvc" and _compiler_accepts(
            self.compiler, ["-fopenmp-simd"], [], "int main(void){return 0;}"
        ):
            compile_args += ["-fopenmp-simd", "-DCYEM_OPENMP_SIMD"]
        print(
            "cyem: building with OpenMP (" + " ".join(omp_compile) + ")"
            if has_openmp
            else "cyem: OpenMP not available (or disabled): kernels will run on one thread"
        )
        for ext in self.extensions:
            ext.extra_compile_args = compile_args + list(ext.extra_compile_args)
            ext.extra_link_args = link_args + list(ext.extra_link_args)
        super().build_extensions()


def extensions():
    from Cython.Build import cythonize

    headers = ["cyem/src/cyem_kernels.h", "cyem/src/cyem_md_kernels.h",
               "cyem/src/cyem_openmp.h"]
    exts = [
        Extension(f"cyem.{name}", sources=[f"cyem/{name}.pyx"], include_dirs=["cyem/src"],
                  depends=headers)
        for name in ("_kernels", "_mdkernels")
    ]
    return cythonize(
        exts,
        compiler_directives={"language_level": 3},
        annotate=os.environ.get("CYEM_ANNOTATE", "0") == "1",
    )


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})
