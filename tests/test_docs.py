"""Tests of the documentation.

* The tutorial's numbers: the hand-written NumPy E and M steps shown in
  ``docs/tutorial/plot_em_tutorial.py`` give the same parameters as
  ``cyem.em`` after the same number of iterations from the same start.
* The doctests of every public docstring of the installed cyem pass, and
  every public object has at least one example (those still without one are
  listed in ``MISSING_EXAMPLES`` and expected to fail, strictly: adding an
  example makes the test pass unexpectedly, and the entry must go).
* The Sphinx build, warnings as errors (slow; skipped without Sphinx).
* The README's test command, ``pip install ".[test]"`` then ``pytest``: the
  ``test`` extra provides every package a test imports optionally, so that no
  test is skipped for a missing package.
"""

import ast
import doctest
import importlib
import importlib.metadata
import importlib.util
import inspect
import io
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import cyem

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TUTORIAL = DOCS / "tutorial" / "plot_em_tutorial.py"

needs_tutorial = pytest.mark.skipif(not TUTORIAL.is_file(),
                                    reason="docs/ is not part of this checkout")


# ---- the tutorial's numbers ----------------------------------------------------

def tutorial_namespace():
    """The tutorial's imports, function definitions and UPPER_CASE constants,
    executed on their own: the code the tutorial shows, without its fits and
    plots (and without matplotlib, which the tests do not need)."""
    tree = ast.parse(TUTORIAL.read_text(encoding="utf-8"), filename=str(TUTORIAL))
    kept = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            if not any(alias.name.startswith("matplotlib") for alias in node.names):
                kept.append(node)
        elif isinstance(node, ast.ImportFrom):
            if not (node.module or "").startswith("matplotlib"):
                kept.append(node)
        elif isinstance(node, ast.FunctionDef):
            kept.append(node)
        elif isinstance(node, ast.Assign) and all(
                isinstance(t, ast.Name) and t.id.isupper() for t in node.targets):
            kept.append(node)
    namespace = {"__name__": "cyem_docs_tutorial"}
    exec(compile(ast.Module(body=kept, type_ignores=[]), str(TUTORIAL), "exec"),
         namespace)
    return namespace


@pytest.fixture(scope="module")
def tutorial():
    ns = tutorial_namespace()
    for name in ("e_step", "m_step", "numpy_em", "simulate_heights", "START",
                 "N_ITER", "N_SAMPLES", "SEED"):
        assert name in ns, f"the tutorial no longer defines {name}"
    ns["heights"], _ = ns["simulate_heights"](n_samples=ns["N_SAMPLES"],
                                              seed=ns["SEED"])
    return ns


def as_arrays(start):
    return {k: np.asarray(v, dtype=float) for k, v in start.items()}


@needs_tutorial
@pytest.mark.parametrize("n_iter", [1, 7, "N_ITER"])
def test_tutorial_numpy_em_matches_cyem(tutorial, n_iter):
    n_iter = tutorial["N_ITER"] if n_iter == "N_ITER" else n_iter
    x, start = tutorial["heights"], as_arrays(tutorial["START"])
    weights, means, stds, history = tutorial["numpy_em"](x, **start, n_iter=n_iter)
    result = cyem.em(x, **start, tol=0, max_iter=n_iter, reg_covar=0)
    assert result.n_iter == n_iter
    np.testing.assert_allclose(result.weights, weights, rtol=1e-10)
    np.testing.assert_allclose(result.means, means, rtol=1e-10)
    np.testing.assert_allclose(result.stds, stds, rtol=1e-10)
    np.testing.assert_allclose(result.history, history, rtol=1e-10)


@needs_tutorial
def test_tutorial_numpy_em_matches_cyem_three_components(tutorial):
    x = tutorial["heights"]
    start = as_arrays({"weights": [0.2, 0.5, 0.3], "means": [150.0, 170.0, 185.0],
                       "stds": [5.0, 9.0, 4.0]})
    weights, means, stds, history = tutorial["numpy_em"](x, **start, n_iter=40)
    result = cyem.em(x, **start, tol=0, max_iter=40, reg_covar=0)
    np.testing.assert_allclose(result.weights, weights, rtol=1e-10)
    np.testing.assert_allclose(result.means, means, rtol=1e-10)
    np.testing.assert_allclose(result.stds, stds, rtol=1e-10)
    np.testing.assert_allclose(result.history, history, rtol=1e-10)


@needs_tutorial
def test_tutorial_log_likelihood_never_decreases(tutorial):
    x, start = tutorial["heights"], as_arrays(tutorial["START"])
    *_, history = tutorial["numpy_em"](x, **start, n_iter=tutorial["N_ITER"])
    assert np.all(np.diff(history) >= -1e-12 * np.abs(history[:-1]))


@needs_tutorial
def test_tutorial_e_step_matches_predict_proba(tutorial):
    x = tutorial["heights"]
    gm = cyem.GaussianMixture(2, random_state=0).fit(x)
    resp, log_lik = tutorial["e_step"](x, gm.weights_, gm.means_.ravel(), gm.stds_)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(resp, gm.predict_proba(x), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(log_lik, gm.score_samples(x).sum(), rtol=1e-12)


# ---- doctests of the public API --------------------------------------------------

# Public objects whose docstring has no example yet (owned by other modules'
# authors). Each is an expected failure, strictly: once an example is added,
# the test passes unexpectedly and fails; then delete the entry.
MISSING_EXAMPLES = set()

# Public objects whose example is wrong (its output differs from what cyem
# prints); a corrected docstring has been proposed. Expected failures,
# strictly, as above.
BROKEN_EXAMPLES = set()

# Always public: cyem's own __all__ (the version string aside).
CORE = [name for name in cyem.__all__ if name != "__version__"]

# Public modules that some versions of cyem have; their __all__ is public.
OPTIONAL_MODULES = ["cyem.selection", "cyem.io", "cyem.plotting", "cyem.datasets"]


def public_members(cls, prefix):
    """Public methods and properties defined in the body of ``cls``."""
    for name, member in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(member, property) or inspect.isfunction(member):
            yield f"{prefix}.{name}", member


def public_objects():
    """(qualified name, object) of every public object, each object once,
    under its shortest public name."""
    found = [("cyem", cyem)]
    for name in CORE:
        found.append((f"cyem.{name}", getattr(cyem, name)))
    for name in ("select", "save", "load"):            # top-level in later versions
        if hasattr(cyem, name):
            found.append((f"cyem.{name}", getattr(cyem, name)))
    for module_name in OPTIONAL_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        found.append((module_name, module))
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                found.append((f"{module_name}.{name}", obj))
    for qualname, obj in list(found):
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            found.extend(public_members(obj, qualname))
    unique, seen = [], set()
    for qualname, obj in found:
        key = id(obj.fget) if isinstance(obj, property) else id(obj)
        if key not in seen:
            seen.add(key)
            unique.append((qualname, obj))
    return unique


def run_doctests(obj, name):
    """(failed, attempted, report) of the examples in ``obj``'s own docstring."""
    target = obj.fget if isinstance(obj, property) else obj
    finder = doctest.DocTestFinder(recurse=False, exclude_empty=False)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = io.StringIO()
    for test in finder.find(target, name, module=False, globs={}):
        runner.run(test, out=report.write)
    result = runner.summarize(verbose=False)
    return result.failed, result.attempted, report.getvalue()


def doctest_params():
    params = []
    for name, obj in public_objects():
        marks = []
        if name in MISSING_EXAMPLES:
            marks.append(pytest.mark.xfail(
                strict=True, reason=f"the docstring of {name} has no Examples yet"))
        if name in BROKEN_EXAMPLES:
            marks.append(pytest.mark.xfail(
                strict=True, reason=f"the example of {name} gives another output"))
        if name.startswith("cyem.plotting"):
            marks.append(pytest.mark.skipif(
                importlib.util.find_spec("matplotlib") is None,
                reason="cyem.plotting needs matplotlib"))
        params.append(pytest.param(name, obj, id=name, marks=marks))
    return params


@pytest.fixture
def quiet_plots():
    """Plots in docstrings draw off screen and are closed afterwards."""
    try:
        import matplotlib
    except ImportError:
        yield
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    yield
    plt.close("all")


@pytest.mark.parametrize("name, obj", doctest_params())
def test_docstring_examples(name, obj, quiet_plots):
    with warnings.catch_warnings():
        # An example may show a warning on purpose; it must not leak.
        warnings.simplefilter("ignore")
        failed, attempted, report = run_doctests(obj, name)
    assert failed == 0, f"doctest of {name} failed:\n{report}"
    if not inspect.ismodule(obj):       # a module's docstring need not have one
        assert attempted > 0, f"the docstring of {name} has no example (>>>)"


def test_missing_examples_list_names_public_objects():
    """Every entry of MISSING_EXAMPLES and BROKEN_EXAMPLES is still a public object (a renamed or
    removed one would otherwise be silently ignored)."""
    names = {name for name, _ in public_objects()}
    optional = tuple(m + "." for m in OPTIONAL_MODULES)
    stale = {n for n in MISSING_EXAMPLES | BROKEN_EXAMPLES
             if n not in names and not n.startswith(optional)}
    assert not stale, f"not public objects any more: {sorted(stale)}"


# ---- the Sphinx build ----------------------------------------------------------------

DOC_REQUIREMENTS = ["sphinx", "numpydoc", "sphinx_gallery", "matplotlib", "sklearn"]


@pytest.mark.slow
@pytest.mark.skipif(not (DOCS / "conf.py").is_file(), reason="no docs/ in this checkout")
def test_docs_build_without_warnings(tmp_path):
    missing = [m for m in DOC_REQUIREMENTS if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"building the docs needs {', '.join(missing)}")
    out = tmp_path / "html"
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(out)],
        # Not the repository root: "python -m" puts the working directory on
        # sys.path, and the source tree's cyem/ would shadow the installed one.
        cwd=DOCS, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    tutorial_images = list((out / "_images").glob("sphx_glr_plot_em_tutorial_*.png"))
    assert len(tutorial_images) >= 4, "the tutorial's figures were not produced"
    assert (out / "auto_tutorial" / "plot_em_tutorial.html").is_file()
    shutil.rmtree(out, ignore_errors=True)


# ---- the test extra ------------------------------------------------------------------

TESTS = Path(__file__).resolve().parent
# Import names whose distribution is called otherwise.
DISTRIBUTION_OF = {"sklearn": "scikit-learn", "sphinx_gallery": "sphinx-gallery"}


def normalised(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def optional_imports():
    """Top-level modules the tests import only if present (``importorskip``,
    ``find_spec``) or need for the docs build (DOC_REQUIREMENTS), by file."""
    pattern = re.compile(r"""(?:importorskip|find_spec)\(\s*["']([\w.]+)["']""")
    found = {}
    for path in sorted(TESTS.glob("test_*.py")):
        for module in pattern.findall(path.read_text(encoding="utf-8")):
            found.setdefault(module.split(".")[0], set()).add(path.name)
    for module in DOC_REQUIREMENTS:
        found.setdefault(module, set()).add("test_docs.py (DOC_REQUIREMENTS)")
    return found


def requirements_of_the_test_extra():
    """Distribution names the ``test`` extra installs, with the extras of
    each (``dask[array,distributed]`` installs distributed too): from
    pyproject.toml where it is beside the tests, else from cyem's metadata."""
    pyproject = TESTS.parent / "pyproject.toml"
    try:
        import tomllib
    except ImportError:                                 # Python < 3.11
        tomllib = None
    if tomllib is not None and pyproject.is_file():
        with open(pyproject, "rb") as f:
            requirements = tomllib.load(f)["project"]["optional-dependencies"]["test"]
    else:
        requirements = [r.split(";")[0] for r in importlib.metadata.requires("cyem") or []
                        if re.search(r"""extra\s*==\s*["']test["']""", r)]
    provided = set()
    for requirement in requirements:
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?", requirement)
        provided.add(normalised(match.group(1)))
        provided.update(normalised(e) for e in (match.group(2) or "").split(",") if e.strip())
    return provided


def test_the_test_extra_provides_every_optional_import():
    provided = requirements_of_the_test_extra()
    missing = {module: sorted(files) for module, files in optional_imports().items()
               if normalised(DISTRIBUTION_OF.get(module, module)) not in provided
               and module != "cyem"}
    assert not missing, (
        f"tests import these only if present, but the 'test' extra in pyproject.toml "
        f"does not install them (the tests would be skipped): {missing}")


def test_every_optional_import_of_the_tests_is_installed():
    """No test is skipped for a missing package: with ``pip install ".[test]"``
    this passes; elsewhere it lists what to install, once, instead of a
    scattering of skips."""
    absent = sorted(module for module in optional_imports()
                    if importlib.util.find_spec(module) is None)
    assert not absent, f'missing test dependencies: {absent}; pip install ".[test]"'
