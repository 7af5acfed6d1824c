"""Habits of scikit-learn estimators that cyem.GaussianMixture keeps: column
names (``feature_names_in_``), warnings that point at the caller's line, a
float from ``score`` whatever the input, and a ConvergenceWarning that
scikit-learn's filters catch. scikit-learn itself is the reference wherever
it has the same behaviour."""

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import cyem
from cyem import ConvergenceWarning, DegenerateComponentWarning, GaussianMixture

pd = pytest.importorskip("pandas")
sklearn_mixture = pytest.importorskip("sklearn.mixture")
sklearn_exceptions = pytest.importorskip("sklearn.exceptions")


def two_groups_2d(seed=0):
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal([0, 0], 1, (300, 2)), rng.normal([5, 3], 1, (200, 2))])


def bimodal(seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(-3, 1, 400), rng.normal(3, 1, 600)])


# ---- feature_names_in_ and the column-name check ----------------------------

def test_sklearn_column_name_check_passes():
    """scikit-learn's own check: names stored at fit, no warning with the
    right names, ValueError with its messages for reordered, unseen and
    missing names, in predict, predict_proba, score and score_samples, and
    at the second partial_fit."""
    from sklearn.utils.estimator_checks import check_dataframe_column_names_consistency

    check_dataframe_column_names_consistency(
        "GaussianMixture", GaussianMixture(n_init=2, max_iter=5))


def _outcome(call):
    """('ok' | exception type and message | warning messages) of ``call()``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            call()
        except (ValueError, TypeError) as exc:
            return type(exc), str(exc)
    return "ok", [str(w.message) for w in caught
                  if w.category is UserWarning and "feature names" in str(w.message)]


FIT_PREDICT_CASES = {
    "same names": (["a", "b"], ["a", "b"]),
    "swapped columns": (["a", "b"], ["b", "a"]),
    "renamed column": (["a", "b"], ["a", "c"]),
    "fitted with names, predicted without": (["a", "b"], None),
    "fitted without names, predicted with": (None, ["a", "b"]),
    "integer column names are not names": ([0, 1], [1, 0]),
}


@pytest.mark.parametrize("case", FIT_PREDICT_CASES)
@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score"])
def test_column_names_behave_as_in_sklearn(case, method):
    fit_names, predict_names = FIT_PREDICT_CASES[case]
    X = two_groups_2d()

    def frame(names):
        return X if names is None else pd.DataFrame(X, columns=names)

    def run(estimator_class):
        est = estimator_class(2, random_state=0).fit(frame(fit_names))
        return _outcome(lambda: getattr(est, method)(frame(predict_names))), est

    ours, cy = run(GaussianMixture)
    reference, sk = run(sklearn_mixture.GaussianMixture)
    assert ours == reference
    assert hasattr(cy, "feature_names_in_") == hasattr(sk, "feature_names_in_")
    if hasattr(sk, "feature_names_in_"):
        assert cy.feature_names_in_.dtype == object
        np.testing.assert_array_equal(cy.feature_names_in_, sk.feature_names_in_)
    assert cy.n_features_in_ == sk.n_features_in_ == 2


def test_swapped_columns_raise_in_every_method():
    X = pd.DataFrame(two_groups_2d(), columns=["a", "b"])
    gm = GaussianMixture(2, random_state=0).fit(X)
    swapped = X[["b", "a"]]
    for method in (gm.predict, gm.predict_proba, gm.score_samples, gm.score, gm.bic,
                   gm.aic):
        with pytest.raises(ValueError, match="same order as they were in fit"):
            method(swapped)


def test_mixed_column_name_types_are_refused_as_sklearn_does():
    X = pd.DataFrame(two_groups_2d(), columns=["a", 1])
    with pytest.raises(TypeError, match=r"\['int', 'str'\] as feature name"):
        sklearn_mixture.GaussianMixture(2).fit(X)
    with pytest.raises(TypeError, match=r"^X has column names of types \['int', 'str'\]"):
        GaussianMixture(2).fit(X)


def test_refit_without_names_forgets_them():
    X = two_groups_2d()
    gm = GaussianMixture(2, random_state=0).fit(pd.DataFrame(X, columns=["a", "b"]))
    assert list(gm.feature_names_in_) == ["a", "b"]
    gm.fit(X)
    assert not hasattr(gm, "feature_names_in_")
    labels = gm.fit_predict(pd.DataFrame(X, columns=["u", "v"]))
    assert list(gm.feature_names_in_) == ["u", "v"] and labels.shape == (X.shape[0],)
    gm.fit_chunks(X)
    assert not hasattr(gm, "feature_names_in_")


def test_univariate_dataframe_keeps_its_column_name():
    x = bimodal()
    gm = GaussianMixture(2, random_state=0).fit(pd.DataFrame({"height": x}))
    assert list(gm.feature_names_in_) == ["height"] and gm.n_features_in_ == 1
    with pytest.raises(ValueError, match="unseen at fit time:\n- weight"):
        gm.predict(pd.DataFrame({"weight": x}))
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        unnamed = gm.predict(x)
    np.testing.assert_array_equal(gm.predict(pd.DataFrame({"height": x})), unnamed)


def test_partial_fit_checks_names_after_the_first_call():
    X = pd.DataFrame(two_groups_2d(), columns=["a", "b"])
    gm = GaussianMixture(2, random_state=0).partial_fit(X)
    assert list(gm.feature_names_in_) == ["a", "b"]
    with pytest.raises(ValueError, match="same order as they were in fit"):
        gm.partial_fit(X[["b", "a"]])


def test_feature_names_survive_save_and_load(tmp_path):
    X = pd.DataFrame(two_groups_2d(), columns=["a", "b"])
    gm = GaussianMixture(2, random_state=0).fit(X)
    path = tmp_path / "model.json"
    cyem.save(gm, path)
    loaded = cyem.load(path)
    np.testing.assert_array_equal(loaded.feature_names_in_, gm.feature_names_in_)
    assert loaded.feature_names_in_.dtype == object
    with pytest.raises(ValueError, match="same order"):
        loaded.predict(X[["b", "a"]])


# ---- warnings point at the caller's line ------------------------------------

def _warnings_of(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return caught


def _assert_blames_this_file(caught, category, message=None):
    """At least one ``category`` warning was raised, and every warning raised
    from cyem points at a line of this file."""
    hits = [w for w in caught if issubclass(w.category, category)
            and (message is None or message in str(w.message))]
    assert hits, f"no {category.__name__} raised: {[str(w.message) for w in caught]}"
    for w in caught:
        assert w.filename == __file__, (w.filename, w.lineno, str(w.message))


DEGENERATE_DATA = np.concatenate([np.random.default_rng(0).normal(0, 1, 500),
                                  np.full(20, 3.0)])
# A component started on the 20 ties with reg_covar=0 collapses onto them.
COLLAPSING_START = dict(weights_init=[0.9, 0.1], means_init=[0.0, 3.0],
                        precisions_init=[1.0, 1e4], reg_covar=0, tol=1e-8, max_iter=500)


@pytest.mark.parametrize("method", ["fit", "fit_predict"])
def test_fit_warnings_point_at_the_caller(method):
    x = bimodal()
    caught = _warnings_of(lambda: getattr(GaussianMixture(2, max_iter=1, random_state=0),
                                          method)(x))
    _assert_blames_this_file(caught, ConvergenceWarning)
    caught = _warnings_of(lambda: getattr(GaussianMixture(2, **COLLAPSING_START),
                                          method)(DEGENERATE_DATA))
    _assert_blames_this_file(caught, DegenerateComponentWarning)
    caught = _warnings_of(lambda: getattr(GaussianMixture(1), method)(np.full(10, 2.0)))
    _assert_blames_this_file(caught, UserWarning, "single distinct value")


def test_multivariate_fit_warnings_point_at_the_caller():
    caught = _warnings_of(lambda: GaussianMixture(2, max_iter=1, random_state=0).fit(
        two_groups_2d()))
    _assert_blames_this_file(caught, ConvergenceWarning)


def test_fit_chunks_warnings_point_at_the_caller():
    x = bimodal()
    caught = _warnings_of(lambda: GaussianMixture(2, max_iter=1, random_state=0)
                          .fit_chunks(lambda: iter(np.array_split(x, 3))))
    _assert_blames_this_file(caught, ConvergenceWarning)
    caught = _warnings_of(lambda: GaussianMixture(2, **COLLAPSING_START)
                          .fit_chunks(DEGENERATE_DATA))
    _assert_blames_this_file(caught, DegenerateComponentWarning)
    caught = _warnings_of(lambda: GaussianMixture(1).fit_chunks(np.full(10, 2.0)))
    _assert_blames_this_file(caught, UserWarning, "single distinct value")


def test_select_warnings_point_at_the_caller():
    x = bimodal()
    caught = _warnings_of(lambda: cyem.select(x, n_components=[2], covariance_types="full",
                                              max_iter=1, n_init=1, random_state=0))
    _assert_blames_this_file(caught, ConvergenceWarning)
    # No component can hold 10,000 expected points: every candidate is degenerate.
    caught = _warnings_of(lambda: cyem.select(x, n_components=[1, 2], n_init=1,
                                              min_component_size=10_000, random_state=0))
    _assert_blames_this_file(caught, DegenerateComponentWarning)
    # Raised by every restart in a worker thread; said once, from here.
    caught = _warnings_of(lambda: cyem.select(np.full(10, 2.0), n_components=[1],
                                              covariance_types=("full", "tied")))
    _assert_blames_this_file(caught, UserWarning, "single distinct value")
    assert len(caught) == 1


def test_em_warnings_point_at_the_caller():
    caught = _warnings_of(lambda: cyem.em(DEGENERATE_DATA, [0.9, 0.1], [0.0, 3.0],
                                          [1.0, 0.01], reg_covar=0, tol=1e-8,
                                          max_iter=500))
    _assert_blames_this_file(caught, DegenerateComponentWarning)


def test_dask_fit_warnings_point_at_the_caller():
    da = pytest.importorskip("dask.array")
    X = da.from_array(bimodal(), chunks=300)
    caught = _warnings_of(lambda: GaussianMixture(2, max_iter=1, random_state=0).fit(X))
    _assert_blames_this_file(caught, ConvergenceWarning)


def test_column_name_warning_points_at_the_caller():
    gm = GaussianMixture(2, random_state=0).fit(two_groups_2d())
    caught = _warnings_of(lambda: gm.predict(pd.DataFrame(two_groups_2d(),
                                                          columns=["a", "b"])))
    _assert_blames_this_file(caught, UserWarning, "X has feature names")


# ---- score() returns a float for dask input ---------------------------------

def test_score_of_a_dask_array_is_a_float():
    da = pytest.importorskip("dask.array")
    x = bimodal()
    w = np.random.default_rng(2).uniform(0.5, 2.0, x.size)
    gm = GaussianMixture(2, random_state=0).fit(x)
    plain = gm.score(da.from_array(x, chunks=300))
    weighted = gm.score(da.from_array(x, chunks=300), sample_weight=w)
    assert type(plain) is float and type(weighted) is float
    reference = gm.score_samples(x)
    assert plain == pytest.approx(reference.mean(), rel=1e-12)
    assert weighted == pytest.approx(np.dot(w, reference) / w.sum(), rel=1e-12)
    assert f"{plain:.3f}" == f"{gm.score(x):.3f}"


# ---- ConvergenceWarning and scikit-learn's filters ---------------------------

def test_sklearn_filter_ignores_cyem_convergence_warning():
    x = bimodal()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=sklearn_exceptions.ConvergenceWarning)
        GaussianMixture(2, max_iter=1, random_state=0).fit(x)
    assert not [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", sklearn_exceptions.ConvergenceWarning)
        with pytest.raises(sklearn_exceptions.ConvergenceWarning) as info:
            GaussianMixture(2, max_iter=1, random_state=0).fit(x)
    assert type(info.value) is ConvergenceWarning
    assert issubclass(ConvergenceWarning, UserWarning)


SUBPROCESS = textwrap.dedent("""
    import sys, warnings
    import numpy as np
    {first}
    {second}
    x = np.random.default_rng(0).normal(size=500)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore",
                                category=sklearn.exceptions.ConvergenceWarning)
        gm = cyem.GaussianMixture(2, max_iter=1, random_state=0).fit(x)
    assert not gm.converged_
    print(len(caught))
""")


@pytest.mark.parametrize("order", ["cyem first", "sklearn first"])
def test_sklearn_filter_works_whatever_the_import_order(order, tmp_path):
    imports = ["import cyem", "import sklearn.exceptions"]
    if order == "sklearn first":
        imports.reverse()
    script = SUBPROCESS.format(first=imports[0], second=imports[1])
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0"


def test_importing_cyem_does_not_import_sklearn(tmp_path):
    script = ("import sys, cyem; "
              "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn'))")
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_external_stacklevel_counts_frames_inside_the_package():
    from cyem.exceptions import external_stacklevel

    def outside():
        return external_stacklevel()

    assert outside() == 1                      # the caller itself is outside cyem
