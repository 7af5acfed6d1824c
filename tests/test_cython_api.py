"""The public Cython API (``from cyem cimport ...``) is an ABI: snapshot it.

Other packages compile against the ``.pxd`` files that cyem installs and call
the kernels through the function pointers that ``cyem._kernels`` and
``cyem._mdkernels`` export in their ``__pyx_capi__`` capsules. The public
cimport surface is ``cyem/__init__.pxd``, which declares nothing and re-exports
the declarations of the kernel modules' ``.pxd`` files, each declared once.
A changed argument list, type or qualifier breaks consumers, so these tests
compare the installed declarations, the re-exports and the exported C
signatures with the lists written out below. If a test here fails, the change
to the API must be deliberate: update the lists, the documentation in the
``.pxd``, and the version number together.

Snapshot history: 0.1 had the five univariate functions of ``_kernels.pxd``,
cimported from ``cyem._kernels``. Issue 11 added ``cyem/__init__.pxd`` and the
multivariate kernels of ``_mdkernels.pxd`` (every kernel kind, float32 and
float64); the univariate declarations did not change, and the old path
``from cyem._kernels cimport ...`` still works (deprecated, docs/cython.rst).
"""

import ctypes
import importlib.resources
import os
import re

import pytest

import cyem
from cyem import _kernels, _mdkernels

# Every cdef declaration of _kernels.pxd, whitespace-normalised.
EXPECTED_DECLARATIONS = [
    "cdef Py_ssize_t scratch_size(Py_ssize_t n_components) noexcept nogil",
    "cdef void accumulate_block_f64(const double* x, double origin, double inv_scale, "
    "const double* sample_weight, Py_ssize_t n_samples, Py_ssize_t n_components, "
    "const double* means, const double* log_norm, const double* prec, double* scratch, "
    "double* stats) noexcept nogil",
    "cdef void accumulate_block_f32(const float* x, double origin, double inv_scale, "
    "const double* sample_weight, Py_ssize_t n_samples, Py_ssize_t n_components, "
    "const double* means, const double* log_norm, const double* prec, double* scratch, "
    "double* stats) noexcept nogil",
    "cdef void evaluate_block_f64(const double* x, double origin, double inv_scale, "
    "Py_ssize_t n_samples, Py_ssize_t n_components, const double* means, "
    "const double* log_norm, const double* prec, double* scratch, double* out_log_lik, "
    "double* out_resp, int64_t* out_label) noexcept nogil",
    "cdef void evaluate_block_f32(const float* x, double origin, double inv_scale, "
    "Py_ssize_t n_samples, Py_ssize_t n_components, const double* means, "
    "const double* log_norm, const double* prec, double* scratch, double* out_log_lik, "
    "double* out_resp, int64_t* out_label) noexcept nogil",
]

# Every cdef declaration of _mdkernels.pxd, whitespace-normalised.
_MD_DIAG_ACCUMULATE = (
    "(const {t}* X, const double* origin, const double* inv_scale, "
    "const double* sample_weight, Py_ssize_t n_samples, Py_ssize_t n_features, "
    "Py_ssize_t n_components, const double* means, const double* log_norm, "
    "const double* prec, double* scratch, double* stats) noexcept nogil")
_MD_DIAG_EVALUATE = (
    "(const {t}* X, const double* origin, const double* inv_scale, "
    "Py_ssize_t n_samples, Py_ssize_t n_features, Py_ssize_t n_components, "
    "const double* means, const double* log_norm, const double* prec, double* scratch, "
    "double* out_log_lik, double* out_resp, int64_t* out_label) noexcept nogil")
_MD_FULL_ACCUMULATE = (
    "(const {t}* X, const double* origin, const double* inv_scale, "
    "const double* sample_weight, Py_ssize_t n_samples, Py_ssize_t n_features, "
    "Py_ssize_t n_components, const double* means, const double* log_norm, "
    "const double* prec_chol, int tied, double* scratch, double* stats) noexcept nogil")
_MD_FULL_EVALUATE = (
    "(const {t}* X, const double* origin, const double* inv_scale, "
    "Py_ssize_t n_samples, Py_ssize_t n_features, Py_ssize_t n_components, "
    "const double* means, const double* log_norm, const double* prec_chol, int tied, "
    "double* scratch, double* out_log_lik, double* out_resp, int64_t* out_label) "
    "noexcept nogil")
EXPECTED_MD_DECLARATIONS = [
    "cdef Py_ssize_t diag_scratch_size(Py_ssize_t n_components, Py_ssize_t n_features) "
    "noexcept nogil",
    "cdef Py_ssize_t full_scratch_size(Py_ssize_t n_components, Py_ssize_t n_features) "
    "noexcept nogil",
    "cdef void accumulate_diag_block_f64" + _MD_DIAG_ACCUMULATE.format(t="double"),
    "cdef void accumulate_diag_block_f32" + _MD_DIAG_ACCUMULATE.format(t="float"),
    "cdef void evaluate_diag_block_f64" + _MD_DIAG_EVALUATE.format(t="double"),
    "cdef void evaluate_diag_block_f32" + _MD_DIAG_EVALUATE.format(t="float"),
    "cdef void accumulate_full_block_f64" + _MD_FULL_ACCUMULATE.format(t="double"),
    "cdef void accumulate_full_block_f32" + _MD_FULL_ACCUMULATE.format(t="float"),
    "cdef void evaluate_full_block_f64" + _MD_FULL_EVALUATE.format(t="double"),
    "cdef void evaluate_full_block_f32" + _MD_FULL_EVALUATE.format(t="float"),
]

# The C signature Cython stores as the name of each exported capsule.
EXPECTED_CAPI = {
    "scratch_size": "Py_ssize_t (Py_ssize_t)",
    "accumulate_block_f64": "void (double const *, double, double, double const *, Py_ssize_t, "
    "Py_ssize_t, double const *, double const *, double const *, double *, double *)",
    "accumulate_block_f32": "void (float const *, double, double, double const *, Py_ssize_t, "
    "Py_ssize_t, double const *, double const *, double const *, double *, double *)",
    "evaluate_block_f64": "void (double const *, double, double, Py_ssize_t, Py_ssize_t, "
    "double const *, double const *, double const *, double *, double *, double *, int64_t *)",
    "evaluate_block_f32": "void (float const *, double, double, Py_ssize_t, Py_ssize_t, "
    "double const *, double const *, double const *, double *, double *, double *, int64_t *)",
}

EXPECTED_MD_CAPI = {
    "diag_scratch_size": "Py_ssize_t (Py_ssize_t, Py_ssize_t)",
    "full_scratch_size": "Py_ssize_t (Py_ssize_t, Py_ssize_t)",
}
for _t in ("double", "float"):
    _s = "f64" if _t == "double" else "f32"
    for _kind, _tied in (("diag", ""), ("full", "int, ")):
        EXPECTED_MD_CAPI[f"accumulate_{_kind}_block_{_s}"] = (
            f"void ({_t} const *, double const *, double const *, double const *, "
            f"Py_ssize_t, Py_ssize_t, Py_ssize_t, double const *, double const *, "
            f"double const *, {_tied}double *, double *)")
        EXPECTED_MD_CAPI[f"evaluate_{_kind}_block_{_s}"] = (
            f"void ({_t} const *, double const *, double const *, "
            f"Py_ssize_t, Py_ssize_t, Py_ssize_t, double const *, double const *, "
            f"double const *, {_tied}double *, double *, double *, int64_t *)")

# The cimports the declarations rely on (a consumer's build needs them too).
EXPECTED_CIMPORTS = ["from libc.stdint cimport int64_t"]

# What ``cyem/__init__.pxd`` re-exports, module by module: every declared name,
# from the module that declares (and exports) it.
EXPECTED_REEXPORTS = {
    "cyem._kernels": sorted(EXPECTED_CAPI),
    "cyem._mdkernels": sorted(EXPECTED_MD_CAPI),
}

# Per installed .pxd: its declarations and the module whose capsule exports them.
PXD_FILES = {
    "_kernels.pxd": (EXPECTED_DECLARATIONS, _kernels, EXPECTED_CAPI),
    "_mdkernels.pxd": (EXPECTED_MD_DECLARATIONS, _mdkernels, EXPECTED_MD_CAPI),
}


def installed_pxd(name="_kernels.pxd"):
    """A ``.pxd`` of the imported cyem package (``_kernels.pxd`` by default)."""
    return importlib.resources.files("cyem").joinpath(name)


def _logical_lines(source):
    """Code lines of a .pxd: no docstrings or comments, parentheses joined."""
    source = re.sub(r'"""(?:.|\n)*?"""', "", source)
    source = "\n".join(line.split("#", 1)[0] for line in source.splitlines())
    out, depth = [], 0
    for char in source:
        depth += {"(": 1, ")": -1}.get(char, 0)
        out.append(" " if char == "\n" and depth > 0 else char)
    return "".join(out).splitlines()


def _normalise(declaration):
    text = " ".join(declaration.split())
    text = re.sub(r"\s*\*", "*", text)          # "double *x" / "double * x" -> "double* x"
    text = re.sub(r"\*(?=\w)", "* ", text)
    text = re.sub(r"\(\s+", "(", text)
    text = re.sub(r"\s+\)", ")", text)
    return re.sub(r"\s*,\s*", ", ", text)


def declarations(source):
    lines = [line.strip() for line in _logical_lines(source)]
    return [_normalise(line) for line in lines if line.startswith(("cdef ", "ctypedef "))]


def capsule_signature(capsule):
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype = ctypes.c_char_p
    get_name.argtypes = [ctypes.py_object]
    return get_name(capsule).decode("ascii")


def test_pxd_ships_with_the_installed_package():
    pxd = installed_pxd()
    assert pxd.is_file()
    # cyem.get_include() is what a consumer's build puts on Cython's include
    # path: it must lead to the same file.
    via_include = os.path.join(cyem.get_include(), "cyem", "_kernels.pxd")
    assert os.path.isfile(via_include)
    assert os.path.samefile(via_include, str(pxd))
    # ``from cyem cimport ...`` reads cyem/__init__.pxd from the same directory,
    # and it cimports _mdkernels.pxd: both must ship.
    for name in ("__init__.pxd", "_mdkernels.pxd"):
        assert os.path.isfile(os.path.join(cyem.get_include(), "cyem", name)), name
    # Cython resolves "cyem._kernels" as a package module: cyem must look like
    # a package in that directory.
    assert os.path.isfile(os.path.join(cyem.get_include(), "cyem", "__init__.py"))
    if os.environ.get("CYEM_EXPECT_INSTALLED") == "1":
        assert "site-packages" in str(pxd)


def reexports(source):
    """{module: sorted names} of the ``from M cimport (...)`` lines of a .pxd."""
    out = {}
    for line in _logical_lines(source):
        match = re.match(r"\s*from\s+([\w.]+)\s+cimport\s+\(?([^)]*)\)?\s*$", line)
        if match:
            names = [n.strip() for n in match.group(2).split(",") if n.strip()]
            out.setdefault(match.group(1), []).extend(names)
    return {module: sorted(names) for module, names in out.items()}


def declared_name(declaration):
    return re.search(r"(\w+)\(", declaration).group(1)


@pytest.mark.parametrize("pxd_name", sorted(PXD_FILES))
def test_pxd_declarations_match_the_snapshot(pxd_name):
    expected, _, _ = PXD_FILES[pxd_name]
    source = installed_pxd(pxd_name).read_text(encoding="utf-8")
    assert declarations(source) == expected


@pytest.mark.parametrize("pxd_name", sorted(PXD_FILES))
def test_pxd_cimports_match_the_snapshot(pxd_name):
    source = installed_pxd(pxd_name).read_text(encoding="utf-8")
    lines = [" ".join(line.split()) for line in _logical_lines(source)]
    assert [line for line in lines if " cimport " in f" {line} "] == EXPECTED_CIMPORTS


@pytest.mark.parametrize("pxd_name", sorted(PXD_FILES))
def test_every_declaration_is_exported(pxd_name):
    expected, _, capi = PXD_FILES[pxd_name]
    assert sorted(declared_name(d) for d in expected) == sorted(capi)


@pytest.mark.parametrize("pxd_name", sorted(PXD_FILES))
def test_capsule_exports_match_the_snapshot(pxd_name):
    _, module, expected = PXD_FILES[pxd_name]
    capi = module.__pyx_capi__
    assert sorted(capi) == sorted(expected)
    for name, signature in expected.items():
        assert capsule_signature(capi[name]) == signature, name


def test_package_pxd_reexports_every_kernel_and_declares_nothing():
    # ``from cyem cimport ...`` is the public path (issue 11): cyem/__init__.pxd
    # must re-export every declared function from the module that defines it,
    # and declare none itself, so that each declaration lives in one place.
    source = installed_pxd("__init__.pxd").read_text(encoding="utf-8")
    assert declarations(source) == []
    assert reexports(source) == EXPECTED_REEXPORTS


def test_each_function_is_declared_once():
    # No name twice, within or across the installed .pxd files (NumPy repeats
    # some declarations; a second copy could drift from the first).
    names = []
    for entry in importlib.resources.files("cyem").iterdir():
        if entry.name.endswith(".pxd"):
            names += [declared_name(d) for d in declarations(entry.read_text(encoding="utf-8"))]
    assert sorted(names) == sorted([*EXPECTED_CAPI, *EXPECTED_MD_CAPI])


def test_both_paths_give_the_same_functions():
    # The deprecated path ``from cyem._kernels cimport ...`` resolves to the very
    # declarations that ``from cyem cimport ...`` re-exports: the package .pxd
    # cimports them from there, so the two paths cannot disagree. (downstream/
    # builds one module on each path against the installed wheel.)
    package = reexports(installed_pxd("__init__.pxd").read_text(encoding="utf-8"))
    old_path = installed_pxd("_kernels.pxd").read_text(encoding="utf-8")
    assert package["cyem._kernels"] == sorted(declared_name(d) for d in declarations(old_path))


def test_python_scratch_sizes_use_the_public_functions():
    # _mdkernels.scratch_size (what cyem's own fits allocate) and the C-level
    # diag_/full_scratch_size a consumer calls must agree; by the kernels'
    # scratch layout they are (K + d + 2) and (2 d + K + 3) tiles of 256 points.
    for K, d in [(1, 1), (3, 2), (5, 16), (4, 17), (2, 40)]:
        assert _mdkernels.scratch_size(K, d, _mdkernels.DIAG) == (K + d + 2) * 256
        assert _mdkernels.scratch_size(K, d, _mdkernels.FULL) == (2 * d + K + 3) * 256


def test_reexport_parser_sees_a_missing_name():
    source = installed_pxd("__init__.pxd").read_text(encoding="utf-8")
    dropped = source.replace("evaluate_full_block_f32,", "")
    assert dropped != source
    assert reexports(dropped) != EXPECTED_REEXPORTS


def test_snapshot_parser_sees_a_changed_signature():
    # Guard against a parser that would pass anything: a narrowed argument type
    # and a dropped qualifier must both show up as differences.
    source = installed_pxd().read_text(encoding="utf-8")
    changed = source.replace("cdef Py_ssize_t scratch_size(Py_ssize_t n_components)",
                             "cdef Py_ssize_t scratch_size(int n_components)")
    assert changed != source
    assert declarations(changed) != EXPECTED_DECLARATIONS
    dropped = re.sub(r"double\* stats\)\s*noexcept nogil", "double* stats) nogil", source)
    assert dropped != source
    assert declarations(dropped) != EXPECTED_DECLARATIONS


@pytest.mark.parametrize("text, expected", [
    ("cdef void f(const double *x,\n    double * y)  noexcept nogil",
     "cdef void f(const double* x, double* y) noexcept nogil"),
    ("cdef int g( int a ) nogil  # comment", "cdef int g(int a) nogil"),
])
def test_normalisation(text, expected):
    assert declarations(text) == [expected]
