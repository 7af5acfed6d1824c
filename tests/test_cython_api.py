"""The public Cython API (``cyem/_kernels.pxd``) is an ABI: snapshot it.

Other packages compile against the ``.pxd`` that cyem installs and call the
kernels through the function pointers that ``cyem._kernels`` exports in its
``__pyx_capi__`` capsules. A changed argument list, type or qualifier breaks
them, so these tests compare both the installed declarations and the exported
C signatures with the lists written out below. If a test here fails, the change
to the API must be deliberate: update the lists, the documentation in the
``.pxd``, and the version number together.
"""

import ctypes
import importlib.resources
import os
import re

import pytest

import cyem
from cyem import _kernels

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

# The cimports the declarations rely on (a consumer's build needs them too).
EXPECTED_CIMPORTS = ["from libc.stdint cimport int64_t"]


def installed_pxd():
    """The ``_kernels.pxd`` of the imported cyem package."""
    return importlib.resources.files("cyem").joinpath("_kernels.pxd")


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
    # Cython resolves "cyem._kernels" as a package module: cyem must look like
    # a package in that directory.
    assert os.path.isfile(os.path.join(cyem.get_include(), "cyem", "__init__.py"))
    if os.environ.get("CYEM_EXPECT_INSTALLED") == "1":
        assert "site-packages" in str(pxd)


def test_pxd_declarations_match_the_snapshot():
    source = installed_pxd().read_text(encoding="utf-8")
    assert declarations(source) == EXPECTED_DECLARATIONS


def test_pxd_cimports_match_the_snapshot():
    source = installed_pxd().read_text(encoding="utf-8")
    lines = [" ".join(line.split()) for line in _logical_lines(source)]
    assert [line for line in lines if " cimport " in f" {line} "] == EXPECTED_CIMPORTS


def test_every_declaration_is_exported():
    names = [re.search(r"(\w+)\(", d).group(1) for d in EXPECTED_DECLARATIONS]
    assert sorted(names) == sorted(EXPECTED_CAPI)


def test_capsule_exports_match_the_snapshot():
    capi = _kernels.__pyx_capi__
    assert sorted(capi) == sorted(EXPECTED_CAPI)
    for name, signature in EXPECTED_CAPI.items():
        assert capsule_signature(capi[name]) == signature, name


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
