"""The ``cyem`` command line (also ``python -m cyem``).

Subcommands
-----------
fit     fit a K-component mixture to a column of a CSV, NPY or Parquet file and
        print the components, the log-likelihood and the BIC
select  fit K = 1..9 (or a chosen range) and covariance types, print the
        BIC/AIC/ICL table and mark the best model
demo    fit a two-component mixture to simulated adult heights recorded without
        sex, and compare what EM recovers with the truth
info    print the build configuration (same as ``cyem.show_config()``)

Errors in the input (a missing file, a missing column, a non-numeric value, a
bad -k range) end the program with one line on stderr, ``cyem: error: ...``,
and exit status 1 (2 for a malformed command line), never a traceback.
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np

from ._datafile import read_data
from ._init import INIT_PARAMS
from ._params import COVARIANCE_TYPES

# The demo's ground truth: adult heights in cm, recorded without sex.
# Figures of the order of those reported for adults in Western Europe.
DEMO_TRUTH = {
    "labels": ("women", "men"),
    "weights": np.array([0.52, 0.48]),
    "means": np.array([164.0, 178.0]),
    "stds": np.array([6.5, 7.0]),
}


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


def _load_X(args):
    progress = Progress(f"reading {os.path.basename(args.file)}")
    try:
        data, names = read_data(args.file, args.column, progress)
    finally:
        progress.close()
    X = data[:, 0] if data.shape[1] == 1 else data
    what = f"column {names[0]!r}" if len(names) == 1 else f"columns {names}"
    print(f"{args.file}: {data.shape[0]} rows, {what}")
    return X, names


# ---- argument types -------------------------------------------------------------

def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") \
            from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


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


def _nonnegative_float(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (np.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


# ---- output helpers ---------------------------------------------------------------

def _check_output(path, option):
    """Fail before any work if an output file cannot be created."""
    if path is None:
        return
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise CliError(f"{option} {path}: is a directory")
    if not os.path.isdir(directory):
        raise CliError(f"{option} {path}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        raise CliError(f"{option} {path}: directory {directory} is not writable")


def _prepare_outputs(args):
    """Check --json and --plot; return pyplot if a plot is wanted, else None."""
    _check_output(getattr(args, "json", None), "--json")
    path = args.plot
    _check_output(path, "--plot")
    if path is None:
        return None
    try:
        import matplotlib
    except ImportError:
        raise CliError("--plot needs matplotlib: pip install cyem[plot]") from None
    matplotlib.use("Agg")                     # files only: never open a window
    import matplotlib.pyplot as plt
    return plt


def _save_figure(plt, fig, path):
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"plot written to {path}")


def _label_axes(ax, names):
    ax.set_xlabel(names[0])
    if len(names) >= 2:
        ax.set_ylabel(names[1])


def _format_components(model, names, total_weight):
    """The fitted components as aligned text, sorted by (first) mean; n_k is
    the expected count w_k n."""
    from .selection import full_covariances

    weights = np.asarray(model.weights_)
    means = np.asarray(model.means_).reshape(weights.size, -1)
    sds = np.sqrt(np.diagonal(full_covariances(model), axis1=1, axis2=2))
    d = means.shape[1]
    suffixes = [""] if d == 1 else [f"[{name}]" for name in names]
    head = f"{'k':>3}{'weight':>10}{'n_k':>10}" + "".join(
        f"{'mean' + suffix:>14}{'sd' + suffix:>12}" for suffix in suffixes)
    lines = [head, "-" * len(head)]
    for k in np.argsort(means[:, 0], kind="stable"):
        per_feature = "".join(f"{means[k, j]:>14.6g}{sds[k, j]:>12.5g}" for j in range(d))
        lines.append(f"{k:>3}{weights[k]:>10.4f}{weights[k] * total_weight:>10.1f}"
                     + per_feature)
    return "\n".join(lines)


def _univariate_hint(X, exc):
    if np.ndim(X) == 2 and X.shape[1] > 1:
        return CliError(f"{exc} -- choose one column with --column NAME")
    return exc


# ---- subcommands ----------------------------------------------------------------

def _fit(args):
    import cyem

    plt = _prepare_outputs(args)
    X, names = _load_X(args)
    model = cyem.GaussianMixture(
        n_components=args.k, covariance_type=args.covariance_type, n_init=args.n_init,
        init_params=args.init_params, tol=args.tol, max_iter=args.max_iter,
        reg_covar=args.reg_covar, random_state=args.random_state, n_threads=args.threads)
    start = time.perf_counter()
    try:
        model.fit(X)
    except ValueError as exc:
        raise _univariate_hint(X, exc) from None
    elapsed = time.perf_counter() - start
    n = X.shape[0]
    log_lik = float(model.score_samples(X).sum())
    bic, aic = model.bic(X), model.aic(X)
    status = (f"converged in {model.n_iter_} iterations" if model.converged_
              else f"NOT converged after {model.n_iter_} iterations")
    print(f"Gaussian mixture, {args.k} component(s), covariance_type="
          f"{args.covariance_type!r}: EM {status} (best of {args.n_init} "
          f"{args.init_params} start(s), {elapsed:.2f} s)\n")
    print(_format_components(model, names, n))
    print(f"\nlog-likelihood {log_lik:16.4f}   ({log_lik / n:.6g} per sample, n = {n})")
    print(f"BIC            {bic:16.4f}   (lower is better; mclust's sign: {-bic:.4f})")
    print(f"AIC            {aic:16.4f}")
    print(f"parameters     {model._n_parameters():>16d}")
    if args.json:
        from .io import save
        save(model, args.json)
        print(f"model written to {args.json}")
    if plt is not None:
        from .plotting import plot_model
        fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
        plot_model(model, X, ax=ax)
        _label_axes(ax, names)
        _save_figure(plt, fig, args.plot)
    return 0


def _select(args):
    from .selection import select

    plt = _prepare_outputs(args)
    X, names = _load_X(args)
    progress = Progress("fitting")
    start = time.perf_counter()
    try:
        result = select(
            X, n_components=args.k, covariance_types=args.covariance_types,
            criterion=args.criterion, init_params=args.init_params, n_init=args.n_init,
            random_state=args.random_state, n_jobs=args.n_jobs, n_threads=args.threads,
            tol=args.tol,
            max_iter=args.max_iter, min_component_size=args.min_component_size,
            min_std_ratio=args.min_std_ratio, reg_covar_relative=args.reg_covar_relative,
            exclude_degenerate=not args.keep_degenerate,
            progress=lambda done, total: progress.update(done, total, " fits"))
    except ValueError as exc:
        raise _univariate_hint(X, exc) from None
    finally:
        progress.close()
    elapsed = time.perf_counter() - start
    print(f"{len(result.records)} candidates, {result.settings['n_runs']} EM runs in "
          f"{elapsed:.2f} s; "
          "BIC, AIC and ICL: lower is better (mclust's BIC is -BIC)\n")
    print(result.format_table())
    best = result.records[result.best_index]
    crit = args.criterion
    print(f"\nBest by {crit.upper()}: K = {best['n_components']}, covariance_type = "
          f"{best['covariance_type']!r} ({crit.upper()} {best[crit]:.4f})")
    if any(r["degenerate"] for r in result.records):
        rule = (f"a component with expected count < {args.min_component_size:g} or "
                f"sd < {args.min_std_ratio:g} x the data's sd")
        action = "may still be chosen" if args.keep_degenerate else "never chosen"
        print(f"degenerate: {rule} (a spurious maximum); {action}")
    if args.json:
        from .io import save
        save(result.best_model, args.json)
        print(f"best model written to {args.json}")
    if plt is not None:
        from .plotting import plot_model, plot_selection
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
        plot_selection(result, ax=left)
        plot_model(result.best_model, X, ax=right)
        _label_axes(right, names)
        _save_figure(plt, fig, args.plot)
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
    import cyem

    plt = _prepare_outputs(args)
    heights, sex = simulate_heights(args.n_samples, args.seed)
    print(f"Simulated {heights.size} adult heights (cm) without recording sex "
          f"(seed {args.seed}).")
    start = time.perf_counter()
    model = cyem.GaussianMixture(n_components=2, n_init=3, tol=1e-7, max_iter=1000,
                                 random_state=args.seed).fit(heights)
    elapsed = time.perf_counter() - start
    order = np.argsort(model.means_.ravel())   # label switching: sort by mean
    w, mu, sd = model.weights_[order], model.means_.ravel()[order], model.stds_[order]
    print(f"EM: {model.n_iter_} iterations, converged={model.converged_}, "
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
        _save_figure(plt, fig, args.plot)
    return 0


def _info(args):
    import cyem

    cyem.show_config()
    return 0


# ---- the parser -------------------------------------------------------------------

def _add_input_arguments(p):
    p.add_argument("file", metavar="FILE",
                   help="data file: .csv/.tsv/.txt (delimited text, optional header "
                        "row, '#' comment lines ignored), .npy, or .parquet (needs "
                        "pyarrow)")
    p.add_argument("--column", "-c", action="append", metavar="NAME",
                   help="column to fit: a header name, or a 0-based column number "
                        "(default: the only column; repeat for several columns)")


def _add_fit_arguments(p, n_init_default, tol_default):
    p.add_argument("--n-init", type=_positive_int, default=n_init_default, metavar="N",
                   help=f"EM starts per model (default {n_init_default}); the best "
                        "log-likelihood is kept")
    p.add_argument("--tol", type=_nonnegative_float, default=tol_default,
                   help=f"convergence threshold on the change of the mean "
                        f"log-likelihood (default {tol_default:g})")
    p.add_argument("--max-iter", type=_positive_int, default=1000, metavar="N",
                   help="EM iterations per start (default 1000)")
    p.add_argument("--random-state", type=int, default=0, metavar="SEED",
                   help="seed of the starts, for reproducible results (default 0)")
    p.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                   help="threads of the compiled kernels per fit (default: every "
                        "usable core for 'fit'; 1 per concurrent fit for 'select'); "
                        "results do not depend on it")


def build_parser():
    parser = _Parser(
        prog="cyem",
        description="Gaussian mixture models fitted by EM with compiled kernels.",
        epilog="Run 'cyem COMMAND --help' for a command's options. Input errors "
               "print one line 'cyem: error: ...' on stderr and exit with status 1 "
               "(2 for a malformed command line).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    fit = sub.add_parser(
        "fit", help="fit a K-component mixture to a data file",
        description="Fit a Gaussian mixture with K components to a column of FILE and "
                    "print each component's weight, mean and standard deviation, the "
                    "log-likelihood, BIC and AIC.",
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
    _add_fit_arguments(fit, n_init_default=10, tol_default=1e-6)
    fit.add_argument("--reg-covar", type=_nonnegative_float, default=1e-6,
                     help="added to every variance (default 1e-6)")
    fit.add_argument("--json", metavar="OUT.json",
                     help="save the fitted model as JSON (read back with cyem.load)")
    fit.add_argument("--plot", metavar="OUT.png",
                     help="draw the data and the fitted densities (needs matplotlib)")
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
    sel.add_argument("-k", "--n-components", dest="k", type=_k_range,
                     default=list(range(1, 10)), metavar="RANGE",
                     help="values of K: K, A..B or a comma list, e.g. 1..8 or 2,3,5 "
                          "(default 1..9)")
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
    _add_fit_arguments(sel, n_init_default=5, tol_default=1e-6)
    sel.add_argument("--n-jobs", type=int, default=None, metavar="N",
                     help="fits run concurrently (default: all usable cores)")
    sel.add_argument("--min-component-size", type=_nonnegative_float, default=2.0,
                     metavar="N", help="smallest expected count of a component in a "
                                       "non-degenerate fit (default 2)")
    sel.add_argument("--min-std-ratio", type=_nonnegative_float, default=1e-3,
                     metavar="R", help="smallest component sd, relative to the data's, "
                                       "in a non-degenerate fit (default 1e-3)")
    sel.add_argument("--reg-covar-relative", type=_nonnegative_float, default=None,
                     metavar="R", help="add R x var(data) to every variance, a floor "
                                       "that bounds the likelihood (default: off)")
    sel.add_argument("--keep-degenerate", action="store_true",
                     help="let degenerate fits compete (pure maximum likelihood)")
    sel.add_argument("--json", metavar="OUT.json", help="save the best model as JSON")
    sel.add_argument("--plot", metavar="OUT.png",
                     help="draw the criterion against K and the best model "
                          "(needs matplotlib)")
    sel.set_defaults(func=_select)

    demo = sub.add_parser(
        "demo",
        help="fit a mixture to simulated heights and compare with the truth",
        description="Simulate adult heights recorded without sex (two groups), "
                    "fit a two-component Gaussian mixture and show what EM "
                    "recovers next to the true values. Needs no input file.",
    )
    demo.add_argument("--n-samples", type=int, default=20_000,
                      help="number of simulated heights (default 20000)")
    demo.add_argument("--seed", type=int, default=2026,
                      help="random seed of the simulation and the fit (default 2026)")
    demo.add_argument("--plot", metavar="OUT.png",
                      help="draw the heights, the fitted and the true densities "
                           "(needs matplotlib)")
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


def main(argv=None):
    """Entry point of the ``cyem`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if getattr(args, "n_samples", 2) < 2:
        print("cyem: error: --n-samples must be at least 2", file=sys.stderr)
        return 2
    # Warnings are held back and printed, one line each, only if the command
    # succeeds: after an error, the error line is all the user needs.
    held = []
    original_showwarning = warnings.showwarning
    warnings.showwarning = lambda message, *rest, **kw: held.append(_one_line(message))
    try:
        status = args.func(args)
        for message in dict.fromkeys(held):
            sys.stderr.write(f"cyem: warning: {message}\n")
        return status
    except KeyboardInterrupt:
        sys.stderr.write("\ncyem: interrupted\n")
        return 130
    except BrokenPipeError:
        # The reader went away (cyem ... | head): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
