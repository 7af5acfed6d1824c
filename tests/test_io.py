"""cyem.save / cyem.load: exact JSON round trip, rejection of foreign or corrupt
files with a clear message, and pickling still working."""

import copy
import json
import pickle

import numpy as np
import pytest

import cyem
from cyem import io as cyem_io
from cyem.datasets import load_galaxies

FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
          "converged_", "n_iter_", "lower_bound_", "lower_bounds_", "n_features_in_")


@pytest.fixture(scope="module")
def data():
    return load_galaxies()


@pytest.fixture(scope="module")
def fitted(data):
    return cyem.GaussianMixture(3, n_init=2, random_state=0, n_threads=1).fit(data)


def fitted_attributes(model):
    return {k: v for k, v in vars(model).items()
            if k.endswith("_") and not k.startswith("_")}


def assert_same_model(a, b, X):
    attrs_a, attrs_b = fitted_attributes(a), fitted_attributes(b)
    assert set(attrs_a) == set(attrs_b) and set(FITTED) <= set(attrs_a)
    for key, value in attrs_a.items():
        other = attrs_b[key]
        assert type(other) is type(value), key
        if isinstance(value, np.ndarray):
            assert other.dtype == value.dtype and other.shape == value.shape, key
        assert np.array_equal(value, other), key          # bit-exact floats
    assert a.get_params() == b.get_params()
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
    assert np.array_equal(a.score_samples(X), b.score_samples(X))


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_round_trip_is_exact(tmp_path, data, covariance_type):
    model = cyem.GaussianMixture(4, covariance_type=covariance_type, n_init=2,
                                 random_state=1, tol=1e-8, n_threads=1).fit(data)
    path = tmp_path / "model.json"
    cyem.save(model, path)
    loaded = cyem.load(path)
    assert isinstance(loaded, cyem.GaussianMixture)
    assert_same_model(model, loaded, data)


def test_round_trip_of_awkward_floats(tmp_path, fitted, data):
    model = copy.deepcopy(fitted)
    # Values whose shortest repr is long, subnormal or negative zero.
    model.lower_bounds_ = [0.1 + 0.2, 5e-324, -0.0, 1.7976931348623157e308,
                           float(np.nextafter(1.0, 2.0))]
    model.lower_bound_ = np.float64(np.pi)                 # a numpy scalar
    model.means_ = model.means_ + np.array([[1e-17], [0.0], [2.0**-40]])
    cyem.save(model, tmp_path / "m.json")
    loaded = cyem.load(tmp_path / "m.json")
    assert [x.hex() for x in loaded.lower_bounds_] == \
        [x.hex() for x in model.lower_bounds_]
    assert type(loaded.lower_bound_) is np.float64 and loaded.lower_bound_ == np.pi
    assert_same_model(model, loaded, data)


def test_array_constructor_parameters_round_trip(tmp_path, data):
    model = cyem.GaussianMixture(2, weights_init=np.array([0.2, 0.8]),
                                 means_init=[[10.0], [21.0]],
                                 precisions_init=np.array([1.0, 0.25]),
                                 random_state=0, n_threads=1).fit(data)
    cyem.save(model, tmp_path / "m.json")
    loaded = cyem.load(tmp_path / "m.json")
    assert np.array_equal(loaded.weights_init, model.weights_init)
    assert loaded.means_init == [[10.0], [21.0]]
    assert np.array_equal(loaded.precisions_init, model.precisions_init)
    assert np.array_equal(loaded.predict_proba(data), model.predict_proba(data))


def test_generator_random_state_is_dropped_and_listed(tmp_path, data):
    model = cyem.GaussianMixture(2, random_state=np.random.default_rng(0),
                                 n_threads=1).fit(data)
    cyem.save(model, tmp_path / "m.json")
    document = json.loads((tmp_path / "m.json").read_text())
    assert document["dropped_params"] == ["random_state"]
    assert document["params"]["random_state"] is None
    loaded = cyem.load(tmp_path / "m.json")
    assert loaded.random_state is None
    assert np.array_equal(loaded.predict(data), model.predict(data))


def test_file_is_documented_json(tmp_path, fitted):
    cyem.save(fitted, tmp_path / "m.json")
    document = json.loads((tmp_path / "m.json").read_text())
    assert document["format"] == "cyem-gaussian-mixture"
    assert document["version"] == 2
    assert document["training"] is None              # saved without the data
    assert document["cyem_version"] == cyem.__version__
    weights = document["fitted"]["weights_"]
    assert weights["type"] == "ndarray" and weights["dtype"] == "float64"
    assert weights["shape"] == [3] and len(weights["data"]) == 3
    assert document["fitted"]["converged_"] == {"type": "bool",
                                                "data": fitted.converged_}


def test_saving_an_unfitted_model_fails(tmp_path):
    with pytest.raises(cyem.NotFittedError):
        cyem.save(cyem.GaussianMixture(2, n_threads=1), tmp_path / "m.json")
    assert not list(tmp_path.iterdir())


def test_failed_save_leaves_existing_file_alone(tmp_path, fitted):
    path = tmp_path / "m.json"
    cyem.save(fitted, path)
    before = path.read_text()
    broken = copy.deepcopy(fitted)
    broken.means_ = np.array([[np.nan], [0.0], [1.0]])
    with pytest.raises(ValueError, match="means_"):
        cyem.save(broken, path)
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]


def test_saved_file_has_ordinary_permissions(tmp_path, fitted):
    cyem.save(fitted, tmp_path / "m.json")
    (tmp_path / "plain.txt").write_text("")
    assert (tmp_path / "m.json").stat().st_mode == (tmp_path / "plain.txt").stat().st_mode


def test_pickle_still_works(fitted, data):
    clone = pickle.loads(pickle.dumps(fitted))
    assert_same_model(fitted, clone, data)


# ---- rejection of foreign and corrupt files --------------------------------------

@pytest.fixture
def document(fitted):
    return cyem_io.to_dict(fitted)


def write(tmp_path, content):
    path = tmp_path / "model.json"
    if isinstance(content, (dict, list)):
        content = json.dumps(content)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def edit(document, change):
    document = copy.deepcopy(document)
    change(document)
    return document


def _set(path, value):
    def change(doc):
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


def _delete(path):
    def change(doc):
        target = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return change


@pytest.mark.parametrize("content, match", [
    ("", "invalid JSON"),
    ("{not json", "invalid JSON"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not UTF-8|invalid JSON"),
    ("[1, 2, 3]", "not an object"),
    ('{"format": "sklearn-model", "version": 1}', "format is 'sklearn-model'"),
    ('{"version": 1}', "format is None"),
])
def test_foreign_files_are_rejected(tmp_path, content, match):
    with pytest.raises(ValueError, match=match):
        cyem.load(write(tmp_path, content))


@pytest.mark.parametrize("change, match", [
    (_set(["version"], cyem_io.VERSION + 1), f"version {cyem_io.VERSION + 1}, newer"),
    (_set(["version"], "1"), "invalid format version"),
    (_set(["version"], 0), "invalid format version"),
    (_delete(["fitted"]), "'fitted' is missing"),
    (_delete(["params"]), "'params' is missing"),
    (_delete(["fitted", "means_"]), r"\['means_'\] missing"),
    (_set(["params", "flavour"], "vanilla"), "unknown parameter 'flavour'"),
    (_set(["fitted", "weights_", "shape"], [4]), "4 expected"),
    (_set(["fitted", "weights_", "shape"], [3, 1]), "weights_ has shape"),
    (_set(["fitted", "means_", "shape"], [1, 3]), "means_ has shape"),
    (_set(["fitted", "weights_", "data"], [0.5, 0.5, "0.0"]), "contains '0.0'"),
    (_set(["fitted", "weights_", "data"], [0.5, 0.5, None]), "contains None"),
    (_set(["fitted", "weights_", "data"], [0.5, 0.6, 0.1]), "summing to 1"),
    (_set(["fitted", "weights_", "dtype"], "object"), "unsupported dtype"),
    (_set(["fitted", "weights_", "type"], "pickle"), "unknown type 'pickle'"),
    (_set(["fitted", "weights_"], [0.2, 0.3, 0.5]), "not a tagged value"),
    (_set(["fitted", "n_iter_", "data"], 2.5), "should be a int"),
    (_set(["fitted", "n_features_in_", "data"], 0), "n_features_in_"),
    (_set(["fitted", "covariances_", "data"], [1.0, -1.0, 2.0]), "non-positive"),
    (_set(["fitted", "bogus"], {"type": "int", "data": 1}), "not a fitted attribute"),
    (_set(["params", "covariance_type"], "tied"), "covariances_ has shape"),
])
def test_corrupt_files_are_rejected(tmp_path, document, change, match):
    with pytest.raises(ValueError, match=match):
        cyem.load(write(tmp_path, edit(document, change)))


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_rejected(tmp_path, document, token):
    text = json.dumps(document).replace(
        json.dumps(document["fitted"]["lower_bound_"]["data"]), token, 1)
    assert token in text
    with pytest.raises(ValueError, match="non-finite number"):
        cyem.load(write(tmp_path, text))


def test_huge_number_overflowing_float_is_rejected(tmp_path, document):
    text = json.dumps(document).replace(
        json.dumps(document["fitted"]["means_"]["data"][0]), "1e999", 1)
    with pytest.raises(ValueError, match="overflows|non-finite"):
        cyem.load(write(tmp_path, text))


def test_error_names_the_file(tmp_path):
    path = write(tmp_path, "nope")
    with pytest.raises(ValueError, match=str(path).replace("\\", "\\\\")):
        cyem.load(path)


def test_missing_file_is_an_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        cyem.load(tmp_path / "absent.json")


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_round_trip_in_three_dimensions(tmp_path, covariance_type):
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.normal(0, 1, (200, 3)), rng.normal(4, 2, (100, 3))])
    model = cyem.GaussianMixture(2, covariance_type=covariance_type,
                                 random_state=0, n_threads=1).fit(x)
    cyem.save(model, tmp_path / "m.json")
    assert_same_model(model, cyem.load(tmp_path / "m.json"), x)
    document = json.loads((tmp_path / "m.json").read_text())
    document["fitted"]["means_"]["shape"] = [3, 2]
    (tmp_path / "bad.json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match="means_ has shape"):
        cyem.load(tmp_path / "bad.json")


# ---- format version 2: what the model was fitted to, names, old files ------------

# Written by cyem 0.1.0 (format version 1) and kept verbatim: newer readers must
# load it unchanged.
VERSION_1_FILE = """{
 "format": "cyem-gaussian-mixture",
 "version": 1,
 "cyem_version": "0.1.0",
 "params": {"covariance_type": "full", "init_params": "kmeans", "max_iter": 50, "means_init": null, "n_components": 2, "n_init": 1, "n_threads": 1, "precisions_init": null, "random_state": 0, "reg_covar": 1e-06, "tol": 0.001, "verbose": 0, "verbose_interval": 10, "warm_start": false, "weights_init": null},
 "dropped_params": [],
 "fitted": {
  "converged_": {"type": "bool", "data": true},
  "covariances_": {"type": "ndarray", "dtype": "float64", "shape": [2, 1, 1], "data": [1.0664431619762513, 1.4195516093675409]},
  "lower_bound_": {"type": "float", "data": -2.1700318978731814},
  "lower_bounds_": {"type": "list", "dtype": "float64", "shape": [3], "data": [-2.1714109454108943, -2.1702392363444845, -2.1700318978731814]},
  "means_": {"type": "ndarray", "dtype": "float64", "shape": [2, 1], "data": [-0.1494452034299496, 4.755041996578496]},
  "n_features_in_": {"type": "int", "data": 1},
  "n_iter_": {"type": "int", "data": 3},
  "precisions_": {"type": "ndarray", "dtype": "float64", "shape": [2, 1, 1], "data": [0.9376964808390501, 0.7044477942197075]},
  "precisions_cholesky_": {"type": "ndarray", "dtype": "float64", "shape": [2, 1, 1], "data": [0.9683472935053055, 0.8393138830138028]},
  "stds_": {"type": "ndarray", "dtype": "float64", "shape": [2], "data": [1.032687349576943, 1.1914493733967637]},
  "weights_": {"type": "ndarray", "dtype": "float64", "shape": [2], "data": [0.5498114811542505, 0.45018851884574956]}
 }
}
"""


def mixture_log_density(x, weights, means, variances):
    """log sum_k w_k N(x; mu_k, var_k), written out with SciPy (the reference)."""
    from scipy.special import logsumexp
    from scipy.stats import norm
    x = np.asarray(x, dtype=float)[:, None]
    log_parts = np.log(weights) + norm.logpdf(x, means, np.sqrt(variances))
    return logsumexp(log_parts, axis=1)


def test_version_1_files_still_load(tmp_path):
    path = write(tmp_path, VERSION_1_FILE)
    model = cyem.load(path)
    assert model.n_components == 2 and model.max_iter == 50
    x = np.linspace(-4.0, 9.0, 27)
    weights = [0.5498114811542505, 0.45018851884574956]
    means = [-0.1494452034299496, 4.755041996578496]
    variances = [1.0664431619762513, 1.4195516093675409]
    np.testing.assert_allclose(model.score_samples(x),
                               mixture_log_density(x, weights, means, variances),
                               rtol=1e-12)
    # Saved again, it is written in the current version.
    cyem.save(model, tmp_path / "again.json")
    assert json.loads((tmp_path / "again.json").read_text())["version"] == cyem_io.VERSION


def test_saved_model_records_its_training_data(tmp_path, data):
    model = cyem.GaussianMixture(2, random_state=0, n_threads=1).fit(data)
    cyem.save(model, tmp_path / "m.json", X=data, columns=["velocity"])
    training = json.loads((tmp_path / "m.json").read_text())["training"]
    weights, means = model.weights_, model.means_.ravel()
    log_lik = mixture_log_density(data, weights, means, model.covariances_.ravel()).sum()
    n, p = data.size, 3 * 2 - 1            # 2 weights (1 free), 2 means, 2 variances
    assert training["columns"] == ["velocity"]
    assert training["n_samples"] == n and training["total_weight"] == n
    assert training["n_parameters"] == p
    assert training["log_likelihood"] == pytest.approx(log_lik, rel=1e-10)
    assert training["bic"] == pytest.approx(-2 * log_lik + p * np.log(n), rel=1e-10)
    assert training["aic"] == pytest.approx(-2 * log_lik + 2 * p, rel=1e-10)
    assert_same_model(model, cyem.load(tmp_path / "m.json"), data)


def test_training_summary_with_sample_weights(data):
    model = cyem.GaussianMixture(2, random_state=0, n_threads=1).fit(data)
    weight = np.linspace(0.5, 2.5, data.size)
    training = cyem_io.to_dict(model, X=data, sample_weight=weight)["training"]
    log_lik = weight @ mixture_log_density(data, model.weights_, model.means_.ravel(),
                                           model.covariances_.ravel())
    assert training["total_weight"] == pytest.approx(weight.sum(), rel=1e-14)
    assert training["n_samples"] == data.size and training["columns"] is None
    assert training["log_likelihood"] == pytest.approx(log_lik, rel=1e-10)
    assert training["bic"] == pytest.approx(-2 * log_lik + 5 * np.log(weight.sum()),
                                            rel=1e-10)


def test_dumps_is_what_save_writes(tmp_path, fitted, data):
    cyem.save(fitted, tmp_path / "m.json", X=data)
    assert (tmp_path / "m.json").read_text() == cyem_io.dumps(fitted, X=data) + "\n"


@pytest.mark.parametrize("columns", [["a", "b"], [1], []])
def test_columns_must_name_each_feature(fitted, columns):
    with pytest.raises(ValueError, match="columns must be 1 name"):
        cyem_io.to_dict(fitted, columns=columns)


def test_feature_names_round_trip_as_strings(tmp_path, fitted, data):
    model = copy.deepcopy(fitted)
    # scikit-learn keeps names as an object array of str.
    model.feature_names_in_ = np.array(["velocity (km/s)"], dtype=object)
    cyem.save(model, tmp_path / "m.json")
    document = json.loads((tmp_path / "m.json").read_text())
    assert document["fitted"]["feature_names_in_"] == {
        "type": "ndarray", "dtype": "str", "shape": [1], "data": ["velocity (km/s)"]}
    assert document["training"]["columns"] == ["velocity (km/s)"]
    loaded = cyem.load(tmp_path / "m.json")
    assert loaded.feature_names_in_.dtype == object
    assert loaded.feature_names_in_.tolist() == ["velocity (km/s)"]
    model.feature_names_in_ = np.array(["velocity (km/s)"])          # dtype <U15
    cyem.save(model, tmp_path / "u.json")
    assert cyem.load(tmp_path / "u.json").feature_names_in_.tolist() == \
        ["velocity (km/s)"]


@pytest.mark.parametrize("training, match", [
    ([1, 2], "'training' is not an object"),
    ({"colour": "blue"}, r"unknown key\(s\) \['colour'\]"),
    ({"columns": ["a", "b"]}, "training columns"),
    ({"columns": [3]}, "training columns"),
    ({"bic": "12.5"}, "training bic"),
    ({"n_samples": True}, "training n_samples"),
])
def test_corrupt_training_is_rejected(tmp_path, document, training, match):
    with pytest.raises(ValueError, match=match):
        cyem.load(write(tmp_path, edit(document, _set(["training"], training))))


def test_corrupt_string_array_is_rejected(tmp_path, fitted):
    model = copy.deepcopy(fitted)
    model.feature_names_in_ = np.array(["v"], dtype=object)
    document = cyem_io.to_dict(model)
    document["fitted"]["feature_names_in_"]["data"] = [7]
    with pytest.raises(ValueError, match=r"feature_names_in_ \(str\) contains 7"):
        cyem.load(write(tmp_path, document))
