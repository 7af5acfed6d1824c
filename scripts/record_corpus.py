"""Record the regression corpus of issue 11: ~240 small fits and their results.

The corpus pins what cyem computes *today* so that a redesign which promises
"nothing changes for users" can be checked: ``tests/test_corpus.py`` re-runs
every case below through the public API and compares every fitted attribute
with the recorded one, bitwise.

Coverage: the four covariance types x d in {1, 2, 8, 32}; sample weights
spanning six orders of magnitude; ``fixed`` weights / means / covariances;
float32 input; ``n_init`` 1, 2 and None; every ``init_params``; ``tol='auto'``
and a numeric ``tol`` (scikit-learn's rule); ``n_threads`` 1, 2 and None;
``warm_start`` (two fits); ``fit_chunks`` over an array with ``chunk_size``
and over a list of arrays; dask arrays (synchronous scheduler);
``partial_fit`` (the state after each of three calls); ``select`` (its table
and best model); and a ``save``/``load`` round trip.

Inputs are never stored: every case draws its data from its own seed
(``numpy.random.default_rng``), so the corpus holds only results.

Files written (``--out``, default ``tests/data/corpus``)
--------------------------------------------------------
corpus.npz
    One array per (case, quantity), keyed ``"<case id>::<quantity>"``.
meta.json
    The commit the corpus was recorded from, library versions, and each
    case's spec (the test refuses to compare a case whose spec changed).

Usage
-----
Record from a clean copy of the commit to pin, with its extensions built in
place, so that work in progress in the live tree cannot leak in::

    git worktree add /tmp/corpus-base HEAD
    (cd /tmp/corpus-base && python setup.py build_ext --inplace)
    PYTHONPATH=/tmp/corpus-base python scripts/record_corpus.py

The script prints which ``cyem`` it imported; it refuses to record from a
tree with uncommitted changes under ``cyem/`` unless ``--allow-dirty``.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
WIDTHS = (1, 2, 8, 32)
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data", "quantile")
FIT_ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_",
                  "precisions_cholesky_", "stds_", "converged_", "n_iter_",
                  "lower_bound_", "lower_bounds_")
# Rows of the training data on which score_samples / predict_proba are recorded.
N_EVAL_ROWS = 16
SELECT_NUMERIC = ("n_components", "log_likelihood", "n_parameters", "bic", "aic",
                  "icl", "converged", "n_iter", "min_count", "min_std_ratio",
                  "degenerate", "degenerate_runs", "n_distinct", "copy", "best")
SELECT_TEXT = ("covariance_type", "init_params")


# ---------------------------------------------------------------- data

def _size(d):
    """Samples and components for width d: wide cases stay small."""
    return {1: (1000, 3), 2: (800, 3), 8: (500, 3), 32: (300, 2)}[d]


def mixture_truth(seed, d, K):
    """Generating weights, means and full covariances, in data units.

    Each case gets its own location and scale (scale spans 1e-1..1e3, where the default reg_covar stays negligible) so that
    the frame (cyem's centring and scaling) is exercised too.
    """
    rng = np.random.default_rng([seed, 1])
    weights = rng.dirichlet(np.full(K, 3.0))
    means = rng.normal(0.0, 4.0, (K, d))
    covariances = np.empty((K, d, d))
    for k in range(K):
        loading = rng.normal(0.0, 0.4, (d, d))
        covariances[k] = loading @ loading.T / d + np.diag(rng.uniform(0.4, 2.0, d))
    scale = 10.0 ** rng.uniform(-1.0, 3.0)
    loc = rng.uniform(-100.0, 100.0, d)
    return weights, means * scale + loc, covariances * scale ** 2


def draw(seed, n, d, K, part=0):
    """(X, sample_weight) of a case: n rows from ``mixture_truth``; 1-D for d = 1.

    ``part`` numbers further independent samples from the same mixture (the
    second fit of a warm start, the chunks of ``partial_fit``). The weights
    span six orders of magnitude (10**U(-3, 3)).
    """
    weights, means, covariances = mixture_truth(seed, d, K)
    rng = np.random.default_rng([seed, 2, part])
    labels = rng.choice(K, size=n, p=weights)
    X = np.empty((n, d))
    for k in range(K):
        rows = labels == k
        X[rows] = rng.multivariate_normal(means[k], covariances[k], rows.sum())
    sample_weight = 10.0 ** rng.uniform(-3.0, 3.0, n)
    return (X[:, 0] if d == 1 else X), sample_weight


def fixed_values(spec):
    """The ``fixed=`` dict of a case, from its generating parameters."""
    weights, means, covariances = mixture_truth(spec["seed"], spec["d"], spec["K"])
    d, ctype = spec["d"], spec["cov"]
    if ctype == "tied":
        cov = np.einsum("k,kij->ij", weights, covariances)
    elif ctype == "diag":
        cov = np.diagonal(covariances, axis1=1, axis2=2).copy()
    elif ctype == "spherical":
        cov = np.diagonal(covariances, axis1=1, axis2=2).mean(axis=1)
    else:
        cov = covariances
    if d == 1:
        # One feature: flat (K,) values ('tied' keeps its (1, 1) shape).
        means = means[:, 0]
        cov = cov if ctype == "tied" else cov.reshape(-1)
    values = {"weights": weights, "means": means, "covariances": cov}
    return {name: values[name] for name in spec["fixed"].split("+")}


# ---------------------------------------------------------------- cases

def _spec(kind, cov, d, seed, **options):
    n, K = _size(d)
    spec = dict(kind=kind, cov=cov, d=d, n=n, K=K, seed=seed, weighted=False,
                fixed=None, dtype="float64", n_init=1, tol="auto",
                init_params="kmeans", n_threads=1)
    spec.update(options)
    parts = [kind, cov, f"d{d}"] + [f"{key}={value}" for key, value in sorted(options.items())
                                    if key not in ("n", "K")]
    spec["id"] = "-".join(parts)
    return spec


def build_cases():
    """Every case of the corpus, in a fixed order, each a JSON-able dict."""
    cases = []
    seed = 1000

    def add(kind, cov, d, **options):
        nonlocal seed
        seed += 1
        cases.append(_spec(kind, cov, d, seed, **options))

    # The grid: every covariance type x width x a variant of the options.
    variants = ({}, {"weighted": True}, {"tol": 1e-3}, {"dtype": "float32"},
                {"n_init": None}, {"n_init": 2, "n_threads": 2})
    for cov in COVARIANCE_TYPES:
        for d in WIDTHS:
            for variant in variants:
                add("fit", cov, d, **variant)
    # Every init_params, on two widths.
    for cov in COVARIANCE_TYPES:
        for d in (1, 8):
            for init in INIT_PARAMS[1:]:
                add("fit", cov, d, init_params=init)
    # Thread counts: results must not depend on them.
    for cov in COVARIANCE_TYPES:
        add("fit", cov, 8, n_threads=2, weighted=True)
        add("fit", cov, 2, n_threads=None, tol=1e-4)
    # fixed= of each kind.
    for cov in COVARIANCE_TYPES:
        for d in (1, 2, 8):
            for fixed in ("weights", "means", "covariances", "weights+means"):
                add("fit", cov, d, fixed=fixed, weighted=(d == 2))
        add("fit", cov, 32, fixed="means+covariances")
    # Two fits, the second starting from the first.
    for cov in COVARIANCE_TYPES:
        for d in (1, 2, 8):
            add("warm_start", cov, d, weighted=(d == 8), tol=1e-3 if d == 2 else "auto")
    # Out-of-core: an array read 4096 rows at a time (so n > 4096), and lists of arrays.
    for cov in COVARIANCE_TYPES:
        for d in (1, 2):
            add("fit_chunks_array", cov, d, n=5000, weighted=(d == 2))
        for d in (1, 8):
            add("fit_chunks_list", cov, d, weighted=True, fixed="means" if d == 1 else None)
    # Dask arrays under the synchronous scheduler.
    for cov in COVARIANCE_TYPES:
        for d in (1, 2, 8):
            add("dask", cov, d, weighted=(d != 2), dtype="float32" if d == 2 else "float64")
    # Online EM: three calls.
    for cov in COVARIANCE_TYPES:
        for d in (1, 2, 8):
            add("partial_fit", cov, d, weighted=(d == 2))
    # Model selection over a small grid.
    for d in (1, 2, 8):
        for weighted in (False, True):
            add("select", "all", d, weighted=weighted, n_init=2,
                n_threads=2 if weighted else 1)
    # save / load round trip.
    for cov in COVARIANCE_TYPES:
        for d in WIDTHS:
            add("save_load", cov, d, weighted=(d == 2))
    ids = [case["id"] for case in cases]
    assert len(set(ids)) == len(ids), "case ids must be unique"
    return cases


# ---------------------------------------------------------------- running

def _as_array(value):
    if isinstance(value, (list, tuple)):
        return np.asarray(value, dtype=np.float64)
    return np.asarray(value)


def fitted_state(model, X, prefix=""):
    """The fitted attributes of ``model`` and its densities on a few rows."""
    state = {}
    for name in FIT_ATTRIBUTES:
        if hasattr(model, name):
            state[prefix + name] = _as_array(getattr(model, name))
    rows = X[:N_EVAL_ROWS]
    state[prefix + "score_samples"] = np.asarray(model.score_samples(rows))
    state[prefix + "predict_proba"] = np.asarray(model.predict_proba(rows))
    return state


def _estimator(spec, **overrides):
    import cyem
    options = dict(covariance_type=spec["cov"], tol=spec["tol"], n_init=spec["n_init"],
                   init_params=spec["init_params"], n_threads=spec["n_threads"],
                   random_state=spec["seed"])
    if spec["fixed"]:
        options["fixed"] = fixed_values(spec)
    options.update(overrides)
    return cyem.GaussianMixture(spec["K"], **options)


def _data(spec, part=0):
    X, sample_weight = draw(spec["seed"], spec["n"], spec["d"], spec["K"], part)
    X = X.astype(spec["dtype"])
    return X, (sample_weight if spec["weighted"] else None)


def _run_select(spec):
    import cyem
    X, sample_weight = _data(spec)
    covariance_types = COVARIANCE_TYPES if spec["d"] < 8 else ("full", "diag")
    result = cyem.select(X, n_components=range(1, 4), covariance_types=covariance_types,
                         n_init=spec["n_init"], random_state=spec["seed"],
                         sample_weight=sample_weight, n_jobs=spec["n_threads"],
                         n_threads=1)
    state = {"best_index": np.asarray(result.best_index)}
    for column in SELECT_NUMERIC:
        state["table." + column] = np.asarray([record[column] for record in result.records])
    for column in SELECT_TEXT:
        state["table." + column] = np.asarray([str(record[column])
                                               for record in result.records])
    best = result.records[result.best_index]
    model = result.models[(best["n_components"], best["covariance_type"])]
    state.update(fitted_state(model, X, "best."))
    return state


def run_case(spec):
    """Run one case through cyem's public API; return {quantity: ndarray}.

    Warnings are recorded (their categories) rather than shown.
    """
    import cyem
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        state = _run_case(spec, cyem)
    categories = sorted({w.category.__name__ for w in caught})
    state["warnings"] = np.asarray(categories, dtype=str)
    return state


def _run_case(spec, cyem):
    kind = spec["kind"]
    if kind == "select":
        return _run_select(spec)
    X, sample_weight = _data(spec)
    if kind == "fit":
        model = _estimator(spec).fit(X, sample_weight=sample_weight)
        return fitted_state(model, X)
    if kind == "warm_start":
        model = _estimator(spec, warm_start=True).fit(X, sample_weight=sample_weight)
        state = fitted_state(model, X, "fit1.")
        X2, weight2 = _data(spec, part=1)
        model.fit(X2, sample_weight=weight2)
        state.update(fitted_state(model, X2, "fit2."))
        return state
    if kind == "fit_chunks_array":
        model = _estimator(spec).fit_chunks(X, sample_weight=sample_weight, chunk_size=4096)
        return fitted_state(model, X)
    if kind == "fit_chunks_list":
        cuts = [0, 97, 230, spec["n"]]
        chunks = [X[a:b] for a, b in zip(cuts, cuts[1:])]
        weights = None if sample_weight is None else [sample_weight[a:b]
                                                     for a, b in zip(cuts, cuts[1:])]
        model = _estimator(spec).fit_chunks(chunks, sample_weight=weights)
        return fitted_state(model, X)
    if kind == "dask":
        import dask
        import dask.array as da
        with dask.config.set(scheduler="synchronous"):
            chunks = (150,) + X.shape[1:]
            dX = da.from_array(X, chunks=chunks)
            dW = None if sample_weight is None else da.from_array(sample_weight, chunks=150)
            model = _estimator(spec).fit(dX, sample_weight=dW)
        return fitted_state(model, X)
    if kind == "partial_fit":
        model = _estimator(spec)
        state = {}
        for call in range(3):
            chunk, weight = _data(spec, part=call)
            model.partial_fit(chunk, sample_weight=weight)
            state.update(fitted_state(model, X, f"call{call}."))
        return state
    if kind == "save_load":
        model = _estimator(spec).fit(X, sample_weight=sample_weight)
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.json")
            cyem.save(model, path)
            loaded = cyem.load(path)
        return fitted_state(loaded, X)
    raise ValueError(f"unknown case kind {kind!r}")


# ---------------------------------------------------------------- recording

def _commit_of(path):
    """(commit hash, whether cyem/ has uncommitted changes) of the tree at ``path``."""
    def git(*args):
        return subprocess.run(["git", "-C", path, *args], check=True, capture_output=True,
                              text=True).stdout.strip()
    return git("rev-parse", "HEAD"), bool(git("status", "--porcelain", "--", "cyem"))


def record(out, allow_dirty=False):
    import cyem
    import numpy
    import scipy
    package_dir = os.path.dirname(os.path.abspath(cyem.__file__))
    tree = os.path.dirname(package_dir)
    commit, dirty = _commit_of(tree)
    print(f"recording from cyem {cyem.__version__} at {cyem.__file__} (commit {commit})")
    if dirty and not allow_dirty:
        sys.exit(f"{package_dir} has uncommitted changes; record from a clean worktree")
    cases = build_cases()
    arrays = {}
    start = time.perf_counter()
    for spec in cases:
        for name, value in run_case(spec).items():
            arrays[f"{spec['id']}::{name}"] = value
    elapsed = time.perf_counter() - start
    os.makedirs(out, exist_ok=True)
    np.savez_compressed(os.path.join(out, "corpus.npz"), **arrays)
    meta = {"commit": commit, "cyem_version": cyem.__version__,
            "numpy_version": numpy.__version__, "scipy_version": scipy.__version__,
            "python": sys.version.split()[0], "n_cases": len(cases), "cases": cases}
    with open(os.path.join(out, "meta.json"), "w") as file:
        json.dump(meta, file, indent=1)
        file.write("\n")
    print(f"{len(cases)} cases, {len(arrays)} arrays, {elapsed:.1f} s, written to {out}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--out", default=os.path.join(here, "..", "tests", "data", "corpus"))
    parser.add_argument("--allow-dirty", action="store_true",
                        help="record even if cyem/ has uncommitted changes")
    args = parser.parse_args()
    record(os.path.normpath(args.out), args.allow_dirty)


if __name__ == "__main__":
    main()
