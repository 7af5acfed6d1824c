"""The ``cyem`` command line, run as ``python -m cyem`` in a subprocess: demo,
fit, select, --json, --plot, --help, and one clean error line for bad input."""

import io
import json
import os
import shutil
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


def table_rows(text, first_column):
    """The rows of the table whose header starts with ``first_column``, as
    dicts (header cell -> text); the table ends at the first blank line."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == [first_column])
    header = lines[start].split()
    assert set(lines[start + 1]) == {"-"}
    rows = []
    for line in lines[start + 2:]:
        if not line.strip():
            break
        cells = line.split()
        assert len(cells) == len(header), (header, line)
        rows.append(dict(zip(header, cells)))
    return rows


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
    for column, message in (("label", "not numeric"),
                            ("gaps", "row 0, column 'gaps': missing value"),
                            ("nope", "no column 'nope'")):
        line = assert_one_error_line(run("fit", tmp_path / "two.parquet", "-c", column,
                                         "-k", 2))
        assert message in line, line
    out = run("fit", tmp_path / "two.parquet", "-c", "gaps", "-k", 2, "--dropna",
              "--labels", tmp_path / "labels.csv", check=True).stdout
    assert "499 rows, column 'gaps'" in out and "dropped 1 row with missing" in out
    assert (tmp_path / "labels.csv").read_text().splitlines()[1].startswith("1,")
    (tmp_path / "fake.parquet").write_text("not parquet")
    line = assert_one_error_line(run("fit", tmp_path / "fake.parquet", "-k", 2))
    assert "not a readable Parquet file" in line


def test_fit_two_columns(workdir, tmp_path):
    out = run("fit", workdir / "matrix.npy", "-k", 2, "--threads", 1,
              "--plot", tmp_path / "2d.png")
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    for column in ("mean[0]", "sd[0]", "mean[1]", "sd[1]", "corr[0,1]"):
        assert column in out.stdout, column
    # The columns are x and -x: each component's correlation is -1.
    rows = table_rows(out.stdout, "k")
    assert len(rows) == 2
    for row in rows:
        assert float(row["corr[0,1]"]) == pytest.approx(-1.0, abs=1e-3)
        assert float(row["mean[1]"]) == pytest.approx(-float(row["mean[0]"]), abs=1e-4)
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


# ---- issue 13: what a new user broke on the command line ----------------------------

def one_line_text(text):
    return " ".join(text.split())


def component_rows(stdout):
    return table_rows(stdout, "k")


def test_means_near_1e9_are_told_apart(tmp_path):
    # Unix timestamps: three groups 8000 s apart, sds of 1000-1500 s.
    rng = np.random.default_rng(1)
    groups = [1.7e9 + rng.normal(centre, sd, 300)
              for centre, sd in ((0, 1000), (8000, 1000), (16000, 1500))]
    np.savetxt(tmp_path / "stamps.csv", np.concatenate(groups), fmt="%.3f", header="t",
               comments="")
    out = run("fit", tmp_path / "stamps.csv", "-k", 3, "--threads", 1, check=True).stdout
    rows = component_rows(out)
    printed = [row["mean"] for row in rows]
    assert len(set(printed)) == 3, printed
    # Well separated groups: each fitted mean is its group's average to within
    # a few percent of an sd, so the printed digits must carry that much.
    for text, group in zip(printed, groups):
        assert float(text) == pytest.approx(group.mean(), abs=50.0), (text, group.mean())


@pytest.mark.parametrize("offset, sd", [(0.0, 1.0), (1.7e9, 1000.0), (1e15, 3.0),
                                        (-2e9, 0.5), (1e200, 1e190), (0.0, 1e-250)])
def test_number_format_resolves_a_hundredth_of_an_sd(offset, sd):
    from cyem.cli import number_format
    means = offset + sd * np.array([0.0, 0.37, 5.0])
    fmt = number_format(means, np.full(3, sd))
    texts = [fmt(m) for m in means]
    assert len(set(texts)) == 3, texts
    for text, mean in zip(texts, means):
        # What a float64 can hold bounds what can be printed.
        tolerance = max(sd / 100, abs(mean) * 2e-16)
        assert abs(float(text) - mean) <= tolerance, (text, mean)
        assert len(text) <= 24


def test_select_columns_never_run_together(tmp_path):
    n = 1_000_000
    np.save(tmp_path / "big.npy", np.random.default_rng(0).normal(size=n))
    out = run("select", tmp_path / "big.npy", "-k", 1, "--covariance-types", "full",
              "--init-params", "quantile", "--n-init", 1, check=True).stdout
    lines = out.splitlines()
    header = next(line for line in lines if line.split()[:2] == ["K", "covariance"])
    row = next(line for line in lines if line.split()[:2] == ["1", "full"])
    cells = row.split()
    # K covariance log-lik params BIC AIC ICL conv iter min-n_k min-sd <- best
    assert len(cells) == 13, row
    assert cells[7] == "yes" and int(cells[8]) >= 1
    assert float(cells[9]) == n                       # min n_k: every point in one
    assert cells[11:] == ["<-", "best"]
    # Every header label ends where its column ends.
    for label in ("iter", "min n_k", "params", "BIC"):
        end = header.index(label) + len(label)
        assert row[end - 1] != " " and (end == len(row) or row[end] == " "), label


def test_selection_table_widens_columns_to_fit():
    from cyem.selection import SelectionResult
    record = dict(n_components=12, covariance_type="spherical", log_likelihood=-1.5e9,
                  n_parameters=123456, bic=3.1e9, aic=3.0e9, icl=3.2e9, converged=True,
                  n_iter=123456, min_count=1e9, min_std_ratio=0.5, degenerate=False,
                  copy=False, n_distinct=12, best=True)
    text = SelectionResult("bic", [record], {}, 0).format_table()
    cells = text.splitlines()[2].split()
    assert cells[:11] == ["12", "spherical", "-1500000000.000", "123456",
                          "3100000000.000", "3000000000.000", "3200000000.000", "yes",
                          "123456", "1000000000.00", "0.5"]
    assert cells[11:] == ["<-", "best"]


def pandas_frame(rng, n=200):
    import pandas as pd
    return pd.DataFrame({"a": np.r_[rng.normal(0, 1, n // 2), rng.normal(6, 1, n // 2)],
                         "b": rng.normal(size=n)})


def test_pandas_index_column_is_not_a_feature(tmp_path):
    pytest.importorskip("pandas")                   # in the test extra
    frame = pandas_frame(np.random.default_rng(2))
    frame.to_csv(tmp_path / "frame.csv")            # writes the index, unnamed, first
    out = run("fit", tmp_path / "frame.csv", "-k", 2, "--threads", 1, check=True).stdout
    assert "200 rows, columns ['a', 'b']" in out
    assert "row index" in out
    # 2-D, K = 2, full: 1 weight + 2 x 2 means + 2 x 3 covariances.
    assert one_line_text(out).count("parameters 11") == 1
    means = sorted(float(row["mean[a]"]) for row in component_rows(out))
    assert means[0] == pytest.approx(frame.a[:100].mean(), abs=0.05)
    assert means[1] == pytest.approx(frame.a[100:].mean(), abs=0.05)


def test_r_row_names_are_not_a_feature(tmp_path):
    # R's write.csv: a quoted empty name, then quoted row names "1", "2", ...
    x = np.random.default_rng(3).normal(size=50)
    (tmp_path / "r.csv").write_text('"","x"\n' + "".join(
        f'"{i + 1}",{float(v)!r}\n' for i, v in enumerate(x)))
    out = run("fit", tmp_path / "r.csv", "-k", 1, "--threads", 1, check=True).stdout
    assert "50 rows, column 'x'" in out
    (row,) = component_rows(out)
    assert float(row["mean"]) == pytest.approx(x.mean(), abs=1e-5)


def test_numeric_header_is_not_read_as_data(tmp_path):
    rng = np.random.default_rng(4)
    values = np.column_stack([rng.normal(10, 1, 50), rng.normal(12, 1, 50)])
    np.savetxt(tmp_path / "years.csv", values, fmt="%.4f", delimiter=",",
               header="2020,2021", comments="")
    out = run("fit", tmp_path / "years.csv", "-k", 1, "--threads", 1, check=True).stdout
    assert "50 rows, columns ['2020', '2021']" in out
    assert "taken as a header" in out
    out = run("fit", tmp_path / "years.csv", "-k", 1, "--no-header", check=True).stdout
    assert "51 rows, columns ['0', '1']" in out
    # Whole numbers everywhere: only the user can tell; auto reads data, and says so.
    (tmp_path / "counts.csv").write_text("2020,2021\n3,4\n5,7\n6,9\n")
    out = run("fit", tmp_path / "counts.csv", "-k", 1, check=True).stdout
    assert "3 rows" not in out and "4 rows, columns ['0', '1']" in out
    assert "--header" in out
    out = run("fit", tmp_path / "counts.csv", "-k", 1, "--header", "-c", "2021",
              check=True).stdout
    assert "3 rows, column '2021'" in out
    (row,) = component_rows(out)
    assert float(row["mean"]) == pytest.approx(20 / 3, abs=1e-5)


def test_header_options_are_for_text_files(workdir):
    line = assert_one_error_line(run("fit", workdir / "two.npy", "-k", 1, "--header"))
    assert "--header" in line
    out = run("fit", workdir / "two.npy", "-k", 1, "--header", "--no-header")
    assert out.returncode == 2 and "not allowed with" in out.stderr


def test_column_help_tells_the_truth(workdir):
    text = one_line_text(run("fit", "--help", check=True).stdout)
    assert "the only column" not in text
    assert "Default: every column, fitted together as one multivariate model" in text
    # ... which is what happens: two columns, one 2-D fit.
    (workdir / "ab.csv").write_text("a,b\n" + "".join(
        f"{i % 7},{i % 5 + 0.5}\n" for i in range(40)))
    out = run("fit", workdir / "ab.csv", "-k", 1, check=True).stdout
    assert "columns ['a', 'b']" in out and "mean[a]" in out and "mean[b]" in out


@pytest.mark.parametrize("args, names, absent", [
    (["select", "{d}/two.npy", "--n-jobs", "0"], ["--n-jobs"], ["n_threads"]),
    (["select", "{d}/two.npy", "--n-jobs", "-2"], ["--n-jobs"], ["n_threads"]),
    (["fit", "{d}/onerow.csv", "-k", "3"], ["-k 3", "1 distinct row"], ["--column"]),
    (["fit", "{d}/two.npy", "-k", "2", "--plot", "{d}/x.xyz"], ["--plot", ".xyz"], []),
    (["fit", "{d}/two.npy", "-k", "2", "--plot", "{d}/noext"], ["--plot", "extension"],
     []),
    (["demo", "--seed", "-1"], ["--seed"], []),
    (["fit", "{d}/two.npy", "-k", "2", "--random-state", "-1"], ["--random-state"], []),
    (["fit", "{d}/two.npy", "-k", "2", "--json", "-", "--labels", "-"],
     ["--json", "--labels"], []),
])
def test_messages_name_the_right_argument(workdir, args, names, absent):
    (workdir / "onerow.csv").write_text("a,b,c\n1,2,3\n")
    out = run(*[a.format(d=workdir) for a in args])
    line = assert_one_error_line(out)
    for name in names:
        assert name in line, line
    for name in absent:
        assert name not in line, line
    assert "BIC" not in out.stdout             # refused before any fit


def test_select_skips_k_the_data_cannot_support(workdir):
    (workdir / "five.csv").write_text("v\n0\n10\n20\n20.001\n19.999\n")
    out = run("select", workdir / "five.csv", "--covariance-types", "full",
              "--n-init", 1, check=True).stdout
    assert "K = 6..9 skipped" in out and "5 distinct values" in out
    ks = [int(line.split()[0]) for line in out.splitlines()
          if line.split()[1:2] == ["full"]]
    assert ks == [1, 2, 3, 4, 5]
    # An explicit -k that the data cannot support is an error naming -k.
    line = assert_one_error_line(run("select", workdir / "five.csv", "-k", "4..7"))
    assert line.startswith("cyem: error: -k: K = 6..7")


def test_fit_flags_a_spurious_fit(workdir):
    (workdir / "five.csv").write_text("v\n0\n10\n20\n20.001\n19.999\n")
    out = run("fit", workdir / "five.csv", "-k", 3, check=True).stdout
    counts = sorted(float(row["n_k"]) for row in component_rows(out))
    assert counts[0] == pytest.approx(1.0, abs=1e-3)          # a one-point component
    assert "degenerate: smallest expected count 1.00" in out
    # The same thresholds as select, and the options to change them.
    out = run("fit", workdir / "five.csv", "-k", 3, "--min-component-size", 0.5,
              "--min-std-ratio", 0, check=True).stdout
    assert "degenerate" not in out


def test_a_sound_fit_is_not_flagged(workdir, fit_run):
    assert "degenerate" not in fit_run[0]


def gaussian_memberships(x, weights, means, variances):
    """p(k | x) from SciPy's normal density: the reference for --labels."""
    from scipy.stats import norm
    parts = np.asarray(weights) * norm.pdf(np.asarray(x)[:, None], means,
                                           np.sqrt(variances))
    return parts / parts.sum(axis=1, keepdims=True)


def test_json_to_stdout_with_the_training_summary(workdir, tmp_path):
    out = run("fit", workdir / "two.csv", "-c", "value", "-k", 2, "--threads", 1,
              "--json", "-", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    document = json.loads(out.stdout)              # nothing else on stdout
    assert "BIC" in out.stderr                     # the report went to stderr
    assert list(tmp_path.iterdir()) == []          # no file named '-'
    assert document["version"] == 2
    training = document["training"]
    fitted = document["fitted"]
    weights, means = fitted["weights_"]["data"], fitted["means_"]["data"]
    variances = fitted["covariances_"]["data"]
    x = np.load(workdir / "two.npy")
    from scipy.stats import norm
    log_lik = np.log(sum(w * norm.pdf(x, m, np.sqrt(v))
                         for w, m, v in zip(weights, means, variances))).sum()
    assert training["columns"] == ["value"] and training["n_samples"] == 500
    assert training["log_likelihood"] == pytest.approx(log_lik, rel=1e-10)
    assert training["bic"] == pytest.approx(-2 * log_lik + 5 * np.log(500), rel=1e-10)


def test_select_writes_the_best_models_json_and_labels(workdir, tmp_path):
    out = run("select", workdir / "two.csv", "-c", "value", "-k", "1..2",
              "--json", tmp_path / "best.json", "--labels", tmp_path / "labels.csv",
              check=True)
    assert f"best model written to {tmp_path / 'best.json'}" in out.stdout
    document = json.loads((tmp_path / "best.json").read_text())
    training = document["training"]
    assert training["columns"] == ["value"] and training["n_samples"] == 500
    K = document["params"]["n_components"]
    lines = (tmp_path / "labels.csv").read_text().splitlines()
    assert lines[0] == "row,component," + ",".join(f"p_{k}" for k in range(K))
    assert len(lines) == 501


def test_labels_file_has_each_rows_component_and_probabilities(workdir, tmp_path):
    out = run("fit", workdir / "two.csv", "-c", "value", "-k", 2, "--threads", 1,
              "--labels", tmp_path / "labels.csv", "--json", tmp_path / "m.json",
              check=True).stdout
    assert f"labels written to {tmp_path / 'labels.csv'}" in out
    lines = (tmp_path / "labels.csv").read_text().splitlines()
    assert lines[0] == "row,component,p_0,p_1"
    table = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    fitted = json.loads((tmp_path / "m.json").read_text())["fitted"]
    x = np.load(workdir / "two.npy")
    expected = gaussian_memberships(x, fitted["weights_"]["data"],
                                    fitted["means_"]["data"],
                                    fitted["covariances_"]["data"])
    assert np.array_equal(table[:, 0], np.arange(500))
    np.testing.assert_allclose(table[:, 2:], expected, rtol=1e-9, atol=1e-15)
    assert np.array_equal(table[:, 1], expected.argmax(axis=1))


def test_missing_values_are_refused_or_dropped(tmp_path):
    (tmp_path / "gaps.csv").write_text("a,b\n1,2\n,3\n4,NA\n5,6\n7,9\n")
    line = assert_one_error_line(run("fit", tmp_path / "gaps.csv", "-k", 1))
    assert "line 3, column 'a': missing value" in line and "--dropna" in line
    # Only the chosen columns count.
    line = assert_one_error_line(run("fit", tmp_path / "gaps.csv", "-k", 1, "-c", "b"))
    assert "line 4, column 'b': missing value 'NA'" in line
    out = run("fit", tmp_path / "gaps.csv", "-k", 1, "--dropna", "--labels", "-")
    assert out.returncode == 0, out.stderr
    assert "3 rows" in out.stderr and "dropped 2 rows with missing values" in out.stderr
    rows = [line.split(",")[0] for line in out.stdout.splitlines()[1:]]
    assert rows == ["0", "3", "4"]                  # positions among the data rows
    np.save(tmp_path / "gaps.npy", np.array([1.0, np.nan, 3.0, 4.0]))
    line = assert_one_error_line(run("fit", tmp_path / "gaps.npy", "-k", 1))
    assert "row 1, column '0': missing value" in line
    out = run("fit", tmp_path / "gaps.npy", "-k", 1, "--dropna", check=True).stdout
    assert "3 rows" in out
    (row,) = component_rows(out)
    assert float(row["mean"]) == pytest.approx(8 / 3, abs=1e-5)


def test_gzipped_csv_is_read(workdir, tmp_path):
    import gzip
    with gzip.open(tmp_path / "two.csv.gz", "wt") as handle:
        handle.write((workdir / "two.csv").read_text())
    plain = run("fit", workdir / "two.csv", "-c", "value", "-k", 2, "--threads", 1,
                check=True).stdout
    packed = run("fit", tmp_path / "two.csv.gz", "-c", "value", "-k", 2, "--threads", 1,
                 check=True).stdout
    assert "500 rows, column 'value'" in packed

    def criteria(text):
        return [line for line in text.splitlines()
                if line.startswith(("log-likelihood", "BIC", "AIC"))]
    assert criteria(packed) == criteria(plain) and len(criteria(plain)) == 3
    (tmp_path / "fake.csv.gz").write_text("a\n1\n")
    line = assert_one_error_line(run("fit", tmp_path / "fake.csv.gz", "-k", 1))
    assert "not a readable gzip file" in line


def test_version():
    out = run("--version", check=True)
    assert out.stdout.strip() == f"cyem {cyem.__version__}"


def run_into_closed_pipe(*args, read_lines=0):
    """Run the CLI with stdout to a pipe that the reader closes after
    ``read_lines`` lines, as `cyem ... | head` does."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(cyem.__file__))
    proc = subprocess.Popen([sys.executable, "-m", "cyem", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=tempfile.gettempdir(), env=env)
    for _ in range(read_lines):
        proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=180)
    return proc.returncode, err


@pytest.mark.parametrize("args, read_lines", [
    (["fit", "{d}/two.npy", "-k", "2"], 0),
    (["fit", "{d}/two.npy", "-k", "2", "--labels", "-"], 1),
    (["--help"], 1),
])
def test_a_reader_that_goes_away_is_not_an_error(workdir, args, read_lines):
    status, err = run_into_closed_pipe(*[a.format(d=workdir) for a in args],
                                       read_lines=read_lines)
    assert status == 0, err
    # With --labels - the report goes to stderr; nothing else may.
    report = "BIC" in err and "--labels" in args
    assert err == "" or report, err
    for text in ("Traceback", "Exception ignored", "BrokenPipe", "error"):
        assert text not in err, err


def test_one_row_is_one_row(tmp_path):
    (tmp_path / "one.csv").write_text("v\n5\n")
    out = run("fit", tmp_path / "one.csv", "-k", 1)
    assert "one.csv: 1 row, column 'v'" in out.stdout


def correlated_clusters(rng):
    first = rng.multivariate_normal([0, 0], [[1, 0.8], [0.8, 1]], 400)
    second = rng.multivariate_normal([8, 0], [[1, -0.5], [-0.5, 1]], 300)
    return first, second


def test_full_2d_table_shows_correlations(tmp_path):
    first, second = correlated_clusters(np.random.default_rng(5))
    np.save(tmp_path / "corr.npy", np.r_[first, second])
    out = run("fit", tmp_path / "corr.npy", "-k", 2, "--threads", 1, check=True).stdout
    rows = component_rows(out)                      # sorted by the first mean
    for row, cluster in zip(rows, (first, second)):
        assert float(row["corr[0,1]"]) == pytest.approx(
            np.corrcoef(cluster.T)[0, 1], abs=0.01)


def test_wider_full_models_print_correlation_matrices(tmp_path):
    rng = np.random.default_rng(6)
    cov = np.array([[1.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 1.0]])
    x = rng.multivariate_normal([0, 0, 0], cov, 2000)
    np.save(tmp_path / "three.npy", x)
    out = run("fit", tmp_path / "three.npy", "-k", 1, "--threads", 1, check=True).stdout
    lines = out.splitlines()
    start = lines.index("correlations, component 0:")
    printed = np.array([[float(v) for v in line.split()[1:]]
                        for line in lines[start + 1:start + 4]])
    np.testing.assert_allclose(printed, np.corrcoef(x.T), atol=1.5e-3)


def test_info_from_an_unbuilt_source_tree_says_so(tmp_path):
    # A repository root: a cyem/ package without its compiled extensions.
    package = os.path.dirname(cyem.__file__)
    shutil.copytree(package, tmp_path / "cyem",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"))
    # -S: no .pth files, so an editable install's finder cannot supply the
    # extensions; numpy stays importable through PYTHONPATH.
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(np.__file__)))
    out = subprocess.run([sys.executable, "-S", "-m", "cyem", "info"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr and "circular import" not in out.stderr
    assert len(out.stderr.splitlines()) == 1, out.stderr
    message = out.stderr
    assert str(tmp_path / "cyem") in message
    assert "source tree" in message and "another directory" in message
    assert "pip install -e ." in message
