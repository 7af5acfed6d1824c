"""The regression corpus of issue 11: nothing changes for users.

``scripts/record_corpus.py`` ran ~260 small fits through the public API at
one commit (``tests/data/corpus/meta.json`` says which) and stored every
fitted attribute, the densities of a few rows, the ``select`` table and the
state after each ``partial_fit`` call in ``tests/data/corpus/corpus.npz``.
Here every case is run again on the installed cyem and compared with the
recording **bitwise**: same dtype, same shape, same bits (NaN included).

A change that reorders an addition may move results in the last bits. Such a
case may be listed in ``RELATIVE_TOLERANCE`` (with the reason in a comment):
its floating-point quantities then need only agree to that relative
tolerance elementwise; integers, booleans and strings stay exact. Never
re-record the corpus to make a failure go away unless the change of results
is intended and announced.
"""

import fnmatch
import importlib.util
import json
import pathlib

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "corpus"
SCRIPT = ROOT / "scripts" / "record_corpus.py"

#: (case-id glob, quantity glob) -> relative tolerance. Empty: everything is
#: bitwise. Each entry needs a comment saying which addition changed order.
RELATIVE_TOLERANCE = {}


def _load_recorder():
    """The recording script as a module: the one definition of every case."""
    spec = importlib.util.spec_from_file_location("record_corpus", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


recorder = _load_recorder()
META = json.loads((CORPUS / "meta.json").read_text())
CASES = {case["id"]: case for case in META["cases"]}


@pytest.fixture(scope="module")
def recorded():
    with np.load(CORPUS / "corpus.npz", allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    by_case = {}
    for key, value in arrays.items():
        case_id, quantity = key.split("::", 1)
        by_case.setdefault(case_id, {})[quantity] = value
    return by_case


def tolerance_for(case_id, quantity):
    for (case_glob, quantity_glob), rtol in RELATIVE_TOLERANCE.items():
        if fnmatch.fnmatchcase(case_id, case_glob) and fnmatch.fnmatchcase(quantity, quantity_glob):
            return rtol
    return 0.0


def describe_difference(expected, actual, rtol=0.0):
    """None if ``actual`` matches ``expected``, else a line saying how they differ.

    With ``rtol == 0`` floating-point arrays must be identical bit for bit;
    otherwise elementwise |actual - expected| <= rtol |expected|.
    """
    actual = np.asarray(actual)
    if actual.dtype != expected.dtype:
        return f"dtype {actual.dtype}, recorded {expected.dtype}"
    if actual.shape != expected.shape:
        return f"shape {actual.shape}, recorded {expected.shape}"
    if expected.dtype.kind != "f":
        if np.array_equal(actual, expected):
            return None
        mismatch = np.flatnonzero(actual.ravel() != expected.ravel())
        first = mismatch[0]
        return (f"{mismatch.size} of {expected.size} values differ; first at flat index "
                f"{first}: {actual.ravel()[first]!r}, recorded {expected.ravel()[first]!r}")
    if rtol == 0.0:
        # Bitwise: compare the bytes (so -0.0 vs 0.0 and NaN payloads count).
        same = actual.ravel().view(np.uint8).reshape(-1, actual.itemsize) \
            == expected.ravel().view(np.uint8).reshape(-1, expected.itemsize)
        differs = ~same.all(axis=1)
    else:
        with np.errstate(invalid="ignore"):
            differs = ~(np.abs(actual - expected) <= rtol * np.abs(expected))
        differs &= ~(np.isnan(actual) & np.isnan(expected))
    if not differs.any():
        return None
    a, e = actual.ravel().astype(np.float64), expected.ravel().astype(np.float64)
    abs_diff = np.abs(a - e)
    abs_diff[np.isnan(a) != np.isnan(e)] = np.inf
    abs_diff[np.isnan(a) & np.isnan(e)] = 0.0
    # Relative to the recorded value; a zero recorded value differing is inf.
    rel_diff = np.divide(abs_diff, np.abs(e), out=np.where(abs_diff > 0, np.inf, 0.0),
                         where=e != 0)
    worst = int(np.argmax(np.where(differs, rel_diff, -1.0)))
    return (f"{int(differs.sum())} of {expected.size} values differ "
            f"({'bitwise' if rtol == 0 else f'rtol={rtol:g}'}); "
            f"max abs diff {abs_diff[differs].max():.3g}, "
            f"max rel diff {rel_diff[differs].max():.3g} "
            f"at flat index {worst}: {a[worst]!r}, recorded {e[worst]!r}")


def test_cases_are_the_recorded_ones():
    """The script still defines exactly the recorded cases: editing a case
    without re-recording it would compare against the wrong numbers."""
    current = [json.loads(json.dumps(case)) for case in recorder.build_cases()]
    assert current == META["cases"]


def test_corpus_covers_the_acceptance_list():
    kinds = {case["kind"] for case in CASES.values()}
    assert len(CASES) >= 200
    assert kinds >= {"fit", "warm_start", "fit_chunks_array", "fit_chunks_list", "dask",
                     "partial_fit", "select", "save_load"}
    fits = [case for case in CASES.values() if case["kind"] == "fit"]
    for ctype in recorder.COVARIANCE_TYPES:
        assert {case["d"] for case in fits if case["cov"] == ctype} == {1, 2, 8, 32}
    assert {case["fixed"] for case in fits} >= {None, "weights", "means", "covariances"}
    assert {case["dtype"] for case in fits} == {"float32", "float64"}
    assert {case["n_init"] for case in fits} >= {None, 1, 2}
    assert {case["n_threads"] for case in fits} == {None, 1, 2}
    assert any(case["weighted"] for case in fits)
    assert {type(case["tol"]) for case in fits} == {str, float}


@pytest.mark.parametrize("case_id", list(CASES))
def test_case_matches_recording(case_id, recorded):
    case = CASES[case_id]
    if case["kind"] == "dask":
        pytest.importorskip("dask.array")
    expected = recorded[case_id]
    actual = recorder.run_case(case)
    problems = []
    for quantity in sorted(expected.keys() - actual.keys()):
        problems.append(f"{quantity}: recorded but no longer produced")
    for quantity in sorted(actual.keys() - expected.keys()):
        problems.append(f"{quantity}: produced but not recorded")
    for quantity in sorted(expected.keys() & actual.keys()):
        difference = describe_difference(expected[quantity], actual[quantity],
                                         tolerance_for(case_id, quantity))
        if difference is not None:
            problems.append(f"{quantity}: {difference}")
    assert not problems, (f"case {case_id} (recorded at {META['commit'][:12]}) differs:\n  "
                          + "\n  ".join(problems))


def test_describe_difference_catches_one_ulp():
    """The comparison itself: one ulp, -0.0 and a dtype change are caught."""
    base = np.array([1.0, 0.0, 3.5])
    assert describe_difference(base, base.copy()) is None
    nudged = base.copy()
    nudged[2] = np.nextafter(3.5, 4.0)
    assert "1 of 3 values differ" in describe_difference(base, nudged)
    assert describe_difference(base, nudged, rtol=1e-13) is None
    signed = base.copy()
    signed[1] = -0.0
    assert describe_difference(base, signed) is not None
    assert "dtype" in describe_difference(base, base.astype(np.float32))
    assert describe_difference(np.array([np.nan]), np.array([np.nan])) is None
