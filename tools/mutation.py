#!/usr/bin/env python
"""Mutation testing of cyem's pure-Python modules, one AST-level mutant at a time.

Why not mutmut: mutmut 2 rewrites the module under test in place (the shared
working tree), and mutmut 3 copies the project into ``mutants/`` and imports it
from there, where the compiled extensions of the editable install are not
found.  This driver does the same work in a disposable copy:

1. ``cyem/`` (with its compiled ``.so`` files) is copied to a temporary
   directory that goes first on ``PYTHONPATH``; a smoke run checks that the
   tests import ``cyem`` from that copy.  ``/work/main/cyem`` is never written.
2. The module's target tests run once under coverage with per-test contexts
   (pytest-cov ``--cov-context=test``), giving, for every line, the tests that
   execute it.
3. Each mutant is written into the copy and only the tests covering its lines
   run (``-x``, a timeout); a non-zero exit (failure, import error, timeout)
   kills it.  A mutant on a line no target test executes survives unrun
   ("no coverage").  Lines that run only at import time (module constants,
   default values) run every target test file.

Operators (those of mutmut, less the string ones, which only change message
text): ``+ -``, ``* /``, ``// /``, ``% /``, ``** *``, the same in augmented
assignments; ``< <=``, ``> >=``, ``== !=``, ``is``/``is not``, ``in``/``not in``;
``and``/``or``; ``not x -> x``, ``-x -> x``; number ``n -> n + 1``;
``True``/``False``.  Docstrings, annotations and lines marked
``# pragma: no mutate`` are left alone.

Usage (from the repository root, in the project's virtualenv, with coverage
and pytest-cov importable, e.g. ``pip install --target /tmp/mut_deps
pytest-cov`` and ``MUTATION_EXTRA_PATH=/tmp/mut_deps``)::

    python tools/mutation.py cyem/_frame.py            # the default tests
    python tools/mutation.py cyem/_em.py --tests tests/test_accel.py
    python tools/mutation.py cyem/_validation.py --sample 80 --seed 0

Results go to ``mutation-results/<module>.json`` (one record per mutant, with
its line, the change and the outcome) and a summary is printed.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

DEFAULT_TESTS = {
    "_frame": ["tests/test_frame.py", "tests/test_degenerate.py"],
    "_params": ["tests/test_sklearn_agreement.py", "tests/test_fixed.py",
                "tests/test_multivariate.py", "tests/test_sample_weight_sources.py"],
    "_em": ["tests/test_accel.py", "tests/test_properties.py", "tests/test_mixture.py"],
    "_validation": ["tests/test_validation.py"],
}
DEFAULT_TESTS["_params_md"] = DEFAULT_TESTS["_params"]
DEFAULT_TESTS["_model"] = DEFAULT_TESTS["_params"]
DEFAULT_TESTS["_accel"] = DEFAULT_TESTS["_em"]

BINOP_SWAPS = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div, ast.Mod: ast.Div, ast.Pow: ast.Mult,
    ast.LShift: ast.RShift, ast.RShift: ast.LShift,
    ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd, ast.BitXor: ast.BitAnd,
}
COMPARE_SWAPS = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
    ast.In: ast.NotIn, ast.NotIn: ast.In,
}
SYMBOL = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
    ast.Mod: "%", ast.Pow: "**", ast.LShift: "<<", ast.RShift: ">>", ast.BitAnd: "&",
    ast.BitOr: "|", ast.BitXor: "^", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">",
    ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=", ast.Is: "is", ast.IsNot: "is not",
    ast.In: "in", ast.NotIn: "not in", ast.And: "and", ast.Or: "or",
}


@dataclass
class Mutant:
    """One mutation: the ``index``-th candidate node, changed by ``change``."""

    index: int
    variant: int
    line: int
    end_line: int
    change: str
    outcome: str = "pending"
    seconds: float = 0.0
    tests_run: int = 0


def _skipped_nodes(tree: ast.AST) -> set[int]:
    """Ids of nodes never mutated: docstrings, annotations and ``__all__``."""
    skipped: set[int] = set()

    def skip(node):
        skipped.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            skip(body[0])
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.returns is not None:
                skip(node.returns)
            for arg in node.args.args + node.args.kwonlyargs + node.args.posonlyargs:
                if arg.annotation is not None:
                    skip(arg.annotation)
        if isinstance(node, ast.AnnAssign):
            skip(node.annotation)
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            skip(node)
    return skipped


def _candidates(tree: ast.AST, source_lines: list[str]):
    """Yield ``(node, variant, description)`` for every mutation, in a fixed order."""
    skipped = _skipped_nodes(tree)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        line = getattr(node, "lineno", None)
        if line is not None and "pragma: no mutate" in source_lines[line - 1]:
            continue
        if isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in BINOP_SWAPS:
            new = BINOP_SWAPS[type(node.op)]
            yield node, 0, f"{SYMBOL[type(node.op)]} -> {SYMBOL[new]}"
        elif isinstance(node, ast.Compare):
            for k, op in enumerate(node.ops):
                if type(op) in COMPARE_SWAPS:
                    yield node, k, f"{SYMBOL[type(op)]} -> {SYMBOL[COMPARE_SWAPS[type(op)]]}"
        elif isinstance(node, ast.BoolOp):
            other = ast.Or if isinstance(node.op, ast.And) else ast.And
            yield node, 0, f"{SYMBOL[type(node.op)]} -> {SYMBOL[other]}"
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
            yield node, 0, "not x -> x" if isinstance(node.op, ast.Not) else "-x -> x"
        elif isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool):
                yield node, 0, f"{value} -> {not value}"
            elif isinstance(value, (int, float)) and not isinstance(value, complex):
                yield node, 0, f"{value!r} -> {value + 1!r}"


def _apply(node: ast.AST, variant: int) -> ast.AST | None:
    """Mutate ``node`` in place; return a replacement node if it must be swapped."""
    if isinstance(node, (ast.BinOp, ast.AugAssign)):
        node.op = BINOP_SWAPS[type(node.op)]()
    elif isinstance(node, ast.Compare):
        node.ops[variant] = COMPARE_SWAPS[type(node.ops[variant])]()
    elif isinstance(node, ast.BoolOp):
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif isinstance(node, ast.UnaryOp):
        return node.operand
    elif isinstance(node, ast.Constant):
        node.value = (not node.value) if isinstance(node.value, bool) else node.value + 1
    return None


class _Replace(ast.NodeTransformer):
    def __init__(self, target, replacement):
        self.target, self.replacement = target, replacement

    def generic_visit(self, node):
        if node is self.target:
            return self.replacement
        return super().generic_visit(node)


def enumerate_mutants(source: str) -> list[Mutant]:
    """Every mutant of ``source``, numbered in a reproducible order."""
    tree = ast.parse(source)
    lines = source.splitlines()
    mutants = []
    for index, (node, variant, change) in enumerate(_candidates(tree, lines)):
        mutants.append(Mutant(index, variant, node.lineno,
                              getattr(node, "end_lineno", node.lineno) or node.lineno,
                              change))
    return mutants


def _function_spans(source: str, names) -> list[tuple[int, int]]:
    """(first, last) lines of every function or method called one of ``names``."""
    return [(node.lineno, node.end_lineno) for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in names]


def mutated_source(source: str, mutant: Mutant) -> str:
    """The module source with ``mutant`` applied (re-generated by ``ast.unparse``)."""
    tree = ast.parse(source)
    lines = source.splitlines()
    for index, (node, variant, _) in enumerate(_candidates(tree, lines)):
        if index == mutant.index and variant == mutant.variant:
            replacement = _apply(node, variant)
            if replacement is not None:
                tree = _Replace(node, replacement).visit(tree)
            return ast.unparse(ast.fix_missing_locations(tree))
    raise LookupError(f"mutant {mutant.index} not found")


def _environment(package_root: Path, extra: list[str], storage: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(package_root), *extra])
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # equal-size mutants in one second: no stale .pyc
    env["HYPOTHESIS_STORAGE_DIRECTORY"] = str(storage)  # keep failing examples out of the tree
    return env


def _pytest(args, env, timeout):
    # The pytest script, not ``python -m pytest``: -m would put the working
    # directory (the real cyem) ahead of PYTHONPATH on sys.path.
    # A fixed hypothesis seed: every mutant meets the same examples, and a
    # random example cannot "kill" a mutant the tests do not detect.
    command = [str(Path(sys.executable).parent / "pytest"), "-q", "-p", "no:cacheprovider",
               "--hypothesis-seed=0", *args]
    try:
        done = subprocess.run(command, cwd=REPO, env=env, timeout=timeout,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except subprocess.TimeoutExpired:
        return None, ""
    return done.returncode, done.stdout


def _copy_package(rev: str, package_root: Path) -> None:
    """Put ``cyem/`` at ``rev`` under ``package_root``, with the built extensions.

    The Python files come from git, so that half-finished edits in a shared
    working tree do not break the copy; the compiled extensions (not in git)
    are copied from the in-place build.
    """
    package_root.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", rev, "cyem"], cwd=REPO, check=True,
                             stdout=subprocess.PIPE).stdout
    subprocess.run(["tar", "-x", "-C", str(package_root)], input=archive, check=True)
    for built in (REPO / "cyem").glob("*.so"):
        shutil.copy2(built, package_root / "cyem" / built.name)


def _numbits_to_lines(numbits: bytes) -> list[int]:
    """Decode coverage.py's line set (bit ``n`` set = line ``n`` ran)."""
    return [8 * i + bit for i, byte in enumerate(numbits) for bit in range(8) if byte >> bit & 1]


def covering_tests(coverage_file: Path, module_path: Path) -> dict[int, set[str]]:
    """Map each executed line of ``module_path`` to the test node ids that ran it.

    The empty context (import time) is kept as ``""``.
    """
    db = sqlite3.connect(coverage_file)
    rows = db.execute(
        "select line_bits.numbits, context.context from line_bits "
        "join file on file.id = line_bits.file_id "
        "join context on context.id = line_bits.context_id where file.path = ?",
        (str(module_path),)).fetchall()
    db.close()
    by_line: dict[int, set[str]] = {}
    for numbits, context in rows:
        test = context.rsplit("|", 1)[0] if "|" in context else context
        for line in _numbits_to_lines(numbits):
            by_line.setdefault(line, set()).add(test)
    return by_line


def _coverage_run(tests, extra_args, env, tmp, package_root, target, timeout):
    """Run the target tests once under coverage with per-test contexts; return
    (line -> covering test ids, the timeout for import-time mutants)."""
    started = time.monotonic()
    coverage_file = tmp / ".coverage"
    cov_env = dict(env, COVERAGE_FILE=str(coverage_file))
    code, out = _pytest([*tests, *extra_args, "-p", "pytest_cov", f"--cov={package_root / 'cyem'}",
                         "--cov-context=test", "--cov-report="], cov_env, 20 * timeout)
    if code != 0:
        log = Path(tempfile.gettempdir()) / f"cyem-mutation-{target.stem}-baseline.log"
        log.write_text(out)
        raise SystemExit(f"the target tests fail on the unmutated module (see {log})")
    # A mutant on an import-time line runs every target test: on a loaded
    # machine that can outlast a fixed timeout without looping.
    return (covering_tests(coverage_file, target),
            max(timeout, 2.0 * (time.monotonic() - started)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("module", help="e.g. cyem/_frame.py")
    parser.add_argument("--tests", nargs="+", help="target test files (default: per module)")
    parser.add_argument("--pytest-args", default="",
                        help="extra pytest arguments, e.g. \"-k 'not slow'\"")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="per mutant, seconds (at least twice the coverage run)")
    parser.add_argument("--sample", type=int, help="run a random sample of this many mutants")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", type=int, nargs="*", help="run only these mutant indices")
    parser.add_argument("--functions", nargs="+",
                        help="mutate only inside these functions or methods (by name)")
    parser.add_argument("--no-coverage", action="store_true",
                        help="run every given test file for every mutant (re-checking "
                             "survivors against new tests)")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument("--out", default="mutation-results")
    parser.add_argument("--rev", default="HEAD", help="git revision of the package to mutate")
    args = parser.parse_args(argv)

    module = Path(args.module)
    name = module.stem
    tests = args.tests or DEFAULT_TESTS[name]
    extra_args = shlex.split(args.pytest_args)
    extra_path = [p for p in os.environ.get("MUTATION_EXTRA_PATH", "").split(os.pathsep) if p]
    # The committed module, not the working tree: others may be mid-edit.
    source = subprocess.run(["git", "show", f"{args.rev}:{module.as_posix()}"], cwd=REPO,
                            check=True, stdout=subprocess.PIPE, text=True).stdout
    mutants = enumerate_mutants(source)
    if args.functions:
        spans = _function_spans(source, args.functions)
        mutants = [m for m in mutants if any(a <= m.line <= b for a, b in spans)]
    if args.only is not None:
        mutants = [m for m in mutants if m.index in set(args.only)]
    elif args.sample and args.sample < len(mutants):
        mutants = sorted(random.Random(args.seed).sample(mutants, args.sample),
                         key=lambda m: m.index)
    if args.list:
        for m in mutants:
            print(f"{m.index:4d} L{m.line:<4d} {m.change}")
        return 0

    with tempfile.TemporaryDirectory(prefix="cyem-mutation-") as tmp:
        tmp = Path(tmp)
        package_root = tmp / "pkg"
        _copy_package(args.rev, package_root)
        target = package_root / "cyem" / module.name
        env = _environment(package_root, extra_path, tmp / "hypothesis")

        # Smoke run: the copy is what the tests import, and a broken module is caught.
        probe = tmp / "test_probe.py"
        probe.write_text("import cyem\ndef test_where():\n    print('CYEM_FILE', cyem.__file__)\n")
        code, out = _pytest([str(probe), "-s", "--rootdir", str(REPO)], env, 120)
        where = next((line.split()[1] for line in out.splitlines()
                      if line.startswith("CYEM_FILE")), None)
        if code != 0 or where is None or not where.startswith(str(package_root)):
            print(out)
            raise SystemExit(f"cyem imported from {where}, not from the mutated copy")
        target.write_text(source + "\nraise RuntimeError('deliberately broken')\n")
        code, _ = _pytest([*tests, *extra_args, "-x"], env, args.timeout)
        if code == 0:
            raise SystemExit("a deliberately broken module was not detected")
        target.write_text(source)

        started = time.monotonic()
        if args.no_coverage:
            by_line, import_time_timeout = None, args.timeout
        else:
            by_line, import_time_timeout = _coverage_run(tests, extra_args, env, tmp,
                                                         package_root, target, args.timeout)
        print(f"{name}: {len(mutants)} mutants; coverage run {time.monotonic() - started:.0f} s",
              flush=True)

        for m in mutants:
            lines = range(m.line, m.end_line + 1)
            contexts = ({""} if by_line is None else
                        set().union(*(by_line.get(line, set()) for line in lines)))
            if not contexts:
                m.outcome = "no coverage"
                print(f"{m.index:4d} L{m.line:<4d} {m.change:<22} no coverage", flush=True)
                continue
            selected = sorted(contexts - {""})
            timeout = args.timeout
            if "" in contexts or not selected:
                selected = list(tests)  # import-time line: every target test
                timeout = import_time_timeout
            target.write_text(mutated_source(source, m))
            t0 = time.monotonic()
            code, out = _pytest([*selected, *extra_args, "-x"], env, timeout)
            if code == 4:  # a node id pytest could not resolve: fall back to the files
                selected = list(tests)
                code, out = _pytest([*selected, *extra_args, "-x"], env, timeout)
            m.seconds = round(time.monotonic() - t0, 1)
            m.tests_run = len(selected)
            m.outcome = ("timeout" if code is None else "survived" if code == 0
                         else "error" if code == 5 else "killed")
            print(f"{m.index:4d} L{m.line:<4d} {m.change:<22} {m.outcome:<9} "
                  f"{m.seconds:5.1f}s {len(selected)} tests", flush=True)
        target.write_text(source)

    elapsed = time.monotonic() - started
    # A timeout is not counted as a kill: on a loaded machine it may only
    # mean that the covering tests are slow. Re-run those with --only.
    killed = sum(m.outcome == "killed" for m in mutants)
    timeouts = sum(m.outcome == "timeout" for m in mutants)
    out_dir = REPO / args.out
    out_dir.mkdir(exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(
        {"module": str(module), "tests": tests, "pytest_args": extra_args,
         "functions": args.functions,
         "sampled": bool(args.sample), "elapsed_s": round(elapsed),
         "mutants": [asdict(m) for m in mutants]}, indent=1))
    print(f"{name}: killed {killed}/{len(mutants)} "
          f"({100 * killed / max(len(mutants), 1):.1f}%), {timeouts} timed out, "
          f"in {elapsed:.0f} s")
    for m in mutants:
        if m.outcome in ("survived", "no coverage", "error", "timeout"):
            print(f"  {m.outcome:<11} #{m.index} L{m.line}: {m.change}   "
                  f"| {source.splitlines()[m.line - 1].strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
