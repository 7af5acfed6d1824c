"""Build the example extension against the INSTALLED cyem.

``cyem.get_include()`` is the directory that contains the ``cyem`` package, so
Cython finds ``cyem/__init__.pxd`` (``from cyem cimport ...``) there. OpenMP is optional: without it the
prange loop runs on one thread and gives the same numbers.
"""

import os
import sys
import tempfile

import cyem
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

OPENMP_PROBE = "#include <omp.h>\nint main(void) { return omp_get_max_threads() > 0 ? 0 : 1; }\n"


def openmp_flags(compiler):
    """(compile_args, link_args) for OpenMP with this compiler, or ([], [])."""
    if compiler.compiler_type == "msvc":
        candidates = [(["/openmp"], [])]
    elif sys.platform == "darwin":
        # Apple clang needs libomp: a conda env's, or Homebrew's for local builds.
        prefix = os.environ.get("CYEM_LIBOMP_PREFIX") or os.environ.get("CONDA_PREFIX") or ""
        inc = [f"-I{prefix}/include"] if prefix else []
        lib = [f"-L{prefix}/lib", f"-Wl,-rpath,{prefix}/lib"] if prefix else []
        candidates = [(["-Xpreprocessor", "-fopenmp"] + inc, lib + ["-lomp"])]
    else:
        candidates = [(["-fopenmp"], ["-fopenmp"])]
    for compile_args, link_args in candidates:
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "probe.c")
            with open(src, "w") as f:
                f.write(OPENMP_PROBE)
            try:
                objs = compiler.compile([src], output_dir=tmp, extra_postargs=compile_args)
                compiler.link_executable(objs, "probe", output_dir=tmp, extra_postargs=link_args)
            except Exception:
                continue
        return compile_args, link_args
    return [], []


class BuildExt(build_ext):
    def build_extensions(self):
        compile_args, link_args = openmp_flags(self.compiler)
        print("cyem_downstream: OpenMP", "on" if compile_args else "off")
        if self.compiler.compiler_type != "msvc":
            compile_args = ["-O2"] + compile_args
        for ext in self.extensions:
            ext.extra_compile_args += compile_args
            ext.extra_link_args += link_args
        super().build_extensions()


# _ops cimports from ``cyem`` (the public path); _legacy from ``cyem._kernels``
# (the deprecated path, kept working for one release).
exts = [Extension(f"cyem_downstream.{name}", [f"cyem_downstream/{name}.pyx"])
        for name in ("_ops", "_legacy")]
setup(
    ext_modules=cythonize(
        exts,
        include_path=[cyem.get_include()],
        compiler_directives={"language_level": 3},
    ),
    cmdclass={"build_ext": BuildExt},
)
