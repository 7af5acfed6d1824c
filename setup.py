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

Set ``CYEM_DISABLE_OPENMP=1`` to build without OpenMP on purpose.
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


class BuildExt(build_ext):
    """build_ext that detects OpenMP and sets optimisation flags per compiler."""

    def build_extensions(self):
        ctype = self.compiler.compiler_type
        want_openmp = os.environ.get("CYEM_DISABLE_OPENMP", "0") in ("", "0")
        if ctype == "msvc":
            base, omp_compile, omp_link = ["/O2"], ["/openmp"], []
        else:
            base = ["-O3", "-fno-strict-aliasing", "-Wno-unused-function"]
            if sys.platform == "darwin":
                # Apple clang: OpenMP needs libomp (see the wheels workflow).
                omp_compile, omp_link = ["-Xpreprocessor", "-fopenmp"], ["-lomp"]
            else:
                omp_compile, omp_link = ["-fopenmp"], ["-fopenmp"]
        has_openmp = want_openmp and _compiler_accepts(
            self.compiler, omp_compile, omp_link, OPENMP_TEST
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
            "cyem: building with OpenMP"
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
