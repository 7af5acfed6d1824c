"""The ``cyem`` command line, run as ``python -m cyem`` in a subprocess: demo,
fit, select, --json, --plot, --help, and one clean error line for bad input."""

import io
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import cyem
from cyem.cli import Progress, _k_range

GALAXIES = os.path.join(os.path.dirname(cyem.__file__), "datasets", "galaxies.csv")


def run(*args, cwd=None, check=False):
    # The tests import the cyem under test; the subprocess must see the same.
    env = dict(os.environ)
    package_parent = os.path.dirname(os.path.dirname(cyem.__file__))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent,
                                                      env.get("PYTHONPATH")]))
    env.pop("CYEM_DEBUG", None)
    # `python -m` puts the working directory first on sys.path: run outside the
    # source tree unless a test chooses the directory.
    out = subprocess.run([sys.executable, "-m", "cyem", *map(str, args)],
                         capture_output=True, text=True, timeout=180,
                         cwd=cwd or tempfile.gettempdir(), env=env)
    if check:
        assert out.returncode == 0, out.stderr
        assert out.stderr == "", out.stderr
    return out


def assert_one_error_line(out):
    assert out.returncode != 0
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("cyem: error: ")
    return lines[0]


def assert_png(path, min_bytes=10_000):
    mpimg = pytest.importorskip("matplotlib.image")
    assert path.exists() and path.stat().st_size > min_bytes
    pixels = mpimg.imread(str(path))
    assert pixels.ndim == 3 and pixels.shape[0] > 200 and pixels.shape[1] > 300
    assert pixels[..., :3].std() > 0.05          # not a blank image
    # Several distinct colours: the data, the components and the mixture.
    colours = np.unique((pixels[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.normal(-3, 1, 300), rng.normal(3, 1.5, 200)])
    (d / "two.csv").write_text("id,value,label\n" + "".join(
        f"{i},{float(v)!r},{'ab'[i % 2]}\n" for i, v in enumerate(x)))
    np.save(d / "two.npy", x)
    np.save(d / "matrix.npy", np.column_stack([x, -x]))
    (d / "plain.txt").write_text("".join(f"{v}\n" for v in x))
    (d / "bad_value.csv").write_text("a,b\n1,2\n3,x\n5,6\n")
    (d / "ragged.csv").write_text("a,b\n1,2\n3\n")
    (d / "empty.csv").write_text("")
    (d / "header_only.csv").write_text("a,b\n")
    (d / "nan.csv").write_text("v\n1\n2\nnan\n")
    (d / "binary.csv").write_bytes(bytes(range(256)) * 4)
    (d / "strings.npy").write_bytes(b"")
    np.save(d / "strings.npy", np.array(["a", "b"]))
    np.save(d / "objects.npy", np.array([1, "a"], dtype=object), allow_pickle=True)
    (d / "constant.csv").write_text("v\n1\n1\n1\n")
    return d


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "demo.png"
    return run("demo", "--plot", path, check=True).stdout, path


def test_demo_prints_the_truth_table(demo_run):
    out, _ = demo_run
    rows = {line.split()[0]: [float(v) for v in line.split()[1:]]
            for line in out.splitlines() if line.startswith(("women", "men"))}
    assert set(rows) == {"women", "men"}
    for w_true, w_fit, m_true, m_fit, s_true, s_fit in rows.values():
        assert abs(w_fit - w_true) < 0.03 and abs(m_fit - m_true) < 0.5
        assert abs(s_fit - s_true) < 0.3
    assert "converged=True" in out


def test_demo_plot(demo_run):
    out, path = demo_run
    assert f"plot written to {path}" in out
    assert_png(path)


@pytest.fixture(scope="module")
def fit_run(workdir):
    json_path, png_path = workdir / "model.json", workdir / "fit.png"
    out = run("fit", workdir / "two.csv", "--column", "value", "-k", 2,
              "--covariance-type", "tied", "--threads", 1, "--json", json_path,
              "--plot", png_path, check=True).stdout
    return out, json_path, png_path


def test_fit_prints_components_and_criteria(workdir, fit_run):
    out = fit_run[0]
    assert "500 rows, column 'value'" in out
    assert "converged" in out and "covariance_type='tied'" in out
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:3] == ["k", "weight",
                                                                          "n_k"])
    components = [[float(v) for v in line.split()] for line in lines[start + 2:start + 4]]
    (_, w0, n0, m0, s0), (_, w1, n1, m1, s1) = components
    assert m0 < m1 and abs(m0 + 3) < 0.3 and abs(m1 - 3) < 0.4
    assert abs(w0 - 0.6) < 0.06 and abs(n0 + n1 - 500) < 1e-6 and s0 == s1
    x = np.loadtxt(workdir / "two.csv", delimiter=",", skiprows=1, usecols=1)
    model = cyem.GaussianMixture(2, covariance_type="tied", n_init=10, tol=1e-6,
                                 max_iter=1000, random_state=0).fit(x)
    bic_line = next(line for line in lines if line.startswith("BIC"))
    assert float(bic_line.split()[1]) == pytest.approx(model.bic(x), abs=1e-3)
    assert "log-likelihood" in out and "AIC" in out


def test_fit_json_round_trips(workdir, fit_run):
    out, path, _ = fit_run
    assert f"model written to {path}" in out
    model = cyem.load(path)
    assert model.covariance_type == "tied" and model.n_components == 2
    assert json.loads(path.read_text())["format"] == "cyem-gaussian-mixture"
    x = np.load(workdir / "two.npy")
    refit = cyem.GaussianMixture(**model.get_params()).fit(x)
    assert np.array_equal(refit.means_, model.means_)


def test_fit_plot(fit_run):
    out, _, path = fit_run
    assert f"plot written to {path}" in out
    assert_png(path)


def test_fit_reads_parquet(workdir, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    x = np.load(workdir / "two.npy")
    table = pa.table({"value": x, "label": ["ab"[i % 2] for i in range(x.size)],
                      "gaps": pa.array([None] + list(x[1:]))})
    pq.write_table(table, tmp_path / "two.parquet")
    out = run("fit", tmp_path / "two.parquet", "-c", "value", "-k", 2, "--threads", 1,
              check=True).stdout
    assert "500 rows, column 'value'" in out and "BIC" in out
    for column, message in (("label", "not numeric"), ("gaps", "1 missing values"),
                            ("nope", "no column 'nope'")):
        line = assert_one_error_line(run("fit", tmp_path / "two.parquet", "-c", column,
                                         "-k", 2))
        assert message in line, line
    (tmp_path / "fake.parquet").write_text("not parquet")
    line = assert_one_error_line(run("fit", tmp_path / "fake.parquet", "-k", 2))
    assert "not a readable Parquet file" in line


def test_fit_two_columns(workdir, tmp_path):
    args = ("fit", workdir / "matrix.npy", "-k", 2, "--threads", 1,
            "--plot", tmp_path / "2d.png")
    out = run(*args)
    if out.returncode:                               # univariate-only estimator
        line = assert_one_error_line(out)
        assert "--column" in line
        return
    assert "mean[0]" in out.stdout and "sd[1]" in out.stdout
    assert_png(tmp_path / "2d.png")


@pytest.mark.parametrize("name, extra", [
    ("two.npy", []), ("plain.txt", []), ("matrix.npy", ["--column", "0"]),
    ("two.csv", ["--column", "1"]),
])
def test_fit_reads_npy_and_text(workdir, name, extra):
    out = run("fit", workdir / name, "-k", 2, "--threads", 1, *extra, check=True).stdout
    assert "500 rows" in out and "BIC" in out


def test_select_marks_the_best(tmp_path):
    json_path, png_path = tmp_path / "best.json", tmp_path / "select.png"
    out = run("select", GALAXIES, "-k", "1..6", "--covariance-types", "tied,full",
              "--json", json_path, "--plot", png_path, check=True).stdout
    rows = [line for line in out.splitlines()
            if line.split()[1:2] in (["tied"], ["full"])]
    assert len(rows) == 12
    best = [line for line in rows if line.rstrip().endswith("<- best")]
    assert len(best) == 1
    K, ctype = best[0].split()[:2]
    assert f"Best by BIC: K = {K}, covariance_type = '{ctype}'" in out
    bics = [float(line.split()[4]) for line in rows if "degenerate" not in line]
    assert float(best[0].split()[4]) == min(bics)
    model = cyem.load(json_path)
    assert (model.n_components, model.covariance_type) == (int(K), ctype)
    assert_png(png_path, min_bytes=20_000)
    assert "\r" not in out


def test_select_options(tmp_path):
    out = run("select", GALAXIES, "-k", "2,4", "--covariance-types", "full",
              "--criterion", "icl", "--n-init", 2, "--init-params", "quantile,kmeans",
              "--n-jobs", 1, "--threads", 1, "--reg-covar-relative", 1e-3,
              check=True).stdout
    assert "Best by ICL" in out
    assert len([line for line in out.splitlines() if line.split()[1:2] == ["full"]]) == 2


def test_no_progress_bar_when_piped(workdir):
    out = run("select", workdir / "two.csv", "-c", "value", "-k", "1..3", check=True)
    assert "\r" not in out.stderr and "[" not in out.stderr


def test_progress_bar_draws_on_a_terminal_only():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    bar = Progress("fitting", stream=terminal, width=10, min_interval=0.0)
    for done in range(1, 5):
        bar.update(done, 4, " fits")
    bar.close()
    text = terminal.getvalue()
    assert "\rfitting [##########] 4/4 fits" in text and "2/4" in text
    assert text.endswith("\r")                       # the line is cleared

    pipe = io.StringIO()
    bar = Progress("fitting", stream=pipe, min_interval=0.0)
    bar.update(1, 2)
    bar.close()
    assert pipe.getvalue() == ""


@pytest.mark.parametrize("text, expected", [
    ("3", [3]), ("1..4", [1, 2, 3, 4]), ("2-3", [2, 3]), ("1..2,5,7..8", [1, 2, 5, 7, 8]),
])
def test_k_ranges(text, expected):
    assert _k_range(text) == expected


@pytest.mark.parametrize("command", [[], ["fit"], ["select"], ["demo"], ["info"]])
def test_help_texts(command):
    out = run(*command, "--help", check=True).stdout
    assert out.startswith("usage: cyem")
    expected = {"fit": ["--column", "-k", "--covariance-type", "--json", "--plot",
                        "--n-init", "--threads", "FILE"],
                "select": ["-k", "RANGE", "--criterion", "--covariance-types",
                           "--min-component-size", "--min-std-ratio",
                           "--reg-covar-relative", "--json", "--plot", "degenerate"],
                "demo": ["--n-samples", "--seed", "--plot"],
                "info": ["OpenMP"],
                "": ["fit", "select", "demo", "info"]}
    for option in expected[command[0] if command else ""]:
        assert option in out, option


def test_no_command_prints_help():
    out = run()
    assert out.returncode == 2 and "usage: cyem" in out.stdout


BAD_INPUTS = [
    (["fit", "{d}/absent.csv", "-k", "2"], "no such file"),
    (["fit", "{d}", "-k", "2"], "is a directory"),
    (["fit", "{d}/bad_value.csv", "-c", "b", "-k", "2"], "line 3, column 'b': 'x' is not"),
    (["fit", "{d}/two.csv", "-c", "label", "-k", "2"], "'a' is not a number"),
    (["fit", "{d}/two.csv", "-c", "height", "-k", "2"], "no column 'height'"),
    (["fit", "{d}/two.csv", "-k", "2"], "--column"),
    (["fit", "{d}/ragged.csv", "-c", "a", "-k", "1"], "line 3: 1 fields, expected 2"),
    (["fit", "{d}/empty.csv", "-k", "2"], "no data"),
    (["fit", "{d}/header_only.csv", "-k", "2"], "no data rows"),
    (["fit", "{d}/nan.csv", "-k", "2"], "'nan' is not a finite number"),
    (["fit", "{d}/binary.csv", "-k", "2"], "not a text"),
    (["fit", "{d}/strings.npy", "-k", "2"], "not numbers"),
    (["fit", "{d}/objects.npy", "-k", "2"], "not a readable .npy"),
    (["fit", "{d}/matrix.npy", "-c", "7", "-k", "2"], "no column '7'"),
    (["fit", "{d}/constant.csv", "-k", "2"], "n_components"),
    (["fit", "{d}/two.npy", "-k", "0"], "-k"),
    (["fit", "{d}/two.npy", "-k", "two"], "-k"),
    (["fit", "{d}/two.npy"], "required"),
    (["fit", "{d}/two.npy", "-k", "2", "--covariance-type", "banana"], "covariance-type"),
    (["fit", "{d}/two.npy", "-k", "2", "--json", "{d}/no/dir/m.json"], "does not exist"),
    (["fit", "{d}/two.npy", "-k", "2", "--plot", "{d}/no/dir/m.png"], "does not exist"),
    (["select", "{d}/two.npy", "-k", "0..3"], "bad range '0..3'"),
    (["select", "{d}/two.npy", "-k", "5..2"], "bad range '5..2'"),
    (["select", "{d}/two.npy", "-k", "1..x"], "bad range"),
    (["select", "{d}/two.npy", "-k", "1..2000"], "more than 1000"),
    (["select", "{d}/two.npy", "--covariance-types", "full,round"], "'round'"),
    (["select", "{d}/two.npy", "--criterion", "mdl"], "--criterion"),
    (["select", "{d}/constant.csv", "-k", "1..3"], "n_components"),
    (["frobnicate"], "invalid choice"),
    (["demo", "--n-samples", "1"], "--n-samples"),
]


@pytest.mark.parametrize("args, message", BAD_INPUTS,
                         ids=[" ".join(a).replace("{d}/", "") for a, _ in BAD_INPUTS])
def test_bad_input_is_one_clear_line(workdir, args, message):
    out = run(*[a.format(d=workdir) for a in args])
    line = assert_one_error_line(out)
    assert message in line, line
