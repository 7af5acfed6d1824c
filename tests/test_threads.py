"""Threads (issues 12 and 19): the count changes the speed, never a bit of the result.

* Forced counts -- ``n_threads`` is capped at the usable cores, so on a
  one-core runner "1 against 2 threads" would compare one thread with itself.
  ``cyem._threads.forced_n_threads`` bypasses the cap (tests only), and every
  test here checks that the kernels really ran that many OpenMP threads: each
  thread works in its own row of the scratch memory (row ``threadid()``), so a
  scratch filled with NaN before the call shows afterwards exactly which
  threads ran. No timing is involved.
* Bitwise identity -- 1, 2, 3, 8 and 64 threads on data of 64 blocks (one
  block per thread at 64, several at fewer): the kernels' statistics and
  every fitted attribute and prediction of ``GaussianMixture``, for
  univariate, diagonal, full d <= 16 (C path) and full d = 20 (BLAS path)
  models, weighted and unweighted, float32 and float64.
* Small inputs run serially (``threads_for``), wired into every fused pass.
* Waiting threads sleep: importing cyem sets ``OMP_WAIT_POLICY=passive``
  before the OpenMP runtime loads, unless the user chose a policy; the
  runtime's own report (``OMP_DISPLAY_ENV``) shows what it uses.
* ``n_threads=None`` respects ``OMP_NUM_THREADS`` and the affinity mask.
"""

import copy
import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from threadpoolctl import threadpool_limits

import cyem
from cyem import GaussianMixture, _kernels, _mdkernels, _threads
from cyem import _params_md as md

THREAD_COUNTS = (1, 2, 3, 8, 64)
BLOCK = _kernels.BLOCK_SIZE
# 63 full blocks and a partial one: 64 blocks for both kernel families, so
# that 64 threads get one block each and fewer threads get several.
N = 63 * BLOCK + 2000
OPENMP = _kernels.build_info()["openmp"]

needs_openmp = pytest.mark.skipif(
    not OPENMP, reason="built without OpenMP: every count runs on one thread")


def test_data_have_64_blocks_in_both_kernel_families():
    assert _kernels.n_blocks(N) == 64
    assert _mdkernels.n_blocks(N) == 64
    assert _mdkernels.block_size(N) == BLOCK


# ---- problems ------------------------------------------------------------------

MODELS = {
    # name: (n_features, covariance_type)
    "univariate": (1, None),
    "diag-d8": (8, "diag"),
    "full-d6-C": (6, "full"),
    "full-d20-BLAS": (20, "full"),
}
K = 3


def make_data(model, weighted, dtype, seed=0):
    """K separated groups in d dimensions (1-D array when d == 1), and weights
    spanning six orders of magnitude."""
    d, _ = MODELS[model]
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (K, d))
    X = centres[rng.integers(0, K, N)] + rng.standard_normal((N, d))
    X = (X.ravel() if d == 1 else X).astype(dtype)
    weight = 10.0 ** rng.uniform(-3, 3, N) if weighted else None
    return X, weight


def kernel_call(model, X, weight, seed=1):
    """A function running one fused pass with t threads and a given scratch,
    from fixed parameters near the data's groups (the kernels' own inputs)."""
    d, ctype = MODELS[model]
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(K))
    if d == 1:
        arrays = _kernels.component_arrays(weights, rng.normal(0, 4, K),
                                           rng.uniform(0.5, 2, K))
        return (lambda t, scratch: _kernels.accumulate_stats(X, weight, *arrays, t,
                                                             scratch=scratch),
                lambda t: _kernels.make_scratch(K, t))
    cov = {"diag": rng.uniform(0.5, 2, (K, d)),
           "full": np.array([np.cov(rng.standard_normal((d, 3 * d))) for _ in range(K)])}[ctype]
    cov, prec_chol = md.precision_cholesky(cov, ctype)
    params = md.MDParams(ctype, weights, rng.normal(0, 4, (K, d)), cov, prec_chol)
    means, log_norm, prec, kind = params.kernel_arrays()
    origin, inv_scale = np.zeros(d), np.ones(d)
    return (lambda t, scratch: _mdkernels.accumulate_stats(
                X, weight, means, log_norm, prec, kind, t, origin, inv_scale,
                scratch=scratch),
            lambda t: _mdkernels.make_scratch(K, d, kind, t))


def threads_that_ran(scratch):
    """Rows of a NaN-filled scratch that a kernel wrote into: the OpenMP
    thread ids that ran (each thread works in row ``threadid()`` only)."""
    return int(np.sum(~np.all(np.isnan(scratch), axis=1)))


def run_counting_threads(call, make_scratch, t):
    scratch = make_scratch(t)
    scratch.fill(np.nan)
    result = call(t, scratch)
    return result, threads_that_ran(scratch)


# ---- kernel statistics -------------------------------------------------------

@needs_openmp
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("model", list(MODELS))
def test_kernel_statistics_bitwise_identical_for_forced_thread_counts(model, weighted,
                                                                       dtype):
    X, weight = make_data(model, weighted, dtype)
    call, make_scratch = kernel_call(model, X, weight)
    stats = {}
    with threadpool_limits(1, "blas"):     # as the estimator calls the BLAS path
        for t in THREAD_COUNTS:
            stats[t], ran = run_counting_threads(call, make_scratch, t)
            assert ran == t, f"asked for {t} threads, {ran} ran"
    # Not trivially equal: W is the total weight, and the counts N_k add up to it.
    total = N if weight is None else float(np.sum(weight))
    assert stats[1][1] == pytest.approx(total, rel=1e-12)
    assert np.sum(stats[1][2:2 + K]) == pytest.approx(total, rel=1e-12)
    for t in THREAD_COUNTS[1:]:
        assert_array_equal(stats[t], stats[1], err_msg=f"{t} threads")


@needs_openmp
def test_threads_beyond_the_blocks_are_not_started():
    """The kernels never start more threads than blocks (an idle thread would
    only cost): 64 threads asked for 3 blocks run 3."""
    X, _ = make_data("univariate", False, np.float64)
    call, make_scratch = kernel_call("univariate", X[:3 * BLOCK], None)
    _, ran = run_counting_threads(call, make_scratch, 64)
    assert ran == 3


# ---- the estimator under forced counts ------------------------------------------

class KernelSpy:
    """Wraps a kernel module's ``accumulate_stats`` to record, for every fused
    pass, the thread count the model asked for and the threads that ran."""

    def __init__(self, monkeypatch, module):
        self.calls = []
        real = module.accumulate_stats

        def spy(*args, **kwargs):
            scratch = kwargs.get("scratch", args[-1])
            scratch.fill(np.nan)
            result = real(*args, **kwargs)
            self.calls.append(threads_that_ran(scratch))
            return result

        monkeypatch.setattr(module, "accumulate_stats", spy)


def fitted_state(model):
    return {k: copy.deepcopy(v) for k, v in vars(model).items() if k.endswith("_")}


def assert_same_state(actual, expected, context):
    assert actual.keys() == expected.keys()
    for key, want in expected.items():
        got = actual[key]
        if isinstance(want, (np.ndarray, list, tuple)):
            assert_array_equal(np.asarray(got), np.asarray(want), err_msg=f"{key}, {context}")
        else:
            assert got == want, f"{key}, {context}"


def fit_and_predict(model, X, weight):
    d, ctype = MODELS[model]
    # k-means initialisation: its Lloyd passes are threaded too (d >= 2).
    gm = GaussianMixture(K, covariance_type=ctype or "full", init_params="kmeans",
                         tol=0.0, max_iter=4, random_state=0)
    gm.fit(X, sample_weight=weight)
    X_new = X[::-3]
    return gm, dict(proba=gm.predict_proba(X_new), log_lik=gm.score_samples(X_new),
                    labels=gm.predict(X_new))


@needs_openmp
@pytest.mark.filterwarnings("ignore::cyem.ConvergenceWarning")     # max_iter=4 on purpose
# float32 data reach the kernels as float32: the kernel test above covers that
# path for every model; the whole fit on float32 data is the slow variant.
@pytest.mark.parametrize("dtype", [np.float64, pytest.param(np.float32, marks=pytest.mark.slow)])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("model", list(MODELS))
def test_fit_bitwise_identical_for_forced_thread_counts(model, weighted, dtype, monkeypatch):
    X, weight = make_data(model, weighted, dtype)
    spy = KernelSpy(monkeypatch, _kernels if MODELS[model][0] == 1 else _mdkernels)
    states, predictions = {}, {}
    for t in THREAD_COUNTS:
        spy.calls.clear()
        with _threads.forced_n_threads(t):
            gm, predictions[t] = fit_and_predict(model, X, weight)
        states[t] = fitted_state(gm)
        # every EM pass of the fit ran exactly t OpenMP threads
        assert len(spy.calls) >= 4 and set(spy.calls) == {t}, (t, spy.calls)
    # Not trivially equal: a real fit, whose predictions use every component.
    assert np.isfinite(states[1]["lower_bound_"])
    assert set(np.unique(predictions[1]["labels"])) == set(range(K))
    for t in THREAD_COUNTS[1:]:
        assert_same_state(states[t], states[1], f"{t} threads")
        for name, want in predictions[1].items():
            assert_array_equal(predictions[t][name], want, err_msg=f"{name}, {t} threads")


@needs_openmp
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_em_bitwise_identical_for_forced_thread_counts(weighted, monkeypatch):
    X, weight = make_data("univariate", weighted, np.float64)
    spy = KernelSpy(monkeypatch, _kernels)
    results = {}
    for t in THREAD_COUNTS:
        spy.calls.clear()
        with _threads.forced_n_threads(t):
            res = cyem.em(X, [0.3, 0.3, 0.4], [-4.0, 0.0, 4.0], [2.0, 2.0, 2.0],
                          sample_weight=weight, tol=0.0, max_iter=6)
        assert set(spy.calls) == {t}
        results[t] = res
    for t in THREAD_COUNTS[1:]:
        for name in ("weights", "means", "stds", "history"):
            assert_array_equal(getattr(results[t], name), getattr(results[1], name),
                               err_msg=f"{name}, {t} threads")
        assert results[t].log_likelihood == results[1].log_likelihood


# ---- the override itself ---------------------------------------------------------

def test_forced_count_overrides_the_cap_and_the_small_input_rule():
    with _threads.forced_n_threads(64):
        assert _threads.effective_n_threads(None) == 64
        assert _threads.effective_n_threads(1) == 64
        assert _threads.threads_for(10, 1, 1, 1) == 64
        with _threads.forced_n_threads(3):
            assert _threads.effective_n_threads(None) == 3
        assert _threads.effective_n_threads(None) == 64
    assert _threads.effective_n_threads(10**9) == _threads.usable_cpu_count()


def test_forced_count_is_released_when_the_block_raises():
    with pytest.raises(RuntimeError, match="inside"):
        with _threads.forced_n_threads(8):
            raise RuntimeError("inside")
    assert _threads.effective_n_threads(10**9) == _threads.usable_cpu_count()


@pytest.mark.parametrize("bad, error", [(0, ValueError), (65, ValueError), (-1, ValueError),
                                        (2.0, TypeError), (True, TypeError)])
def test_forced_count_refuses_counts_outside_1_to_64(bad, error):
    with pytest.raises(error, match="n_threads"):
        with _threads.forced_n_threads(bad):
            pass


def test_user_n_threads_is_still_validated_inside_a_forced_count():
    with _threads.forced_n_threads(2):
        with pytest.raises(ValueError, match="n_threads"):
            _threads.effective_n_threads(0)
        with pytest.raises(TypeError, match="n_threads"):
            _threads.effective_n_threads(1.5)


# ---- small inputs run serially ------------------------------------------------------

@pytest.mark.parametrize("n_features, ctype", [(1, None), (8, "diag"), (8, "full"),
                                               (20, "full")])
def test_threads_for_is_serial_below_the_threshold_and_grows_with_the_work(n_features,
                                                                           ctype):
    per_point = K * _threads.work_per_point(n_features, ctype)
    # smallest n at which a second thread gets its share of work
    n_two = int(np.ceil(2 * _threads.MIN_WORK_PER_THREAD / per_point))
    assert _threads.threads_for(n_two - 1, n_features, K, 8, ctype) == 1
    assert _threads.threads_for(n_two, n_features, K, 8, ctype) == 2
    assert _threads.threads_for(100 * n_two, n_features, K, 8, ctype) == 8
    assert _threads.threads_for(100 * n_two, n_features, K, 3, ctype) == 3   # never more
    assert _threads.threads_for(1, n_features, K, 8, ctype) == 1


def test_readme_and_demo_sized_fits_are_serial():
    """The README's 10,000 heights and the demo's 20,000 (K=2) are below the
    measured univariate crossover: one thread, even with 8 requested."""
    assert _threads.threads_for(10_000, 1, 2, 8) == 1
    assert _threads.threads_for(20_000, 1, 2, 8) == 1


def largest_serial_n(n_features, ctype, n_threads=4):
    """The largest n that threads_for keeps on one thread."""
    n = 1
    while _threads.threads_for(2 * n, n_features, K, n_threads, ctype) == 1:
        n *= 2
    low, high = n, 2 * n                      # serial at low, not at high
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if _threads.threads_for(
            mid, n_features, K, n_threads, ctype) == 1 else (low, mid)
    return low


@pytest.mark.parametrize("size", ["small", "large"])
@pytest.mark.parametrize("model", ["univariate", "full-d6-C"])
def test_every_fused_pass_asks_threads_for(model, size, monkeypatch):
    """The fit's passes run threads_for(n, d, K, requested) threads: 1 for an
    input just below the threshold (which still has several blocks, so the
    kernels alone would split it), the requested count (here 4 usable cores,
    whatever the machine has) for a large one."""
    monkeypatch.setattr(_threads, "usable_cpu_count", lambda: 4)
    d, ctype = MODELS[model]
    n = largest_serial_n(d, ctype or "full") if size == "small" else N
    module = _kernels if d == 1 else _mdkernels
    assert module.n_blocks(n) >= 2
    want = 1 if size == "small" else 4
    X, _ = make_data(model, False, np.float64)
    asked = []
    real = module.accumulate_stats

    def spy(*args, **kwargs):
        asked.append(args[5] if d == 1 else args[6])     # the n_threads argument
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "accumulate_stats", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cyem.ConvergenceWarning)
        GaussianMixture(K, covariance_type=ctype or "full", tol=0.0, max_iter=2,
                        random_state=0).fit(X[:n])
    assert len(asked) >= 2 and set(asked) == {want}


# ---- waiting threads sleep --------------------------------------------------------------

_WAIT_ENV_KEYS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME", "OMP_DISPLAY_ENV")


def import_cyem_and_report(extra_env):
    """Import cyem in a fresh interpreter with OMP_DISPLAY_ENV=verbose; returns
    (os.environ's OMP_WAIT_POLICY after the import, the runtime's report)."""
    env = {k: v for k, v in os.environ.items() if k not in _WAIT_ENV_KEYS}
    env.update(extra_env, OMP_DISPLAY_ENV="verbose")
    proc = subprocess.run(
        [sys.executable, "-c", "import os, cyem; print(os.environ.get('OMP_WAIT_POLICY'))"],
        env=env, capture_output=True, text=True, timeout=120,
        cwd=os.path.dirname(os.path.abspath(__file__)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.split()[-1], proc.stderr


def runtime_setting(report, name):
    match = re.search(rf"^\s*{name} = '([^']*)'", report, re.MULTILINE)
    return match and match.group(1)


def libgomp_report(report):
    """libgomp lists GOMP_SPINCOUNT: the number of spins before a waiting
    thread sleeps (0 passive, 300000 its default, 3e10 active)."""
    return runtime_setting(report, "GOMP_SPINCOUNT") is not None


@needs_openmp
def test_import_makes_waiting_threads_sleep():
    policy, report = import_cyem_and_report({})
    assert policy == "passive"
    assert runtime_setting(report, "OMP_WAIT_POLICY") == "PASSIVE", report
    if libgomp_report(report):
        assert runtime_setting(report, "GOMP_SPINCOUNT") == "0", report


@needs_openmp
def test_a_users_wait_policy_is_respected():
    policy, report = import_cyem_and_report({"OMP_WAIT_POLICY": "active"})
    assert policy == "active"
    assert runtime_setting(report, "OMP_WAIT_POLICY") == "ACTIVE", report


@needs_openmp
def test_a_users_spin_count_is_respected():
    policy, report = import_cyem_and_report({"GOMP_SPINCOUNT": "1000"})
    assert policy == "None"                  # cyem set no policy of its own
    if libgomp_report(report):
        assert runtime_setting(report, "GOMP_SPINCOUNT") == "1000", report


# ---- n_threads=None: every usable core, limits respected --------------------------------

def usable_in_subprocess(code, extra_env):
    env = dict(os.environ, **extra_env)
    proc = subprocess.run(
        [sys.executable, "-c", code + "\nimport cyem._threads as t\n"
         "print(t.usable_cpu_count(), t.effective_n_threads(None))"],
        env=env, capture_output=True, text=True, timeout=120,
        cwd=os.path.dirname(os.path.abspath(__file__)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [int(v) for v in proc.stdout.split()]


@needs_openmp
def test_none_respects_omp_num_threads():
    assert usable_in_subprocess("", {"OMP_NUM_THREADS": "1"}) == [1, 1]


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no affinity API here")
def test_none_respects_the_affinity_mask():
    cpu = min(os.sched_getaffinity(0))
    assert usable_in_subprocess(f"import os; os.sched_setaffinity(0, {{{cpu}}})",
                                {"OMP_NUM_THREADS": "64"}) == [1, 1]
