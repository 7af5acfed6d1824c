"""The ``cyem`` command line (also ``python -m cyem``).

Subcommands
-----------
fit     fit a K-component mixture to the columns of a CSV (or .csv.gz), NPY or
        Parquet file and print the components, the log-likelihood and the BIC
select  fit K = 1..9 (or a chosen range) and covariance types, print the
        BIC/AIC/ICL table and mark the best model
demo    fit a two-component mixture to simulated adult heights recorded without
        sex, and compare what EM recovers with the truth
info    print the build configuration (same as ``cyem.show_config()``)

Errors in the input (a missing file, a missing column, a non-numeric value, a
bad -k range) end the program with one line on stderr, ``cyem: error: ...``,
and exit status 1 (2 for a malformed command line), never a traceback. When
the reader of the output goes away (``cyem ... | head``) the program stops
quietly with status 0.

Machine-readable output
-----------------------
``--json FILE`` saves the model in :mod:`cyem.io`'s format, with the column
names, n, log-likelihood and BIC of the data; ``--labels FILE`` writes one CSV
row per data row: its position among the file's data rows, its component and
the membership probabilities. ``-`` as FILE writes to stdout; the report for
people then goes to stderr.
"""

import argparse
import math
import os
import sys
import time
import warnings

import numpy as np

from ._datafile import plural as _plural
from ._datafile import read_data
from ._init import INIT_PARAMS
from ._params import COVARIANCE_TYPES
from ._version import __version__

# The demo's ground truth: adult heights in cm, recorded without sex.
# Figures of the order of those reported for adults in Western Europe.
DEMO_TRUTH = {
    "labels": ("women", "men"),
    "weights": np.array([0.52, 0.48]),
    "means": np.array([164.0, 178.0]),
    "stds": np.array([6.5, 7.0]),
}

#: ``cyem select``'s values of K when -k is not given (those above the number
#: of distinct rows of the data are skipped).
DEFAULT_K_RANGE = tuple(range(1, 10))

#: Rows per ``predict_proba`` call when writing --labels: no n x K array.
LABEL_CHUNK_ROWS = 65536


class CliError(Exception):
    """A problem with the user's input, reported as one line on stderr."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line: ``cyem: error: ...``."""

    def error(self, message):
        command = self.prog.split(" ", 1)[1] if " " in self.prog else ""
        hint = f" (see 'cyem {command} --help')" if command else " (see 'cyem --help')"
        sys.stderr.write(f"cyem: error: {message}{hint}\n")
        sys.exit(2)


# ---- progress bar ---------------------------------------------------------------

class Progress:
    """A one-line progress bar on a terminal; silent when ``stream`` is not one
    (piped or redirected), so logs and pipes never see control characters."""

    def __init__(self, label, stream=None, width=30, min_interval=0.1):
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(isatty and isatty())
        self.label, self.width, self.min_interval = label, width, min_interval
        self._last = 0.0
        self._drawn = 0

    def update(self, done, total, unit=""):
        if not self.enabled or total <= 0:
            return
        now = time.monotonic()
        if done < total and now - self._last < self.min_interval:
            return
        self._last = now
        filled = int(self.width * min(done, total) / total)
        text = (f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
                f"{done}/{total}{unit}")
        self._drawn = max(self._drawn, len(text))
        self.stream.write(text)
        self.stream.flush()

    def close(self):
        if self.enabled and self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
            self.stream.flush()
            self._drawn = 0


# ---- reading the data -----------------------------------------------------------

def _load_table(args):
    """The data file as a DataTable; its size, and the reader's decisions, are
    reported."""
    progress = Progress(f"reading {os.path.basename(args.file)}")
    try:
        table = read_data(args.file, args.column, progress, header=args.header,
                          dropna=args.dropna)
    finally:
        progress.close()
    names = table.names
    what = f"column {names[0]!r}" if len(names) == 1 else f"columns {names}"
    print(f"{args.file}: {_plural(table.data.shape[0], 'row')}, {what}", file=args.out)
    for note in table.notes:
        print(f"note: {note}", file=args.out)
    return table


def _as_X(table):
    data = table.data
    return data[:, 0] if data.shape[1] == 1 else data


def _count_distinct_rows(X, enough):
    """Number of distinct rows of X; may stop early at any count >= ``enough``
    (the head of the data usually suffices, sparing a sort of every row)."""
    rows = X.reshape(X.shape[0], -1)
    head = rows[:64 * enough]
    count = np.unique(head, axis=0).shape[0]
    if count >= enough or head.shape[0] == rows.shape[0]:
        return count
    return np.unique(rows, axis=0).shape[0]


def _format_k_values(values):
    """[6, 7, 8, 9, 12] -> '6..9, 12'."""
    parts, start = [], None
    for i, k in enumerate(values):
        start = k if start is None else start
        if i + 1 == len(values) or values[i + 1] != k + 1:
            parts.append(str(k) if k == start else f"{start}..{k}")
            start = None
    return ", ".join(parts)


def _too_many_components(X, largest_k):
    """(number of distinct rows, how to name them) if some K exceeds them, else None."""
    distinct = _count_distinct_rows(X, largest_k)
    if largest_k <= distinct:
        return None
    what = "value" if np.ndim(X) == 1 else "row"
    return distinct, f"{_plural(distinct, 'distinct ' + what)}"


# ---- argument types -------------------------------------------------------------

def _int_at_least(minimum, what=None):
    what = what or ("a positive integer" if minimum == 1 else f"an integer >= {minimum}")

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    return parse


_positive_int = _int_at_least(1)
_nonnegative_int = _int_at_least(0, "an integer >= 0")


def _n_jobs(text):
    """A positive number of concurrent fits, or -1 for every usable core."""
    if text.strip() == "-1":
        return -1
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, or -1 for every usable core; got {text!r}") \
            from None


def _k_range(text):
    """'3', '1..8', '2-6' or a comma list of those -> sorted list of K >= 1."""
    values = set()
    for part in text.split(","):
        part = part.strip()
        bounds = part.split("..") if ".." in part else part.split("-") if "-" in part \
            else [part, part]
        try:
            lo, hi = (int(b) for b in bounds)
        except ValueError:
            lo = hi = None
        if lo is None or len(bounds) != 2 or lo < 1 or hi < lo:
            raise argparse.ArgumentTypeError(
                f"bad range {text!r}: expected K, A..B (1 <= A <= B) or a comma list "
                "of them, e.g. 1..8 or 2,3,5")
        values.update(range(lo, hi + 1))
    if len(values) > 1000:
        raise argparse.ArgumentTypeError(
            f"bad range {text!r}: more than 1000 values of K")
    return sorted(values)


def _choices_list(choices, what):
    def parse(text):
        items = [item.strip() for item in text.split(",") if item.strip()]
        for item in items:
            if item not in choices:
                raise argparse.ArgumentTypeError(
                    f"unknown {what} {item!r}; choose from {', '.join(choices)}")
        if not items:
            raise argparse.ArgumentTypeError(f"no {what} given")
        return items
    return parse


def _tol(text):
    """--tol: 'auto' (cyem's rule: accelerated EM to the optimum) or a number
    >= 0 (scikit-learn's rule on the change of the mean log-likelihood)."""
    return "auto" if text == "auto" else _nonnegative_float(text)


def _nonnegative_float(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (np.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


# ---- output files -----------------------------------------------------------------

def _check_output(path, option):
    """Fail before any work if an output file cannot be created ('-' is stdout)."""
    if path is None or path == "-":
        return
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise CliError(f"{option} {path}: is a directory")
    if not os.path.isdir(directory):
        raise CliError(f"{option} {path}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        raise CliError(f"{option} {path}: directory {directory} is not writable")


def _prepare_outputs(args):
    """Check every output before the fit; return pyplot if a plot is wanted."""
    to_stdout = [option for option, path in (("--json", getattr(args, "json", None)),
                                             ("--labels", getattr(args, "labels", None)))
                 if path == "-"]
    if len(to_stdout) > 1:
        raise CliError("--json and --labels cannot both write to stdout ('-'); give "
                       "one of them a file name")
    _check_output(getattr(args, "json", None), "--json")
    _check_output(getattr(args, "labels", None), "--labels")
    path = args.plot
    if path is None:
        return None
    if path == "-":
        raise CliError("--plot -: a plot is written to a file; give a file name "
                       "such as out.png")
    _check_output(path, "--plot")
    try:
        import matplotlib
    except ImportError:
        raise CliError("--plot needs matplotlib: pip install cyem[plot]") from None
    matplotlib.use("Agg")                     # files only: never open a window
    import matplotlib.pyplot as plt
    from matplotlib.backend_bases import FigureCanvasBase

    formats = FigureCanvasBase.get_supported_filetypes()
    extension = os.path.splitext(path)[1].lstrip(".").lower()
    if extension not in formats:
        got = f"'.{extension}' is not an image format" if extension else \
            "the name has no extension to say the format"
        raise CliError(f"--plot {path}: {got}; use one of "
                       f"{', '.join('.' + f for f in sorted(formats))}")
    return plt


def _write_text(path, text):
    """``text`` to a file, or to stdout for '-'."""
    if path == "-":
        sys.stdout.write(text)
        return
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def _save_json(args, model, X, names, label):
    from .io import dumps, save

    if args.json == "-":
        _write_text("-", dumps(model, X=X, columns=names) + "\n")
    else:
        save(model, args.json, X=X, columns=names)
        print(f"{label} written to {args.json}", file=args.out)


def _label_lines(model, X, rows):
    """CSV lines: row, component, p_0..p_{K-1}, computed in slices of rows."""
    K = model.weights_.shape[0]
    yield "row,component," + ",".join(f"p_{k}" for k in range(K)) + "\n"
    for start in range(0, X.shape[0], LABEL_CHUNK_ROWS):
        stop = min(start + LABEL_CHUNK_ROWS, X.shape[0])
        resp = model.predict_proba(X[start:stop])
        for row, component, probabilities in zip(rows[start:stop].tolist(),
                                                 resp.argmax(axis=1).tolist(),
                                                 resp.tolist()):
            yield f"{row},{component}," + ",".join(map(repr, probabilities)) + "\n"


def _save_labels(args, model, X, rows):
    if args.labels == "-":
        sys.stdout.writelines(_label_lines(model, X, rows))
        return
    with open(args.labels, "w", encoding="utf-8", newline="") as handle:
        handle.writelines(_label_lines(model, X, rows))
    print(f"labels written to {args.labels}", file=args.out)


def _save_figure(plt, fig, path, out):
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"plot written to {path}", file=out)


def _label_axes(ax, names):
    ax.set_xlabel(names[0])
    if len(names) >= 2:
        ax.set_ylabel(names[1])


# ---- tables -----------------------------------------------------------------------

def _exponent(x):
    return math.floor(math.log10(x))


def number_format(means, sds):
    """A format for one feature's means that tells the components apart.

    The last digit printed stands for at most a hundredth of the smallest
    component sd (so means a few hundredths of an sd apart print differently,
    whatever their offset: data around 1e9 show every digit they need), and a
    mean shows at least 6 significant digits. Fixed point while that stays within
    18 characters, scientific notation with as many significant digits
    otherwise (at most 17: all a float64 has).

    Parameters
    ----------
    means, sds : ndarray of shape (n_components,)

    Returns
    -------
    format : callable, float -> str

    Examples
    --------
    >>> f = number_format(np.array([1.7e9 + 120.25, 1.7e9 + 5230.5]),
    ...                   np.array([900.0, 1100.0]))
    >>> f(1.7e9 + 120.25), f(1.7e9 + 5230.5)
    ('1700000120', '1700005230')
    >>> number_format(np.array([3.14159265, 2.0]), np.array([0.5, 1.0]))(3.14159265)
    '3.14159'
    """
    largest = float(np.max(np.abs(means)))
    positive_sds = sds[np.isfinite(sds) & (sds > 0)]
    resolution = float(positive_sds.min()) / 100 if positive_sds.size else 0.0
    if largest == 0 or not np.isfinite(largest):
        largest = resolution if resolution > 0 else 1.0
    resolution = resolution if resolution > 0 else largest * 1e-5
    decimals = max(-_exponent(resolution), 5 - _exponent(largest), 0)
    integer_digits = max(_exponent(largest), 0) + 1
    if integer_digits + decimals + 2 <= 18:          # sign and point included
        return lambda value: f"{value:.{decimals}f}"
    digits = min(max(_exponent(largest) - _exponent(resolution) + 1, 6), 17)
    return lambda value: f"{value:.{digits - 1}e}"


def _correlations(covariances):
    """(K, d, d) correlation matrices of (K, d, d) covariances."""
    sd = np.sqrt(np.diagonal(covariances, axis1=1, axis2=2))
    return covariances / (sd[:, :, None] * sd[:, None, :])


def _format_components(model, names, total_weight):
    """The fitted components as aligned text, sorted by (first) mean; n_k is
    the expected count w_k n. 2-D full or tied models get a correlation column;
    wider ones a correlation matrix per component below the table."""
    # selection's table layout: one way to align a table of numbers.
    from .selection import _aligned_table, full_covariances

    weights = np.asarray(model.weights_)
    K = weights.size
    means = np.asarray(model.means_).reshape(K, -1)
    covariances = full_covariances(model)
    sds = np.sqrt(np.diagonal(covariances, axis1=1, axis2=2))
    d = means.shape[1]
    correlated = model.covariance_type in ("full", "tied") and d >= 2
    suffixes = [""] if d == 1 else [f"[{name}]" for name in names]
    header = ["k", "weight", "n_k"]
    for suffix in suffixes:
        header += ["mean" + suffix, "sd" + suffix]
    formats = [number_format(means[:, j], sds[:, j]) for j in range(d)]
    corr = _correlations(covariances) if correlated else None
    if correlated and d == 2:
        header.append(f"corr[{names[0]},{names[1]}]")
    order = np.argsort(means[:, 0], kind="stable")
    rows = []
    for k in order:
        cells = [str(k), f"{weights[k]:.4f}", f"{weights[k] * total_weight:.1f}"]
        for j in range(d):
            cells += [formats[j](means[k, j]), f"{sds[k, j]:.5g}"]
        if correlated and d == 2:
            cells.append(f"{corr[k, 0, 1]:+.4f}")
        rows.append(cells)
    text = _aligned_table(header, rows, ">" * len(header))
    if correlated and d > 2:
        width = max(len(name) for name in names)
        for k in order if model.covariance_type == "full" else order[:1]:
            which = f"component {k}" if model.covariance_type == "full" else \
                "every component (tied)"
            text += f"\n\ncorrelations, {which}:"
            for i, name in enumerate(names):
                text += f"\n  {name:>{width}}  " + "  ".join(
                    f"{corr[k, i, j]:+.3f}" for j in range(d))
    return text


def _degenerate_rule(args):
    return (f"a component with expected count < {args.min_component_size:g} or "
            f"sd < {args.min_std_ratio:g} x the data's")


def _check_degenerate(model, X, args):
    """The line that flags a spurious fit (as ``cyem select`` does), or None."""
    # selection's private helpers: the one definition of a degenerate fit.
    from .selection import _component_diagnostics, _data_moments

    _, total_weight, variances = _data_moments(np.asarray(X), None)
    min_count, min_std_ratio = _component_diagnostics(model, total_weight, variances)
    if min_count >= args.min_component_size and min_std_ratio >= args.min_std_ratio:
        return None
    return (f"degenerate: smallest expected count {min_count:.2f}, smallest sd "
            f"{min_std_ratio:.2g} x the data's; {_degenerate_rule(args)} is a "
            "spurious maximum of the likelihood (try fewer components, a larger "
            "--reg-covar, or 'cyem select')")


# ---- subcommands ----------------------------------------------------------------

def _fit(args):
    from .mixture import GaussianMixture     # here, not at the top: a fast --help

    plt = _prepare_outputs(args)
    table = _load_table(args)
    X, names = _as_X(table), table.names
    too_many = _too_many_components(X, args.k)
    if too_many:
        distinct, what = too_many
        raise CliError(f"-k {args.k}: {args.file} has only {what}, so n_components "
                       f"can be at most {distinct}")
    model = GaussianMixture(
        n_components=args.k, covariance_type=args.covariance_type, n_init=args.n_init,
        init_params=args.init_params, tol=args.tol, max_iter=args.max_iter,
        reg_covar=args.reg_covar, random_state=args.random_state, n_threads=args.threads)
    start = time.perf_counter()
    model.fit(X)
    elapsed = time.perf_counter() - start
    out = args.out
    n = X.shape[0]
    log_lik = float(model.score_samples(X).sum())
    bic, aic = model.bic(X), model.aic(X)
    status = (f"converged in {model.n_iter_} iterations" if model.converged_
              else f"NOT converged after {model.n_iter_} iterations")
    print(f"Gaussian mixture, {args.k} component(s), covariance_type="
          f"{args.covariance_type!r}: EM {status} (best of {args.n_init} "
          f"{args.init_params} start(s), {elapsed:.2f} s)\n", file=out)
    print(_format_components(model, names, n), file=out)
    degenerate = _check_degenerate(model, X, args)
    if degenerate:
        print(f"\n{degenerate}", file=out)
    print(f"\nlog-likelihood {log_lik:16.4f}   ({log_lik / n:.6g} per sample, n = {n})",
          file=out)
    print(f"BIC            {bic:16.4f}   (lower is better; mclust's sign: {-bic:.4f})",
          file=out)
    print(f"AIC            {aic:16.4f}", file=out)
    print(f"parameters     {model._n_parameters():>16d}", file=out)
    _write_outputs(args, plt, model, X, table, draw=_draw_model)
    return 0


def _draw_model(plt, model, X, names, result=None):
    from .plotting import plot_model

    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    plot_model(model, X, ax=ax)
    _label_axes(ax, names)
    return fig


def _draw_selection(plt, model, X, names, result):
    from .plotting import plot_model, plot_selection

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
    plot_selection(result, ax=left)
    plot_model(model, X, ax=right)
    _label_axes(right, names)
    return fig


def _write_outputs(args, plt, model, X, table, draw, result=None):
    """--json, --labels and --plot of the reported model (the best one of a
    selection ``result``)."""
    if args.json:
        _save_json(args, model, X, table.names,
                   "model" if result is None else "best model")
    if args.labels:
        _save_labels(args, model, X, table.rows)
    if plt is not None:
        _save_figure(plt, draw(plt, model, X, table.names, result), args.plot, args.out)


def _select_k_values(args, X):
    """The values of K to fit: -k as given, or 1..9 without those the data
    cannot support (with a note)."""
    requested = list(DEFAULT_K_RANGE) if args.k is None else args.k
    too_many = _too_many_components(X, max(requested))
    if not too_many:
        return requested
    distinct, what = too_many
    skipped = [k for k in requested if k > distinct]
    if args.k is not None:
        raise CliError(f"-k: K = {_format_k_values(skipped)} is more than {args.file} "
                       f"allows, with {what} (n_components can be at most {distinct}); "
                       "leave out -k to skip such K")
    print(f"note: K = {_format_k_values(skipped)} skipped: {args.file} has only {what}",
          file=args.out)
    return [k for k in requested if k <= distinct]


def _select(args):
    from .selection import select

    plt = _prepare_outputs(args)
    table = _load_table(args)
    X = _as_X(table)
    k_values = _select_k_values(args, X)
    progress = Progress("fitting")
    start = time.perf_counter()
    try:
        result = select(
            X, n_components=k_values, covariance_types=args.covariance_types,
            criterion=args.criterion, init_params=args.init_params, n_init=args.n_init,
            random_state=args.random_state, n_jobs=args.n_jobs, n_threads=args.threads,
            tol=args.tol,
            max_iter=args.max_iter, min_component_size=args.min_component_size,
            min_std_ratio=args.min_std_ratio, reg_covar_relative=args.reg_covar_relative,
            exclude_degenerate=not args.keep_degenerate,
            progress=lambda done, total: progress.update(done, total, " fits"))
    finally:
        progress.close()
    elapsed = time.perf_counter() - start
    out = args.out
    print(f"{len(result.records)} candidates, {result.settings['n_runs']} EM runs in "
          f"{elapsed:.2f} s; "
          "BIC, AIC and ICL: lower is better (mclust's BIC is -BIC)\n", file=out)
    print(result.format_table(), file=out)
    best = result.records[result.best_index]
    crit = args.criterion
    print(f"\nBest by {crit.upper()}: K = {best['n_components']}, covariance_type = "
          f"{best['covariance_type']!r} ({crit.upper()} {best[crit]:.4f})", file=out)
    if any(r["degenerate"] for r in result.records):
        action = "may still be chosen" if args.keep_degenerate else "never chosen"
        print(f"degenerate: {_degenerate_rule(args)} (a spurious maximum); {action}",
              file=out)
    _write_outputs(args, plt, result.best_model, X, table, draw=_draw_selection,
                   result=result)
    return 0


def simulate_heights(n_samples=20_000, seed=2026):
    """Reproducible heights from the demo's two-group truth.

    Returns
    -------
    heights : ndarray of shape (n_samples,)
    sex : ndarray of shape (n_samples,), int
        The group of each height (0 women, 1 men): what the data did not record.
    """
    rng = np.random.default_rng(seed)
    sex = (rng.random(n_samples) < DEMO_TRUTH["weights"][1]).astype(np.int64)
    heights = rng.normal(DEMO_TRUTH["means"][sex], DEMO_TRUTH["stds"][sex])
    return heights, sex


def _demo(args):
    from .mixture import GaussianMixture

    plt = _prepare_outputs(args)
    heights, sex = simulate_heights(args.n_samples, args.seed)
    print(f"Simulated {heights.size} adult heights (cm) without recording sex "
          f"(seed {args.seed}).")
    start = time.perf_counter()
    model = GaussianMixture(n_components=2, random_state=args.seed).fit(heights)
    elapsed = time.perf_counter() - start
    order = np.argsort(model.means_.ravel())   # label switching: sort by mean
    w, mu, sd = model.weights_[order], model.means_.ravel()[order], model.stds_[order]
    print(f"EM: {model.n_iter_} passes over the data, converged={model.converged_}, "
          f"{elapsed * 1e3:.1f} ms, log-likelihood "
          f"{model.lower_bound_ * heights.size:.2f}, BIC {model.bic(heights):.2f}\n")
    header = f"{'group':<8}{'weight':>16}{'mean (cm)':>20}{'sd (cm)':>18}"
    print(header)
    print(f"{'':<8}{'true   fitted':>16}{'true    fitted':>20}{'true  fitted':>18}")
    print("-" * len(header))
    for k, name in enumerate(DEMO_TRUTH["labels"]):
        print(f"{name:<8}{DEMO_TRUTH['weights'][k]:>8.3f}{w[k]:>8.3f}"
              f"{DEMO_TRUTH['means'][k]:>12.2f}{mu[k]:>8.2f}"
              f"{DEMO_TRUTH['stds'][k]:>10.2f}{sd[k]:>8.2f}")
    labels = np.argsort(order)[model.predict(heights)]
    print(f"\nHeights assigned to the right group: {np.mean(labels == sex):.1%} "
          "(the groups overlap, so no method can reach 100%).")
    if plt is not None:
        from .plotting import plot_density
        fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
        plot_density(model, heights, ax=ax, bins=80)
        grid = np.linspace(*ax.get_xlim(), 400)
        truth = sum(DEMO_TRUTH["weights"][k] * np.exp(
            -0.5 * ((grid - DEMO_TRUTH["means"][k]) / DEMO_TRUTH["stds"][k]) ** 2)
            / (DEMO_TRUTH["stds"][k] * np.sqrt(2 * np.pi)) for k in range(2))
        ax.plot(grid, truth, ":", color="crimson", linewidth=1.8, label="true density")
        ax.legend(fontsize="small", frameon=False)
        ax.set_xlabel("height (cm)")
        ax.set_title("Simulated adult heights: fitted mixture vs truth")
        _save_figure(plt, fig, args.plot, sys.stdout)
    return 0


def _info(args):
    from ._config import show_config

    show_config()
    return 0


# ---- the parser -------------------------------------------------------------------

def _add_input_arguments(p):
    p.add_argument("file", metavar="FILE",
                   help="data file: .csv/.tsv/.txt (delimited text, optional header "
                        "row, '#' comment lines ignored; .gz compressed too), .npy, or "
                        ".parquet (needs pyarrow). An unnamed first header field "
                        "(',a,b', as pandas and R write a row index) makes the first "
                        "column row labels, not a feature")
    p.add_argument("--column", "-c", action="append", metavar="NAME",
                   help="column to fit: a header name, or a 0-based column number "
                        "(a row-index column is not counted); repeat for several. "
                        "Default: every column, fitted together as one multivariate "
                        "model")
    header = p.add_mutually_exclusive_group()
    header.add_argument("--header", dest="header", action="store_const", const=True,
                        default=None,
                        help="text files: the first row is a header, even if it is all "
                             "numbers (such as years: 2020,2021)")
    header.add_argument("--no-header", dest="header", action="store_const", const=False,
                        help="text files: the first row is data. Default (neither): "
                             "the first row is a header if a field is not a number, or "
                             "if all its fields are whole numbers and either the first "
                             "is empty (',2020,2021': a pandas index) or a column below "
                             "holds other numbers; a note says what was decided")
    p.add_argument("--dropna", action="store_true",
                   help="drop rows with a missing value (empty, NA, NaN, null) in a "
                        "chosen column; by default such a file is refused, naming the "
                        "first such line")


def _add_fit_arguments(p, n_init_default, tol_default):
    p.add_argument("--n-init", type=_positive_int, default=n_init_default, metavar="N",
                   help=f"EM starts per model (default {n_init_default}); the best "
                        "log-likelihood is kept")
    p.add_argument("--tol", type=_tol, default=tol_default,
                   help="stopping rule: 'auto' (default) runs accelerated EM until "
                        "the log-likelihood cannot rise by more than 1e-10 per "
                        "sample; a number stops plain EM when the mean "
                        "log-likelihood changes by less (scikit-learn's rule)")
    p.add_argument("--max-iter", type=_positive_int, default=1000, metavar="N",
                   help="kernel passes over the data per start (default 1000)")
    p.add_argument("--random-state", type=_nonnegative_int, default=0, metavar="SEED",
                   help="seed of the starts (an integer >= 0), for reproducible "
                        "results (default 0)")
    p.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                   help="threads of the compiled kernels per fit (default: every "
                        "usable core for 'fit'; 1 per concurrent fit for 'select'); "
                        "results do not depend on it")
    p.add_argument("--min-component-size", type=_nonnegative_float, default=2.0,
                   metavar="N", help="smallest expected count of a component in a "
                                     "non-degenerate fit (default 2)")
    p.add_argument("--min-std-ratio", type=_nonnegative_float, default=1e-3,
                   metavar="R", help="smallest component sd, relative to the data's, "
                                     "in a non-degenerate fit (default 1e-3)")


def _add_output_arguments(p, what):
    p.add_argument("--json", metavar="OUT.json",
                   help=f"save the {what} as JSON (read back with cyem.load), with the "
                        "column names, n, log-likelihood and BIC; '-' writes to stdout "
                        "(the report then goes to stderr)")
    p.add_argument("--labels", metavar="OUT.csv",
                   help="write each data row's component and membership probabilities "
                        f"under the {what} as CSV: row,component,p_0,...; row is the "
                        "0-based position among FILE's data rows (rows dropped by "
                        "--dropna are missing); '-' writes to stdout")


def build_parser():
    parser = _Parser(
        prog="cyem",
        description="Gaussian mixture models fitted by EM with compiled kernels.",
        epilog="Run 'cyem COMMAND --help' for a command's options. Input errors "
               "print one line 'cyem: error: ...' on stderr and exit with status 1 "
               "(2 for a malformed command line).",
    )
    parser.add_argument("--version", action="version", version=f"cyem {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    fit = sub.add_parser(
        "fit", help="fit a K-component mixture to a data file",
        description="Fit a Gaussian mixture with K components to the columns of FILE "
                    "and print each component's weight, mean and standard deviation "
                    "(and correlations for full covariances), the log-likelihood, BIC "
                    "and AIC. A fit with a spurious component (expected count below "
                    "--min-component-size, or sd below --min-std-ratio times the "
                    "data's) is flagged 'degenerate'.",
        epilog="Example: cyem fit galaxies.csv --column velocity -k 4 "
               "--json model.json --plot model.png")
    _add_input_arguments(fit)
    fit.add_argument("-k", "--n-components", dest="k", type=_positive_int, required=True,
                     metavar="K", help="number of components (required)")
    fit.add_argument("--covariance-type", default="full", choices=COVARIANCE_TYPES,
                     help="'full' (one variance per component, mclust's V in 1-D), "
                          "'tied' (one shared variance, mclust's E), 'diag', "
                          "'spherical' (default 'full')")
    fit.add_argument("--init-params", default="kmeans", choices=INIT_PARAMS,
                     help="how EM is started (default 'kmeans')")
    _add_fit_arguments(fit, n_init_default=10, tol_default="auto")
    fit.add_argument("--reg-covar", type=_nonnegative_float, default=1e-6,
                     help="added to every variance (default 1e-6)")
    _add_output_arguments(fit, "fitted model")
    fit.add_argument("--plot", metavar="OUT.png",
                     help="draw the data and the fitted densities (needs matplotlib; "
                          "the extension chooses the format)")
    fit.set_defaults(func=_fit)

    sel = sub.add_parser(
        "select", help="choose K and the covariance type by BIC, AIC or ICL",
        description="Fit every combination of K and covariance type, each from "
                    "several starts, concurrently; print log-likelihood, BIC, AIC and "
                    "ICL (lower is better; mclust's BIC has the opposite sign) and mark "
                    "the best. Fits with a spurious component (expected count below "
                    "--min-component-size, or sd below --min-std-ratio times the "
                    "data's) are flagged 'degenerate' and not chosen.",
        epilog="Example: cyem select galaxies.csv -k 1..9 --covariance-types tied,full")
    _add_input_arguments(sel)
    sel.add_argument("-k", "--n-components", dest="k", type=_k_range, default=None,
                     metavar="RANGE",
                     help="values of K: K, A..B or a comma list, e.g. 1..8 or 2,3,5 "
                          "(default 1..9, without the K above the number of distinct "
                          "rows of the data, with a note)")
    sel.add_argument("--covariance-types", type=_choices_list(COVARIANCE_TYPES,
                                                              "covariance type"),
                     default=["full", "tied"], metavar="LIST",
                     help="comma list of full, tied, diag, spherical (default full,tied)")
    sel.add_argument("--criterion", choices=("bic", "aic", "icl"), default="bic",
                     help="criterion that chooses the model (default bic)")
    sel.add_argument("--init-params", type=_choices_list(INIT_PARAMS, "init method"),
                     default=["quantile", "kmeans", "random_from_data"], metavar="LIST",
                     help="comma list of start methods, each run --n-init times "
                          "('quantile' once) (default quantile,kmeans,random_from_data)")
    _add_fit_arguments(sel, n_init_default=5, tol_default="auto")
    sel.add_argument("--n-jobs", type=_n_jobs, default=None, metavar="N",
                     help="fits run concurrently: a positive number, or -1 (default) "
                          "for all usable cores")
    sel.add_argument("--reg-covar-relative", type=_nonnegative_float, default=None,
                     metavar="R", help="add R x var(data) to every variance, a floor "
                                       "that bounds the likelihood (default: off)")
    sel.add_argument("--keep-degenerate", action="store_true",
                     help="let degenerate fits compete (pure maximum likelihood)")
    _add_output_arguments(sel, "best model")
    sel.add_argument("--plot", metavar="OUT.png",
                     help="draw the criterion against K and the best model "
                          "(needs matplotlib; the extension chooses the format)")
    sel.set_defaults(func=_select)

    demo = sub.add_parser(
        "demo",
        help="fit a mixture to simulated heights and compare with the truth",
        description="Simulate adult heights recorded without sex (two groups), "
                    "fit a two-component Gaussian mixture and show what EM "
                    "recovers next to the true values. Needs no input file.",
    )
    demo.add_argument("--n-samples", type=_int_at_least(2), default=20_000,
                      help="number of simulated heights, at least 2 (default 20000)")
    demo.add_argument("--seed", type=_nonnegative_int, default=2026,
                      help="random seed of the simulation and the fit, an integer >= 0 "
                           "(default 2026)")
    demo.add_argument("--plot", metavar="OUT.png",
                      help="draw the heights, the fitted and the true densities "
                           "(needs matplotlib; the extension chooses the format)")
    demo.set_defaults(func=_demo)
    info = sub.add_parser("info", help="print the build configuration",
                          description="Print cyem's version, OpenMP support, the "
                                      "SIMD path chosen at run time and threads.")
    info.set_defaults(func=_info)
    return parser


def _one_line(message):
    return " ".join(str(message).split())


def _describe(exc):
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    return _one_line(exc) or type(exc).__name__


def _run(argv):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    # Machine-readable output on stdout sends the report for people to stderr.
    to_stdout = "-" in (getattr(args, "json", None), getattr(args, "labels", None))
    args.out = sys.stderr if to_stdout else sys.stdout
    # Warnings are held back and printed, one line each, only if the command
    # succeeds: after an error, the error line is all the user needs.
    held = []
    original_showwarning = warnings.showwarning
    warnings.showwarning = lambda message, *rest, **kw: held.append(_one_line(message))
    try:
        status = args.func(args)
        sys.stdout.flush()             # a reader that went away shows up here
        for message in dict.fromkeys(held):
            sys.stderr.write(f"cyem: warning: {message}\n")
        return status
    except KeyboardInterrupt:
        sys.stderr.write("\ncyem: interrupted\n")
        return 130
    except BrokenPipeError:
        raise
    except (CliError, ValueError, TypeError, OSError, ImportError) as exc:
        sys.stderr.write(f"cyem: error: {_describe(exc)}\n")
        return 1
    except Exception as exc:             # a bug: still one line, unless debugging
        if os.environ.get("CYEM_DEBUG"):
            raise
        sys.stderr.write(f"cyem: error: internal error ({type(exc).__name__}: "
                         f"{_one_line(exc)}); set CYEM_DEBUG=1 for a traceback and "
                         "please report it\n")
        return 1
    finally:
        warnings.showwarning = original_showwarning


def main(argv=None):
    """Entry point of the ``cyem`` console script; returns the exit status.

    A reader that stops reading (``cyem ... | head``) is not an error: the
    output it wanted has been written, so the status is 0.
    """
    try:
        try:
            return _run(argv)
        finally:
            sys.stdout.flush()         # also after --help / --version (SystemExit)
    except BrokenPipeError:
        # As Python's documentation (signal module, "Note on SIGPIPE") advises:
        # point stdout at devnull, so that the flush at exit cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
